"""Dashboard defects from a user report, each held by a Pilot test:

- screen CSS is global in Textual: opening Launch (its `#grid`) or Compare (its `.pane`)
  must not restyle the run screen's overview, nor the runs screen;
- one meaning per key across screens, and the compare screen's paired test (a test touch,
  recorded in each run's manifest) asks first;
- the help screen shows `[` and `]` as keys (escaped markup);
- the runs table marks its sorted column, and a first sort on a text column is ascending.
"""

import shutil
import tempfile
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from synapse_tui.app import SynapseApp
from synapse_tui.screens.runs.columns import TEXT_SORT_COLUMNS
from synapse_tui.widgets.dialogs import YesNo
from tui_fixture import make_fixture_runs
from tui_helpers import until as _until

A, B = "20260101-120000-baselines-aaaa", "20260102-120000-recency-bbbb"


@pytest.fixture(scope="module")
def runs(synthetic_csv):
    root = Path(tempfile.mkdtemp(prefix="synapse-keys-")) / "runs"
    make_fixture_runs(root, synthetic_csv("planted", days=900, seed=5))
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def evaluated(synthetic_csv, tmp_path_factory):
    """Two evaluated baselines runs on the same test window (with predictions: the paired test runs)."""
    from core.config import load_config
    from core.train.run import run_baselines

    data = synthetic_csv("planted", days=900, seed=5)
    root = tmp_path_factory.mktemp("keys-paired") / "runs"
    split = ["split.test_days=200", "split.val_days=200"]
    a = run_baselines(load_config("baselines", overrides=split, data=str(data)), root)
    b = run_baselines(
        load_config("baselines", overrides=[*split, "eval.baselines=[uniform,recency]"], data=str(data)), root
    )
    return root, a.run_id, b.run_id


async def _rows(app, pilot, n: int = 4) -> None:
    assert await _until(
        pilot, lambda: app.screen.query("#runs") and app.screen.query_one("#runs", DataTable).row_count == n
    )
    await pilot.pause(0.1)


def _touches(root: Path, run_id: str) -> int:
    import json

    return len(json.loads((root / run_id / "manifest.json").read_text())["test_touches"])


# ---------------------------------------------------------------------- 1: scoped screen CSS
async def _run_layout(app, pilot, run_id: str) -> dict:
    from synapse_tui.screens.run import RunScreen

    app.open_run(run_id)
    assert await _until(pilot, lambda: isinstance(app.screen, RunScreen))
    screen = app.screen
    assert await _until(pilot, lambda: screen.view is not None or screen.error is not None)
    await pilot.pause(0.2)
    out = {"#grid": screen.query_one("#grid").region}
    for pane in ("#loss-pane", "#tiers-pane", "#reliability-pane", "#summary-pane"):
        out[pane] = screen.query_one(pane).region
    await pilot.press("escape")
    await pilot.pause(0.1)
    return out


async def _compare_layout(app, pilot) -> dict:
    from synapse_tui.screens.compare import CompareScreen

    screen = CompareScreen(app.runs_dir, [A, B])
    app.push_screen(screen)
    assert await _until(pilot, lambda: screen.view is not None)
    await pilot.press("2")
    await pilot.pause(0.2)
    pane = screen.query_one("#metrics .pane")
    out = {"pane": pane.region, "border": pane.styles.border_top[0]}
    await pilot.press("escape")
    await pilot.pause(0.1)
    return out


