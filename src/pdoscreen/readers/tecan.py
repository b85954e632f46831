"""Tecan plate-reader exports: SparkControl / i-control XLSX and CSV, Magellan
XLSX list exports and i-control XML.

SparkControl writes the same sheet to XLSX and CSV: ``key ... value`` rows
(key in column A, value in column E), then per read label a ``Mode`` / ``Name``
/ settings section, ``Start Time``, the data table and ``End Time``. The data
table starts with a ``<>`` corner cell: either a plate matrix (``<>,1,2,...``
header, one row per plate row) or a list (``<>,Value,Time [ms]``, one row per
well). A kinetic loop writes a ``Cycle Nr.`` table instead: the endpoint
readers refuse it and the time-course reader ``tecan_spark_kinetic`` reads it,
one scan per cycle at the cycle's ``Time [s]`` (seconds from the loop's first
cycle). The table has one line per cycle (``Cycle Nr.``, ``Time [s]``,
``Temp. [°C]``, then a column per well, empty for a well outside the read's
``Part of Plate``) or, transposed, one column per cycle.

Magellan's list export has one row per well (``Well positions`` column) with
one value column per label, in column-major or row-major order, followed by
loose ``key: value`` text lines.

The i-control XML export (``<MeasurementResultData>``) holds one ``<Section>``
per label with ``<Well Pos="A1"><Single Status="Measured">value</Single>``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for, parse_well, row_index
from ..textfiles import decimal_mark, number_style, read_text, split_rows
from .base import (
    FileSample,
    Measurement,
    Reader,
    cell_at,
    cell_text,
    check_fields,
    check_row_order,
    measurement_from_cells,
    read_xlsx,
    refuse_kinetic,
    register,
)
from .timecourse import check_times, register_time_course

_APPLICATION_RE = re.compile(r"^Application:\s*(SparkControl|Tecan i-control)", re.IGNORECASE)
_PLATE_SIZE_RE = re.compile(r"(1536|384|96)")
_ROW_LABEL_RE = re.compile(r"^[A-Z]{1,2}$")
_WELL_RE = re.compile(r"^[A-Z]{1,2}\d{1,3}$")
_VALUE_COLUMN = 4  # Spark writes the value of a "key" row in column E


def _geometry_from(text: str) -> PlateGeometry | None:
    """The plate size in a plate definition such as '[GRE96ft] - Greiner ... Cat. No.: 655101'
    or 'COS384ft.pdf' (only the bracketed name counts where there is one)."""
    text = text or ""
    bracketed = re.search(r"\[([^\]]*)\]", text)
    match = _PLATE_SIZE_RE.search(bracketed.group(1) if bracketed else text)
    return geometry_for(int(match.group(1))) if match else None


# --- SparkControl / i-control sheet (XLSX and CSV) ----------------------------


def _is_spark(first_cells: list[str]) -> bool:
    return any(_APPLICATION_RE.match(cell) for cell in first_cells)


def _is_spark_csv(text: str | None) -> bool:
    return bool(text) and _is_spark([line.split(",", 1)[0] for line in text.splitlines()[:5]])


def _spark_measurements(rows: list[list[object]], path: Path) -> list[Measurement]:
    header = _spark_header(rows)
    _refuse_spark_kinetic(rows, path)
    geometry = _geometry_from(header.pop("plate", ""))
    measurements, section = [], {}
    index = 0
    while index < len(rows):
        row = rows[index]
        key = cell_text(cell_at(row, 0))
        if key in ("Mode", "Name") and cell_text(cell_at(row, 1)):
            section[key] = cell_text(row[1])
        elif key == "Start Time":
            section["read_time"] = cell_text(cell_at(row, _VALUE_COLUMN))
        elif key == "<>":
            cells, index = _corner_table(rows, index, path)
            name = section.get("Name") or f"label {len(measurements) + 1}"
            _expect_end_time(rows, index, name, path)
            metadata = {**header, "read_time": section.get("read_time"), "label": name}
            measurements.append(
                measurement_from_cells(name, cells, path=path, geometry=geometry, metadata=metadata)
            )
            section = {}
            continue
        index += 1
    declared = _declared_reads(rows)
    if len(measurements) < len(declared):
        raise InputError(
            f"the measurement script lists {len(declared)} reads ({', '.join(declared)}) but the "
            f"file holds {len(measurements)}: it is truncated",
            file=path,
        )
    return measurements


_READ_MODES = ("Absorbance", "Fluorescence", "Luminescence", "Alpha", "Time Resolved")


def _declared_reads(rows: list[list[object]]) -> list[str]:
    """The reads the 'List of actions' promises (each writes one '<>' table)."""
    firsts = [cell_text(cell_at(row, 0)) for row in rows]
    if "List of actions in this measurement script:" not in firsts:
        return []
    reads = []
    for row in rows[firsts.index("List of actions in this measurement script:") + 1 :]:
        texts = [cell_text(cell) for cell in row]
        if not any(texts):
            break
        if not texts[0] and texts[1].startswith(_READ_MODES):
            reads.append(next(t for t in reversed(texts) if t))
    return reads


def _spark_header(rows: list[list[object]]) -> dict[str, str]:
    """Instrument, serial, software and plate definition from the sheet's head."""
    header = {}
    for row in rows:
        key, value = cell_text(cell_at(row, 0)), cell_text(cell_at(row, _VALUE_COLUMN))
        if key.startswith("Application:"):
            header["software_version"] = f"{key.split(':', 1)[1].strip()} {value}".strip()
        elif key.startswith("Device:"):
            header["instrument"] = key.split(":", 1)[1].strip()
            if value.startswith("Serial number:"):
                header["instrument_serial"] = value.split(":", 1)[1].strip()
        elif key == "Plate" and value:
            header["plate"] = value
        elif key.lower() in ("barcode", "plate barcode", "plate id") and value:
            header["barcode"] = value
        elif key == "List of actions in this measurement script:":
            break
    return header


