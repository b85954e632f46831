"""Tecan readers (SparkControl XLSX/CSV, Magellan XLSX, i-control XML), against
the real Tecan exports."""

from pathlib import Path

import numpy as np
import openpyxl
import pytest

from pdoscreen.errors import InputError
from pdoscreen.readers import detect, read_measurements

SPARK_XLSX = "plate-reader/tecan-sparkcontrol-xlsx/absorbance_1.xlsx"
SPARK_KINETIC = "plate-reader/tecan-sparkcontrol-xlsx/tekan_spark.xlsx"
SPARK_CSV = "plate-reader/tecan-sparkcontrol-csv/191219_calibration_membrane.csv"
MAGELLAN_OD = "plate-reader/tecan-magellan-xlsx/SLA01P01_OD.xlsx"
MAGELLAN_384 = "plate-reader/tecan-magellan-xlsx/SLA01P01_assay.xlsx"
ICONTROL_XML = "plate-reader/tecan-icontrol-xml/MI_FLU_hsa_lig1_20151117_110602.xml"

FILES = {
    SPARK_XLSX: "tecan_spark_xlsx",
    SPARK_KINETIC: "tecan_spark_xlsx",
    SPARK_CSV: "tecan_spark_csv",
    MAGELLAN_OD: "tecan_magellan",
    MAGELLAN_384: "tecan_magellan",
    ICONTROL_XML: "tecan_icontrol_xml",
}


def read(path: Path, reader: str) -> dict:
    name, measurements = read_measurements(path)
    assert name == reader
    return {m.name: m for m in measurements}


def test_detects_every_tecan_file(real_world):
    for path, reader in FILES.items():
        assert detect(real_world / path) == reader, path


def test_spark_xlsx_partial_matrix(real_world):
    blocks = read(real_world / SPARK_XLSX, "tecan_spark_xlsx")
    assert list(blocks) == ["A450"]
    m = blocks["A450"]
    assert m.signal.shape == (8, 12)  # [NUN96ft] plate; only A1-H6 was read
    assert m.signal[0, 0] == 2.6103  # A1
    assert m.signal[3, 3] == 0.2602  # D4
    assert m.signal[7, 5] == 0.0527  # H6
    assert (m.flag[:, :6] == "").all()
    assert (m.flag[:, 6:] == "not_measured").all()
    assert np.isnan(m.signal[0, 6])
    assert m.metadata == {
        "software_version": "SparkControl V3.2",
        "instrument": "Spark",
        "instrument_serial": "XXX",
        "read_time": "2024-06-28 13:47:17",
        "label": "A450",
    }


def test_spark_xlsx_kinetic_is_refused(real_world):
    with pytest.raises(InputError, match="kinetic read \\(a Spark kinetic loop with 61 cycles\\)"):
        read_measurements(real_world / SPARK_KINETIC)


def test_spark_csv_one_measurement_per_label(real_world):
    blocks = read(real_world / SPARK_CSV, "tecan_spark_csv")
    gains = [f"GFP {gain}" for gain in range(40, 130, 10)]
    assert list(blocks) == ["OD600", "OD700", *gains]
    od600 = blocks["OD600"]
    assert od600.signal.shape == (8, 12)
    assert (od600.flag == "").all()
    assert od600.signal[0, 0] == 0.0921  # A1,0.0921,0
    assert od600.signal[1, 0] == 0.0905  # B1, listed after B12 (serpentine read order)
    assert od600.signal[7, 11] == 0.1005  # H12
    assert od600.metadata == {
        "software_version": "SparkControl V2.3",
        "instrument": "Spark",
        "instrument_serial": "x",
        "read_time": "19/12/2019 15:07",
        "label": "OD600",
    }
    assert blocks["OD700"].signal[0, 0] == 0.0831
    assert blocks["GFP 40"].signal[0, 0] == 1830
    assert blocks["GFP 40"].signal[7, 11] == 0


def test_spark_csv_over_marker(real_world):
    blocks = read(real_world / SPARK_CSV, "tecan_spark_csv")
    gfp70 = blocks["GFP 70"]
    # A1,OVER / B1,OVER / C1,OVER / D1,OVER; A2,54510
    assert list(gfp70.flag[:4, 0]) == ["overflow"] * 4
    assert np.isnan(gfp70.signal[0, 0])
    assert gfp70.signal[0, 1] == 54510
    assert gfp70.signal[7, 11] == 22
    assert (gfp70.flag == "overflow").sum() == 4
    gfp120 = blocks["GFP 120"]
    assert (gfp120.flag == "overflow").sum() == 28
    assert gfp120.signal[7, 11] == 1064


def test_magellan_column_major_list(real_world):
    blocks = read(real_world / MAGELLAN_OD, "tecan_magellan")
    assert list(blocks) == ["Raw data (595 nm)"]
    m = blocks["Raw data (595 nm)"]
    assert m.signal.shape == (8, 12)  # GRE96ft.pdf
    assert (m.flag == "").all()
    assert m.signal[0, 0] == 0.1462  # A1 (first row)
    assert m.signal[1, 0] == 0.2118  # B1 (second row: column-major order)
    assert m.signal[0, 1] == 0.1418  # A2 (ninth row)
    assert m.signal[7, 11] == 0.0461  # H12
    assert m.metadata == {
        "read_time": "2021-07-06 09:43:07",
        "instrument_serial": "12901000069",
        "label": "595 nm",
    }


