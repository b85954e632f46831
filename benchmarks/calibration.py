"""Calibration of the hierarchical model: simulation-based calibration (SBC,
Talts et al. 2018) and interval coverage on realistic simulated screens.

    python benchmarks/calibration.py run --workers 2 --budget-s 1800 --out calibration.json
    python benchmarks/calibration.py report calibration.json --docs docs/calibration.md

`run` fits simulated screens in worker processes until the time budget is spent
(tasks alternate between SBC and coverage, so both fill up) and writes the raw
results as JSON; `report` prints the table and writes it, with a figure of the
SBC rank histograms, to the docs.

SBC: each simulation draws every parameter and the data from the model itself
(numpyro's Predictive on a fixed plate design), fits the data with NUTS and
records the rank of each true value among 99 thinned posterior draws. Ranks of
a calibrated posterior are uniform on 0..99.

Coverage: screens drawn not from the prior but from `pdoscreen.simulate`
(complete, incomplete and flat curves, and complete curves with 3% outlier
wells); the share of lines whose 90% and 50% central intervals of log10 EC50
and AAC contain the truth.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

SBC_DRAWS = 99  # ranks take 100 values: 10 bins of 10
SBC_PARAMETERS = ["mu_c", "tau_pat", "tau_line", "tau_rep", "mu_E", "mu_h", "sigma_add", "sigma_mult",
                  "c_line[0]", "E_line[0]", "h_line[0]", "c_plate[0]"]
SCENARIOS = {
    "complete": {"mu_c": -7.0},
    "incomplete": {"mu_c": -5.3, "residual_viability": 0.35},
    "flat": {"flat": True},
    "outliers": {"mu_c": -7.0, "outlier_fraction": 0.03},
}
TASKS = ["sbc", "complete", "incomplete", "flat", "outliers"]


def settings():
    from pdoscreen.fit import FitSettings

    return FitSettings(seed=0)  # the defaults, as the workflow fits


def _design(**overrides):
    from pdoscreen.simulate import Design

    return Design(n_patients=4, lines_per_patient=2, plates_per_line=2, replicates=2, **overrides)


def _model_inputs(ds):
    from pdoscreen.fit import drug_wells, model_data, plate_priors

    wells = drug_wells(ds, "drugA", list(ds.plate.values))
    return model_data(wells, plate_priors(ds))


def _fit(data, index, seed):
    from pdoscreen.fit import sample, unpad

    samples, stats, _, record = sample(data, index, settings(), seed)
    return unpad(samples, index), int(stats["diverging"].sum()), record["rung"]


def sbc_task(seed: int) -> dict:
    """One SBC simulation: parameters and data from the model on a fixed design."""
    import jax
    from numpyro.infer import Predictive

    from pdoscreen.sampling import configured_model
    from pdoscreen.simulate import screen

    data, index = _model_inputs(screen(_design(), seed=1)[0])
    prior = Predictive(configured_model(settings()), num_samples=1)(jax.random.PRNGKey(seed), replace(data, y=None))
    truth = {k: np.asarray(v)[0] for k, v in prior.items()}
    draws, divergences, rung = _fit(replace(data, y=np.where(data.mask, truth["y"], 1.0)), index, seed)
    ranks = {}
    for name in SBC_PARAMETERS:
        site, _, position = name.partition("[")
        pick = (lambda a: a[..., int(position[:-1])]) if position else (lambda a: a)
        thinned = _thin(pick(draws[site]).reshape(-1))
        ranks[name] = int((thinned < pick(truth[site])).sum())
    return {"task": "sbc", "seed": seed, "divergences": divergences, "rung": rung, "ranks": ranks}


def _thin(draws: np.ndarray) -> np.ndarray:
    return draws[np.linspace(0, len(draws) - 1, SBC_DRAWS).round().astype(int)]


def coverage_task(scenario: str, seed: int) -> dict:
    """One realistic screen: which lines' intervals contain the truth."""
    from pdoscreen.metrics import aac
    from pdoscreen.simulate import screen

    ds, truth = screen(_design(**SCENARIOS[scenario]), seed)
    data, index = _model_inputs(ds)
    draws, divergences, rung = _fit(data, index, seed)
    c, h, e = (draws[s].reshape(-1, len(index.lines)) for s in ("c_line", "h_line", "E_line"))
    estimates = {"log10_ec50": c, "aac": aac(c, h, e, index.x_min, index.x_max)}
    truth = truth.set_index("line").loc[index.lines]
    lines = []
    for i, line in enumerate(index.lines):
        record = {"line": line}
        for name, values in estimates.items():
            q = np.quantile(values[:, i], [0.05, 0.25, 0.5, 0.75, 0.95])
            record[name] = {"truth": float(truth[name].iloc[i]), "quantiles": q.tolist()}
        lines.append(record)
    return {"task": scenario, "seed": seed, "divergences": divergences, "rung": rung, "lines": lines}