def _refuse_spark_kinetic(rows: list[list[object]], path: Path) -> None:
    firsts = [cell_text(cell_at(row, 0)) for row in rows]
    if "Cycle Nr." in firsts:
        start = firsts.index("Cycle Nr.") + 1
        cycles = 0
        while start + cycles < len(firsts) and firsts[start + cycles].isdigit():
            cycles += 1
        raise refuse_kinetic(path, f"a Spark kinetic loop with {cycles} cycles")
    if any(cell_text(cell_at(row, 0)) == "Mode" and cell_text(cell_at(row, 1)) == "Kinetic" for row in rows):
        raise refuse_kinetic(path, "a Kinetic loop in the Spark measurement script")


def _corner_table(rows: list[list[object]], start: int, path: Path) -> tuple[dict, int]:
    """The ``<>`` table at ``start`` -> ({(row, column): cell}, index after it)."""
    header = [cell_text(cell) for cell in rows[start]]
    index = start + 1
    cells = {}
    if cell_at(header, 1) == "Value":
        # List variant: "A1,0.0921,0" (well, value, read time).
        while index < len(rows) and _WELL_RE.match(cell_text(cell_at(rows[index], 0))):
            well = parse_well(cell_text(rows[index][0]))
            if well in cells:  # two sections ran together: lines lost between them
                raise InputError("a well is listed twice in one '<>' list", file=path, line=index + 1)
            cells[well] = cell_at(rows[index], 1)
            index += 1
        check_fields(rows[start:index], path=path, what="a '<>' list", first_line=start + 1)
        return cells, index
    columns = {j: int(label) - 1 for j, label in enumerate(header) if j and label.isdigit()}
    if not columns:
        raise InputError("a '<>' table without column numbers", file=path, line=start + 1)
    plate_row = None
    while index < len(rows) and _ROW_LABEL_RE.match(cell_text(cell_at(rows[index], 0))):
        row = rows[index]
        plate_row = check_row_order(plate_row, row_index(cell_text(row[0])), path=path, what="a '<>' table",
                                    line=index + 1)
        cells.update({(plate_row, column): cell_at(row, j) for j, column in columns.items()})
        index += 1
    check_fields(rows[start:index], path=path, what="a '<>' table", first_line=start + 1)
    return cells, index


