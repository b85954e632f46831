"""The contract every reader keeps (the recipe in readers/__init__.py): a
reader's ``sniff`` claims the files it was made for and nothing else, judged on
every genuine file in ../shared/data/real-world (exports, layouts, dispenser
logs, whole screens' folders)."""

import pytest

from pdoscreen.readers import REGISTRY
from pdoscreen.readers.base import FileSample

# The reader of each folder of instrument exports.
OWNER = {
    "bmg-mars-csv": "bmg_mars",
    "bmg-omega-ascii-csv": "bmg_omega",
    "bmg-smartcontrol-xlsx": "bmg_smartcontrol",
    "envision-abs-csv": "envision",
    "envision-fluor384-assayinfo-first": "envision",
    "envision-lum1536-plate-format-tab": "envision",
    "envision-lum384-csv": "envision",
    "gen5-txt": "gen5",
    "gen5-xlsx": "gen5_xlsx",
    "perkinelmer-victor-nivo-csv": "victor-nivo",
    "perkinelmer-victor-x3-txt": "victor-x3",
    "promega-glomax-navigator-xlsx": "glomax",
    "revvity-kaleido-csv": "kaleido",
    "softmaxpro-txt": "softmax",
    "tecan-icontrol-xml": "tecan_icontrol_xml",
    "tecan-magellan-xlsx": "tecan_magellan",
    "tecan-sparkcontrol-csv": "tecan_spark_csv",
    "tecan-sparkcontrol-xlsx": "tecan_spark_xlsx",
    "thermo-skanit-xlsx": "skanit",
}


def _claims(path) -> set[str]:
    sample = FileSample(path)
    return {name for name, reader in REGISTRY.items() if reader.sniff(sample)}


def test_every_reader_owns_a_real_folder():
    assert set(OWNER.values()) == set(REGISTRY)


@pytest.mark.parametrize("kind", ["plate-reader", "raw-screen-dataset", "dispenser", "layout"])
def test_each_file_is_claimed_by_its_own_reader_only(real_world, kind):
    files = [p for p in sorted((real_world / kind).rglob("*")) if p.is_file() and p.suffix != ".md"]
    assert files
    for path in files:
        claims = _claims(path)
        if kind == "plate-reader":
            assert claims == {OWNER[path.parent.name]}, path
        elif kind == "raw-screen-dataset":  # exports beside sample sheets and annotations
            assert claims <= {"envision"}, path
        else:  # layouts and dispenser logs are no reader's
            assert not claims, path
