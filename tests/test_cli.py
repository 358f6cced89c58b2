"""The command line on the demo data: coverage and lookup, through the real ``gisgrid`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

GISGRID = str(Path(sys.executable).parent / "gisgrid")  # the venv's command, PATH or not


@pytest.fixture
def run(database_url, demo):
    def gisgrid(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "GISGRID_DATABASE_URL": database_url}
        return subprocess.run([GISGRID, *args], capture_output=True, text=True, env=env, timeout=300)

    return gisgrid


def test_coverage_table_and_geojson(run, demo, tmp_path):
    planted = demo.planted[0]
    out = tmp_path / "defects.geojson"
    result = run("coverage", "--subdistrict", planted.subdistrict, "--geojson", str(out))
    assert result.returncode == 0, result.stderr
    assert "盲区 / blind_spot" in result.stdout and planted.overloaded_grid in result.stdout
    collection = json.loads(out.read_text())
    kinds = sorted(f["properties"]["defect"] for f in collection["features"])
    assert kinds == ["blind_spot", "orphan_building", "overlap", "overloaded", "underloaded"]


def test_lookup_prints_every_level(run, db):
    lon, lat, code = db.execute(text("""
        SELECT ST_X(b.geom), ST_Y(b.geom), g.code FROM buildings b JOIN grids g ON g.id = b.grid_l3_id
        ORDER BY b.id LIMIT 1
    """)).one()
    result = run("lookup", str(lon), str(lat))
    assert result.returncode == 0, result.stderr
    assert code in result.stdout and "L1" in result.stdout and "L3" in result.stdout
    outside = run("lookup", "2.35", "48.85")
    assert outside.returncode == 0 and "outside" in outside.stdout


def test_cli_errors_are_one_clear_line(run):
    result = run("coverage", "--community", "510107999999")
    assert result.returncode == 2
    assert "no grid with code 510107999999" in result.stderr and "Traceback" not in result.stderr
    bad_crs = run("lookup", "104", "30", "--crs", "mars")
    assert bad_crs.returncode == 2 and "unknown CRS" in bad_crs.stderr
