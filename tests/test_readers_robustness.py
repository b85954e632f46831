"""What every reader shares when a file is damaged: cut-off exports, partial
plates, line endings, decimal marks, non-finite values and broken workbooks
(issues 15 and 19). Each case is a real export with one defect."""

import logging
import math
import zipfile
from pathlib import Path

import pytest

from pdoscreen.errors import InputError
from pdoscreen.plate import read_plate
from pdoscreen.readers import read_measurements

REPO = Path(__file__).resolve().parents[1]
PHERASTAR = REPO / "example" / "screen" / "raw" / "pherastar" / "02-11-2026 10-45-00 PDO00105.csv"
GEN5_XLSX = "plate-reader/gen5-xlsx/231031_pr_calibration_lid.xlsx"


def copy(tmp_path: Path, data: bytes, name: str = "PL002_pherastar.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def with_cell(data: bytes, old: bytes, new: bytes) -> bytes:
    """The export with its first cell ``old`` (between commas) replaced."""
    assert b"," + old + b"," in data
    return data.replace(b"," + old + b",", b"," + new + b",", 1)


def test_a_file_cut_inside_its_last_value_is_refused(tmp_path):
    """The issue's case: 4 bytes off turned the last well's 459 into 4.0."""
    path = copy(tmp_path, PHERASTAR.read_bytes()[:-4])
    with pytest.raises(InputError, match=r"\(line 25\): the file stops in the middle of its last line, after '4'"):
        read_plate(path)


def test_a_file_cut_at_a_row_boundary_is_a_partial_plate_with_a_warning(tmp_path, caplog):
    lines = PHERASTAR.read_bytes().split(b"\r\n")
    path = copy(tmp_path, b"\r\n".join(lines[:-2]) + b"\r\n")  # row P and the final empty line gone
    with caplog.at_level(logging.WARNING, logger="pdoscreen"):
        plate = read_plate(path)
    assert (plate.flag.sel(row="P") == "not_measured").all()
    assert (plate.flag.sel(row="O") == "").all()
    assert "PL002_pherastar.csv: row P (24 wells) not in the export; read as not measured" in caplog.text
    full = read_plate(PHERASTAR)
    assert (plate.signal.sel(row="O") == full.signal.sel(row="O")).all()


def test_scattered_missing_wells_are_named(tmp_path, caplog):
    path = copy(tmp_path, with_cell(PHERASTAR.read_bytes(), b"391", b""))  # A01 left empty
    with caplog.at_level(logging.WARNING, logger="pdoscreen"):
        read_plate(path)
    assert "well A01 not in the export" in caplog.text


@pytest.mark.parametrize("newline", [b"\r", b"\n"])
def test_old_mac_and_unix_line_ends_read_the_same(tmp_path, newline):
    path = copy(tmp_path, PHERASTAR.read_bytes().replace(b"\r\n", newline))
    assert read_plate(path).signal.equals(read_plate(PHERASTAR).signal)


def test_a_lone_thousands_separator_is_refused(tmp_path):
    path = copy(tmp_path, with_cell(PHERASTAR.read_bytes(), b"391", b'"1,414"'))
    with pytest.raises(InputError, match=r"well A01: value '1,414' could be 1414 .* or 1.414") as caught:
        read_plate(path)
    assert path.name in str(caught.value)


@pytest.mark.parametrize(
    "other, expected", [(b'"0,5"', 1.414), (b"0.5", 1414.0), (b'"2,345,678"', 1414.0)],
    ids=["comma", "point", "thousands"]
)
def test_the_rest_of_the_file_says_what_the_comma_is(tmp_path, other, expected):
    data = with_cell(with_cell(PHERASTAR.read_bytes(), b"391", b'"1,414"'), b"399", other)
    plate = read_plate(copy(tmp_path, data))
    assert float(plate.signal.sel(row="A", column=1)) == expected


def test_decimal_commas_beside_decimal_points_are_refused(tmp_path):
    data = with_cell(with_cell(PHERASTAR.read_bytes(), b"391", b'"0,5"'), b"399", b"0.5")
    with pytest.raises(InputError, match="both with a decimal comma and with a decimal point"):
        read_plate(copy(tmp_path, data))


@pytest.mark.parametrize("written", [b"1e400", b"-1E+999", b"inf", b"-Infinity"])
def test_non_finite_values_are_flagged_never_data(tmp_path, written):
    plate = read_plate(copy(tmp_path, with_cell(PHERASTAR.read_bytes(), b"391", written)))
    assert math.isnan(float(plate.signal.sel(row="A", column=1)))
    assert plate.flag.sel(row="A", column=1) == "non_finite"
    assert (plate.flag != "").sum() == 1


def test_a_workbook_damaged_inside_a_sheet_is_refused(real_world, tmp_path):
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(real_world / GEN5_XLSX) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]  # the sheet's XML stops mid-element
            target.writestr(item, data)
    with pytest.raises(InputError, match="damaged") as caught:
        read_measurements(broken, "gen5_xlsx")
    assert caught.value.file == str(broken)
    with pytest.raises(InputError, match="damaged"):
        read_measurements(broken)  # found while the format is detected


