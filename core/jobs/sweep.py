"""Sweeps: several configs (times a grid) through the supervisor's queue, one report.

    combos = expand(["configs/gru.yaml"], ["model.hidden=64,128", "train.lr=1e-3,3e-3"])
    sweep = start_sweep(root, configs, grid, overrides, parallel=2)   # queued runs + supervisor
    wait(sweep, on_change=print)                                      # until every run is done
    write_report(sweep)                                               # sweep_report.json / .md

A sweep is a directory `<runs root>/sweeps/<sweep-id>/` holding `sweep.json` (what was
asked, and the run id and label of every combo); the runs themselves are ordinary run
directories in the runs root, started by the supervisor (core.jobs.supervisor), so they
keep going when the process that started the sweep exits, and `sweep_status` / `wait`
pick them up again from the directories alone.

Grid values are parsed exactly like `-o` overrides (YAML), each combo is validated like
`synapse train` validates a config, and each gets a distinct name: `<name>-h64-lr3e-3`.
Grid axes under `train.` do not apply to baseline configs (baselines do not train): such
a config is run once, and sweep.json says which axes it ignored.

The report has a row per run (label, model, status, key metrics from its report.json
summary, its readiness verdict against its config's `targets`, reused from report.json)
and a WINNER chosen on validation only: the lowest `models[primary].val.brier` of
report.json among succeeded runs. The test window plays no part in the choice.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from core.config import BASELINE_KINDS, Config, config_hash, load_config
from core.errors import InputError
from core.fsutil import atomic_write_text
from core.runs import NAME_RE, RunDir, format_ts, read_events, run_status

SWEEPS_DIR = "sweeps"
SWEEP_JSON = "sweep.json"
REPORT_JSON = "sweep_report.json"
REPORT_MD = "sweep_report.md"
SWEEP_ID_RE = re.compile(r"^\d{8}-\d{6}-[A-Za-z0-9_.-]{1,64}-[0-9a-f]{4}$")
_SWEEP_REF_RE = re.compile(r"^[0-9][A-Za-z0-9_.-]{0,95}$")
TERMINAL = ("succeeded", "failed", "cancelled", "lost")
WINNER_METRIC = "val_brier"
WINNER_SOURCE = "report.json models[primary].val.brier (validation window; lower is better)"
MAX_NAME = 64  # run names (core.runs.NAME_RE)

# Short tags for common grid keys (the last part of the dotted key); anything else uses
# the last part itself.
_ABBREV = {
    "hidden": "h", "layers": "l", "dropout": "do", "lr": "lr", "epochs": "ep", "weight_decay": "wd",
    "batch_size": "bs", "d_model": "d", "heads": "nh", "context": "ctx", "ffn_mult": "ffn", "halflife": "hl",
    "window": "w", "chunks": "ch", "tbptt": "tb", "seed": "s", "label_smoothing": "ls", "patience": "pat",
    "steps_per_epoch": "spe", "smoothing": "sm", "decays": "tau", "l2": "l2", "kind": "", "method": "cal",
    "head": "head", "mode": "mode", "positions": "pos", "recency_cap": "rc", "max_gap": "mg",
}


# --------------------------------------------------------------------------- expansion


@dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[str, ...]  # the text of each value, parsed later exactly like -o KEY=VALUE
    tag: str


@dataclass
class Combo:
    label: str  # also the config's (and the run's) name
    cfg: Config
    config: str  # the config file as given
    overrides: list[str]  # the grid's KEY=VALUE for this combo (after the -o overrides)
    job: str  # "baselines" or "train"
    ignored: list[str] = field(default_factory=list)  # grid keys that do not apply to this config


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets, braces and quotes: `[1,7],[1,30]` is two values."""
    out, buf, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    out.append("".join(buf).strip())
    return out


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")
    return s or "x"


