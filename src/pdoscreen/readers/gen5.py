"""Agilent / BioTek Gen5 exports: tab-separated TXT and XLSX.

Both hold the same content: a ``key<TAB>value`` header (``Software Version``,
``Plate Number``, ``Reader Type:`` ...), the procedure, then result blocks under
a title (``Results``, or a bare read name such as ``Lum``). A block is either a
plate matrix (``<TAB>1<TAB>2...`` header; each plate row on one line per read,
the row letter only on the first, the read label in a trailing column) or a
well table (``Well<TAB>A1<TAB>A2...``; one line per read label). The XLSX
sheet is turned into rows of strings and parsed by the same code.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for, parse_well, row_index
from ..textfiles import read_text, split_rows
from .base import (
    Measurement,
    Reader,
    check_row_order,
    measurement_from_cells,
    read_xlsx,
    refuse_kinetic,
    register,
)

_ROW_LABEL_RE = re.compile(r"^([A-Z]|A[A-F])$")
_PLATE_SIZE_RE = re.compile(r"\b(96|384|1536)\b")
_WELLS_BY_COLUMNS = {12: 96, 24: 384, 48: 1536}
# Header keys (first cell) -> pdoscreen metadata keys.
_HEADER_KEYS = {
    "Software Version": "software_version",
    "Plate Number": "plate_number",
    "Date": "date",
    "Time": "time",
    "Reader Type:": "instrument",
    "Reader Serial Number:": "instrument_serial",
    "Reading Type": "reading_type",
    "Plate Type": "plate_type",
    "Barcode": "barcode",
    "Plate ID": "barcode",
}
# Blocks that describe the plate rather than read it.
_SKIPPED_TITLES = {"Layout"}


@dataclass
class _Read:
    """The cells of one read label of one plate, as the scan collects them."""

    name: str
    label: str
    metadata: dict[str, str]
    cells: dict[tuple[int, int], str] = field(default_factory=dict)
    n_columns: int | None = None  # columns of its matrix header, if any


@register
class Gen5Reader(Reader):
    name = "gen5"
    description = "Agilent/BioTek Gen5 tab-separated TXT export"

    def sniff(self, sample) -> bool:
        text = sample.text
        return bool(text) and _looks_like_gen5([line.split("\t") for line in text.splitlines()])

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        return gen5_measurements(split_rows(read_text(path), "\t"), path)


@register
class Gen5XlsxReader(Reader):
    name = "gen5_xlsx"
    description = "Agilent/BioTek Gen5 XLSX export (one sheet per plate)"

    def sniff(self, sample) -> bool:
        return any(
            _looks_like_gen5([[_text(c) for c in row] for row in rows])
            for rows in sample.sheets.values()
        )

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        measurements = []
        sheets = {
            name: [[_text(c) for c in row] for row in rows]
            for name, rows in read_xlsx(path).items()
        }
        gen5_sheets = {name: rows for name, rows in sheets.items() if _looks_like_gen5(rows)}
        for sheet, rows in gen5_sheets.items():
            found = gen5_measurements(rows, path)
            if len(gen5_sheets) > 1:
                for measurement in found:
                    measurement.name = f"{sheet}: {measurement.name}"
            measurements.extend(found)
        if not measurements:
            raise InputError("Gen5 workbook without a Gen5 export sheet", file=path)
        return measurements


def _text(cell: object) -> str:
    """An XLSX cell as Gen5 would have written it in its TXT export."""
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        # The export date is a real Excel date; its time sits in a separate cell.
        return cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(" ")
    if isinstance(cell, dt.time):
        return cell.isoformat()
    return str(cell).strip()


def _looks_like_gen5(rows: list[list[str]]) -> bool:
    firsts = {row[0].strip() for row in rows[:60] if row}
    return "Software Version" in firsts and bool(
        firsts & {"Procedure Details", "Reader Type:", "Plate Number"}
    )


def gen5_measurements(rows: list[list[str]], path: Path) -> list[Measurement]:
    """Every read of a Gen5 export given as rows of strings (TXT or XLSX)."""
    rows = [[cell.strip() for cell in row] for row in rows]
    _refuse_kinetic(rows, path)
    reads: dict[tuple[str, str], _Read] = {}
    header: dict[str, str] = {}
    read_names: set[str] = set()
    title = ""
    index = 0
    while index < len(rows):
        row = rows[index]
        filled = [cell for cell in row if cell]
        matrix_column = _matrix_header(row)
        table_column = _table_header(row)
        if matrix_column is not None or table_column is not None:
            parse = _matrix_block if matrix_column is not None else _table_block
            column = matrix_column if matrix_column is not None else table_column
            title = title or "Results"
            block, index = parse(rows, index, column, title, path)
            if title not in _SKIPPED_TITLES:
                _collect(reads, block, title, header, path)
            title = ""
            continue
        if row and row[0] in _HEADER_KEYS and len(filled) <= 2:
            header[_HEADER_KEYS[row[0]]] = row[1] if len(row) > 1 else ""
        elif row and row[0] == "Read" and len(row) > 1:
            read_names.add(row[1])
        elif len(filled) == 1 and row[0]:
            title = filled[0]
        index += 1
    if not reads:
        raise InputError("Gen5 export without a result block (truncated file?)", file=path)
    return _measurements(list(reads.values()), read_names, path)


def _refuse_kinetic(rows: list[list[str]], path: Path) -> None:
    for row in rows:
        cells = [cell for cell in row if cell]
        if cells and cells[0].startswith("Start Kinetic"):
            raise refuse_kinetic(path, " ".join(cells))
        if len(cells) > 1 and cells[0] == "Time" and cells[1].startswith("T°"):
            raise refuse_kinetic(path, "a Time column in the results")


def _matrix_header(row: list[str]) -> int | None:
    """The column of ``1`` in a ``<TAB>1<TAB>2...`` header, or None."""
    filled = [(i, cell) for i, cell in enumerate(row) if cell]
    if not filled or filled[0][1] != "1" or filled[0][0] == 0:
        return None
    if [cell for _, cell in filled] != [str(n) for n in range(1, len(filled) + 1)]:
        return None
    return filled[0][0]


def _table_header(row: list[str]) -> int | None:
    """The column of ``Well`` in a ``Well<TAB>A1<TAB>A2...`` header, or None."""
    if "Well" not in row:
        return None
    column = row.index("Well")
    wells = [cell for cell in row[column + 1 :] if cell]
    if not wells or not all(re.match(r"^[A-Z]{1,2}\d{1,2}$", cell) for cell in wells):
        return None
    return column


def _matrix_block(rows, start, column, title, path):
    """Lines under a matrix header -> ({label: {(row, col): cell}}, n_columns), next index."""
    n_columns = sum(1 for cell in rows[start] if cell)
    block: dict[str, dict[tuple[int, int], str]] = {}
    groups: dict[str, list[str]] = {}  # plate row letter -> its lines' read labels
    plate_row = None
    index = start + 1
    while index < len(rows) and any(rows[index]):
        row = rows[index]
        letter = row[column - 1] if len(row) >= column else ""
        if _ROW_LABEL_RE.match(letter):
            plate_row = check_row_order(
                plate_row, row_index(letter), path=path, what=f"the {title!r} matrix", line=index + 1
            )
            groups[letter] = []
        elif letter or plate_row is None or any(row[: column - 1]):
            raise InputError(
                f"unexpected line in the {title!r} matrix: {row[:4]}", file=path, line=index + 1
            )
        values = row[column : column + n_columns]
        if len(values) < n_columns:
            raise InputError(
                f"a line of the {title!r} matrix has {len(values)} of {n_columns} values "
                "(truncated file?)",
                file=path,
                line=index + 1,
            )
        extra = [cell for cell in row[column + n_columns + 1 :] if cell]
        if extra:
            raise InputError(
                f"unexpected cells after the read label: {extra}", file=path, line=index + 1
            )
        label = row[column + n_columns] if len(row) > column + n_columns else ""
        groups[list(groups)[-1]].append(label)
        cells = block.setdefault(label or title, {})
        for col, cell in enumerate(values):
            if cell:
                cells[(plate_row, col)] = cell
        index += 1
    if index == start + 1:
        raise InputError(
            f"the {title!r} matrix has a header but no rows (truncated file?)", file=path
        )
    _check_groups(groups, title, path)
    return (block, n_columns), index


def _check_groups(groups: dict[str, list[str]], title: str, path: Path) -> None:
    """Every plate row must carry the same reads in the same order; a row that
    differs was cut short (or the file was edited)."""
    first_letter, first = next(iter(groups.items()))
    for letter, labels in groups.items():
        if labels != first:
            raise InputError(
                f"plate row {letter} of the {title!r} matrix has reads {labels}, but row "
                f"{first_letter} has {first} (truncated file?)",
                file=path,
            )


def _table_block(rows, start, column, title, path):
    """Lines under a ``Well`` header -> ({label: {(row, col): cell}}, None), next index."""
    header = rows[start]
    wells = {i: parse_well(cell) for i, cell in enumerate(header) if i > column and cell}
    block: dict[str, dict[tuple[int, int], str]] = {}
    index = start + 1
    while index < len(rows) and any(rows[index]):
        row = rows[index]
        if len(row) <= column or not row[column]:
            raise InputError(
                f"a line of the {title!r} table has no read label", file=path, line=index + 1
            )
        beyond = [cell for i, cell in enumerate(row) if cell and i > column and i not in wells]
        if beyond:
            raise InputError(
                f"values outside the well columns: {beyond[:3]}", file=path, line=index + 1
            )
        block[row[column]] = {wells[i]: cell for i, cell in enumerate(row) if i in wells and cell}
        index += 1
    if index == start + 1:
        raise InputError(
            f"the {title!r} table has a header but no rows (truncated file?)", file=path
        )
    return (block, None), index


def _collect(reads, parsed, title, header, path) -> None:
    """Add one block's reads, keyed by plate and label; names stay unique."""
    block, n_columns = parsed
    plate = header.get("plate_number", "")
    for label, cells in block.items():
        if not cells:
            continue  # a read of other wells only (a partial-plate read in a well table)
        key = (plate, label)
        name = label
        if key in reads:
            key, name = (plate, f"{title}: {label}"), f"{title}: {label}"
            if key in reads:
                raise InputError(f"read {label!r} appears twice in block {title!r}", file=path)
        reads[key] = _Read(name, label, dict(header), cells, n_columns)


