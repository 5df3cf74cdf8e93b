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
        capture_output=True, text=True, cwd=ROOT, check=True,
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
