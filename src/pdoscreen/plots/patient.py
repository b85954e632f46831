"""Dose-response pictures of the fits and the summary tables: a patient's
curves, the AAC heatmap, the cohort forest, the patient's and the cohort's
waterfalls, and their interactive (plotly) versions."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ..metrics import viability
from ..store import labels, plate_lines
from .style import MAX_OVERVIEW_WIDTH_IN, OKABE_ITO, STATUS_STYLE

# Functions of fitted InferenceData (see docs/model.md) and of the summary tables
# (results/summary/patient_drug.tsv, metrics.zarr).

# One colour per organoid line (no yellow: too faint for a curve on white); a
# line's plates are shades of it with their own markers, so points and the
# curve they belong to read together.
LINE_COLOURS = OKABE_ITO[:7]
PLATE_MARKERS = ("o", "s", "^", "D", "v", "P")
CURVE_DRAWS = 400  # thinned posterior draws per curve band
CURVE_GRID_POINTS = 120
INTERVAL = (0.05, 0.5, 0.95)  # 90% bands and intervals, with the median
VIABILITY_LIMITS = (-0.5, 1.75)  # outlying wells beyond these are counted, not drawn
MIN_CURVES_WIDTH_IN = 7.5  # the curves figure's title and legend fit one or two panels
LEGEND_ENTRY_IN = 1.6  # width of a legend entry such as "plate P01-L1-R1" at 8 pt
FLAG_EDGE = STATUS_STYLE["warn"]["color"]
COHORT_GREY = "#888888"
PATIENT_COLOUR = OKABE_ITO[0]


def observed_viability(idata) -> pd.DataFrame:
    """Each observed well on the curve's scale, (y / s / A_p - r_p) / (1 - r_p), with
    A_p = exp(log_gain) and r_p = sigmoid(logit_floor) at their posterior medians;
    columns plate, line, x (log10 molar) and viability, in observation order."""
    post, const = idata.posterior, idata.constant_data
    names = labels(post["plate"])
    gain = pd.Series(np.exp(post["log_gain"].median(("chain", "draw")).values), index=names)
    floor = pd.Series(1.0 / (1.0 + np.exp(-post["logit_floor"].median(("chain", "draw")).values)), index=names)
    plates = labels(const["obs_plate"])
    a, r = gain.loc[plates].to_numpy(), floor.loc[plates].to_numpy()
    y = idata.observed_data["y"].values / float(post.attrs["signal_scale"])
    return pd.DataFrame({
        "plate": plates,
        "line": labels(const["obs_line"]),
        "x": const["log10_conc_molar"].values.astype(float),
        "viability": (y / a - r) / (1.0 - r),
    })


def _thinned(values: np.ndarray, n: int) -> np.ndarray:
    """Evenly spaced draws (over chains and draws) from a (chain, draw) array."""
    flat = values.reshape(-1)
    return flat[np.unique(np.linspace(0, flat.size - 1, min(n, flat.size)).round().astype(int))]


def curve_band(idata, line: str, grid: np.ndarray, n_draws: int = CURVE_DRAWS) -> np.ndarray:
    """Pointwise 5%, 50% and 95% posterior quantiles (rows) of a line's curve on ``grid``."""
    post = idata.posterior.isel(line=list(post_names(idata, "line")).index(line))
    c, h, e = (_thinned(post[v].values, n_draws)[:, None] for v in ("c_line", "h_line", "E_line"))
    return np.quantile(viability(np.asarray(grid)[None, :], c, h, e), INTERVAL, axis=0)


def post_names(idata, dim: str) -> np.ndarray:
    return labels(idata.posterior[dim])


def patient_lines(idata, patient: str) -> list[str]:
    """The patient's lines in a fit (none when the patient does not carry the drug)."""
    owners = labels(idata.constant_data["line_patient"])
    return [line for line, owner in zip(post_names(idata, "line"), owners) if owner == str(patient)]


