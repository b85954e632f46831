"""BMG Labtech readers (MARS CSV, Omega ASCII CSV, SMART Control XLSX) on the real files."""

import math

import openpyxl
import pytest

from conftest import well_flag, well_value
from pdoscreen.errors import InputError
from pdoscreen.plate import read_plate
from pdoscreen.readers import detect, read_measurements

MARS = "plate-reader/bmg-mars-csv"
FI_384 = f"{MARS}/16-03-03 13-25-45 472 QC 384 FI.csv"
ABS_384 = f"{MARS}/16-03-03 16-54-03 472 ABS 384 QC.csv"
LUM_1536 = f"{MARS}/24-10-16 15-09-52 Luminescence 1536.csv"
MARS_340 = f"{MARS}/MARS V3.40 V2 Output Missing line end separators.csv"
PHERASTAR = f"{MARS}/PHERAstar output file.CSV"
OMEGA = "plate-reader/bmg-omega-ascii-csv/TRno4849.CSV"
SMART = "plate-reader/bmg-smartcontrol-xlsx/fluorescence_endpoint_example2.xlsx"


@pytest.mark.parametrize(
    "name, reader",
    [
        (FI_384, "bmg_mars"),
        (ABS_384, "bmg_mars"),
        (LUM_1536, "bmg_mars"),
        (MARS_340, "bmg_mars"),
        (PHERASTAR, "bmg_mars"),
        (OMEGA, "bmg_omega"),
        (SMART, "bmg_smartcontrol"),
    ],
)
def test_detect(real_world, name, reader):
    assert detect(real_world / name) == reader


# --- MARS CSV ----------------------------------------------------------------------


def test_mars_fluorescence_384_sparse(real_world):
    path = real_world / FI_384
    reader, measurements = read_measurements(path)
    assert reader == "bmg_mars"
    assert [m.name for m in measurements] == ["Raw Data (485/520)"]
    assert measurements[0].default
    ds = read_plate(path)
    assert (ds.sizes["row"], ds.sizes["column"]) == (16, 24)
    assert well_value(ds, "A", 1) == 23864
    assert well_value(ds, "A", 12) == 231438
    assert well_value(ds, "C", 12) == 2682
    assert well_value(ds, "P", 24) == 23949
    # Empty cells are unmeasured wells: 68 of 384 wells were read.
    assert math.isnan(well_value(ds, "D", 1)) and well_flag(ds, "D", 1) == "not_measured"
    assert int((ds.flag == "").sum()) == 68
    assert ds.attrs["barcode"] == "472-0016"
    assert ds.attrs["read_time"] == "03/03/2016 13:25:45"
    assert ds.attrs["instrument"] == "PHERAstar"
    assert ds.attrs["label"] == "485/520"


def test_mars_absorbance_384_empty_rows(real_world):
    ds = read_plate(real_world / ABS_384)
    assert ds.attrs["measurement"] == "Raw Data (484)"
    assert (ds.sizes["row"], ds.sizes["column"]) == (16, 24)
    assert well_value(ds, "A", 1) == 0.031
    assert well_value(ds, "C", 1) == 2.368
    assert well_value(ds, "I", 7) == 0.07
    assert well_value(ds, "P", 24) == 0.032
    assert (ds.flag.sel(row="J") == "not_measured").all()  # "J,,,,..." is an empty row
    assert ds.attrs["test_name"] == "472 ABS 384 QC"


def test_mars_1536_lower_case_rows_after_z(real_world):
    path = real_world / LUM_1536
    ds = read_plate(path)
    assert ds.attrs["measurement"] == "Raw Data (No filter)"
    assert (ds.sizes["row"], ds.sizes["column"]) == (32, 48)
    assert well_value(ds, "A", 1) == 985
    assert well_value(ds, "G", 2) == 21272893
    # BMG's lower-case row "e" is the 31st row, AE in pdoscreen's names.
    assert well_value(ds, "AE", 1) == 36809
    assert well_value(ds, "AE", 48) == 19500
    assert well_value(ds, "Y", 48) == 53634
    # Only rows A, G, M, S, Y and e were read.
    measured_rows = [r for r in ds.row.values if (ds.flag.sel(row=r) == "").any()]
    assert measured_rows == ["A", "G", "M", "S", "Y", "AE"]
    assert well_flag(ds, "B", 1) == "not_measured"
    assert ds.attrs["barcode"] == "92A_4"
    assert ds.attrs["instrument"] == "CLARIOstar"
    assert ds.attrs["read_time"] == "10/16/2024 3:09:52 PM"


