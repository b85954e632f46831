"""Thermo Fisher SkanIt XLSX reader, against the real SkanIt reports."""

from pathlib import Path

import numpy as np
import openpyxl
import pytest

from pdoscreen.errors import InputError
from pdoscreen.plate import choose_measurement
from pdoscreen.readers import detect, read_measurements

FOLDER = "plate-reader/thermo-skanit-xlsx"
LUCIFERASE = f"{FOLDER}/luciferase_assay_example.xlsx"
ELISA = f"{FOLDER}/skanit_data.xlsx"


def read(path: Path) -> dict:
    name, measurements = read_measurements(path)
    assert name == "skanit"
    return {m.name: m for m in measurements}


def test_detects_both_files(real_world):
    assert detect(real_world / LUCIFERASE) == "skanit"
    assert detect(real_world / ELISA) == "skanit"


def test_luciferase_rlu_matrix(real_world):
    blocks = read(real_world / LUCIFERASE)
    assert list(blocks) == ["Luminescence 1"]
    m = blocks["Luminescence 1"]
    assert m.signal.shape == (8, 12)
    assert (m.flag == "").all()
    assert m.signal[0, 0] == 105.4  # corner "RLU", A1
    assert m.signal[1, 5] == 58370  # B6
    assert m.signal[7, 11] == 1043  # H12
    assert m.default
    assert m.metadata == {"read_time": "8/23/2024 3:02:30 PM", "label": "Luminescence 1"}


def test_elisa_steps_and_default(real_world, tmp_path):
    path = real_world / ELISA
    blocks = read(path)
    # Sample-layout and dilution-factor matrices are not measurements.
    assert list(blocks) == [
        "Absorbance 1",
        "Blank Subtraction 1",
        "Standard Curve 1: Signal",
        "Standard Curve 1: Conc. [microg/ml]",
        "Dilution Factor 1",
    ]
    raw = blocks["Absorbance 1"]
    assert raw.signal.shape == (8, 12)
    assert (raw.flag == "").all()
    assert raw.signal[0, 0] == 1.7455
    assert raw.signal[3, 2] == 0.9125  # D3
    assert raw.signal[7, 11] == 0.1032  # H12
    assert [m.name for m in blocks.values() if m.default] == ["Absorbance 1"]
    assert choose_measurement(list(blocks.values()), None, path=path) is raw
    assert raw.metadata == {
        "software_version": "SkanIt Software 7.0 RE for Microplate Readers RE, ver. 7.0.0.50",
        "instrument": "Varioskan LUX",
        "instrument_serial": "3020-81776",
        "read_time": "6/5/2023 6:09:56 PM",
        "label": "450 nm",
    }
    assert blocks["Blank Subtraction 1"].signal[0, 2] == -0.01048  # A3


def test_elisa_markers_and_empty_wells(real_world):
    blocks = read(real_world / ELISA)
    signal = blocks["Standard Curve 1: Signal"]
    # The two blank wells H1 and H2 are empty in the fitted-signal matrix.
    assert list(signal.flag[7, :3]) == ["not_measured", "not_measured", ""]
    assert signal.signal[7, 2] == 0.3343
    conc = blocks["Standard Curve 1: Conc. [microg/ml]"]
    assert conc.flag[0, 0] == "above_range"  # " > Max"
    assert conc.flag[0, 2] == "below_range"  # " < Min"
    assert conc.signal[0, 1] == 0.9022
    assert (conc.flag == "above_range").sum() == 1
    assert (conc.flag == "below_range").sum() == 34
    dilution = blocks["Dilution Factor 1"]
    assert dilution.flag[0, 0] == "not_a_number"  # "NaN"
    assert np.isnan(dilution.signal[0, 0])
    assert dilution.signal[3, 2] == 64  # D3


def test_matrix_missing_a_row_is_refused(real_world, tmp_path):
    book = openpyxl.load_workbook(real_world / ELISA)
    book["Absorbance 1_01"].delete_rows(15)  # plate row E of the Abs matrix
    cut = tmp_path / "cut.xlsx"
    book.save(cut)
    with pytest.raises(InputError, match="matrix 'Abs' lacks plate row E") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_truncated_workbook_is_refused(real_world, tmp_path):
    data = (real_world / LUCIFERASE).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot open as an XLSX workbook") as error:
        read_measurements(cut, reader="skanit")
    assert str(cut) in str(error.value)


def test_unknown_text_in_a_well(real_world, tmp_path):
    book = openpyxl.load_workbook(real_world / LUCIFERASE)
    book.active["C11"] = "n/a"  # well A02: column C, sheet row 11 is plate row A
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    with pytest.raises(InputError, match="well A02.*'n/a'"):
        read_measurements(bad)
