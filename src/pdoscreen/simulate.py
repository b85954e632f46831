"""Simulated screens with known truth, as screen Datasets (no files), for tests,
calibration and benchmarks. The generative process is the model's, with
optional departures (outliers) so that truths need not come from the prior."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .geometry import PlateGeometry, geometry_for, parse_well, row_label
from .metrics import aac, viability


@dataclass(frozen=True)
class Design:
    n_patients: int = 4
    lines_per_patient: int = 2
    plates_per_line: int = 2
    n_doses: int = 9
    top_molar: float = 1e-5
    dilution: float = 3.0
    replicates: int = 3  # wells per dose on a plate
    n_vehicle: int = 16
    n_kill: int = 8
    drugs: tuple[str, ...] = ("drugA",)
    mu_c: float = -7.0
    tau_pat: float = 0.5
    tau_line: float = 0.3
    tau_rep: float = 0.1
    hill: float = 1.2
    residual_viability: float = 0.15
    gain: float = 1e5
    floor: float = 0.03
    sigma_mult: float = 0.07
    sigma_add: float = 0.01
    outlier_fraction: float = 0.0
    flat: bool = False  # no drug effect at all
    # Large screens spread their drugs over a "plate set" per replicate, as real
    # screens do: each plate carries the controls and up to this many drugs
    # (0: every plate carries every drug).
    drugs_per_plate: int = 0
    plate_wells: int = 0  # 96 or 384; 0 picks the smallest that holds a plate's drugs
    # Exceptional responders: (patient index from 0, drug, shift of log10 EC50 in
    # decades[, residual viability]), see truth(). Empty: the screen of the seed as before.
    responders: tuple[tuple, ...] = ()


def _doses(design: Design) -> np.ndarray:
    return design.top_molar / design.dilution ** np.arange(design.n_doses)


def truth(design: Design, rng: np.random.Generator) -> pd.DataFrame:
    """Line-level truth per drug: log10 EC50, Hill slope, residual viability, AAC.

    Each entry of ``design.responders``, ``(k, drug, shift)`` or ``(k, drug,
    shift, residual_viability)``, then moves the log10 EC50 of every line of
    patient ``k`` (from 0: ``P{k + 1}``) for ``drug`` by ``shift`` decades
    (negative: more sensitive; positive: more resistant) and, with a fourth
    element, replaces those lines' drawn residual viability by it (lower: a
    deeper response; near 1: a nearly flat curve). The AAC follows the moved
    curve. Entries are applied in order, after every random draw, so the
    random stream, and every other line and well of the screen, stay as they
    are without them."""
    x = np.log10(_doses(design))
    rows = []
    for drug in design.drugs:
        for k in range(design.n_patients):
            shift = rng.normal(0, design.tau_pat)
            for j in range(design.lines_per_patient):
                c = design.mu_c + shift + rng.normal(0, design.tau_line)
                h = design.hill * np.exp(rng.normal(0, 0.15))
                e = 1.0 if design.flat else float(np.clip(design.residual_viability + rng.normal(0, 0.05), 0.01, 0.9))
                rows.append(
                    dict(
                        drug=drug,
                        patient=f"P{k + 1}",
                        line=f"P{k + 1}-L{j + 1}",
                        log10_ec50=c,
                        hill=h,
                        residual_viability=e,
                        aac=float(aac(c, h, e, x.min(), x.max())),
                    )
                )
    table = pd.DataFrame(rows)
    for responder in design.responders:
        _apply_responder(table, design, responder, x)
    return table


def _apply_responder(table: pd.DataFrame, design: Design, responder: tuple, x: np.ndarray) -> None:
    """One entry of ``Design.responders`` applied to the truth table, in place."""
    if len(responder) not in (3, 4):
        raise ValueError(f"responder {responder!r}: expected (patient index, drug, shift[, residual viability])")
    k, drug, shift = responder[:3]
    if not 0 <= int(k) < design.n_patients:
        raise ValueError(f"responder {responder!r}: patient index outside 0..{design.n_patients - 1}")
    if drug not in design.drugs:
        raise ValueError(f"responder {responder!r}: {drug!r} is not among the design's drugs")
    hit = ((table["patient"] == f"P{int(k) + 1}") & (table["drug"] == drug)).to_numpy()
    table.loc[hit, "log10_ec50"] += float(shift)
    if len(responder) == 4:
        if not 0 < float(responder[3]) <= 1:
            raise ValueError(f"responder {responder!r}: residual viability outside (0, 1]")
        table.loc[hit, "residual_viability"] = float(responder[3])
    rows = table.loc[hit]
    c, h, e = (rows[column].to_numpy(dtype=float) for column in ("log10_ec50", "hill", "residual_viability"))
    table.loc[hit, "aac"] = np.asarray(aac(c, h, e, x.min(), x.max()), dtype=float)


def plate_sets(design: Design) -> list[tuple[str, ...]]:
    """The drugs of each plate of a replicate's plate set (one plate by default)."""
    per_plate = design.drugs_per_plate or len(design.drugs)
    return [design.drugs[i : i + per_plate] for i in range(0, len(design.drugs), per_plate)]


