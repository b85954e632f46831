"""Command line: the entry points the workflow's rules call."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

from .errors import InputError


def _ingest(args: argparse.Namespace) -> None:
    from .ingest import ingest_plates
    from .samplesheet import load_sample_sheet

    ingest_plates(load_sample_sheet(args.sheet), args.plates, args.out_dir)


def _screen(args: argparse.Namespace) -> None:
    from .samplesheet import load_sample_sheet
    from .screen import build_screen, summarise
    from .store import open_zarr, write_zarr_atomic

    if args.response == "dip" and args.dip_delay_h is None:
        raise InputError("--response dip needs --dip-delay-h: DIP rates are fitted from the scans after the delay")
    sheet = load_sample_sheet(args.sheet)
    plates = {p: open_zarr(Path(args.plates_dir) / f"{p}.zarr") for p in sheet["plate"]}
    screen = build_screen(sheet, plates, dip_delay_h=args.dip_delay_h,
                          dip_window_h=args.dip_window_h if args.response == "dip" else None)
    write_zarr_atomic(screen, args.out)
    summary = f"screen store {args.out}: {summarise(screen)}"
    logging.getLogger("pdoscreen").info(summary)
    if args.summary:
        Path(args.summary).write_text(summary + "\n")


def _qc_settings(pairs: list[str]) -> dict:
    """``--set key=value`` pairs; values are read as YAML (``0.4``, ``true``)."""
    import yaml

    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"--set takes key=value, got {pair!r}")
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def _qc(args: argparse.Namespace) -> None:
    from .qc import Thresholds, screen_qc, write_plate_qc, write_well_flags
    from .screen import open_screen

    thresholds = Thresholds.from_config(_qc_settings(args.set))
    try:
        table, wells = screen_qc(open_screen(args.screen), thresholds)
    except InputError as error:
        raise error.located(file=args.screen) from None
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_plate_qc(table, args.out)
    write_well_flags(wells, args.wells_out)
    counts = table["status"].value_counts().to_dict()
    logging.getLogger("pdoscreen").info(
        "plate QC %s: %s; %d of %d plates to fit",
        args.out, ", ".join(f"{counts.get(s, 0)} {s}" for s in ("pass", "warn", "fail")),
        table["fit"].sum(), len(table),
    )


def _draw_heatmap(job: tuple) -> None:
    import matplotlib.pyplot as plt

    from .plots.qc import plate_heatmap

    plate, status, path, dpi = job
    figure = plate_heatmap(plate, status)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)


def _plate_heatmaps(args: argparse.Namespace) -> None:

    from .qc import read_plate_qc
    from .screen import open_screen

    screen = open_screen(args.screen)
    status = read_plate_qc(args.qc).set_index("plate")["status"]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (screen.sel(plate=plate), status.get(plate, "not assessed"), out_dir / f"{plate}.png", args.dpi)
        for plate in screen["plate"].values
    ]
    _draw_all(_draw_heatmap, jobs, args.threads)


def _draw_all(draw, jobs: list[tuple], threads: int) -> None:
    """One figure per job; about 0.4 s a plate, so thousands of plates draw in
    parallel. Four chunks per worker keep the workers evenly busy (a fixed 8
    plates a chunk gave one worker 8 of a screen's 10)."""
    from concurrent.futures import ProcessPoolExecutor

    if threads > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=threads) as pool:
            list(pool.map(draw, jobs, chunksize=math.ceil(len(jobs) / (4 * threads))))
    else:
        for job in jobs:
            draw(job)


def _draw_residual_map(job: tuple) -> None:
    from .plots.qc import plate_residual_map

    plate, residuals, spatial, path, dpi = job
    _save(plate_residual_map(plate, residuals, spatial), path, dpi)


def _residual_maps(args: argparse.Namespace) -> None:

    import pandas as pd

    from .screen import open_screen

    screen = open_screen(args.screen)
    residuals = pd.read_csv(args.residuals, sep="\t", dtype={"plate": str, "well": str})
    spatial = pd.read_csv(args.spatial, sep="\t", dtype={"plate": str}, keep_default_na=False,
                          na_values=["NaN"]).set_index("plate")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (screen.sel(plate=plate), wells, spatial.loc[plate].to_dict(), out_dir / f"{plate}.png", args.dpi)
        for plate, wells in residuals.groupby("plate")
    ]
    _draw_all(_draw_residual_map, jobs, args.threads)


