"""What every plate-reader reader shares: the measurement record, the registry,
text decoding and the parsing of one well's cell.

A reader is a small class with a ``name``, a ``sniff`` that looks at a file's
content (never its name) and a ``read`` that returns every measurement (read,
block, label) the file holds. Register it with :func:`register`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_fitting, row_index, row_label, well_name
from ..textfiles import check_complete, decimal_mark, decode, is_utf16, number_style

# Instrument markers for values that are not numbers. Each becomes a missing
# value with this flag; anything else non-numeric is an error.
MARKERS = {
    "OVRFLW": "overflow",
    "OVER": "overflow",
    "OVERFLOW": "overflow",
    "SAT": "saturated",
    "#SAT": "saturated",
    "MISSED": "missed",
    "?????": "read_error",
    "RANGE?": "out_of_range",
    "INVALID": "invalid",
    "ERROR": "read_error",
    "NAN": "not_a_number",
    "INF": "non_finite",
    "+INF": "non_finite",
    "-INF": "non_finite",
    "INFINITY": "non_finite",
    "+INFINITY": "non_finite",
    "-INFINITY": "non_finite",
    "> MAX": "above_range",  # SkanIt: outside the standard curve
    "< MIN": "below_range",
}
NOT_MEASURED = "not_measured"
NON_FINITE = "non_finite"  # a number too large for a float (1e400): never data
log = logging.getLogger(__name__)


@dataclass
class Measurement:
    """One read of one plate: a signal matrix with per-well flags."""

    name: str
    signal: np.ndarray  # float64, (n_rows, n_columns), NaN where there is no value
    flag: np.ndarray  # str, same shape; "" for a good value, else the reason
    metadata: dict[str, str] = field(default_factory=dict)
    default: bool = False  # the block to take when the sample sheet names none
    # How the file writes its numbers (see number_style), and the cells whose
    # value depends on the file's decimal mark: {(row, column): text}.
    styles: set[str] = field(default_factory=set)
    ambiguous: dict[tuple[int, int], str] = field(default_factory=dict)

    @property
    def geometry(self) -> PlateGeometry:
        return PlateGeometry(*self.signal.shape)


class Reader:
    """Base class; subclasses set ``name``/``description`` and implement both methods."""

    name: str = ""
    description: str = ""

    def sniff(self, sample: "FileSample") -> bool:
        raise NotImplementedError

    def read(self, path: Path) -> list[Measurement]:
        raise NotImplementedError


REGISTRY: dict[str, Reader] = {}


def register(cls: type[Reader]) -> type[Reader]:
    if cls.name in REGISTRY:
        raise RuntimeError(f"reader {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls()
    return cls


class FileSample:
    """The start of a file, decoded, for content sniffing."""

    def __init__(self, path: Path, head_bytes: int = 65536):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            self.head = handle.read(head_bytes)

    @property
    def is_xlsx(self) -> bool:
        return self.head[:2] == b"PK"

    @cached_property
    def text(self) -> str | None:
        """Decoded head, or None for binary files."""
        if self.is_xlsx or b"\x00" in self.head and not is_utf16(self.head):
            return None
        return decode(self.head)

    @cached_property
    def sheets(self) -> dict[str, list[list[object]]]:
        """For XLSX files: the first 60 rows of each sheet."""
        if not self.is_xlsx:
            return {}
        return {name: rows[:60] for name, rows in read_xlsx(self.path, max_rows=60).items()}


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def not_an_export(sample: FileSample) -> str | None:
    """Why a file no reader claims is no instrument export, where its content
    says so (else None), for the refusal to name."""
    if sample.head.startswith(HDF5_SIGNATURE):
        return ("an HDF5 file, as analysis tools store whole screens (thunor's datasets are pandas HDFStores "
                "holding pickled objects, unsafe to load), not a plate reader's export: give the reads the "
                "instrument exported")
    return None


def read_xlsx(path: Path, max_rows: int | None = None) -> dict[str, list[list[object]]]:
    """Every sheet of a workbook as rows of cell values (None for empty cells)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises several types for broken files
        raise InputError(f"cannot open as an XLSX workbook: {error}", file=path) from error
    try:
        return {
            sheet.title: [list(row) for row in sheet.iter_rows(max_row=max_rows, values_only=True)]
            for sheet in book.worksheets
        }
    except Exception as error:  # a damaged sheet only shows while its rows are read
        raise InputError(f"the XLSX workbook is damaged: {type(error).__name__}: {error}", file=path) from error
    finally:
        book.close()


def cell_text(cell: object) -> str:
    """A workbook cell as text: a date as ISO text, a whole float without its
    ``.0`` (workbooks store every number as a float)."""
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        return cell.isoformat(" ")
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def cell_at(row: list, index: int) -> object:
    """The row's cell at ``index``; None past its end (a row's empty tail is not stored)."""
    return row[index] if index < len(row) else None


