# The workflow lives in workflow/ (Snakemake's standardized layout); this file
# lets `snakemake` run from the repository root.
include: "workflow/Snakefile"
