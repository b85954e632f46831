"""Revvity Kaleido / EnSight CSV reader, against the real Kaleido exports."""

from pathlib import Path

import pytest

from pdoscreen.errors import InputError
from pdoscreen.readers import detect, read_measurements

FOLDER = "plate-reader/revvity-kaleido-csv"
ENDPOINT = f"{FOLDER}/luminescence_endpoint_single_plate_example_01.csv"
PURE_CSV = f"{FOLDER}/luminescence_v3.5_pure_csv_format_example.csv"


def read_one(path: Path):
    name, measurements = read_measurements(path)
    assert name == "kaleido"
    assert [m.name for m in measurements] == ["Luminescence 1"]
    return measurements[0]


def test_detects_both_files(real_world):
    assert detect(real_world / ENDPOINT) == "kaleido"
    assert detect(real_world / PURE_CSV) == "kaleido"


def test_endpoint_example_swapped_rows_and_columns(real_world):
    m = read_one(real_world / ENDPOINT)
    # "Number of Rows,,12" / "Number of Columns,,8": the matrix (8 x 12) wins.
    assert m.signal.shape == (8, 12)
    assert (m.flag == "").all()
    assert m.signal[0, 0] == 94395  # A,94395,87450,...
    assert m.signal[1, 6] == 66550  # B07
    assert m.signal[7, 11] == 75  # H12
    assert m.metadata == {
        "instrument": "EnSight",
        "instrument_serial": "1234567",
        "software_version": "Kaleido 3.0.3067.117",
        "read_time": "2023-05-17 16:21:30",
        "label": "Luminescence 1",
        "barcode": "V-2023-05-17 16:21:29",
    }


def test_pure_csv_padded_rows(real_world):
    m = read_one(real_world / PURE_CSV)
    assert m.signal.shape == (8, 12)
    assert (m.flag == "").all()
    assert m.signal[0, 0] == 3330
    assert m.signal[1, 1] == 218540
    assert m.signal[7, 11] == 2460
    assert m.metadata["barcode"] == "BARCODE_1 13:39:01"
    assert m.metadata["software_version"] == "Kaleido 3.5.3082.227"
    assert m.metadata["instrument_serial"] == "1712111"
    assert m.metadata["read_time"] == "10/16/2024 13:39"


def test_truncated_inside_matrix(real_world, tmp_path):
    lines = (real_world / ENDPOINT).read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"".join(lines[:14]) + lines[14][:12])  # inside row E
    with pytest.raises(InputError, match="truncated") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_short_matrix_row(real_world, tmp_path):
    lines = (real_world / ENDPOINT).read_bytes().splitlines(keepends=True)
    lines[12] = b"C,95030,86670\r\n"
    bad = tmp_path / "short.csv"
    bad.write_bytes(b"".join(lines))
    with pytest.raises(InputError, match=r"line 13\).* 3 fields where its table has \d+: the file is truncated"):
        read_measurements(bad)


def test_repeated_read_is_refused_as_kinetic(real_world, tmp_path):
    text = (real_world / ENDPOINT).read_bytes()
    bad = tmp_path / "repeat.csv"
    bad.write_bytes(text.replace(b"V-2023-05-17 16:21:29,1,", b"V-2023-05-17 16:21:29,3,", 1))
    with pytest.raises(InputError, match="kinetic read \\(3 repeats"):
        read_measurements(bad)
