"""Plate QC and normalisation: every metric against numbers worked out by hand
on small constructed 96-well plates, the decisions, the workflow stage on the
example screen, and the real CLL screen (no kill controls)."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from pdoscreen.errors import InputError
from pdoscreen.normalise import add_normalised, control_doublings
from pdoscreen.qc import NO_KILL_REASON, TIME_ZERO_REASON, Thresholds, plate_qc

REPO = Path(__file__).resolve().parents[1]
ROWS = "ABCDEFGH"
WELLS = [f"{r}{c:02d}" for r in ROWS for c in range(1, 13)]
TSV_COLUMNS = [
    "plate", "patient", "line", "z_prime", "z_prime_robust", "ssmd", "signal_window", "vehicle_cv",
    "kill_cv", "edge_ratio", "n_flagged_wells", "status", "reasons",
    "row_trend_pct", "column_trend_pct", "n_missing_wells", "n_dispense_failed", "n_control_outliers",
    "fit", "exclusion",
]

# Vehicle 100, 110, 90, 100: mean 100, deviations 0, 10, -10, 0,
#   SD = sqrt((0 + 100 + 100 + 0) / 3) = sqrt(66.6667) = 8.164966, CV = 8.164966 %,
#   median 100, MAD = median(0, 10, 10, 0) = 5 -> robust SD 1.4826 * 5 = 7.413.
# Kill 10, 12, 8, 10: mean 10, SD = sqrt((0 + 4 + 4 + 0) / 3) = sqrt(2.6667) = 1.632993,
#   CV = 16.32993 %, median 10, MAD = 1 -> robust SD 1.4826.
GOOD = {
    "vehicle": {"B02": 100, "C02": 110, "D02": 90, "E02": 100},
    "kill": {"B11": 10, "C11": 12, "D11": 8, "E11": 10},
    "treated": {"C05": 55, "D05": 30, "E05": 77},
}
# Overlapping controls: vehicle 100, 104, 96, 100 (mean 100, SD sqrt(32/3) = 3.265986),
# kill 90, 96, 84, 90 (mean 90, SD sqrt(72/3) = 4.898979).
FAILED = {
    "vehicle": {"B02": 100, "C02": 104, "D02": 96, "E02": 100},
    "kill": {"B11": 90, "C11": 96, "D11": 84, "E11": 90},
    "treated": {"C05": 95},
}


def make_screen(plates: dict[str, dict], flags: dict[str, dict] | None = None, **per_plate) -> xr.Dataset:
    """A screen store as build_screen writes it, on 96-well plates: wells not
    named are ``empty`` and read 1.0; ``flags`` maps plate -> {well: flag} (NaN signal)."""
    flags = flags or {}
    n = len(plates)
    signal = np.ones((n, len(WELLS)))
    role = np.full((n, len(WELLS)), "empty", dtype=object)
    flag = np.full((n, len(WELLS)), "", dtype=object)
    for i, (name, spec) in enumerate(plates.items()):
        for which, wells in spec.items():
            for well, value in wells.items():
                signal[i, WELLS.index(well)] = value
                role[i, WELLS.index(well)] = which
        for well, why in flags.get(name, {}).items():
            signal[i, WELLS.index(well)] = np.nan
            flag[i, WELLS.index(well)] = why
    coords = {
        "plate": list(plates),
        "well": WELLS,
        "row": ("well", [w[0] for w in WELLS]),
        "column": ("well", [int(w[1:]) for w in WELLS]),
        "role": (("plate", "well"), role.astype(str)),
        "patient": ("plate", per_plate.get("patient", ["P1"] * n)),
        "line": ("plate", per_plate.get("line", [f"L{i}" for i in range(n)])),
        "exclude": ("plate", per_plate.get("exclude", [""] * n)),
        "timepoint_h": ("plate", np.array(per_plate.get("timepoint_h", [np.nan] * n), dtype=float)),
    }
    return xr.Dataset({"signal": (("plate", "well"), signal), "flag": (("plate", "well"), flag.astype(str))}, coords)


def qc_row(screen: xr.Dataset, plate: str, thresholds: Thresholds | None = None) -> pd.Series:
    return plate_qc(screen, thresholds).set_index("plate").loc[plate]


# ---------------------------------------------------------------- metrics by hand


def test_control_metrics_by_hand():
    row = qc_row(make_screen({"good": GOOD}), "good")
    # Z' = 1 - 3 (8.164966 + 1.632993) / |100 - 10| = 1 - 29.393877 / 90 = 0.673401
    assert row.z_prime == pytest.approx(0.673401, abs=1e-6)
    # robust Z' = 1 - 3 (7.413 + 1.4826) / |100 - 10| = 1 - 26.6868 / 90 = 0.703480
    assert row.z_prime_robust == pytest.approx(0.703480, abs=1e-6)
    # SSMD = 90 / sqrt(66.6667 + 2.6667) = 90 / 8.326664 = 10.808650
    assert row.ssmd == pytest.approx(10.808650, abs=1e-6)
    assert row.signal_window == pytest.approx(100 / 10)
    assert row.vehicle_cv == pytest.approx(8.164966, abs=1e-6)
    assert row.kill_cv == pytest.approx(16.329932, abs=1e-6)
    assert row.status == "pass" and row.fit and row.exclusion == ""
    # All vehicle wells are inside the outer ring.
    assert math.isnan(row.edge_ratio)
    assert "edge ratio not computed: no measured vehicle wells in the plate's outer ring" in row.reasons


def test_edge_ratio_by_hand():
    edge = {
        # outer ring (row A or H, column 1 or 12): 80, 90, 85 -> median 85
        # interior: 100, 104, 96, 100 -> median 100; ratio 0.85, 15 % off
        "vehicle": {"A01": 80, "A12": 90, "H06": 85, "B02": 100, "C05": 104, "D08": 96, "E03": 100},
        "kill": {"B11": 4, "C11": 5, "D11": 6},
    }
    row = qc_row(make_screen({"edge": edge}), "edge")
    assert row.edge_ratio == pytest.approx(0.85)
    assert row.status == "warn"
    assert "edge ratio = 0.85: outer-ring vehicle wells differ from interior ones by 15% > 10% (warn)" in row.reasons
    # 8 % off is within the default 10 %.
    edge["vehicle"].update({"A01": 92, "A12": 92, "H06": 92})
    assert qc_row(make_screen({"edge": edge}), "edge").status == "pass"


def test_row_and_column_trends_by_hand():
    # Vehicle wells in rows B..G (index 1..6) of columns 2 and 6 (index 1 and 5),
    # signal = 200 + 4 row - 2 column: column 2 reads 202, 206, ..., 222, column 6
    # reads 194, 198, ..., 214; their median is (206 + 210) / 2 = 208, so the
    # trends are 4 / 208 = 1.923077 % per row and -2 / 208 = -0.961538 % per column.
    vehicle = {f"{ROWS[r]}{c + 1:02d}": 200 + 4 * r - 2 * c for r in range(1, 7) for c in (1, 5)}
    row = qc_row(make_screen({"gradient": {"vehicle": vehicle}}), "gradient")
    assert row.row_trend_pct == pytest.approx(1.923077, abs=1e-6)
    assert row.column_trend_pct == pytest.approx(-0.961538, abs=1e-6)


def test_flagged_wells_are_left_out_and_counted():
    flags = {
        "good": {
            "F02": "overflow",  # a vehicle well: left out, counted
            "C06": "saturated",  # a treated well: counted
            "D06": "not_measured",  # a treated well the reader skipped: missing, not flagged
            "H12": "overflow",  # an empty well: not counted
        }
    }
    spec = {**GOOD, "vehicle": {**GOOD["vehicle"], "F02": 0}, "treated": {**GOOD["treated"], "C06": 1, "D06": 1}}
    row = qc_row(make_screen({"good": spec}, flags), "good")
    assert row.n_flagged_wells == 2
    assert row.n_missing_wells == 1
    assert "n_missing_wells: 1 used wells not in the export" in row.reasons  # a partial plate says so
    assert row.z_prime == pytest.approx(0.673401, abs=1e-6)  # as without F02
    assert row.vehicle_cv == pytest.approx(8.164966, abs=1e-6)


# ---------------------------------------------------------------- decisions


def test_overlapping_controls_fail_with_reasons():
    row = qc_row(make_screen({"bad": FAILED}), "bad")
    # Z' = 1 - 3 (3.265986 + 4.898979) / 10 = 1 - 2.449490 = -1.449490
    assert row.z_prime == pytest.approx(-1.449490, abs=1e-6)
    # SSMD = 10 / sqrt(10.6667 + 24) = 10 / 5.887841 = 1.698416
    assert row.ssmd == pytest.approx(1.698416, abs=1e-6)
    assert row.vehicle_cv == pytest.approx(3.265986, abs=1e-6)
    assert row.status == "fail"
    assert row.reasons == (
        "Z' = -1.45 < 0 (fail); SSMD = 1.7 < 3 (fail); "
        "edge ratio not computed: no measured vehicle wells in the plate's outer ring; "
        "column trend not computed: all vehicle wells in one column"
    )
    assert not row.fit
    assert row.exclusion == "QC fail: Z' = -1.45 < 0 (fail); SSMD = 1.7 < 3 (fail)"
    refit = qc_row(make_screen({"bad": FAILED}), "bad", Thresholds(fit_failed_plates=True))
    assert refit.status == "fail" and refit.fit and refit.exclusion == ""


def test_no_kill_controls():
    plate = {"vehicle": GOOD["vehicle"], "treated": {"C05": 50}}
    row = qc_row(make_screen({"cll_like": plate}), "cll_like")
    for column in ["z_prime", "z_prime_robust", "ssmd", "signal_window", "kill_cv"]:
        assert math.isnan(row[column]), column
    assert row.vehicle_cv == pytest.approx(8.164966, abs=1e-6)
    assert NO_KILL_REASON in row.reasons
    assert row.status == "pass" and row.fit


def test_no_measured_vehicle_wells_fail_without_crashing():
    flags = {"blind": {w: "overflow" for w in GOOD["vehicle"]}}
    row = qc_row(make_screen({"blind": GOOD}, flags), "blind")
    assert row.status == "fail" and not row.fit
    assert "fewer than 2 measured vehicle wells" in row.reasons
    assert row.n_flagged_wells == 4


def test_warn_bands():
    # Vehicle 100, 120, 80, 100: SD = sqrt(800 / 3) = 16.329932, CV 16.33 % (warn).
    plate = {**GOOD, "vehicle": {"B02": 100, "C02": 120, "D02": 80, "E02": 100}}
    row = qc_row(make_screen({"noisy": plate}), "noisy")
    # Z' = 1 - 3 (16.329932 + 1.632993) / 90 = 0.401236 (warn);
    # SSMD = 90 / sqrt(266.6667 + 2.6667) = 5.483 (warn)
    assert row.z_prime == pytest.approx(0.401236, abs=1e-6)
    assert row.status == "warn" and row.fit
    assert row.reasons.startswith("Z' = 0.401 < 0.5 (warn); vehicle CV = 16.3% > 15% (warn); SSMD = 5.48 < 6 (warn)")


def test_thresholds_from_config_change_the_status():
    screen = make_screen({"good": GOOD})
    assert qc_row(screen, "good").status == "pass"
    stricter = Thresholds.from_config({"z_prime_warn": 0.7})
    row = qc_row(screen, "good", stricter)
    assert row.status == "warn" and "Z' = 0.673 < 0.7 (warn)" in row.reasons
    row = qc_row(screen, "good", Thresholds.from_config({"vehicle_cv_warn_pct": 5, "vehicle_cv_fail_pct": 8}))
    assert row.status == "fail" and "vehicle CV = 8.16% > 8% (fail)" in row.reasons and not row.fit
    with pytest.raises(InputError, match="unknown qc setting"):
        Thresholds.from_config({"z_prime_wran": 0.7})
    with pytest.raises(InputError, match="must not exceed"):
        Thresholds.from_config({"z_prime_fail": 0.6})


def test_schema_defaults_match_the_code():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    defaults = {k: v["default"] for k, v in schema["properties"]["qc"]["properties"].items()}
    assert Thresholds.from_config(defaults) == Thresholds()


def test_excluded_plates_keep_their_metrics():
    screen = make_screen({"good": GOOD, "bad": FAILED}, exclude=["contaminated", "spilled"])
    table = plate_qc(screen).set_index("plate")
    assert table.loc["good", "z_prime"] == pytest.approx(0.673401, abs=1e-6)
    assert table.loc["good", "reasons"].startswith("excluded in sample sheet: contaminated")
    assert table.loc["good", "status"] == "pass" and not table.loc["good", "fit"]
    assert table.loc["good", "exclusion"] == "excluded in sample sheet: contaminated"
    assert table.loc["bad", "exclusion"].startswith("excluded in sample sheet: spilled; QC fail: Z' = -1.45")


def test_table_columns_and_missing_variables():
    assert list(plate_qc(make_screen({"good": GOOD})).columns) == TSV_COLUMNS
    with pytest.raises(InputError, match="lacks role"):
        plate_qc(make_screen({"good": GOOD}).drop_vars("role"))


# ---------------------------------------------------------------- normalisation


def test_percent_of_control_and_inhibition():
    no_kill = {"vehicle": GOOD["vehicle"], "treated": {"C05": 50}}
    screen = add_normalised(make_screen({"good": GOOD, "no_kill": no_kill}))
    poc = screen.percent_of_control
    # (55 - 10) / (100 - 10) = 50 %; (30 - 10) / 90 = 22.2222 %; vehicle mean -> 100, kill mean -> 0
    assert float(poc.sel(plate="good", well="C05")) == pytest.approx(50.0)
    assert float(poc.sel(plate="good", well="D05")) == pytest.approx(22.222222, abs=1e-6)
    assert float(poc.sel(plate="good", well="B02")) == pytest.approx(100.0)
    assert float(poc.sel(plate="good", well="D11")) == pytest.approx(-2 / 90 * 100)
    assert float(screen.percent_inhibition.sel(plate="good", well="D05")) == pytest.approx(77.777778, abs=1e-6)
    # No kill wells: kill level 0, so 50 / 100 = 50 %.
    assert float(poc.sel(plate="no_kill", well="C05")) == pytest.approx(50.0)
    assert "no_kill" in poc.attrs["kill_level"] and poc.attrs["units"] == "%"


def test_flagged_control_wells_stay_out_of_the_control_levels():
    """A vehicle well whose DMSO transfer failed (a layout flag, its reading
    kept) moves neither the percent of control nor the GR's x_ctrl."""
    screen = make_screen({"good": GOOD}, {"good": {"B02": "dispense_failed"}})
    screen["signal"].loc[{"plate": "good", "well": "B02"}] = 1000.0  # make_screen reads flagged wells as NaN
    poc = add_normalised(screen).percent_of_control
    assert float(poc.sel(plate="good", well="C05")) == pytest.approx(50.0)
    assert np.isnan(poc.sel(plate="good", well="B02"))  # flagged: no normalised value


