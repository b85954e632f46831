"""The source-plate map: what each well of a dispenser's source plate holds.

A small CSV or TSV the user writes (format in ``docs/layouts.md``): a header
row, then one line per source well with ``source_well``, ``role`` (treated,
kill or vehicle), ``drug`` and, for drugs, the stock ``concentration`` and
``unit``; ``source_plate`` (a name or barcode as the log writes it) is needed
when the log draws from several source plates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..geometry import canonical_well
from ..textfiles import read_text
from .common import decimal_marks, is_blank, parse_concentration, parse_unit
from .long import long_rows

REQUIRED = ("source_well", "role", "drug", "concentration", "unit")
ROLES = ("treated", "kill", "vehicle")


@dataclass(frozen=True)
class SourceWell:
    role: str
    drug: str
    stock: float  # NaN for a vehicle
    unit: str  # "" for a vehicle


class SourceMap:
    """Source wells by (source plate, well); plate "" where the map names none."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("source-plate map not found", file=self.path)
        rows = long_rows(self.path, read_text(self.path), key="source_well")
        if not rows:
            raise InputError("the source-plate map names no wells", file=self.path)
        missing = [name for name in REQUIRED if name not in rows[0]]
        if missing:
            raise InputError(f"the source-plate map lacks the column(s) {', '.join(missing)}", file=self.path)
        mark = decimal_marks(rows, file=self.path)
        self.wells: dict[tuple[str, str], SourceWell] = {}
        for row in rows:
            try:
                key = (str(row.get("source_plate") or "").strip(), canonical_well(row["source_well"]))
            except InputError as error:
                raise InputError(error.reason, file=self.path, line=row["line"]) from None
            if key in self.wells:
                raise InputError(
                    f"source well {' '.join(key).strip()} is listed twice", file=self.path, line=row["line"]
                )
            try:
                self.wells[key] = _source_well(row, self.path, mark)
            except InputError as error:
                raise InputError(error.reason, file=self.path, well=key[1], line=row["line"]) from None

    def lookup(self, names: tuple[str, ...], well: str, *, one_plate: bool) -> SourceWell | None:
        """The map's entry for ``well`` of the source plate known by ``names``
        (its name and barcode); an entry without a plate matches only when the
        log uses one source plate, so a well name cannot be taken from the wrong plate."""
        well = canonical_well(well)
        for name in names:
            if name and (name, well) in self.wells:
                return self.wells[(name, well)]
        return self.wells.get(("", well)) if one_plate else None


def _source_well(row: dict, path: Path, mark: str | None) -> SourceWell:
    role = str(row.get("role") or "").strip().lower()
    if role not in ROLES:
        raise InputError(f"role {row.get('role')!r} is not one of {', '.join(ROLES)}")
    drug = str(row.get("drug") or "").strip()
    stock, unit = parse_concentration(row.get("concentration"), file=path, mark=mark)
    unit = unit or parse_unit(row.get("unit"), file=path)
    if role == "vehicle":
        if not math.isnan(stock):
            raise InputError("a vehicle source well has no stock concentration; leave it empty")
        return SourceWell(role, drug, math.nan, "")
    if not drug:
        raise InputError(f"a {role} source well needs a drug")
    if math.isnan(stock) or stock <= 0 or is_blank(unit):
        raise InputError(f"a {role} source well needs a positive stock concentration with a unit")
    return SourceWell(role, drug, stock, unit)


FLUID_ROLES = ("kill", "vehicle")


class FluidRoles:
    """The fluid map: which fluids of a log that names its fluids (HP D300,
    Tecan D300e, IncuCyte plate map) are controls. A CSV or TSV with the
    columns ``fluid`` (the name as the log writes it) and ``role`` (kill or
    vehicle); a fluid it does not name is a drug, or back-fill where the log
    says so."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("fluid map not found", file=self.path)
        rows = long_rows(self.path, read_text(self.path), key="fluid")
        if not rows or "role" not in rows[0]:
            raise InputError("the fluid map needs the columns fluid and role, and one line per fluid", file=self.path)
        self.roles: dict[str, str] = {}
        for row in rows:
            fluid, role = str(row["fluid"]).strip(), str(row["role"] or "").strip().lower()
            if role not in FLUID_ROLES:
                raise InputError(
                    f"role {row['role']!r} of fluid {fluid!r} is not one of {', '.join(FLUID_ROLES)} "
                    "(a fluid the map leaves out is a drug)",
                    file=self.path,
                    line=row["line"],
                )
            if fluid in self.roles:
                raise InputError(f"fluid {fluid!r} is listed twice", file=self.path, line=row["line"])
            self.roles[fluid] = role

    def check_names(self, fluids: set[str], *, log: Path) -> None:
        """Every fluid the map names is one the log dispenses: a misspelt name
        would otherwise leave a control in the fits as a drug."""
        unknown = sorted(set(self.roles) - fluids)
        if unknown:
            raise InputError(
                f"the fluid map {self.path.name} names {', '.join(map(repr, unknown))}, which the log does not "
                f"dispense (its fluids: {', '.join(sorted(fluids))})",
                file=log,
            )


def fluid_roles(source_map: Path | None, fluids: set[str], *, log: Path) -> dict[str, str]:
    """{fluid: kill or vehicle} from the sample sheet's source_map column, checked
    against the log's fluids; {} without a map."""
    if source_map is None:
        return {}
    roles = FluidRoles(source_map)
    roles.check_names(fluids, log=log)
    return roles.roles
