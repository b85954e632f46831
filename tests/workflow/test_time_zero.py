"""The workflow from raw files on the example screen with a time-zero plate per
line: the time-zero plates are read and kept out of the fits, and the tables
and pages give GR of the fitted curves beside the per-curve GR."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import QUICK_FITS, REPO, snakemake
from pdoscreen.qc import TIME_ZERO_REASON

DRUGS = "drugs=[Afatinib, Olaparib]"
TARGETS = ["results/summary/patient_drug.tsv", "results/summary/line_drug.tsv", "results/patients/P01/P01.html"]


def time_zero_copy(text: str, divisor: int) -> str:
    """A plate export with every well of its matrix read at 1/``divisor``: the
    example's EnVision and PHERAstar files both write a matrix row as the row
    letter and its readings, comma-separated."""
    def scaled(match):
        values = [str(round(int(v) / divisor)) if v.strip().isdigit() else v for v in match.group(2).split(",")]
        return match.group(1) + ",".join(values)

    return re.sub(r"^([A-P],)([^\r\n]*)", scaled, text, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def time_zero_run(tmp_path_factory):
    """Each line's first plate read again at a quarter of its signal, as the
    line's time-zero plate (timepoint_h 0): its vehicle wells doubled twice by
    the read at 120 h."""
    screen = tmp_path_factory.mktemp("time_zero") / "screen"
    shutil.copytree(REPO / "example" / "screen", screen)
    sheet = pd.read_csv(screen / "sample_sheet.tsv", sep="\t", dtype=str, keep_default_na=False)
    firsts = sheet.drop_duplicates("line")
    added = []
    for row in firsts.itertuples():
        source = screen / row.file
        copy = source.with_name(f"{source.stem}_T0{source.suffix}")
        copy.write_bytes(time_zero_copy(source.read_bytes().decode(), 4).encode())
        added.append(row._asdict() | {"plate": f"{row.plate}-T0", "file": str(copy.relative_to(screen)),
                                      "replicate": "9", "timepoint_h": "0"})
    pd.concat([sheet, pd.DataFrame(added).drop(columns="Index")]).to_csv(
        screen / "sample_sheet.tsv", sep="\t", index=False)
    workdir = screen.parent / "work"
    run = snakemake(workdir, *TARGETS, "--config", f"sample_sheet={screen / 'sample_sheet.tsv'}", QUICK_FITS, DRUGS)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, list(firsts.line)


def test_time_zero_plates_are_read_and_not_fitted(time_zero_run):
    workdir, lines = time_zero_run
    qc = pd.read_csv(workdir / "results/qc/plates.tsv", sep="\t").set_index("plate")
    zero = qc[qc.index.str.endswith("-T0")]
    assert len(zero) == len(lines) and (zero.fit.astype(str).str.lower() == "false").all()
    assert (zero.exclusion == TIME_ZERO_REASON).all()


def test_tables_give_the_curves_gr_beside_the_per_curve_gr(time_zero_run):
    workdir, lines = time_zero_run
    table = pd.read_csv(workdir / "results/summary/line_drug.tsv", sep="\t")
    assert set(table.drug) == {"Afatinib", "Olaparib"}  # the per-curve fits cover every drug; the tables do not
    means = table.pivot_table(index=["line", "drug"], columns="metric", values="mean")
    assert len(means) == 2 * len(lines) and means[["grmax", "gr_aoc", "grmax_per_curve"]].notna().all().all()
    # Two estimators of one curve's GR at the top dose, pooled and per curve:
    # on this screen they differ by at most 0.04.
    np.testing.assert_allclose(means.grmax, means.grmax_per_curve, atol=0.1)
    patients = pd.read_csv(workdir / "results/summary/patient_drug.tsv", sep="\t")
    assert set(patients.loc[patients.metric == "log10_gr50", "patient"]) == {"P01", "P02", "P03"}


def test_the_patient_page_shows_gr(time_zero_run):
    workdir, _ = time_zero_run
    page = (workdir / "results/patients/P01/P01.html").read_text(encoding="utf-8")
    assert "GR50 [90% interval]" in page and "GRmax [90% interval]" in page
    assert "per curve fit" not in page
