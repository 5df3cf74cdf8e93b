"""Sweep grids (core.jobs.sweep): `-g KEY=V1,V2,...` axes, configs x their cartesian
product, each combo validated and named.

Grid values are parsed exactly like `-o` overrides (YAML), each combo is validated like
`synapse train` validates a config, and each gets a distinct name: `<name>-h64-lr3e-3`.
Grid axes under `train.` do not apply to baseline configs (baselines do not train): such
a config is run once, and sweep.json says which axes it ignored.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence

from core.config import BASELINE_KINDS, Config, load_config
from core.errors import RUN_NAME_MAX, InputError
from core.runs import NAME_RE

MAX_NAME = RUN_NAME_MAX  # run names (core.runs.NAME_RE)

# Short tags for common grid keys (the last part of the dotted key); anything else uses
# the last part itself.
_ABBREV = {
    "hidden": "h",
    "layers": "l",
    "dropout": "do",
    "lr": "lr",
    "epochs": "ep",
    "weight_decay": "wd",
    "batch_size": "bs",
    "d_model": "d",
    "heads": "nh",
    "context": "ctx",
    "ffn_mult": "ffn",
    "halflife": "hl",
    "window": "w",
    "chunks": "ch",
    "tbptt": "tb",
    "seed": "s",
    "label_smoothing": "ls",
    "patience": "pat",
    "steps_per_epoch": "spe",
    "smoothing": "sm",
    "decays": "tau",
    "l2": "l2",
    "kind": "",
    "method": "cal",
    "head": "head",
    "mode": "mode",
    "positions": "pos",
    "recency_cap": "rc",
    "max_gap": "mg",
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
        name = f"{name[: MAX_NAME - 7].rstrip('-_.')}-{digest}"
    return name


def _job_of(cfg: Config) -> str:
    return "baselines" if cfg.model.kind in BASELINE_KINDS else "train"


def expand_combos(
    configs: Sequence[str | os.PathLike],
    grid: Sequence[str] = (),
    overrides: Sequence[str] = (),
    data: str | os.PathLike | None = None,
) -> list[Combo]:
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


def expand(
    configs: Sequence[str | os.PathLike],
    grid: Sequence[str] = (),
    overrides: Sequence[str] = (),
    data: str | os.PathLike | None = None,
) -> list[tuple[str, Config]]:
    """[(label, Config)] for configs x grid; `Config.name` is the label. InputError names a bad combo."""
    return [(c.label, c.cfg) for c in expand_combos(configs, grid, overrides, data)]
