"""The screen store: every plate over (plate, well), with the layout and the
sample sheet joined as coordinates; plates read over time add their scans over
(plate, time, well)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError
from .geometry import PlateGeometry, parse_well, row_label
from .growth import dip_fold_change, dip_rates
from .layouts import Dispensing, read_layout
from .normalise import add_normalised
from .store import open_zarr

log = logging.getLogger(__name__)

# "flag" (dispense_failed) joins the readers' flags; its message stays a coordinate.
LAYOUT_FIELDS = {"role": "empty", "drug": "", "concentration_molar": np.nan, "flag": "", "flag_message": ""}
PLATE_FIELDS = ["patient", "line", "replicate", "batch", "lot", "measurement", "timepoint_h", "exclude"]
PLATE_ATTRS = ["reader", "source_file", "source_sha256", "barcode", "read_time", "instrument_serial"]


def plate_geometry(plate: xr.Dataset) -> PlateGeometry:
    return PlateGeometry(plate.sizes["row"], plate.sizes["column"])


def layout_on_plate(layout: pd.DataFrame, wells: list[str]) -> dict[str, np.ndarray]:
    """Layout fields per well of the plate; wells the layout leaves out are ``empty``."""
    by_well = layout.set_index("well").reindex(wells)
    return {
        name: by_well[name].fillna(fill).to_numpy(dtype=float if name.startswith("conc") else object)
        for name, fill in LAYOUT_FIELDS.items()
    }


def dispensing(row: pd.Series) -> Dispensing:
    """A sample-sheet row's settings for a dispenser-log layout."""
    return Dispensing(
        plate=row.get("dispense_plate", ""),
        source_map=Path(row["source_map_path"]) if row.get("source_map_path") else None,
        assay_volume_ul=None if pd.isna(row.get("assay_volume_ul")) else float(row["assay_volume_ul"]),
    )


def plate_layout(row: pd.Series, plate: xr.Dataset, cache: dict) -> dict[str, np.ndarray]:
    """The layout of one sample-sheet row, checked against its plate read;
    ``cache`` keeps each layout parsed once per plate geometry and settings."""
    geometry = plate_geometry(plate)
    key = (row["layout_path"], geometry, dispensing(row))
    if key not in cache:
        try:
            cache[key] = read_layout(row["layout_path"], geometry, dispensing=dispensing(row))
        except InputError as error:
            raise error.located(plate=row["plate"]) from None
    fields = layout_on_plate(cache[key], geometry.wells)
    if not (fields["role"] == "vehicle").any():
        raise InputError(
            "the plate has no vehicle wells in its layout: its signal cannot be normalised",
            file=row["layout_path"],
            plate=row["plate"],
        )
    return fields


def build_screen(sheet: pd.DataFrame, plates: dict[str, xr.Dataset], dip_delay_h: float | None = None,
                 dip_window_h: float | None = None) -> xr.Dataset:
    """Stack per-plate Datasets (in sample-sheet order) into one screen Dataset;
    with ``dip_delay_h``, plates read over time get DIP rates (:func:`add_dip_rates`);
    with ``dip_window_h`` too, those rates become the signal the model fits
    (:func:`dip_response`)."""
    order = list(sheet["plate"])
    geometries = {plate_geometry(plates[p]) for p in order}
    if len(geometries) > 1:
        sizes = sorted(g.n_wells for g in geometries)
        raise InputError(f"plates of different sizes ({sizes}) in one screen; split the sample sheet")
    wells = geometries.pop().wells
    cache: dict = {}
    layout_fields = {name: [] for name in LAYOUT_FIELDS}
    for _, row in sheet.iterrows():
        for name, values in plate_layout(row, plates[row["plate"]], cache).items():
            layout_fields[name].append(values)
    shape = (len(order), len(wells))
    signal = np.stack([plates[p]["signal"].values.reshape(-1) for p in order])
    read_flag = np.stack([plates[p]["flag"].values.reshape(-1) for p in order])
    layout_flag = np.stack(layout_fields.pop("flag")).reshape(shape).astype(str)
    # A well that did not get its dose is left out whatever the reader saw.
    flag = np.where(layout_flag != "", layout_flag, read_flag)
    coords = {
        "plate": order,
        "well": wells,
        "row": ("well", [row_label(parse_well(w)[0]) for w in wells]),
        "column": ("well", [parse_well(w)[1] + 1 for w in wells]),
    }
    coords.update({name: (("plate", "well"), np.stack(v).reshape(shape)) for name, v in layout_fields.items()})
    coords.update({name: ("plate", sheet[name].to_numpy()) for name in PLATE_FIELDS})
    coords.update(
        {name: ("plate", [str(plates[p].attrs.get(name, "")) for p in order]) for name in PLATE_ATTRS}
    )
    screen = xr.Dataset(
        {"signal": (("plate", "well"), signal), "flag": (("plate", "well"), flag)},
        coords=coords,
        attrs={"description": "organoid drug screen: raw plate-reader signal per plate and well"},
    )
    screen["signal"].attrs["units"] = "instrument units (raw reading)"
    screen["concentration_molar"].attrs["units"] = "mol/L"
    screen = screen.assign(time_courses([plates[p] for p in order]))
    if "time_h" in screen and dip_delay_h is not None:
        screen = add_dip_rates(screen, dip_delay_h)
    if dip_window_h is not None:
        screen = dip_response(screen, dip_window_h)
    return add_normalised(screen)


