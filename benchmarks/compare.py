"""Speed and accuracy against the tools labs use today, side by side in one run.

    python benchmarks/compare.py run --sizes small,sparse,medium,large --budget-s 2700
    python benchmarks/compare.py report benchmarks/results/compare.json --docs docs/benchmarks.md

Every size is a screen simulated by `pdoscreen.simulate` (fixed seed, 2% outlier
wells, plate gain, each plate its own well positions) with known line-level
truth. Contenders:

  scipy   independent 4PL fits per line x drug (`pdoscreen.baselines.fit_curve`:
          scipy curve_fit, bounded TRF, Breeze bounds) on per-plate normalised
          viability, as most labs fit;
  thunor  thunor's Hill fits on the same viability (`fit_params_minimal` with
          `HillCurveLL3u`, its viability model: top 1, 0 <= Emax <= 1);
  svi     pdoscreen's hierarchical model per drug, SVI (`FitSettings(method="svi")`);
  nuts    the same with NUTS (default `FitSettings`: 4 chains x 200 + 250, extended
          while short of ESS or R-hat, sampling.ladder).

Each (size, contender) runs in its own process (`run` starts `contender`
subprocesses), so its peak memory (`ru_maxrss` from `wait4`, the largest process
of its tree) does not mix with the others'. Within it every contender fits the
screen's drugs in the same pool of worker processes (2 by default, one job per
drug as the workflow runs them), with XLA single-threaded so the workers, not
XLA, use the cores.

pdoscreen fits run on a seeded random sample of drugs when a size has more than
its contender's time budget allows; the fit wall time for all drugs is then
projected (and labelled so): the compile time once per worker plus the mean
per-drug run time x drugs / workers. Compile time is what JAX reports through
`jax.monitoring` (tracing, lowering and XLA compilation), summed per drug;
a drug's run time is its wall time less that. Where even one NUTS
drug per worker does not fit the time available, `--nuts-iterations
large=100/100` runs shortened chains and scales the sampler's run time to the
default length (by iterations; the well-level draws by draws): labelled so. As in the workflow (`fit.jax_cache`)
compiled programs go to a persistent cache, a fresh folder per size and contender
unless `--jax-cache` names one: fit_drug builds a new model closure per drug, so
without the cache JAX would compile every drug again; with it, the first drug of
each worker compiles and later ones mostly load (cache retrieval counts as compile).

`report` prints the table and writes it to the docs with the machine described.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
CONTENDERS = ["scipy", "thunor", "svi", "nuts"]
TIMING_KEYS = ("seconds", "compile_s", "sample_s", "well_draws_s", "divergences", "n_steps_mean", "rung",
               "draws_per_chain")
JAX_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
    "/jax/compilation_cache/cache_retrieval_time_sec",
)

# Designs: 2 lines per patient, replicate plate sets, 2% outlier wells. Large
# screens spread 12 drugs per 384-well plate (324 treated + 24 control wells).
SIZES = {
    "tiny": dict(n_patients=3, n_drugs=2, plates_per_line=1, n_doses=5, replicates=2, dilution=6.0),
    "small": dict(n_patients=10, n_drugs=5),
    "sparse": dict(n_patients=12, n_drugs=8, plates_per_line=1, n_doses=5, replicates=1, dilution=10.0,
                   tau_pat=0.3, tau_line=0.2, sigma_mult=0.12),
    "medium": dict(n_patients=30, n_drugs=40, drugs_per_plate=12, plate_wells=384),
    "large": dict(n_patients=100, n_drugs=100, drugs_per_plate=12, plate_wells=384),
}
SIZE_NOTES = {
    "tiny": "smoke test only",
    "small": "9 doses x 3 wells, 2 replicate plates per line",
    "sparse": "5 doses (10-fold), 1 well each, 1 plate per line, noisier",
    "medium": "9 doses x 3 wells, 2 replicate plate sets of 4 plates per line",
    "large": "9 doses x 3 wells, 2 replicate plate sets of 9 plates per line",
}


def design(size: str):
    from pdoscreen.simulate import Design

    spec = dict(SIZES[size])
    drugs = tuple(f"D{i:03d}" for i in range(spec.pop("n_drugs")))
    return Design(lines_per_patient=2, drugs=drugs, outlier_fraction=0.02, **spec)


def simulated(size: str, seed: int):
    """(screen, line truth) of a size; the same for the same seed."""
    from pdoscreen.simulate import screen

    return screen(design(size), seed)


# --- the contenders: one function per drug, run in the worker pool ---------------------

# Set in the contender process before the pool forks, so workers share it.
SCREEN: dict = {}


def _curve_frame(drug: str) -> pd.DataFrame:
    frame = SCREEN["viability"]
    return frame[frame.drug == drug]


def scipy_drug(drug: str) -> list[dict]:
    from pdoscreen.baselines import fit_curve
    from pdoscreen.metrics import aac

    rows = []
    for line, wells in _curve_frame(drug).groupby("line"):
        fit = fit_curve(wells.x.to_numpy(), wells.v.to_numpy())
        estimate = aac(fit["log10_ec50"], fit["hill"], fit["residual_viability"], wells.x.min(), wells.x.max())
        rows.append({"drug": drug, "line": line, "log10_ec50": fit["log10_ec50"], "aac": float(estimate),
                     "failed": bool(fit["failed"]), "at_bound": bool(fit.get("at_bound", False))})
    return rows


def thunor_drug(drug: str) -> list[dict]:
    """thunor's own entry point for viability: a (cell_line, drug, dose) indexed
    frame with a ``viability`` column, drug and dose as 1-tuples (its combination
    format), fitted by ``fit_params_minimal`` with the viability curve class."""
    import warnings

    from thunor.curve_fit import HillCurveLL3u, HillCurveNull, fit_params_minimal

    from pdoscreen.metrics import aac

    wells = _curve_frame(drug)
    frame = pd.DataFrame({
        "cell_line": wells.line.to_numpy(), "drug": [(drug,)] * len(wells),
        "dose": [(c,) for c in wells.concentration_molar], "viability": wells.v.to_numpy(),
    }).set_index(["cell_line", "drug", "dose"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = fit_params_minimal(None, frame, fit_cls=HillCurveLL3u)
    x_range = wells.groupby("line").x.agg(["min", "max"])
    rows = []
    for record in params.reset_index().itertuples():
        curve = record.fit_obj
        row = {"drug": drug, "line": record.cell_line, "log10_ec50": np.nan, "aac": np.nan,
               "failed": curve is None or isinstance(curve, HillCurveNull), "at_bound": False}
        if not row["failed"]:
            c, h, e = np.log10(curve.ec50), curve.hill_slope, curve.emax
            x_min, x_max = x_range.loc[record.cell_line]
            # LL3u bounds: slope >= 0, 0 <= Emax <= 1
            row |= {"log10_ec50": float(c), "aac": float(aac(c, h, e, x_min, x_max)),
                    "at_bound": bool(np.isclose(h, 0) or np.isclose(e, 0) or np.isclose(e, 1))}
        rows.append(row)
    return rows


def _compile_seconds_listener():
    """A running total of the seconds JAX spends tracing, lowering and compiling."""
    import jax

    total = {"s": 0.0}

    def listen(event: str, seconds: float, **_) -> None:
        if event in JAX_COMPILE_EVENTS:
            total["s"] += seconds

    jax.monitoring.register_event_duration_secs_listener(listen)
    return total


def _time_stages() -> dict[str, float]:
    """Wrap the stages of ``fit_drug`` (from outside) so each drug's time splits
    into sampling, the well-level draws (log-likelihood and predictions) and the rest."""
    import pdoscreen.fit as fit
    import pdoscreen.sampling as sampling

    stage_s = {"sample_s": 0.0, "well_draws_s": 0.0}

    def timed(function, key):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                stage_s[key] += time.perf_counter() - start
        return wrapper

    fit.sample = timed(fit.sample, "sample_s")
    sampling.well_draws = timed(sampling.well_draws, "well_draws_s")
    return stage_s


def _use_compilation_cache(folder: str) -> None:
    """What the workflow does with ``fit.jax_cache``."""
    import jax

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def pdoscreen_drug(drug: str) -> list[dict]:
    from pdoscreen.checks import line_summary
    from pdoscreen.fit import fit_drug

    if "compile" not in SCREEN:  # once per worker process
        _use_compilation_cache(SCREEN["jax_cache"])
        SCREEN["compile"], SCREEN["stages"] = _compile_seconds_listener(), _time_stages()
    screen, settings = SCREEN["screen"], SCREEN["settings"]
    before = {"compile_s": SCREEN["compile"]["s"]} | dict(SCREEN["stages"])
    start = time.perf_counter()
    idata = fit_drug(screen, drug, SCREEN["priors"], SCREEN["plates_of"][drug], settings)
    summary = line_summary(idata)
    timing = {"seconds": time.perf_counter() - start, "compile_s": SCREEN["compile"]["s"] - before["compile_s"]}
    timing |= {k: v - before[k] for k, v in SCREEN["stages"].items()}
    nuts = settings.method == "nuts"
    timing["divergences"] = int(idata.sample_stats.diverging.sum()) if nuts else 0
    # leapfrog steps per iteration (draws only): with the gradient's cost, what bounds NUTS
    timing["n_steps_mean"] = float(idata.sample_stats.n_steps.mean()) if nuts else 0.0
    # where the drug ended on sampling.ladder, and how long its chains became
    timing["rung"] = int(idata.posterior.attrs.get("fit_rung", 0))
    timing["draws_per_chain"] = int(idata.posterior.sizes["draw"])
    return [{"drug": drug, "line": r.line, "log10_ec50": r.log10_ec50_q50, "aac": r.aac_q50,
             "log10_ec50_q05": r.log10_ec50_q05, "log10_ec50_q95": r.log10_ec50_q95,
             "aac_q05": r.aac_q05, "aac_q95": r.aac_q95, "failed": False, "at_bound": False}
            | (timing if i == 0 else {}) for i, r in enumerate(summary.itertuples())]


FIT_DRUG = {"scipy": scipy_drug, "thunor": thunor_drug, "svi": pdoscreen_drug, "nuts": pdoscreen_drug}


def _timed_drug(contender: str, drug: str) -> dict:
    start = time.perf_counter()
    rows = FIT_DRUG[contender](drug)
    return {"drug": drug, "rows": rows, "seconds": time.perf_counter() - start, "pid": os.getpid(),
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --- one (size, contender) in its own process -------------------------------------------


def _setup(contender: str, screen, svi_steps: int, nuts_iterations: tuple[int, int] | None) -> None:
    """What a contender computes once per screen before fitting drugs."""
    if contender in ("scipy", "thunor"):
        from pdoscreen.baselines import normalised_viability

        frame = normalised_viability(screen).rename("v").to_dataframe().reset_index()
        frame = frame[(frame.role == "treated") & np.isfinite(frame.v)]
        SCREEN["viability"] = frame.assign(x=np.log10(frame.concentration_molar))
        return
    from pdoscreen.fit import FitSettings, plate_priors

    SCREEN["priors"] = plate_priors(screen)
    SCREEN["plates_of"] = plates_of_drugs(screen)
    if contender == "svi":
        SCREEN["settings"] = FitSettings(method="svi", **({"svi_steps": svi_steps} if svi_steps else {}))
    elif nuts_iterations:
        warmup, draws = nuts_iterations
        SCREEN["settings"] = FitSettings(warmup=warmup, draws=draws)
    else:
        SCREEN["settings"] = FitSettings()


def plates_of_drugs(screen) -> dict[str, list[str]]:
    """Each drug's plates: those where it has treated wells."""
    plate_of_well = np.broadcast_to(screen.plate.values[:, None], screen.drug.shape)
    treated = (screen.role == "treated").values
    pairs = pd.DataFrame({"drug": screen.drug.values[treated], "plate": plate_of_well[treated]}).drop_duplicates()
    return {d: list(g.plate) for d, g in pairs.groupby("drug")}


