"""`synapse remote hosts|trust|check|launch|attach|fetch`: runs on a GPU host over SSH.

What they do is core.service.remote; this module parses, asks, and prints. A remote run
has a local mirror run directory, so `synapse runs`, `runs show --follow`, `cancel`,
`resume` and the dashboard treat it like any other run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from synapse_tui.cliutil import (
    EXIT_FAILED,
    ConfigOpt,
    DataOpt,
    JsonOpt,
    OverrideOpt,
    RunsDirOpt,
    console,
    print_json,
    progress,
    say,
    tell,
    user_errors,
)
from synapse_tui.formatting import clean

remote_app = typer.Typer(
    help="Run on a GPU host over SSH (RunPod, Lambda, a lab server): host profiles in "
    "~/.config/synapse/hosts.yaml or ./synapse.hosts.yaml, pinned host keys, live mirrors.\n\n"
    "  synapse remote hosts\n"
    "  synapse remote trust h200\n"
    "  synapse remote check h200\n"
    "  synapse remote launch h200 -c configs/transformer_h200.yaml --data sample_data/parts_daily.csv",
    no_args_is_help=True,
)
HostArg = Annotated[
    str, typer.Argument(help="A host profile's name (`synapse remote hosts` lists them).", show_default=False)
]
RunArg = Annotated[str, typer.Argument(help="Run id (unique prefix) or directory.", show_default=False)]


def remote_errors(fn: Callable) -> Callable:
    """A link or host failure (not bad input): one line on stderr, exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from core.service.remote import RemoteError

        try:
            return fn(*args, **kwargs)
        except RemoteError as exc:
            tell(str(exc), "error:", "bold red")
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper


@remote_app.command("hosts")
@user_errors
def hosts_cmd(as_json: JsonOpt = False) -> None:
    """List the host profiles and whether each one's host key is pinned."""
    from core.service import remote

    rows = remote.hosts()
    if as_json:
        print_json(rows)
        return
    if not rows:
        say(
            "no host profiles yet: add one to ~/.config/synapse/hosts.yaml or ./synapse.hosts.yaml "
            "(README, 'Remote GPU runs')"
        )
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("name", "target", "work dir", "auth", "key", "gpu", "from"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            r["target"],
            r["work_dir"],
            r["auth"],
            "pinned" if r["pinned"] else "[yellow]not trusted[/]",
            r["gpu"] or "–",
            f"{r['scope']}: {r['source']}" if r.get("scope") else (r["source"] or ""),
        )
    console.print(table)


@remote_app.command("trust")
@user_errors
@remote_errors
def trust_cmd(
    name: HostArg,
    fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            help="Pin without asking, only if the server's key has exactly this SHA256 fingerprint "
            "(as your provider shows it).",
        ),
    ] = None,
) -> None:
    """Show the server's host key fingerprint and pin it for NAME on an explicit yes.

    Compare the fingerprint with the one your provider shows (RunPod: the pod's logs print
    its SSH host keys) before you answer. A pod restarted on RunPod has a new key: trust it again.
    """
    from core.service import remote

    key = remote.server_key(name)
    say(f"{name} ({key['address']}) presents {key['key'].split()[0]} key {key['fingerprint']}")
    if key["matches"]:
        say(f"already pinned for {key['alias']} in {key['known_hosts']}")
        return
    if key["pinned"]:
        tell(
            f"this is NOT the key pinned for {key['alias']}: the host changed its key (a restarted pod) "
            "or someone is in the middle",
            "warning:",
            "bold yellow",
        )
    if fingerprint is not None:
        if fingerprint.strip() != key["fingerprint"]:
            tell(
                f"the server's fingerprint {key['fingerprint']} is not {fingerprint}; nothing pinned",
                "error:",
                "bold red",
            )
            raise typer.Exit(EXIT_FAILED)
    elif not typer.confirm(f"Pin this key for {name}?", default=False):
        say("nothing pinned")
        raise typer.Exit(EXIT_FAILED)
    path = remote.trust(name, key["key"])
    say(f"pinned for {key['alias']} in {path}")


