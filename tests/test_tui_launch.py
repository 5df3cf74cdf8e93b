"""The dashboard's launch screen, driven by keys at 80x24: a config chosen, --data and
overrides typed, problems shown inline with Launch disabled, a real run launched."""

import time

import pytest
from textual.widgets import Button, Input, OptionList, Static, TextArea

from core.runs import RunDir, list_run_dirs, status_of
from synapse_tui.app import SynapseApp
from synapse_tui.screens.launch import LaunchScreen

from helpers import write_synthetic
from tui_helpers import until as _until


@pytest.fixture(scope="module")
def planted_csv(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("launch") / "planted.csv", "planted", days=900, seed=5)


def _problems(screen) -> str:
    return str(screen.query_one("#problems", Static).render())


def _checked(screen) -> bool:
    """The check of the form as it is now has come back."""
    return screen.result is not None


async def _open(app, pilot, root) -> LaunchScreen:
    screen = LaunchScreen(root)
    app.push_screen(screen)
    assert await _until(pilot, lambda: screen.configs and screen.config is not None)
    return screen


@pytest.mark.slow
async def test_launch_a_baselines_run_from_the_form(tmp_path, planted_csv):
    root = tmp_path / "runs"
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root)
        assert app.focused is screen.query_one("#configs", OptionList)
        names = [c["name"] for c in screen.configs]
        await pilot.press(*["down"] * names.index("baselines"), "enter")  # enter: on to --data
        assert screen.config["name"] == "baselines" and screen.config["job"] == "baselines"
        data = screen.query_one("#data", Input)
        assert app.focused is data and data.value.endswith("sample_data/parts_daily.csv")
        await pilot.press("ctrl+u", *str(planted_csv))
        assert data.value == str(planted_csv)
        button = screen.query_one("#launch", Button)
        assert button.disabled  # nothing checked yet for this form

        # 900 days cannot hold the default 1,000-day test and validation windows.
        assert await _until(pilot, lambda: _checked(screen))
        assert not screen.result["ok"] and "not enough data" in _problems(screen) and button.disabled

        await pilot.press("ctrl+f", *"split.test_days=200", "enter", *"split.val_dayz=200")
        assert app.focused is screen.query_one("#overrides", TextArea)
        assert await _until(pilot, lambda: _checked(screen))
        shown = _problems(screen)
        assert "overrides line 2" in shown and "did you mean 'split.val_days'" in shown
        assert "Traceback" not in shown and button.disabled
        await pilot.press("ctrl+s")  # refused while invalid
        assert app.screen is screen and not list_run_dirs(root)

        await pilot.press(*["left"] * 4, "backspace", "s")  # val_dayz=200 -> val_days=200
        assert screen.query_one("#overrides", TextArea).text == "split.test_days=200\nsplit.val_days=200"
        assert await _until(pilot, lambda: _checked(screen))
        assert screen.result["ok"], screen.result["errors"]
        assert not button.disabled and not screen.query_one("#problems", Static).display
        check = str(screen.query_one("#check", Static).render())
        assert "baselines job" in check and "test 200" in check

        await pilot.press("ctrl+s")
        assert await _until(pilot, lambda: app.screen is not screen, timeout=30)
        runs = list_run_dirs(root)
        assert len(runs) == 1 and runs[0].name == "baselines"
        assert any(runs[0].run_id in n.message for n in app._notifications)

    run = RunDir(runs[0].path)
    end = time.monotonic() + 60
    while status_of(run).status != "succeeded" and time.monotonic() < end:
        assert status_of(run).status in ("queued", "running"), status_of(run)
        time.sleep(0.25)
    assert status_of(run).status == "succeeded"
    cfg = run.config_yaml.read_text()
    assert "test_days: 200" in cfg and "val_days: 200" in cfg and str(planted_csv) in cfg


async def test_problems_inline_and_back_with_escape(tmp_path):
    root = tmp_path / "runs"
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root)
        names = [c["name"] for c in screen.configs]
        await pilot.press(*["down"] * names.index("gru"))
        assert screen.config["job"] == "train"
        await pilot.press("ctrl+f", *"model.hiden=64", "enter", *"=3", "enter", *"train.lr=abc")
        assert await _until(pilot, lambda: _checked(screen))
        shown = _problems(screen)
        assert "overrides line 1" in shown and "did you mean 'model.hidden'" in shown
        assert "overrides line 2" in shown and "overrides line 3" in shown
        assert screen.query_one("#launch", Button).disabled
        # A sweep grid: the button says how many runs; a bad grid line is a problem too.
        await pilot.press("ctrl+u", "up", "ctrl+k", "ctrl+k", "up", "ctrl+k", "ctrl+k")
        assert screen.query_one("#overrides", TextArea).text.strip() == ""
        await pilot.press("ctrl+g", *"model.hidden=32,64")
        assert await _until(pilot, lambda: _checked(screen))
        assert screen.result["ok"], screen.result["errors"]
        assert str(screen.query_one("#launch", Button).label) == "Launch sweep (2 runs)"
        await pilot.press("ctrl+r")  # the resolved config in the preview
        assert screen.show_resolved
        await pilot.press("ctrl+l", "escape")
        assert app.screen is not screen
    assert not list_run_dirs(root)  # nothing was created by checking


async def test_ctrl_o_opens_any_yaml_by_path_and_says_file_line_when_it_is_bad(tmp_path, planted_csv):
    from synapse_tui.widgets.text_prompt import TextPrompt

    root = tmp_path / "runs"
    bad = tmp_path / "elsewhere" / "broken.yaml"
    bad.parent.mkdir()
    bad.write_text("name: broken\nmodel:\n  kind: [gru\n")
    good = tmp_path / "elsewhere" / "mine.yaml"
    good.write_text(f"name: mine\ndata:\n  path: {planted_csv}\nmodel:\n  kind: logistic\n")
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root)
        shipped = len(screen.configs)
        await pilot.press("ctrl+o")
        assert await _until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press("enter")  # empty: said in the prompt, which stays
        await pilot.pause(0.1)
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*str(bad), "enter")
        assert await _until(pilot, lambda: app.screen is screen and f"{bad}:4: YAML syntax error" in _problems(screen))
        assert len(screen.configs) == shipped  # not added to the list

        await pilot.press("ctrl+o")
        assert await _until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press(*str(good), "enter")
        assert await _until(pilot, lambda: screen.config is not None and screen.config["path"] == str(good))
        assert len(screen.configs) == shipped + 1 and screen.configs[-1]["job"] == "train"
        assert screen.query_one("#configs", OptionList).highlighted == shipped
        await pilot.press("ctrl+f", *f"data.path={planted_csv}")  # the form works on it as on any config
        assert await _until(pilot, lambda: _checked(screen) and screen.result["ok"], timeout=30), screen.result
        assert "name: mine" in screen.result["resolved"]
        assert not screen.query_one("#launch", Button).disabled
