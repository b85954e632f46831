"""Ingestion throughput: N plate files into the screen store, on this machine.

Copies the example screen's raw files into N plates (half EnVision, half BMG),
then times, side by side:
  * the package alone (one process reading every plate),
  * the workflow as shipped (batched ingestion jobs, --cores 2),
  * the workflow with one job per plate (ingest_batch_size=1), on a subset,
and prints a table with plates per second and the ratio to the shipped workflow.

    python benchmarks/ingest.py --plates 1000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example" / "screen"


def make_screen(folder: Path, n_plates: int) -> Path:
    """A sample sheet of n_plates plates cycling over the example's raw files."""
    example = pd.read_csv(EXAMPLE / "sample_sheet.tsv", sep="\t", dtype=str)
    (folder / "raw").mkdir(parents=True)
    shutil.copytree(EXAMPLE / "layouts", folder / "layouts")
    rows = []
    for i in range(n_plates):
        template = example.iloc[i % len(example)]
        file = f"raw/plate_{i:05d}{Path(template.file).suffix}"
        shutil.copy(EXAMPLE / template.file, folder / file)
        rows.append(template.to_dict() | {"plate": f"plate{i:05d}", "file": file,
                                          "line": f"L{i // 2:04d}", "patient": f"P{i // 8:03d}"})
    sheet = folder / "sample_sheet.tsv"
    pd.DataFrame(rows).to_csv(sheet, sep="\t", index=False)
    return sheet


def time_package(sheet: Path, out: Path) -> float:
    code = (
        "import sys; from pdoscreen.samplesheet import load_sample_sheet; "
        "from pdoscreen.ingest import ingest_plates; s = load_sample_sheet(sys.argv[1]); "
        "ingest_plates(s, list(s['plate']), sys.argv[2])"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(sheet), str(out)], check=True, capture_output=True)
    return time.perf_counter() - start


def workflow_command(sheet: Path, workdir: Path, batch_size: int | None = None, *extra: str,
                     target: str = "results/screen.zarr") -> list[str]:
    """Snakemake up to the screen store (ingestion only: `all` would also fit every drug)."""
    # The target first: options such as --quiet take any number of values.
    command = ["snakemake", target, "--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(workdir), *extra, "--config", f"sample_sheet={sheet}"]
    return command + ([f"ingest_batch_size={batch_size}"] if batch_size else [])


def run_workflow(command: list[str]) -> tuple[float, str]:
    """(seconds, stdout) of a Snakemake run with this environment's executables."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, done.stdout


def time_workflow(sheet: Path, workdir: Path, batch_size: int | None = None) -> float:
    return run_workflow(workflow_command(sheet, workdir, batch_size, "--quiet", "all"))[0]  # quiet: all output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plates", type=int, default=1000)
    parser.add_argument("--per-plate-subset", type=int, default=100,
                        help="plates for the one-job-per-plate run (it is slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sheet = make_screen(tmp / "screen", args.plates)
        small = make_screen(tmp / "small", args.per_plate_subset)
        results = [
            ("package, one process", args.plates, time_package(sheet, tmp / "pkg")),
            ("workflow, batched (shipped)", args.plates, time_workflow(sheet, tmp / "wf")),
            ("workflow, batched (shipped)", args.per_plate_subset, time_workflow(small, tmp / "wf_small")),
            ("workflow, one job per plate", args.per_plate_subset, time_workflow(small, tmp / "wf_1", 1)),
        ]
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'how':32s} {'plates':>7s} {'seconds':>9s} {'plates/s':>9s}")
    for how, n, seconds in results:
        print(f"{how:32s} {n:7d} {seconds:9.1f} {n / seconds:9.1f}")
    batched, per_plate = results[2][2], results[3][2]
    print(f"one job per plate is {per_plate / batched:.1f}x slower than batched on {args.per_plate_subset} plates")


if __name__ == "__main__":
    main()
