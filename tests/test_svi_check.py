"""SVI's check (sampling.sample_svi): every SVI fit records the Pareto k of
importance sampling from its guide; ``fit.svi_check`` decides what a fit whose
k exceeds sampling.PARETO_K_MAX becomes, and the diagnostics table says which."""

import numpy as np
import pandas as pd
import pytest

from conftest import seeded
from pdoscreen import fit, sampling
from pdoscreen.checks import diagnostics
from pdoscreen.fit import FitSettings, plate_priors
from pdoscreen.simulate import Design, screen

pytestmark = pytest.mark.usefixtures("jax_compilation_cache")

SMALL = {"chains": 2, "warmup": 50, "draws": 50, "max_draws": 50, "svi_steps": 300, "seed": 1}


@pytest.fixture(scope="module")
def drug_screen():
    """A screen of 2 patients x 2 lines, one plate each."""
    ds, _ = screen(Design(n_patients=2, lines_per_patient=2, plates_per_line=1), seed=seeded(5))
    return ds, plate_priors(ds), list(ds.plate.values)


def _passing_nuts_check(monkeypatch) -> None:
    """Every NUTS rung passes: which sampler ran, not how well it mixed, is at stake here."""
    passing = pd.DataFrame([{"group": "sampler", "status": "pass", "reasons": ""}])
    monkeypatch.setattr(fit, "nuts_check", lambda index: lambda samples, stats: passing)


def _fit_row(idata) -> pd.Series:
    table = diagnostics(idata)
    return table[table.group == "fit"].iloc[0]


def test_a_reported_svi_fit_keeps_its_draws_labelled_approximate_with_its_pareto_k(drug_screen):
    ds, priors, plates = drug_screen
    idata = fit.fit_drug(ds, "drugA", priors, plates, FitSettings(method="svi", **SMALL))
    k = float(idata.posterior.attrs["svi_pareto_k"])
    # 300 steps of a rank-8 guide on a 30-parameter hierarchical posterior: the
    # guide is far from it (the example's drugs give 1.3-2.4 after 2,000 steps).
    assert k > sampling.PARETO_K_MAX
    assert idata.posterior.attrs["approximate"] == 1 and idata.posterior.sizes["chain"] == 1
    row = _fit_row(idata)
    assert row.status == "approximate" and row.rung == 0 and row.pareto_k == pytest.approx(k)
    assert row.reasons == f"0. SVI (low-rank normal guide), approximate: Pareto k {k:.2f} > 0.7, the guide is off"
    assert "sample_stats" not in idata.groups()


def test_a_failed_svi_fit_refitted_is_the_nuts_fit_and_says_why(drug_screen, monkeypatch):
    """With ``svi_check: refit`` a drug whose guide fails its check gets the
    very fit ``method: nuts`` gives (same seed, same draws), no longer
    approximate, and its fit row shows the SVI check that sent it there."""
    ds, priors, plates = drug_screen
    _passing_nuts_check(monkeypatch)
    refitted = fit.fit_drug(ds, "drugA", priors, plates, FitSettings(method="svi", svi_check="refit", **SMALL))
    nuts = fit.fit_drug(ds, "drugA", priors, plates, FitSettings(method="nuts", **SMALL))
    for site, values in nuts.posterior.data_vars.items():
        np.testing.assert_array_equal(refitted.posterior[site].values, values.values, err_msg=site)
    assert refitted.posterior.attrs["approximate"] == 0 and refitted.posterior.sizes["chain"] == 2
    row = _fit_row(refitted)
    k = float(refitted.posterior.attrs["svi_pareto_k"])
    assert row.status == "pass" and row.rung == _fit_row(nuts).rung
    assert row.pareto_k == pytest.approx(k) and k > sampling.PARETO_K_MAX
    svi_step, nuts_path = row.reasons.split(" | ", 1)
    assert svi_step == f"0. SVI (low-rank normal guide), approximate: Pareto k {k:.2f} > 0.7, the guide is off: " \
        "refitted with NUTS"
    assert nuts_path == _fit_row(nuts).reasons and nuts_path.startswith("1. centred by data weight (target 0.9)")
    assert "pareto_k" not in diagnostics(nuts)


def test_a_guide_that_passes_its_check_is_kept_whatever_svi_check_says(drug_screen, monkeypatch):
    ds, priors, plates = drug_screen
    monkeypatch.setattr(sampling, "PARETO_K_MAX", np.inf)
    idata = fit.fit_drug(ds, "drugA", priors, plates, FitSettings(method="svi", svi_check="refit", **SMALL))
    assert idata.posterior.attrs["approximate"] == 1
    assert _fit_row(idata).reasons.endswith("<= inf")


def test_the_importance_weights_average_to_the_elbo(drug_screen):
    """log p(y, z) - log q(z) over guide draws z averages to the ELBO, which
    numpyro's Trace_ELBO estimates from its own draws: the weights the Pareto
    k is fitted to are those of this guide and this posterior."""
    import jax
    from numpyro.infer import Trace_ELBO

    from pdoscreen.fit import drug_wells, model_data

    ds, priors, plates = drug_screen
    data = model_data(drug_wells(ds, "drugA", plates), priors)[0]
    settings = FitSettings(method="svi", **SMALL)  # the program the first test compiled
    program = sampling._program("svi", settings, sampling._svi_program, data)
    params, _ = program.optimise(jax.random.PRNGKey(0), data)
    log_weights = np.asarray(program.log_weights(jax.random.PRNGKey(1), params, data))
    assert log_weights.shape == (sampling.PARETO_PARTICLES,)
    guide = sampling._low_rank_guide(sampling.configured_model(settings), settings)
    loss = Trace_ELBO(num_particles=sampling.PARETO_PARTICLES).loss
    elbo = -float(jax.jit(lambda key, params, data: loss(key, params, sampling.configured_model(settings), guide,
                                                          data))(jax.random.PRNGKey(2), params, data))
    # Two independent means over 1,000 draws of the same quantity: 5 standard
    # errors of their difference are exceeded by chance with probability 6e-7.
    standard_error = np.sqrt(2) * log_weights.std() / np.sqrt(len(log_weights))
    assert abs(log_weights.mean() - elbo) < 5 * standard_error, (log_weights.mean(), elbo, standard_error)
