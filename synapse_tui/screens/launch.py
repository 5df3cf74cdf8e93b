"""Launch: pick a config, set --data, overrides, a target (and a sweep grid), see every problem
as you type, launch.

Validation goes through core.service.configs.validate in a thread worker, debounced: it
reads the config and the data file, creates nothing and answers plain messages (the
schema's did-you-mean included), shown inline; Launch stays disabled until the form is
valid. A launch runs in a worker too (core.service.jobs.launch, or core.service.sweeps.start
when the grid has lines), says the run id and goes back to the runs screen, which picks
the new run up by itself.
"""

from __future__ import annotations

from pathlib import Path

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button, Footer, Header, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from core.errors import InputError

DEBOUNCE_S = 0.3


def _short(path: str) -> str:
    """A config's path as a title: relative to here when under it, else its folder and name."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


class LaunchScreen(Screen):
    """A config, --data, overrides, target and an optional sweep grid; checked live; launched in a worker."""

    HELP_TITLE = "Launch"
    CSS_PATH = "launch.tcss"
    AUTO_FOCUS = "#configs"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+s", "launch", "Launch"),
        Binding("ctrl+r", "toggle_preview", "Preview: file or resolved"),
        Binding("ctrl+l", "focus('configs')", "Focus the config list", show=False),
        Binding("ctrl+o", "focus('overrides')", "Focus the overrides", show=False),
        Binding("ctrl+g", "focus('grid')", "Focus the sweep grid", show=False),
    ]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.configs: list[dict] = []
        self.config: dict | None = None  # the chosen entry of list_configs
        self.result: dict | None = None  # the last validation, for the form as it is now
        self.generation = 0  # bumped by every edit: a validation of an older form is dropped
        self.show_resolved = False
        self.launching = False
        self._debounce: Timer | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        from core.service.remote import target_names

        targets = target_names()  # "local", then the SSH host profiles
        yield Header()
        with Horizontal(id="launch-body"):
            with Vertical(id="launch-left"):
                yield OptionList(id="configs", compact=True)
                with VerticalScroll(id="preview-box"):
                    yield Static(id="preview")
            with VerticalScroll(id="launch-form", can_focus=False):
                with Horizontal(classes="row"):
                    yield Label("data", classes="field")
                    yield Input(id="data", compact=True, placeholder="empty: the config's data.path")
                with Horizontal(classes="row"):
                    yield Label("target", classes="field")
                    yield Select(
                        [(t, t) for t in targets], value=targets[0], allow_blank=False, id="target", compact=True
                    )
                    yield Label("parallel", classes="field", id="parallel-label")
                    yield Input(id="parallel", compact=True, placeholder="auto", type="integer")
                yield Label(Text.assemble("overrides · one ", ("key=value", "bold"), " a line"), classes="caption")
                yield TextArea(
                    id="overrides",
                    compact=True,
                    show_line_numbers=True,
                    tab_behavior="focus",
                    placeholder="e.g. split.test_days=200",
                )
                yield Label(
                    Text.assemble("sweep grid · one ", ("key=a,b", "bold"), " a line; empty: one run"),
                    classes="caption",
                )
                yield TextArea(
                    id="grid",
                    compact=True,
                    show_line_numbers=True,
                    tab_behavior="focus",
                    placeholder="e.g. train.lr=1e-3,3e-3",
                )
                yield Static(id="check")
                yield Static(id="problems")
                yield Button("Launch", id="launch", variant="success", compact=True, disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        from core.service.configs import default_data

        self.sub_title = f"launch into {self.runs_dir}"
        self.query_one("#data", Input).value = default_data()
        self.query_one("#preview-box").border_title = "preview"
        self.query_one("#configs").border_title = "configs"
        self._set_check(Text("reading the configs…", style="dim"))
        self.load_configs()

    # ------------------------------------------------------------------ configs
    @work(thread=True, exclusive=True, group="launch-configs")
    def load_configs(self) -> None:
        from core.service.configs import list_configs

        entries = list_configs()
        self.app.call_from_thread(self._show_configs, entries)

    def _show_configs(self, entries: list[dict]) -> None:
        self.configs = entries
        box = self.query_one("#configs", OptionList)
        box.clear_options()
        for i, c in enumerate(entries):
            prompt = Text(f"{c['name']:<17}", style="red" if c["error"] else "")
            prompt.append(f"{c['job'] or 'invalid'}", style="dim")
            if c["source"] != "shipped":
                prompt.append(" (here)" if c["source"] == "." else f" ({c['source']})", style="dim italic")
            box.add_option(Option(prompt, id=str(i)))
        if entries:
            box.highlighted = 0
        else:
            self._set_check(Text("no configs: none shipped in configs/ and no *.yaml here", style="red"))

    @on(OptionList.OptionHighlighted, "#configs")
    def _config_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self.config = self.configs[int(event.option.id)]
        self.load_preview(self.config["path"])
        self._changed()

    @on(OptionList.OptionSelected, "#configs")
    def _config_selected(self, event: OptionList.OptionSelected) -> None:
        self.set_focus(self.query_one("#data", Input))

    @work(thread=True, exclusive=True, group="launch-preview")
    def load_preview(self, path: str) -> None:
        from core.service.configs import preview

        try:
            text = preview(path)
        except InputError as exc:
            text = f"# {exc}"
        self.app.call_from_thread(self._show_file, path, text)

    def _show_file(self, path: str, text: str) -> None:
        self._file_text = (path, text)
        self._render_preview()

    def _render_preview(self) -> None:
        try:
            static = self.query_one("#preview", Static)
        except NoMatches:
            return
        if self.show_resolved:
            text = (self.result or {}).get("resolved") or "# the config does not resolve yet: see the problems"
            title = "resolved" + (f" {self.result['config_hash']}" if (self.result or {}).get("config_hash") else "")
        else:
            path, text = getattr(self, "_file_text", ("", ""))
            title = _short(path) if path else "preview"
        self.query_one("#preview-box").border_title = title
        static.update(Syntax(text, "yaml", theme="ansi_dark", word_wrap=True, background_color="default"))

    def action_toggle_preview(self) -> None:
        self.show_resolved = not self.show_resolved
        self._render_preview()

    # ------------------------------------------------------------------ live validation
    @on(Input.Changed, "#data, #parallel")
    @on(TextArea.Changed, "#overrides, #grid")
    @on(Select.Changed, "#target")
    def _edited(self, _event) -> None:
        self._changed()

    def _changed(self) -> None:
        """The form changed: Launch waits for a fresh check, which runs once typing pauses."""
        self.generation += 1
        self.result = None
        self._update_button()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_S, self._validate_now)

    def _form(self) -> dict:
        return {
            "config": self.config["path"] if self.config else None,
            "data": self.query_one("#data", Input).value.strip(),
            "overrides": self.query_one("#overrides", TextArea).text,
            "grid": self.query_one("#grid", TextArea).text,
            "target": self.query_one("#target", Select).value,
            "parallel": self.query_one("#parallel", Input).value.strip(),
        }

    def _validate_now(self) -> None:
        if self.config is None:
            return
        self._set_check(Text("checking…", style="dim"))
        self.validate_form(self.generation, self._form())

    @work(thread=True, exclusive=True, group="launch-validate")
    def validate_form(self, generation: int, form: dict) -> None:
        from core.service.configs import validate

        result = validate(
            form["config"],
            data=form["data"] or None,
            overrides=form["overrides"],
            grid=form["grid"],
            target=str(form["target"]),
        )
        if form["parallel"] and (not form["parallel"].isdigit() or int(form["parallel"]) < 1):
            result["problems"].append(
                {"message": f"parallel {form['parallel']!r}: a whole number, at least 1", "override": None}
            )
            result["errors"].append(result["problems"][-1]["message"])
            result["ok"] = False
        self.app.call_from_thread(self._show_result, generation, result)

    def _show_result(self, generation: int, result: dict) -> None:
        if generation != self.generation or not self.is_attached:
            return  # the form changed since: a newer check is on its way
        self.result = result
        self._update_button()
        grid = bool(self.query_one("#grid", TextArea).text.strip())
        if result["ok"]:
            line = Text()
            line.append("✓ ", style="bold green")
            line.append(f"{result['job']} job", style="bold")
            line.append(f" · {result['kind']} · config {result['config_hash']}")
            d = result.get("data") or {}
            if d.get("splits"):
                s = d["splits"]
                line.append(
                    f"\n  {d['rows']} days {d['first']}..{d['last']}\n  train {s['train']} · val {s['val']} "
                    f"· test {s['test']} days" + (f" · {s['folds']} folds" if s["folds"] > 1 else ""),
                    style="dim",
                )
            if grid:
                n = len(result["combos"])
                line.append(
                    f"\n  sweep of {n} run{'s' if n != 1 else ''}: {', '.join(result['combos'][:4])}"
                    + (" …" if n > 4 else ""),
                    style="dim",
                )
        else:
            n = len(result["errors"])
            line = Text()
            line.append(f"✗ {n} problem{'s' if n != 1 else ''}", style="bold red")
            if result.get("job"):
                line.append(f" · {result['job']} job", style="dim")
        self._set_check(line)
        self._set_problems(result)
        if self.show_resolved:
            self._render_preview()

    def _set_check(self, text: Text) -> None:
        self.query_one("#check", Static).update(text)

    def _set_problems(self, result: dict | None, extra: list[str] = ()) -> None:
        out = Text()
        for p in (result or {}).get("problems", []):
            if out:
                out.append("\n")
            where = f"overrides line {p['override'] + 1}: " if p.get("override") is not None else ""
            out.append("• " + where, style="bold red")
            out.append(
                p["message"].removeprefix(f"-o {self._override_line(p)}: ") if where else p["message"], style="red"
            )
        for w in (result or {}).get("warnings", []):
            out.append(("\n" if out else "") + "• note: ", style="bold yellow")
            out.append(w, style="yellow")
        for m in extra:
            out.append(("\n" if out else "") + "• ", style="bold red")
            out.append(m, style="red")
        box = self.query_one("#problems", Static)
        box.update(out)
        box.display = bool(out)

    def _override_line(self, problem: dict) -> str:
        lines = self.query_one("#overrides", TextArea).text.splitlines()
        i = problem.get("override")
        return lines[i].strip() if i is not None and i < len(lines) else ""

    def _update_button(self) -> None:
        button = self.query_one("#launch", Button)
        ok = bool(self.result and self.result["ok"]) and not self.launching
        button.disabled = not ok
        grid = bool(self.query_one("#grid", TextArea).text.strip())
        if self.launching:
            button.label = "Launching…"
        elif grid and self.result and self.result["ok"]:
            button.label = f"Launch sweep ({len(self.result['combos'])} runs)"
        else:
            button.label = "Launch"

    # ------------------------------------------------------------------ launching
    @on(Button.Pressed, "#launch")
    def _pressed(self, _event: Button.Pressed) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        if self.launching or not (self.result and self.result["ok"]) or self.config is None:
            if not self.launching:
                self.notify("fix the problems first (or wait for the check)", severity="warning", timeout=3)
            return
        self.launching = True
        self._update_button()
        self.launch_job(self._form(), self.result["job"])

    @work(thread=True, exclusive=True, group="launch-run")
    def launch_job(self, form: dict, job: str) -> None:
        from core.service import jobs, sweeps

        overrides = [s.strip() for s in form["overrides"].splitlines() if s.strip() and not s.strip().startswith("#")]
        grid = [s.strip() for s in form["grid"].splitlines() if s.strip() and not s.strip().startswith("#")]
        data = form["data"] or None
        try:
            if grid:
                sweep = sweeps.start(
                    [form["config"]],
                    grid,
                    overrides,
                    int(form["parallel"]) if form["parallel"] else None,
                    data=data,
                    runs_dir=self.runs_dir,
                )
                n = len(sweep.read().get("runs") or [])
                message = f"sweep {sweep.sweep_id} started: {n} run{'s' if n != 1 else ''}"
            else:
                cfg = jobs.load_job_config(form["config"], overrides, data)

                def progress(msg: str) -> None:  # a remote launch syncs, makes a venv...: say so
                    self.app.call_from_thread(self._set_check, Text(msg, style="dim"))

                out = jobs.launch(cfg, job, self.runs_dir, target=str(form["target"]), progress=progress)
                message = f"launched {out['run_id']} ({form['target']})"
        except InputError as exc:
            self.app.call_from_thread(self._launch_failed, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 — shown, never a traceback on screen
            self.app.call_from_thread(self._launch_failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._launched, message)

    def _launched(self, message: str) -> None:
        self.launching = False
        self.notify(message, title="Launch", timeout=6)
        if self.is_attached and self.app.screen is self:
            self.dismiss(message)

    def _launch_failed(self, message: str) -> None:
        self.launching = False
        self._update_button()
        self._set_check(Text.from_markup("[bold red]✗ not launched[/]"))
        self._set_problems(self.result, [message])

    # ------------------------------------------------------------------ keys
    def action_back(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)

    def action_focus(self, widget_id: str) -> None:
        self.set_focus(self.query_one(f"#{widget_id}"))  # at once: keys already typed after it land there


__all__ = ["LaunchScreen"]
