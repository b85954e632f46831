"""Treated wells against the fit (pdoscreen.residuals): curve misfits and
spatial artefacts, on InferenceData built directly with known truth (no
sampler): the posterior predictive draws are the true plate curve plus noise,
and the observed wells carry an injected artefact or none. Each statistical
assertion states how often it would fail by chance (normal well noise, as
drawn here); none more than 1 in 1,000 (scratch computations: exact over the
doses for curve_misfit, simulated residual maps for spatial_artefacts)."""

import re

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import seeded
from pdoscreen.geometry import geometry_for
from pdoscreen.metrics import viability
from pdoscreen.plots.qc import plate_residual_map
from pdoscreen.residuals import curve_misfit, line_checks, spatial_artefacts, well_residuals
from pdoscreen.simulate import Design, screen
from pdoscreen.summarize import line_metric_draws, metric_draws_dataset, summary_tables

GAIN, CV = 1e5, 0.08  # vehicle level (instrument units) and the wells' CV
DOSES = np.log10(1e-5 / 3.0 ** np.arange(9))
DRAWS = 400


def fit_of(plates: dict[str, list[str]], observed_factor, seed: int) -> az.InferenceData:
    """A fake one-drug fit: per plate (line = plate) its wells, doses cycled
    over them; predictive draws and observed wells from the true curve with
    CV noise, the observed ones times ``observed_factor(plate, well, x)``
    (``seed`` shifted by PDOSCREEN_TEST_SEED)."""
    rng = np.random.default_rng(seeded(seed))
    obs = [(p, w, DOSES[i % len(DOSES)]) for p, wells in plates.items() for i, w in enumerate(wells)]
    plate, well, x = (np.array(v) for v in zip(*obs))
    mean = GAIN * viability(x, -6.5, 1.2, 0.1)
    y_rep = mean * (1 + CV * rng.standard_normal((1, DRAWS, len(mean))))
    factor = np.array([observed_factor(p, w, d) for p, w, d in obs])
    observed = mean * (1 + CV * rng.standard_normal(len(mean))) * factor
    idata = az.from_dict(
        posterior={"log_gain": np.full((1, DRAWS, len(plates)), np.log(GAIN))},
        posterior_predictive={"y": y_rep},
        observed_data={"y": observed},
        constant_data={"obs_plate": plate, "obs_line": plate, "obs_well": well, "log10_conc_molar": x},
        coords={"plate": list(plates), "obs": np.arange(len(obs))},
        dims={"log_gain": ["plate"], "y": ["obs"], "obs_plate": ["obs"], "obs_line": ["obs"],
              "obs_well": ["obs"], "log10_conc_molar": ["obs"]},
    )
    idata.posterior.attrs.update(signal_scale=1.0, drug="drugA")
    return idata


def residuals_of(plates, observed_factor=lambda p, w, x: 1.0, seed=0) -> xr.Dataset:
    vehicle_cv = pd.Series(100 * CV, index=list(plates))
    return well_residuals(fit_of(plates, observed_factor, seed), vehicle_cv)


# ---------------------------------------------------------------- curve misfit

# 20 lines of 9 doses x 3 wells on 96-well plates.
LINES = {f"L{i}": geometry_for(96).wells[:27] for i in range(20)}
# A clean well's residual is v (e - m), v the curve's viability at its dose, e
# its N(0, 1) noise and m the median of its 400 predictive draws (variance
# 0.0039), so a dose's t is N(0, 1.004 v^2). Two neighbouring doses beyond 3 on
# one side, summed exactly over the 9 doses (v 0.11 to 1.0): 7.9e-6 per clean
# line, 1.5e-4 for 19 lines, 1.6e-4 for 20. (The module's 1 in 10,000 is for
# v = 1 at every dose.)


def test_clean_curves_are_not_flagged():
    # False failure 1.6e-4 (20 clean lines, above).
    table = curve_misfit(residuals_of(LINES))
    assert len(table) == 20 and not table["curve_misfit"].any()


