"""SSH test infrastructure: a real OpenSSH server on a free local port, a TCP proxy whose
link can go dead, and a shell-only asyncssh server standing in for RunPod's proxied SSH.

Import by name (`from sshd import start_sshd, sshd_available`): pytest puts tests/ on
sys.path. Nothing here touches ~/.ssh or /etc/ssh: every key, config and log lives in
the temporary folder the caller passes, so the tests can run as root in CI and as a
developer without side effects. Tests skip when sshd is not installed (`sshd_available`).
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

import asyncssh


def _sshd_path() -> str | None:
    # sshd re-executes itself for every connection and refuses to run by a relative name.
    found = shutil.which("sshd") or ("/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None)
    return os.path.abspath(found) if found else None


def sshd_available() -> bool:
    """True when an OpenSSH server and ssh-keygen are installed, so start_sshd can work."""
    return _sshd_path() is not None and shutil.which("ssh-keygen") is not None


def sshd_version(sshd: str | None = None) -> tuple[int, int]:
    """(major, minor) of the installed sshd, (0, 0) when it cannot be told."""
    sshd = sshd or _sshd_path()
    if sshd is None:
        return (0, 0)
    # Versions without -V still print their version in the usage text on stderr.
    out = subprocess.run([sshd, "-V"], capture_output=True, text=True, timeout=10)
    m = re.search(r"OpenSSH_(\d+)\.(\d+)", out.stdout + out.stderr)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (racy, fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    """Make an ed25519 key pair at `path` (no passphrase); return the public line `type base64`."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    path.chmod(0o600)
    return " ".join(path.with_name(path.name + ".pub").read_text().split()[:2])


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"sshd exited with {proc.returncode} before listening:\n{log.read_text(errors='replace')}"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(
                    f"sshd did not listen on {host}:{port} within {timeout} s:\n{log.read_text(errors='replace')}"
                ) from None
            time.sleep(0.05)


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, comm) for every process we can read."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone since the listing
        # comm is in parentheses and may itself hold spaces or ')': split at the last one.
        head, _, rest = stat.rpartition(")")
        comm = head.partition("(")[2]
        fields = rest.split()
        if fields[0] in ("Z", "X"):
            continue  # dead, only waiting for its parent to reap it: not a live session
        table[int(entry.name)] = (int(fields[1]), comm)
    return table


def _descendants(root: int) -> list[tuple[int, str]]:
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append((pid, table[pid][1]))
        todo.extend(children.get(pid, []))
    return found


@dataclass
class SshServer:
    """A running sshd of `start_sshd`; the client side is `user` with `identity_file`."""

    host: str
    port: int
    user: str
    identity_file: Path
    host_public_key: str
    host_key_file: Path
    sftp: bool
    proc: subprocess.Popen
    base: Path
    log: Path
    version: tuple[int, int] = (0, 0)

    def known_hosts_line(self, alias: str) -> str:
        return f"{alias} {self.host_public_key}"

    def session_pids(self) -> list[int]:
        """The sshd processes serving connections: `sshd-session` (OpenSSH >= 9.8) or the
        privilege-separated pair `sshd: user [priv]` / `sshd: user@notty` (comm `sshd`).
        The commands those sessions run are left out, so a detached remote worker survives
        `kill_sessions` as it would survive a dropped link."""
        return [pid for pid, comm in _descendants(self.proc.pid) if comm.startswith("sshd")]

    def kill_sessions(self) -> int:
        """SIGKILL every per-connection sshd process (the server side of a link that dies
        without a goodbye); return how many were killed. The listener keeps running."""
        killed = 0
        for pid in self.session_pids():
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass  # its parent of the same session went first and it exited
        return killed

    def stop(self) -> None:
        # The listener does not take its connections down with it under -D.
        self.kill_sessions()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sshd(base: Path, *, sftp: bool = True) -> SshServer:
    """Start an OpenSSH server on a free 127.0.0.1 port, accepting only a fresh ed25519 key
    for the current user; its files (keys, config, sshd.log) go in `base`. Call .stop()."""
    sshd = _sshd_path()
    if sshd is None or shutil.which("ssh-keygen") is None:
        raise RuntimeError("sshd or ssh-keygen is not installed (apt-get install openssh-server)")
    base = Path(base).resolve()
    base.mkdir(parents=True, exist_ok=True)
    host_key = base / "ssh_host_ed25519_key"
    identity = base / "id_ed25519"
    host_public = _keygen(host_key)
    user_public = _keygen(identity)
    authorized = base / "authorized_keys"
    authorized.write_text(user_public + "\n")
    authorized.chmod(0o600)

    if os.geteuid() == 0:
        # The privilege-separation chroot; a bare container has no /run/sshd.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    version = sshd_version(sshd)
    port = free_port()
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {host_key}",
        f"PidFile {base / 'sshd.pid'}",
        "UsePAM no",
        # pytest's temporary folders are not owned and moded the way StrictModes wants.
        "StrictModes no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        f"AuthorizedKeysFile {authorized}",
        "PermitRootLogin prohibit-password",
        "LogLevel VERBOSE",
    ]
    if sftp:
        lines.append("Subsystem sftp internal-sftp")
    if version >= (9, 8):
        # Otherwise the killed sessions and host-key-only probes of the tests would get
        # 127.0.0.1 blocked for a while, failing the next test's connect.
        lines.append("PerSourcePenalties no")
    config = base / "sshd_config"
    config.write_text("\n".join(lines) + "\n")

    log = base / "sshd.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
    _wait_for_port("127.0.0.1", port, proc, log, timeout=10.0)
    return SshServer(
        host="127.0.0.1",
        port=port,
        user=getpass.getuser(),
        identity_file=identity,
        host_public_key=host_public,
        host_key_file=host_key,
        sftp=sftp,
        proc=proc,
        base=base,
        log=log,
        version=version,
    )


