"""Moving files to and from a host by content hash, with SFTP or without it.

The remote lists what it has (`agent.py hashes`, sha256 per file); only missing or
changed files go. They travel as one tar stream on an exec channel's stdin, unpacked by
the agent into `.part` files renamed into place, so this works where there is no SFTP
and no tar (RunPod's proxied SSH has neither) and a reader never sees half a file.
Downloads use SFTP when the host has it, else the agent's `cat` of one file on stdout;
either way each file streams into a temp file beside its target and is renamed into place
only after its size and sha256 are checked. The remote is untrusted input: its listing's
names are taken only when they are plain artifact names, never a mirror's own control
files (`LOCAL_ONLY`), and every target must resolve inside the mirror.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import asyncssh

from core.errors import InputError
from core.fsutil import atomic_open
from core.jobs.remote.ssh import RemoteError, agent_argv, agent_json, quote_command, run

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# What a worker needs: the engine package and the project's metadata (its dependencies).
PROJECT_TREES = ("core",)
PROJECT_FILES = ("pyproject.toml",)
# {name: sha256} of what the mirror last took from the remote (what "changed here" is judged by).
FETCHED_JSON = "fetched.json"
CHUNK = 1 << 20


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


async def push(
    conn: asyncssh.SSHClientConnection,
    python: str,
    files: dict[str, Path],
    remote_dir: str,
    *,
    only_changed: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[str]:
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


# A mirror's own files: made and kept here, never taken from the remote whatever its
# listing says. remote.json and follow.json steer the next connection and the status,
# config.yaml is what `synapse eval` reads, the locks and logs are the local processes',
# events.jsonl is the follower's (byte offsets), fetched.json is this module's record,
# queue.json/claim.json would hand the run to a local supervisor.
LOCAL_ONLY = frozenset(
    {
        "remote.json",
        "follow.json",
        "follow.log",
        "follow.lock",
        "worker.lock",
        "events.jsonl",
        FETCHED_JSON,
        "config.yaml",
        "queue.json",
        "claim.json",
        "annotations.json",  # the user's tags, note and archived flag (core.runs.annotations)
    }
)
# What a worker writes into its run directory (docs/ARCHITECTURE.md, "A run directory").
ARTIFACTS = frozenset(
    {
        "manifest.json",
        "metrics.csv",
        "report.json",
        "calibrators.json",
        "predictions.npz",
        "model_checkpoint.pt",
        "last.pt",
        "calibration_curve.png",
        "tier_rates_vs_baseline.png",
        "training_log.md",
        "model.onnx",
        "model_step.onnx",
        "onnx_report.json",
        "pool_backtest.json",
        "pool_calibration.png",
        "worker.log",
    }
)
# Anything else a later version may write: one path component, no dot-file, no leading '-'.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_NAME = 100
DEFAULT_MAX_FILE_MB = 16384
MAX_FILE_ENV = "SYNAPSE_REMOTE_MAX_FILE_MB"
MAX_REPORTED = 50


def safe_name(name: object) -> bool:
    """True for a name a mirror may take from the remote: an artifact's plain file name."""
    if not isinstance(name, str) or name in LOCAL_ONLY or len(name) > MAX_NAME:
        return False
    return name in ARTIFACTS or _PLAIN_NAME.fullmatch(name) is not None


def max_file_bytes() -> int:
    """The largest file a pull accepts: $SYNAPSE_REMOTE_MAX_FILE_MB, else 16 GiB."""
    raw = os.environ.get(MAX_FILE_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_FILE_MB
    except ValueError:
        mb = float("nan")
    if not mb > 0:
        raise InputError(f"${MAX_FILE_ENV} must be a positive number of MB, not {raw!r}")
    return int(mb * 1024 * 1024)


@dataclass
class Pulled:
    """What a pull did: `copied` {name: sha256} of the files it brought, `same` those already equal here,
    `refused` {name: why} (unsafe names, too big, bad copies), `kept` {name: why} (changed
    here since they were fetched, so left alone)."""

    copied: dict[str, str] = field(default_factory=dict)
    same: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)

    def messages(self) -> list[str]:
        out = [f"refused {name!r} from the remote: {why}" for name, why in sorted(self.refused.items())]
        out += [f"kept {name}: {why}" for name, why in sorted(self.kept.items())]
        return out


class _Refused(Exception):
    pass


class _Unsettled(_Refused):
    """The copy does not match the listing: still being written there, or a lie."""


def _inside(local_dir: Path, name: str) -> Path:
    """`local_dir / name`, resolved, only when it is a direct child of `local_dir`."""
    root = local_dir.resolve()
    target = (root / name).resolve()
    if target.parent != root:
        raise _Refused("it resolves outside the mirror")
    return target


