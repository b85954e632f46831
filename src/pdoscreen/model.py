"""The hierarchical dose-response model for one drug (NumPyro).

For well w on plate p (a replicate read of line l of patient k), with
x = log10 molar concentration and y = raw signal / one constant (order 1):

    curve   v(x)  = E_l + (1 - E_l) / (1 + 10^(h_l (x - c_p)))
    signal  mu_w  = A_p [ r_p + (1 - r_p) v(x_w) ]
    noise   y_w   ~ StudentT(nu, mu_w, sqrt(sigma_add^2 + sigma_mult^2 mu_w^2))

    c_k       ~ N(mu_c, tau_pat)            logit E_k ~ N(mu_E, tau_E_pat)
    c_l       ~ N(c_k, tau_line)            logit E_l ~ N(logit E_k, tau_E_line)
    c_p       ~ N(c_l, tau_rep)
    log h_l   ~ N(mu_h, tau_h)
    log A_p   ~ N(stage-1 mean, sd),  logit r_p ~ N(stage-1 mean, sd)

with the patients' z-scores z_k = (c_k - mu_c) / tau_pat, z'_k likewise, kept
as derived quantities.

With batch factors (sample-sheet columns such as ``batch`` or ``lot``), every
level b of each factor adds a shift to the plates it holds:

    log A_p   ~ N(stage-1 mean + sum_f tau_gain_f u_f[b_f(p)], sd)
    c_p       ~ N(c_l + sum_f tau_c_f w_f[b_f(p)], tau_rep)      (optional)
    u_f, w_f  ~ N(0, 1)

The gain shift is how far a batch's drug-treated wells sit from what its
vehicle wells predict (a dispensing or reagent lot); the EC50 shift is a batch's
change in sensitivity (an organoid passage). As random effects, their scales
tau describe any future batch, not only the ones seen.

The plate gain A_p and floor r_p come in as informative priors estimated once
per plate from its control wells (stage 1, see ``plate_priors``), so drugs are
fitted independently.

The patient, line and plate levels are written centred above, element by
element where ``data.centred[site]`` is 1, and non-centred
(c_l = c_k + tau_line z_l) where it is 0: right when an element has little
data (a sparse design), wrong when it has much. ``parametrisation.py`` chooses
per drug from the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax import nn

LN10 = float(np.log(10.0))


@dataclass(frozen=True)
class Priors:
    """Prior scales; the docs' prior predictive check shows plausible plates."""

    mu_c_sd: float = 1.0  # decades around the middle of the tested range
    tau_pat: float = 0.75
    tau_line: float = 0.5
    tau_rep: float = 0.2
    mu_h_sd: float = 0.5
    tau_h: float = 0.3
    mu_e_loc: float = -1.0
    mu_e_sd: float = 1.5
    tau_e_pat: float = 0.5
    tau_e_line: float = 0.5
    sigma_add: float = 0.01  # median of a log-normal with sd 1 on the log scale
    sigma_mult: float = 0.1
    nu_shape: float = 2.0
    nu_rate: float = 0.1
    tau_batch_gain: float = 0.1  # a batch moves treated wells by about 10%
    tau_batch_c: float = 0.3  # decades


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class DrugData:
    """One drug's wells as the model reads them (``fit.model_data`` builds it),
    padded to bucketed sizes so that drugs of similar size share compiled
    programs: padding wells have mask False and add nothing, and padded
    patients, lines, plates and batch levels hold no wells. Arrays are data
    (arguments of compiled programs); the two counts are part of its shape."""

    x: jax.Array  # per well: log10 molar concentration
    y: jax.Array | None  # per well: raw signal / the drug's signal scale; None where drawn
    plate: jax.Array  # per well: its plate
    mask: jax.Array  # per well: True for a real well
    plate_line: jax.Array  # per plate: its line
    plate_batch: jax.Array  # per batch factor and plate: the plate's level
    line_patient: jax.Array  # per line: its patient
    log_gain_loc: jax.Array  # per plate: the stage-1 prior of log A_p
    log_gain_sd: jax.Array
    logit_floor_loc: jax.Array  # per plate: the stage-1 prior of logit r_p
    logit_floor_sd: jax.Array
    x_mid: jax.Array  # the middle of the tested range, log10 molar
    centred: dict  # per site of CENTRABLE, per element: 1 centred, 0 a z-score
    n_patients: int = field(metadata={"static": True})
    n_batch_levels: int = field(metadata={"static": True})


