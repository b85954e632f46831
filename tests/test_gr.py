"""GR50, GRmax and GR_AOC (Hafner et al. 2016) from per-curve fits of GR values,
where a screen has time-zero plates; DIP rates (Harris et al. 2016) and their
EC50 and Emax; both recovered from simulated time courses with known rates."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.integrate import quad

from conftest import seeded
from pdoscreen import metrics as model_gr
from pdoscreen.baselines import dip_metrics, gr_metrics, per_curve_dip, per_curve_gr, per_curve_growth
from pdoscreen.growth import dip_rates, gr_values
from pdoscreen.metrics import viability
from pdoscreen.simulate import Design, GrowthCurve, dip_rate_truth, gr_truth, growth_course, screen
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
                       "log10_gr50": [-7.0, -6.0, np.nan], "grmax": [-0.2, 0.0, 0.7], "gr_aoc": [0.9, 0.6, 0.1]})
    (line_rows,), (patient_rows,) = _point_estimate_rows(None, gr)
    # no DIP columns, no DIP rows; named apart from the posterior's GR metrics
    assert set(line_rows.metric) == {"log10_gr50_per_curve", "grmax_per_curve", "gr_aoc_per_curve"}
    assert (line_rows["flags"] == "per_curve_fit").all()
    patients = patient_rows.set_index(["patient", "metric"])["mean"]
    assert patients["P1", "log10_gr50_per_curve"] == pytest.approx(-6.5)
    assert patients["P1", "grmax_per_curve"] == pytest.approx(-0.1)
    assert np.isnan(patients["P2", "log10_gr50_per_curve"])  # a line without GR50: no patient GR50


# --- GR of the model's curves (metrics.gr_value and the metrics built on it) -------------------


@pytest.mark.parametrize("c, h, e, floor, doublings", [
    (-7.0, 1.2, 0.1, 0.03, 2.0),  # kills below the time-zero level: GR under 0 at the top dose
    (-6.5, 0.8, 0.6, 0.02, 1.5),  # slows growth only: GR stays above 0.5
    (-7.5, 2.5, 0.0, 0.0, 3.0),  # kills every cell: GR goes to -1
])
def test_gr_of_a_model_curve_is_the_gr_value_of_the_signal_it_predicts(c, h, e, floor, doublings):
    x = np.linspace(-9, -5, 41)
    gain = 5e4  # the vehicle wells' signal; the time-zero wells read gain / 2^doublings
    signal = gain * (floor + (1 - floor) * viability(x, c, h, e))
    expected = gr_values(signal[None, :], np.array([gain / 2**doublings]), np.array([gain]))[0]
    np.testing.assert_allclose(model_gr.gr_value(x, c, h, e, floor, doublings), expected, rtol=1e-12, atol=1e-12)
    assert model_gr.grmax(c, h, e, floor, doublings, -5.0) == pytest.approx(expected[-1], abs=1e-12)
    area = quad(lambda t: 1 - model_gr.gr_value(t, c, h, e, floor, doublings), -9, -5)[0] / 4
    assert model_gr.gr_aoc(c, h, e, floor, doublings, -9, -5) == pytest.approx(area, abs=1e-5)
    gr50 = model_gr.log10_gr50(c, h, e, floor, doublings)
    # GR50 exists where GR falls to 0.5 somewhere: below it at infinite dose
    if model_gr.gr_value(np.inf, c, h, e, floor, doublings) < 0.5:
        assert model_gr.gr_value(gr50, c, h, e, floor, doublings) == pytest.approx(0.5, abs=1e-10)
    else:
        assert np.isnan(gr50)


def test_gr_is_undefined_where_the_vehicle_wells_did_not_grow():
    assert np.isnan(model_gr.gr_value(-7.0, -7.0, 1.0, 0.1, 0.02, 0.0))
    assert np.isnan(model_gr.log10_gr50(-7.0, 1.0, 0.1, 0.02, -0.5))
    # vectorised over draws x lines, the doublings per line
    out = model_gr.grmax(np.full((2, 3), -7.0), 1.0, 0.1, 0.02, np.array([[2.0], [np.nan]]), -5.0)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()


# --- A simulated time course with known growth rates (simulate.GrowthCurve) -------------------

CYTOTOXIC = GrowthCurve()  # kills at high dose: the DIP rate reaches -1/60 per hour, GR below 0
CYTOSTATIC = GrowthCurve(min_rate=1 / 150, log10_ec50=-6.5, hill=1.5)  # slows growth, never kills


@pytest.fixture(scope="module", params=[CYTOTOXIC, CYTOSTATIC], ids=["cytotoxic", "cytostatic"])
def course(request):
    return request.param, growth_course(request.param, seed=seeded(11))


def test_dip_rates_recover_the_simulated_rates(course):
    curve, counts = course
    rates = dip_rates(counts, delay_h=curve.delay_h)
    truth = dip_rate_truth(curve, counts.concentration_molar.values)
    assert (rates.dip_flag == "").all() and (rates.n_time_points == 13).all()  # 24 to 120 h in 8 h steps
    # Per well: 13 log2-counts with sd 0.03 / ln 2, 8 h apart, give a slope sd
    # of 4.0e-4 per hour; 5 sd is exceeded with probability 6e-7 per well.
    np.testing.assert_allclose(rates.dip_rate.values, truth, atol=5 * 4.0e-4)


def test_dip_ec50_and_emax_recover_the_simulated_curve(course):
    curve, counts = course
    rates = dip_rates(counts, delay_h=curve.delay_h)
    treated = counts.role.values == "treated"
    control = float(rates.dip_rate.values[~treated].mean())
    fit = dip_metrics(np.log10(counts.concentration_molar.values[treated]), rates.dip_rate.values[treated], control)
    assert not fit["failed"]
    # Tolerances: 5 sd of the estimates over seeds 0-199 (log10 EC50 sd 0.010,
    # Emax sd 1.9e-4 per hour, for the two curves at most).
    assert fit["dip_log10_ec50"] == pytest.approx(curve.log10_ec50, abs=0.05)
    assert fit["dip_emax"] == pytest.approx(curve.min_rate, abs=1e-3)


def test_gr_values_and_metrics_recover_the_simulated_curve(course):
    curve, counts = course
    treated = counts.role.values == "treated"
    end = counts.signal.isel(time=-1).values
    # x0 and x_ctrl as the screen store takes them: medians of the vehicle wells at 0 h and at the read
    x0 = np.median(counts.signal.isel(time=0).values[~treated])
    x_ctrl = np.median(end[~treated])
    gr = gr_values(end[None, :], np.array([x0]), np.array([x_ctrl]))[0]
    concentration = counts.concentration_molar.values
    true_gr = gr_truth(curve, concentration, at_h=curve.hours[-1])
    # A well's GR comes from three noisy counts (x, and the medians x0, x_ctrl):
    # the largest error of any well over seeds 0-199 was 0.057.
    np.testing.assert_allclose(gr[treated], true_gr[treated], atol=0.1)
    x = np.log10(concentration[treated])
    fit = gr_metrics(x, gr[treated])
    doses = np.unique(x)
    expected_aoc = np.trapezoid(1 - gr_truth(curve, 10.0**doses, curve.hours[-1]), doses) / (doses[-1] - doses[0])
    # 5 sd over seeds 0-199: GR_AOC sd 5.5e-3, GRmax 5.5e-3, log10 GR50 0.013.
    assert fit["gr_aoc"] == pytest.approx(expected_aoc, abs=0.03)
    assert fit["grmax"] == pytest.approx(gr_truth(curve, np.array([curve.top_molar]), curve.hours[-1])[0], abs=0.03)
    # The truth's GR50: where its GR first falls below 0.5 on a fine grid (both curves do).
    grid = np.linspace(-10, -4, 60001)
    below = gr_truth(curve, 10.0**grid, curve.hours[-1]) < 0.5
    assert below.any() and fit["log10_gr50"] == pytest.approx(grid[np.argmax(below)], abs=0.065)


def test_per_curve_dip_metrics_from_a_screen_with_dip_rates():
    """Two lines of one simulated curve each, as a screen store holds them
    (dip_rate per plate and well); a flagged well is left out of the fit."""
    curve = CYTOTOXIC
    plates = []
    for k, line in enumerate(["P1-L1", "P1-L2"]):
        counts = growth_course(curve, seed=seeded(20 + k))
        rates = dip_rates(counts, delay_h=curve.delay_h).dip_rate.values
        plates.append(xr.Dataset(
            {"dip_rate": (("plate", "well"), rates[None]),
             "flag": (("plate", "well"), np.array([[""] * len(rates)], dtype=object))},
            coords={"plate": [f"{line}-R1"], "line": ("plate", [line]), "patient": ("plate", ["P1"]),
                    "role": (("plate", "well"), counts.role.values[None]),
                    "drug": (("plate", "well"), np.where(counts.role.values == "treated", "drugA", "")[None]),
                    "concentration_molar": (("plate", "well"), counts.concentration_molar.values[None])}))
    screen = xr.concat(plates, dim="plate")
    screen["dip_rate"][0, -1] = 10.0  # a wild well, flagged: must not reach the fit
    screen["flag"][0, -1] = "overflow"
    table = per_curve_dip(screen).set_index("line")
    assert list(table.index) == ["P1-L1", "P1-L2"] and not table.failed.any()
    # As in test_dip_ec50_and_emax_recover_the_simulated_curve: 5 sd over 200 seeds.
    np.testing.assert_allclose(table.dip_log10_ec50, curve.log10_ec50, atol=0.05)
    np.testing.assert_allclose(table.dip_emax, curve.min_rate, atol=1e-3)
    (line_rows,), _ = _point_estimate_rows(None, per_curve_growth(screen))
    assert set(line_rows.metric) == {"dip_log10_ec50_per_curve", "dip_emax_per_curve"}  # no GR values here


def test_per_curve_dip_refuses_controls_that_did_not_grow(caplog):
    screen = xr.Dataset(
        {"dip_rate": (("plate", "well"), [[-0.01, -0.01, -0.02, -0.03]]), "flag": (("plate", "well"), [[""] * 4])},
        coords={"plate": ["p"], "line": ("plate", ["L1"]), "patient": ("plate", ["P1"]),
                "role": (("plate", "well"), [["vehicle", "vehicle", "treated", "treated"]]),
                "drug": (("plate", "well"), [["", "", "drugA", "drugA"]]),
                "concentration_molar": (("plate", "well"), [[0.0, 0.0, 1e-7, 1e-6]])})
    table = per_curve_dip(screen)
    assert table.failed.item() and np.isnan(table.dip_log10_ec50.item())
    assert "line L1, drug drugA: no DIP fit: the vehicle wells' DIP rate is -0.01" in caplog.text
