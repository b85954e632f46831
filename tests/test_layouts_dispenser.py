"""Dispenser logs as layouts: Echo transfer reports with a source-plate map,
HP D300 dispense reports and protocols (.hpdd) and Tecan D300e CSV exports,
on the real files (and small hand-made protocols).

Expected concentrations are worked by hand from the logs' volumes: final =
stock x dispensed / (assay volume + everything dispensed into the well)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from pdoscreen.errors import InputError
from pdoscreen.geometry import geometry_for
from pdoscreen.layouts import Dispensing, detect_layout, read_layout
from pdoscreen.screen import build_screen

ECHO_REFORMAT = "dispenser/echo-plate-reformat-transfer-csv"
CHERRY_PICK = "dispenser/echo-cherrypick-transfer-csv/CherryPick_Transfer_Complete.csv"
D300 = "dispenser/hp-d300-dispense-report-xml/Src_Bos_Ima_96well_Mar2015 2015-03-07 1736.DATA.xml"
D300E = "dispenser/tecan-d300e-csv-export/Example_dispenser.csv"
REL = 1e-12  # the same arithmetic in another order: float rounding only


def source_map(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "source_map.csv"
    path.write_text("\n".join(["source_plate,source_well,role,drug,concentration,unit", *lines]) + "\n")
    return path


def cherry_pick_map(tmp_path: Path) -> Path:
    """A map for the cherry pick's source wells: the samples in columns 3-4 of
    Source Plate[1] each its own compound at 10 mM, DMSO back-fill in columns
    23-24 and in the control plate's D4, E3, O7; A1 on both plates one drug."""
    lines = [f"Source Plate[1],{row}{col},treated,cpd_{row}{col},10,mM" for row in "ABCDEFGHIJKLMNOP" for col in (3, 4)]
    lines += [f"Source Plate[1],{w},vehicle,DMSO,," for w in ("G23", "H23", "J23", "G24", "K24")]
    lines += [f"Control Plate[1],{w},vehicle,DMSO,," for w in ("D4", "E3", "O7", "O9", "O5", "C4")]
    lines += [
        "Source Plate[1],A1,treated,staurosporine,10,mM",
        "Control Plate[1],A1,treated,staurosporine,1,mM",
        "Source Plate[1],B1,treated,staurosporine,1,mM",
        "Control Plate[1],B1,treated,staurosporine,1,mM",
        "Source Plate[1],B2,treated,staurosporine,0.1,mM",
        "Control Plate[1],B2,treated,staurosporine,0.1,mM",
        "Control Plate[1],O8,kill,benzethonium,10,mM",
        "Control Plate[1],O17,kill,benzethonium,10,mM",
    ]
    return source_map(tmp_path, lines)


def test_every_dispenser_log_is_recognised(real_world):
    kinds = {path.name: detect_layout(path) for path in (real_world / ECHO_REFORMAT).iterdir()}
    assert set(kinds.values()) == {"echo"}
    assert detect_layout(real_world / CHERRY_PICK) == "echo"
    assert detect_layout(real_world / D300) == "d300"
    assert detect_layout(real_world / D300E) == "d300e_csv"


@pytest.mark.parametrize(
    ("name", "what"),
    [("platesurvey.xml", "plate survey (<platesurvey> XML)"), ("surveyreport-cp.xml", "survey report")],
)
def test_echo_survey_files_are_refused_as_surveys_not_layouts(real_world, tmp_path, name, what):
    survey = real_world / "dispenser" / "echo-survey-xml" / name
    for path in (survey, tmp_path / "layout.txt"):  # the content tells, not the name
        if path != survey:
            path.write_bytes(survey.read_bytes())
        with pytest.raises(InputError) as refusal:
            detect_layout(path)
        message = str(refusal.value)
        assert str(path) in message
        assert f"not a layout: this is an Echo {what}" in message
        assert "the measured liquid volumes in a source plate's wells, not a transfer report" in message
        assert "the Echo transfer report (kind echo) with a source-plate map" in message
        assert "unknown layout format" not in message
        with pytest.raises(InputError, match="not a layout: this is an Echo"):
            read_layout(path)


def test_an_echo_xml_report_with_destination_wells_is_not_called_a_survey(tmp_path):
    path = tmp_path / "transfer.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<report><reportbody><record><SrcWell>A1</SrcWell><DestWell>B2</DestWell>'
        "<SurveyFluidVolume>50</SurveyFluidVolume></record></reportbody></report>\n"
    )
    with pytest.raises(InputError, match="unknown layout format"):
        detect_layout(path)


