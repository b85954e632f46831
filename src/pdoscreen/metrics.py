"""Dose-response metrics of the curve v(x) = E + (1 - E) / (1 + 10^(h (x - c))),
evaluated elementwise (on posterior draws) with numpy broadcasting.

x is log10 molar concentration; [x_min, x_max] is a drug's fixed reference range.
"""

from __future__ import annotations

import numpy as np

LN10 = np.log(10.0)


def softplus(z):
    return np.logaddexp(0.0, z)


def viability(x, c, h, e):
    return e + (1.0 - e) / (1.0 + np.exp(LN10 * h * (x - c)))


def aac(c, h, e, x_min, x_max):
    """Area above the curve, normalised to the range: 1 - (1/D) * integral of v.

    Closed form: integral = E D + (1 - E) [D - (S(x_max) - S(x_min)) / (h ln 10)],
    S(x) = softplus(ln10 h (x - c)), D = x_max - x_min.
    """
    width = x_max - x_min
    s_max = softplus(LN10 * h * (x_max - c))
    s_min = softplus(LN10 * h * (x_min - c))
    integral = e * width + (1.0 - e) * (width - (s_max - s_min) / (h * LN10))
    return 1.0 - integral / width


def log10_ic50(c, h, e):
    """The absolute IC50, where v(x) = 0.5: x = c - log10(1 - 2E) / h.
    NaN where the curve never reaches 50% (E >= 0.5)."""
    e = np.asarray(e, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        # v = 0.5  <=>  10^(h (x - c)) = (1 - E) / (0.5 - E) - 1 = 1 / (1 - 2E)
        value = c - np.log10(1.0 - 2.0 * e) / h
    return np.where(e < 0.5, value, np.nan)


def auc(c, h, e, x_min, x_max):
    """Area under the curve, normalised to the range: (1/D) * integral of v over
    [x_min, x_max], D = x_max - x_min; AUC = 1 - AAC (both on 0-1)."""
    return 1.0 - aac(c, h, e, x_min, x_max)


def emax(c, h, e, x_max):
    """Observed maximal effect: the fraction of cells killed at the top tested
    dose, 1 - v(x_max) (0-1). Not 1 - E, which is the effect at infinite dose."""
    return 1.0 - viability(x_max, c, h, e)


DSS_THRESHOLD = 10.0  # % inhibition


def dss(c, h, e, x_min, x_max, threshold=DSS_THRESHOLD, kind=3):
    """Drug sensitivity score DSS1, DSS2 or DSS3 (``kind``), on the 0-100 scale.

    Definition: Yadav et al. (2014) Sci Rep 4:5193, as computed by the ``DSS()``
    function of the authors' R package DSS (FIMM), the computation Breeze also
    uses. In that package's notation the response is % inhibition
    y(x) = d + (a - d) / (1 + 10^(b (c - x))), with bottom d = 0, top
    a = Rmax, slope b and inflection c (log10 concentration). Here
    inhibition = 100 (1 - v), so a = 100 (1 - E), b = h and c = c.

    With t = ``threshold`` (% inhibition) and x2 = x_max:

    * DSS = 0 when the inflection is at or beyond the top dose (c >= x_max), or
      when the curve never reaches the threshold (a <= t);
    * x1 = c - (ln(a - t) - ln(t)) / (b ln 10), where y crosses t, clamped to
      [x_min, x_max];
    * A = integral of (y - t) from x1 to x2, in closed form
      A = [a x + a ln(1 + 10^(b (c - x))) / (b ln 10)] from x1 to x2 - t (x2 - x1),
      set to 0 if negative;
    * DSS1 = 100 A / ((x2 - x_min) (100 - t));
      DSS2 = DSS1 / log10(a);
      DSS3 = DSS1 * (log10(100) / log10(a)) * (x2 - x1) / (x2 - x_min).

    Unlike the package, values are not rounded (it rounds to 8 decimals). The
    Breeze copy of the function also caps a at 100 and zeroes scores outside
    0-100; neither can happen here, since 0 < E < 1. The c >= x_max rule is
    the package's: a draw whose inflection lies past the top dose scores 0 even
    if its inhibition there exceeds t. NaN inputs give NaN. Vectorised over
    numpy arrays with broadcasting.
    """
    if kind not in (1, 2, 3):
        raise ValueError(f"DSS kind must be 1, 2 or 3, not {kind!r}")
    if not threshold > 0:
        raise ValueError("the DSS threshold (% inhibition) must be positive")
    c, h, e, x_min, x_max = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (c, h, e, x_min, x_max)))
    t = float(threshold)
    a = 100.0 * (1.0 - e)
    active = (a > t) & (c < x_max) & (h > 0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        x1 = c - (np.log(a - t) - np.log(t)) / (h * LN10)
        x1 = np.clip(x1, x_min, x_max)

        def antiderivative(x):  # of a / (1 + 10^(b (c - x))), overflow-safe
            return a * x + a * softplus(LN10 * h * (c - x)) / (h * LN10)

        area = antiderivative(x_max) - antiderivative(x1) - t * (x_max - x1)
        area = np.maximum(area, 0.0)
        dss1 = 100.0 * area / ((x_max - x_min) * (100.0 - t))
        if kind == 1:
            value = dss1
        elif kind == 2:
            value = dss1 / np.log10(a)
        else:
            value = dss1 * (2.0 / np.log10(a)) * (x_max - x1) / (x_max - x_min)
    nan = np.isnan(c) | np.isnan(h) | np.isnan(e) | np.isnan(x_min) | np.isnan(x_max)
    out = np.where(active, value, 0.0)
    out = np.where(nan, np.nan, out)
    return out if out.ndim else float(out)


# --- growth-rate inhibition (GR) of the same curve ------------------------------------
# Hafner et al. (2016): GR = 2^(log2(x / x0) / log2(x_ctrl / x0)) - 1 for a well
# read at x, its vehicle wells at x_ctrl and the line's time-zero wells at x0.
# The model's plate signal is x / x_ctrl = u(x) = r + (1 - r) v(x), with r the
# plate's floor (the signal of a well without cells, over the vehicle's). With
# d = log2(x_ctrl / x0), the doublings of the vehicle wells over the assay,
#
#     GR(x) = 2^(1 + log2(u(x)) / d) - 1.
#
# u in (r, 1] maps to GR in (2^(1 + log2(r) / d) - 1, 1]: GR falls below 0 where
# the curve takes the signal under the time-zero level (u < 2^-d), which is how a
# viability curve bounded at 0 carries a cytotoxic response. GR is undefined
# (NaN) where the vehicle wells did not grow (d <= 0).

GR50_LEVEL = 0.5


def gr_value(x, c, h, e, floor, doublings):
    """GR at log10 concentration ``x`` of the curve (c, h, e) on a plate with
    floor ``floor`` whose vehicle wells grew ``doublings`` (see above)."""
    u = floor + (1.0 - floor) * viability(x, c, h, e)
    with np.errstate(invalid="ignore", divide="ignore"):
        gr = 2.0 ** (1.0 + np.log2(u) / doublings) - 1.0
    return np.where(np.asarray(doublings) > 0, gr, np.nan)


def log10_gr50(c, h, e, floor, doublings):
    """Where GR = 0.5: u50 = 2^(d (log2 1.5 - 1)), the curve's viability there
    v50 = (u50 - r) / (1 - r), and x = c + log10((1 - v50) / (v50 - E)) / h.
    NaN where GR never falls to 0.5 (v50 <= E) or is undefined (d <= 0)."""
    c, h, e, floor, doublings = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (c, h, e, floor, doublings)))
    with np.errstate(invalid="ignore", divide="ignore"):
        u50 = 2.0 ** (doublings * (np.log2(1.0 + GR50_LEVEL) - 1.0))
        v50 = (u50 - floor) / (1.0 - floor)
        value = c + np.log10((1.0 - v50) / (v50 - e)) / h
    return np.where((doublings > 0) & (v50 > e), value, np.nan)


