"""`synapse remote check NAME`: what a host can do, in plain words.

It connects (the pinned host key is required), then tries, in order: running a command
and getting its exit status, SFTP, the profile's python, torch, CUDA and the GPU's name,
free disk in the work dir, the clock against ours. A host that accepts a PTY shell but no
command is *shell-only* (RunPod's proxied SSH, ssh.runpod.io); launch refuses it.
"""

from __future__ import annotations

import asyncio
import time

import asyncssh

from core.jobs.remote.follow import tail_has_pid
from core.jobs.remote.hosts import HostProfile
from core.jobs.remote.launch import SHELL_ONLY_HELP, has_sftp
from core.jobs.remote.ssh import RemoteError, agent_json, connect, run

MIN_FREE_BYTES = 5 * 1024**3
MAX_SKEW_S = 5.0
# Failed checks a launch cannot get past (no CUDA, another GPU, no SFTP or a skewed clock
# still let a run start): `check` calls the host ready only without any of these.
BLOCKING = ("connect", "exec", "python", "venv", "torch", "disk")


async def _shell_works(conn) -> bool:
    try:
        proc = await conn.create_process(term_type="xterm", encoding=None)
    except (asyncssh.Error, OSError):
        return False
    proc.stdin.write(b"exit\n")
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except (TimeoutError, asyncssh.Error):
        pass
    proc.close()
    return True


async def check_async(profile: HostProfile) -> dict:
    """{"host", "mode": full|shell-only|unreachable, "checks": [{name, ok, detail}], "missing": [...], "info",
    "blocking": [what a launch needs and lacks], "ready": whether a launch can go ahead}."""
    checks: list[dict] = []
    missing: list[str] = []
    blocking: list[str] = []

    def add(name: str, ok: bool, detail: str, need: str | None = None) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})
        if not ok and need:
            missing.append(need)
        if not ok and name in BLOCKING:
            blocking.append(need or name)

    out = {
        "host": profile.name,
        "address": f"{profile.user}@{profile.host}:{profile.port}",
        "mode": "unreachable",
        "checks": checks,
        "missing": missing,
        "blocking": blocking,
        "info": None,
    }
    try:
        async with connect(profile) as conn:
            add("connect", True, f"host key matches the pin ({profile.alias})")
            try:
                t0 = time.perf_counter()
                res = await run(conn, ["sh", "-c", "exit 3"], check=False, timeout=profile.connect_timeout)
                ok = res.exit_status == 3
                add(
                    "exec",
                    ok,
                    f"commands run, exit status comes back ({(time.perf_counter() - t0) * 1000:.0f} ms)"
                    if ok
                    else f"exit status not returned ({res.exit_status})",
                    "exec channel",
                )
            except RemoteError:
                shell = await _shell_works(conn)
                add("exec", False, "no command execution" + (" (a PTY shell works)" if shell else ""), "exec channel")
                out["mode"] = "shell-only" if shell else "unusable"
                out["advice"] = SHELL_ONLY_HELP.format(name=profile.name)
                add("sftp", await has_sftp(conn), "SFTP subsystem")
                return out
            out["mode"] = "full"
            sftp = await has_sftp(conn)
            add("sftp", sftp, "SFTP works" if sftp else "no SFTP: files go as a tar stream over exec instead")
            pid_tail = await tail_has_pid(conn)
            add(
                "tail",
                pid_tail,
                "tail --pid: the follower sees the worker end at once"
                if pid_tail
                else "tail has no --pid (busybox?): the follower reads by offset and asks whether the worker lives",
            )
            try:
                info = await agent_json(conn, profile.python, "info", profile.work_dir)
                t0 = time.time()  # a bare interpreter, so the round trip around its clock is short
                remote_now = float(
                    (await run(conn, [profile.python, "-S", "-c", "import time; print(time.time())"]))
                    .stdout.decode()
                    .strip()
                )
                t_local = (t0 + time.time()) / 2
            except RemoteError as exc:
                add("python", False, f"{profile.python}: {exc}", f"python ({profile.python})")
                return out
            out["info"] = info
            add("python", True, f"{info['executable']} {info['python']}")
            add(
                "venv",
                bool(info.get("venv")),
                "venv module"
                if info.get("venv")
                else "no venv module: set the profile's setup: to install it (python3-venv)",
                "python venv module",
            )
            if info.get("torch"):
                add("torch", True, f"torch {info['torch']}")
            else:
                add(
                    "torch",
                    False,
                    f"{info.get('torch_error') or 'torch is not installed'} for {info['executable']} "
                    f"(the profile's `python: {profile.python}`: point it at the interpreter with the image's "
                    "PyTorch)",
                    "torch",
                )
            if info.get("cuda"):
                add("cuda", True, f"{info['gpus']} GPU(s): {info['gpu']}")
            else:
                add("cuda", False, "no CUDA device (train with -o train.device=cpu there)", "CUDA")
            if profile.gpu:
                found = info.get("gpu") or ""
                add(
                    "gpu",
                    profile.gpu.lower() in found.lower(),
                    f"expected {profile.gpu}, found {found or 'none'}",
                    f"the expected GPU ({profile.gpu})",
                )
            free = info.get("free_bytes")
            add(
                "disk",
                free is not None and free >= MIN_FREE_BYTES and info.get("work_dir_writable", False),
                f"{free / 1024**3:.1f} GiB free for {profile.work_dir}" if free is not None else "unknown",
                f"{MIN_FREE_BYTES // 1024**3} GiB free and writable in {profile.work_dir}",
            )
            skew = remote_now - t_local
            add(
                "clock",
                abs(skew) <= MAX_SKEW_S,
                f"{skew:+.2f} s against this machine",
                "a clock within 5 s of this machine's (heartbeat ages are judged across both)",
            )
    except RemoteError as exc:
        add("connect", False, str(exc), "a reachable SSH server")
    return out


def check(profile: HostProfile) -> dict:
    out = asyncio.run(check_async(profile))
    out["ready"] = out["mode"] == "full" and not out["blocking"]
    return out