def test_echo_cherry_pick_concentrations_by_hand(real_world, tmp_path):
    layout = read_layout(
        real_world / CHERRY_PICK,
        geometry_for(96),
        dispensing=Dispensing(plate="DST001", source_map=cherry_pick_map(tmp_path), assay_volume_ul=100),
    ).set_index("well")
    # A2: 1000 nL of cpd_A3 alone -> 10 mM x 1000 / (100000 + 1000)
    assert layout.loc["A02", "concentration"] == pytest.approx(10_000 * 1000 / 101_000, rel=REL)
    assert layout.loc["A02", ["role", "drug", "unit"]].tolist() == ["treated", "cpd_A3", "uM"]
    # A3: 325 nL cpd_A3 + 675 DMSO (G24) + 675 DMSO (control D4)
    assert layout.loc["A03", "concentration"] == pytest.approx(10_000 * 325 / 101_675, rel=REL)
    # A1: 1000 nL at 10 mM + 100 nL at 1 mM of one drug from two plates, + 900 back-fill
    assert layout.loc["A01", "concentration"] == pytest.approx((10_000 * 1000 + 1000 * 100) / 102_000, rel=REL)
    assert layout.loc["A01", "concentration_molar"] == pytest.approx(layout.loc["A01", "concentration"] * 1e-6)
    # D12: DMSO from K24 and the kill control from the control plate's O8
    assert layout.loc["D12", ["role", "drug"]].tolist() == ["kill", "benzethonium"]
    assert layout.loc["D12", "concentration"] == pytest.approx(10_000 * 1000 / 102_000, rel=REL)
    assert layout.loc["D01", ["role", "drug"]].tolist() == ["vehicle", "DMSO"]
    assert np.isnan(layout.loc["D01", "concentration"])
    assert len(layout) == 96 and not layout["flag"].any()


def test_echo_partial_transfer_flags_the_failed_wells(real_world, tmp_path):
    settings = Dispensing(
        source_map=source_map(tmp_path, [",A1,treated,drugX,10,mM", ",A2,treated,drugY,1,mM"]), assay_volume_ul=20
    )
    layout = read_layout(real_world / ECHO_REFORMAT / "PartialTransfer.csv", dispensing=settings).set_index("well")
    assert layout.loc["A01", "concentration"] == pytest.approx(10_000 * 100 / 20_100, rel=REL)
    assert layout.loc["A01", "flag"] == "" and layout.loc["B01", "flag"] == ""
    # A2 and B2 got nothing: flagged with the instrument's message; the planned dose is kept for the record
    assert layout.loc[["A02", "B02"], "flag"].tolist() == ["dispense_failed"] * 2
    assert (
        "0 of 100 nL from Source[1] A2: MM0202007: Problem calc. well fluid volume" in layout.loc["A02", "flag_message"]
    )
    assert layout.loc["A02", "concentration"] == pytest.approx(1000 * 100 / 20_100, rel=REL)


def test_echo_exceptions_only_and_excel_mangled_report_flag_every_well(real_world, tmp_path):
    wells = [f"{r}{c}" for r in "ABCD" for c in range(21, 25)]
    settings = Dispensing(
        source_map=source_map(tmp_path, [f",{w},treated,drug{w},1,mM" for w in ["A1", "A2", *wells]]),
        assay_volume_ul=10,
    )
    for name, n_wells in (("ExceptionsOnly.csv", 4), ("SurveyVolumeExamples.csv", 30)):
        layout = read_layout(real_world / ECHO_REFORMAT / name, dispensing=settings)
        assert len(layout) == n_wells and (layout["flag"] == "dispense_failed").all()
    assert layout["flag_message"].str.contains("MM0202001: Current fluid height below minimum").all()


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(assay_volume_ul=100), "needs the plate's source_map"),
        (dict(assay_volume_ul=None), "give the plate's assay_volume_ul"),
        (dict(assay_volume_ul=100, plate=""), r"dispenses into 2 plates \(DST001 / A2025000361; DST002"),
        (dict(assay_volume_ul=100, plate="DST003"), "dispense_plate 'DST003' names none"),
    ],
)
def test_echo_refuses_missing_settings(real_world, tmp_path, settings, message):
    settings = {"plate": "DST001", "source_map": cherry_pick_map(tmp_path)} | settings
    if "source_map" in message:
        settings["source_map"] = None
    with pytest.raises(InputError, match=message):
        read_layout(real_world / CHERRY_PICK, dispensing=Dispensing(**settings))


