"""One plate read as a labelled xarray Dataset (dims ``row``, ``column``); a
plate read over time also keeps its time course (dims ``time``, ``row``,
``column``)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from .errors import InputError
from .readers import TIME_COURSE_REGISTRY, Measurement, detect_time_course, read_measurements, read_time_course
from .readers.base import missing_wells

log = logging.getLogger(__name__)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def choose_measurement(
    measurements: list[Measurement], wanted: str | None, *, path: Path
) -> Measurement:
    """Pick a block by exact name, by a unique case-insensitive part of its name,
    or by 1-based position; with none asked for, the only or the default block."""
    names = [m.name for m in measurements]
    listing = "; ".join(f"{i}: {n}" for i, n in enumerate(names, start=1))
    if wanted is None or str(wanted).strip() == "":
        if len(measurements) == 1:
            return measurements[0]
        defaults = [m for m in measurements if m.default]
        if len(defaults) == 1:
            return defaults[0]
        raise InputError(
            f"the file holds {len(measurements)} measurements; say which one in the sample "
            f"sheet's measurement column (a name, part of one, or a number): {listing}",
            file=path,
        )
    wanted = str(wanted).strip()
    exact = [m for m in measurements if m.name == wanted]
    if exact:
        return exact[0]
    partial = [m for m in measurements if wanted.lower() in m.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if wanted.isdigit() and 1 <= int(wanted) <= len(measurements):
        return measurements[int(wanted) - 1]
    raise InputError(
        f"measurement {wanted!r} matches {len(partial) or 'none'} of the file's measurements: "
        f"{listing}",
        file=path,
    )


def source_attrs(path: Path, reader: str, measurement: str, n_rows: int, n_columns: int) -> dict:
    """What a plate's Dataset records of where its reading came from."""
    return {
        "reader": reader,
        "reader_version": f"pdoscreen {__version__}",
        "measurement": measurement,
        "source_file": Path(path).name,
        "source_sha256": sha256(path),
        "n_rows": n_rows,
        "n_columns": n_columns,
        "n_wells": n_rows * n_columns,
    }


def measurement_dataset(
    measurement: Measurement, *, path: Path, reader: str
) -> xr.Dataset:
    geometry = measurement.geometry
    attrs = source_attrs(path, reader, measurement.name, geometry.n_rows, geometry.n_columns)
    attrs.update({f"instrument_{k}" if k in attrs else k: v for k, v in measurement.metadata.items()})
    return xr.Dataset(
        {
            "signal": (("row", "column"), measurement.signal.astype(np.float64)),
            "flag": (("row", "column"), measurement.flag.astype(str)),
        },
        coords={"row": geometry.rows, "column": geometry.columns},
        attrs=attrs,
    )


def read_plate(
    path: str | Path, reader: str = "auto", measurement: str | None = None, *, plate: str | None = None
) -> xr.Dataset:
    """Read one plate from a plate-reader export.

    ``signal`` holds the raw reading (NaN where missing) and ``flag`` says why a
    value is missing (``overflow``, ``not_measured``, ...; empty when good).
    A partial plate is legitimate, a silent one is not: the wells the export
    lacks are logged as a warning naming ``plate`` (the sample sheet's id) and
    the file.
    """
    path = Path(path)
    name, measurements = read_measurements(path, reader)
    chosen = choose_measurement(measurements, measurement, path=path)
    _warn_missing(chosen.flag, path, plate, f", measurement {chosen.name!r}" if len(measurements) > 1 else "")
    return measurement_dataset(chosen, path=path, reader=name)


def _warn_missing(flag: np.ndarray, path: Path, plate: str | None, which: str = "") -> None:
    """A partial plate is legitimate, a silent one is not: name the wells the export lacks."""
    missing = missing_wells(flag)
    if missing:
        source = f"{plate} ({path.name})" if plate else path.name
        log.warning("%s%s: %s not in the export; read as not measured", source, which, missing)


# A scan is the endpoint read when its time is within a minute of timepoint_h.
SCAN_TIME_TOLERANCE_H = 1 / 60


def time_course_reader(path: str | Path, reader: str = "auto") -> str | None:
    """The time-course reader of a sample-sheet plate's file, or None for an endpoint read."""
    if reader in TIME_COURSE_REGISTRY:
        return reader
    return detect_time_course(Path(path)) if reader == "auto" else None


def read_course_plate(
    path: str | Path, reader: str, *, drug_added_h: float, timepoint_h: float, plate: str | None = None
) -> xr.Dataset:
    """A plate read over time: its scans as ``course_signal`` and ``course_flag``
    over (``time``, ``row``, ``column``) with ``time_h`` in hours after drug
    addition (the instrument's time minus ``drug_added_h``, the sample sheet's
    time of drug addition on the instrument's clock), and the scan at
    ``timepoint_h`` hours after drug addition as the plate's endpoint ``signal``
    and ``flag``. Neither time is guessed: without them, or without a scan at
    ``timepoint_h``, the plate is refused."""
    path = Path(path)
    course = read_time_course(path, reader)
    clock = course["time"].values.astype(float)
    span = f"{len(clock)} scans at {clock[0]:g} to {clock[-1]:g} h on the instrument's clock"
    if not np.isfinite(drug_added_h):
        raise InputError(
            f"a time course ({span}): say when the drug was added, on that clock, in the sample sheet's "
            "drug_added_h column",
            file=path,
        )
    after = clock - drug_added_h
    if not np.isfinite(timepoint_h):
        raise InputError(
            f"a time course ({span}): say which scan is the endpoint read, in hours after drug addition, in the "
            f"sample sheet's timepoint_h column (scans at {_hours(after)} h after drug addition)",
            file=path,
        )
    at = np.flatnonzero(np.abs(after - timepoint_h) <= SCAN_TIME_TOLERANCE_H)
    if len(at) != 1:
        raise InputError(
            f"no scan at timepoint_h {timepoint_h:g} h after drug addition (drug_added_h {drug_added_h:g}); "
            f"the scans are at {_hours(after)} h",
            file=path,
        )
    endpoint = course.isel(time=at[0])
    _warn_missing(endpoint["flag"].values, path, plate)
    attrs = source_attrs(path, course.attrs["reader"], f"scan at {after[at[0]]:g} h after drug addition",
                         course.sizes["row"], course.sizes["column"])
    attrs["time_course_origin"] = course["time"].attrs.get("origin", "")
    return xr.Dataset(
        {
            "signal": (("row", "column"), endpoint["signal"].values.astype(np.float64)),
            "flag": (("row", "column"), endpoint["flag"].values.astype(str)),
            "course_signal": (("time", "row", "column"), course["signal"].values.astype(np.float64)),
            "course_flag": (("time", "row", "column"), course["flag"].values.astype(str)),
        },
        coords={"row": course["row"].values, "column": course["column"].values,
                "time_h": ("time", after, {"units": "h", "description": "hours after drug addition"})},
        attrs=attrs,
    )


def _hours(times: np.ndarray) -> str:
    return ", ".join(f"{t:g}" for t in times)
