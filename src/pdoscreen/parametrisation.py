"""Which elements of the line and plate levels to write centred, per drug.

A member x_j ~ N(m_j, tau) of a level samples well non-centred (x_j = m_j + tau z_j)
when the data say little about it, and badly when they pin it: then only tau z_j
is known, the posterior in (tau, z) is a thin bent ridge, and NUTS needs hundreds
of leapfrog steps per iteration. Centred, it is the other way round (a funnel
where the data are weak). What decides is the element's data weight

    kappa_j = tau^2 I_j / (1 + tau^2 I_j),

the share of x_j's posterior precision that comes from its wells, with I_j the
curvature of the log-likelihood in x_j at a point estimate (a short SVI fit):

    plates    I_p = -d^2 loglik / d c_p^2
    lines     I_l = -d^2 loglik / d x_l^2             for logit E_l and log h_l
              I_l = sum_p 1 / (1 / I_p + tau_rep^2)   for c_l, seen through its plates
    patients  I_k = sum_l 1 / (1 / I_l + tau_line^2)  for c_k (tau_E_line for logit E_k)

Elements of a site share no wells, so one Hessian-vector product with a vector
of ones gives every I_j of the site exactly.

Few members estimate tau poorly, and a centred level whose tau is really
smaller is a funnel. So kappa is judged at a lower bound of tau, the 5% bound
of a scale estimated from df = members - parents degrees of freedom
(df tau_hat^2 / tau^2 ~ chi^2_df):

    tau_low = tau_hat sqrt(chi^2_df(0.05) / df)

(0.23 tau_hat at df 2, 0.48 at 5, 0.74 at 20; the normal approximation of
log tau, exp(-1.645 / sqrt(2 df)), gives 0.44 at df 2, and centring at that
bound diverged on the example screen's 3 patients and 5 lines).

and an element is centred when its kappa at tau_low exceeds 0.7. A level with
df < 1 (one plate per line, one line per patient, one patient) stays non-centred.

The curvature of the patients and of the line EC50s is not measured but carried
up from the level below with a point estimate of its scale, so their kappa is
the least sure: where it was too high, the centred element is a funnel where
tau is small. ``inferred_as_z_scores`` writes those as z-scores and keeps the
rest of the choice (sampling.ladder's second rung).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from .model import CENTRABLE, LEVEL_SITES, DrugData

KAPPA_CENTRE = 0.7  # centre an element whose data weight at tau_low exceeds this
LOWER_QUANTILE = 0.05  # of tau, at which kappa is judged
# The sites whose wells give their curvature directly; the others' is carried up from these.
MEASURED_SITES = ("c_plate", "logit_E_line", "log_h_line")
INFERRED_SITES = tuple(site for site in CENTRABLE if site not in MEASURED_SITES)


@dataclass(frozen=True)
class Parametrisation:
    """Per site of model.CENTRABLE (padded arrays): the data weight kappa at
    tau_low and 1 where the element is written centred."""

    kappa: dict[str, np.ndarray]
    centred: dict[str, np.ndarray]
    rule: str

    def describe(self, sizes: dict[str, int]) -> str:
        """'c_line 5/6 centred, ...' over the real (unpadded) elements."""
        return ", ".join(f"{site} {int(self.centred[site][:n].sum())}/{n} centred" for site, n in sizes.items())


def fixed(data: DrugData, non_centred_levels) -> Parametrisation:
    """Whole levels non-centred (the rest centred), as named in fit.non_centred."""
    sites = {site for level in non_centred_levels for site in LEVEL_SITES[level]}
    centred = {site: np.full(len(data.centred[site]), float(site not in sites)) for site in CENTRABLE}
    kappa = {site: np.full(len(values), np.nan) for site, values in centred.items()}
    return Parametrisation(kappa, centred, _levels_rule(non_centred_levels))


def _levels_rule(non_centred_levels) -> str:
    return "non-centred levels: " + (", ".join(non_centred_levels) or "none")


def as_z_scores(chosen: Parametrisation, sites, rule: str) -> Parametrisation:
    """The choice with every element of ``sites`` written as a z-score; the data
    weights stay on record."""
    centred = {site: np.zeros_like(values) if site in sites else values for site, values in chosen.centred.items()}
    return Parametrisation(chosen.kappa, centred, rule)


def inferred_as_z_scores(chosen: Parametrisation) -> Parametrisation:
    """The patients and the line EC50s as z-scores, the measured sites as chosen."""
    return as_z_scores(chosen, INFERRED_SITES, f"{chosen.rule}, patients and line EC50s as z-scores")


def every_level_as_z_scores(chosen: Parametrisation) -> Parametrisation:
    """pdoscreen 0.2's parametrisation: free of funnels, slow where the data are rich."""
    return as_z_scores(chosen, CENTRABLE, _levels_rule(LEVEL_SITES))


def degrees_of_freedom(data: DrugData) -> dict[str, int]:
    """Members minus parents of each level, counting only members with wells."""
    plates = np.unique(np.asarray(data.plate)[np.asarray(data.mask)])
    lines = np.unique(np.asarray(data.plate_line)[plates])
    patients = np.unique(np.asarray(data.line_patient)[lines])
    by_patient = len(lines) - len(patients)
    return {"c_pat": len(patients) - 1, "logit_E_pat": len(patients) - 1, "c_line": by_patient,
            "logit_E_line": by_patient, "log_h_line": len(lines) - 1, "c_plate": len(plates) - len(lines)}


def tau_lower_ratio(df: int) -> float:
    """tau_low / tau_hat: the 5% bound of a scale estimated with df degrees of freedom."""
    df = max(df, 1)
    return float(np.sqrt(chi2.ppf(LOWER_QUANTILE, df) / df))


def _through(child_info: np.ndarray, child_parent: np.ndarray, tau_child: float, n_parents: int) -> np.ndarray:
    """A parent's information from its children's: each child adds 1 / (1 / I + tau^2)."""
    with np.errstate(divide="ignore"):
        per_child = np.where(child_info > 0, 1.0 / (1.0 / child_info + tau_child**2), 0.0)
    return np.bincount(child_parent, weights=per_child, minlength=n_parents)


def from_data_weights(data: DrugData, information: dict[str, np.ndarray], scales: dict[str, float]) -> Parametrisation:
    """The rule of the module docstring, from the per-element curvatures of
    the sites the wells depend on (c_plate, logit_E_line, log_h_line; the
    others' follow from them here) and the point estimates
    of the scales (by site name, e.g. tau_line)."""
    info = {site: np.clip(np.asarray(information[site], dtype=float), 0.0, None) for site in information}
    plate_line, line_patient = np.asarray(data.plate_line), np.asarray(data.line_patient)
    n_lines, n_patients = len(line_patient), data.n_patients
    info["c_line"] = _through(info["c_plate"], plate_line, scales["tau_rep"], n_lines)
    info["c_pat"] = _through(info["c_line"], line_patient, scales["tau_line"], n_patients)
    info["logit_E_pat"] = _through(info["logit_E_line"], line_patient, scales["tau_E_line"], n_patients)
    df = degrees_of_freedom(data)
    kappa, centred = {}, {}
    for site, scale_site in CENTRABLE.items():
        tau_low = scales[scale_site] * tau_lower_ratio(df[site])
        weight = tau_low**2 * info[site]
        kappa[site] = weight / (1.0 + weight)
        centred[site] = ((kappa[site] > KAPPA_CENTRE) & (df[site] >= 1)).astype(float)
    return Parametrisation(kappa, centred, f"data weight at tau's 5% bound > {KAPPA_CENTRE}")
