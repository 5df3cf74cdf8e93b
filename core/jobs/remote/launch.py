"""Launch a run on a host profile, and act on it there: cancel, resume, fetch, attach.

A remote run has a local **mirror** run directory like any other (config.yaml,
manifest.json, events.jsonl) plus `remote.json` (where it runs: the profile, the remote
run dir, the venv's python, the worker's pid and its start time). The mirror's event log
is a byte-for-byte copy of the remote's, kept by the follower (`core.jobs.remote.follow`);
everything else (the CLI, the store, the dashboard) just reads the mirror.

Remote layout, all under the profile's work dir W:

    W/project/             the engine's files, synced by content hash
    W/venvs/<dep hash>/    a venv per set of dependencies, made with --system-site-packages
                           plus a .pth naming the interpreter's own site dirs, so the
                           image's CUDA torch is reused; the project is on its path
    W/data/<sha256><ext>   data files by content
    W/runs/<run id>/       the run directory the worker writes
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Callable

from core.errors import InputError
from core.fsutil import atomic_write_text
from core.jobs.remote.hosts import HostProfile
from core.jobs.remote.ssh import (
    RemoteError, agent_json, confined, connect, quote_command, run, run_shell,
)
from core.jobs.remote.sync import PROJECT_ROOT, project_files, push, pull
from core.runs import FOLLOW_JSON, REMOTE_JSON, RESUMABLE_STATUSES, RunDir, process_alive, status_of

Progress = Callable[[str], None]
# What the worker imports: checked in the remote venv before anything starts there.
WORKER_IMPORTS = ("numpy", "scipy", "sklearn", "yaml", "pydantic", "matplotlib", "torch", "core")
SHELL_ONLY_HELP = (
    "{name} gives a shell only (no command execution, no SFTP): this is RunPod's proxied SSH "
    "(ssh.runpod.io). Enable \"SSH over exposed TCP\" for the pod (Pod > Connect > SSH over exposed TCP: "
    "expose TCP port 22 in the template, then use the public IP and mapped port it shows) and point the "
    "profile's host and port at it."
)


def _quiet(msg: str) -> None:
    pass


# --------------------------------------------------------------------------- the mirror
def read_remote(run: RunDir) -> dict:
    try:
        out = json.loads((run.path / REMOTE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"run {run.run_id} is not a remote run (no readable {REMOTE_JSON})", path=run.path) from None
    return out


def write_remote(run: RunDir, data: dict) -> None:
    atomic_write_text(run.path / REMOTE_JSON, json.dumps(data, indent=2) + "\n")


def profile_of(run: RunDir, hosts: dict[str, HostProfile] | None = None) -> HostProfile:
    """The run's host profile: today's settings for its name when it still exists, else the
    settings it was launched with (the mirror keeps them, no secret among them)."""
    rem = read_remote(run)
    if hosts and rem.get("host") in hosts:
        return hosts[rem["host"]]
    return HostProfile(**rem["profile"])


# --------------------------------------------------------------------------- the host
async def require_exec(conn, profile: HostProfile) -> None:
    try:
        await run(conn, ["true"], timeout=profile.connect_timeout)
    except RemoteError:
        raise InputError(SHELL_ONLY_HELP.format(name=profile.name)) from None


def _dependencies() -> list[str]:
    with open(PROJECT_ROOT / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["dependencies"])


def venv_key(info: dict) -> str:
    blob = json.dumps([_dependencies(), info.get("executable"), info.get("python")], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


async def prepare_host(conn, profile: HostProfile, info: dict, progress: Progress = _quiet) -> str:
    """Sync the project and make (once per dependency set) the venv; the venv's python."""
    W = profile.work_dir
    sent = await push(conn, profile.python, project_files(), confined(W, "project"), progress=progress)
    progress(f"project on {profile.name}: {len(sent)} file(s) updated")
    venv = confined(W, "venvs", venv_key(info))
    vpy = f"{venv}/bin/python"
    if (await run(conn, ["test", "-x", vpy], check=False)).exit_status != 0:
        if profile.setup:
            progress(f"running the profile's setup command on {profile.name}")
            await run_shell(conn, profile.setup, timeout=1800)
        progress(f"making the venv {venv} (--system-site-packages: the image's torch is reused)")
        await run(conn, [profile.python, "-m", "venv", "--system-site-packages", "--without-pip", venv], timeout=600)
        # A venv sees the *base* interpreter's packages only; when `python` is itself a venv's
        # (or a conda env's), its packages are on its own site path: name them in a .pth too.
        sites = json.loads((await run(conn, [profile.python, "-c", "import json, site; print(json.dumps("
                                            "site.getsitepackages()))"])).stdout.decode().strip())
        purelib = (await run(conn, [vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                   ).stdout.decode().strip()
        pth = "\n".join([confined(W, "project"), *sites]) + "\n"
        await run(conn, [vpy, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
                         f"{purelib}/synapse.pth", pth])
    probe = await run(conn, [vpy, "-c", f"import {', '.join(WORKER_IMPORTS)}"], check=False)
    if probe.exit_status != 0:
        missing = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        if b"torch" in probe.stderr:
            raise InputError(f"{profile.name}: the venv's python cannot import torch ({' '.join(missing)}); use an "
                             "image with CUDA torch installed for the profile's python, or set `python:` to one")
        progress(f"installing the missing dependencies into {venv}: {' '.join(missing)}")
        deps = [d for d in _dependencies() if not d.startswith("torch")]
        await run(conn, [vpy, "-m", "ensurepip", "--upgrade"], check=False, timeout=600)
        await run(conn, [vpy, "-m", "pip", "install", "-q", *deps], timeout=3600)
    return vpy


def remote_device(cfg, job: str, info: dict, profile: HostProfile) -> str:
    """The device the run will use there; InputError when the config wants CUDA the host lacks."""
    if job != "train":
        return "cpu"
    want = cfg.train.device
    if info.get("torch") is None:
        raise InputError(f"{profile.name} has no torch for {info.get('executable')} "
                         f"({info.get('torch_error') or 'not installed'}): pick an image with PyTorch")
    if want == "cuda" and not info.get("cuda"):
        raise InputError(f"the config trains on CUDA (train.device=cuda) but {profile.name} has no CUDA device "
                         f"(torch {info.get('torch')}); add -o train.device=cpu to run on its CPU, or pick a GPU host")
    return "cuda" if want == "auto" and info.get("cuda") else ("cpu" if want == "auto" else want)


async def start_worker(conn, vpy: str, remote_dir: str, *, resume: bool) -> tuple[int, str | None]:
    """The worker, detached on the remote (its own session, no terminal): (pid, start time)."""
    cmd = quote_command([vpy, "-m", "core.jobs.worker", remote_dir] + (["--resume"] if resume else []))
    # The braces matter: `$!` must be the pid of the backgrounded command itself.
    script = (f"cd {quote_command([remote_dir])} && "
              f"{{ setsid nohup {cmd} </dev/null >>worker.log 2>&1 & echo $! ; }}")
    out = await run_shell(conn, script, timeout=60)
    pid = int(out.stdout.decode().strip().splitlines()[-1])
    started = await agent_json(conn, vpy, "start_time", str(pid))
    return pid, started


# --------------------------------------------------------------------------- launch
async def launch_async(profile: HostProfile, cfg, job: str, runs_dir: Path, *, progress: Progress = _quiet,
                       follow: bool = True) -> dict:
    from core.train.prepare import prepare
    from core.train.run import JOBS, start_run

    if job not in JOBS:
        raise InputError(f"unknown job {job!r}")
    if job == "train":
        from core.train.learned import check_learned

        check_learned(cfg)
    prep = prepare(cfg)  # the data is checked here, before anything is made there or here
    W = profile.work_dir
    async with connect(profile) as conn:
        await require_exec(conn, profile)
        info = await agent_json(conn, profile.python, "info", W)
        device = remote_device(cfg, job, info, profile)
        if not info.get("venv"):
            raise InputError(f"{profile.name}: {info.get('executable')} has no venv module; set the profile's "
                             "`setup:` to install it (e.g. apt-get install -y python3-venv)")
        vpy = await prepare_host(conn, profile, info, progress)
        data_path = Path(prep.data.path)
        data_rel = f"{prep.data.sha256}{''.join(data_path.suffixes[-2:]) or '.csv'}"
        remote_data = confined(W, "data", data_rel)
        if (await run(conn, ["test", "-f", remote_data], check=False)).exit_status != 0:
            await push(conn, profile.python, {data_rel: data_path}, confined(W, "data"), only_changed=False,
                       progress=progress)
        remote_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"path": remote_data})})
        mirror = start_run(remote_cfg, Path(runs_dir), prep, job, device)
        try:
            remote_dir = confined(W, "runs", mirror.run_id)
            write_remote(mirror, {
                "host": profile.name, "address": f"{profile.user}@{profile.host}:{profile.port}",
                "work_dir": W, "dir": remote_dir, "python": vpy, "local_data": str(data_path),
                "gpu": info.get("gpu"), "pid": None, "pid_started_at": None,
                "profile": profile.model_dump(exclude={"source"}),
            })
            files = {n: mirror.path / n for n in ("config.yaml", "manifest.json", "events.jsonl")}
            await push(conn, profile.python, files, remote_dir, only_changed=False)
            pid, started = await start_worker(conn, vpy, remote_dir, resume=False)
        except BaseException:
            shutil.rmtree(mirror.path, ignore_errors=True)  # nothing half-made stays behind
            raise
    rem = read_remote(mirror)
    write_remote(mirror, {**rem, "pid": pid, "pid_started_at": started})
    progress(f"{mirror.run_id}: worker pid {pid} on {profile.name} ({remote_dir})")
    follower = start_follower(mirror) if follow else None
    return {"run_id": mirror.run_id, "path": str(mirror.path), "host": profile.name, "remote_dir": remote_dir,
            "pid": pid, "device": device, "follower_pid": follower}


