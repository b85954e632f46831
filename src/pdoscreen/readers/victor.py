"""PerkinElmer VICTOR exports: VICTOR Nivo "WELL RESULTS" CSV and VICTOR X3
(Wallac 1420 Workstation) tab-separated list export.

Both list one row per well with one value per cycle (Nivo) or one row per well
and repeat (X3). Readings with several cycles or repeats are kinetic and
refused; a single cycle or repeat is read as an endpoint.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for, parse_well
from ..textfiles import read_text, split_rows
from .base import Measurement, Reader, measurement_from_cells, refuse_kinetic, register

_OPERATION_RE = re.compile(r"^\d+ OPERATION$")
_WELL_RE = re.compile(r"^[A-Za-z]{1,2}\d{1,3}$")
_X3_HEADER = ["Plate", "Repeat", "Well", "Type"]
# "Protocol name ........ XXX" lines of the X3 protocol description.
_DOTTED_RE = re.compile(r"^(.+?):?\s+\.+\s*(.*?)\s*$")
_PLATE_SIZE_RE = re.compile(r"(\d+)\s*[xX]\s*(\d+)")


def _plate_geometry(text: str | None) -> PlateGeometry | None:
    """``96 wells (8X12)`` or ``Generic 8x12 size plate`` -> the plate."""
    match = _PLATE_SIZE_RE.search(text or "")
    if match and int(match.group(1)) * int(match.group(2)) in (96, 384, 1536):
        return geometry_for(int(match.group(1)) * int(match.group(2)))
    return None


def _well_cells(wells: list[tuple[str, object]], path: Path) -> dict[tuple[int, int], object]:
    """[(well name, cell)] -> {(row, column): cell}; a well listed twice is an error."""
    cells = {}
    for well, cell in wells:
        try:
            position = parse_well(well)
        except InputError as error:
            raise InputError(error.reason, file=path) from None
        if position in cells:
            raise InputError("well listed twice", file=path, well=well)
        cells[position] = cell
    return cells


@register
class VictorNivoReader(Reader):
    name = "victor-nivo"
    description = "PerkinElmer VICTOR Nivo 'WELL RESULTS' CSV export"

    def sniff(self, sample) -> bool:
        text = sample.text
        if not text or not text.lstrip().startswith("WELL RESULTS"):
            return False
        return bool(re.search(r"^\d+ OPERATION,", text, re.MULTILINE))

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows = [[cell.strip() for cell in row] for row in split_rows(read_text(path), ",")]
        settings = _nivo_settings(rows)
        starts = [i for i, row in enumerate(rows) if row[:1] == ["Well"]]
        if not starts:
            raise InputError("VICTOR Nivo file without a 'Well' results table", file=path)
        common = {
            "barcode": settings.get("Barcode"),
            "plate_number": settings.get("Plate"),
            "read_time": settings.get("MEASUREMENT START DATE"),
            "instrument_serial": settings.get("Instrument serial number"),
            "software_version": settings.get("User interface program version"),
        }
        geometry = _plate_geometry(settings.get("PLATE FORMAT"))
        out = []
        for start in starts:
            name = _nivo_operation(rows, start)
            cells = _nivo_table(rows, start, path, name)
            metadata = {**common, "label": name}
            out.append(
                measurement_from_cells(
                    name,
                    cells,
                    path=path,
                    geometry=geometry,
                    metadata={k: " ".join(v.split()) for k, v in metadata.items() if v},
                )
            )
        return out


def _nivo_settings(rows: list[list[str]]) -> dict[str, str]:
    """``KEY,value[,...]`` lines; the first occurrence of a key wins."""
    settings: dict[str, str] = {}
    for row in rows:
        if len(row) >= 2 and row[0] and row[1]:
            settings.setdefault(row[0], row[1])
    return settings


def _nivo_operation(rows, start: int) -> str:
    """The ``3 OPERATION,ABS (F) - Kinetics`` line above a results table."""
    for row in reversed(rows[:start]):
        if row and _OPERATION_RE.match(row[0]):
            return row[1] if len(row) > 1 and row[1] else row[0]
    return "VICTOR Nivo read"


def _nivo_table(rows, start: int, path: Path, name: str) -> dict[tuple[int, int], object]:
    """``Well,Time(s),t1,t2,...`` then ``A1,,v1,v2,...``: one column per cycle.
    The table ends at the first line that is not a well (``PARAMETERS``)."""
    cycles = len([c for c in rows[start][2:] if c])
    if cycles > 1:
        raise refuse_kinetic(path, f"{cycles} cycles of {name!r}")
    if cycles == 0:
        raise InputError(f"results table of {name!r} holds no cycle", file=path, line=start + 1)
    end = start + 1
    while end < len(rows) and _WELL_RE.match(rows[end][0] if rows[end] else ""):
        if len(rows[end]) < 3:
            raise InputError(
                f"no value in the results table of {name!r}",
                file=path,
                well=rows[end][0],
                line=end + 1,
            )
        end += 1
    if end == len(rows):
        raise InputError(
            f"the file ends inside the results table of {name!r} (truncated?)", file=path, line=end
        )
    return _well_cells([(row[0], row[2]) for row in rows[start + 1 : end]], path)


@register
class VictorX3Reader(Reader):
    name = "victor-x3"
    description = "PerkinElmer VICTOR X3 / Wallac 1420 tab-separated list export"

    def sniff(self, sample) -> bool:
        text = sample.text
        if not text:
            return False
        first = text.lstrip("\r\n").split("\n", 1)[0]
        return first.split("\t")[:4] == _X3_HEADER

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        text = read_text(path)
        rows = [[cell.strip() for cell in row] for row in split_rows(text, "\t")]
        header = rows[0]
        labels = [(i, name) for i, name in enumerate(header) if i >= 4 and name and name != "Time"]
        if not labels:
            raise InputError("VICTOR X3 list export without a measurement column", file=path)
        body = _x3_list(rows, path, labels[-1][0] + 1)
        repeats = sorted({row[1] for row in body})
        if len(repeats) > 1:
            raise refuse_kinetic(path, f"{len(repeats)} repeats")
        settings = _dotted_settings(text)
        geometry = _plate_geometry(settings.get("Name of the plate type"))
        barcodes = _x3_barcodes(rows)
        plates = sorted({row[0] for row in body}, key=int)
        out = []
        for plate in plates:
            for column, label in labels:
                wells = [(row[2], row[column]) for row in body if row[0] == plate]
                metadata = {
                    "label": label,
                    "plate_number": plate,
                    "barcode": barcodes.get(plate),
                    "read_time": settings.get("Measured on"),
                    "instrument_serial": settings.get("Instrument serial number"),
                }
                out.append(
                    measurement_from_cells(
                        f"plate {plate}: {label}" if len(plates) > 1 else label,
                        _well_cells(wells, path),
                        path=path,
                        geometry=geometry,
                        metadata={k: v for k, v in metadata.items() if v and v != "N/A"},
                    )
                )
        return out


def _x3_list(rows, path: Path, width: int) -> list[list[str]]:
    """The per-well rows under the header, up to the first row that is not one
    (the per-repeat plate blocks and the protocol description follow them)."""
    end = 1
    while end < len(rows) and rows[end][:1] and rows[end][0].isdigit():
        row = rows[end]
        if len(row) != width:  # a lost or added delimiter shifts the values after it
            well = row[2] if len(row) > 2 else None
            raise InputError(
                f"row has {len(row)} fields where the header has {width}", file=path, well=well, line=end + 1
            )
        end += 1
    if end == 1:
        raise InputError("VICTOR X3 list export without any well row", file=path)
    if end == len(rows):
        raise InputError("the file ends inside the well list (truncated?)", file=path, line=end)
    return rows[1:end]


def _x3_barcodes(rows) -> dict[str, str]:
    """Plate -> barcode, from the ``Plate Repeat End time ... BarCode`` blocks."""
    barcodes = {}
    for i, row in enumerate(rows[:-1]):
        if row[:3] == ["Plate", "Repeat", "End time"] and "BarCode" in row:
            values = rows[i + 1]
            column = row.index("BarCode")
            if values and column < len(values):
                barcodes.setdefault(values[0], values[column])
    return barcodes


def _dotted_settings(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        match = _DOTTED_RE.match(line.strip())
        if match:
            settings.setdefault(match.group(1).strip().rstrip(":"), match.group(2))
    return settings
