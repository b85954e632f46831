"""Inference for one drug's padded model data (``fit.model_data``).

NUTS, the default, runs up a ladder until the drug's fit passes its checks:

    1. levels centred by data weight (parametrisation.py), chains and the
       diagonal mass matrix started from a short SVI fit, target acceptance
       ``target_accept``; a fit short of ESS or R-hat is extended by ``draws``
       per chain while its ESS, grown in proportion to the draws, would pass
       by ``max_draws`` (checks.draws_to_pass);
    2. when 1 diverged or its E-BFMI was low, or its ESS was not on course to
       pass by ``max_draws``: the same with the patients and the line EC50s,
       whose data weights are the least sure, as z-scores
       (parametrisation.inferred_as_z_scores);
    3. rung 1's parametrisation at target acceptance 0.98;
    4. rung 2's parametrisation at target acceptance 0.98;
    5. every level non-centred (pdoscreen 0.2's parametrisation, slow on
       data-rich designs but free of funnels) at 0.98, or at 0.995 where that
       is what rung 3 or 4 ran (flat curves, whose every level is a z-score
       already, diverge at 0.98 without their level's centring to blame); every
       rung starts and extends as rung 1 and costs at most 4 x (200 + 2,000) iterations;
    6. a reported failure: the draws of the last rung run, with their failed checks.

Otherwise a rung that would run what an earlier rung ran (the same
parametrisation and target) is skipped, with the reason in the path. Any
divergent transition fails a rung, so a rung with a later rung to climb to
stops at its first chain that diverges, in its first run or an extension: the
chains after it would not change the verdict, and each rung's and chain's key
is drawn before they run, so the draws a fit ends with are the same.

The rung a fit ended on and the path up to it are returned with the draws.
Every rung samples with FlatNUTS: numpyro's NUTS over one vector of the
unconstrained parameters, the same draws at less cost per step.
SVI (``method: svi``) fits the same parametrisation with a low-rank guide and
draws from it; it is approximate and says so. Its check is the Pareto k of
importance sampling from the guide towards the posterior (Vehtari et al. 2024,
ArviZ's ``psislw``): above ``PARETO_K_MAX`` not even importance sampling
could correct the guide's draws. The fit records its k,
and ``fit.svi_check: refit`` has fit.py refit such a drug with this ladder.

Programs are compiled once per settings and shape bucket (the data are
arguments, not constants), so later drugs of a process skip tracing and
compiling, and later processes find them in the on-disk cache. That includes
NUTS: each rung's compiled chains (``Chains``) are kept and run again on the
next drug of its bucket. Each chain's progress is logged as it finishes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.example_libraries.optimizers import exponential_decay
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.infer import NUTS, SVI, Predictive, Trace_ELBO, init_to_median, log_likelihood
from numpyro.infer.autoguide import AutoLowRankMultivariateNormal
from numpyro.infer.hmc import hmc
from numpyro.infer.util import get_potential_fn, log_density, unconstrain_fn
from numpyro.optim import Adam

from . import parametrisation
from .checks import draws_to_pass
from .model import CENTRABLE, DETERMINISTIC_SITES, DrugData, Priors, dose_response

log = logging.getLogger(__name__)

# Deterministic sites worth keeping beside the sampled ones.
DERIVED_SITES = [*DETERMINISTIC_SITES, *CENTRABLE]
START_DRAWS = 200  # guide draws that give the chains' starts and the mass matrix
FALLBACK_TARGET = 0.98
LAST_TARGET = 0.995  # the last rung's, where it would repeat an earlier rung
EXTRA_FIELDS = ("diverging", "energy", "num_steps")
FLAT_SITE = "_flat"  # FlatNUTS's one site: every unconstrained latent value
PARETO_K_MAX = 0.7  # above it importance sampling estimates are unreliable (Vehtari et al. 2024)
PARETO_PARTICLES = 1000  # guide draws whose importance weights give the Pareto k
PARETO_BATCH = 100  # of them at a time


def configured_model(settings):
    """The model with the configured priors fixed, so the data are its only argument."""
    return partial(
        dose_response,
        priors=Priors(**settings.priors),
        batch_factors=tuple(settings.batch_factors),
        batch_on_ec50=settings.batch_on_ec50,
    )


_PROGRAMS: dict[tuple, object] = {}
# Programs kept at most (about two shape buckets' worth); beyond it all go, with
# JAX's caches, so a process fitting many differently shaped drugs stays bounded.
MAX_PROGRAMS = 12


def _program(kind: str, settings, build, data: DrugData):
    """One program per settings and shape bucket (the data's structure, with its
    counts, and its arrays' shapes): an autoguide keeps the shapes of the data
    it first saw."""
    shapes = tuple(np.shape(leaf) for leaf in jax.tree_util.tree_leaves(data))
    key = (kind, repr(settings), jax.tree_util.tree_structure(data), shapes)
    if key not in _PROGRAMS:
        if len(_PROGRAMS) >= MAX_PROGRAMS:
            clear_programs()
        _PROGRAMS[key] = build(settings)
    return _PROGRAMS[key]


def clear_programs() -> None:
    """Every kept program and sampler, and JAX's compiled code behind them."""
    _PROGRAMS.clear()
    jax.clear_caches()


def with_centring(data: DrugData, centred: dict) -> DrugData:
    return replace(data, centred={site: jnp.asarray(centred[site]) for site in CENTRABLE})


# --- SVI: the parametrisation, the start of NUTS, and draws for method svi ------------


@dataclass(frozen=True)
class SviProgram:
    optimise: object  # (key, data) -> guide params, losses
    draw: object  # (key, params, data) -> chains * draws guide draws with derived sites
    point: object  # (key, params, data) -> every latent and derived site at the guide's median
    start: object  # (key, params, data) -> unconstrained starts per chain, inverse mass matrix
    information: object  # (point, data) -> per site of CENTRABLE, the log-likelihood's curvature
    log_weights: object  # (key, params, data) -> log importance weights of guide draws towards the posterior
    pareto_k: object  # (key, params, data) -> the Pareto k of those weights (PSIS)


def _svi_program(settings) -> SviProgram:
    model = configured_model(settings)
    # Started at the prior medians (z-scores at 0), not numpyro's uniform(-2, 2)
    # draws, and with a step size decaying from 0.03 to 0.001: the ELBO of the
    # medium benchmark screen then reaches in 1,000 steps what 5,000 reached before.
    # (The prior means compile in half the time but made 7 of the example's 8
    # drugs climb the ladder, against 3: docs/benchmarks.md, seventh session.)
    guide = _low_rank_guide(model, settings)
    svi = SVI(model, guide, Adam(exponential_decay(0.03, settings.svi_steps, 0.03)), Trace_ELBO())

    @jax.jit
    def optimise(key, data):
        start = svi.init(key, data)
        state, losses = jax.lax.scan(lambda s, _: svi.update(s, data), start, None, length=settings.svi_steps)
        return svi.get_params(state), losses

    def latent_draws(key, params, data, n):
        """Draws of the model's latent sites (without the guide's own _auto_latent)."""
        draws = Predictive(guide, params=params, num_samples=n)(key, data)
        return {k: v for k, v in draws.items() if not k.startswith("_")}

    def derived(latent, key, data):
        return Predictive(model, posterior_samples=latent, return_sites=DERIVED_SITES)(key, data)

    @jax.jit
    def draw(key, params, data):
        latent = latent_draws(key, params, data, settings.chains * settings.draws)
        return latent | derived(latent, key, data)

    # The guide is traced anew (Predictive) in every program: its own helpers
    # (median, sample_posterior) would reach for values traced in optimise.
    @jax.jit
    def point(key, params, data):
        latent = latent_draws(key, params, data, START_DRAWS)
        draws = latent | derived(latent, key, data)
        return {k: jnp.median(v, axis=0) for k, v in draws.items()}

    @partial(jax.jit, static_argnums=3)
    def start(key, params, data, n_chains):
        draws = latent_draws(key, params, data, START_DRAWS)
        free = jax.vmap(lambda p: unconstrain_fn(model, (data,), {}, p))(draws)
        # numpyro flattens a diagonal mass matrix over the sites in sorted order
        inverse_mass = jnp.concatenate([jnp.var(free[k], axis=0).ravel() for k in sorted(free)])
        return {k: v[:n_chains] for k, v in free.items()}, inverse_mass

    @jax.jit
    def information(values, data):
        def loglik(values):
            pointwise = log_likelihood(model, values, data, batch_ndims=0)["y"]
            return jnp.sum(jnp.where(data.mask, pointwise, 0.0))

        curvature = {}
        for site in parametrisation.MEASURED_SITES:
            name = f"{site}_decentered"  # with data centred throughout, the site's own value
            slope = jax.grad(lambda v, name=name: loglik(values | {name: v}))
            curvature[site] = -jax.jvp(slope, (values[name],), (jnp.ones_like(values[name]),))[1]
        return curvature

    @jax.jit
    def log_weights(key, params, data):
        """log p(y, z) - log q(z) of PARETO_PARTICLES guide draws z, in batches
        (all at once, a large design's draws took gigabytes)."""
        fresh = _low_rank_guide(model, settings)  # the fitted one holds values traced in optimise

        def one(key):
            log_q, drawn = log_density(handlers.seed(fresh, key), (data,), {}, params)
            latent = {name: site["value"] for name, site in drawn.items() if site["type"] == "sample"}
            return log_density(model, (data,), {}, params | latent)[0] - log_q

        return jax.lax.map(one, jax.random.split(key, PARETO_PARTICLES), batch_size=PARETO_BATCH)

    def pareto_k(key, params, data):
        import arviz as az  # slow to import: only where SVI is checked

        return float(az.psislw(np.asarray(log_weights(key, params, data)))[1])

    return SviProgram(optimise, draw, point, start, information, log_weights, pareto_k)


def _low_rank_guide(model, settings) -> AutoLowRankMultivariateNormal:
    return AutoLowRankMultivariateNormal(model, rank=settings.svi_rank, init_loc_fn=init_to_median(num_samples=15))


def choose_parametrisation(data: DrugData, settings, key) -> parametrisation.Parametrisation:
    """``fit.non_centred`` as given, or "auto": from a short SVI fit of the
    all-non-centred model, each element's data weight (parametrisation.py)."""
    if settings.non_centred != "auto":
        return parametrisation.fixed(data, settings.non_centred)
    program = _program("svi", settings, _svi_program, data)
    zeros = {site: np.zeros(len(data.centred[site])) for site in CENTRABLE}
    non_centred = with_centring(data, zeros)
    key_fit, key_point = jax.random.split(key)
    params, _ = program.optimise(key_fit, non_centred)
    point = program.point(key_point, params, non_centred)
    values = {k: v for k, v in point.items() if not k.endswith("_decentered") and k not in DERIVED_SITES}
    values |= {f"{site}_decentered": point[site] for site in CENTRABLE}
    ones = {site: np.ones(len(data.centred[site])) for site in CENTRABLE}
    curvature = program.information(values, with_centring(data, ones))
    scales = {name: float(point[name]) for name in CENTRABLE.values()}
    return parametrisation.from_data_weights(data, {k: np.asarray(v) for k, v in curvature.items()}, scales)


def sample_svi(data: DrugData, settings, seed: int, label: str = "SVI"):
    """Draws from the low-rank guide fitted on the chosen parametrisation, and
    its check: the guide's Pareto k against ``PARETO_K_MAX``."""
    program = _program("svi", settings, _svi_program, data)
    key_choose, key_fit, key_draw = jax.random.split(jax.random.PRNGKey(seed), 3)
    key_check = jax.random.fold_in(jax.random.PRNGKey(seed), 3)  # leaves the other keys as they were
    chosen = choose_parametrisation(data, settings, key_choose)
    fitted = with_centring(data, chosen.centred)
    params, losses = program.optimise(key_fit, fitted)
    pareto_k = program.pareto_k(key_check, params, fitted)
    passed = pareto_k <= PARETO_K_MAX
    log.info("%s: %d SVI steps, loss %.1f at the start, %.1f at the end; Pareto k %.2f (%s %s)",
             label, settings.svi_steps, losses[0], losses[-1], pareto_k, "<=" if passed else ">", PARETO_K_MAX)
    draws = program.draw(key_draw, params, fitted)
    samples = {k: np.asarray(v)[None] for k, v in draws.items()}  # one chain: SVI has no chains to compare
    record = {"rung": 0, "method": "svi", "pareto_k": pareto_k, "checks": "pass" if passed else "fail",
              "path": f"0. SVI (low-rank normal guide), approximate: Pareto k {pareto_k:.2f} "
                      + (f"<= {PARETO_K_MAX}" if passed else f"> {PARETO_K_MAX}, the guide is off")}
    return samples, {"elbo_loss": np.asarray(losses)}, chosen, record


# --- NUTS and its ladder -----------------------------------------------------------------


@dataclass(frozen=True)
class Rung:
    name: str
    target_accept: float
    warmup: int
    draws: int
    max_draws: int
    # the rung's parametrisation from the one chosen for the drug
    parametrise: Callable[[parametrisation.Parametrisation], parametrisation.Parametrisation] = lambda chosen: chosen
    # the target it runs at where it would repeat an earlier rung; None: it is skipped
    target_if_repeat: float | None = None


def ladder(settings) -> list[Rung]:
    first = Rung("centred by data weight" if settings.non_centred == "auto" else "levels as configured",
                 settings.target_accept, settings.warmup, settings.draws, settings.max_draws)
    return [
        first,
        replace(first, name=f"{first.name}, patients and line EC50s as z-scores",
                parametrise=parametrisation.inferred_as_z_scores),
        replace(first, name=f"{first.name}, higher target acceptance", target_accept=FALLBACK_TARGET),
        replace(first, name=f"{first.name}, patients and line EC50s as z-scores, higher target acceptance",
                target_accept=FALLBACK_TARGET, parametrise=parametrisation.inferred_as_z_scores),
        replace(first, name="every level non-centred", target_accept=FALLBACK_TARGET,
                parametrise=parametrisation.every_level_as_z_scores, target_if_repeat=LAST_TARGET),
    ]


def _same_run(rung: Rung, used: parametrisation.Parametrisation) -> tuple:
    """What makes two rungs' samplers the same: their target and every element's centring."""
    return rung.target_accept, tuple(np.asarray(used.centred[site]).tobytes() for site in sorted(used.centred))


class FlatNUTS(NUTS):
    """numpyro's NUTS over one vector of every unconstrained latent value in
    place of the model's dict of about 20 sites: the same sampler and the same
    draws (the vector keeps the sorted site order of the diagonal mass matrix),
    but each operation of the tree building acts on one array instead of one
    per site. On CPU those small operations, not the gradient, made up most of
    a leapfrog step. The vector is the one site FLAT_SITE of the kernel's state;
    the constrained draws come out per site as before.

    The chains' starts are always given (sampling._run_nuts), so the kernel
    skips numpyro's search for a valid start: that evaluated the model and its
    gradient operation by operation outside any compiled program, about 4 s
    per rung in a fresh process, where the first use of each small operation
    compiles it. The potential and the postprocessing depend on the model
    alone, so they are built once per kernel."""

    def _init_state(self, rng_key, model_args, model_kwargs, init_params):
        if init_params is None:
            raise ValueError("FlatNUTS needs the chains' starts (init_params)")
        flat, unravel = ravel_pytree(init_params)
        if self._init_fn is None:
            self._set_up(unravel)
        return {FLAT_SITE: flat}

    def _set_up(self, unravel) -> None:
        """The potential and postprocessing over the vector."""
        potential_gen, postprocess_gen = get_potential_fn(self._model, {}, replay_model=True, dynamic_args=True)

        def potential(*args, **kwargs):
            return lambda flat: potential_gen(*args, **kwargs)(unravel(flat[FLAT_SITE]))

        def postprocess(*args, **kwargs):
            return lambda flat: postprocess_gen(*args, **kwargs)(unravel(flat[FLAT_SITE]))

        self._init_fn, self._sample_fn = hmc(potential_fn_gen=potential, kinetic_fn=self._kinetic_fn, algo=self._algo)
        self._potential_fn_gen, self._postprocess_fn = potential, postprocess
        self._inv_transforms, self._dynamic_support = {}, True  # constrain through postprocess

    def restart(self, inverse_mass_matrix) -> None:
        """Warm up afresh from this diagonal inverse mass matrix on the next init.
        The compiled chains (_chains) do not hold the data or the mass matrix:
        the data are their argument, the mass matrix is in the state init builds,
        and numpyro's heuristic step-size search, the one part of the warm-up
        that would keep the data of the run it was traced on, is off."""
        assert not self._find_heuristic_step_size
        self._inverse_mass_matrix = inverse_mass_matrix


@dataclass(frozen=True)
class Chains:
    """A rung's kernel and its compiled run of one chain, kept per shape bucket
    (_program) and run again on later drugs. They do what numpyro's MCMC does
    with chains one after another, the same draws bit for bit, but MCMC
    compiles its loop anew on every run: about 12 loads of it from the disk
    cache a drug, 0.4-0.5 s each.

    One program, ``run``, takes a chain ``chunk`` iterations on and returns
    every iteration's draw; the warm-up runs it and drops the draws. Each load
    of a program holding the whole NUTS step costs seconds in a fresh process,
    so the warm-up and the draws share it (the chunk divides both)."""

    kernel: FlatNUTS
    warmup: int  # iterations
    draws: int  # per chain, in a first run and in each extension
    chunk: int  # iterations per call of ``run``
    run: Callable  # (state, data) -> the state ``chunk`` iterations on, and per iteration every site and EXTRA_FIELDS

    def warm_up(self, state, data):
        """The state after the rung's warm-up iterations."""
        for _ in range(self.warmup // self.chunk):
            state, _ = self.run(state, data)
        return state

    def draw(self, state, data) -> tuple:
        """The state after ``draws`` more iterations, and their draws."""
        records = []
        for _ in range(self.draws // self.chunk):
            state, record = self.run(state, data)
            records.append(record)
        return state, {k: np.concatenate([np.asarray(record[k]) for record in records]) for k in records[0]}


def _chains(settings, rung: Rung, data: DrugData) -> Chains:
    chunk = math.gcd(rung.warmup, rung.draws)

    def build(settings):
        kernel = FlatNUTS(configured_model(settings), target_accept_prob=rung.target_accept)

        def step(state, data):
            state = kernel.sample(state, (data,), {})
            sites = kernel.postprocess_fn((data,), {})(state.z)
            return state, sites | {field: getattr(state, field) for field in EXTRA_FIELDS}

        run = jax.jit(lambda state, data: jax.lax.scan(lambda s, _: step(s, data), state, None, length=chunk))
        return Chains(kernel, rung.warmup, rung.draws, chunk, run)

    return _program(f"nuts target {rung.target_accept}, {chunk} iterations a call, {rung.warmup} + {rung.draws}",
                    settings, build, data)


def _run_nuts(data: DrugData, settings, rung: Rung, key, label: str,
              stop_at_divergence: bool = False) -> tuple[list, dict, dict]:
    """The rung's chains started from an SVI fit of its parametrisation: the
    chains' starts and the diagonal mass matrix."""
    program = _program("svi", settings, _svi_program, data)
    key_fit, key_start, key = jax.random.split(key, 3)
    params, _ = program.optimise(key_fit, data)
    start, inverse_mass = program.start(key_start, params, data, settings.chains)
    return run_chains(_chains(settings, rung, data), data, start, inverse_mass, key, label, stop_at_divergence)


def run_chains(chains: Chains, data: DrugData, start: dict, inverse_mass, key, label: str,
               stop_at_divergence: bool = False) -> tuple[list, dict, dict]:
    """Chains one after another from ``start`` (one row per chain), as numpyro's
    MCMC runs them with chain_method "sequential" (on CPU, vectorized chains
    wait for the deepest tree): their last states, draws and sampler statistics;
    with ``stop_at_divergence``, only up to the first chain with a divergent
    transition (each chain's key is drawn before any runs)."""
    chains.kernel.restart(inverse_mass)
    n_chains = len(next(iter(start.values())))

    def run(chain: int, chain_key):
        state = chains.kernel.init(chain_key, chains.warmup, {k: v[chain] for k, v in start.items()}, (data,), {})
        return chains.draw(chains.warm_up(state, data), data)

    keys = jax.random.split(key, n_chains)
    states, runs = _one_after_another([partial(run, chain, chain_key) for chain, chain_key in enumerate(keys)],
                                      label, f"{chains.warmup} warm-up and", stop_at_divergence)
    return states, *_collect(runs)


def _one_after_another(runs: list[Callable], label: str, what: str, stop_at_divergence: bool) -> tuple[list, list]:
    """Each chain's ``run()`` in turn, logged as ``what`` it ran: the chains'
    last states and draws, up to the first chain with a divergent transition
    where ``stop_at_divergence``."""
    states, draws = [], []
    for chain, run in enumerate(runs, start=1):
        state, chain_draws = _logged_chain(run, f"{label}: chain {chain} of {len(runs)}, {what}")
        states.append(state)
        draws.append(chain_draws)
        if stop_at_divergence and np.any(chain_draws["diverging"]):
            break
    return states, draws


def _logged_chain(run: Callable, begins: str) -> tuple:
    """``run()`` waited for (JAX returns before the work is done), then a log
    line with its seconds, draws, leapfrog steps per draw and divergences."""
    begun = time.perf_counter()
    state, draws = jax.block_until_ready(run())
    log.info("%s %d draws in %.0f s, %.0f leapfrog steps per draw, %d divergent", begins, len(draws["num_steps"]),
             time.perf_counter() - begun, float(np.mean(draws["num_steps"])), int(np.sum(draws["diverging"])))
    return state, draws


def _collect(runs: list[dict]) -> tuple[dict, dict]:
    """Draws per site and sampler statistics as (chain, draw, ...)."""
    stacked = {k: np.stack([np.asarray(run[k]) for run in runs]) for k in runs[0]}
    stats = {"diverging": stacked.pop("diverging"), "energy": stacked.pop("energy"),
             "n_steps": stacked.pop("num_steps")}
    return stacked, stats


def extend(chains: Chains, states: list, data: DrugData, samples: dict, stats: dict, label: str,
           stop_at_divergence: bool = False) -> tuple[list, dict, dict]:
    """``draws`` more per chain, each chain going on from its last state (with
    ``stop_at_divergence``, only up to the first chain that diverges: then
    the chains extended so far)."""
    states, runs = _one_after_another([partial(chains.draw, state, data) for state in states],
                                      label, "extended by", stop_at_divergence)
    more_samples, more_stats = _collect(runs)
    join = lambda a, b: {k: np.concatenate([a[k][:len(runs)], b[k]], axis=1) for k in a}  # noqa: E731
    return states, join(samples, more_samples), join(stats, more_stats)


def sample_nuts(data: DrugData, settings, seed: int, check, label: str = "NUTS"):
    """Climb the ladder until ``check(samples, stats)`` (a diagnostics table with
    group and status) passes. Returns the draws, sampler statistics, the
    parametrisation of the last rung and a record of the path."""
    key_choose, key = jax.random.split(jax.random.PRNGKey(seed))
    planned = planned_rungs(settings, choose_parametrisation(data, settings, key_choose))
    last = max(number for number, _, used in planned if used is not None)
    path = []
    for number, rung, used in planned:
        if used is None:
            path.append(f"{number}. {rung.name} (target {rung.target_accept}): skipped, the same as an earlier rung")
            continue
        key, key_rung = jax.random.split(key)
        begun = time.perf_counter()
        samples, stats, steps, passed = _run_rung(with_centring(data, used.centred), settings, rung, number,
                                                 check, key_rung, label, stop_at_divergence=number < last)
        path, ran_with = path + steps, used
        log.info("%s: NUTS rung %d took %.0f s: %s", label, number, time.perf_counter() - begun, path[-1])
        if passed:
            return samples, stats, used, {"rung": number, "method": "nuts", "path": " | ".join(path), "checks": "pass"}
    failure = len(planned) + 1
    path.append(f"{failure}. failed")
    return samples, stats, ran_with, {"rung": failure, "method": "nuts", "path": " | ".join(path), "checks": "fail"}


def planned_rungs(settings, chosen: parametrisation.Parametrisation) -> list[tuple]:
    """The ladder for a drug whose chosen parametrisation is ``chosen``: per
    rung its number, the rung (at the target it runs at) and its
    parametrisation, None for a rung that would repeat an earlier one."""
    planned, runs = [], []
    for number, rung in enumerate(ladder(settings), start=1):
        used = rung.parametrise(chosen)
        run = _same_run(rung, used)
        if run in runs and rung.target_if_repeat:
            rung = replace(rung, target_accept=rung.target_if_repeat)
            run = _same_run(rung, used)
        planned.append((number, rung, None if run in runs else used))
        runs.append(run)
    return planned


def _run_rung(data: DrugData, settings, rung: Rung, number: int, check, key, label: str,
              stop_at_divergence: bool = False):
    """One rung, extended while on course: its draws, statistics, one path entry
    per check and whether the last check passed. With ``stop_at_divergence``,
    a run or extension stops at the first chain with a divergent transition,
    and so does the rung."""
    states, samples, stats = _run_nuts(data, settings, rung, key, f"{label}, rung {number}", stop_at_divergence)
    steps = []
    while len(states) == settings.chains:
        table = check(samples, stats)
        failed = table[table.status == "fail"]
        n_draws = samples["mu_c"].shape[1]
        steps.append(f"{number}. {rung.name} (target {rung.target_accept}): {n_draws} draws per chain, "
                     f"{float(stats['n_steps'].mean()):.0f} leapfrog steps per draw, "
                     + ("passed" if failed.empty else "failed: " + "; ".join(failed.reasons)))
        # extended only while its ESS is on course to pass by max_draws; else it climbs now
        on_course = draws_to_pass(table, n_draws) <= rung.max_draws
        if failed.empty or not on_course or n_draws + rung.draws > rung.max_draws:
            return samples, stats, steps, failed.empty
        states, samples, stats = extend(_chains(settings, rung, data), states, data, samples, stats,
                                        f"{label}, rung {number}", stop_at_divergence)
    steps.append(f"{number}. {rung.name} (target {rung.target_accept}): {samples['mu_c'].shape[1]} draws per "
                 f"chain: stopped after chain {len(states)} of {settings.chains}, "
                 f"{int(stats['diverging'][-1].sum())} divergent transitions")
    return samples, stats, steps, False


# --- well-level draws ---------------------------------------------------------------------


def _well_draws_program(settings):
    model = configured_model(settings)

    @jax.jit  # draws and data as arguments: compiled once per shape bucket
    def well_draws(key, flat, data):
        loglik = log_likelihood(model, flat, data)["y"]
        y_rep = Predictive(model, posterior_samples=flat, return_sites=["y"])(key, replace(data, y=None))["y"]
        return loglik, y_rep

    return well_draws


def well_draws(samples: dict, data: DrugData, chosen, settings, seed: int, n_wells: int):
    """Pointwise log-likelihood and posterior predictive draws of the real wells
    under the parametrisation the draws were made in, from ``settings.well_draws``
    evenly spaced draws per chain (SVI's one chain counting as ``settings.chains``):
    enough for the 95% predictive intervals and the residuals the checks use."""
    data = with_centring(data, chosen.centred)
    chains, n_draws = samples["mu_c"].shape[:2]
    per_chain = settings.well_draws * settings.chains // chains
    keep = np.unique(np.linspace(0, n_draws - 1, min(per_chain, n_draws)).round().astype(int))
    flat = {k: v[:, keep].reshape((-1,) + v.shape[2:]) for k, v in samples.items() if k != "y"}
    program = _program("well_draws", settings, _well_draws_program, data)
    loglik, y_rep = program(jax.random.PRNGKey(seed + 1), flat, data)
    shape = (chains, len(keep), n_wells)
    return np.asarray(loglik)[:, :n_wells].reshape(shape), np.asarray(y_rep)[:, :n_wells].reshape(shape)
