"""QC pictures: functions take labelled data and return matplotlib figures;
saving is the caller's business (see cli.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from .geometry import geometry_for, row_index  # noqa: E402
from .qc import Thresholds  # noqa: E402

# Okabe-Ito colours, told apart by colour-blind readers too; markers differ as well.
STATUS_STYLE = {
    "pass": {"color": "#009E73", "marker": "o"},
    "warn": {"color": "#E69F00", "marker": "s"},
    "fail": {"color": "#D55E00", "marker": "X"},
}
OTHER_STATUS = {"color": "#777777", "marker": "o"}
VEHICLE_EDGE = "white"
KILL_EDGE = "#FF4FA0"
# Large screens: a bounded picture; beyond this many plates names would not be legible.
MAX_OVERVIEW_WIDTH_IN = 20.0
MAX_LABELLED_PLATES = 80
# Z' can be hugely negative on a failed plate; below this it is drawn at the
# floor with a downward marker so the other plates stay readable.
Z_PRIME_FLOOR = -1.0


def plate_grid(values: np.ndarray, rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per-well values (any order) to a rows x columns array."""
    grid = np.empty(shape, dtype=values.dtype)
    grid[rows, columns] = values
    return grid


def plate_heatmap(plate: xr.Dataset, status: str) -> plt.Figure:
    """Raw signal of one plate (``screen.sel(plate=...)``) as a heatmap:
    vehicle wells outlined, kill wells hatched, flagged wells crossed, empty
    wells dotted, missing readings grey; the QC status in the title."""
    geometry = geometry_for(plate.sizes["well"])
    shape = (geometry.n_rows, geometry.n_columns)
    rows = np.array([row_index(r) for r in plate["row"].values])
    columns = plate["column"].values.astype(int) - 1
    signal = plate_grid(plate["signal"].values.astype(float), rows, columns, shape)
    role = plate_grid(plate["role"].values.astype(str), rows, columns, shape)
    flag = plate_grid(plate["flag"].values.astype(str), rows, columns, shape)

    # A fixed layout: a layout engine would double the drawing time, and a
    # screen has thousands of plates.
    figure = plt.figure(figsize=(2.2 + 0.36 * shape[1], 2.0 + 0.36 * shape[0]))
    axes = figure.add_axes((0.06, 0.10, 0.78, 0.77))
    colour_axes = figure.add_axes((0.88, 0.14, 0.02, 0.69))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#BBBBBB")
    image = axes.imshow(np.ma.masked_invalid(signal), cmap=cmap, aspect="auto")
    figure.colorbar(image, cax=colour_axes, label="raw signal (instrument units)")
    _mark_roles(axes, role, flag)
    axes.set_xticks(range(shape[1]), [str(c) for c in geometry.columns], fontsize=7)
    axes.set_yticks(range(shape[0]), geometry.rows, fontsize=7)
    axes.xaxis.tick_top()
    figure.text(0.06, 0.975, _heatmap_title(plate), ha="left", va="top", fontsize=10)
    style = STATUS_STYLE.get(status, OTHER_STATUS)
    figure.text(
        0.84, 0.975, f"QC {status}", ha="right", va="top", fontsize=10, color="white", weight="bold",
        bbox={"facecolor": style["color"], "edgecolor": "none", "boxstyle": "round,pad=0.3"},
    )
    axes.legend(
        handles=_role_legend(), loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=5, fontsize=8, frameon=False
    )
    return figure


def _well_boxes(mask: np.ndarray, **style) -> PatchCollection:
    rows, columns = np.nonzero(mask)
    boxes = [Rectangle((c - 0.42, r - 0.42), 0.84, 0.84) for r, c in zip(rows, columns)]
    return PatchCollection(boxes, facecolor="none", match_original=False, **style)


def _mark_roles(axes, role: np.ndarray, flag: np.ndarray) -> None:
    # White on a black rim: visible on dark and on bright wells alike.
    axes.add_collection(_well_boxes(role == "vehicle", edgecolor="black", linewidth=2.8))
    axes.add_collection(_well_boxes(role == "vehicle", edgecolor=VEHICLE_EDGE, linewidth=1.3))
    axes.add_collection(_well_boxes(role == "kill", edgecolor=KILL_EDGE, linewidth=1.2, hatch="////"))
    empty_r, empty_c = np.nonzero(role == "empty")
    axes.plot(empty_c, empty_r, linestyle="none", marker=".", color="#DDDDDD", markersize=3)
    flagged_r, flagged_c = np.nonzero(flag != "")
    axes.plot(flagged_c, flagged_r, linestyle="none", marker="x", color="black", markersize=8, mew=2.2)
    axes.plot(flagged_c, flagged_r, linestyle="none", marker="x", color="white", markersize=6, mew=1.0)


