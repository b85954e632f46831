"""Write the example screen's layout_A as an Echo Cherry Pick transfer report
and its source-plate map, and the example's sample sheet with those plates
laid out by the report (deterministic; see README.md in this folder).

Every well of ../screen/layouts/layout_A.csv gets 100 nL of DMSO solution on
top of 49.9 µL of medium, so every well ends at 50.000 µL and 0.2% DMSO:

- six drugs and the kill control: 50 nL of a 1000x intermediate stock (mM as
  the table's µM) plus 50 nL of DMSO back-fill;
- Olaparib and Oxaliplatin (100 µM top dose): 100 nL of a 500x stock;
- vehicle wells: 100 nL of DMSO.

The intermediate source plate holds one well per drug and dose (a 3-fold
serial dilution in DMSO), its concentration written exactly as 1000/500 times
the table's number, so stock x volume / 50,000 nL is the table's concentration.

    python example/echo/make_echo_log.py          # rewrites the three files here
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYOUT = HERE.parent / "screen" / "layouts" / "layout_A.csv"
TABLE_SHEET = HERE.parent / "screen" / "sample_sheet.tsv"
REPORT, SOURCE_MAP, SHEET = "echo_transfer_layout_A.csv", "source_map.csv", "sample_sheet.tsv"  # written here

ASSAY_VOLUME_UL = Decimal("49.9")  # medium and organoids in each well before dosing
WELL_DMSO_NL = Decimal(100)  # every dosed well: 100 nL in all, 0.2% DMSO of 50 µL
SMALL_NL = Decimal(50)  # a 1000x stock's transfer; the rest of the 100 nL is back-fill
HIGH_TOP_DRUGS = ("Olaparib", "Oxaliplatin")  # 100 µM top: a 1000x stock would be 100 mM
DROPLET_NL = Decimal("2.5")  # the Echo 55x/65x droplet

SOURCE_NAME, SOURCE_BARCODE, SOURCE_TYPE = "Source[1]", "INT2026110501", "384PP_DMSO2"
DESTINATION_TYPE = "Corning 3570 384-well White Cell Culture Plate"
# The five layout_A plates of ../screen/sample_sheet.tsv: (plate id, barcode the reader prints).
DESTINATIONS = [
    ("P01-L1-R1", "PDO00101"),
    ("P01-L2-R1", "PDO00103"),
    ("P02-L1-R1", "PDO00105"),
    ("P02-L2-R1", "PDO00107"),
    ("P03-L1-R1", "PDO00109"),
]
DMSO_WELLS = ["A24", "B24", "C24", "D24", "E24"]  # one back-fill well per destination plate
KILL_WELL = "J1"
SEED = 20261105

HEADER = [
    ("Run ID", "1793872931"),
    ("Run Date/Time", "2026-11-05 10:02:11"),
    ("Application Name", "Echo Cherry Pick"),
    ("Application Version", "1.8.2"),
    ("Protocol Name", "PDO_384_100nL_backfill.ecp"),
    ("Sample Pick List File Name", r"C:\Echo\Protocols\PDO\PickLists\20261105_layout_A_5plates.csv"),
    ("Control Pick List File Name", ""),
    ("Reference ID", ""),
    ("Order ID", ""),
    ("User Name", "PDO-SCREEN"),
]
# The Cherry Pick report's columns, in its order (its real reports: docs/layouts.md).
COLUMNS = (
    "Date Time Point,Source Plate Name,Source Plate Barcode,Source Plate Type,Source Well,Destination Plate Name,"
    "Destination Plate Barcode,Destination Plate Type,Destination Well,Destination Well X Offset,"
    "Destination Well Y Offset,Sample ID,Sample Name,Transfer Volume,Actual Volume,Current Fluid Volume,"
    "Fluid Composition,Fluid Units,Fluid Type,Transfer Status"
).split(",")
FOOTER = [
    ("Instrument Name", "E5XX-31417"),
    ("Instrument Model", "Echo 555"),
    ("Instrument Serial Number", "E5XX-31417"),
    ("Instrument Software Version", "2.7.3"),
]


def plain(number: Decimal) -> str:
    """A decimal as a lab writes it: no exponent, no trailing zeros."""
    return format(number.normalize(), "f")


def read_table(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def transfer_nl(drug: str) -> Decimal:
    return WELL_DMSO_NL if drug in HIGH_TOP_DRUGS else SMALL_NL


def source_plate(table: list[dict]) -> tuple[list[dict], dict[tuple[str, str], str]]:
    """The intermediate plate: one row per drug (in the table's order of first
    appearance), its doses from the top down the columns; the kill control in
    J1, DMSO in A24-E24. Returns the map's rows and {(drug, concentration): well}."""
    well_volume_nl = ASSAY_VOLUME_UL * 1000 + WELL_DMSO_NL
    doses: dict[str, set[str]] = {}
    for row in table:
        if row["role"] == "treated":
            doses.setdefault(row["drug"], set()).add(row["concentration"])
    rows, where = [], {}
    for letter, (drug, concentrations) in zip("ABCDEFGHI", doses.items()):
        for column, concentration in enumerate(sorted(concentrations, key=Decimal, reverse=True), start=1):
            stock_mm = Decimal(concentration) * well_volume_nl / transfer_nl(drug) / 1000
            well = f"{letter}{column}"
            rows.append(dict(source_well=well, role="treated", drug=drug, concentration=plain(stock_mm), unit="mM"))
            where[(drug, concentration)] = well
    (kill,) = {(r["drug"], r["concentration"]) for r in table if r["role"] == "kill"}
    kill_mm = Decimal(kill[1]) * well_volume_nl / SMALL_NL / 1000
    rows.append(dict(source_well=KILL_WELL, role="kill", drug=kill[0], concentration=plain(kill_mm), unit="mM"))
    where[kill] = KILL_WELL
    rows += [dict(source_well=w, role="vehicle", drug="DMSO", concentration="", unit="") for w in DMSO_WELLS]
    return [{"source_plate": SOURCE_NAME, **row} for row in rows], where