def run_contender(args: argparse.Namespace) -> None:
    """Fit one contender on one size's screen and write its JSON record."""
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    with open(args.screen, "rb") as handle:
        screen, truth = pickle.load(handle)
    SCREEN["screen"], SCREEN["jax_cache"] = screen, args.jax_cache
    start = time.perf_counter()
    nuts_iterations = tuple(map(int, args.nuts_iterations.split("/"))) if args.nuts_iterations else None
    _setup(args.contender, screen, args.svi_steps, nuts_iterations)
    setup_s = time.perf_counter() - start
    drugs = [str(d) for d in np.random.default_rng(args.seed).permutation(sorted(set(truth.drug)))]
    done, fit_wall_s = _fit_drugs(args, drugs)
    record = {
        "size": args.size, "contender": args.contender, "drugs_total": len(drugs), "drugs_fitted": len(done),
        "curves_total": len(truth), "workers": args.workers, "setup_s": setup_s, "fit_wall_s": fit_wall_s,
        "per_drug": [{k: d[k] for k in ("drug", "seconds", "pid", "maxrss_mb")} | _stage_times(d["rows"])
                     for d in done],
        "curves": [{k: v for k, v in r.items() if k not in TIMING_KEYS} for d in done for r in d["rows"]],
        "parent_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.contender in ("svi", "nuts"):
        record["settings"] = asdict(SCREEN["settings"])
        record["shortened"] = args.contender == "nuts" and nuts_iterations is not None
    Path(args.out).write_text(json.dumps(record, default=float))


def _stage_times(rows: list[dict]) -> dict:
    """The compile and stage seconds a pdoscreen fit records on its first row (0 for the others)."""
    first = rows[0] if rows else {}
    return {k: first.get(k, 0.0) for k in TIMING_KEYS[1:]}


def _fit_drugs(args: argparse.Namespace, drugs: list[str]) -> tuple[list[dict], float]:
    """Fit drugs in order in the pool until all are done or the budget is spent."""
    start, done, queue = time.perf_counter(), [], list(drugs)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("fork")) as pool:
        running = set()
        while queue or running:
            while queue and len(running) < args.workers and time.perf_counter() - start < args.budget_s:
                running.add(pool.submit(_timed_drug, args.contender, queue.pop(0)))
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            done += [f.result() for f in finished]
            print(f"  {args.size}/{args.contender}: {len(done)}/{len(drugs)} drugs, "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return done, time.perf_counter() - start


def _start_contender(size: str, contender: str, screen_file: Path, out: Path, args) -> dict:
    """Run one contender in a child process; its peak memory comes from wait4."""
    command = [sys.executable, __file__, "contender", "--size", size, "--contender", contender,
               "--screen", str(screen_file), "--out", str(out), "--workers", str(args.workers),
               "--budget-s", str(args.budget_for(size, contender)),
               *(["--svi-steps", str(args.svi_steps)] if args.svi_steps else []),
               *(["--nuts-iterations", args.nuts_iterations[size]] if size in args.nuts_iterations else []),
               "--seed", str(args.seed), "--jax-cache", args.jax_cache or str(out.parent / f"jax-{size}-{contender}")]
    start = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall_s = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{size}/{contender} failed ({os.waitstatus_to_exitcode(status)})")
    return json.loads(out.read_text()) | {"process_wall_s": wall_s, "peak_rss_mb": usage.ru_maxrss / 1024}


# --- the driver ---------------------------------------------------------------------------


def machine() -> dict:
    import importlib.metadata as meta

    import jax

    import pdoscreen

    def version(package: str) -> str:
        try:
            return meta.version(package)
        except meta.PackageNotFoundError:
            return "not installed"

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    # the package itself: an editable install's metadata keeps the version it was installed at
    versions = {"pdoscreen": pdoscreen.__version__}
    versions |= {p: version(p) for p in ("jax", "numpyro", "scipy", "numpy", "thunor")}
    device = jax.devices()[0]
    gpu = device.device_kind if device.platform == "gpu" else "none"
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(ram_gb, 1), "python": platform.python_version(),
            "versions": versions, "gpu": gpu, "load_before": os.getloadavg()}


