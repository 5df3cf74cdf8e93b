"""The SSH test infrastructure of sshd.py works against the OpenSSH installed here: pinned
host keys under an alias, exec, SFTP on and off, sessions killed from the server side, a
proxy whose link goes dead, and the shell-only stand-in for RunPod's proxied SSH."""

import asyncio
import time
from pathlib import Path

import asyncssh
import pytest

from sshd import StallingProxy, SshServer, sshd_available, start_shell_only_server, start_sshd

# Each test starts a real sshd.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sshd_available(), reason="OpenSSH server not installed (apt-get install openssh-server)"),
]

ALIAS = "myalias"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield srv
    srv.stop()


def known_hosts(path: Path, *lines: str) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


async def connect(
    srv: SshServer, known_hosts_file: str, *, port: int | None = None, host_key_alias: str = ALIAS
) -> asyncssh.SSHClientConnection:
    # agent_path and config off: the developer's own agent or ~/.ssh/config must not help.
    return await asyncssh.connect(
        srv.host,
        port or srv.port,
        username=srv.user,
        client_keys=[str(srv.identity_file)],
        known_hosts=known_hosts_file,
        host_key_alias=host_key_alias,
        connect_timeout=10,
        agent_path=None,
        config=[],
        password_auth=False,
        kbdint_auth=False,
    )


async def test_exec_and_sftp_with_pinned_alias(server, tmp_path):
    kh = known_hosts(tmp_path / "known_hosts", server.known_hosts_line(ALIAS))
    async with await connect(server, kh) as conn:
        result = await conn.run("echo hi", timeout=10)
        assert result.exit_status == 0
        assert result.stdout == "hi\n"
        async with conn.start_sftp_client() as sftp:
            names = await sftp.listdir(str(server.base))
        assert "sshd_config" in names and "authorized_keys" in names


async def test_unknown_host_key_is_refused(server, tmp_path):
    kh = known_hosts(tmp_path / "known_hosts")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await connect(server, kh)


async def test_without_sftp_subsystem_sftp_fails(tmp_path):
    srv = start_sshd(tmp_path / "nosftp", sftp=False)
    try:
        kh = known_hosts(tmp_path / "known_hosts", srv.known_hosts_line(ALIAS))
        async with await connect(srv, kh) as conn:
            assert (await conn.run("echo hi", timeout=10)).exit_status == 0
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.start_sftp_client()
    finally:
        srv.stop()


async def test_kill_sessions_drops_open_connection(server, tmp_path):
    kh = known_hosts(tmp_path / "known_hosts", server.known_hosts_line(ALIAS))
    conn = await connect(server, kh)
    try:
        # A finished command proves the session processes exist before they are killed.
        assert (await conn.run("true", timeout=10)).exit_status == 0
        assert server.kill_sessions() >= 1
        await asyncio.wait_for(conn.wait_closed(), 5)
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.run("true", timeout=5)
    finally:
        conn.abort()
    # SIGKILL is delivered, and the dead reaped, a moment after kill() returns
    deadline = time.monotonic() + 5
    while server.session_pids() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert server.session_pids() == []
    # The listener survives: a new connection works.
    async with await connect(server, kh) as conn:
        assert (await conn.run("echo again", timeout=10)).stdout == "again\n"


async def test_stalling_proxy_link_goes_dead_then_new_links_work(server, tmp_path):
    kh = known_hosts(tmp_path / "known_hosts", server.known_hosts_line(ALIAS))
    proxy = StallingProxy(server.host, server.port)
    try:
        conn = await connect(server, kh, port=proxy.port)
        try:
            assert (await conn.run("echo through", timeout=10)).stdout == "through\n"
            proxy.stall()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(conn.run("echo stalled"), 2)
            assert not conn.is_closed()  # silence, not a reset
        finally:
            conn.abort()
        proxy.resume()
        async with await connect(server, kh, port=proxy.port) as conn:
            assert (await conn.run("echo back", timeout=10)).stdout == "back\n"
        assert proxy.connections == 2
    finally:
        proxy.close()


async def test_shell_only_server_refuses_exec_and_sftp_allows_pty_shell(server, tmp_path):
    port, host_line, stop = start_shell_only_server(tmp_path / "shell", server.base / "authorized_keys")
    try:
        kh = known_hosts(tmp_path / "known_hosts", f"{ALIAS} {host_line}")
        async with await connect(server, kh, port=port) as conn:
            # The refused exec request fails the whole session open on the client.
            with pytest.raises(asyncssh.ChannelOpenError, match="Session request failed"):
                await conn.run("echo hi", timeout=5)
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.start_sftp_client()
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.create_process()  # a shell, but without a PTY

            proc = await conn.create_process(term_type="xterm")
            assert "shell-only" in await asyncio.wait_for(proc.stdout.readuntil("$ "), 5)
            proc.stdin.write("hello\n")
            assert "echo: hello" in await asyncio.wait_for(proc.stdout.readuntil("echo: hello"), 5)
            proc.stdin.write("exit\n")
            assert (await asyncio.wait_for(proc.wait(), 5)).exit_status == 0
    finally:
        stop()
