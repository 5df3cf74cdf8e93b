"""Looking at runs: open one, list and filter them, one run's view, follow, delete, reindex;
the user's tags, note and archived flag (core.runs.annotations) and the test-touch record.

Plain data in, plain data out; reads only run directories and the index (core.store).
The CLI (`synapse runs ...`) and the dashboard both call these. The index (sqlite3, yaml)
is imported by the functions that use it, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from core.errors import InputError
from core.runs import RunDir, is_run_id, runs_root, status_of
from core.runs.layout import load_json_file, misnamed_run_dirs

# The events `follow_run` hands on: what a person watching a run wants to see.
FOLLOWED_EVENTS = ("epoch", "run_started", "run_finished", "calibrated", "evaluated", "log", "queued")
FOLLOW_POLL_S = 0.5
LOG_TAIL = 5
WORKER_LOG_LINES = 200  # the last lines of worker.log a run's screen shows
WORKER_LOG_MAX_BYTES = 256 * 1024  # read from the end of worker.log, never more than this
GONE = "gone"  # `follow_run`'s final item when the run directory was deleted while followed


def open_run(ref: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> RunDir:
    """A run by its directory, or by its id (a unique prefix is enough) under the runs root."""
    p = Path(ref)
    if p.is_dir() and is_run_id(p.name):
        return RunDir(p)
    return RunDir.open(runs_root(runs_dir), str(ref))


def open_runs(refs: list[str], runs_dir: str | os.PathLike | None = None) -> list[RunDir]:
    """`open_run` of each, each run once (in the order first given)."""
    out: list[RunDir] = []
    for ref in refs:
        rd = open_run(ref, runs_dir)
        if rd.run_id not in {r.run_id for r in out}:
            out.append(rd)
    return out


def list_runs(
    root: str | os.PathLike,
    *,
    where: str | None = None,
    status=None,
    model=None,
    sort: str = "-created",
    ascending: bool = False,
    limit: int | None = None,
    archived: bool | None = False,
    tags: list[str] | None = None,
) -> list[dict]:
    """Index rows of the runs under `root`, filtered and sorted.

    `where` is a filter of the query grammar (`ece<0.05 and model=gru`, or on config keys:
    `train.lr<0.01 and model.hidden=64`); `sort` a field or config key, a leading '-'
    sorting descending (`ascending` overrides); `status`/`model` lists or comma lists. A
    config key whose section no indexed run has gets a did-you-mean.

    `archived`: False (the default) leaves out the runs the user archived, True lists only
    those, None both; a `where` that names `archived` (`archived or tag=x`) sees both.
    `tags`: only runs with every one of these tags.
    """
    from core.query import And, Compare, Query, parse
    from core.runs.annotations import split_tags
    from core.store import Store

    q = None
    if where is not None:
        q = parse(where, label="--where")  # a syntax error fails before the index is synced
        if archived is False and "archived" in q.fields:
            archived = None
    descending = sort.startswith("-") and not ascending
    field = sort.removeprefix("-")
    query: Any = where
    wanted = split_tags(tags or [])
    if wanted:
        node: Any = None
        for t in wanted:
            c = Compare("tags", "=", t)
            node = c if node is None else And(node, c)
        if q is not None:
            # The --where is checked against the config keys inside rows(); its text keeps the
            # user's positions in messages, so it is parsed there and the tags are added after.
            return [
                r
                for r in list_runs(
                    root, where=where, status=status, model=model, sort=sort, ascending=ascending, archived=archived
                )
                if Query(node).matches(r)
            ][:limit]
        query = Query(node, " and ".join(f"tag={t}" for t in wanted))
    return Store(root).rows(
        query=query,
        status=status,
        model=model,
        sort=field,
        descending=descending,
        limit=limit,
        label="--where",
        archived=archived,
    )


def config_fields(root: str | os.PathLike) -> list[dict]:
    """The config keys the indexed runs have, as `field_help` items: name, type, aliases, help."""
    from core.store import Store

    root = Path(root)
    if not root.is_dir():
        return []
    return [
        {
            "name": k,
            "type": v["type"],
            "aliases": [],
            "help": f"config key ({v['runs']} run{'s' if v['runs'] != 1 else ''})",
        }
        for k, v in Store(root).config_keys().items()
    ]


def skipped_dirs(root: str | os.PathLike) -> list[tuple[str, str]]:
    """(path, why) of the folders under `root` named like a run but not one (an impossible
    date or time): every listing skips them; a front end says so, so they can be renamed."""
    return [(str(p), why) for p, why in misnamed_run_dirs(root)]


def run_row(rd: RunDir, root: str | os.PathLike | None = None) -> dict:
    """One run's index row, freshly read; indexed when the run lives under `root`."""
    from core.store import Store, public_row, read_run

    root = Path(root) if root is not None else rd.path.parent
    if rd.path.parent.resolve() == root.resolve():
        row = Store(root).upsert(rd)
        if row is not None:
            return row
    return public_row(read_run(rd), rd.path.parent)


