"""results/provenance.json: what a run was made from."""

import json

import pdoscreen
from conftest import EXAMPLE_SHEET, REPO
from pdoscreen.fit import drug_seed
from pdoscreen.plate import sha256
from pdoscreen.provenance import provenance


def test_provenance_names_versions_hashes_and_seeds():
    config = {"sample_sheet": str(EXAMPLE_SHEET), "fit": {"seed": 11}}
    record = provenance(EXAMPLE_SHEET, config, ["SN-38", "Olaparib"], REPO)
    assert record["packages"]["pdoscreen"] == pdoscreen.__version__
    assert record["packages"]["numpyro"] != "not installed"
    assert record["config"] == config
    layouts = record["inputs_sha256"]["layouts"]
    assert layouts["layouts/layout_A.csv"] == sha256(EXAMPLE_SHEET.parent / "layouts/layout_A.csv")
    assert len(record["inputs_sha256"]["plate_reader_files"]) == 10
    assert record["fit_seeds"] == {"Olaparib": drug_seed(11, "Olaparib"), "SN-38": drug_seed(11, "SN-38")}
    assert len(record["workflow_git_revision"].split()[0]) == 40
    json.dumps(record)  # serialisable as it stands


def test_provenance_outside_a_git_checkout(tmp_path):
    record = provenance(EXAMPLE_SHEET, {"fit": {"seed": 1}}, [], tmp_path)
    assert record["workflow_git_revision"].startswith("unknown")
