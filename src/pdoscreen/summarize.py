"""From per-drug fits to per-line and per-patient metric posteriors, cohort-relative
scores and ranks, and long summary tables.

Everything here works on posterior draws: each metric is computed on every draw,
and summaries (mean, sd, 5/50/95% quantiles, probabilities) are taken last.
The functions are pure (labelled data in, labelled data out) except
:func:`summarize`, the I/O edge.

Levels
------
line     one organoid line: the fit's c_line, E_line, h_line.
patient  the tumour as sampled: per draw, the mean over the patient's lines.
         AAC, AUC and Emax are linear in the curve, so the patient's AAC is also
         the AAC of the patient's mean curve; log10 EC50 and the DSS are
         averaged as they are. log10 IC50: the mean of the lines' log10 IC50
         when every line reaches 50% on that draw, else NaN (not reached).
cohort   per drug, across the patients that carry it, on each draw:
         score = (patient AAC - cohort median) / cohort sd (sd with ddof 1);
         "more sensitive than the cohort" = patient AAC above the median AAC
         of the *other* patients carrying the drug. For an even number of
         patients this is the same event as "above the median of all
         patients"; for an odd number it keeps the middle patient from being
         compared with itself (which would make its probability 0 by
         construction).
         sdss2 = patient DSS2 - mean DSS2 of the other patients carrying the
         drug (Breeze's selective DSS, with the cohort in place of healthy
         controls). Below ``min_cohort_patients`` patients carrying a drug,
         these relative rows are flagged ``cohort_too_small``.
ranks    per patient and draw, drugs ordered by score, 1 = most sensitive
         (highest score), the drugs active on that draw (patient AAC above the
         activity floor) before the others: a flat curve's score divides
         differences of a few hundredths by a cohort sd as small, so without
         the floor a drug that does nothing could rank first. Raw AAC is never
         ranked across drugs: drugs are tested over different ranges, so their
         AACs are not comparable.
         Ties (probability zero for continuous draws) go to the drug first in
         name order. Fits of different drugs are independent, so pairing draw i
         of one drug with draw i of another is a valid joint draw; drugs with
         more draws are thinned to the smallest count first (:func:`thin`).

Between-line disagreement
-------------------------
For line l of a patient with two or more lines, the per-draw contrast
d_l = AAC_l - mean AAC of the patient's *other* lines (with two lines, simply
the difference between them; both lines are flagged together). The line is
flagged ``line_disagrees_with_patient`` when the 90% interval of d_l excludes
0. Comparing with the other lines rather than the patient mean keeps the line
itself out of its reference (the patient mean contains it, which shrinks the
contrast by (n - 1) / n). The patient rows carry the flag when any of its lines
has it; the between-line sd of AAC per draw is reported as ``aac_line_sd``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import metrics
from .normalise import stalled
from .store import labels, plate_lines

CURVE_METRICS = ("aac", "auc", "log10_ec50", "log10_ic50", "emax", "dss1", "dss2", "dss3")
PROBABILITY_METRICS = ("p_ic50_below_top_dose", "p_more_sensitive_than_cohort", "p_top3")
LINE_TABLE_METRICS = (
    "aac", "auc", "log10_ec50", "log10_ic50", "p_ic50_below_top_dose", "emax", "dss1", "dss2", "dss3",
)
# GR metrics of the posterior curves, where the screen has time-zero plates
# (metrics.gr_value: each draw's curve with the line's control doublings).
GR_METRICS = ("log10_gr50", "grmax", "gr_aoc")
# DIP metrics of the posterior curves, where the model fitted DIP rates
# (growth.response dip; metrics.dip_emax with the line's control DIP rate).
DIP_METRICS = ("dip_log10_ec50", "dip_emax")
# Rows from outside the posterior: shrinkage (hierarchy.shrinkage) and growth
# metrics (per-curve fits of GR values and DIP rates, baselines.per_curve_growth),
# named here with the suffix of PER_CURVE_NAMES.
PER_CURVE_NAMES = {name: f"{name}_per_curve" for name in GR_METRICS + DIP_METRICS}
GROWTH_METRICS = tuple(PER_CURVE_NAMES.values())
LINE_TABLE_ORDER = LINE_TABLE_METRICS + GR_METRICS + DIP_METRICS + ("shrinkage",) + GROWTH_METRICS
# Relative to the cohort: flagged ``cohort_too_small`` when too few patients carry the drug.
RELATIVE_METRICS = ("sdss2", "p_more_sensitive_than_cohort", "rank", "p_top3")
PATIENT_TABLE_METRICS = LINE_TABLE_METRICS + (
    "p_aac_above_activity_floor", "aac_line_sd", "cohort_patients",
) + RELATIVE_METRICS
PATIENT_TABLE_ORDER = PATIENT_TABLE_METRICS + GR_METRICS + DIP_METRICS + GROWTH_METRICS
STAT_COLUMNS = ("mean", "sd", "q05", "q50", "q95")
INTERVAL = (0.05, 0.95)
# IC50 and GR50: below the first share of draws that reach the level, the
# summary is conditional on reaching it; below the second, none is reported.
IC50_REACHED_FOR_CONDITIONAL = 0.95
IC50_REACHED_MIN = 0.5
REACHED = {"log10_ic50": "ic50", "log10_gr50": "gr50"}
TOP_RANKS = 3
# Defaults of the config's `sensitivity` section (workflow/schemas/config.schema.yaml).
ACTIVITY_AAC_FLOOR = 0.1
MIN_COHORT_PATIENTS = 5

UNITS = {
    "aac": ("area above the viability curve over the drug's tested log10 range, divided by its width: "
            "1 - (1/D) * integral of v(x) dx", "1 (0-1)"),
    "auc": ("area under the viability curve over the tested log10 range, divided by its width; 1 - aac",
            "1 (0-1)"),
    "log10_ec50": ("log10 EC50, the curve's inflection (relative IC50)", "log10 molar"),
    "log10_ic50": ("log10 absolute IC50, where viability = 0.5; NaN where never reached (E >= 0.5)",
                   "log10 molar"),
    "emax": ("observed maximal effect, 1 - v(x_max): fraction killed at the top tested dose", "1 (0-1)"),
    "dss1": ("drug sensitivity score DSS1 (Yadav et al. 2014; R package DSS), threshold 10% inhibition",
             "score (0-100)"),
    "dss2": ("drug sensitivity score DSS2 (Yadav et al. 2014; R package DSS), threshold 10% inhibition",
             "score (0-100)"),
    "dss3": ("drug sensitivity score DSS3 (Yadav et al. 2014; R package DSS), threshold 10% inhibition",
             "score (0-100)"),
    "aac_line_sd": ("sd (ddof 1) of AAC across the patient's lines; NaN with one line", "1 (0-1)"),
    "aac_minus_other_lines": ("line AAC minus the mean AAC of the patient's other lines", "1"),
    "score": ("(patient AAC - cohort median AAC) / cohort sd of AAC, per drug across patients",
              "cohort standard deviations"),
    "rank": ("rank of the score among the patient's drugs, 1 = most sensitive; drugs active on a draw "
             "(AAC above the activity floor) rank before the others", "1"),
    "sdss2": ("selective DSS2: patient DSS2 minus the mean DSS2 of the other patients carrying the drug",
              "score (-100 to 100)"),
    "log10_gr50": ("log10 GR50, where the curve's GR value (Hafner et al. 2016) = 0.5; NaN where never reached",
                   "log10 molar"),
    "grmax": ("GRmax, the curve's GR value at the top tested dose (below 0: cells lost since time zero)",
              "1 (-1 to 1)"),
    "gr_aoc": ("GR_AOC, 1 - GR averaged over the drug's tested log10 range", "1"),
    "dip_log10_ec50": ("log10 DIP EC50, where the curve's DIP rate (Harris et al. 2016) is halfway between the "
                       "vehicle wells' rate and its high-dose limit; NaN for a flat curve", "log10 molar"),
    "dip_emax": ("DIP Emax, the curve's high-dose DIP rate (below 0: cells lost)", "doublings per hour"),
}


# --- one fit ------------------------------------------------------------------------


def line_metric_draws(idata, threshold: float = metrics.DSS_THRESHOLD,
                      control_doublings: xr.DataArray | None = None,
                      control_dip_rates: xr.DataArray | None = None) -> xr.Dataset:
    """Per line and posterior draw (chain x draw flattened, chain-major), the
    curve metrics over the drug's tested range. Dims (line, draw); coord
    ``patient`` on line; attrs drug, x range, method, approximate.

    With ``control_doublings`` (per plate, ``normalise.control_doublings``),
    also the GR metrics (``GR_METRICS``) of each draw's curve: with the line's
    doublings (the mean over its fitted plates) and floor (the mean of its
    plates' floors on the draw); NaN for a line without time-zero plates, or
    with a plate whose vehicle wells did not grow (doublings <= 0).

    With ``control_dip_rates`` (per plate, ``normalise.control_dip_rates``, its
    ``dip_window_h`` in attrs), the curves being fitted to DIP rates, also the
    DIP metrics (``DIP_METRICS``) with the line's control rate (the mean over
    its fitted plates) and floor."""
    post = idata.posterior
    attrs = post.attrs
    x_min, x_max = float(attrs["x_min_log10_molar"]), float(attrs["x_max_log10_molar"])

    c, e, h = (_draws(post, name, "line") for name in ("c_line", "E_line", "h_line"))
    lines = labels(post.line.values)
    constant = idata.constant_data
    patient_of = dict(zip(labels(constant.line.values), labels(constant.line_patient.values)))
    values = {
        "aac": metrics.aac(c, h, e, x_min, x_max),
        "auc": metrics.auc(c, h, e, x_min, x_max),
        "log10_ec50": c,
        "log10_ic50": metrics.log10_ic50(c, h, e),
        "emax": metrics.emax(c, h, e, x_max),
        **{f"dss{k}": metrics.dss(c, h, e, x_min, x_max, threshold, kind=k) for k in (1, 2, 3)},
    }
    if control_dip_rates is not None:
        floor = _line_floor(idata, lines)
        control_rate = _line_mean(idata, lines, control_dip_rates)
        values |= {
            "dip_log10_ec50": metrics.dip_log10_ec50(c, h, e, floor),
            "dip_emax": metrics.dip_emax(e, floor, control_rate, float(control_dip_rates.attrs["dip_window_h"])),
        }
    if control_doublings is not None:
        # GR is undefined where the vehicle wells did not grow: no GR for the line
        floor = _line_floor(idata, lines)
        doublings = _line_mean(idata, lines, control_doublings.where(~stalled(control_doublings)))
        values |= {
            "log10_gr50": metrics.log10_gr50(c, h, e, floor, doublings),
            "grmax": metrics.grmax(c, h, e, floor, doublings, x_max),
            "gr_aoc": metrics.gr_aoc(c, h, e, floor, doublings, x_min, x_max),
        }
    ds = xr.Dataset(
        {name: (("line", "draw"), np.asarray(v, dtype=float)) for name, v in values.items()},
        coords={
            "line": lines,
            "draw": np.arange(c.shape[1]),
            "patient": ("line", np.array([patient_of[l] for l in lines], dtype=str)),
        },
        attrs={
            "drug": str(attrs["drug"]),
            "x_min_log10_molar": x_min,
            "x_max_log10_molar": x_max,
            "method": str(attrs.get("method", "")),
            "approximate": int(attrs.get("approximate", 0)),
            "dss_threshold_percent_inhibition": float(threshold),
        },
    )
    _units(ds)
    return ds


def _draws(post: xr.Dataset, name: str, dim: str) -> np.ndarray:
    """A site's draws as (``dim``, chain x draw flattened, chain-major)."""
    return post[name].stack(sample=("chain", "draw")).transpose(dim, "sample").values.astype(float)


