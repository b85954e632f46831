"""Time courses (the IncuCyte reader) and growth-rate responses (GR value, DIP rate)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
import scipy.stats
import xarray as xr

from pdoscreen.errors import InputError
from pdoscreen.growth import dip_rates, gr_values
from pdoscreen.readers import detect, read_time_course

INCUCYTE = "raw-screen-dataset/thunor-hts007/test_incucyte_minimal.txt"


@pytest.fixture
def incucyte(real_world, tmp_path):
    """thunor's IncuCyte export with the line end its last line lacks (the
    original is refused as possibly cut: see test_incucyte_without_final_line_end)."""
    path = tmp_path / "incucyte.txt"
    path.write_bytes((real_world / INCUCYTE).read_bytes() + b"\r\n")
    return path


def test_incucyte_without_final_line_end_is_refused(real_world):
    with pytest.raises(InputError, match=r"line 21\).*stops in the middle of its last line, after '5112'"):
        read_time_course(real_world / INCUCYTE)


def test_incucyte_time_axis_in_hours(incucyte):
    course = read_time_course(incucyte)
    assert course.attrs["reader"] == "incucyte"
    assert course["time"].attrs["units"] == "h"
    assert "Elapsed" in course["time"].attrs["origin"]
    np.testing.assert_array_equal(course["time"].values, np.arange(0, 137, 8))
    assert course.signal.dims == ("time", "row", "column")
    column_1 = course.signal.sel(column=1)
    np.testing.assert_array_equal(column_1.isel(time=0), [3, 796, 830, 992, 913, 1218, 518, 363])
    np.testing.assert_array_equal(column_1.isel(time=-1), [17, 8807, 9184, 10757, 8975, 11681, 6994, 5112])
    # Only column 1 was exported: the rest of the 96-well plate is not measured.
    assert (course.flag.sel(column=slice(2, None)) == "not_measured").all()
    assert (course.flag.sel(column=1) == "").all()


def test_incucyte_elapsed_is_hours_of_the_date_column(real_world):
    """Elapsed (the time axis) agrees with the Date Time column, whose format
    Excel changed halfway: 3/27/2018 2:20:00 PM to 04/02/18 06:20 is 136 h."""
    first = datetime.strptime("3/27/2018 2:20:00 PM", "%m/%d/%Y %I:%M:%S %p")
    last = datetime.strptime("04/02/18 06:20", "%m/%d/%y %H:%M")
    assert (last - first).total_seconds() / 3600 == 136
    text = (real_world / INCUCYTE).read_text()
    assert "3/27/2018 2:20:00 PM\t0\t" in text and "04/02/18 06:20\t136\t" in text


def test_endpoint_reading_refuses_a_time_course(real_world):
    with pytest.raises(InputError, match="this is a time course .IncuCyte.*read_time_course"):
        detect(real_world / INCUCYTE)


def _write(tmp_path, lines: list[str]):
    path = tmp_path / "course.txt"
    path.write_text("Label: \nMetric: Phase Object Count (1/Well)\n\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("elapsed", "message"),
    [((0, 8, 8), r"line 7\): time point 8 h repeats"), ((0, 16, 8), r"line 7\): time point 8 h comes before")],
)
def test_time_stamps_out_of_order_are_refused(tmp_path, elapsed, message):
    rows = [f"3/27/2018\t{t}\t10\t20" for t in elapsed]
    with pytest.raises(InputError, match=message):
        read_time_course(_write(tmp_path, ["Date Time\tElapsed\tA1\tB1", *rows]))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["x\t0\t10\t20", "x\t8\t10"], r"line 6\): scan line has 1 values for 2 wells"),
        (["x\t0\t10\t20", "x\t8\t10\t20\t30"], r"line 6\): scan line has 3 values for 2 wells"),
        (["x\t0\t10\t20", "x\t8,5\t10\t20"], r"line 6\): Elapsed '8,5' is not a number of hours"),
        (["x\t0\t10\t20", "x\t8\t10\tn/a"], r"well B01: value 'n/a' is neither a number"),
        (["x\t0\t10\t20"], "at least two scans; the file has 1"),
    ],
)
def test_damaged_scan_lines_are_refused(tmp_path, rows, message):
    with pytest.raises(InputError, match=message):
        read_time_course(_write(tmp_path, ["Date Time\tElapsed\tA1\tB1", *rows]))


def test_header_keys_become_attributes(tmp_path):
    course = read_time_course(_write(tmp_path, ["Date Time\tElapsed\tA1\tB1", "x\t0\t10\t20", "x\t8\t11\t22"]))
    assert course.attrs["metric"] == "Phase Object Count (1/Well)"
    assert "label" not in course.attrs  # an empty Label: line


def test_gr_values_by_hand():
    # x0 = 50, the controls grow to 200 (two doublings): x = 100 is one
    # doubling, GR = 2^(1/2) - 1; x = 50 no growth, GR 0; x = 25 half the
    # cells lost: 2^(-1/2) - 1; x = 0 every cell lost: GR's floor, -1.
    gr = gr_values(np.array([[200.0, 100.0, 50.0, 25.0, 0.0]]), np.array([50.0]), np.array([200.0]))
    np.testing.assert_allclose(gr[0], [1.0, 2**0.5 - 1, 0.0, 2**-0.5 - 1, -1.0], rtol=1e-12)
    # Controls that did not grow leave GR undefined: NaN, not a number from 0 / 0.
    assert np.isnan(gr_values(np.array([[50.0]]), np.array([50.0]), np.array([50.0]))).all()


def _course(time_h, signal) -> xr.Dataset:
    return xr.Dataset(
        {"signal": (("time", "well"), np.asarray(signal, dtype=float))},
        coords={"time": ("time", np.asarray(time_h, dtype=float), {"units": "h"})},
    )


def test_dip_rate_by_hand():
    time_h = np.arange(0, 97, 12.0)
    doubling_20h = 100 * 2 ** (time_h / 20)  # 0.05 doublings per hour
    # Flat for the first 24 h (the drug not yet acting), then halving every 40 h.
    lagged = 1000 * 2 ** (-np.clip(time_h - 24, 0, None) / 40)
    rates = dip_rates(_course(time_h, np.stack([doubling_20h, lagged], axis=1)), delay_h=24)
    np.testing.assert_allclose(rates.dip_rate.values, [0.05, -1 / 40], rtol=1e-12)
    np.testing.assert_array_equal(rates.n_time_points.values, [7, 7])
    assert rates.dip_rate.attrs["units"] == "1/h"
    # Without the delay the flat start drags the slope towards 0.
    assert -1 / 40 < dip_rates(_course(time_h, lagged[:, None]), delay_h=0).dip_rate.item() < -0.02


def test_dip_rate_flags_wells_it_cannot_fit():
    time_h = [0, 24, 48, 72]
    signal = [[10, 10, np.nan, np.nan], [20, 0, 40, np.nan], [40, 80, np.nan, np.nan], [80, 160, 40, np.nan]]
    rates = dip_rates(_course(time_h, signal), delay_h=24)
    assert list(rates.dip_flag.values) == ["", "non_positive_signal", "too_few_time_points", "not_measured"]
    assert np.isnan(rates.dip_rate.values[1:]).all()
    with pytest.raises(ValueError, match="delay 100 h is outside the time course .0 to 72 h."):
        dip_rates(_course(time_h, signal), delay_h=100)


def test_dip_rates_of_the_real_incucyte_wells(incucyte):
    course = read_time_course(incucyte)
    rates = dip_rates(course, delay_h=0).sel(column=1)
    # Well A1 counts 0 to 17 cells: an empty well, no log-linear growth to fit.
    assert rates.dip_flag.sel(row="A").item() == "non_positive_signal"
    for row in "BCDEFGH":
        counts = course.signal.sel(row=row, column=1).values
        expected = scipy.stats.linregress(course.time.values, np.log2(counts)).slope
        assert rates.dip_rate.sel(row=row).item() == pytest.approx(expected, rel=1e-10)
    # The controls double about every 35-40 h.
    assert 0.025 < rates.dip_rate.sel(row="B").item() < 0.03
