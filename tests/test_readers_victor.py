"""PerkinElmer VICTOR Nivo and VICTOR X3 readers. Both real files are kinetic and
refused; single-cycle copies derived from them are read as endpoints."""

import re
from pathlib import Path

import pytest

from pdoscreen.errors import InputError
from pdoscreen.readers import detect, read_measurements

NIVO = "plate-reader/perkinelmer-victor-nivo-csv/nivo_output.csv"
X3 = "plate-reader/perkinelmer-victor-x3-txt/victorx3_output.txt"


def nivo_single_cycle(source: Path, target: Path) -> Path:
    """The real Nivo file with only cycle 1 kept in the results table."""
    out = []
    for line in source.read_bytes().splitlines(keepends=True):
        body, end = line.rstrip(b"\r\n"), line[len(line.rstrip(b"\r\n")) :]
        if re.match(rb"^(,Cycle|,Plate|,Barcode|Well,Time|[A-H]\d+,)", body):
            body = b",".join(body.split(b",")[:3])
        out.append(body.replace(b"KINETIC CYCLES,17", b"KINETIC CYCLES,1") + end)
    target.write_bytes(b"".join(out))
    return target


def x3_single_repeat(source: Path, target: Path) -> Path:
    """The real X3 file with repeat 1 only: its well rows, its plate block and
    the protocol description."""
    lines = source.read_bytes().splitlines(keepends=True)
    blocks = [i for i, line in enumerate(lines) if line.startswith(b"Plate\tRepeat\tEnd time")]
    protocol = next(i for i, line in enumerate(lines) if line.startswith(b"Protocol description"))
    wells = [line for line in lines[1 : blocks[0]] if line.split(b"\t")[1] == b"1"]
    tail = [
        line.replace(
            b"Number of repeats ................. 17", b"Number of repeats ................. 1"
        )
        for line in lines[protocol:]
    ]
    target.write_bytes(b"".join([lines[0], *wells, *lines[blocks[0] : blocks[1]], *tail]))
    return target


def test_detects_both_files(real_world):
    assert detect(real_world / NIVO) == "victor-nivo"
    assert detect(real_world / X3) == "victor-x3"


def test_real_nivo_file_is_kinetic(real_world):
    with pytest.raises(InputError, match=r"kinetic read \(17 cycles of 'ABS \(F\) - Kinetics'\)"):
        read_measurements(real_world / NIVO)


def test_real_x3_file_is_kinetic(real_world):
    with pytest.raises(InputError, match=r"kinetic read \(17 repeats\)"):
        read_measurements(real_world / X3)


def test_nivo_single_cycle_is_an_endpoint(real_world, tmp_path):
    path = nivo_single_cycle(real_world / NIVO, tmp_path / "nivo_1cycle.csv")
    assert detect(path) == "victor-nivo"
    name, (m,) = read_measurements(path)
    assert m.name == "ABS (F) - Kinetics"
    assert m.signal.shape == (8, 12)
    assert (m.flag == "").all()
    assert m.signal[0, 0] == pytest.approx(0.059)  # A1,,0.059,...
    assert m.signal[0, 1] == pytest.approx(0.078)  # A2
    assert m.signal[1, 2] == pytest.approx(0.083)  # B3
    assert m.signal[7, 11] == pytest.approx(0.057)  # H12
    assert m.metadata["instrument_serial"] == "1022157"
    assert m.metadata["software_version"] == "5.0.0"
    assert m.metadata["read_time"] == "10/3/2022 10:44:45 AM"
    assert m.metadata["barcode"] == "0"


def test_x3_single_repeat_is_an_endpoint(real_world, tmp_path):
    path = x3_single_repeat(real_world / X3, tmp_path / "x3_1repeat.txt")
    assert detect(path) == "victor-x3"
    name, measurements = read_measurements(path)
    assert [m.name for m in measurements] == ["Absorbance @ 600 (A)", "GFP (Counts)"]
    absorbance, gfp = measurements
    assert absorbance.signal.shape == gfp.signal.shape == (8, 12)
    assert (absorbance.flag == "").all() and (gfp.flag == "").all()
    assert absorbance.signal[0, 0] == pytest.approx(0.057)  # 1 1 A01 M ... 0.057 ... 874
    assert absorbance.signal[0, 1] == pytest.approx(0.054)
    assert absorbance.signal[7, 11] == pytest.approx(0.038)
    assert gfp.signal[0, 0] == 874
    assert gfp.signal[0, 1] == 976
    assert gfp.signal[7, 11] == 318
    assert gfp.metadata == {
        "label": "GFP (Counts)",
        "plate_number": "1",
        "read_time": "6/12/2022 12:36:26 PM",
        "instrument_serial": "XXX",
    }


def test_nivo_truncated_table(real_world, tmp_path):
    path = nivo_single_cycle(real_world / NIVO, tmp_path / "nivo_1cycle.csv")
    lines = path.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.csv"
    cut.write_bytes(b"".join(lines[:40]))
    with pytest.raises(InputError, match="truncated") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_x3_truncated_list(real_world, tmp_path):
    path = x3_single_repeat(real_world / X3, tmp_path / "x3_1repeat.txt")
    lines = path.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.txt"
    cut.write_bytes(b"".join(lines[:30]) + lines[30][:12])
    with pytest.raises(InputError) as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_x3_unknown_text_in_a_well(real_world, tmp_path):
    path = x3_single_repeat(real_world / X3, tmp_path / "x3_1repeat.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(
        path.read_bytes().replace(b"\tA02\tM\t00:00:41.61\t0.054", b"\tA02\tM\t00:00:41.61\tn/a", 1)
    )
    with pytest.raises(InputError, match="well A02"):
        read_measurements(bad)
