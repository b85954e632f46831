"""The multilevel structure (pdoscreen.hierarchy): variance partition,
shrinkage and new-unit predictions, on one simulated NUTS fit with known
variance components and on hand-built posteriors with exact answers."""

import arviz as az
import matplotlib
import numpy as np
import pandas as pd
import pytest

from conftest import seeded
from pdoscreen import metrics
from pdoscreen.baselines import per_curve_fits
from pdoscreen.fit import FitSettings, fit_drug, plate_priors
from pdoscreen.hierarchy import (
    COMPONENTS,
    new_unit_predictions,
    separating_drugs,
    shrinkage,
    variance_partition,
)
from pdoscreen.plots.hierarchy import shrinkage_figure, variance_shares_figure
from pdoscreen.simulate import Design, screen

DESIGN = Design(n_patients=10, lines_per_patient=2, plates_per_line=2, replicates=1,
                tau_pat=0.6, tau_line=0.25, tau_rep=0.1)
SETTINGS = FitSettings(seed=seeded(11))  # the defaults: what a user's fit runs
pytestmark = pytest.mark.usefixtures("jax_compilation_cache")


def sparse_screen(seed: int = 5):
    """DESIGN with every patient's second line read on one plate only, at every
    other dose (5 wells against 18; dropped wells are missing readings, which
    the fit and the per-curve fits both skip): the simulated screen, its truth
    and the sparse lines."""
    ds, truth = screen(DESIGN, seeded(seed))
    sparse = sorted(truth.line[truth.line.str.endswith("-L2")])
    dropped = [f"{line}-R2" for line in sparse]
    ds = ds.sel(plate=[p for p in ds.plate.values if p not in dropped])
    conc = ds.concentration_molar.values
    kept_doses = np.unique(conc[np.isfinite(conc)])[::2]
    drop = (np.isin(ds.line.values, sparse)[:, None] & (ds.role.values == "treated")
            & ~np.isin(conc, kept_doses))
    ds["signal"] = ds.signal.where(~drop)
    return ds, truth, sparse


@pytest.fixture(scope="module")
def simulated():
    ds, truth, sparse = sparse_screen()
    idata = fit_drug(ds, "drugA", plate_priors(ds), list(ds.plate.values), SETTINGS)
    return ds, truth, sparse, idata


def rows(table, metric, kind):
    return table[(table.metric == metric) & (table.kind == kind)].set_index("component")


# --- (a) recovery ---------------------------------------------------------------------


def test_variance_components_recover_the_simulation(simulated):
    _, _, _, idata = simulated
    assert int(idata.sample_stats.diverging.sum()) == 0
    table = variance_partition(idata)
    assert list(table.columns[:8]) == ["drug", "metric", "component", "kind", "mean", "q05", "q50", "q95"]
    assert len(table) == 12 and set(table.drug) == {"drugA"}
    # Each simulated sd against its posterior on the log scale (the table's
    # values are exact functions of these draws: test_variance_partition_...):
    # a calibrated posterior leaves the truth more than 3.7 sd from its mean
    # with probability 2e-4 (normal approximation), 6e-4 for the three. (Each
    # truth inside its 90% interval, before, failed with probability 0.27.)
    post = idata.posterior
    for name, tau in [("tau_pat", DESIGN.tau_pat), ("tau_line", DESIGN.tau_line), ("tau_rep", DESIGN.tau_rep)]:
        log_tau = np.log(post[name].values)
        z = (np.log(tau) - log_tau.mean()) / log_tau.std()
        assert abs(z) < 3.7, (name, z)
    # This design is patient-dominated, and the text says so: the true patient
    # share is 0.83; a median below 0.5 needs tau_pat estimated at under half
    # its value, 3.4 sd of log tau_pat from 10 patients (1 / sqrt(18)) off:
    # probability 3e-4.
    assert rows(table, "log10_ec50", "share").loc["patient", "q50"] > 0.5
    assert "dominated by patients" in separating_drugs(table)
    # Patients' AAC variance is 36 times the plates' (sd 0.6 against 0.1 in
    # EC50): the medians swap only with both estimates 6-fold off, beyond 5 sd.
    aac_shares = rows(table, "aac", "share")
    assert aac_shares.loc["patient", "q50"] > aac_shares.loc["plate", "q50"]


