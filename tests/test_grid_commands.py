"""``gisgrid grid …`` through the real command: a dry run on the demo, real changes on scratch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shapely.affinity import translate
from shapely.geometry import mapping
from sqlalchemy import text

from builders import Town, lonlat, metres_box

GISGRID = str(Path(sys.executable).parent / "gisgrid")


def command(url: str):
    def gisgrid(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        env = {**os.environ, "GISGRID_DATABASE_URL": url}
        return subprocess.run([GISGRID, "grid", *args], capture_output=True, text=True, env=env, timeout=300,
                              input=stdin)
    return gisgrid


NEIGHBOURS = """
SELECT a.code AS a, b.code AS b, a.version AS va, b.version AS vb,
       ST_AsGeoJSON(ST_Intersection(a.geom, ST_Buffer(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))
                    ::geography, 90)::geometry)) AS area
FROM grids a JOIN grids b ON a.parent_code = b.parent_code AND a.code < b.code AND a.level = 2
WHERE ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Boundary(b.geom))::geography) > 100
  AND a.retired_at IS NULL AND b.retired_at IS NULL
ORDER BY a.code, b.code LIMIT 1
"""


def test_dry_run_transfer_on_the_demo_prints_the_impact_and_keeps_nothing(database_url, demo, db, tmp_path):
    pair = db.execute(text(NEIGHBOURS)).one()
    area = tmp_path / "area.geojson"
    area.write_text(pair.area)
    result = command(database_url)("transfer", pair.a, pair.b, str(area), "--reason", "小区调整", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout and "households" in result.stdout and pair.b in result.stdout
    as_json = command(database_url)("transfer", pair.a, pair.b, str(area), "--reason", "小区调整", "--dry-run",
                                    "--json")
    report = json.loads(as_json.stdout)
    assert report["dry_run"] and report["impact"]["households_moved"] > 0
    assert db.execute(text("SELECT version FROM grids WHERE code = :c"), {"c": pair.a}).scalar_one() == pair.va


@pytest.fixture
def scratch_url(scratch_engine):
    return scratch_engine.url.render_as_string(hide_password=False)


def test_change_needs_a_version_then_lands_in_the_history(scratch_url, scratch_engine):
    town = Town(scratch_engine)
    gisgrid = command(scratch_url)
    shape = json.dumps(mapping(lonlat(translate(metres_box(0, 0, 180, 200), town.dx))))
    refused = gisgrid("reshape", town.west, shape, "--reason", "缩小")
    assert refused.returncode == 2 and "If-Match" in refused.stderr
    stale = gisgrid("reshape", town.west, shape, "--reason", "缩小", "--version", "5")
    assert stale.returncode == 2 and "version 1" in stale.stderr
    saved = gisgrid("reshape", town.west, "-", "--reason", "缩小", "--version", "1", "--actor", "李工",
                    stdin=shape)
    assert saved.returncode == 0, saved.stderr
    assert "v1 → v2" in saved.stdout and "blind_spot" in saved.stdout
    history = gisgrid("history", town.west)
    assert history.returncode == 0
    newest = history.stdout.splitlines()[0]
    assert newest.startswith("v2") and "李工: 缩小" in newest and "reshape" in newest
    shown = json.loads(gisgrid("show", town.west).stdout)
    assert shown["properties"]["version"] == 2
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid_versions v JOIN grids g ON g.id = v.grid_id "
                                 "WHERE g.code = :c"), {"c": town.west}).scalar_one() == 2
