"""A fit's files: ``{name}.zarr`` (the InferenceData, whose fingerprint
marks the fit as finished) and its tables beside it, ``{name}.{table}.tsv``
for each of FIT_TABLES, written so that an interrupted job never leaves a
half-written fit that looks finished; which of the given fits ran, and
opening them. A fit is named by its zarr path: the workflow's rules pass
those paths (``results/fits/{drug}.zarr``) and this module alone knows where
the tables lie beside them."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd
import xarray as xr
import zarr

from .store import atomic_path

log = logging.getLogger("pdoscreen")

FIT_TABLES = ("diagnostics", "lines", "ppc")  # {name}.{table}.tsv beside each {name}.zarr


def _zarr(fit: str | Path) -> Path:
    fit = Path(fit)
    if fit.suffix != ".zarr":
        raise ValueError(f"a fit is named by its .zarr path, not {fit}")
    return fit


def name_of(fit: str | Path) -> str:
    """The fit's name (the drug's file name in the workflow): ``{name}.zarr``."""
    return _zarr(fit).name.removesuffix(".zarr")


def table_path(fit: str | Path, table: str) -> Path:
    """Where the fit's table (one of FIT_TABLES) lies: beside its zarr."""
    return _zarr(fit).with_name(f"{name_of(fit)}.{table}.tsv")


def _files(fit: Path) -> list[Path]:
    return [table_path(fit, table) for table in FIT_TABLES]


def copy_fit(source: Path, out: Path) -> None:
    """The stored fit ``source`` (zarr and tables) copied to ``out``, the
    zarr last: its fingerprint marks the copy as finished."""
    shutil.rmtree(_zarr(out), ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    for table in FIT_TABLES:
        shutil.copyfile(table_path(source, table), table_path(out, table))
    shutil.copytree(_zarr(source), out)


def mark_current(out: Path) -> None:
    """Touch a kept fit's outputs so that Snakemake sees them as newer than the
    (rewritten) screen store they were fitted from."""
    for path in [_zarr(out), out / ".snakemake_timestamp", *_files(out)]:
        if path.exists():
            os.utime(path)


def stored_fingerprint(out: Path) -> str | None:
    """The fingerprint of the fit stored at ``out``, if all its outputs are there."""
    if not all(path.exists() for path in _files(_zarr(out))):
        return None
    try:
        root = zarr.open_group(str(out), mode="r")
        attrs = root["posterior"].attrs if "posterior" in root else root.attrs
        return attrs.get("fingerprint")
    except (FileNotFoundError, KeyError, ValueError):
        return None


def _write_tables(out: Path, tables: dict, **to_csv) -> None:
    """A fit's tables, each written beside it and renamed into place. They go
    before the zarr, whose fingerprint marks the fit as finished: the old zarr
    is removed first, so a fit killed part-way leaves no fingerprint that
    `stored_fingerprint` would take for a finished fit beside new tables."""
    shutil.rmtree(_zarr(out), ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        with atomic_path(table_path(out, name)) as tmp:
            table.to_csv(tmp, sep="\t", index=False, **to_csv)


def write_fit(idata, settings, out: Path):
    """Writes the fit and its tables; returns the diagnostics table."""
    from .checks import diagnostics, line_summary, posterior_predictive_checks
    from .store import write_inference_data

    tables = {
        "diagnostics": diagnostics(idata),
        "lines": line_summary(idata, settings.priors),
        "ppc": posterior_predictive_checks(idata),
    }
    _write_tables(out, tables, float_format="%.6g")
    write_inference_data(idata, out)
    drug = idata.posterior.attrs["drug"]
    for row in tables["diagnostics"].query("status == 'fail'").itertuples():
        log.warning("drug %s fails diagnostics (%s): %s", drug, row.group, row.reasons)
    for row in tables["ppc"].query("status == 'warn'").itertuples():
        log.warning("drug %s, plate %s: %s", drug, row.plate, row.reasons)
    return tables["diagnostics"]


def write_not_fitted(drug: str, reason: str, out: Path, fingerprint: str) -> None:
    """Outputs that say why a drug was not fitted, so downstream rules report it."""
    from .store import write_zarr_atomic

    row = {"group": "sampler", "status": "not_fitted", "reasons": reason}
    _write_tables(out, {"diagnostics": pd.DataFrame([row]), "lines": pd.DataFrame(columns=["line"]),
                        "ppc": pd.DataFrame(columns=["plate"])})
    attrs = {"drug": drug, "fitted": 0, "reason": reason, "fingerprint": fingerprint}
    write_zarr_atomic(xr.Dataset(attrs=attrs), out)


def fitted(fits: list[str | Path]) -> list[Path]:
    """The fits that ran (not those recorded as not fitted)."""
    return [Path(fit) for fit in fits
            if "not_fitted" not in set(pd.read_csv(table_path(fit, "diagnostics"), sep="\t")["status"])]


def open_fits(fits: list[str | Path]) -> dict:
    """{name: InferenceData} of ``fits``, fits that ran (see ``fitted``)."""
    from .store import open_inference_data

    return {name_of(fit): open_inference_data(fit) for fit in fits}


def read_tables(fits: list[str | Path], table: str) -> list[pd.DataFrame]:
    """Each fit's table (one of FIT_TABLES), with the fit's name as ``drug``."""
    return [pd.read_csv(table_path(fit, table), sep="\t").assign(drug=name_of(fit)) for fit in fits]


def collect_diagnostics(fits: list[str | Path], out: Path) -> None:
    """Every fit's diagnostics in one table (``drug`` the fit's name), failing
    and unfitted drugs first."""
    table = pd.concat(read_tables(fits, "diagnostics"), ignore_index=True)
    if "rung" in table:  # on the fit rows only: an integer, not 1.0
        table["rung"] = table["rung"].astype("Int64")
    rank = table["status"].map({"not_fitted": 0, "fail": 1}).fillna(2)
    table["order"] = rank.groupby(table["drug"]).transform("min")
    table = table.sort_values(["order", "drug"], kind="stable").drop(columns="order")
    table[["drug"] + [c for c in table.columns if c != "drug"]].to_csv(
        out, sep="\t", index=False, float_format="%.6g", lineterminator="\n"
    )