def time_courses(plates: list[xr.Dataset]) -> dict[str, xr.Variable]:
    """The plates' scans over (plate, time, well), ``time`` counting each
    plate's scans from 0, with ``time_h`` (hours after drug addition) per plate
    and scan; a plate with fewer scans, or an endpoint read, is NaN (signal,
    ``time_h``) and ``no_scan`` (flag) past its last. Empty without time courses."""
    courses = [plate for plate in plates if "course_signal" in plate]
    if not courses:
        return {}
    n_scans = max(plate.sizes["time"] for plate in courses)
    n_wells = plates[0].sizes["row"] * plates[0].sizes["column"]
    signal = np.full((len(plates), n_scans, n_wells), np.nan)
    flag = np.full((len(plates), n_scans, n_wells), NO_SCAN, dtype=object)
    time_h = np.full((len(plates), n_scans), np.nan)
    for i, plate in enumerate(plates):
        if "course_signal" in plate:
            n = plate.sizes["time"]
            signal[i, :n] = plate["course_signal"].values.reshape(n, n_wells)
            flag[i, :n] = plate["course_flag"].values.reshape(n, n_wells)
            time_h[i, :n] = plate["time_h"].values
    dims = ("plate", "time", "well")
    return {
        "course_signal": xr.Variable(dims, signal, {"units": "instrument units (raw reading)",
                                                    "description": "the plate's scans over time"}),
        "course_flag": xr.Variable(dims, flag.astype(str)),
        "time_h": xr.Variable(("plate", "time"), time_h, {"units": "h", "description": "hours after drug addition"}),
    }


NO_SCAN = "no_scan"  # past a plate's last scan, or a plate read once


def add_dip_rates(screen: xr.Dataset, delay_h: float) -> xr.Dataset:
    """``dip_rate``, ``dip_n_time_points`` and ``dip_flag`` per plate and well
    (``growth.dip_rates`` of each plate's course from ``delay_h`` hours after
    drug addition on); plates read once are NaN, 0 and ``no_time_course``."""
    shape = (screen.sizes["plate"], screen.sizes["well"])
    rate, n_points = np.full(shape, np.nan), np.zeros(shape, dtype=int)
    flag = np.full(shape, NO_TIME_COURSE, dtype=object)
    for i, plate in enumerate(screen["plate"].values):
        if not np.isfinite(screen["time_h"].values[i]).any():
            continue
        course = plate_course(screen, plate)
        if course["time"].values[-1] < delay_h:
            raise InputError(
                f"the time course ends {course['time'].values[-1]:g} h after drug addition, before the DIP "
                f"rate's delay (growth.dip_delay_h {delay_h:g} h)",
                plate=str(plate),
            )
        rates = dip_rates(course, delay_h)
        rate[i], n_points[i], flag[i] = (rates[name].values for name in ("dip_rate", "n_time_points", "dip_flag"))
    description = (f"DIP rate: slope of log2(course_signal) over the scans at or after {delay_h:g} h after drug "
                   "addition; doublings per hour")
    return screen.assign(
        dip_rate=(("plate", "well"), rate, {"units": "1/h", "delay_h": delay_h, "description": description}),
        dip_n_time_points=(("plate", "well"), n_points, {"description": "scans the DIP rate was fitted to"}),
        dip_flag=(("plate", "well"), flag.astype(str),
                  {"description": "why a well has no DIP rate; empty when it has one"}),
    )


NO_TIME_COURSE = "no_time_course"  # a plate read once has no DIP rate


