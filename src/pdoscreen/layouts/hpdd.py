"""HP D300 protocol files (``.hpdd``) as layouts.

A protocol is what the D300 software was asked to do, not a record of what it
did (that is the dispense report, :mod:`.d300`). Its root ``<Protocol>`` names
the unit its well values are written in (``ConcentrationUnit``, µM), its
``<Fluids>`` (``ID``, ``Name``, ``ByVol``, a stock ``Concentration`` and
``ConcentrationUnit``, ``ClassID``), its ``<Plates>`` (``Name``, ``Rows``,
``Cols``, ``<Wells>``) and its ``<Backfills>``. A plate's ``<Well Row= Col=>``
(0-based) holds one ``<Fluid ID=>`` per fluid it gets, whose text is, for a
fluid dosed by concentration (``ByVol`` False), the target final concentration
in the protocol's unit. The stock is not needed for that and is not read.

A back-fill lists wells by plate position ``P`` and 0-based ``R``/``C``; a
well it lists and no drug reaches is a vehicle, named as the D300's reports
name the back-fill of its fluid class (class 0, DMSO: ``DMSO
normalization``). A well neither dosed nor back-filled is not named, so it is
empty. A fluid map (the sample sheet's ``source_map``,
:class:`.source_map.FluidRoles`) makes named fluids kill controls or vehicles;
a vehicle's amount is not read, so a fluid dosed by volume (``ByVol`` True)
is read only as a vehicle.

Refused: a protocol whose plate cannot be chosen, a chosen plate that doses
no well, a plate whose well positions are randomised at dispensing, a fluid
dosed by volume or with a non-molar stock unit given as a drug, a fluid ID
the protocol does not define, a well outside the plate, two drugs in a well.
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, well_name
from .common import Dispensing, LayoutKind, is_blank, parse_number, parse_unit, register
from .d300 import size
from .dispense import Dispense, choose_plate, fluid_dispense, in_um, well_records
from .source_map import fluid_roles

log = logging.getLogger(__name__)

# The root element, after an optional byte-order mark, XML declaration and comments.
_ROOT_RE = re.compile(r"\A\ufeff?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<Protocol[\s>]", re.DOTALL)
# What the D300's dispense reports call the back-fill of a fluid class (both
# HMS LINCS exporters of .hpdd files make class 0 DMSO).
BACKFILL_NAMES = {"0": "DMSO normalization"}


def sniff(text: str) -> bool:
    # A dispense report holds a <Protocol> element too, but not as its root.
    return bool(_ROOT_RE.match(text)) and "<Plates" in text and "<Fluids" in text


def records(path: Path, text: str, dispensing: Dispensing) -> list[dict]:
    protocol = ET.fromstring(text)
    unit = _protocol_unit(protocol, path)
    plates = protocol.findall("Plates/Plate")
    if not plates:
        raise InputError("the protocol has no plates", file=path)
    mode = protocol.findtext("Plates/Mode", "Concentration").strip()
    if mode != "Concentration":
        raise InputError(f"the protocol's plates are in mode {mode!r}; only Concentration is read", file=path)
    names = {str(i): (plate.findtext("Name", "").strip(),) for i, plate in enumerate(plates)}
    index = int(choose_plate(names, dispensing.plate, file=path))
    plate, name = plates[index], names[str(index)][0]
    wells = plate.findall("Wells/Well")
    if plate.find("Wells/Well/Fluid") is None:
        raise InputError(f"plate {name!r} of the protocol doses no well (its <Wells> is empty)", file=path)
    if plate.find("Randomize/Well") is not None:
        raise InputError(
            f"plate {name!r} is randomised at dispensing, so its wells are not where the protocol puts them; "
            "use the run's dispense report (*.DATA.xml) as the layout",
            file=path,
        )
    geometry = PlateGeometry(_index(plate, "Rows", path), _index(plate, "Cols", path))
    fluids = {}
    for fluid in protocol.findall("Fluids/Fluid"):
        if fluid.get("ID") in fluids:
            raise InputError(f"the protocol defines fluid ID {fluid.get('ID')!r} twice", file=path)
        fluids[fluid.get("ID")] = fluid
    backfilled = _backfilled(protocol, index, name, geometry, path)
    fluid_names = {fluid.findtext("Name", "").strip() for fluid in fluids.values()}
    roles = fluid_roles(dispensing.source_map, fluid_names | {vehicle for _, vehicle in backfilled}, log=path)
    dispenses, seen = [], set()
    for well in wells:
        label = _well(well, ("Row", "Col"), name, geometry, path)
        if label in seen:
            raise InputError(f"plate {name!r} of the protocol lists this well twice", file=path, well=label)
        seen.add(label)
        dispenses += [_dispense(given, label, fluids, unit, roles, path) for given in well.findall("Fluid")]
    dispenses += [
        fluid_dispense(label, vehicle, math.nan, roles.get(vehicle), file=path) for label, vehicle in backfilled
    ]
    return well_records(dispenses, file=path)


def _protocol_unit(protocol: ET.Element, path: Path) -> str:
    """The protocol's unit for well values, which must be molar."""
    written = protocol.findtext("ConcentrationUnit", "").strip()
    if not written:
        raise InputError("the protocol names no ConcentrationUnit for its well values", file=path)
    unit = parse_unit(written, file=path)
    molarity = protocol.findtext("MolarityConcentrationUnit")
    if not is_blank(molarity) and parse_unit(molarity, file=path) != unit:
        raise InputError(
            f"the protocol's ConcentrationUnit {written!r} and MolarityConcentrationUnit {molarity.strip()!r} "
            "differ, so the unit of its well values is not known",
            file=path,
        )
    return unit


