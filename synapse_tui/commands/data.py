"""`synapse data generate|validate|describe` and `synapse config show|validate`.

Registered in synapse_tui/cli.py with `app.add_typer(data_app, name="data")` and
`app.add_typer(config_app, name="config")`.
Heavy modules (numpy, pandas, the engine) are imported inside the commands.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core.errors import InputError
from synapse_tui.cliutil import (
    ConfigOpt,
    DataOpt,
    JsonOpt,
    OverrideOpt,
    console,
    print_json,
    say,
    tell,
    user_errors,
)

data_app = typer.Typer(help="Generate, validate and describe data files.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect configs: resolve defaults and overrides, validate.", no_args_is_help=True)


# --------------------------------------------------------------------------- data


class DataKind(str, Enum):
    planted = "planted"
    uniform = "uniform"


class DataLayout(str, Enum):
    draws = "draws"
    draws_us = "draws-us"


class DataSampling(str, Enum):
    cbern = "cbern"
    successive = "successive"


PartsOpt = Annotated[
    int | None, typer.Option("--parts", "-P", min=1, help="Number of parts P (ids 1..P). Default: inferred.")
]
PerDayOpt = Annotated[
    int | None, typer.Option("--events-per-day", "-K", min=1, help="Require exactly this many events every day.")
]
UnsortedOpt = Annotated[
    bool, typer.Option("--allow-unsorted", help="Sort rows by date (with a warning) instead of refusing.")
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="The dates' format: YYYY-MM-DD, M/D/YYYY, D/M/YYYY, D.M.YYYY, YYYYMMDD, ... Default: inferred from the column.",
    ),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Which columns to read, as DATE:PART,PART,... (e.g. 'Draw Date:m_1,m_2,m_3,m_4,m_5'); "
        "others are ignored. Default: found from the header.",
    ),
]
FileArg = Annotated[Path, typer.Argument(help="A draws or multihot CSV (or Parquet) file.", show_default=False)]


@data_app.command("generate")
@user_errors
def data_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write; the truth goes to <name>.truth.npz.")],
    kind: Annotated[
        DataKind, typer.Option(help="planted: a known process to learn; uniform: the leakage control.")
    ] = DataKind.planted,
    sampling: Annotated[
        DataSampling,
        typer.Option(
            help=(
                "How a planted day's K parts are drawn from its weights: cbern conditions independent parts on exactly K "
                "(the design the models assume); successive picks K one at a time without replacement, each in proportion "
                "to weight (Plackett-Luce), to test models on data not drawn their way."
            )
        ),
    ] = DataSampling.cbern,
    days: Annotated[int, typer.Option(min=1, help="Number of consecutive days.")] = 11_000,
    parts: Annotated[int, typer.Option("--parts", min=2, help="Number of parts P.")] = 39,
    per_day: Annotated[int, typer.Option("--per-day", min=1, help="Distinct parts per day K.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 0,
    start: Annotated[str, typer.Option(help="First date, YYYY-MM-DD.")] = "1995-01-02",
    layout: Annotated[
        DataLayout,
        typer.Option(
            help=(
                "draws: date,e1..eK with ISO dates, one row a day. draws-us: the layout real histories come in, "
                "date,m_1..m_K with M/D/YYYY dates, no newline at the end, four draws a week (Mon, Tue, Thu, Sat) "
                "for the first --weekly-years years, then daily."
            )
        ),
    ] = DataLayout.draws,
    weekly_years: Annotated[
        int, typer.Option("--weekly-years", min=0, help="draws-us: years of four draws a week before the daily draws.")
    ] = 6,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a seeded synthetic data set and its per-day truth probabilities.

    [bold]<name>.truth.npz[/bold] holds every day's inclusion probabilities: exact for
    cbern sampling (the default), by quadrature for successive sampling (its error
    estimate, below 1e-10, is recorded in the file). Example:

        synapse data generate --kind planted --days 3000 --seed 7 --out my.csv
    """
    import numpy as np

    from core.data import synthetic

    if per_day >= parts:
        raise InputError(f"--per-day {per_day} must be smaller than --parts {parts}")
    truth_path = synthetic.truth_path(out)
    existing = [p for p in (out, truth_path) if p.exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} exists; pass --force to overwrite")
    syn = synthetic.generate(
        kind.value, days=days, parts=parts, per_day=per_day, seed=seed, start=start, sampling=sampling.value
    )
    if layout is DataLayout.draws_us:
        syn = synthetic.with_calendar(syn, synthetic.real_calendar(start, days, weekly_years))
    if syn.dates[-1] > np.datetime64("9999-12-31"):
        raise InputError(f"--start {start} with --days {days} runs past 9999-12-31")
    try:
        paths = synthetic.write(out, syn, layout=layout.value)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=exc.filename or out) from None
    summary = {
        "kind": kind.value,
        "sampling": sampling.value,
        "layout": layout.value,
        "days": days,
        "parts": parts,
        "per_day": per_day,
        "seed": seed,
        "first_date": str(syn.dates[0]),
        "last_date": str(syn.dates[-1]),
        "files": [str(p) for p in paths],
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"wrote {days} {kind.value} days ({syn.dates[0]} .. {syn.dates[-1]}), P={parts}, K={per_day}, seed={seed}"
            + ("" if sampling is DataSampling.cbern else f", {sampling.value} sampling")
            + ("" if layout is DataLayout.draws else f", {layout.value} layout")
            + ":"
        )
        for p in paths:
            say(f"  {p}")