def _fitted_plate_lines(idata) -> tuple[list[str], np.ndarray]:
    """The plates the fit holds, and each one's line."""
    line_of = plate_lines(idata)
    plates = labels(idata.posterior.plate.values)
    return plates, np.array([line_of[p] for p in plates])


def _line_floor(idata, lines: np.ndarray) -> np.ndarray:
    """Per line and draw (line, draw): the mean floor of its fitted plates."""
    _, plate_line = _fitted_plate_lines(idata)
    floors = 1.0 / (1.0 + np.exp(-_draws(idata.posterior, "logit_floor", "plate")))
    return np.stack([floors[plate_line == line].mean(axis=0) for line in lines])


def _line_mean(idata, lines: np.ndarray, per_plate: xr.DataArray) -> np.ndarray:
    """Per line (line, 1): the mean of a per-plate value over its fitted
    plates; NaN where any of them is NaN."""
    plates, plate_line = _fitted_plate_lines(idata)
    values = per_plate.reindex(plate=plates).values.astype(float)
    return np.array([values[plate_line == line].mean() for line in lines])[:, None]


def _units(ds: xr.Dataset, prefix: str = "") -> None:
    for name in ds.data_vars:
        key = name.removeprefix(prefix)
        if key in UNITS:
            ds[name].attrs.update(long_name=UNITS[key][0], units=UNITS[key][1])