def test_echo_refuses_a_source_well_missing_from_the_map(real_world, tmp_path):
    settings = Dispensing(source_map=source_map(tmp_path, [",A1,treated,drugX,10,mM"]), assay_volume_ul=20)
    with pytest.raises(InputError, match=r"well A2 is not in the source-plate map") as error:
        read_layout(real_world / ECHO_REFORMAT / "TransferOnly.csv", dispensing=settings)
    assert error.value.well == "A2" and "TransferOnly.csv" in error.value.file


def test_echo_refuses_two_drugs_in_one_well(real_world, tmp_path):
    path = cherry_pick_map(tmp_path)
    path.write_text(
        path.read_text().replace("Control Plate[1],A1,treated,staurosporine", "Control Plate[1],A1,treated,other")
    )
    with pytest.raises(InputError, match=r"well A01: the log gives this well 2 drugs \(other, staurosporine\)"):
        read_layout(
            real_world / CHERRY_PICK, dispensing=Dispensing(plate="DST001", source_map=path, assay_volume_ul=100)
        )


def test_d300_report_control_plate_by_hand(real_world):
    layout = read_layout(real_world / D300, geometry_for(96), dispensing=Dispensing(plate="Control Plate"))
    layout = layout.set_index("well")
    # A1: 200 nL of 10 mM bosutinib + 100 nL DMSO back-fill into 100000 nL
    assert layout.loc["A01", "concentration"] == pytest.approx(10_000 * 200 / 100_300, rel=REL)
    # A2: 91.6 nL + 208.4 nL back-fill
    assert layout.loc["A02", "concentration"] == pytest.approx(10_000 * 91.6 / 100_300, rel=REL)
    assert layout.loc["A12", ["role", "drug"]].tolist() == ["vehicle", "DMSO normalization"]
    assert (layout["role"].value_counts() == pd.Series({"treated": 88, "vehicle": 8})).all()


def test_d300_report_combination_plate_is_refused(real_world):
    with pytest.raises(InputError, match=r"well A01: the log gives this well 2 drugs \(Bosutinib, Imatinib\)"):
        read_layout(real_world / D300, dispensing=Dispensing(plate="Ima Plate"))
    with pytest.raises(InputError, match="dispenses into 2 plates"):
        read_layout(real_world / D300)


def test_d300e_csv_combination_wells_are_refused(real_world):
    with pytest.raises(InputError, match=r"line 11\); well B11: the log gives this well 2 drugs"):
        read_layout(real_world / D300E)


def test_d300e_csv_single_drug_wells_take_the_dispensers_concentration(real_world, tmp_path):
    """The real export without Drug2's rows (the export ends without a line end,
    as the real one does): each well keeps the concentration the D300e wrote."""
    lines = (real_world / D300E).read_text().split("\n")
    single = tmp_path / "single.csv"
    single.write_text("\n".join(line for line in lines if '"Drug2"' not in line))
    layout = read_layout(single, geometry_for(384), dispensing=Dispensing(plate="8")).set_index("well")
    assert layout.loc["B02", ["drug", "concentration"]].tolist() == ["Drug1", 24.63120314174]
    assert layout.loc["B11", "concentration"] == 24.63115389701
    # The D300e's own convention, which the D300 report follows: stock x volume / total well volume
    frame = pd.read_csv(real_world / D300E)
    stock_um = frame["Dispensed concentration"] * frame["Total well volume"] / frame["Dispensed volume"]
    assert stock_um.groupby(frame["Fluid name"]).agg(np.ptp).max() < 1e-6 * stock_um.max()


def test_table_layouts_refuse_dispenser_settings(tmp_path):
    path = tmp_path / "layout.csv"
    path.write_text("well,role,drug,concentration,unit\nA1,vehicle,DMSO,,\n")
    with pytest.raises(InputError, match="assay_volume_ul do not apply to a long layout"):
        read_layout(path, dispensing=Dispensing(assay_volume_ul=50))


