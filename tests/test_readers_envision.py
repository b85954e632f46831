"""PerkinElmer EnVision reader, against the real EnVision exports."""

from pathlib import Path

import numpy as np
import pytest

from pdoscreen.errors import InputError
from pdoscreen.plate import read_plate
from pdoscreen.readers import detect, read_measurements

LUM384 = "plate-reader/envision-lum384-csv/PE_Envision_luminescence_example01.csv"
ABS = "plate-reader/envision-abs-csv/PE_Envision_absorbance_example01.csv"
FLUOR = "plate-reader/envision-fluor384-assayinfo-first/miRNA_fluorescence_test_1.csv"
LUM1536 = "plate-reader/envision-lum1536-plate-format-tab/plate2.txt"
CLL = "raw-screen-dataset/drugscreenexplorer-cll-ctg384"
SCREENWERK = "raw-screen-dataset/screenwerk-envision-lum1536"

CALC_LUM384 = (
    "Calculated results: Calc 1: Crosstalk = Crosstalk correction where "
    "Label : 0_1 US LUM 384(1) channel 1"
)
RAW_LUM384 = "Results for 0_1 US LUM 384(1) - channel 0 (CPS)"
CALC_CLL = (
    "Calculated results: Calc 1: Crosstalk = Crosstalk correction where "
    "Label : LW US LUM 384(1) channel 1"
)
RAW_CLL = "Results for LW US LUM 384(1) - channel 0 (CPS)"
RAW_SCREENWERK = "Results for US LUM 1536 (cps)(1) - channel 0 (CPS)"


def envision_files(real_world: Path) -> list[Path]:
    return [
        real_world / LUM384,
        real_world / ABS,
        real_world / FLUOR,
        real_world / LUM1536,
        *sorted((real_world / CLL).glob("*.txt")),
        *sorted((real_world / SCREENWERK).glob("0920A*.csv")),
    ]


def read(path: Path) -> dict:
    name, measurements = read_measurements(path)
    assert name == "envision"
    return {m.name: m for m in measurements}


def value(measurement, well_row: int, well_column: int) -> float:
    return measurement.signal[well_row, well_column]


def test_detects_every_envision_file(real_world):
    files = envision_files(real_world)
    assert len(files) == 14
    for path in files:
        assert detect(path) == "envision", path


def test_luminescence_384_two_plates_partial_rows(real_world):
    blocks = read(real_world / LUM384)
    assert list(blocks) == [
        f"plate 1: {CALC_LUM384}",
        f"plate 1: {RAW_LUM384}",
        f"plate 2: {CALC_LUM384}",
        f"plate 2: {RAW_LUM384}",
    ]
    # Two plates: no single raw block to pick by default.
    assert not any(m.default for m in blocks.values())
    raw1 = blocks[f"plate 1: {RAW_LUM384}"]
    assert raw1.signal.shape == (16, 24)
    # A,0,40,0,40,40,40,80,...  and  I,...,0,120,40 (I08 = 120)
    assert value(raw1, 0, 0) == 0
    assert value(raw1, 0, 1) == 40
    assert value(raw1, 0, 6) == 80
    assert value(raw1, 8, 7) == 120
    # Only rows A, E, I and M were read.
    assert raw1.flag[1, 0] == "not_measured" and np.isnan(raw1.signal[1, 0])
    assert (raw1.flag == "not_measured").sum() == 12 * 24
    assert (raw1.flag[[0, 4, 8, 12]] == "").all()
    calc1 = blocks[f"plate 1: {CALC_LUM384}"]
    assert value(calc1, 0, 1) == 40.0 and value(calc1, 8, 7) == 120.0
    raw2 = blocks[f"plate 2: {RAW_LUM384}"]
    assert value(raw2, 0, 0) == 40 and value(raw2, 4, 0) == 80
    assert raw1.metadata["barcode"] == "8/22/2023 11:01:43 AM"  # ="..." unescaped
    assert raw2.metadata["barcode"] == "8/22/2023 12:16:57 PM"
    assert raw1.metadata["instrument_serial"] == "1051017"
    assert raw1.metadata["software_version"] == "1.14.3049.1193"
    assert raw1.metadata["plate_number"] == "1"
    assert raw1.metadata["read_time"] == "8/22/2023 12:16:31 PM"
    assert raw1.metadata["label"] == "0_1 US LUM 384(1) - channel 0 (CPS)"