async def _visit_launch(app, pilot) -> None:
    from synapse_tui.screens.launch import LaunchScreen

    await pilot.press("n")
    assert await _until(pilot, lambda: isinstance(app.screen, LaunchScreen))
    await pilot.pause(0.2)
    await pilot.press("escape")
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
async def test_launch_and_compare_css_do_not_restyle_other_screens(runs, size):
    async with SynapseApp(runs, ascii_plots=False).run_test(size=size) as pilot:
        app = pilot.app
        await _rows(app, pilot)
        runs_region = app.screen.query_one("#runs").region
        clean_run = await _run_layout(app, pilot, A)
    async with SynapseApp(runs, ascii_plots=False).run_test(size=size) as pilot:
        app = pilot.app
        await _rows(app, pilot)
        clean_compare = await _compare_layout(app, pilot)

    async with SynapseApp(runs, ascii_plots=False).run_test(size=size) as pilot:
        app = pilot.app
        await _rows(app, pilot)
        await _visit_launch(app, pilot)
        await _compare_layout(app, pilot)
        assert await _run_layout(app, pilot, A) == clean_run  # the overview is not collapsed by #grid
        assert await _compare_layout(app, pilot) == clean_compare  # nor compare's panes by run's .pane
        await _rows(app, pilot)
        assert app.screen.query_one("#runs").region == runs_region
    assert clean_run["#grid"].height > 10 and clean_run["#loss-pane"].height > 4


# ---------------------------------------------------------------------- 11: one meaning per key
def _bindings() -> dict[str, dict[str, str]]:
    """Every screen's keys -> action."""
    from synapse_tui.screens.artifact import ArtifactScreen
    from synapse_tui.screens.compare import CompareScreen
    from synapse_tui.screens.groups import GroupsScreen
    from synapse_tui.screens.launch import LaunchScreen
    from synapse_tui.screens.run import RunScreen
    from synapse_tui.screens.runs import RunsScreen
    from synapse_tui.screens.sweeps import SweepScreen, SweepsScreen

    out = {}
    screens = (SynapseApp, RunsScreen, RunScreen, CompareScreen, LaunchScreen, SweepsScreen, SweepScreen, GroupsScreen)
    for cls in (*screens, ArtifactScreen):
        keys = {}
        for b in cls.BINDINGS:
            for key in b.key.split(","):
                if cls is ArtifactScreen and key.strip() in VIEWER_KEYS:
                    continue  # a viewer's search keys, as in less and vim (see VIEWER_KEYS)
                keys[key.strip()] = b.action
        out[cls.__name__] = keys
    return out


# Same key, same kind of thing on every screen: digits pick a tab, escape goes back/closes.
GENERIC = {str(i) for i in range(10)} | {"escape", "enter"}
SAME = {
    "sort_parts": "sort",  # `s` sorts the table on the screen (runs, a run's parts)
    "export_csv": "export",  # `E` exports what is shown: the runs table, a plot
    "export_plot": "export",
    "search": "filter",  # `/` finds in what is shown: the runs table, a file
}
# The artifact viewer's n/N move between search matches, as in less and vim (the runs screen's
# `n` launches); only there, and harmless: a viewer starts, cancels and records nothing.
VIEWER_KEYS = {"n", "N"}


def test_a_key_means_one_thing_on_every_screen():
    meaning: dict[str, set[str]] = {}
    for keys in _bindings().values():
        for key, action in keys.items():
            if key not in GENERIC:
                what = action.removeprefix("app.")  # a screen's binding to the app's action: the same
                what = what.split("(")[0] if what.startswith("tab(") else what
                meaning.setdefault(key, set()).add(SAME.get(what, what))
    clashes = {k: v for k, v in meaning.items() if len(v) > 1}
    assert not clashes
    paired = [k for k, a in _bindings()["CompareScreen"].items() if a == "paired"]
    assert paired and all(
        k not in keys for name, keys in _bindings().items() if name != "CompareScreen" for k in paired
    )


async def test_compare_paired_test_asks_first_and_records_only_on_yes(evaluated):
    from synapse_tui.screens.compare import CompareScreen

    key = next(k for k, a in _bindings()["CompareScreen"].items() if a == "paired")
    runs, a, b = evaluated
    before = (_touches(runs, a), _touches(runs, b))
    async with SynapseApp(runs, ascii_plots=False).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await _rows(app, pilot, 2)
        screen = CompareScreen(runs, [a, b])
        app.push_screen(screen)
        assert await _until(pilot, lambda: screen.view is not None)

        await pilot.press(key)
        assert await _until(pilot, lambda: isinstance(app.screen, YesNo))
        question = app.screen.question
        assert "test window" in question and "manifest" in question
        await pilot.press("n")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        assert app.screen is screen and screen.tests is None and not screen.paired_running
        assert (_touches(runs, a), _touches(runs, b)) == before  # 'no' records nothing

        await pilot.press(key)
        assert await _until(pilot, lambda: isinstance(app.screen, YesNo))
        assert (_touches(runs, a), _touches(runs, b)) == before  # asking records nothing
        await pilot.press("y")
        assert await _until(pilot, lambda: screen.tests is not None or screen.paired_error is not None)
        assert screen.paired_error is None
    assert (_touches(runs, a), _touches(runs, b)) == (before[0] + 1, before[1] + 1)