ENVISION_LUM = "plate-reader/envision-lum384-csv/PE_Envision_luminescence_example01.csv"
GLOMAX = ("plate-reader/promega-glomax-navigator-xlsx/"
          "Dual Luciferase Reporter Assay System ELIAS 2020.03.10 05_34_44.xlsx")


@pytest.mark.parametrize("plate_block", [0, 1])
def test_envision_never_falls_back_to_a_calculated_block(real_world, tmp_path, plate_block):
    """Without its raw block, a plate's crosstalk-corrected block is refused, not read."""
    lines = (real_world / ENVISION_LUM).read_bytes().split(b"\r\n")
    raw_titles = [i for i, line in enumerate(lines) if line.startswith(b"Results for")]
    start = raw_titles[plate_block]
    end = lines.index(b"", start)
    path = copy(tmp_path, b"\r\n".join(lines[:start] + lines[end + 1 :]), "cut.csv")
    with pytest.raises(InputError, match=f"plate {plate_block + 1} has calculated results .* not the raw read"):
        read_measurements(path)


def test_glomax_matrix_without_its_reading_row_is_refused(real_world, tmp_path):
    """The first reading's header row lost: the second would take its name."""
    import openpyxl

    book = openpyxl.load_workbook(real_world / GLOMAX)
    sheet = book["Results"]
    row = next(r for r in sheet.iter_rows() if r[1].value == "Reading:")
    sheet.delete_rows(row[0].row)
    path = tmp_path / "glomax.xlsx"
    book.save(path)
    with pytest.raises(InputError, match="has no 'Reading:' row above it") as caught:
        read_measurements(path, "glomax")
    assert caught.value.file == str(path)


def test_spark_csv_cut_after_a_read_is_refused(real_world, tmp_path):
    """Cut after the third of its eleven reads (at a line end): the script lists all eleven."""
    data = (real_world / "plate-reader/tecan-sparkcontrol-csv/191219_calibration_membrane.csv").read_bytes()
    ends = [i for i in range(len(data)) if data.startswith(b"End Time", i)]
    path = copy(tmp_path, data[: data.index(b"\n", ends[2]) + 1], "spark.csv")
    with pytest.raises(InputError, match="lists 11 reads .* but the file holds 3: it is truncated"):
        read_measurements(path)


def test_softmax_block_lost_is_refused(real_world, tmp_path):
    """A whole plate block (to its ~End) gone: the file announces one more."""
    data = (real_world / "plate-reader/softmaxpro-txt/softmaxpro_no_calc_docs.txt").read_bytes()
    start = data.index(b"Plate:", data.index(b"Plate:") + 1)
    end = data.index(b"~End", start) + len(b"~End")
    with pytest.raises(InputError, match=r"(announces 3 blocks|without its closing '~End').* truncated"):
        read_measurements(copy(tmp_path, data[:start] + data[end:], "softmax.txt"))


TEXT_EXPORTS = [
    "plate-reader/bmg-omega-ascii-csv/TRno4849.CSV",
    "plate-reader/envision-abs-csv/PE_Envision_absorbance_example01.csv",
    "plate-reader/gen5-txt/endpoint_singleplate.txt",
    "plate-reader/revvity-kaleido-csv/luminescence_v3.5_pure_csv_format_example.csv",
    "plate-reader/softmaxpro-txt/softmaxpro_no_calc_docs.txt",
    "plate-reader/tecan-sparkcontrol-csv/191219_calibration_membrane.csv",
]


@pytest.mark.parametrize("name", TEXT_EXPORTS, ids=lambda n: n.split("/")[1])
def test_cr_only_line_ends_read_the_same_in_every_text_reader(real_world, tmp_path, name):
    data = (real_world / name).read_bytes()
    path = copy(tmp_path, data.replace(b"\r\n", b"\n").replace(b"\n", b"\r"), Path(name).name)
    original, mutant = read_measurements(real_world / name), read_measurements(path)
    assert original[0] == mutant[0]
    for a, b in zip(original[1], mutant[1], strict=True):
        assert a.name == b.name and (a.flag == b.flag).all()
        assert ((a.signal == b.signal) | (a.signal != a.signal)).all()


def test_envision_blocks_run_together_over_lost_lines_are_refused(real_world, tmp_path):
    """Calculated rows A-G, then (lines lost) the raw read's rows I-P under the same title."""
    export = real_world / "plate-reader/envision-fluor384-assayinfo-first/miRNA_fluorescence_test_1.csv"
    lines = export.read_bytes().split(b"\n")
    calc = next(i for i, line in enumerate(lines) if line.startswith(b"Calculated results"))
    raw = next(i for i, line in enumerate(lines) if line.startswith(b"Results for"))
    path = copy(tmp_path, b"\n".join(lines[: calc + 9] + lines[raw + 10 :]), "cut.csv")  # calc A-G, raw I-P
    with pytest.raises(InputError, match="covers other plate rows than .* lines are missing"):
        read_measurements(path)
