# Plate QC: metrics and decisions per plate from the screen store, then pictures.
# The thresholds are params, so changing one in the config reruns these rules.


rule plate_qc:
    input:
        "results/screen.zarr",
    output:
        plates="results/qc/plates.tsv",
        wells="results/qc/wells.tsv",
    log:
        "logs/qc/plate_qc.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        thresholds=qc_settings(),
    shell:
        "pdoscreen --log {log:q} qc --screen {input:q} --out {output.plates:q} "
        "--wells-out {output.wells:q} {params.thresholds}"


rule plate_heatmaps:
    input:
        screen="results/screen.zarr",
        qc="results/qc/plates.tsv",
    output:
        report(
            directory("results/qc/heatmaps"),
            patterns=["{plate}.png"],
            caption="../report/plate_heatmap.rst",
            category="Plate QC",
            subcategory="Plate heatmaps",
        ),
    log:
        "logs/qc/plate_heatmaps.log",
    conda:
        PDOSCREEN_ENV
    threads: 4
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    shell:
        "pdoscreen --log {log:q} plate-heatmaps --screen {input.screen:q} --qc {input.qc:q} "
        "--out-dir {output:q} --threads {threads}"


# After the fits: each fitted plate's raw map beside its treated wells'
# residuals (rule residual_checks).
rule residual_maps:
    input:
        screen="results/screen.zarr",
        residuals="results/qc/residuals.tsv",
        spatial="results/qc/spatial_artefacts.tsv",
    output:
        report(
            directory("results/qc/residual_maps"),
            patterns=["{plate}.png"],
            caption="../report/residual_map.rst",
            category="Plate QC",
            subcategory="Residual maps",
        ),
    log:
        "logs/qc/residual_maps.log",
    conda:
        PDOSCREEN_ENV
    threads: 4
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 30 * attempt,
    shell:
        "pdoscreen --log {log:q} residual-maps --screen {input.screen:q} --residuals {input.residuals:q} "
        "--spatial {input.spatial:q} --out-dir {output:q} --threads {threads}"


rule qc_overview:
    input:
        "results/qc/plates.tsv",
    output:
        report(
            "results/qc/overview.png",
            caption="../report/qc_overview.rst",
            category="Plate QC",
            subcategory="Overview",
        ),
    log:
        "logs/qc/qc_overview.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 1000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        thresholds=qc_settings(),
    shell:
        "pdoscreen --log {log:q} qc-overview --qc {input:q} --out {output:q} {params.thresholds}"
