"""`synapse runs ls|show|compare|rm|reindex|fields`: look at the runs under the runs dir.

Reads only run directories and their index (core.store), never a running engine.
Registered in synapse_tui/cli.py with `app.add_typer(runs_app, name="runs")`.
Heavy modules (numpy, core.metrics) are imported inside the commands.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from core.errors import InputError
from synapse_tui.cliutil import (
    EXIT_FAILED, JsonOpt, RunsDirOpt, console, k_ranges, open_run, print_json, say, tell, user_errors,
)

runs_app = typer.Typer(
    help="List, inspect, compare and remove runs (the run directories under --runs-dir).",
    no_args_is_help=True,
)

RunArg = Annotated[str, typer.Argument(help="Run id (a unique prefix is enough) or run directory.",
                                       show_default=False)]
FOLLOW_POLL_S = 0.5
STATUS_STYLE = {"queued": "dim", "running": "bold cyan", "succeeded": "green", "failed": "bold red",
                "cancelled": "yellow", "lost": "magenta"}


def _root(runs_dir):
    from core.runs import runs_root

    return runs_root(runs_dir)


# --------------------------------------------------------------------------- formatting


def _num(v, digits: int = 3, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _ago(seconds: float | None) -> str:
    """12s, 5m, 3h, 2d, 6w, 2y."""
    if seconds is None:
        return "–"
    s = max(0.0, seconds)
    for unit, size in (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size * (2 if unit in ("y", "w") else 1):
            return f"{int(s // size)}{unit}"
    return f"{int(s)}s"


def _clock(seconds: float | None) -> str:
    """0:42, 12:34, 1:02:03."""
    if seconds is None:
        return "–"
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _age(row: dict, now: datetime) -> float | None:
    from core.runs import parse_ts

    created = parse_ts(row.get("created"))
    return None if created is None else (now - created).total_seconds()


def _beats(row: dict) -> str:
    b = row.get("beats_reference")
    if b is None:
        return "–"
    if not b:
        return "no"
    return k_ranges(row.get("beats_at") or []) or "yes"


def _verdict(v: str | None) -> Text:
    if not v:
        return Text("–", style="dim")
    return Text(v, style="green" if v == "APPROVED" else "red")


def _status(s: str | None) -> Text:
    return Text(s or "?", style=STATUS_STYLE.get(s or "", ""))


# --------------------------------------------------------------------------- ls


@runs_app.command("ls")
@user_errors
def ls_cmd(
    status: Annotated[Optional[list[str]], typer.Option(
        "--status", "-s", help="Only these statuses (repeatable or comma list): queued, running, succeeded, "
        "failed, cancelled, lost.")] = None,
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", "-m", help="Only these model kinds (repeatable or comma list), e.g. gru,lstm.")] = None,
    where: Annotated[Optional[str], typer.Option(
        "--where", "-w", help="Filter, e.g. 'ece<0.05 and model=gru', 'status=running or status=queued', "
        "'brier_skill>0 and not beats', 'name~gru', 'age<1d'. Fields: `synapse runs fields`.")] = None,
    sort: Annotated[str, typer.Option(
        "--sort", help="Sort by a field (ece, good, k, created, ...); a leading '-' sorts descending: "
        "--sort=-good.")] = "-created",
    asc: Annotated[bool, typer.Option("--asc", help="Ascending order (oldest first by default sort).")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Show at most N runs.")] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first, with their live status and headline metrics.

        synapse runs ls --where 'ece<0.05 and model=gru' --sort=-good --limit 10
    """
    from core.query import parse
    from core.store import Store

    query = None if where is None else parse(where, label="--where")
    descending = sort.startswith("-")
    field = sort[1:] if descending else sort
    if asc:
        descending = False
    root = _root(runs_dir)
    rows = Store(root).rows(query=query, status=status, model=model, sort=field, descending=descending,
                            limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        filtered = any(x is not None for x in (status, model, where))
        tell(f"no runs match in {root}" if filtered else
             f"no runs in {root} yet — start one with `synapse baselines` or `synapse train -c configs/gru.yaml`",
             "", "", stderr=True)
        return
    console.print(runs_table(rows))


# Columns of `runs ls`: (header, justify, priority). With less width than they need,
# the lowest priorities go first (the run id, status and the headline metrics stay).
_LS_COLUMNS = (
    ("run", "left", 0), ("model", "left", 2), ("status", "left", 1), ("#", "right", 9), ("age", "right", 6),
    ("took", "right", 7), ("ECE", "right", 3), ("B.skill", "right", 5), ("good+@K", "right", 3),
    ("beats", "left", 8), ("verdict", "left", 4),
)


def runs_table(rows: list[dict], now: datetime | None = None, width: int | None = None) -> Table:
    """The compact table of `runs ls` (all columns fit 100; narrower drops the least important)."""
    now = now or datetime.now(timezone.utc)
    width = width or console.width
    cells = []
    for r in rows:
        good = "–" if r.get("best_good_or_better") is None else f"{r['best_good_or_better']:.3f}@{r.get('best_k')}"
        cells.append([
            r["run_id"], r.get("model") or "–", _status(r.get("status")), str(r.get("attempt") or "–"),
            _ago(_age(r, now)), _clock(r.get("duration_s")), _num(r.get("ece_after")),
            _num(r.get("brier_skill"), 4, signed=True), good, _beats(r), _verdict(r.get("verdict")),
        ])
    need = [max([len(h)] + [len(str(c[i])) for c in cells]) + 1 for i, (h, _, _) in enumerate(_LS_COLUMNS)]
    keep = list(range(len(_LS_COLUMNS)))
    for i in sorted(keep, key=lambda i: -_LS_COLUMNS[i][2]):
        if sum(need[j] for j in keep) <= width or _LS_COLUMNS[i][2] <= 1:
            break
        keep.remove(i)
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold", show_edge=False)
    for i in keep:
        header, justify, _ = _LS_COLUMNS[i]
        table.add_column(header, justify=justify, no_wrap=True, overflow="ellipsis",
                         min_width=need[i] - 1 if header == "run" else None)
    for c in cells:
        table.add_row(*[c[i] for i in keep])
    return table


@runs_app.command("fields")
def fields_cmd(as_json: JsonOpt = False) -> None:
    """The fields `--where` and `--sort` understand, with their aliases."""
    from core.query import field_help

    items = field_help()
    if as_json:
        print_json(items)
        return
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for col in ("field", "type", "aliases", "meaning"):
        table.add_column(col)
    for f in items:
        table.add_row(f["name"], f["type"], ", ".join(f["aliases"]), f["help"])
    console.print(table)
    say("operators: = != < <= > >= ~ (contains) !~ ; combine with and, or, not and parentheses; "
        "text is case-insensitive, =gr* is a glob; durations take s/m/h/d/w; field=null finds missing values")


# --------------------------------------------------------------------------- show


def _load_report(rd) -> dict | None:
    try:
        rep = rd.read_json("report.json", default=None)
    except InputError:
        return None
    return rep if isinstance(rep, dict) else None


def _artifacts(rd) -> list[dict]:
    out = []
    for p in sorted(rd.path.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        out.append({"name": p.name, "path": str(p), "bytes": p.stat().st_size})
    return out


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _epoch_line(e: dict) -> str:
    parts = [f"epoch {e.get('epoch', '?'):>3}"]
    if "fold" in e:
        parts.append(f"fold {e['fold']}")
    for key, label in (("train_loss", "train"), ("val_loss", "val"), ("val_auc", "val AUC")):
        if isinstance(e.get(key), (int, float)):
            parts.append(f"{label} {e[key]:.5f}" if "loss" in key else f"{label} {e[key]:.4f}")
    if isinstance(e.get("lr"), (int, float)):
        parts.append(f"lr {e['lr']:.2g}")
    if isinstance(e.get("seconds"), (int, float)):
        parts.append(f"{e['seconds']:.1f}s")
    if e.get("improved"):
        parts.append("▲ best")
    return "  ".join(parts)


def _scalar_metrics(report: dict) -> dict:
    """Per-model headline test metrics (no per-part arrays) for --json."""
    out = {}
    for name, m in (report.get("models") or {}).items():
        t = m.get("test") or {}
        g = t.get("good_or_better") or {}
        out[name] = {
            "role": m.get("role"), "calibration": (m.get("calibration") or {}).get("name"),
            **{k: t.get(k) for k in ("auc_macro", "pr_auc_macro", "brier", "brier_skill", "ece_raw", "ece",
                                     "classwise_ece", "lift_capture")},
            "good_or_better": {"ks": report.get("ks"), "rate": g.get("rate"), "ci_low": g.get("ci_low"),
                               "ci_high": g.get("ci_high"), "random": g.get("random")},
        }
    return out


def show_data(rd, row: dict) -> dict:
    man = rd.read_json("manifest.json", default={}) if rd.manifest_json.exists() else {}
    report = _load_report(rd) or {}
    events = rd.read_events()
    return {
        "run": row,
        "manifest": {k: v for k, v in (man or {}).items() if k != "test_touches"},
        "summary": report.get("summary"),
        "verdict": report.get("verdict"),
        "comparison": report.get("comparison"),
        "metrics": _scalar_metrics(report) if report else {},
        "epochs": [e for e in events if e.get("type") == "epoch"],
        "artifacts": _artifacts(rd),
        "test_touches": (man or {}).get("test_touches", []),
        "log": [e for e in events if e.get("type") == "log" and e.get("level") in ("warning", "error")][-5:],
    }


def _f(v, digits: int = 4) -> str:
    return _num(v, digits) if v is None or isinstance(v, (int, float)) else str(v)


def _print_show(d: dict) -> None:
    r, man = d["run"], d["manifest"]
    now = datetime.now(timezone.utc)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("run", r["run_id"])
    model = f"{r.get('model') or '?'} ({r.get('job') or '?'} job)"
    if r.get("primary"):
        model += f" · primary {r['primary']} judged against {r.get('reference')}"
    head.add_row("model", model)
    st = Text.assemble(_status(r.get("status")), f" · attempt {r.get('attempt') or 0}")
    if r.get("duration_s") is not None:
        st.append(f" · took {_clock(r['duration_s'])}")
    if r.get("epochs"):
        st.append(f" · {r['epochs']} epochs")
        if r.get("best_val_loss") is not None:
            st.append(f", best val loss {r['best_val_loss']:.5f}")
    head.add_row("status", st)
    when = f"created {(r.get('created') or '?')[:19].replace('T', ' ')} UTC ({_ago(_age(r, now))} ago)"
    if r.get("finished"):
        when += f" · finished {r['finished'][:19].replace('T', ' ')}"
    head.add_row("when", when)
    head.add_row("where", f"{r.get('host') or '?'} · {r.get('device') or '?'}")
    data = man.get("data") or {}
    if data:
        head.add_row("data", f"{data.get('path')} · {data.get('rows')} days x {data.get('parts')} parts · "
                     f"sha256 {str(data.get('sha256'))[:12]}")
    split = (man.get("splits") or [{}])[-1]
    if split:
        parts = [f"{p} {split[p]['n']}" for p in ("train", "val") if p in split]
        if "test" in split:
            te = split["test"]
            parts.append(f"test {te['n']} days ({te['first_date']}..{te['last_date']})")
        folds = len(man.get("splits") or [])
        head.add_row("split", " · ".join(parts) + (f" · last of {folds} folds" if folds > 1 else ""))
    head.add_row("config", f"hash {r.get('config_hash') or '?'}")
    if r.get("error"):
        head.add_row("error", Text(r["error"], style="red"))
    console.print(head)

    v = d.get("verdict")
    if v:
        color = "green" if v["status"] == "APPROVED" else "red"
        console.print(Text.assemble("verdict: ", (v["status"], color),
                                    (f" (failing: {', '.join(v['failed'])})" if v.get("failed") else "")))
        for c in v.get("criteria", []):
            value = c.get("value")
            shown = k_ranges(value) if isinstance(value, list) else (_f(value) if isinstance(value, float) else value)
            console.print(Text(f"  {'✓' if c['ok'] else '✗'} {c['rule']}" + (f" — {shown}" if shown not in (None, "")
                                                                              else "")))
    metrics = d.get("metrics") or {}
    summary = d.get("summary") or {}
    if metrics:
        ks = None
        _heading("test window, every scorer (* primary, ref: its reference)")
        t = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        for col in ("scorer", "calibration", "AUC", "PR-AUC", "B.skill", "ECE raw→cal", "cw ECE", "best good+",
                    "lift"):
            t.add_column(col, justify="left" if col in ("scorer", "calibration") else "right", no_wrap=True)
        for name, m in metrics.items():
            g = m["good_or_better"]
            ks = g["ks"]
            rates = g.get("rate") or []
            j = max(range(len(rates)), key=lambda i: rates[i]) if rates else None
            mark = " *" if name == summary.get("primary") else (" ref" if name == summary.get("reference") else "")
            t.add_row(name + mark, str(m["calibration"]), _f(m["auc_macro"], 3), _f(m["pr_auc_macro"], 3),
                      _f(m["brier_skill"], 4), f"{_f(m['ece_raw'], 3)}→{_f(m['ece'], 3)}", _f(m["classwise_ece"], 3),
                      "–" if j is None else f"{rates[j]:.3f} @{ks[j]}", _f(m["lift_capture"], 2),
                      style="bold" if name == summary.get("primary") else "")
        console.print(t)
        primary = summary.get("primary")
        if primary in metrics:
            console.print(_tier_table(primary, metrics, summary.get("reference"), d.get("comparison")))
    if d["epochs"]:
        last = d["epochs"][-1]
        say(f"training: {len(d['epochs'])} epoch events; last: {_epoch_line(last)}")
    for e in d.get("log") or []:
        tell(str(e.get("message", "")).strip().splitlines()[-1] if e.get("message") else "",
             f"{e.get('level')}:", "yellow" if e.get("level") == "warning" else "red", stderr=False)
    touches = d.get("test_touches") or []
    say(f"test window touched {len(touches)} time(s)")
    for tt in touches:
        say(f"  {str(tt.get('ts', '?'))[:19].replace('T', ' ')}  {tt.get('what', '')}")
    arts = d.get("artifacts") or []
    if arts:
        say(f"artifacts in {r['path']}:")
        at = Table.grid(padding=(0, 2))
        at.add_column()
        at.add_column(justify="right", style="dim")
        for a in arts:
            at.add_row("  " + a["name"], _size(a["bytes"]))
        console.print(at)


def _tier_table(primary: str, metrics: dict, reference: str | None, comparison: dict | None) -> Table:
    g = metrics[primary]["good_or_better"]
    ks = g["ks"] or []
    _heading(f"good-or-better@K (test): {primary}" + (f" vs {reference}" if reference else ""))
    t = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    t.add_column("K", justify="right")
    t.add_column(primary, justify="right")
    t.add_column("95% interval", justify="right")
    ref = metrics.get(reference) if reference and reference != primary else None
    if ref:
        t.add_column(reference, justify="right")
    t.add_column("random", justify="right")
    if comparison:
        t.add_column("p (Holm)", justify="right")
    for j, k in enumerate(ks):
        cells = [str(k), _num(g["rate"][j]), f"[{_num(g['ci_low'][j])}, {_num(g['ci_high'][j])}]"]
        if ref:
            cells.append(_num((ref["good_or_better"]["rate"] or [None] * len(ks))[j]))
        cells.append(_num((g.get("random") or [None] * len(ks))[j]))
        style = ""
        if comparison:
            p = (comparison.get("p_holm") or [None] * len(ks))[j]
            cells.append("–" if p is None else f"{p:.2g}")
            if k in (comparison.get("beats_at") or []):
                style = "green"
            elif k in (comparison.get("worse_at") or []):
                style = "red"
        t.add_row(*cells, style=style)
    return t


@runs_app.command("show")
@user_errors
def show_cmd(
    run: RunArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new epochs live until the run finishes.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: summary, metric tables, training, test touches and artifact paths.

    With --follow, print each new epoch as it is logged and stop when the run finishes
    (exit 1 if it failed, was cancelled or was lost); with --json, one JSON event a line.
    """
    from core.store import Store, read_run

    rd = open_run(run, runs_dir)
    if follow:
        final = _follow(rd, as_json)
        if not as_json:
            console.print()
    in_root = rd.path.parent.resolve() == _root(runs_dir).resolve()
    row = Store(rd.path.parent).upsert(rd) if in_root else None
    if row is None:
        from core.store import _public

        row = _public(read_run(rd), rd.path.parent)
    if follow:
        if not as_json:
            _print_show(show_data(rd, row))
        if final not in ("succeeded",):
            raise typer.Exit(EXIT_FAILED)
        return
    d = show_data(rd, row)
    if as_json:
        print_json(d)
    else:
        _print_show(d)


def _follow(rd, as_json: bool) -> str:
    """Print events as they come; returns the final status."""
    from core.runs import status_of

    reader = rd.event_reader()
    last_status_check = 0.0
    finished: str | None = None
    if not as_json:
        say(f"following {rd.run_id} (Ctrl-C stops following; the run goes on)")
    try:
        while True:
            for e in reader.read_new():
                t = e.get("type")
                if t == "run_started":
                    finished = None  # a new attempt: what ended the previous one no longer counts
                elif t == "run_finished":
                    finished = e.get("status") or "failed"
                if as_json:
                    if t in ("epoch", "run_started", "run_finished", "calibrated", "evaluated", "log", "queued"):
                        print(json.dumps(e), flush=True)
                    continue
                if t == "epoch":
                    say(_epoch_line(e))
                elif t == "run_started":
                    say(f"attempt {e.get('attempt')} started on {e.get('host')} ({e.get('device')})")
                elif t == "calibrated":
                    say(f"calibrated {e.get('model', '')}: {e.get('method')}, ECE {_num(e.get('ece_before'))} → "
                        f"{_num(e.get('ece_after'))}")
                elif t == "log" and e.get("level") in ("warning", "error"):
                    msg = str(e.get("message", "")).strip().splitlines()
                    tell(msg[-1] if msg else "", f"{e.get('level')}:", "yellow", stderr=False)
                elif t == "run_finished":
                    tell(f"run {finished}" + (f": {e.get('error')}" if e.get("error") else ""), "■",
                         STATUS_STYLE.get(finished, ""), stderr=False)
            if finished is not None:
                return finished
            now = time.monotonic()
            if now - last_status_check >= 2.0:
                last_status_check = now
                st = status_of(rd)
                if st.status == "lost":
                    if as_json:
                        print(json.dumps({"type": "status", "status": "lost"}), flush=True)
                    else:
                        tell("run is lost: its worker is gone without finishing (`synapse resume` continues it)",
                             "■", "magenta", stderr=False)
                    return "lost"
                if st.done:  # finished while we read (a torn last line we have not seen yet)
                    return st.status
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        if not as_json:
            say("stopped following; the run goes on")
        raise typer.Exit(0) from None


# --------------------------------------------------------------------------- compare


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):  # an empty section adds no keys
                out.update(_flatten(v, key))
            else:
                out[key] = v
    else:
        out[prefix or "(config)"] = obj
    return out


_MISSING = object()


def _fmt_value(v: Any) -> str:
    if v is _MISSING:
        return "(absent)"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    if v is None:
        return "null"
    return str(v)


def config_diff(configs: list[dict]) -> dict[str, list]:
    """Dotted keys whose values differ between the configs: {key: [value per config]}."""
    flats = [_flatten(c or {}) for c in configs]
    keys = sorted(set().union(*flats)) if flats else []
    out = {}
    for k in keys:
        vals = [f.get(k, _MISSING) for f in flats]
        if any(json.dumps(v, sort_keys=True, default=str) != json.dumps(vals[0], sort_keys=True, default=str)
               or (v is _MISSING) != (vals[0] is _MISSING) for v in vals[1:]):
            out[k] = vals
    return out


# (label, row key, digits, better: +1 higher, -1 lower, 0 not ranked)
_SUMMARY_ROWS = (
    ("model", "model", None, 0), ("job", "job", None, 0), ("status", "status", None, 0),
    ("primary", "primary", None, 0), ("reference", "reference", None, 0),
    ("calibration", "calibration", None, 0), ("AUC", "auc", 4, 1), ("PR-AUC", "pr_auc", 4, 1),
    ("Brier skill", "brier_skill", 4, 1), ("ECE before", "ece_before", 4, -1), ("ECE after", "ece_after", 4, -1),
    ("classwise ECE", "classwise_ece", 4, -1), ("best good+", "best_good_or_better", 3, 1),
    ("best K", "best_k", None, 0), ("lift capture", "lift_capture", 3, 1),
    ("beats reference", "beats", None, 0), ("verdict", "verdict", None, 0),
    ("best val loss", "best_val_loss", 5, -1), ("epochs", "epochs", None, 0), ("took", "took", None, 0),
    ("test touches", "test_touches", None, 0), ("test window", "test_window", None, 0),
    ("test days", "test_days", None, 0),
)


def _heading(text: str) -> None:
    console.print(Text(text, style="bold"), soft_wrap=True)


def _paired(a: dict, b: dict, ks: list[int], tiers: dict | None, good_tier: str) -> dict:
    from core.metrics import compare, day_indicators

    ia = day_indicators(a["y"], a["p"], ks, tiers, good_tier)
    ib = day_indicators(b["y"], b["p"], ks, tiers, good_tier)
    return compare(ia, ib, ks)


def _load_predictions(rd, report: dict | None) -> dict:
    """{'p', 'y', 'dates', 'primary'} of a run's test window, or {'missing': reason}."""
    import numpy as np

    if not rd.predictions_npz.exists():
        return {"missing": "no predictions.npz (the run has not been evaluated)"}
    try:
        with np.load(rd.predictions_npz, allow_pickle=False) as z:
            primary = str(z["primary"]) if "primary" in z.files else ""
            primary = primary or (report or {}).get("primary") or ""
            key = f"{primary}__prob_test"
            if not primary or key not in z.files:
                return {"missing": f"predictions.npz has no {key!r}"}
            return {"p": z[key].astype(np.float64), "y": z["y_test"].astype(bool),
                    "dates": z["dates_test"].astype("datetime64[D]"), "primary": primary}
    except (OSError, ValueError, KeyError) as exc:
        return {"missing": f"predictions.npz unreadable: {exc}"}


def _window(pred: dict) -> str:
    d = pred["dates"]
    return f"{d[0]}..{d[-1]} ({len(d)} days)" if len(d) else "(empty)"


def _record_touch(rd, what: str) -> None:
    """Append to manifest.json's test_touches (DESIGN.md 4: every look at the test window counts)."""
    from core.runs import utc_now_ts

    man = rd.read_json("manifest.json", default=None)
    if not isinstance(man, dict):
        return
    man.setdefault("test_touches", []).append({"ts": utc_now_ts(), "what": what})
    rd.write_json("manifest.json", man)


@runs_app.command("compare")
@user_errors
def compare_cmd(
    runs: Annotated[list[str], typer.Argument(help="Two or more runs (unique id prefixes or directories); "
                                              "the first is compared with each of the others.", show_default=False)],
    paired: Annotated[bool, typer.Option("--paired/--no-paired", help="Run the paired McNemar + Holm test of the "
                                         "primaries on the shared test days (a test touch, recorded).")] = True,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare runs: config differences, metrics side by side, and a paired test on the same days.

    Shows the config keys whose values differ, the summary metrics side by side, good-or-better
    per K of each run, and the paired McNemar + Holm test of the first run's primary against each
    other run's on the SAME test days (refused when the test windows differ).

        synapse runs compare 20261122-0345 20261122-0351
    """
    if len(runs) < 2:
        raise InputError("compare needs at least two runs")
    rds = [open_run(r, runs_dir) for r in runs]
    ids = [rd.run_id for rd in rds]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise InputError(f"run {sorted(dup)[0]} is given twice")
    c = _gather(rds, _root(runs_dir))
    # The same-days check comes before any output: a refusal prints nothing else.
    c["tests"] = _paired_tests(c) if paired else []
    if any("skipped" not in t for t in c["tests"]):
        _record_touches(c)
    if as_json:
        print_json(_compare_json(c))
    else:
        _print_compare(c)


def _gather(rds: list, root) -> dict:
    """Everything compare shows, read from the run directories."""
    from core.store import Store, _public, _read_yaml, read_run

    store = Store(root)
    rows = []
    for rd in rds:
        row = store.upsert(rd) if rd.path.parent.resolve() == root.resolve() else None
        rows.append(row if row is not None else _public(read_run(rd), rd.path.parent))
    reports = [_load_report(rd) for rd in rds]
    cfgs = [_read_yaml(rd.config_yaml) for rd in rds]
    labels = [chr(ord("A") + i) if i < 26 else f"R{i}" for i in range(len(rds))]
    return {"rds": rds, "ids": [rd.run_id for rd in rds], "labels": labels, "rows": rows, "reports": reports,
            "cfgs": [cfg if isinstance(cfg, dict) else {} for cfg in cfgs],
            "preds": [_load_predictions(rd, rep) for rd, rep in zip(rds, reports)]}


def _paired_tests(c: dict) -> list[dict]:
    """The first run's primary against each other's on the same test days; refuses different windows."""
    import numpy as np

    ids, labels, preds, rows = c["ids"], c["labels"], c["preds"], c["rows"]
    a = preds[0]
    if "missing" in a:
        raise InputError(f"{ids[0]}: {a['missing']}; nothing to test the others against (or pass --no-paired)")
    for i, b in enumerate(preds[1:], start=1):
        if "missing" in b:
            continue
        if not np.array_equal(a["dates"], b["dates"]):
            raise InputError(
                f"cannot pair {ids[0]} with {ids[i]}: their test windows differ — {labels[0]} tests "
                f"{_window(a)}, {labels[i]} tests {_window(b)}; the paired test needs the same days "
                "(pass --no-paired to compare without it)")
        if a["y"].shape != b["y"].shape or not np.array_equal(a["y"], b["y"]):
            raise InputError(
                f"cannot pair {ids[0]} with {ids[i]}: same test days but different outcomes (data "
                f"{str(rows[0].get('data_sha256'))[:12]} vs {str(rows[i].get('data_sha256'))[:12]}); "
                "the paired test needs the same data")
    rep0 = c["reports"][0] or {}
    ks = [int(k) for k in (rep0.get("ks") or range(20, 28))]
    tiers, good_tier = rep0.get("tiers"), rep0.get("good_tier", "good")
    tests = []
    for i, b in enumerate(preds[1:], start=1):
        if "missing" in b:
            tests.append({"run": ids[i], "skipped": b["missing"]})
        else:
            tests.append({"run": ids[i], "a": a["primary"], "b": b["primary"], "window": _window(a),
                          **_paired(a, b, ks, tiers, good_tier)})
    return tests


def _record_touches(c: dict) -> None:
    done = [t["run"] for t in c["tests"] if "skipped" not in t]
    first = c["rds"][0]
    what = "runs compare: paired McNemar+Holm of good-or-better@K, {} vs {}"
    _record_touch(first, what.format(first.run_id, ", ".join(done)))
    for rd in c["rds"][1:]:
        if rd.run_id in done:
            _record_touch(rd, what.format(rd.run_id, first.run_id))


_JSON_SUMMARY = ("model", "job", "status", "primary", "reference", "calibration", "auc", "pr_auc", "brier_skill",
                 "ece_before", "ece_after", "classwise_ece", "best_good_or_better", "best_k", "lift_capture",
                 "beats_reference", "beats_at", "verdict", "best_val_loss", "epochs", "duration_s", "test_touches")


def _compare_json(c: dict) -> dict:
    diff = config_diff(c["cfgs"])
    gob = _good_per_k(c["reports"])
    return {
        "runs": [{"label": lab, "run_id": i, "path": r["path"]} for lab, i, r in zip(c["labels"], c["ids"], c["rows"])],
        "config_diff": {k: [None if v is _MISSING else v for v in vals] for k, vals in diff.items()},
        "summary": {i: {k: row.get(k) for k in _JSON_SUMMARY} for i, row in zip(c["ids"], c["rows"])},
        "good_or_better": {"ks": gob["ks"], "rates": dict(zip(c["ids"], gob["rates"])), "random": gob["random"]},
        "paired": c["tests"],
    }


def _print_compare(c: dict) -> None:
    ids, labels, rows, tests = c["ids"], c["labels"], c["rows"], c["tests"]
    for lab, i, row in zip(labels, ids, rows):
        console.print(Text.assemble((f"{lab} ", "bold"), i, (f"  {row.get('model') or '?'} · ", "dim"),
                                    _status(row.get("status"))))
    console.print()
    diff = config_diff(c["cfgs"])
    _heading("config differences" if diff else "configs: identical")
    if diff:
        ct = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        ct.add_column("key", no_wrap=True)
        for lab in labels:
            ct.add_column(lab, overflow="fold")
        for k, vals in diff.items():
            ct.add_row(k, *[_fmt_value(v) for v in vals])
        console.print(ct)
    console.print()
    _heading("summary (test window)")
    summary = [_summary_cells(row, pred) for row, pred in zip(rows, c["preds"])]
    st = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    st.add_column("", no_wrap=True, min_width=max(len(r[0]) for r in _SUMMARY_ROWS))
    for lab in labels:
        st.add_column(lab, justify="right", no_wrap=True)
    for label, key, digits, better in _SUMMARY_ROWS:
        vals = [cells[key] for cells in summary]
        st.add_row(label, *_ranked_cells(vals, digits, better))
    console.print(st)
    gob = _good_per_k(c["reports"])
    if gob["ks"]:
        console.print()
        _heading("good-or-better@K of each run's primary (test)")
        gt = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        gt.add_column("K", justify="right")
        for lab in labels:
            gt.add_column(lab, justify="right")
        gt.add_column("random", justify="right", style="dim")
        for j, k in enumerate(gob["ks"]):
            gt.add_row(str(k), *_ranked_cells([rates[j] for rates in gob["rates"]], 3, 1), _num(gob["random"][j]))
        console.print(gt)
    for t in tests:
        console.print()
        if "skipped" in t:
            tell(f"paired test A vs {labels[ids.index(t['run'])]} skipped: {t['skipped']}", "note:", "yellow",
                 stderr=False)
        else:
            _print_paired(t, labels[0], labels[ids.index(t["run"])])
    if any("skipped" not in t for t in tests):
        say("(the paired test is a look at the test window: recorded in each run's manifest test_touches)")


def _ranked_cells(vals: list, digits: int | None, better: int) -> list[Text]:
    """Cells of one row, the best number in bold (better: +1 higher, -1 lower, 0 none)."""
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    best = (max(nums) if better > 0 else min(nums)) if better and len(nums) > 1 else None
    out = []
    for v in vals:
        numeric = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        text = _num(v, digits) if digits is not None and numeric else ("–" if v is None else str(v))
        out.append(Text(text, style="bold" if best is not None and v == best else ""))
    return out


def _summary_cells(row: dict, pred: dict) -> dict:
    cells = dict(row)
    cells["beats"] = _beats(row)
    cells["took"] = _clock(row.get("duration_s"))
    d = pred.get("dates")
    cells["test_window"] = f"{d[0]}..{d[-1]}" if d is not None and len(d) else "–"
    cells["test_days"] = len(d) if d is not None else None
    return cells


def _good_per_k(reports: list[dict | None]) -> dict:
    """Union of Ks over the runs; each run's primary test rate per K (None where not evaluated)."""
    per_run = []
    ks_all: set[int] = set()
    random: dict[int, float] = {}
    for rep in reports:
        m = {}
        if rep and rep.get("primary") in (rep.get("models") or {}):
            g = rep["models"][rep["primary"]]["test"]["good_or_better"]
            for k, rate, rnd in zip(rep["ks"], g["rate"], g.get("random") or [None] * len(rep["ks"])):
                m[int(k)] = rate
                if rnd is not None:
                    random.setdefault(int(k), rnd)
        per_run.append(m)
        ks_all |= set(m)
    ks = sorted(ks_all)
    return {"ks": ks, "rates": [[m.get(k) for k in ks] for m in per_run], "random": [random.get(k) for k in ks]}


def _print_paired(t: dict, la: str, lb: str) -> None:
    _heading(f"paired test {la} ({t['a']}) vs {lb} ({t['b']}) on the same {t['window']}")
    say("exact McNemar per K on the good-or-better indicator, Holm-adjusted across K")
    pt = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    for col in ("K", la, lb, f"{la} only", f"{lb} only", "p", "p Holm", ""):
        pt.add_column(col, justify="right" if col else "left")
    for j, k in enumerate(t["ks"]):
        mark, style = "", ""
        if k in t["beats_at"]:
            mark, style = f"{la} better", "green"
        elif k in t["worse_at"]:
            mark, style = f"{lb} better", "red"
        pt.add_row(str(k), _num(t["model_rate"][j]), _num(t["base_rate"][j]), str(t["model_only"][j]),
                   str(t["base_only"][j]), f"{t['p_value'][j]:.2g}", f"{t['p_holm'][j]:.2g}", mark, style=style)
    console.print(pt)
    if t["beats_at"]:
        verdict = f"{la} beats {lb} at K {k_ranges(t['beats_at'])} (Holm-adjusted p < {t['alpha']})"
    elif t["worse_at"]:
        verdict = f"{lb} beats {la} at K {k_ranges(t['worse_at'])} (Holm-adjusted p < {t['alpha']})"
    else:
        verdict = f"no significant difference at any K (Holm-adjusted p >= {t['alpha']})"
    say(verdict)


# --------------------------------------------------------------------------- rm, reindex


@runs_app.command("rm")
@user_errors
def rm_cmd(
    runs: Annotated[list[str], typer.Argument(help="Runs to delete (unique id prefixes or directories).",
                                              show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete run directories (asks first unless --yes).

    Running or queued runs are refused: `synapse cancel RUN` first.
    """
    import shutil

    from core.runs import status_of
    from core.store import Store

    rds = []
    for ref in runs:
        rd = open_run(ref, runs_dir)
        if rd.run_id not in {r.run_id for r in rds}:
            rds.append(rd)
    statuses = {rd.run_id: status_of(rd) for rd in rds}
    active = [rd for rd in rds if statuses[rd.run_id].active]
    if active:
        rd = active[0]
        raise InputError(f"run {rd.run_id} is {statuses[rd.run_id].status}: cancel it first "
                         f"(`synapse cancel {rd.run_id}`); nothing was deleted")
    if not yes:
        for rd in rds:
            say(f"  {rd.run_id}  {statuses[rd.run_id].status}  {rd.path}")
        if not typer.confirm(f"Delete {len(rds)} run director{'y' if len(rds) == 1 else 'ies'}?", default=False):
            tell("nothing deleted", "", "", stderr=True)
            raise typer.Exit(EXIT_FAILED)
    root = _root(runs_dir)
    store = Store(root)
    removed = []
    for rd in rds:
        # Out of every listing at once (a rename), then deleted at leisure.
        trash = rd.path.with_name(f".deleting-{rd.run_id}")
        try:
            rd.path.rename(trash)
        except OSError as exc:
            raise InputError(f"cannot delete: {exc.strerror or exc}", path=rd.path) from None
        shutil.rmtree(trash, ignore_errors=True)
        if rd.path.parent.resolve() == root.resolve():
            store.remove(rd.run_id)
        removed.append(rd.run_id)
        if not as_json:
            say(f"deleted {rd.run_id}")
    if as_json:
        print_json({"removed": removed})


@runs_app.command("reindex")
@user_errors
def reindex_cmd(runs_dir: RunsDirOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the run index (runs/index.sqlite) from the run directories.

    The index is only a cache: it is also rebuilt on its own when missing or corrupt.
    """
    from core.store import Store

    root = _root(runs_dir)
    if not root.is_dir():
        raise InputError(f"no runs directory at {root}")
    store = Store(root)
    t0 = time.perf_counter()
    n = store.reindex()
    seconds = time.perf_counter() - t0
    where = "memory (the runs dir is not writable)" if store.in_memory else str(store.path)
    if as_json:
        print_json({"runs": n, "seconds": seconds, "index": where})
    else:
        say(f"indexed {n} run(s) in {seconds:.2f} s → {where}")


__all__ = ["runs_app", "runs_table", "config_diff"]
