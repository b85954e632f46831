"""The workflow end to end on the example screen, from raw files to the screen
store, checked against values read straight from the files, and on to the fits,
summaries, report and plate QC (the real CLL screen: test_cll.py)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pdoscreen
import pdoscreen.cli
import pdoscreen.pages
from conftest import EXAMPLE_SHEET, QUICK_DRAWS, QUICK_FIT, QUICK_RUN, REPO, UP_TO_QC
from pdoscreen.qc import read_plate_qc
from pdoscreen.store import open_inference_data
from test_qc import TSV_COLUMNS

# The example_run fixture (tests/conftest.py) runs the workflow once per session; the CLL screen has its
# own file, test_cll.py.


def test_example_summary_is_printed(example_run):
    workdir, run = example_run
    summary = "10 plates (0 excluded), 3 patients, 5 lines, 8 drugs, 384 wells per plate"
    assert summary in run.stdout + run.stderr
    assert summary in (workdir / "results" / "screen_summary.txt").read_text()


def test_fit_progress_is_on_the_terminal_and_logs_are_quiet(example_run):
    """Each drug's start and end (time, diagnostics verdict) reach the terminal;
    the logs hold no library chatter a user should not have to read."""
    workdir, run = example_run
    terminal = run.stdout + run.stderr
    for drug in ["Afatinib", "Bortezomib", "Olaparib"]:
        assert f"INFO drug {drug}: fitting (svi)" in terminal
        assert re.search(rf"INFO drug {drug}: fitted in \d+ s; diagnostics: approximate", terminal)
        assert f"drug {drug}: fitted in" in (workdir / "logs" / "fit" / f"{drug}.log").read_text()
    # The fitting stage's progress after each drug, with the time left (progress.py).
    assert re.search(r"INFO fitting stage: 1 of 8 drugs done in \d+ (s|min); about \d+ (s|min) left", terminal)
    assert re.search(r"INFO fitting stage: 8 of 8 drugs done in \d+ (s|min)\n", terminal)
    logs = "".join(p.read_text() for p in (workdir / "logs").rglob("*.log"))
    for noise in ["Unable to initialize backend", "arviz_base", "FutureWarning", "not consolidated",
                  "snakemake_timestamp"]:
        assert noise not in logs + terminal, noise


def test_screen_matches_the_raw_files(example_run):
    workdir, _ = example_run
    screen = pdoscreen.open_screen(workdir / "results" / "screen.zarr")
    sheet = pd.read_csv(EXAMPLE_SHEET, sep="\t", dtype=str)
    assert list(screen.plate.values) == list(sheet.plate)
    assert set(screen.reader.values) == {"envision", "bmg_mars"}
    for row in sheet.itertuples():
        text = (EXAMPLE_SHEET.parent / row.file).read_text()
        # Row C as the instrument wrote it, whichever the vendor.
        line = next(l for l in text.splitlines() if l.startswith("C,"))
        written = [float(v) for v in line.split(",")[1:25]]
        row_c = [f"C{c:02d}" for c in range(1, 25)]
        np.testing.assert_array_equal(screen.signal.sel(plate=row.plate, well=row_c), written)
        assert screen.patient.sel(plate=row.plate) == row.patient
        assert screen.line.sel(plate=row.plate) == row.line
        assert screen.source_sha256.sel(plate=row.plate) == pdoscreen.plate.sha256(EXAMPLE_SHEET.parent / row.file)


def test_layout_is_joined_in_molar(example_run):
    workdir, _ = example_run
    screen = pdoscreen.open_screen(workdir / "results" / "screen.zarr")
    layout = pd.read_csv(EXAMPLE_SHEET.parent / "layouts" / "layout_A.csv")
    first = layout[layout.role == "treated"].iloc[0]
    well = pdoscreen.geometry.canonical_well(first.well)
    plate = screen.sel(plate="P01-L1-R1", well=well)
    assert plate.role == "treated" and plate.drug == first.drug
    assert plate.concentration_molar == pytest.approx(first.concentration * 1e-6)
    roles = screen.role.sel(plate="P01-L1-R1").values
    assert (roles == "vehicle").sum() == (layout.role == "vehicle").sum()
    assert (roles == "empty").sum() == 384 - len(layout)
    # The replicate plate uses the turned grid layout: the same well counts per drug.
    for drug in ["Bortezomib", "Olaparib"]:
        counts = (screen.drug == drug).sum("well").values
        assert set(counts) == {27}


def test_per_plate_store_round_trip(example_run):
    workdir, _ = example_run
    sheet = pd.read_csv(EXAMPLE_SHEET, sep="\t", dtype=str)
    row = sheet.iloc[-1]
    direct = pdoscreen.read_plate(EXAMPLE_SHEET.parent / row.file)
    stored = pdoscreen.store.open_zarr(workdir / "results" / "plates" / f"{row.plate}.zarr")
    np.testing.assert_array_equal(stored.signal.values, direct.signal.values)
    assert stored.attrs["barcode"] == direct.attrs["barcode"] != ""
    assert stored.attrs["source_sha256"] == direct.attrs["source_sha256"]
    assert stored.attrs["plate"] == row.plate


def test_immediate_rerun_does_nothing(example_run, run_snakemake):
    workdir, _ = example_run
    rerun = run_snakemake(workdir, *QUICK_RUN, "--dry-run")
    assert rerun.returncode == 0
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_lint_is_clean():
    lint = subprocess.run(
        [Path(sys.executable).parent / "snakemake", "--lint", "--snakefile", str(REPO / "Snakefile")],
        capture_output=True, text=True, cwd=REPO,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run(
        [Path(sys.executable).parent / "snakefmt", "--check", "Snakefile", "workflow"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


# ---------------------------------------------------------------- fits, summaries, report

DRUG_COUNT, PATIENTS = 8, ["P01", "P02", "P03"]


def test_summary_tables_cover_every_patient_and_drug(example_run):
    workdir, _ = example_run
    summary = workdir / "results" / "summary"
    patients = pd.read_csv(summary / "patient_drug.tsv", sep="\t")
    assert list(patients.columns[:8]) == ["patient", "drug", "metric", "mean", "sd", "q05", "q50", "q95"]
    assert sorted(patients.patient.unique()) == PATIENTS and patients.drug.nunique() == DRUG_COUNT
    for metric in ["aac", "auc", "log10_ec50", "dss2", "p_more_sensitive_than_cohort", "rank", "p_top3"]:
        assert len(patients[patients.metric == metric]) == len(PATIENTS) * DRUG_COUNT, metric
    # Every result of a quick fit says it is approximate.
    assert patients["flags"].str.contains("approximate_fit").all()
    aac = patients[patients.metric == "aac"]
    assert (aac.q05 <= aac.q50).all() and (aac.q50 <= aac.q95).all() and aac.q50.between(0, 1).all()
    # Ranks within a patient run from 1 to the number of drugs; three drugs share the top 3.
    for _, rows in patients[patients.metric == "p_top3"].groupby("patient"):
        assert rows["mean"].sum() == pytest.approx(3.0)
    parquet = pd.read_parquet(summary / "patient_drug.parquet")
    assert parquet.shape == patients.shape
    lines = pd.read_csv(summary / "line_drug.tsv", sep="\t")
    assert lines.line.nunique() == 5
    metrics = xr.open_zarr(summary / "metrics.zarr")  # consolidated: opens without a warning
    assert metrics.sizes["drug"] == DRUG_COUNT and metrics.sizes["draw"] == 2 * QUICK_DRAWS


def test_fit_outputs_are_labelled_approximate(example_run):
    workdir, _ = example_run
    diagnostics = pd.read_csv(workdir / "results/summary/fit_diagnostics.tsv", sep="\t")
    assert diagnostics.drug.nunique() == DRUG_COUNT and set(diagnostics.status) == {"approximate"}
    # every drug's fit row gives its ladder rung as an integer: 0, an SVI fit with no ladder
    rungs = pd.read_csv(workdir / "results/summary/fit_diagnostics.tsv", sep="\t", dtype=str).query("group == 'fit'")
    assert len(rungs) == DRUG_COUNT and set(rungs.rung) == {"0"}
    # and the Pareto k of its guide, which it states against 0.7 in the path
    for k, path in zip(rungs.pareto_k.astype(float), rungs.reasons):
        assert k > 0 and f"Pareto k {k:.2f} {'<=' if k <= 0.7 else '>'} 0.7" in path
    idata = open_inference_data(workdir / "results/fits/Afatinib.zarr")
    assert "approximate" in idata.posterior.attrs["method"]
    assert {"posterior", "log_likelihood", "posterior_predictive", "observed_data"} <= set(idata.groups())
    ppc = pd.read_csv(workdir / "results/fits/Afatinib.ppc.tsv", sep="\t")
    assert len(ppc) == 10 and ppc.fraction_inside_95.between(0, 1).all()


def test_patient_pages_and_report(example_run, run_snakemake):
    workdir, _ = example_run
    for patient in PATIENTS:
        page = (workdir / "results/patients" / patient / f"{patient}.html").read_text()
        # static pictures of the waterfall, curves, cohort heatmap and forest; plotly.js shared, not inlined
        assert f"patient {patient}" in page and page.count("data:image/png;base64,") == 4
        assert '<script src="../plotly.min.js">' in page and len(page) < 2_000_000
    assert (workdir / "results/summary/aac_heatmap.png").stat().st_size > 10_000
    report = run_snakemake(workdir, *QUICK_RUN, "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (workdir / "report.html").read_text()
    for item in ["patient_drug.tsv", "aac_heatmap.png", "P02.html", "overview.png", "fit_diagnostics.tsv",
                 "cohort.html", "patient_drug.html"]:
        assert item in html, item


def test_a_drug_with_nothing_to_fit_is_reported(example_run, tmp_path):
    workdir, _ = example_run
    qc = pd.read_csv(workdir / "results/qc/plates.tsv", sep="\t")
    qc.assign(fit=False).to_csv(tmp_path / "plates.tsv", sep="\t", index=False)
    fits = tmp_path / "fits"
    for drug in ["Afatinib", "Olaparib"]:
        for suffix in ["zarr", "lines.tsv", "diagnostics.tsv"]:
            source = workdir / "results/fits" / f"{drug}.{suffix}"
            (fits / source.name).parent.mkdir(exist_ok=True)
            subprocess.run(["cp", "-r", source, fits / source.name], check=True)
    unfitted = pdoscreen.cli.main([
        "fit", "--screen", str(workdir / "results/screen.zarr"), "--qc", str(tmp_path / "plates.tsv"),
        "--priors", str(workdir / "results/fits/plate_priors.tsv"), "--drug", "Paclitaxel",
        "--out", str(fits / "Paclitaxel.zarr"),
    ])
    assert unfitted == 0
    diagnostics = pd.read_csv(fits / "Paclitaxel.diagnostics.tsv", sep="\t")
    assert list(diagnostics.status) == ["not_fitted"]
    assert "no usable treated wells on the 0 plates" in diagnostics.reasons[0]
    summarized = pdoscreen.cli.main(["summarize", "--out-dir", str(tmp_path / "summary"),
                                     "--fits", *map(str, sorted(fits.glob("*.zarr")))])
    assert summarized == 0
    summary = pd.read_csv(tmp_path / "summary/patient_drug.tsv", sep="\t")
    assert set(summary.drug) == {"Afatinib", "Olaparib"}
    collected = pd.read_csv(tmp_path / "summary/fit_diagnostics.tsv", sep="\t")
    assert collected.drug.iloc[0] == "Paclitaxel" and collected.status.iloc[0] == "not_fitted"


def test_time_zero_plates_give_the_curves_gr(example_run, tmp_path, caplog):
    """The example screen with a time-zero plate per line (each line's first
    plate read at a quarter of its signal: the vehicle wells doubled twice;
    for the last line at twice its signal: they did not grow), summarised from
    the example's fits: the time-zero plates are in the screen store only, not
    among the fitted plates of plates.tsv."""
    from pdoscreen.normalise import add_normalised, control_doublings
    from pdoscreen.store import open_zarr, write_zarr_atomic

    workdir, _ = example_run
    screen = open_zarr(workdir / "results/screen.zarr")
    first = screen.isel(plate=np.unique(screen.line.values, return_index=True)[1])
    stalled = str(first.line.values[-1])
    factor = xr.DataArray(np.where(first.line.values == stalled, 2.0, 0.25), dims="plate")
    time_zero = first.assign(signal=first.signal * factor).assign_coords(
        plate=[f"{line}-T0" for line in first.line.values], timepoint_h=("plate", np.zeros(first.sizes["plate"])))
    # the screen store's GR values, as ingest computes them: per-curve GR rows for every drug
    write_zarr_atomic(add_normalised(xr.concat([screen, time_zero], dim="plate")).drop_encoding(),
                      tmp_path / "screen.zarr")
    fits = [str(workdir / "results/fits" / f"{drug}.zarr") for drug in ("Afatinib", "Olaparib")]
    assert pdoscreen.cli.main(["summarize", "--out-dir", str(tmp_path / "summary"), "--fits", *fits,
                               "--screen", str(tmp_path / "screen.zarr"),
                               "--qc", str(workdir / "results/qc/plates.tsv")]) == 0
    stalled_plates = sorted(screen.plate.values[screen.line.values == stalled])
    assert f"plate(s) {', '.join(stalled_plates)}: the vehicle wells read no higher" in caplog.text
    lines = pd.read_csv(tmp_path / "summary/line_drug.tsv", sep="\t")
    # only the fitted drugs, though the per-curve GR fits cover all eight
    assert set(lines.drug) == {"Afatinib", "Olaparib"} and "grmax_per_curve" in set(lines.metric)
    median = lines.pivot_table(index=["line", "drug"], columns="metric", values="q50")
    # every line of both drugs, but the one whose vehicle wells did not grow
    assert set(median.grmax.dropna().index.get_level_values("line")) == set(first.line.values) - {stalled}
    assert median.gr_aoc.notna().sum() == 2 * (len(first.line) - 1) and median.log10_gr50.notna().any()
    # Each line's GRmax is its curve's at the top dose: the median of a monotone
    # function of the viability there is the function of its median, up to the
    # spread of the plates' floors (about 0.001 in GR).
    doublings = control_doublings(open_zarr(tmp_path / "screen.zarr")).to_series()
    for (line, drug), row in median.dropna(subset=["grmax"]).iterrows():
        post = open_inference_data(workdir / "results/fits" / f"{drug}.zarr").posterior
        plates = post.plate.values[post.plate.to_series().str.startswith(f"{line}-").to_numpy()]
        floor = float((1 / (1 + np.exp(-post.logit_floor.sel(plate=plates)))).mean())
        signal = floor + (1 - floor) * (1 - row.emax)  # over the vehicle's
        assert row.grmax == pytest.approx(2 ** (1 + np.log2(signal) / doublings[plates].mean()) - 1, abs=0.01)


def test_batch_check_covers_the_example_batches(example_run):
    """The example's sample sheet has seeding-date batches; no batch term is fitted."""
    workdir, _ = example_run
    check = pd.read_csv(workdir / "results/summary/batch_check.tsv", sep="\t", keep_default_na=False)
    assert len(check) == DRUG_COUNT and set(check.factor) == {"batch"}
    assert not check.fitted.any() and check.anova_p.between(0, 1).all()
    # Each seeding date holds one patient's plates.
    assert check.note.str.contains("cannot be told from the patient").all()
    effects = pd.read_csv(workdir / "results/summary/batch_effects.tsv", sep="\t")
    assert effects.empty and list(effects.columns)[:4] == ["drug", "factor", "level", "quantity"]


