"""The fitting stage's progress over its drugs, one job per drug.

When a run starts, the workflow writes the drugs it is going to fit to a small
table (``logs/fit/stage.tsv``); each fit job appends when it started and
finished. After each drug, its job reads the table and logs how many of the
run's drugs are done and about how long the rest will take.
"""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ["drug", "started_s", "finished_s"]  # seconds since the epoch; empty for a drug not yet finished


def start_stage(path: str | Path, drugs: list[str]) -> None:
    """A new run's table: the drugs it fits, none finished yet."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerows([COLUMNS, *([drug, "", ""] for drug in drugs)])


def finish_fit(path: str | Path, drug: str, started_s: float, finished_s: float) -> str | None:
    """Add one finished drug to the run's table (a line of its own, so
    concurrent jobs do not overwrite each other) and return the stage's
    progress; None without a table (a fit run outside the workflow, with
    Snakemake's --no-hooks, or as a module, whose start handler does not run)."""
    if not Path(path).exists():
        return None
    with open(path, "a") as handle:
        handle.write(f"{drug}\t{started_s:.1f}\t{finished_s:.1f}\n")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    fits = {row["drug"]: (float(row["started_s"]), float(row["finished_s"])) for row in rows if row["finished_s"]}
    return estimate(len({row["drug"] for row in rows}), list(fits.values()), finished_s)


def estimate(n_drugs: int, fits: list[tuple[float, float]], now_s: float) -> str:
    """``fitting stage: 3 of 8 drugs done in 4 min; about 7 min left``.

    The time left is the stage's throughput so far (drugs finished per second
    since the first fit started, which counts parallel jobs) applied to the
    drugs still to fit: rough while few drugs are done, as fits differ in length.
    """
    elapsed_s = now_s - min(start for start, _ in fits)
    done = f"fitting stage: {len(fits)} of {n_drugs} drugs done in {duration(elapsed_s)}"
    left = n_drugs - len(fits)
    if left <= 0:
        return done
    return f"{done}; about {duration(left * elapsed_s / len(fits))} left"


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``2 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
