"""The artifact viewer (synapse_tui/screens/artifact) on real files, pushed by a tiny App as the
run screen's Log tab pushes it: markdown rendered, a JSON tree expanded and searched, a log
searched with n/N and followed as it grows, escapes and markup from a hostile log shown as
plain text, binary/missing/odd files answered with a message, esc going back, ASCII mode."""

import json
import os

import pytest
from textual.app import App
from textual.widgets import Markdown, Static

from synapse_tui.screens.artifact import ArtifactScreen
from synapse_tui.widgets.artifact_markdown import ArtifactMarkdown
from synapse_tui.widgets.json_tree import JsonTree
from synapse_tui.widgets.log_view import LogView

from tui_helpers import static_text, until


class ViewerApp(App):
    """Nothing but the viewer: pushes ArtifactScreen(path) at start."""

    def __init__(self, path, *, ascii_plots: bool = False, **kw) -> None:
        super().__init__()
        self.path = path
        self.ascii_plots = ascii_plots
        self.kw = kw

    def on_mount(self) -> None:
        self.push_screen(ArtifactScreen(self.path, **self.kw))


async def _screen(app, pilot) -> ArtifactScreen:
    assert await until(pilot, lambda: isinstance(app.screen, ArtifactScreen))
    screen = app.screen
    assert await until(pilot, lambda: screen.opened is not None)
    return screen


async def _view(app, pilot, kind):
    screen = await _screen(app, pilot)
    assert await until(pilot, lambda: isinstance(screen.viewer, kind)), screen.opened
    return screen, screen.viewer


async def _search(pilot, term: str) -> None:
    await pilot.press("slash")
    await pilot.press(*term)
    await pilot.press("enter")


# --------------------------------------------------------------------------- markdown


async def test_markdown_is_rendered_with_its_headings_and_no_escape(tmp_path):
    md = tmp_path / "training_log.md"
    md.write_text(
        "# Run 2026 \x1b]0;pwned\x07summary\n\nVerdict: **APPROVED** [red]not markup[/red]\n\n"
        "## Data\n\n- file: x.csv\n\n## Training\n\n| epoch | loss |\n|---|---|\n| 1 | 0.37 |\n\n"
        "## Config\n\n[a link](/etc/passwd)\n",
        encoding="utf-8",
    )
    app = ViewerApp(md)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _screen(app, pilot)
        assert screen.opened.kind == "markdown"
        assert await until(pilot, lambda: len(screen.query("MarkdownH1")) == 1 and len(screen.query("MarkdownH2")) == 3)
        h1 = screen.query_one("MarkdownH1")
        heading = h1._content.plain if hasattr(h1, "_content") else static_text(h1)
        assert "Run 2026" in heading and "summary" in heading
        assert "\x1b" not in heading and "pwned" not in heading  # the OSC title sequence is gone
        body = " ".join(static_text(p) for p in screen.query("MarkdownParagraph"))
        assert "[red]not markup[/red]" in body  # rich markup in the file is text
        # four headings: a table of contents is shown
        assert screen.viewer.show_table_of_contents
        await pilot.press("escape")
        assert await until(pilot, lambda: not isinstance(app.screen, ArtifactScreen))


async def test_a_link_in_a_runs_markdown_is_not_followed(tmp_path):
    md = tmp_path / "notes.md"
    md.write_text("# Notes\n\n[secret](/etc/passwd)\n", encoding="utf-8")
    app = ViewerApp(md)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _screen(app, pilot)
        assert await until(pilot, lambda: len(screen.query("MarkdownParagraph")) == 1)
        doc = screen.query_one(Markdown)
        doc.post_message(Markdown.LinkClicked(doc, "/etc/passwd"))
        await pilot.pause(0.3)
        assert isinstance(app.screen, ArtifactScreen)
        assert "Notes" in static_text(screen.query_one("MarkdownH1"))  # the document did not change
        assert not screen.viewer.show_table_of_contents  # short: no table of contents


