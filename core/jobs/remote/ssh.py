"""Connections to a host profile with asyncssh, safe by default.

Host keys are always checked against the profile's pinned key (known_hosts under its
`host_key_alias`); there is no way to turn that off. Auth is by key or agent only. Every
remote command is a list of arguments joined with `shlex.quote`, so a run name or an
override holding `; rm -rf ~` or `$(...)` arrives as one literal argument. Connect
timeouts and keepalives are always set: asyncssh's defaults are none, and a dead link
would then hang forever.
"""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import shlex
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncssh

from core.errors import InputError
from core.jobs.remote.hosts import HostProfile, pinned_key

AGENT_SOURCE = (Path(__file__).with_name("agent.py")).read_text(encoding="utf-8")


class RemoteError(Exception):
    """The remote host could not do what was asked (not bad input: the link or the host)."""


def quote_command(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in argv)


def confined(work_dir: str, *parts: str) -> str:
    """`work_dir/parts...`, refused (InputError) when a part is absolute or climbs out with '..'."""
    for p in parts:
        if not p or p.startswith("/") or ".." in p.replace("\\", "/").split("/"):
            raise InputError(f"remote path {p!r} must be relative and stay inside the work dir {work_dir}")
    path = posixpath.normpath(posixpath.join(work_dir, *parts))
    if not (path == work_dir or path.startswith(work_dir.rstrip("/") + "/")):
        raise InputError(f"remote path {path!r} leaves the work dir {work_dir}")
    return path


def _host_key_error(profile: HostProfile, exc: Exception) -> InputError:
    if pinned_key(profile) is None:
        return InputError(
            f"the host key of {profile.name} ({profile.host}:{profile.port}) is not trusted yet: "
            f"run `synapse remote trust {profile.name}`, compare the fingerprint with the one your provider "
            "shows, and answer yes"
        )
    return InputError(
        f"the host key of {profile.name} ({profile.host}:{profile.port}) CHANGED since it was pinned "
        f"(alias {profile.alias!r} in {profile.known_hosts_path}); refusing to connect. A RunPod pod makes a new "
        f"key on every restart: if you restarted it, run `synapse remote trust {profile.name}` again and check "
        "the new fingerprint; otherwise someone may be in the middle"
    )


def _key_options(profile: HostProfile) -> dict:
    """How to authenticate with the profile's identity_file: the key itself, or, when it is
    passphrase-protected, the SSH agent's unlocked copy of it; else a refusal saying what to do.
    Nothing asks for a passphrase: the follower that keeps the mirror runs detached, with no
    terminal, and a passphrase is never stored."""
    path = profile.identity_path
    assert path is not None
    if not path.is_file():
        raise InputError(f"host {profile.name}: identity_file {path} does not exist", path=profile.source)
    try:
        key = asyncssh.read_private_key(str(path))
    except (asyncssh.KeyImportError, ValueError) as exc:
        if "passphrase" not in str(exc).lower():
            raise InputError(
                f"host {profile.name}: identity_file {path} is not a private key that can be read ({exc})",
                path=profile.source,
            ) from None
        sock = os.environ.get("SSH_AUTH_SOCK")
        public = path.with_name(path.name + ".pub")
        if sock and public.is_file():
            # The agent signs with its unlocked copy; only that identity is offered.
            return dict(client_keys=[str(path)], ignore_encrypted=True, agent_path=sock, agent_identities=[str(public)])
        raise InputError(
            f"host {profile.name}: identity_file {path} is passphrase-protected: "
            + locked_key_help(path)
            + ("" if public.is_file() else f" (and keep its public key beside it as {public})"),
            path=profile.source,
        ) from None
    return dict(client_keys=[key], agent_path=None)


def locked_key_help(path: Path | None) -> str:
    return (
        f"load it into your SSH agent with `ssh-add {path}` (the agent then signs for it; Synapse never "
        "asks for or stores a passphrase, since the follower that keeps the mirror runs with no terminal)"
    )