async def _chunks_sftp(client, path: str) -> AsyncGenerator[bytes, None]:
    async with client.open(path, "rb") as fh:
        while chunk := await fh.read(CHUNK):
            yield chunk


async def _chunks_exec(
    conn: asyncssh.SSHClientConnection, python: str, remote_dir: str, name: str
) -> AsyncGenerator[bytes, None]:
    proc = await conn.create_process(
        quote_command(agent_argv(python, "cat", remote_dir, name)), encoding=None, stderr=asyncssh.DEVNULL
    )
    try:
        while chunk := await proc.stdout.read(CHUNK):
            yield chunk
        result = await proc.wait()
        if result.exit_status != 0:
            raise _Refused(f"the remote could not read it (exit {result.exit_status})")
    finally:
        proc.close()


async def _receive(chunks: AsyncIterator[bytes], target: Path, want: str, limit: int) -> None:
    """Stream `chunks` into a temp file beside `target`, renamed over it only when the size is
    within `limit` and the sha256 is `want`; nothing is held in memory but a chunk."""
    h = hashlib.sha256()
    size = 0
    with atomic_open(target, "wb") as fh:  # on an exception the temp file goes, the old file stays
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _Refused(f"larger than {limit / 1024**2:.0f} MB (${MAX_FILE_ENV} raises the limit)")
            h.update(chunk)
            fh.write(chunk)
        if h.hexdigest() != want:
            raise _Unsettled("the copy's sha256 differs from the remote's listing")


async def pull(
    conn: asyncssh.SSHClientConnection,
    python: str,
    remote_dir: str,
    local_dir: Path,
    names: Iterable[str] | None = None,
    *,
    sftp: bool,
    skip_same: bool = True,
    listing: dict[str, str] | None = None,
    fetched: dict[str, str] | None = None,
    force: bool = False,
    max_bytes: int | None = None,
) -> Pulled:
    """Copy files of `remote_dir` (all, or `names`) into `local_dir`, streamed to a temp file
    each and renamed into place after its sha256 is checked against the remote's listing.

    The remote is untrusted: only plain artifact names (`safe_name`) are taken, each target
    must resolve to a direct child of `local_dir`, and files over `max_bytes` are refused.
    With `fetched` ({name: sha256 last taken from the remote}), a local file that differs
    from what was last fetched was changed here and is kept, unless `force`."""
    have = listing if listing is not None else await remote_hashes(conn, python, remote_dir)
    if not isinstance(have, dict):
        raise RemoteError(f"the remote's listing of {remote_dir} is not a mapping of names to sha256s")
    limit = max_file_bytes() if max_bytes is None else max_bytes
    out = Pulled()
    ok: dict[str, str] = {}
    for name, digest in have.items():
        if name in LOCAL_ONLY:
            continue  # the remote's own copy of a file the mirror keeps itself
        if not safe_name(name):
            if len(out.refused) < MAX_REPORTED:  # a listing of a million bad names is not a million lines
                out.refused[str(name)[:200]] = "not a plain artifact name (one path component, no dot-file)"
        elif not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            out.refused[name] = "the listing gives no sha256 for it"
        else:
            ok[name] = digest
    wanted = sorted(ok if names is None else [n for n in names if n in ok])
    todo = []
    for name in wanted:
        try:
            target = _inside(local_dir, name)
        except _Refused as exc:
            out.refused[name] = str(exc)
            continue
        local = sha256_file(target) if target.is_file() else None
        if skip_same and local == ok[name]:
            out.same[name] = local
        elif local is not None and fetched is not None and not force and fetched.get(name) != local:
            out.kept[name] = (
                "changed here since it was fetched (`synapse remote fetch --force` replaces it)"
                if name in fetched
                else "made here, not fetched (`--force` replaces it)"
            )
        else:
            todo.append((name, target))
    if not todo:
        return out
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(conn.start_sftp_client()) if sftp else None
        for name, target in todo:
            chunks = (
                _chunks_sftp(client, f"{remote_dir}/{name}")
                if client is not None
                else _chunks_exec(conn, python, remote_dir, name)
            )
            try:
                async with aclosing(chunks) as stream:  # an early stop ends the remote reader too
                    await _receive(stream, target, ok[name], limit)
            except _Refused as exc:
                # A log still being written there settles by the next pull: not worth a word.
                if not (isinstance(exc, _Unsettled) and name.endswith(".log")):
                    out.refused[name] = str(exc)
                continue
            except asyncssh.SFTPNoSuchFile:
                continue  # removed there between the listing and the copy
            except asyncssh.SFTPError as exc:
                out.refused[name] = f"SFTP could not read it: {exc.reason}"
                continue
            out.copied[name] = ok[name]
    return out