def _expect_end_time(rows: list[list[object]], index: int, name: str, path: Path) -> None:
    """Each label section closes with 'End Time'; without it the file was cut."""
    for row in rows[index:]:
        key = cell_text(cell_at(row, 0))
        if key == "End Time":
            return
        if key in ("Mode", "<>"):
            break
    raise InputError(
        f"label {name!r}: no 'End Time' line after its data; the file is truncated or malformed",
        file=path,
    )


@register
class TecanSparkXlsxReader(Reader):
    name = "tecan_spark_xlsx"
    description = "Tecan SparkControl / i-control XLSX export ('<>' plate matrix or well list)"

    def sniff(self, sample) -> bool:
        return any(
            _is_spark([cell_text(cell_at(row, 0)) for row in rows]) for rows in sample.sheets.values()
        )

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        measurements = []
        for rows in read_xlsx(path).values():
            if _is_spark([cell_text(cell_at(row, 0)) for row in rows]):
                measurements += _spark_measurements(rows, path)
        return measurements


@register
class TecanSparkCsvReader(Reader):
    name = "tecan_spark_csv"
    description = "Tecan SparkControl / i-control CSV export ('<>' plate matrix or well list)"

    def sniff(self, sample) -> bool:
        return _is_spark_csv(sample.text)

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        # Comma or, with a European list separator, semicolon.
        return _spark_measurements(split_rows(read_text(path)), path)


# --- SparkControl kinetic loop: a time course -----------------------------------

_CYCLE, _TIME, _TEMPERATURE = "Cycle Nr.", "Time [s]", "Temp."
_SPARK_ORIGIN = "Tecan Spark Time [s]: the kinetic loop's first cycle"


def _is_spark_kinetic(rows: list[list[object]]) -> bool:
    firsts = [cell_text(cell_at(row, 0)) for row in rows]
    return _is_spark(firsts) and (
        _CYCLE in firsts
        or any(first == "Mode" and cell_text(cell_at(row, 1)) == "Kinetic" for first, row in zip(firsts, rows))
    )


@register_time_course
class TecanSparkKineticReader(Reader):
    name = "tecan_spark_kinetic"
    description = "Tecan SparkControl kinetic loop (XLSX or CSV 'Cycle Nr.' table), one scan per cycle"

    def sniff(self, sample) -> bool:
        if sample.is_xlsx:
            return any(_is_spark_kinetic(rows) for rows in sample.sheets.values())
        return _is_spark_csv(sample.text) and _is_spark_kinetic(split_rows(sample.text))

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        if FileSample(path).is_xlsx:
            sheets = [rows for rows in read_xlsx(path).values() if _is_spark_kinetic(rows)]
        else:
            sheets = [split_rows(read_text(path))]
        if len(sheets) != 1:
            raise InputError(f"{len(sheets)} sheets hold a Spark kinetic loop; a time course is one", file=path)
        return _spark_time_course(sheets[0], path)


