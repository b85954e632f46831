"""The first rung's target acceptance: how often each target's first rung
passes, and what a screen's fits cost, over several fit seeds.

A drug whose first rung shows one divergent transition climbs the ladder
(docs/model.md, Inference), and which drugs do is chance: the same code and
seeds replay the same draws, so one run per setting measures one draw of it.
This runs every drug of a screen once per fit seed and target, one process
per target, the targets side by side (one core each, XLA single-threaded), and
prints per drug and seed the rung it ended on, its checks and its seconds,
then each target's totals.

    python benchmarks/first_target.py --work /tmp/example --targets 0.9,0.95 --seeds 0,1

``--work`` is a workflow's working folder run as far as its plate priors; from
the repository's root, for the example screen and the twelve-drug screen:

    snakemake results/fits/plate_priors.tsv --cores 2 --directory /tmp/example \
        --config sample_sheet=$PWD/example/screen/sample_sheet.tsv
    python benchmarks/twelve_drugs.py --out /tmp/tw --write-only
    snakemake results/fits/plate_priors.tsv --cores 2 --directory /tmp/tw/work \
        --config sample_sheet=/tmp/tw/sample_sheet.tsv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

SINGLE_THREADED_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def screen_and_plates(work: str) -> tuple:
    """A workflow's screen store, its plate priors, and per drug the plates
    QC passed for fitting."""
    from pdoscreen.qc import plates_to_fit
    from pdoscreen.screen import treated_drugs
    from pdoscreen.store import open_zarr

    results = Path(work) / "results"
    screen = open_zarr(results / "screen.zarr")
    fitted = plates_to_fit(results / "qc" / "plates.tsv")
    priors = pd.read_csv(results / "fits" / "plate_priors.tsv", sep="\t")
    return screen, priors, {drug: fitted for drug in treated_drugs(screen)}


def fit_all(args) -> None:
    """One target: every drug under every seed, a JSON line per fit on stdout."""
    import jax

    jax.config.update("jax_compilation_cache_dir", args.jax_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    from pdoscreen.fit import FitSettings, fit_drug

    screen, priors, plates = screen_and_plates(args.work)
    for seed in map(int, args.seeds.split(",")):
        settings = FitSettings(target_accept=args.target, seed=FitSettings().seed + seed)
        for drug, drug_plates in plates.items():
            begun = time.perf_counter()
            attrs = fit_drug(screen, drug, priors, drug_plates, settings).posterior.attrs
            fit = {"target": args.target, "seed": seed, "drug": drug, "s": round(time.perf_counter() - begun, 1),
                   "rung": attrs["fit_rung"], "checks": attrs["fit_checks"], "path": attrs["fit_path"]}
            print(json.dumps(fit), flush=True)
            print(f"target {args.target}, seed {seed}, {drug}: rung {fit['rung']}, {fit['s']} s", file=sys.stderr)


def side_by_side(args) -> pd.DataFrame:
    """Each target's worker (this script with --target), all at once."""
    env = os.environ | {"XLA_FLAGS": SINGLE_THREADED_XLA, "PYTHONHASHSEED": "0"}
    passed_on = [f"--{name}={value}" for name, value in
                 (("work", args.work), ("seeds", args.seeds), ("jax-cache", args.jax_cache))]
    workers = [subprocess.Popen([sys.executable, __file__, *passed_on, f"--target={target}"], env=env,
                                stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent)
               for target in args.targets.split(",")]
    rows = [json.loads(line) for worker in workers for line in worker.communicate()[0].splitlines()
            if line.startswith("{")]
    if any(worker.returncode for worker in workers):
        sys.exit("a worker failed (its error is above)")
    return pd.DataFrame(rows)


def report(fits: pd.DataFrame) -> None:
    from pdoscreen import sampling
    from pdoscreen.fit import FitSettings

    wide = fits.pivot_table(index=["seed", "drug"], columns="target", values=["rung", "s"], aggfunc="first")
    print("| seed | drug | " + " | ".join(f"target {t}: rung, s" for t in wide["rung"].columns) + " |")
    print("|---|---|" + "---|" * len(wide["rung"].columns))
    for (seed, drug), row in wide.iterrows():
        cells = [f"{row['rung'][t]:.0f}, {row['s'][t]:.0f}" for t in wide["rung"].columns]
        print(f"| {seed} | {drug} | " + " | ".join(cells) + " |")
    climbing = range(2, len(sampling.ladder(FitSettings())) + 1)
    print(f"\n| target | fits | on rung 1 | rungs {'/'.join(map(str, climbing))} | failed | fit s, sum | per seed |")
    print("|---|---|---|---|---|---|---|")
    for target, group in fits.groupby("target"):
        climbed = "/".join(str((group.rung == rung).sum()) for rung in climbing)
        per_seed = ", ".join(f"{s:.0f}" for s in group.groupby("seed").s.sum())
        print(f"| {target} | {len(group)} | {(group.rung == 1).sum()} | {climbed} | "
              f"{(group.checks == 'fail').sum()} | {group.s.sum():.0f} | {per_seed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="a workflow's working folder, run as far as its plate priors")
    parser.add_argument("--targets", default="0.9,0.95")
    parser.add_argument("--seeds", default="0", help="fit seeds, added to the default seed")
    parser.add_argument("--jax-cache", default=str(Path.home() / ".cache" / "pdoscreen" / "jax"))
    parser.add_argument("--target", type=float, help=argparse.SUPPRESS)  # a worker's own target
    parser.add_argument("--save", type=Path, help="also write the fits as a TSV")
    args = parser.parse_args()
    if args.target is not None:
        fit_all(args)
        return
    fits = side_by_side(args)
    if args.save:
        fits.to_csv(args.save, sep="\t", index=False)
    report(fits)


if __name__ == "__main__":
    main()
