"""The hierarchical model on simulated screens with known truth (fixed seeds),
fitted with the default settings. Each statistical assertion states how often
it would fail by chance for a calibrated model; none more than 1 in 1,000."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.integrate import quad

from conftest import fit_simulated as fit
from conftest import seeded
from pdoscreen import metrics
from pdoscreen.checks import diagnostics, draws_to_pass, posterior_predictive_checks
from pdoscreen.fit import FitSettings, drug_seed, plate_priors
from pdoscreen.simulate import Design, screen
from pdoscreen.summarize import GR_METRICS, line_metric_draws, metric_draws_dataset, summary_tables

pytestmark = pytest.mark.usefixtures("jax_compilation_cache")


def covered(summary: pd.DataFrame, name: str, truth: str) -> int:
    return int(((summary[f"{name}_q05"] <= summary[truth]) & (summary[truth] <= summary[f"{name}_q95"])).sum())


@pytest.fixture(scope="module")
def recovery_fit():
    return fit(Design(n_patients=4, lines_per_patient=2, plates_per_line=2, replicates=2), seed=1)


def test_recovers_known_lines(recovery_fit):
    _, idata, summary = recovery_fit
    assert len(summary) == 8
    # 90% intervals: 3 or fewer of 8 lines covered has probability 4e-4
    # (binomial, 8 lines at 0.9).
    assert covered(summary, "aac", "aac") >= 4
    # Line EC50s: root mean square error under 0.17 decades (4% of the 4-decade
    # tested range). On this design the error of a line's EC50 has an sd of
    # 0.084-0.089 decades (docs/calibration.md, complete curves, 200 lines;
    # take 0.09); the RMSE of 8 lines passes 0.17 when 8 (0.17 / 0.09)^2 = 28.5
    # < chi-square(8), probability 4e-4 for independent errors. (A bound on the
    # largest of 8 errors, 0.2 decades before, fails with probability 0.1-0.2.)
    # The 90% intervals of EC50 cover 90% of 176 such lines (docs/calibration.md).
    assert np.sqrt(np.mean((summary.log10_ec50_mean - summary.log10_ec50) ** 2)) < 0.17
    # The ladder (sampling.py) refits until these hold, or the fit says it failed.
    assert int(idata.sample_stats.diverging.sum()) == 0
    table = diagnostics(idata).set_index("group")
    assert table.loc["lines", "rhat_max"] < 1.05
    assert table.loc["fit", "status"] == "pass" and (table.status == "pass").all(), table


def test_posterior_predictive_checks_find_a_plate_gradient(recovery_fit):
    _, idata, _ = recovery_fit
    clean = posterior_predictive_checks(idata)
    # Pooled over the 288 wells, not plate by plate: a calibrated fit leaves a
    # well outside its 95% interval with probability at most 0.05, and more
    # than 35 of 288 outside has probability 5e-7 (binomial).
    outside = int(((1 - clean.fraction_inside_95) * clean.n_wells).round().sum())
    assert len(clean) == 16 and clean.n_wells.sum() == 288 and outside <= 35, outside
    # A clean plate warns by chance with probability about 0.018 (|t| > 3 on
    # either axis, t with 15 df); 4 or more of 16 has probability 2e-4.
    assert (clean.status == "pass").sum() >= 13
    # A 60% signal gradient from the first to the last column on one plate.
    plate = idata.constant_data.obs_plate.values.astype(object) == clean.plate[0]
    columns = np.array([int(w[1:]) for w in idata.constant_data.obs_well.values.astype(object)])
    tilted = idata.copy()
    tilted.observed_data["y"] = idata.observed_data.y * np.where(plate, 0.7 + 0.6 * (columns - 1) / 23, 1.0)
    checks = posterior_predictive_checks(tilted).set_index("plate")
    assert checks.loc[clean.plate[0], "status"] == "warn"
    assert "across columns" in checks.loc[clean.plate[0], "reasons"]
    assert checks.loc[clean.plate[0], "column_drift_sd"] > 2


def test_gr_metrics_of_the_posterior_cover_the_true_curves_gr(recovery_fit):
    ds, idata, summary = recovery_fit
    post = idata.posterior
    x_min, x_max = post.attrs["x_min_log10_molar"], post.attrs["x_max_log10_molar"]
    truth = summary.set_index("line")
    # Control doublings from 1 to 3 across the lines: GRmax from below 0 (the
    # curves take the signal under the time-zero level) to above it.
    doublings = dict(zip(truth.index, np.linspace(1.0, 3.0, len(truth))))
    per_plate = xr.DataArray([doublings[line] for line in ds.line.values], coords={"plate": ds.plate.values})
    draws = line_metric_draws(idata, control_doublings=per_plate)
    # The truth table has no plate floors; the kill wells pin them, so the
    # posterior mean of a line's floors stands in for the true one.
    floors = 1 / (1 + np.exp(-post.logit_floor.mean(("chain", "draw")).to_series()))
    covered = dict.fromkeys(GR_METRICS, 0)
    for line, row in truth.iterrows():
        floor = floors[ds.plate.values[ds.line.values == line]].mean()
        true = (row.log10_ec50, row.hill, row.residual_viability, floor, doublings[line])
        expected = {"log10_gr50": metrics.log10_gr50(*true), "grmax": metrics.grmax(*true, x_max),
                    "gr_aoc": metrics.gr_aoc(*true, x_min, x_max)}
        for name in GR_METRICS:
            low, high = np.nanquantile(draws[name].sel(line=line).values, [0.05, 0.95])
            covered[name] += bool(low <= expected[name] <= high)
    assert np.nanmin(draws.grmax.values) < 0 < np.nanmax(draws.grmax.values)
    # As for AAC: 3 or fewer of 8 lines covered at 90% has probability 4e-4.
    assert min(covered.values()) >= 4, covered
    # A line without time-zero plates gets no GR metrics, and its patient none (a mean over lines).
    line = truth.index[0]
    per_plate[ds.line.values == line] = np.nan
    patients, lines = summary_tables(metric_draws_dataset([line_metric_draws(idata, control_doublings=per_plate)]))
    with_gr = set(lines.loc[lines.metric == "grmax", "line"])
    assert with_gr == set(truth.index) - {line}
    assert set(patients.loc[patients.metric == "gr_aoc", "patient"]) == set(truth.patient) - {truth.patient[line]}


def test_aac_closed_form_matches_numerical_integral():
    for c, h, e in [(-7.0, 1.0, 0.1), (-5.2, 2.3, 0.6), (-9.5, 0.5, 0.0)]:
        numeric = 1 - quad(lambda x: metrics.viability(x, c, h, e), -9, -5)[0] / 4
        assert metrics.aac(c, h, e, -9, -5) == pytest.approx(numeric, abs=1e-9)


def test_ic50_is_where_the_curve_crosses_half():
    x = metrics.log10_ic50(-7.0, 1.3, 0.2)
    assert metrics.viability(x, -7.0, 1.3, 0.2) == pytest.approx(0.5)
    assert np.isnan(metrics.log10_ic50(-7.0, 1.3, 0.6))


def test_seeds_depend_on_config_seed_and_drug_only():
    assert drug_seed(1, "SN-38") == drug_seed(1, "SN-38")
    assert len({drug_seed(1, "SN-38"), drug_seed(2, "SN-38"), drug_seed(1, "Olaparib")}) == 3


def test_plate_priors_from_controls():
    ds, _ = screen(Design(), seed=seeded(4))
    priors = plate_priors(ds).set_index("plate")
    plate = ds.plate.values[0]
    vehicle = ds.signal.sel(plate=plate).values[ds.role.sel(plate=plate).values == "vehicle"]
    kill = ds.signal.sel(plate=plate).values[ds.role.sel(plate=plate).values == "kill"]
    assert priors.loc[plate, "vehicle_level"] == pytest.approx(np.median(vehicle))
    ratio = np.median(kill) / np.median(vehicle)
    assert priors.loc[plate, "logit_floor_loc"] == pytest.approx(np.log(ratio / (1 - ratio)))
    assert priors.loc[plate, "floor_source"] == "kill wells"


@pytest.mark.parametrize("df", [1.5, 4.0, 30.0])
def test_student_t_draws_follow_the_t_distribution(df):
    """The predictive sampler (Bailey's polar method) against scipy's t: the
    Kolmogorov-Smirnov distance of 50,000 draws stays under its 1e-4 critical
    value (2.23 / sqrt(n); false failure 1e-4 for each df), and a t whose scale
    is 10% wider is told apart: the two distributions differ by 0.017 (df 1.5)
    to 0.023 (df 30) at most, 3.2 or more sds (0.5 / sqrt(n)) of the empirical
    distribution above the critical value, so it is missed with probability
    7e-4 at most."""
    import jax
    from scipy import stats

    from pdoscreen.model import StudentT

    n = 50_000
    draws = np.asarray(StudentT(df, 2.0, 0.5).sample(jax.random.PRNGKey(seeded(3)), (n,)))
    critical = 2.23 / np.sqrt(n)
    assert stats.kstest(draws, stats.t(df, loc=2.0, scale=0.5).cdf).statistic < critical
    assert stats.kstest(draws, stats.t(df, loc=2.0, scale=0.55).cdf).statistic > critical


def test_student_t_draws_take_one_df_per_posterior_draw():
    """Predictive draws broadcast one df per posterior draw over the wells."""
    import jax

    from pdoscreen.model import StudentT

    df = np.array([[1.2], [50.0]])
    draws = np.asarray(StudentT(df, np.zeros((2, 4000)), 1.0).sample(jax.random.PRNGKey(seeded(0))))
    assert draws.shape == (2, 4000) and np.isfinite(draws).all()
    # A heavy tail for df 1.2 (no draw of 4000 beyond 50: probability 2e-11),
    # none for df 50 (one of 4000 beyond 7: probability 2e-5).
    assert np.abs(draws[0]).max() > 50 and np.abs(draws[1]).max() < 7


def _small_drug_data():
    """One drug of a screen of 2 patients x 2 lines, one plate each, as a fit reads it."""
    from pdoscreen.fit import drug_wells, model_data

    ds, _ = screen(Design(n_patients=2, lines_per_patient=2, plates_per_line=1), seed=seeded(5))
    return model_data(drug_wells(ds, "drugA", list(ds.plate.values)), plate_priors(ds))[0]


def test_wells_are_padded_by_at_most_a_quarter_to_four_sizes_an_octave():
    from pdoscreen.fit import WELLS_PER_OCTAVE, _bucket

    counts = np.arange(1, 16385)
    sizes = np.array([_bucket(n, 64, WELLS_PER_OCTAVE) for n in counts])
    assert (sizes >= counts).all()
    assert ((sizes <= 1.25 * counts) | (sizes == 64)).all()
    assert (np.diff(sizes) >= 0).all()
    assert len(np.unique(sizes)) == 1 + 4 * 8  # 64, then 4 sizes per octave up to 16,384
    assert [_bucket(n, 64, 4) for n in (270, 540, 3240)] == [320, 640, 3584]
    assert [_bucket(n, 4) for n in (3, 4, 5, 10)] == [4, 4, 8, 16]  # whole octaves


def test_padding_wells_change_neither_the_log_density_nor_its_gradient(monkeypatch):
    """The same drug padded to 384 wells (quarter octaves) and to 512 (whole
    octaves): at a draw from the prior, the same potential and gradient, so
    the same posterior."""
    import jax
    import numpyro
    from numpyro.infer.util import potential_energy, unconstrain_fn

    from pdoscreen import fit as fitting
    from pdoscreen import sampling

    numpyro.enable_x64()
    ds, _ = screen(Design(n_patients=2, lines_per_patient=3, plates_per_line=2, replicates=3), seed=seeded(5))
    wells = fitting.drug_wells(ds, "drugA", list(ds.plate.values))
    assert len(wells) == 324  # 6 lines x 2 plates x 9 doses x 3 replicates
    model = sampling.configured_model(FitSettings())
    padded = {}
    for per_octave in (4, 1):
        monkeypatch.setattr(fitting, "WELLS_PER_OCTAVE", per_octave)
        data = fitting.model_data(wells, plate_priors(ds))[0]
        padded[len(data.x)] = data
    assert list(padded) == [384, 512]
    trace = numpyro.handlers.trace(numpyro.handlers.seed(model, seeded(3))).get_trace(padded[384])
    prior_draw = {name: site["value"] for name, site in trace.items()
                  if site["type"] == "sample" and not site["is_observed"]}
    point = unconstrain_fn(model, (padded[384],), {}, prior_draw)
    energy = jax.jit(jax.value_and_grad(lambda p, data: potential_energy(model, (data,), {}, p)))
    value, gradient = energy(point, padded[384])
    value_more, gradient_more = energy(point, padded[512])
    assert np.isfinite(value)
    np.testing.assert_allclose(value_more, value, rtol=1e-12)
    for site in gradient:
        np.testing.assert_allclose(gradient_more[site], gradient[site], rtol=1e-10, atol=1e-12, err_msg=site)


def _every_chain_runs(monkeypatch) -> None:
    """Rungs run every chain, as before they stopped at a diverging one."""
    from pdoscreen import sampling

    run_rung = sampling._run_rung
    monkeypatch.setattr(sampling, "_run_rung", lambda *args, stop_at_divergence: run_rung(*args))


def test_a_fit_off_course_climbs_and_one_on_course_is_extended(monkeypatch):
    """sampling.ladder with the checks scripted, every level configured centred:
    bulk ESS 20 after 50 draws per chain would reach only 40 by max_draws 100
    -> the next rung (patients and line EC50s as z-scores) at once; there ESS
    300 after 50 is on course -> 50 more draws, which pass. (The scripted
    checks decide, so a divergent transition does not stop a rung here.)"""
    from pdoscreen import parametrisation, sampling

    _every_chain_runs(monkeypatch)
    data = _small_drug_data()
    verdicts = iter([20, 300, None])
    draws_seen = []

    def check(samples, stats):
        draws_seen.append(samples["mu_c"].shape)
        ess = next(verdicts)
        if ess is None:
            return pd.DataFrame([{"group": "lines", "status": "pass", "reasons": ""}])
        return pd.DataFrame([{"group": "lines", "status": "fail", "reasons": f"bulk ESS {ess} < 400",
                              "ess_bulk_min": ess, "ess_tail_min": 500}])

    settings = FitSettings(chains=2, warmup=50, draws=50, max_draws=100, seed=1, non_centred=())
    samples, stats, chosen, record = sampling.sample_nuts(data, settings, 1, check)
    assert draws_seen == [(2, 50), (2, 50), (2, 100)]
    assert record["rung"] == 2 and record["checks"] == "pass"
    steps = record["path"].split(" | ")
    assert steps[0].startswith("1. ") and "50 draws per chain" in steps[0] and "bulk ESS 20" in steps[0]
    assert steps[1].startswith("2. levels as configured, patients and line EC50s as z-scores (target 0.9)")
    assert "bulk ESS 300" in steps[1]
    assert steps[2].startswith("2. ") and "100 draws per chain" in steps[2] and steps[2].endswith("passed")
    assert stats["diverging"].shape == (2, 100)
    # the draws came from rung 2's parametrisation, and the fit says so
    for site, values in chosen.centred.items():
        assert (values == float(site in parametrisation.MEASURED_SITES)).all(), site


def test_a_rung_stops_at_its_first_diverging_chain_and_the_fit_ends_with_the_same_draws(monkeypatch):
    """At target acceptance 0.1 rung 1 diverges: it stops at that chain, and
    the fit climbs to the same end, with the same draws, as when every chain
    of every rung runs. (Divergences alone decide here, as they do in
    checks.diagnostics, so that the fit can pass short of the ESS.)"""
    from pdoscreen import sampling

    data = _small_drug_data()
    settings = FitSettings(chains=2, warmup=50, draws=50, max_draws=50, seed=1, non_centred=(), target_accept=0.1)

    def check(samples, stats):
        divergent = int(stats["diverging"].sum())
        return pd.DataFrame([{"group": "sampler", "status": "fail" if divergent else "pass",
                              "reasons": f"{divergent} divergent transitions"}])

    stopping = sampling.sample_nuts(data, settings, 1, check)
    _every_chain_runs(monkeypatch)
    every_chain = sampling.sample_nuts(data, settings, 1, check)

    steps, steps_every_chain = (fit[3]["path"].split(" | ") for fit in (stopping, every_chain))
    assert steps[0].startswith("1. levels as configured (target 0.1): 50 draws per chain: stopped after chain 1 of 2, ")
    assert "divergent transitions" in steps_every_chain[0] and "stopped" not in steps_every_chain[0]
    assert stopping[3]["rung"] == every_chain[3]["rung"] > 1 and steps[-1] == steps_every_chain[-1]
    for site in stopping[0]:
        np.testing.assert_array_equal(stopping[0][site], every_chain[0][site], err_msg=site)
    np.testing.assert_array_equal(stopping[1]["n_steps"], every_chain[1]["n_steps"])


def test_an_extension_stops_at_its_first_diverging_chain():
    """extend at target acceptance 0.1 with stop_at_divergence: the chains up
    to the first whose extension diverged, each its earlier draws followed by
    its extension's."""
    import jax

    from pdoscreen import sampling

    data = _small_drug_data()
    settings = FitSettings(chains=2, warmup=50, draws=50, max_draws=50, seed=1, non_centred=(), target_accept=0.1)
    rung = sampling.ladder(settings)[0]
    states, samples, stats = sampling._run_nuts(data, settings, rung, jax.random.PRNGKey(3), "test")
    more_states, more_samples, more_stats = sampling.extend(sampling._chains(settings, rung, data), states, data,
                                                            samples, stats, "test", stop_at_divergence=True)
    extended = len(more_states)
    assert more_stats["diverging"].shape == (extended, 100)
    assert more_stats["diverging"][-1, 50:].any() and not more_stats["diverging"][:-1, 50:].any()
    for site in samples:
        np.testing.assert_array_equal(more_samples[site][:, :50], samples[site][:extended], err_msg=site)


@pytest.mark.parametrize(("non_centred", "rungs_run"), [
    ((), [(1, 0.9, "levels as configured"), (2, 0.9, "inferred"), (3, 0.98, "levels as configured"),
          (4, 0.98, "inferred"), (5, 0.98, "none")]),
    # every level a z-score already: rungs 2 and 4 would rerun rungs 1 and 3
    # and are skipped; rung 5 would rerun rung 3 and runs at a higher target instead
    (("patients", "lines", "plates"), [(1, 0.9, "none"), (3, 0.98, "none"), (5, 0.995, "none")]),
])
def test_the_ladder_skips_a_rung_that_would_repeat_one(monkeypatch, non_centred, rungs_run):
    """The ladder's bookkeeping with every rung's run scripted to fail: which rungs
    run, at which target and centring, which are skipped, and the failure
    reported with the parametrisation of the last rung that ran."""
    from pdoscreen import parametrisation, sampling

    data = _small_drug_data()
    centred_by_kind = {"levels as configured": set(parametrisation.CENTRABLE), "none": set(),
                       "inferred": set(parametrisation.MEASURED_SITES)}
    ran = []

    def run_rung(rung_data, settings, rung, number, check, key, progress, stop_at_divergence):
        centred = {site for site, values in rung_data.centred.items() if np.asarray(values).all()}
        ran.append((number, rung.target_accept, next(k for k, v in centred_by_kind.items() if v == centred)))
        # a rung stops at a diverging chain when a later rung would run
        assert stop_at_divergence == (number != rungs_run[-1][0])
        return {"mu_c": np.zeros((1, 1))}, {"rung": number}, [f"{number}. scripted: failed"], False

    monkeypatch.setattr(sampling, "_run_rung", run_rung)
    samples, stats, used, record = sampling.sample_nuts(data, FitSettings(non_centred=non_centred), 1, check=None)
    assert ran == rungs_run
    assert record["rung"] == 6 and record["checks"] == "fail" and stats == {"rung": rungs_run[-1][0]}
    steps = record["path"].split(" | ")
    skipped = sorted({2, 4} - {number for number, _, _ in ran})
    assert [step[0] for step in steps if step.endswith("skipped, the same as an earlier rung")] == \
        [str(number) for number in skipped]
    assert steps[-1] == "6. failed" and len(steps) == 6
    last_centred = {site for site, values in used.centred.items() if values.all()}
    assert last_centred == centred_by_kind[rungs_run[-1][2]]


def test_flat_nuts_draws_what_nuts_over_the_sites_draws():
    """sampling.FlatNUTS is numpyro's NUTS over one vector: from the same starts
    and key, the same draws bit for bit, also for the second chain, which
    reuses the first chain's setup of the model."""
    import jax
    import jax.numpy as jnp
    import numpyro
    from numpyro.infer import MCMC, NUTS, init_to_median
    from numpyro.infer.util import initialize_model

    from pdoscreen import sampling

    numpyro.enable_x64()  # as fit.fit_drug runs
    data = _small_drug_data()
    model = sampling.configured_model(FitSettings())
    median = initialize_model(jax.random.PRNGKey(0), model, model_args=(data,),
                              init_strategy=init_to_median(num_samples=15))[0].z
    start = {site: jnp.stack([value, value + 0.1]) for site, value in median.items()}  # two chains
    draws = {}
    for kernel_class in (NUTS, sampling.FlatNUTS):
        kernel = kernel_class(model, init_strategy=init_to_median(num_samples=15))
        mcmc = MCMC(kernel, num_warmup=10, num_samples=10, num_chains=2, chain_method="sequential",
                    progress_bar=False, jit_model_args=True)
        mcmc.run(jax.random.PRNGKey(2), data, init_params=start)
        draws[kernel_class] = mcmc.get_samples(group_by_chain=True)
    for site, values in draws[NUTS].items():
        np.testing.assert_array_equal(np.asarray(draws[sampling.FlatNUTS][site]), np.asarray(values), err_msg=site)


def test_the_chains_draw_what_numpyros_mcmc_draws(caplog):
    """sampling.run_chains and extend run FlatNUTS chains as numpyro's MCMC runs
    them one after another (and goes on with post_warmup_state): from the same
    starts, mass matrix and key, the same draws and statistics bit for bit.
    An extension logs a line per chain, as the first run does."""
    import logging

    import jax
    import numpyro
    from numpyro.infer import MCMC

    from pdoscreen import sampling

    numpyro.enable_x64()
    caplog.set_level(logging.INFO, logger="pdoscreen")
    data = _small_drug_data()
    settings = FitSettings(warmup=20, draws=15, svi_steps=200)
    rung = sampling.ladder(settings)[0]
    program = sampling._program("svi", settings, sampling._svi_program, data)
    params, _ = program.optimise(jax.random.PRNGKey(0), data)
    start, inverse_mass = program.start(jax.random.PRNGKey(1), params, data, 2)
    key = jax.random.PRNGKey(2)

    chains = sampling._chains(settings, rung, data)
    states, samples, stats = sampling.run_chains(chains, data, start, inverse_mass, key, "test")
    _, samples, stats = sampling.extend(chains, states, data, samples, stats, "test")

    kernel = sampling.FlatNUTS(sampling.configured_model(settings), target_accept_prob=rung.target_accept,
                               inverse_mass_matrix=inverse_mass)
    mcmc = MCMC(kernel, num_warmup=20, num_samples=15, num_chains=2, chain_method="sequential",
                progress_bar=False, jit_model_args=True)
    mcmc.run(key, data, init_params=start, extra_fields=sampling.EXTRA_FIELDS)
    first = mcmc.get_samples(group_by_chain=True), mcmc.get_extra_fields(group_by_chain=True)
    mcmc.post_warmup_state = mcmc.last_state
    mcmc.run(mcmc.post_warmup_state.rng_key, data, extra_fields=sampling.EXTRA_FIELDS)
    second = mcmc.get_samples(group_by_chain=True), mcmc.get_extra_fields(group_by_chain=True)
    for site in first[0]:
        expected = np.concatenate([first[0][site], second[0][site]], axis=1)
        np.testing.assert_array_equal(samples[site], expected, err_msg=site)
    for field, name in [("diverging", "diverging"), ("energy", "energy"), ("num_steps", "n_steps")]:
        np.testing.assert_array_equal(stats[name], np.concatenate([first[1][field], second[1][field]], axis=1))
    assert samples["mu_c"].shape[:2] == (2, 30)
    extended = [r.getMessage() for r in caplog.records if " extended by " in r.getMessage()]
    assert [line.split(" in ")[0] for line in extended] == [
        "test: chain 1 of 2, extended by 15 draws", "test: chain 2 of 2, extended by 15 draws"]


def test_kept_chains_draw_for_the_next_drug_what_fresh_ones_draw(caplog):
    """A rung's compiled chains are kept and run again on the next drug of
    their shape bucket (sampling._chains): drug B's draws after drug A in one
    process are bit for bit those of B alone in a fresh process, so a fit never
    depends on what its process fitted before. Each chain logs a line."""
    import logging

    import jax
    import numpyro

    from pdoscreen import sampling

    numpyro.enable_x64()
    caplog.set_level(logging.INFO, logger="pdoscreen")
    drug_a = _small_drug_data()
    drug_b = replace(drug_a, y=drug_a.y * 1.3)  # same shapes, another drug's readings
    settings = FitSettings(warmup=30, draws=30, svi_steps=200)
    rung = sampling.ladder(settings)[0]

    def draws(data):
        return sampling._run_nuts(data, settings, rung, jax.random.PRNGKey(3), "test")[1]

    sampling.clear_programs()
    fresh = draws(drug_b)
    sampling.clear_programs()
    of_a = draws(drug_a)
    first = sampling._chains(settings, rung, drug_a)
    after_a = draws(drug_b)
    assert sampling._chains(settings, rung, drug_b) is first  # the same compiled chains ran both drugs
    assert not np.array_equal(of_a["mu_c"], after_a["mu_c"])
    for site, values in fresh.items():
        np.testing.assert_array_equal(after_a[site], values, err_msg=site)
    chain_lines = [r.getMessage() for r in caplog.records if ": chain " in r.getMessage()]
    assert len(chain_lines) == 3 * settings.chains
    assert chain_lines[-1].startswith("test: chain 4 of 4, 30 warm-up and 30 draws in ")


@pytest.mark.parametrize(("failed", "n_draws", "expected"), [
    ([{"group": "lines", "ess_bulk_min": 100.0, "ess_tail_min": 200.0}], 250, 1000.0),  # 400 / 100 x 250
    ([{"group": "lines", "ess_bulk_min": 500.0, "ess_tail_min": 450.0}], 250, 251.0),  # only R-hat short
    ([{"group": "lines", "ess_bulk_min": 300.0, "ess_tail_min": 300.0},
      {"group": "sampler", "ess_bulk_min": np.nan, "ess_tail_min": np.nan}], 250, np.inf),  # divergent
    ([{"group": "scales", "ess_bulk_min": 0.0, "ess_tail_min": 3.0}], 250, np.inf),
])
def test_draws_to_pass_projects_the_ess_in_proportion_to_the_draws(failed, n_draws, expected):
    passed = {"group": "population", "status": "pass", "ess_bulk_min": 1.0, "ess_tail_min": 1.0}
    table = pd.DataFrame([row | {"status": "fail"} for row in failed] + [passed])
    assert draws_to_pass(table, n_draws) == expected