def grmax(c, h, e, floor, doublings, x_max):
    """GRmax (GRmetrics): GR at the top tested dose."""
    return gr_value(x_max, c, h, e, floor, doublings)


GR_AOC_POINTS = 129  # trapezoid nodes: within 2e-6 of 200,001 nodes for Hill slopes 0.5-5


def gr_aoc(c, h, e, floor, doublings, x_min, x_max):
    """GR_AOC (GRmetrics): the area over the GR curve across the tested range,
    1 - GR averaged over log10 concentration, by the trapezoid rule on
    ``GR_AOC_POINTS`` evenly spaced nodes (accumulated node by node, so draws x
    lines need no node axis)."""
    nodes = np.linspace(x_min, x_max, GR_AOC_POINTS)
    weights = np.full(GR_AOC_POINTS, 1.0 / (GR_AOC_POINTS - 1))
    weights[[0, -1]] /= 2.0
    area = 0.0
    for node, weight in zip(nodes, weights):
        area = area + weight * (1.0 - gr_value(node, c, h, e, floor, doublings))
    return area


# --- DIP rate (Harris et al. 2016) of the same curve ----------------------------------
# With growth.response dip the model fits, per well, u = 2^((k - k_c) W): the fold
# change over W hours at the well's DIP rate k, over its vehicle wells' (rate k_c).
# The curve's plate signal is u(x) = r + (1 - r) v(x) as above (r: the kill wells'
# fold change over the vehicle's), so the DIP rate it implies is
#
#     k(x) = k_c + log2(u(x)) / W,
#
# which falls below 0 (cells lost) where u(x) < 2^(-k_c W). As for thunor's fit of
# the rates, the DIP EC50 is where k(x) is halfway between k_c and its high-dose
# limit k_c + log2(u_inf) / W, u_inf = r + (1 - r) E: there log2 u = log2(u_inf) / 2.


def dip_log10_ec50(c, h, e, floor):
    """Where the curve's DIP rate is halfway to its high-dose limit (above):
    u_half = sqrt(u_inf), v_half = (u_half - r) / (1 - r) and
    x = c + log10((1 - v_half) / (v_half - E)) / h. Neither k_c nor W enters;
    NaN for a flat curve (E = 1)."""
    c, h, e, floor = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (c, h, e, floor)))
    v_half = (np.sqrt(floor + (1.0 - floor) * e) - floor) / (1.0 - floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = c + np.log10((1.0 - v_half) / (v_half - e)) / h
    return np.where((v_half > e) & (v_half < 1.0), value, np.nan)


def dip_emax(e, floor, control_rate, window_h):
    """The curve's high-dose DIP rate, k_c + log2(r + (1 - r) E) / W, in
    doublings per hour (as thunor's Emax of DIP rates: below 0 where the drug kills)."""
    return control_rate + np.log2(floor + (1.0 - floor) * np.asarray(e, dtype=float)) / window_h
