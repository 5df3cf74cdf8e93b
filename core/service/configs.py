"""Configs for the front ends: which configs there are, a config's text, and what launching
it would run — checked without creating anything.

    list_configs()                      the shipped configs/ plus *.yaml here (and in extra dirs)
    preview(path)                       a config file's text
    validate(config, data, overrides)   {"ok", "errors", "job", "config_hash", "resolved", ...}

`validate` never raises for bad input: every problem (a bad override line, an unknown key
with its did-you-mean, a missing data file, a test window longer than the data, a bad
sweep grid) comes back as a plain message. Launching is `core.service.jobs.launch` (one
run) or `core.service.sweeps.start` (a grid).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any
from collections.abc import Sequence

from core.errors import InputError

BUNDLED_DATA = "sample_data/parts_daily.csv"  # what the shipped configs name
PREVIEW_MAX_BYTES = 256 * 1024
MAX_OVERRIDE_RETRIES = 20  # bad override lines reported one after another before giving up


def default_data() -> str:
    """The bundled sample as a path that works from here: as the configs name it when the
    current directory holds it (the project root), else the project's own file."""
    from core.data import resolve_data_path

    return str(resolve_data_path(BUNDLED_DATA))


def job_of_kind(kind: Any) -> str | None:
    """ "baselines" for a baseline kind, "train" for a learned one, "ensemble" for an ensemble,
    None for anything else."""
    from core.config import BASELINE_KINDS, LEARNED_KINDS

    if kind in BASELINE_KINDS:
        return "baselines"
    if kind == "ensemble":
        return "ensemble"
    if kind in LEARNED_KINDS:
        return "train"
    return None


def _describe(path: Path, source: str) -> dict:
    """{name, path, kind, job, description, source, error} of one config file (its YAML read, not validated)."""
    from core.config import load_yaml

    entry: dict[str, Any] = {
        "name": path.stem,
        "path": str(path),
        "kind": None,
        "job": None,
        "description": "",
        "source": source,
        "error": None,
    }
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        entry["error"] = f"cannot read: {getattr(exc, 'strerror', None) or exc}"
        return entry
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            entry["description"] = s.lstrip("#").strip()
            break
        if s:
            break  # the description is a comment at the top of the file only
    try:
        raw = load_yaml(text, str(path))  # safe_load refusing alias bombs and deep nesting
    except InputError as exc:
        entry["error"] = f"not valid YAML: {exc.problem.removeprefix('YAML syntax error: ')}"
        return entry
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        entry["error"] = "not a config (the YAML is not a mapping)"
        return entry
    model = raw.get("model")
    kind = model.get("kind", "uniform") if isinstance(model, dict) else "uniform"
    entry["kind"] = kind
    entry["job"] = job_of_kind(kind)
    if entry["job"] is None:
        entry["error"] = f"unknown model kind {kind!r}"
    if isinstance(raw.get("name"), str) and raw["name"]:
        entry["name"] = raw["name"] if raw["name"] == path.stem else f"{path.stem} ({raw['name']})"
    return entry


def list_configs(extra_dirs: Sequence[str | os.PathLike] = ()) -> list[dict]:
    """The shipped configs, then the *.yaml / *.yml of the current directory and of each extra dir.

    Each: {"name", "path", "kind" (model kind), "job" ("baselines" | "train" | None),
    "description" (the file's first comment line), "source" ("shipped" or the folder),
    "error" (why it cannot be a config, or None)}. A file reached twice is listed once.
    """
    from core.config import shipped_configs

    out: list[dict] = []
    seen: set[Path] = set()

    def add(path: Path, source: str) -> None:
        real = path.resolve()
        if real in seen or not path.is_file():
            return
        seen.add(real)
        out.append(_describe(path, source))

    for path in shipped_configs().values():
        add(path, "shipped")
    for folder in [Path("."), *map(Path, extra_dirs)]:
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            add(path, str(folder))
    return out