# --- (b) exact arithmetic on a hand-built posterior ------------------------------------

PATIENTS = ["P1", "P2", "P3"]
LINES = {"L1": "P1", "L2": "P1", "L3": "P2", "L4": "P2", "L5": "P3"}
PLATES = {"A": "L1", "B": "L1", "C": "L2", "D": "L3", "E": "L3", "F": "L4", "G": "L5", "H": "L5"}
X_RANGE = (-9.0, -5.0)


def hand_built(lines=LINES, plates=PLATES, n_draws=5, seed=0):
    """A posterior with arbitrary draws (chain 1) and the fit's layout."""
    rng = np.random.default_rng(seed)
    patients = list(dict.fromkeys(lines.values()))
    nk, nl, npl = len(patients), len(lines), len(plates)
    scalar = lambda loc=0.0, sd=1.0: loc + sd * rng.standard_normal((1, n_draws))  # noqa: E731
    posterior = {
        "mu_c": scalar(-7), "tau_pat": np.abs(scalar(0.5, 0.3)), "tau_line": np.abs(scalar(0.3, 0.2)),
        "tau_rep": np.abs(scalar(0.1, 0.05)), "mu_E": scalar(-1), "tau_E_pat": np.abs(scalar(0.3, 0.1)),
        "tau_E_line": np.abs(scalar(0.3, 0.1)), "mu_h": scalar(0, 0.2), "tau_h": np.abs(scalar(0.2, 0.1)),
        "z_pat": rng.standard_normal((1, n_draws, nk)), "z_E_pat": rng.standard_normal((1, n_draws, nk)),
        "c_line": rng.normal(-7, 0.8, (1, n_draws, nl)), "E_line": rng.uniform(0.02, 0.5, (1, n_draws, nl)),
        "h_line": rng.uniform(0.5, 2.0, (1, n_draws, nl)), "c_plate": rng.normal(-7, 0.8, (1, n_draws, npl)),
    }
    # Two observations per plate, listed in an order unrelated to the plates'.
    obs_plate = np.array(list(plates) * 2)[::-1]
    idata = az.from_dict(
        posterior=posterior,
        constant_data={"line_patient": np.array(list(lines.values())),
                       "obs_plate": obs_plate, "obs_line": np.array([plates[p] for p in obs_plate])},
        coords={"patient": patients, "line": list(lines), "plate": list(plates), "obs": np.arange(len(obs_plate))},
        dims={"z_pat": ["patient"], "z_E_pat": ["patient"], "c_line": ["line"], "E_line": ["line"],
              "h_line": ["line"], "c_plate": ["plate"], "line_patient": ["line"], "obs_plate": ["obs"],
              "obs_line": ["obs"]},
    )
    idata.posterior.attrs.update({"drug": "handmade", "x_min_log10_molar": X_RANGE[0],
                                  "x_max_log10_molar": X_RANGE[1]})
    return idata, posterior


def by_hand(posterior, lines, plates, s):
    """The AAC components of draw s, one unit at a time."""
    line_names = list(lines)
    aac = {}
    for i, line in enumerate(line_names):
        aac[line] = metrics.aac(posterior["c_line"][0, s, i], posterior["h_line"][0, s, i],
                                posterior["E_line"][0, s, i], *X_RANGE)
    plate_aac = {}
    for j, (plate, line) in enumerate(plates.items()):
        i = line_names.index(line)
        plate_aac[plate] = metrics.aac(posterior["c_plate"][0, s, j], posterior["h_line"][0, s, i],
                                       posterior["E_line"][0, s, i], *X_RANGE)
    patients = list(dict.fromkeys(lines.values()))
    means = {k: np.mean([aac[l] for l in line_names if lines[l] == k]) for k in patients}
    grand = np.mean(list(means.values()))
    patient = sum((m - grand) ** 2 for m in means.values()) / (len(patients) - 1) if len(patients) > 1 else np.nan
    line_df = len(line_names) - len(patients)
    line_ss = sum((aac[l] - means[lines[l]]) ** 2 for l in line_names)
    line = line_ss / line_df if line_df > 0 else np.nan
    plate = sum((plate_aac[p] - aac[plates[p]]) ** 2 for p in plates) / len(plates)
    return {"patient": patient, "line": line, "plate": plate}


