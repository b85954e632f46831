"""The patient page: one self-contained HTML page per patient (inline CSS,
figures embedded as data URIs, the interactive waterfall's plotly.js inline,
nothing fetched from elsewhere) that a tumour board can act on: which drugs do
something in this patient (absolute sensitivity), and which of those the
patient responds to more than the cohort does (relative sensitivity), with how
sure the model is and what to be careful about.

The page comes from the Jinja2 template ``templates/patient.html.j2``, with
autoescaping: every piece of text from the inputs is escaped. It holds no
timestamp or random id, so reruns write the same bytes."""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from .summarize import ACTIVITY_AAC_FLOOR, MIN_COHORT_PATIENTS, RELATIVE_METRICS

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
    "line_disagrees_with_patient": "the patient's organoid lines responded differently; the patient value "
    "averages over lines that disagree",
    "cohort_too_small": "too few patients carry this drug for a comparison with the cohort to mean anything",
}
# Flags said once for the whole page rather than per drug.
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
    and ``<metric>_q05``/``_q95`` for :data:`TABLE_METRICS`, ``rank_mean``,
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
    for metric in TABLE_METRICS:
        table[metric] = wide["q50", metric]
        table[f"{metric}_q05"], table[f"{metric}_q95"] = wide["q05", metric], wide["q95", metric]
    table["rank_mean"] = wide["mean", "rank"]
    table["flags"] = rows.groupby("drug")["flags"].agg(
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


def patient_page(patient: str, drugs: pd.DataFrame, plates_qc: pd.DataFrame, figures: dict,
                 rules: PageRules = PageRules(), waterfall_png=None, interactive: bool = True) -> str:
    """One patient's page as a self-contained HTML string. ``drugs`` is
    :func:`drug_table`'s, ``plates_qc`` results/qc/plates.tsv, ``figures``
    caption -> image file (PNG, SVG or JPEG), shown in that order;
    ``waterfall_png`` the static waterfall, shown where JavaScript is off (or
    always, without ``interactive``)."""
    from .plots import waterfall_bars, waterfall_plotly

    plates = _patient_plates(plates_qc, patient)
    active, inactive = drugs[drugs.active], drugs[~drugs.active]
    not_informative = drugs[~drugs.relative_informative]
    context = {
        "patient": str(patient),
        "rules": rules,
        "units": sorted(plates["line"].astype(str).unique()),
        "n_plates": len(plates),
        "n_plates_used": int(plates["used"].sum()),
        "active": _rows(active),
        "active_order": _order_text(active),
        "inactive": _rows(inactive),
        "n_drugs": len(drugs),
        "not_informative": _rows(not_informative),
        "cohort_sizes": sorted({int(n) for n in not_informative["cohort_patients"] if np.isfinite(n)}),
        "caveats": _caveats(drugs),
        "approximate": [str(d) for d, flags in zip(drugs["drug"], drugs["flags"]) if "approximate_fit" in flags],
        "unit_caveat": _units_caveat(plates, rules.sample_unit),
        "excluded_plates": _excluded_plates(plates),
        "waterfall": {
            "selective": waterfall_bars(drugs).attrs["selective"],
            "div": Markup(waterfall_plotly(drugs, patient).to_html(
                full_html=False, include_plotlyjs=True, div_id="waterfall",
                config={"displaylogo": False, "responsive": True})) if interactive and len(drugs) else None,
            "png": _data_uri(waterfall_png) if waterfall_png is not None else None,
        },
        "figures": [(caption, _data_uri(path)) for caption, path in figures.items()],
    }
    return TEMPLATES.get_template("patient.html.j2").render(context)


def write_patient_page(path, patient: str, drugs: pd.DataFrame, plates_qc: pd.DataFrame, figures: dict,
                       rules: PageRules = PageRules(), waterfall_png=None, interactive: bool = True) -> Path:
    """Write :func:`patient_page` to ``path`` (readers never see a half-written page)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(patient_page(patient, drugs, plates_qc, figures, rules, waterfall_png, interactive),
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


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
    } for r in drugs.itertuples()]


def _order_text(active: pd.DataFrame) -> str:
    """How :func:`drug_table` ordered the active drugs, in words."""
    if active["relative_informative"].all():
        return "ordered by relative sensitivity (median rank)"
    if not active["relative_informative"].any():
        return "ordered by DSS2 (absolute: the cohort is too small to compare)"
    return "ordered by relative sensitivity (median rank), then those without a comparable cohort by DSS2"


# --- caveats --------------------------------------------------------------------------


def _caveats(drugs: pd.DataFrame) -> list[tuple[str, str]]:
    """(drug, what its flags mean) for drugs with flags beyond the page-wide ones."""
    explained = [(str(r.drug), [f for f in r.flags if f not in PAGE_FLAGS]) for r in drugs.itertuples()]
    return [(drug, "; ".join(_explain(f) for f in flags)) for drug, flags in explained if flags]


def _explain(flag: str) -> str:
    return FLAG_TEXT.get(flag, f"flag '{flag}' (no explanation available)")


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
