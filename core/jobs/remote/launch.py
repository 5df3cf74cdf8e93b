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
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

from core.errors import InputError
from core.fsutil import atomic_write_text
from core.runs.status import status_phrase
from core.jobs.remote.hosts import HostProfile
from core.jobs.remote.ssh import (
    RemoteError,
    agent_argv,
    agent_json,
    confined,
    connect,
    quote_command,
    run,
    run_shell,
)
from core.jobs.remote.sync import FETCHED_JSON, PROJECT_ROOT, Pulled, project_files, pull, push, remote_hashes
from core.runs import FOLLOW_JSON, REMOTE_JSON, RESUMABLE_STATUSES, RunDir, status_of
from core.runs.lock import FOLLOW_LOCK, LockHeld, acquire, describe_holder

Progress = Callable[[str], None]
# What the worker imports: checked in the remote venv before anything starts there.
WORKER_IMPORTS = ("numpy", "scipy", "sklearn", "yaml", "pydantic", "matplotlib", "torch", "core")
# Written into a venv after its import probe passed; a venv without it is made again.
VENV_COMPLETE = ".synapse-complete"
SHELL_ONLY_HELP = (
    "{name} gives a shell only (no command execution, no SFTP): this is RunPod's proxied SSH "
    '(ssh.runpod.io). Enable "SSH over exposed TCP" for the pod (Pod > Connect > SSH over exposed TCP: '
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


def remote_record(profile: HostProfile, *, remote_dir: str, python: str, local_data: str, gpu: str | None) -> dict:
    """remote.json of a new mirror: where the run is, by profile name. No profile settings:
    `setup` may hold a token, and how to connect is always read from the user's profiles."""
    return {
        "host": profile.name,
        "address": f"{profile.user}@{profile.host}:{profile.port}",
        "work_dir": profile.work_dir,
        "dir": remote_dir,
        "python": python,
        "local_data": local_data,
        "gpu": gpu,
        "pid": None,
        "pid_started_at": None,
    }


def profile_of(run: RunDir, hosts: dict[str, HostProfile] | None = None) -> HostProfile:
    """The run's host profile, by the name its remote.json gives, from the user's profiles
    only: nothing the mirror holds decides where or how we connect."""
    from core.jobs.remote.hosts import hosts_files

    name = read_remote(run).get("host")
    if hosts and isinstance(name, str) and name in hosts:
        return hosts[name]
    files = " or ".join(str(p) for p in hosts_files())
    raise InputError(
        f"run {run.run_id} ran on host profile {name!r}, which is not in {files} any more: "
        "add it back (same host, port, user and work_dir) to act on the run",
        path=run.path / REMOTE_JSON,
    )


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
    try:  # 0700 and ours: on a shared server nobody else reads the data, the checkpoints or the venv
        await run(conn, agent_argv(profile.python, "private_dir", W))
    except RemoteError as exc:
        raise InputError(f"{profile.name}: cannot make the work dir {W} private: {exc}", path=profile.source) from None
    sent = await push(conn, profile.python, project_files(), confined(W, "project"), progress=progress)
    progress(f"project on {profile.name}: {len(sent)} file(s) updated")
    venv = confined(W, "venvs", venv_key(info))
    vpy = f"{venv}/bin/python"
    marker = f"{venv}/{VENV_COMPLETE}"
    state = await agent_json(conn, profile.python, "owned", venv, marker)
    if state.get(venv) is False or state.get(marker) is False:
        raise InputError(
            f"{profile.name}: the venv {venv} is owned by another user, so it is not used; remove it "
            "there or point the profile's work_dir at a directory of your own",
            path=profile.source,
        )
    if state.get(venv) and not state.get(marker):
        # Interrupted while being made (Ctrl-C, a full disk): an interpreter may exist, the rest may not.
        progress(f"the venv {venv} was never finished; making it again")
        await run(conn, ["rm", "-rf", "--", venv], timeout=600)
    if not state.get(marker):
        if profile.setup:
            progress(f"running the profile's setup command on {profile.name}")
            await run_shell(conn, profile.setup, timeout=1800)
        progress(f"making the venv {venv} (--system-site-packages: the image's torch is reused)")
        await run(conn, [profile.python, "-m", "venv", "--system-site-packages", "--without-pip", venv], timeout=600)
        # A venv sees the *base* interpreter's packages only; when `python` is itself a venv's
        # (or a conda env's), its packages are on its own site path: name them in a .pth too.
        sites = json.loads(
            (await run(conn, [profile.python, "-c", "import json, site; print(json.dumps(site.getsitepackages()))"]))
            .stdout.decode()
            .strip()
        )
        purelib = (
            (await run(conn, [vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]))
            .stdout.decode()
            .strip()
        )
        pth = "\n".join([confined(W, "project"), *sites]) + "\n"
        await run(
            conn, [vpy, "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])", f"{purelib}/synapse.pth", pth]
        )
    probe = await run(conn, [vpy, "-c", f"import {', '.join(WORKER_IMPORTS)}"], check=False)
    if probe.exit_status != 0:
        missing = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        if b"torch" in probe.stderr:
            raise InputError(
                f"{profile.name}: the venv's python cannot import torch ({' '.join(missing)}); use an "
                "image with CUDA torch installed for the profile's `python:` "
                f"({profile.python}), or set `python:` to one",
                path=profile.source,
            )
        progress(f"installing the missing dependencies into {venv}: {' '.join(missing)}")
        deps = [d for d in _dependencies() if not d.startswith("torch")]
        await run(conn, [vpy, "-m", "ensurepip", "--upgrade"], check=False, timeout=600)
        await run(conn, [vpy, "-m", "pip", "install", "-q", *deps], timeout=3600)
        probe = await run(conn, [vpy, "-c", f"import {', '.join(WORKER_IMPORTS)}"], check=False)
        if probe.exit_status != 0:
            why = probe.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
            raise RemoteError(
                f"{profile.name}: the venv {venv} still cannot import the worker's packages "
                f"({' '.join(why)}); it is left unfinished and made again next time"
            )
    if not state.get(marker):
        # Only now is the venv known good: without the marker, the next launch makes it again.
        await run(conn, ["touch", "--", marker])
    return vpy


def remote_device(cfg, job: str, info: dict, profile: HostProfile) -> str:
    """The device the run will use there; InputError when the config wants CUDA the host lacks."""
    if job != "train":
        return "cpu"
    want = cfg.train.device
    if info.get("torch") is None:
        raise InputError(
            f"{profile.name} has no torch for its python ({info.get('executable')}, the profile's "
            f"`python: {profile.python}` setting; {info.get('torch_error') or 'not installed'}): set "
            "`python:` to the interpreter that has the image's PyTorch, or pick an image with it",
            path=profile.source,
        )
    if want == "cuda" and not info.get("cuda"):
        raise InputError(
            f"the config trains on CUDA (train.device=cuda) but {profile.name} has no CUDA device "
            f"(torch {info.get('torch')}); add -o train.device=cpu to run on its CPU, or pick a GPU host"
        )
    return "cuda" if want == "auto" and info.get("cuda") else ("cpu" if want == "auto" else want)


async def start_worker(conn, vpy: str, remote_dir: str, *, resume: bool) -> tuple[int, str | None]:
    """The worker, detached on the remote (its own session, no terminal): (pid, start time)."""
    cmd = quote_command([vpy, "-m", "core.jobs.worker", remote_dir] + (["--resume"] if resume else []))
    # The braces matter: `$!` must be the pid of the backgrounded command itself.
    # umask 077: checkpoints and logs are the user's alone on a shared server.
    script = (
        f"cd {quote_command([remote_dir])} && umask 077 && "
        f"{{ setsid nohup {cmd} </dev/null >>worker.log 2>&1 & echo $! ; }}"
    )
    out = await run_shell(conn, script, timeout=60)
    pid = int(out.stdout.decode().strip().splitlines()[-1])
    started = await agent_json(conn, vpy, "start_time", str(pid))
    return pid, started


# --------------------------------------------------------------------------- launch
async def launch_async(
    profile: HostProfile, cfg, job: str, runs_dir: Path, *, progress: Progress = _quiet, follow: bool = True
) -> dict:
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
            raise InputError(
                f"{profile.name}: {info.get('executable')} has no venv module; set the profile's "
                "`setup:` to install it (e.g. apt-get install -y python3-venv)"
            )
        vpy = await prepare_host(conn, profile, info, progress)
        data_path = Path(prep.data.path)
        data_rel = f"{prep.data.sha256}{''.join(data_path.suffixes[-2:]) or '.csv'}"
        remote_data = confined(W, "data", data_rel)
        if (await run(conn, ["test", "-f", remote_data], check=False)).exit_status != 0:
            await push(
                conn, profile.python, {data_rel: data_path}, confined(W, "data"), only_changed=False, progress=progress
            )
        remote_cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"path": remote_data})})
        mirror = start_run(remote_cfg, Path(runs_dir), prep, job, device)
        try:
            remote_dir = confined(W, "runs", mirror.run_id)
            write_remote(
                mirror,
                remote_record(
                    profile, remote_dir=remote_dir, python=vpy, local_data=str(data_path), gpu=info.get("gpu")
                ),
            )
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
    return {
        "run_id": mirror.run_id,
        "path": str(mirror.path),
        "host": profile.name,
        "remote_dir": remote_dir,
        "pid": pid,
        "device": device,
        "follower_pid": follower,
    }