def _geometry(design: Design) -> PlateGeometry:
    if design.plate_wells:
        return geometry_for(design.plate_wells)
    most_drugs = max(len(drugs) for drugs in plate_sets(design))
    return geometry_for(96 if design.n_doses * design.replicates * most_drugs <= 60 else 384)


def _plate_wells(design: Design, geometry: PlateGeometry, drugs: tuple[str, ...]) -> pd.DataFrame:
    roles = ["vehicle"] * design.n_vehicle + ["kill"] * design.n_kill
    treated = [(d, conc) for d in drugs for conc in _doses(design) for _ in range(design.replicates)]
    n_used = len(roles) + len(treated)
    if n_used > geometry.n_wells:
        raise ValueError(f"design needs {n_used} wells, plate has {geometry.n_wells}")
    records = [(r, "DMSO" if r == "vehicle" else "", np.nan) for r in roles]
    records += [("treated", d, conc) for d, conc in treated]
    records += [("empty", "", np.nan)] * (geometry.n_wells - n_used)
    return pd.DataFrame(records, columns=["role", "drug", "concentration_molar"])


def screen(design: Design, seed: int) -> tuple[xr.Dataset, pd.DataFrame]:
    """(screen Dataset shaped like the workflow's screen store, line truth)."""
    rng = np.random.default_rng(seed)
    line_truth = truth(design, rng)
    geometry = _geometry(design)
    sets = plate_sets(design)
    layouts = [_plate_wells(design, geometry, drugs) for drugs in sets]
    plates, signals, meta = [], [], []
    for line in line_truth.drop_duplicates("line").itertuples():
        this_line = line_truth[line_truth.line == line.line]
        for rep in range(1, design.plates_per_line + 1):
            for k, (drugs, layout) in enumerate(zip(sets, layouts), start=1):
                order = rng.permutation(geometry.n_wells)  # each plate its own well positions
                wells = layout.iloc[np.argsort(order)].reset_index(drop=True)
                signals.append(_plate_signal(wells, this_line[this_line.drug.isin(drugs)], design, rng))
                plates.append(wells)
                name = f"{line.line}-R{rep}" + (f"-S{k}" if len(sets) > 1 else "")
                meta.append(dict(plate=name, patient=line.patient, line=line.line, replicate=rep))
    meta = pd.DataFrame(meta)
    stack = lambda column: np.stack([p[column].to_numpy() for p in plates])  # noqa: E731
    ds = xr.Dataset(
        {
            "signal": (("plate", "well"), np.stack(signals)),
            "flag": (("plate", "well"), np.full((len(plates), geometry.n_wells), "")),
        },
        coords={
            "plate": meta.plate.to_numpy(),
            "well": geometry.wells,
            "row": ("well", [row_label(parse_well(w)[0]) for w in geometry.wells]),
            "column": ("well", [parse_well(w)[1] + 1 for w in geometry.wells]),
            "role": (("plate", "well"), stack("role")),
            "drug": (("plate", "well"), stack("drug")),
            "concentration_molar": (("plate", "well"), stack("concentration_molar").astype(float)),
            "patient": ("plate", meta.patient.to_numpy()),
            "line": ("plate", meta.line.to_numpy()),
            "replicate": ("plate", meta.replicate.to_numpy()),
            "exclude": ("plate", np.full(len(meta), "")),
        },
    )
    return ds, line_truth