def picks(table: list[dict], where: dict, dmso_well: str) -> list[tuple[str, str, Decimal]]:
    """(source well, destination well, nL) for one destination plate: the drugs
    source well by source well, then the DMSO (vehicle wells and back-fill)."""
    drug_picks, dmso_picks = [], []
    for row in table:
        if row["role"] == "vehicle":
            dmso_picks.append((dmso_well, row["well"], WELL_DMSO_NL))
            continue
        volume = transfer_nl(row["drug"]) if row["role"] == "treated" else SMALL_NL
        drug_picks.append((where[(row["drug"], row["concentration"])], row["well"], volume))
        if volume < WELL_DMSO_NL:
            dmso_picks.append((dmso_well, row["well"], WELL_DMSO_NL - volume))
    order = {well: i for i, well in enumerate(where.values())}
    drug_picks.sort(key=lambda pick: order[pick[0]])  # stable: destinations stay in the table's order
    return drug_picks + dmso_picks


def report_lines(table: list[dict], where: dict) -> list[list[str]]:
    rng = random.Random(SEED)
    fluid_ul = {}  # what each source well holds (µL), as the Echo's survey measures it
    for well in [*where.values(), *DMSO_WELLS]:
        fluid_ul[well] = Decimal(rng.randrange(34000, 46000)) / 1000 if well not in DMSO_WELLS else Decimal(60)
    clock = datetime(2026, 11, 5, 10, 0, 58, 417000)
    lines = [list(pair) for pair in HEADER] + [[], ["[DETAILS]"], COLUMNS]
    for number, ((_, barcode), dmso_well) in enumerate(zip(DESTINATIONS, DMSO_WELLS), start=1):
        clock += timedelta(seconds=rng.uniform(20, 35))  # the plate swap
        for source_well, well, volume in picks(table, where, dmso_well):
            assert volume % DROPLET_NL == 0, volume
            clock += timedelta(milliseconds=rng.randrange(160, 360))
            fluid_ul[source_well] -= volume / 1000
            cells = {
                "Date Time Point": clock.strftime("%Y-%m-%d %H:%M:%S.") + f"{clock.microsecond // 1000:03d}",
                "Source Plate Name": SOURCE_NAME,
                "Source Plate Barcode": SOURCE_BARCODE,
                "Source Plate Type": SOURCE_TYPE,
                "Source Well": source_well,
                "Destination Plate Name": f"Destination[{number}]",
                "Destination Plate Barcode": barcode,
                "Destination Plate Type": DESTINATION_TYPE,
                "Destination Well": well_name(well),
                "Destination Well X Offset": "0",
                "Destination Well Y Offset": "0",
                "Transfer Volume": plain(volume),
                "Actual Volume": plain(volume),
                "Current Fluid Volume": plain(fluid_ul[source_well]),
                "Fluid Composition": "100",
                "Fluid Type": "DMSO",
            }
            lines.append([cells.get(column, "") for column in COLUMNS])
    return lines + [[]] + [list(pair) for pair in FOOTER] + [[]]


def well_name(well: str) -> str:
    """A1 rather than the table's zero-padded A01, as the Echo writes wells."""
    return f"{well[0]}{int(well[1:])}"


def write_csv(path: Path, lines: list[list[str]], *, line_end: str) -> None:
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator=line_end).writerows(lines)


def sample_sheet() -> list[list[str]]:
    """The example's sheet with paths from this folder, the layout_A plates
    laid out by the report (each named by its barcode in dispense_plate)."""
    with open(TABLE_SHEET, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    barcodes = dict(DESTINATIONS)
    columns = [*rows[0], "assay_volume_ul", "dispense_plate", "source_map"]
    lines = [columns]
    for row in rows:
        row = row | {"file": f"../screen/{row['file']}", "layout": f"../screen/{row['layout']}"}
        row |= dict(assay_volume_ul="", dispense_plate="", source_map="")
        if row["plate"] in barcodes:
            assert row["layout"].endswith(LAYOUT.name), row
            row |= dict(
                layout=REPORT,
                assay_volume_ul=str(ASSAY_VOLUME_UL),
                dispense_plate=barcodes[row["plate"]],
                source_map=SOURCE_MAP,
            )
        lines.append([row[c] for c in columns])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write to (default: this one)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    table = read_table(LAYOUT)
    map_rows, where = source_plate(table)
    columns = ["source_plate", "source_well", "role", "drug", "concentration", "unit"]
    write_csv(out / SOURCE_MAP, [columns] + [[row[c] for c in columns] for row in map_rows], line_end="\n")
    # The Echo writes CRLF line ends and ends the report with an empty line.
    write_csv(out / REPORT, report_lines(table, where), line_end="\r\n")
    with open(out / SHEET, "w", newline="") as handle:
        handle.writelines("\t".join(line) + "\n" for line in sample_sheet())
    print(f"wrote {REPORT}, {SOURCE_MAP} and {SHEET} in {out}")


if __name__ == "__main__":
    main()
