"""IncuCyte (Zoom) time-series export: tab-separated, ``Key: value`` lines
(``Label:``, ``Metric:``, ...) on top, then ``Date Time``, ``Elapsed`` and one
column per well, one line per scan.

``Elapsed`` is the time axis (hours since the vessel's first scan). The
``Date Time`` column is kept out of it: Excel rewrites it in place (the thunor
file switches from ``3/31/2018 10:20:00 PM`` to ``04/01/18 06:20``), and whether
``04/01/18`` is April or January only the other lines could tell.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InputError
from ..geometry import geometry_fitting, parse_well
from ..textfiles import number_style, read_text, split_rows
from .base import Measurement, Reader, measurement_from_cells
from .timecourse import check_times, register_time_course

_HEADER = ["Date Time", "Elapsed"]
_ORIGIN = "IncuCyte Elapsed: the vessel's first scan"
_HEADER_RE = re.compile(r"^Date Time\tElapsed\t", re.MULTILINE)


@register_time_course
class IncucyteReader(Reader):
    name = "incucyte"
    description = "IncuCyte (Zoom) time-series export: one column per well, one line per scan"

    def sniff(self, sample) -> bool:
        return bool(sample.text and _HEADER_RE.search(sample.text))

    def read(self, path: Path) -> list[Measurement]:
        rows = [[cell.strip() for cell in row] for row in split_rows(read_text(path), "\t")]
        start = next(i for i, row in enumerate(rows) if row[:2] == _HEADER)
        wells = _header_wells(rows[start], path)
        geometry = geometry_fitting(max(r for r, _ in wells) + 1, max(c for _, c in wells) + 1)
        metadata = _settings(rows[:start])
        scans, times, lines = [], [], []
        for index in range(start + 1, len(rows)):
            row, line = rows[index], index + 1
            if not any(row):
                continue
            if len(row) < 2 + len(wells) or any(row[2 + len(wells) :]):
                raise InputError(
                    f"scan line has {len(row) - 2} values for {len(wells)} wells", file=path, line=line
                )
            time_h = _elapsed_hours(row[1], path=path, line=line)
            scans.append(
                measurement_from_cells(
                    f"scan at {time_h:g} h",
                    dict(zip(wells, row[2:])),
                    path=path,
                    geometry=geometry,
                    metadata={**metadata, "time_h": time_h, "time_origin": _ORIGIN},
                )
            )
            times.append(time_h)
            lines.append(line)
        check_times(times, lines, path=path)
        return scans


def _header_wells(header: list[str], path: Path) -> list[tuple[int, int]]:
    """The well columns of the header; an empty or repeated column name is refused."""
    names = header[2:]
    while names and not names[-1]:
        names.pop()  # trailing tabs
    wells = []
    for name in names:
        try:
            wells.append(parse_well(name))
        except InputError as error:
            raise InputError(f"header column: {error.reason}", file=path) from None
    if not wells:
        raise InputError("the Date Time / Elapsed header names no well", file=path)
    if len(set(wells)) < len(wells):
        raise InputError("a well has two columns in the header", file=path)
    return wells


def _settings(rows: list[list[str]]) -> dict[str, str]:
    """``Key: value`` lines above the table; the empty ones (``Label:``) left out."""
    settings = {}
    for row in rows:
        key, colon, value = (row[0] if row else "").partition(":")
        if colon and value.strip():
            settings[key.strip().lower().replace(" ", "_")] = value.strip()
    return settings


def _elapsed_hours(text: str, *, path: Path, line: int) -> float:
    """``Elapsed`` as written: a plain number of hours. A decimal comma or a
    thousands separator is refused rather than guessed."""
    if number_style(text) not in ("plain", "point"):
        raise InputError(f"Elapsed {text!r} is not a number of hours", file=path, line=line)
    return float(text)
