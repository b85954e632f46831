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
