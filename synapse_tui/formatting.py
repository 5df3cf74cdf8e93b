"""How numbers, durations, ranges and sizes read in both front ends (the CLI's tables and the
dashboard), and the tables of tomorrow's pool they both show."""

from __future__ import annotations

import re

# What a terminal would act on inside text that came from a run (a remote host's log line,
# an error, a host name): ESC sequences (CSI such as SGR colours and screen clears, OSC such
# as titles and OSC-8 links, DCS/PM/APC strings, two-byte escapes), their 8-bit C1 forms,
# and every other C0/C1 control character. An unterminated string sequence eats the rest.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI ... final (or cut short)
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC ... terminator
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # 8-bit OSC, DCS, SOS, PM, APC
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # the remaining C0 (not tab, newline) and C1
)
_BLANKS = re.compile(r"[\t\n]")


def clean(value: object, *, newlines: bool = False) -> str:
    """Text from a run, safe to print: every terminal control sequence and control character
    removed (so a remote log line cannot recolour, retitle, clear the screen or plant a
    link); tabs and newlines kept with `newlines`, else each turned into a space. It is
    plain text still: print it as `rich.text.Text` (or `rich.markup.escape` it) so brackets
    are never read as markup."""
    if value is None:
        return ""
    text = _CONTROL.sub("", str(value))
    return text if newlines else _BLANKS.sub(" ", text)


def esc(value: object) -> str:
    """Text from a run inside a markup string: cleaned, and its brackets escaped."""
    from rich.markup import escape

    return escape(clean(value))


def cell(value: object):
    """A table cell of text from a run: cleaned, and a rich Text so it is never markup."""
    from rich.text import Text

    return Text(clean(value))


def num(v, digits: int = 3, signed: bool = False) -> str:
    """A number with `digits` decimals; "–" for a missing or NaN value. A value that rounds
    to zero reads 0.000 (+0.000 signed), never -0.000."""
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    text = f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"
    if text[0] == "-" and float(text) == 0:
        text = ("+" if signed else "") + text[1:]
    return text


def ago(seconds: float | None) -> str:
    """12s, 5m, 3h, 2d, 6w, 2y."""
    if seconds is None:
        return "–"
    s = max(0.0, seconds)
    for unit, size in (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size * (2 if unit in ("y", "w") else 1):
            return f"{int(s // size)}{unit}"
    return f"{int(s)}s"


def clock(seconds: float | None) -> str:
    """0:42, 12:34, 1:02:03."""
    if seconds is None:
        return "–"
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def k_ranges(ks: list[int]) -> str:
    """[20, 21, 22, 25] -> '20-22,25'."""
    out, start, prev = [], None, None
    for k in sorted(ks):
        if start is None:
            start = prev = k
        elif k == prev + 1:
            prev = k
        else:
            out.append(f"{start}-{prev}" if prev > start else str(start))
            start = prev = k
    if start is not None:
        out.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(out)


# What the dashboard draws with when the terminal cannot show Unicode (an SSH session with a
# C locale): each glyph it uses, as ASCII.
ASCII_GLYPHS = str.maketrans(
    {
        "–": "-",
        "—": "-",
        "▲": "^",
        "▼": "v",
        "●": "*",
        "•": ".",
        "↓": "v",
        "↑": "^",
        "→": "->",
        "×": "x",
        "…": "...",
        "·": "-",
        "Δ": "d",
        "≥": ">=",
        "≤": "<=",
        "⭘": "o",
        "▏": "|",
    }
)


def byte_size(n: int) -> str:
    """1020 B, 2.9 KB, 205.0 KB, 1.2 GB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# Tomorrow's pool as `core.service.predict.predict` returns it, the same in `synapse predict`
# and the dashboard's Pool tab (each passes its own styles).
def probability_grid(probs: list[dict], cols: int, *, title_style: str | None = None):
    """The calibrated probability per part ({part, p}, ranked), in `cols` groups of (#, part, p)
    columns side by side, read down then across."""
    from rich.table import Table

    grid = Table(
        title="calibrated probability per part, ranked",
        title_justify="left",
        box=None,
        padding=(0, 1),
        title_style=title_style,
    )
    for _ in range(cols):
        grid.add_column("#", justify="right", style="dim")
        grid.add_column("part", justify="right")
        grid.add_column("p", justify="right")
    per = (len(probs) + cols - 1) // cols
    for r in range(per):
        cells = []
        for c in range(cols):
            i = c * per + r
            cells += [str(i + 1), str(probs[i]["part"]), f"{probs[i]['p']:.3f}"] if i < len(probs) else ["", "", ""]
        grid.add_row(*cells)
    return grid


def pool_table(
    pools: dict, best_k: int | None = None, *, title_style: str | None = None, random_style: str | None = None
):
    """The top-K pools ({tiers, pools: [{k, expected_hits, or_better, random_or_better}]}): K,
    expected hits, P(tier or better) per tier and a random pool's P(good or better); the row
    of `best_k` (the suggested K) in bold green."""
    from rich.table import Table

    tiers = list(pools["tiers"])
    pt = Table(
        title="top-K pools: expected hits, P(tier or better)",
        title_justify="left",
        box=None,
        header_style="bold",
        title_style=title_style,
        padding=(0, 1),
    )
    pt.add_column("K", justify="right")
    pt.add_column("E hits", justify="right")
    for t in tiers:
        pt.add_column(f"{t}+", justify="right")
    pt.add_column("random good+", justify="right", style=random_style)
    for pool in pools["pools"]:
        style = "bold green" if best_k == pool["k"] else ""
        pt.add_row(
            str(pool["k"]),
            f"{pool['expected_hits']:.2f}",
            *[f"{pool['or_better'][t]:.3f}" for t in tiers],
            f"{pool['random_or_better'].get('good', float('nan')):.3f}",
            style=style,
        )
    return pt
