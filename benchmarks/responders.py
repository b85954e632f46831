"""Exceptional responders on a simulated screen (issue 17): does the responder's
drug head its patient's active list once the screen has been fitted?

    python benchmarks/responders.py --seed 17 --out responders.json

The screen is shaped like the held-out screens: 6 patients with 2 organoid
lines each, one plate per line, 9 doses in triplicate. Every drug is drawn from
the same population (`pdoscreen.simulate`); two patients respond exceptionally:
P2 to drugB and P5 to drugD, whose log10 EC50 is moved 2 decades lower on
every line of that patient (`simulate.Design.responders`). With 5 drugs or
more, the last one is nearly flat: every line's residual viability is set to
0.93. Each drug is fitted as the workflow fits it (`fit.fit_drug`, NUTS with
the default `FitSettings`), summarised as `pdoscreen summarize` does with the
default sensitivity settings (`summarize.summary_tables`), and each patient's
drug table is the page's (`pages.drug_table`, default `PageRules`).

The script prints, for each responder's patient, the page's drug table and
whether the responder's drug is first among the active drugs; then every
patient's first drug on the page, beside the drug that heads the true
cohort-relative score (the same score computed from the simulated truth).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_PATIENTS, LINES_PER_PATIENT = 6, 2
SHIFT = -2.0  # decades of log10 EC50 for the exceptional responders
FLAT_RESIDUAL_VIABILITY = 0.93
# (patient index from 0, drug): P2 responds to drugB, P5 to drugD
RESPONDERS = ((1, "drugB"), (4, "drugD"))


def drug_names(n_drugs: int) -> tuple[str, ...]:
    return tuple(f"drug{chr(ord('A') + i)}" for i in range(n_drugs))


def design(n_drugs: int):
    """The simulated screen's design: the responders, and with 5 drugs or more a nearly flat last drug."""
    from pdoscreen.simulate import Design

    drugs = drug_names(n_drugs)
    responders = tuple((k, drug, SHIFT) for k, drug in RESPONDERS)
    if n_drugs >= 5:
        responders += tuple((k, drugs[-1], 0.0, FLAT_RESIDUAL_VIABILITY) for k in range(N_PATIENTS))
    return Design(
        n_patients=N_PATIENTS,
        lines_per_patient=LINES_PER_PATIENT,
        plates_per_line=1,
        n_doses=9,
        replicates=3,
        drugs=drugs,
        responders=responders,
    )


def configure_jax(cache: str) -> None:
    import jax
    import numpyro

    numpyro.enable_x64()
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def fit_all(ds, drugs) -> tuple[list, pd.DataFrame, set[str], list[dict]]:
    """Fit every drug as the workflow does; return the line metric draws, the
    line flags, the drugs failing their checks and a record per fit."""
    from pdoscreen.checks import diagnostics, line_summary
    from pdoscreen.fit import FitSettings, fit_drug, plate_priors
    from pdoscreen.summarize import line_metric_draws

    settings = FitSettings()
    priors, plates = plate_priors(ds), [str(p) for p in ds.plate.values]
    draws, flags, failed, record = [], [], set(), []
    for i, drug in enumerate(drugs, 1):
        print(f"[{i}/{len(drugs)}] fitting {drug} ...", flush=True)
        start = time.perf_counter()
        idata = fit_drug(ds, drug, priors, plates, settings)
        seconds = time.perf_counter() - start
        checks = diagnostics(idata)
        if (checks["status"] == "fail").any():
            failed.add(drug)
        lines = line_summary(idata, settings.priors)
        flags.append(lines[["line", "flags"]].assign(drug=drug))
        draws.append(line_metric_draws(idata))
        attrs = idata.posterior.attrs
        divergences = int(idata.sample_stats.diverging.sum()) if "sample_stats" in idata.groups() else 0
        record.append(
            {
                "drug": drug,
                "seconds": seconds,
                "rung": int(attrs["fit_rung"]),
                "divergences": divergences,
                "checks": "fail" if drug in failed else "pass",
                "path": str(attrs["fit_path"]),
            }
        )
        print(
            f"    {drug}: {seconds:.0f} s, rung {attrs['fit_rung']}, {divergences} divergences, "
            f"checks {record[-1]['checks']}",
            flush=True,
        )
    return draws, pd.concat(flags, ignore_index=True), failed, record


def true_scores(truth: pd.DataFrame) -> pd.DataFrame:
    """Per patient and drug: the true AAC (mean of the patient's lines) and the
    cohort-relative score and rank computed from it as the summary computes them."""
    import xarray as xr

    from pdoscreen.summarize import cohort_relative

    patient_aac = truth.groupby(["drug", "patient"])["aac"].mean().unstack("patient")
    cohort = cohort_relative(
        xr.DataArray(
            patient_aac.to_numpy()[:, :, None],
            dims=("drug", "patient", "draw"),
            coords={"drug": patient_aac.index, "patient": patient_aac.columns},
        )
    )
    table = patient_aac.stack().rename("true_aac").to_frame()
    table["true_score"] = cohort["score"].isel(draw=0).to_series()
    table["true_rank"] = cohort["rank"].isel(draw=0).to_series()
    return table.reset_index()


