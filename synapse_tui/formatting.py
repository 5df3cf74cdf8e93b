"""How numbers, durations and ranges read in both front ends (the CLI's tables and the dashboard)."""
from __future__ import annotations


def num(v, digits: int = 3, signed: bool = False) -> str:
    """A number with `digits` decimals; "–" for a missing or NaN value."""
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


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
ASCII_GLYPHS = str.maketrans({"–": "-", "▲": "^", "●": "*", "↓": "v", "↑": "^", "→": "->", "×": "x", "…": "..."})
