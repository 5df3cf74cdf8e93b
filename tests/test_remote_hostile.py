"""The remote is untrusted input, like a data file: a hostile host stands in here as a
profile whose `python:` is a wrapper around the real interpreter that lies in the agent's
listing of a run directory (names climbing out with `../`, absolute names) and plants the
mirror's control files (remote.json, follow.json) there. Against a real sshd on
127.0.0.1 (tests/sshd.py), with SFTP and without it. Also: project host files that try to
shadow a user profile, remote permissions and half-made venvs, secrets kept out of run
directories, one-line errors instead of tracebacks, `check` without torch, locally changed
files that a fetch must not revert, and asyncssh's import warnings."""

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import InputError
from helpers import ROOT, write_synthetic
from sshd import sshd_available, start_sshd

FAST = ["split.test_days=200", "split.val_days=200"]
SECRET = "tok-5ecret-d0-not-store"

WRAPPER = '''#!{python}
"""A hostile host's python: the real interpreter, except that the agent's listing of a run
directory also names files outside it, and remote.json/follow.json are planted there."""
import hashlib, json, os, subprocess, sys

REAL = {python!r}
BASE = {base!r}
args = sys.argv[1:]
if len(args) >= 4 and args[0] == "-c" and args[2] == "hashes" and "/runs/" in args[3]:
    run_dir = args[3].rstrip("/")
    out = json.loads(subprocess.run([REAL, *args], capture_output=True, check=True).stdout.splitlines()[-1])
    # ../../x is W/x here and <runs root>/../x there; the absolute name reads, over SFTP,
    # <run dir>//<abs> here and would be written to <abs> there.
    traps = {{"../../x": os.path.join(run_dir, "../../x"),
              os.path.join(BASE, "abs", "x"): run_dir + os.path.join(BASE, "abs", "x")}}
    for name, path in traps.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(b"pwned\\n")
        out[name] = hashlib.sha256(b"pwned\\n").hexdigest()
    planted = {{"remote.json": {{"host": "planted", "dir": os.path.join(BASE, "sshd"), "python": "/bin/sh",
                                "profile": {{"name": "evil", "host": "203.0.113.66", "user": "root",
                                            "known_hosts": os.path.join(BASE, "evil_known_hosts")}}}},
               "follow.json": {{"link": "up", "done": False, "planted": True}}}}
    for name, body in planted.items():
        data = json.dumps(body).encode()
        with open(os.path.join(run_dir, name), "wb") as fh:
            fh.write(data)
        out[name] = hashlib.sha256(data).hexdigest()
    print(json.dumps(out))
    sys.exit(0)
os.execv(REAL, [REAL, *args])
'''

# A python whose `import torch` fails, as on an image without PyTorch.
NO_TORCH = """#!/bin/sh
PYTHONPATH={hide} exec {python} "$@"
"""


def cli(
    *args: str, input: str | None = None, timeout: float = 180, env: dict | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synapse_tui.cli", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        cwd=cwd,
        env=dict(os.environ, COLUMNS="200", **(env or {})),
    )


