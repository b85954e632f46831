import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from pdoscreen.errors import InputError
from pdoscreen.samplesheet import check_sample_sheet, read_sample_sheet

validate(config, schema="../schemas/config.schema.yaml")

# Every rule runs the pdoscreen package; with --sdm conda it comes from the
# repository's environment.yml (the same pins as the pip install).
PDOSCREEN_ENV = "../../environment.yml"


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
sheet = load_sheet(SAMPLE_SHEET)
PLATES = list(sheet["plate"])


def ingest_batches():
    """Plates in sample-sheet order, cut into batches: appending plates leaves
    the earlier batches as they were."""
    size = config["ingest_batch_size"]
    return [PLATES[i : i + size] for i in range(0, len(PLATES), size)]


def plate_store(plate):
    return f"results/plates/{plate}.zarr"


def plate_inputs(plates):
    rows = sheet.set_index("plate").loc[plates]
    return {
        "sheet": SAMPLE_SHEET,
        "exports": list(rows["file_path"]),
        "layouts": sorted(set(rows["layout_path"])),
    }


def plate_reading(plates):
    """What decides how each plate is read: a change re-ingests it."""
    rows = sheet.set_index("plate").loc[plates]
    return rows[["file", "reader", "measurement", "layout"]].to_dict("index")
