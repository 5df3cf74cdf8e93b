"""The glyphs the sweep screens draw, and their ASCII twins (`synapse-tui --ascii`, a C locale)."""

from __future__ import annotations

UNICODE = {
    "winner": "★",
    "point": "●",
    "bar": "█",
    "half": "▌",
    "cursor": "▸",
    "vline": "│",
    "hline": "─",
    "corner": "└",
    "tick": "┬",
    "dash": "–",
    "sep": "·",
    "eta": "η²",
    "rho": "ρ",
    "chance": "┊",
}
ASCII = {
    "winner": "*",
    "point": "o",
    "bar": "#",
    "half": "=",
    "cursor": ">",
    "vline": "|",
    "hline": "-",
    "corner": "+",
    "tick": "+",
    "dash": "-",
    "sep": "-",
    "eta": "eta2",
    "rho": "rho",
    "chance": ":",
}
assert set(UNICODE) == set(ASCII)


def glyphs(ascii_only: bool) -> dict[str, str]:
    return ASCII if ascii_only else UNICODE


def fmt(v: float | None, digits: int = 5) -> str:
    """A metric with `digits` decimals (a Brier score differs in the fourth); "-" for none."""
    if v is None or v != v:
        return "-"
    return f"{v:.{digits}f}" if abs(v) < 1e4 else f"{v:.4g}"


def value_text(v: object) -> str:
    """A swept key's value as it reads in a grid (`0.001`, `true`, `[1, 7]`)."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return "[" + ",".join(value_text(x) for x in v) + "]"
    return str(v)
