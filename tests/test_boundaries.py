"""The architecture's import contract (docs/ARCHITECTURE.md, "Layers"), checked statically and at run time."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI_ONLY = {"textual", "typer", "plotext", "textual_plotext", "synapse_tui"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_source_never_imports_the_ui_libraries():
    offenders = {}
    for path in sorted((ROOT / "core").rglob("*.py")):
        bad = _imported_roots(path) & UI_ONLY
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.split()
    return {m.split(".")[0] for m in out}


def test_importing_core_pulls_in_no_ui_library():
    mods = _modules_after("import core, core.data, core.data.splits, core.config, core.runs, core.data.synthetic")
    assert not (mods & UI_ONLY)


def test_synapse_help_imports_no_torch():
    code = (
        "import sys\nsys.argv = ['synapse', '--help']\nfrom synapse_tui.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
    )
    mods = _modules_after(code)
    assert "typer" in mods  # the help really ran through the CLI
    assert "torch" not in mods and "pandas" not in mods


# --------------------------------------------------------------------------- import-linter contracts

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(where: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the contracts of pyproject.toml, on the packages under `where`."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=where,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(where)},
    )


def test_the_layering_contracts_hold():
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "4 kept, 0 broken" in res.stdout


def _copy_with(tmp_path: Path, edits: dict[str, str]) -> Path:
    import shutil

    for name in ("core", "synapse_tui"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for rel, line in edits.items():
        with open(tmp_path / rel, "a", encoding="utf-8") as fh:
            fh.write(f"\n{line}  # noqa\n")
    return tmp_path


def test_the_contracts_catch_a_cycle(tmp_path):
    # process <- events <- status <- layout: a back edge closes a cycle inside core.runs.
    res = _lint(_copy_with(tmp_path, {"core/runs/process.py": "from core.runs.layout import RunDir"}))
    assert res.returncode != 0
    assert "no import cycles between the modules of any package BROKEN" in res.stdout
    # import-linter names the fewest edges whose removal breaks every cycle; which edges those
    # are depends on the rest of the package, so only the package is asserted.
    assert "No cycles are allowed in core.runs." in res.stdout


def test_the_contracts_catch_a_lower_layer_importing_a_higher_one(tmp_path):
    res = _lint(_copy_with(tmp_path, {"core/runs/events.py": "from core.store import Store"}))
    assert res.returncode != 0
    assert "core.runs.events -> core.store" in res.stdout.replace("\n", " ")


def test_the_contracts_catch_the_engine_importing_the_ui(tmp_path):
    res = _lint(_copy_with(tmp_path, {"core/errors.py": "import textual", "core/fsutil.py": "import synapse_tui"}))
    assert res.returncode != 0
    assert "the engine never imports a front end or a UI library BROKEN" in res.stdout
    assert "core.errors -> textual" in res.stdout and "core.fsutil -> synapse_tui" in res.stdout


def test_the_contracts_catch_the_cli_reaching_past_the_service_layer(tmp_path):
    res = _lint(_copy_with(tmp_path, {"synapse_tui/commands/runs.py": "from core.store import Store"}))
    assert res.returncode != 0
    assert "synapse_tui.commands.runs -> core.store" in res.stdout
