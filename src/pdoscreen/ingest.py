"""Ingestion: plate-reader exports to per-plate Zarr stores."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import xarray as xr

from .errors import InputError
from .plate import read_course_plate, read_plate, time_course_reader
from .screen import plate_layout
from .store import write_zarr_atomic

log = logging.getLogger(__name__)


def ingest_plate(row: pd.Series) -> xr.Dataset:
    """One sample-sheet row (with ``file_path``) -> the plate's Dataset; a time
    course also keeps its scans (plate.read_course_plate)."""
    try:
        course_reader = time_course_reader(row["file_path"], row["reader"])
        if course_reader and row["measurement"]:
            raise InputError(f"a time course has one measurement; leave the measurement column empty "
                             f"(it says {row['measurement']!r})", file=row["file_path"])
        if course_reader:
            ds = read_course_plate(row["file_path"], course_reader, drug_added_h=row["drug_added_h"],
                                   timepoint_h=row["timepoint_h"], plate=row["plate"])
        else:
            ds = read_plate(
                row["file_path"], reader=row["reader"], measurement=row["measurement"] or None, plate=row["plate"]
            )
    except InputError as error:
        raise error.located(plate=row["plate"]) from None
    ds.attrs["plate"] = row["plate"]
    return ds


def ingest_plates(sheet: pd.DataFrame, plates: list[str], out_dir: str | Path) -> list[Path]:
    """Read each named plate and write ``{out_dir}/{plate}.zarr``; progress is logged."""
    out_dir = Path(out_dir)
    rows = sheet.set_index("plate", drop=False)
    unknown = sorted(set(plates) - set(rows.index))
    if unknown:
        raise InputError(f"plates {', '.join(unknown)} are not in the sample sheet")
    written = []
    layouts: dict = {}
    for i, plate in enumerate(plates, start=1):
        ds = ingest_plate(rows.loc[plate])
        # Fail on a layout that does not fit the plate now, not at the screen build.
        plate_layout(rows.loc[plate], ds, layouts)
        path = out_dir / f"{plate}.zarr"
        write_zarr_atomic(ds, path)
        log.info(
            "[%d/%d] plate %s: %s via %s, measurement %r",
            i, len(plates), plate, ds.attrs["source_file"], ds.attrs["reader"], ds.attrs["measurement"],
        )
        written.append(path)
    return written