@remote_app.command("check")
@user_errors
@remote_errors
def check_cmd(name: HostArg, as_json: JsonOpt = False) -> None:
    """Connect and report what the host can do: exec, SFTP, python, torch, CUDA and GPU, disk, clock.

    Exit code 0 for a host ready to launch on, 1 otherwise (shell-only, unreachable, or
    missing what a run needs: python, its venv module, torch, disk).
    """
    from core.service import remote

    out = remote.check(name)
    if as_json:
        print_json(out)
    else:
        for c in out["checks"]:
            mark = "[green]✓[/]" if c["ok"] else "[red]✗[/]"
            console.print(f" {mark} {c['name']:<8} ", end="")
            console.print(clean(c["detail"]), markup=False, highlight=False)  # the host's words: no escapes
        mode = {
            "full": "full SSH (exec and files)",
            "shell-only": "shell-only: a PTY shell but no command execution; launch is refused",
            "unreachable": "unreachable",
            "unusable": "neither commands nor a shell",
        }[out["mode"]]
        if out["mode"] == "full":
            mode += ": ready to launch" if out["ready"] else ", but not ready: it lacks " + "; ".join(out["blocking"])
        say(f"{name}: {mode}")
        if out.get("advice"):
            say(out["advice"])
        if out["missing"]:
            say("missing: " + "; ".join(out["missing"]))
    if not out["ready"]:
        raise typer.Exit(EXIT_FAILED)


@remote_app.command("launch")
@user_errors
@remote_errors
def launch_cmd(
    name: HostArg,
    config: ConfigOpt = None,
    data: DataOpt = None,
    override: OverrideOpt = None,
    runs_dir: RunsDirOpt = None,
    no_follow: Annotated[bool, typer.Option("--no-follow", help="Start no local follower (attach one later).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Launch a run on host NAME: preflight, sync by hash, remote venv, detached worker, local mirror.

    The run appears in `synapse runs` at once and streams live into its mirror; follow it with
    `synapse runs show RUN --follow` or the dashboard.

        synapse remote launch h200 -c configs/transformer_h200.yaml --data sample_data/parts_daily.csv
    """
    from core.service import jobs, remote
    from core.service.configs import job_of_kind

    cfg = jobs.load_job_config(config or "baselines", override, data)
    job = job_of_kind(cfg.model.kind)
    out = remote.launch(name, cfg, job, runs_dir, progress=None if as_json else progress, follow=not no_follow)
    if as_json:
        print_json(out)
        return
    say(f"{out['run_id']}: running on {out['host']} ({out['device']}), pid {out['pid']}, in {out['remote_dir']}")
    say(f"mirror: {out['path']}")
    say(f"watch it: synapse runs show {out['run_id']} --follow")


@remote_app.command("attach")
@user_errors
def attach_cmd(run: RunArg, runs_dir: RunsDirOpt = None) -> None:
    """Restart the local follower of a remote run (after a reboot here, or a changed host key re-trusted)."""
    from core.service import remote
    from core.service.runs import open_run

    out = remote.attach(open_run(run, runs_dir))
    say(
        f"{out['run_id']}: "
        + (
            f"already followed by {out['holder']}"
            if out["already"]
            else f"follower started (pid {out['follower_pid']})"
        )
    )


@remote_app.command("fetch")
@user_errors
@remote_errors
def fetch_cmd(
    run: RunArg,
    runs_dir: RunsDirOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also replace files changed here since they were fetched "
            "(test touches in manifest.json are merged, never lost).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pull a remote run's artifacts into its mirror again (sha256 checked; unchanged files are skipped).

    A file changed here since it was fetched (a local `synapse eval` rewrites report.json) is
    kept, and said so; the mirror's own files (remote.json, follow.json, events.jsonl,
    config.yaml) are never taken from the remote.
    """
    from core.service import remote
    from core.service.runs import open_run

    copied = remote.fetch(open_run(run, runs_dir), progress=None if as_json else progress, force=force)
    if as_json:
        print_json({"fetched": copied})
    else:
        say(f"{len(copied)} file(s) fetched" + (f": {', '.join(copied)}" if copied else " (all up to date)"))