def wait_for(condition, timeout: float = 120.0, step: float = 0.2, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def follow_state(run: Path) -> dict:
    try:
        return json.loads((run / "follow.json").read_text())
    except (OSError, ValueError):
        return {}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def remote_dir(run: Path) -> Path:
    return Path(json.loads((run / "remote.json").read_text())["dir"])


def mirror_done(run: Path) -> bool:
    from core.runs import status_of

    state = follow_state(run)
    return bool(state.get("done")) and not state.get("planted") and status_of(run).done


def launch(world, host: str, *overrides: str) -> Path:
    args = [
        "remote",
        "launch",
        host,
        "-c",
        "baselines",
        "--data",
        str(world["data"]),
        "--runs-dir",
        str(world["runs"]),
        "--json",
    ]
    for o in [*FAST, *overrides]:
        args += ["-o", o]
    r = cli(*args)
    assert r.returncode == 0, r.stderr + r.stdout
    return Path(json.loads(r.stdout)["path"])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if not sshd_available():
        pytest.skip("OpenSSH sshd is not installed")
    import yaml

    from core.jobs.remote.hosts import get_host, pin_key

    base = tmp_path_factory.mktemp("hostile")
    server = start_sshd(base / "sshd", sftp=True)
    bare = start_sshd(base / "sshd-bare", sftp=False)
    wrapper = base / "bin" / "hostile-python"
    wrapper.parent.mkdir()
    wrapper.write_text(WRAPPER.format(python=sys.executable, base=str(base)))
    wrapper.chmod(0o755)
    hide = base / "hide-torch"
    hide.mkdir()
    (hide / "torch.py").write_text("raise ImportError('No module named torch')\n")
    no_torch = base / "bin" / "no-torch-python"
    no_torch.write_text(NO_TORCH.format(hide=hide, python=sys.executable))
    no_torch.chmod(0o755)
    xdg = base / "xdg"
    (xdg / "synapse").mkdir(parents=True)
    work = base / "work"
    common = dict(
        host="127.0.0.1",
        user=server.user,
        python=str(wrapper),
        connect_timeout=5,
        keepalive_interval=1,
        keepalive_count_max=2,
        work_dir=str(work),
        setup=f"true {SECRET}",
    )
    hosts = {
        "evil": {**common, "port": server.port, "identity_file": str(server.identity_file)},
        "evil-bare": {**common, "port": bare.port, "identity_file": str(bare.identity_file)},
        "honest": {**common, "port": server.port, "identity_file": str(server.identity_file), "python": sys.executable},
        "notorch": {
            **common,
            "port": server.port,
            "identity_file": str(server.identity_file),
            "python": str(no_torch),
            "work_dir": str(base / "work-notorch"),
        },
    }
    (xdg / "synapse" / "hosts.yaml").write_text(yaml.safe_dump({"hosts": hosts}))
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(xdg)
    for name, srv in (("evil", server), ("evil-bare", bare), ("honest", server), ("notorch", server)):
        pin_key(get_host(name), srv.host_public_key)
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    world = dict(base=base, server=server, bare=bare, runs=base / "runs", data=data, xdg=xdg, work=work)
    try:
        yield world
    finally:
        if old is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = old
        server.stop()
        bare.stop()


@pytest.fixture(scope="module")
def finished_runs(world):
    """A baselines run on the hostile host with SFTP and one without, both ended and fetched
    by their followers (whose final fetch met the lying listing); and one on an honest host."""
    runs = {name: launch(world, name) for name in ("evil", "evil-bare", "honest")}
    for run in runs.values():
        wait_for(lambda run=run: mirror_done(run), timeout=180, what="the run to end and its follower to fetch")
    return runs


# --------------------------------------------------------------------------- names (pure)
def test_only_plain_artifact_names_are_taken():
    from core.jobs.remote.sync import LOCAL_ONLY, safe_name

    for good in ("report.json", "model_checkpoint.pt", "calibration_curve.png", "worker.log", "metrics.csv"):
        assert safe_name(good), good
    for bad in (
        "../../x",
        "/tmp/x",
        "a/b",
        "..",
        ".",
        "",
        ".bashrc",
        "..x",
        "x\n",
        "report.json/",
        "a\\b",
        "-rf",
        "x" * 300,
        *LOCAL_ONLY,
    ):
        assert not safe_name(bad), bad
    assert {
        "remote.json",
        "follow.json",
        "follow.log",
        "follow.lock",
        "worker.lock",
        "events.jsonl",
        "config.yaml",
    } <= set(LOCAL_ONLY)


# --------------------------------------------------------------------------- items 1, 2: pull
@pytest.mark.slow
def test_a_lying_listing_writes_nothing_outside_the_mirror_nor_its_control_files(world, finished_runs):
    base = world["base"]
    for host, run in finished_runs.items():
        if host == "honest":
            continue
        assert not (base / "x").exists(), f"{host}: ../../x escaped the mirror"
        assert not (base / "abs" / "x").exists() or (base / "abs" / "x").read_bytes() != b"pwned\n"
        rem = json.loads((run / "remote.json").read_text())
        assert rem["host"] == host and rem["dir"] == str(remote_dir(run))
        assert not follow_state(run).get("planted")
        assert (run / "report.json").is_file() and sha(run / "report.json") == sha(remote_dir(run) / "report.json")
    # SFTP reads <run dir>//<abs> there: only a mirror-bound check keeps it from <abs> here.
    assert not (base / "abs" / "x").exists()
    # Fetching again by hand meets the same lies: same outcome, and the user is told.
    run = finished_runs["evil"]
    before = (run / "remote.json").read_bytes()
    r = cli("remote", "fetch", run.name, "--runs-dir", str(world["runs"]))
    assert r.returncode == 0, r.stderr + r.stdout
    assert "../../x" in r.stdout + r.stderr and "refused" in (r.stdout + r.stderr)
    assert (run / "remote.json").read_bytes() == before and not follow_state(run).get("planted")
    assert not (base / "x").exists() and not (base / "abs" / "x").exists()


@pytest.mark.slow
def test_an_oversized_file_is_refused_with_a_message(world, finished_runs):
    for run in (finished_runs["honest"], finished_runs["evil-bare"]):  # SFTP, and the agent's cat
        big = remote_dir(run) / "model.onnx"
        big.write_bytes(os.urandom(3 * 1024 * 1024))
        try:
            r = cli(
                "remote", "fetch", run.name, "--runs-dir", str(world["runs"]), env={"SYNAPSE_REMOTE_MAX_FILE_MB": "1"}
            )
            assert r.returncode == 0, r.stderr + r.stdout
            assert "model.onnx" in r.stdout + r.stderr and "MB" in r.stdout + r.stderr
            assert not (run / "model.onnx").exists()
            assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
        finally:
            big.unlink()


def test_connection_details_come_from_the_users_profiles_not_the_mirror(world, tmp_path):
    """remote.json names a profile the user does not have; its own `profile` settings are not used."""
    from core.jobs.remote.launch import profile_of
    from core.runs import RunDir

    run = tmp_path / "20260101-000000-x-abcd"
    run.mkdir()
    (run / "remote.json").write_text(
        json.dumps(
            {
                "host": "gone",
                "dir": "/w/runs/x",
                "python": "/w/v/bin/python",
                "profile": {"name": "gone", "host": "203.0.113.9", "user": "root", "known_hosts": str(tmp_path / "kh")},
            }
        )
    )
    from core.jobs.remote.hosts import load_hosts

    with pytest.raises(InputError, match="gone"):
        profile_of(RunDir(run), load_hosts())


def test_test_touches_merge_as_a_union_and_ignore_junk(tmp_path):
    from core.jobs.remote.launch import merge_test_touches
    from core.runs import RunDir

    run = tmp_path / "20260101-000000-x-abcd"
    run.mkdir()
    first, local, remote = (
        {"ts": f"2026-01-0{i}T00:00:00Z", "what": w} for i, w in ((1, "run"), (2, "eval here"), (3, "resume there"))
    )
    (run / "manifest.json").write_text(json.dumps({"run_id": run.name, "test_touches": [first, local]}))
    theirs = tmp_path / "theirs.json"
    theirs.write_text(
        json.dumps({"run_id": "forged", "test_touches": [first, remote, "junk", {"ts": 1}, {**remote, "ts": None}]})
    )
    assert merge_test_touches(RunDir(run), theirs) == 1
    man = json.loads((run / "manifest.json").read_text())
    assert man["test_touches"] == [first, local, remote] and man["run_id"] == run.name
    theirs.write_text("[not a manifest")
    assert merge_test_touches(RunDir(run), theirs) == 0


# --------------------------------------------------------------------------- item 7: secrets
@pytest.mark.slow
def test_the_profiles_setup_is_not_stored_in_the_run_directory(finished_runs):
    for run in finished_runs.values():
        for path in run.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path


# --------------------------------------------------------------------------- item 14
@pytest.mark.slow
def test_fetch_keeps_local_test_touches_and_locally_changed_files(world, finished_runs):
    run = finished_runs["honest"]
    touches = json.loads((run / "manifest.json").read_text())["test_touches"]
    assert len(touches) == 1  # the run's own, merged in from the remote manifest
    r = cli("eval", run.name, "--runs-dir", str(world["runs"]), "--calibration", "none", "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    after_eval = {n: sha(run / n) for n in ("manifest.json", "report.json")}
    assert len(json.loads((run / "manifest.json").read_text())["test_touches"]) == 2
    r = cli("remote", "fetch", run.name, "--runs-dir", str(world["runs"]))
    assert r.returncode == 0, r.stderr + r.stdout
    man = json.loads((run / "manifest.json").read_text())
    assert len(man["test_touches"]) == 2 and man["test_touches"][0] == touches[0]
    assert sha(run / "report.json") == after_eval["report.json"]
    assert "report.json" in r.stdout + r.stderr and "changed here" in r.stdout + r.stderr
    # A file deleted here is simply fetched again.
    (run / "calibration_curve.png").unlink()
    r = cli("remote", "fetch", run.name, "--runs-dir", str(world["runs"]), "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    assert "calibration_curve.png" in json.loads(r.stdout)["fetched"]
    assert sha(run / "report.json") == after_eval["report.json"]


# --------------------------------------------------------------------------- item 6: permissions, venv
@pytest.mark.slow
def test_the_work_dir_and_what_the_worker_writes_are_private(world, finished_runs):
    work = world["work"]
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    for run in finished_runs.values():
        # What the agent unpacks and the worker creates under umask 077, its atomic writes too.
        for name in ("config.yaml", "events.jsonl", "worker.log", "report.json", "metrics.csv"):
            path = remote_dir(run) / name
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    for path in (work / "data").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


@pytest.mark.slow
def test_a_half_made_venv_is_rebuilt_and_a_foreign_one_refused(world, finished_runs):
    (venv,) = [p for p in (world["work"] / "venvs").iterdir() if p.is_dir()]
    assert (venv / ".synapse-complete").is_file()
    # As after a Ctrl-C between `python -m venv` and the .pth: the interpreter exists, nothing else does.
    (venv / ".synapse-complete").unlink()
    for pth in venv.rglob("synapse.pth"):
        pth.unlink()
    run = launch(world, "evil")
    wait_for(lambda: mirror_done(run), timeout=180, what="the run on the rebuilt venv")
    from core.runs import status_of

    assert status_of(run).status == "succeeded", (remote_dir(run) / "worker.log").read_text()[-2000:]
    assert (venv / ".synapse-complete").is_file() and list(venv.rglob("synapse.pth"))
    os.chown(venv, 65534, 65534)
    try:
        r = cli(
            "remote",
            "launch",
            "evil",
            "-c",
            "baselines",
            "--data",
            str(world["data"]),
            "--runs-dir",
            str(world["base"] / "runs-x"),
            *sum((["-o", o] for o in FAST), []),
        )
        assert r.returncode == 2 and "owned by" in r.stderr and str(venv) in r.stderr, r.stderr
    finally:
        os.chown(venv, os.getuid(), os.getgid())


# --------------------------------------------------------------------------- item 13
@pytest.mark.slow
def test_check_is_not_ready_without_torch_and_launch_names_the_python_setting(world):
    r = cli("remote", "check", "notorch")
    assert r.returncode != 0, r.stdout
    assert "ready to launch" not in r.stdout and "not ready" in r.stdout and "torch" in r.stdout
    r = cli(
        "remote",
        "launch",
        "notorch",
        "-c",
        "gru",
        "--data",
        str(world["data"]),
        "--runs-dir",
        str(world["base"] / "runs-nt"),
        "-o",
        "train.device=cpu",
        *sum((["-o", o] for o in FAST), []),
    )
    assert r.returncode == 2 and "python:" in r.stderr and "torch" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def _mirror(root: Path, host: str, events: list[dict]) -> Path:
    run = root / "20260101-000000-gru-beef"
    run.mkdir(parents=True)
    (run / "remote.json").write_text(
        json.dumps(
            {"host": host, "dir": "/w/runs/x", "python": "/w/v/bin/python", "pid": 4242, "pid_started_at": "boot:1"}
        )
    )
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run


@pytest.mark.slow
def test_cancel_and_resume_with_the_host_unreachable_say_so_in_one_line(tmp_path):
    import yaml

    from core.runs import utc_now_ts
    from sshd import free_port

    xdg = tmp_path / "xdg"
    (xdg / "synapse").mkdir(parents=True)
    (xdg / "synapse" / "hosts.yaml").write_text(
        yaml.safe_dump(
            {"hosts": {"down": {"host": "127.0.0.1", "port": free_port(), "user": "root", "connect_timeout": 2}}}
        )
    )
    (xdg / "synapse" / "known_hosts").write_text(
        "down ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    env = {"XDG_CONFIG_HOME": str(xdg)}
    now = utc_now_ts()
    started = {"type": "run_started", "ts": now, "host": "pod", "pid": 4242, "pid_started_at": "boot:1", "attempt": 1}
    running = _mirror(tmp_path / "a", "down", [started, {"type": "heartbeat", "ts": now}])
    r = cli("cancel", running.name, "--runs-dir", str(running.parent), env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot connect" in r.stderr
    ended = _mirror(tmp_path / "b", "down", [started, {"type": "run_finished", "ts": now, "status": "cancelled"}])
    r = cli("resume", ended.name, "--runs-dir", str(ended.parent), env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "cannot connect" in r.stderr


def _encrypted_key(server, where: Path, passphrase: str) -> Path:
    key = where / "id_locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", str(key)], check=True)
    with open(server.base / "authorized_keys", "a") as fh:
        fh.write(" ".join(key.with_suffix(".pub").read_text().split()[:2]) + "\n")
    return key


@pytest.mark.slow
def test_a_passphrase_protected_key_says_what_to_do_or_goes_through_the_agent(world):
    import yaml

    key = _encrypted_key(world["server"], world["base"], "open sesame")
    xdg = world["base"] / "xdg-locked"
    (xdg / "synapse").mkdir(parents=True)
    profile = {
        "host": "127.0.0.1",
        "port": world["server"].port,
        "user": world["server"].user,
        "identity_file": str(key),
        "python": sys.executable,
        "work_dir": str(world["base"] / "work-locked"),
        "connect_timeout": 5,
    }
    (xdg / "synapse" / "hosts.yaml").write_text(yaml.safe_dump({"hosts": {"locked": profile}}))
    (xdg / "synapse" / "known_hosts").write_text(world["server"].known_hosts_line("locked") + "\n")
    env = {"XDG_CONFIG_HOME": str(xdg), "SSH_AUTH_SOCK": ""}
    r = cli("remote", "check", "locked", env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"ssh-add {key}" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # The way out it names works: the agent holds the unlocked key and signs for it.
    sock = world["base"] / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, timeout=10, what="ssh-agent's socket")
        askpass = world["base"] / "askpass"
        askpass.write_text("#!/bin/sh\necho 'open sesame'\n")
        askpass.chmod(0o700)
        subprocess.run(
            ["ssh-add", str(key)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
            env=dict(
                os.environ, SSH_AUTH_SOCK=str(sock), SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0"
            ),
        )
        r = cli("remote", "check", "locked", "--json", env={**env, "SSH_AUTH_SOCK": str(sock)})
        checks = {c["name"]: c["ok"] for c in json.loads(r.stdout)["checks"]}
        assert checks["connect"] and checks["exec"], r.stdout + r.stderr
    finally:
        agent.terminate()
        agent.wait(5)


# --------------------------------------------------------------------------- item 3: project host files
@pytest.fixture
def xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "xdg" / "synapse").mkdir(parents=True)
    return tmp_path / "xdg" / "synapse"


def test_a_project_file_cannot_shadow_a_user_profile(xdg, tmp_path):
    from core.jobs.remote.hosts import load_hosts

    (xdg / "hosts.yaml").write_text("hosts:\n  h200:\n    host: 203.0.113.7\n    user: root\n")
    (tmp_path / "synapse.hosts.yaml").write_text(
        "hosts:\n  h200:\n    host: 198.51.100.66\n    user: root\n  extra:\n    host: 198.51.100.7\n    user: me\n"
    )
    with pytest.raises(InputError) as exc:
        load_hosts()
    msg = str(exc.value)
    assert "h200" in msg and str(xdg / "hosts.yaml") in msg and "synapse.hosts.yaml" in msg
    (tmp_path / "synapse.hosts.yaml").write_text("hosts:\n  extra:\n    host: 198.51.100.7\n    user: me\n")
    hosts = load_hosts()
    assert hosts["h200"].host == "203.0.113.7" and hosts["extra"].host == "198.51.100.7"
    assert hosts["h200"].source == str(xdg / "hosts.yaml")
    assert hosts["extra"].source == str(tmp_path / "synapse.hosts.yaml")


@pytest.mark.parametrize("setting", ["known_hosts: ./kh", "identity_file: ./id_planted", "host_key_alias: h200"])
def test_a_project_file_cannot_pick_key_material_or_a_pin(xdg, tmp_path, setting):
    from core.jobs.remote.hosts import load_hosts

    (xdg / "hosts.yaml").write_text("hosts:\n  h200:\n    host: 203.0.113.7\n    user: root\n")
    (tmp_path / "kh").write_text(
        "extra ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    (tmp_path / "synapse.hosts.yaml").write_text(
        f"hosts:\n  extra:\n    host: 198.51.100.7\n    user: me\n    {setting}\n"
    )
    with pytest.raises(InputError) as exc:
        load_hosts()
    assert exc.value.path == str(tmp_path / "synapse.hosts.yaml") and exc.value.line == 2
    assert setting.split(":")[0] in str(exc.value)


def test_remote_hosts_says_where_each_profile_comes_from(xdg, tmp_path):
    (xdg / "hosts.yaml").write_text("hosts:\n  h200:\n    host: 203.0.113.7\n    user: root\n")
    (tmp_path / "synapse.hosts.yaml").write_text("hosts:\n  extra:\n    host: 198.51.100.7\n    user: me\n")
    r = cli("remote", "hosts", "--json", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    rows = {h["name"]: h for h in json.loads(r.stdout)}
    assert rows["h200"]["source"] == str(xdg / "hosts.yaml") and rows["h200"]["scope"] == "user"
    assert rows["extra"]["source"] == str(tmp_path / "synapse.hosts.yaml") and rows["extra"]["scope"] == "project"
    # item 16: no CryptographyDeprecationWarning (or any other) on stderr
    assert r.stderr == "", r.stderr
    r = cli("remote", "hosts", cwd=tmp_path, env={"PYTHONPATH": str(ROOT)})
    assert r.returncode == 0 and "Warning" not in r.stderr and "project" in r.stdout


def test_relative_key_paths_in_the_user_file_are_relative_to_its_directory(xdg, tmp_path):
    from core.jobs.remote.hosts import load_hosts

    (xdg / "hosts.yaml").write_text(
        "hosts:\n  h200:\n    host: 203.0.113.7\n    user: root\n    known_hosts: pins\n    identity_file: keys/id\n"
    )
    h = load_hosts()["h200"]
    assert h.known_hosts_path == xdg / "pins" and h.identity_path == xdg / "keys" / "id"


def test_setup_and_secrets_are_not_written_to_remote_json(tmp_path):
    """The mirror's remote.json holds where the run is, never the profile's settings."""
    from core.jobs.remote.launch import remote_record
    from core.jobs.remote.hosts import HostProfile

    p = HostProfile(name="h", host="203.0.113.7", user="root", setup=f"export HF_TOKEN={SECRET}")
    rec = remote_record(p, remote_dir="/w/runs/x", python="/w/v/bin/python", local_data="/d.csv", gpu=None)
    assert SECRET not in json.dumps(rec) and rec["host"] == "h" and "profile" not in rec
