"""The workflow from raw IncuCyte files with growth.response dip: a simulated
screen read every 8 h, each plate's export written as the instrument writes
it, fitted on its DIP rates; the tables and pages give the DIP metrics of the
fitted curves beside thunor-style per-curve fits."""

import numpy as np
import pandas as pd
import pytest

from conftest import QUICK_FITS, seeded, snakemake
from pdoscreen.simulate import Design, GrowthCurve, time_course_screen
from pdoscreen.store import open_zarr

DESIGN = Design(n_patients=3)
TARGETS = ["results/summary/patient_drug.tsv", "results/summary/line_drug.tsv", "results/patients/P1/P1.html"]


def incucyte_export(counts: np.ndarray, hours: np.ndarray, wells: list[str]) -> str:
    """An IncuCyte (Zoom) export of one plate: counts over (time, well)."""
    header = ["Label: \t", "", "Date Time\tElapsed\t" + "\t".join(w[0] + str(int(w[1:])) for w in wells)]
    scans = [f"4/{1 + int(h) // 24}/2026 {int(h) % 24}:00:00\t{h:g}\t" + "\t".join(str(round(c)) for c in row)
             for h, row in zip(hours, counts)]
    return "\r\n".join(header + scans) + "\r\n"


def layout_csv(plate) -> str:
    rows = ["well,role,drug,concentration,unit"]
    for well, role, drug, molar in zip(plate.well.values, plate.role.values, plate.drug.values,
                                       plate.concentration_molar.values):
        if role == "vehicle":
            rows.append(f"{well},vehicle,DMSO,,")
        elif role == "kill":
            rows.append(f"{well},kill,Staurosporine,10,uM")
        elif role == "treated":
            rows.append(f"{well},treated,{drug},{molar * 1e9:.10g},nM")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def dip_run(tmp_path_factory):
    screen, truth = time_course_screen(DESIGN, GrowthCurve(), seeded(11))
    folder = tmp_path_factory.mktemp("dip_response") / "screen"
    folder.mkdir()
    sheet = []
    for plate in screen.plate.values:
        one = screen.sel(plate=plate)
        (folder / f"{plate}.txt").write_text(
            incucyte_export(one.course_signal.values, one.time_h.values, list(one.well.values)))
        (folder / f"{plate}_layout.csv").write_text(layout_csv(one))
        sheet.append(dict(plate=plate, patient=str(one.patient.values), line=str(one.line.values),
                          file=f"{plate}.txt", reader="auto", layout=f"{plate}_layout.csv",
                          replicate=int(one.replicate), drug_added_h=0, timepoint_h=120))
    pd.DataFrame(sheet).to_csv(folder / "sample_sheet.tsv", sep="\t", index=False)
    workdir = folder.parent / "work"
    run = snakemake(workdir, *TARGETS, "--config", f"sample_sheet={folder / 'sample_sheet.tsv'}", QUICK_FITS,
                    # numbers in a nested value come as text; common.smk reads them as YAML
                    "growth={response: dip, dip_delay_h: 24, dip_window_h: 72}")
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, truth


def test_the_screen_store_holds_the_dip_fold_changes(dip_run):
    workdir, _ = dip_run
    store = open_zarr(workdir / "results/screen.zarr")
    assert store.signal.attrs["response"] == "dip" and store.signal.attrs["dip_window_h"] == 72
    np.testing.assert_allclose(store.signal, 2.0 ** (72 * store.dip_rate), rtol=1e-12)
    assert "endpoint_signal" in store


def test_tables_give_the_curves_dip_metrics_beside_the_per_curve_fits(dip_run):
    workdir, truth = dip_run
    lines = pd.read_csv(workdir / "results/summary/line_drug.tsv", sep="\t")
    # per-curve rows are point estimates, in the mean column
    means = lines.pivot_table(index="line", columns="metric", values="mean")
    assert len(means) == len(truth)
    intervals = lines[lines.metric.isin(["dip_log10_ec50", "dip_emax"])]
    assert len(intervals) == 2 * len(truth) and intervals[["q05", "q95"]].notna().all().all()
    # Two estimators of one curve's DIP EC50, pooled and per curve, from the same rates.
    np.testing.assert_allclose(means.dip_log10_ec50, means.dip_log10_ec50_per_curve, atol=0.25)
    assert (means.dip_emax < 0).all()  # the simulated drug kills at high dose
    patients = pd.read_csv(workdir / "results/summary/patient_drug.tsv", sep="\t")
    assert set(patients.loc[patients.metric == "dip_emax", "patient"]) == {"P1", "P2", "P3"}


def test_the_patient_page_shows_dip_metrics(dip_run):
    workdir, _ = dip_run
    page = (workdir / "results/patients/P1/P1.html").read_text(encoding="utf-8")
    assert "DIP EC50 [90% interval]" in page and "DIP Emax, doublings/day [90% interval]" in page