def parse_grid(grid: Sequence[str]) -> list[Axis]:
    """`["model.hidden=64,128", ...]` -> axes; InputError naming the bad -g."""
    axes: list[Axis] = []
    for g in grid or ():
        key, sep, values = str(g).partition("=")
        key = key.strip()
        where = f"-g {g}"
        if not sep or not key or any(not p for p in key.split(".")):
            raise InputError("expected KEY=V1,V2,... with a dotted key, e.g. -g model.hidden=64,128", path=where)
        vals = _split_values(values)
        if any(v == "" for v in vals):
            raise InputError("empty value in the list (values are separated by commas)", path=where)
        dup = sorted({v for v in vals if vals.count(v) > 1})
        if dup:
            raise InputError(f"value {dup[0]!r} is listed twice", path=where)
        if any(a.key == key for a in axes):
            raise InputError(f"key {key!r} is given by two -g options; list all its values in one", path=where)
        last = key.split(".")[-1]
        axes.append(Axis(key, tuple(vals), _ABBREV.get(last, last)))
    # Two axes with the same tag (model.window, train.window...) get their section too.
    tags = [a.tag for a in axes]
    return [a if tags.count(a.tag) == 1 else Axis(a.key, a.values, _slug(a.key.replace(".", "_"))) for a in axes]


def _combo_name(base: str, parts: list[tuple[Axis, str]]) -> str:
    if not parts:
        return base
    tags = "-".join(f"{a.tag}{_slug(v)}" for a, v in parts)
    name = f"{base}-{tags}"
    if len(name) > MAX_NAME:
        import hashlib

        digest = hashlib.sha1(name.encode()).hexdigest()[:6]
        name = f"{name[:MAX_NAME - 7].rstrip('-_.')}-{digest}"
    return name


def _job_of(cfg: Config) -> str:
    return "baselines" if cfg.model.kind in BASELINE_KINDS else "train"


def expand_combos(configs: Sequence[str | os.PathLike], grid: Sequence[str] = (), overrides: Sequence[str] = (),
                  data: str | os.PathLike | None = None) -> list[Combo]:
    """configs x the cartesian product of the grid, each validated, each with a distinct name."""
    if not configs:
        raise InputError("a sweep needs at least one config (-c FILE, repeatable)")
    axes = parse_grid(grid)
    overrides = list(overrides or ())
    data_s = None if data is None else str(data)
    combos: list[Combo] = []
    seen: set[tuple] = set()
    for index, config in enumerate(configs):
        config = str(config)
        for values in itertools.product(*[a.values for a in axes]) if axes else [()]:
            parts = list(zip(axes, values))
            grid_ovs = [f"{a.key}={v}" for a, v in parts]
            label_hint = f"{Path(config).stem}" + (f" with {' '.join(grid_ovs)}" if grid_ovs else "")
            try:
                cfg = load_config(config, overrides=overrides + grid_ovs, data=data_s)
            except InputError as exc:
                raise InputError(f"combo {label_hint!r} is invalid: {exc}") from None
            ignored: list[str] = []
            if _job_of(cfg) == "baselines":
                kept = [(a, v) for a, v in parts if not a.key.startswith("train.")]
                ignored = [a.key for a, _ in parts if a.key.startswith("train.")]
                if ignored:
                    parts = kept
                    grid_ovs = [f"{a.key}={v}" for a, v in parts]
                    cfg = load_config(config, overrides=overrides + grid_ovs, data=data_s)
            key = (index, tuple(grid_ovs))
            if key in seen:
                continue  # a baseline config the train.* axes multiplied
            seen.add(key)
            combos.append(Combo(_combo_name(cfg.name, parts), cfg, config, grid_ovs, _job_of(cfg), ignored))
    # Distinct names: the same config twice (or two configs with one name) get -2, -3, ...
    counts: dict[str, int] = {}
    taken = {c.label for c in combos}
    for c in combos:
        n = counts.get(c.label, 0) + 1
        counts[c.label] = n
        label = c.label
        if n > 1:
            label = f"{c.label}-{n}"
            while label in taken:
                n += 1
                label = f"{c.label}-{n}"
            taken.add(label)
        if not NAME_RE.match(label):
            raise InputError(f"combo name {label!r} is not safe as a run name (A-Z a-z 0-9 _ . -, at most {MAX_NAME})")
        c.label = label
        c.cfg = c.cfg.model_copy(update={"name": label})
    return combos