def patient_curves(fits: dict, patient: str) -> plt.Figure:
    """One panel per drug the patient carries (in ``fits`` order): observed wells on
    the curve's scale, shaded and marked by plate, and each line's posterior median
    curve with its 90% band over the drug's tested range."""
    carried = {drug: idata for drug, idata in fits.items() if patient_lines(idata, patient)}
    if not carried:
        figure = plt.figure(figsize=(6, 1.2))
        figure.text(0.5, 0.5, f"patient {patient}: no fitted drug carries this patient", ha="center", va="center")
        return figure
    styles = _plate_styles(carried, patient)
    ncols = min(3 if len(carried) <= 9 else 4, len(carried))
    nrows = -(-len(carried) // ncols)
    width_in = max(4.3 * ncols, MIN_CURVES_WIDTH_IN)  # one or two panels: room for the title and legend
    figure, grid = plt.subplots(nrows, ncols, figsize=(width_in, 3.3 * nrows + 0.9), layout="constrained",
                                squeeze=False)
    for axes in grid.flat[len(carried):]:
        figure.delaxes(axes)
    for axes, (drug, idata) in zip(grid.flat, carried.items()):
        _drug_panel(axes, drug, idata, patient, styles)
    handles = {h.get_label(): h for axes in figure.axes for h in axes.get_legend_handles_labels()[0]}
    figure.legend(handles=list(handles.values()), loc="outside lower center",
                  ncol=min(6, len(handles), int(width_in // LEGEND_ENTRY_IN)), fontsize=8, frameon=False)
    figure.suptitle(f"Patient {patient}: dose-response per drug (median curve, 90% band)", fontsize=11)
    return figure


def _plate_styles(fits: dict, patient: str) -> dict:
    """Colour per line and (shade, marker) per plate, fixed across the patient's panels; keyed
    by ("line", name) and ("plate", name), since a line and a plate may share a name."""

    pairs = {(line, plate) for idata in fits.values() for plate, line in plate_lines(idata).items()}
    lines = sorted({line for idata in fits.values() for line in patient_lines(idata, patient)})
    styles = {}
    for i, line in enumerate(lines):
        colour = matplotlib.colors.to_rgb(LINE_COLOURS[i % len(LINE_COLOURS)])
        styles["line", line] = colour
        for j, plate in enumerate(sorted(p for l, p in pairs if l == line)):
            lighter = tuple(c + (1 - c) * min(0.6, 0.3 * j) for c in colour)
            styles["plate", plate] = (lighter, PLATE_MARKERS[j % len(PLATE_MARKERS)])
    return styles


def _drug_panel(axes, drug: str, idata, patient: str, styles: dict) -> None:
    attrs = idata.posterior.attrs
    grid = np.linspace(attrs["x_min_log10_molar"], attrs["x_max_log10_molar"], CURVE_GRID_POINTS)
    wells = observed_viability(idata)
    for line in patient_lines(idata, patient):
        low, median, high = curve_band(idata, line, grid)
        axes.fill_between(grid, low, high, color=styles["line", line], alpha=0.22, linewidth=0,
                          label=f"{line} 90% band")
        axes.plot(grid, median, color=styles["line", line], lw=2, label=line)
        for plate, group in wells[wells.line == line].groupby("plate", sort=False):
            colour, marker = styles["plate", plate]
            axes.scatter(group.x, group.viability, color=colour, marker=marker, s=20, edgecolor="#333333",
                         linewidth=0.4, zorder=3, label=f"plate {plate}")
    shown = wells[wells.line.isin(patient_lines(idata, patient))].viability.to_numpy()
    _viability_axes(axes, grid, shown, response_label(attrs))
    approximate = bool(int(attrs.get("approximate", 0)))
    title = drug + ("  ·  approximate (SVI)" if approximate else "")
    axes.set_title(title, fontsize=10, color=STATUS_STYLE["fail"]["color"] if approximate else "black")


def viability_range(shown: np.ndarray) -> tuple[float, float]:
    """The viability axis: at least -0.1 to 1.25, widened to the wells shown, within ``VIABILITY_LIMITS``."""
    low = max(VIABILITY_LIMITS[0], min(-0.1, np.nanmin(shown, initial=0.0) - 0.05))
    high = min(VIABILITY_LIMITS[1], max(1.25, np.nanmax(shown, initial=1.0) + 0.05))
    return low, high


def response_label(attrs) -> str:
    """What a fit's curve and wells show, for an axis: viability, or the DIP
    rate's fold change where the model fitted DIP rates (screen.dip_response)."""
    if attrs.get("response") == "dip":
        return f"fold change over {float(attrs['dip_window_h']):g} h at the DIP rate (vehicle = 1)"
    return "viability (vehicle = 1)"


def _viability_axes(axes, grid: np.ndarray, shown: np.ndarray, label: str) -> None:
    low, high = viability_range(shown)
    axes.set_ylim(low, high)
    for level in (0.0, 1.0):
        axes.axhline(level, color="#BBBBBB", lw=0.8, ls="--", zorder=1)
    step = 1.0 if grid[-1] - grid[0] >= 2 else 0.5  # whole decades, or half ones on a short range
    ticks = np.arange(np.ceil(grid[0] / step - 1e-9), np.floor(grid[-1] / step + 1e-9) + 1) * step
    axes.set_xticks(ticks, [f"{10 ** (t + 6):.3g}" for t in ticks])
    axes.set_xlim(grid[0] - 0.15, grid[-1] + 0.15)
    axes.set_xlabel("concentration (µM, log scale)")
    axes.set_ylabel(label)
    off = int(((shown < low) | (shown > high)).sum())
    if off:
        axes.text(0.98, 0.02, f"{off} well(s) off scale", transform=axes.transAxes, ha="right", fontsize=7)


def aac_cell_text(median: float, low: float, high: float) -> str:
    """A heatmap cell: posterior median AAC and its 90% interval."""
    return f"{median:.2f}\n[{low:.2f}, {high:.2f}]"


def aac_heatmap(patient_drug: pd.DataFrame) -> plt.Figure:
    """Patients x drugs, colour = posterior median AAC, each cell annotated with the
    median and 90% interval; flagged cells outlined with "!"; untested cells grey."""
    cells = aac_matrix(patient_drug)
    median, low, high, flags = (cells[k] for k in ("median", "low", "high", "flags"))
    n_patients, n_drugs = median.shape
    figure = plt.figure(figsize=(min(MAX_OVERVIEW_WIDTH_IN, 2.5 + 1.05 * n_drugs), 1.9 + 0.62 * n_patients),
                        layout="constrained")
    axes = figure.add_subplot()
    vmax = max(0.2, np.ceil(np.nanmax(median.to_numpy(float), initial=0.0) * 10) / 10)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#DDDDDD")
    image = axes.imshow(np.ma.masked_invalid(median.to_numpy(float)), cmap=cmap, vmin=0, vmax=vmax, aspect="auto")
    figure.colorbar(image, ax=axes, label="AAC, posterior median\n(0 no effect, 1 full kill)", shrink=0.9)
    for i, j in np.ndindex(median.shape):
        _aac_cell(axes, i, j, median.iat[i, j], low.iat[i, j], high.iat[i, j], flags.iat[i, j], vmax)
    axes.set_xticks(range(n_drugs), median.columns.astype(str), rotation=45, ha="right", fontsize=9)
    axes.set_yticks(range(n_patients), median.index.astype(str), fontsize=9)
    axes.set_title("Drug activity (AAC) per patient: median [90% interval]", fontsize=10)
    present = sorted({f for cell in flags.to_numpy().ravel() if isinstance(cell, str) for f in cell.split(",") if f})
    if present:
        figure.text(0.01, 0.005, "! outlined: flagged (" + ", ".join(present) + ")", fontsize=7,
                    color="#333333", ha="left", va="bottom")
    return figure


def _aac_cell(axes, i: int, j: int, median, low, high, flags, vmax: float) -> None:
    if not np.isfinite(median):
        axes.text(j, i, "not tested", ha="center", va="center", fontsize=7, color="#555555")
        return
    colour = "white" if median / vmax < 0.55 else "black"
    axes.text(j, i, aac_cell_text(median, low, high), ha="center", va="center", fontsize=8, color=colour)
    if isinstance(flags, str) and flags.strip(", "):
        for colour, width, gid in (("black", 4.0, None), (FLAG_EDGE, 2.5, "flagged")):
            axes.add_patch(Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, edgecolor=colour, lw=width, gid=gid))
        axes.text(j + 0.38, i - 0.36, "!", ha="right", va="top", fontsize=9, weight="bold", color=colour)


def cohort_forest(metrics: xr.Dataset, patient: str, patient_drug: pd.DataFrame | None = None) -> plt.Figure:
    """Per drug (rows ordered by the patient's median rank, most sensitive on top):
    the patient's AAC median and 90% interval, the other patients' medians (grey
    points) and the 90% band of their median per draw (grey bar), with
    P(more sensitive than cohort) at the right: from ``patient_drug`` when given,
    else the share of draws where the patient's AAC exceeds the cohort median."""
    aac = metrics["patient_aac"]
    mine = aac.sel(patient=patient)
    rank = metrics["patient_rank"].sel(patient=patient).median("draw")
    order = pd.DataFrame({"rank": rank.to_series(), "aac": -mine.median("draw").to_series()}).dropna()
    drugs = list(order.sort_values(["rank", "aac"]).index)
    figure, axes = plt.subplots(figsize=(7.5, 1.3 + 0.42 * max(1, len(drugs))), layout="constrained")
    for row, drug in enumerate(drugs):
        p = _forest_row(axes, row, aac.sel(drug=drug), patient)
        if patient_drug is not None:
            p = _table_value(patient_drug, patient, drug, "p_more_sensitive_than_cohort")
        text = f"{p:.2f}" if np.isfinite(p) else "–"
        axes.text(1.02, row, text, transform=axes.get_yaxis_transform(), va="center", fontsize=9)
    axes.text(1.01, 1.01, "P(more sensitive\nthan cohort)", transform=axes.transAxes, fontsize=8, va="bottom")
    axes.set_yticks(range(len(drugs)), drugs)
    axes.set_ylim(len(drugs) - 0.5, -0.5)
    axes.set_xlabel("AAC (0 no effect, 1 full kill over the tested range)")
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(f"Patient {patient} against the cohort (drugs by median rank)", fontsize=10)
    figure.legend(handles=_forest_legend(), loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    return figure


def _forest_row(axes, row: int, aac: xr.DataArray, patient: str) -> float:
    """Draw one drug's row; return P(patient's AAC > cohort median), NaN without a cohort."""
    own = aac.sel(patient=patient).values
    others = aac.drop_sel(patient=patient).values
    others = others[np.isfinite(others).all(axis=1)]
    p = np.nan
    if len(others):
        cohort = np.median(others, axis=0)
        low, high = np.quantile(cohort, [INTERVAL[0], INTERVAL[2]])
        axes.barh(row, high - low, left=low, height=0.55, color="#E3E3E3", zorder=1)
        axes.plot([np.median(cohort)] * 2, [row - 0.27, row + 0.27], color=COHORT_GREY, lw=1.5, zorder=2)
        axes.scatter(np.median(others, axis=1), np.full(len(others), row), color=COHORT_GREY, s=16, zorder=2,
                     gid="cohort")
        p = float(np.mean(own > cohort))
    low, median, high = np.quantile(own, INTERVAL)
    axes.errorbar(median, row, xerr=[[median - low], [high - median]], fmt="o", color=PATIENT_COLOUR, capsize=3,
                  zorder=3, ms=6)
    return p


def _table_value(table: pd.DataFrame, patient: str, drug: str, metric: str) -> float:
    pick = table[(table.patient.astype(str) == str(patient)) & (table.drug.astype(str) == str(drug))
                 & (table.metric == metric)]
    return float(pick["mean"].iloc[0]) if len(pick) else np.nan


def _forest_legend() -> list:
    return [
        Line2D([], [], marker="o", color=PATIENT_COLOUR, label="this patient: median, 90% interval"),
        Line2D([], [], linestyle="none", marker="o", color=COHORT_GREY, markersize=4, label="other patients' medians"),
        Patch(facecolor="#E3E3E3", edgecolor=COHORT_GREY, label="cohort median, 90% band"),
    ]


# --- the patient's waterfall ------------------------------------------------------------

INACTIVE_COLOUR = "#C8C8C8"


def waterfall_bars(drugs: pd.DataFrame) -> pd.DataFrame:
    """The bars of a patient's waterfall from ``report.drug_table``: drug, value,
    low, high (90% interval), active; highest first. The value is the selective
    DSS2 when every drug's cohort is informative, else DSS2 (``attrs["selective"]``
    says which, ``attrs["label"]`` names it)."""
    selective = bool(len(drugs)) and bool(drugs["relative_informative"].all())
    metric = "sdss2" if selective else "dss2"
    bars = pd.DataFrame({"drug": drugs["drug"].astype(str), "value": drugs[metric], "low": drugs[f"{metric}_q05"],
                         "high": drugs[f"{metric}_q95"], "active": drugs["active"].astype(bool)})
    bars = bars.sort_values("value", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    bars.attrs.update(selective=selective,
                      label="selective DSS2 (patient - other patients' mean)" if selective else "DSS2 (0-100)")
    return bars


def waterfall(drugs: pd.DataFrame, patient: str) -> plt.Figure:
    """The patient's drugs as bars, highest first: posterior median (selective
    DSS2, or DSS2 where the cohort is too small) with its 90% interval, active
    drugs filled, inactive ones pale."""
    bars = waterfall_bars(drugs)
    return _bar_figure(bars, "drug", f"Patient {patient}: drugs by {bars.attrs['label'].split(' (')[0]}, median and "
                                     "90% interval")


def waterfall_plotly(drugs: pd.DataFrame, patient: str):
    """:func:`waterfall` as an interactive plotly figure (hover: value, interval, activity)."""
    return _bar_figure_plotly(waterfall_bars(drugs), "drug", f"Patient {patient}: median and 90% interval")


def _bar_figure(bars: pd.DataFrame, x: str, title: str) -> plt.Figure:
    """Waterfall bars (columns ``x``, value, low, high, active; ``attrs["label"]``) with 90% intervals."""
    figure, axes = plt.subplots(figsize=(max(4.5, 1.6 + 0.5 * len(bars)), 3.8), layout="constrained")
    colours = [PATIENT_COLOUR if a else INACTIVE_COLOUR for a in bars["active"]]
    position = np.arange(len(bars))
    axes.bar(position, bars["value"].fillna(0.0), color=colours, edgecolor="#555555", linewidth=0.5, gid="bars")
    axes.errorbar(position, bars["value"], yerr=[bars["value"] - bars["low"], bars["high"] - bars["value"]],
                  fmt="none", ecolor="#333333", capsize=3, lw=1)
    axes.axhline(0, color="#888888", lw=0.8)
    axes.set_xticks(position, bars[x], rotation=45, ha="right", fontsize=9)
    axes.set_ylabel(bars.attrs["label"], fontsize=9)
    axes.set_title(title, fontsize=10)
    axes.legend(handles=[Patch(color=PATIENT_COLOUR, label="active"), Patch(color=INACTIVE_COLOUR, label="inactive")],
                fontsize=8, frameon=False)
    return figure


def _bar_figure_plotly(bars: pd.DataFrame, x: str, title: str):
    import plotly.graph_objects as go

    activity = np.where(bars["active"], "active", "inactive")
    figure = go.Figure(go.Bar(
        x=bars[x], y=bars["value"],
        marker={"color": [PATIENT_COLOUR if a else INACTIVE_COLOUR for a in bars["active"]],
                "line": {"color": "#555555", "width": 0.5}},
        error_y={"type": "data", "symmetric": False, "array": bars["high"] - bars["value"],
                 "arrayminus": bars["value"] - bars["low"], "color": "#333333"},
        customdata=np.column_stack([bars["low"], bars["high"], activity]),
        hovertemplate="<b>%{x}</b><br>%{y:.1f} [%{customdata[0]:.1f}, %{customdata[1]:.1f}]<br>%{customdata[2]}"
                      "<extra></extra>",
    ))
    figure.update_layout(
        title={"text": title, "font": {"size": 14}}, yaxis_title=bars.attrs["label"], template="simple_white",
        height=380, margin={"t": 50, "b": 90}, xaxis={"type": "category"},
    )
    return figure


# --- the cohort waterfall of one drug ------------------------------------------------------


def cohort_waterfall_bars(patient_drug: pd.DataFrame, drug: str, activity_probability: float) -> pd.DataFrame:
    """One drug's patients as waterfall bars, highest DSS2 first: patient, value
    (posterior median DSS2), low, high (90% interval) and active (P(AAC above
    the activity floor) at least ``activity_probability``)."""
    rows = patient_drug[patient_drug["drug"].astype(str) == str(drug)]
    wide = rows.pivot(index="patient", columns="metric", values=["q50", "q05", "q95"])
    if ("q50", "dss2") not in wide or ("q50", "p_aac_above_activity_floor") not in wide:
        raise ValueError(f"drug {drug}: the patient table lacks dss2 or p_aac_above_activity_floor; "
                         "rerun `pdoscreen summarize`")
    bars = pd.DataFrame({"patient": wide.index.astype(str), "value": wide["q50", "dss2"].to_numpy(float),
                         "low": wide["q05", "dss2"].to_numpy(float), "high": wide["q95", "dss2"].to_numpy(float),
                         "active": (wide["q50", "p_aac_above_activity_floor"] >= activity_probability).to_numpy()})
    bars = bars.sort_values("value", ascending=False, na_position="last", kind="stable").reset_index(drop=True)
    bars.attrs["label"] = "DSS2 (0-100)"
    return bars


def cohort_waterfall(patient_drug: pd.DataFrame, drug: str, activity_probability: float) -> plt.Figure:
    """Every patient tested with ``drug`` as a bar, highest DSS2 first, with its
    90% interval; patients in whom the drug is active filled, the rest pale."""
    return _bar_figure(cohort_waterfall_bars(patient_drug, drug, activity_probability), "patient",
                       f"{drug}: patients by DSS2, median and 90% interval")


def cohort_waterfall_plotly(patient_drug: pd.DataFrame, drug: str, activity_probability: float):
    return _bar_figure_plotly(cohort_waterfall_bars(patient_drug, drug, activity_probability), "patient",
                              f"{drug}: patients by DSS2, median and 90% interval")


# --- interactive versions of the patient's curves and the AAC heatmap ----------------------


def aac_matrix(patient_drug: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Patients x drugs tables of the AAC's median, low, high (90% interval) and
    flags (text), drugs ordered by their median over patients, most active first."""
    aac = patient_drug[patient_drug["metric"] == "aac"].assign(flags=lambda t: t["flags"].fillna("").astype(str))
    median = aac.pivot(index="patient", columns="drug", values="q50")
    median = median[median.median().sort_values(ascending=False).index]
    return {"median": median} | {name: aac.pivot(index="patient", columns="drug", values=column).reindex_like(median)
                                 for name, column in (("low", "q05"), ("high", "q95"), ("flags", "flags"))}


def aac_heatmap_plotly(patient_drug: pd.DataFrame, patient: str | None = None):
    """:func:`aac_heatmap` as a plotly heatmap (hover: median, interval, flags),
    ``patient``'s row outlined."""
    import plotly.graph_objects as go

    cells = aac_matrix(patient_drug)
    median = cells["median"]
    patients, drugs = median.index.astype(str).tolist(), median.columns.astype(str).tolist()
    text = [[aac_cell_text(m, lo, hi).replace("\n", " ") if np.isfinite(m) else "not tested"
             for m, lo, hi in zip(*(cells[k].loc[p].to_numpy(float) for k in ("median", "low", "high")))]
            for p in median.index]
    flags = cells["flags"].fillna("").to_numpy(str)
    vmax = max(0.2, np.ceil(np.nanmax(median.to_numpy(float), initial=0.0) * 10) / 10)
    figure = go.Figure(go.Heatmap(
        z=median.to_numpy(float), x=drugs, y=patients, zmin=0, zmax=vmax, colorscale="Viridis",
        text=text, texttemplate="%{text}", textfont={"size": 10}, customdata=flags, hoverongaps=False,
        colorbar={"title": {"text": "AAC, median"}},
        hovertemplate="patient %{y}, %{x}<br>AAC %{text}<br>%{customdata}<extra></extra>",
    ))
    if patient is not None and str(patient) in patients:
        row = patients.index(str(patient))
        figure.add_shape(type="rect", x0=-0.5, x1=len(drugs) - 0.5, y0=row - 0.5, y1=row + 0.5,
                         line={"color": "#D55E00", "width": 3}, fillcolor="rgba(0,0,0,0)", opacity=1)
    figure.update_layout(
        title={"text": "Drug activity (AAC) per patient: median [90% interval]", "font": {"size": 14}},
        template="simple_white", height=160 + 40 * len(patients), margin={"t": 50, "b": 90},
        yaxis={"autorange": "reversed", "type": "category"}, xaxis={"type": "category"},
    )
    return figure


def patient_curves_plotly(fits: dict, patient: str):
    """:func:`patient_curves` as plotly subplots, one per drug the patient carries:
    each line's median curve and 90% band, and the observed wells (hover: plate,
    concentration, viability; drawn within ``VIABILITY_LIMITS``); concentrations
    in µM on a log axis. None when the patient carries no fitted drug."""
    from plotly.subplots import make_subplots

    carried = {drug: idata for drug, idata in fits.items() if patient_lines(idata, patient)}
    if not carried:
        return None
    styles = _plate_styles(carried, patient)
    ncols = min(3, len(carried))
    nrows = -(-len(carried) // ncols)
    height_px = 120 + 330 * nrows
    figure = make_subplots(rows=nrows, cols=ncols, subplot_titles=list(carried), horizontal_spacing=0.07,
                           vertical_spacing=110 / height_px)  # room for an axis title and the next row's title
    in_legend = set()
    for k, (drug, idata) in enumerate(carried.items()):
        for trace in _drug_traces(idata, patient, styles, in_legend):
            figure.add_trace(trace, row=k // ncols + 1, col=k % ncols + 1)
    wells = np.concatenate([t.customdata for t in figure.data if t.mode == "markers"])
    figure.update_xaxes(type="log", title_text="concentration (µM)", dtick=1, tickformat="~g")
    # One viability scale for every drug, as in the static picture's panels, so flat curves look flat.
    figure.update_yaxes(title_text=response_label(next(iter(carried.values())).posterior.attrs), zeroline=False,
                        range=viability_range(wells))
    figure.update_layout(
        title={"text": f"Patient {patient}: dose-response per drug (median curve, 90% band)", "font": {"size": 14}},
        template="simple_white", height=height_px, margin={"t": 70},
    )
    return figure


def _drug_traces(idata, patient: str, styles: dict, in_legend: set) -> list:
    """One drug's traces: per line a band (upper, lower filled to it), the median
    curve and the wells; legend entries once per line and plate over all drugs."""
    import plotly.graph_objects as go

    attrs = idata.posterior.attrs
    grid = np.linspace(attrs["x_min_log10_molar"], attrs["x_max_log10_molar"], CURVE_GRID_POINTS)
    micromolar = 10 ** (grid + 6)
    wells = observed_viability(idata)
    traces = []
    for line in patient_lines(idata, patient):
        colour = matplotlib.colors.to_hex(styles["line", line])
        band = "rgba({:.0f},{:.0f},{:.0f},0.22)".format(*(255 * c for c in styles["line", line]))
        low, median, high = curve_band(idata, line, grid)
        first = ("line", line) not in in_legend
        in_legend.add(("line", line))
        traces += [
            go.Scatter(x=micromolar, y=high, mode="lines", line={"width": 0}, legendgroup=line, showlegend=False,
                       hoverinfo="skip"),
            go.Scatter(x=micromolar, y=low, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=band,
                       legendgroup=line, name=f"{line} 90% band", showlegend=first, hoverinfo="skip"),
            go.Scatter(x=micromolar, y=median, mode="lines", line={"color": colour, "width": 2}, legendgroup=line,
                       name=line, showlegend=first,
                       hovertemplate=f"{line}<br>%{{x:.3g}} µM: %{{y:.2f}}<extra></extra>"),
        ]
        for plate, group in wells[wells.line == line].groupby("plate", sort=False):
            first = ("plate", plate) not in in_legend
            in_legend.add(("plate", plate))
            traces.append(go.Scatter(
                x=10 ** (group.x + 6), y=group.viability.clip(*VIABILITY_LIMITS), mode="markers", legendgroup=line,
                name=f"plate {plate}", showlegend=first,
                marker={"color": matplotlib.colors.to_hex(styles["plate", plate][0]), "size": 7,
                        "line": {"color": "#333333", "width": 0.5}},
                customdata=group.viability,
                hovertemplate=f"plate {plate}<br>%{{x:.3g}} µM: viability %{{customdata:.2f}}<extra></extra>",
            ))
    return traces
