"""Fitting: stage-1 plate priors from control wells, then one hierarchical fit
per drug (NUTS, or SVI for quick looks), stored as ArviZ InferenceData. The
checks of a fit and its per-line summaries are in checks.py."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .checks import diagnostics, draws_as_inference_data
from .model import BATCH_LEVEL_SITES, LEVEL_DIM, LEVEL_SITES, SITES_BY_DIM, DrugData
from .qc import MAD_TO_SD

if TYPE_CHECKING:  # arviz is imported where a fit is made or read: it is slow to import
    import arviz as az

log = logging.getLogger(__name__)

# Without kill wells the floor is unknown: the population prior of the review
# (floor about 3% of vehicle, wide).
FLOOR_PRIOR = (-3.5, 1.5)
MIN_LOG_GAIN_SD = 0.02
MIN_LOGIT_FLOOR_SD = 0.1

@dataclass(frozen=True)
class FitSettings:
    method: str = "nuts"  # or "svi" (approximate)
    chains: int = 4
    # Started from SVI, chains need a short warm-up; 4 x 250 draws give the
    # ESS of 400 the checks ask for, and a fit short of it is extended by 250
    # draws per chain while on course to pass by max_draws (sampling.ladder).
    warmup: int = 200
    draws: int = 250
    max_draws: int = 2000
    target_accept: float = 0.9  # a divergent fit is refitted at 0.98
    seed: int = 20261125
    svi_steps: int = 2000  # the EC50 error of the benchmark screens stops falling by 2,000
    svi_rank: int = 8
    # What an SVI fit whose Pareto k exceeds sampling.PARETO_K_MAX becomes:
    # "report" keeps it, labelled approximate with its k; "refit" fits the drug with NUTS.
    svi_check: str = "report"
    # "auto": each line and plate element centred or not by its data weight
    # (parametrisation.py); or the levels ("lines", "plates") to write as z-scores.
    non_centred: str | tuple[str, ...] = "auto"
    well_draws: int = 100  # per chain, for the log-likelihood and predictive draws of every well
    priors: dict = field(default_factory=dict)
    # Sample-sheet columns (batch, lot) whose levels shift the plate gain, and,
    # with batch_on_ec50, log10 EC50 (model.batch_shifts).
    batch_factors: tuple[str, ...] = ()
    batch_on_ec50: bool = False


def fingerprint(wells: pd.DataFrame, priors: pd.DataFrame, settings: FitSettings) -> str:
    """A hash of everything a drug's fit depends on: its wells, the stage-1 priors
    of their plates, the settings and the package version. Equal fingerprints
    mean the fit would come out the same, so it need not run again."""
    import json
    from dataclasses import asdict

    from . import __version__

    plates = sorted(set(wells.plate))
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(wells, index=False).to_numpy().tobytes())
    rows = priors.set_index("plate").loc[plates].reset_index()
    digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
    digest.update(json.dumps(asdict(settings), sort_keys=True, default=list).encode())
    digest.update(__version__.encode())
    return digest.hexdigest()


def drug_seed(seed: int, drug: str) -> int:
    """One config seed and the drug name give each fit its own reproducible seed."""
    digest = hashlib.sha256(f"{seed}:{drug}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


# --- stage 1: plate parameters from control wells -------------------------------------


def _robust_level(values: np.ndarray) -> tuple[float, float]:
    """Median and its standard error (1.2533 * the MAD's SD estimate / sqrt(n))."""
    median = float(np.median(values))
    mad_sd = MAD_TO_SD * float(np.median(np.abs(values - median)))
    return median, 1.2533 * mad_sd / math.sqrt(len(values))


def plate_priors(screen: xr.Dataset) -> pd.DataFrame:
    """Per plate: the vehicle level (raw units) with its log-scale uncertainty and
    the floor (kill / vehicle) on the logit scale, from the plate's control wells."""
    records = []
    for plate in screen.plate.values:
        ds = screen.sel(plate=plate)
        good = (ds.flag.values == "") & np.isfinite(ds.signal.values)
        vehicle = ds.signal.values[good & (ds.role.values == "vehicle")]
        kill = ds.signal.values[good & (ds.role.values == "kill")]
        record = {"plate": str(plate), "n_vehicle": len(vehicle), "n_kill": len(kill)}
        if len(vehicle) >= 2:
            level, se = _robust_level(vehicle)
            record |= {"vehicle_level": level, "log_gain_sd": max(se / level, MIN_LOG_GAIN_SD)}
        else:
            record |= {"vehicle_level": np.nan, "log_gain_sd": np.nan}
        record |= _floor_prior(kill, record["vehicle_level"], record["log_gain_sd"])
        records.append(record)
    return pd.DataFrame(records)


def _floor_prior(kill: np.ndarray, vehicle_level: float, log_vehicle_se: float) -> dict:
    if len(kill) < 2 or not np.isfinite(vehicle_level):
        loc, sd = FLOOR_PRIOR
        return {"logit_floor_loc": loc, "logit_floor_sd": sd, "floor_source": "prior (no kill wells)"}
    kill_level, kill_se = _robust_level(kill)
    ratio = float(np.clip(kill_level / vehicle_level, 1e-4, 0.5))
    log_ratio_se = math.hypot(kill_se / max(kill_level, 1e-12 * vehicle_level), log_vehicle_se)
    return {
        "logit_floor_loc": math.log(ratio / (1 - ratio)),
        # d logit(r) / d log(r) = 1 / (1 - r)
        "logit_floor_sd": max(log_ratio_se / (1 - ratio), MIN_LOGIT_FLOOR_SD),
        "floor_source": "kill wells",
    }


# --- stage 2: one drug ----------------------------------------------------------------


def drug_wells(screen: xr.Dataset, drug: str, plates: list[str], batch_factors=()) -> pd.DataFrame:
    """The drug's treated wells with a good reading on the given plates, with
    the plates' levels of each batch factor."""
    screen = screen.sel(plate=plates)
    _check_batch_factors(screen, batch_factors)
    frame = screen[["signal", "flag"]].to_dataframe().reset_index()
    frame = frame[
        (frame.role == "treated") & (frame.drug == drug) & (frame.flag == "") & np.isfinite(frame.signal)
    ]
    frame["x"] = np.log10(frame["concentration_molar"])
    columns = ["plate", "line", "patient", "well", "x", "signal", *batch_factors]
    return frame[columns].reset_index(drop=True)


def _check_batch_factors(screen: xr.Dataset, batch_factors) -> None:
    from .errors import InputError

    for factor in batch_factors:
        if factor not in screen.coords:
            raise InputError(f"fit.batch_factors names {factor!r}, which is not a sample-sheet column")
        unlabelled = screen.plate.values[screen[factor].values.astype(str) == ""]
        if len(unlabelled):
            raise InputError(
                f"fit.batch_factors names {factor!r}, but {len(unlabelled)} plate(s) have no {factor} "
                f"in the sample sheet (the column is empty or missing): {', '.join(map(str, unlabelled[:10]))}"
            )


def _bucket(n: int, step: int, per_octave: int = 1) -> int:
    """Round up to a few shapes so compiled samplers are reused across drugs:
    ``step`` times a power of two, or ``per_octave`` evenly spaced sizes
    between two powers (a padding of at most 1 / per_octave of the size)."""
    octave = step
    while 2 * octave < n:
        octave *= 2
    return next(size for j in range(per_octave + 1) if (size := octave + octave * j // per_octave) >= n)


# Wells are bucketed by quarter octaves: a sampler's step costs about in
# proportion to the padded wells (benchmarks: 270 wells padded to 320 rather
# than 512 took a fifth less per step), and padding wells add exactly nothing
# to the log density, so the posterior is the same at either size.
WELLS_PER_OCTAVE = 4


@dataclass
class FitIndex:
    """Names behind the integer codes of a fit, and its reference range."""

    patients: list[str]
    lines: list[str]
    plates: list[str]
    line_patient: np.ndarray
    plate_line: np.ndarray
    wells: pd.DataFrame
    scale: float
    x_min: float
    x_max: float
    batch_levels: dict[str, list[str]] = field(default_factory=dict)


def model_data(wells: pd.DataFrame, priors: pd.DataFrame, batch_factors=()) -> tuple[DrugData, FitIndex]:
    """Arrays for ``model.dose_response``, padded to bucketed shapes."""
    plates = list(dict.fromkeys(wells.plate))
    plate_rows = priors.set_index("plate").loc[plates]
    plate_lines = wells.drop_duplicates("plate").set_index("plate").loc[plates]
    lines = list(dict.fromkeys(plate_lines.line))
    line_patients = plate_lines.drop_duplicates("line").set_index("line").loc[lines, "patient"]
    patients = list(dict.fromkeys(line_patients))
    scale = float(np.median(plate_rows.vehicle_level))
    index = FitIndex(
        patients=patients,
        lines=lines,
        plates=plates,
        line_patient=np.array([patients.index(p) for p in line_patients]),
        plate_line=np.array([lines.index(l) for l in plate_lines.line]),
        wells=wells,
        scale=scale,
        x_min=float(wells.x.min()),
        x_max=float(wells.x.max()),
        batch_levels={f: sorted(set(plate_lines[f].astype(str))) for f in batch_factors},
    )
    n_wells, n_plates = _bucket(len(wells), 64, WELLS_PER_OCTAVE), _bucket(len(plates), 4)
    n_lines, n_patients = _bucket(len(lines), 2), _bucket(len(patients), 2)
    n_levels = _bucket(max([len(v) for v in index.batch_levels.values()], default=1), 2)

    def pad(values, size, fill):
        values = np.asarray(values, dtype=float if not isinstance(fill, int) else np.int32)
        return np.concatenate([values, np.full(size - len(values), fill, dtype=values.dtype)])

    plate_batch = [[levels.index(str(v)) for v in plate_lines[f]] for f, levels in index.batch_levels.items()]
    sizes = {"patients": n_patients, "lines": n_lines, "plates": n_plates}
    data = DrugData(
        x=pad(wells.x, n_wells, index.x_min),
        y=pad(wells.signal / scale, n_wells, 1.0),
        plate=pad([plates.index(p) for p in wells.plate], n_wells, 0),
        mask=pad(np.ones(len(wells)), n_wells, 0.0).astype(bool),
        plate_line=pad(index.plate_line, n_plates, 0),
        plate_batch=np.array([pad(row, n_plates, 0) for row in plate_batch], dtype=np.int32).reshape(
            len(batch_factors), n_plates),
        line_patient=pad(index.line_patient, n_lines, 0),
        log_gain_loc=pad(np.log(plate_rows.vehicle_level / scale), n_plates, 0.0),
        log_gain_sd=pad(plate_rows.log_gain_sd, n_plates, 1.0),
        logit_floor_loc=pad(plate_rows.logit_floor_loc, n_plates, FLOOR_PRIOR[0]),
        logit_floor_sd=pad(plate_rows.logit_floor_sd, n_plates, FLOOR_PRIOR[1]),
        x_mid=np.float64((index.x_min + index.x_max) / 2),
        # All centred until sampling.choose_parametrisation decides per element.
        centred={site: np.ones(sizes[level]) for level, sites in LEVEL_SITES.items() for site in sites},
        n_patients=n_patients,
        n_batch_levels=n_levels,
    )
    return data, index


# --- inference (sampling.py) --------------------------------------------------------


def sample(data: DrugData, index: FitIndex, settings: FitSettings, seed: int, label: str = "fit"):
    """Posterior draws (chain, draw, ...) of the padded model, sampler statistics,
    the parametrisation used and the record of how the fit was made. NUTS is
    checked with ``diagnostics`` as it samples (sampling.ladder); SVI by its
    Pareto k, and refitted with NUTS where it fails and ``svi_check`` says so."""
    from . import sampling

    if settings.method == "nuts":
        return sampling.sample_nuts(data, settings, seed, nuts_check(index), label)
    svi = sampling.sample_svi(data, settings, seed, label)
    checked = svi[3]
    if checked["checks"] == "pass" or settings.svi_check == "report":
        return svi
    log.warning("%s: SVI's Pareto k %.2f > %s: refitting with NUTS (fit.svi_check: refit)",
                label, checked["pareto_k"], sampling.PARETO_K_MAX)
    *nuts, record = sampling.sample_nuts(data, settings, seed, nuts_check(index), label)
    path = f"{checked['path']}: refitted with NUTS | {record['path']}"
    return *nuts, record | {"path": path, "pareto_k": checked["pareto_k"]}


def nuts_check(index: FitIndex) -> Callable:
    """The checks each NUTS run of a drug gets: ``diagnostics`` of its draws without the padding."""
    return lambda samples, stats: diagnostics(draws_as_inference_data(unpad(samples, index), stats))


def batch_sites(index: FitIndex) -> dict[str, str]:
    """The per-level sites of each batch factor, with the factor they belong to."""
    return {f"{kind}_{factor}": factor for factor in index.batch_levels for kind in BATCH_LEVEL_SITES}


def unpad(samples: dict, index: FitIndex) -> dict:
    members = {"patient": index.patients, "line": index.lines, "plate": index.plates}
    sizes = {site: len(members[dim]) for dim, sites in SITES_BY_DIM.items() for site in sites}
    sizes |= {s: len(index.batch_levels[f]) for s, f in batch_sites(index).items()}
    return {k: (v[..., : sizes[k]] if k in sizes else v) for k, v in samples.items() if k != "y"}


class NothingToFit(ValueError):
    """The drug has no wells to fit: the workflow records it as not fitted."""


def fit_drug(
    screen: xr.Dataset, drug: str, priors: pd.DataFrame, plates: list[str], settings: FitSettings,
    left_out: dict[str, str] | None = None,
) -> az.InferenceData:
    """Fit one drug across every given plate that carries it; ``left_out``
    names plates taken out of an earlier fit, with why, for the fit's record."""
    import numpyro

    numpyro.enable_x64()
    from . import sampling

    wells = drug_wells(screen, drug, plates, settings.batch_factors)
    if wells.empty:
        raise NothingToFit(
            f"drug {drug!r} has no usable treated wells on the {len(plates)} plates that QC passed for fitting")
    data, index = model_data(wells, priors, settings.batch_factors)
    seed = drug_seed(settings.seed, drug)
    log.info(
        "drug %s: %d wells, %d plates, %d lines, %d patients; %s, seed %d",
        drug, len(wells), len(index.plates), len(index.lines), len(index.patients), settings.method, seed,
    )
    samples, stats, chosen, record = sample(data, index, settings, seed, label=f"drug {drug}")
    loglik, y_rep = sampling.well_draws(samples, data, chosen, settings, seed, len(wells))
    idata = _inference_data(drug, unpad(samples, index), stats, loglik, y_rep, index, settings,
                            approximate=record["method"] == "svi")
    if left_out:
        record["path"] += " | refitted without " + "; ".join(f"{plate} ({why})" for plate, why in left_out.items())
    _record_fit(idata, chosen, record, index)
    # what the wells' signal is (screen.dip_response), for the plots' axes
    response = {name: screen["signal"].attrs[name] for name in ("response", "dip_window_h")
                if name in screen["signal"].attrs}
    for group in idata.groups():
        getattr(idata, group).attrs.update(response, fingerprint=fingerprint(wells, priors, settings))
    return idata


def _record_fit(idata: az.InferenceData, chosen, record: dict, index: FitIndex) -> None:
    """Which parametrisation and ladder rung produced the fit, and whether it
    passed its checks: per element in constant_data, in words in the attrs."""
    members = {"patient": index.patients, "line": index.lines, "plate": index.plates}
    sizes = {}
    for level, sites in LEVEL_SITES.items():
        dim = LEVEL_DIM[level]
        names = members[dim]
        for site in sites:
            sizes[site] = len(names)
            idata.constant_data[f"kappa_{site}"] = (dim, chosen.kappa[site][: len(names)])
            idata.constant_data[f"centred_{site}"] = (dim, chosen.centred[site][: len(names)].astype(np.int8))
    attrs = {"parametrisation": f"{chosen.rule}: {chosen.describe(sizes)}", "fit_rung": record["rung"],
             "fit_path": record["path"], "fit_checks": record["checks"]}
    if "pareto_k" in record:
        attrs["svi_pareto_k"] = record["pareto_k"]
    for group in idata.groups():
        getattr(idata, group).attrs.update(attrs)


def _inference_data(drug, samples, stats, loglik, y_rep, index: FitIndex, settings,
                    approximate: bool) -> az.InferenceData:
    import arviz as az

    dims = {site: [dim] for dim, sites in SITES_BY_DIM.items() for site in sites}
    dims |= {"y": ["obs"]} | {s: [f"{f}_level"] for s, f in batch_sites(index).items() if s in samples}
    wells = index.wells
    coords = {
        "patient": index.patients,
        "line": index.lines,
        "plate": index.plates,
        "obs": np.arange(len(wells)),
    } | {f"{factor}_level": levels for factor, levels in index.batch_levels.items()}
    line_of = dict(zip(index.lines, [index.patients[i] for i in index.line_patient]))
    idata = az.from_dict(
        posterior=samples,
        sample_stats=None if approximate else stats,
        log_likelihood={"y": loglik},
        posterior_predictive={"y": y_rep * index.scale},
        observed_data={"y": wells.signal.to_numpy()},
        constant_data={
            "log10_conc_molar": wells.x.to_numpy(),
            "obs_plate": wells.plate.to_numpy().astype(str),
            "obs_line": wells.line.to_numpy().astype(str),
            "obs_well": wells.well.to_numpy().astype(str),
            "line_patient": np.array([line_of[l] for l in index.lines]),
        },
        coords=coords,
        dims=dims | {k: ["obs"] for k in ["log10_conc_molar", "obs_plate", "obs_line", "obs_well"]}
        | {"line_patient": ["line"]},
    )
    attrs = {
        "drug": drug,
        "method": "SVI (AutoLowRankMultivariateNormal), approximate" if approximate else "NUTS",
        "approximate": int(approximate),
        "signal_scale": index.scale,
        "x_min_log10_molar": index.x_min,
        "x_max_log10_molar": index.x_max,
        "seed": drug_seed(settings.seed, drug),
    }
    for group in idata.groups():
        getattr(idata, group).attrs.update(attrs)
    return idata
