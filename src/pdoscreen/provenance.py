"""What a run was made from: package versions, the config, content hashes of
every input file, the git revision of the workflow and the fit seeds."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .fit import drug_seed
from .plate import sha256
from .samplesheet import load_sample_sheet

PACKAGES = ["pdoscreen", "snakemake", "numpy", "pandas", "xarray", "zarr", "jax", "jaxlib", "numpyro", "arviz",
            "scipy", "matplotlib", "wellmap", "openpyxl", "pyarrow"]


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_revision(directory: str | Path) -> str:
    """The commit of the workflow's repository, marked when it has local changes."""
    def git(*args):
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, check=True)

    try:
        revision = git("rev-parse", "HEAD").stdout.strip()
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{revision} (with uncommitted changes)" if dirty else revision


def provenance(sheet_path: str | Path, config: dict, drugs: list[str], workflow_dir: str | Path) -> dict:
    sheet = load_sample_sheet(sheet_path)
    files = {"sample_sheet": {str(sheet_path): sha256(sheet_path)}}
    # Keyed as the sheet writes them (relative to it), so the record does not depend on where the screen lies.
    files["layouts"] = {name: sha256(path) for name, path in sorted(set(zip(sheet["layout"], sheet["layout_path"])))}
    named_files = sorted(set(zip(sheet["file"], sheet["file_path"])))
    files["plate_reader_files"] = {name: sha256(path) for name, path in named_files}
    seed = config.get("fit", {}).get("seed")
    return {
        "python": platform.python_version(),
        "packages": package_versions(),
        "workflow_git_revision": git_revision(workflow_dir),
        "config": config,
        "inputs_sha256": files,
        "fit_seeds": {drug: drug_seed(seed, drug) for drug in sorted(drugs)} if seed is not None else {},
    }


def write_provenance(record: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