def parse_cell(cell: object, *, path: Path, well: str) -> tuple[float, str]:
    """One well's cell -> (value, flag). Markers and non-finite numbers become NaN
    with a flag; an empty cell is an unmeasured well; any other text is an error
    naming the well. An ambiguous ``1,414`` stays NaN until the file's decimal
    mark is known (:func:`settle_decimal_marks`)."""
    if cell is None:
        return math.nan, NOT_MEASURED
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return (float(cell), "") if math.isfinite(cell) else (math.nan, NON_FINITE)
    text = str(cell).strip()
    if not text:
        return math.nan, NOT_MEASURED
    style = number_style(text)
    if style == "ambiguous":
        return math.nan, ""  # 1,414: settle_decimal_marks gives it the file's decimal mark
    if style is not None:
        value = float(text.replace(",", "") if style == "thousands" else text.replace(",", "."))
        return (value, "") if math.isfinite(value) else (math.nan, NON_FINITE)
    marker = MARKERS.get(text.upper())
    if marker is None:
        raise InputError(
            f"value {text!r} is neither a number nor a known instrument marker "
            f"({', '.join(sorted(MARKERS))})",
            file=path,
            well=well,
        )
    return math.nan, marker


def settle_decimal_marks(measurements: list[Measurement], path: Path) -> None:
    """Give the ambiguous ``d,ddd`` cells of a file the file's one decimal mark;
    a file with nothing to tell is refused at its first such well."""
    styles = set().union(*(m.styles for m in measurements))
    mark = decimal_mark(styles, file=path)
    for m in measurements:
        for (row, column), text in m.ambiguous.items():
            if mark is None:
                raise InputError(
                    f"value {text!r} could be {text.replace(',', '')} (thousands separator) or "
                    f"{text.replace(',', '.')} (decimal comma), and no other number in the file "
                    "says which",
                    file=path,
                    well=well_name(row, column),
                )
            m.signal[row, column] = float(text.replace(",", "") if mark == "." else text.replace(",", "."))
        m.ambiguous = {}


def missing_wells(flag: np.ndarray) -> str:
    """The ``not_measured`` wells of a plate in words: whole rows by letter,
    then the other wells by name ("" when none)."""
    missing = flag == NOT_MEASURED
    parts = []
    full = [r for r in range(missing.shape[0]) if missing[r].all()]
    if full:
        letters = ", ".join(row_label(r) for r in full)
        parts.append(f"row{'s' if len(full) > 1 else ''} {letters} ({len(full) * missing.shape[1]} wells)")
    rest = [well_name(r, c) for r, c in zip(*np.nonzero(missing)) if r not in full]
    if rest:
        shown = ", ".join(rest[:8]) + (f" and {len(rest) - 8} more" if len(rest) > 8 else "")
        parts.append(f"well{'s' if len(rest) > 1 else ''} {shown}")
    return "; ".join(parts)


def read_checked(path: Path, reader: Reader) -> list[Measurement]:
    """``reader.read(path)`` after the completeness check, with the decimal marks
    of its values settled; whatever a broken file makes a parser raise becomes
    an InputError naming the file."""
    try:
        check_complete(path, path.read_bytes(), markers=MARKERS)
        measurements = reader.read(path)
        if measurements:
            settle_decimal_marks(measurements, path)
    except InputError as error:
        raise error.located(file=path) from None
    except Exception as error:
        raise InputError(
            f"cannot be read as {reader.name}: the file is truncated or malformed "
            f"({type(error).__name__}: {error})",
            file=path,
        ) from error
    return measurements


def measurement_from_cells(
    name: str,
    cells: dict[tuple[int, int], object],
    *,
    path: Path,
    geometry: PlateGeometry | None = None,
    metadata: dict[str, str] | None = None,
    default: bool = False,
) -> Measurement:
    """Build a Measurement from {(row, column): cell} (0-based). Wells absent
    from ``cells`` are flagged ``not_measured``."""
    if not cells:
        raise InputError(f"measurement {name!r} holds no wells", file=path)
    if geometry is None:
        geometry = geometry_fitting(
            max(r for r, _ in cells) + 1, max(c for _, c in cells) + 1
        )
    signal = np.full((geometry.n_rows, geometry.n_columns), np.nan)
    flag = np.full(signal.shape, NOT_MEASURED, dtype=object)
    styles: set[str] = set()
    ambiguous: dict[tuple[int, int], str] = {}
    for (row, column), cell in cells.items():
        well = well_name(row, column)
        if not geometry.contains(row, column):
            raise InputError(
                f"well outside the {geometry.n_wells}-well plate in measurement {name!r}",
                file=path,
                well=well,
            )
        signal[row, column], flag[row, column] = parse_cell(cell, path=path, well=well)
        if isinstance(cell, str) and (style := number_style(cell.strip())):
            styles.add(style)
            if style == "ambiguous":
                ambiguous[(row, column)] = cell.strip()
    return Measurement(
        name=name,
        signal=signal,
        flag=flag.astype(str),
        metadata={k: str(v) for k, v in (metadata or {}).items() if v not in (None, "")},
        default=default,
        styles=styles,
        ambiguous=ambiguous,
    )


