"""Revvity Kaleido CSV exports (EnSight, EnVision Nexus and VICTOR Nivo run by
Kaleido software), ``CSV_PLATE`` format.

The file opens with ``<instrument> Results from``; each read is a ``Result for
<operation>`` block (a barcode/repeat row, then a labelled plate matrix);
measurement, instrument and plate-type information follow the data. The
plate type's ``Number of Rows`` and ``Number of Columns`` are known to be
swapped (12 rows, 8 columns for a 96-well plate), so only their product is
used and the matrix decides the layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for
from ..textfiles import read_text, split_rows
from .base import Measurement, Reader, labelled_cells, matrix_rows, measurement_from_cells, refuse_kinetic, register

_FIRST_LINE_RE = re.compile(r"^\s*([\w .-]+?) Results from\b")
_TITLE = "Result for "


@register
class KaleidoReader(Reader):
    name = "kaleido"
    description = "Revvity Kaleido / EnSight CSV plate export"

    def sniff(self, sample) -> bool:
        text = sample.text
        if not text:
            return False
        return bool(_FIRST_LINE_RE.match(text)) and f"\n{_TITLE}" in text.replace("\r", "")

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows = [[cell.strip() for cell in row] for row in split_rows(read_text(path), ",")]
        settings = _settings(rows)
        blocks = [
            _block(rows, i, path) for i, row in enumerate(rows) if row and row[0].startswith(_TITLE)
        ]
        if not blocks:
            raise InputError("Kaleido file without any 'Result for' block", file=path)
        _refuse_repeats(blocks, path)
        first = _FIRST_LINE_RE.match(rows[0][0] if rows[0] else "")
        common = {
            "instrument": first.group(1) if first else None,
            "instrument_serial": settings.get("Instrument Serial Number"),
            "software_version": settings.get("Software Version"),
            "read_time": settings.get("Measurement Started") or settings.get("Measurement Date"),
        }
        geometry = _geometry(settings)
        several = len(blocks) != len({title for title, _, _ in blocks})
        out = []
        for number, (title, info, cells) in enumerate(blocks, start=1):
            metadata = {
                **common,
                "label": title,
                "barcode": info.get("Barcode") or settings.get("Barcode"),
            }
            out.append(
                measurement_from_cells(
                    f"plate {number}: {title}" if several else title,
                    cells,
                    path=path,
                    geometry=geometry,
                    metadata={k: v for k, v in metadata.items() if v},
                )
            )
        return out


def _settings(rows: list[list[str]]) -> dict[str, str]:
    """``key,value`` (header) and ``key,,value`` (information sections) lines;
    the first occurrence of a key wins."""
    settings: dict[str, str] = {}
    for row in rows:
        cells = [c for c in row if c]
        if len(cells) == 2 and row[0] == cells[0]:
            settings.setdefault(cells[0], cells[1])
    return settings


def _geometry(settings: dict[str, str]) -> PlateGeometry | None:
    """The plate from rows x columns (their product: the two are swapped in real files)."""
    rows, columns = settings.get("Number of Rows", ""), settings.get("Number of Columns", "")
    if rows.isdigit() and columns.isdigit() and int(rows) * int(columns) in (96, 384, 1536):
        return geometry_for(int(rows) * int(columns))
    return None


def _block(rows, i: int, path: Path) -> tuple[str, dict[str, str], dict]:
    """One ``Result for`` block: (operation name, its barcode/repeat row, cells)."""
    title = rows[i][0][len(_TITLE) :].strip()
    what = f"block {rows[i][0]!r}"
    j, info = i + 1, {}
    if j + 1 < len(rows) and rows[j][:1] == ["Barcode"]:
        info = dict(zip(rows[j], rows[j + 1]))
        j += 2
    while j < len(rows) and not any(rows[j]):
        j += 1
    if j == len(rows):
        raise InputError(f"the file ends before the matrix of {what} (truncated?)", file=path)
    body, _ = matrix_rows(rows, j, path, what)
    return title, info, labelled_cells(body, path, what, line=j + 1)


def _refuse_repeats(blocks, path: Path) -> None:
    """A repeated or looped read is a kinetic measurement."""
    counts = [
        int(info.get(key) or 1)
        for _, info, _ in blocks
        for key in ("Repeat", "Loop no")
        if (info.get(key) or "1").isdigit()
    ]
    if max(counts, default=1) > 1:
        raise refuse_kinetic(path, f"{max(counts)} repeats of the read")
