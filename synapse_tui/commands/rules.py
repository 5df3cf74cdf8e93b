"""`synapse rules mine|check`: rules with evidence (docs/ARCHITECTURE.md, "Rules").

Registered in synapse_tui/cli.py with `app.add_typer(rules_app, name="rules")`.
numpy, scipy and core.rules are imported inside the commands (`synapse --help` stays light).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from core.errors import InputError
from synapse_tui.cliutil import ConfigOpt, DataOpt, JsonOpt, OverrideOpt, console, print_json, say, tell, user_errors

rules_app = typer.Typer(
    help="Mine rules with evidence (tested on training, FDR-controlled, replicated on validation); check rulebooks.",
    no_args_is_help=True,
)

SHOWN = 40  # rules printed in the terminal table; rulebook.md has them all


def _rule_json(r: Any) -> dict:
    d = r.to_dict()
    d["direction"] = "less likely" if r.direction < 0 else "more likely"
    return d


def _windows(split: Any, dates: Any) -> dict:
    out = {}
    for name, key in (("train", "train"), ("validation", "val"), ("test", "test")):
        a, b = getattr(split, key)
        out[name] = {"start": a, "stop": b, "days": b - a, "first_date": str(dates[a]), "last_date": str(dates[b - 1])}
    out["test"]["read"] = False
    return out


@rules_app.command("mine")
@user_errors
def rules_mine(
    data: DataOpt = None,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for rulebook.yaml and rulebook.md (default: rules-<data file name>)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing rulebook in --out.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Mine follow-within, inhibition, co-occurrence, long-absence and calendar rules.

    Every candidate is tested on the TRAINING window of the config's split (the same
    windows as a run with those split settings), the false discovery rate is controlled
    across all of them, and a rule is kept only when its lift replicates on the
    VALIDATION window; the test window is never read. Settings: the `rules:` section of
    configs/rules/mine.yaml (the default config), e.g. -o rules.fdr=0.1. Example:

        synapse rules mine --data my.csv --out my-rules
    """
    from core.data import load_for_config, UNSORTED_HINT_CONFIG, resolve_data_path
    from core.data.splits import splits_from_config
    from core.rules import dump_rulebook, load_rules_config, markdown, mine

    cfg, settings = load_rules_config(config, overrides=override or (), data=None if data is None else str(data))
    if cfg.data.path is None:
        raise InputError("no data file: pass --data FILE or set data.path in the config")
    path = resolve_data_path(cfg.data.path)
    ds = load_for_config(
        path,
        cfg.data,
        unsorted_hint=UNSORTED_HINT_CONFIG,
    )
    if ds.P != cfg.data.parts:
        raise InputError(f"data has {ds.P} parts but the config says data.parts={cfg.data.parts}", path=path)
    split = splits_from_config(cfg.split, ds.T, ds.dates)[-1]  # the last fold: the one a run reports
    res = mine(ds.Y, ds.dates, split, settings)
    windows = _windows(split, ds.dates)
    counts = res.counts()
    out_dir = Path(out) if out is not None else Path(f"rules-{Path(str(cfg.data.path)).name.split('.')[0]}")
    yaml_path, md_path = out_dir / "rulebook.yaml", out_dir / "rulebook.md"
    if yaml_path.exists() and not force:
        raise InputError(f"{yaml_path} exists (it may hold your edits); pass --force to overwrite or --out elsewhere")
    mined = {
        "data": str(cfg.data.path),
        "sha256": ds.sha256,
        "rows": ds.T,
        "train": {k: windows["train"][k] for k in ("first_date", "last_date", "days")},
        "validation": {k: windows["validation"][k] for k in ("first_date", "last_date", "days")},
        "test_read": False,
        "settings": settings.model_dump(mode="json"),
        "counts": counts,
    }
    preamble = [
        f"Data `{cfg.data.path}` ({ds.T:,} rows, sha256 {ds.sha256[:16]}…).",
        f"Mined on the training window {windows['train']['first_date']} .. {windows['train']['last_date']} "
        f"({windows['train']['days']:,} days); replicated on validation {windows['validation']['first_date']} .. "
        f"{windows['validation']['last_date']} ({windows['validation']['days']:,} days); the test window was not read.",
        f"FDR {settings.fdr} ({settings.fdr_method.upper()}) over {counts['all']['tested']:,} candidates tested; "
        f"replication: one-sided p <= {settings.replication_alpha} with lift on the same side of 1.",
        "",
        "| kind | candidates | tested | FDR discoveries | replicated | kept |",
        "|---|---|---|---|---|---|",
        *(
            f"| {k} | {v['candidates']} | {v['tested']} | {v['discovered']} | {v['replicated']} | {v['kept']} |"
            for k, v in counts.items()
        ),
        "",
        "Lift = P(consequent | rule fires) / the consequent's rate in the same window (co-occurrence: against "
        "the rate exactly-K days imply); 95% Wilson interval. p: one-sided exact test (hypergeometric; "
        "binomial for co-occurrence); q: FDR-adjusted.",
    ]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        from core.fsutil import atomic_write_bytes

        atomic_write_bytes(yaml_path, dump_rulebook(res.rules, parts=ds.P, mined=mined).encode())
        atomic_write_bytes(md_path, markdown(res.rules, title="Rulebook", preamble=preamble).encode())
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=exc.filename or out_dir) from None
    if as_json:
        print_json(
            {
                "data": {"path": str(cfg.data.path), "sha256": ds.sha256, "rows": ds.T, "parts": ds.P},
                "windows": windows,
                "settings": settings.model_dump(mode="json"),
                "counts": counts,
                "rules": [_rule_json(r) for r in res.rules],
                "files": {"rulebook": str(yaml_path), "markdown": str(md_path)},
            }
        )
        return
    for w in ds.warnings:
        tell(w, "warning:", "yellow")
    tr, va, te = windows["train"], windows["validation"], windows["test"]
    say(f"mined {path} ({ds.T:,} rows, {ds.P} parts)")
    say(f"  train       {tr['first_date']} .. {tr['last_date']} ({tr['days']:,} days): every candidate tested")
    say(f"  validation  {va['first_date']} .. {va['last_date']} ({va['days']:,} days): discoveries replicated")
    say(f"  test        {te['first_date']} .. {te['last_date']} ({te['days']:,} days): not read")
    ct = Table(box=None, pad_edge=False, padding=(0, 1))
    for col in ("kind", "candidates", "tested", f"FDR {settings.fdr}", "replicated", "kept"):
        ct.add_column(col, justify="left" if col == "kind" else "right")
    for k, v in counts.items():
        ct.add_row(k, *(f"{v[c]:,}" for c in ("candidates", "tested", "discovered", "replicated", "kept")))
    console.print(ct)
    if res.rules:
        rt = Table(box=None, pad_edge=False, padding=(0, 1), title="kept rules (strongest first)", title_justify="left")
        wide = console.width >= 120  # the kind column only where it fits beside the rule
        cols = ["#", *(["kind"] if wide else []), "rule", "lift [95% CI]", "q", "val lift", "val p"]
        for col in cols:
            rt.add_column(
                col, justify="left" if col in ("kind", "rule", "lift [95% CI]") else "right", no_wrap=col != "rule"
            )
        for i, r in enumerate(res.rules[:SHOWN], 1):
            ev = r.evidence or {}
            rt.add_row(
                str(i),
                *([r.kind] if wide else []),
                f"{r.when} -> {r.then}",
                r.lift_text or "",
                f"{ev['train']['q']:.1e}",
                f"{ev['validation']['lift']:.2f}",
                f"{ev['validation']['p']:.1e}",
            )
        console.print(rt)
        if len(res.rules) > SHOWN:
            say(f"  ... and {len(res.rules) - SHOWN} more in {md_path}")
    else:
        say("no rule passed the training FDR and the validation replication (an empty rulebook)")
    say(f"wrote {yaml_path}")
    say(f"wrote {md_path}")


