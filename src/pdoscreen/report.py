"""The patient page: one self-contained HTML page per patient (inline CSS, figures
embedded as data URIs, nothing fetched from elsewhere) that a clinician-scientist
can read: the drugs the patient's organoids are most sensitive to, how sure the
model is, and what to be careful about. Every piece of text from the inputs is
escaped."""

from __future__ import annotations

import base64
import os
import uuid
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

TOP_N = 5
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
}
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
STYLE = """
@page { size: A4; margin: 12mm; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #222;
       margin: 0 auto; max-width: 60em; padding: 1em 1.5em; }
h1 { font-size: 1.5em; margin: 0 0 0.2em; } h2 { font-size: 1.15em; margin: 1.2em 0 0.4em;
     border-bottom: 1px solid #ccc; }
.lead { color: #555; margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.95em; }
th, td { text-align: left; padding: 0.3em 0.6em; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.flag { color: #a04000; font-size: 0.9em; }
ul.caveats li { margin-bottom: 0.3em; }
figure { margin: 1em 0; break-inside: avoid; } figure img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
.guide, .note { color: #555; font-size: 0.9em; }
"""


def patient_page(patient: str, patient_drug: pd.DataFrame, plates_qc: pd.DataFrame, figures: dict) -> str:
    """One patient's page as a self-contained HTML string. ``patient_drug`` is the long
    table of results/summary/patient_drug.tsv, ``plates_qc`` results/qc/plates.tsv,
    ``figures`` caption -> image file (PNG, SVG or JPEG), shown in that order."""
    drugs = drug_table(patient_drug, patient)
    top = drugs.head(TOP_N)
    body = [
        f"<h1>Drug sensitivity: patient {escape(str(patient))}</h1>",
        f'<p class="lead">{_lead(drugs, plates_qc, patient)}</p>',
        f"<h2>Top {TOP_N} drugs for this patient, relative to the cohort (by median rank)</h2>",
        _top_table(top),
        "<h2>Caveats</h2>",
        _caveats(top, drugs, _patient_plates(plates_qc, patient)),
        "<h2>Figures</h2>" if figures else "",
        *(_figure(caption, path) for caption, path in figures.items()),
        _guide(),
    ]
    title = escape(f"Patient {patient}: drug sensitivity")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_patient_page(path, patient: str, patient_drug: pd.DataFrame, plates_qc: pd.DataFrame,
                       figures: dict) -> Path:
    """Write :func:`patient_page` to ``path`` (readers never see a half-written page)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(patient_page(patient, patient_drug, plates_qc, figures), encoding="utf-8")
    os.replace(tmp, path)
    return path


def flag_list(flags) -> list[str]:
    """A flags cell (comma-separated, possibly empty or NaN) as a list."""
    return [f.strip() for f in flags.split(",") if f.strip()] if isinstance(flags, str) else []


def drug_table(patient_drug: pd.DataFrame, patient: str) -> pd.DataFrame:
    """One row per drug the patient carries, most sensitive first (median rank, then
    mean rank, then median AAC): rank, aac (q50, q05, q95), p_cohort, p_top3, flags."""
    rows = patient_drug[patient_drug["patient"].astype(str) == str(patient)]
    q50 = rows.pivot(index="drug", columns="metric", values="q50").reindex(
        columns=["rank", "aac", "p_more_sensitive_than_cohort", "p_top3"])
    table = pd.DataFrame({
        "rank": q50["rank"],
        "rank_mean": rows[rows.metric == "rank"].set_index("drug")["mean"],
        "aac": q50["aac"],
        "aac_q05": rows[rows.metric == "aac"].set_index("drug")["q05"],
        "aac_q95": rows[rows.metric == "aac"].set_index("drug")["q95"],
        "p_cohort": q50["p_more_sensitive_than_cohort"],
        "p_top3": q50["p_top3"],
        "flags": rows.groupby("drug")["flags"].agg(lambda cells: list(dict.fromkeys(
            f for cell in cells for f in flag_list(cell)))),
    }, index=q50.index)
    table["negative_aac"] = -table["aac"]
    table = table.sort_values(["rank", "rank_mean", "negative_aac"], na_position="last", kind="stable")
    return table.drop(columns="negative_aac").rename_axis("drug").reset_index()


def _number(value, fmt: str = ".2f") -> str:
    return format(value, fmt) if np.isfinite(value) else "–"


def _percent(value) -> str:
    """A probability for people: whole percent, never a flat 0% or 100%."""
    if not np.isfinite(value):
        return "–"
    return "&gt;99%" if value > 0.99 else "&lt;1%" if value < 0.01 else f"{value:.0%}"


def _lead(drugs: pd.DataFrame, plates_qc: pd.DataFrame, patient: str) -> str:
    plates = _patient_plates(plates_qc, patient)
    lines = sorted(plates["line"].astype(str).unique())
    return escape(f"{len(drugs)} drug(s) analysed; organoid line(s): {', '.join(lines) or 'none listed'}; "
                  f"{int(plates['used'].sum())} of {len(plates)} plate(s) used.")


def _top_table(top: pd.DataFrame) -> str:
    if top.empty:
        return '<p class="note">No drug results for this patient.</p>'
    head = ("<tr><th>median rank</th><th>drug</th><th>AAC median [90% interval]</th>"
            "<th>P(more sensitive than cohort)</th><th>P(in top 3)</th><th>flags</th></tr>")
    rows = [
        f'<tr><td class="num">{_number(r.rank, "g")}</td><td><b>{escape(str(r.drug))}</b></td>'
        f'<td class="num">{_number(r.aac)} [{_number(r.aac_q05)}, {_number(r.aac_q95)}]</td>'
        f'<td class="num">{_percent(r.p_cohort)}</td><td class="num">{_percent(r.p_top3)}</td>'
        f'<td class="flag">{escape(", ".join(f.replace("_", " ") for f in r.flags))}</td></tr>'
        for r in top.itertuples()
    ]
    return f'<table class="top">{head}{"".join(rows)}</table>'


def _caveats(top: pd.DataFrame, drugs: pd.DataFrame, plates: pd.DataFrame) -> str:
    explained = [(r.drug, [f for f in r.flags if f != "approximate_fit"]) for r in top.itertuples()]
    items = [f"<b>{escape(str(drug))}</b>: " + "; ".join(escape(_explain(f)) for f in flags) + "."
             for drug, flags in explained if flags]
    approximate = [str(d) for d, flags in zip(drugs["drug"], drugs["flags"]) if "approximate_fit" in flags]
    if approximate:
        items.append("Approximate fits (SVI; intervals may be too narrow): " + escape(", ".join(approximate)) + ".")
    items += [_lines_caveat(plates)] + ([_plates_caveat(plates)] if len(plates) else [])
    return '<ul class="caveats">' + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _explain(flag: str) -> str:
    return FLAG_TEXT.get(flag, f"flag '{flag}' (no explanation available)")


def _patient_plates(plates_qc: pd.DataFrame, patient: str) -> pd.DataFrame:
    """The patient's plates with a boolean ``used`` (fitted) column."""
    plates = plates_qc[plates_qc["patient"].astype(str) == str(patient)].copy()
    fit = plates["fit"] if "fit" in plates else pd.Series(True, index=plates.index)
    plates["used"] = fit if fit.dtype == bool else fit.astype(str).str.strip().str.lower() == "true"
    return plates