def _heatmap_title(plate: xr.Dataset) -> str:
    title = f"plate {plate['plate'].item()}   line {plate['line'].item()}   patient {plate['patient'].item()}"
    if "exclude" in plate.coords and str(plate["exclude"].item()):
        title += f"\nexcluded in sample sheet: {plate['exclude'].item()}"
    return title


def _role_legend() -> list:
    return [
        Patch(facecolor="#3B528B", edgecolor=VEHICLE_EDGE, lw=1.4, label="vehicle"),
        Patch(facecolor="#3B528B", edgecolor=KILL_EDGE, hatch="////", label="kill"),
        Line2D([], [], linestyle="none", marker=".", color="#999999", label="empty"),
        Line2D([], [], linestyle="none", marker="x", color="black", mew=2, label="flagged"),
        Patch(facecolor="#BBBBBB", label="no reading"),
    ]


def qc_overview(table: pd.DataFrame, thresholds: Thresholds) -> plt.Figure:
    """Z' and vehicle CV per plate (rows of plates.tsv), coloured by status,
    with the warn and fail thresholds drawn."""
    n = len(table)
    figure, (z_axes, cv_axes) = plt.subplots(
        2, 1, figsize=(min(MAX_OVERVIEW_WIDTH_IN, max(6.0, 1.5 + 0.28 * n)), 7.0), sharex=True, layout="constrained"
    )
    x = np.arange(n)
    z_prime = table["z_prime"].to_numpy(float)
    _status_points(z_axes, x, np.maximum(z_prime, Z_PRIME_FLOOR), table["status"], below=z_prime < Z_PRIME_FLOOR)
    _threshold_lines(z_axes, thresholds.z_prime_warn, thresholds.z_prime_fail)
    z_axes.set_ylabel("Z'")
    lowest = np.nanmin(z_prime, initial=thresholds.z_prime_fail)
    z_axes.set_ylim(max(Z_PRIME_FLOOR, min(lowest, thresholds.z_prime_fail - 0.25)) - 0.1, 1.05)
    _note_missing(z_axes, z_prime, "no Z' (no kill-control wells, or too few measured)")
    cv = table["vehicle_cv"].to_numpy(float)
    _status_points(cv_axes, x, cv, table["status"])
    _threshold_lines(cv_axes, thresholds.vehicle_cv_warn_pct, thresholds.vehicle_cv_fail_pct)
    cv_axes.set_ylabel("vehicle CV (%)")
    cv_axes.set_ylim(0, max(np.nanmax(cv, initial=0.0), thresholds.vehicle_cv_fail_pct) * 1.15)
    _note_missing(cv_axes, cv, "no vehicle CV (too few measured vehicle wells)")
    if n <= MAX_LABELLED_PLATES:
        cv_axes.set_xticks(x, table["plate"].astype(str), rotation=90, fontsize=7 if n > 30 else 9)
        cv_axes.set_xlabel("plate")
    else:
        cv_axes.set_xlabel("plate (sample-sheet order; names in results/qc/plates.tsv)")
    figure.legend(handles=_status_legend(), loc="outside lower center", fontsize=8, ncol=5, frameon=False)
    counts = table["status"].value_counts()
    z_axes.set_title(f"Plate QC: {n} plates, " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUS_STYLE))
    return figure


def _status_points(axes, x, y, status: pd.Series, below=None) -> None:
    below = np.zeros(len(x), bool) if below is None else below
    for name in pd.unique(status):
        style = STATUS_STYLE.get(name, OTHER_STATUS)
        chosen = (status == name).to_numpy()
        for clipped, marker in ((False, style["marker"]), (True, "v")):
            pick = chosen & (below == clipped)
            axes.scatter(x[pick], y[pick], color=style["color"], marker=marker, s=45, zorder=3)
    axes.grid(axis="y", alpha=0.3)


def _threshold_lines(axes, warn: float, fail: float) -> None:
    axes.axhline(warn, color=STATUS_STYLE["warn"]["color"], linestyle="--", lw=1)
    axes.axhline(fail, color=STATUS_STYLE["fail"]["color"], linestyle="--", lw=1)


def _note_missing(axes, values: np.ndarray, why: str) -> None:
    missing = int(np.isnan(values).sum())
    if missing:
        text = why if missing == len(values) else f"{missing} of {len(values)} plates: {why}"
        axes.text(
            0.5, 0.3, text, transform=axes.transAxes, ha="center", va="center", fontsize=9, color="#333333",
            bbox={"facecolor": "white", "edgecolor": "#999999", "boxstyle": "round,pad=0.4"}, zorder=4,
        )


def _status_legend() -> list:
    handles = [
        Line2D([], [], linestyle="none", label=name, markersize=7, **style) for name, style in STATUS_STYLE.items()
    ]
    handles += [
        Line2D([], [], color=STATUS_STYLE["warn"]["color"], linestyle="--", label="warn threshold"),
        Line2D([], [], color=STATUS_STYLE["fail"]["color"], linestyle="--", label="fail threshold"),
    ]
    return handles
