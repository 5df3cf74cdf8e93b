"""The `synapse` command line for data and config, exercised as a user would.

Two layers:
- the real entry point in a subprocess (the installed `synapse` script next to
  sys.executable, else `python -m synapse_tui.cli`): exit codes, stdout/stderr format,
  files written; kept to about twenty calls, several shared through module fixtures;
  these tests are marked `slow`;
- the Typer app in-process through `typer.testing.CliRunner` for the whole bad-file
  corpus (43 files), whose expectations are read from `tests/data/bad/README.md`, the
  same table `tests/test_data_load.py` reads.

Several tests pin bugs found once (markup in messages, wrapped OK lines, half-written
generate output, dates past 9999): brackets in paths and cells are echoed verbatim.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import ROOT

from synapse_tui.cli import app

BAD = ROOT / "tests" / "data" / "bad"
GOOD = ROOT / "tests" / "data" / "good"
SAMPLES = ROOT / "sample_data"
CONFIGS = ROOT / "configs"
PARTS_DAILY = SAMPLES / "parts_daily.csv"
CONTROL = SAMPLES / "control_uniform.csv"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SCRIPT = Path(sys.executable).with_name("synapse")
_CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "synapse_tui.cli"]


# ----------------------------------------------------------------------------- helpers
def synapse(*args, cwd: Path = ROOT, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `synapse` entry point; stdout/stderr come back as text without ANSI codes.

    stdin is /dev/null and COLUMNS/FORCE_COLOR are dropped so that rich sees a plain pipe
    (width 80, no colour) whatever terminal pytest runs in.
    """
    e = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    e["NO_COLOR"] = "1"
    e.update(env or {})
    p = subprocess.run(
        [*_CMD, *map(str, args)],
        cwd=cwd,
        env=e,
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
    """The Typer app in-process (fast; the exit code is what `typer.Exit` carries)."""
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Everything under `folder` (hidden files too): relative path -> (size, mtime_ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _corpus() -> list[tuple[str, list[str], int | None, str]]:
    """Rows of the table in tests/data/bad/README.md: (file, CLI options, line, fragment).

    Same parsing as tests/test_data_load.py; the load_dataset kwargs become options
    (parts=6 -> --parts 6, events_per_day=5 -> --events-per-day 5).
    """
    rows = []
    for line in (BAD / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\| (\S+) \|([^|]*)\| (\S+) \| (.*) \|", line)
        if not m or m[1] == "file" or set(m[1]) == {"-"}:
            continue
        opts: list[str] = []
        for kv in m[2].split():
            key, value = kv.split("=")
            opts += ["--" + key.replace("_", "-"), value]
        rows.append((m[1], opts, None if m[3] == "-" else int(m[3]), m[4]))
    return rows


CORPUS = _corpus()
BY_NAME = {r[0]: r for r in CORPUS}


def _check_error(stderr: str, path: Path, line: int | None, fragment: str) -> None:
    """One `error: FILE[:LINE]: problem` line naming the file, the line and the problem."""
    text = stderr.strip()
    assert "\n" not in text, stderr
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert text.startswith(f"error: {where}"), stderr
    assert fragment in text, stderr


# ----------------------------------------------------------------------------- top level
@pytest.mark.slow
def test_version():
    p = synapse("--version")
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"synapse \d+\.\d+(\.\d+)?\S*", p.stdout.strip()), p.stdout


@pytest.mark.slow
def test_help_mentions_the_commands():
    top = synapse("--help")
    assert top.returncode == 0, top.stderr
    for word in ("Usage", "data", "config", "--version"):
        assert word in top.stdout, top.stdout
    data = synapse("data", "--help")
    assert data.returncode == 0, data.stderr
    for word in ("generate", "validate", "describe"):
        assert word in data.stdout, data.stdout


# ----------------------------------------------------------------------------- bad corpus
def test_corpus_table_covers_the_folder():
    assert {r[0] for r in CORPUS} == {p.name for p in BAD.iterdir() if p.name != "README.md"}
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("name,opts,line,fragment", CORPUS, ids=[r[0] for r in CORPUS])
def test_validate_bad_file_in_process(name, opts, line, fragment):
    path = BAD / name
    r = invoke("data", "validate", path, *opts)
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # a clean exit, not a traceback
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    _check_error(r.stderr, path, line, fragment)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["id_zero.csv", "empty.csv", "wrong_event_count.csv"])
def test_validate_bad_file_real_entry_point(name):
    """Through the installed script: exit code 2 and the exact stderr format.

    id_zero: an error with a line; empty: a whole-file error (no line);
    wrong_event_count: a table row with an option (--events-per-day 2).
    """
    _, opts, line, fragment = BY_NAME[name]
    path = BAD / name
    p = synapse("data", "validate", path, *opts)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == ""
    _check_error(p.stderr, path, line, fragment)
    assert "Traceback" not in p.stderr


def test_describe_bad_file_in_process_and_corpus_untouched():
    before = snapshot(BAD)
    for name, opts, line, fragment in CORPUS:
        r = invoke("data", "describe", BAD / name, *opts)
        assert r.exit_code == 2, (name, r.stdout, r.stderr)
        _check_error(r.stderr, BAD / name, line, fragment)
    assert snapshot(BAD) == before


def test_allow_unsorted_sorts_with_a_warning():
    path = BAD / "unsorted_draws.csv"
    r = invoke("data", "validate", path, "--allow-unsorted", "--json")
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["ok"] is True and info["T"] == 4
    assert any("sorted" in w for w in info["warnings"])
    r = invoke("data", "validate", path, "--allow-unsorted")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("OK ")
    assert r.stderr.startswith("warning: ") and "sorted" in r.stderr


def test_missing_file_and_usage_errors_exit_2(tmp_path):
    r = invoke("data", "validate", tmp_path / "nope.csv")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {tmp_path / 'nope.csv'}: ") and "no such file" in r.stderr
    assert invoke("data", "validate").exit_code == 2  # missing argument
    assert invoke("data", "validate", PARTS_DAILY, "--parts", "0").exit_code == 2  # below min=1
    assert invoke("data", "frobnicate").exit_code == 2


# ----------------------------------------------------------------------------- good samples
@pytest.fixture(scope="module")
def validate_text():
    return {path.name: synapse("data", "validate", path.relative_to(ROOT)) for path in (PARTS_DAILY, CONTROL)}


@pytest.mark.slow
def test_validate_good_samples(validate_text):
    for name, p in validate_text.items():
        assert p.returncode == 0, (name, p.stderr)
        assert p.stdout.startswith(f"OK sample_data/{name}: draws, 11000 days x 39 parts"), p.stdout
        assert p.stderr == ""


@pytest.mark.slow
def test_validate_ok_is_one_line(validate_text):
    p = validate_text["parts_daily.csv"]
    assert p.stdout.count("\n") == 1, repr(p.stdout)
    assert "1995-01-02 .. 2025-02-12" in p.stdout, repr(p.stdout)


@pytest.mark.slow
def test_validate_json():
    p = synapse("data", "validate", PARTS_DAILY, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["ok"] is True
    assert (info["T"], info["P"], info["format"]) == (11000, 39, "draws")
    assert info["path"] == str(PARTS_DAILY)
    assert info["warnings"] == []


@pytest.mark.slow
def test_describe_json():
    before = snapshot(SAMPLES)
    p = synapse("data", "describe", PARTS_DAILY, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    T, P = info["T"], info["P"]
    assert (T, P) == (11000, 39)
    assert (info["start"], info["end"]) == ("1995-01-02", "2025-02-12")
    assert info["gaps"]["count"] == 0
    freq = info["per_part_frequency"]
    assert [f["part"] for f in freq] == list(range(1, P + 1))
    assert sum(f["count"] for f in freq) == 5 * T
    assert all(abs(f["rate"] - f["count"] / T) < 1e-12 for f in freq)
    assert info["events_per_day_histogram"] == {"5": 11000}
    assert snapshot(SAMPLES) == before


@pytest.mark.slow
def test_validate_and_describe_write_nothing(tmp_path):
    """In a folder of its own (and as the cwd), reading leaves the listing as it was."""
    shutil.copy(PARTS_DAILY, tmp_path / "d.csv")
    shutil.copy(SAMPLES / "parts_daily.truth.npz", tmp_path / "d.truth.npz")
    before = snapshot(tmp_path)
    v = synapse("data", "validate", "d.csv", "--events-per-day", "5", "--parts", "39", cwd=tmp_path)
    assert v.returncode == 0, v.stderr
    d = synapse("data", "describe", "d.csv", cwd=tmp_path)
    assert d.returncode == 0, d.stderr
    assert "per-part frequency" in d.stdout and "11,000" in d.stdout, d.stdout
    assert "1995-01-02 .. 2025-02-12" in d.stdout, d.stdout
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------- generate
@pytest.mark.slow
def test_generate_refuse_overwrite_force_and_validate(tmp_path):
    args = [
        "data",
        "generate",
        "--kind",
        "planted",
        "--days",
        "60",
        "--parts",
        "12",
        "--per-day",
        "3",
        "--seed",
        "7",
        "--out",
        "gen.csv",
    ]
    p = synapse(*args, "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["files"] == ["gen.csv", "gen.truth.npz"]
    assert (summary["kind"], summary["days"], summary["parts"], summary["per_day"], summary["seed"]) == (
        "planted",
        60,
        12,
        3,
        7,
    )
    assert sorted(x.name for x in tmp_path.iterdir()) == ["gen.csv", "gen.truth.npz"]

    lines = (tmp_path / "gen.csv").read_text().splitlines()
    assert lines[0] == "date,e1,e2,e3" and len(lines) == 61
    assert lines[1].startswith(summary["first_date"] + ",") and lines[-1].startswith(summary["last_date"] + ",")
    with np.load(tmp_path / "gen.truth.npz") as z:
        truth = z["truth"]
        assert truth.shape == (60, 12)
        np.testing.assert_allclose(truth.sum(axis=1), 3.0, atol=1e-9)  # inclusion probabilities sum to K

    # without --force: exit 2, a clear error, nothing touched
    before = snapshot(tmp_path)
    again = synapse(*args, cwd=tmp_path)
    assert again.returncode == 2, (again.stdout, again.stderr)
    assert again.stderr.strip() == "error: gen.csv exists; pass --force to overwrite"
    assert snapshot(tmp_path) == before

    # with --force: rewritten, byte for byte the same (seeded and deterministic)
    old = {n: (tmp_path / n).read_bytes() for n in ("gen.csv", "gen.truth.npz")}
    forced = synapse(*args, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "gen.csv" in forced.stdout and "gen.truth.npz" in forced.stdout
    assert {n: (tmp_path / n).read_bytes() for n in old} == old
    assert sorted(x.name for x in tmp_path.iterdir()) == ["gen.csv", "gen.truth.npz"]

    # the generated file validates with the options it was made with
    v = synapse("data", "validate", "gen.csv", "--parts", "12", "--events-per-day", "3", "--json", cwd=tmp_path)
    assert v.returncode == 0, v.stderr
    info = json.loads(v.stdout)
    assert (info["T"], info["P"], info["warnings"]) == (60, 12, [])


def test_generate_refuses_when_only_the_truth_exists(tmp_path):
    (tmp_path / "g.truth.npz").write_bytes(b"keep me")
    before = snapshot(tmp_path)
    r = invoke("data", "generate", "--days", "5", "--out", tmp_path / "g.csv")
    assert r.exit_code == 2
    assert "g.truth.npz exists; pass --force" in r.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_generate_per_day_not_below_parts_exits_2_and_writes_nothing(tmp_path):
    p = synapse(
        "data",
        "generate",
        "--kind",
        "uniform",
        "--days",
        "10",
        "--parts",
        "5",
        "--per-day",
        "5",
        "--out",
        "x.csv",
        cwd=tmp_path,
    )
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr.strip() == "error: --per-day 5 must be smaller than --parts 5"
    assert list(tmp_path.iterdir()) == []
    r = invoke("data", "generate", "--days", "10", "--parts", "5", "--per-day", "9", "--out", tmp_path / "y.csv")
    assert r.exit_code == 2 and "--per-day 9 must be smaller than --parts 5" in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--start", "2001-02-30"],
        ["--start", "nonsense"],
        ["--days", "0"],
        ["--parts", "1", "--per-day", "1"],
        ["--kind", "hawkes"],
    ],
    ids=["calendar", "not-a-date", "zero-days", "one-part", "bad-kind"],
)
def test_generate_bad_arguments_leave_no_files(tmp_path, args):
    r = invoke("data", "generate", "--days", "10", *args, "--out", tmp_path / "z.csv")
    assert r.exit_code == 2, (r.stdout, r.stderr, r.exception)
    assert list(tmp_path.iterdir()) == []


def test_generate_failing_second_write_leaves_no_partial_files(tmp_path):
    (tmp_path / "g.truth.npz").mkdir()
    r = invoke("data", "generate", "--days", "5", "--out", tmp_path / "g.csv", "--force")
    assert r.exit_code != 0
    assert not (tmp_path / "g.csv").exists()


def test_generate_output_always_validates(tmp_path):
    out = tmp_path / "late.csv"
    r = invoke("data", "generate", "--days", "10", "--start", "9999-12-30", "--out", out)
    if r.exit_code == 2:  # refusing is fine too, as long as nothing is written
        assert list(tmp_path.iterdir()) == []
        return
    assert r.exit_code == 0
    v = invoke("data", "validate", out)
    assert v.exit_code == 0, v.stderr


# ----------------------------------------------------------------------------- rich markup
def test_error_with_closing_tag_in_path(tmp_path):
    path = tmp_path / "a[/x]b.csv"
    r = invoke("data", "validate", path)
    assert r.exit_code == 2, repr(r.exception)
    assert r.stderr.startswith(f"error: {path}: ")


def test_error_echoes_cell_verbatim(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("date,e1,e2,e3,e4,e5\n2001-01-01,1,2,3,4,[bold]\n")
    r = invoke("data", "validate", path)
    assert r.exit_code == 2
    assert "part id '[bold]' in column e5" in r.stderr, r.stderr


def test_ok_line_names_the_file_verbatim(tmp_path):
    folder = tmp_path / "dir[b]x"
    folder.mkdir()
    shutil.copy(GOOD / "small_draws.csv", folder / "ok.csv")
    r = invoke("data", "validate", folder / "ok.csv")
    assert r.exit_code == 0, r.stderr
    assert str(folder / "ok.csv") in r.stdout.replace("\n", ""), r.stdout


# ----------------------------------------------------------------------------- config
@pytest.mark.slow
def test_config_show_with_override():
    p = synapse("config", "show", "-c", "configs/gru.yaml", "-o", "model.hidden=64")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("# config hash ")
    model = p.stdout.split("\nmodel:\n", 1)[1]
    assert re.search(r"^  hidden: 64$", model, re.M), p.stdout
    assert "hidden: 128" not in p.stdout  # the file's value was overridden


def test_config_show_json_and_data_shortcut():
    r = invoke("config", "show", "-c", CONFIGS / "gru.yaml", "--data", "sample_data/control_uniform.csv", "--json")
    assert r.exit_code == 0, r.stderr
    info = json.loads(r.stdout)
    assert re.fullmatch(r"[0-9a-f]{6,}", info["hash"])
    assert info["config"]["data"]["path"] == "sample_data/control_uniform.csv"
    assert info["config"]["model"]["kind"] == "gru" and info["config"]["model"]["hidden"] == 128
    plain = invoke("config", "show", "-c", CONFIGS / "gru.yaml", "--json")
    assert json.loads(plain.stdout)["hash"] != info["hash"]  # the data path is part of the hash


@pytest.mark.slow
def test_config_show_bad_override_suggests_the_key():
    p = synapse("config", "show", "-c", "configs/gru.yaml", "-o", "model.hiden=64")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stdout == ""
    err = p.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, p.stderr
    assert "model.hiden" in err and "'model.hidden'" in err, p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_config_validate_shipped_configs():
    configs = sorted(CONFIGS.glob("*.yaml"))
    assert configs
    p = synapse("config", "validate", *[c.relative_to(ROOT) for c in configs])
    assert p.returncode == 0, p.stderr
    for c in configs:
        assert f"OK configs/{c.name}: model " in p.stdout, p.stdout
    assert p.stdout.count("\nOK ") + p.stdout.startswith("OK ") == len(configs)


def test_config_validate_bad_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  kind: gru\n  hiden: 64\n")
    r = invoke("config", "validate", CONFIGS / "gru.yaml", bad)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith(f"error: {bad}"), r.stderr
    assert "hiden" in r.stderr
