"""Smoke run of benchmarks/compare.py on the tiny size: every contender runs in
its own process, the JSON it writes round-trips into the report and the docs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import seeded

COMPARE = Path(__file__).resolve().parents[1] / "benchmarks" / "compare.py"
CONTENDERS = ["scipy", "thunor", "svi"]  # NUTS would spend the test's minute compiling


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare") / "compare.json"
    # One worker, so SVI compiles once (the second drug loads it from the cache);
    # the workflow's cache folder, so later runs of the suite skip compiling.
    cache = Path("~/.cache/pdoscreen/jax").expanduser()
    # compare.py's default seed (7), shifted by PDOSCREEN_TEST_SEED: the screen and the fits.
    subprocess.run([sys.executable, str(COMPARE), "run", "--sizes", "tiny", "--contenders", ",".join(CONTENDERS),
                    "--workers", "1", "--svi-steps", "300", "--seed", str(seeded(7)), "--jax-cache", str(cache),
                    "--out", str(out)],
                   check=True, timeout=300)
    return out


def _load_benchmark(name: str = "compare"):
    """A script of benchmarks/ as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, COMPARE.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_has_every_contender_with_finite_figures(results):
    compare = _load_benchmark()
    raw = json.loads(results.read_text())
    rows = compare.table(raw).set_index("contender")
    assert list(rows.index) == CONTENDERS
    assert (rows.curves == 12).all()  # 3 patients x 2 lines x 2 drugs
    # The EC50 RMSE is NaN only if no fitted curve's true EC50 lies in the tested
    # range (-8.1 to -5): a line's falls outside with probability 0.028 (normal,
    # sd 0.58 about -7), all 12 with at most 0.028^6 = 5e-10 (6 independent
    # patient-drug pairs).
    assert np.isfinite(rows[["rmse_log10_ec50", "rmse_aac", "wall_s", "curves_per_s"]].to_numpy()).all()
    assert (rows.peak_rss_mb > 50).all() and (rows.sum_rss_mb >= rows.peak_rss_mb).all()
    assert (rows.loc["scipy", "time_vs_scipy"] == 1.0) and np.isfinite(rows.loc["svi", "time_vs_scipy"])
    # All drugs fitted: nothing projected, and pdoscreen's compile time was seen.
    assert not rows.projected.any() and rows.loc["svi", "compile_s"] > 0
    for metric in ("cover90_log10_ec50", "cover90_aac"):
        assert 0.0 <= rows.loc["svi", metric] <= 1.0


def test_report_writes_the_table_and_the_machine(results, tmp_path):
    docs = tmp_path / "benchmarks.md"
    printed = subprocess.run([sys.executable, str(COMPARE), "report", str(results), "--docs", str(docs)],
                             check=True, capture_output=True, text=True).stdout
    text = docs.read_text()
    for contender in CONTENDERS:
        assert f"| tiny | {contender} |" in printed and f"| tiny | {contender} |" in text
    assert "cores" in text and "GB RAM" in text and "jax" in text and "### Targets" in text


def test_the_twelve_drug_screen_is_the_design_its_docstring_states(tmp_path):
    """benchmarks/twelve_drugs.py's screen, read back by the package's readers:
    33 plates of 11 lines, 12 drugs, each on 22 plates at 9 doses x 3 wells."""
    from pdoscreen.ingest import ingest_plate
    from pdoscreen.samplesheet import load_sample_sheet
    from pdoscreen.screen import build_screen

    _load_benchmark("twelve_drugs").write_screen(tmp_path)
    sheet = load_sample_sheet(tmp_path / "sample_sheet.tsv")
    screen = build_screen(sheet, {row.plate: ingest_plate(row) for _, row in sheet.iterrows()})
    assert (screen.sizes["plate"], sheet.line.nunique(), sheet.patient.nunique()) == (33, 11, 6)
    treated = screen[["signal"]].to_dataframe().reset_index().query("role == 'treated'")
    per_drug = treated.groupby("drug").agg(wells=("well", "size"), plates=("plate", "nunique"),
                                           doses=("concentration_molar", "nunique"))
    assert len(per_drug) == 12 and (per_drug.wells == 594).all() and (per_drug.plates == 22).all()
    assert (per_drug.doses == 9).all() and np.isfinite(treated.signal).all()


def test_the_calibration_report_of_a_run_without_sbc():
    """benchmarks/calibration.py's report of a run of some tasks only (--tasks
    flat): no SBC section, the flat lines counted, every fit's rung listed."""
    calibration = _load_benchmark("calibration")

    def flat_fit(seed, rung, aac_q95):
        line = {"log10_ec50": {"truth": -6.0, "quantiles": [-8, -7, -6, -5, -4]},
                "aac": {"truth": 0.0, "quantiles": [0.0, 0.001, 0.002, 0.004, aac_q95]}}
        return {"task": "flat", "seed": seed, "divergences": 0, "rung": rung, "lines": [line, line], "seconds": 60.0}

    raw = {"machine": "test", "results": [flat_fit(2000, 4, 0.01), flat_fit(2001, 5, 0.2)]}
    text = calibration.markdown(raw)
    assert "Simulation-based calibration" not in text
    assert "rung 4: 1, rung 5: 1" in text
    assert "2 of 4 lines have an AAC 95% quantile below 0.05" in text