def launch(
    profile: HostProfile, cfg, job: str, runs_dir: Path, *, progress: Progress = _quiet, follow: bool = True
) -> dict:
    return asyncio.run(launch_async(profile, cfg, job, runs_dir, progress=progress, follow=follow))


# --------------------------------------------------------------------------- the follower
# How long a resume waits for the previous attempt's follower to wind up (its last read and
# the artifact fetch) or to take the new worker on.
FOLLOWER_HANDOVER_S = 120.0


def spawn_follower(run: RunDir) -> int:
    """`python -m core.jobs.remote.follow RUN_DIR`, detached, holding the mirror's follow lock
    from the start: the lock is taken here and handed down, so of two racing starters one
    is refused at once (LockHeld, naming the holder) and no second follower ever runs."""
    lock = acquire(run.path / FOLLOW_LOCK, "follower")
    try:
        with open(run.path / "follow.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "core.jobs.remote.follow", str(run.path), "--lock-fd", str(lock.fd)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(PROJECT_ROOT),
                pass_fds=(lock.fd,),
            )
        lock.write_holder("follower", proc.pid)
    finally:
        lock.release()  # ours only: the child's copy of the descriptor keeps the lock held
    import threading

    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    return proc.pid


def start_follower(run: RunDir) -> int | None:
    """A new follower's pid; None when one already follows (see `attach` for who)."""
    try:
        return spawn_follower(run)
    except LockHeld:
        return None


