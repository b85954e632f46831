"""BMG Labtech exports: MARS CSV, the older Omega "ASCII" CSV and SMART Control XLSX.

All three start with the same ``key: value`` header (``Test name: ...``,
``Date: ...``, ``ID1: ...``). MARS and SMART Control then write titled plate
matrices (a ``,1,2,...`` column header and one row per plate row, letters
``A``..``Z`` then lower-case ``a``..``f`` on 1536-well plates); the Omega
export writes one bare matrix per chromatic and cycle.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for, row_index
from ..textfiles import read_text, split_rows
from .base import (
    Measurement,
    Reader,
    check_fields,
    check_row_order,
    measurement_from_cells,
    read_xlsx,
    refuse_kinetic,
    register,
)

# Plate size from the number of numbered columns when the file does not state it.
_WELLS_BY_COLUMNS = {12: 96, 24: 384, 48: 1536}
_SHAPES = {(8, 12), (16, 24), (32, 48)}
_ROW_LABEL_RE = re.compile(r"^([A-Z]|A[A-F]|[a-f])$")
_PLATE_SIZE_RE = re.compile(r"\b(96|384|1536)\b")
_INSTRUMENT_RE = re.compile(r"\\BMG\\([^\\]+)\\", re.IGNORECASE)
_TITLE_NUMBER_RE = re.compile(r"^\d+\.\s*")


# --- shared by the three formats -------------------------------------------------


def _text(cell: object) -> str:
    return "" if cell is None else str(cell).strip()


def _key_values(cell: str) -> list[tuple[str, str]]:
    """``Date: 13/06/2022 Time: 13:45:08`` -> [("Date", ...), ("Time", ...)].
    Only the Omega export packs two keys in one cell, always Date then Time."""
    pairs = []
    for part in re.split(r"\s+(?=Time:)", cell.strip()):
        key, sep, value = part.partition(":")
        if sep and key.strip():
            pairs.append((key.strip(), value.strip()))
    return pairs


def _is_key_value(cell: str) -> bool:
    return bool(re.match(r"^[A-Za-z][\w .()/]*:(\s|$)", cell))


def _header_metadata(cells: list[str]) -> dict[str, str]:
    """The ``key: value`` header cells -> pdoscreen metadata keys."""
    found = {}
    for cell in cells:
        for key, value in _key_values(cell):
            found.setdefault(key.lower(), value)
    metadata = {
        "barcode": found.get("id1", ""),  # BMG's plate ID field
        "id2": found.get("id2", ""),
        "id3": found.get("id3", ""),
        "test_name": found.get("test name", ""),
        "test_run": found.get("test run no.", "") or found.get("test id", ""),
        "read_time": " ".join(v for v in (found.get("date"), found.get("time")) if v),
    }
    # The data path names the instrument: C:\...\BMG\PHERAstar\User\Data.
    instrument = _INSTRUMENT_RE.search(found.get("path", ""))
    if instrument and instrument.group(1).upper() != "SMART CONTROL":
        metadata["instrument"] = instrument.group(1)
    return metadata


def _row_index(label: str) -> int:
    """BMG names 1536-well rows after Z in lower case (``a``..``f`` = rows 27..32)."""
    if len(label) == 1 and label.islower():
        return 26 + ord(label) - ord("a")
    return row_index(label)


def _as_int(cell: object) -> int | None:
    """A column-header number written as ``3`` or ``3.0`` (XLSX)."""
    text = _text(cell)
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _numbered_columns(row: list[object]) -> int:
    """How many columns a ``,1,2,3,...`` header numbers (0 if the row is not one)."""
    if not row or _text(row[0]):
        return 0
    count = 0
    for cell in row[1:]:
        if _as_int(cell) != count + 1:
            break
        count += 1
    return count


def _lettered_matrix(
    rows: list[list[object]],
    start: int,
    n_columns: int,
    *,
    path: Path,
    title: str,
    strict: bool,
    width: int | None = None,
) -> tuple[dict[tuple[int, int], object], int]:
    """The rows ``A,v1,v2,...`` from ``start`` on -> (cells, index after the last row).
    Short rows are fine (unmeasured wells) unless the file pads every line to
    ``width`` fields; with ``strict`` a value past the last numbered column is
    an error, otherwise it is an annotation and ignored."""
    cells: dict[tuple[int, int], object] = {}
    end = start
    previous = None
    while end < len(rows) and rows[end] and _ROW_LABEL_RE.match(_text(rows[end][0])):
        row = rows[end]
        label = _text(row[0])
        if width is not None:
            check_fields([row], path=path, what=repr(title), first_line=end + 1, width=width, labelled=True)
        extra = [_text(c) for c in row[1 + n_columns :] if _text(c)]
        if strict and extra:
            raise InputError(
                f"row {label} of {title!r} has {len(row) - 1} values but the header "
                f"numbers {n_columns} columns",
                file=path,
            )
        previous = check_row_order(previous, _row_index(label), path=path, what=repr(title), line=end + 1)
        for column, cell in enumerate(row[1 : 1 + n_columns]):
            if _text(cell):
                cells[(_row_index(label), column)] = cell
        end += 1
    if end == start:
        raise InputError(
            f"{title!r} has a column header but no plate rows (truncated file?)", file=path
        )
    return cells, end


def _check_unpadded_rows(rows: list[list[str]], start: int, end: int, *, title: str, path: Path) -> None:
    """Without line-end padding a plate row ends at its last measured well, so
    the rows of a partly read plate may differ in length; but a delimiter lost
    or added changes its row by exactly one field and shifts the values after
    it. Neighbouring rows one field apart are therefore ambiguous, and refused."""
    for index in range(start + 1, end):
        above, below = rows[index - 1], rows[index]
        if abs(len(above) - len(below)) == 1:
            raise InputError(
                f"rows {above[0]} and {below[0]} of {title!r} have {len(above) - 1} and {len(below) - 1} "
                "values: in an export without line-end separators a lost or added delimiter cannot be "
                "told from an unmeasured well; export the plate again with line-end separators",
                file=path,
                line=index + 1,
            )


def _geometry(n_columns: int, stated: str = "") -> PlateGeometry | None:
    size = _PLATE_SIZE_RE.search(stated)
    if size:
        return geometry_for(int(size.group(1)))
    if n_columns in _WELLS_BY_COLUMNS:
        return geometry_for(_WELLS_BY_COLUMNS[n_columns])
    return None  # measurement_from_cells fits the smallest plate


def _clean_title(title: str) -> str:
    """``4. Raw Data  (450)`` -> ``Raw Data (450)``."""
    return " ".join(_TITLE_NUMBER_RE.sub("", title).split())


def _label(title: str) -> str:
    """The wavelength or filter in a title's last parentheses (``485/520``)."""
    found = re.findall(r"\(([^()]*)\)", title)
    return found[-1] if found else ""


