"""Zarr I/O at the edges: atomic writes, string encoding, opening stores."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from pathlib import Path

import xarray as xr


def _variable_length_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width numpy strings have no Zarr v3 spec; variable-length UTF-8 does."""
    ds = ds.copy()
    for name, var in ds.variables.items():
        if var.dtype.kind == "U":
            ds[name] = var.astype(object)
    return ds


def write_zarr_atomic(ds: xr.Dataset | xr.DataTree, path: str | Path) -> None:
    """Write ``ds`` (a Dataset or DataTree) to ``path`` so that readers see the
    old store or the new one, never a half-written one: write beside it, then
    swap directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    if isinstance(ds, xr.DataTree):
        ds = ds.map_over_datasets(_variable_length_strings)
    else:
        ds = _variable_length_strings(ds)
    try:
        ds.to_zarr(tmp, mode="w", consolidated=False)
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


def open_zarr(path: str | Path) -> xr.Dataset:
    """Open a store written by :func:`write_zarr_atomic`, strings as numpy ``str``."""
    with warnings.catch_warnings():
        # Snakemake stamps directory outputs with a file zarr does not know.
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp")
        ds = xr.open_zarr(path, consolidated=False).load()
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

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp")
        tree = xr.open_datatree(path, engine="zarr", consolidated=False).load()
    return az.InferenceData.from_datatree(tree)
