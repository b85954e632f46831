"""Plates and their QC: the plate heatmap, the screen's QC overview and the
residual map of a plate's treated wells."""

from __future__ import annotations

import textwrap

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.collections import PatchCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ..geometry import geometry_for, parse_well, row_index
from ..qc import Thresholds
from .style import MAX_OVERVIEW_WIDTH_IN, STATUS_STYLE

OTHER_STATUS = {"color": "#777777", "marker": "o"}
VEHICLE_EDGE = "white"
KILL_EDGE = "#FF4FA0"
# Beyond this many plates their names would not be legible.
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
    # A fixed layout: a layout engine would double the drawing time, and a
    # screen has thousands of plates.
    figure = plt.figure(figsize=(2.2 + 0.36 * geometry.n_columns, 2.0 + 0.36 * geometry.n_rows))
    axes = figure.add_axes((0.06, 0.10, 0.78, 0.77))
    _raw_signal_panel(figure, axes, figure.add_axes((0.88, 0.14, 0.02, 0.69)), plate)
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


def _raw_signal_panel(figure, axes, colour_axes, plate: xr.Dataset) -> None:
    """The plate's raw signal on ``axes`` with its roles and flags marked."""
    geometry = geometry_for(plate.sizes["well"])
    shape = (geometry.n_rows, geometry.n_columns)
    rows = np.array([row_index(r) for r in plate["row"].values])
    columns = plate["column"].values.astype(int) - 1
    signal = plate_grid(plate["signal"].values.astype(float), rows, columns, shape)
    role = plate_grid(plate["role"].values.astype(str), rows, columns, shape)
    flag = plate_grid(plate["flag"].values.astype(str), rows, columns, shape)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#BBBBBB")
    image = axes.imshow(np.ma.masked_invalid(signal), cmap=cmap, aspect="auto")
    figure.colorbar(image, cax=colour_axes, label="raw signal (instrument units)")
    _mark_roles(axes, role, flag)
    _well_ticks(axes, geometry)


def _well_ticks(axes, geometry) -> None:
    axes.set_xticks(range(geometry.n_columns), [str(c) for c in geometry.columns], fontsize=7)
    axes.set_yticks(range(geometry.n_rows), geometry.rows, fontsize=7)
    axes.xaxis.tick_top()


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



# ---------------------------------------------------------------- residual maps

# The residual map's colour scale ends at this many vehicle SDs either way;
# wells beyond it take the end colour.
RESIDUAL_LIMIT_SD = 5.0


def plate_residual_map(plate: xr.Dataset, residuals: pd.DataFrame, spatial: dict) -> plt.Figure:
    """One plate's raw signal (as :func:`plate_heatmap`) beside its treated
    wells' residuals from their drugs' fits, in vehicle SDs (``residual_sd``
    of this plate's rows of ``results/qc/residuals.tsv``; blue below the
    curve, red above, grey where no treated well was fitted), with the plate's
    spatial check (its row of ``spatial_artefacts.tsv`` as a dict) in the
    title and a flagged region outlined."""
    geometry = geometry_for(plate.sizes["well"])
    panel_w, panel_h = 0.36 * geometry.n_columns, 0.36 * geometry.n_rows
    # Inches: margin, panel, gap, colour bar, room for its label and the next panel's row labels; twice;
    # the titles and column numbers above.
    gap = 1.6
    width, height = 0.4 + 2 * (panel_w + gap), 0.8 + panel_h + 0.5
    figure = plt.figure(figsize=(width, height))

    def box(left_in, width_in):
        return (left_in / width, 0.5 / height, width_in / width, panel_h / height)

    raw = figure.add_axes(box(0.4, panel_w))
    _raw_signal_panel(figure, raw, figure.add_axes(box(0.55 + panel_w, 0.15)), plate)
    raw.legend(handles=_role_legend(), loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=5, fontsize=8,
               frameon=False)
    left = 0.4 + panel_w + gap
    axes = figure.add_axes(box(left, panel_w))
    mean = residuals.groupby("well")["residual_sd"].mean()
    rows, columns = np.array([parse_well(w) for w in mean.index]).reshape(-1, 2).T
    grid = np.full((geometry.n_rows, geometry.n_columns), np.nan)
    grid[rows, columns] = mean.to_numpy()
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#DDDDDD")
    image = axes.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-RESIDUAL_LIMIT_SD, vmax=RESIDUAL_LIMIT_SD,
                        aspect="auto")
    figure.colorbar(image, cax=figure.add_axes(box(left + panel_w + 0.15, 0.15)),
                    label="treated-well residual (vehicle SDs)")
    _well_ticks(axes, geometry)
    if spatial["spatial_artefact"]:
        # the region's own wells outlined, its bounding box dashed
        (top, first), (bottom, last) = parse_well(spatial["region_first_well"]), parse_well(spatial["region_last_well"])
        axes.add_patch(Rectangle((first - 0.5, top - 0.5), last - first + 1, bottom - top + 1, fill=False,
                                 edgecolor="black", linewidth=1.2, linestyle="--"))
        for well in filter(None, str(spatial.get("region_wells", "")).split(",")):
            row, column = parse_well(well)
            axes.add_patch(Rectangle((column - 0.45, row - 0.45), 0.9, 0.9, fill=False, edgecolor="black",
                                     linewidth=1.4))
    figure.text(0.4 / width, 1 - 0.1 / height, _heatmap_title(plate), ha="left", va="top", fontsize=10)
    figure.text(left / width, 1 - 0.1 / height, textwrap.fill(_spatial_verdict(spatial), 110), ha="left",
                va="top", fontsize=9)
    return figure


def _spatial_verdict(spatial: dict) -> str:
    if spatial["spatial_artefact"]:
        return f"spatial_artefact: {spatial['reason']}"
    if np.isnan(spatial["morans_i"]):
        return f"spatial check {spatial['reason']}"
    return (f"no spatial artefact: Moran's I = {spatial['morans_i']:.2f}, permutation p = {spatial['p_value']:.3g}"
            f" over {spatial['n_wells']} treated wells")
