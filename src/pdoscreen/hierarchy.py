"""The multilevel structure of one drug's fit made visible: where the variation
lies (patients, organoid lines within a patient, replicate plates within a
line), how far pooling moves each line from its independent per-curve fit, and
what the model predicts for a line or a patient not yet screened.

Pure functions from a fit (ArviZ InferenceData, as written by ``fit.fit_drug``)
to tables; figures are in ``plots.hierarchy``. Every quantity is computed on
each posterior draw (chains flattened) and then summarised by its posterior
mean and 5/50/95% quantiles, so an interval is always a 90% credible interval.

Variance partition (``variance_partition``)
-------------------------------------------
log10 EC50 (``metric = "log10_ec50"``): the model's own variance components,

    patient  tau_pat^2   between patients
    line     tau_line^2  between lines of one patient
    plate    tau_rep^2   between replicate plates of one line

These are *population* (super-population) variances: they describe the
distribution new patients, lines and plates would be drawn from, not only the
units in this screen. ``share`` is each component divided by the sum of the
three, on each draw (an intraclass correlation: the patient share is the
correlation of two plates of different lines of one patient, patient + line
that of two plates of one line), so shares sum to 1 on every draw. Their
posterior medians need not sum to 1; their posterior means do.

AAC (``metric = "aac"``) is not a model parameter, so it has no tau. On each
draw we compute the AAC (over the drug's tested range) of every plate's curve
(c_plate with its line's Hill slope and residual viability), of every line's
curve (c_line, h_line, E_line), and each patient's mean over its lines; then
*finite-sample* variances of these fitted units (as Gelman's finite-population
standard deviations in ANOVA):

    patient  sample variance (divisor K - 1) of the K patient means
    line     pooled within-patient variance of line AACs around their
             patient's mean: sum of squares / (n_lines - K)
    plate    mean square of plate AACs around their own line's AAC:
             sum of squares / n_plates (the line's curve is the centre the
             model draws its plates around, a parameter rather than an
             average of the plates, so no degree of freedom is spent on it)

and shares as above. These describe this screen's patients, lines and plates
only, and are not comparable in size with the EC50 components (different
scale), only in their shares.

Degenerate designs:

* one patient: tau_pat is informed by its prior alone, so the EC50 patient
  variance and every share are prior-driven (they are still reported; the
  ``n_units`` column says how many units a level had, and ``separating_drugs``
  says so in words). The AAC patient variance is not defined (NaN).
* one line per patient: tau_line is separated from tau_pat only by the prior
  (and from tau_rep by the plates), so the EC50 line share is weakly
  identified. The AAC within-patient line variance is 0/0: NaN.
* one plate per line: tau_rep is informed mostly by its prior; the AAC plate
  variance then reflects the posterior of c_plate - c_line, also mostly prior.
* when any AAC component is NaN, every AAC share of that drug is NaN: a
  partition with a missing part would credit the missing level's variation to
  another level (with one line per patient, the patient means *are* the lines).

Shrinkage (``shrinkage``)
-------------------------
Per line: the pooled posterior mean of log10 EC50 (c_line) and of AAC (line
curve over the drug's tested range), the independent per-curve estimates
(``baselines.per_curve_fits``, rows of this drug), the number of wells the fit
used for the line (``n_wells``), and ``shrinkage = pooled - independent`` of
log10 EC50 (``shrinkage_aac`` likewise for AAC), NaN where the per-curve fit
failed or has no row. ``patient_log10_ec50`` is the posterior mean of the
patient's centre mu_c + tau_pat z_k, the point lines are pulled towards.
Independent AACs are over each line's own tested range; pooled ones over the
drug's range (the same when every line saw the same doses).

New units (``new_unit_predictions``)
------------------------------------
Posterior predictive draws, one per posterior draw, of a line's curve:

    new line of existing patient k:
        c       = mu_c + tau_pat z_k + tau_line z_new
        logit E = mu_E + tau_E_pat z'_k + tau_E_line z'_new
        log h   = mu_h + tau_h z''_new
    new patient (and a first line of it): as above with new z_k, z'_k too,

all new z ~ N(0, 1) drawn with ``numpy.random.default_rng(seed)``. These are
line curves (what the line's EC50 is), without the plate-to-plate scatter
tau_rep that one plate of the new line would add. AAC is over the drug's
tested range. ``p_responds`` = P(AAC of the new line > ``aac_threshold``).

Text (``separating_drugs``)
---------------------------
Per drug, the level whose posterior median log10 EC50 share exceeds one half
(patients, lines, plates), or none, with the shares, and why that may not be
certain (its 90% interval reaches below one half; one patient; one line per
patient; fewer than ``FEW_PATIENTS`` patients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import aac
from .model import CENTRABLE, DIAGNOSED_GROUPS, LEVEL_DIM, LEVEL_SITES
from .store import labels, plate_lines

COMPONENTS = ("patient", "line", "plate")
METRICS = ("log10_ec50", "aac")
DOMINANT_SHARE = 0.5
QUANTILES = (0.05, 0.5, 0.95)
# each level's EC50 scale: the scale of its first site (c_pat, c_line, c_plate)
_TAU = {LEVEL_DIM[level]: CENTRABLE[sites[0]] for level, sites in LEVEL_SITES.items()}


@dataclass(frozen=True)
class _Structure:
    drug: str
    patients: np.ndarray  # labels, posterior order
    lines: np.ndarray
    plates: np.ndarray
    line_patient: np.ndarray  # index into patients, per line
    plate_line: np.ndarray  # index into lines, per plate
    n_wells: np.ndarray  # per line
    x_min: float
    x_max: float


def _structure(idata) -> _Structure:
    post, const = idata.posterior, idata.constant_data
    patients = labels(post.patient.values)
    lines = labels(post.line.values)
    plates = labels(post.plate.values)
    line_patient_labels = labels(const.line_patient.values)
    if "line" in const.coords:  # the constant line coord is the posterior's, but check by name
        order = dict(zip(labels(const.line.values), line_patient_labels))
        line_patient_labels = np.array([order[l] for l in lines])
    patient_index = {p: i for i, p in enumerate(patients)}
    obs_line = labels(const.obs_line.values)
    line_of_plate = plate_lines(idata)
    line_index = {l: i for i, l in enumerate(lines)}
    return _Structure(
        drug=str(post.attrs.get("drug", "")),
        patients=patients,
        lines=lines,
        plates=plates,
        line_patient=np.array([patient_index[p] for p in line_patient_labels], dtype=int),
        plate_line=np.array([line_index[line_of_plate[p]] for p in plates], dtype=int),
        n_wells=np.array([(obs_line == l).sum() for l in lines], dtype=int),
        x_min=float(post.attrs["x_min_log10_molar"]),
        x_max=float(post.attrs["x_max_log10_molar"]),
    )


def _draws(idata, name: str) -> np.ndarray:
    """Posterior draws of ``name``, chains flattened: shape (draws,) or (draws, units)."""
    da = idata.posterior[name]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    values = np.asarray(da.transpose("chain", "draw", *extra).values, dtype=float)
    return values.reshape((-1,) + values.shape[2:])


def _summary(draws: np.ndarray) -> dict:
    draws = np.asarray(draws, dtype=float)
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return {"mean": np.nan, "q05": np.nan, "q50": np.nan, "q95": np.nan}
    q05, q50, q95 = np.quantile(finite, QUANTILES)
    return {"mean": float(finite.mean()), "q05": float(q05), "q50": float(q50), "q95": float(q95)}


def _shares(components: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each component over their sum, per draw; NaN on a draw where any is NaN."""
    stacked = np.stack([components[c] for c in COMPONENTS])
    total = stacked.sum(axis=0)  # NaN propagates
    with np.errstate(invalid="ignore", divide="ignore"):
        return {c: components[c] / total for c in COMPONENTS}


