"""Command palette entries for every action of the screen beneath the palette (and the app's own)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


def screen_actions(app, screen=None) -> list[tuple[object, str, str, str]]:
    """(owner, key, description, action) of `screen`'s bindings (default: the screen on top),
    then the app's; each description once.

    The same list builds the help screen, so `?` and the palette never disagree.
    """
    out: list[tuple[object, str, str, str]] = []
    seen: set[str] = set()
    for owner in (app.screen if screen is None else screen, app):
        for b in getattr(owner, "BINDINGS", []):
            key, action, desc = (b.key, b.action, b.description) if hasattr(b, "key") else (b[0], b[1], b[2])
            if not desc or action in seen or desc in seen:
                continue
            seen.update((action, desc))
            shown = getattr(b, "key_display", None) or key
            out.append((owner, shown, desc, action))
    return out


class ScreenCommands(Provider):
    """Every action the screen beneath the palette offers, searchable by its description.

    `self.screen` is the screen the palette was opened from (Textual hands each provider
    that screen); `app.screen` would be the palette itself, whose own keys are no commands.
    Entries that Textual's system commands already offer by the same name (Quit) are left
    to those, so nothing is listed twice.
    """

    def _actions(self) -> list[tuple[object, str, str, str]]:
        system = {c[0].lower() for c in self.app.get_system_commands(self.screen)}
        return [a for a in screen_actions(self.app, self.screen) if a[2].lower() not in system]

    async def discover(self) -> Hits:
        for owner, key, desc, action in self._actions():
            yield DiscoveryHit(desc, partial(owner.run_action, action), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for owner, key, desc, action in self._actions():
            score = matcher.match(desc)
            if score > 0:
                yield Hit(score, matcher.highlight(desc), partial(owner.run_action, action), help=f"key: {key}")