def _qc_overview(args: argparse.Namespace) -> None:
    from .plots.qc import qc_overview
    from .qc import Thresholds, read_plate_qc

    _save(qc_overview(read_plate_qc(args.qc), Thresholds.from_config(_qc_settings(args.set))), args.out, args.dpi)


def _plate_priors(args: argparse.Namespace) -> None:
    from .fit import plate_priors
    from .qc import read_well_flags, with_well_flags
    from .store import open_zarr

    screen = with_well_flags(open_zarr(args.screen), read_well_flags(args.qc_wells))
    plate_priors(screen).to_csv(args.out, sep="\t", index=False, float_format="%.6g")


def _fit(args: argparse.Namespace) -> None:
    """One drug's fit; within the workflow, then the fitting stage's progress."""
    started_s = time.time()
    _fit_drug(args)
    if args.stage_record:
        from .fitstore import name_of
        from .progress import finish_fit

        if line := finish_fit(args.stage_record, name_of(args.out), started_s, time.time()):
            logging.getLogger("pdoscreen").info(line)


def _fit_drug(args: argparse.Namespace) -> None:
    import json

    from . import fitstore

    settings = json.loads(args.settings)
    _configure_jax(settings.pop("jax_cache", None))
    import pandas as pd

    from .fit import FitSettings, NothingToFit, drug_wells, fingerprint, fit_drug
    from .qc import plates_to_fit
    from .store import open_zarr

    plates = plates_to_fit(args.qc)
    fit_settings = FitSettings(**settings)
    screen, priors = open_zarr(args.screen), pd.read_csv(args.priors, sep="\t")
    out = Path(args.out)
    log = logging.getLogger("pdoscreen")
    left_out = _left_out_plates(args, screen, plates, fit_settings) if args.without_plates else {}
    plates = [plate for plate in plates if plate not in left_out]
    current = fingerprint(drug_wells(screen, args.drug, plates, fit_settings.batch_factors), priors, fit_settings)
    if fitstore.stored_fingerprint(out) == current:
        log.info("drug %s: its wells, plate priors and settings are unchanged since the stored fit; kept it",
                 args.drug)
        fitstore.mark_current(out)
        return
    if args.first_fit and not left_out and fitstore.stored_fingerprint(Path(args.first_fit)) == current:
        log.info("drug %s: no plate of its left out; the first fit (%s) stands", args.drug, args.first_fit)
        fitstore.copy_fit(Path(args.first_fit), out)
        return
    log.info("drug %s: fitting (%s)", args.drug, fit_settings.method)
    start = time.perf_counter()
    try:
        idata = fit_drug(screen, args.drug, priors, plates, fit_settings, left_out=left_out)
    except NothingToFit as reason:
        log.warning("%s: recorded as not fitted", reason)
        fitstore.write_not_fitted(args.drug, str(reason), out, current)
        return
    status = fitstore.write_fit(idata, fit_settings, out)["status"]
    verdict = "fail" if (status == "fail").any() else "/".join(status.unique())
    log.info("drug %s: fitted in %.0f s; diagnostics: %s", args.drug, time.perf_counter() - start, verdict)


def _left_out_plates(args: argparse.Namespace, screen, plates: list[str], settings) -> dict[str, str]:
    """The plates of ``--without-plates`` (spatial_artefacts.tsv) that carry
    the drug, each with its reason; a warning names every line of the drug
    that keeps no plate, since it drops out of the refit."""
    import pandas as pd

    from .fit import drug_wells

    spatial = pd.read_csv(args.without_plates, sep="\t", keep_default_na=False)
    flagged = spatial[spatial["spatial_artefact"].astype(str) == "True"]
    wells = drug_wells(screen, args.drug, plates, settings.batch_factors)
    carried = set(wells["plate"])
    left_out = {row.plate: f"spatial artefact: {row.region}" for row in flagged.itertuples() if row.plate in carried}
    kept_lines = set(wells.loc[~wells["plate"].isin(left_out), "line"])
    for line in sorted(set(wells["line"]) - kept_lines):
        logging.getLogger("pdoscreen").warning(
            "drug %s: line %s has no plate left without %s; it has no results for this drug in the refit",
            args.drug, line, ", ".join(sorted(left_out)))
    return left_out