def _measurements(reads: list[_Read], read_names: set[str], path: Path) -> list[Measurement]:
    plates = {read.metadata.get("plate_number", "") for read in reads}
    # A label "<read name>:<wavelength>" is an instrument read; others are calculated.
    raw = [read for read in reads if read.label.split(":")[0] in read_names]
    measurements = []
    for read in reads:
        name = read.name if len(plates) == 1 else f"{read.metadata['plate_number']}: {read.name}"
        measurements.append(
            measurement_from_cells(
                name,
                read.cells,
                path=path,
                geometry=_geometry(read),
                metadata=_metadata(read),
                default=len(raw) == 1 and read is raw[0],
            )
        )
    return measurements


def _geometry(read: _Read) -> PlateGeometry | None:
    stated = _PLATE_SIZE_RE.search(read.metadata.get("plate_type", ""))
    if stated:
        return geometry_for(int(stated.group(1)))
    if read.n_columns in _WELLS_BY_COLUMNS:
        return geometry_for(_WELLS_BY_COLUMNS[read.n_columns])
    return None  # measurement_from_cells fits the smallest plate


def _metadata(read: _Read) -> dict[str, str]:
    metadata = {
        key: value
        for key, value in read.metadata.items()
        if key not in ("date", "time") and value.lower() not in ("n/a", "unknown")
    }
    metadata["read_time"] = " ".join(
        v for v in (read.metadata.get("date"), read.metadata.get("time")) if v
    )
    if "software_version" in metadata:
        metadata["software_version"] = f"Gen5 {metadata['software_version']}"
    metadata["label"] = read.label
    return metadata