# ---------------------------------------------------------------------- 16: help and sorting
def _help_text(app) -> str:
    return str(app.screen.query_one("#help-text", Static).render())


async def test_help_shows_bracket_keys_unescaped(runs):
    from synapse_tui.screens.help import HelpScreen

    async with SynapseApp(runs, ascii_plots=False).run_test(size=(100, 40)) as pilot:
        app = pilot.app
        await _rows(app, pilot)
        app.open_run(A)
        await pilot.pause(0.5)
        await pilot.press("question_mark")
        assert await _until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = _help_text(app)
        assert "[/b]" not in text and "[b]" not in text
        lines = text.splitlines()
        assert any(line.split() and line.split()[0] == "[" and "smoothing" in line for line in lines)
        assert any(line.split() and line.split()[0] == "]" and "smoothing" in line for line in lines)


def _headers(app) -> dict[str, str]:
    table = app.screen.query_one("#runs", DataTable)
    return {str(k.value): c.label.plain for k, c in table.columns.items()}


def _only_marked(app, key: str, mark: str) -> bool:
    """Every header reads as its column's, the sorted one (only) ending in ` mark`."""
    from synapse_tui.formatting import ASCII_GLYPHS
    from synapse_tui.screens.runs.columns import column

    def header(k: str) -> str:  # in ASCII mode the headers are ASCII too ("epoch ^best")
        return column(k).header.translate(ASCII_GLYPHS) if app.ascii_plots else column(k).header

    want = {k: header(k) + (f" {mark}" if k == key else "") for k in app.screen.columns_shown}
    return {k: v for k, v in _headers(app).items() if k != "sel"} == want


def _order(app) -> list[str]:
    table = app.screen.query_one("#runs", DataTable)
    return [str(r.key.value) for r in table.ordered_rows]


@pytest.mark.parametrize("ascii_mode", [False, True], ids=["unicode", "ascii"])
async def test_runs_sort_marks_its_column_and_text_sorts_ascending_first(runs, ascii_mode):
    up, down = ("^", "v") if ascii_mode else ("▲", "▼")
    async with SynapseApp(runs, ascii_plots=ascii_mode).run_test(size=(160, 48)) as pilot:
        app = pilot.app
        await _rows(app, pilot)
        screen = app.screen
        assert not any(h.endswith((" ▲", " ▼", " ^", " v")) for h in _headers(app).values())

        screen._sort_by("name")  # a header click
        await pilot.pause(0.1)
        assert screen.sort_descending is False
        assert _only_marked(app, "name", up)
        names = [screen.rows[r].get("name") or "" for r in _order(app)]
        assert names == sorted(names)

        screen._sort_by("name")  # again: flipped
        await pilot.pause(0.1)
        assert _only_marked(app, "name", down)

        screen._sort_by("started")  # numbers and times: descending first
        await pilot.pause(0.1)
        assert screen.sort_descending is True
        assert _only_marked(app, "started", down)

        screen.sort_key = None  # `s` walks the columns from the first (a text one: ascending)
        screen.action_sort()
        await pilot.pause(0.1)
        first = screen.columns_shown[0]
        assert first in TEXT_SORT_COLUMNS and screen.sort_key == first and screen.sort_descending is False
        assert _only_marked(app, first, up)
        screen.action_sort()  # the next one
        await pilot.pause(0.1)
        second = screen.columns_shown[1]
        assert screen.sort_key == second and screen.sort_descending is (second not in TEXT_SORT_COLUMNS)
        assert _only_marked(app, second, down if second not in TEXT_SORT_COLUMNS else up)
