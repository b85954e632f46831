"""Treated wells against the fit: curves that do not fit and spatial artefacts.

The model's heavy-tailed likelihood absorbs single wild wells, and a misfit
also inflates its noise terms, so its own predictive intervals can cover wells
that a whole dose series has pushed off the curve. These checks therefore
measure each treated well's distance from its plate's posterior predictive
median in units of the plate's replicate noise as its vehicle wells show it
(QC's vehicle CV times the plate's fitted vehicle level), which a misfit does
not inflate:

    z_w = (y_w - median of y_rep_w) / (vehicle_cv_p / 100 * A_p * s)

with A_p = exp(log_gain_p) at its posterior median and s the fit's signal
scale. Vehicle noise is at the top of the curve, where the multiplicative
noise is largest, so z_w is conservative at lower viability.

- :func:`curve_misfit`, per line: the doses whose standardised mean residual
  t_d = sum(z_w) / sqrt(n_d) passes ``t_max`` on the same side for at least
  ``min_doses`` consecutive doses (``curve_misfit``, with those doses).
- :func:`spatial_artefacts`, per plate, on the residuals of every drug on it:
  Moran's I of the residual map (neighbours: the 8 surrounding wells), with a
  permutation p-value, and the region where the smoothed residual is largest
  (``spatial_artefact`` with the rows and columns).
- :func:`line_checks`, per drug and line: both flags as the summary tables
  carry them (``curve_misfit``; ``spatial_artefact`` where the line's wells
  lie in a flagged plate's region).

Functions take and return labelled data (xarray, pandas); nothing is read or
written here: ``pdoscreen residual-checks`` (cli.py, the workflow's
``residual_checks`` rule) reads the fits and QC table and writes the tables.
See docs/qc.md.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from .geometry import parse_well, row_label, well_name
from .store import labels

# curve_misfit: |t_d| > 3 at one dose happens about 1 time in 370 without a
# misfit (normal residuals); at two neighbouring doses on the same side, about
# 1 line in 10,000 of 9 doses.
MISFIT_T_MAX = 3.0
MISFIT_MIN_DOSES = 2
# spatial_artefact: Moran's I beyond all but 1 in 1,000 permutations of the
# plate's residuals, and a region whose smoothed residual is 2 vehicle SDs off.
SPATIAL_P_MAX = 0.001
SPATIAL_REGION_Z = 2.0
PERMUTATIONS = 999
MIN_WELLS_FOR_SPATIAL = 20


def well_residuals(idata, vehicle_cv_pct: pd.Series) -> xr.Dataset:
    """One drug's treated wells (dim ``obs``) with ``residual_sd``, the
    residual in vehicle SDs (module docstring), and the observed signal and
    predictive median; ``vehicle_cv_pct`` by plate (``plates.tsv``'s
    ``vehicle_cv``)."""
    post, const = idata.posterior, idata.constant_data
    plates = labels(const["obs_plate"])
    missing = sorted(set(plates) - set(vehicle_cv_pct.index))
    if missing:
        raise ValueError(f"no vehicle CV for plate(s) {', '.join(missing)}")
    gain = pd.Series(np.exp(post["log_gain"].median(("chain", "draw")).values), index=labels(post["plate"]))
    vehicle_sd = vehicle_cv_pct.loc[plates].to_numpy() / 100 * gain.loc[plates].to_numpy() * float(
        post.attrs["signal_scale"])
    observed = idata.observed_data["y"].values
    predicted = np.median(idata.posterior_predictive["y"].values.reshape(-1, observed.size), axis=0)
    rows, columns = np.array([parse_well(w) for w in labels(const["obs_well"])]).reshape(-1, 2).T
    drug = str(post.attrs.get("drug", ""))
    return xr.Dataset(
        {
            "signal": ("obs", observed, {"units": "instrument units"}),
            "predicted_median": ("obs", predicted, {"units": "instrument units"}),
            "residual_sd": ("obs", (observed - predicted) / vehicle_sd,
                            {"units": "plate vehicle SDs", "description": "(y - predictive median) / vehicle SD"}),
        },
        coords={
            "drug": ("obs", np.full(observed.size, drug)),
            "plate": ("obs", plates),
            "line": ("obs", labels(const["obs_line"])),
            "well": ("obs", labels(const["obs_well"])),
            "row_index": ("obs", rows), "column_index": ("obs", columns),
            "log10_conc_molar": ("obs", const["log10_conc_molar"].values.astype(float)),
        },
    )


# ---------------------------------------------------------------- curve misfit


def dose_residuals(residuals: xr.Dataset) -> pd.DataFrame:
    """Per drug, line and dose: wells and t = sum of residual_sd / sqrt(n)."""
    frame = residuals.reset_coords().to_dataframe()
    grouped = frame.groupby(["drug", "line", "log10_conc_molar"])["residual_sd"]
    table = grouped.agg(n_wells="size", t=lambda z: z.sum() / np.sqrt(len(z))).reset_index()
    return table.sort_values(["drug", "line", "log10_conc_molar"], ignore_index=True)


def curve_misfit(residuals: xr.Dataset, t_max: float = MISFIT_T_MAX,
                 min_doses: int = MISFIT_MIN_DOSES) -> pd.DataFrame:
    """Per drug and line: ``curve_misfit`` (bool), the doses of the longest
    same-side run of |t| > ``t_max`` (log10 molar, comma-separated), the side
    of the curve they read (``misfit_side``: above or below) and a reason in
    words when flagged."""
    records = []
    for (drug, line), doses in dose_residuals(residuals).groupby(["drug", "line"], sort=False):
        run = _longest_run(doses["t"].to_numpy(), t_max)
        flagged = len(run) >= min_doses
        x = doses["log10_conc_molar"].to_numpy()[run]
        t = doses["t"].to_numpy()[run]
        reason = (f"{len(run)} consecutive doses (log10 M {', '.join(f'{v:.2f}' for v in x)}) read "
                  f"{'above' if t.mean() > 0 else 'below'} the posterior curve by {np.abs(t).min():.1f} "
                  f"to {np.abs(t).max():.1f} vehicle SDs (|t| > {t_max:g})") if flagged else ""
        records.append({"drug": drug, "line": line, "curve_misfit": flagged,
                        "misfit_log10_conc_molar": ",".join(f"{v:.3f}" for v in x) if flagged else "",
                        "misfit_side": ("above" if t.mean() > 0 else "below") if flagged else "",
                        "max_abs_t": float(np.abs(doses["t"]).max()), "reason": reason})
    return pd.DataFrame(records)


def _longest_run(t: np.ndarray, t_max: float) -> np.ndarray:
    """Indices of the longest run of consecutive values beyond ``t_max`` on one side."""
    side = np.where(t > t_max, 1, np.where(t < -t_max, -1, 0))
    best, start = np.array([], dtype=int), 0
    for i in range(1, len(side) + 1):
        if i == len(side) or side[i] != side[start]:
            if side[start] != 0 and i - start > len(best):
                best = np.arange(start, i)
            start = i
    return best


# ---------------------------------------------------------------- spatial artefacts


def spatial_artefacts(residuals: xr.Dataset, p_max: float = SPATIAL_P_MAX,
                      region_z: float = SPATIAL_REGION_Z, seed: int = 0) -> pd.DataFrame:
    """Per plate, over the treated wells of every drug in ``residuals``
    (concatenate the drugs' :func:`well_residuals` along ``obs``): Moran's I,
    its permutation p-value, the region (the wells whose neighbourhood mean
    residual is beyond ``region_z``, ``region_wells``, and their bounding
    box), and ``spatial_artefact`` when both are met."""
    frame = residuals.reset_coords().to_dataframe()
    rng = np.random.default_rng(seed)
    return pd.DataFrame([_plate_spatial(plate, wells, p_max, region_z, rng)
                         for plate, wells in frame.groupby("plate", sort=False)])


def _plate_spatial(plate: str, wells: pd.DataFrame, p_max: float, region_z: float, rng) -> dict:
    record = {"plate": plate, "n_wells": len(wells), "morans_i": np.nan, "p_value": np.nan,
              "spatial_artefact": False, "region": "", "region_first_well": "", "region_last_well": "",
              "region_wells": "", "region_mean_sd": np.nan, "reason": ""}
    if len(wells) < MIN_WELLS_FOR_SPATIAL:
        return record | {"reason": f"not tested: {len(wells)} treated wells < {MIN_WELLS_FOR_SPATIAL}"}
    # A well read for several drugs is one place on the plate: average it.
    wells = wells.groupby(["row_index", "column_index"], as_index=False)["residual_sd"].mean()
    z = wells["residual_sd"].to_numpy()
    rows, columns = wells["row_index"].to_numpy(), wells["column_index"].to_numpy()
    neighbours = ((np.abs(rows[:, None] - rows) <= 1) & (np.abs(columns[:, None] - columns) <= 1)).astype(float)
    np.fill_diagonal(neighbours, 0.0)
    observed = _morans_i(z, neighbours)
    permuted = np.array([_morans_i(rng.permutation(z), neighbours) for _ in range(PERMUTATIONS)])
    p_value = (1 + np.sum(permuted >= observed)) / (PERMUTATIONS + 1)
    # Neighbourhood means (the well and its neighbours) locate the region.
    smoothed = (z + neighbours @ z) / (1 + neighbours.sum(axis=1))
    inside = np.abs(smoothed) > region_z
    sign = np.sign(smoothed[inside].sum()) if inside.any() else 0
    inside &= np.sign(smoothed) == sign
    region, corners, members, mean = "", ("", ""), "", np.nan
    if inside.any():
        r, c = rows[inside], columns[inside]
        region = f"rows {row_label(r.min())}-{row_label(r.max())}, columns {c.min() + 1}-{c.max() + 1}"
        corners = (well_name(r.min(), c.min()), well_name(r.max(), c.max()))
        members = ",".join(well_name(i, j) for i, j in zip(r, c))
        mean = float(z[inside].mean())
    flagged = bool(p_value <= p_max and inside.any())
    reason = (f"treated-well residuals cluster (Moran's I = {observed:.2f}, permutation p = {p_value:.3g}); "
              f"{'dim' if mean < 0 else 'bright'} region {region}, mean residual {mean:+.1f} vehicle SDs"
              if flagged else "")
    return record | {"morans_i": float(observed), "p_value": float(p_value), "spatial_artefact": flagged,
                     "region": region, "region_first_well": corners[0], "region_last_well": corners[1],
                     "region_wells": members, "region_mean_sd": mean, "reason": reason}


def _morans_i(z: np.ndarray, weights: np.ndarray) -> float:
    """Moran's I = n / W * sum_ij w_ij d_i d_j / sum_i d_i^2, d = z - mean(z)."""
    d = z - z.mean()
    denominator = float(d @ d)
    if denominator == 0:
        return np.nan
    return float(len(z) / weights.sum() * (d @ weights @ d) / denominator)


# ---------------------------------------------------------------- the screen


def screen_residuals(fits: Iterable, vehicle_cv_pct: pd.Series) -> xr.Dataset:
    """Every drug's :func:`well_residuals` (one InferenceData per drug) along ``obs``."""
    parts = [well_residuals(idata, vehicle_cv_pct) for idata in fits]
    if not parts:
        raise ValueError("no fits to check")
    return xr.concat(parts, dim="obs")


def line_checks(residuals: xr.Dataset, spatial: pd.DataFrame, t_max: float = MISFIT_T_MAX,
                min_doses: int = MISFIT_MIN_DOSES) -> pd.DataFrame:
    """Per drug and line: ``flags`` as the summary tables carry them
    (``curve_misfit``; ``spatial_artefact`` where some of the line's wells of
    the drug are among a flagged plate's ``region_wells``), :func:`curve_misfit`'s
    columns, and ``spatial_artefact_plates``, those plates (comma-separated).
    ``spatial``: :func:`spatial_artefacts` of the same residuals."""
    table = curve_misfit(residuals, t_max, min_doses)
    wells = residuals.reset_coords()[["drug", "line", "plate", "row_index", "column_index"]].to_dataframe()
    flagged = spatial.loc[spatial["spatial_artefact"], ["plate", "region_wells"]]
    region = pd.DataFrame(
        [(row.plate, *parse_well(well)) for row in flagged.itertuples() for well in row.region_wells.split(",")],
        columns=["plate", "row_index", "column_index"]).astype({"row_index": int, "column_index": int})
    inside = wells.merge(region, on=["plate", "row_index", "column_index"])
    affected = inside.groupby(["drug", "line"])["plate"].agg(lambda p: ",".join(sorted(set(p))))
    table = table.merge(affected.rename("spatial_artefact_plates").reset_index(), on=["drug", "line"], how="left")
    table["spatial_artefact_plates"] = table["spatial_artefact_plates"].fillna("")
    flags = [[name for name, on in (("curve_misfit", misfit), ("spatial_artefact", bool(plates))) if on]
             for misfit, plates in zip(table["curve_misfit"], table["spatial_artefact_plates"])]
    table.insert(2, "flags", [",".join(f) for f in flags])
    return table
