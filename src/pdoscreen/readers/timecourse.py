"""Time-resolved reads: one plate scanned again and again.

A time-course reader is a :class:`~.base.Reader` whose ``read`` returns one
:class:`~.base.Measurement` per scan, each with its time in hours in
``metadata["time_h"]`` and what time 0 is in ``metadata["time_origin"]``; it
registers with :func:`register_time_course`, apart
from the endpoint readers, so that a time course is never taken for an
endpoint read. :func:`read_time_course` stacks the scans into one Dataset over
(``time``, ``row``, ``column``), the time axis labelled in hours with its
origin. No reader knows when the drug was added: its time 0 is the
instrument's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputError
from .base import FileSample, Measurement, Reader, not_an_export, read_checked

TIME_COURSE_REGISTRY: dict[str, Reader] = {}


def register_time_course(cls: type[Reader]) -> type[Reader]:
    if cls.name in TIME_COURSE_REGISTRY:
        raise RuntimeError(f"time-course reader {cls.name!r} registered twice")
    TIME_COURSE_REGISTRY[cls.name] = cls()
    return cls


def detect_time_course(path: Path) -> str | None:
    """The one time-course reader that recognises the file, or None."""
    sample = FileSample(path)
    matches = [name for name, reader in TIME_COURSE_REGISTRY.items() if reader.sniff(sample)]
    return matches[0] if len(matches) == 1 else None


def check_times(times_h: list[float], lines: list[int], *, path: Path) -> None:
    """At least two scans, in time order, each at its own time: a repeated or
    earlier time stamp means scans of two runs were joined, or rows were
    reordered. Every time-course reader calls it on its scans' times."""
    if len(times_h) < 2:
        raise InputError(f"a time course needs at least two scans; the file has {len(times_h)}", file=path)
    for previous, time, line in zip(times_h, times_h[1:], lines[1:]):
        if time <= previous:
            what = "repeats" if time == previous else "comes before"
            raise InputError(
                f"time point {time:g} h {what} the time point above it ({previous:g} h): "
                "the scans of a time course must come in increasing time order",
                file=path,
                line=line,
            )


def read_time_course(path: str | Path, reader: str = "auto") -> xr.Dataset:
    """A time-course export as a Dataset: ``signal`` and ``flag`` over
    (``time``, ``row``, ``column``), ``time`` in hours on the instrument's clock."""
    path = Path(path)
    if not path.is_file():
        raise InputError("time-course file not found", file=path)
    name = detect_time_course(path) if reader == "auto" else reader
    if name is None and (reason := not_an_export(FileSample(path))):
        raise InputError(f"this is {reason}", file=path)
    if name not in TIME_COURSE_REGISTRY:
        raise InputError(
            "not a time-course export pdoscreen can read "
            f"(time-course readers: {', '.join(sorted(TIME_COURSE_REGISTRY))})",
            file=path,
        )
    scans = read_checked(path, TIME_COURSE_REGISTRY[name])
    return time_course_dataset(scans, path=path, reader=name)


def time_course_dataset(scans: list[Measurement], *, path: Path, reader: str) -> xr.Dataset:
    geometry = scans[0].geometry
    metadata = {k: v for k, v in scans[0].metadata.items() if k not in ("time_h", "time_origin")}
    return xr.Dataset(
        {
            "signal": (("time", "row", "column"), np.stack([s.signal for s in scans])),
            "flag": (("time", "row", "column"), np.stack([s.flag for s in scans]).astype(str)),
        },
        coords={
            "time": (
                "time",
                [float(s.metadata["time_h"]) for s in scans],
                {"units": "h", "origin": scans[0].metadata["time_origin"]},
            ),
            "row": geometry.rows,
            "column": geometry.columns,
        },
        attrs={"reader": reader, "source_file": path.name, **metadata},
    )