def preview(path: str | os.PathLike) -> str:
    """A config file's text (InputError when it cannot be read)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(PREVIEW_MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=p) from None
    text = data[:PREVIEW_MAX_BYTES].decode("utf-8", errors="replace")
    return text + ("\n# … (cut: the file is larger than 256 KiB)\n" if len(data) > PREVIEW_MAX_BYTES else "")


def _messages(exc: InputError) -> list[str]:
    """One message per problem: a ConfigError lists further problems as "\\n  also ..." lines."""
    head, *rest = str(exc).split("\n  also ")
    return [head.strip(), *(r.strip() for r in rest)]


def _override_of(message: str, overrides: Sequence[str]) -> int | None:
    """The index of the override line a problem names ("-o LINE: ..."), else None."""
    best = None
    for i, ov in enumerate(overrides):
        if message.startswith(f"-o {ov}: ") and (best is None or len(ov) > len(overrides[best])):
            best = i
    return best


def _load(config, overrides: list[str], data: str | None) -> tuple[Any, list[dict]]:
    """(Config or None, problems): each bad override line is reported and left out so the
    next one is found too; a problem in the file itself ends the search."""
    from core.config import load_config

    problems: list[dict] = []
    remaining = list(overrides)
    for _ in range(MAX_OVERRIDE_RETRIES):
        try:
            cfg = load_config(config, overrides=remaining, data=data)
        except InputError as exc:
            at_fault = []
            for msg in _messages(exc):
                i = _override_of(msg, overrides)
                if not any(p["message"] == msg for p in problems):
                    problems.append({"message": msg, "override": i})
                if i is not None and overrides[i] in remaining:
                    at_fault.append(overrides[i])
            if not at_fault:
                return None, problems
            remaining = [ov for ov in remaining if ov not in at_fault]
            continue
        return (cfg if not problems else None), problems
    return None, problems


def _check_data(cfg) -> tuple[list[str], dict | None]:
    """What the run would find in its data: (problems, {"rows", "first", "last", "splits"})."""
    from core.data import UNSORTED_HINT_CONFIG, load_for_config, resolve_data_path
    from core.data.splits import splits_from_config

    if cfg.data.path is None:
        return ["no data file: set --data FILE or data.path in the config"], None
    path = resolve_data_path(cfg.data.path)
    try:
        data = load_for_config(
            path,
            cfg.data,
            unsorted_hint=UNSORTED_HINT_CONFIG,
        )
    except InputError as exc:
        return [f"data: {exc}"], None
    if data.P != cfg.data.parts:
        return [f"data: {path}: has {data.P} parts but the config says data.parts={cfg.data.parts}"], None
    info = {"path": str(path), "rows": data.T, "first": str(data.dates[0]), "last": str(data.dates[-1])}
    try:
        splits = splits_from_config(cfg.split, data.T, data.dates)
    except InputError as exc:
        return [f"split: {exc.problem}"], info
    last = splits[-1]
    info["splits"] = {
        "folds": len(splits),
        "train": last.train[1] - last.train[0],
        "val": last.val[1] - last.val[0],
        "test": last.test[1] - last.test[0],
    }
    return [], info


def _check_device(cfg, job: str) -> list[str]:
    """A train job that asks for CUDA on a host without it (torch is imported only then)."""
    if job != "train" or cfg.train.device != "cuda":
        return []
    from core.train.learned import device_for

    try:
        device_for(cfg)
    except InputError as exc:
        return [str(exc)]
    return []


def _check_grid(config, grid: list[str], overrides: list[str], data: str | None) -> tuple[list[str], list[str]]:
    """(problems, labels of the sweep's runs) for `key=a,b` grid lines."""
    from core.jobs.sweep import expand_combos

    try:
        combos = expand_combos([str(config)], grid, overrides, data)
    except InputError as exc:
        return _messages(exc), []
    return [], [c.label for c in combos]


def _lines(items: Sequence[str] | str) -> list[tuple[int, str]]:
    """(index in `items` — the line number for text —, stripped line) of the lines that say something."""
    if isinstance(items, str):
        items = items.splitlines()
    return [(i, str(s).strip()) for i, s in enumerate(items) if str(s).strip() and not str(s).strip().startswith("#")]


def validate(
    config: str | os.PathLike,
    data: str | os.PathLike | None = None,
    overrides: Sequence[str] | str = (),
    grid: Sequence[str] | str = (),
    target: str = "local",
) -> dict:
    """What launching `config` with `--data` and `-o` overrides (and a sweep grid) would run.

    Never raises for bad input and creates nothing. Returns
    {"ok": bool, "errors": [plain messages, with the schema's did-you-mean],
     "problems": [{"message", "override": the bad override's index in `overrides` (its
     0-based line when `overrides` is text) or None}],
     "warnings": [...], "job": "baselines" | "train" | None, "kind", "config_hash",
     "resolved": the resolved config as YAML ("" when invalid), "data": {"path", "rows",
     "first", "last", "splits"} or None, "combos": the sweep's run names ([] without a grid)}.
    Blank lines and `#` lines of `overrides` / `grid` are skipped; `data` "" means none given.
    """
    from core.config import config_hash, dump_yaml

    numbered = _lines(overrides)
    ovs, grid_lines = [ov for _, ov in numbered], [g for _, g in _lines(grid)]
    data_s = None if data is None or not str(data).strip() else str(data).strip()
    out: dict[str, Any] = {
        "ok": False,
        "errors": [],
        "problems": [],
        "warnings": [],
        "job": None,
        "kind": None,
        "config_hash": None,
        "resolved": "",
        "data": None,
        "combos": [],
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg, problems = _load(config, ovs, data_s)
        out["problems"] = problems
        if cfg is not None:
            out["kind"] = cfg.model.kind
            out["job"] = job_of_kind(cfg.model.kind)
            out["config_hash"] = config_hash(cfg)
            out["resolved"] = dump_yaml(cfg)
            more, out["data"] = _check_data(cfg)
            if target == "local":  # a remote host's CUDA is checked there, by the launch's preflight
                more += _check_device(cfg, out["job"])
            if grid_lines:
                grid_problems, out["combos"] = _check_grid(config, grid_lines, ovs, data_s)
                more += [f"grid: {m}" for m in grid_problems]
            out["problems"] += [{"message": m, "override": None} for m in more]
    for p in out["problems"]:  # the caller's line of each bad override, bad lines first in order
        p["override"] = None if p["override"] is None else numbered[p["override"]][0]
    out["problems"].sort(key=lambda p: (p["override"] is None, p["override"] or 0))
    out["warnings"] = list(dict.fromkeys(str(w.message) for w in caught))
    out["errors"] = [p["message"] for p in out["problems"]]
    out["ok"] = not out["errors"]
    return out


__all__ = ["BUNDLED_DATA", "default_data", "job_of_kind", "list_configs", "preview", "validate"]
