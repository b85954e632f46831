# The workflow lives in workflow/ (Snakemake's standardized layout); this file
# lets `snakemake` run from the repository root. A plain `include:` would drop
# the included file's default target, hence the explicit flag.
workflow.include("workflow/Snakefile", overwrite_default_target=True)