# ---------------------------------------------------------------- plate QC in the workflow


def test_workflow_writes_plate_qc(example_run, run_snakemake):
    workdir, _ = example_run
    table = read_plate_qc(workdir / "results/qc/plates.tsv")
    assert list(table.columns) == TSV_COLUMNS
    assert len(table) == 10 and set(table.status) == {"pass"} and table.fit.all()
    assert table.z_prime.between(0.5, 1).all() and table.kill_cv.notna().all()
    # The example layouts keep the outer ring empty, so there is no edge ratio.
    assert table.edge_ratio.isna().all()
    heatmaps = sorted(p.stem for p in (workdir / "results/qc/heatmaps").glob("*.png"))
    assert heatmaps == sorted(table.plate)
    assert (workdir / "results/qc/overview.png").stat().st_size > 10_000
    screen = pdoscreen.open_screen(workdir / "results/screen.zarr")
    vehicle_poc = screen.percent_of_control.where(screen.role == "vehicle").mean("well")
    np.testing.assert_allclose(vehicle_poc, 100.0)
    assert screen.gr_value.isnull().all()  # the example has no time-zero plates
    # A threshold given on the command line reruns the QC.
    dry = run_snakemake(workdir, *UP_TO_QC, "--dry-run", "--config", f"sample_sheet={EXAMPLE_SHEET}",
                        "qc={z_prime_warn: 0.8}")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "rule plate_qc" in dry.stdout and "Params have changed" in dry.stdout