def _worker_init(cache: str) -> None:
    import jax
    import numpyro

    numpyro.enable_x64()
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def _run_task(task: str, seed: int) -> dict:
    start = time.perf_counter()
    result = sbc_task(seed) if task == "sbc" else coverage_task(task, seed)
    return result | {"seconds": time.perf_counter() - start}


def run(args: argparse.Namespace) -> None:
    # One thread per process: the workers, not XLA, use the cores.
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    start, results, submitted = time.perf_counter(), [], 0
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.workers} workers"
    with ProcessPoolExecutor(args.workers, initializer=_worker_init, initargs=(args.jax_cache,)) as pool:
        running = set()
        while True:
            while len(running) < args.workers and time.perf_counter() - start < args.budget_s:
                task = args.tasks[submitted % len(args.tasks)]
                running.add(pool.submit(_run_task, task, args.first_seed + submitted))
                submitted += 1
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                results.append(future.result())
                print(f"{time.perf_counter() - start:7.0f} s  {len(results):4d} fits done  "
                      f"({results[-1]['task']}, {results[-1]['seconds']:.0f} s)", flush=True)
            # Written after every fit, so a run stopped early keeps what it has.
            Path(args.out).write_text(json.dumps({"machine": machine, "results": results}))


# --- report -----------------------------------------------------------------------------


