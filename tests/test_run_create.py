"""Creating a run where the file system says no: a clear message naming the path and the OS's
reason (exit 2), and no half-made run directory left to be listed as `queued`.

The full-disk cases mount a small tmpfs (root only; skipped elsewhere)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, write_synthetic

from core.config import load_config
from core.errors import InputError
from core.runs import RunDir, list_run_dirs
from core.service import jobs as service_jobs
from core.train.run import create_run, execute

SPLIT = ["split.test_days=200", "split.val_days=200"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("create") / "d.csv", "planted", days=900, seed=5)


def _baselines(data: Path):
    return load_config("baselines", overrides=SPLIT, data=str(data))


def test_runs_dir_that_is_a_file(tmp_path, data):
    f = tmp_path / "runs"
    f.write_text("not a directory")
    with pytest.raises(InputError) as info:
        service_jobs.create_job(_baselines(data), "baselines", f)
    msg = str(info.value)
    assert str(f) in msg and "cannot create" in msg and ("not a directory" in msg.lower() or "exists" in msg.lower())
    assert f.read_text() == "not a directory"


def test_runs_dir_under_a_file(tmp_path, data):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError) as info:
        service_jobs.create_job(_baselines(data), "baselines", f / "runs")
    msg = str(info.value)
    assert str(f / "runs") in msg and "not a directory" in msg.lower()


@pytest.mark.slow
@pytest.mark.parametrize("under", [False, True])
def test_cli_run_creation_errors_exit_2_without_a_traceback(tmp_path, data, under):
    f = tmp_path / "runs"
    f.write_text("x")
    runs_dir = f / "sub" if under else f
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "synapse_tui.cli",
            "baselines",
            "--data",
            str(data),
            *[f"-o{o}" for o in SPLIT],
            "--runs-dir",
            str(runs_dir),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and f"cannot create a run under {runs_dir}" in r.stderr, r.stderr


# ------------------------------------------------------------------ a full disk (a small tmpfs)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs at tmp_path/disk, and a way to fill it up to the last byte."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(where: Path) -> None:
    """Write zeros beside `where` until the file system says ENOSPC."""
    with open(where / ".filler", "wb", buffering=0) as fh:
        chunk = b"\0" * 65536
        while True:
            try:
                fh.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        with contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 512)


def test_a_full_disk_leaves_no_run_directory(small_disk, data):
    root = small_disk / "runs"
    root.mkdir()
    fill(small_disk)
    with pytest.raises(InputError) as info:
        create_run(_baselines(data), root, "baselines")
    msg = str(info.value)
    assert f"cannot create a run under {root}" in msg and "no space left on device" in msg.lower()
    assert list_run_dirs(root) == [] and [p.name for p in root.iterdir()] == []


def test_a_full_disk_mid_training_names_the_os_reason(small_disk, data):
    cfg = load_config(
        "logistic", overrides=[*SPLIT, "train.epochs=4", "train.device=cpu", "train.patience=10"], data=str(data)
    )
    run = create_run(cfg, small_disk / "runs", "train")

    def progress(msg: str) -> None:
        if " epoch 1/" in msg:
            fill(small_disk)

    with pytest.raises(OSError) as info:
        execute(run, progress=progress)
    assert info.value.errno == errno.ENOSPC
    (small_disk / ".filler").unlink()  # room again to read what was written
    events = RunDir(run.path).read_events()
    finished = [e for e in events if e["type"] == "run_finished"]
    assert finished and finished[-1]["status"] == "failed"
    err = finished[-1]["error"]
    assert "no space left on device" in err.lower() and "enforce fail" not in err, err
    # the logged traceback is the OS's error, not torch's zip writer's "[enforce fail at inline_container.cc]"
    logged = "\n".join(str(e.get("message")) for e in events if e["type"] == "log" and e.get("level") == "error")
    assert "No space left on device" in logged and "enforce fail" not in logged, logged
