"""The layer order of pyproject.toml's [tool.importlinter] holds: no module imports a layer above
its own, and the peers of a layer do not import each other (import-linter, run as lint-imports)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_layers_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"broken import contracts:\n{run.stdout}\n{run.stderr}"
