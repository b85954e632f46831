#!/usr/bin/env python
"""Turn the DrugScreenExplorer CLL test screen into a pdoscreen layout and sample sheet.

The dataset (EnVision CellTiter-Glo reads of primary CLL samples on 384-well
plates) ships a well annotation, ``wellAnno.csv`` (``wellID;name;concentration``,
semicolons, decimal commas, wells written ``A001``), and a plate annotation,
``plateAnno.csv`` (one line per plate file). This script writes, into ``--out``:

- ``layout.tsv``: the long layout (well, role, drug, concentration, unit);
- ``sample_sheet.tsv``: one line per plate whose read is present in ``--source``,
  pointing at the read in place (relative to ``--out``), so nothing is copied.

Usage, from the repository root::

    python config/examples/cll/prepare.py                # the defaults below
    python config/examples/cll/prepare.py --source DIR --out DIR
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from pdoscreen.geometry import canonical_well, geometry_for
from pdoscreen.layouts import read_layout

REPO = Path(__file__).resolve().parents[3]
DEFAULT_SOURCE = REPO / "../shared/data/real-world/raw-screen-dataset/drugscreenexplorer-cll-ctg384"
DEFAULT_OUT = REPO / "resources/cll"

VEHICLE = "DMSO"
BUFFER = "PBS"
# The annotation gives concentrations without a unit; DrugScreenExplorer's
# screens are dosed in micromolar, so treated wells are taken as uM.
DRUG_UNIT = "uM"


def layout_from_annotation(well_anno: Path) -> pd.DataFrame:
    anno = pd.read_csv(well_anno, sep=";", decimal=",", dtype={"wellID": str, "name": str})
    names = anno["name"].fillna("").str.strip()
    treated = ~names.isin([VEHICLE, BUFFER])
    return pd.DataFrame(
        {
            "well": anno["wellID"].map(canonical_well),
            "role": names.map({VEHICLE: "vehicle", BUFFER: "empty"}).fillna("treated"),
            # PBS wells are buffer-only controls: no cells' drug, but the name is kept.
            "drug": names,
            # DMSO's 0.3 is a solvent fraction (presumably % v/v), not a molar
            # dose, so vehicle and buffer wells get no concentration.
            "concentration": anno["concentration"].where(treated),
            "unit": pd.Series(DRUG_UNIT, index=anno.index).where(treated, ""),
        }
    )


def sample_sheet(plate_anno: Path, source: Path, out: Path) -> pd.DataFrame:
    plates = pd.read_csv(plate_anno, sep=";", dtype=str, keep_default_na=False)
    present = plates["fileName"].map(lambda name: (source / name).is_file())
    if not present.all():
        # plateAnno.csv lists the whole screen; the stored copy holds only some reads.
        missing = ", ".join(plates.loc[~present, "sampleID"])
        print(f"skipped {(~present).sum()} plate(s) not in {source}: {missing}", file=sys.stderr)
    plates = plates[present]
    return pd.DataFrame(
        {
            "plate": plates["sampleID"],
            "patient": plates["patientID"],
            "line": plates["sampleID"],
            "file": [os.path.relpath(source / name, out) for name in plates["fileName"]],
            "reader": "envision",
            "layout": "layout.tsv",
            "batch": plates["batch"],
            # The raw counts, not the reader's crosstalk-corrected block.
            "measurement": "Results for",
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the dataset folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the two TSVs")
    args = parser.parse_args(argv)
    # abspath, not resolve: the relative paths in the sheet should follow the
    # folders as named, not where symbolic links happen to point.
    source, out = Path(os.path.abspath(args.source)), Path(os.path.abspath(args.out))
    out.mkdir(parents=True, exist_ok=True)

    layout_path = out / "layout.tsv"
    layout_from_annotation(source / "wellAnno.csv").to_csv(layout_path, sep="\t", index=False)
    read_layout(layout_path, geometry_for(384))  # fail here, not in the pipeline
    sheet = sample_sheet(source / "plateAnno.csv", source, out)
    sheet.to_csv(out / "sample_sheet.tsv", sep="\t", index=False)
    print(f"wrote {layout_path} and {out / 'sample_sheet.tsv'} ({len(sheet)} plates)")


if __name__ == "__main__":
    main()
