"""Scale: what a large screen costs per drug, what it would take on a cluster,
and what Snakemake's bookkeeping costs on 1,000 plates.

    python benchmarks/scale.py dag --plates 1000
    python benchmarks/scale.py report --docs docs/scale.md

The per-drug figures come from `benchmarks/compare.py run --sizes large` (the
large design: 100 patients, 200 lines, 100 drugs on 384-well plate sets; NUTS
with the default FitSettings and SVI; 2 drugs fitted side by side on 2 cores,
one single-threaded process each, as Snakemake would run them): fit time and
peak memory per drug. `report` projects the wall time of the whole screen's fits
on a cluster of N nodes, one job per drug.

`dag` builds a 1,000-plate sample sheet (benchmarks/ingest.py's, copies of the
example's raw files), times `snakemake --dry-run` and counts the jobs in the
DAG with the shipped ingestion batching and with one job per plate, then times
the ingestion itself (workflow up to the screen store, and the package alone).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import compare  # noqa: E402
import ingest  # noqa: E402

RESULTS = compare.RESULTS
NODES = [1, 4, 16, 64]


def dry_run(sheet: Path, workdir: Path, batch_size: int | None = None, target: str = "all") -> dict:
    """Wall time of `snakemake --dry-run` and the number of jobs in its DAG, by rule."""
    command = ingest.workflow_command(sheet, workdir, batch_size, "--dry-run", target=target)
    seconds, stdout = ingest.run_workflow(command)
    jobs = _jobs_by_rule(stdout)
    return {"seconds": seconds, "jobs": sum(jobs.values()), "jobs_by_rule": jobs}


def _jobs_by_rule(stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: one 'rule count' line per rule."""
    table = stdout.split("Job stats:")[-1].split("\n\n")[0]
    rows = (re.fullmatch(r"(\w+)\s+(\d+)", line.strip()) for line in table.splitlines())
    jobs: dict[str, int] = {}
    for m in (m for m in rows if m and m[1] != "total"):
        rule = re.sub(r"_\d+$", "", m[1])  # ingest_batch_7 -> ingest_batch
        jobs[rule] = jobs.get(rule, 0) + int(m[2])
    return jobs


