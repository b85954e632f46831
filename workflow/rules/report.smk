# Pictures and one page per patient, as items of `snakemake --report`.


rule aac_heatmap:
    input:
        "results/summary/patient_drug.tsv",
    output:
        report(
            "results/summary/aac_heatmap.png",
            caption="../report/aac_heatmap.rst",
            category="Drug sensitivity",
            subcategory="Cohort",
        ),
    log:
        "logs/report/aac_heatmap.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    shell:
        "pdoscreen --log {log:q} aac-heatmap --summary {input:q} --out {output:q}"


rule cohort_page:
    input:
        summary="results/summary/patient_drug.tsv",
        heatmap="results/summary/aac_heatmap.png",
    output:
        waterfalls=report(
            directory("results/summary/cohort_waterfalls"),
            patterns=["{drug}.png"],
            caption="../report/cohort_waterfall.rst",
            category="Drug sensitivity",
            subcategory="Cohort waterfalls",
            labels={"drug": "{drug}"},
        ),
        page=report(
            "results/summary/cohort.html",
            caption="../report/cohort_page.rst",
            category="Drug sensitivity",
            subcategory="Cohort",
        ),
    log:
        "logs/report/cohort_page.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        probability=config["sensitivity"]["activity_probability"],
    shell:
        "pdoscreen --log {log:q} cohort-page --summary {input.summary:q} --heatmap {input.heatmap:q} "
        "--activity-probability {params.probability} --waterfalls-dir {output.waterfalls:q} "
        "--page {output.page:q}"


# One copy of plotly.js for every patient page, which loads it by a relative path.
rule plotly_js:
    output:
        "results/patients/plotly.min.js",
    log:
        "logs/report/plotly_js.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "pdoscreen --log {log:q} plotly-js --out {output:q}"


rule patient_page:
    input:
        fits=fit_tables("zarr"),
        diagnostics=fit_tables("diagnostics.tsv"),
        summary="results/summary/patient_drug.tsv",
        metrics="results/summary/metrics.zarr",
        qc="results/qc/plates.tsv",
        heatmap="results/summary/aac_heatmap.png",
        plotly_js="results/patients/plotly.min.js",
        line_checks="results/summary/line_checks.tsv",
    output:
        curves=report(
            "results/patients/{patient}/curves.png",
            caption="../report/patient_curves.rst",
            category="Patients",
            subcategory="{patient}",
            labels={"patient": "{patient}", "figure": "dose-response curves"},
        ),
        forest=report(
            "results/patients/{patient}/cohort.png",
            caption="../report/patient_cohort.rst",
            category="Patients",
            subcategory="{patient}",
            labels={"patient": "{patient}", "figure": "against the cohort"},
        ),
        waterfall=report(
            "results/patients/{patient}/waterfall.png",
            caption="../report/patient_waterfall.rst",
            category="Patients",
            subcategory="{patient}",
            labels={"patient": "{patient}", "figure": "waterfall"},
        ),
        page=report(
            "results/patients/{patient}/{patient}.html",
            caption="../report/patient_page.rst",
            category="Patients",
            subcategory="{patient}",
            labels={"patient": "{patient}", "figure": "one-page summary"},
        ),
    log:
        "logs/report/patient_{patient}.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=lambda wildcards, attempt: 15 * attempt,
    params:
        floor=config["sensitivity"]["activity_aac_floor"],
        probability=config["sensitivity"]["activity_probability"],
        cohort=config["sensitivity"]["min_cohort_patients"],
        unit=config["sensitivity"]["sample_unit"],
    shell:
        "pdoscreen --log {log:q} patient-page --patient {wildcards.patient:q} --fits {input.fits:q} "
        "--summary {input.summary:q} --metrics {input.metrics:q} "
        "--qc {input.qc:q} --curves {output.curves:q} --forest {output.forest:q} "
        "--waterfall {output.waterfall:q} --heatmap {input.heatmap:q} --plotly-js {input.plotly_js:q} "
        "--page {output.page:q} --line-checks {input.line_checks:q} --activity-aac-floor {params.floor} "
        "--activity-probability {params.probability} --min-cohort-patients {params.cohort} "
        "--sample-unit {params.unit:q}"
