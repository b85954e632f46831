"""Molecular Devices SoftMax Pro plate export (TXT, "Export all" or plate export).

The file starts with ``##BLOCKS= n`` and holds ``n`` blocks, each closed by a
``~End`` line. Only ``Plate:`` blocks are plate reads; ``Group:`` (sample
tables with calculated columns and ``Range?`` markers) and ``Note:`` blocks are
skipped. A ``Plate:`` line is a tab-separated list of positional settings
(name, export version, layout, read type, read mode, data type, ...); the
Fluorescence mode writes one extra field before the data type, so fields are
located relative to the data type (``Raw`` / ``Reduced``).

The data follow in one of two layouts:

* ``PlateFormat``: a ``<TAB>Temperature<TAB>1<TAB>2 ...`` header, then one line
  per plate row; several wavelengths sit side by side, separated by an empty
  column.
* ``TimeFormat``: a ``<TAB>Temperature<TAB>A1<TAB>A2 ...`` header with every
  well on one line.

An endpoint table may be followed, after a blank line, by the reduced-data copy
of the same read (``<TAB><TAB>A1 ...``); it becomes its own measurement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for, parse_well
from ..textfiles import read_text, split_rows
from .base import (
    Measurement,
    Reader,
    check_fields,
    measurement_from_cells,
    refuse_kinetic,
    register,
)

_BLOCKS_RE = re.compile(r"^\s*##BLOCKS=\s*(\d+)")
_DATA_TYPES = ("Raw", "Reduced")
# Offsets of settings from the data-type field of a Plate: line.
_N_READS, _WAVELENGTHS, _N_WELLS = 2, 9, 12
_FIRST_VALUE_COLUMN = 2  # after the time and temperature columns


@dataclass
class _PlateHeader:
    name: str
    layout: str  # PlateFormat or TimeFormat
    read_type: str  # Endpoint, Kinetic, Spectrum, Well Scan
    mode: str  # Absorbance, Fluorescence, Luminescence, ...
    data_type: str  # Raw or Reduced
    n_reads: int
    wavelengths: list[str]
    geometry: PlateGeometry | None


class _Block(NamedTuple):
    line: int  # 1-based line of the block's first row
    rows: list[list[str]]  # without the closing ~End


@dataclass
class _Read:
    name: str
    label: str
    reduced: bool
    cells: dict[tuple[int, int], str]


@register
class SoftMaxProReader(Reader):
    name = "softmax"
    description = (
        "Molecular Devices SoftMax Pro TXT export (PlateFormat or TimeFormat Plate: blocks)"
    )

    def sniff(self, sample) -> bool:
        return bool(sample.text and _BLOCKS_RE.match(sample.text))

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows = split_rows(read_text(path), "\t")
        plates = [block for block in _blocks(rows, path) if _first(block.rows[0]) == "Plate:"]
        if not plates:
            raise InputError(
                "SoftMax Pro file without a Plate: block (only Group:/Note: sections); "
                "export the plate data",
                file=path,
            )
        single = len(plates) == 1
        measurements = []
        for number, block in enumerate(plates, start=1):
            header = _plate_header(block.rows[0], path, block.line)
            _refuse_non_endpoint(header, path)
            reads = _plate_reads(header, block, path)
            # One plate at one wavelength: its raw table is the read, not the reduced copy.
            default = reads[0] if single and len(header.wavelengths) == 1 else None
            for read in reads:
                measurements.append(
                    measurement_from_cells(
                        read.name if single else f"plate {number}: {read.name}",
                        read.cells,
                        path=path,
                        geometry=header.geometry,
                        metadata={
                            "label": read.label,
                            "plate_number": "" if single else str(number),
                        },
                        default=read is default and not read.reduced,
                    )
                )
        return measurements


def _first(row: list[str]) -> str:
    return row[0].strip() if row else ""


def _blank(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row)


def _blocks(rows: list[list[str]], path: Path) -> list[_Block]:
    """The ``##BLOCKS= n`` blocks as (1-based line, rows without ``~End``)."""
    match = _BLOCKS_RE.match(rows[0][0]) if rows and rows[0] else None
    if not match:
        raise InputError("not a SoftMax Pro export: the first line is not '##BLOCKS= n'", file=path)
    expected = int(match.group(1))
    blocks, index = [], 1
    while len(blocks) < expected:
        while index < len(rows) and _blank(rows[index]):
            index += 1
        if index == len(rows):
            raise InputError(
                f"the file announces {expected} blocks (##BLOCKS=) but ends after "
                f"{len(blocks)}; it is truncated",
                file=path,
            )
        start = index
        while index < len(rows) and _first(rows[index]) != "~End":
            index += 1
        if index == len(rows):
            raise InputError(
                "block without its closing '~End' line; the file is truncated",
                file=path,
                line=start + 1,
            )
        blocks.append(_Block(start + 1, rows[start:index]))
        index += 1
    return blocks