def _summarize(args: argparse.Namespace) -> None:
    from . import fitstore
    from .summarize import summarize

    fits = fitstore.fitted(args.fits)
    skipped = sorted(fitstore.name_of(fit) for fit in args.fits if Path(fit) not in fits)
    if skipped:
        logging.getLogger("pdoscreen").warning("not fitted, left out of the summary: %s", ", ".join(skipped))
    import pandas as pd

    from .baselines import per_curve_growth
    from .normalise import control_dip_rates, control_doublings, stalled
    from .qc import plates_to_fit
    from .screen import fitted_response
    from .store import open_zarr

    shrinkage = pd.read_csv(args.shrinkage, sep="\t") if args.shrinkage else None
    screen = open_zarr(args.screen) if args.screen else None
    growth = doublings = dip_rates = None
    if screen is not None:
        fitted = screen.sel(plate=plates_to_fit(args.qc))
        growth = per_curve_growth(fitted)
        # from the whole screen: its time-zero plates, not fitted, give x0
        doublings = control_doublings(screen)
        stalled_plates = fitted.plate.values[stalled(doublings.sel(plate=fitted.plate))]
        if len(stalled_plates):
            logging.getLogger("pdoscreen").warning(
                "plate(s) %s: the vehicle wells read no higher than the line's time-zero plates "
                "(log2 x_ctrl/x0 <= 0), so GR is undefined; their lines get no GR metrics",
                ", ".join(map(str, stalled_plates)))
        if fitted_response(screen) == "dip":
            dip_rates = control_dip_rates(screen)
    checks = (pd.read_csv(args.line_checks, sep="\t", dtype=str, keep_default_na=False)
              if args.line_checks else None)
    summarize(
        fits, [fitstore.table_path(fit, "lines") for fit in fits],
        [fitstore.table_path(fit, "diagnostics") for fit in fits], args.out_dir, shrinkage=shrinkage, growth=growth,
        check_flags=checks, control_doublings=doublings, control_dip_rates=dip_rates,
        **{key: value for key in ("activity_aac_floor", "min_cohort_patients")
           if (value := getattr(args, key)) is not None},
    )
    fitstore.collect_diagnostics(args.fits, Path(args.out_dir) / "fit_diagnostics.tsv")


def _residual_checks(args: argparse.Namespace) -> None:
    from . import fitstore
    from .qc import read_plate_qc
    from .residuals import line_checks, screen_residuals, spatial_artefacts
    from .store import open_inference_data

    fits = (open_inference_data(fit) for fit in fitstore.fitted(args.fits))
    vehicle_cv = read_plate_qc(args.qc).set_index("plate")["vehicle_cv"]
    residuals = screen_residuals(fits, vehicle_cv)
    spatial = spatial_artefacts(residuals, args.spatial_p_max, args.spatial_region_z, args.seed)
    lines = line_checks(residuals, spatial, args.misfit_t, args.misfit_min_doses)
    wells = residuals.reset_coords().to_dataframe()[[*residuals.coords, *residuals.data_vars]]
    tables = {args.wells_out: wells, args.plates_out: spatial,
              args.lines_out: lines}
    for path, table in tables.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(path, sep="\t", index=False, float_format="%.6g", na_rep="NaN", lineterminator="\n")
    log = logging.getLogger("pdoscreen")
    for row in spatial[spatial["spatial_artefact"]].itertuples():
        log.warning("plate %s: spatial_artefact: %s", row.plate, row.reason)
    for row in lines[lines["curve_misfit"]].itertuples():
        log.warning("drug %s, line %s: curve_misfit: %s", row.drug, row.line, row.reason)
    log.info("residual checks: %d of %d plates spatial_artefact, %d of %d curves curve_misfit",
             spatial["spatial_artefact"].sum(), len(spatial), lines["curve_misfit"].sum(), len(lines))


def _save(figure, path: str | Path, dpi: int = 100) -> None:
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)


def _aac_heatmap(args: argparse.Namespace) -> None:
    import pandas as pd

    from .plots.patient import aac_heatmap

    _save(aac_heatmap(pd.read_csv(args.summary, sep="\t")), args.out)


