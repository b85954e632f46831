"""A fit's files: ``{prefix}.zarr`` (the InferenceData, whose fingerprint
marks the fit as finished) and the tables beside it (FIT_TABLES), written so
that an interrupted job never leaves a half-written fit that looks finished;
which stored fits there are, and opening them. ``pdoscreen fit`` and the
commands that read fits (cli.py) use this module; the workflow names the
prefixes (``results/fits/{drug}``, ``results/refits/{drug}``)."""

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

FIT_TABLES = ("diagnostics.tsv", "lines.tsv", "ppc.tsv")  # written beside each {drug}.zarr


def drug_of(diagnostics_path: str | Path) -> str:
    """The drug's file name from its ``{drug}.diagnostics.tsv``."""
    return Path(diagnostics_path).name.removesuffix(".diagnostics.tsv")


def copy_fit(source: Path, out: Path) -> None:
    """The stored fit at ``source`` (zarr and tables) copied to ``out``, the
    zarr last: its fingerprint marks the copy as finished."""
    shutil.rmtree(out.with_suffix(".zarr"), ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    for kind in FIT_TABLES:
        shutil.copyfile(f"{source}.{kind}", f"{out}.{kind}")
    shutil.copytree(source.with_suffix(".zarr"), out.with_suffix(".zarr"))


def mark_current(out: Path) -> None:
    """Touch a kept fit's outputs so that Snakemake sees them as newer than the
    (rewritten) screen store they were fitted from."""
    zarr_dir = out.with_suffix(".zarr")
    for path in [zarr_dir, zarr_dir / ".snakemake_timestamp",
                 *(Path(f"{out}.{kind}") for kind in FIT_TABLES)]:
        if path.exists():
            os.utime(path)


def stored_fingerprint(out: Path) -> str | None:
    """The fingerprint of the fit stored at ``out``, if all its outputs are there."""
    if not all(Path(f"{out}.{kind}").exists() for kind in FIT_TABLES):
        return None
    try:
        root = zarr.open_group(str(out.with_suffix(".zarr")), mode="r")
        attrs = root["posterior"].attrs if "posterior" in root else root.attrs
        return attrs.get("fingerprint")
    except (FileNotFoundError, KeyError, ValueError):
        return None


def _write_tables(out: Path, tables: dict, **to_csv) -> None:
    """A fit's tables, each written beside it and renamed into place. They go
    before the zarr, whose fingerprint marks the fit as finished: the old zarr
    is removed first, so a fit killed part-way leaves no fingerprint that
    `stored_fingerprint` would take for a finished fit beside new tables."""
    shutil.rmtree(out.with_suffix(".zarr"), ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        with atomic_path(f"{out}.{name}.tsv") as tmp:
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
    write_inference_data(idata, out.with_suffix(".zarr"))
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
    write_zarr_atomic(xr.Dataset(attrs=attrs), out.with_suffix(".zarr"))


def fitted(diagnostics_paths: list[str]) -> list[str]:
    """The drugs whose fit ran (not those recorded as not fitted), by file name."""
    return [
        drug_of(path) for path in diagnostics_paths
        if "not_fitted" not in set(pd.read_csv(path, sep="\t")["status"])
    ]


def open_fits(fits_dir: str | Path, diagnostics_paths: list[str]) -> dict:
    """{drug: InferenceData} of the fitted drugs among ``diagnostics_paths``."""
    from .store import open_inference_data

    return {drug: open_inference_data(Path(fits_dir) / f"{drug}.zarr") for drug in fitted(diagnostics_paths)}
