import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
REAL_WORLD = REPO.parent / "shared" / "data" / "real-world"
EXAMPLE_SHEET = REPO / "example" / "screen" / "sample_sheet.tsv"
UP_TO_QC = ["results/screen_summary.txt", "results/qc/plates.tsv", "results/qc/heatmaps", "results/qc/overview.png"]

# PDOSCREEN_TEST_SEED shifts every seed of the suite (simulated screens, fits,
# the workflow runs' fit seed): a second run under another seed shows that no
# assertion holds only for one draw (docs/testing.md).
SEED_SHIFT = int(os.environ.get("PDOSCREEN_TEST_SEED", "0"))


def well_value(ds, row: str, column: int) -> float:
    """A read plate's signal in one well (``read_plate``'s Dataset), by row letter and column number."""
    return float(ds.signal.sel(row=row, column=column))


def well_flag(ds, row: str, column: int) -> str:
    return str(ds.flag.sel(row=row, column=column).item())


def seeded(seed: int) -> int:
    """A test's own seed, shifted by PDOSCREEN_TEST_SEED."""
    return seed + SEED_SHIFT


# The whole workflow with quick approximate fits (SVI) is the workflow's test
# configuration, .test/config/config.yaml: NUTS has its own tests (test_model.py)
# and takes minutes per drug.
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"
_CONFIG_SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
QUICK_FIT = yaml.safe_load(TEST_CONFIG.read_text())["fit"] | {
    "seed": seeded(_CONFIG_SCHEMA["properties"]["fit"]["properties"]["seed"]["default"])
}
QUICK_DRAWS = QUICK_FIT["draws"]  # per chain
QUICK_FITS = f"fit={json.dumps(QUICK_FIT)}"
# The test configuration as the example_run fixture runs it: outside .test/, so
# with the example's sample sheet by its full path, and the suite's fit seed.
QUICK_RUN = (
    "--configfile", str(TEST_CONFIG),
    "--config", f"sample_sheet={EXAMPLE_SHEET}", f"fit={json.dumps({'seed': QUICK_FIT['seed']})}",
)


@pytest.fixture(scope="session", autouse=True)
def no_slurm_controller():
    """Every snakemake the suite starts imports the SLURM executor plugin, which
    asks `scontrol show config` for the controller's MinJobAge. Where SLURM's
    client is installed and no controller answers (as on this project's
    machines until .ci/slurm.sh starts one), that waits about 10 s per start.
    The suite runs the workflow locally, so its processes find an scontrol
    that answers "no controller" at once (docs/testing.md)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(REPO / "tests" / "no_slurm_controller"), prepend=os.pathsep)
        yield


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
    """The workflow's test configuration (.test/) on the example screen, once
    per test session (tests only read it)."""
    workdir = tmp_path_factory.mktemp("example")
    run = snakemake(workdir, *QUICK_RUN)
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir, run


@pytest.fixture(scope="session")
def jax_compilation_cache(request, tmp_path_factory):
    """One compile cache for the session's in-process fits: a fit whose program
    (model, settings, shape bucket) another test file or worker compiled loads
    it. pytest's cache folder (.pytest_cache, shared by the xdist workers and
    kept between runs; empty on a fresh clone), or a temporary folder under
    -p no:cacheprovider."""
    import jax

    cache = getattr(request.config, "cache", None)
    directory = cache.mkdir("jax-compile") if cache is not None else tmp_path_factory.mktemp("jax")
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


def fit_simulated(design, seed: int, drug: str = "drugA"):
    """A simulated screen (seed shifted by PDOSCREEN_TEST_SEED) fitted with the
    default settings, as a user's fit runs: the screen, its fit and the line
    summary joined to the truth."""
    from pdoscreen.checks import line_summary
    from pdoscreen.fit import FitSettings, fit_drug, plate_priors
    from pdoscreen.simulate import screen

    ds, truth = screen(design, seeded(seed))
    idata = fit_drug(ds, drug, plate_priors(ds), list(ds.plate.values), FitSettings(seed=seeded(7)))
    return ds, idata, line_summary(idata).merge(truth, on=["line", "patient"])
