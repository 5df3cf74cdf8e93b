"""What the dashboard's Pilot tests share: waiting for a condition, a Static's text, and
opening a run's screen. Import by name (`from tui_helpers import until`), as helpers.py."""

import io
import time

from rich.console import Console


async def until(pilot, condition, timeout: float = 15.0, step: float = 0.05) -> bool:
    """Let the app run until `condition()` holds (True) or `timeout` seconds pass (its last value)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        await pilot.pause(step)
    return condition()


def static_text(widget) -> str:
    """What a Static shows, rendered wide as plain text."""
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


async def open_run(app, pilot, run_id: str):
    """Open `run_id`'s screen and wait until it has read its view (or failed to)."""
    from synapse_tui.screens.run import RunScreen

    app.open_run(run_id)
    assert await until(pilot, lambda: isinstance(app.screen, RunScreen))
    screen = app.screen
    assert await until(pilot, lambda: screen.view is not None or screen.error is not None)
    await pilot.pause(0.1)
    return screen


# Workers that live as long as their screen (a run's follower polls its event log until the
# screen goes): their groups end in "-follow", and waiting for "every worker" skips them.
FOREVER_SUFFIX = "-follow"


async def settle(pilot, condition=None, timeout: float = 15.0) -> None:
    """Wait until `condition()` holds (when given), every worker but the followers has finished,
    and two screenshots in a row agree (a late redraw would show as a flaky snapshot diff)."""
    app = pilot.app
    if condition is not None:
        assert await until(pilot, condition, timeout), "the screen never reached the state the test waits for"
    for _ in range(3):
        await pilot.pause(0.2)
        busy = [w for w in app.workers if not (w.group or "").endswith(FOREVER_SUFFIX) and not w.is_finished]
        if busy:
            await app.workers.wait_for_complete(busy)
    shot = app.export_screenshot()
    for _ in range(15):
        await pilot.pause(0.2)
        again = app.export_screenshot()
        if again == shot:
            return
        shot = again
