"""The remote backend's parts that need no SSH server: host profiles (files, XDG, errors
with lines), path confinement, the remote agent script run here, the follower's offset
from a torn mirror, and the link-down status rule."""

import io
import json
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta, UTC

import pytest

from core.errors import InputError
from core.jobs.remote.follow import mirror_offset
from core.jobs.remote.hosts import get_host, load_hosts, pin_key, pinned_key, read_hosts_file, user_hosts_file
from core.jobs.remote.ssh import AGENT_SOURCE, confined, quote_command
from core.jobs.remote.sync import project_files, tar_bytes
from core.runs import run_status


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "xdg" / "synapse").mkdir(parents=True)
    return tmp_path / "xdg" / "synapse"


def test_profiles_from_the_user_file_and_the_project_file_which_adds(xdg, tmp_path):
    assert user_hosts_file() == xdg / "hosts.yaml"
    (xdg / "hosts.yaml").write_text("hosts:\n  h200:\n    host: 203.0.113.7\n    user: root\n    port: 22022\n")
    (tmp_path / "synapse.hosts.yaml").write_text(
        "hosts:\n  lab:\n    host: 10.0.0.5\n    user: me\n    work_dir: /data/synapse\n"
    )
    hosts = load_hosts()
    assert hosts["h200"].port == 22022 and hosts["h200"].work_dir == "/workspace/synapse"
    assert hosts["h200"].alias == "h200" and hosts["h200"].identity_path is None  # the agent
    assert hosts["lab"].host == "10.0.0.5" and hosts["lab"].work_dir == "/data/synapse"
    with pytest.raises(InputError, match="no host profile 'nope'.*h200, lab"):
        get_host("nope")


@pytest.mark.parametrize(
    "body, line, message",
    [
        (
            "hosts:\n  a:\n    host: x\n    user: u\n  b:\n    host: y\n    user: u\n    prot: 22\n",
            5,
            "unknown setting",
        ),
        ("hosts:\n  a:\n    host: x\n    user: u\n    port: 70000\n", 2, "port"),
        ("hosts:\n  a:\n    host: x\n    user: u\n    work_dir: relative/dir\n", 2, "absolute path"),
        ("hosts:\n  a:\n    host: x\n    user: u\n    work_dir: /w/../etc\n", 2, "without '..'"),
        ("hosts:\n  a:\n    host: 'x; rm -rf ~'\n    user: u\n", 2, "plain host"),
        ("hosts:\n  a:\n    host: x\n    user: u: v\n", 4, "not valid YAML"),
        ("- a\n- b\n", 1, "one key, `hosts:`"),
    ],
)
def test_a_bad_hosts_file_names_file_line_and_problem(tmp_path, body, line, message):
    path = tmp_path / "hosts.yaml"
    path.write_text(body)
    with pytest.raises(InputError) as exc:
        read_hosts_file(path)
    assert exc.value.path == str(path) and exc.value.line == line and message in str(exc.value)


def test_pinning_replaces_only_this_alias(xdg):
    (xdg / "hosts.yaml").write_text("hosts:\n  a:\n    host: x\n    user: u\n  b:\n    host: y\n    user: u\n")
    hosts = load_hosts()
    assert pinned_key(hosts["a"]) is None
    pin_key(hosts["a"], "ssh-ed25519 AAAAone")
    pin_key(hosts["b"], "ssh-ed25519 AAAAtwo")
    pin_key(hosts["a"], "ssh-ed25519 AAAAthree comment")
    assert pinned_key(hosts["a"]) == "a ssh-ed25519 AAAAthree comment"
    assert pinned_key(hosts["b"]) == "b ssh-ed25519 AAAAtwo"
    assert oct((xdg / "known_hosts").stat().st_mode & 0o777) == "0o600"


def test_remote_paths_stay_in_the_work_dir():
    assert confined("/workspace/s", "runs", "20260101-000000-x-abcd") == "/workspace/s/runs/20260101-000000-x-abcd"
    for bad in ("../etc", "/etc/passwd", "runs/../../x", ""):
        with pytest.raises(InputError, match="work dir"):
            confined("/workspace/s", bad)


def test_commands_are_quoted_part_by_part():
    assert quote_command(["echo", "; rm -rf ~", "$(id)"]) == "echo '; rm -rf ~' '$(id)'"


def agent(*args, input: bytes | None = None) -> bytes:
    return subprocess.run(
        [sys.executable, "-c", AGENT_SOURCE, *args], input=input, capture_output=True, check=True
    ).stdout


def test_the_agent_hashes_extracts_and_cats(tmp_path):
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("print(1)\n")
    (src / "b.txt").write_bytes(b"\x00\x01binary")
    files = {"pkg/a.py": src / "pkg" / "a.py", "b.txt": src / "b.txt"}
    dest = tmp_path / "dest"
    agent("extract", str(dest), input=tar_bytes(files))
    assert (dest / "pkg" / "a.py").read_text() == "print(1)\n" and (dest / "b.txt").read_bytes() == b"\x00\x01binary"
    hashes = json.loads(agent("hashes", str(dest)))
    import hashlib

    assert hashes == {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in files.items()}
    assert agent("cat", str(dest), "b.txt") == b"\x00\x01binary"
    assert not list(dest.rglob("*.part"))


def test_the_agent_refuses_a_tar_member_outside_its_dir(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    r = subprocess.run(
        [sys.executable, "-c", AGENT_SOURCE, "extract", str(tmp_path / "d")], input=buf.getvalue(), capture_output=True
    )
    assert r.returncode != 0 and b"refused" in r.stderr and not (tmp_path / "escaped.txt").exists()


def test_the_agent_signals_only_the_same_process():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        started = json.loads(agent("start_time", str(sleeper.pid)))
        assert json.loads(agent("signal", str(sleeper.pid), "boot:1", "15"))["sent"] is False
        assert sleeper.poll() is None
        assert json.loads(agent("signal", str(sleeper.pid), started, "15"))["sent"] is True
        assert sleeper.wait(5) == -15
    finally:
        sleeper.kill()


def test_the_project_sent_is_the_engine(tmp_path):
    files = project_files()
    assert "core/jobs/worker.py" in files and "pyproject.toml" in files
    assert not any(k.startswith("synapse_tui/") or "__pycache__" in k for k in files)


def test_the_follower_offset_drops_a_torn_last_line(tmp_path):
    events = tmp_path / "events.jsonl"
    assert mirror_offset(events) == 0
    events.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert mirror_offset(events) == 18 and events.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert mirror_offset(events) == 18


def test_a_silent_remote_run_is_lost_unless_its_link_is_down():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        {"type": "run_started", "ts": t0.isoformat(), "host": "pod", "pid": 7, "attempt": 1},
        {"type": "heartbeat", "ts": (t0 + timedelta(seconds=10)).isoformat()},
    ]
    later = t0 + timedelta(minutes=10)
    assert run_status(events, later, remote=True).status == "lost"
    st = run_status(events, later, remote=True, link_down_since=t0 + timedelta(seconds=20))
    assert st.status == "running" and st.link_down_since == t0 + timedelta(seconds=20)
    assert run_status(events, later, remote=False, link_down_since=t0).status == "lost"  # a local run: no link
    done = [*events, {"type": "run_finished", "ts": later.isoformat(), "status": "succeeded"}]
    assert run_status(done, later, remote=True, link_down_since=t0).status == "succeeded"
