"""Figures of the multilevel structure (tables from ``hierarchy``): the
variance shares per drug and the shrinkage of each line towards its patient."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..hierarchy import COMPONENTS, DOMINANT_SHARE
from .style import OKABE_ITO

COMPONENT_STYLE = {
    "patient": {"color": "#0072B2", "label": "between patients"},
    "line": {"color": "#E69F00", "label": "between lines of a patient"},
    "plate": {"color": "#999999", "label": "between replicate plates"},
}
PATIENT_COLOURS = OKABE_ITO
METRIC_LABEL = {"log10_ec50": "log10 EC50", "aac": "AAC"}


def _empty(message: str) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return figure


def variance_shares_figure(table: pd.DataFrame, metric: str = "log10_ec50") -> plt.Figure:
    """Per drug, the share of ``metric``'s variance between patients, between
    lines of a patient and between replicate plates: posterior median (bar) and
    90% interval (whisker) of each share, side by side. Drugs are ordered by
    their median patient share; the dotted line marks one half."""
    shares = table[(table.metric == metric) & (table.kind == "share")]
    if shares.empty:
        return _empty(f"no {METRIC_LABEL.get(metric, metric)} variance shares to show")
    wide = shares.pivot_table(index="drug", columns="component", values=["q05", "q50", "q95"], dropna=False)
    order = wide[("q50", "patient")].fillna(-1.0).sort_values(ascending=False).index.tolist()

    height = 0.26
    figure, ax = plt.subplots(figsize=(7.5, 1.4 + 0.62 * len(order)), layout="constrained")
    for i, drug in enumerate(order):
        for j, component in enumerate(COMPONENTS):
            y = i + (j - 1) * height
            q05, q50, q95 = (float(wide.loc[drug, (q, component)]) for q in ("q05", "q50", "q95"))
            style = COMPONENT_STYLE[component]
            if not np.isfinite(q50):
                ax.text(0.01, y, "not estimable", va="center", fontsize=7, color="#555555")
                continue
            ax.barh(y, q50, height=height * 0.9, color=style["color"], alpha=0.85)
            ax.errorbar(q50, y, xerr=[[q50 - q05], [q95 - q50]], fmt="none", ecolor="black",
                        elinewidth=1, capsize=2.5)
    ax.axvline(DOMINANT_SHARE, color="black", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(order)), order)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of {METRIC_LABEL.get(metric, metric)} variance "
                  "(bar: posterior median; whisker: 90% interval)")
    figure.legend(handles=[Patch(color=COMPONENT_STYLE[c]["color"], label=COMPONENT_STYLE[c]["label"])
                           for c in COMPONENTS], loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    note = ("shares of tau_pat², tau_line², tau_rep² per draw" if metric == "log10_ec50"
            else "shares of finite-sample variances of the fitted units per draw")
    ax.set_title(f"Where {METRIC_LABEL.get(metric, metric)} varies\n({note}; medians need not sum to 1)",
                 fontsize=10)
    return figure


def _patient_colours(patients: list[str]) -> dict[str, str]:
    if len(patients) <= len(PATIENT_COLOURS):
        return dict(zip(patients, PATIENT_COLOURS))
    if len(patients) <= 10:
        cmap, order = plt.get_cmap("tab10"), range(10)
    else:  # dark shades first, then light: neighbours stay distinct
        cmap, order = plt.get_cmap("tab20"), [*range(0, 20, 2), *range(1, 20, 2)]
    order = list(order)
    return {p: matplotlib.colors.to_hex(cmap(order[i % len(order)])) for i, p in enumerate(patients)}


def shrinkage_figure(table: pd.DataFrame, drug: str) -> plt.Figure:
    """Each line's independent per-curve log10 EC50 (open marker) and pooled
    posterior mean (filled, with its 90% interval as a thin line), an arrow
    from one to the other; marker area by the line's number of wells, colour
    by patient, and a short vertical tick at each patient's posterior centre.
    Lines whose per-curve fit failed show the pooled estimate only (x)."""
    rows = table[table.drug == drug]
    if rows.empty:
        return _empty(f"no lines of {drug} to show")
    patients = list(dict.fromkeys(rows.patient))  # the fit's order
    rows = (rows.assign(_patient=rows.patient.map({p: i for i, p in enumerate(patients)}))
            .sort_values(["_patient", "pooled_log10_ec50"]).drop(columns="_patient").reset_index(drop=True))
    colour = _patient_colours(patients)
    n_max = max(int(rows.n_wells.max()), 1)

    def area(n):
        return 15.0 + 135.0 * np.asarray(n, dtype=float) / n_max

    figure, ax = plt.subplots(figsize=(7.5, 1.6 + 0.32 * len(rows)), layout="constrained")
    for y, r in rows.iterrows():
        col = colour[r.patient]
        ax.plot([r.pooled_log10_ec50_q05, r.pooled_log10_ec50_q95], [y, y], color=col, alpha=0.35, linewidth=2)
        ax.scatter(r.pooled_log10_ec50, y, s=area(r.n_wells), color=col, zorder=3)
        if np.isfinite(r.independent_log10_ec50):
            ax.scatter(r.independent_log10_ec50, y, s=area(r.n_wells), facecolors="white", edgecolors=col,
                       marker="s" if r.independent_at_bound else "o", linewidths=1.5, zorder=3)
            ax.annotate("", xy=(r.pooled_log10_ec50, y), xytext=(r.independent_log10_ec50, y),
                        arrowprops={"arrowstyle": "->", "color": col, "shrinkA": 4, "shrinkB": 4, "lw": 1.2},
                        zorder=2)
        else:
            ax.scatter(r.pooled_log10_ec50, y + 0.3, marker="x", color="#555555", s=20, zorder=3)
    for patient, group in rows.groupby("patient", sort=False):
        centre = float(group.patient_log10_ec50.iloc[0])
        ax.plot([centre, centre], [group.index.min() - 0.4, group.index.max() + 0.4], color=colour[patient],
                linestyle="--", linewidth=1, alpha=0.8)
    ax.set_yticks(range(len(rows)), rows.line)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("log10 EC50 (M)")
    handles = [Line2D([], [], marker="o", linestyle="", color=colour[p], label=p) for p in patients[:12]]
    handles += [
        Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="black",
               label="independent 4PL fit"),
        Line2D([], [], marker="s", linestyle="", markerfacecolor="white", markeredgecolor="black",
               label="4PL fit at a bound"),
        Line2D([], [], marker="o", linestyle="", color="black", label="pooled posterior mean"),
        Line2D([], [], marker="x", linestyle="", color="#555555", label="4PL fit failed"),
        Line2D([], [], linestyle="--", color="black", label="patient centre"),
    ]
    handles += [Line2D([], [], marker="o", linestyle="", color="#bbbbbb", markersize=np.sqrt(area(n)),
                       label=f"{n} wells") for n in sorted({int(rows.n_wells.min()), n_max})]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False)
    ax.set_title(f"{drug}: independent fits (open) pulled to hierarchical estimates (filled)", fontsize=10)
    return figure
