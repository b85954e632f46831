"""Agilent/BioTek Gen5 readers (TXT and XLSX) on the real files."""

import math

import openpyxl
import pytest

from conftest import well_flag, well_value
from pdoscreen.errors import InputError
from pdoscreen.plate import read_plate
from pdoscreen.readers import detect, read_measurements

TXT = "plate-reader/gen5-txt"
NON_NUMERIC = f"{TXT}/240411_172731_BNCH2345883_abs450_96well_non_numeric_values.txt"
ROW_A_ONLY = f"{TXT}/absorbance_error_document_example.txt"
SINGLEPLATE = f"{TXT}/endpoint_singleplate.txt"
NO_RESULTS = f"{TXT}/luminescence_no_results_table.txt"
MULTI_READ = f"{TXT}/multiple_read_modes.txt"
XLSX = "plate-reader/gen5-xlsx/231031_pr_calibration_lid.xlsx"


@pytest.mark.parametrize(
    "name, reader",
    [
        (NON_NUMERIC, "gen5"),
        (ROW_A_ONLY, "gen5"),
        (SINGLEPLATE, "gen5"),
        (NO_RESULTS, "gen5"),
        (MULTI_READ, "gen5"),
        (XLSX, "gen5_xlsx"),
    ],
)
def test_detect(real_world, name, reader):
    assert detect(real_world / name) == reader


def test_overflow_and_missed_markers(real_world):
    path = real_world / NON_NUMERIC
    reader, measurements = read_measurements(path)
    assert [m.name for m in measurements] == ["abs450:450"]
    ds = read_plate(path)
    assert (ds.sizes["row"], ds.sizes["column"]) == (8, 12)
    assert well_value(ds, "A", 1) == 2.1
    assert well_value(ds, "A", 7) == 2.27
    assert well_value(ds, "H", 12) == 2.5
    assert math.isnan(well_value(ds, "A", 8)) and well_flag(ds, "A", 8) == "overflow"
    assert well_flag(ds, "H", 1) == "overflow"
    assert well_flag(ds, "D", 12) == "missed" and well_flag(ds, "H", 8) == "missed"
    assert int((ds.flag == "overflow").sum()) == 8
    assert int((ds.flag == "missed").sum()) == 5  # the file has 5 MISSED cells
    assert ds.attrs["reading_type"] == "Simulation"
    assert ds.attrs["instrument"] == "Synergy H1"
    assert "instrument_serial" not in ds.attrs  # "Unknown" in the file
    assert ds.attrs["read_time"] == "4/11/2024 5:27:15 PM"
    assert ds.attrs["software_version"] == "Gen5 3.12.08"
    assert ds.attrs["plate_number"] == "Plate 1"


def test_partial_plate_row_a_only(real_world):
    ds = read_plate(real_world / ROW_A_ONLY)
    assert ds.attrs["measurement"] == "260:260"
    assert (ds.sizes["row"], ds.sizes["column"]) == (8, 12)
    assert well_flag(ds, "A", 1) == "overflow"
    assert well_value(ds, "A", 2) == 0.56
    assert well_value(ds, "A", 12) == 0.65
    assert (ds.flag.sel(row=list("BCDEFGH")) == "not_measured").all()
    assert ds.attrs["instrument_serial"] == "12345678"
    assert ds.attrs["instrument"] == "Generic Reader"


def test_raw_and_normalised_lines_per_row(real_world):
    path = real_world / SINGLEPLATE
    reader, measurements = read_measurements(path)
    assert [m.name for m in measurements] == ["LUM:Lum", "NormLum"]
    assert [m.default for m in measurements] == [True, False]  # the raw read
    raw = read_plate(path)
    assert raw.attrs["measurement"] == "LUM:Lum"
    assert well_value(raw, "A", 1) == 8718
    assert well_value(raw, "A", 12) == 210
    assert well_value(raw, "H", 12) == 8490
    assert (raw.flag == "").all()
    norm = read_plate(path, measurement="NormLum")
    assert well_value(norm, "A", 1) == 99.846
    assert well_value(norm, "A", 12) == -0.02
    assert well_value(norm, "G", 1) == -0.027
    assert "instrument" not in norm.attrs  # "Reader Type: n/a"
    assert norm.attrs["reading_type"] == "Manual"


def test_bare_read_heading_384(real_world):
    path = real_world / NO_RESULTS
    reader, measurements = read_measurements(path)
    assert [m.name for m in measurements] == ["Lum"]
    ds = read_plate(path)
    assert (ds.sizes["row"], ds.sizes["column"]) == (16, 24)
    assert well_value(ds, "A", 1) == 337
    assert well_value(ds, "A", 2) == 72330
    assert well_value(ds, "A", 24) == 255
    assert well_value(ds, "P", 24) == 329
    assert (ds.flag == "").all()
    assert ds.attrs["instrument"] == "Cytation7"
    assert ds.attrs["instrument_serial"] == "1234"
    assert ds.attrs["software_version"] == "Gen5 3.10.06"