def _mark_raw_default(measurements: list[Measurement]) -> list[Measurement]:
    """The raw reading is the default when there is exactly one."""
    raw = [m for m in measurements if m.name.lower().startswith("raw data")]
    if len(raw) == 1:
        raw[0].default = True
    return measurements


def _refuse_cycles(cells: list[str], path: Path) -> None:
    for cell in cells:
        match = re.match(r"^No\. of Cycles:\s*(\d+)", cell)
        if match and int(match.group(1)) > 1:
            raise refuse_kinetic(path, f"{match.group(1)} cycles")
        if "Time [s]" in cell:
            raise refuse_kinetic(path, "a 'Time [s]' column")


# --- MARS CSV --------------------------------------------------------------------


@register
class MarsReader(Reader):
    name = "bmg_mars"
    description = "BMG Labtech MARS CSV export (PHERAstar, CLARIOstar, ...; microplate format)"

    def sniff(self, sample) -> bool:
        text = sample.text
        # MARS writes "Test name: ...,Date: ...,Time: ..." in one comma-separated line.
        return bool(text and re.search(r"^Test name: [^\n]*?,[ \t]*Date: ", text, re.MULTILINE))

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows = [[cell.strip() for cell in row] for row in split_rows(read_text(path), ",")]
        _refuse_cycles([cell for row in rows for cell in row], path)
        header: list[str] = []
        measurements = []
        title = ""
        index = 0
        while index < len(rows):
            row = rows[index]
            filled = [cell for cell in row if cell]
            n_columns = _numbered_columns(row)
            if n_columns:
                if not title:
                    raise InputError(
                        f"plate matrix on line {index + 1} has no title line above it", file=path
                    )
                # Most MARS versions pad every line to the same number of fields;
                # then a short plate row can only be a cut-off file.
                width = len(row) if len(rows[0]) == len(row) else None
                start = index + 1
                cells, index = _lettered_matrix(
                    rows, start, n_columns, path=path, title=title, strict=True, width=width
                )
                if width is None:
                    _check_unpadded_rows(rows, start, index, title=title, path=path)
                measurements.append(self._measurement(title, cells, n_columns, header, path))
                title = ""
                continue
            if len(filled) == 1 and not _is_key_value(filled[0]):
                title = filled[0]  # "Raw Data (485/520)", or the read type before it
            elif not measurements:
                header.extend(filled)
            index += 1
        if not measurements:
            raise InputError("BMG MARS file without a plate matrix (truncated file?)", file=path)
        return _mark_raw_default(measurements)

    @staticmethod
    def _measurement(title, cells, n_columns, header, path) -> Measurement:
        name = _clean_title(title)
        metadata = _header_metadata(header) | {"label": _label(name), "software": "BMG MARS"}
        return measurement_from_cells(
            name, cells, path=path, geometry=_geometry(n_columns), metadata=metadata
        )


# --- Omega ASCII CSV -------------------------------------------------------------