def _patient_page(args: argparse.Namespace) -> None:
    import pandas as pd

    from . import fitstore
    from .pages import PageRules, drug_table, patient_figures, write_patient_page
    from .plots.patient import cohort_forest, patient_curves, waterfall
    from .store import open_zarr

    fits = fitstore.open_fits(fitstore.fitted(args.fits))
    patient_drug = pd.read_csv(args.summary, sep="\t")
    metrics = open_zarr(args.metrics)
    rules = PageRules(args.activity_aac_floor, args.activity_probability, args.min_cohort_patients, args.sample_unit)
    drugs = drug_table(patient_drug, args.patient, rules)
    _save(patient_curves(fits, args.patient), args.curves)
    _save(cohort_forest(metrics, args.patient, patient_drug), args.forest)
    _save(waterfall(drugs, args.patient), args.waterfall)
    pictures = {"waterfall": args.waterfall, "curves": args.curves, "heatmap": args.heatmap, "forest": args.forest}
    waterfall_figure, figures = patient_figures(args.patient, drugs, patient_drug, fits, pictures, rules)
    line_checks = (pd.read_csv(args.line_checks, sep="\t", dtype=str, keep_default_na=False)
                   if args.line_checks else None)
    write_patient_page(args.page, args.patient, drugs, pd.read_csv(args.qc, sep="\t"), waterfall_figure, figures,
                       rules, args.plotly_js, line_checks)


def _plotly_js(args: argparse.Namespace) -> None:
    from .pages import write_plotly_js

    write_plotly_js(args.out)


def _cohort_page(args: argparse.Namespace) -> None:
    import pandas as pd

    from .pages import cohort_figures, write_cohort_page
    from .plots.patient import cohort_waterfall

    patient_drug = pd.read_csv(args.summary, sep="\t")
    out = Path(args.waterfalls_dir)
    out.mkdir(parents=True, exist_ok=True)
    waterfalls = {drug: out / f"{drug}.png" for drug in sorted(patient_drug["drug"].astype(str).unique())}
    for drug, path in waterfalls.items():
        _save(cohort_waterfall(patient_drug, drug, args.activity_probability), path)
    figures = cohort_figures(patient_drug, args.heatmap, waterfalls, args.activity_probability)
    write_cohort_page(args.page, figures, "Drug sensitivity across the cohort")


def _table_page(args: argparse.Namespace) -> None:
    import pandas as pd

    from .pages import write_table_page

    write_table_page(args.out, pd.read_csv(args.table, sep="\t"), args.title, args.note)