def test_failed_dispenses_are_flagged_in_the_screen(real_world, tmp_path):
    """The layout's dispense_failed joins the reader's flags; the message stays with the well."""
    settings = Dispensing(
        source_map=source_map(tmp_path, [",A1,vehicle,DMSO,,", ",A2,treated,drugY,1,mM"]), assay_volume_ul=20
    )
    geometry = geometry_for(384)
    shape = (geometry.n_rows, geometry.n_columns)
    plate = xr.Dataset(
        {"signal": (("row", "column"), np.ones(shape)), "flag": (("row", "column"), np.full(shape, ""))},
        coords={"row": geometry.rows, "column": geometry.columns},
    )
    sheet = pd.DataFrame(
        [
            dict(
                plate="P1",
                patient="p",
                line="l",
                replicate=1,
                batch="",
                lot="",
                measurement="",
                timepoint_h=np.nan,
                exclude="",
                layout_path=str(real_world / ECHO_REFORMAT / "PartialTransfer.csv"),
                dispense_plate="",
                source_map_path=str(settings.source_map),
                assay_volume_ul=20.0,
            )
        ]
    )
    screen = build_screen(sheet, {"P1": plate}).sel(plate="P1")
    assert screen["flag"].sel(well="A02").item() == "dispense_failed"
    assert screen["flag"].sel(well="A01").item() == ""
    assert "MM0202007" in screen["flag_message"].sel(well="B02").item()


PLATEMAP = "layout/incucyte-platemap-xml/C010.PlateMap"


def fluid_map(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "fluids.csv"
    path.write_text("\n".join(["fluid,role", *lines]) + "\n")
    return path


def test_d300_fluid_map_makes_controls(real_world, tmp_path):
    """The fluid map turns bosutinib into a kill control and the back-fill stays vehicle."""
    settings = Dispensing(plate="Control Plate", source_map=fluid_map(tmp_path, ["Bosutinib,kill"]))
    layout = read_layout(real_world / D300, geometry_for(96), dispensing=settings).set_index("well")
    assert layout.loc["A01", ["role", "drug"]].tolist() == ["kill", "Bosutinib"]
    assert layout.loc["A01", "concentration"] == pytest.approx(10_000 * 200 / 100_300, rel=REL)
    assert (layout["role"].value_counts() == pd.Series({"kill": 88, "vehicle": 8})).all()


@pytest.mark.parametrize(
    "lines, message",
    [
        (["Bosutnib,kill"], r"names 'Bosutnib', which the log does not dispense \(its fluids: Bosutinib, DMSO"),
        (["DMSO normalization,kill"], "makes 'DMSO normalization' a kill control, but the log gives it no"),
        (["Bosutinib,treated"], "role 'treated' of fluid 'Bosutinib' is not one of kill, vehicle"),
        (["Bosutinib,kill", "Bosutinib,vehicle"], r"line 3\): fluid 'Bosutinib' is listed twice"),
    ],
)
def test_d300_fluid_map_refusals(real_world, tmp_path, lines, message):
    settings = Dispensing(plate="Control Plate", source_map=fluid_map(tmp_path, lines))
    with pytest.raises(InputError, match=message):
        read_layout(real_world / D300, dispensing=settings)


def test_d300e_csv_fluid_map_vehicle_leaves_one_drug_per_well(real_world, tmp_path):
    """The combination export reads once Drug2 is declared a vehicle: Drug1 stays at the D300e's concentration."""
    settings = Dispensing(plate="8", source_map=fluid_map(tmp_path, ["Drug2,vehicle"]))
    layout = read_layout(real_world / D300E, geometry_for(384), dispensing=settings).set_index("well")
    assert layout.loc["B11", ["role", "drug", "concentration"]].tolist() == ["treated", "Drug1", 24.63115389701]
    assert "Drug2" in set(layout.loc[layout.role == "vehicle", "drug"])


def test_incucyte_platemap_reads_compounds_at_their_stated_concentration(real_world):
    """The real map is a compound library's source plate: stocks in mM, 0-based indices, every well listed."""
    path = real_world / PLATEMAP
    assert detect_layout(path) == "incucyte_platemap"
    layout = read_layout(path).set_index("well")
    assert len(layout) == 305 and (layout["role"] == "treated").all() and layout["drug"].nunique() == 61
    # <well row="0" col="0">: 30 mM venetoclax; row 0 col 1 is listed empty
    assert layout.loc["A01", ["drug", "concentration", "unit"]].tolist() == ["Venetoclax", 30_000, "uM"]
    assert "A02" not in layout.index
    assert layout.loc["A01", "concentration_molar"] == pytest.approx(0.030, rel=REL)
    # A 384-well map on a 96-well read is refused at its first well beyond the plate.
    with pytest.raises(InputError, match="well A13: well outside the 96-well plate"):
        read_layout(path, geometry_for(96))


def test_incucyte_platemap_fluid_map_and_combinations(real_world, tmp_path):
    path = real_world / PLATEMAP
    settings = Dispensing(source_map=fluid_map(tmp_path, ["Venetoclax,kill", "Cladribine,vehicle"]))
    layout = read_layout(path, dispensing=settings).set_index("well")
    assert layout.loc["A01", ["role", "concentration"]].tolist() == ["kill", 30_000]
    assert layout.loc["A07", "role"] == "vehicle" and np.isnan(layout.loc["A07", "concentration"])


def one_well_platemap(tmp_path: Path, items: list[tuple[str, str]]) -> Path:
    """A 96-well plate map whose well A1 holds the given (compound, unit) items at 1 unit each."""
    item = (
        '<wellItem type="Compound" concentration="1" concentrationUnits="{}">'
        '<referenceItem displayName="{}" /></wellItem>'
    )
    others = "".join(f'<well row="{i // 12}" col="{i % 12}" />' for i in range(1, 96))
    path = tmp_path / "one.PlateMap"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<plateMap><wellStore><wells><well row="0" col="0"><items>'
        + "".join(item.format(unit, name) for name, unit in items)
        + f"</items></well>{others}</wells></wellStore></plateMap>\n"
    )
    return path