async def test_markdown_search_scrolls_to_each_matching_block(tmp_path):
    md = tmp_path / "training_log.md"
    md.write_text(
        "# Run\n\n"
        + "".join(f"paragraph {i} of filler text\n\n" for i in range(60))
        + "## Verdict\n\nAPPROVED at last\n",
        encoding="utf-8",
    )
    app = ViewerApp(md)
    async with app.run_test(size=(100, 24)) as pilot:
        screen, viewer = await _view(app, pilot, ArtifactMarkdown)
        assert await until(pilot, lambda: len(screen.query("MarkdownParagraph")) == 61)
        await _search(pilot, "approved")
        assert await until(pilot, lambda: viewer.matches == [124] and "match 1/1" in screen.status)
        block = viewer.block_at(124)
        assert block.has_class("-match") and "APPROVED at last" in static_text(block)
        assert await until(pilot, lambda: viewer.scroll_offset.y > 0)  # scrolled down to it
        await _search(pilot, "paragraph 1")  # 1, 10..19
        assert await until(pilot, lambda: len(viewer.matches) == 11)
        await pilot.press("n")
        assert await until(pilot, lambda: "paragraph 10 " in static_text(screen.query_one("MarkdownBlock.-match")))
        await pilot.press("N", "N")
        assert await until(pilot, lambda: "paragraph 19 " in static_text(screen.query_one("MarkdownBlock.-match")))


async def test_the_table_of_contents_gives_way_on_a_narrow_screen(tmp_path):
    md = tmp_path / "long.md"
    md.write_text("".join(f"## Section {i}\n\ntext {i}\n\n" for i in range(6)), encoding="utf-8")
    app = ViewerApp(md)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _screen(app, pilot)
        assert await until(pilot, lambda: len(screen.query("MarkdownH2")) == 6)
        assert screen.viewer.wants_toc and not screen.viewer.show_table_of_contents
    app = ViewerApp(md)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _screen(app, pilot)
        assert await until(pilot, lambda: screen.viewer is not None and screen.viewer.show_table_of_contents)


# --------------------------------------------------------------------------- JSON


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(
        json.dumps(
            {
                "alpha": {"beta": [1, 2, 3], "flag": True},
                "big": list(range(1000)),
                "needle_key": "v",
                "nested": {"deep": {"x": "a needle value"}},
                "hostile": "\x1b[2J[bold]x[/bold]",
            }
        ),
        encoding="utf-8",
    )
    return path


async def test_json_tree_expands_lazily_and_enter_expands(report):
    app = ViewerApp(report)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, tree = await _view(app, pilot, JsonTree)
        top = [c.data.path[-1] for c in tree.root.children]
        assert top == ["alpha", "big", "needle_key", "nested", "hostile"]
        labels = {c.data.path[-1]: c.label.plain for c in tree.root.children}
        assert labels["big"] == "big [1,000 items]" and labels["alpha"] == "alpha {2 keys}"
        assert labels["needle_key"] == 'needle_key: "v"'
        assert "\x1b" not in labels["hostile"] and "[bold]x[/bold]" in labels["hostile"]
        alpha = tree.root.children[0]
        assert not alpha.is_expanded and not alpha.children  # children are made on expansion
        tree.focus()
        tree.move_cursor(alpha)
        await pilot.press("enter")
        assert await until(pilot, lambda: alpha.is_expanded and len(alpha.children) == 2)
        assert [c.label.plain for c in alpha.children] == ["beta [3 items]", "flag: true"]
        big = tree.root.children[1]
        tree.move_cursor(big)
        await pilot.press("enter")
        assert await until(pilot, lambda: big.is_expanded and len(big.children) == 10)
        assert big.children[0].label.plain == "[0-99]" and big.children[-1].label.plain == "[900-999]"


async def test_json_search_jumps_to_each_match_with_n_and_N(report):
    app = ViewerApp(report)
    async with app.run_test(size=(120, 40)) as pilot:
        screen, tree = await _view(app, pilot, JsonTree)
        await _search(pilot, "needle")
        assert await until(pilot, lambda: tree.matches == [("needle_key",), ("nested", "deep", "x")])
        assert await until(
            pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data.path == ("needle_key",)
        )
        assert "match 1/2" in screen.status
        await pilot.press("n")
        assert await until(pilot, lambda: tree.cursor_node.data.path == ("nested", "deep", "x"))
        assert "nested.deep.x" in screen.status
        await pilot.press("N")
        assert await until(pilot, lambda: tree.cursor_node.data.path == ("needle_key",))
        # a match inside a big list: the range holding it is opened on the way
        await _search(pilot, "987")
        assert await until(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data.path == ("big", 987))
        assert tree.cursor_node.parent.label.plain == "[900-999]"