def _hierarchy(args: argparse.Namespace) -> None:
    import pandas as pd

    from . import fitstore
    from .baselines import per_curve_fits
    from .hierarchy import plate_levels, screen_tables, separating_drugs
    from .plots.hierarchy import shrinkage_figure, variance_shares_figure
    from .qc import plates_to_fit
    from .store import open_zarr

    out = Path(args.out_dir)
    fitted = fitstore.fitted(args.fits)
    fits = fitstore.open_fits(fitted)
    screen = open_zarr(args.screen).sel(plate=plates_to_fit(args.qc))
    ppc = fitstore.read_tables(fitted, "ppc")
    tables = screen_tables(fits, per_curve_fits(screen), pd.concat(ppc) if ppc else pd.DataFrame(),
                           plate_levels(screen), args.aac_threshold, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        table.to_csv(out / f"{name}.tsv", sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    (out / "variance_summary.txt").write_text(separating_drugs(tables["variance_partition"]) + "\n")
    _save(variance_shares_figure(tables["variance_partition"]), out / "variance_shares.png")
    (out / "shrinkage").mkdir(exist_ok=True)
    for drug, idata in fits.items():
        _save(shrinkage_figure(tables["shrinkage"], idata.posterior.attrs["drug"]), out / "shrinkage" / f"{drug}.png")


def _provenance(args: argparse.Namespace) -> None:
    import json

    from .provenance import provenance, write_provenance

    record = provenance(args.sheet, json.loads(args.config), args.drugs, args.workflow_dir)
    write_provenance(record, args.out)


def _configure_jax(cache_dir: str | None) -> None:
    """Compiled samplers are cached on disk: drugs whose data fall in the same
    shape bucket reuse them instead of compiling again."""
    import jax

    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(Path(cache_dir).expanduser()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def _readers(args: argparse.Namespace) -> None:
    from .readers import REGISTRY, TIME_COURSE_REGISTRY

    for name, reader in sorted(REGISTRY.items()):
        print(f"{name:24s} {reader.description}")
    print()
    print("time-course readers (read_time_course):")
    for name, reader in sorted(TIME_COURSE_REGISTRY.items()):
        print(f"{name:24s} {reader.description}")


def _sensitivity_arguments(command: argparse.ArgumentParser, required: bool = False) -> None:
    """The config's sensitivity section; where optional, summarize.py's defaults apply."""
    command.add_argument("--activity-aac-floor", type=float, required=required,
                         help="AAC a drug must exceed in a patient to count as active")
    command.add_argument("--min-cohort-patients", type=int, required=required,
                         help="fewer patients carrying a drug, and its relative metrics are not informative")


def _plate_pictures_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--screen", required=True, help="the screen store (results/screen.zarr)")
    command.add_argument("--out-dir", required=True, help="folder for {plate}.png")
    command.add_argument("--dpi", type=int, default=100)
    command.add_argument("--threads", type=int, default=1, help="processes drawing plates in parallel")


def _fits_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("--fits", nargs="+", required=True,
                         help="every drug's fit (NAME.zarr, its tables beside it); those not fitted are left out")


def parser() -> argparse.ArgumentParser:
    from .growth import RESPONSES

    main = argparse.ArgumentParser(prog="pdoscreen", description=__doc__)
    main.add_argument("--log", help="write all output here; the terminal shows progress and warnings")
    commands = main.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="read plate-reader exports into per-plate Zarr stores")
    ingest.add_argument("--sheet", required=True, help="sample sheet (TSV)")
    ingest.add_argument("--out-dir", required=True, help="folder for {plate}.zarr")
    ingest.add_argument("plates", nargs="+", help="plate ids to ingest")
    ingest.set_defaults(run=_ingest)

    screen = commands.add_parser("screen", help="join plates, layouts and sample sheet into the screen store")
    screen.add_argument("--sheet", required=True)
    screen.add_argument("--plates-dir", required=True)
    screen.add_argument("--out", required=True)
    screen.add_argument("--summary", help="also write the one-line summary here")
    screen.add_argument("--dip-delay-h", type=float,
                        help="DIP rates of time-course plates from the scans this many hours after drug addition "
                        "on (none computed without it)")
    screen.add_argument("--response", choices=RESPONSES, default="endpoint",
                        help="what the model fits per well: the endpoint read, or the DIP rate (as its fold change "
                        "over --dip-window-h hours; every plate read over time)")
    screen.add_argument("--dip-window-h", type=float, default=72.0,
                        help="with --response dip: the hours over which a DIP rate's fold change is taken")
    screen.set_defaults(run=_screen)

    qc = commands.add_parser("qc", help="per-plate QC metrics and pass/warn/fail from the control wells")
    qc.add_argument("--screen", required=True, help="the screen store (results/screen.zarr)")
    qc.add_argument("--out", required=True, help="the plate table to write (TSV)")
    qc.add_argument("--wells-out", required=True, help="the table of wells QC flags, to write (TSV)")
    qc.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a qc threshold (see config/README.md)"
    )
    qc.set_defaults(run=_qc)

    heatmaps = commands.add_parser("plate-heatmaps", help="one PNG per plate: raw signal with roles and flags")
    heatmaps.add_argument("--qc", required=True, help="the plate table from `pdoscreen qc`")
    _plate_pictures_arguments(heatmaps)
    heatmaps.set_defaults(run=_plate_heatmaps)

    maps = commands.add_parser("residual-maps", help="one PNG per fitted plate: raw signal beside the residual map")
    maps.add_argument("--residuals", required=True, help="residuals.tsv from `pdoscreen residual-checks`")
    maps.add_argument("--spatial", required=True, help="spatial_artefacts.tsv from `pdoscreen residual-checks`")
    _plate_pictures_arguments(maps)
    maps.set_defaults(run=_residual_maps)

    overview = commands.add_parser("qc-overview", help="one PNG: Z' and vehicle CV per plate, coloured by status")
    overview.add_argument("--qc", required=True, help="the plate table from `pdoscreen qc`")
    overview.add_argument("--out", required=True)
    overview.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="thresholds to draw")
    overview.add_argument("--dpi", type=int, default=100)
    overview.set_defaults(run=_qc_overview)

    priors = commands.add_parser("plate-priors", help="stage 1: plate gain and floor from control wells")
    priors.add_argument("--screen", required=True)
    priors.add_argument("--qc-wells", required=True, help="wells.tsv from `pdoscreen qc`: its wells are left out")
    priors.add_argument("--out", required=True)
    priors.set_defaults(run=_plate_priors)

    fit = commands.add_parser("fit", help="stage 2: the hierarchical model for one drug")
    fit.add_argument("--screen", required=True)
    fit.add_argument("--qc", required=True, help="plates.tsv: plates with fit=true are used")
    fit.add_argument("--priors", required=True, help="plate priors from plate-priors")
    fit.add_argument("--drug", required=True)
    fit.add_argument("--out", required=True, help="the fit to write, NAME.zarr; its tables go beside it "
                     "(NAME.diagnostics.tsv, NAME.lines.tsv, NAME.ppc.tsv)")
    fit.add_argument("--settings", default="{}", help="FitSettings as JSON")
    fit.add_argument("--without-plates", help="spatial_artefacts.tsv from `pdoscreen residual-checks`: "
                     "its flagged plates are left out (the refit of residual_checks.spatial_artefact: refit)")
    fit.add_argument("--first-fit", help="the drug's first fit (NAME.zarr): copied, not refitted, when none of "
                     "its plates is left out")
    fit.add_argument("--stage-record", help="the run's fitting-stage table (progress.py): the drug's finish is "
                     "added and the stage's progress logged")
    fit.set_defaults(run=_fit)

    summary = commands.add_parser("summarize", help="per-line and per-patient metric posteriors, ranks, tables")
    _fits_argument(summary)
    summary.add_argument("--out-dir", required=True)
    summary.add_argument("--shrinkage", help="shrinkage.tsv from `pdoscreen hierarchy`: adds the line metric")
    summary.add_argument("--screen", help="the screen store: adds per-curve GR and DIP metrics where it has them")
    summary.add_argument("--qc", help="plates.tsv (with --screen): GR fits use the plates with fit=true")
    summary.add_argument("--line-checks", help="line_checks.tsv from `pdoscreen residual-checks`: adds its flags")
    _sensitivity_arguments(summary)
    summary.set_defaults(run=_summarize)

    checks = commands.add_parser(
        "residual-checks", help="treated wells against the fits: curve_misfit per line, spatial_artefact per plate"
    )
    _fits_argument(checks)
    checks.add_argument("--qc", required=True, help="plates.tsv: each plate's vehicle CV is the residuals' unit")
    checks.add_argument("--misfit-t", type=float, required=True, help="|t| per dose beyond which a dose is off")
    checks.add_argument("--misfit-min-doses", type=int, required=True, help="consecutive off doses that flag")
    checks.add_argument("--spatial-p-max", type=float, required=True, help="Moran's I permutation p-value cut-off")
    checks.add_argument("--spatial-region-z", type=float, required=True,
                        help="smoothed residual (vehicle SDs) beyond which a well is in the region")
    checks.add_argument("--seed", type=int, required=True, help="for the permutations")
    checks.add_argument("--wells-out", required=True, help="per-well residuals (TSV) to write")
    checks.add_argument("--plates-out", required=True, help="per-plate spatial checks (TSV) to write")
    checks.add_argument("--lines-out", required=True, help="per drug and line checks (TSV) to write")
    checks.set_defaults(run=_residual_checks)

    hierarchy = commands.add_parser(
        "hierarchy", help="variance partition, shrinkage against per-curve fits, predictions for new lines"
    )
    _fits_argument(hierarchy)
    hierarchy.add_argument("--screen", required=True)
    hierarchy.add_argument("--qc", required=True, help="plates.tsv: per-curve fits use the plates with fit=true")
    hierarchy.add_argument("--aac-threshold", type=float, required=True, help="AAC above which a line responds")
    hierarchy.add_argument("--seed", type=int, required=True)
    hierarchy.add_argument("--out-dir", required=True)
    hierarchy.set_defaults(run=_hierarchy)

    heatmap = commands.add_parser("aac-heatmap", help="one PNG: patients x drugs, AAC with its interval")
    heatmap.add_argument("--summary", required=True, help="patient_drug.tsv")
    heatmap.add_argument("--out", required=True)
    heatmap.set_defaults(run=_aac_heatmap)

    patient = commands.add_parser("patient-page", help="one patient's curves, cohort plot and one-page HTML")
    patient.add_argument("--patient", required=True)
    _fits_argument(patient)
    patient.add_argument("--summary", required=True, help="patient_drug.tsv")
    patient.add_argument("--metrics", required=True, help="metrics.zarr")
    patient.add_argument("--qc", required=True, help="plates.tsv")
    patient.add_argument("--curves", required=True, help="PNG to write")
    patient.add_argument("--forest", required=True, help="PNG to write")
    patient.add_argument("--waterfall", required=True, help="PNG to write (the page's static waterfall)")
    patient.add_argument("--heatmap", required=True, help="the AAC heatmap (PNG), the page's static cohort view")
    patient.add_argument("--plotly-js", help="the shared plotly.min.js the page loads (relative to the page); "
                         "without it the page shows static pictures only")
    patient.add_argument("--page", required=True, help="HTML to write")
    patient.add_argument("--line-checks", help="line_checks.tsv from `pdoscreen residual-checks`: the page names "
                         "the doses of each curve misfit")
    _sensitivity_arguments(patient, required=True)
    patient.add_argument("--activity-probability", type=float, required=True,
                         help="a drug is active when P(AAC > floor) is at least this")
    patient.add_argument("--sample-unit", required=True, help="what a unit under a patient is called on the page")
    patient.set_defaults(run=_patient_page)

    plotly_js = commands.add_parser("plotly-js", help="plotly.min.js, the patient pages' shared copy")
    plotly_js.add_argument("--out", required=True)
    plotly_js.set_defaults(run=_plotly_js)

    cohort = commands.add_parser("cohort-page", help="a waterfall PNG per drug and an interactive cohort page")
    cohort.add_argument("--summary", required=True, help="patient_drug.tsv")
    cohort.add_argument("--heatmap", required=True, help="the AAC heatmap (PNG), the page's static view")
    cohort.add_argument("--activity-probability", type=float, required=True,
                        help="a drug is active in a patient when P(AAC > floor) is at least this")
    cohort.add_argument("--waterfalls-dir", required=True, help="folder to write {drug}.png into")
    cohort.add_argument("--page", required=True, help="HTML to write (plotly.js inlined)")
    cohort.set_defaults(run=_cohort_page)

    table = commands.add_parser("table-page", help="a summary TSV as a sortable, filterable HTML table")
    table.add_argument("--table", required=True, help="a TSV of results/summary")
    table.add_argument("--title", required=True)
    table.add_argument("--note", default="", help="a sentence under the title")
    table.add_argument("--out", required=True, help="HTML to write")
    table.set_defaults(run=_table_page)

    prov = commands.add_parser("provenance", help="versions, config, input hashes, git revision and seeds as JSON")
    prov.add_argument("--sheet", required=True)
    prov.add_argument("--config", required=True, help="the run's config as JSON")
    prov.add_argument("--drugs", nargs="*", default=[], help="the drugs fitted (for their seeds)")
    prov.add_argument("--workflow-dir", required=True, help="the workflow's folder, for its git revision")
    prov.add_argument("--out", required=True)
    prov.set_defaults(run=_provenance)

    readers = commands.add_parser("readers", help="list the plate-reader formats (endpoint, then time-course)")
    readers.set_defaults(run=_readers)
    return main