@data_app.command("validate")
@user_errors
def data_validate(
    file: FileArg,
    parts: PartsOpt = None,
    events_per_day: PerDayOpt = None,
    allow_unsorted: UnsortedOpt = False,
    date_format: DateFormatOpt = None,
    columns: ColumnsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a data file; print what is wrong (file:line: problem) and exit 2, or a one-line OK."""
    ds = _load(file, parts, events_per_day, allow_unsorted, date_format, columns)
    if as_json:
        print_json(
            {
                "ok": True,
                "path": str(file),
                "format": ds.fmt,
                "T": ds.T,
                "P": ds.P,
                "date_format": ds.date_format,
                "warnings": list(ds.warnings),
            }
        )
        return
    _warn(ds)
    say(f"OK {file}: {ds.fmt}, {ds.T} days x {ds.P} parts, {ds.dates[0]} .. {ds.dates[-1]}, dates {ds.date_format}")


@data_app.command("describe")
@user_errors
def data_describe(
    file: FileArg,
    parts: PartsOpt = None,
    events_per_day: PerDayOpt = None,
    allow_unsorted: UnsortedOpt = False,
    date_format: DateFormatOpt = None,
    columns: ColumnsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Summarise a data file: what was detected (layout, date column and format, part
    columns, calendar), size, date range, gaps, per-part frequency, events per day."""
    from core.data import describe

    ds = _load(file, parts, events_per_day, allow_unsorted, date_format, columns)
    info = describe(ds)
    if as_json:
        print_json(info)
        return
    _warn(ds)
    _print_description(info)


def _columns_option(raw: str | None) -> dict | None:
    if raw is None:
        return None
    date, sep, rest = raw.partition(":")
    parts = [p.strip() for p in rest.split(",") if p.strip()]
    if not sep or not date.strip() or not parts:
        raise InputError(f"--columns {raw!r}: expected DATE:PART,PART,... (e.g. 'date:m_1,m_2,m_3,m_4,m_5')")
    return {"date": date.strip(), "parts": parts}


def _load(file: Path, parts, events_per_day, allow_unsorted: bool, date_format: str | None, columns: str | None):
    from core.data import load_dataset
    from core.data.dates import parse_format

    fmt = None
    if date_format is not None:
        try:
            fmt = parse_format(date_format)
        except ValueError as exc:
            raise InputError(f"--date-format {exc}") from None
    return load_dataset(
        file,
        parts=parts,
        events_per_day=events_per_day,
        allow_unsorted=allow_unsorted,
        date_format=fmt,
        columns=_columns_option(columns),
    )


def _warn(ds) -> None:
    """Each of the loader's warnings, once (the gap warning among them)."""
    for w in dict.fromkeys(ds.warnings):
        tell(w, "warning:", "yellow")


def _print_description(info: dict) -> None:
    gaps = info["gaps"]
    head = Table.grid(padding=(0, 2))
    det = info.get("detected") or {}
    head.add_row("file", str(info["path"]))
    head.add_row("layout", f"{info['format']} ({det.get('detected', 'by name')})")
    if det:
        head.add_row("date column", str(det["date_column"]))
        head.add_row("date format", f"{det['date_format']}: {det['date_format_why']}")
        cols = det["part_columns"]
        shown = ", ".join(cols) if len(cols) <= 8 else f"{', '.join(cols[:3])}, ..., {cols[-1]} ({len(cols)})"
        head.add_row("part columns", shown)
        if det.get("K") is not None:
            head.add_row("parts a day (K)", str(det["K"]))
    head.add_row("days (T)", f"{info['T']:,}")
    head.add_row("parts (P)", str(info["P"]))
    head.add_row("dates", f"{info['start']} .. {info['end']} ({info['span_days']:,} calendar days)")
    head.add_row("gaps", f"{gaps['count']} ({gaps['missing_days']} missing days)")
    if det.get("calendar"):
        head.add_row("calendar", str(det["calendar"]))
    head.add_row("events/day", ", ".join(f"{k}: {v:,} days" for k, v in info["events_per_day_histogram"].items()))
    head.add_row("sha256", info["sha256"][:16] + "…")
    console.print(head)

    freq = info["per_part_frequency"]
    rates = [f["rate"] for f in freq]
    lo, hi = min(rates), max(rates)
    table = Table(title="per-part frequency", title_justify="left", box=None, pad_edge=False, padding=(0, 1))
    cols = max(1, min(3, console.width // 32))
    for _ in range(cols):
        table.add_column("part", justify="right")
        table.add_column("days", justify="right")
        table.add_column("rate", justify="right")
        table.add_column("", width=8, no_wrap=True)
    rows = (len(freq) + cols - 1) // cols
    for r in range(rows):
        cells: list[str] = []
        for c in range(cols):
            i = c * rows + r
            if i < len(freq):
                f = freq[i]
                width = 0 if hi == lo else round(8 * (f["rate"] - lo) / (hi - lo))
                cells += [str(f["part"]), f"{f['count']:,}", f"{f['rate']:.3f}", "█" * width]
            else:
                cells += ["", "", "", ""]
        table.add_row(*cells)
    console.print(table)


# --------------------------------------------------------------------------- config


@config_app.command("show")
@user_errors
def config_show(
    config: ConfigOpt = None,
    override: OverrideOpt = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the resolved config: every default filled in, overrides applied, validated."""
    from core.config import config_hash, dump_yaml, load_config

    cfg = load_config(config, overrides=override or (), data=None if data is None else str(data))
    if as_json:
        print_json({"hash": config_hash(cfg), "config": cfg.model_dump(mode="json")})
    else:
        sys.stdout.write(f"# config hash {config_hash(cfg)}\n" + dump_yaml(cfg))


@config_app.command("validate")
@user_errors
def config_validate(
    configs: Annotated[list[Path], typer.Argument(help="One or more YAML configs.", show_default=False)],
) -> None:
    """Validate configs; exit 2 naming file, line and key on the first problem."""
    from core.config import config_hash, load_config

    for path in configs:
        cfg = load_config(path)
        say(f"OK {path}: model {cfg.model.kind}, hash {config_hash(cfg)}")
