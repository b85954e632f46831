"""Growth-rate responses per well: the GR value from a time-zero read (Hafner
et al. 2016, as GRmetrics computes it) and the DIP rate from a time course
(Harris et al. 2016, as thunor fits it for a stated delay).

Pure functions over arrays; docs/growth.md gives the formulas and their limits.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

# A slope through two points says nothing about whether growth was exponential.
MIN_DIP_TIME_POINTS = 3
NOT_MEASURED = "not_measured"
TOO_FEW_TIME_POINTS = "too_few_time_points"
NON_POSITIVE_SIGNAL = "non_positive_signal"  # log2 undefined: an empty well, or background-subtracted counts
# growth.response: what the model fits per well (docs/growth.md, "DIP rates as the fitted response").
RESPONSES = ("endpoint", "dip")


def gr_values(signal: np.ndarray, x0: np.ndarray, x_ctrl: np.ndarray) -> np.ndarray:
    """Hafner et al. 2016: GR = 2^(log2(x/x0) / log2(x_ctrl/x0)) - 1, per well;
    ``x0`` and ``x_ctrl`` per plate. A zero reading gives -1 (every cell
    lost); NaN where GR is undefined (no time-zero level, controls that did
    not grow)."""
    x0, x_ctrl = x0[:, None], x_ctrl[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        gr = 2.0 ** (np.log2(signal / x0) / np.log2(x_ctrl / x0)) - 1.0
    return np.where(np.isfinite(gr), gr, np.nan)


def dip_rate(time_h: np.ndarray, signal: np.ndarray, delay_h: float) -> tuple[float, int, str]:
    """One well's DIP rate: the least-squares slope of log2(signal) against time
    over the scans at or after ``delay_h``, in doublings per hour. Returns
    (rate, number of scans used, flag); the rate is NaN when the flag is set."""
    measured = np.isfinite(signal)
    used = measured & (time_h >= delay_h)
    n = int(used.sum())
    if not measured.any():
        return np.nan, 0, NOT_MEASURED
    if (signal[used] <= 0).any():
        return np.nan, n, NON_POSITIVE_SIGNAL
    if n < MIN_DIP_TIME_POINTS:
        return np.nan, n, TOO_FEW_TIME_POINTS
    slope, _ = np.polyfit(time_h[used], np.log2(signal[used]), 1)
    return float(slope), n, ""


def dip_rates(course: xr.Dataset, delay_h: float) -> xr.Dataset:
    """Per well of a time course (``signal`` over ``time`` in hours, as
    :func:`pdoscreen.readers.read_time_course` returns it): ``dip_rate``,
    ``n_time_points`` and ``dip_flag``. The delay is the time after which
    growth is taken as exponential; scans before it are left out."""
    time_h = course["time"].values.astype(float)
    if course["time"].attrs.get("units") != "h":
        raise ValueError("the time course's time axis is not labelled in hours (units 'h')")
    if not 0 <= delay_h <= time_h[-1]:
        raise ValueError(f"delay {delay_h:g} h is outside the time course (0 to {time_h[-1]:g} h)")
    rate, n, flag = xr.apply_ufunc(
        lambda values: dip_rate(time_h, values, delay_h),
        course["signal"],
        input_core_dims=[["time"]],
        output_core_dims=[[], [], []],
        vectorize=True,
        keep_attrs=False,  # the signal's units are not the rate's
        output_dtypes=[float, int, object],
    )
    origin = course["time"].attrs.get("origin", "not stated")
    return xr.Dataset(
        {
            "dip_rate": rate.assign_attrs(
                units="1/h",
                description=f"slope of log2(signal) over time after {delay_h:g} h "
                f"(time origin: {origin}); doublings per hour",
                delay_h=delay_h,
            ),
            "n_time_points": n.assign_attrs(description="scans the slope was fitted to"),
            "dip_flag": flag.astype(str).assign_attrs(description="why a well has no DIP rate; empty when it has one"),
        }
    )


def dip_fold_change(rate: np.ndarray, window_h: float) -> np.ndarray:
    """The fold change of a well's cells over ``window_h`` hours at its DIP
    rate (doublings per hour), 2^(rate * window_h): positive for any rate, so
    the model's curve and noise apply to it as to an endpoint read, and below
    the vehicle wells' wherever the drug slowed growth or killed."""
    return 2.0 ** (np.asarray(rate, dtype=float) * window_h)
