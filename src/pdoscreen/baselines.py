"""What most labs do now, for comparison: independent 4-parameter logistic fits
per line and drug on per-plate normalised viability (scipy, bounded TRF)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import curve_fit

from .metrics import aac
from .normalise import unflagged_signal

log = logging.getLogger(__name__)


def normalised_viability(screen: xr.Dataset) -> xr.DataArray:
    """(x - mean kill) / (mean vehicle - mean kill) per plate; kill level 0 without kill wells.
    Flagged wells are NaN and left out of the means (a dispense_failed well keeps its reading)."""
    signal = unflagged_signal(screen)

    def level(role):
        return signal.where(screen.role == role).mean("well")

    kill = level("kill").fillna(0.0)
    return (signal - kill) / (level("vehicle") - kill)

def _sigmoid(x, c, h, bottom, top=1.0):
    return bottom + (top - bottom) / (1 + 10 ** (h * (x - c)))


def _fit_sigmoid(x: np.ndarray, y: np.ndarray, lower: list, upper: list, start: list):
    """Least squares (bounded TRF) of ``_sigmoid``: parameters (c, h, bottom) with
    the top fixed at 1, or (c, h, bottom, top); None when the fit fails."""
    try:
        params, _ = curve_fit(_sigmoid, x, y, p0=start, bounds=(lower, upper), method="trf", maxfev=5000)
    except (RuntimeError, ValueError):
        return None
    return params


def fit_curve(x: np.ndarray, v: np.ndarray) -> dict:
    """Bounds as in Breeze: slope 0.1-2.5, EC50 within a decade of the tested range."""
    lower = [x.min() - 1, 0.1, 0.0, 0.5]
    upper = [x.max() + 1, 2.5, 1.0, 1.5]
    params = _fit_sigmoid(x, v, lower, upper, [np.median(x), 1.0, max(min(v.min(), 0.9), 0.0), 1.0])
    if params is None:
        return {"log10_ec50": np.nan, "hill": np.nan, "residual_viability": np.nan, "failed": True}
    c, h, e, top = params
    at_bound = any(np.isclose(p, b) for p, b in zip([c, h], [lower[0], lower[1]])) or np.isclose(c, upper[0])
    return {"log10_ec50": c, "hill": h, "residual_viability": e, "top": top, "failed": False, "at_bound": at_bound}


def gr_metrics(x: np.ndarray, gr: np.ndarray) -> dict:
    """GR50 and GRmax (Hafner et al. 2016) from a sigmoid fitted to the GR values
    of one curve, top fixed at 1: GR(x) = GRinf + (1 - GRinf) / (1 + 10^(h (x - c))).
    log10 GR50 = c + log10(0.5 / (0.5 - GRinf)) / h, NaN where GR never falls to
    0.5 (GRinf >= 0.5); GRmax = the fitted GR at the top tested dose."""
    params = _fit_sigmoid(x, gr, [x.min() - 1, 0.1, -1.0], [x.max() + 1, 5.0, 1.0],
                          [np.median(x), 1.0, float(np.clip(gr.min(), -0.99, 0.9))])
    area = gr_aoc(x, gr)  # from the data: there with or without a fit
    if params is None:
        return {"log10_gr50": np.nan, "grmax": np.nan, "grinf": np.nan, "gr_aoc": area, "failed": True}
    c, h, grinf = params
    with np.errstate(invalid="ignore", divide="ignore"):
        log10_gr50 = c + np.log10(0.5 / (0.5 - grinf)) / h if grinf < 0.5 else np.nan
    grmax = _sigmoid(x.max(), c, h, grinf)
    return {"log10_gr50": float(log10_gr50), "grmax": float(grmax), "grinf": float(grinf), "gr_aoc": area,
            "failed": False}


def gr_aoc(x: np.ndarray, gr: np.ndarray) -> float:
    """GR_AOC (GRmetrics): the area over the GR curve across the tested range,
    1 - GR averaged over log10 concentration by the trapezoid rule on each
    dose's mean GR; from the data, not the fitted curve."""
    doses = np.unique(x)
    mean_gr = np.array([gr[x == dose].mean() for dose in doses])
    return float(np.trapezoid(1.0 - mean_gr, doses) / (doses[-1] - doses[0]))


NO_DIP_FIT = {"dip_log10_ec50": np.nan, "dip_hill": np.nan, "dip_emax": np.nan, "failed": True}


