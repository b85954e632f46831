"""The bad-input corpus (tests/data/bad_input): each case names the file, and the
plate or well, in its error; a failing workflow run leaves earlier results as they were."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from conftest import snakemake as run_workflow
from pdoscreen.errors import InputError
from pdoscreen.ingest import ingest_plates
from pdoscreen.samplesheet import load_sample_sheet
from pdoscreen.screen import build_screen, drug_slug

CORPUS = REPO / "tests" / "data" / "bad_input"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def ingest_case(folder: Path, out: Path):
    sheet = load_sample_sheet(folder / "sample_sheet.tsv")
    ingest_plates(sheet, list(sheet["plate"]), out)
    from pdoscreen.store import open_zarr

    return build_screen(sheet, {p: open_zarr(out / f"{p}.zarr") for p in sheet["plate"]})


def test_corpus_is_complete():
    assert len(CASES) == 13


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_with_its_location(case, tmp_path):
    expected = (CORPUS / case / "expected.txt").read_text().strip()
    with pytest.raises(InputError) as caught:
        ingest_case(CORPUS / case, tmp_path / "plates")
    assert re.search(expected, str(caught.value)), str(caught.value)


def test_good_version_of_the_corpus_plate_ingests(tmp_path):
    """The corpus differs from a valid screen only by its defect."""
    folder = tmp_path / "good"
    shutil.copytree(CORPUS / "non_numeric_value", folder)
    shutil.copy(CORPUS / "unknown_unit" / "plate.csv", folder / "plate.csv")
    shutil.copy(CORPUS / "non_numeric_value" / "layout.csv", folder / "layout.csv")
    screen = ingest_case(folder, tmp_path / "plates")
    assert screen.sizes == {"plate": 1, "well": 96}
    assert (screen.role.values == "vehicle").sum() == 8


def snakemake(workdir: Path, sheet: Path):
    return run_workflow(workdir, "results/screen.zarr", "--config", f"sample_sheet={sheet}")


def tree_digest(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", ["non_numeric_value", "no_vehicle_wells", "duplicate_plate_ids"])
def test_failed_rerun_keeps_earlier_results(case, tmp_path):
    screen_dir = tmp_path / "screen"
    shutil.copytree(CORPUS / "unknown_unit", screen_dir)
    (screen_dir / "layout.csv").write_text((CORPUS / "non_numeric_value" / "layout.csv").read_text())
    first = snakemake(tmp_path / "work", screen_dir / "sample_sheet.tsv")
    assert first.returncode == 0, first.stderr[-3000:]
    before = tree_digest(tmp_path / "work" / "results")

    for name in ["plate.csv", "layout.csv", "sample_sheet.tsv"]:
        shutil.copy(CORPUS / case / name, screen_dir / name)
    second = snakemake(tmp_path / "work", screen_dir / "sample_sheet.tsv")
    assert second.returncode != 0
    # The error naming file, plate and well is on the terminal (profiles/default:
    # show-failed-logs), not only in the job's log.
    assert re.search((CORPUS / case / "expected.txt").read_text().strip(), second.stdout + second.stderr)
    after = tree_digest(tmp_path / "work" / "results")
    assert {k: v for k, v in after.items() if "snakemake_timestamp" not in k} == {
        k: v for k, v in before.items() if "snakemake_timestamp" not in k
    }


@pytest.mark.parametrize("column", ["patient", "line"])
def test_path_values_outside_the_pattern_are_refused_before_anything_runs(column, tmp_path):
    """A patient (or line, plate) names output paths: `../../x` would write outside
    results/, so the sheet's schema refuses it before any job is planned."""
    screen_dir = tmp_path / "screen"
    shutil.copytree(CORPUS / "non_numeric_value", screen_dir)
    sheet = (screen_dir / "sample_sheet.tsv").read_text().splitlines()
    header = sheet[0].split("\t")
    row = sheet[1].split("\t")
    row[header.index(column)] = "../../x"
    (screen_dir / "sample_sheet.tsv").write_text("\n".join([sheet[0], "\t".join(row)]) + "\n")
    run = run_workflow(tmp_path / "work", "--config", f"sample_sheet={screen_dir / 'sample_sheet.tsv'}")
    assert run.returncode != 0
    terminal = run.stdout + run.stderr
    assert f"sample sheet {screen_dir / 'sample_sheet.tsv'} is invalid" in terminal
    assert "'../../x' does not match" in terminal and f"schema['properties']['{column}']" in terminal
    assert not (tmp_path / "work" / "results").exists() and not (tmp_path / "work" / "logs").exists()


@pytest.mark.parametrize("drug", ["../../x", ".hidden", "-5-FU (high)", "(+)-JQ1", "%%"])
def test_drug_file_names_follow_the_path_pattern(drug):
    import yaml

    schema = yaml.safe_load((REPO / "workflow/schemas/samplesheet.schema.yaml").read_text())
    slug = drug_slug(drug)
    assert re.fullmatch(schema["properties"]["plate"]["pattern"], slug), slug
    assert "/" not in slug and ".." not in slug


def test_a_partial_plate_is_named_on_the_terminal_and_in_the_ingest_log(tmp_path):
    """Issue 15: an export that lacks a row is read as a partial plate, and the
    ingestion job (as its rule runs it) says which plate, file and wells, both on
    the terminal and in its log."""
    folder = tmp_path / "screen"
    shutil.copytree(CORPUS / "non_numeric_value", folder)
    plate = (CORPUS / "unknown_unit" / "plate.csv").read_bytes()
    (folder / "plate.csv").write_bytes(re.sub(rb"\r\nH,[^\r]*", b"", plate))  # row H cut off
    log = tmp_path / "logs" / "ingest" / "batch_1.log"
    run = subprocess.run(
        [sys.executable, "-m", "pdoscreen", "--log", str(log), "ingest", "--sheet", str(folder / "sample_sheet.tsv"),
         "--out-dir", str(tmp_path / "plates"), "p1"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, log.read_text()
    warning = "WARNING p1 (plate.csv): row H (12 wells) not in the export; read as not measured"
    assert warning in run.stderr
    assert warning in log.read_text()
