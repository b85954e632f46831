"""IncuCyte Plate Map Editor files (``.PlateMap``, XML) as layouts.

``<wellStore><wells>`` lists every well of the plate with **0-based** ``row``
and ``col``; a well's ``<wellItem type="Compound" concentration=...
concentrationUnits=...>`` names its compound in a nested ``<referenceItem
displayName=...>``. Items of other types (cell types, growth conditions) say
nothing about dosing and are not read. The editor has no notion of controls: a
fluid map (the sample sheet's ``source_map``, :class:`.source_map.FluidRoles`)
makes named compounds kill controls or vehicles; a vehicle's amount (often in
``%``) is not used. Two compounds in one well are refused as a combination.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for, well_name
from .common import Dispensing, LayoutKind, parse_number, parse_unit, register
from .dispense import fluid_dispense, in_um, well_records
from .source_map import fluid_roles

COMPOUND = "Compound"


def sniff(text: str) -> bool:
    return bool(re.search(r"<plateMap[\s>]", text[:500])) and "<wellStore>" in text


def records(path: Path, text: str, dispensing: Dispensing) -> list[dict]:
    wells = ET.fromstring(text).find("wellStore/wells")
    if wells is None:
        raise InputError("the plate map has no <wellStore><wells> section", file=path)
    geometry = size(text)
    items = [(_well(well, geometry, path), item) for well in wells for item in well.iter("wellItem")]
    compounds = [(name, item) for name, item in items if item.get("type") == COMPOUND]
    roles = fluid_roles(dispensing.source_map, {_compound(item, name, path) for name, item in compounds}, log=path)
    dispenses = []
    for name, item in compounds:
        compound = _compound(item, name, path)
        role = roles.get(compound)
        concentration = math.nan if role == "vehicle" else _concentration_um(item, name, path)
        dispenses.append(fluid_dispense(name, compound, concentration, role, file=path))
    return well_records(dispenses, file=path)


def _well(well: ET.Element, geometry: PlateGeometry | None, path: Path) -> str:
    row, column = int(well.get("row")), int(well.get("col"))
    if row < 0 or column < 0 or (geometry and not geometry.contains(row, column)):
        raise InputError(f"row={row} col={column} is outside the plate map's plate", file=path)
    return well_name(row, column)


def _compound(item: ET.Element, well: str, path: Path) -> str:
    reference = item.find("referenceItem")
    name = "" if reference is None else (reference.get("displayName") or reference.get("description") or "")
    if not name.strip():
        raise InputError("a compound item without a name", file=path, well=well)
    return name.strip()


def _concentration_um(item: ET.Element, well: str, path: Path) -> float:
    """A drug's concentration in µM; refused where it has none or no molar unit."""
    value = parse_number(item.get("concentration"), file=path, well=well, what="concentration")
    unit = parse_unit(item.get("concentrationUnits"), file=path, well=well)
    if math.isnan(value) or not unit:
        raise InputError(f"compound {_compound(item, well, path)!r} has no molar concentration", file=path, well=well)
    return in_um(value, unit)


def size(text: str) -> PlateGeometry | None:
    """The plate the map draws: it lists every well, so their number is its size."""
    count = len(re.findall(r"<well\s", text))
    return geometry_for(count) if count in (96, 384, 1536) else None


register(LayoutKind("incucyte_platemap", sniff, records, size, settings=("source_map",)))