async def ensure_follower(run: RunDir, pid: int, timeout_s: float = FOLLOWER_HANDOVER_S) -> int | None:
    """A follower for the attempt whose worker is `pid`, right after a resume started it.

    The previous attempt's follower may still hold the mirror (tail noticing the worker's
    end, the last read, the fetch): starting none then left the new attempt unfollowed. So:
    a new follower as soon as the lock is free, or the old one once it has taken the new
    worker on (it re-reads remote.json before it stops); the follower's pid either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            return spawn_follower(run)
        except LockHeld as exc:
            try:
                state = json.loads((run.path / FOLLOW_JSON).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                state = {}
            if isinstance(state, dict) and (state.get("worker") or {}).get("pid") == pid:
                held = exc.holder.get("pid")
                return held if isinstance(held, int) else None
            if loop.time() > deadline:
                return None
        await asyncio.sleep(0.2)


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
        raise InputError(f"run {run.run_id} {status_phrase(st.status)}: nothing to cancel")
    pid, started = _identity(run)
    if pid is None or started is None:
        raise InputError(f"run {run.run_id} has no remote worker identity yet (queued there); try again in a moment")
    rem = read_remote(run)
    async with connect(profile) as conn:
        out = await agent_json(conn, rem["python"], "signal", str(pid), started, str(int(signal.SIGTERM)))
    if not out.get("sent"):
        raise InputError(f"run {run.run_id}: not signalled: {out.get('why')}")
    return {
        "run_id": run.run_id,
        "status": st.status,
        "message": f"SIGTERM sent to pid {pid} on {profile.name}; it saves last.pt and ends cancelled",
    }


async def resume_async(run: RunDir, profile: HostProfile) -> dict:
    st = status_of(run)
    if st.status not in RESUMABLE_STATUSES:
        raise InputError(
            f"run {run.run_id} {status_phrase(st.status)}; only {', '.join(RESUMABLE_STATUSES)} runs resume"
        )
    rem = read_remote(run)
    async with connect(profile) as conn:
        await require_exec(conn, profile)
        # A mirror reads lost when only its follower died: ask the remote whether a worker
        # still holds the run there. The remote worker refuses a held lock too, so even a
        # race with this check leaves one worker.
        from core.runs.lock import describe_holder

        lock = await agent_json(conn, rem["python"], "lockheld", rem["dir"])
        if lock.get("held"):
            raise InputError(
                f"run {run.run_id} is held by {describe_holder(lock.get('holder') or {})} "
                f"(on {profile.name}): its worker still runs there, so none is started; "
                f"`synapse remote attach {run.run_id}` follows it again"
            )
        pid, started = await start_worker(conn, rem["python"], rem["dir"], resume=True)
    write_remote(run, {**rem, "pid": pid, "pid_started_at": started})
    return {
        "run_id": run.run_id,
        "pid": pid,
        "attempt": st.attempt + 1,
        "follower_pid": await ensure_follower(run, pid),
    }


def read_fetched(run: RunDir) -> dict[str, str]:
    """{name: sha256} of what this mirror last took from the remote ({} before the first fetch)."""
    try:
        files = json.loads((run.path / FETCHED_JSON).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    return (
        {k: v for k, v in files.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(files, dict) else {}
    )


def merge_test_touches(run: RunDir, theirs_path: Path) -> int:
    """Add the remote manifest's test touches that the mirror's lacks (a union: a touch is
    never lost, whichever side made it); everything else in the mirror's manifest is its
    own. The number added."""
    try:
        theirs = json.loads(theirs_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    touches = theirs.get("test_touches") if isinstance(theirs, dict) else None
    if not isinstance(touches, list):
        return 0
    mine = run.read_json("manifest.json")
    have = mine.setdefault("test_touches", [])
    seen = {(t.get("ts"), t.get("what")) for t in have if isinstance(t, dict)}
    new = [
        {"ts": t["ts"], "what": t["what"]}
        for t in touches
        if isinstance(t, dict)
        and isinstance(t.get("ts"), str)
        and isinstance(t.get("what"), str)
        and (t["ts"], t["what"]) not in seen
    ]
    if new:
        mine["test_touches"] = sorted([*have, *new], key=lambda t: str(t.get("ts", "")))
        run.write_json("manifest.json", mine)
    return len(new)


MANIFEST_MAX_BYTES = 64 * 1024 * 1024


async def fetch_async(
    run: RunDir, profile: HostProfile, *, progress: Progress = _quiet, force: bool = False
) -> list[str]:
    """The remote run dir's artifacts that differ here, each streamed, size-limited and
    sha256-checked (`sync.pull`); the names copied. The mirror's own files are never taken
    (`sync.LOCAL_ONLY`); the remote manifest only adds its test touches to the mirror's; a
    file changed here since it was last fetched is kept (unless `force`), and said so."""
    rem = read_remote(run)
    fetched = read_fetched(run)
    async with connect(profile) as conn:
        sftp = await has_sftp(conn)
        listing = await remote_hashes(conn, profile.python, rem["dir"])
        if not isinstance(listing, dict):
            raise RemoteError(f"{profile.name}: the listing of {rem['dir']} is not a mapping of names to sha256s")
        names = [n for n in listing if n != "manifest.json"]
        got = await pull(
            conn, profile.python, rem["dir"], run.path, names, sftp=sftp, listing=listing, fetched=fetched, force=force
        )
        added = 0
        if "manifest.json" in listing:
            with tempfile.TemporaryDirectory(prefix=".fetch-", dir=run.path) as tmp:
                theirs = await pull(
                    conn,
                    profile.python,
                    rem["dir"],
                    Path(tmp),
                    ["manifest.json"],
                    sftp=sftp,
                    listing={"manifest.json": listing["manifest.json"]},
                    skip_same=False,
                    max_bytes=MANIFEST_MAX_BYTES,
                )
                got.refused.update(theirs.refused)
                if "manifest.json" in theirs.copied:
                    added = merge_test_touches(run, Path(tmp) / "manifest.json")
    _record_fetched(run, fetched, got)
    for line in got.messages():
        progress(f"{run.run_id}: {line}")
    if added:
        progress(f"{run.run_id}: {added} test touch(es) from {profile.name} added to manifest.json")
    progress(f"{run.run_id}: {len(got.copied)} file(s) fetched from {profile.name}")
    return sorted(got.copied)


def _record_fetched(run: RunDir, before: dict[str, str], got: Pulled) -> None:
    files = {**before, **got.same, **got.copied}
    atomic_write_text(
        run.path / FETCHED_JSON,
        json.dumps({"files": dict(sorted(files.items())), "refused": got.refused, "kept": got.kept}, indent=2) + "\n",
    )


async def has_sftp(conn) -> bool:
    try:
        async with conn.start_sftp_client():
            return True
    except Exception:  # noqa: BLE001 — any refusal means: no SFTP here
        return False


def attach(run: RunDir) -> dict:
    """A follower for the run, unless one follows it already (`holder` then says who)."""
    read_remote(run)
    try:
        pid = spawn_follower(run)
    except LockHeld as exc:
        return {
            "run_id": run.run_id,
            "follower_pid": exc.holder.get("pid"),
            "already": True,
            "holder": describe_holder(exc.holder),
        }
    return {"run_id": run.run_id, "follower_pid": pid, "already": False, "holder": None}