def _lines_caveat(plates: pd.DataFrame) -> str:
    if plates.empty:
        return "No plates of this patient are listed in plate QC."
    counts = plates.groupby("line")["used"].agg(["size", "sum"])
    lines = [f"{line} ({int(n_used)} of {int(n)} plate(s) used)" for line, (n, n_used) in counts.iterrows()]
    return "Organoid lines of this patient: " + escape("; ".join(lines)) + "."


def _plates_caveat(plates: pd.DataFrame) -> str:
    bad = plates[(plates["status"].astype(str) == "fail") | ~plates["used"]]
    if bad.empty:
        return "No plate of this patient failed QC or was left out of the fits."
    rows = "".join(
        f"<tr><td>{escape(str(p.plate))}</td><td>{escape(str(p.line))}</td><td>{escape(str(p.status))}</td>"
        f"<td>{'yes' if p.used else 'no'}</td><td>{escape(_why(p))}</td></tr>"
        for p in bad.itertuples()
    )
    return ("Plates that failed QC or were left out of the fits:"
            '<table class="plates"><tr><th>plate</th><th>line</th><th>QC status</th><th>used in fit</th>'
            f"<th>reason</th></tr>{rows}</table>")


def _why(plate) -> str:
    for text in (getattr(plate, "exclusion", ""), getattr(plate, "reasons", "")):
        if isinstance(text, str) and text.strip():
            return text
    return "no reason recorded"


def _figure(caption: str, path) -> str:
    path = Path(path)
    kind = IMAGE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot embed {path}: not one of {', '.join(IMAGE_TYPES)}")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{escape(caption)}" src="data:{kind};base64,{data}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _guide() -> str:
    return (
        '<h2>How to read this page</h2><p class="guide">'
        "<b>AAC</b> (area above the dose-response curve) summarises a drug's effect over its tested dose range: "
        "0 means no effect, 1 means every cell killed at every dose. Square brackets give the 90% credible "
        "interval: the model puts 90% probability on the true value lying inside it. "
        "<b>Rank</b> orders the patient's drugs by how far the patient's AAC lies above the cohort's for that "
        "drug (drugs are tested over different dose ranges, so raw AAC is not compared across drugs); rank 1 is "
        "the drug for which this patient stands out most. <b>P(more sensitive than cohort)</b> is the "
        "probability that the patient's AAC is above the median AAC of the other patients tested with the drug; "
        "<b>P(in top 3)</b> the probability that the drug ranks among the patient's three best. These are "
        "laboratory results on organoids, not a treatment recommendation.</p>"
    )