def _backfilled(protocol: ET.Element, index: int, name: str, geometry: PlateGeometry, path: Path) -> list:
    """(well, back-fill name) for every back-fill well of the plate at ``index``."""
    wells = []
    for backfill in protocol.findall("Backfills/Backfill"):
        fluid_class = (backfill.get("ClassID") or "").strip()
        vehicle = BACKFILL_NAMES.get(fluid_class, f"back-fill of fluid class {fluid_class or '?'}")
        for well in backfill.findall("Wells/Well"):
            if _index(well, "P", path) == index:
                wells.append((_well(well, ("R", "C"), name, geometry, path), vehicle))
    if wells and protocol.findtext("BackfillNoDispense", "").strip() == "True":
        log.warning(
            "%s: BackfillNoDispense is True; what it means for wells without a drug is not documented, "
            "and they are read as vehicles (back-filled)",
            path,
        )
    return wells


def _dispense(given: ET.Element, well: str, fluids: dict, unit: str, roles: dict, path: Path) -> Dispense:
    """One <Fluid ID=...> of a well: a drug at its target concentration, or a vehicle."""
    key = given.get("ID")
    if key not in fluids:
        raise InputError(
            f"fluid ID {key!r} is not one of the protocol's fluids (IDs {', '.join(map(str, fluids))})",
            file=path,
            well=well,
        )
    fluid = fluids[key]
    drug = fluid.findtext("Name", "").strip()
    if not drug:
        raise InputError(f"fluid ID {key!r} has no name", file=path, well=well)
    role = roles.get(drug)
    if role == "vehicle":
        return fluid_dispense(well, drug, math.nan, role, file=path)
    by_volume = fluid.findtext("ByVol", "").strip()
    if by_volume != "False":
        why = "is dosed by volume (ByVol True)" if by_volume == "True" else f"has ByVol {by_volume!r}, not False"
        raise InputError(
            f"fluid {drug!r} {why}: the protocol gives it no concentration; a fluid map may name it a vehicle",
            file=path,
            well=well,
        )
    stock_unit = fluid.findtext("ConcentrationUnit")
    try:
        parse_unit(stock_unit, file=path)
    except InputError:
        raise InputError(
            f"fluid {drug!r} has its stock in {stock_unit.strip()!r}, not a molar unit, so its well values "
            "are not molar concentrations",
            file=path,
            well=well,
        ) from None
    value = parse_number(given.text, file=path, well=well, what=f"{drug}'s concentration")
    if math.isnan(value):
        raise InputError(f"fluid {drug!r} is given without a concentration", file=path, well=well)
    return fluid_dispense(well, drug, in_um(value, unit), role, file=path)


def _well(well: ET.Element, keys: tuple[str, str], plate: str, geometry: PlateGeometry, path: Path) -> str:
    """A well's 0-based indices -> its name, checked against the protocol's plate."""
    row, column = (_index(well, key, path) for key in keys)
    if not geometry.contains(row, column):
        raise InputError(
            f"{keys[0]}={row} {keys[1]}={column} is outside plate {plate!r} of the protocol "
            f"({geometry.n_rows} rows, {geometry.n_columns} columns, 0-based)",
            file=path,
        )
    return well_name(row, column)


def _index(element: ET.Element, key: str, path: Path) -> int:
    """An integer attribute (or, failing that, child element) of ``element``."""
    text = element.get(key, element.findtext(key))
    try:
        return int(str(text).strip())
    except ValueError:
        raise InputError(f"<{element.tag}> has {key} {text!r}, not a whole number", file=path) from None


register(LayoutKind("hpdd", sniff, records, size, settings=("dispense_plate", "source_map")))
