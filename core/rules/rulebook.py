"""A rulebook: rules as readable, editable YAML (`rulebook.yaml`) and an evidence table
(`rulebook.md`); reading a user's file back with file:line errors.

The machine fields define a rule: `kind`, `antecedent` and `consequent` (part ids, 1-based),
and per kind `window: {min, max}` (follow_within, inhibition), `gap` (long_absence),
`weekday` or `month` (calendar); `enabled: false` keeps a rule but switches it off.
`when`, `then`, `lift` and `evidence` describe it for people: they are written by the miner
and not read back as definitions (a user-written rule may leave them out).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from core.config.yaml_lines import MAX_YAML_DEPTH, Origins, _mark_lines, _yaml_error
from core.errors import ConfigError
from core.rules.kinds import KINDS, MONTHS, WEEKDAYS, month_index, recent_counts, weekday_index

FORMAT = "synapse.rulebook/1"
MAX_RULEBOOK_CHARS = 64 << 20  # a mined rule is ~700 characters: room for ~90,000 rules
MAX_GAP = 10_000
RULE_KEYS = (
    "kind",
    "when",
    "then",
    "lift",
    "antecedent",
    "consequent",
    "window",
    "gap",
    "weekday",
    "month",
    "enabled",
    "source",
    "note",
    "evidence",
)
TOP_KEYS = ("format", "parts", "mined", "rules")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FULL_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


class RulebookError(ConfigError):
    """A rulebook file that does not hold valid rules (names file, line and the rule)."""


@dataclass
class Rule:
    kind: str
    antecedent: tuple[int, ...]  # part ids, 1-based; () for calendar
    consequent: tuple[int, ...]
    window: tuple[int, int] | None = None  # follow_within / inhibition: draws back [min, max]
    gap: int | None = None  # long_absence
    weekday: int | None = None  # calendar, 0 = Monday
    month: int | None = None  # calendar, 0 = January
    evidence: dict | None = None
    source: str = "mined"
    enabled: bool = True
    note: str | None = None
    line: int | None = field(default=None, compare=False)

    @property
    def direction(self) -> int:
        """+1: the consequent is more likely when the rule fires; -1: less likely."""
        return -1 if self.kind == "inhibition" else 1

    @property
    def predictive(self) -> bool:
        """Whether the antecedent is known before the day (all but same-day co-occurrence)."""
        return self.kind != "cooccurrence"

    def key(self) -> tuple:
        return (self.kind, self.antecedent, self.consequent, self.window, self.gap, self.weekday, self.month)

    # ------------------------------------------------------------------ words
    @property
    def when(self) -> str:
        parts = _parts(self.antecedent, "any of ")
        if self.kind in ("follow_within", "inhibition"):
            assert self.window is not None
            a, b = self.window
            if a == b == 1:
                return f"{parts} on the last draw"
            if a == b:
                return f"{parts} exactly {a} draws back"
            if a == 1:
                return f"{parts} within the last {b} draws"
            return f"{parts} within the last {a}-{b} draws"
        if self.kind == "cooccurrence":
            return f"{parts} drawn the same day"
        if self.kind == "long_absence":
            return f"{_parts(self.antecedent, 'all of ')} unseen for {self.gap}+ draws"
        if self.weekday is not None:
            return f"the draw is on a {_FULL_WEEKDAYS[self.weekday].capitalize()}"
        return f"the draw is in {_FULL_MONTHS[int(self.month or 0)].capitalize()}"

    @property
    def then(self) -> str:
        if self.kind == "cooccurrence":
            return f"{_parts(self.consequent)} drawn with it more often"
        return f"{_parts(self.consequent)} {'less' if self.direction < 0 else 'more'} likely"

    @property
    def lift_text(self) -> str | None:
        ev = (self.evidence or {}).get("train")
        return fmt_lift(ev) if isinstance(ev, dict) and "lift" in ev else None

    # ------------------------------------------------------------------ data
    def to_dict(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind, "when": self.when, "then": self.then}
        if self.lift_text:
            d["lift"] = self.lift_text
        d["antecedent"] = list(self.antecedent)
        d["consequent"] = list(self.consequent)
        if self.window is not None:
            d["window"] = {"min": self.window[0], "max": self.window[1]}
        if self.gap is not None:
            d["gap"] = self.gap
        if self.weekday is not None:
            d["weekday"] = WEEKDAYS[self.weekday]
        if self.month is not None:
            d["month"] = MONTHS[self.month]
        if not self.enabled:
            d["enabled"] = False
        d["source"] = self.source
        if self.note:
            d["note"] = self.note
        if self.evidence:
            d["evidence"] = self.evidence
        return d

    def antecedent_series(self, Y: np.ndarray, dates: np.ndarray) -> np.ndarray:
        """(T,) bool: where the rule fires. Day t's value reads rows < t only (and t's date), except
        co-occurrence, which is about the same day (not `predictive`)."""
        T = Y.shape[0]
        ant = [p - 1 for p in self.antecedent]
        if self.kind == "calendar":
            if self.weekday is not None:
                return np.asarray(weekday_index(dates) == self.weekday)
            return np.asarray(month_index(dates) == self.month)
        if self.kind == "cooccurrence":
            return np.asarray(Y[:, ant].any(axis=1))
        cols = Y[:, ant]
        C = np.zeros((T + 1, len(ant)), dtype=np.int32)
        np.cumsum(cols, axis=0, dtype=np.int32, out=C[1:])
        s = np.arange(T)
        if self.kind == "long_absence":
            g = int(self.gap or 0)
            return np.asarray((recent_counts(C, s, 1, g) == 0).all(axis=1) & (s >= g))
        assert self.window is not None
        return np.asarray((recent_counts(C, s, *self.window) > 0).any(axis=1))


def fmt_lift(e: Any) -> str:
    """`1.31 [1.18, 1.45]` from an evidence mapping; `n/a` where it is missing or not numbers."""
    try:
        lo, hi = e["ci"]
        return f"{float(e['lift']):.2f} [{float(lo):.2f}, {float(hi):.2f}]"
    except (TypeError, ValueError, KeyError):
        return "n/a"


def fmt_p(v: Any) -> str:
    try:
        return f"{float(v):.2e}"
    except (TypeError, ValueError):
        return ""


def _parts(ids: tuple[int, ...], many: str = "") -> str:
    if len(ids) == 1:
        return f"part {ids[0]}"
    return f"{many}parts {', '.join(str(i) for i in ids)}"


# ---------------------------------------------------------------------------- writing
_SAFE_PLAIN = re.compile(r"[A-Za-z0-9_./(+][A-Za-z0-9 _.,/()+\[\]-]*(?<! )")
_RESOLVER = yaml.resolver.Resolver()


def _scalar(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if not math.isfinite(f):
            return ".nan" if math.isnan(f) else (".inf" if f > 0 else "-.inf")
        text = repr(f)
        if "e" in text and "." not in text.split("e")[0]:
            mant, exp = text.split("e")
            text = f"{mant}.0e{exp}"  # YAML 1.1 reads 1e-05 as a string
        if "e" in text and text.split("e")[1][0] not in "+-":
            text = text.replace("e", "e+")
        return text
    s = str(v)
    if _SAFE_PLAIN.fullmatch(s) and _RESOLVER.resolve(yaml.ScalarNode, s, (True, False)) == "tag:yaml.org,2002:str":
        return s  # reads back as this very string (no ': ', ' #', leading indicator; not a number/bool/date)
    return json.dumps(s)


def _flow(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_flow(x) for x in v) + "]"
    s = _scalar(v)
    return json.dumps(str(v)) if isinstance(v, str) and any(c in s for c in ",[]{}") and not s.startswith('"') else s


def _block(d: dict, indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for k, v in d.items():
        if isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()):
            lines.append(f"{pad}{k}:")
            lines += _block(v, indent + 2)
        elif isinstance(v, (dict, list, tuple)):
            lines.append(f"{pad}{k}: {_flow(v)}")
        else:
            lines.append(f"{pad}{k}: {_scalar(v)}")
    return lines


HEADER = """\
# Synapse rulebook ({fmt}).
# Each rule: kind, antecedent and consequent (part ids) and its window / gap / weekday / month
# define it; when, then, lift and evidence describe it (rewritten when mined again).
# Edit, delete or add rules (source: user); `enabled: false` switches one off.
# Check a file with: synapse rules check FILE
"""


def dump_rulebook(rules: list[Rule], *, parts: int, mined: dict | None = None) -> str:
    out = [HEADER.format(fmt=FORMAT).rstrip("\n"), f"format: {FORMAT}", f"parts: {parts}"]
    if mined:
        out.append("mined:")
        out += _block(mined, 2)
    if not rules:
        out.append("rules: []")
    else:
        out.append("rules:")
        for r in rules:
            body = _block(r.to_dict(), 4)
            body[0] = "  - " + body[0][4:]
            out += body
    return "\n".join(out) + "\n"


def markdown(rules: list[Rule], *, title: str, preamble: list[str]) -> str:
    lines = [f"# {title}", "", *preamble, ""]
    if not rules:
        lines.append("No rule passed both the training FDR and the validation replication.")
        return "\n".join(lines) + "\n"
    lines.append(
        "| # | kind | when | then | train lift [95% CI] | support | hits | p | q | val lift [95% CI] | val support | val p |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(rules, 1):
        ev = r.evidence or {}
        tr, va = ev.get("train", {}), ev.get("validation", {})
        lines.append(
            f"| {i} | {r.kind} | {r.when} | {r.then} | {fmt_lift(tr)} | {tr.get('support', '')} | {tr.get('hits', '')} | "
            f"{fmt_p(tr.get('p'))} | {fmt_p(tr.get('q'))} | {fmt_lift(va)} | {va.get('support', '')} | "
            f"{fmt_p(va.get('p'))} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- reading
@dataclass
class Rulebook:
    rules: list[Rule]
    parts: int
    mined: dict | None
    path: str


def _where(origins: Origins, path: tuple[str, ...]) -> int | None:
    while path:
        if path in origins:
            return origins[path][1]
        path = path[:-1]
    return None


def _name(v: Any, names: tuple[str, ...], full: tuple[str, ...]) -> int | None:
    if not isinstance(v, str):
        return None
    s = v.strip().lower()
    for i, (a, b) in enumerate(zip(names, full, strict=True)):
        if s in (a.lower(), b):
            return i
    return None


def _ids(v: Any, P: int, what: str, *, allow_empty: bool = False) -> tuple[tuple[int, ...] | None, str | None]:
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list):
        return None, "should be a list of part ids, e.g. [12]"
    if not v and not allow_empty:
        return None, "is empty: name at least one part id"
    bad = [x for x in v if not isinstance(x, int) or isinstance(x, bool) or not 1 <= x <= P]
    if bad:
        return None, f"{bad[0]!r} is not a part id in 1..{P}"
    if len(set(v)) != len(v):
        return None, "names a part twice"
    return tuple(v), None


def _parse_rule(item: Any, i: int, P: int, problems: list[tuple[tuple[str, ...], str]]) -> Rule | None:
    here = ("rules", str(i))

    def bad(key: str | None, msg: str) -> None:
        problems.append((here + ((key,) if key else ()), f"rules[{i}]{'.' + key if key else ''}: {msg}"))

    if not isinstance(item, dict):
        bad(None, "a rule should be a mapping with at least `kind`, `antecedent` and `consequent`")
        return None
    n0 = len(problems)
    for k in item:
        if k not in RULE_KEYS:
            import difflib

            hint = difflib.get_close_matches(str(k), RULE_KEYS, n=1)
            bad(
                str(k),
                f"unknown key {str(k)!r}"
                + (f" — did you mean '{hint[0]}'?" if hint else f" (allowed: {', '.join(RULE_KEYS)})"),
            )
    kind = item.get("kind")
    if kind not in KINDS:
        import difflib

        hint = difflib.get_close_matches(str(kind), KINDS, n=1)
        bad(
            "kind",
            f"unknown kind {kind!r}"
            + (f" — did you mean '{hint[0]}'?" if hint else "")
            + f" (kinds: {', '.join(KINDS)})",
        )
        return None
    for k in ("when", "then", "lift", "note", "source"):
        if k in item and not isinstance(item[k], str):
            bad(k, f"should be text, not {type(item[k]).__name__}")
    if "enabled" in item and not isinstance(item["enabled"], bool):
        bad("enabled", "should be true or false")
    if "evidence" in item and not isinstance(item["evidence"], dict):
        bad("evidence", "should be a mapping")
    cal = kind == "calendar"
    ant: tuple[int, ...] | None = ()
    if cal:
        if item.get("antecedent") not in (None, []):
            bad("antecedent", "a calendar rule has no antecedent parts (leave it out or [])")
    elif "antecedent" not in item:
        bad(None, f"a {kind} rule needs `antecedent: [part ids]`")
    else:
        ant, msg = _ids(item["antecedent"], P, "antecedent")
        if msg:
            bad("antecedent", msg)
    cons: tuple[int, ...] | None = None
    if "consequent" not in item:
        bad(None, "needs `consequent: [part ids]`")
    else:
        cons, msg = _ids(item["consequent"], P, "consequent")
        if msg:
            bad("consequent", msg)
    window = gap = weekday = month = None
    for k, owner in (("window", ("follow_within", "inhibition")), ("gap", ("long_absence",))):
        if k in item and kind not in owner:
            bad(k, f"a {kind} rule has no {k} (only {', '.join(owner)})")
    for k in ("weekday", "month"):
        if k in item and not cal:
            bad(k, f"a {kind} rule has no {k} (only calendar)")
    if kind in ("follow_within", "inhibition"):
        w = item.get("window")
        if not isinstance(w, dict) or set(w) != {"min", "max"}:
            bad(
                "window",
                "should be `window: {min: A, max: B}`: the antecedent occurred A to B draws back (1 = the last draw)",
            )
        else:
            a, b = w["min"], w["max"]
            ok = all(isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= MAX_GAP for x in (a, b))
            if not ok:
                bad("window", f"min and max should be whole numbers of draws in 1..{MAX_GAP}, got {a!r}, {b!r}")
            elif a > b:
                bad("window", f"min ({a}) is larger than max ({b})")
            else:
                window = (a, b)
    if kind == "long_absence":
        g = item.get("gap")
        if not isinstance(g, int) or isinstance(g, bool) or not 1 <= g <= MAX_GAP:
            bad("gap" if "gap" in item else None, f"a long_absence rule needs `gap: G`, draws unseen, in 1..{MAX_GAP}")
        else:
            gap = g
    if cal:
        has = [k for k in ("weekday", "month") if k in item]
        if len(has) != 1:
            bad(has[1] if len(has) > 1 else None, "a calendar rule needs exactly one of `weekday: Mon` or `month: Jan`")
        elif has[0] == "weekday":
            weekday = _name(item["weekday"], WEEKDAYS, _FULL_WEEKDAYS)
            if weekday is None:
                bad("weekday", f"{item['weekday']!r} is not a weekday ({', '.join(WEEKDAYS)})")
        else:
            month = _name(item["month"], MONTHS, _FULL_MONTHS)
            if month is None:
                bad("month", f"{item['month']!r} is not a month ({', '.join(MONTHS)})")
    if len(problems) > n0 or ant is None or cons is None:
        return None
    return Rule(
        kind,
        ant,
        cons,
        window=window,
        gap=gap,
        weekday=weekday,
        month=month,
        evidence=item.get("evidence"),
        source=str(item.get("source", "user")),
        enabled=bool(item.get("enabled", True)),
        note=item.get("note"),
    )


# libyaml's parser where it is installed (PyYAML's own takes ~5 s a megabyte); the same safe constructor.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line(event: yaml.Event) -> int | None:
    mark = event.start_mark
    return None if mark is None else mark.line + 1


def _read_yaml(text: str, source: str) -> tuple[dict, Origins]:
    """`yaml.safe_load` with the line of every key, for rulebooks. Not `core.config.load_yaml`:
    its 10,000-node cap (against alias bombs) would refuse a mined rulebook of ~130 rules. A
    rulebook has no use for aliases, so they are refused outright: with none, the node count is
    bounded by the text, which is capped at MAX_RULEBOOK_CHARS; nesting is capped as for configs."""
    if len(text) > MAX_RULEBOOK_CHARS:
        raise RulebookError(
            f"{len(text):,} characters, more than the {MAX_RULEBOOK_CHARS:,} a rulebook may hold", path=source
        )
    loader = _Loader(text)
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise RulebookError(
                    "YAML aliases (*name) are not allowed in a rulebook; write the rule out",
                    path=source,
                    line=_line(event),
                )
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise RulebookError(
                        f"nested more than {MAX_YAML_DEPTH} levels deep", path=source, line=_line(event)
                    )
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        raw = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    finally:
        loader.dispose()
    if not isinstance(raw, dict):
        raise RulebookError(
            f"the top level must be a mapping (format, parts, rules), not {type(raw).__name__}", path=source, line=1
        )
    origins: Origins = {}
    _mark_lines(node, (), source, origins)
    return raw, origins


def parse_rulebook(text: str, source: str = "<rulebook>", parts: int | None = None) -> Rulebook:
    """Read and validate a rulebook's YAML; every problem is reported (the first as the error,
    the others as `also FILE:LINE:` lines) in one RulebookError."""
    try:
        raw, origins = _read_yaml(text, source)
    except ConfigError as exc:
        raise RulebookError(exc.problem, path=exc.path, line=exc.line) from None
    problems: list[tuple[tuple[str, ...], str]] = []
    for k in raw:
        if k not in TOP_KEYS:
            problems.append(((str(k),), f"unknown top-level key {str(k)!r} (allowed: {', '.join(TOP_KEYS)})"))
    fmt = raw.get("format", FORMAT)
    if fmt != FORMAT:
        problems.append((("format",), f"format {fmt!r} is not {FORMAT!r}"))
    P = raw.get("parts", parts if parts is not None else 39)
    if not isinstance(P, int) or isinstance(P, bool) or not 2 <= P <= 10_000:
        problems.append((("parts",), f"parts should be the number of parts, 2..10000, got {P!r}"))
        P = 39
    if parts is not None and P != parts:
        problems.append((("parts",), f"the rulebook is for {P} parts but the data has {parts}"))
    if "mined" in raw and raw["mined"] is not None and not isinstance(raw["mined"], dict):
        problems.append((("mined",), "mined should be a mapping"))
    items = raw.get("rules", [])
    if items is None:
        items = []
    rules: list[Rule] = []
    if not isinstance(items, list):
        problems.append((("rules",), "rules should be a list (`rules:` then `- kind: ...` items)"))
        items = []
    seen: dict[tuple, int] = {}
    for i, item in enumerate(items):
        r = _parse_rule(item, i, P, problems)
        if r is None:
            continue
        r.line = _where(origins, ("rules", str(i)))
        if r.key() in seen:
            problems.append(((("rules", str(i))), f"rules[{i}]: the same rule as rules[{seen[r.key()]}]"))
            continue
        seen[r.key()] = i
        rules.append(r)
    if problems:
        rendered = sorted(((_where(origins, path), msg) for path, msg in problems), key=lambda r: r[0] or 0)
        line, first = rendered[0]
        more = "".join(f"\n  also {source}{':' + str(ln) if ln else ''}: {m}" for ln, m in rendered[1:])
        raise RulebookError(first + more, path=source, line=line)
    mined = raw.get("mined") if isinstance(raw.get("mined"), dict) else None
    return Rulebook(rules, P, mined, source)


def load_rulebook(path: str | Path, parts: int | None = None) -> Rulebook:
    p = Path(path)
    if p.is_dir():
        cand = p / "rulebook.yaml"
        if not cand.is_file():
            raise RulebookError("is a directory without a rulebook.yaml", path=p)
        p = cand
    try:
        if p.stat().st_size > MAX_RULEBOOK_CHARS * 4:
            raise RulebookError("the file is too large for a rulebook", path=p)
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RulebookError(f"not UTF-8 text (byte {exc.start})", path=p) from None
    except OSError as exc:
        raise RulebookError(f"cannot read: {exc.strerror}", path=p) from None
    return parse_rulebook(text, str(p), parts)