def sbc_table(results: list[dict]) -> list[dict]:
    """Per parameter: a chi-square test of uniform ranks over 10 bins."""
    from scipy.stats import chisquare

    sims = [r for r in results if r["task"] == "sbc"]
    if not sims:  # a run of other tasks only (--tasks)
        return []
    rows = []
    for name in SBC_PARAMETERS:
        ranks = np.array([r["ranks"][name] for r in sims])
        counts = np.bincount(ranks // 10, minlength=10)
        rows.append({"parameter": name, "simulations": len(ranks), "p_uniform": float(chisquare(counts).pvalue),
                     "counts": counts.tolist()})
    return rows


def _coverage_lines(results: list[dict], scenario: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    lines = [line for r in results if r["task"] == scenario for line in r["lines"]]
    return (np.array([line[metric]["truth"] for line in lines]),
            np.array([line[metric]["quantiles"] for line in lines]).reshape(-1, 5))


def coverage_table(results: list[dict]) -> list[dict]:
    """Coverage per scenario and metric. Flat curves are left out: their EC50
    does not exist and their true AAC, 0, lies on the boundary that a posterior
    with E < 1 cannot reach (see ``flat_calls``)."""
    rows = []
    for scenario in (s for s in SCENARIOS if s != "flat"):
        for metric in ("log10_ec50", "aac"):
            truth, q = _coverage_lines(results, scenario, metric)
            if len(truth):
                rows.append({
                    "scenario": scenario, "metric": metric, "lines": len(truth),
                    "cover_90": float(np.mean((q[:, 0] <= truth) & (truth <= q[:, 4]))),
                    "cover_50": float(np.mean((q[:, 1] <= truth) & (truth <= q[:, 3]))),
                    "rmse": float(np.sqrt(np.mean((q[:, 2] - truth) ** 2))),
                })
    return rows


def flat_calls(results: list[dict], inactive_below: float = 0.05) -> tuple[int, int]:
    """(flat lines whose AAC 95% quantile is below ``inactive_below``, flat lines)."""
    _, q = _coverage_lines(results, "flat", "aac")
    return int((q[:, 4] < inactive_below).sum()), len(q)


def markdown(raw: dict) -> str:
    results = raw["results"]
    fits = len(results)
    divergent = sum(r["divergences"] > 0 for r in results)
    seconds = np.median([r["seconds"] for r in results])
    rungs = pd.Series([r.get("rung") for r in results]).value_counts().sort_index()
    ladder = ", ".join(f"rung {int(rung)}: {count}" for rung, count in rungs.items())
    out = [f"Machine: {raw['machine']}. {fits} fits (NUTS with the default settings: 4 chains x 200 + 250, "
           f"extended while short of ESS or R-hat), median {seconds:.0f} s per fit, {divergent} with any divergent "
           f"transition in the draws kept. Where the fits ended on the ladder of `sampling.py`: {ladder}."]
    if sbc := sbc_table(results):
        out += ["", "### Simulation-based calibration", "",
                "| parameter | simulations | rank counts in 10 bins | chi-square p (uniform) |", "|---|---|---|---|"]
        out += [f"| {r['parameter']} | {r['simulations']} | {' '.join(map(str, r['counts']))} | {r['p_uniform']:.2f} |"
                for r in sbc]
    out += ["", "### Coverage on realistic screens (target: 90% intervals 85-95%, 50% intervals 43-57%)", "",
            "| scenario | metric | lines | 90% coverage | 50% coverage | RMSE of median |", "|---|---|---|---|---|---|"]
    out += [f"| {r['scenario']} | {r['metric']} | {r['lines']} | {r['cover_90']:.0%} | {r['cover_50']:.0%} | "
            f"{r['rmse']:.3f} |" for r in coverage_table(results)]
    inactive, flat = flat_calls(results)
    out += ["", f"Flat curves (no drug effect; true AAC 0): {inactive} of {flat} lines have an AAC 95% quantile "
            "below 0.05."]
    return "\n".join(out) + "\n"


def rank_figure(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import binom

    table = sbc_table(results)
    figure, axes = plt.subplots(3, 4, figsize=(12, 7), sharex=True, constrained_layout=True)
    for ax, row in zip(axes.flat, table):
        n = row["simulations"]
        low, high = binom.ppf([0.005, 0.995], n, 0.1)  # 99% band for a bin of a uniform histogram
        ax.axhspan(low, high, color="0.9")
        ax.bar(np.arange(10), row["counts"], color="tab:blue")
        ax.set_title(f"{row['parameter']} (p = {row['p_uniform']:.2f})", fontsize=9)
    figure.supxlabel("rank of the true value among 99 posterior draws (10 bins)")
    figure.savefig(path, dpi=90)


def report(args: argparse.Namespace) -> None:
    raw = json.loads(Path(args.results).read_text())
    text = markdown(raw)
    print(text)
    if args.docs:
        docs = Path(args.docs)
        figure = docs.parent / "figures" / "sbc_ranks.png"
        figure.parent.mkdir(parents=True, exist_ok=True)
        rank_figure(raw["results"], figure)
        intro = (Path(__file__).parent / "calibration_intro.md").read_text()
        docs.write_text(intro + "\n" + text + f"\n![SBC rank histograms](figures/{figure.name})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run")
    runner.add_argument("--workers", type=int, default=2)
    runner.add_argument("--budget-s", type=float, default=1800, help="stop submitting fits after this long")
    runner.add_argument("--jax-cache", default=str(Path("~/.cache/pdoscreen/jax").expanduser()))
    runner.add_argument("--out", default="calibration.json")
    runner.add_argument("--tasks", type=lambda text: text.split(","), default=TASKS,
                        help=f"comma-separated, taken in turn (default {','.join(TASKS)})")
    runner.add_argument("--first-seed", type=int, default=1000, help="seeds count up from here")
    runner.set_defaults(run=run)
    reporter = commands.add_parser("report")
    reporter.add_argument("results")
    reporter.add_argument("--docs", help="write the table and figure here (e.g. docs/calibration.md)")
    reporter.set_defaults(run=report)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