def _refit(workdir: Path, tmp_path: Path, flagged: list[str]) -> tuple[Path, str]:
    """Afatinib refitted as rule refit_drug does, with ``flagged`` plates marked
    spatial_artefact; returns the refit's zarr and its log."""
    spatial = pd.DataFrame({"plate": ["P01-L1-R1", "P01-L1-R2", "P02-L1-R1"], "spatial_artefact": False,
                            "region": ""})
    spatial.loc[spatial.plate.isin(flagged), ["spatial_artefact", "region"]] = [True, "rows B-D, columns 3-9"]
    spatial.to_csv(tmp_path / "spatial_artefacts.tsv", sep="\t", index=False)
    out = tmp_path / "refits" / "Afatinib.zarr"
    refit = subprocess.run([
        sys.executable, "-m", "pdoscreen", "--log", str(tmp_path / "refit.log"), "fit",
        "--screen", str(workdir / "results/screen.zarr"), "--qc", str(workdir / "results/qc/plates.tsv"),
        "--priors", str(workdir / "results/fits/plate_priors.tsv"), "--drug", "Afatinib", "--out", str(out),
        "--settings", json.dumps(QUICK_FIT), "--without-plates", str(tmp_path / "spatial_artefacts.tsv"),
        "--first-fit", str(workdir / "results/fits/Afatinib.zarr"),
    ], capture_output=True, text=True)
    assert refit.returncode == 0, refit.stderr[-3000:]
    return out, (tmp_path / "refit.log").read_text()


