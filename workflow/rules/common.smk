import json
import shlex
import sys
from pathlib import Path

import pandas as pd
import yaml
from snakemake.exceptions import WorkflowError
from snakemake_interface_executor_plugins.settings import DeploymentMethod
from snakemake.utils import validate

from pdoscreen.errors import InputError
from pdoscreen.samplesheet import check_sample_sheet, read_sample_sheet
from pdoscreen.screen import screen_drugs


def typed_values(section):
    """`--config qc='{z_prime_warn: 0.3}'` hands nested values over as text
    ('0.3'); read them as YAML so that the schema sees numbers and booleans."""
    return {
        k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in section.items()
    }


for section in ("qc", "fit", "sensitivity", "residual_checks", "growth"):
    if isinstance(config.get(section), dict):
        config[section] = typed_values(config[section])
validate(config, schema="../schemas/config.schema.yaml")

# Every rule runs the pdoscreen package; with --sdm conda it comes from the
# repository's environment.yml (the same pins as the pip install).
PDOSCREEN_ENV = "../../environment.yml"
# Rules call `pdoscreen`, a shell function that runs the package with the Python
# that runs Snakemake: `.venv/bin/snakemake` works without an activated
# environment, and cluster (SLURM) jobs start Snakemake with the same
# interpreter. With --sdm conda, it is the job's environment's Python. Each rule
# gives its log to `pdoscreen --log`, which sends everything there and shows
# progress and warnings on the terminal.
if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
    PYTHON = "python"
else:
    PYTHON = shlex.quote(sys.executable)
# (The prefix is formatted like a rule's command: its braces are doubled.)
shell.prefix(f'pdoscreen() {{{{ {PYTHON} -m pdoscreen "$@"; }}}}; ')


def load_sheet(path):
    """Read, schema-validate and check the sample sheet before any job runs."""
    try:
        sheet = read_sample_sheet(path)
        validate(sheet, schema="../schemas/samplesheet.schema.yaml")
        return check_sample_sheet(sheet, path)
    except InputError as error:
        raise WorkflowError(str(error)) from None
    except WorkflowError as error:
        raise WorkflowError(f"sample sheet {path} is invalid", error) from None


SAMPLE_SHEET = config["sample_sheet"]
# The one pattern for values that name output files (plate, patient, line and
# drug file names), as the sample-sheet schema states it: wildcard_constraints.
SHEET_SCHEMA = yaml.safe_load(
    (
        Path(workflow.current_basedir).parent / "schemas/samplesheet.schema.yaml"
    ).read_text()
)
PATH_SAFE = SHEET_SCHEMA["properties"]["plate"]["pattern"].strip("^$")
sheet = load_sheet(SAMPLE_SHEET)
PLATES = list(sheet["plate"])


def ingest_batches():
    """Plates in sample-sheet order, cut into batches: appending plates leaves
    the earlier batches as they were."""
    size = config["ingest_batch_size"]
    return [PLATES[i : i + size] for i in range(0, len(PLATES), size)]


def plate_store(plate):
    return f"results/plates/{plate}.zarr"


def plate_inputs(plates, with_sheet=True):
    """The files behind the plates. Ingestion leaves the sheet out: appending a
    plate must not re-read the earlier batches (their rows are params)."""
    rows = sheet.set_index("plate").loc[plates]
    files = {
        "exports": list(rows["file_path"]),
        "layouts": sorted(set(rows["layout_path"])),
        "source_maps": sorted(set(rows["source_map_path"]) - {""}),
    }
    return {"sheet": SAMPLE_SHEET, **files} if with_sheet else files


def plate_reading(plates):
    """What decides how each plate is read: a change re-ingests it."""
    rows = sheet.set_index("plate").loc[plates]
    return rows[["file", "reader", "measurement", "layout"]].to_dict("index")


def qc_settings():
    """The qc thresholds as `pdoscreen qc --set key=value` arguments (JSON values)."""
    return " ".join(
        f"--set {key}={json.dumps(value)}"
        for key, value in sorted(config["qc"].items())
    )


def chosen_drugs(drugs, wanted):
    """{slug: drug} for the drugs the config names (all when it names none)."""
    if wanted is None:
        return drugs
    unknown = sorted(set(wanted) - set(drugs.values()))
    if unknown:
        raise WorkflowError(
            f"config key drugs names {', '.join(map(repr, unknown))}, not in any layout; "
            f"the layouts hold: {', '.join(sorted(drugs.values()))}"
        )
    return {slug: drug for slug, drug in drugs.items() if drug in wanted}


try:
    DRUGS = chosen_drugs(screen_drugs(sheet), config.get("drugs"))
except InputError as error:
    raise WorkflowError(str(error)) from None


def fit_settings():
    """The model settings as JSON for `pdoscreen fit`; a change reruns the fits."""
    return json.dumps(config["fit"], sort_keys=True)


PATIENTS = sorted(set(sheet["patient"]))


# The fits the results come from: the first fits, or with
# residual_checks.spatial_artefact: refit, the drugs refitted without the plates
# the residual checks flag (rule refit_drug).
FIRST_FITS = "results/fits"
FITS = (
    "results/refits"
    if config["residual_checks"]["spatial_artefact"] == "refit"
    else FIRST_FITS
)


def fit_tables(kind, folder=FITS):
    """Every drug's {folder}/{drug}.{kind}, by default of the fits the results use."""
    return expand(f"{folder}/{{drug}}.{kind}", drug=DRUGS)
