"""The dashboard starts without torch: the runs screen, help and the palette read run
directories and the index only; torch loads in a worker when a pane needs it."""

import subprocess
import sys

from helpers import ROOT

CODE = """
import asyncio, sys
from synapse_tui.app import SynapseApp

async def main():
    app = SynapseApp(sys.argv[1])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
    print(" ".join(sorted({m.split(".")[0] for m in sys.modules})))

asyncio.run(main())
"""


def test_the_dashboard_starts_without_torch(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    assert "textual" in out  # it really ran
    assert "torch" not in out and "sklearn" not in out
