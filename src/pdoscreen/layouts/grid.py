"""Plate-shaped layouts as plater writes them: one grid per field, stacked.

Each grid starts with a header row (field name in the corner cell, then the
column numbers 1..n) followed by one row per plate row (``A``.. or ``a``..).
Blank or delimiter-only lines between grids are optional; an empty cell means
the field says nothing about that well. Concentration cells may carry their
unit (``12.500000 μM``) instead of a separate unit grid.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, canonical_well, row_index
from .common import FIELDS, LayoutKind, register, table_rows

_ROW_RE = re.compile(r"^([A-Za-z]|[Aa][A-Fa-f])$")  # A..Z, then AA..AF on 1536-well plates


def _column_numbers(cells: list[str]) -> list[int] | None:
    """The header's column numbers, when the cells after the corner read 1, 2, ...; else None."""
    numbers = [cell.strip() for cell in cells[1:]]
    while numbers and not numbers[-1]:
        numbers.pop()
    if not numbers or not all(n.isdigit() for n in numbers):
        return None
    columns = [int(n) for n in numbers]
    return columns if columns == list(range(1, len(columns) + 1)) else None


def sniff(text: str) -> bool:
    rows = table_rows(text)
    return (
        len(rows) > 1
        and _column_numbers(rows[0][1]) is not None
        and bool(_ROW_RE.match(rows[1][1][0].strip()))
    )


def parse_grids(path: Path, text: str) -> dict[str, dict[str, str]]:
    """Every grid in the file as {field name as written: {canonical well: cell text}}.
    Empty cells are left out; a field with no corner name is called ``""``."""
    grids: dict[str, dict[str, str]] = {}
    columns = current = None
    for line, cells in table_rows(text):
        numbers = _column_numbers(cells)
        if numbers is not None:
            field = cells[0].strip()
            if field.lower() in {name.lower() for name in grids}:
                raise InputError(f"the grid {field!r} appears twice", file=path, line=line)
            columns, current = numbers, grids.setdefault(field, {})
        elif current is None or not _ROW_RE.match(cells[0].strip()):
            raise InputError(
                f"expected a grid header (field name, 1, 2, ...) or a row letter, found {cells[0]!r}",
                file=path,
                line=line,
            )
        else:
            _read_grid_row(cells, columns, current, path=path, line=line)
    return grids


def _read_grid_row(
    cells: list[str], columns: list[int], grid: dict[str, str], *, path: Path, line: int
) -> None:
    """One plate row's non-empty cells into ``grid``."""
    letter = cells[0].strip()
    for index, cell in enumerate(cells[1:]):
        if not cell.strip():
            continue
        well = canonical_well(f"{letter}{index + 1}")
        if index >= len(columns):
            raise InputError("a value right of the last numbered column", file=path, well=well, line=line)
        if well in grid:
            raise InputError("the well is listed twice in one grid", file=path, well=well, line=line)
        grid[well] = cell.strip()


def records(path: Path, text: str) -> list[dict]:
    grids = {name.lower(): cells for name, cells in parse_grids(path, text).items()}
    if "" in grids:
        raise InputError("a grid has no field name in its corner cell", file=path)
    ours = {field: grids[field] for field in FIELDS if field in grids}
    if not ours:
        raise InputError(
            f"no grid is named {', '.join(FIELDS)} (found: {', '.join(grids)})", file=path
        )
    wells = sorted({well for cells in ours.values() for well in cells})
    return [{"well": well} | {field: cells.get(well) for field, cells in ours.items()} for well in wells]


def size(text: str) -> PlateGeometry | None:
    """The plate the grids draw: their last row letter and last numbered column."""
    rows = columns = 0
    for _, cells in table_rows(text):
        numbers = _column_numbers(cells)
        if numbers is not None:
            columns = max(columns, len(numbers))
        elif _ROW_RE.match(cells[0].strip()):
            rows = max(rows, row_index(cells[0]) + 1)
    return PlateGeometry(rows, columns) if rows and columns else None


register(LayoutKind("grid", sniff, records, size))
