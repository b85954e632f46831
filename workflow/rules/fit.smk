# The model: stage 1 estimates each plate's gain and floor once from its control
# wells; stage 2 fits each drug on its own (one job per drug).

from pdoscreen.progress import start_stage

# The fitting stage's progress (pdoscreen.progress): the drugs a run fits are
# written when it starts; each fit job adds its own finish and logs how many
# are done and about how long the rest will take.
FIT_STAGE_RECORD = "logs/fit/stage.tsv"


onstart:
    start_stage(
        FIT_STAGE_RECORD,
        [
            job.wildcards.drug
            for job in workflow.dag.needrun_jobs()
            if job.rule.name == "fit_drug"
        ],
    )


rule plate_priors:
    input:
        screen="results/screen.zarr",
        qc_wells="results/qc/wells.tsv",
    output:
        "results/fits/plate_priors.tsv",
    log:
        "logs/fit/plate_priors.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=lambda wildcards, attempt: 10 * attempt,
    shell:
        "pdoscreen --log {log:q} plate-priors --screen {input.screen:q} --qc-wells {input.qc_wells:q} "
        "--out {output:q}"


rule fit_drug:
    input:
        screen="results/screen.zarr",
        qc="results/qc/plates.tsv",
        priors="results/fits/plate_priors.tsv",
    # update(): the job keeps a stored fit whose inputs are unchanged (same
    # fingerprint), so new plates refit only the drugs they carry.
    output:
        fit=update(directory("results/fits/{drug}.zarr")),
        diagnostics=update("results/fits/{drug}.diagnostics.tsv"),
        lines=update("results/fits/{drug}.lines.tsv"),
        ppc=update("results/fits/{drug}.ppc.tsv"),
    log:
        "logs/fit/{drug}.log",
    conda:
        PDOSCREEN_ENV
    resources:
        mem_mb=lambda wildcards, attempt: 3000 * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        drug=lambda wildcards: DRUGS[wildcards.drug],
        settings=fit_settings(),
        extra=f"--stage-record {shlex.quote(FIT_STAGE_RECORD)}",
    # A fixed hash seed makes JAX trace the same program in every job, so the
    # compiled sampler in fit.jax_cache is reused across drugs and runs.
    shell:
        "PYTHONHASHSEED=0 pdoscreen --log {log:q} fit --screen {input.screen:q} --qc {input.qc:q} "
        "--priors {input.priors:q} --drug {params.drug:q} --out {output.fit:q} "
        "--settings {params.settings:q} {params.extra}"


# With residual_checks.spatial_artefact: refit, each drug again without the
# plates whose treated wells the residual checks flag (drugs that carry none
# keep their first fit, copied). The results then come from results/refits.
use rule fit_drug as refit_drug with:
    input:
        screen="results/screen.zarr",
        qc="results/qc/plates.tsv",
        priors="results/fits/plate_priors.tsv",
        spatial="results/qc/spatial_artefacts.tsv",
        first_fit=f"{FIRST_FITS}/{{drug}}.zarr",
    output:
        fit=update(directory("results/refits/{drug}.zarr")),
        diagnostics=update("results/refits/{drug}.diagnostics.tsv"),
        lines=update("results/refits/{drug}.lines.tsv"),
        ppc=update("results/refits/{drug}.ppc.tsv"),
    log:
        "logs/refit/{drug}.log",
    params:
        drug=lambda wildcards: DRUGS[wildcards.drug],
        settings=fit_settings(),
        extra=lambda wildcards, input: (
            f"--without-plates {shlex.quote(input.spatial)} "
            f"--first-fit {shlex.quote(input.first_fit)}"
        ),