@rules_app.command("check")
@user_errors
def rules_check(
    rulebook: Annotated[Path, typer.Argument(help="A rulebook.yaml (or the folder holding one).", show_default=False)],
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Also measure each rule on this file's training and validation windows."),
    ] = None,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
    parts: Annotated[
        int | None, typer.Option("--parts", "-P", min=2, help="Parts in the data (default: the file's `parts`, or 39).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a rulebook, e.g. one with rules you wrote; exit 2 naming file:line and the rule.

    With --data (and the split of -c, default configs/rules/mine.yaml) each rule's evidence is
    measured on the training and validation windows, one test per rule and consequent part
    (no FDR: a rule written in advance is not a search); the test window is not read."""
    from core.rules import load_rulebook
    from core.rules.rulebook import fmt_lift, fmt_p

    book = load_rulebook(rulebook, parts=parts)
    by_kind: dict[str, int] = {}
    for r in book.rules:
        by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
    user = sum(r.source != "mined" for r in book.rules)
    off = sum(not r.enabled for r in book.rules)
    measured = _measure(book, data, config, override) if data is not None else None
    if as_json:
        doc: dict[str, Any] = {
            "ok": True,
            "path": book.path,
            "parts": book.parts,
            "rules": len(book.rules),
            "by_kind": by_kind,
            "user": user,
            "disabled": off,
        }
        if measured is not None:
            doc["evidence"] = [
                {
                    "line": r.line,
                    "kind": r.kind,
                    "antecedent": list(r.antecedent),
                    "consequent": list(r.consequent),
                    "when": r.when,
                    "then": r.then,
                    "parts": ev,
                }
                for r, ev in zip(book.rules, measured, strict=True)
            ]
        print_json(doc)
        return
    kinds = ", ".join(f"{v} {k}" for k, v in by_kind.items()) or "no rules"
    say(
        f"OK {book.path}: {len(book.rules)} rules ({kinds}); {user} user-written, {off} disabled; parts 1..{book.parts}"
    )
    if measured is None:
        return
    t = Table(box=None, pad_edge=False, padding=(0, 1))
    for col in ("line", "when", "then", "part", "train lift [95% CI]", "p", "val lift [95% CI]", "val p"):
        t.add_column(col, justify="left" if col in ("when", "then") else "right")
    for r, ev in zip(book.rules, measured, strict=True):
        for e in ev:
            tr, va = e["train"], e["validation"]
            t.add_row(
                str(r.line or ""),
                r.when,
                r.then,
                str(e["part"]),
                fmt_lift(tr),
                fmt_p(tr["p"]),
                fmt_lift(va),
                fmt_p(va["p"]),
            )
    console.print(t)
    say("p: one-sided, in the rule's direction (more likely; less likely for inhibition)")


def _measure(book: Any, data: Path, config: Path | None, override: list[str] | None) -> list:
    from core.data import UNSORTED_HINT_CONFIG, load_for_config, resolve_data_path
    from core.data.splits import splits_from_config
    from core.rules import load_rules_config
    from core.rules.mine import evaluate_rules

    cfg, _ = load_rules_config(config, overrides=override or (), data=str(data))
    path = resolve_data_path(str(data))
    ds = load_for_config(
        path,
        cfg.data,
        unsorted_hint=UNSORTED_HINT_CONFIG,
    )
    if ds.P != book.parts:
        raise InputError(f"the rulebook is for {book.parts} parts but the data has {ds.P}", path=book.path)
    split = splits_from_config(cfg.split, ds.T, ds.dates)[-1]
    return evaluate_rules(book.rules, ds.Y, ds.dates, split)
