"""HP D300 dispense reports (``*.DATA.xml``) as layouts.

The report names its fluids (stock concentration and unit; the DMSO
normalisation fluid carries ``IsNormalization``), its plates (``ID``, size and
``AssayVolume``) and, under ``<Dispensed VolumeUnit=...>``, what each well got,
with 0-based ``R``/``C`` indices. The assay volume is read in the report's
volume unit. As the D300 software computes it (the Tecan D300e export shows it
row for row), the final concentration is ``stock * dispensed / (assay volume +
everything dispensed into the well)``. The back-fill fluid makes a well a
vehicle well when it got no drug; a fluid map (the sample sheet's
``source_map``, :class:`.source_map.FluidRoles`) makes named fluids kill
controls or vehicles. A report of a simulated run is read with a
warning: its volumes are what the run would have dispensed.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, well_name
from .common import Dispensing, LayoutKind, parse_number, parse_unit, register
from .dispense import NL_PER_UL, choose_plate, final_um, fluid_dispense, well_records
from .source_map import fluid_roles

log = logging.getLogger(__name__)

NL_PER = {"nL": 1.0, "uL": NL_PER_UL, "\u00b5L": NL_PER_UL, "\u03bcL": NL_PER_UL}


def sniff(text: str) -> bool:
    return bool(re.search(r"<Report>", text[:500])) and "<Dispensed " in text


def records(path: Path, text: str, dispensing: Dispensing) -> list[dict]:
    report = ET.fromstring(text)
    if report.findtext("Simulated", "").strip() == "True":
        log.warning("%s: the D300 report is of a simulated run (<Simulated>True)", path)
    dispensed = report.find("Dispensed")
    unit = dispensed.get("VolumeUnit", "")
    if unit not in NL_PER:
        raise InputError(f"dispensed volume unit {unit!r} is not one of {', '.join(NL_PER)}", file=path)
    plates = {p.get("Index"): p for p in report.find("Plates")}
    index = choose_plate(
        {key: (p.findtext("ID", "").strip(), key) for key, p in plates.items()}, dispensing.plate, file=path
    )
    plate = plates[index]
    geometry = PlateGeometry(int(plate.findtext("Rows")), int(plate.findtext("Cols")))
    assay_nl = parse_number(plate.findtext("AssayVolume"), file=path, what="AssayVolume") * NL_PER[unit]
    fluids = {f.get("Index"): _fluid(f, path) for f in report.find("Fluids")}
    roles = fluid_roles(dispensing.source_map, {name for name, _, _ in fluids.values()}, log=path)
    wells = next((p for p in dispensed if p.get("Index") == index), [])
    dispenses = []
    for well in wells:
        row, column = int(well.get("R")), int(well.get("C"))
        if not geometry.contains(row, column):
            raise InputError(f"R={row} C={column} is outside the report's {geometry.n_wells}-well plate", file=path)
        name = well_name(row, column)
        given = [
            (
                fluids[f.get("Index")],
                parse_number(f.get("TotalVolume"), file=path, well=name, what="TotalVolume") * NL_PER[unit],
            )
            for f in well.iter("Fluid")
        ]
        total_nl = assay_nl + sum(volume for _, volume in given)
        for (drug, stock, stock_unit), volume in given:
            final = final_um(stock, stock_unit, volume, total_nl) if stock_unit else float("nan")
            dispenses.append(fluid_dispense(name, drug, final, roles.get(drug), file=path))
    return well_records(dispenses, file=path)


def _fluid(fluid: ET.Element, path: Path) -> tuple[str, float, str]:
    """(name, stock, unit); a back-fill fluid has no stock and unit ""."""
    name = fluid.findtext("Name", "").strip()
    if fluid.findtext("IsNormalization", "").strip() == "True":
        return name, float("nan"), ""
    if fluid.find("Concentration") is None:
        raise InputError(f"fluid {name!r} has no concentration and is not the normalisation fluid", file=path)
    stock = parse_number(fluid.findtext("Concentration"), file=path, what=f"concentration of {name}")
    return name, stock, parse_unit(fluid.findtext("ConcentrationUnit"), file=path)


def size(text: str) -> PlateGeometry | None:
    """The plate size, where all the report's plates share one."""
    shapes = set(re.findall(r"<Rows>(\d+)</Rows>\s*<Cols>(\d+)</Cols>", text))
    if len(shapes) != 1:
        return None
    rows, columns = shapes.pop()
    return PlateGeometry(int(rows), int(columns))


register(LayoutKind("d300", sniff, records, size, settings=("dispense_plate", "source_map")))