def line_aac_draws(idata) -> np.ndarray:
    """AAC of every line's curve over the drug's tested range, (draws, lines)."""
    s = _structure(idata)
    return aac(_draws(idata, "c_line"), _draws(idata, "h_line"), _draws(idata, "E_line"), s.x_min, s.x_max)


def aac_components(idata) -> dict[str, np.ndarray]:
    """Per draw, the finite-sample AAC variances of patients, lines within a
    patient and plates within a line (see the module docstring)."""
    s = _structure(idata)
    c_line, h, e = _draws(idata, "c_line"), _draws(idata, "h_line"), _draws(idata, "E_line")
    line_aac = aac(c_line, h, e, s.x_min, s.x_max)
    plate_aac = aac(_draws(idata, "c_plate"), h[:, s.plate_line], e[:, s.plate_line], s.x_min, s.x_max)

    present = np.unique(s.line_patient)  # patients with at least one line
    n_draws = line_aac.shape[0]
    patient_mean = np.stack([line_aac[:, s.line_patient == k].mean(axis=1) for k in present], axis=1)
    if len(present) >= 2:
        patient = patient_mean.var(axis=1, ddof=1)
    else:
        patient = np.full(n_draws, np.nan)

    position = np.searchsorted(present, s.line_patient)
    within_patient = ((line_aac - patient_mean[:, position]) ** 2).sum(axis=1)
    line_df = len(s.lines) - len(present)
    line = within_patient / line_df if line_df > 0 else np.full(n_draws, np.nan)

    plate = ((plate_aac - line_aac[:, s.plate_line]) ** 2).mean(axis=1)
    return {"patient": patient, "line": line, "plate": plate}


