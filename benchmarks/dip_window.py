"""How far the model's curve, fitted to DIP rates' fold changes, bends their
DIP EC50 and Emax away from a Hill curve's in the rates themselves.

With ``growth.response: dip`` the model fits u = 2^((k - k_c) W) per well, with
its curve u(x) = r + (1 - r) (E + (1 - E) s(x)); thunor fits a Hill curve to
the rates k(x) directly. When the rates follow a Hill curve exactly, u(x) is
not exactly the model's curve, and the best fit of the one to the other gives
DIP metrics (``metrics.dip_log10_ec50``, ``metrics.dip_emax``) slightly off
the Hill curve's. This script fits the model's curve by least squares to
noiseless fold changes of Hill-curve rates (true log10 EC50 -7, control rate
1/30 per hour, kill wells at -1/30, so r = 2^(-2 W / 30)) and prints the
largest errors per window W over Hill slopes and high-dose rates. No sampling: it bounds
what the curve's shape alone costs.

    python benchmarks/dip_window.py
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from pdoscreen import metrics

CONTROL_RATE = 1 / 30
TRUE_LOG10_EC50 = -7.0
X = np.linspace(-10.0, -4.0, 241)  # the tested range and beyond: 3 decades on either side


def errors(window_h: float, hill: float, relative_floor: float) -> tuple[float, float]:
    """(DIP EC50 error in decades, DIP Emax error in doublings per hour)."""
    rate = CONTROL_RATE * metrics.viability(X, TRUE_LOG10_EC50, hill, relative_floor)
    fold = 2.0 ** ((rate - CONTROL_RATE) * window_h)
    floor = 2.0 ** (-2 * CONTROL_RATE * window_h)

    def residual(p):
        c, log_h, logit_e = p
        e = 1 / (1 + np.exp(-logit_e))
        return floor + (1 - floor) * metrics.viability(X, c, np.exp(log_h), e) - fold

    c, log_h, logit_e = least_squares(residual, [TRUE_LOG10_EC50, 0.0, -2.0]).x
    e = 1 / (1 + np.exp(-logit_e))
    ec50 = metrics.dip_log10_ec50(c, np.exp(log_h), e, floor)
    emax = metrics.dip_emax(e, floor, CONTROL_RATE, window_h)
    return float(ec50 - TRUE_LOG10_EC50), float(emax - CONTROL_RATE * relative_floor)


def main() -> None:
    print("| window W (h) | kill / vehicle fold change | largest DIP EC50 error (decades) | "
          "largest DIP Emax error (% of the control rate) |")
    print("|---|---|---|---|")
    for window_h in (24.0, 48.0, 72.0, 96.0, 120.0):
        worst = np.array([[abs(v) for v in errors(window_h, hill, relative_floor)]
                          for hill in (0.7, 1.0, 2.0) for relative_floor in (0.25, 0.0, -0.5, -1.0)]).max(axis=0)
        kill = 2.0 ** (-2 * CONTROL_RATE * window_h)
        print(f"| {window_h:g} | {kill:.3f} | {worst[0]:.3f} | {100 * worst[1] / CONTROL_RATE:.1f} |")
    print("\nover Hill slopes 0.7, 1 and 2 and high-dose rates 0.25, 0, -0.5 and -1 times the control rate")


if __name__ == "__main__":
    main()
