"""Reruns as a lab does them: new plates arrive, settings change, a run is
repeated from scratch. Small screen (the example's first plates, two drugs,
quick fits), local executor."""

import shutil

import pandas as pd
import pytest
import zarr

from conftest import QUICK_FITS, REPO, snakemake

DRUGS = "drugs=[Afatinib, Olaparib]"
SUMMARIES = ["patient_drug.tsv", "line_drug.tsv", "fit_diagnostics.tsv"]
TARGETS = [f"results/summary/{name}" for name in SUMMARIES]  # not the plots and pages: faster


def fingerprint(workdir, drug):
    return zarr.open_group(str(workdir / f"results/fits/{drug}.zarr"), mode="r")["posterior"].attrs["fingerprint"]


def run(workdir, sheet, *extra):
    return snakemake(workdir, *TARGETS, "--config", f"sample_sheet={sheet}", "ingest_batch_size=4", QUICK_FITS, DRUGS,
                     *extra)


@pytest.fixture(scope="module")
def screen(tmp_path_factory):
    """The example's first 8 plates; a ninth plate, P03-L1-R1, whose layout holds
    only Afatinib, to add later."""
    folder = tmp_path_factory.mktemp("screen")
    shutil.copytree(REPO / "example/screen/raw", folder / "raw")
    shutil.copytree(REPO / "example/screen/layouts", folder / "layouts")
    layout = pd.read_csv(folder / "layouts/layout_A.csv")
    keep = (layout.role != "treated") | (layout.drug == "Afatinib")
    layout[keep].to_csv(folder / "layouts/layout_afatinib_only.csv", index=False)
    full = pd.read_csv(REPO / "example/screen/sample_sheet.tsv", sep="\t")
    new = full.iloc[[8]].assign(layout="layouts/layout_afatinib_only.csv")
    sheet = folder / "sample_sheet.tsv"
    full.iloc[:8].to_csv(sheet, sep="\t", index=False)
    return sheet, pd.concat([full.iloc[:8], new])


@pytest.fixture(scope="module")
def first_run(screen, tmp_path_factory):
    sheet, _ = screen
    workdir = tmp_path_factory.mktemp("work")
    result = run(workdir, sheet)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_a_rerun_from_scratch_gives_identical_tables(screen, first_run, tmp_path):
    sheet, _ = screen
    again = run(tmp_path, sheet)
    assert again.returncode == 0, again.stderr[-3000:]
    for name in SUMMARIES:
        assert (tmp_path / "results/summary" / name).read_bytes() == (first_run / "results/summary" / name).read_bytes()


def test_changing_a_fit_setting_reruns_the_fits(screen, first_run):
    sheet, _ = screen
    dry = snakemake(first_run, *TARGETS, "--config", f"sample_sheet={sheet}", "ingest_batch_size=4", DRUGS,
                    "fit={method: svi, svi_steps: 1200, chains: 2, draws: 100}", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "rule fit_drug" in dry.stdout and "Params have changed" in dry.stdout
    assert "rule ingest_batch" not in dry.stdout and "rule plate_qc" not in dry.stdout


# Last in the module: it appends a plate to the shared sample sheet.
def test_new_plates_refit_only_the_drugs_they_carry(screen, first_run):
    sheet, with_new_plate = screen
    before = {drug: fingerprint(first_run, drug) for drug in ["Afatinib", "Olaparib"]}
    olaparib_lines = (first_run / "results/fits/Olaparib.lines.tsv").read_bytes()
    with_new_plate.to_csv(sheet, sep="\t", index=False)

    rerun = run(first_run, sheet)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # Only the new plate's batch is read; the two earlier batches are left alone.
    log = rerun.stdout + rerun.stderr
    assert "rule ingest_batch_3" in log
    assert "rule ingest_batch_1" not in log and "rule ingest_batch_2" not in log
    # Afatinib is refitted with the ninth plate; Olaparib's fit is kept as it was.
    assert fingerprint(first_run, "Afatinib") != before["Afatinib"]
    assert fingerprint(first_run, "Olaparib") == before["Olaparib"]
    assert (first_run / "results/fits/Olaparib.lines.tsv").read_bytes() == olaparib_lines
    assert "kept it" in (first_run / "logs/fit/Olaparib.log").read_text()
    afatinib = zarr.open_group(str(first_run / "results/fits/Afatinib.zarr"), mode="r")
    assert afatinib["posterior"]["plate"].shape == (9,)
    patients = pd.read_csv(first_run / "results/summary/patient_drug.tsv", sep="\t")
    assert "P03" in set(patients[patients.drug == "Afatinib"].patient)
    assert "P03" not in set(patients[patients.drug == "Olaparib"].patient)

    nothing = run(first_run, sheet, "--dry-run")
    assert nothing.returncode == 0 and "Nothing to be done" in nothing.stdout + nothing.stderr