def patient_metric_draws(lines: xr.Dataset) -> xr.Dataset:
    """Per patient and draw: the mean over the patient's lines of each curve
    metric (log10 IC50: NaN on a draw where any line does not reach 50%), and
    ``aac_line_sd``, the sd of AAC across its lines. Dims (patient, draw),
    patients sorted."""
    patient_of = lines.patient.values
    patients = np.array(sorted(set(patient_of.tolist())), dtype=str)
    out = {}
    for name in _draw_metrics(lines):
        values = lines[name].transpose("line", "draw").values
        # a plain mean: NaN in any line (IC50 not reached) gives NaN
        out[name] = np.stack([values[patient_of == p].mean(axis=0) for p in patients])
    aac = lines["aac"].transpose("line", "draw").values
    out["aac_line_sd"] = np.stack([
        aac[patient_of == p].std(axis=0, ddof=1) if (patient_of == p).sum() > 1 else np.full(aac.shape[1], np.nan)
        for p in patients
    ])
    ds = xr.Dataset(
        {name: (("patient", "draw"), v) for name, v in out.items()},
        coords={"patient": patients, "draw": lines.draw.values},
        attrs=dict(lines.attrs),
    )
    _units(ds)
    return ds


def _draw_metrics(ds: xr.Dataset, prefix: str = "") -> tuple[str, ...]:
    """The curve metrics, and the GR and DIP metrics where ``ds`` holds them."""
    return CURVE_METRICS + tuple(m for m in GR_METRICS + DIP_METRICS if f"{prefix}{m}" in ds)


def line_contrast_draws(lines: xr.Dataset) -> xr.DataArray:
    """Per line and draw: AAC of the line minus the mean AAC of the patient's
    other lines; NaN for a patient's only line."""
    patient_of = lines.patient.values
    aac = lines["aac"].transpose("line", "draw").values
    contrast = np.full_like(aac, np.nan)
    for i, patient in enumerate(patient_of):
        others = (patient_of == patient) & (np.arange(len(patient_of)) != i)
        if others.any():
            contrast[i] = aac[i] - aac[others].mean(axis=0)
    return xr.DataArray(contrast, dims=("line", "draw"), coords={"line": lines.line.values},
                        name="aac_minus_other_lines")


