"""The workflow end to end on the real CLL screen (config/examples/cll): the
screen store checked against the raw files, per-patient tables and pages, the
residual checks and plate QC. Its own file, so that a parallel test run fits it
beside the example screen (tests/workflow/test_workflow.py)."""

import re
import subprocess
import sys

import pandas as pd
import pytest

import pdoscreen
import pdoscreen.pages
from conftest import QUICK_FITS, REPO, snakemake
from pdoscreen.qc import NO_KILL_REASON, read_plate_qc

# Two active, two nearly flat; Nutlin-3a on plate 12PB0265 is the curve its wells disagree with.
CLL_DRUGS = "[Ibrutinib, Idelalisib, Nutlin-3a, Venetoclax]"


@pytest.fixture(scope="module")
def cll_run(tmp_path_factory, real_world):
    """The workflow on the real CLL screen, once for this file, with quick fits
    of four of its 63 drugs."""
    tmp = tmp_path_factory.mktemp("cll")
    source = real_world / "raw-screen-dataset" / "drugscreenexplorer-cll-ctg384"
    prepare = subprocess.run(
        [sys.executable, REPO / "config/examples/cll/prepare.py", "--source", source, "--out", tmp / "cll"],
        capture_output=True, text=True,
    )
    assert prepare.returncode == 0, prepare.stderr
    run = snakemake(tmp / "work", "--config", f"sample_sheet={tmp / 'cll' / 'sample_sheet.tsv'}", QUICK_FITS,
                    f"drugs={CLL_DRUGS}")
    assert run.returncode == 0, run.stderr[-4000:]
    return tmp / "work", run


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


def test_real_cll_screen_per_patient_tables(cll_run):
    workdir, _ = cll_run
    table = pd.read_csv(workdir / "results/summary/patient_drug.tsv", sep="\t")
    assert set(table.patient) == {"P0007", "P0010"}
    assert set(table.drug) == {"Ibrutinib", "Idelalisib", "Nutlin-3a", "Venetoclax"}
    aac = table[table.metric == "aac"].set_index(["patient", "drug"])
    assert aac.q50.between(0, 1).all() and (aac.q05 < aac.q95).all()
    lines = pd.read_csv(workdir / "results/summary/line_drug.tsv", sep="\t")
    assert lines.line.nunique() == 6  # each CLL sample is its own line
    # The issue-17 outcome: venetoclax active with its IC50 in nM, ibrutinib inactive, and
    # the two-patient cohort too small for relative ranks.
    assert table[table.metric.isin(["rank", "sdss2"])]["flags"].str.contains("cohort_too_small").all()
    for patient in ["P0007", "P0010"]:
        page = (workdir / "results/patients" / patient / f"{patient}.html").read_text(encoding="utf-8")
        active = page[page.index('<table class="drugs active">'):]
        active = active[: active.index("</table>")]
        inactive = page[page.index('<table class="drugs inactive">'):]
        assert "<b>Venetoclax</b>" in active and re.search(r"<td class=\"num\">[\d.]+ nM \[", active)
        inactive = inactive[: inactive.index("</table>")]
        assert "<b>Ibrutinib</b>" in inactive and "<b>Idelalisib</b>" in inactive
        assert "not informative: 2 patient(s) carry this drug, at least 5 needed" in page


def test_real_cll_screen_flags_the_curve_its_wells_disagree_with(cll_run):
    """Issue 16: on plate 12PB0265 (patient P0007) an interior dim zone pulls
    Nutlin-3a's four lowest doses to about half of vehicle while the curve stays
    near 1; the residual checks flag that line's curve, and the page shows it."""
    workdir, _ = cll_run
    screen = pdoscreen.open_screen(workdir / "results" / "screen.zarr")
    line = str(screen.line.sel(plate="12PB0265").values)
    checks = pd.read_csv(workdir / "results/summary/line_checks.tsv", sep="\t", keep_default_na=False)
    flagged = checks[checks["flags"].str.contains("curve_misfit")]
    assert list(zip(flagged.drug, flagged.line)) == [("Nutlin-3a", line)]
    page = (workdir / "results/patients/P0007/P0007.html").read_text(encoding="utf-8")
    nutlin = page[page.index("<b>Nutlin-3a</b>"):]
    assert "curve misfit" in nutlin[: nutlin.index("</tr>")]
    # the caveat names the line and its doses, in the page's units
    row = flagged.iloc[0]
    doses = ", ".join(pdoscreen.pages.molar(float(x)) for x in row.misfit_log10_conc_molar.split(","))
    assert row.misfit_side == "below"
    assert f"{line}: {doses} read below the curve" in page


def test_real_cll_screen_qc(cll_run):
    workdir, _ = cll_run
    table = read_plate_qc(workdir / "results/qc/plates.tsv").set_index("plate")
    assert len(table) == 6
    for column in ["z_prime", "z_prime_robust", "ssmd", "signal_window", "kill_cv"]:
        assert table[column].isna().all(), column
    assert table.reasons.str.contains(NO_KILL_REASON, regex=False).all()
    assert table.vehicle_cv.notna().all() and table.edge_ratio.notna().all()
    # The values written down in docs/qc.md.
    assert table.loc["11PB0010", "vehicle_cv"] == pytest.approx(18.2454, abs=1e-3)
    assert table.loc["11PB0010", "status"] == "warn"
    assert (table.drop(index="11PB0010").status == "pass").all()
    assert table.loc["13PB0658", "edge_ratio"] == pytest.approx(0.915344, abs=1e-5)
    assert table.fit.all()
    screen = pdoscreen.open_screen(workdir / "results/screen.zarr")
    assert "use 0 as the kill level" in screen.percent_of_control.attrs["kill_level"]
