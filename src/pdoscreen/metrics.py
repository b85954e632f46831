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
