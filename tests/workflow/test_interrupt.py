"""A fit killed with SIGKILL part-way, then rerun: the rerun completes and gives
the tables of an uninterrupted run. Small screen (the example's first 8 plates),
one drug, quick fits, local executor. Two kills, as they happen on a cluster:
(a) only the fit's process (OOM killer, SLURM), Snakemake survives and reports
the job failed; (b) the whole Snakemake process group (node lost)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import psutil
import zarr

from conftest import REPO, snakemake
from pdoscreen.store import open_inference_data

DRUG = "Afatinib"
SUMMARIES = ["patient_drug.tsv", "line_drug.tsv", "fit_diagnostics.tsv"]
TARGETS = [f"results/summary/{name}" for name in SUMMARIES]  # not the plots and reports: faster
FIT_OUTPUTS = [f"results/fits/{DRUG}.{kind}" for kind in ("zarr", "diagnostics.tsv", "lines.tsv", "ppc.tsv")]


def config(sheet):
    return ["--config", f"sample_sheet={sheet}", "ingest_batch_size=4", f"drugs=[{DRUG}]",
            "fit={method: svi, svi_steps: 400, chains: 2, draws: 50}"]


def fit_process(run: subprocess.Popen, log: Path) -> psutil.Process | None:
    """The `python -m pdoscreen --log LOG fit` under ``run`` once it has begun
    fitting (its log names the drug's wells). The caller removes an earlier
    try's log before starting, so that log cannot be mistaken for this one."""
    for child in psutil.Process(run.pid).children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:  # gone, or a zombie, between listing and reading
            continue
        if command[1:3] == ["-m", "pdoscreen"] and "fit" in command:
            return child if log.exists() and "wells" in log.read_text() else None
    return None


def start_and_kill_mid_fit(workdir: Path, sheet: Path, whole_group: bool) -> tuple[int, str]:
    """Run the workflow, SIGKILL it (the fit's process, or Snakemake's whole
    process group) while the drug is being fitted; Snakemake's exit code and output."""
    output = workdir.parent / f"{workdir.name}.snakemake.out"
    log = workdir / "logs/fit" / f"{DRUG}.log"
    log.unlink(missing_ok=True)
    with open(output, "w") as out:
        run = subprocess.Popen(
            [Path(sys.executable).parent / "snakemake", "--cores", "2", "--snakefile", str(REPO / "Snakefile"),
             "--directory", str(workdir), *TARGETS, *config(sheet)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 400
        while (fit := fit_process(run, log)) is None:
            assert run.poll() is None, f"Snakemake ended before the fit began:\n{output.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the fit did not begin within 400 s"
            time.sleep(0.1)
        # The tables are written once sampling is done: if one is there, the kill came too late.
        assert not (workdir / FIT_OUTPUTS[1]).exists(), "the fit had finished before the kill"
        if whole_group:
            os.killpg(run.pid, signal.SIGKILL)
        else:
            fit.kill()
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    return run.returncode, output.read_text()


def test_a_fit_killed_part_way_reruns_to_the_uninterrupted_tables(tmp_path):
    shutil.copytree(REPO / "example/screen/raw", tmp_path / "raw")
    shutil.copytree(REPO / "example/screen/layouts", tmp_path / "layouts")
    sheet = tmp_path / "sample_sheet.tsv"
    pd.read_csv(REPO / "example/screen/sample_sheet.tsv", sep="\t").iloc[:8].to_csv(sheet, sep="\t", index=False)
    killed = tmp_path / "killed"
    # The uninterrupted run to compare with, alongside: the kills wait on the fit
    # itself, not on a clock, so sharing the cores does not move them.
    pool = ThreadPoolExecutor(1)
    uninterrupted = pool.submit(snakemake, tmp_path / "uninterrupted", *TARGETS, *config(sheet))

    # (a) The fit's process is killed; Snakemake reports the failed job, removes
    # its outputs and leaves no lock.
    code, output = start_and_kill_mid_fit(killed, sheet, whole_group=False)
    assert code != 0 and "Error in rule fit_drug" in output, output[-3000:]
    assert not any((killed / path).exists() for path in FIT_OUTPUTS), "a killed fit left outputs behind"
    assert not list(killed.glob(".snakemake/locks/*"))

    # (b) Snakemake's whole process group is killed: the fit job is left marked
    # incomplete, and the directory locked: Snakemake refuses to run there
    # ("Directory cannot be locked ... --unlock") until unlocked.
    code, output = start_and_kill_mid_fit(killed, sheet, whole_group=True)
    assert code == -signal.SIGKILL
    assert not (killed / FIT_OUTPUTS[0]).exists(), "a fit killed part-way left a zarr store"
    assert list(killed.glob(".snakemake/locks/*")) and list(killed.glob(".snakemake/incomplete/*"))

    # What a user does after a lost node (README): unlock, then rerun.
    unlock = snakemake(killed, "--unlock", *config(sheet))
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = snakemake(killed, "--rerun-incomplete", *TARGETS, *config(sheet))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # The interrupted drug is fitted again, not kept from what the kill left.
    assert "rule fit_drug" in rerun.stdout + rerun.stderr
    assert "kept it" not in (killed / "logs/fit" / f"{DRUG}.log").read_text()
    fit = open_inference_data(killed / FIT_OUTPUTS[0])
    assert fit.posterior.attrs["drug"] == DRUG
    assert zarr.open_group(str(killed / FIT_OUTPUTS[0]), mode="r")["posterior"].attrs["fingerprint"]

    uninterrupted = uninterrupted.result()
    pool.shutdown()
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    for name in SUMMARIES:
        assert (killed / "results/summary" / name).read_bytes() == \
            (tmp_path / "uninterrupted/results/summary" / name).read_bytes(), name


def test_a_fit_killed_while_writing_is_never_kept(tmp_path, monkeypatch):
    """The window the kills above rarely hit: the outputs being written. A stop
    at any write must not leave a fingerprint (which a rerun takes for a
    finished fit, and keeps) beside tables from another fit; it did while the
    zarr was written first, then the tables."""
    from pdoscreen import fitstore, store

    out = tmp_path / f"{DRUG}.zarr"
    writes = {"count": 0, "stop_at": None}

    def stopping(write):
        def wrapped(*args, **kwargs):
            writes["count"] += 1
            if writes["count"] == writes["stop_at"]:
                raise KeyboardInterrupt("killed")
            return write(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(pd.DataFrame, "to_csv", stopping(pd.DataFrame.to_csv))
    monkeypatch.setattr(store, "write_zarr_atomic", stopping(store.write_zarr_atomic))
    for stop_at in range(1, 5):  # three tables and the zarr
        writes.update(count=0, stop_at=None)
        fitstore.write_not_fitted(DRUG, "earlier", out, "earlier fingerprint")
        assert fitstore.stored_fingerprint(out) == "earlier fingerprint"
        writes.update(count=0, stop_at=stop_at)
        try:
            fitstore.write_not_fitted(DRUG, "new", out, "new fingerprint")
        except KeyboardInterrupt:
            pass
        # Kept, the stored fit must be the one its tables came from.
        kept = fitstore.stored_fingerprint(out)
        tables = pd.read_csv(fitstore.table_path(out, "diagnostics"), sep="\t")["reasons"].iloc[0]
        assert kept is None or kept == f"{tables} fingerprint", f"stopped at write {stop_at}"


def test_a_store_write_killed_before_its_swap_is_cleaned_up_by_the_next(tmp_path):
    """A job killed between writing a store beside its path and swapping it in
    leaves `.{name}.zarr.<uuid>.tmp`; the next write of that store removes it
    (and only its own leftovers)."""
    import xarray as xr

    from pdoscreen.store import open_zarr, write_zarr_atomic

    path = tmp_path / "screen.zarr"
    killed = (
        "import os, sys, xarray as xr\n"
        "from pdoscreen.store import write_zarr_atomic\n"
        "os.replace = lambda *args: os._exit(9)  # killed just before the swap\n"
        "write_zarr_atomic(xr.Dataset({'a': ('x', [0])}), sys.argv[1])\n"
    )
    left = []
    for _ in range(2):  # the second killed write removes the first's leftover
        assert subprocess.run([sys.executable, "-c", killed, str(path)]).returncode == 9
        left.append([p.name for p in tmp_path.glob(".screen.zarr.*.tmp")])
    assert len(left[0]) == len(left[1]) == 1 and left[0] != left[1] and not path.exists()
    other = tmp_path / ".plates.zarr.0123.tmp"
    other.mkdir()
    write_zarr_atomic(xr.Dataset({"a": ("x", [1, 2])}), path)
    assert list(open_zarr(path).a.values) == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".plates.zarr.0123.tmp", "screen.zarr"]
