"""Hostile and careless inputs: each is refused quickly with a message naming the file (and
line) and exit code 2, and nothing is left half-made.

- YAML alias bombs and deep nesting in configs, overrides and hosts.yaml;
- data files that are FIFOs, devices, gzip bombs or past the size cap, and the loader's
  peak memory on a large valid file;
- config values out of range (a seed torch cannot take, batch_size 1e9);
- checkpoints that are crafted, empty, truncated or of another shape;
- run directories from someone else (a manifest naming /etc/shadow), relative data paths
  used from another directory;
- hints that name what works (unsorted dates, lost sweep runs), one run-name rule, and a
  bit-reproducible `train.deterministic`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from helpers import ROOT, write_synthetic

from core.config import MAX_YAML_DEPTH, load_config
from core.data import MAX_DATA_BYTES, MAX_DATA_ENV, load_dataset, write_draws_csv, write_multihot_csv
from core.errors import ConfigError, DataError, InputError
from synapse_tui.cli import app

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SCRIPT = Path(sys.executable).with_name("synapse")
_CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "synapse_tui.cli"]
SMALL = ["split.test_days=200", "split.val_days=200", "split.min_train_days=200"]


def synapse(*args, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real entry point in a child process, plain text out."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env["NO_COLOR"] = "1"
    p = subprocess.run(
        [*_CMD, *map(str, args)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
    )
    p.stdout, p.stderr = _ANSI.sub("", p.stdout), _ANSI.sub("", p.stderr)
    return p


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


# =========================================================================== 21. YAML


def _bomb() -> str:
    """Billion laughs: 9 levels of 9 aliases, 9**9 strings once expanded, ~340 bytes."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _deep(levels: int = 5000) -> str:
    return "train: " + "[" * levels + "]" * levels + "\n"


@pytest.mark.timeout(20)
def test_a_yaml_alias_bomb_is_refused_fast_naming_file_and_line(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert time.monotonic() - t0 < 1.0
    e = err.value
    assert e.path == str(path) and e.line is not None and 1 <= e.line <= 9
    assert "alias" in e.problem and "10,000" in e.problem


@pytest.mark.timeout(20)
def test_deep_nesting_is_refused_with_a_message_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(_deep())
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert time.monotonic() - t0 < 1.0
    assert err.value.line == 1 and f"nested more than {MAX_YAML_DEPTH} levels" in err.value.problem
    # Nesting made by a long chain of aliases is refused too (it would overflow every walk).
    chain = "k0: &k0 [1]\n" + "".join(f"k{i}: &k{i} [*k{i - 1}]\n" for i in range(1, 300))
    path.write_text(chain)
    with pytest.raises(ConfigError, match="levels deep"):
        load_config(path)


def test_a_recursive_alias_and_a_bomb_in_an_override_are_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("train: &t {epochs: *t}\n")
    with pytest.raises(ConfigError, match="recursive alias"):
        load_config(path)
    flat_bomb = _bomb().replace("\n", ", ").rstrip(", ")
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="alias") as err:
        load_config(None, overrides=["eval.k={" + flat_bomb + "}"])
    assert time.monotonic() - t0 < 1.0 and err.value.path.startswith("-o eval.k=")


def test_ordinary_anchors_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("model: {kind: gru, hidden: &h 16}\ntrain: {epochs: *h, batch_size: *h}\n")
    cfg = load_config(path)
    assert cfg.train.epochs == 16 and cfg.train.batch_size == 16