def config_values(run_paths: list[str | os.PathLike]) -> dict[str, dict]:
    """{run id: {dotted config key: value}} of each run's resolved config.yaml ({} when unreadable).

    Read once per file version (cached by path, size and mtime), so a screen can ask on
    every refresh without rereading hundreds of YAML files.
    """
    out = {}
    for path in run_paths:
        cfg = Path(path) / "config.yaml"
        try:
            st = cfg.stat()
            out[Path(path).name] = _config_values(str(cfg), st.st_size, st.st_mtime_ns)
        except OSError:
            out[Path(path).name] = {}
    return out


@functools.lru_cache(maxsize=4096)
def _config_values(path: str, size: int, mtime_ns: int) -> dict:
    from core.config import flatten_config
    from core.store import read_yaml

    cfg = read_yaml(Path(path))
    return flatten_config(cfg) if isinstance(cfg, dict) else {}


def varying_keys(values: dict[str, dict]) -> list[str]:
    """The config keys whose values are not the same in every run (the ones worth a column)."""
    import json

    keys = sorted(set().union(*values.values())) if values else []

    def norm(v):
        return json.dumps(v, sort_keys=True, default=str)

    return [k for k in keys if len({norm(v.get(k)) for v in values.values()}) > 1]


def read_report(rd: RunDir) -> dict | None:
    """report.json of the run's latest evaluation, or None when there is none (or it is unreadable)."""
    try:
        rep = rd.read_json("report.json", default=None)
    except InputError:
        return None
    return rep if isinstance(rep, dict) else None