def summary_of(values):
    values = np.asarray(values)
    return [values.mean(), *np.quantile(values, [0.05, 0.5, 0.95])]


def test_variance_partition_arithmetic():
    idata, posterior = hand_built()
    table = variance_partition(idata)
    tau = {c: posterior[t][0] ** 2 for c, t in [("patient", "tau_pat"), ("line", "tau_line"), ("plate", "tau_rep")]}
    total = sum(tau.values())
    ec50_var, ec50_share = rows(table, "log10_ec50", "variance"), rows(table, "log10_ec50", "share")
    hand = [by_hand(posterior, LINES, PLATES, s) for s in range(5)]
    aac_var, aac_share = rows(table, "aac", "variance"), rows(table, "aac", "share")
    aac_total = [sum(h.values()) for h in hand]
    for c in COMPONENTS:
        cols = ["mean", "q05", "q50", "q95"]
        assert ec50_var.loc[c, cols].to_numpy(float) == pytest.approx(summary_of(tau[c]), rel=1e-12)
        assert ec50_share.loc[c, cols].to_numpy(float) == pytest.approx(summary_of(tau[c] / total), rel=1e-12)
        values = [h[c] for h in hand]
        assert aac_var.loc[c, cols].to_numpy(float) == pytest.approx(summary_of(values), rel=1e-9)
        shares = [h[c] / t for h, t in zip(hand, aac_total)]
        assert aac_share.loc[c, cols].to_numpy(float) == pytest.approx(summary_of(shares), rel=1e-9)
    # Shares are per draw, so their posterior means sum to 1 (medians need not).
    assert ec50_share["mean"].sum() == pytest.approx(1.0)
    assert aac_share["mean"].sum() == pytest.approx(1.0)
    assert dict(ec50_var.n_units) == {"patient": 3, "line": 5, "plate": 8}


def test_degenerate_designs_give_nan_not_zero():
    one_patient = {"L1": "P1", "L2": "P1"}
    idata, posterior = hand_built(one_patient, {"A": "L1", "B": "L2", "C": "L2"})
    table = variance_partition(idata)
    assert np.isnan(rows(table, "aac", "variance").loc["patient", "q50"])
    assert rows(table, "aac", "variance").loc["line", "q50"] > 0
    assert rows(table, "aac", "share")["q50"].isna().all()
    assert rows(table, "log10_ec50", "share")["q50"].notna().all()  # prior-driven, still reported
    assert "one patient" in separating_drugs(table)

    one_line_each = {"L1": "P1", "L2": "P2"}
    idata, _ = hand_built(one_line_each, {"A": "L1", "B": "L2"})
    table = variance_partition(idata)
    assert np.isnan(rows(table, "aac", "variance").loc["line", "q50"])
    assert rows(table, "aac", "variance").loc["patient", "q50"] > 0
    assert "one line per patient" in separating_drugs(table)


# --- (c) shrinkage --------------------------------------------------------------------