def disagrees(contrast: np.ndarray, interval=INTERVAL) -> np.ndarray:
    """Along the last axis (draws): True where the interval of the contrast
    excludes 0; False where the contrast is undefined (NaN)."""
    contrast = np.asarray(contrast, dtype=float)
    defined = ~np.isnan(contrast).any(axis=-1)
    safe = np.where(defined[..., None], contrast, 0.0)
    low, high = np.quantile(safe, interval, axis=-1)
    return defined & ((low > 0) | (high < 0))


# --- many fits ----------------------------------------------------------------------


def thin(ds: xr.Dataset, n: int) -> xr.Dataset:
    """Keep ``n`` draws spread evenly over the ``draw`` dim (deterministic:
    indices round(linspace(0, N - 1, n))), renumbered 0..n-1."""
    total = ds.sizes["draw"]
    if n > total:
        raise ValueError(f"cannot thin {total} draws to {n}")
    if n == total:
        return ds.assign_coords(draw=np.arange(n))
    index = np.round(np.linspace(0, total - 1, n)).astype(int)
    return ds.isel(draw=index).assign_coords(draw=np.arange(n))


def cohort_relative(patient_aac: xr.DataArray, activity_aac_floor: float = ACTIVITY_AAC_FLOOR) -> xr.Dataset:
    """From patient AAC draws (drug, patient, draw; NaN where a patient does not
    carry a drug), per draw:

    * ``score`` = (AAC - median over the drug's patients) / their sd (ddof 1);
      NaN for a drug carried by fewer than two patients;
    * ``more_sensitive`` = 1.0 if AAC > median AAC of the drug's *other*
      patients, else 0.0; NaN where undefined;
    * ``rank`` of the score among the patient's drugs (1 = highest score), the
      drugs whose AAC exceeds ``activity_aac_floor`` on the draw first; NaN
      where the score is NaN.
    """
    values = patient_aac.transpose("drug", "patient", "draw").values.astype(float)
    n_drugs, n_patients, _ = values.shape
    carried = ~np.isnan(values)
    n_carrying = carried.any(axis=2).sum(axis=1)  # per drug
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # all-NaN slices (drugs or patients without data) are expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(values, axis=1, keepdims=True)
        sd = np.nanstd(values, axis=1, ddof=1, keepdims=True)
        score = (values - median) / sd
        score[n_carrying < 2] = np.nan
        more = np.full_like(values, np.nan)
        for k in range(n_patients):
            reference = np.nanmedian(np.delete(values, k, axis=1), axis=1)  # (drug, draw)
            defined = carried[:, k, :] & ~np.isnan(reference)
            more[:, k, :] = np.where(defined, (values[:, k, :] > reference).astype(float), np.nan)
    rank = np.full_like(values, np.nan)
    if n_drugs:
        # inactive drugs after the active ones: shifted by more than any two scores differ
        finite = np.abs(score[np.isfinite(score)])
        span = 2 * finite.max() + 1 if finite.size else 0.0
        key = -score + np.where(values > activity_aac_floor, 0.0, span)
        order = np.argsort(np.where(np.isnan(score), np.inf, key), axis=0, kind="stable")
        positions = np.broadcast_to(np.arange(1, n_drugs + 1, dtype=float)[:, None, None], values.shape)
        np.put_along_axis(rank, order, positions, axis=0)
        rank[np.isnan(score)] = np.nan
    dims = ("drug", "patient", "draw")
    coords = {k: patient_aac.coords[k] for k in dims if k in patient_aac.coords}
    ds = xr.Dataset({"score": (dims, score), "more_sensitive": (dims, more), "rank": (dims, rank)},
                    coords=coords)
    _units(ds)
    return ds


def selective_dss(patient_dss: xr.DataArray) -> xr.DataArray:
    """Per (drug, patient, draw): the patient's DSS minus the mean DSS of the
    *other* patients carrying the drug (Breeze's selective DSS, with the cohort
    as the reference); NaN where the patient does not carry the drug or no
    other patient does."""
    values = patient_dss.transpose("drug", "patient", "draw").values.astype(float)
    carried = ~np.isnan(values)
    total = np.where(carried, values, 0.0).sum(axis=1, keepdims=True)
    count = carried.sum(axis=1, keepdims=True)
    others = count - carried
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = np.where(others > 0, (total - np.where(carried, values, 0.0)) / others, np.nan)
    return xr.DataArray(values - reference, dims=("drug", "patient", "draw"), coords=patient_dss.coords,
                        name="sdss2")


def cohort_size(patient_aac: xr.DataArray) -> xr.DataArray:
    """Per drug: the number of patients carrying it (with any finite AAC draw)."""
    return patient_aac.notnull().any("draw").sum("patient")


