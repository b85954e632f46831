"""Normalised responses per plate and well, for people and for the per-curve
baselines (the model works on raw signal): percent of control and percent
inhibition from the plate's control wells, and the GR value from the line's
time-zero plates (growth.py computes it)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .growth import gr_values


def unflagged_signal(screen: xr.Dataset) -> xr.DataArray:
    """The signal with flagged wells NaN: a reader's flag leaves the signal NaN
    already, a layout's ``dispense_failed`` keeps the reading in the store."""
    return screen["signal"].where(screen["flag"] == "")


def control_levels(screen: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per plate: mean vehicle, mean kill (0 where there is none), whether kill
    wells exist, and median vehicle; flagged wells left out."""
    signal, role = unflagged_signal(screen).values, screen["role"].values

    def per_plate(which: str, reduce) -> np.ndarray:
        return np.array([reduce(s[(r == which) & np.isfinite(s)]) for s, r in zip(signal, role)])

    def safe(reduce):
        return lambda x: float(reduce(x)) if len(x) else np.nan

    mean_vehicle = per_plate("vehicle", safe(np.mean))
    mean_kill = per_plate("kill", safe(np.mean))
    has_kill = np.isfinite(mean_kill)
    return mean_vehicle, np.where(has_kill, mean_kill, 0.0), has_kill, per_plate("vehicle", safe(np.median))


def time_zero_levels(screen: xr.Dataset) -> np.ndarray:
    """x0 per plate: the median of the unflagged vehicle wells pooled over the
    time-zero plates (timepoint_h == 0) of the plate's line; NaN where the line has none,
    and for the time-zero plates themselves (and every plate of a screen
    without ``timepoint_h``)."""
    if "timepoint_h" not in screen.variables:
        return np.full(screen.sizes["plate"], np.nan)
    timepoint = screen["timepoint_h"].values.astype(float)
    lines = screen["line"].values.astype(str)
    signal, role = unflagged_signal(screen).values, screen["role"].values
    x0 = np.full(len(lines), np.nan)
    for line in np.unique(lines[timepoint == 0]):
        zero = (lines == line) & (timepoint == 0)
        pooled = signal[zero][(role[zero] == "vehicle") & np.isfinite(signal[zero])]
        if len(pooled):
            x0[(lines == line) & (timepoint > 0)] = np.median(pooled)
    return x0


def control_doublings(screen: xr.Dataset) -> xr.DataArray:
    """Per plate: log2(x_ctrl / x0), how many times the vehicle wells doubled
    between the line's time-zero read and this plate's read (x0 and x_ctrl as
    the GR values take them); NaN where the line has no time-zero plate, and
    for the time-zero plates themselves. The GR of the model's curves
    (``metrics.gr_value``) takes it."""
    median_vehicle = control_levels(screen)[3]
    with np.errstate(invalid="ignore", divide="ignore"):
        doublings = np.log2(median_vehicle / time_zero_levels(screen))
    return xr.DataArray(np.where(np.isfinite(doublings), doublings, np.nan), dims="plate",
                        coords={"plate": screen["plate"].values}, name="control_doublings",
                        attrs={"units": "doublings", "description": "log2(x_ctrl / x0) per plate"})


def stalled(doublings) -> np.ndarray:
    """Per plate, whether its vehicle wells did not grow (``control_doublings`` <= 0):
    GR is undefined there (log2 of x_ctrl/x0 <= 0), so such a plate gives no GR.
    False where the doublings are NaN (no time-zero plate)."""
    return np.asarray(doublings, dtype=float) <= 0


def add_normalised(screen: xr.Dataset) -> xr.Dataset:
    """The screen with ``percent_of_control``, ``percent_inhibition`` and
    ``gr_value`` per plate and well (for people and baselines; the model works
    on raw signal)."""
    mean_vehicle, kill_level, has_kill, median_vehicle = control_levels(screen)
    signal = unflagged_signal(screen).values  # a flagged well keeps no normalised value
    with np.errstate(divide="ignore", invalid="ignore"):
        poc = 100.0 * (signal - kill_level[:, None]) / (mean_vehicle - kill_level)[:, None]
    poc = np.where(np.isfinite(poc), poc, np.nan)
    no_kill = [str(p) for p in screen["plate"].values[~has_kill]]
    kill_note = (
        f"plates without kill-control wells use 0 as the kill level: {', '.join(no_kill)}"
        if no_kill
        else "every plate has kill-control wells"
    )
    x0 = time_zero_levels(screen)
    dims = ("plate", "well")
    screen = screen.copy()
    screen["percent_of_control"] = xr.Variable(dims, poc, attrs=POC_ATTRS | {"kill_level": kill_note})
    screen["percent_inhibition"] = xr.Variable(dims, 100.0 - poc, attrs=NPI_ATTRS | {"kill_level": kill_note})
    screen["gr_value"] = xr.Variable(dims, gr_values(signal, x0, median_vehicle), attrs=GR_ATTRS)
    return screen


POC_ATTRS = {
    "units": "%",
    "description": "percent of control: 100 (x - mean kill) / (mean vehicle - mean kill) per plate, "
    "flagged wells left out of the means and NaN themselves",
}
NPI_ATTRS = {"units": "%", "description": "normalised percent inhibition: 100 - percent_of_control"}
GR_ATTRS = {
    "units": "1",
    "description": "growth-rate inhibition value GR = 2^(log2(x/x0) / log2(x_ctrl/x0)) - 1 (Hafner 2016); "
    "x0 = median of the vehicle wells pooled over the line's time-zero plates (timepoint_h == 0), "
    "x_ctrl = the plate's own median vehicle signal; NaN where the line has no time-zero plate "
    "and on the time-zero plates themselves",
}


def control_dip_rates(screen: xr.Dataset) -> xr.DataArray:
    """Per plate of a screen whose signal is DIP rates' fold changes
    (``screen.dip_response``): the median DIP rate of its unflagged vehicle
    wells (doublings per hour), the k_c with which the model's curves give DIP
    metrics (``metrics.dip_emax``), with the fold changes' ``dip_window_h``."""
    rate = screen["dip_rate"].where((screen["flag"] == "") & (screen["role"] == "vehicle"))
    return rate.median("well").rename("control_dip_rate").assign_attrs(
        units="1/h", description="median DIP rate of the plate's unflagged vehicle wells",
        dip_window_h=float(screen["signal"].attrs["dip_window_h"]))