def _setup_logging(log: str | None) -> None:
    """pdoscreen's own messages at INFO, other libraries' only from WARNING (JAX
    reports at INFO that it found no TPU, ArviZ that an optional package is
    missing). With a log file, everything the process prints goes there, C
    libraries' output included, and the terminal keeps pdoscreen's progress and
    warnings; errors reach it with the whole log through Snakemake's
    show-failed-logs (profiles/default)."""
    import os
    import warnings

    # ArviZ 0.23 announces its coming refactor once a day, on import.
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)
    # NumPyro's advice to fake more CPU devices; the chains run one after another.
    warnings.filterwarnings("ignore", message="There are not enough devices to run parallel chains",
                            category=UserWarning)
    form = "%(asctime)s %(levelname)s %(message)s"
    logging.basicConfig(level=logging.WARNING, format=form)
    ours = logging.getLogger("pdoscreen")
    ours.setLevel(logging.INFO)
    if not log:
        return
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    progress = logging.StreamHandler(terminal)
    progress.setFormatter(logging.Formatter(form, "%H:%M:%S"))
    progress.addFilter(lambda record: record.levelno < logging.ERROR)
    ours.addHandler(progress)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup_logging(args.log)
    try:
        args.run(args)
    except InputError as error:
        logging.getLogger("pdoscreen").error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