def test_refit_leaves_out_the_flagged_plates(example_run, tmp_path):
    """residual_checks.spatial_artefact: refit; line P01-L1 has only the two
    flagged plates, so it drops out of the refit, with a warning."""
    workdir, _ = example_run
    out, log = _refit(workdir, tmp_path, ["P01-L1-R1", "P01-L1-R2"])
    first = open_inference_data(workdir / "results/fits/Afatinib.zarr")
    refit = open_inference_data(out)
    assert {"P01-L1-R1", "P01-L1-R2"} <= set(first.posterior.plate.values)
    assert set(refit.posterior.plate.values) == set(first.posterior.plate.values) - {"P01-L1-R1", "P01-L1-R2"}
    assert "line P01-L1 has no plate left without P01-L1-R1, P01-L1-R2" in log
    fit_row = pd.read_csv(out.parent / "Afatinib.diagnostics.tsv", sep="\t").query("group == 'fit'").iloc[0]
    assert "refitted without P01-L1-R1 (spatial artefact: rows B-D, columns 3-9)" in fit_row.reasons
    assert "P01-L1" not in set(pd.read_csv(out.parent / "Afatinib.lines.tsv", sep="\t").line)


def test_refit_keeps_the_first_fit_of_a_drug_on_no_flagged_plate(example_run, tmp_path):
    workdir, _ = example_run
    out, log = _refit(workdir, tmp_path, [])
    assert "no plate of its left out; the first fit" in log and "fitting" not in log
    for kind in ("lines.tsv", "diagnostics.tsv", "ppc.tsv"):
        first = workdir / f"results/fits/Afatinib.{kind}"
        assert (out.parent / f"Afatinib.{kind}").read_bytes() == first.read_bytes()