async def test_invalid_json_is_shown_as_text_saying_why(tmp_path):
    bad = tmp_path / "manifest.json"
    bad.write_text('{"run_id": "x",\n  "oops"\n', encoding="utf-8")
    app = ViewerApp(bad)
    async with app.run_test(size=(120, 30)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert "not valid JSON" in screen.status
        assert await until(pilot, lambda: view.cached_line(0) == '{"run_id": "x",')


# --------------------------------------------------------------------------- log view


async def test_log_search_n_and_N_move_between_matches(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("".join(f"line {i}{' MATCH here' if i in (100, 250, 400) else ''}\n" for i in range(500)))
    app = ViewerApp(log)
    async with app.run_test(size=(120, 30)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert await until(pilot, lambda: view.line_count == 500)
        await _search(pilot, "match")  # case-insensitive
        assert await until(pilot, lambda: view.matches == [100, 250, 400] and view.current_match == 100)
        assert await until(pilot, lambda: view.cached_line(100) == "line 100 MATCH here")
        assert view.scroll_offset.y <= 100 < view.scroll_offset.y + view.scrollable_content_region.height
        assert "match 1/3" in screen.status
        for expected in (250, 400, 100):  # n wraps around
            await pilot.press("n")
            assert await until(pilot, lambda e=expected: view.current_match == e)
        await pilot.press("N")
        assert await until(pilot, lambda: view.current_match == 400)
        assert "match 3/3" in screen.status
        await pilot.press("home")
        assert await until(pilot, lambda: view.scroll_offset.y == 0)
        await pilot.press("end")
        assert await until(pilot, lambda: view.scroll_offset.y == view.max_scroll_y > 0), (
            view.scroll_offset,
            view.max_scroll_y,
            view.virtual_size,
            view.size,
            view.line_count,
        )
        await _search(pilot, "nowhere")
        assert await until(pilot, lambda: "no line holds 'nowhere'" in screen.status)
        # esc first closes the search box, then leaves the screen
        await pilot.press("slash")
        box = screen.query_one("#artifact-search")
        assert await until(pilot, lambda: box.has_focus and box.display)
        await pilot.press("escape")
        assert await until(pilot, lambda: not box.display and view.has_focus)
        assert isinstance(app.screen, ArtifactScreen)
        await pilot.press("escape")
        assert await until(pilot, lambda: not isinstance(app.screen, ArtifactScreen))


async def test_follow_shows_appended_lines_and_stays_at_the_end(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("".join(f"old {i}\n" for i in range(100)))
    app = ViewerApp(log)
    async with app.run_test(size=(100, 24)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert await until(pilot, lambda: view.line_count == 100)
        await pilot.press("f")
        assert await until(pilot, lambda: view.follow and "following" in screen.status)
        with open(log, "a") as fh:
            fh.write("new 0\nnew 1\npartial")  # a line still being written shows as it is
        assert await until(pilot, lambda: view.line_count == 103)
        assert await until(pilot, lambda: view.cached_line(102) == "partial")
        assert await until(pilot, lambda: view.scroll_offset.y == view.max_scroll_y)
        with open(log, "a") as fh:
            fh.write(" line done\nnew 3\n")
        assert await until(pilot, lambda: view.line_count == 104 and view.cached_line(102) == "partial line done")
        assert await until(
            pilot, lambda: view.cached_line(103) == "new 3" and view.scroll_offset.y == view.max_scroll_y
        )
        await pilot.press("up")  # moving up stops following (no yanking back to the end)
        assert await until(pilot, lambda: not view.follow)
        await pilot.press("f")
        assert await until(pilot, lambda: view.follow)
        # replaced by a shorter file (rotated): read again from the start
        tmp = tmp_path / "rotated"
        tmp.write_text("fresh 0\nfresh 1\n")
        os.replace(tmp, log)
        assert await until(pilot, lambda: view.line_count == 2 and view.cached_line(0) == "fresh 0")
        await pilot.press("f")
        assert await until(pilot, lambda: not view.follow)
        with open(log, "a") as fh:
            fh.write("after stop\n")
        await pilot.pause(1.5)
        assert view.line_count == 2  # not following any more


async def test_a_search_keeps_counting_the_lines_that_arrive_while_following(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("".join(f"epoch {i}{' warning' if i % 10 == 0 else ''}\n" for i in range(50)))
    app = ViewerApp(log)
    async with app.run_test(size=(100, 24)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert await until(pilot, lambda: view.line_count == 50)
        await _search(pilot, "warning")
        assert await until(pilot, lambda: view.matches == [0, 10, 20, 30, 40])
        await pilot.press("f")
        with open(log, "a") as fh:
            fh.write("epoch 50 warn")  # half a line: no match yet
        assert await until(pilot, lambda: view.line_count == 51)
        await pilot.pause(0.3)
        assert view.matches == [0, 10, 20, 30, 40]
        with open(log, "a") as fh:
            fh.write("ing\nepoch 51\nepoch 52 WARNING\n")
        assert await until(pilot, lambda: view.matches == [0, 10, 20, 30, 40, 50, 52])
        assert await until(pilot, lambda: "/7 (n/N)" in screen.status or "7 matches" in screen.status)


async def test_a_live_log_can_open_followed_and_titled(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("".join(f"epoch {i}\n" for i in range(200)))
    app = ViewerApp(log, follow=True, title="worker.log of run abcd")
    async with app.run_test(size=(100, 24)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert "worker.log of run abcd" in static_text(screen.query_one("#artifact-title", Static))
        assert await until(pilot, lambda: view.follow and view.line_count == 200)
        assert await until(pilot, lambda: view.scroll_offset.y == view.max_scroll_y > 0), (
            view.scroll_offset,
            view.max_scroll_y,
            view.virtual_size,
            view.size,
            view.line_count,
        )
        with open(log, "a") as fh:
            fh.write("epoch 200\n")
        assert await until(
            pilot, lambda: view.cached_line(200) == "epoch 200" and view.scroll_offset.y == view.max_scroll_y
        )


async def test_a_hostile_log_shows_no_escape_and_no_markup(tmp_path):
    log = tmp_path / "worker.log"
    log.write_bytes(
        b"\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;http://evil\x07click\x1b]8;;\x07 [bold red]markup[/] \xc2\x9b31mred\n"  # 8-bit CSI as UTF-8
        b"tab\there \x07bell\x00nul \xff\xfe bad utf8\n"
        b"\x1b[31mcolour\x1b[0m done\n"
    )
    app = ViewerApp(log)
    async with app.run_test(size=(120, 30)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert await until(pilot, lambda: all(view.cached_line(i) is not None for i in range(3)))
        lines = [view.cached_line(i) for i in range(3)]
        assert lines[0] == "click [bold red]markup[/] red"
        assert lines[1].startswith("tab     here bell")
        assert lines[2] == "colour done"
        for i, expected in enumerate(lines):
            drawn = "".join(seg.text for seg in view.render_line(i))
            assert expected in drawn  # drawn as text: brackets kept, nothing interpreted
            assert not any(c in drawn for c in "\x1b\x07\x9b\x00")


# --------------------------------------------------------------------------- files that are not shown


@pytest.mark.parametrize(
    "name, make, expected",
    [
        (
            "model_checkpoint.pt",
            lambda p: p.write_bytes(b"PK\x03\x04\x00\x00torch" * 100),
            "is a binary file (a torch checkpoint",
        ),
        (
            "plot.png",
            lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)),
            "is a binary file (an image",
        ),
        ("gone.log", lambda p: None, "no such file"),
        ("folder", lambda p: p.mkdir(), "is a folder"),
        ("pipe.log", lambda p: os.mkfifo(p), "not a regular file"),
    ],
)
async def test_a_file_that_cannot_be_shown_gets_a_message(tmp_path, name, make, expected):
    path = tmp_path / name
    make(path)
    app = ViewerApp(path)
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await _screen(app, pilot)
        assert screen.opened.kind == "message" and screen.viewer is None
        message = static_text(screen.query_one("#artifact-message", Static))
        assert expected in message
        await pilot.press("slash", "f", "home")  # nothing to search, follow or scroll: no error
        await pilot.press("escape")
        assert await until(pilot, lambda: not isinstance(app.screen, ArtifactScreen))


async def test_an_unreadable_file_says_so(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = tmp_path / "secret.log"
    path.write_text("x\n")
    path.chmod(0)
    app = ViewerApp(path)
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await _screen(app, pilot)
        assert "permission denied" in static_text(screen.query_one("#artifact-message", Static))


# --------------------------------------------------------------------------- ASCII mode


async def test_ascii_mode_draws_only_ascii(tmp_path, report):
    log = tmp_path / "worker.log"
    log.write_text("café — ✓ done…\n", encoding="utf-8")
    app = ViewerApp(log, ascii_plots=True)
    async with app.run_test(size=(100, 24)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert await until(pilot, lambda: view.cached_line(0) is not None)
        assert view.cached_line(0) == "caf? - + done..."
        assert static_text(screen.query_one("#artifact-status", Static)).isascii()
    app = ViewerApp(report, ascii_plots=True)
    async with app.run_test(size=(100, 24)) as pilot:
        screen, tree = await _view(app, pilot, JsonTree)
        await pilot.pause(0.2)
        lines = ["".join(seg.text for seg in tree.render_line(y)) for y in range(6)]
        assert any("> alpha" in line for line in lines)
        assert all(line.isascii() for line in lines), lines
    md = tmp_path / "long.md"
    md.write_text("".join(f"## Section {i} — ✓\n\n- item {i}\n\n" for i in range(6)), encoding="utf-8")
    app = ViewerApp(md, ascii_plots=True)
    async with app.run_test(size=(160, 40)) as pilot:
        screen, viewer = await _view(app, pilot, ArtifactMarkdown)
        assert await until(pilot, lambda: len(screen.query("MarkdownH2")) == 6 and viewer.show_table_of_contents)
        assert static_text(screen.query("MarkdownH2").first()).strip() == "Section 0 - +"
        await pilot.pause(0.3)
        toc = viewer.table_of_contents.query_one("Tree")
        toc_lines = ["".join(seg.text for seg in toc.render_line(y)) for y in range(6)]
        assert any("## Section 0 - +" in line for line in toc_lines), toc_lines
        assert all(line.isascii() for line in toc_lines), toc_lines
        bullets = [str(b.symbol) for b in screen.query("MarkdownBullet")]
        assert bullets and all(b.isascii() for b in bullets), bullets


async def test_a_json_scalar_document_shows_its_value(tmp_path):
    path = tmp_path / "value.json"
    path.write_text("42")
    app = ViewerApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen, tree = await _view(app, pilot, JsonTree)
        assert tree.root.label.plain == "value.json: 42" and not tree.root.allow_expand


async def test_log_search_finds_what_is_shown_across_blocks_escapes_and_long_lines(tmp_path):
    """Plain ASCII blocks are searched whole, others line by line: both must find exactly the
    lines whose shown text holds the term, whatever block boundary they sit on."""
    from synapse_tui.widgets.artifact_text import shown_line
    from synapse_tui.widgets.log_view import CHUNK_BYTES

    rng = __import__("random").Random(7)
    lines = []
    for i in range(180_000):
        r = rng.random()
        if i < 120_000 and r >= 0.01:  # the first ~9 MB plain ASCII: whole blocks searched at once
            r = 1.0
        if r < 0.01:
            lines.append(f"{i} plain NEEDLE here")
        elif r < 0.015:
            lines.append(f"{i} split nee\x1b[0mdle by an escape")  # shown as "needle"
        elif r < 0.02:
            lines.append(f"{i} café needle ünïcode")
        elif r < 0.025:
            lines.append(f"{i}\tnee\tdle")  # a tab: shown as spaces, no match
        else:
            lines.append(f"{i} nothing to see {'x' * rng.randrange(0, 120)}")
    lines.insert(150_000, "needle at the start of a line longer than a block " + "y" * (CHUNK_BYTES + 10))
    lines.append("last line without newline needle")
    log = tmp_path / "worker.log"
    log.write_bytes("\n".join(lines).encode("utf-8"))
    expected = [i for i, line in enumerate(lines) if "needle" in shown_line(line).lower()]
    assert len(expected) > 1000
    app = ViewerApp(log)
    async with app.run_test(size=(120, 30)) as pilot:
        screen, view = await _view(app, pilot, LogView)
        assert await until(pilot, lambda: view.line_count == len(lines), timeout=30)
        view.search("NeEdLe")
        assert await until(pilot, lambda: not view._searching, timeout=60)
        assert view.matches == expected