def artifacts(rd: RunDir) -> list[dict]:
    """Every plain file of the run directory: name, path and size."""
    out = []
    for p in sorted(rd.path.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        out.append({"name": p.name, "path": str(p), "bytes": p.stat().st_size})
    return out


def scalar_metrics(report: dict) -> dict:
    """Per-scorer headline test metrics (no per-part arrays)."""
    out = {}
    for name, m in (report.get("models") or {}).items():
        t = m.get("test") or {}
        g = t.get("good_or_better") or {}
        out[name] = {
            "role": m.get("role"),
            "calibration": (m.get("calibration") or {}).get("name"),
            **{
                k: t.get(k)
                for k in (
                    "auc_macro",
                    "pr_auc_macro",
                    "brier",
                    "brier_skill",
                    "ece_raw",
                    "ece",
                    "classwise_ece",
                    "lift_capture",
                )
            },
            "good_or_better": {
                "ks": report.get("ks"),
                "rate": g.get("rate"),
                "ci_low": g.get("ci_low"),
                "ci_high": g.get("ci_high"),
                "random": g.get("random"),
            },
        }
    return out


def remote_state(rd: RunDir) -> dict | None:
    """A remote run's where and link (remote.json + follow.json of its mirror), None for a local run."""
    from core.runs import FOLLOW_JSON, REMOTE_JSON, follower_alive, link_down_since

    try:
        rem = load_json_file(rd.path / REMOTE_JSON)
    except (OSError, ValueError):
        return None
    if not isinstance(rem, dict):
        return None
    try:
        follow = load_json_file(rd.path / FOLLOW_JSON)
    except (OSError, ValueError):
        follow = {}
    follow = follow if isinstance(follow, dict) else {}
    down = link_down_since(rd.path)
    return {
        "host": rem.get("host"),
        "address": rem.get("address"),
        "dir": rem.get("dir"),
        "gpu": rem.get("gpu"),
        "pid": rem.get("pid"),
        "link": follow.get("link") or "no follower",
        "since": follow.get("since"),
        "link_down_since": down.isoformat() if down else None,
        "last_byte_at": follow.get("last_byte_at"),
        "reconnects": follow.get("reconnects", 0),
        "done": bool(follow.get("done")),
        "error": follow.get("error"),
        "follower_alive": follower_alive(rd.path),
    }


def run_detail(rd: RunDir, row: dict, events: list[dict] | None = None) -> dict:
    """What `synapse runs show` reports: the row, manifest, summary, verdict, comparison,
    headline metrics of every scorer, epochs, artifacts, test touches and warnings.
    `events`: the run's event log when the caller has read it already."""
    man = rd.read_json("manifest.json", default={}) if rd.manifest_json.exists() else {}
    report = read_report(rd) or {}
    events = rd.read_events() if events is None else events
    return {
        "run": row,
        "manifest": {k: v for k, v in (man or {}).items() if k != "test_touches"},
        "summary": report.get("summary"),
        "verdict": report.get("verdict"),
        "comparison": report.get("comparison"),
        "metrics": scalar_metrics(report) if report else {},
        "epochs": [e for e in events if e.get("type") == "epoch"],
        "artifacts": artifacts(rd),
        "test_touches": (man or {}).get("test_touches", []),
        "remote": remote_state(rd),
        "log": [e for e in events if e.get("type") == "log" and e.get("level") in ("warning", "error")][-LOG_TAIL:],
    }


def tier_curves(report: dict, window: str = "test") -> dict:
    """Rates per K of every tier-or-better for the primary, the best baseline, random and the oracle.

    {"ks": [...], "tiers": {tier: {"model": {rate, ci_low, ci_high}, "baseline": {...} | None,
    "random": [...], "oracle": [...] | None}}, "beats_at": [...], "worse_at": [...]}
    """
    models = report.get("models") or {}
    primary, baseline = report.get("primary"), report.get("best_baseline")
    if primary not in models:
        return {"ks": report.get("ks") or [], "tiers": {}, "beats_at": [], "worse_at": []}

    def rates(name: str | None, tier: str) -> dict | None:
        block = ((models.get(name) or {}).get(window) or {}).get("tier_rates", {}).get(tier)
        return None if block is None else {k: block.get(k) for k in ("rate", "ci_low", "ci_high")}

    win = models[primary].get(window) or {}
    oracle = (win.get("oracle") or {}).get("tier_rates") or {}
    tiers = {}
    for tier in report.get("tiers") or {}:
        block = (win.get("tier_rates") or {}).get(tier) or {}
        tiers[tier] = {
            "model": rates(primary, tier),
            "baseline": rates(baseline, tier) if baseline != primary else None,
            "random": block.get("random"),
            "oracle": oracle.get(tier),
        }
    comparison = report.get("comparison") or {}
    return {
        "ks": report.get("ks") or [],
        "primary": primary,
        "baseline": baseline,
        "tiers": tiers,
        "beats_at": comparison.get("beats_at") or [],
        "worse_at": comparison.get("worse_at") or [],
    }


def run_view(rd: RunDir, root: str | os.PathLike | None = None, events: list[dict] | None = None) -> dict:
    """Everything one run's screen shows: `run_detail` plus the curves behind its plots.

    Adds `tiers` (`tier_curves` on test), `reliability` (test bins before/after calibration
    of the primary), `auc_per_part` ([{part, auc, ap}] of the primary on test), `config`
    (the resolved config; None when unreadable, with `config_error` saying why, file:line),
    `log_tail` (the last events of any level) and `worker_log` ({lines, cut}: the last
    WORKER_LOG_LINES lines of worker.log, uncleaned). `events`: the run's event log when
    the caller has read it already.
    """
    from core.store import read_yaml

    if events is None:
        events = rd.read_events()  # once: a long run's log is the slowest thing read here
    config = read_yaml(rd.config_yaml)
    # Before run_row re-indexes the run: with config.yaml unreadable the fresh row has no
    # model, while the index (what the runs table shows) still knows it.
    known_model = _known_model(rd, root) if not isinstance(config, dict) else None
    row = run_row(rd, root)
    if not isinstance(config, dict) and row.get("model") is None:
        report_ = read_report(rd) or {}
        primary = report_.get("primary") if row.get("job") == "train" else None
        row = {**row, "model": known_model or (primary if isinstance(primary, str) else None)}
    detail = run_detail(rd, row, events)
    report = read_report(rd) or {}
    test = ((report.get("models") or {}).get(report.get("primary")) or {}).get("test") or {}
    auc, ap = test.get("auc_per_part") or [], test.get("ap_per_part") or []
    return {
        **detail,
        "tiers": tier_curves(report) if report else None,
        "reliability": {
            "before": test.get("reliability_raw"),
            "after": test.get("reliability"),
            "bins": test.get("bins"),
        }
        if test
        else None,
        "auc_per_part": [{"part": i + 1, "auc": a, "ap": ap[i] if i < len(ap) else None} for i, a in enumerate(auc)],
        "config": config,
        "config_error": None if isinstance(config, dict) else config_problem(rd),
        "log_tail": [e for e in events if e.get("type") == "log"][-LOG_TAIL * 4 :],
        "worker_log": dict(zip(("lines", "cut"), log_file_tail(rd.path / "worker.log"), strict=True)),
    }


def log_file_tail(
    path: str | os.PathLike, max_lines: int = WORKER_LOG_LINES, max_bytes: int = WORKER_LOG_MAX_BYTES
) -> tuple[list[str], bool]:
    """The last `max_lines` lines of a text log and whether earlier ones were left out.

    Read from the end of the file (at most `max_bytes` of it, however long the file grows);
    bytes that are not UTF-8 are replaced. The text is as written: a front end cleans it
    before showing it (a remote worker's output may hold terminal control sequences).
    A missing or unreadable file is no lines."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read(size - start)
    except OSError:
        return [], False
    lines = data.decode("utf-8", errors="replace").splitlines()
    cut = start > 0
    if cut and lines:
        lines = lines[1:]  # began mid-line
    if len(lines) > max_lines:
        lines, cut = lines[-max_lines:], True
    return lines, cut


def config_problem(rd: RunDir) -> str:
    """Why the run's config.yaml cannot be read, in `core.config`'s words (file:line: problem)."""
    from core.config import load_config
    from core.errors import ConfigError

    if not rd.config_yaml.exists():
        return f"{rd.config_yaml}: no such file"
    try:
        load_config(rd.config_yaml)
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 — whatever it is, say it rather than fail the view
        return f"{rd.config_yaml}: {type(exc).__name__}: {exc}"
    return f"{rd.config_yaml}: not a YAML mapping"


def _known_model(rd: RunDir, root: str | os.PathLike | None) -> str | None:
    """The model kind the index last knew for a run (read while its config.yaml was readable)."""
    from core.store import Store

    root = Path(root) if root is not None else rd.path.parent
    if rd.path.parent.resolve() != root.resolve():
        return None
    try:
        row = Store(root).get(rd.run_id, refresh=False)
    except Exception:  # noqa: BLE001 — the index is a cache: without it the model is unknown
        return None
    model = (row or {}).get("model")
    return model if isinstance(model, str) else None


@dataclass(frozen=True)
class Followed:
    """One thing `follow_run` saw: an event of the log, or the run's final status."""

    event: dict | None = None
    final: str | None = None  # succeeded | failed | cancelled | lost | GONE, on the last item only


def follow_run(rd: RunDir, *, poll_s: float = FOLLOW_POLL_S, status_every_s: float = 2.0) -> Iterator[Followed]:
    """Events of a run as they are logged (those of FOLLOWED_EVENTS), then its final status.

    Ends when a `run_finished` closes the current attempt, or when the run turns `lost`
    (its worker died without finishing) or is found finished while a torn last line waits,
    or with final `GONE` when the run directory no longer exists (deleted while followed).
    """
    reader = rd.event_reader()
    last_status_check = 0.0
    finished: str | None = None
    while True:
        if not rd.path.is_dir():  # a missing events.jsonl reads as no events: it would wait forever
            yield Followed(final=GONE)
            return
        for e in reader.read_new():
            t = e.get("type")
            if t == "run_started":
                finished = None  # a new attempt: what ended the previous one no longer counts
            elif t == "run_finished":
                finished = e.get("status") or "failed"
            if t in FOLLOWED_EVENTS:
                yield Followed(event=e)
        if finished is not None:
            yield Followed(final=finished)
            return
        now = time.monotonic()
        if now - last_status_check >= status_every_s:
            last_status_check = now
            st = status_of(rd)
            if st.status == "lost" or st.done:
                yield Followed(final=st.status)
                return
        time.sleep(poll_s)


def check_deletable(rds: list[RunDir], what: str = "deleted") -> dict[str, str]:
    """{run id: status}; refuses (InputError) when one is still queued or running.

    `what` says what did not happen: "deleted", "archived"."""
    statuses = {rd.run_id: status_of(rd) for rd in rds}
    for rd in rds:
        st = statuses[rd.run_id]
        if st.active:
            raise InputError(
                f"run {rd.run_id} is {st.status}: cancel it first (`synapse cancel {rd.run_id}`); nothing was {what}"
            )
    return {k: v.status for k, v in statuses.items()}


def delete_run(rd: RunDir, root: str | os.PathLike) -> dict:
    """Delete a run directory and its index row: out of every listing at once (a rename), then removed.

    First its test touches go to the runs dir's ledger (`<root>/test_touches.jsonl`, fsync'd):
    a look at the test window stays on record after the run is gone (`test_touches`). When the
    ledger cannot be written nothing is deleted. Returns {"run_id", "touches" (how many were
    kept), "ledger" (its path)}.
    """
    from core.runs.annotations import append_touch_ledger, ledger_entries
    from core.store import Store

    root = Path(root)
    entries = ledger_entries(rd)
    ledger_root = root if rd.path.parent.resolve() == root.resolve() else rd.path.parent
    try:
        ledger = append_touch_ledger(ledger_root, entries)
    except OSError as exc:
        raise InputError(
            f"cannot keep its test touches ({exc.strerror or exc}); nothing was deleted", path=ledger_root
        ) from None
    trash = rd.path.with_name(f".deleting-{rd.run_id}")
    try:
        rd.path.rename(trash)
    except OSError as exc:
        raise InputError(f"cannot delete: {exc.strerror or exc}", path=rd.path) from None
    shutil.rmtree(trash, ignore_errors=True)
    if rd.path.parent.resolve() == root.resolve():
        Store(root).remove(rd.run_id)
    return {"run_id": rd.run_id, "touches": sum(1 for e in entries if e.get("ts")), "ledger": str(ledger)}


# --------------------------------------------------------------------------- annotations


def annotate(
    rds: list[RunDir],
    root: str | os.PathLike,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
    tags: list[str] | None = None,
    note: str | None = None,
) -> list[dict]:
    """Change the tags (`tags` replaces, else `add` / `remove`) and the note ("" clears) of each
    run; every value is checked before any run is touched. [{"run_id", "tags", "note", "archived"}]."""
    from core.runs.annotations import check_note, split_tags, update_annotations

    split_tags([*(add or []), *(remove or []), *(tags or [])])  # a bad tag fails before any write
    if note is not None:
        check_note(note)
    out = []
    for rd in rds:
        a = update_annotations(rd, add=add or [], remove=remove or [], tags=tags, note=note)
        _reindex_one(rd, root)
        out.append({"run_id": rd.run_id, **a.as_dict()})
    return out


def set_archived(rds: list[RunDir], root: str | os.PathLike, archived: bool = True) -> list[dict]:
    """Archive (or unarchive) runs: a flag in annotations.json, the directory stays where it is
    (resume, a remote mirror and the locks are untouched). Archiving refuses a queued or running
    run, as delete does. [{"run_id", "archived", "was"}]."""
    from core.runs.annotations import read_annotations, update_annotations

    if archived:
        check_deletable(rds, "archived")
    out = []
    for rd in rds:
        was = read_annotations(rd).archived
        a = update_annotations(rd, archived=archived)
        _reindex_one(rd, root)
        out.append({"run_id": rd.run_id, "archived": a.archived, "was": was})
    return out


def read_annotations_of(rd: RunDir) -> dict:
    """{"run_id", "tags", "note", "archived", ...} of one run."""
    from core.runs.annotations import read_annotations

    return {"run_id": rd.run_id, **read_annotations(rd).as_dict()}


def _reindex_one(rd: RunDir, root: str | os.PathLike) -> None:
    """The index row of an annotated run, now (the next listing would see the change anyway)."""
    from core.store import Store

    root = Path(root)
    if rd.path.parent.resolve() == root.resolve():
        try:
            Store(root).upsert(rd)
        except Exception:  # noqa: BLE001 — the index is a cache: the next sync rereads the run
            pass


def touch_record(root: str | os.PathLike) -> list[dict]:
    """Every recorded look at the test window under `root`: those of the runs there (their
    manifests) and those kept in the ledger from deleted runs, oldest first.

    Each: {"run_id", "name", "config_hash", "data_sha256", "ts", "what", "source": "run" or
    "deleted", "deleted" (when), "unreadable" (why a run's touches could not be read)}."""
    from core.runs.annotations import read_touch_ledger, run_touches
    from core.store.rows import scan

    root = Path(root)
    live = scan(root)
    out: list[dict] = []
    for rid in sorted(live):
        rd = RunDir(root / rid)
        touches, problem = run_touches(rd)
        man, _ = rd.read_manifest_fields()
        raw = man.get("data")
        data: dict = raw if isinstance(raw, dict) else {}
        base = {
            "run_id": rid,
            "name": rd.name or None,
            "config_hash": man.get("config_hash") if isinstance(man.get("config_hash"), str) else None,
            "data_sha256": data.get("sha256") if isinstance(data.get("sha256"), str) else None,
            "source": "run",
            "deleted": None,
        }
        if problem is not None:
            out.append({**base, "ts": None, "what": None, "unreadable": problem})
        out += [{**base, "ts": t.get("ts"), "what": t.get("what"), "unreadable": None} for t in touches]
    for e in read_touch_ledger(root):
        if e["run_id"] in live:  # a delete that failed after its lines were kept: the run still says
            continue
        out.append(
            {
                "run_id": e["run_id"],
                "name": e.get("name"),
                "config_hash": e.get("config_hash"),
                "data_sha256": e.get("data_sha256"),
                "ts": e.get("ts"),
                "what": e.get("what"),
                "source": "deleted",
                "deleted": e.get("deleted"),
                "unreadable": e.get("unreadable"),
            }
        )
    out.sort(key=lambda t: (str(t.get("ts") or ""), t["run_id"]))
    return out


def reindex(root: str | os.PathLike) -> dict[str, Any]:
    """Rebuild the run index from the run directories: {"runs", "seconds", "index"}."""
    from core.store import Store

    root = Path(root)
    if not root.is_dir():
        raise InputError(f"no runs directory at {root}")
    store = Store(root)
    t0 = time.perf_counter()
    n = store.reindex()
    where = "memory (the runs dir is not writable)" if store.in_memory else str(store.path)
    return {"runs": n, "seconds": time.perf_counter() - t0, "index": where}
