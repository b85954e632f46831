"""Checks and summaries of one drug's fit (an ArviZ InferenceData from fit.py):
the sampler's diagnostics with their thresholds, the per-line summaries with
their identifiability flags, and the posterior predictive checks per plate."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .metrics import aac, log10_ic50
from .model import BATCH_SITE_PREFIXES, DIAGNOSED_GROUPS

if TYPE_CHECKING:
    import arviz as az


def draws_as_inference_data(samples: dict, stats: dict) -> az.InferenceData:
    """Draws and sampler statistics as InferenceData, for the checks."""
    import arviz as az

    return az.from_dict(posterior=samples, sample_stats=stats)


# --- diagnostics and identifiability ----------------------------------------------------

RHAT_MAX, ESS_MIN, EBFMI_MIN = 1.01, 400, 0.3
CONTRACTION_MIN, CORRELATION_MAX = 0.3, 0.8


def diagnostics(idata: az.InferenceData) -> pd.DataFrame:
    """R-hat, bulk and tail ESS per parameter group, and the sampler's
    divergences and E-BFMI; ``status`` says pass or fail, ``reasons`` why."""
    import arviz as az

    groups = _groups(idata)
    if idata.posterior.attrs.get("approximate"):
        note = "approximate fit (SVI): MCMC diagnostics do not apply"
        rows = [{"group": g, "status": "approximate", "reasons": note} for g in groups]
        return _table(rows + _fit_record(idata, "approximate"))
    rows = []
    for group, names in groups.items():
        rhat = az.rhat(idata, var_names=names)
        bulk = az.ess(idata, var_names=names, method="bulk")
        tail = az.ess(idata, var_names=names, method="tail")
        row = {
            "group": group,
            "parameters": ",".join(names),
            "rhat_max": max(float(rhat[n].max()) for n in names),
            "ess_bulk_min": min(float(bulk[n].min()) for n in names),
            "ess_tail_min": min(float(tail[n].min()) for n in names),
        }
        rows.append(row | _verdict(
            [(row["rhat_max"] >= RHAT_MAX, f"R-hat {row['rhat_max']:.3f} >= {RHAT_MAX}"),
             (row["ess_bulk_min"] < ESS_MIN, f"bulk ESS {row['ess_bulk_min']:.0f} < {ESS_MIN}"),
             (row["ess_tail_min"] < ESS_MIN, f"tail ESS {row['ess_tail_min']:.0f} < {ESS_MIN}")]
        ))
    divergences = int(idata.sample_stats.diverging.sum())
    ebfmi = float(np.min(az.bfmi(idata)))
    sampler = {"group": "sampler", "divergences": divergences, "ebfmi_min": ebfmi}
    rows.append(sampler | _verdict(
        [(divergences > 0, f"{divergences} divergent transitions"),
         (ebfmi < EBFMI_MIN, f"E-BFMI {ebfmi:.2f} < {EBFMI_MIN}")]
    ))
    return _table(rows + _fit_record(idata, idata.posterior.attrs.get("fit_checks")))


def draws_to_pass(table: pd.DataFrame, n_draws: int) -> float:
    """Draws per chain at which every group of a failed ``diagnostics`` table
    would reach ESS_MIN, bulk and tail, if each group's ESS grows in proportion
    to the draws, as it does once the chains mix. Infinite when the sampler
    failed (divergent transitions, low E-BFMI), which more draws do not mend;
    ``n_draws + 1`` (one more extension) when the ESS suffices and only R-hat
    is short, since R-hat falls as mixing chains grow."""
    failed = table[table.status == "fail"]
    if (failed.group == "sampler").any():
        return np.inf
    ess = failed.reindex(columns=["ess_bulk_min", "ess_tail_min"]).to_numpy(dtype=float).ravel()
    ess = ess[np.isfinite(ess)]
    worst = ess.min() if ess.size else np.inf
    if worst <= 0:
        return np.inf
    return max(n_draws + 1.0, n_draws * ESS_MIN / worst)


def _table(rows: list[dict]) -> pd.DataFrame:
    """The rows as a table whose rung (on the fit row only) stays an integer."""
    table = pd.DataFrame(rows)
    return table.astype({"rung": "Int64"}) if "rung" in table else table


def _fit_record(idata, status) -> list[dict]:
    """The row that says how the fit was made: its parametrisation, the rung of
    sampling.ladder it ended on, the path there and, where SVI ran, its Pareto
    k (absent while sampling)."""
    attrs = idata.posterior.attrs
    if "fit_path" not in attrs:
        return []
    row = {"group": "fit", "status": status, "rung": attrs["fit_rung"],
           "parametrisation": attrs["parametrisation"], "reasons": attrs["fit_path"]}
    return [row | ({"pareto_k": float(attrs["svi_pareto_k"])} if "svi_pareto_k" in attrs else {})]


def _groups(idata) -> dict[str, list[str]]:
    """The parameter groups to diagnose: model.DIAGNOSED_GROUPS, and the batch effects when fitted."""
    batches = [name for name in idata.posterior.data_vars if name.startswith(BATCH_SITE_PREFIXES)]
    return DIAGNOSED_GROUPS | ({"batches": batches} if batches else {})


def _verdict(checks: list[tuple[bool, str]]) -> dict:
    failed = [reason for bad, reason in checks if bad]
    return {"status": "fail" if failed else "pass", "reasons": "; ".join(failed)}


def line_summary(idata: az.InferenceData, priors: dict | None = None) -> pd.DataFrame:
    """Per line: posterior summaries of c, E, h and AAC over the drug's tested
    range, P(IC50 below the top dose), and identifiability flags."""
    from .model import Priors

    prior = Priors(**(priors or {}))
    post = idata.posterior
    x_min, x_max = post.attrs["x_min_log10_molar"], post.attrs["x_max_log10_molar"]
    c, e, h = (post[v].values.reshape(-1, post.sizes["line"]) for v in ("c_line", "E_line", "h_line"))
    logit_e = np.log(e / (1 - e))
    aac_draws = aac(c, h, e, x_min, x_max)
    ic50 = log10_ic50(c, h, e)
    prior_var_c = prior.mu_c_sd**2 + prior.tau_pat**2 + prior.tau_line**2
    obs_line = idata.constant_data.obs_line.values
    rows = []
    for i, line in enumerate(post.line.values):
        contraction = 1 - c[:, i].var() / prior_var_c
        correlation = float(np.corrcoef(c[:, i], logit_e[:, i])[0, 1])
        p_below = float(np.mean(np.nan_to_num(ic50[:, i], nan=np.inf) < x_max))
        flags = [flag for bad, flag in [
            (p_below < 0.5, "ic50_not_reached"),
            (contraction < CONTRACTION_MIN, "flat_curve"),
            (abs(correlation) > CORRELATION_MAX, "incomplete_curve"),
        ] if bad]
        rows.append({
            "line": str(line),
            "patient": str(idata.constant_data.line_patient.values[i]),
            "n_wells": int((obs_line == line).sum()),
            **_quantiles("log10_ec50", c[:, i]),
            **_quantiles("residual_viability", e[:, i]),
            **_quantiles("hill", h[:, i]),
            **_quantiles("aac", aac_draws[:, i]),
            "p_ic50_below_top_dose": p_below,
            "c_contraction": contraction,
            "corr_c_logit_e": correlation,
            "flags": ",".join(flags),
        })
    return pd.DataFrame(rows)


def _quantiles(name: str, draws: np.ndarray) -> dict:
    q05, q50, q95 = np.quantile(draws, [0.05, 0.5, 0.95])
    return {f"{name}_mean": float(draws.mean()), f"{name}_q05": q05, f"{name}_q50": q50, f"{name}_q95": q95}


# --- posterior predictive checks --------------------------------------------------------

PPC_COVERAGE_MIN = 0.85  # of wells inside their 95% predictive interval
TREND_T_MAX = 3.0  # |t| of a residual trend; about 1 plate in 200 crosses it by chance
TREND_MIN = 1.0  # and the drift across the plate must reach 1 residual sd to matter


def posterior_predictive_checks(idata: az.InferenceData) -> pd.DataFrame:
    """Per plate: the fraction of wells inside their central 95% posterior
    predictive interval, and row and column trends of the standardised residuals
    (least-squares slopes times the span of rows or columns the drug covers),
    flagged when clear (|t| > 3) and large (over 1 residual sd)."""
    from .geometry import parse_well

    y = idata.observed_data.y.values
    y_rep = idata.posterior_predictive.y.values.reshape(-1, y.size)
    low, high = np.quantile(y_rep, [0.025, 0.975], axis=0)
    const = idata.constant_data
    rows, columns = np.array([parse_well(w) for w in const.obs_well.values.astype(object)]).T
    frame = pd.DataFrame({
        "plate": const.obs_plate.values.astype(object), "line": const.obs_line.values.astype(object),
        "inside": (low <= y) & (y <= high), "residual": (y - y_rep.mean(axis=0)) / y_rep.std(axis=0),
        "row": rows, "column": columns,
    })
    return pd.DataFrame([_plate_check(plate, wells) for plate, wells in frame.groupby("plate", sort=False)])


def _plate_check(plate: str, wells: pd.DataFrame) -> dict:
    inside = float(wells.inside.mean())
    trends = _trends(wells)
    record = {"plate": plate, "line": wells.line.iloc[0], "n_wells": len(wells), "fraction_inside_95": inside,
              # plates whose mean residual clusters by batch call for fit.batch_factors
              "mean_residual_sd": float(wells.residual.mean())}
    reasons = [] if inside >= PPC_COVERAGE_MIN else [f"{inside:.0%} of wells inside their 95% predictive interval"]
    for axis, (drift, t) in trends.items():
        record |= {f"{axis}_drift_sd": drift, f"{axis}_trend_t": t}
        if abs(t) > TREND_T_MAX and abs(drift) > TREND_MIN:
            reasons.append(f"residuals drift {drift:+.1f} sd across {axis}s (t = {t:.1f})")
    return record | {"status": "warn" if reasons else "pass", "reasons": "; ".join(reasons)}


def _trends(wells: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per axis (row, column): the residual change across the wells' span and its t statistic."""
    design = np.column_stack([np.ones(len(wells)), wells.row, wells.column]).astype(float)
    if len(wells) < 6 or np.linalg.matrix_rank(design) < 3:
        return {"row": (np.nan, np.nan), "column": (np.nan, np.nan)}
    residual = wells.residual.to_numpy()
    coef, rss, *_ = np.linalg.lstsq(design, residual, rcond=None)
    sigma2 = float(rss[0]) / (len(wells) - 3)
    se = np.sqrt(sigma2 * np.diag(np.linalg.inv(design.T @ design)))
    return {axis: (float(coef[i] * np.ptp(design[:, i])), float(coef[i] / se[i]))
            for i, axis in [(1, "row"), (2, "column")]}