def test_incucyte_platemap_vehicle_in_percent_and_combinations(tmp_path):
    with_dmso = one_well_platemap(tmp_path, [("A", "uM"), ("DMSO", "%")])
    with pytest.raises(InputError, match=r"well A01: unknown concentration unit '%'"):
        read_layout(with_dmso)
    settings = Dispensing(source_map=fluid_map(tmp_path, ["DMSO,vehicle"]))
    assert read_layout(with_dmso, dispensing=settings)[["well", "role", "drug"]].values.tolist() == [
        ["A01", "treated", "A"]
    ]
    with pytest.raises(InputError, match=r"well A01: the log gives this well 2 drugs \(A, B\)"):
        read_layout(one_well_platemap(tmp_path, [("A", "uM"), ("B", "nM")]))


def test_qc_counts_failed_dispenses_apart_from_instrument_flags():
    from test_qc import GOOD, make_screen, qc_row

    flags = {"good": {"C06": "dispense_failed", "D06": "dispense_failed", "F02": "overflow", "H12": "dispense_failed"}}
    spec = {**GOOD, "vehicle": {**GOOD["vehicle"], "F02": 0}, "treated": {**GOOD["treated"], "C06": 1, "D06": 1}}
    row = qc_row(make_screen({"good": spec}, flags), "good")
    # H12 is an empty well: nothing was meant to go in, so it is not counted.
    assert (row.n_dispense_failed, row.n_flagged_wells, row.n_missing_wells) == (2, 1, 0)


def test_a_failed_dispense_on_a_control_well_stays_out_of_plate_qc():
    """build_screen keeps a failed dispense's reading beside its flag; QC's statistics leave it out."""
    from test_qc import GOOD, make_screen, qc_row

    # 130: within the control-outlier cut (robust z 2), so only the flag can keep it out
    screen = make_screen({"good": {**GOOD, "vehicle": {**GOOD["vehicle"], "F02": 130}}},
                         {"good": {"F02": "dispense_failed"}})
    screen["signal"].loc[{"plate": "good", "well": "F02"}] = 130.0  # make_screen reads flagged wells as NaN
    clean = qc_row(make_screen({"good": GOOD}), "good")
    flagged = qc_row(screen, "good")
    assert (flagged.z_prime, flagged.vehicle_cv) == (clean.z_prime, clean.vehicle_cv)
    assert flagged.n_dispense_failed == 1


HPDD = "dispenser/hp-d300-hpdd-protocol/single_agent_design_layout.hpdd"


