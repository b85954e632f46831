"""PerkinElmer / Revvity EnVision exports (EnVision Workstation CSV or TXT).

One file holds one or more plates, each with one or more result matrices:
labelled matrices under a ``Results for ...`` (raw) or ``Calculated
results: ...`` title ("Plate2"/"Plate4" export formats), or bare matrices
without row and column labels ("Plate" format), whose size gives the plate.
Every matrix has a ``Plate information`` block, written before it or after it
(the ``Place plate information at`` export setting). The separator is a comma,
a semicolon (European "System" separator) or a tab.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for
from ..textfiles import read_text, split_rows
from .base import (
    Measurement,
    Reader,
    check_fields,
    labelled_cells,
    matrix_rows,
    measurement_from_cells,
    parse_cell,
    refuse_kinetic,
    register,
    trimmed,
)

_PLATE_HEADER_RE = re.compile(r"^Plate[,;\t]Repeat[,;\t]Barcode[,;\t]", re.MULTILINE)
_TITLE_RE = re.compile(r"^(Calculated results|Results for)\b")
# A block title over its ",01,02,..." header (also in a file cut before its plate information).
_TITLED_MATRIX_RE = re.compile(
    r"^(?:Results for |Calculated results: ).*\r?\n[,;\t]0?1[,;\t]", re.MULTILINE
)
_VERSION_RE = re.compile(r"^Exported with EnVision Workstation version (.+?)\s*$", re.MULTILINE)
_EXCEL_TEXT_RE = re.compile(r'^="(.*)"$')
# Rows of a headerless matrix -> plate size.
_WELLS_BY_ROWS = {8: 96, 16: 384, 32: 1536}


@dataclass
class _Matrix:
    title: str | None  # None for a headerless ("Plate" format) matrix
    cells: dict[tuple[int, int], object]
    line: int  # 1-based line of the title or first row
    info: dict[str, str] = field(default_factory=dict)  # its Plate information row


@register
class EnVisionReader(Reader):
    name = "envision"
    description = "PerkinElmer EnVision CSV/TXT export (labelled or headerless plate matrices)"

    def sniff(self, sample) -> bool:
        text = sample.text
        if not text:
            return False
        # The Plate information header row is unique to EnVision Workstation.
        return (
            bool(_PLATE_HEADER_RE.search(text) or _TITLED_MATRIX_RE.search(text))
            or "EnVision Workstation version" in text
        )

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        text = read_text(path)
        rows = [[cell.strip() for cell in row] for row in split_rows(text)]
        settings = _settings(rows)
        geometry = _stated_geometry(settings)
        events = _scan(rows, path, geometry)
        matrices = _attach_plate_information(events, settings, path)
        if not matrices:
            raise InputError(
                "EnVision file without any result matrix (export format "
                f"{settings.get('Export format', 'unknown')!r}); export the plate as "
                "'Plate' or 'Plate2'",
                file=path,
            )
        _refuse_repeats(matrices, settings, path)
        return _measurements(matrices, settings, text, path, geometry)


def _settings(rows: list[list[str]]) -> dict[str, str]:
    """The file's ``key<sep><sep><sep><sep>value`` lines (assay and protocol
    information); the first occurrence of a key wins."""
    settings: dict[str, str] = {}
    for row in rows:
        if len(row) >= 5 and row[0] and not any(row[1:4]) and row[4]:
            settings.setdefault(row[0].rstrip(": ").strip(), _unescape(row[4]))
    return settings


def _stated_geometry(settings: dict[str, str]) -> PlateGeometry | None:
    wells = settings.get("Number of the wells in the plate", "")
    return geometry_for(int(wells)) if wells.isdigit() else None


def _unescape(value: str) -> str:
    """Excel formula escaping (``="1051017"``) -> the text inside."""
    match = _EXCEL_TEXT_RE.match(value.strip())
    return match.group(1) if match else value.strip()


def _is_value(cell: str) -> bool:
    try:
        parse_cell(cell, path=Path(), well="")
    except InputError:
        return False
    return True


def _is_headerless_row(row: list[str]) -> bool:
    """A row of a bare matrix: starts with a value and holds nothing but values.
    (The header row of a labelled matrix starts with an empty cell.)"""
    cells = trimmed(row)
    return bool(cells) and cells[0] != "" and all(_is_value(c) for c in cells)


def _scan(rows, path: Path, geometry: PlateGeometry | None) -> list[tuple[str, object]]:
    """Plate information rows and result matrices, in file order."""
    events: list[tuple[str, object]] = []
    i = 0
    while i < len(rows):
        first = rows[i][0] if rows[i] else ""
        if first == "Plate information":
            events.append(("info", _plate_information(rows, i, path)))
            i += 3
        elif _TITLE_RE.match(first):
            matrix, i = _labelled_matrix(rows, i, path)
            if matrix is not None:
                events.append(("matrix", matrix))
        elif _is_headerless_row(rows[i]):
            matrix, i = _headerless_matrix(rows, i, path, geometry)
            events.append(("matrix", matrix))
        else:
            i += 1
    return events


def _plate_information(rows, i: int, path: Path) -> dict[str, str]:
    if i + 2 >= len(rows) or not any(rows[i + 2]):
        raise InputError(
            "'Plate information' block without its header and value rows", file=path, line=i + 1
        )
    header, values = trimmed(rows[i + 1]), rows[i + 2]
    return {key: _unescape(value) for key, value in zip(header, values)}


def _labelled_matrix(rows, i: int, path: Path) -> tuple[_Matrix | None, int]:
    """A titled matrix (``Results for ...``). A title followed by a blank line
    is an empty stub without a matrix."""
    title = rows[i][0]
    if i + 1 < len(rows) and not any(rows[i + 1]):
        return None, i + 1
    what = f"block {title!r}"
    body, end = matrix_rows(rows, i + 1, path, what)
    return _Matrix(title, labelled_cells(body, path, what, line=i + 2), line=i + 1), end


def _headerless_matrix(rows, i: int, path: Path, geometry: PlateGeometry | None):
    """A bare matrix ("Plate" export format): its number of rows gives the plate."""
    body, end = matrix_rows(rows, i, path, "a result matrix")
    check_fields(body, path=path, what="a result matrix", first_line=i + 1)
    n_rows, width = len(body), max(len(trimmed(row)) for row in body)
    shape = geometry or (geometry_for(_WELLS_BY_ROWS[n_rows]) if n_rows in _WELLS_BY_ROWS else None)
    if shape is None or n_rows != shape.n_rows or width > shape.n_columns:
        plate = f"the {shape.n_wells}-well plate" if shape else "any plate format"
        raise InputError(
            f"a result matrix without row/column labels of {n_rows} rows x {width} "
            f"columns does not match {plate}",
            file=path,
            line=i + 1,
        )
    cells = {
        (r, c): cell
        for r, row in enumerate(body)
        for c, cell in enumerate(trimmed(row))
        if cell != ""
    }
    return _Matrix(None, cells, line=i + 1), end


def _attach_plate_information(events, settings: dict[str, str], path: Path) -> list[_Matrix]:
    """Give each matrix its Plate information row, written either before the
    matrix or after it. The export setting says which; files without the
    protocol section tell by what comes first."""
    placement = settings.get("Place plate information at", "").lower()
    after = placement.startswith("end") if placement else bool(events) and events[0][0] == "matrix"
    ordered = list(reversed(events)) if after else events
    info: dict[str, str] | None = None
    matrices = []
    for kind, item in ordered:
        if kind == "info":
            info = item
        else:
            if info is None:
                raise InputError(
                    "a result matrix has no 'Plate information' block "
                    f"({'after' if after else 'before'} it); is the file truncated?",
                    file=path,
                    line=item.line,
                )
            item.info = info
            matrices.append(item)
    return list(reversed(matrices)) if after else matrices


def _refuse_repeats(matrices: list[_Matrix], settings: dict[str, str], path: Path) -> None:
    """Repeated reads of a plate are a kinetic measurement."""
    stated = max(
        int(settings.get(key, "1")) if settings.get(key, "1").isdigit() else 1
        for key in ("Number of plate repeats", "Number of assay repeats")
    )
    seen = {m.info.get("Repeat", "1") for m in matrices}
    if stated > 1 or len(seen) > 1:
        raise refuse_kinetic(path, f"{max(stated, len(seen))} plate repeats")


def _name(matrix: _Matrix) -> str:
    """The block title; a headerless matrix is named like the titled exports."""
    if matrix.title:
        return matrix.title
    if matrix.info.get("Formula"):
        return f"Calculated results: {matrix.info['Formula']}"
    return f"Results for {matrix.info.get('Label', 'unlabelled read')}"


def _label(matrix: _Matrix) -> str | None:
    """The read label with its channel (``LW US LUM 384(1) - channel 0 (CPS)``) or the formula."""
    if matrix.title and matrix.title.startswith("Results for "):
        return matrix.title.removeprefix("Results for ").strip()
    return matrix.info.get("Label") or matrix.info.get("Formula")


def _measurements(matrices, settings, text: str, path: Path, geometry) -> list[Measurement]:
    names = [_name(m) for m in matrices]
    # The raw reading is what a viability screen uses, when the file has just one.
    raw = [n.startswith("Results for") for n in names]
    _check_same_rows(matrices, path)
    for plate in {m.info.get("Plate", "") for m in matrices}:
        # A calculated block is computed from a raw read the file also holds;
        # alone, it would be taken as the plate's reading.
        if not any(r for m, r in zip(matrices, raw) if m.info.get("Plate", "") == plate):
            calculated = next(n for m, n in zip(matrices, names) if m.info.get("Plate", "") == plate)
            raise InputError(
                f"plate {plate or '1'} has calculated results ({calculated!r}) but not the raw read "
                "they are calculated from: the file is truncated or lines are missing",
                file=path,
            )
    if len({m.info.get("Plate", "") for m in matrices}) > 1:
        names = [f"plate {m.info.get('Plate', '?')}: {n}" for m, n in zip(matrices, names)]
    version = _VERSION_RE.search(text)
    common = {
        "instrument": "PerkinElmer EnVision",
        "instrument_serial": settings.get("Serial#") or settings.get("Serial number"),
        "software_version": version.group(1) if version else None,
    }
    out: list[Measurement] = []
    for matrix, name, is_raw in zip(matrices, names, raw):
        info = matrix.info
        metadata = {
            **common,
            "barcode": info.get("Barcode"),
            "read_time": info.get("Measurement date"),
            "label": _label(matrix),
            "plate_number": info.get("Plate"),
        }
        out.append(
            measurement_from_cells(
                _unique(name, [m.name for m in out]),
                matrix.cells,
                path=path,
                geometry=geometry,
                metadata={k: v for k, v in metadata.items() if v and v != "N/A"},
                default=is_raw and raw.count(True) == 1,
            )
        )
    return out


def _check_same_rows(matrices: list[_Matrix], path: Path) -> None:
    """Every matrix of one plate covers the same plate rows (a calculated block
    is computed from the raw reads); a matrix with other rows ran into the next
    block over lost lines."""
    first: dict[str, _Matrix] = {}
    for matrix in matrices:
        plate = matrix.info.get("Plate", "")
        rows = {r for r, _ in matrix.cells}
        other = first.setdefault(plate, matrix)
        if rows != {r for r, _ in other.cells}:
            raise InputError(
                f"the matrix on line {matrix.line} covers other plate rows than the one on line "
                f"{other.line} of the same plate: lines are missing",
                file=path,
                line=matrix.line,
            )


def _unique(name: str, taken: list[str]) -> str:
    n, candidate = 1, name
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    return candidate