def expand(configs: Sequence[str | os.PathLike], grid: Sequence[str] = (), overrides: Sequence[str] = (),
           data: str | os.PathLike | None = None) -> list[tuple[str, Config]]:
    """[(label, Config)] for configs x grid; `Config.name` is the label. InputError names a bad combo."""
    return [(c.label, c.cfg) for c in expand_combos(configs, grid, overrides, data)]


# --------------------------------------------------------------------------- sweep directories


@dataclass(frozen=True)
class SweepDir:
    """`<runs root>/sweeps/<sweep-id>/`."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def sweep_id(self) -> str:
        return self.path.name

    @property
    def root(self) -> Path:
        """The runs root the sweep's runs live in."""
        return self.path.parent.parent

    @property
    def sweep_json(self) -> Path:
        return self.path / SWEEP_JSON

    @property
    def report_json(self) -> Path:
        return self.path / REPORT_JSON

    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD

    def read(self) -> dict:
        try:
            return json.loads(self.sweep_json.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("not a sweep directory (no sweep.json)", path=self.path) from None
        except ValueError as exc:
            raise InputError(f"sweep.json is not valid JSON: {exc}", path=self.sweep_json) from None

    def write(self, obj: dict) -> None:
        atomic_write_text(self.sweep_json, json.dumps(obj, indent=2) + "\n")

    def runs(self) -> list[tuple[dict, RunDir]]:
        """(sweep.json entry, run dir) of every run of the sweep, in sweep order."""
        return [(r, RunDir(self.root / r["run_id"])) for r in self.read().get("runs", [])]

    @classmethod
    def create(cls, root: str | os.PathLike, name: str = "sweep") -> "SweepDir":
        base = Path(root) / SWEEPS_DIR
        base.mkdir(parents=True, exist_ok=True)
        for _ in range(32):
            sid = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{name}-{secrets.token_hex(2)}"
            try:
                (base / sid).mkdir()
            except FileExistsError:
                continue
            return cls(base / sid)
        raise RuntimeError(f"could not create a fresh sweep directory under {base}")

    @classmethod
    def open(cls, root: str | os.PathLike, ref: str) -> "SweepDir":
        """A sweep by directory, id, or unique id prefix."""
        p = Path(ref)
        if (p / SWEEP_JSON).is_file():
            return cls(p)
        if not isinstance(ref, str) or not _SWEEP_REF_RE.match(ref):
            raise InputError(f"{ref!r} is not a sweep id or a prefix of one (sweep ids look like "
                             "20250101-120000-sweep-1a2b)")
        base = Path(root) / SWEEPS_DIR
        matches = sorted(s.sweep_id for s in list_sweeps(root) if s.sweep_id.startswith(ref))
        if not matches:
            raise InputError(f"no sweep matches {ref!r} in {base}")
        if len(matches) > 1:
            raise InputError(f"{ref!r} is ambiguous: {len(matches)} sweeps match ({', '.join(matches[:10])}); "
                             "give more of the id")
        return cls(base / matches[0])


def list_sweeps(root: str | os.PathLike) -> list[SweepDir]:
    """Every sweep of a runs root, newest first."""
    base = Path(root) / SWEEPS_DIR
    if not base.is_dir():
        return []
    out = [SweepDir(p) for p in base.iterdir()
           if SWEEP_ID_RE.match(p.name) and (p / SWEEP_JSON).is_file() and not p.is_symlink()]
    return sorted(out, key=lambda s: s.sweep_id, reverse=True)


# --------------------------------------------------------------------------- starting


def _validate_for_run(cfg: Config, job: str) -> None:
    """What `core.pipeline.create_run` checks, without creating anything."""
    from core.pipeline import prepare

    if job == "train":
        from core.train_run import check_learned, device_for

        check_learned(cfg)
        device_for(cfg)
    prepare(cfg)


def start_sweep(root: str | os.PathLike, configs: Sequence[str | os.PathLike], grid: Sequence[str] = (),
                overrides: Sequence[str] = (), parallel: int | None = None, *, data: str | os.PathLike | None = None,
                supervise: bool = True, grace: float | None = None) -> SweepDir:
    """Validate every combo (nothing is created if one is bad), then create one queued run
    per combo (`core.pipeline.create_run`), record them in sweep.json, hand them to the
    supervisor and make sure one is alive."""
    from core.jobs.supervisor import default_parallel, enqueue, ensure_supervisor
    from core.pipeline import create_run

    if parallel is not None and parallel < 1:
        raise InputError(f"--parallel {parallel}: must be at least 1")
    root = Path(root).resolve()
    combos = expand_combos(configs, grid, overrides, data)
    for c in combos:
        try:
            _validate_for_run(c.cfg, c.job)
        except InputError as exc:
            raise InputError(f"combo {c.label!r} ({c.config}"
                             + (f" with {' '.join(c.overrides)}" if c.overrides else "") + f"): {exc}") from None

    sweep = SweepDir.create(root)
    meta = {
        "sweep_id": sweep.sweep_id,
        "created": format_ts(datetime.now(timezone.utc)),
        "runs_root": str(root),
        "cwd": os.getcwd(),
        "configs": [str(c) for c in configs],
        "grid": list(grid or ()),
        "overrides": list(overrides or ()),
        "data": None if data is None else str(data),
        "parallel": parallel or default_parallel(),
        "winner_metric": WINNER_METRIC,
        "runs": [],
    }
    sweep.write(meta)
    created: list[RunDir] = []
    try:
        for c in combos:
            run = create_run(c.cfg, root, c.job)
            created.append(run)
            meta["runs"].append({
                "run_id": run.run_id, "label": c.label, "config": c.config, "overrides": c.overrides,
                "ignored_axes": c.ignored, "job": c.job, "model": c.cfg.model.kind,
                "epochs": c.cfg.train.epochs if c.job == "train" else None, "config_hash": config_hash(c.cfg),
            })
            sweep.write(meta)
    except BaseException:
        for run in created:  # never leave half a sweep queued
            with run.event_writer() as events:
                events.run_finished("cancelled", error="the sweep that created this run failed to start")
        raise
    for run in created:
        enqueue(run)
    if supervise:
        ensure_supervisor(root, meta["parallel"], grace=grace)
    return sweep


def ensure_running(sweep: SweepDir, *, grace: float | None = None) -> int | None:
    """Start a supervisor for the sweep's root when some of its runs are still queued."""
    from core.jobs.supervisor import ensure_supervisor

    if any(r["status"] == "queued" for r in sweep_status(sweep)):
        return ensure_supervisor(sweep.root, sweep.read().get("parallel"), grace=grace)
    return None


# --------------------------------------------------------------------------- status


def _report_of(run: RunDir) -> dict | None:
    try:
        return json.loads((run.path / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def sweep_status(sweep: SweepDir) -> list[dict]:
    """A row per run: label, run_id, model, job, status, attempt, epoch/epochs, error."""
    rows = []
    for entry, run in sweep.runs():
        events = read_events(run.events_jsonl)
        st = run_status(events)
        epoch = None
        if st.started is not None:
            for e in reversed(events):
                if e.get("type") == "run_started":
                    break
                if e.get("type") == "epoch":
                    epoch = e.get("epoch")
                    break
        rows.append({
            "label": entry.get("label"), "run_id": run.run_id, "model": entry.get("model"), "job": entry.get("job"),
            "status": st.status if run.path.is_dir() else "missing", "attempt": st.attempt, "epoch": epoch,
            "epochs": entry.get("epochs"), "error": st.error,
        })
    return rows


def all_done(rows: Iterable[dict]) -> bool:
    return all(r["status"] in TERMINAL or r["status"] == "missing" for r in rows)


def wait(sweep: SweepDir, on_change: Callable[[list[dict]], Any] | None = None, *, poll: float = 1.0,
         timeout: float | None = None, keep_supervised: bool = True) -> list[dict]:
    """Poll until every run is done (succeeded, failed, cancelled or lost); `on_change(rows)`
    whenever a row changes. Restarts the supervisor if runs are queued and none is alive."""
    from core.jobs.supervisor import ensure_supervisor, supervisor_info

    deadline = None if timeout is None else time.monotonic() + timeout
    last: Any = None
    next_check = 0.0
    while True:
        rows = sweep_status(sweep)
        key = [(r["status"], r["attempt"], r["epoch"]) for r in rows]
        if key != last:
            last = key
            if on_change is not None:
                on_change(rows)
        if all_done(rows):
            return rows
        now = time.monotonic()
        if keep_supervised and now >= next_check:
            next_check = now + 5.0
            if any(r["status"] == "queued" for r in rows) and supervisor_info(sweep.root) is None:
                ensure_supervisor(sweep.root, sweep.read().get("parallel"))
        if deadline is not None and now > deadline:
            raise TimeoutError(f"sweep {sweep.sweep_id} not done after {timeout} s")
        time.sleep(poll)


# --------------------------------------------------------------------------- report


def _val_window(run: RunDir) -> Any:
    try:
        man = json.loads((run.path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    splits = man.get("splits") or []
    last = splits[-1] if splits else {}
    return ((man.get("data") or {}).get("sha256"), json.dumps(last.get("val", last), sort_keys=True, default=str))


def report_rows(sweep: SweepDir) -> list[dict]:
    rows = []
    status = {r["run_id"]: r for r in sweep_status(sweep)}
    for entry, run in sweep.runs():
        st = status[run.run_id]
        row = {
            "label": entry.get("label"), "run_id": run.run_id, "path": str(run.path), "config": entry.get("config"),
            "overrides": entry.get("overrides", []), "job": entry.get("job"), "model": entry.get("model"),
            "status": st["status"], "error": st["error"], "primary": None, "reference": None,
            "metrics": {}, "verdict": None,
        }
        rep = _report_of(run) if st["status"] == "succeeded" else None
        if rep is not None and rep.get("primary") is not None:
            primary = rep["primary"]
            s = rep.get("summary") or {}
            val = ((rep.get("models") or {}).get(primary) or {}).get("val") or {}
            row["primary"], row["reference"] = primary, rep.get("reference")
            row["metrics"] = {
                "val_brier": _num(val.get("brier")),
                "brier_skill": _num(s.get("brier_skill")), "ece_after": _num(s.get("ece_after")),
                "ece_before": _num(s.get("ece_before")), "auc": _num(s.get("auc")),
                "best_good_or_better": _num(s.get("best_good_or_better")), "best_k": s.get("best_k"),
                "lift_capture": _num(s.get("lift_capture")), "beats_reference": s.get("beats_reference"),
                "beats_at": s.get("beats_at"), "calibration": s.get("calibration"),
            }
            v = rep.get("verdict")
            if v:
                row["verdict"] = {"status": v.get("status"), "failed": list(v.get("failed") or []),
                                  "criteria": v.get("criteria") or []}
        rows.append(row)
    return rows


def choose_winner(rows: list[dict]) -> dict | None:
    """Lowest validation Brier among succeeded runs (ties: the earlier run)."""
    best = None
    for i, r in enumerate(rows):
        v = r["metrics"].get(WINNER_METRIC) if r["status"] == "succeeded" else None
        if v is None:
            continue
        if best is None or v < best[0]:
            best = (v, i)
    if best is None:
        return None
    r = rows[best[1]]
    return {"label": r["label"], "run_id": r["run_id"], "metric": WINNER_METRIC, "source": WINNER_SOURCE,
            "value": best[0], "primary": r["primary"], "verdict": (r["verdict"] or {}).get("status")}


def build_report(sweep: SweepDir) -> dict:
    meta = sweep.read()
    rows = report_rows(sweep)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    windows = {w for (_, run) in sweep.runs() if (w := _val_window(run)) is not None}
    notes = []
    if len(windows) > 1:
        notes.append("the runs were validated on different data or validation windows: their validation "
                     "Brier scores are not like for like, so the winner is only indicative")
    if not all_done(rows):
        notes.append("incomplete: some runs are still queued or running")
    return {
        "sweep_id": sweep.sweep_id,
        "created": meta.get("created"),
        "reported": format_ts(datetime.now(timezone.utc)),
        "runs_root": str(sweep.root),
        "configs": meta.get("configs"), "grid": meta.get("grid"), "overrides": meta.get("overrides"),
        "data": meta.get("data"), "parallel": meta.get("parallel"),
        "complete": all_done(rows),
        "counts": counts,
        "approved": sum(1 for r in rows if (r["verdict"] or {}).get("status") == "APPROVED"),
        "winner": choose_winner(rows),
        "winner_rule": f"lowest {WINNER_SOURCE} among succeeded runs; the test window plays no part in the choice",
        "notes": notes,
        "runs": rows,
    }


def _f(x: Any, nd: int = 4) -> str:
    return "–" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def _criterion_note(c: dict) -> str:
    v = c.get("value")
    if isinstance(v, float):
        v = f"{v:.4g}"
    elif isinstance(v, list):
        v = "none" if not v else ",".join(map(str, v))
    return f"{c.get('name')} ({c.get('rule')}: {v})"


def verdict_text(row: dict) -> str:
    v = row.get("verdict")
    if v is None:
        return "–" if row["status"] == "succeeded" else f"not judged ({row['status']})"
    return v["status"] + (f" ({', '.join(v['failed'])})" if v["failed"] else "")


def render_markdown(report: dict) -> str:
    w = report["winner"]
    lines = [
        f"# Sweep {report['sweep_id']}",
        "",
        f"Created {report['created']}; {len(report['runs'])} runs, parallel {report['parallel']}; "
        f"runs root `{report['runs_root']}`.",
        f"Configs: {', '.join(f'`{c}`' for c in report['configs'] or [])}"
        + (f"; grid: {', '.join(f'`{g}`' for g in report['grid'])}" if report["grid"] else "")
        + (f"; overrides: {', '.join(f'`{o}`' for o in report['overrides'])}" if report["overrides"] else "")
        + (f"; data: `{report['data']}`" if report.get("data") else "") + ".",
        "",
        "| # | label | model | primary | status | verdict | val Brier | test Brier skill | test ECE | test AUC "
        "| best good+ @K | lift capture |",
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(report["runs"], 1):
        m = r["metrics"]
        win = " **(winner)**" if w and w["run_id"] == r["run_id"] else ""
        good = "–" if m.get("best_good_or_better") is None else f"{m['best_good_or_better']:.3f} @{m.get('best_k')}"
        lines.append(
            f"| {i} | {r['label']}{win} | {r['model']} | {r['primary'] or '–'} | {r['status']} | {verdict_text(r)} "
            f"| {_f(m.get('val_brier'), 5)} | {_f(m.get('brier_skill'))} | {_f(m.get('ece_after'), 3)} "
            f"| {_f(m.get('auc'), 3)} | {good} | {_f(m.get('lift_capture'), 2)} |")
    lines += [""]
    if w:
        lines.append(f"**Winner: {w['label']}** (run `{w['run_id']}`, primary {w['primary']}, verdict "
                     f"{w['verdict']}) — validation Brier {w['value']:.5f}.")
    else:
        lines.append("**Winner: none** — no run succeeded.")
    lines += [f"Chosen by the {report['winner_rule']}. Test columns are for information only.", ""]
    for n in report["notes"]:
        lines.append(f"> Note: {n}")
    if report["notes"]:
        lines.append("")
    lines += ["## Readiness verdicts", "",
              "Each run is judged against its own config's `targets` on the test window (from its report.json).", ""]
    for r in report["runs"]:
        v = r["verdict"]
        if v is None:
            why = f": {r['error']}" if r.get("error") else ""
            lines.append(f"- **{r['label']}**: not judged — run {r['status']}{why}")
            continue
        crit = {c.get("name"): c for c in v["criteria"]}
        text = "APPROVED" if v["status"] == "APPROVED" else \
            "FAILED — failing: " + "; ".join(_criterion_note(crit.get(n, {"name": n})) for n in v["failed"])
        lines.append(f"- **{r['label']}** (`{r['run_id']}`): {text}")
    lines += ["", "## Runs", ""]
    for r in report["runs"]:
        ov = f" with `{' '.join(r['overrides'])}`" if r["overrides"] else ""
        lines.append(f"- {r['label']}: `{r['config']}`{ov} -> `{r['path']}`")
    return "\n".join(lines) + "\n"


def write_report(sweep: SweepDir) -> dict:
    """Write sweep_report.json and sweep_report.md into the sweep directory; returns the report."""
    report = build_report(sweep)
    atomic_write_text(sweep.report_json, json.dumps(report, indent=2, default=str) + "\n")
    atomic_write_text(sweep.report_md, render_markdown(report))
    return report
