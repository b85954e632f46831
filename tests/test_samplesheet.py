"""The sample sheet: its JSON schema (as the workflow applies it) and the checks across rows."""

import re
from pathlib import Path

import pytest
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from pdoscreen.errors import InputError
from pdoscreen.samplesheet import load_sample_sheet, read_sample_sheet

SCHEMA = str(Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "samplesheet.schema.yaml")
HEADER = "plate\tpatient\tline\tfile\treader\tlayout"


def write_sheet(folder: Path, *rows: str, header: str = HEADER) -> Path:
    (folder / "plate.csv").write_text("x")
    (folder / "layout.csv").write_text("x")
    path = folder / "sample_sheet.tsv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_valid_sheet_types_and_paths(tmp_path):
    path = write_sheet(
        tmp_path,
        "007\tP1\tL1\tplate.csv\tauto\tlayout.csv\t2\t\t0",
        "008\tP1\tL1\tplate.csv\tauto\tlayout.csv\t2\t\t72",
        header=HEADER + "\treplicate\tbatch\ttimepoint_h",
    )
    sheet = load_sample_sheet(path)
    validate(sheet, SCHEMA)
    row = sheet.iloc[0]
    assert row["plate"] == "007"  # ids stay text
    assert row["replicate"] == 2 and row["timepoint_h"] == 0
    assert row["measurement"] == "" and row["exclude"] == ""
    assert Path(row["file_path"]) == tmp_path / "plate.csv"


@pytest.mark.parametrize(
    "row, complaint",
    [
        ("bad id!\tP1\tL1\tplate.csv\tauto\tlayout.csv", "does not match"),
        ("p1\t\tL1\tplate.csv\tauto\tlayout.csv", "should be non-empty|too short|does not match"),
        ("p1\tP1\tL1\tplate.csv\tEnVision\tlayout.csv", "does not match"),
    ],
)
def test_schema_rejects(tmp_path, row, complaint):
    sheet = read_sample_sheet(write_sheet(tmp_path, row))
    with pytest.raises(WorkflowError, match="row 0") as caught:
        validate(sheet, SCHEMA)
    assert re.search(complaint, " ".join(map(str, caught.value.args)))


@pytest.mark.parametrize("later", ["", "0"])  # the line's other plate: no time point, or time zero too
def test_a_time_zero_plate_needs_a_later_plate_of_its_line(tmp_path, later):
    path = write_sheet(
        tmp_path,
        "t0\tP1\tL1\tplate.csv\tauto\tlayout.csv\t0",
        f"p1\tP1\tL1\tplate.csv\tauto\tlayout.csv\t{later}",
        "p2\tP1\tL2\tplate.csv\tauto\tlayout.csv\t72",
        header=HEADER + "\ttimepoint_h",
    )
    unmatched = "t0, p1" if later == "0" else "t0"
    expected = rf"plate t0: time-zero plate\(s\) {unmatched} \(timepoint_h 0\) of line\(s\) L1,"
    with pytest.raises(InputError, match=expected):
        load_sample_sheet(path)


def test_schema_rejects_negative_timepoint(tmp_path):
    path = write_sheet(
        tmp_path, "p1\tP1\tL1\tplate.csv\tauto\tlayout.csv\t-1", header=HEADER + "\ttimepoint_h"
    )
    with pytest.raises(WorkflowError):
        validate(read_sample_sheet(path), SCHEMA)


def test_non_numeric_replicate_names_plate(tmp_path):
    path = write_sheet(tmp_path, "p1\tP1\tL1\tplate.csv\tauto\tlayout.csv\ttwo", header=HEADER + "\treplicate")
    with pytest.raises(InputError, match=r"plate p1: column replicate must be a number"):
        read_sample_sheet(path)


def test_missing_column(tmp_path):
    path = tmp_path / "sheet.tsv"
    path.write_text("plate,patient,line,file,reader,layout\n")
    with pytest.raises(InputError, match="lacks required column.*tab-separated"):
        read_sample_sheet(path)


def test_duplicate_plate_ids(tmp_path):
    row = "p1\tP1\tL1\tplate.csv\tauto\tlayout.csv"
    with pytest.raises(InputError, match="duplicate plate id\\(s\\) p1"):
        load_sample_sheet(write_sheet(tmp_path, row, row))


@pytest.mark.parametrize("column, value", [("file", "nope.csv"), ("layout", "nope.toml")])
def test_missing_files_name_the_plate(tmp_path, column, value):
    cells = {"file": "plate.csv", "layout": "layout.csv", column: value}
    path = write_sheet(tmp_path, f"p1\tP1\tL1\t{cells['file']}\tauto\t{cells['layout']}")
    with pytest.raises(InputError, match=rf"sample_sheet.tsv; plate p1: .*{value} not found"):
        load_sample_sheet(path)


def test_unknown_reader_name(tmp_path):
    path = write_sheet(tmp_path, "p1\tP1\tL1\tplate.csv\tnosuchreader\tlayout.csv")
    with pytest.raises(InputError, match="plate p1: unknown reader 'nosuchreader'"):
        load_sample_sheet(path)


def test_header_without_rows_is_refused(tmp_path):
    path = write_sheet(tmp_path)
    with pytest.raises(InputError, match="lists no plates: it has a header but no rows") as caught:
        read_sample_sheet(path)
    assert caught.value.file == str(path)


def test_latin1_sheet_is_read(tmp_path):
    path = write_sheet(tmp_path, "p1\tPatient_Müller\tL1\tplate.csv\tauto\tlayout.csv")
    path.write_bytes(path.read_text().encode("latin-1"))
    assert read_sample_sheet(path)["patient"].tolist() == ["Patient_Müller"]


def test_ragged_sheet_is_refused(tmp_path):
    path = write_sheet(tmp_path, "p1\tP1\tL1\tplate.csv\tauto\tlayout.csv\textra\tcells")
    with pytest.raises(InputError, match="cannot be read as a tab-separated sample sheet") as caught:
        read_sample_sheet(path)
    assert caught.value.file == str(path)


def test_one_raw_file_for_two_plates_is_a_warning(tmp_path, caplog):
    path = write_sheet(tmp_path, "p1\tP1\tL1\tplate.csv\tauto\tlayout.csv", "p2\tP1\tL1\tplate.csv\tauto\tlayout.csv")
    with caplog.at_level("WARNING", logger="pdoscreen"):
        load_sample_sheet(path)
    assert "plates p1, p2 are all read from plate.csv: they will have identical signals" in caplog.text
