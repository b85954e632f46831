"""The workflow end to end: the example screen and the real CLL screen, from raw
files to the screen store, checked against values read straight from the files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pdoscreen
from conftest import UP_TO_QC

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_SHEET = REPO / "example" / "screen" / "sample_sheet.tsv"
# The example_run and cll_run fixtures (tests/conftest.py) run the workflow once per session.


def test_example_summary_is_printed(example_run):
    workdir, run = example_run
    summary = "10 plates (0 excluded), 3 patients, 5 lines, 8 drugs, 384 wells per plate"
    assert summary in run.stdout + run.stderr
    assert summary in (workdir / "results" / "screen_summary.txt").read_text()


def test_screen_matches_the_raw_files(example_run):
    workdir, _ = example_run
    screen = pdoscreen.open_screen(workdir / "results" / "screen.zarr")
    sheet = pd.read_csv(EXAMPLE_SHEET, sep="\t", dtype=str)
    assert list(screen.plate.values) == list(sheet.plate)
    assert set(screen.reader.values) == {"envision", "bmg_mars"}
    for row in sheet.itertuples():
        text = (EXAMPLE_SHEET.parent / row.file).read_text()
        # Row C as the instrument wrote it, whichever the vendor.
        line = next(l for l in text.splitlines() if l.startswith("C,"))
        written = [float(v) for v in line.split(",")[1:25]]
        np.testing.assert_array_equal(screen.signal.sel(plate=row.plate, well=[f"C{c:02d}" for c in range(1, 25)]), written)
        assert screen.patient.sel(plate=row.plate) == row.patient
        assert screen.line.sel(plate=row.plate) == row.line
        assert screen.source_sha256.sel(plate=row.plate) == pdoscreen.plate.sha256(EXAMPLE_SHEET.parent / row.file)


def test_layout_is_joined_in_molar(example_run):
    workdir, _ = example_run
    screen = pdoscreen.open_screen(workdir / "results" / "screen.zarr")
    layout = pd.read_csv(EXAMPLE_SHEET.parent / "layouts" / "layout_A.csv")
    first = layout[layout.role == "treated"].iloc[0]
    well = pdoscreen.geometry.canonical_well(first.well)
    plate = screen.sel(plate="P01-L1-R1", well=well)
    assert plate.role == "treated" and plate.drug == first.drug
    assert plate.concentration_molar == pytest.approx(first.concentration * 1e-6)
    roles = screen.role.sel(plate="P01-L1-R1").values
    assert (roles == "vehicle").sum() == (layout.role == "vehicle").sum()
    assert (roles == "empty").sum() == 384 - len(layout)
    # The replicate plate uses the turned grid layout: the same well counts per drug.
    for drug in ["Bortezomib", "Olaparib"]:
        counts = (screen.drug == drug).sum("well").values
        assert set(counts) == {27}


def test_per_plate_store_round_trip(example_run):
    workdir, _ = example_run
    sheet = pd.read_csv(EXAMPLE_SHEET, sep="\t", dtype=str)
    row = sheet.iloc[-1]
    direct = pdoscreen.read_plate(EXAMPLE_SHEET.parent / row.file)
    stored = pdoscreen.store.open_zarr(workdir / "results" / "plates" / f"{row.plate}.zarr")
    np.testing.assert_array_equal(stored.signal.values, direct.signal.values)
    assert stored.attrs["barcode"] == direct.attrs["barcode"] != ""
    assert stored.attrs["source_sha256"] == direct.attrs["source_sha256"]
    assert stored.attrs["plate"] == row.plate


def test_immediate_rerun_does_nothing(example_run, run_snakemake):
    workdir, _ = example_run
    rerun = run_snakemake(workdir, *UP_TO_QC, "--config", f"sample_sheet={EXAMPLE_SHEET}", "--dry-run")
    assert rerun.returncode == 0
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_lint_is_clean():
    lint = subprocess.run(
        [Path(sys.executable).parent / "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile")],
        capture_output=True, text=True, cwd=REPO,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [Path(sys.executable).parent / "snakefmt", "--check", "Snakefile", "workflow"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_real_cll_screen(cll_run):
    workdir, _ = cll_run
    screen = pdoscreen.open_screen(workdir / "results" / "screen.zarr")
    assert screen.sizes == {"plate": 6, "well": 384}
    assert set(screen.patient.values) == {"P0007", "P0010"}
    assert all("Results for" in m for m in screen.measurement.values)
    # Plate 11PB0010, raw block, well A01 and A04, as written in the file.
    assert screen.signal.sel(plate="11PB0010", well="A01") == 1083480
    assert screen.signal.sel(plate="11PB0010", well="A04") == 21000
    assert screen.role.sel(plate="11PB0010", well="A01") == "vehicle"
    assert screen.drug.sel(plate="11PB0010", well="A03") == "A-1210477"
    assert screen.concentration_molar.sel(plate="11PB0010", well="A03") == pytest.approx(10e-6)
    assert (screen.role.values == "treated").sum(axis=1).min() > 300
