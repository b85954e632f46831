"""What every plate-reader reader shares: the measurement record, the registry,
text decoding and the parsing of one well's cell.

A reader is a small class with a ``name``, a ``sniff`` that looks at a file's
content (never its name) and a ``read`` that returns every measurement (read,
block, label) the file holds. Register it with :func:`register`.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_fitting, row_label, well_name

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
_NUMBER_RE = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
# 1,414 or 12,500: a thousands separator, or a decimal comma? Only the rest of
# the file can tell.
_AMBIGUOUS_RE = re.compile(r"^[+-]?[1-9]\d{0,2},\d{3}$")
# 1,234,567 or 1,234.5: thousands separators for certain.
_THOUSANDS_RE = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?$")
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
        if self.is_xlsx or b"\x00" in self.head and not _utf16_bom(self.head):
            return None
        return decode(self.head)

    @cached_property
    def sheets(self) -> dict[str, list[list[object]]]:
        """For XLSX files: the first 60 rows of each sheet."""
        if not self.is_xlsx:
            return {}
        return {name: rows[:60] for name, rows in read_xlsx(self.path, max_rows=60).items()}


def _utf16_bom(data: bytes) -> bool:
    return data[:2] in (b"\xff\xfe", b"\xfe\xff")


def decode(data: bytes) -> str:
    """Bytes to text: UTF-16 and UTF-8 byte-order marks honoured, Latin-1 as the
    fallback; CR-only (old Mac) and CRLF line ends become LF."""
    return _raw_decode(data).replace("\r\n", "\n").replace("\r", "\n")


def _raw_decode(data: bytes) -> str:
    if _utf16_bom(data):
        return data.decode("utf-16", errors="replace").lstrip("\ufeff")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        # A head cut inside a multi-byte character is still UTF-8.
        if error.start >= len(data) - 3:
            return data[: error.start].decode("utf-8")
        return data.decode("latin-1")


def read_text(path: Path) -> str:
    return decode(Path(path).read_bytes())


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


def number_style(text: str) -> str | None:
    """How a number is written: ``plain`` (``12``, ``1e3``), ``point`` (``1.5``),
    ``comma`` (``1,5``: a decimal comma), ``thousands`` (``1,234,567``,
    ``1,234.5``) or ``ambiguous`` (``1,414``); None for text that is no number."""
    if _AMBIGUOUS_RE.match(text):
        return "ambiguous"
    if _THOUSANDS_RE.match(text):
        return "thousands"
    if not _NUMBER_RE.match(text):
        return None
    return "comma" if "," in text else "point" if "." in text else "plain"


def decimal_mark(styles: set[str], *, file: Path) -> str | None:
    """The file's one decimal mark (``.`` or ``,``) from the styles of all its
    numbers; None where nothing tells. Decimal commas beside decimal points or
    thousands separators are refused: one of them would be read wrong."""
    comma = "comma" in styles
    if comma and styles & {"point", "thousands"}:
        raise InputError(
            "the file writes numbers both with a decimal comma and with a decimal point or "
            "thousands separator; it cannot be read without guessing",
            file=file,
        )
    if comma:
        return ","
    return "." if styles & {"point", "thousands"} else None


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


def check_complete(path: Path, data: bytes, separators: str = r"[\t,;]") -> None:
    """Refuse a text export that stops in the middle of a line of values: its
    last value may be cut (459 -> 4). A complete export ends its last line;
    one that does not is accepted only when that line holds no value."""
    if data[:2] == b"PK":
        return  # XLSX: the zip container has its own directory at the end
    text = _raw_decode(data).rstrip("\ufffd")  # a cut inside a UTF-16 character
    if not text or text.endswith(("\n", "\r")) or text.lstrip().startswith("<"):
        return  # XML is checked by its parser
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cells = [cell.strip() for cell in re.split(separators, lines[-1]) if cell.strip()]
    if cells and (number_style(cells[-1]) is not None or cells[-1].upper() in MARKERS):
        raise InputError(
            f"the file stops in the middle of its last line, after {cells[-1]!r}, without a line end: "
            "it is truncated (an interrupted copy or export?) and its last value may be cut; "
            "if the file is complete, end its last line with a line break",
            file=path,
            line=len(lines),
        )


def read_checked(path: Path, reader: Reader) -> list[Measurement]:
    """``reader.read(path)`` after the completeness check, with the decimal marks
    of its values settled; whatever a broken file makes a parser raise becomes
    an InputError naming the file."""
    try:
        check_complete(path, path.read_bytes())
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


def check_fields(rows: list[list[str]], *, path: Path, what: str, first_line: int, width: int | None = None) -> None:
    """Refuse a line of a delimited table with another number of fields than
    ``width`` (by default its first line's): an instrument writes every line of
    a table alike, and a delimiter lost or written inside a value shifts every
    later cell of its line, which no check of the values themselves can see."""
    width = len(rows[0]) if width is None and rows else width
    for number, row in enumerate(rows, start=first_line):
        if len(row) != width:
            raise InputError(
                f"a line of {what} has {len(row)} fields where its table has {width}: the file is "
                "truncated there, or a delimiter was lost or added (an edited or damaged file?), "
                "which shifts the values after it",
                file=path,
                line=number,
            )


def refuse_kinetic(path: Path, what: str) -> InputError:
    return InputError(
        f"this is a kinetic read ({what}); pdoscreen expects an endpoint viability read. "
        "Export the endpoint (or a single cycle) from the instrument software.",
        file=path,
    )


def split_rows(text: str, delimiter: str | None = None) -> list[list[str]]:
    """Delimited text -> rows of cells (quotes honoured). With no delimiter given,
    the most frequent of tab, semicolon and comma in the text is used."""
    import csv
    import io

    if delimiter is None:
        delimiter = guess_delimiter(text)
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter)]


def guess_delimiter(text: str) -> str:
    counts = {d: text.count(d) for d in ("\t", ";", ",")}
    return max(counts, key=counts.get)
