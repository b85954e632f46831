"""Issue 14's third target: a screen of 6 patients, 11 organoid lines and 12
drugs on 33 plates (9 doses in triplicate), from raw files to the summary
tables with the default settings, on 2 cores.

    python benchmarks/twelve_drugs.py --out /tmp/twelve            # write, run, report
    python benchmarks/twelve_drugs.py --out /tmp/twelve --write-only
    python benchmarks/twelve_drugs.py --out /tmp/twelve1 --fit-seed 20261126   # another realisation

The screen is written by the example's own generator (`example/make_example.py`:
the same curves, plate gains and floors, Student-t noise, EnVision and
PHERAstar exports): patients P01-P05 have two lines and P06 one; every line is
read on 3 replicate plates, and each plate carries 8 of the 12 drugs (replicate
1 drugs 1-8, replicate 2 drugs 5-12, replicate 3 drugs 1-4 and 9-12), so each
drug has 22 curves of 27 wells (594 wells; the screen the target comes from
had 540). Patients P02 and P05 are read on the PHERAstar, the rest on the
EnVision.

The workflow runs with the repository's `config/config.yaml` (the defaults)
in a fresh working folder, `snakemake --cores 2`, and a compile cache of its
own unless `--jax-cache` names one (an empty cache is a new user's first run).
The script prints the wall time until the summary tables were written and
until the run ended, each drug's fit (seconds, ladder rung, checks), and the
90% interval coverage and error of the lines' log10 EC50 against the truth.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
# name, top concentration (µM), cohort log10 EC50 (M), Hill slope, residual viability;
# the example's eight drugs and four more in the same ranges
EXTRA_DRUGS = [
    ("Cisplatin", 100.0, -5.0, 1.2, 0.25),
    ("Doxorubicin", 10.0, -7.0, 1.4, 0.10),
    ("Erlotinib", 10.0, -6.0, 0.8, 0.50),
    ("Vorinostat", 10.0, -6.3, 1.7, 0.15),
]
PATIENTS = {f"P0{k}": [f"P0{k}-L1", f"P0{k}-L2"] for k in range(1, 6)} | {"P06": ["P06-L1"]}
PHERASTAR_PATIENTS = ("P02", "P05")
REPLICATES = 3


def generator():
    spec = importlib.util.spec_from_file_location("make_example", REPO / "example" / "make_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drugs_of_replicate(drugs: list, replicate: int) -> list:
    """Eight of the twelve drugs per replicate plate; each drug on two replicates of three."""
    first, second, third = drugs[:4], drugs[4:8], drugs[8:]
    return {1: first + second, 2: second + third, 3: first + third}[replicate]


def write_screen(out: Path) -> pd.DataFrame:
    """The raw files, layouts, sample sheet and truth of the screen in ``out``."""
    ex = generator()
    ex.DRUGS = ex.DRUGS + EXTRA_DRUGS
    ex.PATIENTS = PATIENTS
    rng = np.random.default_rng(ex.SEED + 12)
    for sub in ["layouts", "raw/envision", "raw/pherastar"]:
        (out / sub).mkdir(parents=True, exist_ok=True)
    all_drugs = ex.DRUGS
    layouts = {}
    for replicate in range(1, REPLICATES + 1):
        ex.DRUGS = drugs_of_replicate(all_drugs, replicate)
        layouts[replicate] = ex.design(rng)
        layouts[replicate].to_csv(out / f"layouts/layout_R{replicate}.csv", index=False)
    ex.DRUGS = all_drugs
    truth = ex.truth_table(rng)
    truth.round(4).to_csv(out / "truth.tsv", sep="\t", index=False)
    sheet, run = [], 100
    for day, (patient, lines) in enumerate(PATIENTS.items(), start=1):
        for line in lines:
            for replicate in range(1, REPLICATES + 1):
                run += 1
                plate, barcode = f"{line}-R{replicate}", f"PDO{run:05d}"
                values = ex.matrix(ex.simulate_plate(layouts[replicate], truth, line, rng), 400.0, rng)
                if patient in PHERASTAR_PATIENTS:
                    file = f"raw/pherastar/{day:02d}-11-2026 10-{run % 60:02d}-00 {barcode}.csv"
                    ex.write_bmg(out / file, values, barcode, f"{day + 9:02d}/11/2026", f"10:{run % 60:02d}:00", run)
                else:
                    file = f"raw/envision/{barcode}_{plate}.csv"
                    ex.write_envision(out / file, values, barcode, f"11/{day + 9}/2026 9:{run % 60:02d}:00 AM")
                sheet.append(dict(plate=plate, patient=patient, line=line, file=file, reader="auto",
                                  layout=f"layouts/layout_R{replicate}.csv", replicate=replicate,
                                  batch=f"2026-11-{day + 6:02d}", timepoint_h=120))
    sheet = pd.DataFrame(sheet)
    sheet.to_csv(out / "sample_sheet.tsv", sep="\t", index=False)
    return sheet


def run_workflow(out: Path, jax_cache: Path, fit_seed: int | None) -> tuple[float, subprocess.CompletedProcess]:
    """The default workflow on the screen, in ``out / "work"``: the time it began, and the finished run."""
    bin_dir = Path(sys.executable).parent
    fit = {"jax_cache": str(jax_cache)} | ({} if fit_seed is None else {"seed": fit_seed})
    command = [str(bin_dir / "snakemake"), "--cores", "2", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(out / "work"),
               "--config", f"sample_sheet={out / 'sample_sheet.tsv'}", f"fit={json.dumps(fit)}"]
    start = time.time()
    env = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}  # the rules call pdoscreen
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    return start, run


def fit_seconds(log: Path) -> float:
    """A drug's fit time from its log's 'fitted in N s' line."""
    for line in log.read_text().splitlines():
        if "fitted in" in line:
            return float(line.split("fitted in ")[1].split(" s")[0])
    return float("nan")


def report(out: Path, start: float, end: float) -> None:
    work = out / "work"
    summary = work / "results" / "summary" / "line_drug.tsv"
    print(f"\nraw files to the summary tables: {(summary.stat().st_mtime - start) / 60:.1f} min; "
          f"whole default run (pages, report inputs): {(end - start) / 60:.1f} min\n")
    diagnostics = pd.read_csv(work / "results" / "summary" / "fit_diagnostics.tsv", sep="\t")
    fits = diagnostics[diagnostics.group == "fit"].set_index("drug")
    print("| drug | wells | fit s | rung | checks |\n|---|---|---|---|---|")
    for drug, row in fits.iterrows():
        wells = (pd.read_csv(work / "results" / "fits" / f"{drug}.lines.tsv", sep="\t").n_wells.sum())
        print(f"| {drug} | {wells} | {fit_seconds(work / 'logs' / 'fit' / f'{drug}.log'):.0f} "
              f"| {int(row.rung)} | {row.status} |")
    lines = pd.read_csv(summary, sep="\t")
    ec50 = lines[lines.metric == "log10_ec50"].merge(pd.read_csv(out / "truth.tsv", sep="\t"),
                                                      on=["drug", "patient", "line"])
    covered = ((ec50.q05 <= ec50.log10_ec50) & (ec50.log10_ec50 <= ec50.q95)).mean()
    rmse = float(np.sqrt(((ec50["mean"] - ec50.log10_ec50) ** 2).mean()))
    print(f"\nline log10 EC50 against the truth: {len(ec50)} lines x drugs, 90% intervals cover "
          f"{covered:.0%}, RMSE {rmse:.3f} decades")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="an empty or new folder")
    parser.add_argument("--jax-cache", type=Path, help="compile cache (default: a new, empty one in --out)")
    parser.add_argument("--write-only", action="store_true")
    parser.add_argument("--fit-seed", type=int, help="the fits' seed (default: the config's): another realisation")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty")
    sheet = write_screen(args.out)
    print(f"wrote {len(sheet)} plates of {sheet.line.nunique()} lines ({sheet.patient.nunique()} patients) "
          f"to {args.out}")
    if args.write_only:
        return
    start, run = run_workflow(args.out, args.jax_cache or args.out / "jax_cache", args.fit_seed)
    end = time.time()
    if run.returncode != 0:
        sys.exit(f"the workflow failed:\n{run.stderr[-4000:]}")
    report(args.out, start, end)


if __name__ == "__main__":
    main()