def test_a_curve_shifted_at_its_lowest_doses_is_flagged_with_them():
    # The CLL case: the four lowest doses read half the curve on line L3.
    lowest = set(DOSES[-4:])
    half = lambda plate, well, x: 0.5 if plate == "L3" and x in lowest else 1.0  # noqa: E731
    table = curve_misfit(residuals_of(LINES, half)).set_index("line")
    # L3's four lowest doses read t = -10.0 to -10.8 (sd 0.5 v), 15 sds beyond
    # -3; its fifth-lowest (v 0.78) joins the run by chance with probability
    # 6e-5 (normal tail); a clean line is flagged with 1.5e-4 for the 19:
    # false failure 2.1e-4. A check that found no runs would flag no line.
    assert table["curve_misfit"].tolist() == [line == "L3" for line in table.index]
    doses = [float(v) for v in table.loc["L3", "misfit_log10_conc_molar"].split(",")]
    assert doses == pytest.approx(sorted(lowest), abs=1e-3)
    reason = table.loc["L3", "reason"]
    assert "4 consecutive doses" in reason and "below the posterior curve" in reason


def test_a_biphasic_curve_is_flagged():
    # Viability climbs back to 0.5 at the two top doses, where the curve has
    # reached its floor (about 0.1): 5 vehicle SDs above it per well.
    top = set(DOSES[:2])
    def rise(plate, well, x):
        return 0.5 / viability(x, -6.5, 1.2, 0.1) if plate == "L0" and x in top else 1.0

    table = curve_misfit(residuals_of(LINES, rise)).set_index("line")
    # t = 7.6 and 8.4 (sd 0.5) at the two top doses, 9 sds beyond 3; the 19
    # clean lines stay unflagged but for 1.5e-4 (above).
    assert table.loc["L0", "curve_misfit"] and "above" in table.loc["L0", "reason"]
    assert table["curve_misfit"].sum() == 1


# ---------------------------------------------------------------- spatial artefacts

WELLS_384 = geometry_for(384).wells
# 300 treated wells: every well but the outer ring's (76) and 8 more.
INTERIOR = [w for w in WELLS_384 if w[0] not in "AP" and w[1:] not in ("01", "24")][:300]
PLATES = {f"P{i}": INTERIOR for i in range(6)}
# A dim zone: rows E-L, columns 8-15 (64 wells, 21 % of the treated wells).
ZONE = {f"{r}{c:02d}" for r in "EFGHIJKL" for c in range(8, 16)}
# A clean plate is flagged only with a region (a smoothed residual beyond 2)
# and p <= 0.001. Simulated clean residual maps: 4 of 2,000,000 of these
# plates had a region (none of the 4 with p <= 0.001), 95% upper bound 4.6e-6
# a plate; 4 of 1,000,000 of LINES' 27-well plates, 9.2e-6 a plate.


def test_clean_plates_show_no_spatial_artefact():
    # False failure 2.8e-5 at most (6 clean plates, above); the permutation
    # test alone would flag each with probability 0.001.
    table = spatial_artefacts(residuals_of(PLATES, seed=3), seed=seeded(0))
    assert len(table) == 6 and not table["spatial_artefact"].any()


def test_an_interior_dim_zone_is_flagged_with_its_region():
    dim = lambda plate, well, x: 0.7 if plate == "P2" and well in ZONE else 1.0  # noqa: E731
    table = spatial_artefacts(residuals_of(PLATES, dim, seed=4), seed=seeded(0)).set_index("plate")
    # P2's Moran's I lies 11-14 permutation sds above the permutations' mean
    # (20 simulated maps), so no permutation of 999 reaches it: p = 0.001. The
    # 5 clean plates: 2.3e-5 at most (above).
    assert table["spatial_artefact"].tolist() == [plate == "P2" for plate in table.index]
    # The 3 x 3 smoothing blurs the zone's rim, so the region found lies within
    # a row or column of the zone's rim and covers most of it; its wells' mean
    # residual is -2.13 (sd 0.13), as the zone's wells read -3.75 v. Over
    # 2,000,000 simulated P2 maps these bounds failed 56 times (2.8e-5, 95%
    # upper bound 3.5e-5). (Rows E-F to K-L, columns 8-9 to 14-15 and a mean
    # below -2, before, failed 15% of them.) A region over the whole plate or
    # outside the zone, or a mean over the plate's wells (-0.5), fails.
    first_row, last_row, first_column, last_column = re.fullmatch(
        r"rows (\w)-(\w), columns (\d+)-(\d+)", table.loc["P2", "region"]).groups()
    assert "D" <= first_row <= "F" and "K" <= last_row <= "M"
    assert 7 <= int(first_column) <= 9 and 14 <= int(last_column) <= 16
    assert table.loc["P2", "region_mean_sd"] < -1.5 and "dim region" in table.loc["P2", "reason"]