def test_three_interleaved_reads(real_world):
    path = real_world / MULTI_READ
    reader, measurements = read_measurements(path)
    assert [m.name for m in measurements] == ["od:600", "fluor:579,616", "fluor:479,520"]
    assert not any(m.default for m in measurements)  # three raw reads: the sheet must choose
    with pytest.raises(InputError, match="holds 3 measurements"):
        read_plate(path)
    od = read_plate(path, measurement="od:600")
    assert well_value(od, "A", 1) == 0.052
    assert well_value(od, "B", 1) == 0.124
    assert well_value(od, "H", 12) == 0.049
    red = read_plate(path, measurement="fluor:579,616")
    assert well_value(red, "A", 1) == 75
    assert well_value(red, "H", 12) == 61
    green = read_plate(path, measurement="fluor:479,520")
    assert well_value(green, "A", 1) == 418
    assert well_value(green, "H", 10) == 852
    assert green.attrs["label"] == "fluor:479,520"
    assert all((read_plate(path, measurement=str(i)).flag == "").all() for i in (1, 2, 3))


def test_xlsx_well_table_with_partial_plates(real_world):
    path = real_world / XLSX
    reader, measurements = read_measurements(path)
    assert reader == "gen5_xlsx"
    gains = range(30, 151, 10)
    assert [m.name for m in measurements] == (
        ["OD600:600", "OD700:700"]
        + [f"GFP {g}:485,530" for g in gains]
        + [f"GFP {g} TOP:485,530" for g in gains]
    )
    od = read_plate(path, measurement="OD600:600")
    assert (od.sizes["row"], od.sizes["column"]) == (8, 12)
    assert well_value(od, "E", 1) == 1.47
    assert well_value(od, "E", 2) == 1.054
    assert well_value(od, "H", 12) == 0.093
    assert (od.flag.sel(row=list("ABCD")) == "not_measured").all()  # read E1..H12 only
    gfp = read_plate(path, measurement="GFP 30:485,530")
    assert well_value(gfp, "A", 1) == 845
    assert well_value(gfp, "D", 12) == 2
    assert (gfp.flag.sel(row=list("EFGH")) == "not_measured").all()  # read A1..D12 only
    bright = read_plate(path, measurement="GFP 60:485,530")
    assert well_flag(bright, "A", 1) == "overflow"
    assert well_value(bright, "A", 2) == 97416
    assert od.attrs["read_time"] == "2023-10-31 16:24:02"
    assert od.attrs["instrument_serial"] == "2212220D"
    assert od.attrs["instrument"] == "Cytation7"


# --- bad input ---------------------------------------------------------------------


def test_truncated_txt_is_refused(real_world, tmp_path):
    text = (real_world / MULTI_READ).read_bytes()
    truncated = tmp_path / "cut.txt"
    truncated.write_bytes(text[: text.index(b"fluor:579,616\r\n\t433") + 10])  # inside row B
    with pytest.raises(InputError, match="plate row B .*truncated") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)


def test_truncated_line_is_refused(real_world, tmp_path):
    text = (real_world / NO_RESULTS).read_bytes()
    truncated = tmp_path / "cut.txt"
    truncated.write_bytes(text[: text.index(b"B\t340\t81380") + 20])
    with pytest.raises(InputError, match="line 39.*stops in the middle"):
        read_measurements(truncated)  # no line end: the last value may be cut
    truncated.write_bytes(text[: text.index(b"B\t340\t81380") + 20] + b"\r\n")
    with pytest.raises(InputError, match="line 39.*has 4 of 24 values") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)


def test_kinetic_txt_is_refused(real_world, tmp_path):
    text = (real_world / NON_NUMERIC).read_text()
    kinetic = tmp_path / "kinetic.txt"
    kinetic.write_text(
        text.replace(
            "Read\tabs450",
            "Start Kinetic\tRuntime 0:30:00 (HH:MM:SS), Interval 0:01:00, 31 Reads\n"
            "Read\tabs450",
        )
    )
    with pytest.raises(
        InputError, match="kinetic read \\(Start Kinetic Runtime 0:30:00.*31 Reads\\)"
    ):
        read_measurements(kinetic)


def test_unknown_text_in_a_well(real_world, tmp_path):
    text = (real_world / SINGLEPLATE).read_text().replace("A\t8718\t", "A\tERR x\t")
    bad = tmp_path / "bad.txt"
    bad.write_text(text)
    with pytest.raises(InputError, match="well A01.*'ERR x'"):
        read_measurements(bad)


def test_truncated_xlsx_table_is_refused(real_world, tmp_path):
    book = openpyxl.load_workbook(real_world / XLSX)
    sheet = book.active
    sheet.delete_rows(300, sheet.max_row)  # keep the Well header row, drop every read
    truncated = tmp_path / "cut.xlsx"
    book.save(truncated)
    with pytest.raises(InputError, match="table has a header but no rows") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)