@register
class OmegaReader(Reader):
    name = "bmg_omega"
    description = "BMG Labtech Omega ASCII CSV export (bare matrix per chromatic and cycle)"

    def sniff(self, sample) -> bool:
        text = sample.text
        return bool(
            text
            and re.search(r"^Test name: ", text, re.MULTILINE)
            and re.search(r"^Chromatic: \d+", text, re.MULTILINE)
        )

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows = [[cell.strip() for cell in row] for row in split_rows(read_text(path), ",")]
        first_cells = [row[0] for row in rows if row]
        _refuse_cycles(first_cells, path)
        starts = [i for i, row in enumerate(rows) if row and row[0].startswith("Chromatic:")]
        if not starts:
            raise InputError("BMG Omega file without a 'Chromatic:' data block", file=path)
        metadata = _header_metadata(first_cells[: starts[0]])
        measurements = []
        for number, start in enumerate(starts):
            end = starts[number + 1] if number + 1 < len(starts) else len(rows)
            chromatic = rows[start][0].partition(":")[2].strip()
            measurements.append(self._block(rows[start + 1 : end], chromatic, metadata, path))
        return measurements

    @staticmethod
    def _block(rows, chromatic, metadata, path) -> Measurement:
        name = f"Chromatic {chromatic}"
        if rows and rows[0] and rows[0][0].startswith("Cycle:"):
            rows = rows[1:]
        matrix = [row for row in rows if any(row)]
        widths = sorted({len(row) for row in matrix})
        if len(widths) != 1 or (len(matrix), widths[0]) not in _SHAPES:
            raise InputError(
                f"{name}: the matrix is not a full 96, 384 or 1536-well plate "
                f"({len(matrix)} rows of {widths} values; truncated file?)",
                file=path,
            )
        cells = {(r, c): cell for r, row in enumerate(matrix) for c, cell in enumerate(row) if cell}
        geometry = PlateGeometry(len(matrix), len(matrix[0]))
        return measurement_from_cells(
            name,
            cells,
            path=path,
            geometry=geometry,
            metadata=metadata | {"label": f"chromatic {chromatic}"},
        )


# --- SMART Control XLSX ----------------------------------------------------------


@register
class SmartControlReader(Reader):
    name = "bmg_smartcontrol"
    description = "BMG Labtech SMART Control XLSX export ('Microplate End point' sheet)"

    def sniff(self, sample) -> bool:
        for sheet, rows in sample.sheets.items():
            firsts = [_text(row[0]) for row in rows if row]
            if sheet.startswith("Microplate") and any(
                f.lower().startswith("test name:") for f in firsts
            ):
                return True
        return False

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        sheets = read_xlsx(path)
        kinetic = [name for name in sheets if "kinetic" in name.lower()]
        if kinetic:
            raise refuse_kinetic(path, f"sheet {kinetic[0]!r}")
        plate_sheets = [name for name in sheets if name.startswith("Microplate")]
        if not plate_sheets:
            raise InputError("SMART Control workbook without a 'Microplate' sheet", file=path)
        rows = sheets[plate_sheets[0]]
        stated = _microplate_name(sheets.get("Protocol Information", []))
        header = [_text(row[0]) for row in rows[:20] if row and _is_key_value(_text(row[0]))]
        metadata = _header_metadata(header) | {"software": "BMG SMART Control"}
        measurements = [
            measurement_from_cells(
                title,
                cells,
                path=path,
                geometry=_geometry(n_columns, stated),
                metadata=metadata | {"label": _label(title)},
            )
            for title, cells, n_columns in _smart_sections(rows, path)
        ]
        if not measurements:
            raise InputError("SMART Control workbook without a raw data section", file=path)
        return _mark_raw_default(measurements)


def _microplate_name(protocol: list[list[object]]) -> str:
    """``Microplate name: NUNC 96`` from the Protocol Information sheet ("" if absent)."""
    for row in protocol:
        if len(row) > 1 and _text(row[0]).lower().startswith("microplate name"):
            return _text(row[1])
    return ""


def _smart_sections(rows: list[list[object]], path: Path):
    """(title, cells, n_columns) for each numbered section computed from the
    raw data (``4. Raw Data (...)``, ``5. Blank corrected based on Raw Data``);
    the layout, standard and dilution sections describe the plate, not a read."""
    for index, row in enumerate(rows):
        titles = [_text(c) for c in row if _text(c)]
        if len(titles) != 1 or not _TITLE_NUMBER_RE.match(titles[0]):
            continue
        title = _clean_title(titles[0])
        if "raw data" not in title.lower():
            continue
        n_columns = _numbered_columns(rows[index + 1]) if index + 1 < len(rows) else 0
        if not n_columns:
            raise InputError(
                f"section {title!r} has no numbered column header (truncated?)", file=path
            )
        cells, _ = _lettered_matrix(
            rows, index + 2, n_columns, path=path, title=title, strict=False
        )
        yield title, cells, n_columns
