"""Batch and lot random effects (model.batch_shifts) on a simulated screen whose
drug-treated wells read higher or lower by batch than their vehicle wells
predict: without the batch term the plates' residuals cluster by batch; with
it they do not, and the batch shifts are recovered."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import f_oneway

from conftest import seeded
from pdoscreen.checks import diagnostics, posterior_predictive_checks
from pdoscreen.errors import InputError
from pdoscreen.fit import FitSettings, drug_wells, fit_drug, plate_priors
from pdoscreen.hierarchy import batch_clustering, batch_effects
from pdoscreen.simulate import Design, screen

# Three batches, one replicate plate of every line in each, so batches cross lines.
DESIGN = Design(n_patients=3, lines_per_patient=2, plates_per_line=3, replicates=2)
LOG_GAIN_SHIFT = {"b1": -0.25, "b2": 0.0, "b3": 0.25}  # +-28% on the treated wells
SETTINGS = FitSettings(seed=seeded(3))  # the defaults: what a user's fit runs
pytestmark = pytest.mark.usefixtures("jax_compilation_cache")


@pytest.fixture(scope="module")
def batched_screen():
    ds, _ = screen(DESIGN, seed=seeded(2))
    batch = np.array([f"b{r}" for r in ds.replicate.values])
    shift = np.array([LOG_GAIN_SHIFT[b] for b in batch])[:, None]
    treated = ds.role.values == "treated"
    ds["signal"] = ds.signal * np.where(treated, np.exp(shift), 1.0)
    return ds.assign_coords(batch=("plate", batch), lot=("plate", np.full(ds.sizes["plate"], "")))


def residual_clustering_p(ds, settings):
    """Fit, then test (one-way ANOVA) whether the plates' mean standardised
    residuals differ between batches."""
    idata = fit_drug(ds, "drugA", plate_priors(ds), list(ds.plate.values), settings)
    ppc = posterior_predictive_checks(idata)
    batch_of = dict(zip(ds.plate.values, ds.batch.values))
    groups = ppc.groupby(ppc.plate.map(batch_of)).mean_residual_sd
    return f_oneway(*[g.to_numpy() for _, g in groups]).pvalue, idata


def test_plate_residuals_cluster_by_batch_without_the_batch_term(batched_screen):
    # Quick approximate fit (SVI): the misfit is gross, any fit shows it. A power
    # statement, not a false-failure one: +-28% on the treated wells against a
    # plate-to-plate residual sd of a few per cent.
    p_value, _ = residual_clustering_p(batched_screen, FitSettings(method="svi", svi_steps=2000, seed=seeded(3)))
    assert p_value < 1e-3


def test_the_batch_term_removes_the_clustering_and_recovers_the_shifts(batched_screen):
    settings = FitSettings(**{**SETTINGS.__dict__, "batch_factors": ("batch",)})
    p_value, idata = residual_clustering_p(batched_screen, settings)
    # With the batch term the residuals no longer group by batch: the ANOVA's p
    # is uniform then, below 1e-4 with that probability.
    assert p_value > 1e-4
    post = idata.posterior
    shift = (post.tau_gain_batch * post.u_gain_batch).stack(sample=("chain", "draw"))
    # Each batch's shift within 3.7 posterior sds of its truth: probability of a
    # miss 2e-4 for a calibrated posterior (normal approximation), 6e-4 for the
    # three. (Each inside its 90% interval, before, failed with probability 0.27.)
    z = (shift.mean("sample") - xr.DataArray([LOG_GAIN_SHIFT[str(b)] for b in post.batch_level.values],
                                               coords={"batch_level": post.batch_level})) / shift.std("sample")
    assert (abs(z) < 3.7).all(), z.values
    table = diagnostics(idata).set_index("group")
    assert "tau_gain_batch" in table.loc["batches", "parameters"]
    effects = batch_effects(idata).set_index(["quantity", "level"])
    assert effects.loc[("log_gain_shift", "b3"), "mean"] == pytest.approx(float(shift.sel(batch_level="b3").mean()))
    assert effects.loc[("tau_gain", ""), "q05"] > 0
    assert int(idata.sample_stats.diverging.sum()) == 0


def test_a_batch_factor_needs_a_level_on_every_plate(batched_screen):
    unlabelled = batched_screen.assign_coords(
        batch=("plate", np.where(batched_screen.replicate.values == 1, "", batched_screen.batch.values))
    )
    with pytest.raises(InputError, match=r"2 plate\(s\) have no batch .*: P1-L1-R1, P1-L2-R1$"):
        drug_wells(unlabelled, "drugA", list(unlabelled.plate.values)[:6], ("batch",))
    with pytest.raises(InputError, match="'lot'.*empty or missing"):
        drug_wells(batched_screen, "drugA", list(batched_screen.plate.values), ("lot",))


def test_batch_clustering_flags_residuals_that_group_by_batch():
    plates = [f"p{i}" for i in range(6)]
    levels = pd.DataFrame({"plate": plates, "patient": ["P1", "P2"] * 3, "batch": ["b1"] * 3 + ["b2"] * 3,
                           "lot": [""] * 6})
    clustered = [-1.0, -1.1, -0.9, 1.0, 1.1, 0.9]
    mixed = [-1.0, 1.1, 0.1, 1.0, -1.1, -0.1]
    ppc = pd.DataFrame({"drug": ["A"] * 6 + ["B"] * 6, "plate": plates * 2, "mean_residual_sd": clustered + mixed})
    table = batch_clustering(ppc, levels, fitted=[]).set_index("drug")
    assert list(table.factor) == ["batch", "batch"]  # lot has no levels
    assert table.loc["A", "anova_p"] < 1e-4 and "consider fit.batch_factors" in table.loc["A", "note"]
    assert table.loc["B", "anova_p"] > 0.5 and table.loc["B", "note"] == ""
    fitted = batch_clustering(ppc, levels, fitted=["batch"]).set_index("drug")
    assert fitted.loc["A", "note"] == "residuals still cluster by batch"
    nested = batch_clustering(ppc, levels.assign(patient=levels.batch), fitted=[]).set_index("drug")
    assert "cannot be told from the patient" in nested.loc["A", "note"]
