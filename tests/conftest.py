import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_WORLD = REPO.parent / "shared" / "data" / "real-world"
EXAMPLE_SHEET = REPO / "example" / "screen" / "sample_sheet.tsv"
UP_TO_QC = ["results/screen_summary.txt", "results/qc/plates.tsv", "results/qc/heatmaps", "results/qc/overview.png"]
# The whole workflow with quick approximate fits (SVI): NUTS has its own tests
# (test_model.py) and takes minutes per drug.
QUICK_DRAWS = 100  # per chain
QUICK_FITS = f"fit={{method: svi, svi_steps: 1000, chains: 2, draws: {QUICK_DRAWS}}}"
CLL_DRUGS = "[Ibrutinib, Venetoclax]"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """The repository's workflow, run in ``workdir`` by the test environment's
    snakemake as a user runs `.venv/bin/snakemake`: with that environment not on
    PATH, so rules must not need it there."""
    bin_dir = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != bin_dir)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path}
    return subprocess.run(
        [bin_dir / "snakemake", "--cores", "2", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         *args],
        capture_output=True, text=True, timeout=600, env=env,
    )


@pytest.fixture(scope="session")
def run_snakemake():
    return snakemake


@pytest.fixture(scope="session")
def real_world() -> Path:
    if not REAL_WORLD.is_dir():
        pytest.fail(f"shared real-world data not found at {REAL_WORLD}")
    return REAL_WORLD


@pytest.fixture(scope="session")
def example_run(tmp_path_factory):
    """The whole workflow on the example screen with quick fits, once per test
    session (tests only read it)."""
    workdir = tmp_path_factory.mktemp("example")
    run = snakemake(workdir, "--config", f"sample_sheet={EXAMPLE_SHEET}", QUICK_FITS)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, run


@pytest.fixture(scope="session")
def cll_run(tmp_path_factory, real_world):
    """The workflow on the real CLL screen (config/examples/cll), once per session,
    with quick fits of two of its 63 drugs."""
    tmp = tmp_path_factory.mktemp("cll")
    source = real_world / "raw-screen-dataset" / "drugscreenexplorer-cll-ctg384"
    prepare = subprocess.run(
        [sys.executable, REPO / "config/examples/cll/prepare.py", "--source", source, "--out", tmp / "cll"],
        capture_output=True, text=True,
    )
    assert prepare.returncode == 0, prepare.stderr
    run = snakemake(tmp / "work", "--config", f"sample_sheet={tmp / 'cll' / 'sample_sheet.tsv'}", QUICK_FITS,
                    f"drugs={CLL_DRUGS}")
    assert run.returncode == 0, run.stderr[-4000:]
    return tmp / "work", run
