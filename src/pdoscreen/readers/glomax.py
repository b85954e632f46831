"""Promega GloMax Navigator / Discover XLSX export.

The first sheet (named after the protocol, cut to 31 characters) holds the run
information: ``Execution Date:``, ``Instrument:``, ``Serial Number:``,
``Software Ver:``, ``Plate Type:`` (labels in column A or B, values in D). The
``Results`` sheet lists the protocol steps (``Injection, Kinetics``,
``Luminescence, Kinetics``, ...) in column A; each read step is followed by a
plate matrix: ``Reading:`` in column B with its number in D and the column
numbers from F on, then one row per plate row with its letter in column E and
the values from column F. Unmeasured wells are empty. A dual-luciferase run
reads the plate twice, once after each injector: two measurements.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_fitting, geometry_for, row_label
from .base import Measurement, Reader, cell_at, cell_text, measurement_from_cells, read_xlsx, refuse_kinetic, register

_RESULTS_SHEET = "Results"
_READING = "Reading:"
_LABEL_COLUMN, _NUMBER_COLUMN, _ROW_COLUMN, _FIRST_VALUE_COLUMN = 1, 3, 4, 5
_PLATE_TYPE_RE = re.compile(r"^(96|384|1536)\s*well", re.I)
_INFO_KEYS = {
    "Execution Date:": "read_time",
    "Instrument:": "instrument",
    "Serial Number:": "instrument_serial",
    "Software Ver:": "software_version",
    "Plate Barcode:": "barcode",
    "Barcode:": "barcode",
}


def _has_reading(rows: list[list[object]]) -> bool:
    return any(cell_text(cell_at(row, _LABEL_COLUMN)) == _READING for row in rows)


@register
class GloMaxReader(Reader):
    name = "glomax"
    description = "Promega GloMax Navigator XLSX export (Results sheet, one matrix per reading)"

    def sniff(self, sample) -> bool:
        sheets = sample.sheets
        mentions_glomax = any(
            cell_text(cell).startswith("GloMax")
            for rows in sheets.values()
            for row in rows
            for cell in row
        )
        return mentions_glomax and _has_reading(sheets.get(_RESULTS_SHEET, []))

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        sheets = read_xlsx(path)
        if _RESULTS_SHEET not in sheets:
            raise InputError("GloMax workbook without a 'Results' sheet", file=path)
        metadata, geometry = _run_information(sheets)
        return _readings(sheets[_RESULTS_SHEET], metadata, geometry, path)


def _run_information(sheets) -> tuple[dict[str, str], PlateGeometry | None]:
    """Metadata and the stated plate type from the sheets other than the results."""
    metadata, geometry = {}, None
    for sheet, rows in sheets.items():
        if sheet.startswith(_RESULTS_SHEET):
            continue
        for row in rows:
            labels = [cell_text(cell_at(row, 0)), cell_text(cell_at(row, 1))]
            value = cell_text(cell_at(row, 3))
            for label in labels:
                if label in _INFO_KEYS and value:
                    metadata.setdefault(_INFO_KEYS[label], value)
                elif label == "Plate Type:" and _PLATE_TYPE_RE.match(value):
                    geometry = geometry_for(int(_PLATE_TYPE_RE.match(value).group(1)))
    return metadata, geometry


def _readings(
    rows, metadata: dict, geometry: PlateGeometry | None, path: Path
) -> list[Measurement]:
    measurements, step, injector = [], "", ""
    for index, row in enumerate(rows):
        first = cell_text(cell_at(row, 0))
        if first:
            step = first
        if cell_text(cell_at(row, _LABEL_COLUMN)) == "Injector:":
            injector = cell_text(cell_at(row, 3))
        if cell_text(cell_at(row, _LABEL_COLUMN)) != _READING:
            continue
        number = cell_text(cell_at(row, _NUMBER_COLUMN))
        if number != "1":
            raise refuse_kinetic(path, f"reading {number} of step {step!r}")
        cells, plate = _matrix(rows, index, geometry, path)
        mode = step.split(",")[0].strip() or "Reading"
        name = f"{mode} reading {len(measurements) + 1}"
        name += f" after injector {injector}" if injector else ""
        measurements.append(
            measurement_from_cells(
                name, cells, path=path, geometry=plate, metadata={**metadata, "label": mode}
            )
        )
    if not measurements:
        raise InputError("GloMax 'Results' sheet without a 'Reading:' matrix", file=path)
    # Every matrix starts under its 'Reading:' row; a first plate row anywhere
    # else is a reading whose header row was lost: its values have no name.
    starts = [i for i, row in enumerate(rows) if cell_text(cell_at(row, _ROW_COLUMN)) == "A"]
    headed = [i + 1 for i, row in enumerate(rows) if cell_text(cell_at(row, _LABEL_COLUMN)) == _READING]
    if sorted(set(starts) - set(headed)):
        raise InputError(
            f"a plate matrix on row {sorted(set(starts) - set(headed))[0] + 1} of the Results sheet "
            "has no 'Reading:' row above it; the file is truncated or malformed",
            file=path,
        )
    return measurements


def _matrix(rows, start: int, geometry: PlateGeometry | None, path: Path):
    """The plate matrix under the ``Reading:`` row at ``start``: every plate row must be there."""
    header = rows[start]
    columns = {}
    for j in range(_FIRST_VALUE_COLUMN, len(header)):
        label = cell_text(header[j])
        if not label.isdigit():
            break
        columns[j] = int(label) - 1
    if not columns:
        raise InputError("a 'Reading:' row without column numbers", file=path)
    geometry = geometry or geometry_fitting(1, len(columns))
    cells = {}
    for r in range(geometry.n_rows):
        index = start + 1 + r
        row = rows[index] if index < len(rows) else []
        if cell_text(cell_at(row, _ROW_COLUMN)) != row_label(r):
            raise InputError(
                f"reading matrix lacks plate row {row_label(r)} (expected {geometry.n_rows} "
                "rows); the file is truncated or malformed",
                file=path,
            )
        cells.update({(r, c): cell_at(row, j) for j, c in columns.items()})
    return cells, geometry
