"""What most labs do now, for comparison: independent 4-parameter logistic fits
per line and drug on per-plate normalised viability (scipy, bounded TRF)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import curve_fit

from .metrics import aac

def normalised_viability(screen: xr.Dataset) -> xr.DataArray:
    """(x - mean kill) / (mean vehicle - mean kill) per plate; kill level 0 without kill wells."""
    def level(role):
        return screen.signal.where(screen.role == role).mean("well")

    kill = level("kill").fillna(0.0)
    return (screen.signal - kill) / (level("vehicle") - kill)

def fit_curve(x: np.ndarray, v: np.ndarray) -> dict:
    """Bounds as in Breeze: slope 0.1-2.5, EC50 within a decade of the tested range."""
    lower = [x.min() - 1, 0.1, 0.0, 0.5]
    upper = [x.max() + 1, 2.5, 1.0, 1.5]
    start = [np.median(x), 1.0, max(min(v.min(), 0.9), 0.0), 1.0]
    try:
        (c, h, e, top), _ = curve_fit(
            lambda x, c, h, e, top: e + (top - e) / (1 + 10 ** (h * (x - c))),
            x, v, p0=start, bounds=(lower, upper), method="trf", maxfev=5000,
        )
    except (RuntimeError, ValueError):
        return {"log10_ec50": np.nan, "hill": np.nan, "residual_viability": np.nan, "failed": True}
    at_bound = any(np.isclose(p, b) for p, b in zip([c, h], [lower[0], lower[1]])) or np.isclose(c, upper[0])
    return {"log10_ec50": c, "hill": h, "residual_viability": e, "top": top, "failed": False, "at_bound": at_bound}

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
