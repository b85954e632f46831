"""NUTS cost of the lines and plates written non-centred (the default) or centred,
on one drug of a benchmark screen (`compare.py`'s designs, seed 7).

    python benchmarks/parametrisation.py --size small --drug D000 --variants default,centred

Each variant fits in its own process, one after another, with short chains
(2 x 300 + 200 by default): the leapfrog steps per iteration after warm-up are
what the parametrisation changes; accuracy and R-hat show what it costs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

VARIANTS = {"default": ["lines", "plates"], "centred": [], "plates": ["plates"], "lines": ["lines"]}


def fit_one(size: str, drug: str, variant: str, warmup: int, draws: int) -> dict:
    import arviz as az

    from compare import _rmse, plates_of_drugs, simulated
    from pdoscreen.checks import line_summary
    from pdoscreen.fit import FitSettings, fit_drug, plate_priors

    screen, truth = simulated(size, 7)
    settings = FitSettings(chains=2, warmup=warmup, draws=draws, non_centred=tuple(VARIANTS[variant]))
    start = time.perf_counter()
    idata = fit_drug(screen, drug, plate_priors(screen), plates_of_drugs(screen)[drug], settings)
    wall_s = time.perf_counter() - start
    lines = line_summary(idata).merge(truth[truth.drug == drug], on=["line", "patient"])
    inside = (lines.log10_ec50_q05 <= lines.log10_ec50) & (lines.log10_ec50 <= lines.log10_ec50_q95)
    return {
        "non_centred": VARIANTS[variant], "steps_per_iteration": float(idata.sample_stats.n_steps.mean()),
        "divergences": int(idata.sample_stats.diverging.sum()),
        "rmse_log10_ec50": _rmse(lines.log10_ec50_q50, lines.log10_ec50),
        "cover90_log10_ec50": float(inside.mean()),
        "rhat_c_line": float(az.rhat(idata, var_names=["c_line"]).c_line.max()), "wall_s": wall_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="small")
    parser.add_argument("--drug", default="D000")
    parser.add_argument("--variants", type=lambda t: t.split(","), default=["default", "centred"])
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--one", help="internal: fit this variant and print its JSON")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(fit_one(args.size, args.drug, args.one, args.warmup, args.draws)))
        return
    print("| fit.non_centred | leapfrog steps per iteration | divergences | RMSE log10 EC50 | 90% cover "
          "| R-hat c_line | wall s |\n|---|---|---|---|---|---|---|")
    for variant in args.variants:
        out = subprocess.run([sys.executable, __file__, "--size", args.size, "--drug", args.drug, "--one", variant,
                              "--warmup", str(args.warmup), "--draws", str(args.draws)],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {r['non_centred']} | {r['steps_per_iteration']:.0f} | {r['divergences']} "
              f"| {r['rmse_log10_ec50']:.3f} | {r['cover90_log10_ec50']:.0%} | {r['rhat_c_line']:.3f} "
              f"| {r['wall_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