class _LoopThread:
    """An event loop running in a daemon thread, so sync tests and async tests (whose own
    loop must not be blocked by the server) can both use what runs on it."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    stalled: bool = False
    tasks: list = field(default_factory=list)

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            if w is not None:
                w.transport.abort()
        for t in self.tasks:
            t.cancel()


class StallingProxy:
    """A TCP proxy 127.0.0.1:.port -> (host, port) whose link can go dead on demand.

    `.stall()` keeps every socket open but forwards nothing more either way (bytes are
    read and dropped, so neither side sees back-pressure or an error: only silence, as
    when a route or a NAT entry disappears). Connections made while stalled are stalled
    too. `.resume()` forwards again for new connections and closes the stalled ones, so
    their clients learn the link is gone instead of waiting on it."""

    def __init__(self, host: str, port: int):
        self._target = (host, port)
        self._links: set[_Link] = set()
        self._stalled = False
        self.connections = 0
        self._lt = _LoopThread("stalling-proxy")
        self._server = self._lt.call(asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(client=writer, stalled=self._stalled)
        self._links.add(link)
        try:
            up_reader, link.upstream = await asyncio.open_connection(*self._target)
        except OSError:
            self._links.discard(link)
            writer.transport.abort()
            return
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, link.upstream)),
            asyncio.create_task(self._pump(link, up_reader, writer)),
        ]

    async def _pump(self, link: _Link, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if link.stalled:
                    continue
                dst.write(data)
                await dst.drain()
            if not link.stalled:
                # A clean close passes through; a stalled link never says goodbye.
                link.abort()
        except (ConnectionError, OSError):
            if not link.stalled:
                link.abort()
        finally:
            if link.client.transport.is_closing():
                self._links.discard(link)

    async def _set_stalled(self, stalled: bool) -> None:
        self._stalled = stalled
        if stalled:
            for link in self._links:
                link.stalled = True
        else:
            for link in [l for l in self._links if l.stalled]:
                link.abort()
                self._links.discard(link)

    def stall(self) -> None:
        self._lt.call(self._set_stalled(True))

    def resume(self) -> None:
        self._lt.call(self._set_stalled(False))

    async def _close(self) -> None:
        self._server.close()
        for link in list(self._links):
            link.abort()
        self._links.clear()
        await asyncio.sleep(0)  # let the cancelled pumps finish before the loop stops

    def close(self) -> None:
        if not self._lt.loop.is_closed():
            self._lt.call(self._close())
            self._lt.stop()


SHELL_BANNER = "shell-only test server: interactive sessions with a PTY only\r\n"


class _ShellOnlySession(asyncssh.SSHServerSession):
    """What RunPod's ssh.runpod.io proxy allows: a PTY shell. No exec, no sftp, no scp."""

    def __init__(self):
        self._chan = None
        self._pty = False
        self._line = ""

    def connection_made(self, chan) -> None:
        self._chan = chan

    def pty_requested(self, term_type, term_size, term_modes) -> bool:
        self._pty = True
        return True

    def shell_requested(self) -> bool:
        return self._pty

    def exec_requested(self, command: str) -> bool:
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        self._chan.write(SHELL_BANNER + "$ ")

    def data_received(self, data: str, datatype) -> None:
        # A terminal in cooked mode: echo what is typed, answer each line.
        for ch in data:
            if ch in "\r\n":
                line, self._line = self._line, ""
                if line.strip() == "exit":
                    self._chan.write("\r\n")
                    self._chan.exit(0)
                    return
                self._chan.write(f"\r\necho: {line}\r\n$ ")
            else:
                self._line += ch
                self._chan.write(ch)

    def eof_received(self) -> bool:
        self._chan.exit(0)
        return False


class _ShellOnlyServer(asyncssh.SSHServer):
    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def session_requested(self):
        return _ShellOnlySession()


def start_shell_only_server(base: Path, authorized_keys: Path) -> tuple[int, str, Callable[[], None]]:
    """An asyncssh server on a free 127.0.0.1 port that takes the keys in `authorized_keys`
    (any user name) and allows only an interactive shell with a PTY; exec and subsystem
    requests are refused, so a client's `conn.run(...)` raises
    `asyncssh.ChannelOpenError` ('Session request failed'). Its host key is written to
    `base`. Returns (port, host public key line `ssh-ed25519 AAAA...`, stop)."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = base / "shell_only_host_key"
    key.write_private_key(str(key_file))
    key_file.chmod(0o600)
    public_line = " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])

    async def listen() -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_factory=_ShellOnlyServer,
            server_host_keys=[key],
            authorized_client_keys=str(authorized_keys),
            allow_scp=False,
        )

    lt = _LoopThread("shell-only-sshd")
    try:
        acceptor = lt.call(listen())
    except BaseException:
        lt.stop()
        raise
    port = acceptor.get_port()

    def stop() -> None:
        if lt.loop.is_closed():
            return

        async def close() -> None:
            acceptor.close()
            await acceptor.wait_closed()

        lt.call(close())
        lt.stop()

    return port, public_line, stop