def page_tables(patient_table: pd.DataFrame, truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each patient's drug table in page order, with the truth beside it."""
    from pdoscreen.pages import PageRules, drug_table

    truth = true_scores(truth)
    out = {}
    for patient in sorted(patient_table["patient"].astype(str).unique()):
        table = drug_table(patient_table, patient, PageRules())
        mine = truth[truth.patient == patient].set_index("drug")
        out[patient] = table.assign(true_aac=table.drug.map(mine.true_aac), true_rank=table.drug.map(mine.true_rank))
    return out


COLUMNS = [
    "drug",
    "active",
    "p_aac_above_activity_floor",
    "rank",
    "rank_mean",
    "aac",
    "aac_q05",
    "aac_q95",
    "dss2",
    "true_aac",
    "true_rank",
]


def show(table: pd.DataFrame) -> str:
    head = (
        "| drug | active | P(AAC > 0.1) | rank (median) | rank (mean) | AAC median [90%] | DSS2 | true AAC "
        "| true rank |"
    )
    rows = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        rows.append(
            f"| {r.drug} | {'yes' if r.active else 'no'} | {r.p_aac_above_activity_floor:.2f} | "
            f"{r.rank:.0f} | {r.rank_mean:.2f} | {r.aac:.2f} [{r.aac_q05:.2f}, {r.aac_q95:.2f}] | "
            f"{r.dss2:.1f} | {r.true_aac:.2f} | {r.true_rank:.0f} |"
        )
    return "\n".join(rows)


def run(args: argparse.Namespace) -> dict:
    configure_jax(args.jax_cache)
    from pdoscreen.simulate import screen
    from pdoscreen.summarize import metric_draws_dataset, summary_tables

    start = time.perf_counter()
    the_design = design(args.drugs)
    ds, truth = screen(the_design, args.seed)
    print(
        f"screen: {N_PATIENTS} patients x {LINES_PER_PATIENT} lines, {ds.sizes['plate']} plates of "
        f"{ds.sizes['well']} wells, {the_design.n_doses} doses x {the_design.replicates} wells, "
        f"drugs {', '.join(the_design.drugs)}; seed {args.seed}",
        flush=True,
    )
    draws, line_flags, failed, fits = fit_all(ds, the_design.drugs)
    patient_table, _ = summary_tables(metric_draws_dataset(draws), line_flags, failed)
    tables = page_tables(patient_table, truth)
    wall = time.perf_counter() - start

    result = {
        "seed": args.seed,
        "drugs": list(the_design.drugs),
        "shift_decades": SHIFT,
        "flat_drug": the_design.drugs[-1] if args.drugs >= 5 else None,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "wall_s": wall,
        "fits": fits,
        "responders": [],
        "patients": [],
    }
    print()
    for k, drug in RESPONDERS:
        patient = f"P{k + 1}"
        table = tables[patient]
        active = table[table.active]
        heads = bool(len(active)) and active.drug.iloc[0] == drug
        result["responders"].append(
            {
                "patient": patient,
                "drug": drug,
                "heads_active_list": heads,
                "active": active.drug.tolist(),
                "table": _records(table),
            }
        )
        print(f"{patient}, exceptional responder to {drug} ({SHIFT:+.0f} decades): page order")
        print(show(table))
        print(f"{drug} heads {patient}'s active list: {'yes' if heads else 'NO'}\n")
    print("| patient | first drug on the page | active | rank (median) | true top drug (score) | active drugs |")
    print("|---|---|---|---|---|---|")
    for patient, table in tables.items():
        first, true_top = table.iloc[0], table.sort_values("true_rank").drug.iloc[0]
        n_active = int(table.active.sum())
        result["patients"].append(
            {
                "patient": patient,
                "first": first.drug,
                "first_active": bool(first.active),
                "true_top": true_top,
                "n_active": n_active,
                "table": _records(table),
            }
        )
        print(
            f"| {patient} | {first.drug} | {'yes' if first.active else 'no'} | {first['rank']:.0f} | {true_top} | "
            f"{n_active} of {len(table)} |"
        )
    print(
        f"\nwall time {wall / 60:.1f} min ({result['machine']}); fits: "
        + ", ".join(f"{f['drug']} {f['seconds']:.0f} s (rung {f['rung']}, {f['checks']})" for f in fits)
    )
    return result


def _records(table: pd.DataFrame) -> list[dict]:
    return [
        {k: (v if not isinstance(v, (np.floating, np.bool_)) else v.item()) for k, v in row.items()}
        for row in table[[c for c in COLUMNS if c in table.columns]].to_dict("records")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=17, help="seed of the simulated screen")
    parser.add_argument(
        "--drugs",
        type=int,
        default=5,
        help="number of drugs, at least 4 (responders to drugB and drugD; from 5, the last is flat)",
    )
    parser.add_argument("--jax-cache", default=str(Path("~/.cache/pdoscreen/jax").expanduser()))
    parser.add_argument("--out", help="write the numbers here as JSON")
    args = parser.parse_args()
    if args.drugs < 4:
        parser.error("--drugs must be at least 4")
    result = run(args)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