def dip_response(screen: xr.Dataset, window_h: float) -> xr.Dataset:
    """The screen with each well's DIP rate as the signal the model fits: the
    fold change it implies over ``window_h`` hours (``growth.dip_fold_change``).
    The endpoint scan moves to ``endpoint_signal``; a well without a DIP rate
    takes its ``dip_flag`` as its flag, and a well flagged already keeps its
    flag. Plates read once have no DIP rate and are refused, by name."""
    if "dip_rate" not in screen:
        raise InputError("growth.response dip fits DIP rates, and the screen has no plate read over time")
    read_once = screen["plate"].values[(screen["dip_flag"].values == NO_TIME_COURSE).all(axis=1)]
    if len(read_once):
        raise InputError(
            f"growth.response dip fits DIP rates, and plates {', '.join(map(str, read_once))} were read once, "
            "not over time (a time-zero plate is one): give the sample sheet plates read over time only, or "
            "fit the endpoint read (growth.response: endpoint)"
        )
    flag = screen["flag"].values
    description = (f"the fold change over {window_h:g} h implied by the well's DIP rate, 2^(dip_rate x "
                   f"{window_h:g} h): the response the model fits (growth.response dip)")
    return screen.assign(
        endpoint_signal=screen["signal"],
        signal=(("plate", "well"), dip_fold_change(screen["dip_rate"].values, window_h),
                {"units": "1 (fold change)", "description": description, "response": "dip",
                 "dip_window_h": float(window_h), "dip_delay_h": screen["dip_rate"].attrs["delay_h"]}),
        flag=(("plate", "well"), np.where(flag != "", flag, screen["dip_flag"].values)),
    )


def fitted_response(screen: xr.Dataset) -> str:
    """What the screen's ``signal`` is: ``dip`` (:func:`dip_response`) or ``endpoint``."""
    return screen["signal"].attrs.get("response", "endpoint")


def plate_course(screen: xr.Dataset, plate: str) -> xr.Dataset:
    """One plate's time course from the screen store, as ``growth.dip_rates``
    takes it: ``signal`` and ``flag`` over (``time``, ``well``), ``time`` in
    hours after drug addition, its scans only."""
    if "time_h" not in screen:
        raise InputError("the screen store holds no time courses")
    time_h = screen["time_h"].sel(plate=plate).values
    scans = np.flatnonzero(np.isfinite(time_h))
    if not len(scans):
        raise InputError(f"plate {plate} was read once, not over time")
    return xr.Dataset(
        {"signal": screen["course_signal"].sel(plate=plate).isel(time=scans).reset_coords(drop=True),
         "flag": screen["course_flag"].sel(plate=plate).isel(time=scans).reset_coords(drop=True)},
        coords={"time": ("time", time_h[scans], {"units": "h", "origin": "drug addition"})},
    )


def open_screen(path: str | Path) -> xr.Dataset:
    """Open a screen store written by the workflow."""
    path = Path(path)
    if not path.exists():
        raise InputError("screen store not found", file=path)
    return open_zarr(path)


def treated_drugs(screen: xr.Dataset) -> list[str]:
    """The drugs of a screen store's treated wells, sorted."""
    return sorted({str(drug) for drug in screen["drug"].values[screen["role"].values == "treated"]})


def summarise(screen: xr.Dataset) -> str:
    """A short human summary of a screen store."""
    drugs = treated_drugs(screen)
    excluded = int((screen["exclude"].values != "").sum())
    return (
        f"{screen.sizes['plate']} plates ({excluded} excluded), "
        f"{len(np.unique(screen['patient'].values))} patients, "
        f"{len(np.unique(screen['line'].values))} lines, {len(drugs)} drugs, "
        f"{screen.sizes['well']} wells per plate"
    )


def drug_slug(drug: str) -> str:
    """A file-name-safe form of a drug name (``5-FU (high)`` -> ``5-FU_high``):
    it starts with a letter or digit, as the workflow's path values must."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", drug).lstrip("_.-").rstrip("_") or "drug"


def screen_drugs(sheet: pd.DataFrame) -> dict[str, str]:
    """{slug: drug} over the treated wells of the sheet's layouts; refuses two
    drugs whose names give the same slug."""
    drugs = set()
    for path, settings in sorted({(row["layout_path"], dispensing(row)) for _, row in sheet.iterrows()}, key=str):
        layout = read_layout(path, dispensing=settings)
        drugs |= set(layout.loc[layout.role == "treated", "drug"])
    slugs: dict[str, str] = {}
    for drug in sorted(drugs):
        slug = drug_slug(drug)
        if slug in slugs:
            raise InputError(f"drugs {slugs[slug]!r} and {drug!r} would share the output name {slug!r}")
        slugs[slug] = drug
    return slugs
