"""Plate geometries and well names.

Wells are named canonically as row letters plus a zero-padded column (``A01``,
``AF48``); readers and layouts accept ``A1``, ``A01``, ``A001``, lower-case rows
and, for 1536-well plates, ``AA``..``AF`` rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError

_SHAPES = {96: (8, 12), 384: (16, 24), 1536: (32, 48)}
_WELL_RE = re.compile(r"^\s*([A-Za-z]{1,2})\s*0*(\d{1,3})\s*$")


def row_label(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA (the 1536-well convention)."""
    if index < 26:
        return chr(ord("A") + index)
    return "A" + chr(ord("A") + index - 26)


def row_index(label: str) -> int:
    """Inverse of :func:`row_label`; case-insensitive."""
    label = label.strip().upper()
    if len(label) == 1:
        return ord(label) - ord("A")
    if len(label) == 2 and label[0] == "A":
        return 26 + ord(label[1]) - ord("A")
    raise ValueError(f"not a plate row: {label!r}")


@dataclass(frozen=True)
class PlateGeometry:
    n_rows: int
    n_columns: int

    @property
    def n_wells(self) -> int:
        return self.n_rows * self.n_columns

    @property
    def rows(self) -> list[str]:
        return [row_label(i) for i in range(self.n_rows)]

    @property
    def columns(self) -> list[int]:
        return list(range(1, self.n_columns + 1))

    @property
    def wells(self) -> list[str]:
        """Canonical well names in row-major order."""
        return [well_name(r, c) for r in range(self.n_rows) for c in range(self.n_columns)]

    def contains(self, row: int, column: int) -> bool:
        return 0 <= row < self.n_rows and 0 <= column < self.n_columns


def geometry_for(n_wells: int) -> PlateGeometry:
    if n_wells not in _SHAPES:
        raise InputError(f"unsupported plate size {n_wells}; expected one of {sorted(_SHAPES)}")
    return PlateGeometry(*_SHAPES[n_wells])


def geometry_fitting(n_rows: int, n_columns: int) -> PlateGeometry:
    """The smallest standard plate that holds an n_rows x n_columns block."""
    for n_wells, (rows, cols) in sorted(_SHAPES.items()):
        if n_rows <= rows and n_columns <= cols:
            return PlateGeometry(rows, cols)
    raise InputError(f"a {n_rows} x {n_columns} block fits no standard plate (96, 384, 1536)")


def well_name(row: int, column: int) -> str:
    """0-based row and column to the canonical name (``A01``)."""
    return f"{row_label(row)}{column + 1:02d}"


def parse_well(text: str) -> tuple[int, int]:
    """A well written A1, A01, A001, a1 or AF48 -> 0-based (row, column)."""
    match = _WELL_RE.match(str(text))
    if not match:
        raise InputError(f"{text!r} is not a well name (expected e.g. A1, A01 or A001)")
    column = int(match.group(2)) - 1
    if column < 0:
        raise InputError(f"{text!r} is not a well name: columns start at 1")
    return row_index(match.group(1)), column


def canonical_well(text: str) -> str:
    return well_name(*parse_well(text))
