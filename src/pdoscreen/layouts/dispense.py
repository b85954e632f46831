"""What every dispenser log shares: choosing the destination plate, final
concentrations from volumes, and folding the log's dispenses into one layout
record per well.

A dispense is one fluid going into one well. A well may receive a drug, its
DMSO back-fill and a control from several dispenses; it keeps one drug at
most (combination screens are out of scope), and is flagged
``dispense_failed`` with the instrument's message when any of its dispenses
failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..geometry import canonical_well
from .common import PER_MOLAR, Dispensing, is_blank

FAILED = "dispense_failed"
NL_PER_UL = 1000.0


@dataclass(frozen=True)
class Dispense:
    """One fluid into one well: a drug (treated or kill) with its final
    concentration in µM, or a vehicle (no concentration)."""

    well: str  # canonical, A01
    role: str  # treated, kill or vehicle
    drug: str  # the compound, or the vehicle's name
    concentration_um: float = math.nan
    failure: str = ""  # the instrument's message where the dispense failed
    line: int | None = None


def in_um(concentration: float, unit: str) -> float:
    return concentration * (PER_MOLAR["uM"] / PER_MOLAR[unit])


def final_um(stock: float, stock_unit: str, dispensed_nl: float, well_volume_nl: float) -> float:
    """The final concentration (µM) of ``dispensed_nl`` of a stock in a well
    holding ``well_volume_nl`` in all after dispensing."""
    return in_um(stock, stock_unit) * dispensed_nl / well_volume_nl


def assay_volume_nl(dispensing: Dispensing, *, file: Path, kind: str) -> float:
    """The sample sheet's assay volume (µL, before dispensing) in nL; required."""
    volume = dispensing.assay_volume_ul
    if is_blank(volume):
        raise InputError(
            f"a {kind} log gives volumes, not concentrations: give the plate's assay_volume_ul "
            "(the volume in each well before dispensing) in the sample sheet",
            file=file,
        )
    if not volume > 0:
        raise InputError(f"assay_volume_ul must be positive, got {volume:g}", file=file)
    return volume * NL_PER_UL


def fluid_dispense(
    well: str, fluid: str, concentration_um: float, role: str | None, *, file: Path, line: int | None = None
) -> Dispense:
    """A named fluid (D300, D300e, plate map) into a well. ``role`` is the
    fluid map's (kill or vehicle), None where the map does not name the fluid:
    then a fluid with a concentration is a drug and one without is back-fill."""
    if role == "vehicle" or (role is None and math.isnan(concentration_um)):
        return Dispense(well, "vehicle", fluid, line=line)
    if math.isnan(concentration_um):
        raise InputError(
            f"the fluid map makes {fluid!r} a {role} control, but the log gives it no concentration",
            file=file,
            well=well,
            line=line,
        )
    return Dispense(well, role or "treated", fluid, concentration_um, line=line)


def choose_plate(plates: dict[str, tuple[str, ...]], wanted: str, *, file: Path) -> str:
    """The key of the destination plate that ``wanted`` (the sample sheet's
    dispense_plate) names among ``plates`` ({key: its names and barcodes});
    with nothing wanted, the log's only plate."""
    listing = "; ".join(" / ".join(n for n in names if n) for names in plates.values())
    if is_blank(wanted):
        if len(plates) == 1:
            return next(iter(plates))
        raise InputError(
            f"the log dispenses into {len(plates)} plates ({listing}); say which one this plate is "
            "in the sample sheet's dispense_plate column",
            file=file,
        )
    matches = [key for key, names in plates.items() if str(wanted).strip() in names]
    if len(matches) != 1:
        raise InputError(
            f"dispense_plate {wanted!r} names {'none' if not matches else 'several'} of the log's "
            f"destination plates ({listing})",
            file=file,
        )
    return matches[0]


def well_records(dispenses: list[Dispense], *, file: Path) -> list[dict]:
    """One layout record per well that received anything."""
    by_well: dict[str, list[Dispense]] = {}
    for dispense in dispenses:
        by_well.setdefault(canonical_well(dispense.well), []).append(dispense)
    return [_record(well, items, file) for well, items in by_well.items()]


def _record(well: str, items: list[Dispense], file: Path) -> dict:
    drugs = sorted({(d.drug, d.role) for d in items if d.role != "vehicle"})
    if len({drug for drug, _ in drugs}) > 1:
        raise InputError(
            f"the log gives this well {len(drugs)} drugs ({', '.join(d for d, _ in drugs)}); "
            "combination screens are not supported",
            file=file,
            well=well,
            line=items[0].line,
        )
    if len(drugs) > 1:
        raise InputError(
            f"the log gives {drugs[0][0]} to this well both as treated and as kill control",
            file=file,
            well=well,
        )
    failures = [d.failure for d in items if d.failure]
    record = {
        "well": well,
        "line": items[0].line,
        "flag": FAILED if failures else "",
        "flag_message": "; ".join(failures),
    }
    if not drugs:
        vehicles = sorted({d.drug for d in items if d.drug})
        return record | {"role": "vehicle", "drug": " + ".join(vehicles)}
    drug, role = drugs[0]
    # One drug from several source wells (a dose built from two stocks) adds up.
    total = sum(d.concentration_um for d in items if d.role != "vehicle")
    return record | {"role": role, "drug": drug, "concentration": total, "unit": "uM"}