def _plate_signal(wells: pd.DataFrame, line_truth: pd.DataFrame, design: Design, rng) -> np.ndarray:
    gain = design.gain * np.exp(rng.normal(0, 0.2))
    floor = design.floor * np.exp(rng.normal(0, 0.2))
    # numpy arrays, not pandas columns: large screens call this for thousands of plates
    role, drug_of = wells.role.to_numpy(dtype=object), wells.drug.to_numpy(dtype=object)
    concentration = wells.concentration_molar.to_numpy(dtype=float)
    v = np.where(role == "vehicle", 1.0, 0.0)
    for drug in line_truth.itertuples():
        treated = (role == "treated") & (drug_of == drug.drug)
        c_plate = drug.log10_ec50 + rng.normal(0, design.tau_rep)
        x = np.log10(concentration[treated])
        v[treated] = viability(x, c_plate, drug.hill, drug.residual_viability)
    mean = gain * (floor + (1 - floor) * v)
    sd = np.sqrt((design.sigma_add * gain) ** 2 + (design.sigma_mult * mean) ** 2)
    signal = mean + sd * rng.standard_t(8, size=len(mean))
    outliers = rng.random(len(mean)) < design.outlier_fraction
    signal[outliers] *= rng.choice([0.4, 1.8], size=outliers.sum())
    return np.where(role == "empty", design.gain * design.floor, np.maximum(signal, 1.0))


# ---------------------------------------------------------------- artefacts


def with_failed_wells(screen: xr.Dataset, role: str, n_per_plate: int, factor: float, seed: int) -> xr.Dataset:
    """The screen with ``n_per_plate`` wells of ``role`` on every plate, drawn
    at random, reading ``factor`` times their signal: a bubble or a stray well
    (one well), a failed dispense (many)."""
    rng = np.random.default_rng(seed)
    hit = np.zeros(screen["signal"].shape, dtype=bool)
    for i, roles in enumerate(screen["role"].values):
        hit[i, rng.choice(np.flatnonzero(roles == role), size=n_per_plate, replace=False)] = True
    return screen.assign(signal=screen["signal"].where(~hit, screen["signal"] * factor))


# ---------------------------------------------------------------- growth over time


@dataclass(frozen=True)
class GrowthCurve:
    """Cells of one line under one drug, counted over time (hours after drug
    addition). Untreated cells double ``control_rate`` times per hour. From
    ``delay_h`` on, the drug moves a well's rate towards ``min_rate`` (below 0:
    the drug kills) along a Hill curve in concentration: the drug-induced
    proliferation (DIP) rate of Harris et al. 2016. Before it, every well grows
    as the vehicle wells do. Counts carry multiplicative noise (``noise_cv``)."""

    control_rate: float = 1 / 30  # doublings per hour
    min_rate: float = -1 / 60
    log10_ec50: float = -7.0
    hill: float = 1.0
    n_doses: int = 9
    top_molar: float = 1e-5
    dilution: float = 3.0
    replicates: int = 3
    n_vehicle: int = 8
    hours: tuple[float, ...] = tuple(float(h) for h in range(0, 121, 8))
    delay_h: float = 24.0
    start_count: float = 1000.0
    noise_cv: float = 0.03


def dip_rate_truth(curve: GrowthCurve, concentration_molar: np.ndarray) -> np.ndarray:
    """The true DIP rate (doublings per hour) at each concentration (0: vehicle):
    the control rate times the model's viability curve, whose residual is
    min_rate / control_rate."""
    with np.errstate(divide="ignore"):
        x = np.log10(np.asarray(concentration_molar, dtype=float))
    return curve.control_rate * viability(x, curve.log10_ec50, curve.hill, curve.min_rate / curve.control_rate)