def _spark_time_course(rows: list[list[object]], path: Path) -> list[Measurement]:
    header = _spark_header(rows)
    geometry = _geometry_from(header.pop("plate", ""))
    tables, section = [], {}
    for index, row in enumerate(rows):
        key = cell_text(cell_at(row, 0))
        if key in ("Mode", "Name") and cell_text(cell_at(row, 1)):
            section[key] = cell_text(row[1])
        elif key == "Start Time":
            section["read_time"] = cell_text(cell_at(row, _VALUE_COLUMN))
        elif key == _CYCLE:
            tables.append((index, section.get("Name") or f"label {len(tables) + 1}", section.get("read_time")))
    if not tables:
        raise InputError("a Spark kinetic loop without its 'Cycle Nr.' table of values", file=path)
    if len(tables) > 1:
        raise InputError(
            f"the file holds {len(tables)} 'Cycle Nr.' tables ({', '.join(name for _, name, _ in tables)}); "
            "a time course is one label: export each label to its own file",
            file=path,
        )
    start, label, read_time = tables[0]
    cycles, cycle_lines, end = _cycle_lines(rows, start, label, path)
    _expect_nothing_before_end_time(rows, end, label, path)
    _expect_end_time(rows, end, label, path)
    wells = _cycle_header_wells(cycles[0], start, path)
    metadata = {**header, "read_time": read_time, "label": label, "time_origin": _SPARK_ORIGIN}
    scans, times, lines = [], [], []
    for offset, (cycle, line) in enumerate(zip(cycles[1:], cycle_lines[1:]), start=1):
        number = cell_text(cycle[0])
        if number != str(offset):
            raise InputError(
                f"cycle {number} where cycle {offset} belongs: cycles were lost or repeated", file=path, line=line
            )
        scans.append(
            measurement_from_cells(
                f"cycle {number}",
                {well: cell_at(cycle, j) for j, well in wells},
                path=path,
                geometry=geometry,
                metadata=metadata,
            )
        )
        times.append(cycle[1])
        lines.append(line)
    times_h = [seconds / 3600 for seconds in _cycle_seconds(times, lines, scans, path)]
    for scan, time_h in zip(scans, times_h):
        scan.name = f"{scan.name} at {time_h:g} h"
        scan.metadata["time_h"] = str(time_h)
    check_times(times_h, lines, path=path)
    return scans


def _expect_nothing_before_end_time(rows: list[list[object]], end: int, label: str, path: Path) -> None:
    """The 'Cycle Nr.' table ends at its first empty line; a line lost inside
    it leaves one there, and the cycles after it must not be passed over."""
    for index in range(end, len(rows)):
        if cell_text(cell_at(rows[index], 0)) in ("End Time", "Mode", "<>"):
            return
        if any(cell_text(cell) for cell in rows[index]):
            raise InputError(
                f"the 'Cycle Nr.' table of {label!r} stops at an empty line with more of it below, "
                "before 'End Time': a line of the table was lost",
                file=path,
                line=index + 1,
            )


def _cycle_lines(
    rows: list[list[object]], start: int, label: str, path: Path
) -> tuple[list[list[object]], list[int], int]:
    """The 'Cycle Nr.' table at ``start`` with one line per cycle (a transposed
    table, one column per cycle, is turned around), the 1-based line of each
    cycle's time, and the index after the table."""
    end = start + 1
    while end < len(rows) and cell_text(cell_at(rows[end], 0)):
        end += 1
    table = [list(row) for row in rows[start:end]]
    check_fields(table, path=path, what=f"the 'Cycle Nr.' table of {label!r}", first_line=start + 1)
    if cell_text(cell_at(table[0], 1)) == _TIME:
        return table, list(range(start + 1, end + 1)), end
    if len(table) > 1 and cell_text(cell_at(table[1], 0)) == _TIME:
        width = max(len(row) for row in table)
        while width and all(cell_text(cell_at(row, width - 1)) == "" for row in table):
            width -= 1
        return [[cell_at(row, j) for row in table] for j in range(width)], [start + 2] * width, end
    raise InputError("a 'Cycle Nr.' table without its 'Time [s]' next to it", file=path, line=start + 1)


def _cycle_header_wells(header: list[object], start: int, path: Path) -> list[tuple[int, tuple[int, int]]]:
    """(column, well) of each well the 'Cycle Nr.' header names; the
    temperature column is left out, any other column name refused."""
    wells, seen = [], set()
    for j in range(2, len(header)):
        name = cell_text(header[j])
        if not name or (j == 2 and name.startswith(_TEMPERATURE)):
            continue
        if not _WELL_RE.match(name):
            raise InputError(f"the 'Cycle Nr.' table has a column {name!r}, not a well", file=path, line=start + 1)
        well = parse_well(name)
        if well in seen:
            raise InputError(f"well {name} has two columns in the 'Cycle Nr.' table", file=path, line=start + 1)
        seen.add(well)
        wells.append((j, well))
    if not wells:
        raise InputError("the 'Cycle Nr.' table names no well", file=path, line=start + 1)
    return wells