def test_magellan_384_two_labels(real_world):
    blocks = read(real_world / MAGELLAN_384, "tecan_magellan")
    assert list(blocks) == ["Label1 (535 nm)", "Label2 (700 nm)"]
    label1, label2 = blocks.values()
    assert label1.signal.shape == label2.signal.shape == (16, 24)  # "384 well"
    assert (label1.flag == "").all() and (label2.flag == "").all()
    assert label1.signal[0, 0] == 0.4002  # A1
    assert label1.signal[0, 1] == 0.046  # A2
    assert label1.signal[15, 23] == 0.1144  # P24
    assert label2.signal[0, 0] == 0.3741
    assert label2.signal[1, 0] == 0.1025  # B1
    assert label2.signal[15, 23] == 0.0914
    assert label1.metadata["label"] == "535 nm"
    assert label2.metadata["read_time"] == "2021-07-08 15:01:21"


def test_icontrol_xml_one_measurement_per_section(real_world):
    blocks = read(real_world / ICONTROL_XML, "tecan_icontrol_xml")
    assert list(blocks) == ["ex340_em480_topRead", "ex340_em480_bottomRead", "Abs_600"]
    top, bottom, absorbance = blocks.values()
    assert top.signal.shape == (8, 12)
    assert all((m.flag == "").all() for m in blocks.values())
    assert top.signal[0, 0] == 973  # <Well Pos="A1"> ... Status="Measured">973
    assert top.signal[0, 1] == 627
    assert top.signal[7, 0] == 804  # H1, the last well listed
    assert bottom.signal[0, 0] == 1169
    assert absorbance.signal[0, 0] == 0.0376
    assert absorbance.signal[7, 0] == 0.0403
    assert top.metadata == {
        "barcode": "dansylamide",
        "instrument": "infinite M1000 PRO",
        "instrument_serial": "1311007572",
        "read_time": "2015-11-17T16:06:10.3652558Z",
        "label": "Fluorescence Top Reading Ex 340 nm Em 480 nm",
    }
    assert absorbance.metadata["label"] == "Absorbance 600 nm"


def test_truncated_spark_csv_is_refused(real_world, tmp_path):
    data = (real_world / SPARK_CSV).read_bytes()
    cut = tmp_path / "cut.csv"
    cut.write_bytes(data[: data.index(b"C5,0.0991") + 6])  # inside the OD700 list
    with pytest.raises(InputError, match="stops in the middle of its last line, after '0.0'"):
        read_measurements(cut)
    cut.write_bytes(data[: data.index(b"C5,0.0991") + 6] + b"\n")
    with pytest.raises(InputError, match="'<>' list has 2 fields where its table has 7: the file is truncated"):
        read_measurements(cut)
    cut.write_bytes(data[: data.index(b"C5,0.0991")])  # cut at a line end
    with pytest.raises(InputError, match="label 'OD700': no 'End Time'.*truncated") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_truncated_xml_is_refused(real_world, tmp_path):
    data = (real_world / ICONTROL_XML).read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="malformed i-control XML") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_icontrol_status_and_cycles(real_world, tmp_path):
    text = (real_world / ICONTROL_XML).read_text(encoding="utf-8-sig")
    over = tmp_path / "over.xml"
    over.write_text(text.replace('Status="Measured">973<', 'Status="Overflow"><', 1))
    top = read(over, "tecan_icontrol_xml")["ex340_em480_topRead"]
    assert top.flag[0, 0] == "overflow" and np.isnan(top.signal[0, 0])
    kinetic = tmp_path / "kinetic.xml"
    kinetic.write_text(text.replace("</Data>", '</Data><Data Cycle="2"></Data>', 1))
    with pytest.raises(
        InputError, match="kinetic read \\(2 cycles in section 'ex340_em480_topRead'\\)"
    ):
        read_measurements(kinetic)


def test_spark_xlsx_cut_matrix_is_refused(real_world, tmp_path):
    book = openpyxl.load_workbook(real_world / SPARK_XLSX)
    book.active.delete_rows(39, 10)  # rows F..H of the matrix and the End Time line
    cut = tmp_path / "cut.xlsx"
    book.save(cut)
    with pytest.raises(InputError, match="label 'A450': no 'End Time'") as error:
        read_measurements(cut)
    assert str(cut) in str(error.value)


def test_magellan_kinetic_list_is_refused(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Label1", "Label1", "Well positions"])
    sheet.append(["0s", "60s", None])
    sheet.append([0.1, 0.2, "A1"])
    sheet.append([0.3, 0.4, "B1"])
    kinetic = tmp_path / "kinetic.xlsx"
    book.save(kinetic)
    assert detect(kinetic) == "tecan_magellan"
    with pytest.raises(InputError, match="kinetic read \\(2 value columns for labels Label1\\)"):
        read_measurements(kinetic)
