# One job per batch of plates, not per plate, so a 1,000-plate screen has a small
# job graph. Rules are made in a loop because each batch has its own outputs.
for batch, plates in enumerate(ingest_batches(), start=1):

    rule:
        name:
            f"ingest_batch_{batch}"
        input:
            **plate_inputs(plates, with_sheet=False),
        output:
            [update(directory(plate_store(p))) for p in plates],
        log:
            f"logs/ingest/batch_{batch}.log",
        conda:
            PDOSCREEN_ENV
        resources:
            mem_mb=lambda wildcards, attempt: 1000 * attempt,
            runtime=lambda wildcards, attempt: 10 * attempt,
        params:
            sheet=SAMPLE_SHEET,
            plates=plates,
            reading=plate_reading(plates),
        shell:
            "pdoscreen --log {log:q} ingest --sheet {params.sheet:q} --out-dir results/plates "
            "{params.plates:q}"


rule build_screen:
    input:
        sheet=SAMPLE_SHEET,
        plates=[plate_store(p) for p in PLATES],
        layouts=sorted(set(sheet["layout_path"])),
        source_maps=sorted(set(sheet["source_map_path"]) - {""}),
    output:
        store=update(directory("results/screen.zarr")),
        summary="results/screen_summary.txt",
    log:
        "logs/build_screen.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    params:
        dip_delay_h=config["growth"]["dip_delay_h"],
        response=config["growth"]["response"],
        dip_window_h=config["growth"]["dip_window_h"],
    shell:
        "pdoscreen --log {log:q} screen --sheet {input.sheet:q} --plates-dir results/plates "
        "--out {output.store:q} --summary {output.summary:q} --dip-delay-h {params.dip_delay_h} "
        "--response {params.response} --dip-window-h {params.dip_window_h}"
