"""Launch: pick a config, set --data, overrides, a target (and a sweep grid), see every problem
as you type, launch.

Validation goes through core.service.configs.validate in a thread worker, debounced: it
reads the config and the data file, creates nothing and answers plain messages (the
schema's did-you-mean included), shown inline; Launch stays disabled until the form is
valid. A launch runs in a worker too (core.service.jobs.launch, or core.service.sweeps.start
when the grid has lines), says the run id and goes back to the runs screen, which picks
the new run up by itself.

Any YAML can be opened by its path (ctrl+o): read in a worker through core.config.load_yaml,
a bad file named with file:line. `LaunchScreen(runs_dir, config_path=..., clone_of=run_id)`
opens with that config chosen: the runs screen's `y` passes a run's resolved config.yaml,
with `name=<its name>-clone` as an override, its own data.path kept, ready to tweak.
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


OPEN_MAX_BYTES = 1 << 20  # a config is a few KiB; past this it is not one


def clone_name(name: str) -> str:
    """A run name with `-clone` added, within the 64 characters a run name may have."""
    from core.errors import RUN_NAME_MAX

    suffix = "-clone"
    return name[: RUN_NAME_MAX - len(suffix)] + suffix


def read_yaml_entry(path: str, source: str) -> dict:
    """A config file as an entry of the list (as core.service.configs.list_configs gives them),
    read through core.config.load_yaml; `error` says why it cannot be one, with file:line.
    Reads the file: call it from a worker."""
    from core.config import load_yaml
    from core.service.configs import job_of_kind

    p = Path(path).expanduser()
    entry: dict = {
        "name": p.stem or str(p),
        "path": str(p),
        "kind": None,
        "job": None,
        "description": "",
        "source": source,
        "error": None,
        "run_name": None,
    }
    try:
        with open(p, "rb") as fh:
            data = fh.read(OPEN_MAX_BYTES + 1)
    except OSError as exc:
        entry["error"] = f"{p}: cannot read: {exc.strerror or exc}"
        return entry
    if len(data) > OPEN_MAX_BYTES:
        entry["error"] = f"{p}: larger than {OPEN_MAX_BYTES >> 10} KiB: not a config"
        return entry
    try:
        raw = load_yaml(data.decode("utf-8"), str(p))
    except UnicodeDecodeError as exc:
        entry["error"] = f"{p}: not UTF-8 text (byte {exc.start})"
        return entry
    except InputError as exc:
        entry["error"] = str(exc)  # file:line: problem
        return entry
    if not isinstance(raw, dict):
        entry["error"] = f"{p}: not a config (the YAML is not a mapping)"
        return entry
    model = raw.get("model")
    kind = model.get("kind", "uniform") if isinstance(model, dict) else "uniform"
    entry["kind"], entry["job"] = kind, job_of_kind(kind)
    if entry["job"] is None:
        entry["error"] = f"{p}: unknown model kind {kind!r}"
        return entry
    if isinstance(raw.get("name"), str) and raw["name"]:
        entry["run_name"] = raw["name"]
        entry["name"] = raw["name"]
    return entry


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
        Binding("ctrl+o", "open_path", "Open a YAML by path"),
        Binding("ctrl+f", "focus('overrides')", "Focus the overrides", show=False),
        Binding("ctrl+g", "focus('grid')", "Focus the sweep grid", show=False),
    ]

    def __init__(self, runs_dir: Path, config_path: str | Path | None = None, clone_of: str | None = None) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.initial_path = None if config_path is None else str(config_path)
        self.clone_of = clone_of  # the run whose config this is (its name gets a -clone suffix)
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
        # A clone keeps the run's own data.path (an empty --data); a fresh launch gets the sample.
        self.query_one("#data", Input).value = "" if self.initial_path else default_data()
        self.query_one("#preview-box").border_title = "preview"
        self.query_one("#configs").border_title = "configs"
        self._set_check(Text("reading the configs…", style="dim"))
        self.load_configs()

    # ------------------------------------------------------------------ configs
    @work(thread=True, exclusive=True, group="launch-configs")
    def load_configs(self) -> None:
        from core.service.configs import list_configs

        entries = list_configs()
        opened = None
        if self.initial_path is not None:
            opened = read_yaml_entry(self.initial_path, "run" if self.clone_of else "opened")
            if opened["error"] is None:
                entries = [opened] + [e for e in entries if Path(e["path"]).resolve() != Path(opened["path"]).resolve()]
        self.app.call_from_thread(self._show_configs, entries)
        if opened is not None:
            self.app.call_from_thread(self._opened, opened)

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

    # ------------------------------------------------------------------ open any YAML by path
    def action_open_path(self) -> None:
        from synapse_tui.widgets.text_prompt import TextPrompt

        def check(text: str) -> str | None:
            return None if text.strip() else "type the path of a YAML config"

        def answered(text: str | None) -> None:
            if text is not None:
                self.open_yaml(text.strip())

        self.app.push_screen(
            TextPrompt(
                "Open a YAML config",
                placeholder="path/to/config.yaml (~ works)",
                hint="read and checked like the listed configs",
                check=check,
            ),
            answered,
        )

    @work(thread=True, exclusive=True, group="launch-open")
    def open_yaml(self, path: str) -> None:
        entry = read_yaml_entry(path, "opened")
        self.app.call_from_thread(self._opened, entry)

    def _opened(self, entry: dict) -> None:
        """Show an opened file: in the list and chosen; a file that is no config says why (file:line)."""
        if not self.is_attached:
            return
        if entry["error"] is not None:
            self._set_check(Text("✗ cannot open " + entry["path"], style="bold red"))
            self._set_problems(None, [entry["error"]])
            self.notify(entry["error"], title="Open", severity="error", timeout=8)
            return
        real = Path(entry["path"]).resolve()
        index = next((i for i, c in enumerate(self.configs) if Path(c["path"]).resolve() == real), None)
        if index is None:
            self.configs.append(entry)
            index = len(self.configs) - 1
            self._show_configs(list(self.configs))
        if self.clone_of and entry.get("run_name"):
            overrides = self.query_one("#overrides", TextArea)
            if not overrides.text.strip():
                overrides.text = f"name={clone_name(entry['run_name'])}"
        box = self.query_one("#configs", OptionList)
        box.highlighted = index
        self.config = self.configs[index]
        self.load_preview(self.config["path"])
        self._changed()
        if self.clone_of:
            self.sub_title = f"clone of {self.clone_of} · launch into {self.runs_dir}"

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