def test_mars_340_unpadded_rows(real_world):
    ds = read_plate(real_world / MARS_340)
    assert ds.attrs["measurement"] == "Raw Data (580/620)"
    assert (ds.sizes["row"], ds.sizes["column"]) == (16, 24)
    assert well_value(ds, "A", 1) == 25104
    assert well_value(ds, "A", 20) == 24361
    assert well_flag(ds, "A", 21) == "not_measured"  # columns 21..24 were not read
    assert well_value(ds, "O", 10) == 94
    assert well_flag(ds, "O", 11) == "not_measured"  # "...,94,,59"
    assert well_value(ds, "O", 12) == 59
    assert well_flag(ds, "O", 13) == "not_measured"
    assert ds.attrs["barcode"] == "black 384w small volume"
    assert ds.attrs["id2"] == "20 ul"


@pytest.mark.parametrize(("old", "new", "refused"), [
    (b"A,25104,25203,", b"A,2510425203,", "rows A and B .* have 19 and 20 values"),  # a delimiter lost
    (b"O,68426,60666,", b"O,68,426,60666,", "rows O and P .* have 13 and 12 values"),  # one added
    (b"94,,59", b"94,59", "rows O and P .* have 11 and 12 values"),  # an unmeasured well's field lost
])
def test_mars_unpadded_row_one_field_off_is_refused(real_world, tmp_path, old, new, refused):
    """Unpadded, a row ends at its last measured well (rows O and P are 8 values
    shorter than N); a row one value off its neighbour is a lost or added
    delimiter as likely as an unmeasured well, and its values would shift."""
    data = (real_world / MARS_340).read_bytes()
    assert data.count(old) == 1
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data.replace(old, new))
    with pytest.raises(InputError, match=refused + ".*export the plate again with line-end separators"):
        read_measurements(bad)


def test_mars_pherastar_double_space_title(real_world):
    reader, measurements = read_measurements(real_world / PHERASTAR)
    assert [m.name for m in measurements] == ["Raw Data (450)"]  # "Raw Data  (450)" in the file
    ds = read_plate(real_world / PHERASTAR)
    assert (ds.sizes["row"], ds.sizes["column"]) == (8, 12)
    assert well_value(ds, "A", 1) == 1.691
    assert well_value(ds, "G", 12) == 1.4
    assert well_value(ds, "H", 12) == 0.884
    assert (ds.flag == "").all()
    assert ds.attrs["barcode"] == "20260618 dsRNA _PLATE_01_18Jun26"
    assert ds.attrs["label"] == "450"


def test_mars_truncated_padded_file_is_refused(real_world, tmp_path):
    lines = (real_world / LUM_1536).read_bytes().split(b"\r\n")
    truncated = tmp_path / "cut.csv"
    # Cut in the middle of row "S": every line of this export has 49 fields.
    truncated.write_bytes(b"\r\n".join(lines[:12]) + b"\r\n" + lines[12][:40] + b"\r\n")
    with pytest.raises(InputError, match="row S .* fields .*truncated") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)
    # Without its line end the last value itself may be cut.
    truncated.write_bytes(b"\r\n".join(lines[:12]) + b"\r\n" + lines[12][:40])
    with pytest.raises(InputError, match="line 13.*stops in the middle .*truncated") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)


def test_mars_header_without_rows_is_refused(real_world, tmp_path):
    lines = (real_world / PHERASTAR).read_bytes().split(b"\r\n")
    truncated = tmp_path / "cut.csv"
    truncated.write_bytes(b"\r\n".join(lines[:9]) + b"\r\n")
    with pytest.raises(InputError, match="no plate rows") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)


