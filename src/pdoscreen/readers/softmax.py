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

A ``Kinetic`` plate is refused by the endpoint reader and read by the
time-course reader ``softmax_kinetic``, one scan per read: in PlateFormat each
read is a matrix whose first line starts with the read's time, the matrices
separated by blank lines; in TimeFormat each read is one line. A read's time
is ``h:mm:ss``, or ``m:ss`` under an hour (``0:30``): as ``0:30`` could also be
hours and minutes, such times are read as minutes and seconds only where the
``Plate:`` line's kinetic interval (seconds) says so, and refused otherwise.
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
from .timecourse import check_times, register_time_course

_BLOCKS_RE = re.compile(r"^\s*##BLOCKS=\s*(\d+)")
_DATA_TYPES = ("Raw", "Reduced")
# Offsets of settings from the data-type field of a Plate: line.
_N_READS, _INTERVAL, _WAVELENGTHS, _N_WELLS = 2, 4, 9, 12
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
    interval: str = ""  # a kinetic read's interval in seconds, as written


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
        interval=fields[data + _INTERVAL],
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


# --- Kinetic plates: a time course ---------------------------------------------

_KINETIC_RE = re.compile(r"^Plate:\t[^\t]*\t[^\t]*\t(PlateFormat|TimeFormat)\tKinetic\t", re.MULTILINE)
_READ_TIME_RE = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d))?$")
_SOFTMAX_ORIGIN = "SoftMax Pro read time: the kinetic run's first read"


@register_time_course
class SoftMaxProKineticReader(Reader):
    name = "softmax_kinetic"
    description = "Molecular Devices SoftMax Pro TXT export of a Kinetic plate, one scan per read"

    def sniff(self, sample) -> bool:
        return bool(sample.text and _BLOCKS_RE.match(sample.text) and _KINETIC_RE.search(sample.text))

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows = split_rows(read_text(path), "\t")
        plates = [block for block in _blocks(rows, path) if _first(block.rows[0]) == "Plate:"]
        kinetic = [
            (block, header)
            for block in plates
            if (header := _plate_header(block.rows[0], path, block.line)).read_type == "Kinetic"
        ]
        if len(kinetic) != 1:
            names = ", ".join(repr(header.name) for _, header in kinetic)
            raise InputError(
                f"the file holds {len(kinetic)} Kinetic plates{f' ({names})' if names else ''}; a time "
                "course is one: export each plate to its own file",
                file=path,
            )
        block, header = kinetic[0]
        if header.data_type != "Raw" or len(header.wavelengths) != 1:
            raise InputError(
                f"plate {header.name!r} holds {header.data_type} data at {len(header.wavelengths)} "
                f"wavelengths ({' '.join(header.wavelengths)}); a time course is the raw data of one "
                "wavelength: export that",
                file=path,
                line=block.line,
            )
        reads = _kinetic_reads(header, block, path)
        if len(reads) != header.n_reads:
            raise InputError(
                f"the Plate: line of {header.name!r} announces {header.n_reads} reads, its block holds "
                f"{len(reads)}: the file is truncated or malformed",
                file=path,
                line=block.line,
            )
        seconds = _read_seconds([(time, line) for time, line, _ in reads], header, path)
        metadata = {"label": _label(header, 0, False, 1), "time_origin": _SOFTMAX_ORIGIN}
        scans = []
        for (time, line, cells), second in zip(reads, seconds):
            time_h = second / 3600
            scans.append(
                measurement_from_cells(
                    f"{header.name}: read at {time} ({time_h:g} h)",
                    cells,
                    path=path,
                    geometry=header.geometry,
                    metadata={**metadata, "time_h": time_h},
                )
            )
        check_times([second / 3600 for second in seconds], [line for _, line, _ in reads], path=path)
        return scans


def _kinetic_reads(header: _PlateHeader, block: _Block, path: Path) -> list[tuple[str, int, dict]]:
    """(time as written, 1-based line, cells) of each read of a Kinetic plate.
    One table after the reads whose first cell is empty is the reduced data
    (a number per well, not a read) and is left out."""
    what = f"plate {header.name!r}"
    tables = _tables(block.rows[1:], block.line)
    if not tables:
        raise InputError(f"{what} holds no data", file=path, line=block.line)
    head_line, (head, *first) = tables[0]
    groups = _column_groups(head)
    if len(groups) != 1:
        raise InputError(f"{what}: {len(groups)} data matrices for one wavelength", file=path, line=head_line)
    if header.layout == "TimeFormat":
        positions = {index: parse_well(label) for index, label in groups[0]}
        chunks, rest = [(head_line + 1 + i, [row]) for i, row in enumerate(first)], tables[1:]
    elif header.layout == "PlateFormat":
        columns = {index: _column(label, path, head_line) for index, label in groups[0]}
        chunks = [(head_line + 1, first), *tables[1:]]
        end = next((i for i, (_, rows) in enumerate(chunks) if not rows[0][0].strip()), len(chunks))
        chunks, rest = chunks[:end], chunks[end:]
    else:
        raise InputError(f"{what}: unknown layout {header.layout!r}", file=path, line=block.line)
    if len(rest) > 1 or any(rows[0][0].strip() for _, rows in rest):
        raise InputError(
            f"{what}: a table after the reads that is neither a read nor the reduced data",
            file=path,
            line=rest[-1][0],
        )
    reads = []
    for line, rows in chunks:
        check_fields(rows, path=path, what=what, first_line=line, width=len(head))
        time = rows[0][0].strip()
        if header.layout == "TimeFormat":
            reads.append((time, line, _take(rows[0], positions)))
            continue
        n_rows = header.geometry.n_rows if header.geometry else len(first)
        if len(rows) != n_rows:
            raise InputError(
                f"{what}: the read at {time} has {len(rows)} matrix rows, expected {n_rows}", file=path, line=line
            )
        cells = {}
        for row, values in enumerate(rows):
            cells.update(_take(values, {index: (row, column) for index, column in columns.items()}))
        reads.append((time, line, cells))
    return reads


def _read_seconds(times: list[tuple[str, int]], header: _PlateHeader, path: Path) -> list[float]:
    """The reads' times in seconds. ``h:mm:ss`` is unambiguous; ``0:30`` is
    minutes and seconds, or hours and minutes: it is read as the one of the two
    whose first step between reads is the Plate: line's interval (seconds)."""
    parts = []
    for text, line in times:
        match = _READ_TIME_RE.match(text)
        if not match:
            raise InputError(f"read time {text!r} is not h:mm:ss or m:ss", file=path, line=line)
        parts.append(match.groups())
    readings = [
        [int(a) * 3600 + int(b) * 60 + int(c) if c else (int(a) * 60 + int(b)) * scale for a, b, c in parts]
        for scale in (1, 60)  # a:b as minutes:seconds, then as hours:minutes
    ]
    if all(c for _, _, c in parts):
        return readings[0]
    try:
        interval = float(header.interval)
    except ValueError:
        interval = None
    fitting = [seconds for seconds in readings if len(seconds) > 1 and seconds[1] - seconds[0] == interval]
    if len(fitting) != 1:
        text, line = next((time for time, (a, b, c) in zip(times, parts) if not c and int(a) + int(b)), times[0])
        raise InputError(
            f"read time {text!r} could be minutes:seconds or hours:minutes, and the Plate: line's "
            f"kinetic interval ({header.interval or 'none'} s) does not say which",
            file=path,
            line=line,
        )
    return fitting[0]