def ec50_components(idata) -> dict[str, np.ndarray]:
    """Per draw, the population variances of log10 EC50: tau_pat^2, tau_line^2, tau_rep^2."""
    return {c: _draws(idata, tau) ** 2 for c, tau in _TAU.items()}


def variance_partition(idata) -> pd.DataFrame:
    """Posterior summaries of the variance components of log10 EC50 and AAC of
    one drug, and their shares (see the module docstring for the definitions).

    Columns: drug, metric (log10_ec50 | aac), component (patient | line |
    plate), kind (variance | share), mean, q05, q50, q95, and n_units (how many
    patients, lines or plates the fit had at that level)."""
    s = _structure(idata)
    n_units = {"patient": len(np.unique(s.line_patient)), "line": len(s.lines), "plate": len(s.plates)}
    rows = []
    for metric, components in (("log10_ec50", ec50_components(idata)), ("aac", aac_components(idata))):
        for kind, values in (("variance", components), ("share", _shares(components))):
            for component in COMPONENTS:
                rows.append({"drug": s.drug, "metric": metric, "component": component, "kind": kind,
                             **_summary(values[component]), "n_units": n_units[component]})
    return pd.DataFrame(rows)


def shrinkage(idata, independent: pd.DataFrame) -> pd.DataFrame:
    """Per line: pooled posterior means against the independent per-curve fit.

    ``independent`` is ``baselines.per_curve_fits`` output (any drugs; this
    fit's drug is taken). Columns: drug, line, patient, n_wells,
    pooled_log10_ec50 (posterior mean of c_line) with pooled_log10_ec50_q05/q95,
    pooled_aac, patient_log10_ec50 (posterior mean of mu_c + tau_pat z_k),
    independent_log10_ec50, independent_aac, independent_failed,
    independent_at_bound, shrinkage (pooled - independent log10 EC50) and
    shrinkage_aac (pooled - independent AAC); NaN where the per-curve fit failed."""
    s = _structure(idata)
    c_line = _draws(idata, "c_line")
    line_aac = line_aac_draws(idata)
    centre = _draws(idata, "mu_c")[:, None] + _draws(idata, "tau_pat")[:, None] * _draws(idata, "z_pat")
    low, high = np.quantile(c_line, [QUANTILES[0], QUANTILES[-1]], axis=0)

    rows = independent[labels(independent["drug"]) == s.drug] if len(independent) else independent
    by_line = {str(r["line"]): r for r in rows.to_dict("records")}
    records = []
    for i, line in enumerate(s.lines):
        fit = by_line.get(line, {})
        failed = bool(fit.get("failed", True)) if fit else True
        indep_c = np.nan if failed else float(fit.get("log10_ec50", np.nan))
        indep_aac = np.nan if failed else float(fit.get("aac", np.nan))
        pooled_c, pooled_aac = float(c_line[:, i].mean()), float(line_aac[:, i].mean())
        records.append({
            "drug": s.drug,
            "line": line,
            "patient": s.patients[s.line_patient[i]],
            "n_wells": int(s.n_wells[i]),
            "pooled_log10_ec50": pooled_c,
            "pooled_log10_ec50_q05": float(low[i]),
            "pooled_log10_ec50_q95": float(high[i]),
            "pooled_aac": pooled_aac,
            "patient_log10_ec50": float(centre[:, s.line_patient[i]].mean()),
            "independent_log10_ec50": indep_c,
            "independent_aac": indep_aac,
            "independent_failed": failed,
            "independent_at_bound": bool(not failed and fit.get("at_bound", False) == True),  # noqa: E712 (NaN: no)
            "shrinkage": pooled_c - indep_c,
            "shrinkage_aac": pooled_aac - indep_aac,
        })
    return pd.DataFrame(records)


