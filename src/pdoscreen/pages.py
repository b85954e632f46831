"""The patient page: one HTML page per patient that a tumour board can act on:
which drugs do something in this patient (absolute sensitivity), and which of
those the patient responds to more than the cohort does (relative
sensitivity), with how sure the model is and what to be careful about.

Pages come from the Jinja2 templates in ``templates/``, with autoescaping:
every piece of text from the inputs is escaped. Every figure is a static
picture embedded as a data URI; where plotly.js loads, an interactive plotly
figure is drawn over it. plotly.js (4.8 MB) is not copied into each page but
loaded from one file beside the pages (:func:`write_plotly_js`), so pages work
offline; where that file is absent (a page copied alone, or shown inside the
Snakemake report) the static pictures stay. Pages hold no timestamp or random
id, so reruns write the same bytes. The summary tables get browsable
(sortable, filterable) pages of their own (:func:`table_page`)."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from .store import write_text_atomic
from .summarize import ACTIVITY_AAC_FLOOR, DIP_METRICS, GR_METRICS, MIN_COHORT_PATIENTS, RELATIVE_METRICS

# Plain-language meaning of the summary flags (results/summary/*.tsv).
FLAG_TEXT = {
    "ic50_not_reached": "viability probably does not fall below half within the tested doses, so there is no "
    "reliable IC50",
    "flat_curve": "the response is nearly flat over the tested doses, so the data say little about potency (EC50)",
    "incomplete_curve": "the tested doses cover only part of the curve, so potency and maximal effect cannot be "
    "told apart",
    "ic50_conditional_on_reached": "the curve may not fall below half within the tested doses; the IC50 in the "
    "summary tables describes only the cases where it does",
    "approximate_fit": "fitted with a fast approximation (SVI) instead of full sampling; its intervals may be too "
    "narrow",
    "fit_failed_diagnostics": "the sampler's convergence checks failed for this drug; treat its numbers as "
    "provisional",
    "line_disagrees_with_patient": "the patient's {units} responded differently; the patient value averages over "
    "{units} that disagree",
    "cohort_too_small": "too few patients carry this drug for a comparison with the cohort to mean anything",
    "curve_misfit": "the wells at several neighbouring doses lie on one side of the fitted curve, beyond their "
    "replicate noise, so the curve misses them (results/summary/line_checks.tsv)",
    "spatial_artefact": "some wells lie in a region of their plate that reads dimmer or brighter than the fits "
    "expect (results/qc/spatial_artefacts.tsv)",
}
# Flags said once for the whole page rather than per drug. Texts name the sample unit as {units} (plural).
PAGE_FLAGS = ("approximate_fit", "cohort_too_small")
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
# (q50, q05, q95) of these metrics per drug; probabilities and counts in q50.
ABSOLUTE_METRICS = ("aac", "dss2", "emax", "log10_ic50", "p_ic50_below_top_dose", "p_aac_above_activity_floor")
TABLE_METRICS = ABSOLUTE_METRICS + ("cohort_patients",) + RELATIVE_METRICS
ACTIVITY_PROBABILITY = 0.9  # the default of the config's sensitivity.activity_probability
SAMPLE_UNIT = "organoid line"
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("pdoscreen", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class PageRules:
    """What counts as active, when a cohort is large enough, and what one unit
    under a patient is called (the config's ``sensitivity`` section)."""

    activity_aac_floor: float = ACTIVITY_AAC_FLOOR
    activity_probability: float = ACTIVITY_PROBABILITY
    min_cohort_patients: int = MIN_COHORT_PATIENTS
    sample_unit: str = SAMPLE_UNIT


def flag_list(flags) -> list[str]:
    """A flags cell (comma-separated, possibly empty or NaN) as a list."""
    return [f.strip() for f in flags.split(",") if f.strip()] if isinstance(flags, str) else []


def drug_table(patient_drug: pd.DataFrame, patient: str, rules: PageRules = PageRules()) -> pd.DataFrame:
    """One row per drug the patient carries, in page order: active drugs first,
    those with an informative cohort by median rank (then mean rank, then
    median AAC), then those without by median DSS2; inactive drugs after, by
    P(AAC above the floor), then median AAC. Columns ``<metric>`` (median)
    and ``<metric>_q05``/``_q95`` for :data:`TABLE_METRICS` (and the GR and
    DIP metrics, where the table has them), ``rank_mean``,
    ``active``, ``relative_informative`` and ``flags`` (a list)."""
    rows = patient_drug[patient_drug["patient"].astype(str) == str(patient)]
    if rows.empty:
        raise ValueError(f"patient {patient}: no rows in the patient table")
    wide = rows.pivot(index="drug", columns="metric", values=["q50", "q05", "q95", "mean"])
    missing = [m for m in TABLE_METRICS if m not in wide["q50"].columns]
    if missing:
        raise ValueError(f"patient {patient}: the patient table lacks {', '.join(missing)}; "
                         "rerun `pdoscreen summarize`")
    table = pd.DataFrame(index=wide.index)
    # the GR of the curves, where the screen has time-zero plates; their DIP metrics, where they fit DIP rates
    shown = TABLE_METRICS + tuple(m for m in GR_METRICS + DIP_METRICS if m in wide["q50"].columns)
    for metric in shown:
        table[metric] = wide["q50", metric]
        table[f"{metric}_q05"], table[f"{metric}_q95"] = wide["q05", metric], wide["q95", metric]
    table["rank_mean"] = wide["mean", "rank"]
    # the flags of what the page shows (not, say, a per-curve fit's)
    table["flags"] = rows[rows["metric"].isin(shown)].groupby("drug")["flags"].agg(
        lambda cells: list(dict.fromkeys(f for cell in cells for f in flag_list(cell))))
    relative = rows[rows["metric"].isin(RELATIVE_METRICS)]
    small = relative.groupby("drug")["flags"].agg(lambda cells: any("cohort_too_small" in flag_list(c) for c in cells))
    table["relative_informative"] = ~small.reindex(table.index, fill_value=True)
    table["active"] = table["p_aac_above_activity_floor"] >= rules.activity_probability
    table = table.assign(
        _group=np.select([table.active & table.relative_informative, table.active], [0, 1], 2),
        _first=np.where(table.active, np.where(table.relative_informative, table["rank"], -table["dss2"]),
                        -table["p_aac_above_activity_floor"]),
        _second=np.where(table.active & table.relative_informative, table["rank_mean"], -table["aac"]),
        _third=-table["aac"],
    )
    table = table.sort_values(["_group", "_first", "_second", "_third"], na_position="last", kind="stable")
    return table.drop(columns=["_group", "_first", "_second", "_third"]).rename_axis("drug").reset_index()


@dataclass(frozen=True)
class PageFigure:
    """A figure on a page: its static picture (PNG, SVG or JPEG, shown where
    JavaScript is off or plotly.js does not load) and, optionally, the plotly
    figure drawn over it."""

    caption: str
    picture: Path
    interactive: Any = None


def patient_page(patient: str, drugs: pd.DataFrame, plates_qc: pd.DataFrame, waterfall: PageFigure | None,
                 figures: list[PageFigure], rules: PageRules = PageRules(), plotly_js: str | None = None,
                 line_checks: pd.DataFrame | None = None) -> str:
    """One patient's page as an HTML string. ``drugs`` is :func:`drug_table`'s,
    ``plates_qc`` results/qc/plates.tsv; ``waterfall`` follows the drug tables,
    ``figures`` come after the caveats. ``plotly_js`` is the address of
    plotly.min.js relative to the page (see :func:`write_plotly_js`); without
    it the page holds no script and shows the static pictures. ``line_checks``
    (results/summary/line_checks.tsv) names the doses of each curve misfit."""
    from .plots.patient import waterfall_bars

    plates = _patient_plates(plates_qc, patient)
    active, inactive = drugs[drugs.active], drugs[~drugs.active]
    not_informative = drugs[~drugs.relative_informative]
    interactive = plotly_js is not None
    context = {
        "patient": str(patient),
        "rules": rules,
        "units": sorted(plates["line"].astype(str).unique()),
        "n_plates": len(plates),
        "n_plates_used": int(plates["used"].sum()),
        "gr": "grmax" in drugs.columns,
        "dip": "dip_emax" in drugs.columns,
        "active": _rows(active),
        "active_order": _order_text(active),
        "inactive": _rows(inactive),
        "n_drugs": len(drugs),
        "not_informative": _rows(not_informative),
        "cohort_sizes": sorted({int(n) for n in not_informative["cohort_patients"] if np.isfinite(n)}),
        "caveats": _caveats(drugs, rules.sample_unit, _misfit_doses(line_checks, set(plates["line"].astype(str)))),
        "approximate": [str(d) for d, flags in zip(drugs["drug"], drugs["flags"]) if "approximate_fit" in flags],
        "unit_caveat": _units_caveat(plates, rules.sample_unit),
        "excluded_plates": _excluded_plates(plates),
        "selective": waterfall_bars(drugs).attrs["selective"],
        "waterfall": _figure("waterfall", waterfall, interactive) if waterfall is not None else None,
        "figures": [_figure(f"figure-{k}", figure, interactive) for k, figure in enumerate(figures, 1)],
        "plotly": {"src": plotly_js, "inline": None},
    }
    return TEMPLATES.get_template("patient.html.j2").render(context)


def write_patient_page(path, patient: str, drugs: pd.DataFrame, plates_qc: pd.DataFrame, waterfall: PageFigure | None,
                       figures: list[PageFigure], rules: PageRules = PageRules(), plotly_js=None,
                       line_checks: pd.DataFrame | None = None) -> Path:
    """Write :func:`patient_page` to ``path``; ``plotly_js`` is the path of the
    shared plotly.min.js (referenced relative to the page), or None."""
    path = Path(path)
    src = Path(os.path.relpath(plotly_js, path.parent)).as_posix() if plotly_js is not None else None
    return write_text_atomic(path, patient_page(patient, drugs, plates_qc, waterfall, figures, rules, src, line_checks))


def patient_figures(patient: str, drugs: pd.DataFrame, patient_drug: pd.DataFrame, fits: dict, pictures: dict,
                    rules: PageRules = PageRules()) -> tuple[PageFigure, list[PageFigure]]:
    """The page's waterfall and its other figures, each with the static picture
    in ``pictures`` (keys waterfall, curves, heatmap, forest) and, but for the
    forest, its interactive version. ``fits`` maps drug -> InferenceData."""
    from .plots.patient import aac_heatmap_plotly, patient_curves_plotly, waterfall_plotly

    unit = rules.sample_unit
    orientation = "" if drugs["relative_informative"].all() else (
        " Too few patients carry some of these drugs for a comparison: read their rows for orientation only.")
    waterfall = PageFigure("One bar per drug, highest first: the posterior median with its 90% interval; filled "
                           "bars are active drugs, pale ones inactive.", pictures["waterfall"],
                           waterfall_plotly(drugs, patient))
    return waterfall, [
        PageFigure(f"Dose-response curves: observed wells and each {unit}'s posterior (median, 90% band).",
                   pictures["curves"], patient_curves_plotly(fits, patient)),
        PageFigure("Drug activity across the cohort: AAC median and 90% interval per patient and drug"
                   " (this patient outlined in the interactive view).", pictures["heatmap"],
                   aac_heatmap_plotly(patient_drug, patient)),
        PageFigure("Against the cohort: AAC median and 90% interval, drugs by median rank." + orientation,
                   pictures["forest"]),
    ]


def write_plotly_js(path) -> Path:
    """plotly.min.js, of the plotly package in use, as the pages' shared copy."""
    from plotly.offline import get_plotlyjs

    return write_text_atomic(Path(path), get_plotlyjs())


def cohort_figures(patient_drug: pd.DataFrame, heatmap, waterfalls: dict, activity_probability: float
                   ) -> list[PageFigure]:
    """The cohort page's figures: the AAC heatmap (static picture ``heatmap``)
    and each drug's cohort waterfall (``waterfalls``: drug -> static picture)."""
    from .plots.patient import aac_heatmap_plotly, cohort_waterfall_plotly

    return [PageFigure("Drug activity (AAC) per patient and drug: median and 90% interval.", Path(heatmap),
                       aac_heatmap_plotly(patient_drug))] + [
        PageFigure(f"{drug}: every patient's DSS2, median and 90% interval; filled bars where the drug is active "
                   "in the patient.", Path(path), cohort_waterfall_plotly(patient_drug, drug, activity_probability))
        for drug, path in waterfalls.items()]


def write_cohort_page(path, figures: list[PageFigure], title: str) -> Path:
    """A page of cohort figures with plotly.js inlined (one copy), for the
    Snakemake report, which shows each HTML item on its own."""
    from plotly.offline import get_plotlyjs

    context = {"title": title, "figures": [_figure(f"figure-{k}", f, True) for k, f in enumerate(figures, 1)],
               "plotly": {"src": None, "inline": Markup(get_plotlyjs())}}
    return write_text_atomic(Path(path), TEMPLATES.get_template("cohort.html.j2").render(context))


def _figure(element_id: str, figure: PageFigure, interactive: bool) -> dict:
    """Template fields of a figure; the plotly JSON with "<" escaped, so no
    text in it can close its script element."""
    data = None
    if interactive and figure.interactive is not None:
        import plotly.io

        data = Markup(plotly.io.to_json(figure.interactive, validate=False).replace("<", "\\u003c"))
    return {"id": element_id, "caption": figure.caption, "uri": _data_uri(figure.picture), "json": data}


# --- browsable tables -------------------------------------------------------------------

# Long summary tables: the columns that name a row's unit come before "metric".
LONG_COLUMNS = ("metric", "mean", "sd", "q05", "q50", "q95", "flags")


def browsable(table: pd.DataFrame) -> pd.DataFrame:
    """A summary table as people browse it. A long table (one row per unit and
    metric: ``patient_drug.tsv``, ``line_drug.tsv``) becomes one row per unit
    with a column per metric: its median, and a ``<metric> [90%]`` interval
    column where the metric has one; ``flags`` joined. Wide tables pass as they are."""
    if not set(LONG_COLUMNS) <= set(table.columns):
        return table
    keys = [c for c in table.columns if c not in LONG_COLUMNS]
    wide = table.pivot_table(index=keys, columns="metric", values=["q05", "q50", "q95"], aggfunc="first",
                             sort=False, dropna=False)
    out = pd.DataFrame(index=wide.index)
    for metric in table["metric"].drop_duplicates():
        out[metric] = wide["q50", metric]
        low, high = wide["q05", metric], wide["q95", metric]
        if low.notna().any():
            out[f"{metric} [90%]"] = [f"[{_g(a)}, {_g(b)}]" if np.isfinite(a) else "" for a, b in zip(low, high)]
    flags = table.groupby(keys, sort=False)["flags"].agg(
        lambda cells: ", ".join(dict.fromkeys(f for cell in cells for f in flag_list(cell))))
    out["flags"] = flags.reindex(out.index)
    return out.reset_index()


def table_page(table: pd.DataFrame, title: str, note: str) -> str:
    """``table`` as a page with a sortable (click a heading) and filterable
    HTML table: numbers to three significant figures, sorted by their value."""
    rows = [[_cell(value) for value in row] for row in table.itertuples(index=False)]
    return TEMPLATES.get_template("table.html.j2").render(
        title=title, note=note, columns=[str(c) for c in table.columns], rows=rows)


def write_table_page(path, table: pd.DataFrame, title: str, note: str) -> Path:
    return write_text_atomic(Path(path), table_page(browsable(table), title, note))


def _g(value: float) -> str:
    return format(value, ".3g")


def _cell(value) -> dict:
    """A table cell: its text and, for numbers, the value it sorts by."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        finite = np.isfinite(value)
        return {"text": _g(value) if finite else "", "sort": repr(float(value)) if finite else "", "number": True}
    return {"text": "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value),
            "sort": None, "number": False}


# --- numbers for people ---------------------------------------------------------------


def number(value, fmt: str = ".2f") -> str:
    return format(value, fmt) if np.isfinite(value) else "–"


def percent(value) -> Markup:
    """A probability for people: whole percent, never a flat 0% or 100%."""
    if not np.isfinite(value):
        return Markup("–")
    return Markup("&gt;99%" if value > 0.99 else "&lt;1%" if value < 0.01 else f"{value:.0%}")


def molar(log10_molar: float, low: float = np.nan, high: float = np.nan) -> str:
    """A concentration from log10 molar, in nM below 1 µM and in µM above,
    three significant figures; with its interval (same unit) when given."""
    if not np.isfinite(log10_molar):
        return "not reached"
    scale, unit = (1e9, "nM") if log10_molar < -6 else (1e6, "µM")
    text = f"{_significant(10 ** log10_molar * scale)} {unit}"
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{_significant(10 ** low * scale)}, {_significant(10 ** high * scale)}]"
    return text


def _significant(value: float) -> str:
    """Three significant figures, written out (1350, not 1.35e+03)."""
    return format(float(f"{value:.3g}"), "g") if value < 1e6 else f"{value:.3g}"


def _rows(drugs: pd.DataFrame) -> list[dict]:
    """Template rows: every number as the text the page shows."""
    return [{
        "drug": str(r.drug),
        "aac": f"{number(r.aac)} [{number(r.aac_q05)}, {number(r.aac_q95)}]",
        "dss2": number(r.dss2, ".1f"),
        "emax": percent(r.emax),
        "ic50": molar(r.log10_ic50, r.log10_ic50_q05, r.log10_ic50_q95),
        "p_ic50_below_top_dose": percent(r.p_ic50_below_top_dose),
        "p_active": percent(r.p_aac_above_activity_floor),
        "informative": bool(r.relative_informative),
        "cohort_patients": int(r.cohort_patients) if np.isfinite(r.cohort_patients) else 0,
        "sdss2": f"{number(r.sdss2, '.1f')} [{number(r.sdss2_q05, '.1f')}, {number(r.sdss2_q95, '.1f')}]",
        "p_cohort": percent(r.p_more_sensitive_than_cohort),
        "rank": number(r.rank, "g"),
        "p_top3": percent(r.p_top3),
        "flags": ", ".join(f.replace("_", " ") for f in r.flags if f not in PAGE_FLAGS),
        **(_gr_cells(r) if "grmax" in drugs.columns else {}),
        **(_dip_cells(r) if "dip_emax" in drugs.columns else {}),
    } for r in drugs.itertuples()]


def _gr_cells(r) -> dict:
    """GR50 and GRmax; a dash where the drug's lines have no time-zero plates (no GRmax)."""
    if not np.isfinite(r.grmax):
        return {"gr50": "–", "grmax": "–"}
    return {"gr50": molar(r.log10_gr50, r.log10_gr50_q05, r.log10_gr50_q95),
            "grmax": f"{number(r.grmax)} [{number(r.grmax_q05)}, {number(r.grmax_q95)}]"}


def _dip_cells(r) -> dict:
    """DIP EC50 and Emax, the Emax in doublings per day (the tables give it per hour)."""
    per_day = [24 * v for v in (r.dip_emax, r.dip_emax_q05, r.dip_emax_q95)]
    return {"dip_ec50": molar(r.dip_log10_ec50, r.dip_log10_ec50_q05, r.dip_log10_ec50_q95),
            "dip_emax": f"{number(per_day[0])} [{number(per_day[1])}, {number(per_day[2])}]"}


def _order_text(active: pd.DataFrame) -> str:
    """How :func:`drug_table` ordered the active drugs, in words."""
    if active["relative_informative"].all():
        return "ordered by relative sensitivity (median rank)"
    if not active["relative_informative"].any():
        return "ordered by DSS2 (absolute: the cohort is too small to compare)"
    return "ordered by relative sensitivity (median rank), then those without a comparable cohort by DSS2"


# --- caveats --------------------------------------------------------------------------


def _caveats(drugs: pd.DataFrame, unit: str, misfits: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(drug, what its flags mean) for drugs with flags beyond the page-wide
    ones; a curve misfit with its doses where ``misfits`` (drug -> words) has them."""
    misfits = misfits or {}
    explained = [(str(r.drug), [f for f in r.flags if f not in PAGE_FLAGS]) for r in drugs.itertuples()]
    return [(drug, "; ".join(explain(f, unit) + (f" ({misfits[drug]})" if f == "curve_misfit" and drug in misfits
                                                  else "") for f in flags))
            for drug, flags in explained if flags]


def _misfit_doses(line_checks: pd.DataFrame | None, lines: set[str]) -> dict[str, str]:
    """Per drug, the misfit doses of the patient's ``lines`` in words:
    'L1: 16 nM, 79 nM read below the curve'."""
    if line_checks is None or line_checks.empty:
        return {}
    flagged = line_checks[(line_checks["curve_misfit"].astype(str) == "True") & line_checks["line"].isin(lines)]
    words: dict[str, list[str]] = {}
    for row in flagged.itertuples():
        doses = ", ".join(molar(float(x)) for x in str(row.misfit_log10_conc_molar).split(","))
        words.setdefault(str(row.drug), []).append(f"{row.line}: {doses} read {row.misfit_side} the curve")
    return {drug: "; ".join(parts) for drug, parts in words.items()}


def explain(flag: str, unit: str = SAMPLE_UNIT) -> str:
    """What a flag means, in words naming the screen's sample unit."""
    if flag not in FLAG_TEXT:
        return f"flag '{flag}' (no explanation available)"
    return FLAG_TEXT[flag].format(units=f"{unit}s")


def _patient_plates(plates_qc: pd.DataFrame, patient: str) -> pd.DataFrame:
    """The patient's plates with a boolean ``used`` (fitted) column."""
    plates = plates_qc[plates_qc["patient"].astype(str) == str(patient)].copy()
    fit = plates["fit"] if "fit" in plates else pd.Series(True, index=plates.index)
    plates["used"] = fit if fit.dtype == bool else fit.astype(str).str.strip().str.lower() == "true"
    return plates


def _units_caveat(plates: pd.DataFrame, unit: str) -> str:
    if plates.empty:
        return "No plates of this patient are listed in plate QC."
    counts = plates.groupby("line")["used"].agg(["size", "sum"])
    units = [f"{line} ({int(n_used)} of {int(n)} plate(s) used)" for line, (n, n_used) in counts.iterrows()]
    return f"{unit.capitalize()}s of this patient: " + "; ".join(units) + "."


def _excluded_plates(plates: pd.DataFrame) -> list[dict]:
    bad = plates[(plates["status"].astype(str) == "fail") | ~plates["used"]]
    return [{"plate": str(p.plate), "line": str(p.line), "status": str(p.status), "used": bool(p.used),
             "reason": _why(p)} for p in bad.itertuples()]


def _why(plate) -> str:
    for text in (getattr(plate, "exclusion", ""), getattr(plate, "reasons", "")):
        if isinstance(text, str) and text.strip():
            return text
    return "no reason recorded"


def _data_uri(path) -> str:
    path = Path(path)
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot embed {path}: not one of {', '.join(IMAGE_TYPES)}")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