def _doublings(curve: GrowthCurve, rate: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """log2 of the count over the start count, per (well, time)."""
    before = np.minimum(hours, curve.delay_h) * curve.control_rate
    return before[None, :] + np.maximum(hours - curve.delay_h, 0)[None, :] * np.asarray(rate)[:, None]


def gr_truth(curve: GrowthCurve, concentration_molar: np.ndarray, at_h: float) -> np.ndarray:
    """The true GR value at ``at_h`` against the count at time 0 (Hafner et al.
    2016): 2^(log2(x / x0) / log2(x_ctrl / x0)) - 1."""
    hours = np.array([at_h], dtype=float)
    treated = _doublings(curve, dip_rate_truth(curve, concentration_molar), hours)[:, 0]
    control = _doublings(curve, np.array([curve.control_rate]), hours)[0, 0]
    return 2.0 ** (treated / control) - 1.0


def growth_course(curve: GrowthCurve, seed: int) -> xr.Dataset:
    """One curve's time course: ``signal`` (counts) over (``well``, ``time``),
    time in hours after drug addition, as ``growth.dip_rates`` takes it; the
    vehicle wells first, then each dose's replicates, with ``role`` and
    ``concentration_molar`` (0 for vehicle) per well."""
    rng = np.random.default_rng(seed)
    doses = curve.top_molar / curve.dilution ** np.arange(curve.n_doses)
    concentration = np.concatenate([np.zeros(curve.n_vehicle), np.repeat(doses, curve.replicates)])
    hours = np.asarray(curve.hours, dtype=float)
    log2_count = np.log2(curve.start_count) + _doublings(curve, dip_rate_truth(curve, concentration), hours)
    counts = 2.0**log2_count * np.exp(rng.normal(0.0, curve.noise_cv, size=log2_count.shape))
    return xr.Dataset(
        {"signal": (("well", "time"), counts)},
        coords={
            "time": ("time", hours, {"units": "h", "origin": "drug addition"}),
            "role": ("well", np.where(concentration > 0, "treated", "vehicle")),
            "concentration_molar": ("well", concentration),
        },
    )


def time_course_screen(design: Design, course: GrowthCurve, seed: int, dip_floor_shift: float = 0.5,
                       well_rate_cv: float = 0.05) -> tuple[xr.Dataset, pd.DataFrame]:
    """A screen read over time, shaped like the screen store with its time
    courses (``course_signal`` over (plate, time, well), ``time_h``; the last
    scan is each plate's ``signal``), and its line truth.

    The plates, wells and line curves are those of :func:`screen` with the
    same seed. A treated well's DIP rate is ``course.control_rate`` times its
    line's curve with residual ``residual_viability - dip_floor_shift`` (below
    0: the drug kills), at its plate's log10 EC50 (sd ``design.tau_rep``
    around the line's); vehicle wells grow at the control rate and kill wells
    lose cells at it. Wells of one dose differ: each rate gets a normal error
    of sd ``well_rate_cv`` times the control rate (0.05: about 8% on the fold
    change over 72 h, as an endpoint read's wells scatter). Counts follow
    ``course``'s scans, delay, start count and noise. The truth gains each
    line's ``dip_log10_ec50`` and ``dip_emax``."""
    rng = np.random.default_rng(seed)
    ds, line_truth = screen(design, seed)
    line_truth = line_truth.assign(
        dip_relative_floor=line_truth.residual_viability - dip_floor_shift,
        dip_log10_ec50=line_truth.log10_ec50,
    )
    line_truth["dip_emax"] = course.control_rate * line_truth.dip_relative_floor
    hours = np.asarray(course.hours, dtype=float)
    rates = np.where(ds.role.values == "kill", -course.control_rate, course.control_rate)
    for i, line in enumerate(ds.line.values):
        for drug in line_truth[line_truth.line == line].itertuples():
            treated = (ds.role.values[i] == "treated") & (ds.drug.values[i] == drug.drug)
            c_plate = drug.log10_ec50 + rng.normal(0, design.tau_rep)
            x = np.log10(ds.concentration_molar.values[i, treated])
            rates[i, treated] *= viability(x, c_plate, drug.hill, drug.dip_relative_floor)
    rates = rates + rng.normal(0.0, well_rate_cv * course.control_rate, size=rates.shape)
    log2_count = np.log2(course.start_count) + _doublings(course, rates.reshape(-1), hours)
    counts = 2.0 ** log2_count * np.exp(rng.normal(0.0, course.noise_cv, size=log2_count.shape))
    counts = counts.reshape(*rates.shape, len(hours)).transpose(0, 2, 1)  # (plate, time, well)
    n_plates = ds.sizes["plate"]
    ds = ds.assign(
        signal=(("plate", "well"), counts[:, -1]),
        course_signal=(("plate", "time", "well"), counts, {"units": "cells"}),
        course_flag=(("plate", "time", "well"), np.full(counts.shape, "")),
        time_h=(("plate", "time"), np.tile(hours, (n_plates, 1)), {"units": "h"}),
    )
    return ds.assign_coords(timepoint_h=("plate", np.full(n_plates, hours[-1]))), line_truth