def _budget_for(budgets: dict[str, float], default: float):
    def budget(size: str, contender: str) -> float:
        return budgets.get(f"{size}/{contender}", budgets.get(contender, default))
    return budget


def simulate(args: argparse.Namespace) -> None:
    Path(args.out).write_bytes(pickle.dumps(simulated(args.size, args.seed)))


def run(args: argparse.Namespace) -> None:
    args.budget_for = _budget_for(args.contender_budget, args.budget_s)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = {"machine": machine(), "seed": args.seed, "records": [], "simulate_s": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            start = time.perf_counter()
            screen_file = Path(tmp) / f"{size}.pickle"
            # In a child: a child's peak RSS starts from its parent's at fork, so
            # the driver must not hold a screen when it starts the contenders.
            subprocess.run([sys.executable, __file__, "simulate", "--size", size, "--seed", str(args.seed),
                            "--out", str(screen_file)], check=True)
            raw["simulate_s"][size] = time.perf_counter() - start
            for contender in (c for c in args.contenders if f"{size}/{c}" not in args.skip):
                print(f"{size}/{contender} ...", flush=True)
                record = _start_contender(size, contender, screen_file, Path(tmp) / "record.json", args)
                raw["records"].append(record)
                raw["machine"]["load_after"] = os.getloadavg()
                # Written after every contender, so a run stopped early keeps what it has.
                out.write_text(json.dumps(raw, default=float))
    print(markdown(raw))  # after the contenders: reading the truths grows this process


# --- report -------------------------------------------------------------------------------


def _rmse(estimate: pd.Series, truth: pd.Series) -> float:
    return float(np.sqrt(np.mean((estimate - truth) ** 2))) if len(truth) else float("nan")


def _with_truth(record: dict, truth: pd.DataFrame) -> pd.DataFrame:
    curves = pd.DataFrame(record["curves"])
    return curves.merge(truth, on=["drug", "line"], suffixes=("", "_true"))


def _in_range(curves: pd.DataFrame, size: str) -> pd.Series:
    """Curves whose true EC50 lies in the tested range: outside it no method can place it."""
    d = design(size)
    x_max = np.log10(d.top_molar)
    x_min = x_max - (d.n_doses - 1) * np.log10(d.dilution)
    return curves.log10_ec50_true.between(x_min, x_max)


def accuracy(record: dict, truth: pd.DataFrame) -> dict:
    """RMSE of log10 EC50 (true EC50 in the tested range) and AAC over the curves a
    contender estimated; failed fits are counted, not scored; 90% coverage where
    there are intervals."""
    curves = _with_truth(record, truth)
    fitted = curves[~curves.failed]
    in_range = fitted[_in_range(fitted, record["size"])]
    result = {
        "curves": len(curves), "failed": int(curves.failed.sum()), "at_bound": int(curves.at_bound.sum()),
        "rmse_log10_ec50": _rmse(in_range.log10_ec50, in_range.log10_ec50_true),
        "rmse_aac": _rmse(fitted.aac, fitted.aac_true),
    }
    if "aac_q05" in curves:
        result["cover90_log10_ec50"] = float(curves.log10_ec50_true.between(
            curves.log10_ec50_q05, curves.log10_ec50_q95).mean())
        result["cover90_aac"] = float(curves.aac_true.between(curves.aac_q05, curves.aac_q95).mean())
        result["divergent_drugs"] = sum(d["divergences"] > 0 for d in record["per_drug"])
    return result


def paired_rmse(record: dict, baseline: dict, truth: pd.DataFrame) -> dict:
    """The baseline's RMSEs on exactly the curves (drugs) the contender fitted."""
    drugs = {c["drug"] for c in record["curves"]}
    subset = dict(baseline, curves=[c for c in baseline["curves"] if c["drug"] in drugs])
    return {k: v for k, v in accuracy(subset, truth).items() if k.startswith("rmse")}


def _full_length_seconds(record: dict, per_drug: pd.DataFrame) -> pd.Series:
    """Per-drug seconds, scaled to the default NUTS length where a run was shortened
    (``--nuts-iterations``): the sampler's run time by iterations, the well-level
    draws by draws; compile and the rest as measured."""
    settings = record.get("settings", {})
    if record["contender"] != "nuts" or not record.get("shortened"):
        return per_drug.seconds
    from pdoscreen.fit import FitSettings

    full = FitSettings()
    iterations = (full.warmup + full.draws) / (settings["warmup"] + settings["draws"])
    draws = full.draws / settings["draws"]
    sampling_s = (per_drug.sample_s - per_drug.compile_s).clip(lower=0)
    rest_s = per_drug.seconds - per_drug.sample_s - per_drug.well_draws_s
    return per_drug.compile_s + rest_s + sampling_s * iterations + per_drug.well_draws_s * draws


def speed(record: dict) -> dict:
    """Wall times; for a sample of drugs (or a shortened NUTS run), the projection
    to all drugs: each worker's first drug (it compiles) as measured, then the
    mean seconds of later drugs (or of first drugs less compile) for the rest."""
    per_drug = pd.DataFrame(record["per_drug"])
    per_drug["full_s"] = _full_length_seconds(record, per_drug)
    fitted, total = record["drugs_fitted"], record["drugs_total"]
    workers = min(record["workers"], total)
    first = per_drug.groupby("pid", sort=False).head(1)
    later = per_drug.drop(first.index)
    compile_s = float(first.compile_s.mean())
    later_s = float(later.full_s.mean() if len(later) else (first.full_s - first.compile_s).mean())
    if fitted == total and not record.get("shortened"):
        fit_s, projected = record["fit_wall_s"], False
    else:
        fit_s, projected = float(first.full_s.mean()) + later_s * (total / workers - 1), True
    wall_s = record["setup_s"] + fit_s
    worker_peaks = per_drug.groupby("pid").maxrss_mb.max()
    return {
        "wall_s": wall_s, "projected": projected, "shortened": bool(record.get("shortened")),
        "drugs_fitted": fitted, "drugs_total": total, "compile_s": compile_s, "run_s": wall_s - compile_s,
        "per_drug_s": float(per_drug.full_s.mean()), "curves_per_s": record["curves_total"] / wall_s,
        "peak_rss_mb": record["peak_rss_mb"],
        "sum_rss_mb": float(record["parent_maxrss_mb"] + worker_peaks.nlargest(workers).sum()),
    }


def _truths(raw: dict) -> dict[str, pd.DataFrame]:
    return {size: simulated(size, raw["seed"])[1] for size in dict.fromkeys(r["size"] for r in raw["records"])}


def table(raw: dict) -> pd.DataFrame:
    """One row per size x contender, with ratios to the scipy per-curve fits."""
    truths, rows = _truths(raw), []
    scipy = {r["size"]: r for r in raw["records"] if r["contender"] == "scipy"}
    for record in raw["records"]:
        size = record["size"]
        row = {"size": size, "contender": record["contender"]} | speed(record) | accuracy(record, truths[size])
        if size in scipy:
            base = speed(scipy[size]) | paired_rmse(record, scipy[size], truths[size])
            row |= {"time_vs_scipy": row["wall_s"] / base["wall_s"],
                    "ec50_rmse_vs_scipy": row["rmse_log10_ec50"] / base["rmse_log10_ec50"],
                    "aac_rmse_vs_scipy": row["rmse_aac"] / base["rmse_aac"]}
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not np.isfinite(value)) else format(value, spec)