def matrix_cells(rows: list[list[object]], row_offset: int = 0) -> dict[tuple[int, int], object]:
    """A headerless matrix (list of rows) -> {(row, column): cell}; trailing empty cells dropped."""
    cells = {}
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is not None and str(cell).strip() != "":
                cells[(r + row_offset, c)] = cell
    return cells


def check_row_order(previous: int | None, row: int, *, path: Path, what: str, line: int | None = None) -> int:
    """Plate rows come in order, each once; a repeated or earlier row means lines
    of two blocks ran together (lines lost in between): its values belong to
    another block."""
    if previous is not None and row <= previous:
        raise InputError(
            f"plate row {row_label(row)} follows row {row_label(previous)} in {what}: "
            "lines are missing or repeated",
            file=path,
            line=line,
        )
    return row


def check_fields(rows: list[list[str]], *, path: Path, what: str, first_line: int, width: int | None = None,
                 labelled: bool = False) -> None:
    """Refuse a line of a delimited table with another number of fields than
    ``width`` (by default its first line's): an instrument writes every line of
    a table alike, and a delimiter lost or written inside a value shifts every
    later cell of its line, which no check of the values themselves can see.
    ``labelled``: each line starts with its plate row's label, which the
    message names."""
    width = len(rows[0]) if width is None and rows else width
    for number, row in enumerate(rows, start=first_line):
        if len(row) != width:
            line = f"row {str(row[0]).strip()}" if labelled and row else "a line"
            raise InputError(
                f"{line} of {what} has {len(row)} fields where its table has {width}: the file is "
                "truncated there, or a delimiter was lost or added (an edited or damaged file?), "
                "which shifts the values after it",
                file=path,
                line=number,
            )


def trimmed(row: list[str]) -> list[str]:
    """The row without its trailing empty cells (EnVision ends lines with a separator)."""
    end = len(row)
    while end and not row[end - 1]:
        end -= 1
    return row[:end]


def matrix_rows(rows, start: int, path: Path, what: str) -> tuple[list[list[str]], int]:
    """Rows from ``start`` up to the blank line that ends a matrix, and that
    line's index. Revvity exports always end a matrix with a blank line, so
    reaching the end of the file means the file was cut."""
    end = start
    while end < len(rows) and any(rows[end]):
        end += 1
    if end == len(rows):
        raise InputError(f"the file ends inside {what} (truncated?)", file=path, line=end)
    return rows[start:end], end


def labelled_cells(body, path: Path, what: str, line: int) -> dict[tuple[int, int], str]:
    """A matrix with a ``,01,02,...`` column header and ``A,v1,v2,...`` rows
    (``line``: the header's 1-based line) -> {(row, column): cell}. Every row
    carries a cell for each column (empty for an unread well)."""
    header = trimmed(body[0])
    if len(header) < 2 or header[0] != "" or not all(c.isdigit() for c in header[1:]):
        raise InputError(f"{what} lacks its column-number header row", file=path, line=line)
    check_fields(body, path=path, what=what, first_line=line)
    columns = [int(c) - 1 for c in header[1:]]
    cells = {}
    previous = None
    for number, row in enumerate(body[1:], start=line + 1):
        values = row[1:]
        if any(values[len(columns) :]):
            raise InputError(
                f"row {row[0]!r} of {what} has {len(trimmed(values))} values "
                f"for {len(columns)} columns",
                file=path,
                line=number,
            )
        try:
            r = row_index(row[0])
        except ValueError:
            raise InputError(
                f"{row[0]!r} is not a plate row in {what}", file=path, line=number
            ) from None
        previous = check_row_order(previous, r, path=path, what=what, line=number)
        cells.update({(r, c): cell for c, cell in zip(columns, values) if cell != ""})
    return cells


def refuse_kinetic(path: Path, what: str) -> InputError:
    from .timecourse import detect_time_course  # timecourse imports this module

    course = detect_time_course(path)
    advice = f"Read it with pdoscreen.readers.read_time_course ({course}), or export" if course else "Export"
    return InputError(
        f"this is a kinetic read ({what}); pdoscreen expects an endpoint viability read. "
        f"{advice} the endpoint (or a single cycle) from the instrument software.",
        file=path,
    )