def _plate_header(fields: list[str], path: Path, line: int) -> _PlateHeader:
    fields = [field.strip() for field in fields]
    data = next((i for i in range(5, min(9, len(fields))) if fields[i] in _DATA_TYPES), None)
    if data is None or len(fields) <= data + _N_WELLS:
        raise InputError("unrecognised SoftMax Pro 'Plate:' header line", file=path, line=line)
    wells = fields[data + _N_WELLS]
    return _PlateHeader(
        name=fields[1],
        layout=fields[3],
        read_type=fields[4],
        mode=fields[5],
        data_type=fields[data],
        n_reads=_integer(fields[data + _N_READS], "number of reads", path, line),
        wavelengths=fields[data + _WAVELENGTHS].split(),
        geometry=geometry_for(int(wells)) if wells.isdigit() else None,
    )


def _integer(text: str, what: str, path: Path, line: int) -> int:
    if not text.isdigit():
        raise InputError(f"'Plate:' header: {what} {text!r} is not a number", file=path, line=line)
    return int(text)


def _refuse_non_endpoint(header: _PlateHeader, path: Path) -> None:
    if header.read_type == "Kinetic" or header.n_reads > 1:
        raise refuse_kinetic(
            path,
            f"SoftMax Pro {header.read_type} plate {header.name!r} with {header.n_reads} reads",
        )
    if header.read_type != "Endpoint":
        raise InputError(
            f"plate {header.name!r} is a {header.read_type} read; pdoscreen expects an "
            "endpoint read",
            file=path,
        )
    if header.layout not in ("PlateFormat", "TimeFormat"):
        raise InputError(f"plate {header.name!r}: unknown layout {header.layout!r}", file=path)


def _tables(rows: list[list[str]], line: int) -> list[tuple[int, list[list[str]]]]:
    """Blank-line separated tables as (1-based line of the header, rows)."""
    tables, current = [], []
    for offset, row in enumerate(rows, start=line + 1):
        if _blank(row):
            if current:
                tables.append(current)
            current = []
        else:
            current.append((offset, row))
    if current:
        tables.append(current)
    return [(table[0][0], [row for _, row in table]) for table in tables]


def _plate_reads(header: _PlateHeader, block: _Block, path: Path) -> list[_Read]:
    """One read per wavelength matrix of each table (the raw one, then reduced copies)."""
    tables = _tables(block.rows[1:], block.line)
    if not tables:
        raise InputError(f"plate {header.name!r} holds no data", file=path, line=block.line)
    reads = []
    for index, (line, table) in enumerate(tables):
        check_fields(table, path=path, what=f"plate {header.name!r}", first_line=line)
        reduced = index > 0 or header.data_type == "Reduced"
        groups = _column_groups(table[0])
        if not reduced and len(groups) != len(header.wavelengths):
            raise InputError(
                f"plate {header.name!r}: {len(groups)} data matrices for "
                f"{len(header.wavelengths)} wavelengths",
                file=path,
                line=line,
            )
        for number, group in enumerate(groups):
            label = _label(header, number, reduced, len(groups))
            name = header.name + (f": {label}" if len(groups) > 1 else "")
            name += " (reduced)" if reduced else ""
            cells = _group_cells(header, table, group, path, line)
            reads.append(_Read(name, label, reduced, cells))
    return reads


def _label(header: _PlateHeader, number: int, reduced: bool, n_groups: int) -> str:
    """'Absorbance 450 nm'; no wavelength for luminescence ('0') or a reduced matrix."""
    if reduced or n_groups != len(header.wavelengths) or header.wavelengths[number] == "0":
        return header.mode
    return f"{header.mode} {header.wavelengths[number]} nm"


def _column_groups(header_row: list[str]) -> list[list[tuple[int, str]]]:
    """Runs of non-empty header cells (column numbers or well ids), one per matrix."""
    groups, current = [], []
    for index in range(_FIRST_VALUE_COLUMN, len(header_row)):
        label = header_row[index].strip()
        if label:
            current.append((index, label))
        elif current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def _group_cells(
    header: _PlateHeader,
    table: list[list[str]],
    group: list[tuple[int, str]],
    path: Path,
    line: int,
) -> dict[tuple[int, int], str]:
    data = table[1:]
    if header.layout == "TimeFormat":
        if len(data) != 1:
            raise InputError(
                f"plate {header.name!r}: {len(data)} value lines in a TimeFormat endpoint block, "
                "expected 1",
                file=path,
                line=line,
            )
        positions = {index: parse_well(label) for index, label in group}
        return _take(data[0], positions)
    n_rows = header.geometry.n_rows if header.geometry else len(data)
    if len(data) != n_rows:
        raise InputError(
            f"plate {header.name!r}: {len(data)} matrix rows, expected {n_rows}",
            file=path,
            line=line,
        )
    cells = {}
    for row, values in enumerate(data):
        positions = {index: (row, _column(label, path, line)) for index, label in group}
        cells.update(_take(values, positions))
    return cells


def _column(label: str, path: Path, line: int) -> int:
    """A PlateFormat header's column number -> 0-based column."""
    if not label.isdigit() or label == "0":
        raise InputError(
            f"matrix header holds {label!r}, not a column number", file=path, line=line
        )
    return int(label) - 1


def _take(values: list[str], positions: dict[int, tuple[int, int]]) -> dict:
    """{(row, column): cell} for the header positions of one value line (as long
    as the header: ``check_fields``)."""
    return {position: values[index] for index, position in positions.items()}