def test_hpdd_protocol_plate_by_hand(real_world):
    """Plate 041018_1 of the real protocol: 104 <Well> elements, one agent each,
    at target concentrations in the protocol's µM; its back-fill lists all 384 wells."""
    path = real_world / HPDD
    assert detect_layout(path) == "hpdd"
    layout = read_layout(path, geometry_for(384), dispensing=Dispensing(plate="041018_1")).set_index("well")
    # <Well Row="2" Col="2"><Fluid ID="2">1</Fluid>: agent_3 at 1 µM
    assert layout.loc["C03", ["role", "drug", "concentration", "unit"]].tolist() == ["treated", "agent_3", 1.0, "uM"]
    assert layout.loc["C03", "concentration_molar"] == pytest.approx(1e-6, rel=REL)
    # <Well Row="2" Col="6"><Fluid ID="0">0.0316</Fluid>: agent_1 at 0.0316 µM
    assert layout.loc["C07", "drug"] == "agent_1"
    assert layout.loc["C07", "concentration_molar"] == pytest.approx(3.16e-8, rel=REL)
    # <Well Row="2" Col="13"><Fluid ID="1">10</Fluid>: agent_2 at 10 µM
    assert layout.loc["C14", ["drug", "concentration"]].tolist() == ["agent_2", 10.0]
    # A1 gets no agent but is back-filled (class 0, DMSO)
    assert layout.loc["A01", ["role", "drug"]].tolist() == ["vehicle", "DMSO normalization"]
    assert np.isnan(layout.loc["A01", "concentration_molar"])
    assert layout["role"].value_counts().to_dict() == {"vehicle": 280, "treated": 104}
    assert layout.loc[layout.role == "treated", "drug"].value_counts().to_dict() == {
        "agent_1": 27,
        "agent_3": 27,
        "agent_4": 27,
        "agent_2": 21,
        "agent_5": 2,
    }
    with pytest.raises(InputError, match="well outside the 96-well plate"):
        read_layout(path, geometry_for(96), dispensing=Dispensing(plate="041018_1"))


def test_hpdd_protocol_plate_must_be_chosen_and_dose_wells(real_world):
    path = real_world / HPDD
    with pytest.raises(InputError, match=r"14 plates \(041018_0; 041018_1; .*041018_13\); say which") as error:
        read_layout(path)
    assert error.value.file == str(path)
    with pytest.raises(InputError, match=r"dispense_plate '041018_99' names none"):
        read_layout(path, dispensing=Dispensing(plate="041018_99"))
    # 041018_0 and 041018_7 have <Wells/>: back-filled, but given no agent
    for plate in ("041018_0", "041018_7"):
        with pytest.raises(InputError, match=rf"plate '{plate}' of the protocol doses no well") as error:
            read_layout(path, dispensing=Dispensing(plate=plate))
        assert error.value.file == str(path)