def launch(profile: HostProfile, cfg, job: str, runs_dir: Path, *, progress: Progress = _quiet,
           follow: bool = True) -> dict:
    return asyncio.run(launch_async(profile, cfg, job, runs_dir, progress=progress, follow=follow))


# --------------------------------------------------------------------------- the follower
def follower_alive(run: RunDir) -> bool:
    try:
        state = json.loads((run.path / FOLLOW_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return process_alive(state.get("host"), state.get("pid"), state.get("pid_started_at"))


def start_follower(run: RunDir) -> int | None:
    """`python -m core.jobs.remote.follow RUN_DIR`, detached; None when one already follows."""
    if follower_alive(run):
        return None
    log = open(run.path / "follow.log", "ab")
    env = None
    proc = subprocess.Popen([sys.executable, "-m", "core.jobs.remote.follow", str(run.path)], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                            cwd=str(PROJECT_ROOT))
    log.close()
    import threading

    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    return proc.pid


# --------------------------------------------------------------------------- acting on a run
def _identity(run: RunDir) -> tuple[int | None, str | None]:
    """The worker of the current attempt: from its run_started in the mirror, else remote.json."""
    started = next((e for e in reversed(run.read_events()) if e.get("type") == "run_started"), None)
    rem = read_remote(run)
    if started and rem.get("pid") in (None, started.get("pid")):
        return started.get("pid"), started.get("pid_started_at")
    return rem.get("pid"), rem.get("pid_started_at")


async def cancel_async(run: RunDir, profile: HostProfile) -> dict:
    """SIGTERM to the remote worker, only when its pid and start time both still match."""
    st = status_of(run)
    if not st.active:
        raise InputError(f"run {run.run_id} is {st.status}: nothing to cancel")
    pid, started = _identity(run)
    if pid is None or started is None:
        raise InputError(f"run {run.run_id} has no remote worker identity yet (queued there); try again in a moment")
    rem = read_remote(run)
    async with connect(profile) as conn:
        out = await agent_json(conn, rem["python"], "signal", str(pid), started, str(int(signal.SIGTERM)))
    if not out.get("sent"):
        raise InputError(f"run {run.run_id}: not signalled: {out.get('why')}")
    return {"run_id": run.run_id, "status": st.status,
            "message": f"SIGTERM sent to pid {pid} on {profile.name}; it saves last.pt and ends cancelled"}


async def resume_async(run: RunDir, profile: HostProfile) -> dict:
    st = status_of(run)
    if st.status not in RESUMABLE_STATUSES:
        raise InputError(f"run {run.run_id} is {st.status}; only {', '.join(RESUMABLE_STATUSES)} runs resume")
    rem = read_remote(run)
    async with connect(profile) as conn:
        await require_exec(conn, profile)
        pid, started = await start_worker(conn, rem["python"], rem["dir"], resume=True)
    write_remote(run, {**rem, "pid": pid, "pid_started_at": started})
    return {"run_id": run.run_id, "pid": pid, "attempt": st.attempt + 1, "follower_pid": start_follower(run)}


async def fetch_async(run: RunDir, profile: HostProfile, *, progress: Progress = _quiet) -> list[str]:
    """Every file of the remote run dir that differs here, hash-checked; events.jsonl is the
    follower's to keep (byte offsets), so it is left alone."""
    rem = read_remote(run)
    async with connect(profile) as conn:
        sftp = await has_sftp(conn)
        names = [n for n in (await agent_json(conn, profile.python, "hashes", rem["dir"]))
                 if n not in ("events.jsonl",)]
        copied = await pull(conn, profile.python, rem["dir"], run.path, names, sftp=sftp)
    progress(f"{run.run_id}: {len(copied)} file(s) fetched from {profile.name}")
    return copied


async def has_sftp(conn) -> bool:
    try:
        async with conn.start_sftp_client():
            return True
    except Exception:  # noqa: BLE001 — any refusal means: no SFTP here
        return False


def attach(run: RunDir) -> dict:
    read_remote(run)
    pid = start_follower(run)
    return {"run_id": run.run_id, "follower_pid": pid, "already": pid is None}