def connect_options(profile: HostProfile) -> dict:
    opts = dict(
        port=profile.port,
        username=profile.user,
        known_hosts=str(profile.known_hosts_path),
        host_key_alias=profile.alias,
        connect_timeout=profile.connect_timeout,
        login_timeout=profile.connect_timeout,
        keepalive_interval=profile.keepalive_interval,
        keepalive_count_max=profile.keepalive_count_max,
        password_auth=False,
        kbdint_auth=False,
        config=[],
    )
    if profile.identity_path is not None:
        opts.update(_key_options(profile))
    return opts


@asynccontextmanager
async def connect(profile: HostProfile) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An SSH connection to `profile`; InputError for trust problems, RemoteError for the rest."""
    if not profile.known_hosts_path.is_file() or pinned_key(profile) is None:
        raise _host_key_error(profile, RuntimeError("no pin"))
    opts = connect_options(profile)
    try:
        conn = await asyncssh.connect(profile.host, **opts)
    except asyncssh.HostKeyNotVerifiable as exc:
        raise _host_key_error(profile, exc) from None
    except asyncssh.PermissionDenied as exc:
        hint = ""
        if opts.get("agent_identities"):
            hint = (
                f"; identity_file {profile.identity_path} is passphrase-protected and the agent did not sign "
                "for it: " + locked_key_help(profile.identity_path)
            )
        raise RemoteError(
            f"{profile.name}: authentication refused ({exc.reason}); key or agent auth only{hint}"
        ) from None
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise RemoteError(
            f"{profile.name}: cannot connect to {profile.host}:{profile.port}: {type(exc).__name__}: {exc}"
        ) from None
    try:
        yield conn
    finally:
        conn.close()


async def run(
    conn: asyncssh.SSHClientConnection,
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    check: bool = True,
    timeout: float | None = 120.0,
) -> asyncssh.SSHCompletedProcess:
    """`argv` on the remote, every argument quoted; bytes out. RemoteError on a non-zero exit when `check`."""
    try:
        result = await conn.run(quote_command(argv), input=input, encoding=None, timeout=timeout)
    except asyncssh.ChannelOpenError as exc:
        raise RemoteError(f"the host refused to run a command ({exc.reason}): a shell-only host?") from None
    except asyncssh.TimeoutError as exc:
        raise RemoteError(f"remote command timed out after {timeout} s: {argv[0]} ...") from exc
    if check and result.exit_status != 0:
        err = (result.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RemoteError(f"remote command failed (exit {result.exit_status}): {' '.join(err) or argv[0]}")
    return result


async def run_shell(
    conn: asyncssh.SSHClientConnection, script: str, *, timeout: float | None = 120.0, check: bool = True
) -> asyncssh.SSHCompletedProcess:
    """A shell line the caller built from `quote_command` parts and fixed operators only."""
    result = await conn.run(script, encoding=None, timeout=timeout)
    if check and result.exit_status != 0:
        err = (result.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-3:]
        raise RemoteError(f"remote command failed (exit {result.exit_status}): {' '.join(err)}")
    return result


def agent_argv(python: str, *args: str) -> list[str]:
    return [python, "-c", AGENT_SOURCE, *args]


async def agent_json(conn: asyncssh.SSHClientConnection, python: str, *args: str, timeout: float = 120.0):
    result = await run(conn, agent_argv(python, *args), timeout=timeout)
    return json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])


async def fetch_host_key(profile: HostProfile) -> asyncssh.SSHKey:
    """The server's host key, unverified: for `remote trust` to show and pin on a yes."""
    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(profile.host, profile.port, config=[]), profile.connect_timeout
        )
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise RemoteError(
            f"{profile.name}: cannot reach {profile.host}:{profile.port}: {type(exc).__name__}: {exc}"
        ) from None
    if key is None:
        raise RemoteError(f"{profile.name}: the server sent no host key")
    return key


def key_line(key: asyncssh.SSHKey) -> str:
    """`keytype base64` of a public key, without a comment."""
    return " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])
