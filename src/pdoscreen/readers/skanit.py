"""Thermo Fisher SkanIt XLSX report (Varioskan, Luminoskan, Multiskan).

Each protocol step has its own sheet (``Absorbance 1_01``, ``Blank Subtraction
1_02``, ...) starting ``Measurement results`` / session file / run time / step
name, then ``Wavelength: ...`` and per plate a ``Plate N`` line followed by
matrices: the corner cell holds what the matrix is (``Abs``, ``RLU``,
``Blank subtracted``, ``Sample``, ...), the column headers are numbers
(``1.0``, ``2.0``, ...) and column A holds the row letters. Sample-layout
matrices (``Sample``, ``Dilution factor``) describe the plate, not a read.
The ``General information`` and ``Instrument information`` sheets give the
software version, instrument and its serial number (key in B, value in E).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_fitting, row_label
from .base import Measurement, Reader, cell_at, measurement_from_cells, read_xlsx, refuse_kinetic, register

_RESULTS_TITLE = "Measurement results"
# Matrices that carry the plate layout entered in SkanIt, not values read.
_LAYOUT_CORNERS = {"sample", "sample type", "group", "dilution factor"}
# Steps that read the plate; every other step is a calculation on a read.
_READ_STEP_RE = re.compile(
    r"^(Absorbance|Fluorescence|Luminescence|Photometric|Time-resolved|AlphaScreen|FP)\b", re.I
)
_PLATE_RE = re.compile(r"^Plate (\d+)$")
_WAVELENGTH_RE = re.compile(r"^Wavelength:\s*(.+?)\s*nm$")
_INFO_KEYS = {
    "Report generated with SW version": "software_version",
    "Name": "instrument",
    "Serial number": "instrument_serial",
}
_KEY_COLUMN, _VALUE_COLUMN = 1, 4


def _text(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        return cell.isoformat(" ")
    return str(cell).strip()



def _is_results_sheet(rows: list[list[object]]) -> bool:
    return bool(rows) and _text(cell_at(rows[0], 0)) == _RESULTS_TITLE


@dataclass
class _Matrix:
    step: str  # the step name, e.g. "Absorbance 1"
    corner: str  # what the matrix holds, e.g. "Abs"
    plate: int
    wavelength: str
    cells: dict[tuple[int, int], object]
    geometry: PlateGeometry


@register
class SkanItReader(Reader):
    name = "skanit"
    description = "Thermo Fisher SkanIt XLSX report (one sheet per step, matrices per plate)"

    def sniff(self, sample) -> bool:
        sheets = sample.sheets.values()
        text = " ".join(_text(cell) for rows in sheets for row in rows for cell in row).lower()
        return any(_is_results_sheet(rows) for rows in sheets) and (
            ".skax" in text or "skanit" in text
        )

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        sheets = read_xlsx(path)
        metadata = _info(sheets)
        matrices = []
        for sheet, rows in sheets.items():
            if _is_results_sheet(rows):
                metadata.setdefault("read_time", _text(cell_at(rows[2], 0)) if len(rows) > 2 else "")
                matrices += _sheet_matrices(sheet, rows, path)
        if not matrices:
            raise InputError("SkanIt report without any data matrix", file=path)
        return _measurements(matrices, metadata, path)


def _info(sheets: dict[str, list[list[object]]]) -> dict[str, str]:
    """Software version, instrument name and serial from the information sheets."""
    metadata = {}
    for sheet in ("General information", "Instrument information"):
        for row in sheets.get(sheet, []):
            key = _INFO_KEYS.get(_text(cell_at(row, _KEY_COLUMN)))
            if key and key not in metadata:
                metadata[key] = _text(cell_at(row, _VALUE_COLUMN))
    return metadata


def _sheet_matrices(sheet: str, rows: list[list[object]], path: Path) -> list[_Matrix]:
    step = _text(cell_at(rows[4], 0)) if len(rows) > 4 else ""
    step = step or sheet
    matrices, plate, wavelength = [], 1, ""
    index = 0
    while index < len(rows):
        first = _text(cell_at(rows[index], 0))
        columns = _header_columns(rows[index])
        if _PLATE_RE.match(first):
            plate = int(_PLATE_RE.match(first).group(1))
        elif _WAVELENGTH_RE.match(first):
            wavelength = _WAVELENGTH_RE.match(first).group(1)
        elif first and columns:
            cells, geometry = _matrix_cells(rows, index, columns, sheet, path)
            if first.lower() not in _LAYOUT_CORNERS:
                matrices.append(_Matrix(step, first, plate, wavelength, cells, geometry))
            index += geometry.n_rows + 1
            continue
        index += 1
    return matrices


def _header_columns(row: list[object]) -> int:
    """Number of columns of a matrix header (1.0, 2.0, ... after the corner), else 0."""
    count = 0
    for cell in row[1:]:
        if isinstance(cell, (int, float)) and not isinstance(cell, bool) and cell == count + 1:
            count += 1
        else:
            break
    return count


def _matrix_cells(rows, start: int, n_columns: int, sheet: str, path: Path):
    """The matrix under the header at ``start``: every plate row must be there."""
    geometry = geometry_fitting(1, n_columns)
    cells = {}
    for r in range(geometry.n_rows):
        index = start + 1 + r
        row = rows[index] if index < len(rows) else []
        if _text(cell_at(row, 0)) != row_label(r):
            raise InputError(
                f"sheet {sheet!r}: matrix {_text(rows[start][0])!r} lacks plate row "
                f"{row_label(r)} (expected {geometry.n_rows} rows); the file is truncated or "
                "malformed",
                file=path,
            )
        for c in range(n_columns):
            cells[(r, c)] = cell_at(row, c + 1)
    return cells, geometry


def _measurements(matrices: list[_Matrix], metadata: dict, path: Path) -> list[Measurement]:
    several_plates = len({m.plate for m in matrices}) > 1
    reads = [m for m in matrices if _READ_STEP_RE.match(m.step)]
    per_step = {}
    for m in matrices:
        per_step.setdefault((m.step, m.plate), []).append(m)
    for (step, plate), group in per_step.items():
        if _READ_STEP_RE.match(step) and len(group) > 1:
            raise refuse_kinetic(path, f"{len(group)} reads of step {step!r} on plate {plate}")
    measurements = []
    for m in matrices:
        name = m.step if len(per_step[(m.step, m.plate)]) == 1 else f"{m.step}: {m.corner}"
        if several_plates:
            name = f"plate {m.plate}: {name}"
        label = f"{m.wavelength} nm" if m.wavelength not in ("", "0") else m.step
        measurements.append(
            measurement_from_cells(
                name,
                m.cells,
                path=path,
                geometry=m.geometry,
                metadata={
                    **metadata,
                    "label": label,
                    "plate_number": str(m.plate) if several_plates else "",
                },
                # The raw read, not a blank-subtracted or fitted copy, when there is one.
                default=len(reads) == 1 and m is reads[0],
            )
        )
    return measurements