def dip_metrics(x: np.ndarray, rate: np.ndarray, control_rate: float) -> dict:
    """DIP-rate EC50 and Emax (Harris et al. 2016, as thunor reports them) from
    a sigmoid fitted to one curve's DIP rates relative to its vehicle wells'
    rate, top fixed at 1: rate / control_rate = E + (1 - E) / (1 + 10^(h (x - c))).
    ``dip_log10_ec50`` is c; ``dip_emax`` = E * control_rate, the rate the
    curve tends to at high dose (doublings per hour, below 0 where the drug kills)."""
    if not control_rate > 0:
        raise ValueError(f"the vehicle wells' DIP rate is {control_rate:g}: they did not grow, so rates "
                         "relative to them are undefined")
    relative = rate / control_rate
    params = _fit_sigmoid(x, relative, [x.min() - 1, 0.1, -10.0], [x.max() + 1, 5.0, 1.0],
                          [np.median(x), 1.0, float(np.clip(relative.min(), -9.9, 0.9))])
    if params is None:
        return dict(NO_DIP_FIT)
    c, h, emax = params
    return {"dip_log10_ec50": float(c), "dip_hill": float(h), "dip_emax": float(emax * control_rate), "failed": False}


def per_curve_gr(screen: xr.Dataset) -> pd.DataFrame:
    """GR50, GRmax and GR_AOC per (line, drug) where the screen has GR values (time-zero plates)."""
    if "gr_value" not in screen or not np.isfinite(screen.gr_value.values).any():
        return pd.DataFrame(columns=["line", "patient", "drug", "log10_gr50", "grmax", "grinf", "gr_aoc", "failed"])
    frame = screen.gr_value.rename("gr").to_dataframe().reset_index()
    frame = frame[(frame.role == "treated") & np.isfinite(frame.gr)]
    frame["x"] = np.log10(frame.concentration_molar)
    return pd.DataFrame([
        {"line": line, "patient": wells.patient.iloc[0], "drug": drug,
         **gr_metrics(wells.x.to_numpy(), wells.gr.to_numpy())}
        for (line, drug), wells in frame.groupby(["line", "drug"])
    ])


def per_curve_dip(screen: xr.Dataset) -> pd.DataFrame:
    """DIP EC50 and Emax per (line, drug) where the screen has DIP rates (plates
    read over time): each line's control rate is the mean DIP rate of its
    vehicle wells; flagged wells are left out. A line whose vehicle wells did
    not grow gets no fit (``failed``), with a warning naming it."""
    columns = ["line", "patient", "drug", *NO_DIP_FIT]
    if "dip_rate" not in screen or not np.isfinite(screen.dip_rate.values).any():
        return pd.DataFrame(columns=columns)
    frame = screen.dip_rate.where(screen.flag == "").rename("rate").to_dataframe().reset_index()
    frame = frame[np.isfinite(frame.rate)]
    rows = []
    for line, wells in frame.groupby("line"):
        control_rate = wells.loc[wells.role == "vehicle", "rate"].mean()
        for drug, curve in wells[wells.role == "treated"].groupby("drug"):
            x = np.log10(curve.concentration_molar.to_numpy())
            try:
                fit = dip_metrics(x, curve.rate.to_numpy(), control_rate)
            except ValueError as error:
                log.warning("line %s, drug %s: no DIP fit: %s", line, drug, error)
                fit = dict(NO_DIP_FIT)
            rows.append({"line": line, "patient": curve.patient.iloc[0], "drug": drug, **fit})
    return pd.DataFrame(rows, columns=columns)


def per_curve_growth(screen: xr.Dataset) -> pd.DataFrame:
    """The GR and DIP per-curve metrics side by side, one row per (line, drug)
    that has either; a kind the screen has no data for adds no columns."""
    keys = ["line", "patient", "drug"]
    tables = [table.drop(columns="failed") for table in (per_curve_gr(screen), per_curve_dip(screen)) if len(table)]
    if not tables:
        return pd.DataFrame(columns=keys)
    merged = tables[0] if len(tables) == 1 else tables[0].merge(tables[1], on=keys, how="outer")
    return merged.sort_values(keys, ignore_index=True)


def per_curve_fits(screen: xr.Dataset) -> pd.DataFrame:
    """One fit per (line, drug) over all its plates' treated wells."""
    viab = normalised_viability(screen)
    frame = viab.rename("v").to_dataframe().reset_index()
    frame = frame[(frame.role == "treated") & np.isfinite(frame.v)]
    frame["x"] = np.log10(frame.concentration_molar)
    rows = []
    for (line, drug), wells in frame.groupby(["line", "drug"]):
        fit = fit_curve(wells.x.to_numpy(), wells.v.to_numpy())
        x_min, x_max = wells.x.min(), wells.x.max()
        fit["aac"] = float(aac(fit["log10_ec50"], fit["hill"], fit["residual_viability"], x_min, x_max))
        rows.append({"line": line, "drug": drug, **fit})
    return pd.DataFrame(rows)
