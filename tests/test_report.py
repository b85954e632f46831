"""Patient figures and the patient page, on one tiny SVI fit and summary tables
built by hand to the spec of results/summary/ (patient_drug.tsv, metrics.zarr)."""

import base64
import copy
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import PathCollection, PolyCollection

from pdoscreen import plots, report
from pdoscreen.fit import FitSettings, fit_drug, plate_priors
from pdoscreen.simulate import Design, screen
from pdoscreen.store import open_inference_data, write_inference_data

# Median rank per drug (1 = most sensitive); deliberately not alphabetical.
RANKS = {"Olaparib": 1, "Afatinib": 2, "SN-38": 3, "Gemcitabine": 4, "Bortezomib": 5, "Paclitaxel": 6}
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def idata(request, tmp_path_factory):
    """Two patients x two lines x one plate, one drug, SVI (about 25 s with a warm
    compile cache; the cache lives in pytest's cache directory between runs)."""
    import jax

    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    directory = cache.mkdir("jax-compile") if cache is not None else tmp_path_factory.mktemp("jax")
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    ds, _ = screen(Design(n_patients=2, lines_per_patient=2, plates_per_line=1, replicates=1), 3)
    settings = FitSettings(method="svi", svi_steps=800, chains=1, draws=200, seed=1)
    return fit_drug(ds, "drugA", plate_priors(ds), list(ds.plate.values), settings)


@pytest.fixture(scope="module")
def fits(idata, tmp_path_factory):
    """drugA (approximate; read back from a store, so labels are StringDType), drugB
    (the same fit marked NUTS), drugC (patient P2 only)."""
    path = tmp_path_factory.mktemp("fits") / "drugA.zarr"
    write_inference_data(idata, path)
    exact = copy.deepcopy(idata)
    exact.posterior.attrs.update(drug="drugB", approximate=0, method="NUTS")
    lines = idata.constant_data.obs_line.values.astype(str)
    only_p2 = idata.isel(patient=[1], line=[2, 3], plate=[2, 3], obs=np.char.startswith(lines, "P2"))
    return {"drugA": open_inference_data(path), "drugB": exact, "drugC": only_p2}


def patient_drug_table(patients: list[str]) -> pd.DataFrame:
    """The long patient table: every metric for each patient x drug; the second
    patient lacks Paclitaxel; Afatinib is flagged."""
    rows = []
    for k, patient in enumerate(patients):
        for drug, rank in RANKS.items():
            if k == 1 and drug == "Paclitaxel":
                continue
            aac = 0.7 - 0.1 * rank + 0.013 * k
            flags = "ic50_not_reached,approximate_fit" if drug == "Afatinib" else ""
            values = {"aac": (aac, aac - 0.07, aac + 0.08), "rank": (rank, rank - 1, rank + 1),
                      "p_more_sensitive_than_cohort": (0.9 - 0.1 * rank,) * 3, "p_top3": (1.0 / rank,) * 3}
            for metric, (q50, q05, q95) in values.items():
                rows.append(dict(patient=patient, drug=drug, metric=metric, mean=q50 + (metric == "rank") * 0.1,
                                 sd=0.04, q05=q05, q50=q50, q95=q95, flags=flags))
    return pd.DataFrame(rows)


def metrics_dataset(seed: int = 0) -> xr.Dataset:
    """Draws of patient AAC and rank; P3 does not carry Gemcitabine."""
    rng = np.random.default_rng(seed)
    drugs, patients = ["Afatinib", "Olaparib", "Gemcitabine", "SN-38"], ["P1", "P2", "P3"]
    centre = np.array([[0.2, 0.3, 0.25], [0.5, 0.35, 0.3], [0.45, 0.4, np.nan], [0.1, 0.6, 0.2]])
    aac = centre[:, :, None] + rng.normal(0, 0.05, (4, 3, 300))
    order = np.argsort(np.argsort(-np.nan_to_num(aac, nan=-np.inf), axis=0), axis=0) + 1.0
    rank = np.where(np.isnan(aac), np.nan, order)
    dims = ("drug", "patient", "draw")
    return xr.Dataset({"patient_aac": (dims, aac), "patient_rank": (dims, rank)},
                      coords={"drug": drugs, "patient": patients, "draw": np.arange(300)})


def plates_qc_table(patient: str) -> pd.DataFrame:
    return pd.DataFrame({
        "plate": ["X-L1-R1", "X-L1-R2", "X-L2-R1", "Other-R1"],
        "patient": [patient, patient, patient, "other"],
        "line": ["X-L1", "X-L1", "X-L2", "other-L1"],
        "status": ["pass", "fail", "warn", "fail"],
        "reasons": ["", "Z' = 0.1 < 0.3 (fail)", "vehicle CV = 16% > 15% (warn)", "Z' = 0 (fail)"],
        "fit": ["true", "false", "true", "false"],
        "exclusion": ["", "QC fail: Z' = 0.1 < 0.3; <img src=x onerror=alert(1)>", "", "QC fail: Z' = 0"],
    })


def test_patient_curves_one_panel_per_carried_drug(fits):
    figure = plots.patient_curves(fits, "P1")
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["drugA  ·  approximate (SVI)", "drugB"]
    assert len(plots.patient_curves(fits, "P2").axes) == 3
    assert plots.patient_curves(fits, "nobody").axes == []
    plt.close("all")


