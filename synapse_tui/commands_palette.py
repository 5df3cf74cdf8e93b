"""Command palette entries for every action of the screen on top (and the app's own)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


def screen_actions(app) -> list[tuple[object, str, str, str]]:
    """(owner, key, description, action) of the screen on top's bindings, then the app's.

    The same list builds the help screen, so `?` and the palette never disagree.
    """
    out, seen = [], set()
    for owner in (app.screen, app):
        for b in getattr(owner, "BINDINGS", []):
            key, action, desc = (b.key, b.action, b.description) if hasattr(b, "key") else (b[0], b[1], b[2])
            if not desc or action in seen:
                continue
            seen.add(action)
            shown = getattr(b, "key_display", None) or key
            out.append((owner, shown, desc, action))
    return out


class ScreenCommands(Provider):
    """Every action the current screen offers, searchable by its description."""

    async def discover(self) -> Hits:
        for owner, key, desc, action in screen_actions(self.app):
            yield DiscoveryHit(desc, partial(owner.run_action, action), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for owner, key, desc, action in screen_actions(self.app):
            score = matcher.match(desc)
            if score > 0:
                yield Hit(score, matcher.highlight(desc), partial(owner.run_action, action), help=f"key: {key}")