def new_unit_predictions(idata, aac_threshold: float, seed) -> pd.DataFrame:
    """Posterior predictive log10 EC50 and AAC of a new line of each existing
    patient and of (a first line of) a new patient; see the module docstring.

    One row per unit. Columns: drug; unit ("new_line" of an existing patient,
    or "new_patient"); patient (the existing patient; empty for a new
    patient); n_lines (the patient's lines in the fit; 0 for a new patient);
    log10_ec50_mean/q05/q50/q95; aac_mean/q05/q50/q95; aac_threshold;
    p_responds = P(AAC > aac_threshold) for that new line."""
    s = _structure(idata)
    rng = np.random.default_rng(seed)
    d = {name: _draws(idata, name) for name in (*DIAGNOSED_GROUPS["population"], *DIAGNOSED_GROUPS["scales"])}
    z_pat, z_e_pat = _draws(idata, "z_pat"), _draws(idata, "z_E_pat")
    n_draws, n_patients = z_pat.shape

    ec50_batches = batch_factors(idata, "tau_c")
    batch_sd = np.sqrt(sum(_draws(idata, f"tau_c_{f}") ** 2 for f in ec50_batches)) if ec50_batches else None

    def line_curve(z_k, z_e_k, size):
        col = (lambda v: v[:, None]) if len(size) == 2 else (lambda v: v)
        c = col(d["mu_c"]) + col(d["tau_pat"]) * z_k + col(d["tau_line"]) * rng.standard_normal(size)
        if batch_sd is not None:  # screened in a batch not yet seen
            c = c + col(batch_sd) * rng.standard_normal(size)
        logit_e = col(d["mu_E"]) + col(d["tau_E_pat"]) * z_e_k + col(d["tau_E_line"]) * rng.standard_normal(size)
        h = np.exp(col(d["mu_h"]) + col(d["tau_h"]) * rng.standard_normal(size))
        e = 1.0 / (1.0 + np.exp(-logit_e))
        return c, aac(c, h, e, s.x_min, s.x_max)

    c_new_line, aac_new_line = line_curve(z_pat, z_e_pat, (n_draws, n_patients))
    new_z = rng.standard_normal((2, n_draws))
    c_new_patient, aac_new_patient = line_curve(new_z[0], new_z[1], (n_draws,))

    def row(unit, patient, n_lines, c, a):
        return {"drug": s.drug, "unit": unit, "patient": patient, "n_lines": n_lines,
                **{f"log10_ec50_{k}": v for k, v in _summary(c).items()},
                **{f"aac_{k}": v for k, v in _summary(a).items()},
                "aac_threshold": float(aac_threshold), "p_responds": float(np.mean(a > aac_threshold))}

    rows = [row("new_line", str(p), int((s.line_patient == k).sum()), c_new_line[:, k], aac_new_line[:, k])
            for k, p in enumerate(s.patients)]
    rows.append(row("new_patient", "", 0, c_new_patient, aac_new_patient))
    return pd.DataFrame(rows)


