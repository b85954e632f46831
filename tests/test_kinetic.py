"""Time courses (the IncuCyte reader and the kinetic blocks of Tecan Spark,
VICTOR Nivo and X3, SoftMax Pro) and growth-rate responses (GR value, DIP rate)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest
import scipy.stats
import xarray as xr

from pdoscreen.errors import InputError
from pdoscreen.growth import dip_rates, gr_values
from pdoscreen.ingest import ingest_plate
from pdoscreen.readers import TIME_COURSE_REGISTRY, detect, read_measurements, read_time_course
from pdoscreen.readers.base import FileSample
from pdoscreen.readers.timecourse import detect_time_course
from pdoscreen.samplesheet import load_sample_sheet
from pdoscreen.screen import build_screen, fitted_response, open_screen, plate_course
from pdoscreen.store import write_zarr_atomic

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


# --- The kinetic blocks of the plate readers (Tecan Spark, VICTOR, SoftMax Pro) ---

SPARK = "plate-reader/tecan-sparkcontrol-xlsx/tekan_spark.xlsx"
NIVO = "plate-reader/perkinelmer-victor-nivo-csv/nivo_output.csv"
X3 = "plate-reader/perkinelmer-victor-x3-txt/victorx3_output.txt"
SOFTMAX = "plate-reader/softmaxpro-txt/spectramax340_kinetic_partial_plate.txt"
COURSES = {
    SPARK: "tecan_spark_kinetic",
    NIVO: "victor-nivo-kinetic",
    X3: "victor-x3-kinetic",
    SOFTMAX: "softmax_kinetic",
    INCUCYTE: "incucyte",
}


def test_each_time_course_reader_claims_its_files_only(real_world):
    """Over every genuine file (exports, screens, layouts, dispenser logs): a
    time-course reader claims its own kinetic files and no other file, so
    detect_time_course names exactly one reader for each."""
    files = [p for p in sorted(real_world.rglob("*")) if p.is_file() and p.suffix != ".md"]
    assert len(files) > 30
    for path in files:
        sample = FileSample(path)
        claims = {name for name, reader in TIME_COURSE_REGISTRY.items() if reader.sniff(sample)}
        expected = COURSES.get(path.relative_to(real_world).as_posix())
        assert claims == ({expected} if expected else set()), path
    for path, reader in COURSES.items():
        assert detect_time_course(real_world / path) == reader


@pytest.mark.parametrize(
    ("path", "endpoint", "course"),
    [
        (SPARK, "tecan_spark_xlsx", "tecan_spark_kinetic"),
        (NIVO, "victor-nivo", "victor-nivo-kinetic"),
        (X3, "victor-x3", "victor-x3-kinetic"),
        (SOFTMAX, "softmax", "softmax_kinetic"),
    ],
)
def test_endpoint_readers_refuse_kinetic_files_naming_the_time_course_reader(real_world, path, endpoint, course):
    assert detect(real_world / path) == endpoint
    with pytest.raises(InputError, match=rf"kinetic read .*read_time_course \({course}\), or export the endpoint"):
        read_measurements(real_world / path)


def test_other_kinetic_refusals_keep_their_advice(tmp_path):
    """A kinetic read no time-course reader knows (a Magellan kinetic list)
    is told to export the endpoint, not sent to read_time_course."""
    book = openpyxl.Workbook()
    for row in (["Label1", "Label1", "Well positions"], ["0s", "60s", None], [0.1, 0.2, "A1"]):
        book.active.append(row)
    book.save(tmp_path / "kinetic.xlsx")
    with pytest.raises(InputError, match=r"kinetic read .*\. Export the endpoint") as error:
        read_measurements(tmp_path / "kinetic.xlsx")
    assert "read_time_course" not in str(error.value)


def test_spark_kinetic_time_axis_and_values(real_world):
    course = read_time_course(real_world / SPARK)
    assert course.attrs["reader"] == "tecan_spark_kinetic"
    assert course.attrs["label"] == "Label 1"
    assert course.attrs["read_time"] == "2023-04-18 13:22:05"  # the label's Start Time
    assert course["time"].attrs == {"units": "h", "origin": "Tecan Spark Time [s]: the kinetic loop's first cycle"}
    # Cycles 1 to 61, Time [s] 0 (row 47) to 1799.891 (row 107), every 30 s or so.
    times = course["time"].values
    assert len(times) == 61
    assert times[0] == 0 and times[1] == 29.849 / 3600 and times[-1] == 1799.891 / 3600
    assert course.signal.shape == (61, 8, 12)
    # Row 47 (cycle 1): A1 0.9969; row 77 (cycle 31, 899.871 s): C9 1.9909, D12 0.7835;
    # row 107 (cycle 61): A1 1.0469, A4 1.2827, C9 3.5695.
    at = course.sel(time=899.871 / 3600)
    assert float(at.signal.sel(row="C", column=9)) == 1.9909
    assert float(at.signal.sel(row="D", column=12)) == 0.7835
    assert float(course.signal.sel(row="A", column=1).isel(time=0)) == 0.9969
    last = course.isel(time=-1).signal
    assert [float(last.sel(row=r, column=c)) for r, c in (("A", 1), ("A", 4), ("C", 9))] == [1.0469, 1.2827, 3.5695]


def test_spark_kinetic_partial_plate(real_world):
    """Part of Plate A1-B12;C1-C9;D1-D12: C10-C12 and rows E-H are empty in
    every cycle and not measured."""
    flag = read_time_course(real_world / SPARK).flag
    measured = flag == ""
    assert int(measured.isel(time=0).sum()) == 45
    assert (measured.sel(row=["A", "B", "D"]).all()) and measured.sel(row="C", column=slice(1, 9)).all()
    assert (flag.sel(row="C", column=[10, 11, 12]) == "not_measured").all()
    assert (flag.sel(row=["E", "F", "G", "H"]) == "not_measured").all()


def test_spark_kinetic_table_one_column_per_cycle_reads_the_same(real_world, tmp_path):
    """The transposed layout (Cycle Nr. / Time [s] / Temp. rows, a row per
    well, a column per cycle) gives the same time course."""
    book = openpyxl.load_workbook(real_world / SPARK)
    sheet = book.active
    rows = [list(row) for row in sheet.iter_rows(min_row=46, max_row=107, values_only=True)]
    sheet.delete_rows(46, 62)
    sheet.insert_rows(46, 99)
    for j, column in enumerate(zip(*rows)):
        for i, cell in enumerate(column):
            sheet.cell(row=46 + j, column=1 + i, value=cell)
    turned = tmp_path / "turned.xlsx"
    book.save(turned)
    assert [c.value for c in sheet["A"][45:48]] == ["Cycle Nr.", "Time [s]", "Temp. [°C]"]
    original, transposed = read_time_course(real_world / SPARK), read_time_course(turned)
    assert transposed.attrs.pop("source_file") == "turned.xlsx"
    transposed.attrs["source_file"] = original.attrs["source_file"]
    xr.testing.assert_identical(transposed, original)


def test_nivo_kinetic_time_axis_and_values(real_world):
    course = read_time_course(real_world / NIVO)
    assert course.attrs["reader"] == "victor-nivo-kinetic"
    assert course.attrs["label"] == "ABS (F) - Kinetics"
    assert course.attrs["read_time"] == "10/3/2022 10:44:45 AM"
    assert course["time"].attrs["origin"] == "VICTOR Nivo Time(s): the kinetic run's first cycle"
    # Line 17: Well,Time(s),0.0,1772.1,...,28337.4: 17 cycles.
    times = course["time"].values
    assert len(times) == 17
    assert times[0] == 0 and times[1] == 1772.1 / 3600 and times[-1] == 28337.4 / 3600
    # Cycle 9 (14168.5 s): A2 0.210 (line 19), B3 0.139 (line 32); H12 cycle 17: 0.058.
    at = course.sel(time=14168.5 / 3600).signal
    assert float(at.sel(row="A", column=2)) == 0.210
    assert float(at.sel(row="B", column=3)) == 0.139
    assert float(course.signal.sel(row="H", column=12).isel(time=-1)) == 0.058
    assert (course.flag == "").all()  # the PLATE MAP marks all 96 wells


def _x3_one_label(real_world, tmp_path, keep: slice):
    """The real X3 file with one label's Time and value columns kept in the
    well list (the per-repeat plate blocks and the protocol left as they are)."""
    lines = (real_world / X3).read_bytes().split(b"\r\n")
    end = next(i for i, line in enumerate(lines) if line.startswith(b"Plate\tRepeat\tEnd time"))
    out = [b"\t".join(line.split(b"\t")[:4] + line.split(b"\t")[keep]) for line in lines[:end]]
    path = tmp_path / "x3_one_label.txt"
    path.write_bytes(b"\r\n".join(out + lines[end:]))
    return path


def test_x3_with_two_labels_is_refused_naming_them(real_world):
    with pytest.raises(InputError, match=r"2 labels \(Absorbance @ 600 \(A\), GFP \(Counts\)\); a time course is one"):
        read_time_course(real_world / X3)


@pytest.mark.parametrize(
    ("keep", "label", "first_s", "last_s", "values"),
    [
        # Repeat 1 starts with A01 at 00:00:41.29, repeat 17 at 08:11:05.72; repeat 9
        # (line 770, 04:05:53.37): A01 0.142; repeat 17 (line 1633): H12 0.039.
        (slice(4, 6), "Absorbance @ 600 (A)", 41.29, 8 * 3600 + 11 * 60 + 5.72, (0.142, 0.039)),
        # GFP's own Time column: A01 at 00:01:44.84 and 08:12:09.27; 1102 and 348 counts.
        (slice(6, 8), "GFP (Counts)", 104.84, 8 * 3600 + 12 * 60 + 9.27, (1102, 348)),
    ],
)
def test_x3_one_label_time_axis_and_values(real_world, tmp_path, keep, label, first_s, last_s, values):
    course = read_time_course(_x3_one_label(real_world, tmp_path, keep))
    assert course.attrs["reader"] == "victor-x3-kinetic"
    assert course.attrs["label"] == label
    assert "start of the run" in course["time"].attrs["origin"]
    times = course["time"].values
    assert len(times) == 17
    assert times[0] == first_s / 3600 and times[-1] == last_s / 3600
    # A scan's time is its repeat's first well (A01); H12 is read 47 to 51 s later.
    assert float(course.signal.sel(row="A", column=1).isel(time=8)) == values[0]
    assert float(course.signal.sel(row="H", column=12).isel(time=-1)) == values[1]
    assert (course.flag == "").all()


def test_x3_time_is_from_the_start_of_the_run(real_world):
    """The X3 Time column counts from 'Measured on' (12:36:26 PM): repeat 1's
    last GFP well, 00:02:36.20, ends 15 s before its 'End time' 12:39:17 PM."""
    text = (real_world / X3).read_text(encoding="latin-1")
    assert "Measured on ....................... 6/12/2022 12:36:26 PM" in text
    assert "1\t1\tH12\tM\t00:01:28.78\t0.038\t00:02:36.20\t318" in text
    assert "1\t1\t12:39:17 PM\t" in text
    start = datetime.strptime("12:36:26 PM", "%I:%M:%S %p")
    end = datetime.strptime("12:39:17 PM", "%I:%M:%S %p")
    assert 0 < (end - start).total_seconds() - (2 * 60 + 36.20) < 20


def test_softmax_kinetic_time_axis_and_values(real_world):
    course = read_time_course(real_world / SOFTMAX)
    assert course.attrs["reader"] == "softmax_kinetic"
    assert course.attrs["label"] == "Absorbance 405 nm"
    assert course["time"].attrs["origin"] == "SoftMax Pro read time: the kinetic run's first read"
    # Reads 0:00 (line 33), 0:30 (line 42), 1:00 (line 51): minutes and seconds,
    # as the Plate: line's 3 reads every 30 s say.
    np.testing.assert_array_equal(course["time"].values, [0, 30 / 3600, 60 / 3600])
    at = course.sel(time=30 / 3600).signal
    assert float(at.sel(row="A", column=2)) == 0.0565  # line 42
    assert float(at.sel(row="B", column=2)) == 0.1036  # line 43
    assert float(at.sel(row="B", column=10)) == 0.1023
    assert float(course.signal.sel(row="H", column=10).isel(time=-1)) == 0.1090  # line 58


def test_softmax_kinetic_partial_plate(real_world):
    """Columns 1, 11 and 12 are empty in every read: not measured."""
    flag = read_time_course(real_world / SOFTMAX).flag
    assert (flag.sel(column=[1, 11, 12]) == "not_measured").all()
    assert (flag.sel(column=slice(2, 10)) == "").all()


# Hand-made files modelled on the real ones, with the time stamps under test.


def _nivo(tmp_path, times: list[str], a1: list[str]):
    lines = [
        "WELL RESULTS", "", "PROTOCOL NAME,OD600", "", "3 OPERATION,ABS (F) - Kinetics", "",
        ",Cycle," + ",".join(str(n) for n in range(1, len(times) + 1)),
        "Well,Time(s)," + ",".join(times),
        "A1,," + ",".join(a1),
        "B1,," + ",".join(["0.1"] * len(times)),
        "PARAMETERS", "", "PLATE FORMAT,96 wells (8X12)",
    ]  # fmt: skip
    path = tmp_path / "nivo.csv"
    path.write_bytes("\r\n".join([*lines, ""]).encode())
    return path


def _x3(tmp_path, times: list[str], a01: list[str]):
    lines = ["Plate\tRepeat\tWell\tType\tTime\tAbsorbance @ 600 (A)"]
    for repeat, (time, value) in enumerate(zip(times, a01), start=1):
        lines += [f"1\t{repeat}\tA01\tM\t{time}\t{value}", f"1\t{repeat}\tA02\tM\t{time[:-1]}9\t0.05"]
    lines += ["Plate\tRepeat\tEnd time\tStart temp.\tEnd temp.\tBarCode", "", "Name of the plate type ... Generic 8x12"]
    path = tmp_path / "x3.txt"
    path.write_bytes("\r\n".join([*lines, ""]).encode())
    return path


def _spark_rows(times: list, a1: list) -> list[list]:
    rows = [
        ["Application: SparkControl", None, None, None, "V2.1"],
        ["Plate", None, None, None, "[Thermo_Immulon96ft] - Thermo Fisher Scientific"],
        [], ["Mode", "Kinetic"], [], ["Mode", "Absorbance"], ["Name", "Label 1"],
        ["Start Time", None, None, None, "2023-04-18 13:22:05"], [], ["Label 1"],
        ["Cycle Nr.", "Time [s]", "Temp. [°C]", "A1", "A2"],
    ]  # fmt: skip
    rows += [[str(n), t, 24.7, v, 0.1] for n, (t, v) in enumerate(zip(times, a1), start=1)]
    return [*rows, [], ["End Time", None, None, None, "2023-04-18 13:52:21"]]


def _spark(tmp_path, times: list, a1: list, kind: str = "xlsx"):
    rows = _spark_rows(times, a1)
    path = tmp_path / f"spark.{kind}"
    if kind == "xlsx":
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(row)
        book.save(path)
    else:
        path.write_text("\n".join(",".join("" if c is None else str(c) for c in row) for row in rows) + "\n")
    return path


def _softmax(tmp_path, times: list[str], interval: str = "30"):
    fields = ["Plate:", "Plate#1", "1.3", "TimeFormat", "Kinetic", "Absorbance", "Raw", "FALSE",
              str(len(times)), "60", interval, "", "", "", "1", "405", "1", "12", "96", "1", "8", "None"]  # fmt: skip
    lines = ["##BLOCKS= 1", "\t".join(fields), "\tTemperature(¡C)\tA1\tA2"]
    lines += [f"{time}\t37.00\t0.05{n}\t0.06" for n, time in enumerate(times)]
    path = tmp_path / "softmax.txt"
    path.write_bytes("\r\n".join([*lines, "~End", ""]).encode("cp1252"))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _nivo(p, ["0.0", "600.0", "600.0"], ["0.1"] * 3), r"line 8\): time point 0.166667 h repeats"),
        (lambda p: _nivo(p, ["0.0", "600.0", "300.0"], ["0.1"] * 3), r"line 8\): time point 0.0833333 h comes before"),
        (lambda p: _x3(p, ["00:00:40.00", "00:30:40.00", "00:30:40.00"], ["0.1"] * 3), r"line 6\): time point 0.5"),
        (lambda p: _x3(p, ["00:00:40.00", "00:30:40.00", "00:15:40.00"], ["0.1"] * 3), r"line 6\): time point 0.2"),
        (lambda p: _spark(p, [0, 30, 30], [0.1] * 3), r"line 14\): time point 0.00833333 h repeats"),
        (lambda p: _spark(p, [0, 60, 30], [0.1] * 3, "csv"), r"line 14\): time point 0.00833333 h comes before"),
        (lambda p: _softmax(p, ["0:00:00", "0:00:30", "0:00:30"]), r"line 6\): time point 0.00833333 h repeats"),
        (lambda p: _softmax(p, ["0:00:00", "0:01:00", "0:00:30"]), r"line 6\): time point 0.00833333 h comes before"),
    ],
)
def test_kinetic_time_stamps_out_of_order_are_refused(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as error:
        read_time_course(path)
    assert str(path) in str(error.value)


def test_hand_made_files_in_order_are_read(tmp_path):
    """The builders above make readable files: only the time stamps differ."""
    assert list(read_time_course(_nivo(tmp_path, ["0.0", "600.0"], ["0.1", "OVRFLW"])).time.values) == [0, 1 / 6]
    spark = read_time_course(_spark(tmp_path, [0, 29.849], [0.1, "OVER"], "csv"))
    np.testing.assert_array_equal(spark.time.values, [0, 29.849 / 3600])
    assert list(spark.flag.sel(row="A", column=1).values) == ["", "overflow"]
    x3 = read_time_course(_x3(tmp_path, ["00:00:40.00", "00:30:40.00"], ["0.1", "0.2"]))
    np.testing.assert_array_equal(x3.time.values, [40 / 3600, 1840 / 3600])
    assert list(read_time_course(_softmax(tmp_path, ["0:00", "0:30"])).time.values) == [0, 30 / 3600]


def test_spark_csv_times_take_the_files_decimal_comma(tmp_path):
    """A European CSV writes 29,849 s: a decimal comma, as the file's values
    (0,1234) show; read as 29849 s it would be eight hours."""
    rows = _spark_rows(["0", "29,849"], ["0,1234", "0,2345"])
    path = tmp_path / "spark.csv"
    cells = [["" if c is None else str(c).replace(".", ",") if isinstance(c, float) else c for c in r] for r in rows]
    path.write_text("\n".join(";".join(row) for row in cells) + "\n")
    course = read_time_course(path)
    np.testing.assert_array_equal(course.time.values, [0, 29.849 / 3600])
    assert list(course.signal.sel(row="A", column=1).values) == [0.1234, 0.2345]


def test_nivo_overflow_is_flagged(tmp_path):
    course = read_time_course(_nivo(tmp_path, ["0.0", "600.0"], ["0.1", "OVRFLW"]))
    assert list(course.flag.sel(row="A", column=1).values) == ["", "overflow"]
    assert np.isnan(course.signal.sel(row="A", column=1).values[1])


@pytest.mark.parametrize(
    ("times", "interval", "expected_h", "message"),
    [
        (["0:00", "0:30"], "1800", [0, 0.5], None),  # 0:30 as hours:minutes: the interval is 30 min
        (["0:00", "0:30"], "45", None, r"'0:30' could be minutes:seconds or hours:minutes.*\(45 s\)"),
        (["0:00", "0:30"], "", None, r"'0:30' could be minutes:seconds or hours:minutes.*\(none s\)"),
        (["59:30", "1:00:00"], "30", [59.5 / 60, 1.0], None),  # m:ss under an hour, then h:mm:ss
        (["0:00", "0.5"], "30", None, r"line 5\): read time '0.5' is not h:mm:ss or m:ss"),
    ],
)
def test_softmax_read_times_without_their_unit(tmp_path, times, interval, expected_h, message):
    """``0:30`` alone could be 30 s or 30 min: the Plate: line's kinetic
    interval (in seconds) decides, and without one that fits the file is refused."""
    path = _softmax(tmp_path, times, interval)
    if message:
        with pytest.raises(InputError, match=message):
            read_time_course(path)
    else:
        np.testing.assert_allclose(read_time_course(path).time.values, expected_h, rtol=1e-15)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _nivo(p, ["0.0"], ["0.1"]), "at least two scans; the file has 1"),
        (lambda p: _spark(p, [0], [0.1]), "at least two scans; the file has 1"),
        (lambda p: _softmax(p, ["0:00:00"]), "at least two scans; the file has 1"),
        (lambda p: _x3(p, ["00:00:40.00", "00:30"], ["0.1"] * 2), r"line 4\).*well A01: Time '00:30' is not HH:MM:SS"),
        (lambda p: _nivo(p, ["0.0", "10 min"], ["0.1"] * 2), r"line 8\): cycle time '10 min' is not a number"),
        (lambda p: _spark(p, [0, "30 s"], [0.1] * 2), r"line 13\): Time \[s\] '30 s' is not a number of seconds"),
    ],
)
def test_damaged_kinetic_files_are_refused(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        read_time_course(make(tmp_path))


def test_lost_cycles_and_reads_are_refused(tmp_path):
    lines = (_nivo(tmp_path, ["0.0", "600.0"], ["0.1"] * 2).read_text()).replace(",Cycle,1,2", ",Cycle,1,3")
    (tmp_path / "nivo.csv").write_text(lines)
    with pytest.raises(InputError, match=r"line 7\): the Cycle line numbers the cycles 1, 3 for 2 times"):
        read_time_course(tmp_path / "nivo.csv")
    rows = _spark_rows([0, 30, 60], [0.1] * 3)
    del rows[12]  # cycle 2
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(tmp_path / "spark.xlsx")
    with pytest.raises(InputError, match=r"line 13\): cycle 3 where cycle 2 belongs"):
        read_time_course(tmp_path / "spark.xlsx")
    x3 = _x3(tmp_path, ["00:00:40.00", "00:30:40.00"], ["0.1"] * 2)
    x3.write_bytes(x3.read_bytes().replace(b"\n1\t2\t", b"\n1\t3\t"))
    with pytest.raises(InputError, match=r"line 4\).*well A01: repeat 3 follows repeat 1"):
        read_time_course(x3)
    softmax = _softmax(tmp_path, ["0:00:00", "0:00:30", "0:01:00"])
    softmax.write_bytes(softmax.read_bytes().replace(b"\t3\t60\t30\t", b"\t4\t60\t30\t"))
    with pytest.raises(InputError, match=r"line 2\): the Plate: line of 'Plate#1' announces 4 reads, its block holds"):
        read_time_course(softmax)


# --- A time course as a sample-sheet plate -------------------------------------------------------


def _course_sheet(tmp_path, incucyte, extra: dict[str, str]):
    """A one-plate sample sheet for thunor's IncuCyte file (column 1 counted):
    A1 empty, B1-C1 vehicle, D1-H1 one drug at five doses."""
    layout = tmp_path / "layout.csv"
    layout.write_text("well,role,drug,concentration,unit\nB1,vehicle,DMSO,,\nC1,vehicle,DMSO,,\n"
                      + "".join(f"{w}1,treated,drugX,{c},uM\n" for w, c in zip("DEFGH", [10, 3, 1, 0.3, 0.1])))
    columns = {"plate": "IC1", "patient": "P1", "line": "P1-L1", "file": incucyte.name, "reader": "auto",
               "layout": "layout.csv", **extra}
    sheet = tmp_path / "sample_sheet.tsv"
    sheet.write_text("\t".join(columns) + "\n" + "\t".join(columns.values()) + "\n")
    return load_sample_sheet(sheet)


def test_a_time_course_plate_keeps_its_scans_in_the_screen_store(tmp_path, incucyte):
    sheet = _course_sheet(tmp_path, incucyte, {"timepoint_h": "120", "drug_added_h": "16"})
    plate = ingest_plate(sheet.iloc[0])
    # The endpoint is the scan 120 h after drug addition: 136 h on the instrument's clock, its last.
    np.testing.assert_array_equal(plate.signal.sel(column=1), [17, 8807, 9184, 10757, 8975, 11681, 6994, 5112])
    assert plate.attrs["measurement"] == "scan at 120 h after drug addition"
    screen = build_screen(sheet, {"IC1": plate})
    assert screen.course_signal.dims == ("plate", "time", "well")
    np.testing.assert_array_equal(screen.time_h.sel(plate="IC1"), np.arange(0, 137, 8) - 16)
    a1 = screen.course_signal.sel(plate="IC1", well="A01")
    assert a1.isel(time=0) == 3 and a1.isel(time=-1) == 17
    assert (screen.course_flag.sel(plate="IC1", well="A02") == "not_measured").all()
    # DIP rates from the stored course: the file's, on the time axis after drug addition.
    stored_rates = dip_rates(plate_course(screen, "IC1"), delay_h=24)
    file_course = read_time_course(incucyte)
    file_rates = dip_rates(file_course.assign_coords(time=file_course.time - 16), delay_h=24)
    np.testing.assert_array_equal(stored_rates.dip_rate.sel(well="C01"), file_rates.dip_rate.sel(row="C", column=1))
    assert stored_rates.n_time_points.sel(well="C01") == 13  # 24 to 120 h after drug addition
    assert "units" not in stored_rates.n_time_points.attrs  # not the signal's
    assert "dip_rate" not in screen  # no delay given, no DIP rates
    with_dip = build_screen(sheet, {"IC1": plate}, dip_delay_h=24)
    np.testing.assert_array_equal(with_dip.dip_rate.sel(plate="IC1"), stored_rates.dip_rate)
    assert with_dip.dip_flag.sel(plate="IC1", well="A01") == "non_positive_signal"  # A1 counts 0 after 24 h
    assert with_dip.dip_rate.attrs["delay_h"] == 24
    write_zarr_atomic(screen, tmp_path / "screen.zarr")
    stored = open_screen(tmp_path / "screen.zarr")
    xr.testing.assert_equal(stored.course_signal.load(), screen.course_signal)
    assert stored.time_h.attrs["description"] == "hours after drug addition"


def test_an_endpoint_plate_beside_a_time_course_has_no_scans(tmp_path, incucyte):
    sheet = _course_sheet(tmp_path, incucyte, {"timepoint_h": "120", "drug_added_h": "16"})
    course = ingest_plate(sheet.iloc[0])
    endpoint = course.drop_vars(["course_signal", "course_flag", "time_h"])
    screen = build_screen(pd.concat([sheet, sheet.assign(plate="IC2", line="P1-L2")]),
                          {"IC1": course, "IC2": endpoint})
    assert screen.time_h.sel(plate="IC2").isnull().all()
    assert (screen.course_flag.sel(plate="IC2") == "no_scan").all()
    with pytest.raises(InputError, match="plate IC2 was read once, not over time"):
        plate_course(screen, "IC2")
    with_dip = build_screen(pd.concat([sheet, sheet.assign(plate="IC2", line="P1-L2")]),
                            {"IC1": course, "IC2": endpoint}, dip_delay_h=24)
    assert (with_dip.dip_flag.sel(plate="IC2") == "no_time_course").all()
    assert with_dip.dip_rate.sel(plate="IC2").isnull().all()
    with pytest.raises(InputError, match=r"plate IC1: the time course ends 120 h after drug addition, before the "
                       r"DIP rate's delay \(growth.dip_delay_h 130 h\)"):
        build_screen(sheet, {"IC1": course}, dip_delay_h=130)
    assert screen.course_signal.sel(plate="IC2").isnull().all()


def test_dip_rates_as_the_fitted_response(tmp_path, incucyte):
    """growth.response dip: each well's signal is its DIP rate's fold change
    over the window; the endpoint scan is kept beside it, and a well without a
    rate carries its reason as its flag."""
    sheet = _course_sheet(tmp_path, incucyte, {"timepoint_h": "120", "drug_added_h": "16"})
    course = ingest_plate(sheet.iloc[0])
    endpoint = build_screen(sheet, {"IC1": course}, dip_delay_h=24)
    screen = build_screen(sheet, {"IC1": course}, dip_delay_h=24, dip_window_h=72)
    np.testing.assert_allclose(screen.signal, 2.0 ** (72 * endpoint.dip_rate), rtol=1e-12)
    xr.testing.assert_equal(screen.endpoint_signal, endpoint.signal)
    assert screen.signal.attrs["response"] == "dip" and screen.signal.attrs["dip_window_h"] == 72
    assert screen.flag.sel(plate="IC1", well="A01") == "non_positive_signal"
    assert screen.flag.sel(plate="IC1", well="A02") == "not_measured"  # column 2 was not counted
    assert (screen.flag.sel(plate="IC1").sel(well=[f"{r}01" for r in "BCDEFGH"]) == "").all()
    # percent of control follows the fitted response: the vehicle wells' mean is 100
    vehicle = screen.percent_of_control.sel(plate="IC1", well=["B01", "C01"])
    assert float(vehicle.mean()) == pytest.approx(100.0)
    assert fitted_response(screen) == "dip" and fitted_response(endpoint) == "endpoint"


def test_the_screen_command_needs_a_delay_for_dip_rates(tmp_path, caplog):
    from pdoscreen.cli import main

    assert main(["screen", "--sheet", str(tmp_path / "sheet.tsv"), "--plates-dir", str(tmp_path),
                 "--out", str(tmp_path / "screen.zarr"), "--response", "dip"]) == 1
    assert "--response dip needs --dip-delay-h" in caplog.text
    assert not (tmp_path / "screen.zarr").exists()


def test_dip_response_refuses_plates_read_once(tmp_path, incucyte):
    sheet = _course_sheet(tmp_path, incucyte, {"timepoint_h": "120", "drug_added_h": "16"})
    course = ingest_plate(sheet.iloc[0])
    endpoint = course.drop_vars(["course_signal", "course_flag", "time_h"])
    two = pd.concat([sheet, sheet.assign(plate="IC2", line="P1-L2")])
    with pytest.raises(InputError, match=r"growth.response dip fits DIP rates, and plates IC2 were read once"):
        build_screen(two, {"IC1": course, "IC2": endpoint}, dip_delay_h=24, dip_window_h=72)
    with pytest.raises(InputError, match="the screen has no plate read over time"):
        build_screen(sheet.assign(plate="IC2"), {"IC2": endpoint}, dip_delay_h=24, dip_window_h=72)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timepoint_h": "120"}, r"a time course \(18 scans at 0 to 136 h .*drug_added_h column"),
        ({"drug_added_h": "16"}, r"which scan is the endpoint read.*scans at -16, -8, 0, 8, .*, 120 h after"),
        ({"timepoint_h": "70", "drug_added_h": "16"}, r"no scan at timepoint_h 70 h after drug addition"),
        ({"timepoint_h": "120", "drug_added_h": "16", "measurement": "2"}, "a time course has one measurement"),
    ],
)
def test_a_time_course_plate_needs_both_times(tmp_path, incucyte, extra, message):
    sheet = _course_sheet(tmp_path, incucyte, extra)
    with pytest.raises(InputError, match=rf"incucyte.txt; plate IC1: (.*){message}"):
        ingest_plate(sheet.iloc[0])


def test_spark_kinetic_with_a_cycle_row_lost_is_refused(real_world, tmp_path):
    """A mutant of tests/test_mutations.py: the real workbook without worksheet
    row 70 (cycle 24). The table then stops at the gap, and cycles 25 to 61
    below it were passed over on the way to 'End Time': 23 cycles read as if
    the loop had ended there. Now refused, naming the first line past the gap."""
    import re
    import zipfile

    source = zipfile.ZipFile(real_world / SPARK)
    mutant = tmp_path / "spark_row_lost.xlsx"
    with zipfile.ZipFile(mutant, "w") as target:
        for item in source.infolist():
            member = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                member, removed = re.subn(rb'<row [^>]*?r="70"[^>]*?(?:/>|>.*?</row>)', b"", member, flags=re.DOTALL)
                assert removed == 1
            target.writestr(item, member)
    with pytest.raises(InputError, match=r"line 71\): the 'Cycle Nr.' table of 'Label 1' stops at an empty line"):
        read_time_course(mutant)


def test_x3_with_a_damaged_plate_cell_is_refused(real_world, tmp_path):
    """A mutant of tests/test_mutations.py: a Plate cell '#1' in repeat 13's
    C01 line ended the well list there, and repeats 13 to 17 were dropped
    without a word (12 scans read). Now refused, naming the line."""
    path = _x3_one_label(real_world, tmp_path, slice(4, 6))
    path.write_bytes(path.read_bytes().replace(b"\n1\t13\tC01\t", b"\n#1\t13\tC01\t"))
    with pytest.raises(InputError, match=r"well C01.*Plate '#1' is not a plate number"):
        read_time_course(path)


def test_x3_with_a_well_line_lost_is_refused(real_world, tmp_path):
    """A mutant of tests/test_mutations.py: repeat 2 without its A01 line took
    its time from A02, 0.32 s later, and was read without a flag on its wells."""
    path = _x3_one_label(real_world, tmp_path, slice(4, 6))
    lines = path.read_bytes().split(b"\r\n")
    lost = [line for line in lines if line.startswith(b"1\t2\tA01\t")]
    assert len(lost) == 1
    lines.remove(lost[0])
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(InputError, match=r"repeats 1 and 2 do not read the same wells \(A01 is in one only\)"):
        read_time_course(path)


def test_thunors_hdf5_dataset_is_refused_as_no_export(real_world):
    """hts007.h5 holds a whole time-course screen as thunor stores it: no
    instrument wrote it, and its pickled objects are unsafe to load."""
    path = real_world / "raw-screen-dataset/thunor-hts007/hts007.h5"
    for read in (detect, read_time_course):
        with pytest.raises(InputError, match=r"hts007.h5: this is an HDF5 file, .*thunor.*not a plate reader's export"):
            read(path)
