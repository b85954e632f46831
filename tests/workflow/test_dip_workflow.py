"""The workflow on the example screen read over time (example/timecourse/),
from its IncuCyte exports, with growth.response dip: the tables and pages give
the DIP metrics of the fitted curves beside thunor-style per-curve fits."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from conftest import QUICK_FITS, REPO, snakemake
from pdoscreen.store import open_zarr

EXAMPLE = REPO / "example" / "timecourse"
CONFIG = REPO / "config" / "examples" / "timecourse" / "config.yaml"
TARGETS = ["results/summary/patient_drug.tsv", "results/summary/line_drug.tsv", "results/patients/P1/P1.html"]


def test_the_script_reproduces_the_example(tmp_path):
    spec = importlib.util.spec_from_file_location("make_time_course", EXAMPLE / "make_time_course.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.write(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert len(written) == 26  # 12 exports, 12 layouts, the sheet and the truth
    for path in written:
        assert (tmp_path / path).read_bytes() == (EXAMPLE / path).read_bytes(), path


@pytest.fixture(scope="module")
def dip_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dip_response")
    # the example's config and its sheet by full path; the growth section again on the
    # command line, whose nested numbers reach the workflow as text (common.smk types them)
    run = snakemake(workdir, *TARGETS, "--configfile", str(CONFIG), "--config",
                    f"sample_sheet={EXAMPLE / 'sample_sheet.tsv'}", QUICK_FITS,
                    "growth={response: dip, dip_delay_h: 24, dip_window_h: 72}")
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, pd.read_csv(EXAMPLE / "truth.tsv", sep="\t")


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
