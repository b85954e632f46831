"""I/O at the edges: atomic writes of files and Zarr stores, string encoding,
opening stores."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np
import xarray as xr


def _variable_length_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width numpy strings have no Zarr v3 spec; variable-length UTF-8 does."""
    ds = ds.copy()
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    return ds


def labels(values) -> np.ndarray:
    """Plain numpy ``str`` labels from a DataArray or array: stored labels come back as StringDType or objects."""
    if isinstance(values, xr.DataArray):
        values = values.values
    return np.asarray(values).astype(object).astype(str)


def plate_lines(idata) -> dict[str, str]:
    """Each plate of a fit (the posterior's ``plate`` coordinate, in its order) -> its line,
    from the observations' ``obs_plate`` and ``obs_line`` (constant data, as fit.py writes them)."""
    const = idata.constant_data
    line_of = dict(zip(labels(const["obs_plate"]), labels(const["obs_line"])))
    plates = labels(idata.posterior["plate"])
    missing = [p for p in plates if p not in line_of]
    if missing:
        raise ValueError(f"plates without observations, their line is unknown: {missing}")
    return {p: line_of[p] for p in plates}


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """A temporary name beside ``path`` to write to, renamed onto ``path`` when
    the block ends and removed if it raises: readers see the old file or the
    new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_zarr_atomic(ds: xr.Dataset | xr.DataTree, path: str | Path) -> None:
    """Write ``ds`` (a Dataset or DataTree) to ``path`` so that readers see the
    old store or the new one, never a half-written one: write beside it, then
    swap directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A job killed mid-write leaves its temporary (or swapped-out) store beside
    # the path; one job at a time writes a store, so any such sibling is stale.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if stale.suffix in (".tmp", ".old") and stale.is_dir():
            shutil.rmtree(stale)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    if isinstance(ds, xr.DataTree):
        ds = ds.map_over_datasets(_variable_length_strings)
    else:
        ds = _variable_length_strings(ds)
    try:
        # Consolidated: opening reads one file, and lists no folder (where zarr
        # would warn about Snakemake's .snakemake_timestamp).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore",
                                    message="Consolidated metadata is currently not part in the Zarr format 3")
            ds.to_zarr(tmp, mode="w", consolidated=True)
        if path.exists():
            old = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def _quietly():
    """Stores written before they were consolidated open with a warning about it
    and, listed, about the file Snakemake stamps directory outputs with."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp")
        warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated metadata")
        yield


def open_zarr(path: str | Path) -> xr.Dataset:
    """Open a store written by :func:`write_zarr_atomic`, strings as numpy ``str``."""
    with _quietly():
        ds = xr.open_zarr(path).load()
    for name, var in ds.variables.items():
        if var.dtype.kind in "OT":
            ds[name] = var.copy(data=var.values.astype(object).astype(str))
    return ds



def write_inference_data(idata, path: str | Path) -> None:
    """An ArviZ InferenceData as a Zarr store (through xarray's DataTree, since
    ArviZ's own writer does not support zarr 3)."""
    write_zarr_atomic(idata.to_datatree(), path)


def open_inference_data(path: str | Path):
    import arviz as az

    with _quietly():
        tree = xr.open_datatree(path, engine="zarr").load()
    return az.InferenceData.from_datatree(tree)