class StudentT(dist.StudentT):
    """numpyro's Student-t with a sampler that needs no gamma variates.

    Posterior predictive draws of every well (4,000 draws x thousands of wells)
    spent most of a fit drawing the gamma variates of numpyro's sampler. Bailey's
    polar method (Math. Comp. 62, 1994) is exact: for a point uniform in the unit
    disc at angle theta and squared radius w, cos(theta) sqrt(df (w^(-2/df) - 1))
    is t-distributed with df degrees of freedom; theta and w are two uniforms."""

    def sample(self, key, sample_shape=()):
        key_angle, key_radius = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        angle = jax.random.uniform(key_angle, shape, minval=0.0, maxval=2 * jnp.pi)
        w = 1.0 - jax.random.uniform(key_radius, shape)  # in (0, 1]: no infinite draw
        t = jnp.cos(angle) * jnp.sqrt(self.df * jnp.expm1(-2.0 / self.df * jnp.log(w)))
        return self.loc + self.scale * t


def viability(x, c, h, e):
    """v(x) = e + (1 - e) / (1 + 10^(h (x - c))), written with a sigmoid."""
    return e + (1.0 - e) * nn.sigmoid(-LN10 * h * (x - c))


# The levels that may be written either way, each site with the scale of its
# prior (the spread of its members around their mean).
CENTRABLE = {"c_pat": "tau_pat", "logit_E_pat": "tau_E_pat", "c_line": "tau_line", "logit_E_line": "tau_E_line",
             "log_h_line": "tau_h", "c_plate": "tau_rep"}
LEVEL_SITES = {"patients": ("c_pat", "logit_E_pat"), "lines": ("c_line", "logit_E_line", "log_h_line"),
               "plates": ("c_plate",)}
LEVEL_DIM = {"patients": "patient", "lines": "line", "plates": "plate"}  # numpyro plate -> a fit's dimension

# What a fit keeps per member of a level: the sampled sites, their
# deterministic transforms and, for a centrable site, numpyro's z-score site
# ``{site}_decentered``. fit.py labels the draws with these; the modules that
# read a fit (hierarchy.py, summarize.py, plots/) use the names below.
DETERMINISTIC_SITES = ("z_pat", "z_E_pat", "E_line", "h_line")
_LEVEL_KEPT = {
    "patient": ("c_pat", "logit_E_pat", "z_pat", "z_E_pat"),
    "line": ("c_line", "logit_E_line", "log_h_line", "E_line", "h_line"),
    "plate": ("c_plate", "log_gain", "logit_floor"),
}
SITES_BY_DIM = {dim: sites + tuple(f"{site}_decentered" for site in sites if site in CENTRABLE)
                for dim, sites in _LEVEL_KEPT.items()}
# The parameter groups whose R-hat and ESS a fit is checked on (checks.diagnostics).
DIAGNOSED_GROUPS = {
    "population": ["mu_c", "mu_E", "mu_h"],
    "scales": ["tau_pat", "tau_line", "tau_rep", "tau_E_pat", "tau_E_line", "tau_h"],
    "noise": ["sigma_add", "sigma_mult", "nu"],
    "lines": ["c_line", "E_line", "h_line"],
    "plates": ["c_plate", "log_gain", "logit_floor"],
}
# Batch effects (batch_shifts): per factor a scale and one z-score per level.
BATCH_LEVEL_SITES = ("u_gain", "w_c")
BATCH_SITE_PREFIXES = ("tau_gain_", "u_gain_", "tau_c_", "w_c_")


def centring(data: DrugData):
    """The reparametrisation of the line and plate levels that ``data`` asks for.
    LocScaleReparam with an array: 1 keeps an element's centred density, 0 makes
    it a z-score; as data, the arrays leave compiled programs shared."""
    from numpyro.infer.reparam import LocScaleReparam

    return numpyro.handlers.reparam(config={site: LocScaleReparam(data.centred[site]) for site in CENTRABLE})


def batch_shifts(data: DrugData, priors: Priors, batch_factors: tuple[str, ...], batch_on_ec50: bool):
    """Per plate, the summed shifts of its batch levels on log gain and on log10
    EC50 (zero without factors). Levels are few, so they are non-centred."""
    gain_shift, c_shift = 0.0, 0.0
    n_levels = data.n_batch_levels
    for i, factor in enumerate(batch_factors):
        level = data.plate_batch[i]
        tau_gain = numpyro.sample(f"tau_gain_{factor}", dist.HalfNormal(priors.tau_batch_gain))
        with numpyro.plate(f"{factor}_levels", n_levels):
            u = numpyro.sample(f"u_gain_{factor}", dist.Normal(0.0, 1.0))
        gain_shift = gain_shift + tau_gain * u[level]
        if batch_on_ec50:
            tau_c = numpyro.sample(f"tau_c_{factor}", dist.HalfNormal(priors.tau_batch_c))
            with numpyro.plate(f"{factor}_levels", n_levels):
                w = numpyro.sample(f"w_c_{factor}", dist.Normal(0.0, 1.0))
            c_shift = c_shift + tau_c * w[level]
    return gain_shift, c_shift


