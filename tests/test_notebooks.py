"""Every notebook runs top to bottom against the test database."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, database_url, demo, tmp_path, monkeypatch):
    monkeypatch.setenv("GISGRID_DATABASE_URL", database_url)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors == []
    figures = {"coverage_audit": ["coverage_audit.png"],
               "automatic_division": ["automatic_division.png", "automatic_division_methods.png"]}
    for name in figures.get(path.stem, []):
        assert os.path.getsize(tmp_path / name) > 10_000, name
