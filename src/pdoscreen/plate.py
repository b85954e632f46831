"""One plate read as a labelled xarray Dataset (dims ``row``, ``column``)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from .errors import InputError
from .readers import Measurement, read_measurements
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


def measurement_dataset(
    measurement: Measurement, *, path: Path, reader: str
) -> xr.Dataset:
    geometry = measurement.geometry
    attrs = {
        "reader": reader,
        "reader_version": f"pdoscreen {__version__}",
        "measurement": measurement.name,
        "source_file": Path(path).name,
        "source_sha256": sha256(path),
        "n_rows": geometry.n_rows,
        "n_columns": geometry.n_columns,
        "n_wells": geometry.n_wells,
    }
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
    missing = missing_wells(chosen.flag)
    if missing:
        source = f"{plate} ({path.name})" if plate else path.name
        which = f", measurement {chosen.name!r}" if len(measurements) > 1 else ""
        log.warning("%s%s: %s not in the export; read as not measured", source, which, missing)
    return measurement_dataset(chosen, path=path, reader=name)
