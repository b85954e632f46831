"""Text files as instruments and people write them: decoding (byte-order
marks, UTF-16, Latin-1, old Mac line ends), delimited rows, how a number is
written and a file's one decimal mark, and whether a file was cut short.
Readers and layouts both read text through this module."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import InputError

_NUMBER_RE = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
# 1,414 or 12,500: a thousands separator, or a decimal comma? Only the rest of
# the file can tell.
_AMBIGUOUS_RE = re.compile(r"^[+-]?[1-9]\d{0,2},\d{3}$")
# 1,234,567 or 1,234.5: thousands separators for certain.
_THOUSANDS_RE = re.compile(r"^[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?$")


def is_utf16(data: bytes) -> bool:
    return data[:2] in (b"\xff\xfe", b"\xfe\xff")


def decode(data: bytes) -> str:
    """Bytes to text: UTF-16 and UTF-8 byte-order marks honoured, Latin-1 as the
    fallback; CR-only (old Mac) and CRLF line ends become LF."""
    return _raw_decode(data).replace("\r\n", "\n").replace("\r", "\n")


def _raw_decode(data: bytes) -> str:
    if is_utf16(data):
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


def check_complete(path: Path, data: bytes, separators: str = r"[\t,;]", markers=frozenset()) -> None:
    """Refuse a text export that stops in the middle of a line of values: its
    last value may be cut (459 -> 4). A complete export ends its last line;
    one that does not is accepted only when that line holds no value (a
    number, or one of ``markers``: an instrument's words for a reading)."""
    if data[:2] == b"PK":
        return  # XLSX: the zip container has its own directory at the end
    text = _raw_decode(data).rstrip("\ufffd")  # a cut inside a UTF-16 character
    if not text or text.endswith(("\n", "\r")) or text.lstrip().startswith("<"):
        return  # XML is checked by its parser
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cells = [cell.strip() for cell in re.split(separators, lines[-1]) if cell.strip()]
    if cells and (number_style(cells[-1]) is not None or cells[-1].upper() in markers):
        raise InputError(
            f"the file stops in the middle of its last line, after {cells[-1]!r}, without a line end: "
            "it is truncated (an interrupted copy or export?) and its last value may be cut; "
            "if the file is complete, end its last line with a line break",
            file=path,
            line=len(lines),
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
