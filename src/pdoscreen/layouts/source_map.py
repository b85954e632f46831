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
from ..readers.base import read_text
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
