"""Molecular Devices SoftMax Pro TXT reader, against the real SoftMax exports."""

from pathlib import Path

import numpy as np
import pytest

from pdoscreen.errors import InputError
from pdoscreen.readers import detect, read_measurements

FOLDER = "plate-reader/softmaxpro-txt"
TIME_FORMAT = f"{FOLDER}/MD_SMP_luminescence_endpoint_example03.txt"
PLATE_FORMAT = f"{FOLDER}/softmaxpro_no_calc_docs.txt"
DUAL = f"{FOLDER}/softmaxpro_example_group_with_missing_calc_column.txt"
KINETIC = f"{FOLDER}/spectramax340_kinetic_partial_plate.txt"


def read(path: Path) -> dict:
    name, measurements = read_measurements(path)
    assert name == "softmax"
    return {m.name: m for m in measurements}


def test_detects_every_softmax_file(real_world):
    for path in (TIME_FORMAT, PLATE_FORMAT, DUAL, KINETIC):
        assert detect(real_world / path) == "softmax", path


def test_utf16_time_format_two_plates_with_reduced_copies(real_world):
    blocks = read(real_world / TIME_FORMAT)
    assert list(blocks) == [
        "plate 1: c12345_2",
        "plate 1: c12345_2 (reduced)",
        "plate 2: c123455_3",
        "plate 2: c123455_3 (reduced)",
    ]
    first = blocks["plate 1: c12345_2"]
    assert first.signal.shape == (8, 12)
    # "A1 A2 ... H12" header; "<TAB>25<TAB>1011329<TAB>929426 ..." (25 is the temperature).
    assert first.signal[0, 0] == 1011329
    assert first.signal[0, 1] == 929426
    assert first.signal[3, 11] == 3633  # D12, the last value on the line
    # Only rows A-D were read; E1..H12 are empty.
    assert (first.flag[:4] == "").all()
    assert (first.flag[4:] == "not_measured").all()
    assert np.isnan(first.signal[4, 0])
    assert first.metadata == {"plate_number": "1", "label": "Luminescence"}
    second = blocks["plate 2: c123455_3"]
    assert second.signal[0, 0] == 1497823
    assert second.signal[1, 0] == 1547358  # B1
    assert second.signal[3, 11] == 98  # D12
    assert second.metadata["plate_number"] == "2"
    reduced = blocks["plate 2: c123455_3 (reduced)"]
    np.testing.assert_array_equal(reduced.signal, second.signal)
    assert not any(m.default for m in blocks.values())  # two plates: the sheet must say which


def test_plate_format_three_plates(real_world):
    blocks = read(real_world / PLATE_FORMAT)
    assert list(blocks) == ["plate 1: PLate1", "plate 2: Plate2", "plate 3: Plate3"]
    fluor = blocks["plate 1: PLate1"]
    assert fluor.signal.shape == (8, 12)
    assert (fluor.flag == "").all()
    assert fluor.signal[0, 0] == 8723.182  # A1, after the 21.9 temperature
    assert fluor.signal[7, 3] == 13.65  # H4
    assert fluor.signal[7, 11] == 12.83  # H12
    assert fluor.metadata["label"] == "Fluorescence 505 nm"
    lum = blocks["plate 2: Plate2"]
    assert lum.signal[0, 0] == 0
    assert lum.signal[2, 1] == 7.542  # C2
    assert lum.signal[7, 0] == 3491.865  # H1
    assert lum.metadata == {"plate_number": "2", "label": "Luminescence"}
    assert blocks["plate 3: Plate3"].signal[3, 1] == 35322.422  # D2


def test_dual_wavelength_side_by_side_and_groups_skipped(real_world):
    blocks = read(real_world / DUAL)
    # The Group: tables (standards, controls, samples with Range?) are not plate reads.
    assert list(blocks) == ["Plate01: Absorbance 450 nm", "Plate01: Absorbance 650 nm"]
    a450, a650 = blocks.values()
    assert a450.signal.shape == a650.signal.shape == (8, 12)
    assert (a450.flag == "").all() and (a650.flag == "").all()
    assert a450.signal[0, 0] == 0.4011
    assert a450.signal[4, 4] == 0.465  # E5
    assert a450.signal[7, 11] == 0.1104  # H12
    assert a650.signal[0, 0] == 0.0394  # first value after the blank column
    assert a650.signal[7, 1] == 0.0525  # H2
    assert a650.signal[7, 11] == 0.0369
    assert a450.metadata == {"label": "Absorbance 450 nm"}
    assert a650.metadata == {"label": "Absorbance 650 nm"}
    assert not a450.default and not a650.default


def test_kinetic_file_is_refused(real_world):
    with pytest.raises(
        InputError, match=r"kinetic read \(SoftMax Pro Kinetic plate 'Plate#1' with 3 reads\)"
    ):
        read_measurements(real_world / KINETIC)


def test_truncated_file_is_refused(real_world, tmp_path):
    text = (real_world / PLATE_FORMAT).read_bytes()
    cut = tmp_path / "cut.txt"
    cut.write_bytes(text[: text.index(b"\t\t3.771\t0\t11.313")])  # inside Plate2, row D
    with pytest.raises(InputError, match="'~End'.*truncated") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_short_value_line_is_refused(real_world, tmp_path):
    lines = (real_world / PLATE_FORMAT).read_text(encoding="utf-8").split("\n")
    assert lines[4].startswith("\t\t9357.146\t8319.873\t")  # PLate1, row B
    lines[4] = "\t\t9357.146\t8319.873"
    short = tmp_path / "short.txt"
    short.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(
        InputError, match=r"line 5\).* 4 fields where its table has \d+: the file is truncated"
    ) as error:
        read_measurements(short)
    assert str(short) in str(error.value)


def test_unknown_text_in_a_well(real_world, tmp_path):
    text = (real_world / DUAL).read_text(encoding="utf-8").replace("\t0.4011\t", "\tbad\t", 1)
    bad = tmp_path / "bad.txt"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="well A01.*'bad'"):
        read_measurements(bad)


def test_file_without_plate_block(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("##BLOCKS= 1\nNote:\nonly a note\n~End\n")
    with pytest.raises(InputError, match="without a Plate: block"):
        read_measurements(notes)


def test_single_plate_raw_table_is_the_default(real_world, tmp_path):
    text = (real_world / TIME_FORMAT).read_text(encoding="utf-16")
    first_block = text[: text.index("~End") + len("~End")].replace("##BLOCKS= 2", "##BLOCKS= 1")
    single = tmp_path / "single.txt"
    single.write_text(first_block + "\r\n", encoding="utf-16")
    blocks = read(single)
    assert list(blocks) == ["c12345_2", "c12345_2 (reduced)"]
    assert [m.default for m in blocks.values()] == [True, False]
    assert blocks["c12345_2"].metadata == {"label": "Luminescence"}
    assert blocks["c12345_2"].signal[0, 0] == 1011329


def test_plate_block_without_data(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text(
        "##BLOCKS= 1\nPlate:\tP1\t1.3\tPlateFormat\tEndpoint\tLuminescence\tRaw\tFALSE\t1"
        "\t\t\t\t\t\t1\t0 \t1\t12\t96\n~End\n"
    )
    with pytest.raises(InputError, match="plate 'P1' holds no data"):
        read_measurements(empty)