def metric_draws_dataset(line_draws: Iterable[xr.Dataset], max_draws: int | None = None,
                         activity_aac_floor: float = ACTIVITY_AAC_FLOOR) -> xr.Dataset:
    """Every drug's metric draws on shared dims (drug, line, patient, draw), for
    ``results/summary/metrics.zarr``.

    ``line_draws``: one :func:`line_metric_draws` result per drug. Drugs are
    thinned to the smallest number of draws, or to ``max_draws`` if fewer
    (:func:`thin`); the store holds drugs x lines x draws values per metric.
    Variables:
    ``line_<metric>`` (drug, line, draw) and ``patient_<metric>`` (drug,
    patient, draw) for the curve metrics (and the GR metrics, where the fits'
    draws have them), ``patient_aac_line_sd``,
    ``line_aac_minus_other_lines``, ``patient_score`` and ``patient_rank``
    (active drugs first, by ``activity_aac_floor``: :func:`cohort_relative`);
    NaN where a line or patient does not carry the drug. Per-drug coords give
    the reference range, the method and whether the fit is approximate; coord
    ``line_patient`` on line.
    """
    fits = sorted(line_draws, key=lambda ds: ds.attrs["drug"])
    drugs = [ds.attrs["drug"] for ds in fits]
    if len(set(drugs)) != len(drugs):
        raise ValueError(f"a drug appears twice among the fits: {drugs}")
    if not fits:
        raise ValueError("no fits to summarise")
    n_draws = min(ds.sizes["draw"] for ds in fits)
    if max_draws is not None:
        n_draws = min(n_draws, int(max_draws))
    fits = [thin(ds, n_draws) for ds in fits]
    patient_of: dict[str, str] = {}
    for ds in fits:
        for line, patient in zip(ds.line.values.tolist(), ds.patient.values.tolist()):
            if patient_of.setdefault(line, patient) != patient:
                raise ValueError(f"line {line} belongs to patient {patient_of[line]} in one fit, {patient} in another")
    lines = np.array(sorted(patient_of), dtype=str)
    patients = np.array(sorted(set(patient_of.values())), dtype=str)

    per_line, per_patient = [], []
    for ds in fits:
        pat = patient_metric_draws(ds)
        lin = ds[list(_draw_metrics(ds))].assign(aac_minus_other_lines=line_contrast_draws(ds))
        per_line.append(lin.drop_vars("patient").reindex(line=lines))
        per_patient.append(pat.reindex(patient=patients))
    line_all = xr.concat(per_line, dim="drug", join="exact").assign_coords(drug=np.array(drugs, dtype=str))
    patient_all = xr.concat(per_patient, dim="drug", join="exact").assign_coords(drug=np.array(drugs, dtype=str))
    cohort = cohort_relative(patient_all["aac"], activity_aac_floor)

    out = xr.Dataset()
    for k in line_all.data_vars:
        out[f"line_{k}"] = line_all[k].transpose("drug", "line", "draw")
    for k in patient_all.data_vars:
        out[f"patient_{k}"] = patient_all[k].transpose("drug", "patient", "draw")
    out["patient_score"] = cohort["score"]
    out["patient_rank"] = cohort["rank"]
    out = out.assign_coords(
        line_patient=("line", np.array([patient_of[l] for l in lines], dtype=str)),
        x_min_log10_molar=("drug", np.array([ds.attrs["x_min_log10_molar"] for ds in fits], dtype=float)),
        x_max_log10_molar=("drug", np.array([ds.attrs["x_max_log10_molar"] for ds in fits], dtype=float)),
        approximate=("drug", np.array([int(ds.attrs["approximate"]) for ds in fits], dtype=np.int8)),
        method=("drug", np.array([ds.attrs["method"] for ds in fits], dtype=str)),
    )
    for prefix in ("line_", "patient_"):
        _units(out, prefix)
    out["x_min_log10_molar"].attrs.update(long_name="bottom of the drug's tested range", units="log10 molar")
    out["x_max_log10_molar"].attrs.update(long_name="top of the drug's tested range", units="log10 molar")
    out["approximate"].attrs.update(long_name="1 where the fit is approximate (SVI)")
    out.attrs.update(
        description="Posterior draws of dose-response metrics per line and patient (mean of the patient's "
                    "lines), cohort-relative scores and within-patient ranks; see pdoscreen.summarize",
        draws_per_drug=int(n_draws),
        thinning="drugs with more draws thinned to draws_per_drug at round(linspace(0, N - 1, n))",
        dss_threshold_percent_inhibition=float(fits[0].attrs.get("dss_threshold_percent_inhibition",
                                                                  metrics.DSS_THRESHOLD)),
    )
    return out


# --- tables -------------------------------------------------------------------------


def _stats(draws: np.ndarray) -> dict:
    """Mean, sd (ddof 1), 5/50/95% quantiles of the finite draws (NaN if none)."""
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return dict.fromkeys(STAT_COLUMNS, np.nan)
    q05, q50, q95 = np.quantile(finite, [INTERVAL[0], 0.5, INTERVAL[1]])
    sd = float(finite.std(ddof=1)) if finite.size > 1 else np.nan
    return {"mean": float(finite.mean()), "sd": sd, "q05": float(q05), "q50": float(q50), "q95": float(q95)}


def _point(value: float) -> dict:
    """A probability or count: the value in mean and q50, no spread."""
    return {"mean": value, "sd": np.nan, "q05": np.nan, "q50": value, "q95": np.nan}


