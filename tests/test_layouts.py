"""Plate layouts: the three kinds, real-world files, validation and the CLL example."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pdoscreen.errors import InputError
from pdoscreen.geometry import geometry_for
from pdoscreen.layouts import KINDS, LayoutKind, detect_layout, read_layout, register
from pdoscreen.layouts.common import COLUMNS, parse_concentration, parse_number
from pdoscreen.layouts.grid import parse_grids
from pdoscreen.layouts.long import long_rows
from pdoscreen.textfiles import read_text

DATA = Path(__file__).parent / "data" / "layouts"
REPO = Path(__file__).resolve().parents[1]
PLATE_384 = geometry_for(384)
HEADER = "well,role,drug,concentration,unit\n"


def write(tmp_path: Path, text: str, name: str = "layout.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the same 384-well design in all three kinds -------------------------------------


@pytest.mark.parametrize(
    "name, kind", [("design.toml", "wellmap"), ("design_long.csv", "long"), ("design_grid.csv", "grid")]
)
def test_design_kind_is_detected_from_content(name, kind):
    assert detect_layout(DATA / name) == kind


def test_three_kinds_of_the_same_design_read_identically():
    tables = [read_layout(DATA / name, PLATE_384) for name in ("design.toml", "design_long.csv", "design_grid.csv")]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], table)


def test_design_content():
    table = read_layout(DATA / "design.toml", PLATE_384)
    assert list(table.columns) == COLUMNS
    assert len(table) == 114
    assert table["well"].iloc[:3].tolist() == ["A01", "A02", "A03"]  # row, then column
    by_well = table.set_index("well")
    assert by_well.loc["A01", ["role", "drug", "unit"]].tolist() == ["vehicle", "DMSO", ""]
    assert math.isnan(by_well.loc["A01", "concentration"])
    assert by_well.loc["A02", ["role", "drug", "concentration", "unit"]].tolist() == [
        "treated", "Gemcitabine", 1000.0, "nM"
    ]
    assert by_well.loc["A02", "concentration_molar"] == pytest.approx(1e-6)
    # The long and grid files write Cladribine's unit as Greek mu and micro sign.
    assert by_well.loc["I06", ["unit", "concentration_molar"]].tolist() == ["uM", pytest.approx(1e-7)]
    assert by_well.loc["P23", ["role", "drug"]].tolist() == ["empty", "PBS"]
    assert by_well.loc["P24", ["role", "concentration_molar"]].tolist() == ["kill", pytest.approx(1e-4)]


# --- long-format tolerance -------------------------------------------------------------


def test_semicolons_decimal_commas_bom_and_units():
    table = read_layout(DATA / "semicolon_decimal_comma.csv").set_index("well")
    assert list(table.index) == ["A01", "B01", "C01", "D02", "E02"]
    assert table.loc["B01", ["concentration", "unit"]].tolist() == [0.3, "uM"]
    assert table.loc["C01", ["concentration", "unit"]].tolist() == [0.15, "uM"]
    assert table["concentration_molar"].tolist()[1:] == pytest.approx([3e-7, 1.5e-7, 2.5e-3, 1e-4])


def test_tab_separated_with_capitalised_header(tmp_path):
    path = write(tmp_path, "Well\tROLE\tDrug\tConcentration\tUnit\nA1\ttreated\tX\t1\tnM\n", "layout.tsv")
    assert read_layout(path)["concentration_molar"].tolist() == pytest.approx([1e-9])


@pytest.mark.parametrize("written", ["A1", "A01", "A001", "a1", " a001 "])
def test_well_spellings(tmp_path, written):
    path = write(tmp_path, HEADER + f"{written},vehicle,DMSO,,\n")
    assert read_layout(path, geometry_for(96))["well"].tolist() == ["A01"]


def test_unit_column_may_be_left_out_when_no_well_has_a_concentration(tmp_path):
    path = write(tmp_path, "well,role,drug,concentration\nA1,vehicle,DMSO,\nA2,empty,,\n")
    assert read_layout(path)["unit"].tolist() == ["", ""]


def test_plate_wide_unit_is_dropped_where_there_is_no_concentration(tmp_path):
    path = write(
        tmp_path,
        '[expt]\nunit = "nM"\n[well.A1]\nrole = "vehicle"\n'
        '[well.A2]\nrole = "treated"\ndrug = "X"\nconcentration = 5\n',
        "layout.toml",
    )
    assert read_layout(path)["unit"].tolist() == ["", "nM"]


def test_grid_concentrations_may_carry_their_unit(tmp_path):
    path = write(
        tmp_path,
        "role,1,2\nA,treated,vehicle\n,,\ndrug,1,2\nA,X,DMSO\n\nconcentration,1,2\nA,12.500000 \u03bcM,\n",
    )
    row = read_layout(path).iloc[0]
    assert (row["concentration"], row["unit"], row["concentration_molar"]) == (12.5, "uM", pytest.approx(1.25e-5))


# --- validation ------------------------------------------------------------------------

BAD_LONG = {
    "role": ("A1,control,X,1,nM\n", "A01", "role 'control' is not one of"),
    "no role": ("A1,,X,1,nM\n", "A01", "no role given"),
    "no drug": ("A1,treated,,1,nM\n", "A01", "treated well needs a drug"),
    "no concentration": ("B3,treated,X,,nM\n", "B03", "treated well needs a concentration"),
    "negative": ("A1,treated,X,-1,nM\n", "A01", "negative concentration"),
    "unit nm": ("A1,treated,X,1,nm\n", "A01", "unknown concentration unit 'nm'"),
    "unit nmol/L": ("A1,treated,X,1,nmol/L\n", "A01", "unknown concentration unit"),
    "unit %": ("A1,treated,X,1,%\n", "A01", "unknown concentration unit '%'"),
    "no unit": ("A1,treated,X,1,\n", "A01", "has no unit"),
    "treated at zero": ("A1,treated,X,0,nM\n", "A01", "treated well at concentration 0; write vehicle"),
    "zero with a bad unit": ("A1,empty,,0.0,nm\n", "A01", "unknown concentration unit 'nm'"),
    "not a number": ("A1,treated,X,ten,nM\n", "A01", "concentration 'ten' is not a number"),
    "not finite": ("A1,treated,X,inf,nM\n", "A01", "concentration 'inf' is not a number"),
    "bad well": ("A1x,vehicle,,,\n", "A1x", "not a well name"),
    "column 0": ("A0,vehicle,,,\n", "A0", "columns start at 1"),
    "duplicate": ("A1,vehicle,,,\nA01,vehicle,,,\n", "A01", "listed twice"),
}


@pytest.mark.parametrize("lines, well, message", BAD_LONG.values(), ids=BAD_LONG.keys())
def test_long_validation_names_file_and_well(tmp_path, lines, well, message):
    path = write(tmp_path, HEADER + lines)
    with pytest.raises(InputError, match=message) as caught:
        read_layout(path)
    assert path.name in str(caught.value) and f"well {well}" in str(caught.value)
    assert caught.value.file == str(path) and caught.value.well == well


def test_zero_blank_and_control_concentrations_need_no_unit(tmp_path):
    """A LIMS export writes empty and vehicle wells as 0.0 with no unit (issue 15)."""
    path = write(
        tmp_path,
        HEADER + "A02,empty,,0.0,\nA03,vehicle,DMSO,0,\nA04,vehicle,DMSO,,\n"
        "A05,kill,Staurosporine,10,\nA06,vehicle,DMSO,0,uM\nA07,treated,X,0.5,uM\n",
    )
    table = read_layout(path).set_index("well")
    assert table["unit"].tolist() == ["", "", "", "", "uM", "uM"]
    assert table["concentration_molar"].tolist()[:2] == [0.0, 0.0]
    assert math.isnan(table.loc["A04", "concentration_molar"])
    # A control's non-zero amount without a unit stays as written, in no molar unit.
    assert table.loc["A05", "concentration"] == 10 and math.isnan(table.loc["A05", "concentration_molar"])
    assert table.loc["A06", "concentration_molar"] == 0.0
    assert table.loc["A07", "concentration_molar"] == pytest.approx(5e-7)


def test_a_layout_for_another_plate_size_is_refused(tmp_path):
    """A 384-well layout on a 1536-well read would land in one corner of it."""
    path = write(tmp_path, HEADER + "A1,vehicle,DMSO,,\nP24,empty,,,\n")
    assert len(read_layout(path, PLATE_384)) == 2
    expected = "384-well plate .*row P and column 24.* the plate read has 1536 wells"
    with pytest.raises(InputError, match=expected) as caught:
        read_layout(path, geometry_for(1536))
    assert caught.value.file == str(path)
    with pytest.raises(InputError, match="96-well plate .* the plate read has 384 wells"):
        read_layout(write(tmp_path, HEADER + "H12,vehicle,DMSO,,\n"), PLATE_384)


def test_a_grid_states_its_plate_size(tmp_path):
    """A 384-well grid using only its top-left corner is still a 384-well layout."""
    header = "role," + ",".join(str(c) for c in range(1, 25)) + "\n"
    rows = "".join(f"{letter},{'vehicle' if letter == 'A' else ''}" + "," * 23 + "\n" for letter in "ABCDEFGHIJKLMNOP")
    path = write(tmp_path, header + rows)
    assert read_layout(path, PLATE_384)["well"].tolist() == ["A01"]
    expected = "384-well plate .its grids have rows to P and columns to 24. but the plate read has 1536"
    with pytest.raises(InputError, match=expected):
        read_layout(path, geometry_for(1536))


THOUSANDS = {
    "lone d,ddd refused": ("I22\ttreated\tBortezomib\t1,000\tnM\n", None),
    "decimal points elsewhere": ("I22\ttreated\tBortezomib\t1,000\tnM\nI23\ttreated\tBortezomib\t0.5\tnM\n", 1000.0),
    "decimal commas elsewhere": ("I22\ttreated\tBortezomib\t1,000\tnM\nI23\ttreated\tBortezomib\t0,5\tnM\n", 1.0),
    "thousands groups": ("I22\ttreated\tBortezomib\t1,000\tnM\nI23\ttreated\tBortezomib\t1,000,000\tnM\n", 1000.0),
}


@pytest.mark.parametrize("lines, expected", THOUSANDS.values(), ids=THOUSANDS.keys())
def test_one_decimal_mark_per_layout(tmp_path, lines, expected):
    path = write(tmp_path, "well\trole\tdrug\tconcentration\tunit\n" + lines, "layout.tsv")
    if expected is None:
        with pytest.raises(InputError, match="well I22: concentration '1,000' could be 1000 .* or 1.000") as caught:
            read_layout(path)
        assert caught.value.file == str(path)
    else:
        assert read_layout(path).set_index("well").loc["I22", "concentration"] == expected


def test_decimal_commas_beside_points_are_refused(tmp_path):
    path = write(tmp_path, "well;role;drug;concentration;unit\nA1;treated;X;0,5;nM\nA2;treated;X;1.5;nM\n")
    with pytest.raises(InputError, match="both with a decimal comma and with a decimal point"):
        read_layout(path)


def test_well_outside_the_given_plate(tmp_path):
    path = write(tmp_path, HEADER + "A13,vehicle,DMSO,,\n")
    assert read_layout(path, PLATE_384)["well"].tolist() == ["A13"]
    with pytest.raises(InputError, match="well A13: well outside the 96-well plate") as caught:
        read_layout(path, geometry_for(96))
    assert path.name in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("well,role,drug\nA1,vehicle,DMSO\n", "lacks the column.s. concentration"),
        ("well,role,drug,concentration,unit,role\nA1,vehicle,,,,\n", "column 'role' appears twice"),
        (HEADER, "names no wells"),
        ("this is not a layout\n", "unknown layout format"),
        ("role,1,2\nA,vehicle,vehicle\nrole,1,2\nB,vehicle,vehicle\n", "grid 'role' appears twice"),
        ("role,1,2\nA,vehicle,vehicle,treated\n", "right of the last numbered column"),
        ("role,1,2\nA,vehicle,vehicle\nA,vehicle,\n", "listed twice in one grid"),
        (",1,2\nA,vehicle,vehicle\n", "no field name in its corner"),
        ("Cq,1,2\nA,20.1,21.3\n", "no grid is named role, drug, concentration, unit .found: cq."),
        ("role,1,2\nA,vehicle,vehicle\nnotes\n", "expected a grid header"),
        ("[well.A1]\nrole = 'vehicle'\nrole2 = [\n", "unknown layout format"),
    ],
)
def test_file_level_errors_name_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as caught:
        read_layout(path)
    assert path.name in str(caught.value)


def test_grid_and_wellmap_errors_name_the_well(tmp_path):
    grid = write(tmp_path, "role,1,2\nA,treated,vehicle\n\ndrug,1,2\nA,X,\n", "grid.csv")
    with pytest.raises(InputError, match="well A01: a treated well needs a concentration"):
        read_layout(grid)
    toml = write(tmp_path, '[well.B2]\nrole = "treated"\ndrug = "X"\nconcentration = -3\nunit = "uM"\n', "l.toml")
    with pytest.raises(InputError, match="l.toml; well B02: negative concentration -3"):
        read_layout(toml)


@pytest.mark.parametrize(
    "included, data, message",
    [("missing.toml", None, "FileNotFoundError"), ("plate.csv", b"well,role\nA1,x\n", "TOMLDecodeError"),
     ("binary.toml", b"\xff\xfe\x00garbage", "UnicodeDecodeError")],
)
def test_wellmap_include_that_cannot_be_read_names_the_layout(tmp_path, included, data, message):
    if data is not None:
        (tmp_path / included).write_bytes(data)
    path = write(tmp_path, f'[meta]\ninclude = "{included}"\n[well.A1]\nrole = "vehicle"\n', "layout.toml")
    with pytest.raises(InputError, match=f"a file it includes: {message}") as caught:
        read_layout(path)
    assert caught.value.file == str(path)


@pytest.mark.parametrize(
    "text, last",
    [(HEADER + "A1,kill,Staurosporine,1", "1"), ("well,role,drug,concentration\nA1,vehicle,DMSO,10", "10"),
     ('[well.A1]\nrole = "treated"\ndrug = "X"\nunit = "nM"\nconcentration = 1', "1")],
)
def test_a_layout_cut_inside_its_last_number_is_refused(tmp_path, text, last):
    path = write(tmp_path, text)
    expected = f"stops in the middle of its last line, after '{last}'.*end its last line"
    with pytest.raises(InputError, match=expected) as caught:
        read_layout(path)
    assert caught.value.file == str(path)
    path.write_text(text + "\n")
    assert len(read_layout(path)) == 1  # the same file, complete


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_layout(tmp_path / "absent.csv")
    with pytest.raises(InputError, match="empty"):
        read_layout(write(tmp_path, "\n"))


def test_number_and_unit_helpers():
    assert parse_number("7.53E+14", file=Path("x")) == 7.53e14
    assert parse_number("0,3", file=Path("x")) == 0.3
    assert math.isnan(parse_number(" ", file=Path("x")))
    assert parse_concentration("1e-3M", file=Path("x")) == (1e-3, "M")
    assert parse_number("1,000.5", file=Path("x"), mark=".") == 1000.5
    with pytest.raises(InputError, match="not a number"):
        parse_number("1,000.5", file=Path("x"), mark=",")
    with pytest.raises(InputError, match="could be 1000"):
        parse_number("1,000", file=Path("x"))


# --- real-world files ------------------------------------------------------------------


def test_plater_grids_read_generically(real_world):
    path = real_world / "layout" / "plater-csv" / "example-1.csv"
    assert detect_layout(path) == "grid"
    grids = parse_grids(path, read_text(path))
    assert list(grids) == ["Drug", "Concentration", "Bacteria", "Killing"]
    assert "A12" not in grids["Drug"] and len(grids["Drug"]) == 88  # empty trailing cells
    assert grids["Drug"]["H11"] == "B"
    assert grids["Concentration"]["A11"] == "0.00001024"
    assert grids["Bacteria"]["B01"] == "S. enterocolitis"
    assert grids["Killing"]["H12"] == "0.5"


def test_screenwerk_grids_lowercase_rows_and_units_in_cells(real_world):
    folder = real_world / "layout" / "plate-shaped-csv-screenwerk"
    drugs = parse_grids(folder / "drugs.csv", read_text(folder / "drugs.csv"))[""]
    concentrations = parse_grids(folder / "concentrations.csv", read_text(folder / "concentrations.csv"))[""]
    assert "A01" not in drugs and "B01" not in drugs  # empty edge wells
    assert drugs["B02"] == "BzCl" and drugs["B14"] == "LY2603618 (Rabusertib)"
    assert drugs.keys() == concentrations.keys()
    assert concentrations["B04"] == "12.500000 \u03bcM"
    where = folder / "concentrations.csv"
    assert parse_concentration(concentrations["B04"], file=where) == (12.5, "uM")
    with pytest.raises(InputError, match="unknown concentration unit '%'"):
        parse_concentration(concentrations["B03"], file=where, well="B03")


@pytest.mark.parametrize(
    "name, well, concentration",
    [
        ("long-platemap-datarail/metadata.csv", "C03", 0.01),
        ("long-platemap-flopr/calibration_plate_layout.csv", "A1", 7.53e14),
    ],
)
def test_other_long_plate_maps(real_world, name, well, concentration):
    path = real_world / "layout" / name
    assert detect_layout(path) == "long"
    rows = long_rows(path, read_text(path))
    assert rows[0]["well"] == well and rows[0]["line"] == 2
    assert parse_number(rows[0]["concentration"], file=path) == concentration
    with pytest.raises(InputError, match="lacks the column"):
        read_layout(path)  # not our columns


def test_real_wellmap_files_detected_and_checked(real_world):
    folder = real_world / "layout" / "wellmap-toml"
    for path in sorted(folder.glob("*.toml")):
        assert detect_layout(path) == "wellmap", path
    # A wellmap layout without our fields fails on its first well, not deep in the pipeline.
    with pytest.raises(InputError, match=r"beta_gal_assay.toml; well [A-H]\d\d: no role given"):
        read_layout(folder / "beta_gal_assay.toml")


# --- registry --------------------------------------------------------------------------


def test_a_new_kind_is_one_registration(tmp_path):
    def records(path, text):
        return [{"well": line.split()[0], "role": "vehicle"} for line in text.splitlines()[1:]]

    register(LayoutKind("toy", lambda text: text.startswith("#toy"), records))
    try:
        assert read_layout(write(tmp_path, "#toy\nB2\nA1\n", "x.toy"))["well"].tolist() == ["A01", "B02"]
    finally:
        del KINDS["toy"]


# --- the CLL example -------------------------------------------------------------------


def test_cll_prepare_script(real_world, tmp_path):
    source = real_world / "raw-screen-dataset" / "drugscreenexplorer-cll-ctg384"
    script = REPO / "config" / "examples" / "cll" / "prepare.py"
    run = subprocess.run(
        [sys.executable, str(script), "--source", str(source), "--out", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )
    assert str(tmp_path) in run.stdout
    layout = read_layout(tmp_path / "layout.tsv", PLATE_384).set_index("well")
    assert len(layout) == 384
    dmso = layout[layout["drug"] == "DMSO"]
    assert len(dmso) == 37 and (dmso["role"] == "vehicle").all()
    assert (layout.loc[layout["drug"] == "PBS", "role"] == "empty").all()
    assert layout.loc["A03", "drug"] == "A-1210477"
    assert layout.loc["A03", "concentration_molar"] == pytest.approx(1e-5)
    assert layout.loc["A07", "concentration_molar"] == pytest.approx(4e-7)  # "0,4"
    sheet = pd.read_csv(tmp_path / "sample_sheet.tsv", sep="\t", dtype=str)
    assert list(sheet.columns) == ["plate", "patient", "line", "file", "reader", "layout", "batch", "measurement"]
    first = sheet.iloc[0]
    assert (first["plate"], first["patient"], first["batch"]) == ("11PB0010", "P0010", "1")
    assert (first["reader"], first["layout"], first["measurement"]) == ("envision", "layout.tsv", "Results for")
    assert all((tmp_path / file).is_file() for file in sheet["file"])
    assert not os.path.isabs(first["file"])
