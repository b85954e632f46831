"""Promega GloMax Navigator XLSX reader, against the real GloMax export."""

from pathlib import Path

import numpy as np
import openpyxl
import pytest

from pdoscreen.errors import InputError
from pdoscreen.readers import detect, read_measurements

DUAL_LUCIFERASE = (
    "plate-reader/promega-glomax-navigator-xlsx/"
    "Dual Luciferase Reporter Assay System ELIAS 2020.03.10 05_34_44.xlsx"
)
FIREFLY = "Luminescence reading 1 after injector 1"
RENILLA = "Luminescence reading 2 after injector 2"


def read(path: Path) -> dict:
    name, measurements = read_measurements(path)
    assert name == "glomax"
    return {m.name: m for m in measurements}


def test_detects_the_file(real_world):
    assert detect(real_world / DUAL_LUCIFERASE) == "glomax"


def test_two_stacked_readings(real_world):
    blocks = read(real_world / DUAL_LUCIFERASE)
    assert list(blocks) == [FIREFLY, RENILLA]
    firefly, renilla = blocks.values()
    assert firefly.signal.shape == renilla.signal.shape == (8, 12)  # "Plate Type: 96 well"
    assert firefly.signal[0, 0] == 8873  # A1
    assert firefly.signal[1, 2] == 277300  # B3
    assert firefly.signal[3, 5] == 433000  # D6
    assert renilla.signal[0, 0] == 1241000
    assert renilla.signal[3, 2] == 2160000  # D3
    # Only A1-D6 was read: rows E-H and columns 7-12 are empty.
    for m in (firefly, renilla):
        assert (m.flag[:4, :6] == "").all()
        assert (m.flag == "not_measured").sum() == 72
        assert np.isnan(m.signal[4, 0]) and np.isnan(m.signal[0, 6])
        assert not m.default  # a dual-luciferase ratio needs both
    assert firefly.metadata == {
        "read_time": "2020-03-10 05:34:47",
        "instrument": "GloMax® Navigator",
        "instrument_serial": "9111000078",
        "software_version": "3.0.0",
        "label": "Luminescence",
    }


def test_repeated_reading_is_refused_as_kinetic(real_world, tmp_path):
    book = openpyxl.load_workbook(real_world / DUAL_LUCIFERASE)
    book["Results"]["D41"] = 2  # the second matrix's "Reading:" number
    kinetic = tmp_path / "kinetic.xlsx"
    book.save(kinetic)
    with pytest.raises(
        InputError, match="kinetic read \\(reading 2 of step 'Luminescence, Kinetics'\\)"
    ):
        read_measurements(kinetic)


def test_matrix_missing_a_row_is_refused(real_world, tmp_path):
    book = openpyxl.load_workbook(real_world / DUAL_LUCIFERASE)
    book["Results"].delete_rows(47, 2)  # rows F and G of the second matrix
    cut = tmp_path / "cut.xlsx"
    book.save(cut)
    with pytest.raises(InputError, match="lacks plate row F .*truncated") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_truncated_workbook_is_refused(real_world, tmp_path):
    data = (real_world / DUAL_LUCIFERASE).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot open as an XLSX workbook") as error:
        read_measurements(cut, reader="glomax")
    assert str(cut) in str(error.value)