def _mean_indicator(indicator: np.ndarray) -> float:
    """Mean of a 0/1 indicator over the draws where it is defined (NaN if none)."""
    defined = indicator[~np.isnan(indicator)]
    return float(defined.mean()) if defined.size else np.nan


def _reached_row(draws: np.ndarray, level: str) -> tuple[dict, list[str]]:
    """An IC50 or GR50 (``level``), NaN on the draws that do not reach it."""
    reached = float(np.isfinite(draws).mean())
    if reached < IC50_REACHED_MIN:
        return dict.fromkeys(STAT_COLUMNS, np.nan), [f"{level}_not_reached"]
    flags = [f"{level}_conditional_on_reached"] if reached < IC50_REACHED_FOR_CONDITIONAL else []
    return _stats(draws), flags


def _rows(values: Mapping[str, np.ndarray], x_max: float, names: Iterable[str], base_flags: list[str],
          extra: Mapping[str, float] | None = None) -> list[dict]:
    """One row per metric for one (line or patient, drug)."""
    rows = []
    extra = extra or {}
    for metric in names:
        flags = list(base_flags)
        if metric in REACHED:
            stats, own = _reached_row(values[metric], REACHED[metric])
            flags += own
        elif metric == "p_ic50_below_top_dose":
            below = np.nan_to_num(values["log10_ic50"], nan=np.inf) < x_max
            stats = _point(float(below.mean()))
        elif metric in extra:
            stats = _point(extra[metric])
        else:
            stats = _stats(values[metric])
        rows.append({"metric": metric, **stats, "flags": ",".join(dict.fromkeys(flags))})
    return rows


def _with_growth(names: tuple[str, ...], values: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The table's metrics, and the GR and DIP metrics where the line or
    patient has them (GRmax and DIP Emax are defined on every draw where the
    doublings and the control rate are)."""
    for kind, defined_on_every_draw in ((GR_METRICS, "grmax"), (DIP_METRICS, "dip_emax")):
        if defined_on_every_draw in values and np.isfinite(values[defined_on_every_draw]).any():
            names += kind
    return names


def _split_flags(text) -> list[str]:
    if not isinstance(text, str):
        return []
    return [f for f in (s.strip() for s in text.split(",")) if f]


def summary_tables(
    ds: xr.Dataset,
    line_flags: pd.DataFrame | None = None,
    failed_drugs: Iterable[str] = (),
    activity_aac_floor: float = ACTIVITY_AAC_FLOOR,
    min_cohort_patients: int = MIN_COHORT_PATIENTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long tables (patient_table, line_table) from :func:`metric_draws_dataset`.

    One row per (patient or line, drug, metric) that carries the drug; columns
    ``patient`` (and ``line``), ``drug``, ``metric``, ``mean``, ``sd``, ``q05``,
    ``q50``, ``q95``, ``flags``. Probabilities fill ``mean`` and ``q50`` only.
    log10 IC50 is summarised over the draws where it is finite; it is flagged
    ``ic50_conditional_on_reached`` when P(reached) < 0.95 and left NaN with
    ``ic50_not_reached`` when P(reached) < 0.5.

    ``line_flags``: the fits' line tables with a ``drug`` column (columns drug,
    line, flags; a line may have several rows, e.g. the residual checks'); their
    flags are carried onto the line's rows and, pooled, onto its patient's
    rows. ``failed_drugs``: drugs whose fit failed its MCMC diagnostics (flag
    ``fit_failed_diagnostics``). SVI fits get ``approximate_fit``.

    Per patient and drug, also: ``p_aac_above_activity_floor`` (P(AAC >
    ``activity_aac_floor``)), ``cohort_patients`` (how many patients carry the
    drug, in ``mean`` and ``q50``) and ``sdss2`` (:func:`selective_dss`). The
    relative rows (``RELATIVE_METRICS``) of a drug carried by fewer than
    ``min_cohort_patients`` patients are flagged ``cohort_too_small``.
    """
    failed = set(failed_drugs)
    fit_flags: dict[tuple[str, str], list[str]] = {}
    if line_flags is not None and len(line_flags):
        for drug, line, text in line_flags[["drug", "line", "flags"]].itertuples(index=False):
            fit_flags.setdefault((str(drug), str(line)), []).extend(_split_flags(text))
    more = _by_drug_patient(cohort_relative(ds["patient_aac"])["more_sensitive"])
    rank = ds["patient_rank"].transpose("drug", "patient", "draw").values
    sdss2 = selective_dss(ds["patient_dss2"]).values
    n_cohort = cohort_size(ds["patient_aac"]).values
    line_patient = ds.line_patient.values
    patients = ds.patient.values
    line_rows, patient_rows = [], []
    for d, drug in enumerate(ds.drug.values.tolist()):
        x_max = float(ds.x_max_log10_molar.values[d])
        drug_flags = (["approximate_fit"] if int(ds.approximate.values[d]) else []) + (
            ["fit_failed_diagnostics"] if drug in failed else []
        )
        line_values = {m: ds[f"line_{m}"].values[d] for m in _draw_metrics(ds, "line_")}  # (line, draw)
        carried_lines = ~np.isnan(line_values["aac"]).all(axis=1)
        disagree = disagrees(ds["line_aac_minus_other_lines"].values[d])
        for i, line in enumerate(ds.line.values.tolist()):
            if not carried_lines[i]:
                continue
            flags = fit_flags.get((drug, line), []) + drug_flags
            flags += ["line_disagrees_with_patient"] if disagree[i] else []
            values = {m: v[i] for m, v in line_values.items()}
            for row in _rows(values, x_max, _with_growth(LINE_TABLE_METRICS, values), flags):
                line_rows.append({"patient": str(line_patient[i]), "line": line, "drug": drug, **row})
        patient_values = {m: ds[f"patient_{m}"].values[d] for m in _draw_metrics(ds, "patient_") + ("aac_line_sd",)}
        for k, patient in enumerate(patients.tolist()):
            if np.isnan(patient_values["aac"][k]).all():
                continue
            mine = carried_lines & (line_patient == patient)
            flags = [f for i in np.flatnonzero(mine) for f in fit_flags.get((drug, str(ds.line.values[i])), [])]
            flags += drug_flags
            flags += ["line_disagrees_with_patient"] if disagree[mine].any() else []
            ranks = rank[d, k]
            extra = {
                "p_more_sensitive_than_cohort": more[d][k],
                "p_top3": _mean_indicator(np.where(np.isnan(ranks), np.nan, (ranks <= TOP_RANKS).astype(float))),
                "p_aac_above_activity_floor": float((patient_values["aac"][k] > activity_aac_floor).mean()),
                "cohort_patients": float(n_cohort[d]),
            }
            values = {m: v[k] for m, v in patient_values.items()} | {"rank": ranks, "sdss2": sdss2[d, k]}
            small = ["cohort_too_small"] if n_cohort[d] < min_cohort_patients else []
            for row in _rows(values, x_max, _with_growth(PATIENT_TABLE_METRICS, values), flags, extra):
                if row["metric"] in RELATIVE_METRICS and small:
                    row["flags"] = ",".join(filter(None, [row["flags"], *small]))
                patient_rows.append({"patient": patient, "drug": drug, **row})
    columns = ["drug", "metric", *STAT_COLUMNS, "flags"]
    patient_table = _sorted(pd.DataFrame(patient_rows, columns=["patient", *columns]), ["patient", "drug"],
                            PATIENT_TABLE_ORDER)
    line_table = _sorted(pd.DataFrame(line_rows, columns=["patient", "line", *columns]),
                         ["patient", "line", "drug"], LINE_TABLE_ORDER)
    return patient_table, line_table


def _by_drug_patient(indicator: xr.DataArray) -> np.ndarray:
    """Per (drug, patient): mean over draws of an indicator, NaN where undefined."""
    values = indicator.transpose("drug", "patient", "draw").values
    out = np.full(values.shape[:2], np.nan)
    for d in range(values.shape[0]):
        for k in range(values.shape[1]):
            out[d, k] = _mean_indicator(values[d, k])
    return out


def _sorted(table: pd.DataFrame, keys: list[str], metric_order: tuple[str, ...]) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(metric_order)}
    table = table.assign(_order=table["metric"].map(order))
    table = table.sort_values([*keys, "_order"], kind="stable").drop(columns="_order")
    for column in STAT_COLUMNS:
        table[column] = table[column].astype(float)
    return table.reset_index(drop=True)