def markdown(raw: dict) -> str:
    rows = table(raw)
    m = raw["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    gpu = "no GPU" if m.get("gpu", "none") == "none" else f"GPU {m['gpu']}"
    out = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {gpu}; Python {m['python']}; "
           f"{versions}. Load average (1, 5, 15 min) before the run "
           f"{', '.join(f'{x:.1f}' for x in m['load_before'])}, after "
           f"{', '.join(f'{x:.1f}' for x in m.get('load_after', m['load_before']))}.", "",
           "| size | contender | curves | wall s | compile s | curves/s | peak MB (largest process / sum) "
           "| RMSE log10 EC50 | RMSE AAC | 90% cover EC50 / AAC | failed / at bound | time / scipy "
           "| EC50 RMSE / scipy | AAC RMSE / scipy |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows.to_dict("records"):
        wall = _fmt(r["wall_s"], ".1f") + (f" (projected from {r['drugs_fitted']}/{r['drugs_total']} drugs"
                                           + (", shortened chains" if r["shortened"] else "") + ")"
                                           if r["projected"] else "")
        cover = (f"{r['cover90_log10_ec50']:.0%} / {r['cover90_aac']:.0%}" if "cover90_aac" in r
                 and np.isfinite(r.get("cover90_aac", np.nan)) else "-")
        out.append(
            f"| {r['size']} | {r['contender']} | {r['curves']} | {wall} | {_fmt(r['compile_s'], '.1f')} "
            f"| {_fmt(r['curves_per_s'], '.3g')} | {r['peak_rss_mb']:.0f} / {r['sum_rss_mb']:.0f} "
            f"| {_fmt(r['rmse_log10_ec50'], '.3f')} | {_fmt(r['rmse_aac'], '.3f')} | {cover} "
            f"| {r['failed']} / {r['at_bound']} | {_fmt(r.get('time_vs_scipy'), '.2f')} "
            f"| {_fmt(r.get('ec50_rmse_vs_scipy'), '.2f')} | {_fmt(r.get('aac_rmse_vs_scipy'), '.2f')} |")
    sizes = ", ".join(f"{s}: {SIZE_NOTES[s]}" for s in dict.fromkeys(rows["size"]))
    out += ["", f"Designs ({len(raw['simulate_s'])} sizes, seed {raw['seed']}): {sizes}.",
            "Simulation seconds (not in the wall times): "
            + ", ".join(f"{s} {v:.0f}" for s, v in raw["simulate_s"].items()) + "."]
    return "\n".join(out) + "\n"


def report(args: argparse.Namespace) -> None:
    raw = json.loads(Path(args.results).read_text())
    text = markdown(raw)
    print(text)
    if args.docs:
        here = Path(__file__).parent
        notes = here / "compare_notes.md"  # the reading of the latest run, by hand
        tail = "\n" + notes.read_text() if notes.exists() else ""
        Path(args.docs).write_text((here / "compare_intro.md").read_text() + "\n" + text + "\n" + targets(raw) + tail)


def targets(raw: dict) -> str:
    """The issue's targets, each with the measured figure and met or missed."""
    rows = table(raw).set_index(["size", "contender"])

    def get(size, contender, column):
        return rows[column].get((size, contender), np.nan)

    # (target, the contender it is about, measured, limit, format)
    checks = [
        ("medium: SVI wall time / scipy per-curve wall time <= 1.0", "svi", get("medium", "svi", "time_vs_scipy"),
         1.0, "{:.2f}"),
        ("medium: NUTS, every drug (one job per drug, 2 cores) <= 10 min", "nuts",
         get("medium", "nuts", "wall_s") / 60, 10.0, "{:.0f} min"),
        ("large: SVI end to end <= 30 min", "svi", get("large", "svi", "wall_s") / 60, 30.0, "{:.1f} min"),
        ("medium: peak memory <= 4 GB (sum of processes, largest contender)", None,
         max(get("medium", c, "sum_rss_mb") for c in CONTENDERS) / 1024, 4.0, "{:.2f} GiB"),
    ]
    out = ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, contender, value, limit, spec in checks:
        projected = contender is not None and get(name.split(":")[0], contender, "projected") == 1
        shown = "not measured" if not np.isfinite(value) else spec.format(value) + (" (projected)" if projected else "")
        out.append(f"| {name} | {shown} | {'yes' if value <= limit else 'no' if np.isfinite(value) else '-'} |")
    for size in dict.fromkeys(rows.index.get_level_values(0)):
        for contender in ("svi", "nuts"):
            ratios = (get(size, contender, "ec50_rmse_vs_scipy"), get(size, contender, "aac_rmse_vs_scipy"))
            if np.isfinite(ratios).all():
                out.append(f"| {size}: {contender} EC50 and AAC RMSE below scipy's (same drugs) "
                           f"| {ratios[0]:.2f}, {ratios[1]:.2f} x scipy | {'yes' if max(ratios) < 1 else 'no'} |")
    return "\n".join(out) + "\n"


def _budgets(text: str) -> dict[str, float]:
    """'nuts=600,medium/svi=900' -> {'nuts': 600.0, 'medium/svi': 900.0}"""
    return {k: float(v) for k, v in (item.split("=") for item in text.split(",") if item)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run")
    runner.add_argument("--sizes", type=lambda t: t.split(","), default=["small", "sparse", "medium", "large"])
    runner.add_argument("--contenders", type=lambda t: t.split(","), default=CONTENDERS)
    runner.add_argument("--workers", type=int, default=2)
    runner.add_argument("--budget-s", type=float, default=600,
                        help="per size and contender: stop submitting drugs after this long (then project)")
    runner.add_argument("--contender-budget", type=_budgets, default={},
                        help="budgets by contender or size/contender, e.g. nuts=300,large/svi=400")
    runner.add_argument("--skip", type=lambda t: t.split(","), default=[], help="size/contender pairs to leave out")
    runner.add_argument("--svi-steps", type=int, help="default: FitSettings' own")
    runner.add_argument("--nuts-iterations", type=lambda t: dict(i.split("=") for i in t.split(",") if i), default={},
                        help="shortened NUTS per size, e.g. large=100/100 (warm-up/draws per chain); its times "
                             "are projected to the default length")
    runner.add_argument("--seed", type=int, default=7)
    runner.add_argument("--jax-cache", help="persistent compilation cache (default: a fresh one per contender)")
    runner.add_argument("--out", default=str(RESULTS / "compare.json"))
    runner.set_defaults(run=run)
    one = commands.add_parser("contender", help="internal: one size x contender (started by run)")
    for name in ("--size", "--contender", "--screen", "--out"):
        one.add_argument(name, required=True)
    one.add_argument("--workers", type=int, default=2)
    one.add_argument("--budget-s", type=float, default=600)
    one.add_argument("--svi-steps", type=int)
    one.add_argument("--seed", type=int, default=7)
    one.add_argument("--jax-cache", required=True)
    one.add_argument("--nuts-iterations", help="warm-up/draws, e.g. 100/100")
    one.set_defaults(run=run_contender)
    simulator = commands.add_parser("simulate", help="internal: pickle one size's screen (started by run)")
    simulator.add_argument("--size", required=True)
    simulator.add_argument("--seed", type=int, default=7)
    simulator.add_argument("--out", required=True)
    simulator.set_defaults(run=simulate)
    reporter = commands.add_parser("report")
    reporter.add_argument("results")
    reporter.add_argument("--docs", help="write the table to this file (e.g. docs/benchmarks.md)")
    reporter.set_defaults(run=report)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
