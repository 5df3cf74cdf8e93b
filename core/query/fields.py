"""The fields of the filter grammar (core.query): names, types, aliases, and a field's value in a row.

`QueryError` lives here too: resolving a field name is the first thing that can fail.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Any
from collections.abc import Iterable, Mapping

from core.errors import InputError
from core.runs.status import STATUSES

# --------------------------------------------------------------------------- fields

NUMBER, TEXT, BOOL, TIME, DURATION = "number", "text", "yes/no", "time", "duration"
TAGS = "tags"  # the run's set of tags: = has one, ~ one contains, null none
CONFIG = "config"  # a dotted key of the run's resolved config: typed by its value (number, text, yes/no)


@dataclass(frozen=True)
class Field:
    name: str  # the row key (a store column)
    type: str
    help: str
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # known values of a text field (typos get a did-you-mean)


_FIELD_LIST = (
    Field("run_id", TEXT, "run id", ("id", "run")),
    Field("name", TEXT, "run name (the config's name)"),
    Field("model", TEXT, "model kind (logistic, gru, ...; 'baselines' for a baselines run)", ("kind",)),
    Field("job", TEXT, "job: baselines or train"),
    Field("status", TEXT, ", ".join(STATUSES[:-1]) + f" or {STATUSES[-1]}", ("state",), STATUSES),
    Field("attempt", NUMBER, "attempt number (a resume is a new attempt)", ("attempts",)),
    Field("created", TIME, "when the run was created (UTC)", ("date",)),
    Field("started", TIME, "when the current attempt started (UTC)"),
    Field("finished", TIME, "when the run finished (UTC)"),
    Field("age", DURATION, "time since the run was created", ()),
    Field("duration_s", DURATION, "how long the current attempt ran (so far)", ("duration", "took")),
    Field("config_hash", TEXT, "hash of the resolved config", ("hash", "config")),
    Field("data_sha256", TEXT, "sha256 of the data file", ("data", "sha256", "sha")),
    Field("host", TEXT, "host the run was started on"),
    Field("device", TEXT, "device it ran on (cpu, cuda, ...)"),
    Field("primary", TEXT, "the scorer the summary is about", ("primary_model",)),
    Field("reference", TEXT, "what the primary is judged against", ("ref",)),
    Field("best_baseline", TEXT, "best baseline, chosen on validation", ("baseline",)),
    Field("calibration", TEXT, "calibration chosen for the primary", ("cal", "calibrator")),
    Field("epochs", NUMBER, "epochs trained (largest epoch number logged)", ("epoch",)),
    Field("best_epoch", NUMBER, "the epoch of the best checkpoint (last improvement of the monitored metric)"),
    Field("best_val_loss", NUMBER, "lowest validation loss of any epoch", ("val_loss", "loss")),
    Field("val_brier", NUMBER, "validation Brier score of the primary"),
    Field("auc", NUMBER, "test macro ROC AUC", ("roc_auc",)),
    Field("pr_auc", NUMBER, "test macro PR-AUC", ("ap",)),
    Field("brier_skill", NUMBER, "test Brier skill score", ("bss", "skill")),
    Field("ece_before", NUMBER, "test ECE before calibration", ("ece_raw",)),
    Field("ece_after", NUMBER, "test ECE after calibration", ("ece",)),
    Field("classwise_ece", NUMBER, "test classwise ECE (mean of per-part ECE)", ("cw_ece",)),
    Field("best_good_or_better", NUMBER, "best good-or-better rate over K (test)", ("good", "gob", "good_or_better")),
    Field("best_k", NUMBER, "the K of that best rate", ("k",)),
    Field("lift_capture", NUMBER, "(model - random) / (oracle - random), mean over K", ("lift",)),
    Field("beats_reference", BOOL, "beats its reference (McNemar + Holm)", ("beats",)),
    Field("verdict", TEXT, "APPROVED or FAILED", (), ("approved", "failed")),
    Field("test_touches", NUMBER, "times the test window was evaluated", ("touches",)),
    Field("error", TEXT, "the error a failed run ended with"),
    Field(
        "tags",
        TAGS,
        "the user's tags: tag=baseline-v2 has that tag, tag~base one contains it, tag=null none",
        ("tag",),
    ),
    Field("note", TEXT, "the user's note on the run (note~text: contains)", ("notes",)),
    Field("archived", BOOL, "archived by the user (listings hide these unless asked)"),
    Field("sweep", TEXT, "the id of the sweep that made the run (sweep~lr matches part of it)", ("sweep_id",)),
)
FIELDS: dict[str, Field] = {f.name: f for f in _FIELD_LIST}
ALIASES: dict[str, str] = {a: f.name for f in _FIELD_LIST for a in f.aliases}
_ALL_NAMES = {**{n: n for n in FIELDS}, **ALIASES}


class QueryError(InputError):
    """A filter that does not parse or names an unknown field.

    `position` is 1-based in `text`; `expected` says what the parser wanted there.
    """

    def __init__(self, text: str, position: int, message: str, *, label: str = "filter", expected: str | None = None):
        self.text = text
        self.position = position
        self.message = message
        self.expected = expected
        self.label = label
        super().__init__(f"{label} {text!r}: position {position}: {message}")


def is_config_key(name: str) -> bool:
    """Whether a field name is a dotted config key (`train.lr`, `model.hidden`)."""
    return "." in name


def config_field(name: str) -> Field:
    return Field(name, CONFIG, "a key of the run's resolved config")


def resolve_field(
    name: str,
    *,
    text: str | None = None,
    position: int = 1,
    label: str = "filter",
    config_keys: Iterable[str] | None = None,
) -> Field:
    """The field called `name` (or one of its aliases); a did-you-mean error otherwise.

    A name with a dot is a config key (`train.lr`). With `config_keys` (the keys seen in the
    index; none: anything goes) a key whose top-level section no run has is refused with a
    did-you-mean against those keys; an unknown key of a known section is accepted (it
    matches no run that lacks it).
    """
    if is_config_key(name):
        known = list(config_keys) if config_keys is not None else []
        if not known or name in known or name.split(".", 1)[0] in {k.split(".", 1)[0] for k in known}:
            return config_field(name)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        if close:
            msg = f"unknown field {name!r}; did you mean {' or '.join(close)}?"
        else:
            sections = sorted({k.split(".", 1)[0] for k in known})
            msg = f"unknown config key {name!r} (config sections: {', '.join(sections)}; keys: `synapse runs fields`)"
        if text is None:
            raise InputError(msg)
        raise QueryError(text, position, msg, label=label, expected="a field name")
    key = name.lower()
    if key in _ALL_NAMES:
        return FIELDS[_ALL_NAMES[key]]
    close = difflib.get_close_matches(key, list(_ALL_NAMES), n=3, cutoff=0.6)
    if close:
        msg = f"unknown field {name!r}; did you mean {' or '.join(close)}?"
    else:
        msg = f"unknown field {name!r} (fields: {', '.join(FIELDS)})"
    if text is None:
        raise InputError(msg)
    raise QueryError(text, position, msg, label=label, expected="a field name")


def field_help() -> list[dict]:
    """Every field with its type, aliases and meaning (for help screens)."""
    return [{"name": f.name, "type": f.type, "aliases": list(f.aliases), "help": f.help} for f in _FIELD_LIST]


# --------------------------------------------------------------------------- a field's value in a row


def _parse_time(s: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def config_of(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The row's flat {dotted key: value} config ({} when it has none)."""
    cfg = row.get("config")
    if isinstance(cfg, Mapping):
        return cfg
    raw = row.get("config_json")
    if isinstance(raw, str):
        try:
            cfg = json.loads(raw)
        except ValueError:
            return {}
        return cfg if isinstance(cfg, dict) else {}
    return {}


def tags_of(row: Mapping[str, Any]) -> list[str]:
    """The row's tags: a list in a public row, its JSON as stored in the index ([] when none)."""
    tags = row.get("tags")
    if isinstance(tags, str):
        try:
            tags = json.loads(tags)
        except ValueError:
            return []
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def value_of(row: Mapping[str, Any], name: str, now: datetime | None = None) -> Any:
    """A field's value in a row (canonical name); `age` is derived from `created` and `now`.

    A config key (`train.lr`) is read from the row's flat config: `config` (a dict, as in a
    public row) or `config_json` (its JSON, as stored in the index).
    """
    if "." in name:
        return config_of(row).get(name)
    if name == "tags":
        return tags_of(row) or None
    if name == "age" and row.get("age") is None:
        created = row.get("created")
        if not created:
            return None
        dt = created if isinstance(created, datetime) else _parse_time(str(created))
        if dt is None:
            return None
        now = now or datetime.now(UTC)
        return (now - dt).total_seconds()
    return row.get(name)