# --- I/O edge -----------------------------------------------------------------------


def _drug_from_path(path: Path, suffix: str) -> str:
    name = Path(path).name
    if not name.endswith(suffix):
        raise ValueError(f"{path}: expected a file named <drug>{suffix}")
    return name[: -len(suffix)]


def failed_drugs_from_diagnostics(diagnostics_paths: Iterable[str | Path]) -> set[str]:
    """Drugs whose ``<drug>.diagnostics.tsv`` has a row with status ``fail``
    (approximate fits say ``approximate``, not fail)."""
    failed = set()
    for path in diagnostics_paths:
        table = pd.read_csv(path, sep="\t", dtype={"status": str})
        if (table["status"].astype(str) == "fail").any():
            failed.add(_drug_from_path(path, ".diagnostics.tsv"))
    return failed


def line_flags_from_tables(lines_tsv_paths: Iterable[str | Path]) -> pd.DataFrame:
    """The ``flags`` column of each ``<drug>.lines.tsv``, as (drug, line, flags)."""
    frames = []
    for path in lines_tsv_paths:
        table = pd.read_csv(path, sep="\t", dtype={"line": str, "flags": str}, keep_default_na=False)
        frames.append(pd.DataFrame({
            "drug": _drug_from_path(path, ".lines.tsv"),
            "line": table["line"].astype(str),
            "flags": table["flags"].astype(str) if "flags" in table else "",
        }))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["drug", "line", "flags"])