def batch_factors(idata, scale: str = "tau_gain") -> list[str]:
    """The batch factors a fit has a ``scale`` (tau_gain or tau_c) for."""
    prefix = f"{scale}_"
    return [name.removeprefix(prefix) for name in idata.posterior.data_vars if name.startswith(prefix)]


def batch_effects(idata) -> pd.DataFrame:
    """The fitted batch terms of one drug: per factor the spread between its
    levels (``tau_gain`` on the log gain, ``tau_log10_ec50`` when fitted), and
    per level its shift (``log_gain_shift``, ``log10_ec50_shift``). Columns:
    drug, factor, level (empty for a spread), quantity, mean, q05, q50, q95."""
    drug = str(idata.posterior.attrs.get("drug", ""))
    rows = []
    terms = [("tau_gain", "u_gain", "tau_gain", "log_gain_shift"),
             ("tau_c", "w_c", "tau_log10_ec50", "log10_ec50_shift")]
    for scale, unit, spread_name, shift_name in terms:
        for factor in batch_factors(idata, scale):
            tau = _draws(idata, f"{scale}_{factor}")
            rows.append({"drug": drug, "factor": factor, "level": "", "quantity": spread_name, **_summary(tau)})
            shifts = tau[:, None] * _draws(idata, f"{unit}_{factor}")
            levels = labels(idata.posterior[f"{factor}_level"].values)
            rows += [{"drug": drug, "factor": factor, "level": level, "quantity": shift_name,
                      **_summary(shifts[:, i])} for i, level in enumerate(levels)]
    return pd.DataFrame(rows, columns=["drug", "factor", "level", "quantity", "mean", "q05", "q50", "q95"])


BATCH_CLUSTER_P = 0.01
BATCH_FACTORS = ("batch", "lot")


def batch_clustering(ppc: pd.DataFrame, plate_levels: pd.DataFrame, fitted: list[str]) -> pd.DataFrame:
    """Do a drug's plate residuals cluster by batch? Per drug and factor: a
    one-way ANOVA of the plates' mean standardised residuals (``ppc``:
    drug, plate, mean_residual_sd) over the factor's levels (``plate_levels``:
    plate, patient and a column per factor in ``BATCH_FACTORS``). A small p
    for a factor not in ``fitted`` suggests turning on ``fit.batch_factors``,
    unless each level holds one patient's plates only: then a batch cannot be
    told apart from its patient."""
    from scipy.stats import f_oneway

    rows = []
    merged = ppc.merge(plate_levels, on="plate", how="left")
    for factor in [c for c in BATCH_FACTORS if c in plate_levels.columns]:
        for drug, plates in merged[merged[factor].fillna("") != ""].groupby("drug", sort=False):
            groups = [g.to_numpy() for _, g in plates.groupby(factor).mean_residual_sd if len(g) >= 2]
            p = float(f_oneway(*groups).pvalue) if len(groups) >= 2 else np.nan
            within_patients = bool((plates.groupby(factor).patient.nunique() == 1).all())
            rows.append({"drug": drug, "factor": factor, "n_levels": len(groups), "n_plates": len(plates),
                         "anova_p": p, "fitted": factor in fitted,
                         "note": _batch_note(factor, p, factor in fitted, within_patients)})
    return pd.DataFrame(rows, columns=["drug", "factor", "n_levels", "n_plates", "anova_p", "fitted", "note"])


def _batch_note(factor: str, p: float, fitted: bool, within_patients: bool) -> str:
    if within_patients:
        return f"each {factor} holds one patient's plates: a {factor} effect cannot be told from the patient's"
    if not p < BATCH_CLUSTER_P:
        return ""
    if fitted:
        return f"residuals still cluster by {factor}"
    return f"plate residuals cluster by {factor}: consider fit.batch_factors"


LEVEL_WORDS = {"patient": "patients", "line": "lines within a patient", "plate": "replicate-plate noise"}
SHORT_WORDS = {"patient": "patients", "line": "lines", "plate": "plates"}
FEW_PATIENTS = 5  # below this many, the text warns that tau_pat is weakly determined


