"""Metrics (AAC, AUC, Emax, DSS, IC50) and the per-line / per-patient / cohort
summaries, on constructed draws where the answers are known.

No model is fitted here: fits are built with ``az.from_dict`` from chosen
draws, so the file runs in seconds. Random draws are seeded through
``conftest.seeded``; the one assertion that rests on them states its
false-failure probability."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.integrate import quad
from scipy.optimize import brentq

from conftest import seeded
from pdoscreen import metrics
from pdoscreen.store import open_zarr, write_inference_data
from pdoscreen.summarize import (
    PATIENT_TABLE_METRICS,
    RELATIVE_METRICS,
    cohort_relative,
    line_metric_draws,
    metric_draws_dataset,
    patient_metric_draws,
    selective_dss,
    summarize,
    summary_tables,
    thin,
)

CURVES = [  # (c, h, E, x_min, x_max)
    (-7.0, 1.0, 0.1, -9.0, -5.0),
    (-5.2, 2.3, 0.6, -9.0, -5.0),
    (-9.5, 0.5, 0.0, -9.0, -5.0),  # potent: above the threshold from x_min on
    (-6.0, 0.7, 0.3, -8.5, -5.5),
    (-8.0, 3.0, 0.85, -10.0, -6.0),  # weak top: a = 15% inhibition
]


def fake_fit(drug, lines, patients, c, e, h, x_min=-9.0, x_max=-5.0, approximate=0):
    """An InferenceData shaped like ``fit.fit_drug``'s (only what summaries read).
    c, e, h: arrays (chain, draw, line)."""
    idata = az.from_dict(
        posterior={"c_line": np.asarray(c, float), "E_line": np.asarray(e, float), "h_line": np.asarray(h, float)},
        constant_data={"line_patient": np.array(patients)},
        coords={"line": list(lines)},
        dims={"c_line": ["line"], "E_line": ["line"], "h_line": ["line"], "line_patient": ["line"]},
    )
    attrs = {"drug": drug, "x_min_log10_molar": x_min, "x_max_log10_molar": x_max,
             "method": "SVI, approximate" if approximate else "NUTS", "approximate": approximate}
    for group in idata.groups():
        getattr(idata, group).attrs.update(attrs)
    return idata


def random_fit(drug, lines, patients, seed, chains=2, draws=50, centre=-7.0, e_centre=0.2, **kwargs):
    rng = np.random.default_rng(seeded(seed))
    n = len(lines)
    c = centre + rng.normal(0, 0.5, n) + rng.normal(0, 0.05, (chains, draws, n))
    e = np.clip(e_centre + rng.normal(0, 0.05, (chains, draws, n)), 0.01, 0.99)
    h = np.exp(rng.normal(0, 0.1, (chains, draws, n)))
    return fake_fit(drug, lines, patients, c, e, h, **kwargs)


# --- curve metrics ------------------------------------------------------------------


@pytest.mark.parametrize("c, h, e, x_min, x_max", CURVES)
def test_aac_and_auc_match_numerical_integration(c, h, e, x_min, x_max):
    integral = quad(lambda x: metrics.viability(x, c, h, e), x_min, x_max)[0]
    assert metrics.auc(c, h, e, x_min, x_max) == pytest.approx(integral / (x_max - x_min), abs=1e-10)
    assert metrics.aac(c, h, e, x_min, x_max) == pytest.approx(1 - integral / (x_max - x_min), abs=1e-10)


def dss_by_definition(c, h, e, x_min, x_max, t=10.0):
    """DSS1-3 from the published definition by numerical integration: inhibition
    y = 100 (1 - v), top a = 100 (1 - E); area of (y - t) above the threshold
    from x1 (where y crosses t, or x_min) to x_max."""
    a = 100 * (1 - e)
    if a <= t or c >= x_max:
        return 0.0, 0.0, 0.0
    y = lambda x: 100 * (1 - metrics.viability(x, c, h, e))  # noqa: E731
    x1 = brentq(lambda x: y(x) - t, c - 40, c + 40, xtol=1e-14)
    x1 = min(max(x1, x_min), x_max)
    area = quad(lambda x: max(y(x) - t, 0.0), x_min, x_max, points=[x1], epsabs=1e-12, epsrel=1e-12, limit=200)[0]
    dss1 = 100 * area / ((x_max - x_min) * (100 - t))
    return dss1, dss1 / np.log10(a), dss1 * (2 / np.log10(a)) * (x_max - x1) / (x_max - x_min)


@pytest.mark.parametrize("c, h, e, x_min, x_max", CURVES)
def test_dss_matches_the_definition_integrated_numerically(c, h, e, x_min, x_max):
    expected = dss_by_definition(c, h, e, x_min, x_max)
    for kind in (1, 2, 3):
        assert metrics.dss(c, h, e, x_min, x_max, kind=kind) == pytest.approx(expected[kind - 1], abs=1e-7)
    assert expected[0] > 0 or c >= x_max


def test_dss_hand_checked_case():
    # E = 0 (a = 100), h = 1, c = -7 on [-9, -5]: y crosses 10% where
    # 10^(c - x1) = 9, so x1 = -7 - log10(9); with F(x) = a x + a log10(1 + 10^(c - x)),
    # area = 100 (x2 - x1) + 100 (log10(1.01) - log10(10)) - 10 (x2 - x1)
    #      = 90 * 2.9542425 + 0.4321374 - 100 = 166.31396
    # DSS1 = 100 * 166.31396 / (4 * 90) = 46.19832; DSS2 = DSS1 / log10(100) = 23.09916;
    # DSS3 = DSS1 * (2 / 2) * 2.9542425 / 4 = 34.12026.
    assert metrics.dss(-7, 1, 0, -9, -5, kind=1) == pytest.approx(46.19832, abs=1e-5)
    assert metrics.dss(-7, 1, 0, -9, -5, kind=2) == pytest.approx(23.09916, abs=1e-5)
    assert metrics.dss(-7, 1, 0, -9, -5, kind=3) == pytest.approx(34.12026, abs=1e-5)


def test_dss_is_zero_below_threshold_and_vectorised():
    # top inhibition 5% (E = 0.95) never reaches 10%; 10% exactly does not count either
    assert metrics.dss(-7, 1, 0.95, -9, -5, kind=1) == 0.0
    assert metrics.dss(-7, 1, 0.9, -9, -5, kind=3) == 0.0
    # inflection beyond the top dose: 0 (the R package's rule)
    assert metrics.dss(-4.9, 1, 0.0, -9, -5, kind=2) == 0.0
    # a top of 11% inhibition is barely above the threshold: small but positive
    assert 0.0 < metrics.dss(-7, 1, 0.89, -9, -5, kind=1) < 1.0
    c = np.array([[-7.0, -7.0], [-4.0, np.nan]])
    out = metrics.dss(c, 1.0, np.array([0.0, 0.95]), -9, -5, kind=1)
    assert out.shape == (2, 2)
    assert out[0, 0] == pytest.approx(46.19832, abs=1e-5)
    assert out[0, 1] == 0 and out[1, 0] == 0 and np.isnan(out[1, 1])
    with pytest.raises(ValueError):
        metrics.dss(-7, 1, 0, -9, -5, kind=4)


def test_emax_and_ic50():
    for c, h, e, x_min, x_max in CURVES:
        assert metrics.emax(c, h, e, x_max) == pytest.approx(1 - metrics.viability(x_max, c, h, e))
    e = np.array([0.0, 0.3, 0.5, 0.7])
    ic50 = metrics.log10_ic50(-7.0, 1.5, e)
    assert np.isnan(ic50[2:]).all() and np.isfinite(ic50[:2]).all()
    assert metrics.viability(ic50[:2], -7.0, 1.5, e[:2]) == pytest.approx([0.5, 0.5])
    assert ic50[0] == pytest.approx(-7.0)


# --- lines and patients -------------------------------------------------------------


def test_line_metric_draws_are_the_metrics_on_every_draw():
    idata = random_fit("drugA", ["P1-L1", "P1-L2", "P2-L1"], ["P1", "P1", "P2"], seed=1, x_min=-8.5, x_max=-5.5)
    ds = line_metric_draws(idata)
    assert dict(ds.sizes) == {"line": 3, "draw": 100}
    assert list(ds.patient.values) == ["P1", "P1", "P2"]
    assert set(ds.data_vars) == {"aac", "auc", "log10_ec50", "log10_ic50", "emax", "dss1", "dss2", "dss3"}
    assert ds.attrs["drug"] == "drugA" and ds.attrs["x_max_log10_molar"] == -5.5 and ds.attrs["approximate"] == 0
    post = idata.posterior
    # draw = chain x draw, chain-major: draw 57 is chain 1, draw 7
    c, e, h = (float(post[v].sel(chain=1, draw=7, line="P1-L2")) for v in ("c_line", "E_line", "h_line"))
    row = ds.sel(line="P1-L2", draw=57)
    assert float(row.aac) == pytest.approx(metrics.aac(c, h, e, -8.5, -5.5))
    assert float(row.auc) == pytest.approx(1 - float(row.aac))
    assert float(row.dss3) == pytest.approx(metrics.dss(c, h, e, -8.5, -5.5, kind=3))
    assert float(row.log10_ec50) == c


def lines_dataset(aac, ic50, patients, x_max=-5.0):
    aac, ic50 = np.asarray(aac, float), np.asarray(ic50, float)
    names = [f"L{i}" for i in range(len(patients))]
    data = {m: (("line", "draw"), aac) for m in ("aac", "auc", "log10_ec50", "emax", "dss1", "dss2", "dss3")}
    data["log10_ic50"] = (("line", "draw"), ic50)
    return xr.Dataset(data, coords={"line": names, "draw": np.arange(aac.shape[1]), "patient": ("line", patients)},
                      attrs={"drug": "d", "x_min_log10_molar": -9.0, "x_max_log10_molar": x_max,
                             "method": "NUTS", "approximate": 0})


def test_patient_is_the_mean_of_its_lines_per_draw():
    aac = [[0.2, 0.4, 0.6], [0.4, 0.6, 0.2], [0.9, 0.9, 0.9]]
    ic50 = [[-7.0, -6.0, np.nan], [-8.0, -7.0, -6.0], [-9.0, np.nan, -9.0]]
    ds = patient_metric_draws(lines_dataset(aac, ic50, ["P2", "P2", "P1"]))
    assert list(ds.patient.values) == ["P1", "P2"]
    assert ds.aac.sel(patient="P2").values == pytest.approx([0.3, 0.5, 0.4])
    assert ds.aac.sel(patient="P1").values == pytest.approx([0.9, 0.9, 0.9])
    # IC50: mean when every line reaches 50% on that draw, else NaN
    p2 = ds.log10_ic50.sel(patient="P2").values
    assert p2[:2] == pytest.approx([-7.5, -6.5]) and np.isnan(p2[2])
    assert np.isnan(ds.log10_ic50.sel(patient="P1").values[1])
    # between-line sd: |difference| / sqrt(2) with two lines; undefined with one
    assert ds.aac_line_sd.sel(patient="P2").values == pytest.approx(np.array([0.2, 0.2, 0.4]) / np.sqrt(2))
    assert np.isnan(ds.aac_line_sd.sel(patient="P1").values).all()


# --- cohort and ranks ---------------------------------------------------------------


def patient_aac(values, drugs, patients):
    values = np.asarray(values, float)
    return xr.DataArray(values, dims=("drug", "patient", "draw"),
                        coords={"drug": drugs, "patient": patients, "draw": np.arange(values.shape[2])})


def test_cohort_median_score_and_probability_more_sensitive():
    # one drug, four patients; P4 is the most sensitive on every draw, P1 the
    # least; P2 and P3 swap on the third draw.
    draws = [[0.1, 0.1, 0.1, 0.1], [0.3, 0.3, 0.5, 0.3], [0.4, 0.4, 0.2, 0.4], [0.8, 0.6, 0.8, 0.8]]
    out = cohort_relative(patient_aac([draws], ["d"], ["P1", "P2", "P3", "P4"]))
    more = out.more_sensitive.sel(drug="d").mean("draw").values
    assert more == pytest.approx([0.0, 0.25, 0.75, 1.0])
    # draw 0: values 0.1, 0.3, 0.4, 0.8; median 0.35, sd (ddof 1) of the four
    sd = np.std([0.1, 0.3, 0.4, 0.8], ddof=1)
    expected = (np.array([0.1, 0.3, 0.4, 0.8]) - 0.35) / sd
    assert out.score.sel(drug="d", draw=0).values == pytest.approx(expected)
    # a patient that does not carry the drug stays NaN and is left out of the cohort
    with_gap = np.array([draws + [[np.nan] * 4]])
    out = cohort_relative(patient_aac(with_gap, ["d"], ["P1", "P2", "P3", "P4", "P5"]))
    assert np.isnan(out.score.sel(patient="P5")).all() and np.isnan(out.more_sensitive.sel(patient="P5")).all()
    assert out.score.sel(drug="d", draw=0, patient=["P1", "P2", "P3", "P4"]).values == pytest.approx(expected)


def test_odd_cohort_compares_with_the_other_patients():
    # three patients: the middle one (0.5) is above the median of the other two
    # (0.1, 0.7 -> 0.4), so it is more sensitive than its cohort on every draw
    out = cohort_relative(patient_aac([[[0.1, 0.1], [0.5, 0.5], [0.7, 0.7]]], ["d"], ["A", "B", "C"]))
    assert out.more_sensitive.mean("draw").values[0] == pytest.approx([0.0, 1.0, 1.0])
    # a drug carried by one patient has no cohort
    out = cohort_relative(patient_aac([[[0.1, 0.1], [np.nan, np.nan]]], ["d"], ["A", "B"]))
    assert np.isnan(out.score).all() and np.isnan(out.more_sensitive).all() and np.isnan(out["rank"]).all()


def test_ranks_follow_scores_not_raw_aac():
    # Patient P1 against three others for five drugs. Drug "e" has the highest
    # raw AAC for P1 but is equally potent in everyone: its score is 0. P1's
    # relative sensitivity orders the drugs a > b > c > d on every draw, except
    # that c and d swap on half the draws.
    n = 4
    cohort = np.array([0.2, 0.3, 0.4])  # the other patients
    p1 = {"a": [0.9] * n, "b": [0.7] * n, "c": [0.5, 0.5, 0.36, 0.36], "d": [0.38, 0.38, 0.6, 0.6]}
    values = [[p1[d], *[[v] * n for v in cohort]] for d in "abcd"]
    values.append([[0.95] * n] * 4)  # e: everyone at 0.95
    values = np.array(values)
    values[4, :, :] += np.array([0.0, -0.01, 0.01, 0.0])[:, None]  # tiny spread, P1 at the median
    out = cohort_relative(patient_aac(values, list("abcde"), ["P1", "P2", "P3", "P4"]))
    rank = out["rank"].sel(patient="P1")
    assert rank.sel(drug="a").values == pytest.approx([1] * n)
    assert rank.sel(drug="b").values == pytest.approx([2] * n)
    assert rank.sel(drug="c").values == pytest.approx([3, 3, 4, 4])
    assert rank.sel(drug="d").values == pytest.approx([4, 4, 3, 3])
    assert rank.sel(drug="e").values == pytest.approx([5] * n)
    # each draw is a permutation of 1..5 for every patient
    assert (np.sort(out["rank"].values, axis=0) == np.arange(1, 6)[:, None, None]).all()


def test_a_flat_drug_ranks_after_every_active_drug_whatever_its_score():
    """A drug no patient responds to (AAC 0.02-0.05) has a cohort sd of a few
    hundredths, so P1's 0.05 scores 1.5 sds above the cohort: the highest score
    of the three drugs. Below the activity floor (0.1) on every draw, it ranks
    last; the two active drugs keep their order by score, and on the draw where
    the weaker one falls below the floor too, it joins the flat drug after
    the active one, the two again by score."""
    values = np.array([
        [[0.05, 0.05], [0.02, 0.02], [0.03, 0.03], [0.02, 0.02]],  # flat: P1 scores 1.5
        [[0.60, 0.60], [0.40, 0.40], [0.50, 0.50], [0.45, 0.45]],  # strong: P1 scores 1.4
        [[0.30, 0.08], [0.25, 0.25], [0.20, 0.20], [0.30, 0.30]],  # weak: inactive in P1 on draw 2
    ])
    out = cohort_relative(patient_aac(values, ["flat", "strong", "weak"], ["P1", "P2", "P3", "P4"]))
    score, rank = out["score"].sel(patient="P1"), out["rank"].sel(patient="P1")
    assert float(score.sel(drug="flat")[0]) > float(score.sel(drug="strong")[0]) > 1
    assert rank.sel(drug="strong").values == pytest.approx([1, 1])
    assert rank.sel(drug="weak").values == pytest.approx([2, 3])
    assert rank.sel(drug="flat").values == pytest.approx([3, 2])
    # without a floor, the score alone orders them
    unfloored = cohort_relative(patient_aac(values, ["flat", "strong", "weak"], ["P1", "P2", "P3", "P4"]),
                                activity_aac_floor=-np.inf)
    assert unfloored["rank"].sel(patient="P1", drug="flat").values == pytest.approx([1, 1])



def test_rank_and_p_top3_in_the_patient_table():
    # Four patients with one line each, five drugs tested over the same range.
    # P2-P4 respond alike to every drug; P1 is, relative to them, most
    # sensitive to a, then b; drug e is third on half the draws (c fourth) and
    # fourth on the other half (c third); d is last.
    p1_c = {"a": [-7.6] * 4, "b": [-7.4] * 4, "c": [-7.2] * 4, "d": [-6.0] * 4, "e": [-7.3, -7.3, -6.2, -6.2]}
    fits = []
    for drug, c1 in p1_c.items():
        c = np.empty((1, 4, 4))
        c[0, :, 0] = c1
        c[0, :, 1:] = [-7.0, -6.8, -6.6]
        fits.append(line_metric_draws(fake_fit(drug, ["P1-L1", "P2-L1", "P3-L1", "P4-L1"], ["P1", "P2", "P3", "P4"],
                                               c, np.full_like(c, 0.1), np.ones_like(c))))
    patients, _ = summary_tables(metric_draws_dataset(fits))
    p1 = patients[patients.patient == "P1"].set_index(["metric", "drug"])
    assert p1.loc["rank", "mean"].to_dict() == pytest.approx({"a": 1, "b": 2, "c": 3.5, "d": 5, "e": 3.5})
    assert p1.loc["rank", "q50"].to_dict() == pytest.approx({"a": 1, "b": 2, "c": 3.5, "d": 5, "e": 3.5})
    assert p1.loc["p_top3", "mean"].to_dict() == pytest.approx({"a": 1, "b": 1, "c": 0.5, "d": 0, "e": 0.5})
    # P1 is above the median of the other three for every drug but d (and e on half the draws)
    assert p1.loc["p_more_sensitive_than_cohort", "mean"].to_dict() == pytest.approx(
        {"a": 1, "b": 1, "c": 1, "d": 0, "e": 0.5})


def test_activity_selective_dss_and_small_cohorts_in_the_patient_table():
    # Three patients, one line each, one drug; P1 responds (E = 0.1), P2 and P3
    # barely (E = 0.95): P(AAC > 0.1) is 1 for P1 and 0 for the others.
    c = np.full((1, 4, 3), -7.0)
    e = np.empty_like(c)
    e[..., 0], e[..., 1:] = 0.1, 0.95
    fit = line_metric_draws(fake_fit("d", ["P1-L1", "P2-L1", "P3-L1"], ["P1", "P2", "P3"], c, e, np.ones_like(c)))
    ds = metric_draws_dataset([fit])
    patients, _ = summary_tables(ds, activity_aac_floor=0.1, min_cohort_patients=3)
    rows = patients.set_index(["patient", "metric"])
    assert rows.loc[("P1", "p_aac_above_activity_floor"), "mean"] == 1.0
    assert rows.loc[("P2", "p_aac_above_activity_floor"), "mean"] == 0.0
    assert (patients[patients.metric == "cohort_patients"]["mean"] == 3).all()
    # sDSS2: the patient's DSS2 minus the mean of the other two patients', on every draw
    dss2 = ds.patient_dss2.sel(drug="d").values
    assert rows.loc[("P1", "sdss2"), "mean"] == pytest.approx((dss2[0] - dss2[1:].mean(axis=0)).mean())
    assert not patients["flags"].str.contains("cohort_too_small").any()
    # With four patients required, the relative rows (and only they) say the cohort is too small.
    small, _ = summary_tables(ds, min_cohort_patients=4)
    flagged = small[small["flags"].str.contains("cohort_too_small")]
    assert set(flagged.metric) == set(RELATIVE_METRICS) and len(flagged) == 3 * len(RELATIVE_METRICS)


def test_selective_dss_leaves_out_patients_without_the_drug():
    dss = xr.DataArray([[[10.0, 20.0], [30.0, 40.0], [np.nan, np.nan], [50.0, 0.0]]], dims=("drug", "patient", "draw"))
    out = selective_dss(dss).values[0]
    assert out[0] == pytest.approx([10 - 40, 20 - 20]) and out[1] == pytest.approx([30 - 30, 40 - 10])
    assert np.isnan(out[2]).all()
    assert np.isnan(selective_dss(dss[:, :1]).values).all()  # nobody to compare with


# --- the dataset and the tables -----------------------------------------------------


def two_drug_fits():
    lines, patients = ["P1-L1", "P1-L2", "P2-L1", "P3-L1"], ["P1", "P1", "P2", "P3"]
    a = random_fit("drugA", lines, patients, seed=2, draws=60)
    b = random_fit("drugB", lines[:3], patients[:3], seed=3, draws=40, centre=-6.0, x_min=-8.0, x_max=-4.0,
                   approximate=1)
    return a, b


def test_metric_dataset_shares_draws_and_marks_missing_lines():
    a, b = two_drug_fits()
    ds = metric_draws_dataset([line_metric_draws(b), line_metric_draws(a)])
    assert dict(ds.sizes) == {"drug": 2, "line": 4, "patient": 3, "draw": 80}  # drugB: 2 x 40
    assert list(ds.drug.values) == ["drugA", "drugB"]
    assert list(ds.line_patient.values) == ["P1", "P1", "P2", "P3"]
    assert list(ds.approximate.values) == [0, 1] and list(ds.x_max_log10_molar.values) == [-5.0, -4.0]
    for metric in ("aac", "auc", "log10_ec50", "log10_ic50", "emax", "dss1", "dss2", "dss3"):
        assert ds[f"line_{metric}"].dims == ("drug", "line", "draw")
        assert ds[f"patient_{metric}"].dims == ("drug", "patient", "draw")
        assert "units" in ds[f"line_{metric}"].attrs
    assert ds.patient_score.dims == ds.patient_rank.dims == ("drug", "patient", "draw")
    # drugB lacks P3: NaN there, values elsewhere
    assert np.isnan(ds.line_aac.sel(drug="drugB", line="P3-L1")).all()
    assert np.isnan(ds.patient_rank.sel(drug="drugB", patient="P3")).all()
    assert np.isfinite(ds.patient_aac.sel(drug="drugB", patient="P2")).all()
    # drugA is thinned from 120 draws to 80, deterministically, keeping both ends
    lines_a = line_metric_draws(a)
    thinned = thin(lines_a, 80)
    assert thinned.aac.values[:, 0] == pytest.approx(lines_a.aac.values[:, 0])
    assert thinned.aac.values[:, -1] == pytest.approx(lines_a.aac.values[:, -1])
    assert ds.line_aac.sel(drug="drugA").values == pytest.approx(thinned.aac.values)
    # the patient level is the mean of its lines
    p1 = ds.line_aac.sel(drug="drugA", line=["P1-L1", "P1-L2"]).mean("line")
    assert ds.patient_aac.sel(drug="drugA", patient="P1").values == pytest.approx(p1.values)
    # with two drugs, ranks are 1 or 2 for a patient carrying both
    assert set(np.unique(ds.patient_rank.sel(patient="P1").values)) <= {1.0, 2.0}
    assert metric_draws_dataset([line_metric_draws(a), line_metric_draws(b)], max_draws=30).sizes["draw"] == 30


def test_summary_tables_columns_metrics_and_flags():
    a, b = two_drug_fits()
    ds = metric_draws_dataset([line_metric_draws(a), line_metric_draws(b)])
    flags = pd.DataFrame({"drug": ["drugA", "drugA"], "line": ["P1-L1", "P2-L1"],
                          "flags": ["flat_curve", "incomplete_curve,ic50_not_reached"]})
    patients, lines = summary_tables(ds, flags, failed_drugs={"drugA"})
    assert list(patients.columns) == ["patient", "drug", "metric", "mean", "sd", "q05", "q50", "q95", "flags"]
    assert list(lines.columns) == ["patient", "line", "drug", "metric", "mean", "sd", "q05", "q50", "q95", "flags"]
    assert set(patients.metric) == set(PATIENT_TABLE_METRICS)
    assert {"aac", "auc", "log10_ec50", "log10_ic50", "p_ic50_below_top_dose", "emax", "dss1", "dss2", "dss3",
            "p_more_sensitive_than_cohort", "rank", "p_top3"} <= set(patients.metric)
    assert set(lines.metric) == {"aac", "auc", "log10_ec50", "log10_ic50", "p_ic50_below_top_dose", "emax",
                                 "dss1", "dss2", "dss3"}
    assert len(lines) == (4 + 3) * 9 and len(patients) == (3 + 2) * len(PATIENT_TABLE_METRICS)
    # probabilities: the value in mean and q50, nothing else
    probs = patients[patients.metric.str.startswith("p_")]
    assert (probs["mean"] == probs["q50"]).all() and probs[["sd", "q05", "q95"]].isna().all().all()
    # summaries agree with the draws
    row = lines.query("line == 'P1-L2' and drug == 'drugA' and metric == 'aac'").iloc[0]
    draws = ds.line_aac.sel(drug="drugA", line="P1-L2").values
    assert row["mean"] == pytest.approx(draws.mean()) and row["q95"] == pytest.approx(np.quantile(draws, 0.95))
    # flags: fit flags on the line's rows, pooled on its patient's; SVI and failed fits
    l1 = lines.query("line == 'P1-L1' and drug == 'drugA'")["flags"]
    assert l1.str.split(",").apply(lambda f: "flat_curve" in f and "fit_failed_diagnostics" in f).all()
    assert "flat_curve" in patients.query("patient == 'P1' and drug == 'drugA'")["flags"].iloc[0].split(",")
    assert lines.query("drug == 'drugB'")["flags"].str.contains("approximate_fit").all()
    assert not lines.query("drug == 'drugB'")["flags"].str.contains("fit_failed_diagnostics").any()
    # rows are sorted and probabilities lie in [0, 1]
    assert patients[["patient", "drug"]].equals(patients[["patient", "drug"]].sort_values(["patient", "drug"]))
    assert probs["mean"].between(0, 1).all()


def test_ic50_rows_never_show_unreached_values():
    c = np.full((1, 100, 3), -7.0)
    h = np.ones((1, 100, 3))
    e = np.full((1, 100, 3), 0.1)
    e[0, :20, 1] = 0.7  # line 2 reaches 50% on 80% of draws
    e[0, :70, 2] = 0.7  # line 3 on 30%
    idata = fake_fit("d", ["P1-L1", "P1-L2", "P2-L1"], ["P1", "P1", "P2"], c, e, h)
    _, lines = summary_tables(metric_draws_dataset([line_metric_draws(idata)]))
    ic50 = lines[lines.metric == "log10_ic50"].set_index("line")
    assert ic50.loc["P1-L1", "flags"] == "" and ic50.loc["P1-L1", "mean"] == pytest.approx(-7 + np.log10(1.25))
    assert ic50.loc["P1-L2", "flags"] == "ic50_conditional_on_reached"
    assert ic50.loc["P1-L2", "q50"] == pytest.approx(-7 + np.log10(1.25))  # over the reached draws only
    assert "ic50_not_reached" in ic50.loc["P2-L1", "flags"]
    assert ic50.loc["P2-L1", ["mean", "sd", "q05", "q50", "q95"]].isna().all()
    below = lines[lines.metric == "p_ic50_below_top_dose"].set_index("line")["mean"]
    assert below.to_dict() == pytest.approx({"P1-L1": 1.0, "P1-L2": 0.8, "P2-L1": 0.3})


def test_line_disagreement_flag():
    # P1's two lines differ clearly in potency; P2's two lines are the same curve
    rng = np.random.default_rng(seeded(4))
    c = np.array([-8.0, -6.0, -7.0, -7.0]) + rng.normal(0, 0.02, (2, 100, 4))
    e, h = np.full_like(c, 0.1), np.ones_like(c)
    idata = fake_fit("d", ["P1-L1", "P1-L2", "P2-L1", "P2-L2"], ["P1", "P1", "P2", "P2"], c, e, h)
    patients, lines = summary_tables(metric_draws_dataset([line_metric_draws(idata)]))
    # A line's AAC moves 0.22 per decade of EC50 here, so the contrast AAC_L1 -
    # AAC_L2 has sd 0.006 over the draws. P1's is 0.43, 70 sds from 0: flagged.
    # P2's is symmetric about 0: its 90% interval misses 0 only with 190 or more
    # of the 200 draws on one side, probability 3e-44 (binomial). A rule that
    # never flagged, or flagged any nonzero contrast, fails.
    flagged = lines[lines["flags"].str.contains("line_disagrees_with_patient")].line.unique()
    assert sorted(flagged) == ["P1-L1", "P1-L2"]
    assert patients.query("patient == 'P1'")["flags"].str.contains("line_disagrees_with_patient").all()
    assert not patients.query("patient == 'P2'")["flags"].str.contains("line_disagrees_with_patient").any()
    sd = patients.query("patient == 'P2' and metric == 'aac_line_sd'").iloc[0]
    # P2's line sd |AAC_L1 - AAC_L2| / sqrt(2) is half-normal with scale 0.0044:
    # a draw reaches 0.02 with probability 6e-6, the 10 of 200 that would put
    # q95 there with 1e-36 (binomial). P1's lines (0.31) would be far above.
    assert sd["q95"] < 0.02


def test_summarize_writes_byte_identical_outputs(tmp_path):
    a, b = two_drug_fits()
    fits = []
    for idata in (a, b):
        drug = idata.posterior.attrs["drug"]
        write_inference_data(idata, tmp_path / f"{drug}.zarr")
        fits.append(tmp_path / f"{drug}.zarr")
    pd.DataFrame({"line": ["P1-L1"], "patient": ["P1"], "flags": ["flat_curve"]}).to_csv(
        tmp_path / "drugA.lines.tsv", sep="\t", index=False)
    pd.DataFrame({"line": ["P1-L1"], "patient": ["P1"], "flags": [""]}).to_csv(
        tmp_path / "drugB.lines.tsv", sep="\t", index=False)
    pd.DataFrame({"group": ["lines", "sampler"], "status": ["pass", "fail"]}).to_csv(
        tmp_path / "drugA.diagnostics.tsv", sep="\t", index=False)
    pd.DataFrame({"group": ["lines"], "status": ["approximate"]}).to_csv(
        tmp_path / "drugB.diagnostics.tsv", sep="\t", index=False)
    lines_tsv = [tmp_path / "drugA.lines.tsv", tmp_path / "drugB.lines.tsv"]
    diagnostics = [tmp_path / "drugA.diagnostics.tsv", tmp_path / "drugB.diagnostics.tsv"]
    first = summarize(fits, lines_tsv, diagnostics, tmp_path / "one")
    summarize(list(reversed(fits)), lines_tsv, diagnostics, tmp_path / "two")
    names = ["patient_drug.tsv", "line_drug.tsv", "patient_drug.parquet", "line_drug.parquet"]
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    table = pd.read_csv(first["patient_tsv"], sep="\t", keep_default_na=False, na_values=["NaN"])
    parquet = pd.read_parquet(first["patient_parquet"])
    assert list(table.columns) == list(parquet.columns)
    assert table["mean"].to_numpy() == pytest.approx(parquet["mean"].to_numpy(), rel=1e-5, nan_ok=True)
    text = first["line_tsv"].read_text()
    assert "inf" not in text.lower()
    flags = table.query("drug == 'drugA'")["flags"]
    assert flags.str.contains("fit_failed_diagnostics").all()
    assert not table.query("drug == 'drugB'")["flags"].str.contains("fit_failed_diagnostics").any()
    assert table.query("drug == 'drugB'")["flags"].str.contains("approximate_fit").all()
    store = open_zarr(first["metrics"])
    assert store.line_aac.dims == ("drug", "line", "draw") and list(store.line_patient.values) == [
        "P1", "P1", "P2", "P3"]
    assert store.line_aac.attrs["units"] == "1 (0-1)"
