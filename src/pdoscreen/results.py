"""A workflow's results folder from Python (a notebook): the screen, each drug's
fit, the summary tables and the metric draws, by the names the workflow writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

from .errors import InputError
from .screen import drug_slug
from .store import open_inference_data, open_zarr


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{what} not found (has the workflow written it?)", file=path)
    return path


def _fits(results: str | Path) -> Path:
    """The fits the summary tables came from: ``results/fits``, or
    ``results/refits`` where the workflow refitted without flagged plates
    (residual_checks.spatial_artefact: refit); the metric draws record which."""
    metrics = Path(results) / "summary" / "metrics.zarr"
    folder = open_zarr(metrics).attrs.get("fits_folder", "fits") if metrics.exists() else "fits"
    return _existing(Path(results) / folder, "fits folder")


def fitted_drugs(results: str | Path = "results") -> list[str]:
    """The drugs with a fit (file names, as in the tables)."""
    fits = _fits(results)
    return sorted(p.name.removesuffix(".diagnostics.tsv") for p in fits.glob("*.diagnostics.tsv"))


def open_fit(drug: str, results: str | Path = "results"):
    """One drug's posterior as an ``arviz.InferenceData`` (posterior, posterior
    predictive, log likelihood, observed data, sample stats where NUTS ran)."""
    path = _fits(results) / f"{drug_slug(drug)}.zarr"
    if not path.exists():
        raise InputError(f"no fit of drug {drug!r}; fitted: {', '.join(fitted_drugs(results))}", file=path)
    idata = open_inference_data(path)
    if not idata.groups():
        reason = open_zarr(path).attrs.get("reason", "")
        raise InputError(f"drug {drug!r} was not fitted: {reason}", file=path)
    return idata


def read_table(name: str = "patient_drug", results: str | Path = "results") -> pd.DataFrame:
    """A summary table by name: ``patient_drug``, ``line_drug``, ``fit_diagnostics``,
    ``variance_partition``, ``shrinkage``, ``new_line_predictions``, ``batch_effects``..."""
    return pd.read_csv(_existing(Path(results) / "summary" / f"{name}.tsv", "summary table"), sep="\t")


def open_metrics(results: str | Path = "results") -> xr.Dataset:
    """Posterior draws of every metric (AAC, EC50, DSS, ...) per line and patient."""
    return open_zarr(_existing(Path(results) / "summary" / "metrics.zarr", "metric draws"))