def test_observed_wells_are_viabilities_on_the_curve_scale(fits, idata):
    axes = plots.patient_curves(fits, "P1").axes[0]
    post, const = idata.posterior, idata.constant_data
    for plate in ["P1-L1-R1", "P1-L2-R1"]:
        (points,) = [c for c in axes.collections if isinstance(c, PathCollection) and c.get_label() == f"plate {plate}"]
        gain = np.exp(float(post.log_gain.sel(plate=plate).median()))
        floor = 1 / (1 + np.exp(-float(post.logit_floor.sel(plate=plate).median())))
        mine = const.obs_plate.values.astype(str) == plate
        y = idata.observed_data.y.values[mine] / post.attrs["signal_scale"]
        expected = np.column_stack([const.log10_conc_molar.values[mine], (y / gain - floor) / (1 - floor)])
        np.testing.assert_allclose(points.get_offsets(), expected, rtol=1e-10)
    plt.close("all")


def test_band_contains_the_median_curve(fits):
    axes = plots.patient_curves(fits, "P1").axes[1]
    for line in ["P1-L1", "P1-L2"]:
        (curve,) = [artist for artist in axes.lines if artist.get_label() == line]
        (band,) = [c for c in axes.collections if isinstance(c, PolyCollection) and c.get_label() == f"{line} 90% band"]
        x, median = curve.get_data()
        outline = band.get_paths()[0].vertices
        for xi, yi in zip(x, median):
            ys = outline[np.isclose(outline[:, 0], xi), 1]
            assert ys.min() - 1e-12 <= yi <= ys.max() + 1e-12
        assert np.ptp(outline[:, 1]) > 0.3  # a real band, not a line
        assert median[0] > 0.8 and median[-1] < 0.5  # the simulated lines respond
    plt.close("all")


def test_heatmap_cells_match_the_table():
    table = patient_drug_table(["P1", "P2"])
    axes = plots.aac_heatmap(table).axes[0]
    texts = [t.get_text() for t in axes.texts]
    drugs = [label.get_text() for label in axes.get_xticklabels()]
    patients = [label.get_text() for label in axes.get_yticklabels()]
    for row in table[table.metric == "aac"].itertuples():
        assert f"{row.q50:.2f}\n[{row.q05:.2f}, {row.q95:.2f}]" in texts
    assert texts.count("not tested") == 1
    flagged = {(round(p.get_y() + 0.45), round(p.get_x() + 0.45)) for p in axes.patches if p.get_gid() == "flagged"}
    assert flagged == {(patients.index(p), drugs.index("Afatinib")) for p in ["P1", "P2"]}
    assert drugs[0] == "Olaparib"  # most active first
    plt.close("all")


def test_cohort_forest_orders_by_rank_and_annotates_probability():
    metrics = metrics_dataset()
    axes = plots.cohort_forest(metrics, "P1").axes[0]
    drugs = [label.get_text() for label in axes.get_yticklabels()]
    rank = metrics.patient_rank.sel(patient="P1").median("draw").to_series()
    assert drugs == list(rank.sort_values().index)
    aac = metrics.patient_aac
    cohort = aac.sel(drug="Olaparib", patient=["P2", "P3"]).median("patient").values
    p = np.mean(aac.sel(drug="Olaparib", patient="P1").values > cohort)
    assert f"{p:.2f}" in [t.get_text() for t in axes.texts]
    grey = [len(c.get_offsets()) for c in axes.collections if c.get_gid() == "cohort"]
    assert sorted(grey) == [1, 2, 2, 2]  # P3 lacks Gemcitabine
    plt.close("all")


@pytest.fixture(scope="module")
def page(fits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    table = patient_drug_table([HOSTILE, "P9"])
    figures = {"Dose-response curves": plots.patient_curves(fits, "P1"), "AAC heatmap": plots.aac_heatmap(table),
               "Against the cohort": plots.cohort_forest(metrics_dataset(), "P1")}
    paths = {}
    for caption, figure in figures.items():
        paths[caption] = folder / f"{len(paths)}.png"
        figure.savefig(paths[caption], dpi=50)
    plt.close("all")
    out = report.write_patient_page(folder / "page" / "patient.html", HOSTILE, table, plates_qc_table(HOSTILE), paths)
    return out.read_text(encoding="utf-8")


def test_page_lists_top_drugs_in_rank_order(page):
    top = page[page.index('<table class="top">'):]
    top = top[: top.index("</table>")]
    positions = [top.find(f"<b>{drug}</b>") for drug in RANKS]
    assert all(p >= 0 for p in positions[:5]) and positions[5] == -1  # top 5 only
    assert positions[:5] == sorted(positions[:5])
    assert "0.50 [0.43, 0.58]" in top  # Afatinib's AAC, interval
    assert report.FLAG_TEXT["ic50_not_reached"] in page


def test_page_escapes_hostile_text(page):
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "onerror" not in re.sub(r"&lt;.*?&gt;", "", page)  # only as escaped text


def test_page_lists_failed_plates_with_reasons(page):
    plates = page[page.index('<table class="plates">'):]
    assert "X-L1-R2" in plates and "QC fail: Z&#x27; = 0.1 &lt; 0.3" in plates
    assert "X-L1-R1" not in plates and "Other-R1" not in plates
    assert "X-L1 (1 of 2 plate(s) used)" in page


def test_page_embeds_its_images(page):
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(sources) == 3
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"<(link|script|iframe)\b|url\(|https?://", page, re.IGNORECASE)
