"""Long layouts: one line per well under a header row with a ``well`` column.

Comma, semicolon or tab separated; header names are case-insensitive and
columns other than ours are ignored, so the lower-level :func:`long_rows` also
reads other tools' long plate maps (datarail, flopr).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .common import FIELDS, LayoutKind, register, table_rows

REQUIRED = ("well", "role", "drug", "concentration")  # unit may be absent if no well has a concentration


def _header(cells: list[str]) -> list[str]:
    return [cell.strip().lower() for cell in cells]


def sniff(text: str) -> bool:
    rows = table_rows(text)
    return bool(rows) and "well" in _header(rows[0][1])


def long_rows(path: Path, text: str, key: str = "well") -> list[dict[str, str]]:
    """Every data line as {lower-cased header: cell}, plus ``line``; the
    header must name the ``key`` column."""
    rows = table_rows(text)
    if not rows:
        raise InputError("the layout is empty", file=path)
    header_line, header = rows[0][0], _header(rows[0][1])
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    if duplicated:
        raise InputError(f"column {duplicated[0]!r} appears twice in the header", file=path, line=header_line)
    if key not in header:
        raise InputError(f"the header row has no {key!r} column", file=path, line=header_line)
    records = []
    for line, cells in rows[1:]:
        if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header):]):
            raise InputError(f"{len(cells)} cells under a {len(header)}-column header", file=path, line=line)
        padded = cells + [""] * (len(header) - len(cells))  # short lines: missing trailing cells
        records.append({name: cell for name, cell in zip(header, padded) if name} | {"line": line})
    return records


def records(path: Path, text: str) -> list[dict]:
    rows = long_rows(path, text)
    if not rows:
        return []  # a header alone: reported as a layout that names no wells
    missing = [name for name in REQUIRED if name not in rows[0]]
    if missing:
        raise InputError(f"the header row lacks the column(s) {', '.join(missing)}", file=path)
    return [{name: row.get(name) for name in ("well", *FIELDS, "line")} for row in rows]


register(LayoutKind("long", sniff, records))