def test_mars_unknown_text_in_a_well(real_world, tmp_path):
    text = (real_world / PHERASTAR).read_text().replace("A,1.691,", "A,n.d.,")
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with pytest.raises(InputError, match="well A01.*'n.d.'"):
        read_measurements(bad)


# --- Omega ASCII CSV ---------------------------------------------------------------


def test_omega_ascii_matrix(real_world):
    path = real_world / OMEGA
    reader, measurements = read_measurements(path)
    assert reader == "bmg_omega"
    assert [m.name for m in measurements] == ["Chromatic 1"]
    ds = read_plate(path)
    assert (ds.sizes["row"], ds.sizes["column"]) == (16, 24)
    assert well_value(ds, "A", 1) == 1795
    assert well_value(ds, "A", 24) == 1964
    assert well_value(ds, "B", 2) == 1030
    assert well_value(ds, "P", 1) == 1893
    assert well_value(ds, "P", 24) == 2079
    assert (ds.flag == "").all()
    assert ds.attrs["barcode"] == "plate_4"
    assert ds.attrs["read_time"] == "13/06/2022 13:45:08"
    assert ds.attrs["test_name"] == "automated_syber"


def test_omega_kinetic_is_refused(real_world, tmp_path):
    text = (real_world / OMEGA).read_text().replace("No. of Cycles: 1", "No. of Cycles: 61")
    kinetic = tmp_path / "kinetic.csv"
    kinetic.write_text(text)
    with pytest.raises(InputError, match="kinetic read \\(61 cycles\\)"):
        read_measurements(kinetic)


def test_omega_truncated_matrix_is_refused(real_world, tmp_path):
    lines = (real_world / OMEGA).read_text().splitlines()
    truncated = tmp_path / "cut.csv"
    truncated.write_text("\n".join(lines[:18]) + "\n")  # 8 of the 16 plate rows
    with pytest.raises(InputError, match="not a full 96, 384 or 1536-well plate") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)


# --- SMART Control XLSX ------------------------------------------------------------


def test_smartcontrol_raw_and_blank_corrected(real_world):
    path = real_world / SMART
    reader, measurements = read_measurements(path)
    assert reader == "bmg_smartcontrol"
    assert [m.name for m in measurements] == [
        "Raw Data (480-14/520-30)",
        "Blank corrected based on Raw Data (480-14/520-30)",
    ]
    assert [m.default for m in measurements] == [True, False]
    raw = read_plate(path)  # the raw data is the default
    assert raw.attrs["measurement"] == "Raw Data (480-14/520-30)"
    assert (raw.sizes["row"], raw.sizes["column"]) == (8, 12)
    assert well_value(raw, "A", 1) == 8168026
    assert well_value(raw, "D", 8) == 986078
    assert well_value(raw, "H", 12) == 15882
    assert (raw.flag == "").all()
    assert raw.attrs["barcode"] == "PicoGreen NB-user-5097655-0069"
    assert raw.attrs["read_time"] == "11/12/2024 1:06:28 PM"
    assert raw.attrs["label"] == "480-14/520-30"

    blank = read_plate(path, measurement="Blank corrected")
    assert well_value(blank, "A", 1) == 8152571
    assert well_value(blank, "H", 1) == -80
    # The blank wells themselves (H10..H12) get no blank-corrected value.
    assert [well_flag(blank, "H", c) for c in (10, 11, 12)] == ["not_measured"] * 3


def test_smartcontrol_truncated_section_is_refused(real_world, tmp_path):
    book = openpyxl.load_workbook(real_world / SMART)
    sheet = book["Microplate End point"]
    sheet.delete_rows(50, sheet.max_row)  # keep the "4. Raw Data" title, drop its header and rows
    truncated = tmp_path / "cut.xlsx"
    book.save(truncated)
    with pytest.raises(InputError, match="Raw Data .* no numbered column header") as error:
        read_measurements(truncated)
    assert str(truncated) in str(error.value)