def test_refit_mode_plans_refits_and_results_from_them(example_run, run_snakemake):
    workdir, _ = example_run
    plan = run_snakemake(workdir, *QUICK_RUN, "residual_checks={spatial_artefact: refit}", "--dry-run",
                         "--printshellcmds")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert re.search(r"refit_drug\s+8\b", plan.stdout)
    assert "summarize --fits results/refits/" in plan.stdout
    assert "residual-checks" not in plan.stdout  # the first fits and their checks stand


def test_readme_notebook_example_runs_on_a_results_folder(example_run):
    """The README's notebook example, as written, in the folder the workflow ran in."""
    workdir, _ = example_run
    readme = (REPO / "README.md").read_text()
    example = readme.split("In a notebook, from the folder the workflow ran in", 1)[1]
    code = example.split("```python\n", 1)[1].split("```", 1)[0]
    # Warnings are errors: opening the stores must not warn (consolidated, no
    # complaint about Snakemake's .snakemake_timestamp).
    warnings = ["-W", "error::UserWarning", "-W", "error::RuntimeWarning"]
    run = subprocess.run([sys.executable, *warnings, "-c", code], cwd=workdir, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "['Afatinib', 'Bortezomib'" in run.stdout and "P01" in run.stdout
    fit = pdoscreen.open_fit("Afatinib", workdir / "results")
    assert fit.posterior.attrs["drug"] == "Afatinib" and "posterior_predictive" in fit.groups()
    metrics = pdoscreen.open_metrics(workdir / "results")
    assert {"patient", "drug"} <= set(metrics.dims)
    with pytest.raises(pdoscreen.InputError, match="no fit of drug 'Aspirin'; fitted: Afatinib, Bortezomib"):
        pdoscreen.open_fit("Aspirin", workdir / "results")


def test_the_test_configuration_runs_from_its_folder():
    """The workflow catalog's `.test/` convention, as docs/testing.md writes the
    command (a dry run: the example_run fixture runs the same configuration)."""
    command = (REPO / "docs" / "testing.md").read_text().split("```bash\n.venv/bin/snakemake ", 1)[1].split("\n")[0]
    run = subprocess.run(
        [Path(sys.executable).parent / "snakemake", *command.split(), "--dry-run"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "fit_drug" in run.stdout or "Nothing to be done" in run.stdout  # a .test/ run already made


def test_the_workflow_deploys_as_a_module_from_a_local_path(tmp_path):
    """As README's deployment section (what snakedeploy writes): a Snakefile of the
    user's own that imports every rule from this workflow's folder, run up to QC."""
    readme = (REPO / "README.md").read_text().split("## Deploying the workflow", 1)[1]
    snakefile = readme.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "Snakefile").write_text(snakefile.replace("path/to/pdoscreen", str(REPO)))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(f"sample_sheet: {EXAMPLE_SHEET}\n")
    run = subprocess.run(
        [Path(sys.executable).parent / "snakemake", "--cores", "1", "--show-failed-logs", "results/qc/plates.tsv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "10 pass, 0 warn, 0 fail" in run.stdout + run.stderr
    assert len(read_plate_qc(tmp_path / "results/qc/plates.tsv")) == 10
