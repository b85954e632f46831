"""Pooling on a sparse design and flat curves: the hierarchical model on
simulated screens with known truth, fitted with the default settings (a file
of its own so that pytest-xdist runs it beside test_model.py). Each statistical
assertion states how often it would fail by chance for a calibrated model."""

import numpy as np
import pytest

from conftest import fit_simulated as fit
from pdoscreen.baselines import per_curve_fits
from pdoscreen.simulate import Design

pytestmark = pytest.mark.usefixtures("jax_compilation_cache")


def test_pooling_beats_per_curve_fits_on_a_sparse_design():
    # Pooled errors are 0.50 (EC50) and 0.53 (AAC) of the per-curve fits' on this
    # sparse design (docs/benchmarks.md). The RMSE of 20 lines varies by
    # 1/sqrt(40) = 16% relative sd, so the log of the ratio of two such RMSEs by
    # at most 0.22 (independent errors; they share the data, so less): pooling
    # loses on this screen when that log moves 0.69 up, probability 9e-4 for each
    # metric at most, about 5e-6 with the errors' correlation of about 0.5.
    design = Design(n_patients=10, lines_per_patient=2, plates_per_line=1, n_doses=5, replicates=1,
                    dilution=10.0, tau_pat=0.3, tau_line=0.2, sigma_mult=0.12)
    ds, _, summary = fit(design, seed=2)
    independent = per_curve_fits(ds).merge(summary[["line", "log10_ec50", "aac"]], on="line", suffixes=("_fit", ""))

    def rmse(estimate, truth):
        return float(np.sqrt(np.mean((estimate - truth) ** 2)))

    pooled_c = rmse(summary.log10_ec50_mean, summary.log10_ec50)
    pooled_aac = rmse(summary.aac_mean, summary.aac)
    curve_c = rmse(independent.log10_ec50_fit, independent.log10_ec50)
    curve_aac = rmse(independent.aac_fit, independent.aac)
    assert pooled_c < curve_c and pooled_aac < curve_aac, (pooled_c, curve_c, pooled_aac, curve_aac)


def test_no_drug_effect_comes_out_flat():
    _, _, summary = fit(Design(n_patients=3, lines_per_patient=2, plates_per_line=1, flat=True), seed=3)
    # A flat line's AAC 95% quantile was below 0.05 for 103 of 104 lines in
    # docs/calibration.md; 0.1 lies more than 4 sd of a line's AAC error (0.018)
    # above that: probability under 1e-4 for each line, 6e-4 for the 6.
    assert (summary.aac_q95 < 0.1).all()
    # An IC50 within the range needs the curve to halve viability there, a
    # larger AAC still than the 0.1 above.
    assert summary["flags"].str.contains("ic50_not_reached").all()
    assert (summary.p_ic50_below_top_dose < 0.5).all()