def test_absorbance_two_plates_headerless_matrices(real_world):
    blocks = read(real_world / ABS)
    assert list(blocks) == [
        "plate 1: Results for BCA Absorbance @ 562(1)",
        "plate 2: Calculated results: Calc 1: Crosstalk = Crosstalk correction where "
        "Label : Screen 384 OptiPlate(1) channel 1",
        "plate 2: Results for Screen 384 OptiPlate(1)",
    ]
    bca = blocks["plate 1: Results for BCA Absorbance @ 562(1)"]
    assert bca.signal.shape == (16, 24)
    assert (bca.flag == "").all()
    assert value(bca, 0, 0) == pytest.approx(2.63)  # 2.6300
    assert value(bca, 0, 1) == pytest.approx(2.713)
    assert value(bca, 15, 23) == pytest.approx(2.639)
    assert bca.metadata["label"] == "BCA Absorbance @ 562(1)"
    assert bca.metadata["barcode"] == "8/22/2023 10:50:28 AM"
    screen = blocks["plate 2: Results for Screen 384 OptiPlate(1)"]
    assert value(screen, 0, 0) == 8 and value(screen, 1, 7) == 12 and value(screen, 0, 14) == 0
    calc = [m for n, m in blocks.items() if "Calculated" in n][0]
    assert value(calc, 1, 7) == 12.0  # written 12.000
    assert calc.metadata["plate_number"] == "2"


def test_fluorescence_assay_information_first(real_world):
    blocks = read(real_world / FLUOR)
    assert list(blocks) == [
        "Calculated results: Calc 1: Label ratio = X / Y where X = gELI jc-1(1) channel 2 "
        "Y = gELI jc-1(1) channel 1",
        "Results for gELI jc-1(1) - channel 1 (RFU)",
        "Results for gELI jc-1(1) - channel 2 (RFU)",
    ]
    # Two raw channels of a dual-emission read: no default.
    assert not any(m.default for m in blocks.values())
    ratio, ch1, ch2 = blocks.values()
    assert value(ratio, 0, 0) == pytest.approx(0.7883)
    assert value(ratio, 4, 10) == pytest.approx(0.0650)
    assert value(ch1, 0, 0) == 462797
    assert value(ch2, 4, 10) == 13779
    assert value(ch2, 15, 23) == 319482
    assert "barcode" not in ch1.metadata  # the barcode cell is empty
    assert ch1.metadata["instrument_serial"] == "1040204"
    assert ch1.metadata["software_version"] == "X.XX Build X"
    # The UNK1..UNK384 plate map was not taken for data.
    assert len(blocks) == 3


def test_1536_tab_separated_headerless_starts_with_numbers(real_world):
    blocks = read(real_world / LUM1536)
    assert list(blocks) == ["Results for KP US LUM 1536  normal height(1)"]
    m = blocks["Results for KP US LUM 1536  normal height(1)"]
    assert m.default
    assert m.signal.shape == (32, 48)
    assert (m.flag == "").all()
    assert value(m, 0, 0) == 2360
    assert value(m, 0, 47) == 560
    assert value(m, 1, 1) == 3640
    assert value(m, 31, 0) == 2400  # row AF
    assert value(m, 31, 47) == 320
    assert m.metadata["barcode"] == "A0126BRIC0000001"
    assert m.metadata["instrument_serial"] == "1040588"
    assert m.metadata["read_time"] == "3/31/2017 1:25:58 PM"


CLL_VALUES = {  # file number: (A01, P24) of the raw block
    "001": (1083480, 715840),
    "002": (507840, 558000),
    "003": (929960, 933960),
    "004": (1467840, 1434160),
    "005": (900680, 898480),
    "006": (58040, 54600),
}


@pytest.mark.parametrize("number", sorted(CLL_VALUES))
def test_cll_semicolon_plates(real_world, number):
    (path,) = (real_world / CLL).glob(f"CTGLuminescence_20161124_{number}_*.txt")
    blocks = read(path)
    assert list(blocks) == [CALC_CLL, RAW_CLL]
    raw = blocks[RAW_CLL]
    assert raw.default and not blocks[CALC_CLL].default
    assert raw.signal.shape == (16, 24)
    assert (raw.flag == "").all()
    a01, p24 = CLL_VALUES[number]
    assert value(raw, 0, 0) == a01
    assert value(raw, 15, 23) == p24
    assert raw.metadata["plate_number"] == str(int(number))
    assert raw.metadata["instrument_serial"] == "1041591"
    assert "barcode" not in raw.metadata


def test_cll_plate_001_through_read_plate(real_world):
    (path,) = (real_world / CLL).glob("CTGLuminescence_20161124_001_*.txt")
    ds = read_plate(path)  # the default (raw) block
    assert ds.attrs["measurement"] == RAW_CLL
    assert ds.signal.sel(row="A", column=1) == 1083480  # A;1083480;856480;...
    assert ds.signal.sel(row="A", column=2) == 856480
    assert ds.signal.sel(row="C", column=1) == 1530760
    assert ds.signal.sel(row="P", column=24) == 715840


