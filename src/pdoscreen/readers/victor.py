"""PerkinElmer VICTOR exports: VICTOR Nivo "WELL RESULTS" CSV and VICTOR X3
(Wallac 1420 Workstation) tab-separated list export.

Both list one row per well with one value per cycle (Nivo) or one row per well
and repeat (X3). Readings with several cycles or repeats are kinetic: the
endpoint readers refuse them and the time-course readers below read them, one
scan per cycle or repeat; a single cycle or repeat is read as an endpoint.

Times: the Nivo writes one time per cycle in its ``Well,Time(s),...`` header
line (seconds from the first cycle), which a scan takes. The X3 writes a time
per well and repeat instead (``HH:MM:SS.ss`` from the start of the run), each
label with its own ``Time`` column; a scan takes its repeat's earliest well
time, when the scan began. In the real X3 file the wells of one repeat span
47.5 s (absorbance; 51.4 s for GFP) of the 30.65 min between repeats.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for, parse_well
from ..textfiles import number_style, read_text, split_rows
from .base import Measurement, Reader, check_fields, measurement_from_cells, refuse_kinetic, register
from .timecourse import check_times, register_time_course

_OPERATION_RE = re.compile(r"^\d+ OPERATION$")
_WELL_RE = re.compile(r"^[A-Za-z]{1,2}\d{1,3}$")
_X3_HEADER = ["Plate", "Repeat", "Well", "Type"]
# "Protocol name ........ XXX" lines of the X3 protocol description.
_DOTTED_RE = re.compile(r"^(.+?):?\s+\.+\s*(.*?)\s*$")
_PLATE_SIZE_RE = re.compile(r"(\d+)\s*[xX]\s*(\d+)")
_CLOCK_RE = re.compile(r"^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$")  # X3 well time, 00:00:41.29
_NIVO_ORIGIN = "VICTOR Nivo Time(s): the kinetic run's first cycle"
_X3_ORIGIN = "VICTOR X3 Time: the start of the run (Measured on); a repeat at its first well's time"


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


def _is_nivo(text: str | None) -> bool:
    if not text or not text.lstrip().startswith("WELL RESULTS"):
        return False
    return bool(re.search(r"^\d+ OPERATION,", text, re.MULTILINE))


@register
class VictorNivoReader(Reader):
    name = "victor-nivo"
    description = "PerkinElmer VICTOR Nivo 'WELL RESULTS' CSV export"

    def sniff(self, sample) -> bool:
        return _is_nivo(sample.text)

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows, starts, common, geometry = _nivo_file(path)
        out = []
        for start in starts:
            name = _nivo_operation(rows, start)
            cells = _nivo_table(rows, start, path, name)
            out.append(
                measurement_from_cells(
                    name, cells, path=path, geometry=geometry, metadata={**common, "label": " ".join(name.split())}
                )
            )
        return out


def _nivo_file(path: Path) -> tuple[list[list[str]], list[int], dict[str, str], PlateGeometry | None]:
    """(rows, the 0-based lines of the ``Well`` results tables, the run's
    metadata, the plate) of a Nivo export."""
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
    common = {k: " ".join(v.split()) for k, v in common.items() if v}
    return rows, starts, common, _plate_geometry(settings.get("PLATE FORMAT"))


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
    return _well_cells([(row[0], row[2]) for row in _nivo_well_rows(rows, start, path, name)], path)


def _nivo_well_rows(rows, start: int, path: Path, name: str) -> list[list[str]]:
    """The well lines under the ``Well`` header at ``start``, up to the first
    line that is not a well (``PARAMETERS``)."""
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
        raise InputError(f"the file ends inside the results table of {name!r} (truncated?)", file=path, line=end)
    return rows[start + 1 : end]


@register_time_course
class VictorNivoKineticReader(Reader):
    name = "victor-nivo-kinetic"
    description = "PerkinElmer VICTOR Nivo 'WELL RESULTS' CSV export with several cycles, one scan per cycle"

    def sniff(self, sample) -> bool:
        return _is_nivo(sample.text)

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        rows, starts, common, geometry = _nivo_file(path)
        if len(starts) > 1:
            names = ", ".join(repr(_nivo_operation(rows, start)) for start in starts)
            raise InputError(
                f"the file holds {len(starts)} results tables ({names}); a time course is one "
                "read: export each operation to its own file",
                file=path,
            )
        start = starts[0]
        name = _nivo_operation(rows, start)
        header = rows[start]
        while header and not header[-1]:
            header = header[:-1]
        if header[:2] != ["Well", "Time(s)"]:
            raise InputError(f"the results table of {name!r} does not start 'Well,Time(s)'", file=path, line=start + 1)
        times_s = [_seconds(text, path=path, line=start + 1) for text in header[2:]]
        _check_cycle_numbers(rows, start, len(times_s), path)
        body = _nivo_well_rows(rows, start, path, name)
        check_fields([rows[start], *body], path=path, what=f"the results table of {name!r}", first_line=start + 1)
        for number, row in enumerate(body, start=start + 2):
            if row[1]:
                raise InputError(
                    f"a well's Time(s) cell holds {row[1]!r}; pdoscreen takes each cycle's time from "
                    "the table's Time(s) line and cannot tell what a time per well means",
                    file=path,
                    well=row[0],
                    line=number,
                )
        scans = []
        for cycle, seconds in enumerate(times_s):
            cells = _well_cells([(row[0], row[2 + cycle]) for row in body], path)
            time_h = seconds / 3600
            scans.append(
                measurement_from_cells(
                    f"cycle {cycle + 1} at {time_h:g} h",
                    cells,
                    path=path,
                    geometry=geometry,
                    metadata={
                        **common,
                        "label": " ".join(name.split()),
                        "time_h": time_h,
                        "time_origin": _NIVO_ORIGIN,
                    },
                )
            )
        check_times([s / 3600 for s in times_s], [start + 1] * len(times_s), path=path)
        return scans


def _seconds(text: str, *, path: Path, line: int) -> float:
    """A Nivo cycle time: a plain number of seconds."""
    if number_style(text) not in ("plain", "point"):
        raise InputError(f"cycle time {text!r} is not a number of seconds", file=path, line=line)
    return float(text)


def _check_cycle_numbers(rows, start: int, cycles: int, path: Path) -> None:
    """The ``,Cycle,1,2,...`` line above the table numbers every cycle once, in
    order: a cycle missing there was lost from the table too."""
    for index in range(start - 1, max(start - 4, -1), -1):
        row = rows[index]
        if row[:2] == ["", "Cycle"]:
            numbers = [cell for cell in row[2:] if cell]
            if numbers != [str(n) for n in range(1, cycles + 1)]:
                raise InputError(
                    f"the Cycle line numbers the cycles {', '.join(numbers)} for {cycles} times in "
                    "the Time(s) line: cycles were lost or repeated",
                    file=path,
                    line=index + 1,
                )
            return


def _is_x3(text: str | None) -> bool:
    return bool(text) and text.lstrip("\r\n").split("\n", 1)[0].split("\t")[:4] == _X3_HEADER


@register
class VictorX3Reader(Reader):
    name = "victor-x3"
    description = "PerkinElmer VICTOR X3 / Wallac 1420 tab-separated list export"

    def sniff(self, sample) -> bool:
        return _is_x3(sample.text)

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        text, rows, labels, body = _x3_file(path)
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


@register_time_course
class VictorX3KineticReader(Reader):
    name = "victor-x3-kinetic"
    description = "PerkinElmer VICTOR X3 / Wallac 1420 list export of one label over several repeats, a scan per repeat"

    def sniff(self, sample) -> bool:
        return _is_x3(sample.text)

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        text, rows, labels, body = _x3_file(path)
        if len(labels) > 1:
            raise InputError(
                f"the file holds {len(labels)} labels ({', '.join(name for _, name in labels)}); a time "
                "course is one label: export each label to its own file",
                file=path,
            )
        plates = sorted({row[0] for row in body}, key=int)
        if len(plates) > 1:
            raise InputError(
                f"the file holds plates {', '.join(plates)}; a time course is one plate: export each "
                "plate to its own file",
                file=path,
            )
        column, label = labels[0]
        if rows[0][column - 1] != "Time":
            raise InputError(f"label {label!r} has no Time column before it", file=path, line=1)
        settings = _dotted_settings(text)
        geometry = _plate_geometry(settings.get("Name of the plate type"))
        metadata = {
            "label": label,
            "plate_number": plates[0],
            "barcode": _x3_barcodes(rows).get(plates[0]),
            "read_time": settings.get("Measured on"),
            "instrument_serial": settings.get("Instrument serial number"),
            "time_origin": _X3_ORIGIN,
        }
        metadata = {k: v for k, v in metadata.items() if v and v != "N/A"}
        scans, times, lines = [], [], []
        repeats = _x3_repeats(body, path)
        first_wells = [row[2] for row in repeats[0][2]]
        for repeat, first, repeat_rows in repeats:
            # Every repeat reads the same wells; a lost line would also move the scan's time.
            wells = [row[2] for row in repeat_rows]
            if set(wells) != set(first_wells):
                odd = next(w for w in first_wells + wells if (w in first_wells) != (w in wells))
                raise InputError(
                    f"repeats 1 and {repeat} do not read the same wells ({odd} is in one only): "
                    "a line of the well list was lost",
                    file=path,
                    well=odd,
                    line=first,
                )
            seconds = min(
                _clock_seconds(row[column - 1], path=path, well=row[2], line=first + offset)
                for offset, row in enumerate(repeat_rows)
            )
            time_h = seconds / 3600
            scans.append(
                measurement_from_cells(
                    f"repeat {repeat} at {time_h:g} h",
                    _well_cells([(row[2], row[column]) for row in repeat_rows], path),
                    path=path,
                    geometry=geometry,
                    metadata={**metadata, "time_h": time_h},
                )
            )
            times.append(time_h)
            lines.append(first)
        check_times(times, lines, path=path)
        return scans


def _x3_file(path: Path) -> tuple[str, list[list[str]], list[tuple[int, str]], list[list[str]]]:
    """(text, rows, the label columns as (index, name), the well rows) of an X3 list export."""
    text = read_text(path)
    rows = [[cell.strip() for cell in row] for row in split_rows(text, "\t")]
    labels = [(i, name) for i, name in enumerate(rows[0]) if i >= 4 and name and name != "Time"]
    if not labels:
        raise InputError("VICTOR X3 list export without a measurement column", file=path)
    return text, rows, labels, _x3_list(rows, path, labels[-1][0] + 1)


def _x3_repeats(body: list[list[str]], path: Path) -> list[tuple[str, int, list[list[str]]]]:
    """The well rows by repeat as (repeat, 1-based line of its first row, rows):
    each repeat's rows together, the repeats numbered 1, 2, ... in order."""
    repeats: list[tuple[str, int, list[list[str]]]] = []
    for line, row in enumerate(body, start=2):
        if not repeats or row[1] != repeats[-1][0]:
            if row[1] != str(len(repeats) + 1):
                raise InputError(
                    f"repeat {row[1]} follows repeat {repeats[-1][0] if repeats else 'none'} in the "
                    "well list: lines are missing or out of order",
                    file=path,
                    well=row[2],
                    line=line,
                )
            repeats.append((row[1], line, []))
        repeats[-1][2].append(row)
    return repeats


def _clock_seconds(text: str, *, path: Path, well: str, line: int) -> float:
    """An X3 well time, ``HH:MM:SS.ss`` from the start of the run, in seconds."""
    match = _CLOCK_RE.match(text)
    if not match:
        raise InputError(f"Time {text!r} is not HH:MM:SS.ss", file=path, well=well, line=line)
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


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
    if len(rows[end]) > 2 and re.fullmatch(r"[A-Z]{1,2}\d{1,2}", rows[end][2]):  # not the list's end: a damaged row
        raise InputError(f"Plate {rows[end][0]!r} is not a plate number", file=path, well=rows[end][2], line=end + 1)
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