@pytest.mark.timeout(20)
def test_hosts_yaml_goes_through_the_same_safe_loader(tmp_path):
    from core.jobs.remote.hosts import read_hosts_file

    path = tmp_path / "hosts.yaml"
    path.write_text("hosts:\n  lab: {host: x, user: u}\n" + _bomb())
    t0 = time.monotonic()
    with pytest.raises(InputError, match="alias") as err:
        read_hosts_file(path)
    assert time.monotonic() - t0 < 1.0 and err.value.path == str(path) and err.value.line


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_config_validate_cli_exits_2_on_a_bomb_and_on_deep_nesting(tmp_path):
    (tmp_path / "bomb.yaml").write_text(_bomb())
    (tmp_path / "deep.yaml").write_text(_deep())
    for name, needle in (("bomb.yaml", "alias"), ("deep.yaml", "levels deep")):
        t0 = time.monotonic()
        r = synapse("config", "validate", tmp_path / name)
        assert r.returncode == 2, r.stderr
        assert time.monotonic() - t0 < 30  # a fresh interpreter; the refusal itself is milliseconds
        assert r.stderr.startswith(f"error: {tmp_path / name}:") and needle in r.stderr
        assert "Traceback" not in r.stderr


# =========================================================================== 22. data files


@pytest.mark.timeout(30)
def test_a_fifo_is_refused_promptly_not_waited_on(tmp_path):
    fifo = tmp_path / "data.csv"
    os.mkfifo(fifo)
    out: dict = {}

    def load() -> None:
        try:
            load_dataset(fifo)
        except DataError as exc:
            out["error"] = exc

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(5)
    if t.is_alive():  # the old loader blocks in open(): give it a writer and EOF so the thread ends
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(5)
        pytest.fail("loading a FIFO blocked")
    e = out["error"]
    assert e.path == str(fifo) and "FIFO" in e.problem and "not a regular" in e.problem


@pytest.mark.timeout(30)
def test_a_device_is_refused_not_read_to_memory_error():
    t0 = time.monotonic()
    with pytest.raises(DataError) as err:
        load_dataset("/dev/zero")
    assert time.monotonic() - t0 < 1.0
    assert err.value.path == "/dev/zero" and "a device, not a regular" in err.value.problem