def separating_drugs(table: pd.DataFrame) -> str:
    """One or two sentences per drug: is its log10 EC50 variance dominated by
    patients, by lines within a patient or by replicate-plate noise (the level
    whose posterior median share exceeds 0.5), with the shares and, where it
    applies, why the verdict is uncertain (the dominant share's 90% interval
    reaches below one half; one patient; one line per patient; fewer than
    ``FEW_PATIENTS`` patients). ``table``: ``variance_partition`` output of one
    or more drugs; one line of text per drug."""
    shares = table[(table.metric == "log10_ec50") & (table.kind == "share")]
    paragraphs = []
    for drug, rows in shares.groupby("drug", sort=False):
        rows = rows.set_index("component")
        q50 = {c: float(rows.loc[c, "q50"]) for c in COMPONENTS}
        dominant = next((c for c in COMPONENTS if q50[c] > DOMINANT_SHARE), None)
        caveats = []
        if dominant:
            others = "; ".join(f"{SHORT_WORDS[c]} {q50[c]:.2f}" for c in COMPONENTS if c != dominant)
            first = (f"{drug}: its log10 EC50 variance is dominated by {LEVEL_WORDS[dominant]} (posterior median "
                     f"share {q50[dominant]:.2f}, 90% interval {rows.loc[dominant, 'q05']:.2f}-"
                     f"{rows.loc[dominant, 'q95']:.2f}; {others}).")
            if rows.loc[dominant, "q05"] < DOMINANT_SHARE:
                caveats.append("the interval reaches below one half")
        else:
            largest = max(COMPONENTS, key=q50.get)
            medians = ", ".join(f"{SHORT_WORDS[c]} {q50[c]:.2f}" for c in COMPONENTS)
            first = (f"{drug}: no level holds most of its log10 EC50 variance (posterior median shares: {medians}); "
                     f"the largest is {LEVEL_WORDS[largest]}.")
        if "n_units" in rows.columns:
            n_patients, n_lines = int(rows.loc["patient", "n_units"]), int(rows.loc["line", "n_units"])
            if n_patients < 2:
                caveats.append("with one patient the patient share reflects the prior, not the data")
            elif n_lines <= n_patients:
                caveats.append("with one line per patient only the prior tells patients and lines apart")
            elif n_patients < FEW_PATIENTS:
                caveats.append(f"with {n_patients} patients the patient variance is weakly determined")
        if caveats:
            text = " and ".join(caveats) if len(caveats) < 3 else ", ".join(caveats[:-1]) + " and " + caveats[-1]
            first += f" {'Not certain' if dominant else 'Note'}: {text}."
        paragraphs.append(first)
    return "\n".join(paragraphs)


# --- over a screen's fits ------------------------------------------------------------


def plate_levels(screen) -> pd.DataFrame:
    """Per plate of a screen store: its patient and its level of each factor
    of BATCH_FACTORS in the sample sheet (``batch_clustering``'s plate_levels)."""
    return pd.DataFrame({"plate": screen.plate.values.astype(str), "patient": screen.patient.values} | {
        factor: screen[factor].values.astype(str) for factor in BATCH_FACTORS if factor in screen.coords
    })


def screen_tables(fits: dict, independent: pd.DataFrame, ppc: pd.DataFrame, levels: pd.DataFrame,
                  aac_threshold: float, seed) -> dict[str, pd.DataFrame]:
    """This module's tables over every fit of a screen ({name: InferenceData}),
    with the per-curve fits (``independent``) the shrinkage is measured from and
    the fits' posterior predictive checks (``ppc``, with ``drug``) whose plate
    residuals the batch check reads."""
    fitted_factors = sorted({f for idata in fits.values() for f in batch_factors(idata)})
    parts = {
        "variance_partition": [variance_partition(idata) for idata in fits.values()],
        "shrinkage": [shrinkage(idata, independent) for idata in fits.values()],
        "new_line_predictions": [new_unit_predictions(idata, aac_threshold, seed) for idata in fits.values()],
        "batch_effects": [batch_effects(idata) for idata in fits.values()],
        "batch_check": [batch_clustering(ppc, levels, fitted_factors)] if fits else [],
    }
    return {name: pd.concat(tables, ignore_index=True) if tables else pd.DataFrame() for name, tables in parts.items()}
