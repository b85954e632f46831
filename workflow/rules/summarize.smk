# Per-line and per-patient metric posteriors, cohort-relative scores and ranks.

# Summary tables that get a browsable page in the report: name -> the page's title.
BROWSABLE_TABLES = {
    "patient_drug": "Drug sensitivity per patient and drug",
    "line_drug": f"Drug sensitivity per {config['sensitivity']['sample_unit']} and drug",
    "fit_diagnostics": "Sampler diagnostics per drug",
    "line_checks": f"Curve checks per {config['sensitivity']['sample_unit']} and drug",
}


# Treated wells against the fits (docs/qc.md): curves that miss a dose series,
# plates whose treated wells show a spatial pattern. They check the first fits;
# residual_checks.spatial_artefact: refit refits without the flagged plates.
rule residual_checks:
    input:
        fits=fit_tables("zarr", FIRST_FITS),
        diagnostics=fit_tables("diagnostics.tsv", FIRST_FITS),
        qc="results/qc/plates.tsv",
    output:
        wells="results/qc/residuals.tsv",
        plates=report(
            "results/qc/spatial_artefacts.tsv",
            caption="../report/spatial_artefacts.rst",
            category="Plate QC",
            subcategory="Residual checks",
        ),
        lines=report(
            "results/summary/line_checks.tsv",
            caption="../report/line_checks.rst",
            category="Model fits",
        ),
    log:
        "logs/summary/residual_checks.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        # the thresholds; what a flag does to the fits is not the checks' business
        checks={
            key: value
            for key, value in config["residual_checks"].items()
            if key != "spatial_artefact"
        },
        seed=config["fit"]["seed"],
    shell:
        "pdoscreen --log {log:q} residual-checks --fits {input.fits:q} "
        "--qc {input.qc:q} --misfit-t {params.checks[misfit_t]} "
        "--misfit-min-doses {params.checks[misfit_min_doses]} "
        "--spatial-p-max {params.checks[spatial_p_max]} "
        "--spatial-region-z {params.checks[spatial_region_z]} --seed {params.seed} "
        "--wells-out {output.wells:q} --plates-out {output.plates:q} --lines-out {output.lines:q}"


rule hierarchy:
    input:
        fits=fit_tables("zarr"),
        diagnostics=fit_tables("diagnostics.tsv"),
        ppc=fit_tables("ppc.tsv"),
        screen="results/screen.zarr",
        qc="results/qc/plates.tsv",
    output:
        partition=report(
            "results/summary/variance_partition.tsv",
            caption="../report/variance_partition.rst",
            category="Multilevel structure",
        ),
        summary=report(
            "results/summary/variance_summary.txt",
            caption="../report/variance_summary.rst",
            category="Multilevel structure",
        ),
        shares=report(
            "results/summary/variance_shares.png",
            caption="../report/variance_shares.rst",
            category="Multilevel structure",
        ),
        shrinkage="results/summary/shrinkage.tsv",
        batch_effects=report(
            "results/summary/batch_effects.tsv",
            caption="../report/batch_effects.rst",
            category="Multilevel structure",
        ),
        batch_check=report(
            "results/summary/batch_check.tsv",
            caption="../report/batch_check.rst",
            category="Multilevel structure",
        ),
        shrinkage_plots=report(
            directory("results/summary/shrinkage"),
            patterns=["{drug}.png"],
            caption="../report/shrinkage.rst",
            category="Multilevel structure",
            subcategory="Shrinkage",
        ),
        predictions=report(
            "results/summary/new_line_predictions.tsv",
            caption="../report/new_line_predictions.rst",
            category="Multilevel structure",
        ),
    log:
        "logs/summary/hierarchy.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        aac_threshold=config["response_aac_threshold"],
        seed=config["fit"]["seed"],
    shell:
        "pdoscreen --log {log:q} hierarchy --fits {input.fits:q} "
        "--screen {input.screen:q} --qc {input.qc:q} --aac-threshold {params.aac_threshold} "
        "--seed {params.seed} --out-dir results/summary"


rule summarize:
    input:
        fits=fit_tables("zarr"),
        lines=fit_tables("lines.tsv"),
        diagnostics=fit_tables("diagnostics.tsv"),
        shrinkage="results/summary/shrinkage.tsv",
        checks="results/summary/line_checks.tsv",
        screen="results/screen.zarr",
        qc="results/qc/plates.tsv",
    output:
        patient=report(
            "results/summary/patient_drug.tsv",
            caption="../report/patient_drug.rst",
            category="Drug sensitivity",
            subcategory="Tables",
        ),
        line=report(
            "results/summary/line_drug.tsv",
            caption="../report/line_drug.rst",
            category="Drug sensitivity",
            subcategory="Tables",
        ),
        patient_parquet="results/summary/patient_drug.parquet",
        line_parquet="results/summary/line_drug.parquet",
        metrics=directory("results/summary/metrics.zarr"),
        diagnostics=report(
            "results/summary/fit_diagnostics.tsv",
            caption="../report/fit_diagnostics.rst",
            category="Model fits",
        ),
    log:
        "logs/summary/summarize.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    params:
        floor=config["sensitivity"]["activity_aac_floor"],
        cohort=config["sensitivity"]["min_cohort_patients"],
    shell:
        "pdoscreen --log {log:q} summarize --fits {input.fits:q} "
        "--shrinkage {input.shrinkage:q} --line-checks {input.checks:q} --screen {input.screen:q} --qc {input.qc:q} "
        "--activity-aac-floor {params.floor} --min-cohort-patients {params.cohort} "
        "--out-dir results/summary"


# The summary tables as sortable, filterable HTML, to browse inside the report.
rule table_page:
    input:
        "results/summary/{table}.tsv",
    output:
        report(
            "results/summary/tables/{table}.html",
            caption="../report/table_page.rst",
            category="Drug sensitivity",
            subcategory="Tables (browsable)",
            labels={"table": "{table}"},
        ),
    log:
        "logs/summary/table_page_{table}.log",
    wildcard_constraints:
        table="|".join(BROWSABLE_TABLES),
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        title=lambda wildcards: BROWSABLE_TABLES[wildcards.table],
    shell:
        "pdoscreen --log {log:q} table-page --table {input:q} --title {params.title:q} --out {output:q}"


rule provenance:
    input:
        unpack(lambda wildcards: plate_inputs(PLATES)),
    output:
        "results/provenance.json",
    log:
        "logs/summary/provenance.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=json.dumps(config, sort_keys=True),
        drugs=list(DRUGS.values()),
        workflow_dir=workflow.basedir,
    shell:
        "pdoscreen --log {log:q} provenance --sheet {input.sheet:q} --config {params.config:q} "
        "--drugs {params.drugs:q} --workflow-dir {params.workflow_dir:q} --out {output:q}"