def test_lines_with_fewer_wells_move_more(simulated):
    ds, _, sparse, idata = simulated
    independent = per_curve_fits(ds)
    table = shrinkage(idata, independent)
    assert len(table) == 20 and table.line.is_unique
    assert set(table.loc[table.line.isin(sparse), "n_wells"]) == {5}
    assert set(table.loc[~table.line.isin(sparse), "n_wells"]) == {18}
    # Definition: pooled (posterior mean of c_line) minus the independent fit.
    c_line = idata.posterior.c_line.mean(("chain", "draw")).to_series()
    c_line.index = c_line.index.astype(object).astype(str)
    indep = independent[independent.drug == "drugA"].set_index("line").log10_ec50
    expected = c_line.loc[table.line].to_numpy() - indep.loc[table.line].to_numpy()
    assert table.pooled_log10_ec50.to_numpy() == pytest.approx(c_line.loc[table.line].to_numpy())
    assert table.shrinkage.to_numpy() == pytest.approx(expected)
    moved = table.shrinkage.abs()
    sparse_rows = table.line.isin(sparse)
    assert moved[sparse_rows].mean() > moved[~sparse_rows].mean(), table[["line", "n_wells", "shrinkage"]]
    # A failed per-curve fit gives NaN, not a number.
    failed = independent.copy()
    failed.loc[failed.line == sparse[0], ["log10_ec50", "aac", "failed"]] = [np.nan, np.nan, True]
    again = shrinkage(idata, failed).set_index("line")
    assert np.isnan(again.loc[sparse[0], "shrinkage"]) and bool(again.loc[sparse[0], "independent_failed"])
    figure = shrinkage_figure(again.reset_index(), "drugA")
    assert isinstance(figure, matplotlib.figure.Figure)
    matplotlib.pyplot.close(figure)


# --- (d) new units --------------------------------------------------------------------


def test_new_line_predictions(simulated):
    _, _, _, idata = simulated
    table = new_unit_predictions(idata, aac_threshold=0.3, seed=1)
    assert list(table.unit) == ["new_line"] * 10 + ["new_patient"]
    assert (table.n_lines.iloc[:10] == 2).all()
    post = idata.posterior
    width = (post.c_line.quantile(0.95, ("chain", "draw")) - post.c_line.quantile(0.05, ("chain", "draw"))).values
    line_patient = idata.constant_data.line_patient.values.astype(object).astype(str)
    predicted = table.set_index("patient")
    for patient in predicted.index[:10]:
        new_width = predicted.loc[patient, "log10_ec50_q95"] - predicted.loc[patient, "log10_ec50_q05"]
        assert new_width > width[line_patient == patient].max(), patient
    new_patient = table.iloc[-1]
    assert new_patient.log10_ec50_q95 - new_patient.log10_ec50_q05 > (predicted.log10_ec50_q95
                                                                       - predicted.log10_ec50_q05).iloc[:10].max()
    # Thresholds far below and far above every line's AAC (posterior means).
    pooled = shrinkage(idata, pd.DataFrame(columns=["line", "drug", "log10_ec50", "aac", "failed"])).pooled_aac
    assert pooled.min() > 0.1 and pooled.max() < 0.8
    low = new_unit_predictions(idata, aac_threshold=0.01, seed=1)
    high = new_unit_predictions(idata, aac_threshold=0.97, seed=1)
    assert (low.p_responds > 0.97).all() and (high.p_responds < 0.03).all()
    assert table.p_responds.between(0, 1).all()
    # Same seed, same draws.
    pd.testing.assert_frame_equal(table, new_unit_predictions(idata, aac_threshold=0.3, seed=1))


def test_variance_shares_figure_and_text():
    tables = []
    for seed, drug in [(0, "drugX"), (1, "drugY")]:
        idata, _ = hand_built(seed=seed)
        idata.posterior.attrs["drug"] = drug
        tables.append(variance_partition(idata))
    table = pd.concat(tables, ignore_index=True)
    text = separating_drugs(table)
    assert len(text.splitlines()) == 2 and text.startswith(("drugX", "drugY"))
    for metric in ("log10_ec50", "aac"):
        figure = variance_shares_figure(table, metric)
        assert isinstance(figure, matplotlib.figure.Figure)
        matplotlib.pyplot.close(figure)
