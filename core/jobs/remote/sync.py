"""Moving files to and from a host by content hash, with SFTP or without it.

The remote lists what it has (`agent.py hashes`, sha256 per file); only missing or
changed files go. They travel as one tar stream on an exec channel's stdin, unpacked by
the agent into `.part` files renamed into place, so this works where there is no SFTP
and no tar (RunPod's proxied SSH has neither) and a reader never sees half a file.
Downloads use SFTP when the host has it, else a tar stream on stdout; either way every
file is checked against the remote sha256 before it is renamed into place locally.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

import asyncssh

from core.fsutil import atomic_write_bytes
from core.jobs.remote.ssh import RemoteError, agent_argv, agent_json, run

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# What a worker needs: the engine package and the project's metadata (its dependencies).
PROJECT_TREES = ("core",)
PROJECT_FILES = ("pyproject.toml",)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def project_files(root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """{posix relative path: local path} of the files a remote worker imports."""
    out: dict[str, Path] = {}
    for tree in PROJECT_TREES:
        for path in sorted((root / tree).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
                out[path.relative_to(root).as_posix()] = path
    for name in PROJECT_FILES:
        if (root / name).is_file():
            out[name] = root / name
    return out


def tar_bytes(files: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel, path in files.items():
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    return buf.getvalue()


async def remote_hashes(conn: asyncssh.SSHClientConnection, python: str, remote_dir: str) -> dict[str, str]:
    return await agent_json(conn, python, "hashes", remote_dir)


async def push(conn: asyncssh.SSHClientConnection, python: str, files: dict[str, Path], remote_dir: str,
               *, only_changed: bool = True, progress: Callable[[str], None] | None = None) -> list[str]:
    """Bring `remote_dir` up to date with `files` ({relative path: local path}); the paths sent."""
    for rel in files:
        if rel.startswith("/") or ".." in PurePosixPath(rel).parts:
            raise RemoteError(f"refusing to send {rel!r}: not a relative path inside the work dir")
    send = dict(files)
    if only_changed:
        have = await remote_hashes(conn, python, remote_dir)
        send = {rel: p for rel, p in files.items() if have.get(rel) != sha256_file(p)}
    if send:
        if progress:
            size = sum(p.stat().st_size for p in send.values())
            progress(f"sending {len(send)} file(s), {size / 1e6:.1f} MB, to {remote_dir}")
        await run(conn, agent_argv(python, "extract", remote_dir), input=tar_bytes(send), timeout=None)
    return sorted(send)


async def pull(conn: asyncssh.SSHClientConnection, python: str, remote_dir: str, local_dir: Path,
               names: Iterable[str] | None = None, *, sftp: bool, skip_same: bool = True) -> list[str]:
    """Copy files of `remote_dir` (all, or `names`) into `local_dir`, each checked against the
    remote sha256 before it replaces the local file; the names copied."""
    have = await remote_hashes(conn, python, remote_dir)
    wanted = sorted(have if names is None else [n for n in names if n in have])
    todo = [n for n in wanted
            if not (skip_same and (local_dir / n).is_file() and sha256_file(local_dir / n) == have[n])]
    if not todo:
        return []
    blobs: dict[str, bytes] = {}
    if sftp:
        async with conn.start_sftp_client() as client:
            for name in todo:
                async with client.open(f"{remote_dir}/{name}", "rb") as fh:
                    blobs[name] = await fh.read()
    else:
        result = await run(conn, agent_argv(python, "pack", remote_dir, *todo), timeout=None)
        with tarfile.open(fileobj=io.BytesIO(result.stdout), mode="r") as tar:
            for member in tar:
                if member.isfile() and member.name in todo:
                    blobs[member.name] = tar.extractfile(member).read()
    copied = []
    for name in todo:
        data = blobs.get(name)
        if data is None:
            continue  # removed on the remote between the listing and the copy
        if hashlib.sha256(data).hexdigest() != have[name]:
            # Still being written there (a log): the next pull gets a settled copy.
            if name.endswith((".log", ".jsonl")):
                continue
            raise RemoteError(f"{name}: the copy's sha256 differs from the remote file's; nothing replaced")
        target = local_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        copied.append(name)
    return copied


def local_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def os_fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