def summarize(
    fit_paths: Iterable[str | Path],
    lines_tsv_paths: Iterable[str | Path],
    diagnostics_paths: Iterable[str | Path],
    out_dir: str | Path,
    max_draws: int | None = None,
    shrinkage: pd.DataFrame | None = None,
    growth: pd.DataFrame | None = None,
    activity_aac_floor: float = ACTIVITY_AAC_FLOOR,
    min_cohort_patients: int = MIN_COHORT_PATIENTS,
    check_flags: pd.DataFrame | None = None,
    control_doublings: xr.DataArray | None = None,
    control_dip_rates: xr.DataArray | None = None,
) -> dict[str, Path]:
    """Read every drug's fit (``<drug>.zarr``), line table and diagnostics, and
    write ``patient_drug.tsv``, ``line_drug.tsv``, their ``.parquet`` twins and
    ``metrics.zarr`` to ``out_dir``. Rows are sorted and floats written as
    ``%.6g`` (missing as ``NaN``), so reruns give byte-identical TSVs.
    ``max_draws`` caps the draws kept per drug (see :func:`metric_draws_dataset`).
    ``shrinkage`` (``hierarchy.shrinkage`` rows of every drug) adds each line's
    ``shrinkage`` metric: pooled minus independent log10 EC50, in ``mean``.
    ``growth`` (``baselines.per_curve_growth``) adds the GR metrics
    (``log10_gr50_per_curve``, ``grmax_per_curve``, ``gr_aoc_per_curve``) and
    DIP metrics (``dip_log10_ec50_per_curve``, ``dip_emax_per_curve``) it holds per line and, as
    the mean of its lines, per patient: point estimates of per-curve fits,
    flagged ``per_curve_fit``. ``control_doublings`` (per plate,
    ``normalise.control_doublings``; None or all NaN without time-zero plates)
    adds the posterior GR metrics, and ``control_dip_rates`` (per plate,
    ``normalise.control_dip_rates``; None unless the model fitted DIP rates)
    the posterior DIP metrics (:func:`line_metric_draws`). ``activity_aac_floor`` and
    ``min_cohort_patients``: see :func:`summary_tables`. ``check_flags``
    (drug, line, flags; ``residuals.line_checks``) adds the residual checks'
    flags to the fits' own.
    Returns the written paths by kind."""
    from .store import atomic_path, open_inference_data, write_text_atomic, write_zarr_atomic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if control_doublings is not None and not np.isfinite(control_doublings.values).any():
        control_doublings = None
    ds = metric_draws_dataset(
        (line_metric_draws(open_inference_data(p), control_doublings=control_doublings,
                           control_dip_rates=control_dip_rates) for p in fit_paths),
        max_draws, activity_aac_floor)
    # which fits the tables came from (results/fits, or results/refits), for results.open_fit
    ds.attrs["fits_folder"] = Path(fit_paths[0]).parent.name if fit_paths else "fits"
    patient_table, line_table = summary_tables(
        ds, pd.concat([line_flags_from_tables(lines_tsv_paths), check_flags]),
        failed_drugs_from_diagnostics(diagnostics_paths),
        activity_aac_floor, min_cohort_patients,
    )
    if growth is not None:  # per-curve fits cover every drug of the screen; the tables, the fitted ones
        growth = growth[growth["drug"].isin(ds.drug.values)]
    line_rows, patient_rows = _point_estimate_rows(shrinkage, growth)
    line_table = _sorted(pd.concat([line_table, *line_rows], ignore_index=True), ["patient", "line", "drug"],
                         LINE_TABLE_ORDER)
    patient_table = _sorted(pd.concat([patient_table, *patient_rows], ignore_index=True), ["patient", "drug"],
                            PATIENT_TABLE_ORDER)
    paths = {
        "patient_tsv": out_dir / "patient_drug.tsv",
        "line_tsv": out_dir / "line_drug.tsv",
        "patient_parquet": out_dir / "patient_drug.parquet",
        "line_parquet": out_dir / "line_drug.parquet",
        "metrics": out_dir / "metrics.zarr",
    }
    for table, kind in ((patient_table, "patient"), (line_table, "line")):
        write_text_atomic(paths[f"{kind}_tsv"],
                          table.to_csv(sep="\t", index=False, float_format="%.6g", na_rep="NaN", lineterminator="\n"))
        with atomic_path(paths[f"{kind}_parquet"]) as tmp:
            table.to_parquet(tmp, index=False, engine="pyarrow")
    write_zarr_atomic(ds, paths["metrics"])
    return paths


def _point_estimate_rows(shrinkage, growth) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Long-table rows (value in ``mean``) for the line and patient tables."""
    line_rows, patient_rows = [], []
    if shrinkage is not None and len(shrinkage):
        line_rows.append(shrinkage[["patient", "line", "drug"]].assign(
            metric="shrinkage", mean=shrinkage["shrinkage"], flags=""))
    if growth is not None and len(growth):
        growth = growth.rename(columns=PER_CURVE_NAMES)
        metrics = [name for name in GROWTH_METRICS if name in growth]
        long = growth.melt(id_vars=["patient", "line", "drug"], value_vars=metrics, var_name="metric",
                           value_name="mean").assign(flags="per_curve_fit")
        line_rows.append(long)
        patient_mean = long.groupby(["patient", "drug", "metric"])["mean"].agg(
            lambda values: values.mean() if values.notna().all() else np.nan)
        patient_rows.append(patient_mean.reset_index().assign(flags="per_curve_fit"))
    return line_rows, patient_rows