def test_a_plate_without_a_vehicle_cv_is_refused():
    with pytest.raises(ValueError, match="no vehicle CV for plate"):
        well_residuals(fit_of({"P0": INTERIOR[:9]}, lambda p, w, x: 1.0, 0), pd.Series(8.0, index=["other"]))


# ---------------------------------------------------------------- wiring into the outputs


def curves_of(lines: list[str]) -> az.InferenceData:
    """Posterior curve draws for ``lines`` (each its own patient), as the summaries read them."""
    rng = np.random.default_rng(seeded(5))
    shape = (1, 50, len(lines))
    idata = az.from_dict(
        posterior={"c_line": -6.5 + 0.05 * rng.standard_normal(shape), "E_line": np.full(shape, 0.1),
                   "h_line": np.full(shape, 1.2)},
        constant_data={"line_patient": [f"patient-{line}" for line in lines]},
        coords={"line": lines}, dims={"c_line": ["line"], "E_line": ["line"], "h_line": ["line"],
                                      "line_patient": ["line"]},
    )
    idata.posterior.attrs.update(drug="drugA", x_min_log10_molar=DOSES.min(), x_max_log10_molar=DOSES.max(),
                                 method="NUTS", approximate=0)
    return idata


def test_the_checks_flags_reach_the_line_and_patient_rows():
    # L3's lowest doses at half the curve (a misfit); a dim zone on P2 (a spatial artefact).
    lowest = set(DOSES[-4:])
    half = lambda plate, well, x: 0.5 if plate == "L3" and x in lowest else 1.0  # noqa: E731
    dim = lambda plate, well, x: 0.7 if plate == "P2" and well in ZONE else 1.0  # noqa: E731
    residuals = xr.concat([residuals_of(LINES, half), residuals_of(PLATES, dim, seed=4)], dim="obs")
    checks = line_checks(residuals, spatial_artefacts(residuals, seed=seeded(0))).set_index("line")
    # False failure 4e-4: a clean line flagged curve_misfit (19 of LINES and 5
    # of PLATES, 7.9e-6 each: 1.9e-4), a clean plate flagged (19 of LINES' at
    # 9.2e-6, 5 of PLATES' at 4.6e-6: 2.0e-4), or L3's plate (in 2,000
    # simulated maps 6% or more of the permutations reached its Moran's I, so
    # all 999 fall below it with probability (1 - 0.06)^999 < 1e-26).
    assert checks.loc["L3", "flags"] == "curve_misfit" and checks.loc["P2", "spatial_artefact_plates"] == "P2"
    assert "spatial_artefact" in checks.loc["P2", "flags"].split(",")
    assert (checks.drop(["L3", "P2"])["flags"] == "").all()
    ds = metric_draws_dataset([line_metric_draws(curves_of(list(checks.index)))])
    fit_flags = pd.DataFrame({"drug": ["drugA"], "line": ["L3"], "flags": ["flat_curve"]})
    patients, lines = summary_tables(ds, pd.concat([fit_flags, checks.reset_index()]))
    l3 = lines.query("line == 'L3'")["flags"]
    assert l3.str.split(",").apply(lambda f: {"flat_curve", "curve_misfit"} <= set(f)).all()
    assert patients.query("patient == 'patient-P2'")["flags"].str.contains("spatial_artefact").all()
    assert not lines.query("line not in ['L3', 'P2']")["flags"].str.contains("misfit|spatial").any()


def test_the_residual_map_outlines_a_flagged_region():
    eight_drugs = Design(n_patients=1, lines_per_patient=1, plates_per_line=1, drugs=tuple("abcdefgh"))
    plate = screen(eight_drugs, seed=seeded(1))[0].isel(plate=0)
    assert plate.sizes["well"] == 384
    wells = pd.DataFrame({"well": sorted(ZONE), "residual_sd": -3.0})
    spatial = {"spatial_artefact": True, "region_first_well": "E08", "region_last_well": "L15",
               "reason": "dim region rows E-L, columns 8-15", "morans_i": 0.5, "p_value": 0.001, "n_wells": 64}
    figure = plate_residual_map(plate, wells, spatial)
    residual_axes = figure.axes[2]
    region = [p for p in residual_axes.patches if p.get_linestyle() == "--"]
    assert len(region) == 1 and region[0].get_xy() == (6.5, 3.5) and region[0].get_width() == 8
    grid = residual_axes.images[0].get_array()
    assert grid[4, 7] == -3.0 and grid.mask[0, 0]  # E08 in the zone; A01 has no residual
    assert "spatial_artefact: dim region" in " ".join(t.get_text() for t in figure.texts)
