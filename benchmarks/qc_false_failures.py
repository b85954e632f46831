"""How often plate QC fails a clean plate, and whether it catches bad controls.

    python benchmarks/qc_false_failures.py --plates 2000 --seed 1

Simulated screens (`pdoscreen.simulate`, Student-t noise, 1% outlier wells
reading 0.4x or 1.8x) of 96-well plates (one drug, 16 vehicle and 8 kill wells)
and 384-well plates (eight drugs, the same controls), judged with the default
thresholds (`robust`: control outliers left out) and with control outliers left
in (`classical`, the rule before control outliers). Rows:

- `clean`: no artefact beyond the 1% outlier wells; every failure is false.
- `one stray vehicle well`: one vehicle well per plate reads 3x; it should pass.
- `half the vehicle wells failed`: 8 of 16 read 0.1x (failed dispense); it must fail.

Columns: plates, plates failed, warned, the failure rate with its exact
(Clopper-Pearson) 95% upper bound, the share of plates with at least one well
flagged `control_outlier`, and the seconds QC took. `--plates 5000` ran in
about 12 minutes on a shared 2-core machine; the results are in docs/qc.md.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from scipy.stats import beta

from pdoscreen import simulate
from pdoscreen.qc import Thresholds, screen_qc

PLATES_PER_LINE = 2
DESIGNS = {
    "96-well, 1 drug": simulate.Design(outlier_fraction=0.01),
    "384-well, 8 drugs": simulate.Design(outlier_fraction=0.01, drugs=tuple(f"drug{i}" for i in range(8))),
}
ARTEFACTS = {
    "clean": None,
    "one stray vehicle well": dict(role="vehicle", n_per_plate=1, factor=3.0),
    "half the vehicle wells failed": dict(role="vehicle", n_per_plate=8, factor=0.1),
}
RULES = {"robust": Thresholds(), "classical": Thresholds(control_outlier_z=float("inf"))}


def upper_95(failures: int, n: int) -> float:
    """Exact one-sided 95% upper bound of a binomial rate."""
    return 1.0 if failures == n else float(beta.ppf(0.95, failures + 1, n - failures))


def one_case(design: simulate.Design, n_plates: int, artefact: dict | None, thresholds: Thresholds, seed: int) -> dict:
    lines = n_plates // PLATES_PER_LINE
    design = simulate.Design(**{**design.__dict__, "n_patients": lines, "lines_per_patient": 1,
                                "plates_per_line": PLATES_PER_LINE})
    screen = simulate.screen(design, seed)[0]
    if artefact:
        screen = simulate.with_failed_wells(screen, seed=seed + 1, **artefact)
    start = time.perf_counter()
    plates, wells = screen_qc(screen, thresholds)
    seconds = time.perf_counter() - start
    failed = int((plates["status"] == "fail").sum())
    return {
        "plates": len(plates), "failed": failed, "warned": int((plates["status"] == "warn").sum()),
        "failed_pct": 100 * failed / len(plates), "failed_pct_upper_95": 100 * upper_95(failed, len(plates)),
        "with_control_outlier_pct": 100 * wells["plate"].nunique() / len(plates), "qc_s": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plates", type=int, default=2000, help="plates per design and case")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for design_name, design in DESIGNS.items():
        for artefact_name, artefact in ARTEFACTS.items():
            for rule, thresholds in RULES.items():
                case = one_case(design, args.plates, artefact, thresholds, args.seed)
                rows.append({"design": design_name, "artefact": artefact_name, "rule": rule, **case})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