def test_gr_value_with_time_zero_plates():
    plates = {
        "L1-t0": {"vehicle": {"B02": 50, "C02": 48, "D02": 52}},  # median 50 = x0
        "L1-t72": {"vehicle": {"B02": 200, "C02": 190, "D02": 210}, "treated": {"C05": 100, "D05": 50, "E05": 25}},
        "L2-t72": {"vehicle": {"B02": 200}, "treated": {"C05": 100}},
    }
    screen = add_normalised(make_screen(plates, line=["L1", "L1", "L2"], timepoint_h=[0, 72, 72]))
    gr = screen.gr_value
    # x_ctrl = 200: log2(200 / 50) = 2.
    # x = 100: 2^(log2(2) / 2) - 1 = 2^0.5 - 1 = 0.414214
    assert float(gr.sel(plate="L1-t72", well="C05")) == pytest.approx(0.414214, abs=1e-6)
    # x = 50 = x0: no growth, GR 0; x = 25: 2^(-1 / 2) - 1 = -0.292893
    assert float(gr.sel(plate="L1-t72", well="D05")) == pytest.approx(0.0)
    assert float(gr.sel(plate="L1-t72", well="E05")) == pytest.approx(-0.292893, abs=1e-6)
    assert float(gr.sel(plate="L1-t72", well="B02")) == pytest.approx(1.0)
    # No time-zero plate for L2, and none for a time-zero plate itself.
    assert gr.sel(plate="L2-t72").isnull().all()
    assert gr.sel(plate="L1-t0").isnull().all()
    # A time-zero vehicle well whose dispense failed keeps its reading and stays out of x0.
    failed = make_screen({**plates, "L1-t0": {"vehicle": {**plates["L1-t0"]["vehicle"], "E02": 51}}},
                         {"L1-t0": {"E02": "dispense_failed"}}, line=["L1", "L1", "L2"], timepoint_h=[0, 72, 72])
    failed["signal"].loc[{"plate": "L1-t0", "well": "E02"}] = 5.0  # make_screen reads flagged wells as NaN
    np.testing.assert_array_equal(add_normalised(failed).gr_value.values, gr.values)
    # The same x0 and x_ctrl give the doublings the model's GR curves take.
    doublings = control_doublings(screen)
    assert float(doublings.sel(plate="L1-t72")) == pytest.approx(2.0)
    assert doublings.sel(plate=["L1-t0", "L2-t72"]).isnull().all()
    # Whatever its layout holds, a time-zero plate is not fitted: no drug had acted.
    qc = plate_qc(screen).set_index("plate")
    assert not qc.fit["L1-t0"] and qc.exclusion["L1-t0"] == TIME_ZERO_REASON
    assert qc.fit["L1-t72"]


def test_cli_names_a_missing_screen(tmp_path):
    command = ["qc", "--screen", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "q.tsv"),
               "--wells-out", str(tmp_path / "w.tsv")]
    run = subprocess.run([sys.executable, "-m", "pdoscreen", *command], capture_output=True, text=True)
    assert run.returncode == 1
    assert f"file {tmp_path / 'nope.zarr'}: screen store not found" in run.stderr


def test_cli_readers_lists_endpoint_then_time_course_readers(capsys):
    from pdoscreen.cli import main
    from pdoscreen.readers import REGISTRY, TIME_COURSE_REGISTRY

    assert main(["readers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    heading = lines.index("time-course readers (read_time_course):")
    assert lines[heading - 1] == ""
    endpoint = [line.split()[0] for line in lines[:heading - 1]]
    course = [line.split()[0] for line in lines[heading + 1:]]
    assert endpoint == sorted(REGISTRY) and course == sorted(TIME_COURSE_REGISTRY)
    assert "incucyte" in course and "incucyte" not in endpoint
    incucyte = lines[heading + 1 + course.index("incucyte")]
    assert incucyte == f"{'incucyte':24s} {TIME_COURSE_REGISTRY['incucyte'].description}"