SCREENWERK_VALUES = {  # file: (plate number, A01, AF01, AF48)
    "0920A1.csv": ("1", 1518400, 1498440, 1889400),
    "0920A2.csv": ("2", 1587560, 1412840, 1739760),
    "0920A_control_0h.csv": ("1", 477360, 403320, 463760),
    "0920A_control_72h.csv": ("24", 1536520, 1444840, 1178040),
}


@pytest.mark.parametrize("file", sorted(SCREENWERK_VALUES))
def test_screenwerk_1536_with_empty_calculated_stub(real_world, file):
    blocks = read(real_world / SCREENWERK / file)
    # The calculated-results stub has no matrix: one measurement only.
    assert list(blocks) == [RAW_SCREENWERK]
    m = blocks[RAW_SCREENWERK]
    assert m.default
    assert m.signal.shape == (32, 48)
    assert (m.flag == "").all()
    plate, a01, af01, af48 = SCREENWERK_VALUES[file]
    assert value(m, 0, 0) == a01
    assert value(m, 31, 0) == af01
    assert value(m, 31, 47) == af48
    assert m.metadata["plate_number"] == plate
    assert m.metadata["software_version"] == "1.14.3049.528"
    assert m.metadata["instrument_serial"] == "1050392"


def test_screenwerk_b02(real_world):
    m = read(real_world / SCREENWERK / "0920A1.csv")[RAW_SCREENWERK]
    assert value(m, 1, 1) == 222520  # B,1432920,222520,...


# --- synthetic bad input -------------------------------------------------------------


def copy_lines(source: Path, target: Path, lines: list[bytes]) -> Path:
    target.write_bytes(b"".join(lines))
    return target


def test_truncated_inside_matrix(real_world, tmp_path):
    (source,) = (real_world / CLL).glob("CTGLuminescence_20161124_001_*.txt")
    lines = source.read_bytes().splitlines(keepends=True)
    # Cut in the middle of row D of the raw block.
    cut = copy_lines(source, tmp_path / "cut.txt", lines[:33] + [lines[33][:40]])
    with pytest.raises(InputError, match="truncated") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_truncated_after_matrix_without_plate_information(real_world, tmp_path):
    source = real_world / LUM1536
    lines = source.read_bytes().splitlines(keepends=True)
    cut = copy_lines(source, tmp_path / "cut.txt", lines[:33])  # matrix + blank line
    with pytest.raises(InputError, match="Plate information") as error:
        read_measurements(cut, reader="envision")
    assert str(cut) in str(error.value)


def test_short_row_in_labelled_matrix(real_world, tmp_path):
    (source,) = (real_world / CLL).glob("CTGLuminescence_20161124_001_*.txt")
    lines = source.read_bytes().splitlines(keepends=True)
    lines[31] = b"C;1530760;861200\r\n"
    bad = copy_lines(source, tmp_path / "short.txt", lines)
    with pytest.raises(InputError, match=r"line 32\).* 3 fields where its table has 26: the file is truncated there"):
        read_measurements(bad)


def test_unknown_text_in_a_well(real_world, tmp_path):
    (source,) = (real_world / CLL).glob("CTGLuminescence_20161124_001_*.txt")
    lines = source.read_bytes().splitlines(keepends=True)
    lines[29] = lines[29].replace(b"A;1083480;", b"A;lost;", 1)
    bad = copy_lines(source, tmp_path / "text.txt", lines)
    with pytest.raises(InputError, match="well A01"):
        read_measurements(bad)


def test_marker_in_a_well_is_flagged(real_world, tmp_path):
    (source,) = (real_world / CLL).glob("CTGLuminescence_20161124_001_*.txt")
    lines = source.read_bytes().splitlines(keepends=True)
    lines[29] = lines[29].replace(b"A;1083480;", b"A;OVRFLW;", 1)
    blocks = read(copy_lines(source, tmp_path / "marker.txt", lines))
    raw = blocks[RAW_CLL]
    assert np.isnan(raw.signal[0, 0]) and raw.flag[0, 0] == "overflow"
    assert value(raw, 0, 1) == 856480


def test_headerless_matrix_of_wrong_size(real_world, tmp_path):
    source = real_world / LUM1536
    lines = source.read_bytes().splitlines(keepends=True)
    del lines[5]  # 31 rows left
    bad = copy_lines(source, tmp_path / "rows.txt", lines)
    with pytest.raises(InputError, match="31 rows x 48 columns"):
        read_measurements(bad)


def test_plate_repeats_are_refused_as_kinetic(real_world, tmp_path):
    (source,) = (real_world / CLL).glob("CTGLuminescence_20161124_001_*.txt")
    text = source.read_bytes().replace(
        b"Number of plate repeats;;;;1", b"Number of plate repeats;;;;5"
    )
    bad = tmp_path / "repeats.txt"
    bad.write_bytes(text)
    with pytest.raises(InputError, match="kinetic read \\(5 plate repeats\\)"):
        read_measurements(bad)
