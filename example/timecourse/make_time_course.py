"""Write the example screen read over time shipped with pdoscreen (deterministic).

Three patients, two organoid lines each, two replicate 96-well plates per line,
one drug (drugA) at nine concentrations, every plate counted every 8 h for
120 h after drug addition and exported as an IncuCyte (Zoom) time series, with
one long layout CSV per plate (each plate has its own well positions), the
sample sheet and the simulated truth. The counts come from
``pdoscreen.simulate.time_course_screen``: each well's DIP rate follows its
line's Hill curve and goes below 0 at high dose (the drug kills).

    .venv/bin/python example/timecourse/make_time_course.py   # rewrites example/timecourse/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from pdoscreen.simulate import Design, GrowthCurve, time_course_screen

SEED = 14
DESIGN = Design(n_patients=3)
HERE = Path(__file__).resolve().parent
# per line: the DIP rate's curve (relative floor: high-dose rate over the control rate) and its DIP metrics
TRUTH_COLUMNS = ["drug", "patient", "line", "dip_log10_ec50", "hill", "dip_relative_floor", "dip_emax"]


def incucyte_export(counts: np.ndarray, hours: np.ndarray, wells: list[str]) -> str:
    """One plate as the IncuCyte exports it: ``Key: value`` lines, then ``Date
    Time``, ``Elapsed`` (hours) and one column per well; counts over (time, well)."""
    header = ["Label: \t", "", "Date Time\tElapsed\t" + "\t".join(w[0] + str(int(w[1:])) for w in wells)]
    scans = [f"4/{1 + int(h) // 24}/2026 {int(h) % 24}:00:00\t{h:g}\t" + "\t".join(str(round(c)) for c in row)
             for h, row in zip(hours, counts)]
    return "\r\n".join(header + scans) + "\r\n"


def layout_csv(plate) -> str:
    """One plate's long layout: vehicle (DMSO), kill (staurosporine 10 µM) and
    treated wells; empty wells are left out."""
    rows = ["well,role,drug,concentration,unit"]
    for well, role, drug, molar in zip(plate.well.values, plate.role.values, plate.drug.values,
                                       plate.concentration_molar.values):
        if role == "vehicle":
            rows.append(f"{well},vehicle,DMSO,,")
        elif role == "kill":
            rows.append(f"{well},kill,Staurosporine,10,uM")
        elif role == "treated":
            rows.append(f"{well},treated,{drug},{molar * 1e9:.10g},nM")
    return "\n".join(rows) + "\n"


def write(out: Path, seed: int = SEED) -> None:
    screen, truth = time_course_screen(DESIGN, GrowthCurve(), seed)
    out.mkdir(parents=True, exist_ok=True)
    sheet = []
    for plate in screen.plate.values:
        one = screen.sel(plate=plate)
        (out / "raw").mkdir(exist_ok=True)
        (out / "layouts").mkdir(exist_ok=True)
        (out / "raw" / f"{plate}.txt").write_bytes(
            incucyte_export(one.course_signal.values, one.time_h.values, list(one.well.values)).encode())
        (out / "layouts" / f"{plate}.csv").write_text(layout_csv(one))
        sheet.append(dict(plate=plate, patient=str(one.patient.values), line=str(one.line.values),
                          file=f"raw/{plate}.txt", reader="auto", layout=f"layouts/{plate}.csv",
                          replicate=int(one.replicate), drug_added_h=0, timepoint_h=120))
    pd.DataFrame(sheet).to_csv(out / "sample_sheet.tsv", sep="\t", index=False, lineterminator="\n")
    truth[TRUTH_COLUMNS].to_csv(out / "truth.tsv", sep="\t", index=False, float_format="%.6g", lineterminator="\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write (default: this one)")
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
