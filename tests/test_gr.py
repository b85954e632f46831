"""GR50 and GRmax (Hafner et al. 2016) from per-curve fits of GR values, where
a screen has time-zero plates."""

import numpy as np
import pandas as pd
import pytest

from conftest import seeded
from pdoscreen.baselines import gr_metrics, per_curve_gr
from pdoscreen.simulate import Design, screen
from pdoscreen.summarize import _point_estimate_rows

X = np.repeat(np.linspace(-9, -5, 9), 3)


def gr_curve(x, c, h, grinf):
    return grinf + (1 - grinf) / (1 + 10 ** (h * (x - c)))


def test_gr50_and_grmax_of_a_known_curve():
    metrics = gr_metrics(X, gr_curve(X, -7.0, 1.2, -0.4))
    # GR = 0.5 where 10^(h (x - c)) = 0.5 / (0.5 - GRinf) = 0.5 / 0.9
    assert metrics["log10_gr50"] == pytest.approx(-7.0 + np.log10(0.5 / 0.9) / 1.2, abs=1e-6)
    assert gr_curve(metrics["log10_gr50"], -7.0, 1.2, -0.4) == pytest.approx(0.5, abs=1e-6)
    assert metrics["grmax"] == pytest.approx(gr_curve(-5.0, -7.0, 1.2, -0.4), abs=1e-6)
    assert metrics["grinf"] == pytest.approx(-0.4, abs=1e-6)


def test_a_cytostatic_curve_that_stays_above_half_has_no_gr50():
    metrics = gr_metrics(X, gr_curve(X, -7.0, 1.0, 0.6))
    assert np.isnan(metrics["log10_gr50"]) and metrics["grmax"] == pytest.approx(0.6, abs=0.01)


def test_per_curve_gr_needs_time_zero_plates():
    # The simulated screen gives the layout only: the GR values below are exact.
    ds, _ = screen(Design(n_patients=2, lines_per_patient=1, plates_per_line=1), seed=seeded(1))
    assert per_curve_gr(ds).empty
    gr = ds.signal * 0 + np.nan
    treated = (ds.role == "treated").values
    x = np.log10(ds.concentration_molar.values)
    gr.values[treated] = gr_curve(x[treated], -7.0, 1.0, -0.2)
    table = per_curve_gr(ds.assign(gr_value=gr))
    assert len(table) == 2 and set(table.drug) == {"drugA"}
    assert table.log10_gr50.to_numpy() == pytest.approx(-7.0 + np.log10(0.5 / 0.7), abs=1e-4)


def test_gr_rows_in_the_tables():
    gr = pd.DataFrame({"line": ["P1-L1", "P1-L2", "P2-L1"], "patient": ["P1", "P1", "P2"], "drug": "drugA",
                       "log10_gr50": [-7.0, -6.0, np.nan], "grmax": [-0.2, 0.0, 0.7]})
    (line_rows,), (patient_rows,) = _point_estimate_rows(None, gr)
    assert set(line_rows.metric) == {"log10_gr50", "grmax"} and (line_rows["flags"] == "per_curve_fit").all()
    patients = patient_rows.set_index(["patient", "metric"])["mean"]
    assert patients["P1", "log10_gr50"] == pytest.approx(-6.5) and patients["P1", "grmax"] == pytest.approx(-0.1)
    assert np.isnan(patients["P2", "log10_gr50"])  # a line without GR50: no patient GR50