def dose_response(
    data: DrugData, priors: Priors = Priors(), batch_factors: tuple[str, ...] = (), batch_on_ec50: bool = False
):
    """The model for one drug's wells (``DrugData``)."""

    with centring(data):
        _dose_response(data, priors, batch_factors, batch_on_ec50)


def _dose_response(data: DrugData, priors: Priors, batch_factors: tuple[str, ...], batch_on_ec50: bool):
    n_patients = data.n_patients
    n_lines = data.line_patient.shape[0]
    n_plates = data.plate_line.shape[0]

    mu_c = numpyro.sample("mu_c", dist.Normal(data.x_mid, priors.mu_c_sd))
    tau_pat = numpyro.sample("tau_pat", dist.HalfNormal(priors.tau_pat))
    tau_line = numpyro.sample("tau_line", dist.HalfNormal(priors.tau_line))
    tau_rep = numpyro.sample("tau_rep", dist.HalfNormal(priors.tau_rep))
    mu_e = numpyro.sample("mu_E", dist.Normal(priors.mu_e_loc, priors.mu_e_sd))
    tau_e_pat = numpyro.sample("tau_E_pat", dist.HalfNormal(priors.tau_e_pat))
    tau_e_line = numpyro.sample("tau_E_line", dist.HalfNormal(priors.tau_e_line))
    mu_h = numpyro.sample("mu_h", dist.Normal(0.0, priors.mu_h_sd))
    tau_h = numpyro.sample("tau_h", dist.HalfNormal(priors.tau_h))

    with numpyro.plate("patients", n_patients):
        c_pat = numpyro.sample("c_pat", dist.Normal(mu_c, tau_pat))
        logit_e_pat = numpyro.sample("logit_E_pat", dist.Normal(mu_e, tau_e_pat))
    numpyro.deterministic("z_pat", (c_pat - mu_c) / tau_pat)
    numpyro.deterministic("z_E_pat", (logit_e_pat - mu_e) / tau_e_pat)
    patient = data.line_patient
    with numpyro.plate("lines", n_lines):
        c_line = numpyro.sample("c_line", dist.Normal(c_pat[patient], tau_line))
        logit_e_line = numpyro.sample("logit_E_line", dist.Normal(logit_e_pat[patient], tau_e_line))
        log_h_line = numpyro.sample("log_h_line", dist.Normal(mu_h, tau_h))
    e_line = numpyro.deterministic("E_line", nn.sigmoid(logit_e_line))
    h_line = numpyro.deterministic("h_line", jnp.exp(log_h_line))

    gain_shift, c_shift = batch_shifts(data, priors, batch_factors, batch_on_ec50)
    with numpyro.plate("plates", n_plates):
        c_plate = numpyro.sample("c_plate", dist.Normal(c_line[data.plate_line] + c_shift, tau_rep))
        log_gain = numpyro.sample(
            "log_gain", dist.Normal(data.log_gain_loc + gain_shift, data.log_gain_sd)
        )
        logit_floor = numpyro.sample(
            "logit_floor", dist.Normal(data.logit_floor_loc, data.logit_floor_sd)
        )

    # Log-normal, not half-normal: the additive part is small next to the
    # multiplicative one, and a scale allowed to reach 0 gives NUTS a funnel.
    sigma_add = numpyro.sample("sigma_add", dist.LogNormal(jnp.log(priors.sigma_add), 1.0))
    sigma_mult = numpyro.sample("sigma_mult", dist.HalfNormal(priors.sigma_mult))
    nu = numpyro.sample("nu", dist.Gamma(priors.nu_shape, priors.nu_rate))

    plate, line = data.plate, data.plate_line[data.plate]
    v = viability(data.x, c_plate[plate], h_line[line], e_line[line])
    floor = nn.sigmoid(logit_floor)[plate]
    mu = jnp.exp(log_gain)[plate] * (floor + (1.0 - floor) * v)
    scale = jnp.sqrt(sigma_add**2 + (sigma_mult * mu) ** 2)
    with numpyro.plate("wells", data.x.shape[0]), numpyro.handlers.mask(mask=data.mask):
        numpyro.sample("y", StudentT(nu, mu, scale), obs=data.y)
