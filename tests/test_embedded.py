"""The embedded cluster through the real ``gisgrid db`` command, and the external-URL mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

GISGRID = str(Path(sys.executable).parent / "gisgrid")  # the venv's command, PATH or not


def gisgrid(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [GISGRID, *args], capture_output=True, text=True, timeout=180,
        env={**os.environ, **env},
    )


@pytest.fixture
def home():
    root = Path(tempfile.mkdtemp(prefix="gisgrid-cli-"))
    root.chmod(0o755)
    env = {"GISGRID_HOME": str(root / ".gisgrid")}
    yield env
    gisgrid("db", "down", env=env)
    shutil.rmtree(root, ignore_errors=True)


def test_up_status_down_up_again(home):
    first = gisgrid("db", "up", env=home)
    assert first.returncode == 0, first.stderr
    assert "initialised" in first.stdout

    status = json.loads(gisgrid("db", "status", env=home).stdout)
    assert status["mode"] == "embedded" and status["running"] is True
    assert status["migration"] == status["migration_head"] is not None
    if os.geteuid() == 0:
        assert status["runs_as"] != "root"

    again = gisgrid("db", "up", env=home)
    assert again.returncode == 0 and "already running" in again.stdout

    url = gisgrid("db", "url", env=home).stdout.strip().replace("+psycopg", "")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT postgis_lib_version()").fetchone()[0].startswith("3.")

    assert "stopped" in gisgrid("db", "down", env=home).stdout
    assert json.loads(gisgrid("db", "status", env=home).stdout)["running"] is False
    stopped_again = gisgrid("db", "down", env=home)
    assert stopped_again.returncode == 0 and "not running" in stopped_again.stdout

    restarted = gisgrid("db", "up", env=home)
    assert restarted.returncode == 0 and "started" in restarted.stdout
    with psycopg.connect(gisgrid("db", "url", env=home).stdout.strip().replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM key_groups").fetchone()[0] > 0


def test_external_url_mode_uses_that_database(database_url, tmp_path):
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    env = {"GISGRID_DATABASE_URL": plain, "GISGRID_HOME": str(tmp_path / "unused")}
    up = gisgrid("db", "up", env=env)
    assert up.returncode == 0, up.stderr
    status = json.loads(gisgrid("db", "status", env=env).stdout)
    assert status["mode"] == "external"
    assert status["migration"] == status["migration_head"]
    assert gisgrid("db", "url", env=env).stdout.strip() == database_url
    down = gisgrid("db", "down", env=env)
    assert down.returncode == 0 and "external" in down.stdout
    assert not (tmp_path / "unused").exists()


def test_missing_binaries_name_the_debian_package(tmp_path):
    env = {"GISGRID_PG_BINDIR": str(tmp_path / "no-such-bin"), "GISGRID_HOME": str(tmp_path / "h")}
    result = gisgrid("db", "up", env=env)
    assert result.returncode == 2
    assert "postgresql-15-postgis-3" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
