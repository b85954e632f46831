"""Plate quality control, from each plate's control wells.

Pure functions on the screen Dataset (plate x well, see :mod:`pdoscreen.screen`):
per-plate metrics and a pass/warn/fail decision against configurable
thresholds; normalised signal is :mod:`pdoscreen.normalise`'s. Reading and
writing happen in :mod:`pdoscreen.cli`. Formulas and thresholds are explained
in ``docs/qc.md``.

Wells whose signal is missing (any non-empty ``flag``: overflow, not measured,
...) are left out of every statistic, and so are control wells that stand out
from their plate's other controls of the same role (robust z-score, see
:func:`control_outliers`): those get the well flag ``control_outlier`` in the
per-well table, which the plate priors read. Standard deviations are sample SDs
(n - 1 in the denominator); at least two measured wells of a role are needed
for any spread-based metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InputError
from .geometry import geometry_for, row_index
from .layouts.dispense import FAILED as DISPENSE_FAILED

# Scales the median absolute deviation to the SD of a normal distribution.
MAD_TO_SD = 1.4826
# Rousseeuw & Croux 1993's Qn scale: 2.2219 x the k-th smallest pairwise
# distance scales it to the SD of a normal distribution, times a small-sample
# factor (tabulated up to 9 values, n / (n + 1.4) or n / (n + 3.8) above; on
# simulated normal samples of 4 to 19 values its mean is within 1% of the SD).
QN_TO_SD = 2.2219
QN_SMALL_SAMPLE = {2: 0.399, 3: 0.994, 4: 0.512, 5: 0.844, 6: 0.611, 7: 0.857, 8: 0.669, 9: 0.872}
# Scales the mean absolute deviation from the median to the SD of a normal
# distribution: the scale when over half the wells tie (Qn 0).
MEAN_AD_TO_SD = 1.2533
MIN_WELLS_FOR_SPREAD = 2
# A control well is judged against at least 3 others of its role.
MIN_WELLS_FOR_OUTLIERS = 4
NOT_MEASURED = "not_measured"  # the readers' flag for wells the instrument did not read
CONTROL_OUTLIER = "control_outlier"  # the well flag QC gives a control well far from its plate's others
CONTROL_ROLES = ("vehicle", "kill")
STATUSES = ("pass", "warn", "fail")

# plates.tsv, column for column: the columns first, then ours.
TSV_COLUMNS = {
    "plate": "plate",
    "patient": "patient",
    "line": "line",
    "z_prime": "z_prime",
    "z_prime_robust": "z_prime_robust",
    "ssmd": "ssmd",
    "signal_window": "signal_window",
    "vehicle_cv": "vehicle_cv_pct",
    "kill_cv": "kill_cv_pct",
    "edge_ratio": "edge_ratio",
    "n_flagged_wells": "n_flagged_wells",
    "status": "status",
    "reasons": "reasons",
    "row_trend_pct": "row_trend_pct",
    "column_trend_pct": "column_trend_pct",
    "n_missing_wells": "n_missing_wells",
    "n_dispense_failed": "n_dispense_failed",
    "n_control_outliers": "n_control_outliers",
    "fit": "fit",
    "exclusion": "exclusion",
}
# wells.tsv: one row per well QC flags, with the reason.
WELL_COLUMNS = ["plate", "well", "role", "signal", "robust_z", "flag", "reason"]
NO_KILL_REASON = "no kill-control wells: Z', SSMD and signal window need them"
SCREEN_NEEDS = ["signal", "flag", "role", "row", "column", "patient", "line", "exclude"]


@dataclass(frozen=True)
class Thresholds:
    """QC decision thresholds; the defaults match ``qc:`` in the workflow's
    config schema (a test keeps the two in step)."""

    z_prime_warn: float = 0.5  # Z' below this warns
    z_prime_fail: float = 0.0  # Z' below this fails
    vehicle_cv_warn_pct: float = 15.0  # vehicle CV above this warns
    vehicle_cv_fail_pct: float = 25.0  # vehicle CV above this fails
    ssmd_warn: float = 6.0  # SSMD below this warns
    ssmd_fail: float = 3.0  # SSMD below this fails
    edge_deviation_warn_pct: float = 10.0  # |edge_ratio - 1| above this (in %) warns
    control_outlier_z: float = 5.0  # a control well with |robust z| above this is left out
    control_outliers_fail_pct: float = 25.0  # more than this % of a role's control wells out fails
    fit_failed_plates: bool = False  # fit plates whose QC failed anyway

    @classmethod
    def from_config(cls, qc: dict | None) -> "Thresholds":
        """From the workflow config's ``qc`` mapping; unknown keys are errors."""
        qc = dict(qc or {})
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(qc) - set(known))
        if unknown:
            raise InputError(f"unknown qc setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        try:
            values = {k: _setting(v, known[k]) for k, v in qc.items()}
        except (TypeError, ValueError) as error:
            raise InputError(f"bad qc setting: {error}") from None
        thresholds = cls(**values)
        thresholds.check_order()
        return thresholds

    def check_order(self) -> None:
        pairs = [
            ("z_prime_fail", "z_prime_warn"),
            ("vehicle_cv_warn_pct", "vehicle_cv_fail_pct"),
            ("ssmd_fail", "ssmd_warn"),
        ]
        for low, high in pairs:
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value > high_value:
                raise InputError(f"qc setting {low} = {low_value} must not exceed {high} = {high_value}")


def _setting(value, kind: str):
    if kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{value!r} is not true or false")
        return value
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


@dataclass
class PlateMetrics:
    """One plate's QC numbers; ``notes`` say why a metric is NaN."""

    z_prime: float = np.nan
    z_prime_robust: float = np.nan
    ssmd: float = np.nan
    signal_window: float = np.nan
    vehicle_cv_pct: float = np.nan
    kill_cv_pct: float = np.nan
    edge_ratio: float = np.nan
    row_trend_pct: float = np.nan
    column_trend_pct: float = np.nan
    n_flagged_wells: int = 0
    n_missing_wells: int = 0
    n_dispense_failed: int = 0
    n_control_outliers: int = 0
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- statistics


def sample_sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if len(values) >= MIN_WELLS_FOR_SPREAD else np.nan


def robust_sd(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation from the median."""
    if len(values) < MIN_WELLS_FOR_SPREAD:
        return np.nan
    return MAD_TO_SD * float(np.median(np.abs(values - np.median(values))))


def qn_sd(values: np.ndarray) -> float:
    """Rousseeuw & Croux's Qn estimate of the SD: like 1.4826 MAD it ignores up
    to half the values, but it varies less from plate to plate (on 16 clean
    wells its log-scale SD is 0.25 against the MAD's 0.32), so a tight middle
    half does not turn ordinary wells into outliers."""
    n = len(values)
    if n < MIN_WELLS_FOR_SPREAD:
        return np.nan
    first, second = np.triu_indices(n, 1)
    distances = np.abs(values[first] - values[second])
    half = n // 2 + 1
    k = half * (half - 1) // 2
    factor = QN_SMALL_SAMPLE.get(n, n / (n + 1.4) if n % 2 else n / (n + 3.8))
    return QN_TO_SD * factor * float(np.partition(distances, k - 1)[k - 1])


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / robust SD, the robust SD being Qn (:func:`qn_sd`), or
    1.2533 x the mean absolute deviation from the median where over half the
    values tie; NaN where all values are equal."""
    deviation = values - np.median(values)
    scale = qn_sd(values)
    if scale == 0:
        scale = MEAN_AD_TO_SD * float(np.mean(np.abs(deviation)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return deviation / scale if scale > 0 else np.full(len(values), np.nan)


def cv_pct(values: np.ndarray) -> float:
    """Coefficient of variation, in percent of the mean."""
    if len(values) < MIN_WELLS_FOR_SPREAD:
        return np.nan
    return 100.0 * sample_sd(values) / float(np.mean(values))


def z_prime(vehicle: np.ndarray, kill: np.ndarray) -> float:
    """Zhang et al. 1999: 1 - 3 (sd_v + sd_k) / |mean_v - mean_k|."""
    spread = sample_sd(vehicle) + sample_sd(kill)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(1.0 - 3.0 * spread / abs(np.mean(vehicle) - np.mean(kill)))


def z_prime_robust(vehicle: np.ndarray, kill: np.ndarray) -> float:
    """Z' with medians for means and 1.4826 MAD for SDs: a few wild wells do not move it."""
    spread = robust_sd(vehicle) + robust_sd(kill)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(1.0 - 3.0 * spread / abs(np.median(vehicle) - np.median(kill)))


def ssmd(vehicle: np.ndarray, kill: np.ndarray) -> float:
    """Strictly standardised mean difference (Zhang 2007), signed: negative
    when the kill control reads above the vehicle (swapped or failed controls)."""
    spread = np.sqrt(sample_sd(vehicle) ** 2 + sample_sd(kill) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((np.mean(vehicle) - np.mean(kill)) / spread)


def signal_window(vehicle: np.ndarray, kill: np.ndarray) -> float:
    """Fold difference mean_v / mean_k (the 'signal-to-background' ratio)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.mean(vehicle) / np.mean(kill))


# ---------------------------------------------------------------- one plate


@dataclass(frozen=True)
class PlateWells:
    """One plate's wells as flat arrays in the screen's well order."""

    plate: str
    well: np.ndarray  # well names, e.g. "B03"
    signal: np.ndarray
    flag: np.ndarray
    role: np.ndarray
    row: np.ndarray  # 0-based row index
    column: np.ndarray  # 0-based column index
    n_rows: int
    n_columns: int

    def measured(self, role: str) -> np.ndarray:
        """Mask of unflagged wells of ``role`` with a reading (a reader's flag
        leaves the signal NaN; a layout's ``dispense_failed`` keeps the reading)."""
        return (self.role == role) & np.isfinite(self.signal) & (self.flag == "")

    def values(self, role: str) -> np.ndarray:
        return self.signal[self.measured(role)]

    def without(self, left_out: np.ndarray) -> "PlateWells":
        """The plate with the wells of the mask ``left_out`` unread (NaN)."""
        return replace(self, signal=np.where(left_out, np.nan, self.signal))

    @property
    def outer_ring(self) -> np.ndarray:
        return (
            (self.row == 0)
            | (self.row == self.n_rows - 1)
            | (self.column == 0)
            | (self.column == self.n_columns - 1)
        )


def check_screen(screen: xr.Dataset) -> None:
    missing = [name for name in SCREEN_NEEDS if name not in screen.variables]
    if missing:
        raise InputError(f"the screen lacks {', '.join(missing)}: is it a pdoscreen screen store?")


def plate_wells(screen: xr.Dataset, plate: str) -> PlateWells:
    one = screen.sel(plate=plate)
    geometry = geometry_for(screen.sizes["well"])
    return PlateWells(
        plate=str(plate),
        well=screen["well"].values.astype(str),
        signal=one["signal"].values.astype(float),
        flag=one["flag"].values.astype(str),
        role=one["role"].values.astype(str),
        row=np.array([row_index(r) for r in screen["row"].values]),
        column=screen["column"].values.astype(int) - 1,
        n_rows=geometry.n_rows,
        n_columns=geometry.n_columns,
    )


def edge_ratio(wells: PlateWells) -> tuple[float, str | None]:
    """Median of outer-ring vehicle wells / median of interior vehicle wells."""
    vehicle = wells.measured("vehicle")
    outer, inner = wells.signal[vehicle & wells.outer_ring], wells.signal[vehicle & ~wells.outer_ring]
    if len(outer) == 0 or len(inner) == 0:
        where = "outer ring" if len(outer) == 0 else "interior"
        return np.nan, f"edge ratio not computed: no measured vehicle wells in the plate's {where}"
    return float(np.median(outer) / np.median(inner)), None


def spatial_trends_pct(wells: PlateWells) -> tuple[float, float, str | None]:
    """Least-squares gradient of the vehicle wells across the plate, in percent
    of the vehicle median per row and per column, fitted jointly
    (signal / median = a + b row + c column) so that an uneven placement of
    vehicle wells does not pass a row gradient off as a column one."""
    vehicle = wells.measured("vehicle")
    if vehicle.sum() < 3:
        return np.nan, np.nan, "row and column trends not computed: fewer than 3 measured vehicle wells"
    relative = wells.signal[vehicle] / np.median(wells.signal[vehicle])
    axes = {"row": wells.row[vehicle].astype(float), "column": wells.column[vehicle].astype(float)}
    # A direction in which all vehicle wells sit on one line has no slope to fit.
    varying = [name for name, x in axes.items() if np.ptp(x) > 0]
    design = np.column_stack([np.ones(len(relative))] + [axes[name] - axes[name].mean() for name in varying])
    coef, _, rank, _ = np.linalg.lstsq(design, relative, rcond=None)
    if rank < design.shape[1]:
        return np.nan, np.nan, "row and column trends not computed: vehicle wells' rows and columns are collinear"
    slopes = {name: 100.0 * float(c) for name, c in zip(varying, coef[1:])}
    fixed = [name for name in axes if name not in slopes]
    note = f"{' and '.join(fixed)} trend not computed: all vehicle wells in one {fixed[0]}" if fixed else None
    return slopes.get("row", np.nan), slopes.get("column", np.nan), note


def control_metrics(vehicle: np.ndarray, kill: np.ndarray) -> tuple[dict, list[str]]:
    """Z', robust Z', SSMD, signal window and both CVs, with why any is NaN."""
    notes = []
    metrics = {"vehicle_cv_pct": cv_pct(vehicle)}
    if len(vehicle) < MIN_WELLS_FOR_SPREAD:
        notes.append(f"only {len(vehicle)} measured vehicle well(s): vehicle spread not computed")
    if len(kill) == 0:
        notes.append(NO_KILL_REASON)
        return metrics, notes
    metrics["signal_window"] = signal_window(vehicle, kill) if len(vehicle) else np.nan
    if len(kill) < MIN_WELLS_FOR_SPREAD:
        notes.append(f"only {len(kill)} measured kill well(s): Z', SSMD and kill CV need 2")
    if min(len(vehicle), len(kill)) < MIN_WELLS_FOR_SPREAD:
        return metrics, notes
    metrics.update(
        z_prime=z_prime(vehicle, kill),
        z_prime_robust=z_prime_robust(vehicle, kill),
        ssmd=ssmd(vehicle, kill),
        kill_cv_pct=cv_pct(kill),
    )
    return metrics, notes


def well_counts(wells: PlateWells) -> dict[str, int]:
    """Wells the layout uses (role not empty) that carry an instrument marker
    (overflow, saturated, ...), those the instrument did not read, and those
    whose dispense failed (the dispenser log's flag)."""
    used = wells.role != "empty"
    marked = used & ~np.isin(wells.flag, ["", NOT_MEASURED, DISPENSE_FAILED])
    return {
        "n_flagged_wells": int(marked.sum()),
        "n_missing_wells": int((used & (wells.flag == NOT_MEASURED)).sum()),
        "n_dispense_failed": int((used & (wells.flag == DISPENSE_FAILED)).sum()),
    }


def control_outliers(wells: PlateWells, z_max: float) -> pd.DataFrame:
    """Control wells far from the plate's other measured wells of their role
    (|robust z| > ``z_max``), as rows of ``wells.tsv``; a role with fewer than
    MIN_WELLS_FOR_OUTLIERS measured wells is not judged."""
    records = []
    for role in CONTROL_ROLES:
        measured = wells.measured(role)
        if measured.sum() < MIN_WELLS_FOR_OUTLIERS:
            continue
        z = robust_z(wells.signal[measured])
        far = np.abs(np.nan_to_num(z)) > z_max
        for well, signal, score in zip(wells.well[measured][far], wells.signal[measured][far], z[far]):
            reason = f"{role} well {well}: robust z = {score:+.1f} among the plate's {measured.sum()} {role} wells"
            records.append((wells.plate, well, role, signal, score, CONTROL_OUTLIER, f"{reason} (|z| > {z_max:g})"))
    return pd.DataFrame(records, columns=WELL_COLUMNS)


def plate_metrics(wells: PlateWells, outliers: pd.DataFrame) -> PlateMetrics:
    """The plate's metrics with its control ``outliers`` left out (counts
    of flagged and missing wells over all its wells)."""
    kept = wells.without(np.isin(wells.well, outliers["well"]))
    controls, notes = control_metrics(kept.values("vehicle"), kept.values("kill"))
    ratio, edge_note = edge_ratio(kept)
    row_trend, column_trend, trend_note = spatial_trends_pct(kept)
    notes += [n for n in (edge_note, trend_note) if n]
    notes += list(outliers["reason"])
    counts = well_counts(wells)
    if counts["n_missing_wells"]:  # a partial export: legitimate, never silent
        notes.append(f"n_missing_wells: {counts['n_missing_wells']} used wells not in the export (not measured)")
    return PlateMetrics(
        **controls,
        edge_ratio=ratio,
        row_trend_pct=row_trend,
        column_trend_pct=column_trend,
        **counts,
        n_control_outliers=len(outliers),
        notes=notes,
    )


# ---------------------------------------------------------------- decisions


def _fmt(value: float) -> str:
    return f"{value:.3g}" if np.isfinite(value) else str(value)


def check_low(name: str, value: float, warn: float, fail: float, unit: str = "") -> tuple[str, str | None]:
    """A metric where higher is better: below ``fail`` fails, below ``warn`` warns."""
    if np.isnan(value):
        return "pass", None
    for status, limit in (("fail", fail), ("warn", warn)):
        if value < limit:
            return status, f"{name} = {_fmt(value)}{unit} < {_fmt(limit)}{unit} ({status})"
    return "pass", None


def check_high(name: str, value: float, warn: float, fail: float, unit: str = "") -> tuple[str, str | None]:
    """A metric where lower is better: above ``fail`` fails, above ``warn`` warns."""
    if np.isnan(value):
        return "pass", None
    for status, limit in (("fail", fail), ("warn", warn)):
        if value > limit:
            return status, f"{name} = {_fmt(value)}{unit} > {_fmt(limit)}{unit} ({status})"
    return "pass", None


def check_edge(ratio: float, warn_pct: float) -> tuple[str, str | None]:
    deviation_pct = 100.0 * abs(ratio - 1.0)
    if np.isnan(ratio) or deviation_pct <= warn_pct:
        return "pass", None
    return "warn", (
        f"edge ratio = {_fmt(ratio)}: outer-ring vehicle wells differ from interior ones by "
        f"{deviation_pct:.3g}% > {_fmt(warn_pct)}% (warn)"
    )


def check_control_outliers(
    wells: PlateWells, candidates: pd.DataFrame, fail_pct: float
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The outlier ``candidates`` to leave out, and a failed check for each
    control role where they are more than ``fail_pct`` % of its measured wells:
    those controls are bad as a group, so no single well is blamed and all of
    them stay in the statistics."""
    checks, group_failed = [], []
    for role in CONTROL_ROLES:
        n_out, n_measured = int((candidates["role"] == role).sum()), int(wells.measured(role).sum())
        share_pct = 100.0 * n_out / n_measured if n_measured else 0.0
        if share_pct > fail_pct:
            group_failed.append(role)
            checks.append(("fail", f"{n_out} of {n_measured} {role} wells stand out from the others' median: "
                                   f"{share_pct:.3g}% > {_fmt(fail_pct)}%, the {role} wells are bad as a group (fail)"))
    return candidates[~candidates["role"].isin(group_failed)].reset_index(drop=True), checks


def classify(metrics: PlateMetrics, thresholds: Thresholds, outlier_checks=()) -> tuple[str, list[str]]:
    """Worst status over the checks (the metrics' and ``outlier_checks``), and
    a reason for each one that warned or failed."""
    t = thresholds
    checks = [
        *outlier_checks,
        check_low("Z'", metrics.z_prime, t.z_prime_warn, t.z_prime_fail),
        check_high("vehicle CV", metrics.vehicle_cv_pct, t.vehicle_cv_warn_pct, t.vehicle_cv_fail_pct, "%"),
        check_low("SSMD", metrics.ssmd, t.ssmd_warn, t.ssmd_fail),
        check_edge(metrics.edge_ratio, t.edge_deviation_warn_pct),
    ]
    if np.isnan(metrics.vehicle_cv_pct):
        # Without a vehicle level the plate cannot be normalised or judged.
        checks.append(("fail", "vehicle CV not computable: fewer than 2 measured vehicle wells (fail)"))
    status = max((s for s, _ in checks), key=STATUSES.index)
    return status, [reason for _, reason in checks if reason]


TIME_ZERO_REASON = "time-zero plate (timepoint_h 0): read before the drug acted, the starting level of its line's GR"


def fit_decision(status: str, excluded: str, failed_reasons: list[str], thresholds: Thresholds,
                 time_zero: bool = False) -> tuple[bool, str]:
    """Whether the model fits the plate, and why not."""
    why = [TIME_ZERO_REASON] if time_zero else []
    if excluded:
        why.append(f"excluded in sample sheet: {excluded}")
    if status == "fail" and not thresholds.fit_failed_plates:
        why.append("QC fail: " + "; ".join(failed_reasons))
    return not why, "; ".join(why)


def plate_row(screen: xr.Dataset, plate: str, thresholds: Thresholds) -> tuple[dict, pd.DataFrame]:
    """The plate's row of ``plates.tsv`` and its rows of ``wells.tsv``."""
    wells = plate_wells(screen, plate)
    candidates = control_outliers(wells, thresholds.control_outlier_z)
    outliers, outlier_checks = check_control_outliers(wells, candidates, thresholds.control_outliers_fail_pct)
    metrics = plate_metrics(wells, outliers)
    status, check_reasons = classify(metrics, thresholds, outlier_checks)
    excluded = str(screen["exclude"].sel(plate=plate).item())
    failed = [r for r in check_reasons if r.endswith("(fail)")]
    time_zero = "timepoint_h" in screen.variables and float(screen["timepoint_h"].sel(plate=plate)) == 0
    fit, exclusion = fit_decision(status, excluded, failed, thresholds, time_zero)
    reasons = ([f"excluded in sample sheet: {excluded}"] if excluded else []) + check_reasons + metrics.notes
    row = asdict(metrics)
    row.pop("notes")
    row.update(
        plate=str(plate),
        patient=str(screen["patient"].sel(plate=plate).item()),
        line=str(screen["line"].sel(plate=plate).item()),
        status=status,
        reasons="; ".join(reasons),
        fit=fit,
        exclusion=exclusion,
    )
    return row, outliers


def screen_qc(screen: xr.Dataset, thresholds: Thresholds | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``plates.tsv`` (one row per plate, in screen order) and ``wells.tsv``
    (one row per well QC flagged, with the flag and the reason)."""
    check_screen(screen)
    thresholds = thresholds or Thresholds()
    rows, flagged = zip(*[plate_row(screen, plate, thresholds) for plate in screen["plate"].values])
    plates = pd.DataFrame(list(rows), columns=list(TSV_COLUMNS.values()))
    wells = pd.concat([pd.DataFrame(columns=WELL_COLUMNS), *flagged], ignore_index=True)
    return plates.rename(columns={v: k for k, v in TSV_COLUMNS.items()}), wells


def plate_qc(screen: xr.Dataset, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """``plates.tsv`` alone (see :func:`screen_qc`)."""
    return screen_qc(screen, thresholds)[0]


def write_plate_qc(table: pd.DataFrame, path) -> None:
    """plates.tsv: NaN written as ``NaN``, booleans as ``true``/``false``."""
    out = table.copy()
    out["fit"] = out["fit"].map({True: "true", False: "false"})
    out.to_csv(path, sep="\t", index=False, na_rep="NaN", float_format="%.6g")


def read_plate_qc(path) -> pd.DataFrame:
    """plates.tsv as written by :func:`write_plate_qc`."""
    try:
        text = {c: str for c in ("plate", "patient", "line", "status", "reasons", "exclusion")}
        table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["NaN"], dtype=text)
    except FileNotFoundError:
        raise InputError("plate QC table not found", file=path) from None
    missing = [c for c in TSV_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"plate QC table lacks column(s) {', '.join(missing)}", file=path)
    table["fit"] = table["fit"].astype(str).str.lower() == "true"
    return table


def plates_to_fit(path) -> list[str]:
    """The plates QC passed for fitting (fit = true in plates.tsv)."""
    qc = read_plate_qc(path)
    return list(qc.loc[qc["fit"], "plate"])


def write_well_flags(table: pd.DataFrame, path) -> None:
    """wells.tsv: the wells QC flagged, one row each."""
    table.to_csv(path, sep="\t", index=False, na_rep="NaN", float_format="%.6g")


def read_well_flags(path) -> pd.DataFrame:
    """wells.tsv as written by :func:`write_well_flags`."""
    try:
        table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["NaN"],
                            dtype={c: str for c in ("plate", "well", "role", "flag", "reason")})
    except FileNotFoundError:
        raise InputError("QC well table not found", file=path) from None
    missing = [c for c in WELL_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"QC well table lacks column(s) {', '.join(missing)}", file=path)
    return table


def with_well_flags(screen: xr.Dataset, flags: pd.DataFrame) -> xr.Dataset:
    """The screen with the QC flags of ``flags`` (rows of wells.tsv) on its
    wells, where the reader and layout left none: every stage that keeps only
    unflagged wells then leaves them out (the plate priors among them)."""
    flag = screen["flag"].values.astype(object)
    plates, wells = list(screen["plate"].values), list(screen["well"].values)
    for plate, well, why in flags[["plate", "well", "flag"]].itertuples(index=False):
        if plate not in plates or well not in wells:
            raise InputError(f"QC flags a well the screen does not have: plate {plate}, well {well}")
        i, j = plates.index(plate), wells.index(well)
        flag[i, j] = flag[i, j] or why
    screen = screen.copy()
    screen["flag"] = screen["flag"].copy(data=flag.astype(str))
    return screen