def hpdd_protocol(tmp_path: Path, wells: str, *, by_volume: str = "False", unit: str = "\u00b5M") -> Path:
    """A one-plate 96-well protocol: fluid 0 is drugA, fluid 1 drugB (dosed by
    volume where ``by_volume`` is True); the back-fill lists A1, A2 and H12."""
    fluid = (
        '<Fluid ID="{}"><Name>{}</Name><ByVol>{}</ByVol><Concentration>10</Concentration>'
        "<ConcentrationUnit>mM</ConcentrationUnit><ClassID>0</ClassID></Fluid>"
    )
    backfill = "".join(f'<Well P="0" R="{r}" C="{c}"/>' for r, c in ((0, 0), (0, 1), (7, 11)))
    path = tmp_path / "protocol.hpdd"
    path.write_text(
        f"<?xml version='1.0' encoding='utf-8'?>\n<Protocol>\n<Version>3</Version><VolumeUnit>nL</VolumeUnit>"
        f"<ConcentrationUnit>{unit}</ConcentrationUnit><Fluids>"
        + fluid.format(0, "drugA", "False")
        + fluid.format(1, "drugB", by_volume)
        + "</Fluids><BackfillNoDispense>False</BackfillNoDispense><Plates><Plate><Rows>8</Rows><Cols>12</Cols>"
        + f"<Name>P1</Name><AssayVolume>50000</AssayVolume><Wells>{wells}</Wells><Randomize/></Plate></Plates>"
        + f'<Backfills><Backfill ClassID="0" Type="ToMaxVolume"><Wells>{backfill}</Wells></Backfill></Backfills>'
        + "\n</Protocol>\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("unit, molar", [("\u00b5M", 2.5e-6), ("\u03bcM", 2.5e-6), ("nM", 2.5e-9)])
def test_hpdd_hand_made_protocol_units_and_untouched_wells(tmp_path, unit, molar):
    path = hpdd_protocol(tmp_path, '<Well Row="1" Col="2"><Fluid ID="0">2.5</Fluid></Well>', unit=unit)
    assert detect_layout(path) == "hpdd"
    layout = read_layout(path, geometry_for(96)).set_index("well")
    assert layout.loc["B03", ["role", "drug"]].tolist() == ["treated", "drugA"]
    assert layout.loc["B03", "concentration_molar"] == pytest.approx(molar, rel=REL)
    # Back-filled without a drug: vehicle; neither dosed nor back-filled (A3): not named, so empty
    assert layout.loc[["A01", "A02", "H12"], "role"].tolist() == ["vehicle"] * 3
    assert sorted(layout.index) == ["A01", "A02", "B03", "H12"]


def test_hpdd_fluid_dosed_by_volume_is_refused_unless_a_vehicle(tmp_path):
    path = hpdd_protocol(tmp_path, '<Well Row="1" Col="2"><Fluid ID="1">100</Fluid></Well>', by_volume="True")
    with pytest.raises(InputError, match=r"well B03: fluid 'drugB' is dosed by volume \(ByVol True\)") as error:
        read_layout(path)
    assert error.value.file == str(path)
    settings = Dispensing(source_map=fluid_map(tmp_path, ["drugB,vehicle"]))
    layout = read_layout(path, dispensing=settings).set_index("well")
    assert layout.loc["B03", ["role", "drug"]].tolist() == ["vehicle", "drugB"]


@pytest.mark.parametrize(
    "wells, message",
    [
        (
            '<Well Row="0" Col="5"><Fluid ID="0">1</Fluid><Fluid ID="1">3</Fluid></Well>',
            r"well A06: the log gives this well 2 drugs \(drugA, drugB\); combination screens",
        ),
        (
            '<Well Row="0" Col="5"><Fluid ID="7">1</Fluid></Well>',
            r"well A06: fluid ID '7' is not one of the protocol's",
        ),
        ('<Well Row="8" Col="0"><Fluid ID="0">1</Fluid></Well>', r"Row=8 Col=0 is outside plate 'P1' of the protocol"),
        ('<Well Row="0" Col="12"><Fluid ID="0">1</Fluid></Well>', r"Row=0 Col=12 is outside plate 'P1'"),
    ],
)
def test_hpdd_refusals(tmp_path, wells, message):
    path = hpdd_protocol(tmp_path, wells)
    with pytest.raises(InputError, match=message) as error:
        read_layout(path)
    assert error.value.file == str(path)


def test_hpdd_refuses_randomised_plates_and_two_units(tmp_path):
    path = hpdd_protocol(tmp_path, '<Well Row="0" Col="5"><Fluid ID="0">1</Fluid></Well>')
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("<Randomize/>", '<Randomize><Well C="5" R="0" ToC="6" ToR="0"/></Randomize>'))
    with pytest.raises(InputError, match="plate 'P1' is randomised at dispensing"):
        read_layout(path)
    path.write_text(text.replace("<Fluids>", "<MolarityConcentrationUnit>nM</MolarityConcentrationUnit><Fluids>"))
    with pytest.raises(InputError, match="ConcentrationUnit '\u00b5M' and MolarityConcentrationUnit 'nM' differ"):
        read_layout(path)


def test_a_failed_dispense_stays_out_of_the_per_curve_fits():
    """A treated well whose dispense failed keeps its reading beside its flag; the
    per-curve baseline leaves it out, as it leaves out a well that was never there."""
    from pdoscreen.baselines import per_curve_fits
    from pdoscreen.simulate import Design, screen

    ds, _ = screen(Design(n_patients=1, lines_per_patient=1, plates_per_line=1), 3)
    treated = np.flatnonzero(ds.role.values[0] == "treated")[0]
    flag = ds.flag.values.astype(object)
    flag[0, treated] = "dispense_failed"
    failed = ds.assign(flag=(("plate", "well"), flag.astype(str)))
    failed["signal"][0, treated] = 10 * float(ds.signal.max())
    without = ds.assign(role=ds.role.where(np.arange(ds.sizes["well"]) != treated, "empty"))
    pd.testing.assert_frame_equal(per_curve_fits(failed), per_curve_fits(without))