def dag(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sheet = ingest.make_screen(tmp / "screen", args.plates)
        record = {"plates": args.plates, "machine": compare.machine(),
                  "dry_run_shipped": dry_run(sheet, tmp / "dry"),
                  "dry_run_one_job_per_plate": dry_run(sheet, tmp / "dry1", batch_size=1)}
        Path(args.out).write_text(json.dumps(record, default=float))  # kept if ingestion fails
        record["ingest_workflow_s"] = ingest.time_workflow(sheet, tmp / "wf")
        record["ingest_package_s"] = ingest.time_package(sheet, tmp / "pkg.zarr")
    record["machine"]["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(record, default=float))
    print(dag_markdown(record))


def dag_markdown(record: dict) -> str:
    n = record["plates"]
    rows = [("shipped (batches of 50)", record["dry_run_shipped"]),
            ("one job per plate", record["dry_run_one_job_per_plate"])]
    out = [f"| {n} plates, whole workflow | jobs in the DAG | jobs by rule | `--dry-run` s |", "|---|---|---|---|"]
    for name, run in rows:
        by_rule = ", ".join(f"{k} {v}" for k, v in sorted(run["jobs_by_rule"].items(), key=lambda kv: -kv[1]))
        out.append(f"| {name} | {run['jobs']} | {by_rule} | {run['seconds']:.1f} |")
    if "ingest_workflow_s" not in record:
        return "\n".join(out) + "\n"
    out += ["", f"Ingestion of {n} plate files into the screen store: the workflow (shipped batching, "
            f"--cores 2) {record['ingest_workflow_s']:.0f} s ({n / record['ingest_workflow_s']:.1f} plates/s); "
            f"the package in one process {record['ingest_package_s']:.0f} s "
            f"({n / record['ingest_package_s']:.1f} plates/s)."]
    return "\n".join(out) + "\n"


# --- cluster projection ------------------------------------------------------------------


def per_drug(record: dict) -> dict:
    """Per-drug fit seconds (compile apart) and peak memory of a large-screen record."""
    drugs = pd.DataFrame(record["per_drug"])
    drugs["seconds"] = compare._full_length_seconds(record, drugs)  # a shortened NUTS run, at full length
    return {"method": record["contender"], "drugs_measured": len(drugs), "drugs_total": record["drugs_total"],
            "shortened": bool(record.get("shortened")), "settings": record.get("settings", {}),
            "seconds_mean": float(drugs.seconds.mean()), "seconds_max": float(drugs.seconds.max()),
            "compile_s": float(drugs.groupby("pid").compile_s.first().mean()),
            "run_s_mean": float((drugs.seconds - drugs.compile_s).mean()),
            "peak_mb": float(drugs.maxrss_mb.max()), "setup_s": record["setup_s"]}


def projection(drug: dict, nodes: int, cores_per_node: int, ram_gb_per_node: float) -> dict:
    """Wall time of all drugs' fits on ``nodes`` nodes, one single-threaded job per
    drug, as many jobs per node as cores and memory allow; each job pays the
    measured per-drug time (measured 2 jobs on 2 cores, so 1 core per job)."""
    jobs_per_node = min(cores_per_node, max(1, int(ram_gb_per_node * 1024 // drug["peak_mb"])))
    waves = math.ceil(drug["drugs_total"] / (nodes * jobs_per_node))
    # Every job of the first wave compiles (or loads from a shared cache); later
    # waves are charged the same, as a cluster's nodes need not share a cache.
    fit_s = waves * drug["seconds_mean"]
    return {"nodes": nodes, "jobs_per_node": jobs_per_node, "waves": waves, "fit_s": fit_s,
            "wall_s": drug["setup_s"] + fit_s}


def scale_markdown(raw: dict, cores_per_node: int, ram_gb_per_node: float) -> str:
    records = [r for r in raw["records"] if r["size"] == "large" and r["contender"] in ("svi", "nuts")]
    out = [f"Large design: {compare.SIZE_NOTES['large']}; 100 patients, 200 lines, 100 drugs, "
           f"{compare.SIZES['large']['drugs_per_plate']} drugs per 384-well plate.", "",
           "| method | drugs measured | s per drug (mean / max) | of which compile | peak MB per drug job |",
           "|---|---|---|---|---|"]
    drugs = [per_drug(r) for r in records]
    for d in drugs:
        shortened = (f" (run {d['settings']['warmup']} + {d['settings']['draws']} per chain, times projected to "
                     "500 + 1000)" if d["shortened"] else "")
        out.append(f"| {d['method']}{shortened} | {d['drugs_measured']} of {d['drugs_total']} | "
                   f"{d['seconds_mean']:.0f} / "
                   f"{d['seconds_max']:.0f} | {d['compile_s']:.0f} | {d['peak_mb']:.0f} |")
    out += ["", f"Projected wall time of the 100 drug fits (one job per drug, nodes of {cores_per_node} cores "
            f"and {ram_gb_per_node:.0f} GB, one core per job, plus plate priors; projected from the drugs "
            "measured above, not measured on a cluster):", "",
            "| method | " + " | ".join(f"{n} node{'s' if n > 1 else ''}" for n in NODES) + " |",
            "|---|" + "---|" * len(NODES)]
    for d in drugs:
        cells = [projection(d, n, cores_per_node, ram_gb_per_node) for n in NODES]
        out.append(f"| {d['method']} | " + " | ".join(f"{_duration(c['wall_s'])} ({c['waves']} wave"
                                                      f"{'s' if c['waves'] > 1 else ''})" for c in cells) + " |")
    return "\n".join(out) + "\n"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def report(args: argparse.Namespace) -> None:
    text = scale_markdown(json.loads(Path(args.compare).read_text()), args.cores_per_node, args.ram_gb_per_node)
    if Path(args.dag).exists():
        text += "\n### Snakemake's bookkeeping\n\n" + dag_markdown(json.loads(Path(args.dag).read_text()))
    print(text)
    if args.docs:
        here = Path(__file__).parent
        notes = here / "scale_notes.md"  # the reading of the latest run, by hand
        tail = "\n" + notes.read_text() if notes.exists() else ""
        Path(args.docs).write_text((here / "scale_intro.md").read_text() + "\n" + text + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    dagger = commands.add_parser("dag")
    dagger.add_argument("--plates", type=int, default=1000)
    dagger.add_argument("--out", default=str(RESULTS / "scale_dag.json"))
    dagger.set_defaults(run=dag)
    reporter = commands.add_parser("report")
    reporter.add_argument("--compare", default=str(RESULTS / "compare.json"))
    reporter.add_argument("--dag", default=str(RESULTS / "scale_dag.json"))
    reporter.add_argument("--cores-per-node", type=int, default=32)
    reporter.add_argument("--ram-gb-per-node", type=float, default=128)
    reporter.add_argument("--docs", help="write the figures here (e.g. docs/scale.md)")
    reporter.set_defaults(run=report)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