def _cycle_seconds(cells: list[object], lines: list[int], scans: list[Measurement], path: Path) -> list[float]:
    """Each cycle's ``Time [s]``: a workbook number, or text in the CSV, where
    ``29,849`` takes the decimal mark of the file's values."""
    styles = [None if isinstance(cell, (int, float)) else number_style(cell_text(cell)) for cell in cells]
    mark = None
    if "ambiguous" in styles:
        mark = decimal_mark(set().union(*(s.styles for s in scans)) | set(styles) - {None, "ambiguous"}, file=path)
    seconds = []
    for cell, style, line in zip(cells, styles, lines):
        text = cell_text(cell)
        if isinstance(cell, (int, float)) and not isinstance(cell, bool):
            seconds.append(float(cell))
        elif style in ("plain", "point", "comma") or (style == "ambiguous" and mark):
            comma = style == "comma" or mark == ","
            seconds.append(float(text.replace(",", ".") if comma else text.replace(",", "")))
        else:
            raise InputError(f"Time [s] {text!r} is not a number of seconds", file=path, line=line)
    return seconds


# --- Magellan list export (XLSX) ----------------------------------------------


_MAGELLAN_WELLS = "Well positions"
_PLATE_FORMAT_RE = re.compile(r"^(96|384|1536) well$")


def _magellan_table(rows: list[list[object]]) -> tuple[int, int] | None:
    """(header row, 'Well positions' column) of a Magellan list export."""
    for r, row in enumerate(rows[:5]):
        texts = [cell_text(cell) for cell in row]
        if _MAGELLAN_WELLS in texts:
            return r, texts.index(_MAGELLAN_WELLS)
    return None


@register
class TecanMagellanReader(Reader):
    name = "tecan_magellan"
    description = "Tecan Magellan XLSX list export (one row per well, one column per label)"

    def sniff(self, sample) -> bool:
        return any(_magellan_table(rows) for rows in sample.sheets.values())

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        measurements = []
        for rows in read_xlsx(path).values():
            found = _magellan_table(rows)
            if found:
                measurements += _magellan_measurements(rows, *found, path)
        return measurements


def _magellan_measurements(
    rows, header_row: int, well_column: int, path: Path
) -> list[Measurement]:
    labels = [cell_text(cell_at(rows[header_row], j)) or f"column {j + 1}" for j in range(well_column)]
    if len(set(labels)) != len(labels):
        # A kinetic list repeats each label once per time point.
        raise refuse_kinetic(
            path, f"{len(labels)} value columns for labels {', '.join(sorted(set(labels)))}"
        )
    first = header_row + 1
    while first < len(rows) and not _WELL_RE.match(cell_text(cell_at(rows[first], well_column))):
        first += 1
    if first == len(rows):
        raise InputError("Magellan sheet without any well row", file=path)
    end = first
    while end < len(rows) and _WELL_RE.match(cell_text(cell_at(rows[end], well_column))):
        end += 1
    trailer = [cell_text(cell_at(row, 0)) for row in rows[end:]]
    metadata, wavelengths, plate_definition = _magellan_metadata(trailer)
    formats = [cell_text(cell_at(row, well_column)) for row in rows[header_row:first]]
    stated = [int(m.group(1)) for m in map(_PLATE_FORMAT_RE.match, formats) if m]
    geometry = geometry_for(stated[0]) if stated else _geometry_from(plate_definition)
    if len(wavelengths) != len(labels):
        wavelengths = [""] * len(labels)
    measurements = []
    for column, (label, wavelength) in enumerate(zip(labels, wavelengths)):
        cells = {parse_well(cell_text(row[well_column])): cell_at(row, column) for row in rows[first:end]}
        name = f"{label} ({wavelength})" if wavelength else label
        measurements.append(
            measurement_from_cells(
                name,
                cells,
                path=path,
                geometry=geometry,
                metadata={**metadata, "label": wavelength or label},
            )
        )
    return measurements


