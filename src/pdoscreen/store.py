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


def write_zarr_atomic(ds: xr.Dataset, path: str | Path) -> None:
    """Write ``ds`` to ``path`` so that readers see the old store or the new one,
    never a half-written one: write beside it, then swap directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        _variable_length_strings(ds).to_zarr(tmp, mode="w", consolidated=False)
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