@pytest.mark.timeout(60)
def test_a_gzip_bomb_is_refused_at_the_cap_while_decompressing(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.csv.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(b"date,e1\n")
        zeros = b"0" * (1 << 20)
        for _ in range(64):
            fh.write(zeros)
    assert bomb.stat().st_size < 200_000
    monkeypatch.setenv(MAX_DATA_ENV, str(8 << 20))  # 8 MiB; the default is 1 GiB
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as err:
            load_dataset(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (
        err.value.path == str(bomb) and "decompressed data is larger than the 8,388,608-byte limit" in err.value.problem
    )
    assert MAX_DATA_ENV in err.value.problem
    assert peak < 40 << 20  # it stopped near the cap, not at 64 MiB


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(b"date,e1\n" + b"2001-01-01,1\n" * 1000)
    monkeypatch.setenv(MAX_DATA_ENV, "1000")
    with pytest.raises(DataError, match=r"the file \(13,008 bytes\) is larger than the 1,000-byte limit"):
        load_dataset(path)
    monkeypatch.setenv(MAX_DATA_ENV, "lots")
    with pytest.raises(DataError, match="not a whole number"):
        load_dataset(path)
    assert MAX_DATA_BYTES == 1 << 30


def test_damaged_gzip_is_a_message(tmp_path):
    good = gzip.compress(b"date,e1\n2001-01-01,1\n")
    (tmp_path / "t.csv.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="truncated"):
        load_dataset(tmp_path / "t.csv.gz")
    (tmp_path / "g.csv.gz").write_bytes(good + b"trailing junk")
    with pytest.raises(DataError, match="not gzip"):
        load_dataset(tmp_path / "g.csv.gz")
    (tmp_path / "two.csv.gz").write_bytes(gzip.compress(b"date,e1\n2001-01-01,1\n") + gzip.compress(b"2001-01-02,2\n"))
    assert load_dataset(tmp_path / "two.csv.gz").T == 2  # concatenated members, as gzip -d reads them


def _peak_load(path: Path) -> int:
    tracemalloc.start()
    try:
        load_dataset(path, parts=39)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_of_a_large_valid_file_is_a_small_multiple_of_its_size(tmp_path):
    """tracemalloc's peak over the file size. Before the parse went by blocks one Python
    string per cell made it 22x (multihot, 40 cells a line) and 32x (draws) on these files,
    and a 200 MB file needed 4.5 GB; after, 5.8x and 13.6x (draws: the per-line strings and
    int64 ids dominate a 25-byte line). The bounds catch a return to a string per cell."""
    rng = np.random.default_rng(0)
    T = 60_000
    Y = np.zeros((T, 39), bool)
    np.put_along_axis(Y, np.argsort(rng.random((T, 39)), axis=1)[:, :5], True, axis=1)
    dates = np.datetime64("1900-01-01") + np.arange(T)
    path = tmp_path / "multihot.csv"
    write_multihot_csv(path, dates, Y)
    size = path.stat().st_size
    ratio = _peak_load(path) / size
    print(f"\nmultihot {size / 1e6:.1f} MB: peak {ratio:.1f}x the file")
    assert ratio < 8
    draws = tmp_path / "draws.csv"
    write_draws_csv(draws, dates, Y)
    ratio = _peak_load(draws) / draws.stat().st_size
    print(f"draws {draws.stat().st_size / 1e6:.1f} MB: peak {ratio:.1f}x the file")
    assert ratio < 20


def test_errors_past_the_first_block_name_the_right_line(tmp_path):
    T = 70_000  # more than two parse blocks
    rng = np.random.default_rng(1)
    Y = np.zeros((T, 39), bool)
    np.put_along_axis(Y, np.argsort(rng.random((T, 39)), axis=1)[:, :5], True, axis=1)
    path = tmp_path / "d.csv"
    write_draws_csv(path, np.datetime64("1900-01-01") + np.arange(T), Y)
    lines = path.read_text().splitlines()
    lines[69_001] = lines[69_001].rsplit(",", 1)[0] + ",x"
    lines[69_500] += ",7"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_dataset(path)
    assert err.value.line == 69_002 and "part id 'x' in column e5 is not an integer" in err.value.problem
    lines[69_001] = lines[69_002]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_dataset(path)
    assert err.value.line == 69_003 and "appears twice (lines 69002 and 69003)" in err.value.problem


# =========================================================================== 24. ranges


@pytest.mark.parametrize(
    "override, needle",
    [
        ("seed=18446744073709551616", "seed: should be less than or equal to 4294967295"),
        ("seed=-1", "seed: should be greater than or equal to 0"),
        ("train.batch_size=1000000000", "train.batch_size: should be less than or equal to 4096"),
        ("train.epochs=10000000000", "train.epochs"),
        ("train.steps_per_epoch=0", "train.steps_per_epoch"),
        ("train.lr=0", "train.lr: should be greater than 0"),
        ("train.lr=1e9", "train.lr: should be less than or equal to 10"),
        ("model.hidden=100000000", "model.hidden"),
        ("model.layers=1000", "model.layers"),
        ("train.num_threads=100000", "train.num_threads"),
    ],
)
def test_out_of_range_values_fail_validation_naming_the_key(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides=["model.kind=gru", override])
    assert needle in str(err.value) and err.value.path == f"-o {override}"


def test_transformer_context_is_bounded():
    with pytest.raises(ConfigError, match="model.context: should be less than or equal to 100000"):
        load_config(None, overrides=["model.kind=transformer", "model.context=10000000"])


def test_shipped_configs_are_inside_the_bounds():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        load_config(path)


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "planted.csv"
    return write_synthetic(path, "planted", days=700, seed=3)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_train_with_an_out_of_range_seed_exits_2_and_leaves_no_run(tmp_path, data_csv):
    runs = tmp_path / "runs"
    r = synapse(
        "train",
        "-c",
        "gru",
        "--data",
        data_csv,
        "--runs-dir",
        runs,
        "-o",
        "seed=18446744073709551616",
        *[x for o in SMALL for x in ("-o", o)],
    )
    assert r.returncode == 2, r.stderr
    assert "seed" in r.stderr and "4294967295" in r.stderr
    assert not runs.exists() or not any(runs.iterdir())
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {kind: gru}\ntrain:\n  batch_size: 1000000000\n")
    r = synapse("config", "validate", cfg)
    assert r.returncode == 2 and f"{cfg}:3:" in r.stderr and "train.batch_size" in r.stderr


# =========================================================================== runs for 25-27


def _train(data: Path, runs: Path, *extra: str):
    from core.train.run import run_train

    cfg = load_config(
        ROOT / "configs" / "gru.yaml",
        data=str(data),
        overrides=[
            *SMALL,
            "model.hidden=8",
            "model.chunks=4",
            "model.tbptt=32",
            "train.epochs=2",
            "train.device=cpu",
            "eval.k=20..21",
            *extra,
        ],
    )
    return run_train(cfg, runs)


@pytest.fixture(scope="module")
def gru_run(data_csv, tmp_path_factory):
    return _train(data_csv, tmp_path_factory.mktemp("runs"))


def _copy_run(run, tmp_path: Path):
    from core.runs import RunDir

    dest = tmp_path / "runs" / run.run_id
    shutil.copytree(run.path, dest)
    return RunDir(dest)


# =========================================================================== 25. checkpoints


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.slow
def test_damaged_or_crafted_checkpoints_are_refused_with_our_message(gru_run, tmp_path):
    from core.export import load_scorer
    from core.service.predict import predict

    run = _copy_run(gru_run, tmp_path)
    ck_path = run.model_checkpoint
    good = ck_path.read_bytes()
    torch.save({"model_state": _Evil()}, ck_path)
    with pytest.raises(InputError) as err:
        predict(run)
    msg = str(err.value)
    assert "weights_only=False" not in msg and "weights_only=True" in msg and "posix.getcwd" in msg
    assert err.value.path == str(ck_path)
    ck_path.write_bytes(b"")
    with pytest.raises(InputError, match=r"the checkpoint is empty \(0 bytes\)"):
        load_scorer(run)
    ck_path.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="truncated or not a torch checkpoint"):
        load_scorer(run)
    ck_path.write_bytes(b"date,e1\n")
    with pytest.raises(InputError, match="truncated or not a torch checkpoint"):
        load_scorer(run)
    ck_path.unlink()
    os.mkfifo(ck_path)  # opened non-blocking: refused, not waited on
    with pytest.raises(InputError, match="no model_checkpoint.pt"):
        load_scorer(run)
    from core.models.checkpoint import read_checkpoint

    with pytest.raises(InputError, match="not a regular file"):
        read_checkpoint(ck_path)  # last.pt on resume has no is_file() guard in front


@pytest.mark.slow
def test_a_wrong_shaped_checkpoint_is_refused_naming_the_tensor(gru_run, tmp_path):
    from core.export import load_scorer
    from core.service.predict import predict

    run = _copy_run(gru_run, tmp_path)
    ck = torch.load(run.model_checkpoint, weights_only=True)
    name = next(k for k, v in ck["model_state"].items() if v.ndim == 2)
    ck["model_state"][name] = torch.zeros(3, 3)
    torch.save(ck, run.model_checkpoint)
    for call in (lambda: predict(run), lambda: load_scorer(run)):
        with pytest.raises(InputError) as err:
            call()
        assert f"tensor {name!r} has shape (3, 3)" in str(err.value)
    r = invoke("export", "onnx", run.path)
    assert r.exit_code == 2 and name in r.output
    del ck["model_state"][name]
    torch.save(ck, run.model_checkpoint)
    with pytest.raises(InputError, match=f"lacks the tensor {name!r}"):
        load_scorer(run)


# =========================================================================== 26. untrusted runs


SHADOW = "root:$6$s3cr3tSALT$HASHHASHHASH:19000:0:99999:7:::\n"


@pytest.mark.slow
def test_predict_never_echoes_a_file_named_by_a_crafted_manifest(gru_run, tmp_path):
    from core.service.predict import predict

    run = _copy_run(gru_run, tmp_path)
    shadow = tmp_path / "shadow"
    shadow.write_text(SHADOW + "daemon:*:19000:0:99999:7:::\n")
    man = json.loads((run.path / "manifest.json").read_text())
    man["data"]["path"] = str(shadow)
    man["data"].pop("abs_path", None)
    (run.path / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(DataError) as err:
        predict(run)
    msg = str(err.value)
    assert err.value.path == str(shadow) and err.value.line == 1 and "missing column 'date'" in msg
    for secret in ("s3cr3t", "HASH", "root", "daemon", "19000"):
        assert secret not in err.value.problem  # (the path, under pytest-of-root, is not content)
    # A well-formed header with a secret in a cell: line and column, not the cell.
    shadow.write_text("date,e1,e2,e3,e4,e5\n2001-01-01,1,2,3,4,5\n2001-01-02,s3cr3tSALT,2,3,4,5\n")
    with pytest.raises(DataError) as err:
        predict(run)
    assert err.value.line == 3 and "column e1" in str(err.value) and "s3cr3t" not in str(err.value)


def test_user_files_are_quoted_short_and_escaped(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("date,e1\n2001-01-01," + "\x1b[31m" + "A" * 200 + "\n")
    with pytest.raises(DataError) as err:
        load_dataset(path)
    msg = str(err.value)
    assert "\x1b" not in msg and "\\x1b" in msg and "A" * 41 not in msg and "A" * 30 in msg


@pytest.fixture()
def relative_run(tmp_path, monkeypatch, data_csv):
    """A baselines run made from tmp/made with the data path given relative."""
    from core.train.run import run_baselines

    made = tmp_path / "made"
    made.mkdir()
    shutil.copy(data_csv, made / "d.csv")
    monkeypatch.chdir(made)
    cfg = load_config(ROOT / "configs" / "baselines.yaml", data="d.csv", overrides=[*SMALL, "eval.k=20..21"])
    run = run_baselines(cfg, tmp_path / "runs")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return run, made


def test_a_relative_data_path_resolves_from_another_directory(relative_run):
    from core.service.predict import predict

    run, made = relative_run
    man = json.loads((run.path / "manifest.json").read_text())
    assert man["data"]["path"] == "d.csv" and man["data"]["abs_path"] == str(made / "d.csv")
    assert man["created_cwd"] == str(made)
    assert predict(run)["data"] == str(made / "d.csv")
    # resume re-prepares from the run's config.yaml (data.path: d.csv) with the manifest's fallback
    from core.train.prepare import prepare

    cfg = load_config(run.config_yaml)
    with pytest.raises(DataError, match="no such file"):
        prepare(cfg)
    assert prepare(cfg, recorded=man).data.path == made / "d.csv"


def test_a_lost_data_file_names_both_paths_and_where_the_run_was_made(relative_run):
    from core.service.predict import predict

    run, made = relative_run
    (made / "d.csv").rename(made / "moved.csv")
    with pytest.raises(InputError) as err:
        predict(run)
    msg = str(err.value)
    assert "'d.csv'" in msg and str(made / "d.csv") in msg and f"the run was created in {made}" in msg


# =========================================================================== 27. hints, names, determinism


def _unsorted(path: Path) -> Path:
    path.write_text("date,e1,e2,e3,e4,e5\n2001-01-02,1,2,3,4,5\n2001-01-01,1,2,3,4,6\n")
    return path


def test_the_unsorted_hint_names_what_works_for_each_command(tmp_path):
    from core.train.prepare import prepare

    path = _unsorted(tmp_path / "u.csv")
    with pytest.raises(DataError, match="--allow-unsorted"):
        load_dataset(path)  # `synapse data validate` has the flag
    cfg = load_config(None, data=str(path), overrides=["model.kind=frequency"])
    with pytest.raises(DataError) as err:
        prepare(cfg)  # train/baselines: the config key
    assert "-o data.allow_unsorted=true" in str(err.value) and "--allow-unsorted" not in str(err.value)


@pytest.mark.slow
def test_predict_takes_allow_unsorted(gru_run, tmp_path, data_csv):
    ds = load_dataset(data_csv)
    order = np.arange(ds.T)
    order[[-1, -2]] = order[[-2, -1]]
    path = tmp_path / "u.csv"
    write_draws_csv(path, ds.dates, ds.Y)
    lines = path.read_text().splitlines()
    lines[-1], lines[-2] = lines[-2], lines[-1]
    path.write_text("\n".join(lines) + "\n")
    r = invoke("predict", gru_run.path, "--data", path, "--json")
    assert r.exit_code == 2 and "--allow-unsorted" in r.output
    r = invoke("predict", gru_run.path, "--data", path, "--allow-unsorted", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["history_last_date"] == str(ds.dates[-1])


def test_sweep_status_with_a_lost_run_says_how_to_resume(tmp_path):
    from core.runs import RunDir

    runs = tmp_path / "runs"
    rid = "20250101-000000-gru-abcd"
    run = RunDir(runs / rid)
    run.path.mkdir(parents=True)
    old = "2025-01-01T00:00:00.000000Z"
    events = [
        {"ts": old, "type": "queued", "job": "train"},
        {
            "ts": old,
            "type": "run_started",
            "run_id": rid,
            "config_hash": "x",
            "host": "nowhere",
            "pid": 999_999_999,
            "pid_started_at": "x:1",
            "device": "cpu",
            "attempt": 1,
        },
    ]
    run.events_jsonl.write_text("".join(json.dumps(e) + "\n" for e in events))
    sweep = runs / "sweeps" / "20250101-000000-sweep-abcd"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text(
        json.dumps(
            {
                "sweep_id": sweep.name,
                "parallel": 1,
                "runs": [{"label": "gru", "run_id": rid, "model": "gru", "job": "train"}],
            }
        )
    )
    r = invoke("sweep", "status", sweep.name, "--runs-dir", runs, "--no-wait")
    assert "lost" in r.output
    assert f"synapse resume {rid} --runs-dir {runs}" in r.output, r.output


def test_one_run_name_rule_of_1_to_64_characters():
    from core.config.schema import _NAME_RE
    from core.runs import NAME_RE, new_run_id

    assert _NAME_RE.pattern == NAME_RE.pattern
    assert load_config(None, overrides=["name=" + "a" * 64]).name == "a" * 64
    with pytest.raises(ConfigError, match="1-64 characters") as err:
        load_config(None, overrides=["name=" + "a" * 65])
    assert "80" not in str(err.value)
    with pytest.raises(InputError, match="1-64 characters"):
        new_run_id("a" * 65)
    assert "1-80" not in (ROOT / "README.md").read_text() + (ROOT / "docs" / "ARCHITECTURE.md").read_text()


@pytest.mark.slow
def test_deterministic_training_gives_byte_identical_weights(data_csv, tmp_path):
    torch.set_num_threads(2)
    first = _train(data_csv, tmp_path / "a", "train.deterministic=true", "train.num_threads=2")
    second = _train(data_csv, tmp_path / "b", "train.deterministic=true", "train.num_threads=2")
    assert torch.get_num_threads() == 2  # restored after the fit
    a = torch.load(first.model_checkpoint, weights_only=True)["model_state"]
    b = torch.load(second.model_checkpoint, weights_only=True)["model_state"]
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].numpy().tobytes() == b[k].numpy().tobytes(), k