def _magellan_metadata(lines: list[str]) -> tuple[dict[str, str], list[str], str]:
    """The loose text lines after the list: (metadata, wavelengths, plate definition)."""
    metadata, wavelengths, plate_definition = {}, [], ""
    for line in lines:
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "Date of measurement":
            # "2021-07-06/Time of measurement: 09:43:07"
            date, _, time = value.partition("/Time of measurement:")
            metadata["read_time"] = f"{date.strip()} {time.strip()}".strip()
        elif key == "Instrument serial number":
            metadata["instrument_serial"] = value
        elif key == "Measurement wavelength":
            wavelengths.append(value)
        elif key == "Plate definition file":
            plate_definition = value
    return metadata, wavelengths, plate_definition


# --- i-control XML -------------------------------------------------------------


@register
class TecanIControlXmlReader(Reader):
    name = "tecan_icontrol_xml"
    description = "Tecan i-control XML export (<MeasurementResultData>, one Section per label)"

    def sniff(self, sample) -> bool:
        text = sample.text
        return bool(text) and "<MeasurementResultData" in text and "tecan" in text.lower()

    def read(self, path: Path) -> list[Measurement]:
        path = Path(path)
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as error:
            raise InputError(f"malformed i-control XML: {error}", file=path) from None
        header = _icontrol_header(root)
        plate = root.find("Header/Parameters/Parameter[@Name='Plate']")
        geometry = _geometry_from(plate.get("Value", "") if plate is not None else "")
        sections = root.findall("Section")
        if not sections:
            raise InputError("i-control XML without any <Section> (no data)", file=path)
        return [_icontrol_section(section, header, geometry, path) for section in sections]


def _icontrol_header(root: ET.Element) -> dict[str, str]:
    return {
        "barcode": (root.findtext("Plate/BC") or "").strip(),
        "instrument": (root.findtext("Header/Instrument/Name") or "").strip(),
        "instrument_serial": (root.findtext("Header/Instrument/SerialNumber") or "").strip(),
        "software_version": (root.findtext("Header/Software_Versions/Version") or "").strip(),
    }


def _icontrol_section(section, header, geometry, path: Path) -> Measurement:
    name = section.get("Name", "")
    cycles = section.findall("Data")
    if len(cycles) != 1:
        if len(cycles) > 1:
            raise refuse_kinetic(path, f"{len(cycles)} cycles in section {name!r}")
        raise InputError(f"section {name!r} holds no <Data>; the file is truncated", file=path)
    cells = {}
    for well in cycles[0].findall("Well"):
        position = well.get("Pos", "")
        values = well.findall("Single")
        if well.get("Type") != "Single" or len(values) != 1:
            raise InputError(
                f"section {name!r}: well type {well.get('Type')!r} (multiple reads per well) "
                "is not supported",
                file=path,
                well=position,
            )
        status = values[0].get("Status", "Measured")
        cells[parse_well(position)] = values[0].text if status == "Measured" else status
    parameters = {
        p.get("Name"): p.get("Value", "") for p in section.findall("Parameters/Parameter")
    }
    metadata = {
        **header,
        "read_time": section.get("Time_Start", ""),
        "label": _icontrol_label(parameters),
    }
    return measurement_from_cells(name, cells, path=path, geometry=geometry, metadata=metadata)


def _icontrol_label(parameters: dict[str, str]) -> str:
    """'Absorbance 600 nm' or 'Fluorescence Top Reading Ex 340 nm Em 480 nm'."""
    parts = [parameters.get("Mode", "")]
    for key, short in (
        ("Wavelength", ""),
        ("Excitation Wavelength", "Ex "),
        ("Emission Wavelength", "Em "),
    ):
        if parameters.get(key):
            parts.append(f"{short}{parameters[key]} nm")
    return " ".join(part for part in parts if part)
