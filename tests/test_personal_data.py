"""Personal data: never in an answer unmasked, never in a database dump in plain text; the full
value only through an administrator's reveal with a reason, on the audit log either way; the
audit log is append-only for the application's own database role; the public form is
rate-limited per address."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, serve, settings_env
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gisgrid.core.clock import FixedClock
from gisgrid.demo.accounts import PASSWORDS


def _plain_values(demo) -> tuple[set[str], set[str]]:
    residents = demo["residents"]
    ids = {v for v in residents["id_number"].dropna()}
    phones = {v for v in residents["phone"].dropna()}
    return ids, phones


def _token(http, username):
    answer = http.post("/auth/sign-in", json={"username": username, "password": PASSWORDS[username]})
    assert answer.status_code == 200, answer.text
    return {"Authorization": "Bearer " + answer.json()["token"]}


def test_no_answer_carries_an_unmasked_id_number_or_phone(http, demo, db):
    ids, phones = _plain_values(demo)
    grid = db.execute(text("SELECT code FROM grids WHERE level = 2 ORDER BY code LIMIT 1")).scalar_one()
    building = db.execute(text("SELECT id FROM buildings ORDER BY id LIMIT 1")).scalar_one()
    bodies = []
    for path in ("/residents?limit=5000", f"/residents?grid={grid}&limit=5000", "/households?limit=5000",
                 f"/buildings/{building}/households", f"/grids/{grid}/ledger", f"/grids/{grid}/board",
                 f"/buildings/{building}/diagram", "/staff?limit=5000", "/map/coverage", "/cases?limit=500",
                 "/layers/buildings/items?limit=5000", "/check", "/admin/check"):
        answer = http.get(path)
        assert answer.status_code == 200, (path, answer.text[:200])
        bodies.append((path, answer.text))
    residents = http.get("/residents?limit=5000").json()["items"]
    assert residents and all(re.fullmatch(r"\d{6}\*{8}\w{4}", r["id_number"]) for r in residents if r["id_number"])
    for path, body in bodies:
        found = [v for v in ids if v in body] + [v for v in phones if v in body]
        assert found == [], (path, found[:3])


def test_a_database_dump_holds_no_plaintext_id_number(database_url, demo):
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    dump = shutil.which("pg_dump") or next(iter(sorted(
        p for p in (f"/usr/lib/postgresql/{v}/bin/pg_dump" for v in (17, 16, 15)) if os.path.exists(p))), None)
    assert dump, "pg_dump is installed with PostgreSQL"
    out = subprocess.run([dump, "--data-only", "--table=all_residents", "--table=ledger_versions", "-h", url.host, "-p", str(url.port), "-U",
                          url.username, url.database], capture_output=True, env={**os.environ, "PGPASSWORD":
                          url.password or ""}, timeout=300)
    assert out.returncode == 0, out.stderr[-500:]
    text_dump = out.stdout.decode()
    ids, phones = _plain_values(demo)
    assert len(text_dump) > 100_000
    assert [v for v in list(ids)[:2000] if v in text_dump] == []
    assert [v for v in list(phones)[:2000] if v in text_dump] == []


def test_only_an_administrator_reveals_and_every_attempt_is_audited(http, db, demo):
    resident, expected = db.execute(text("SELECT id, id_number_masked FROM residents WHERE id_number_enc IS NOT NULL "
                                         "ORDER BY id LIMIT 1")).one()
    body = {"field": "id_number", "reason": "核对低保申请材料"}
    with httpx.Client(base_url=str(http.base_url)) as anonymous:
        assert anonymous.post(f"/residents/{resident}/reveal", json=body).status_code == 401
    refused = http.post(f"/residents/{resident}/reveal", json=body, headers=_token(http, "viewer"))
    assert refused.status_code == 403
    shown = http.post(f"/residents/{resident}/reveal", json=body, headers=_token(http, "admin"))
    assert shown.status_code == 200
    value = shown.json()["value"]
    assert value[:6] == expected[:6] and value[-4:] == expected[-4:] and value in set(demo["residents"]["id_number"])
    assert http.post(f"/residents/{resident}/reveal", json={"field": "id_number"},
                     headers=_token(http, "admin")).status_code == 422  # a reason is required
    entries = db.execute(text("""SELECT actor, outcome, detail->>'reason' FROM audit_log WHERE action = 'reveal'
                                 AND object_id = :id ORDER BY id"""), {"id": str(resident)}).all()
    assert [(a, o) for a, o, _ in entries][-2:] == [("viewer", "refused"), ("admin", "ok")]
    assert entries[-1][2] == "核对低保申请材料"


def test_the_application_role_cannot_alter_the_audit_log(app_engine, db):
    from psycopg.errors import InsufficientPrivilege

    from gisgrid.audit.service import record

    with app_engine.connect() as conn, conn.begin() as outer:
        assert conn.execute(text("SELECT current_user")).scalar() == "gisgrid_app"
        assert conn.execute(text("SELECT rolsuper OR rolbypassrls OR rolcreaterole FROM pg_roles "
                                 "WHERE rolname = current_user")).scalar() is False
        record(conn, actor="test", action="check", outcome="ok")  # it appends, and reads
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE actor = 'test'")).scalar() > 0
        for statement in ("UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                          "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                          "DROP TRIGGER audit_log_append_only ON audit_log",
                          "SET session_replication_role = replica",  # which would skip every trigger
                          "CREATE TABLE audit_log_copy (id bigint)", "DROP TABLE all_residents",
                          "UPDATE alembic_version SET version_num = 'x'"):
            savepoint = conn.begin_nested()
            with pytest.raises(DBAPIError) as refused:
                conn.execute(text(statement))
            savepoint.rollback()
            assert isinstance(refused.value.orig, InsufficientPrivilege), (statement, refused.value)
        outer.rollback()
    # the owner (migrations, the command line) meets the triggers
    record(db, actor="test", action="check", outcome="ok")
    for statement in ("UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        savepoint = db.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
        savepoint.rollback()


def test_the_running_server_connects_as_the_application_role(database_url, engine, demo):
    """``gisgrid serve`` as deployed: every connection it holds is the application role's."""
    from conftest import app_url

    port = _free_port()
    name = f"gisgrid-serve-{port}"  # libpq names each of the server's connections so
    env = {**os.environ, "PGAPPNAME": name}
    if os.environ.get("GISGRID_TEST_DATABASE_URL"):
        env |= {"GISGRID_DATABASE_URL": database_url, "GISGRID_APP_DATABASE_URL": app_url(database_url)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "gisgrid"), "serve", "--port", str(port),
                               "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=AUTH) as client:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()[-2000:]
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert client.get("/residents?limit=5").status_code == 200
            with engine.connect() as conn:
                lon, lat = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM buildings WHERE grid_l2_id IS NOT NULL ORDER BY id LIMIT 1")).one()
            found = client.get("/lookup", params={"lon": lon, "lat": lat})  # the async pool's connections
            assert found.status_code == 200 and found.json()["grids"], found.text
        with engine.connect() as conn:
            users = conn.execute(text("SELECT usename, count(*) FROM pg_stat_activity WHERE application_name = :n "
                                      "GROUP BY 1"), {"n": name}).all()
        assert [u for u, _ in users] == ["gisgrid_app"], users
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_with_an_external_database_the_app_url_is_its_own_setting(caplog):
    from gisgrid.core.database import app_database_url

    owner = "postgresql://gisgrid:secret@db.example:5432/gisgrid"
    with settings_env(GISGRID_DATABASE_URL=owner, GISGRID_APP_DATABASE_URL=None), \
            caplog.at_level(logging.WARNING, logger="gisgrid"):
        assert app_database_url() == "postgresql+psycopg://gisgrid:secret@db.example:5432/gisgrid"
        assert "GISGRID_APP_DATABASE_URL is not set: the app connects as the owner" in caplog.text
    caplog.clear()
    app = "postgresql://gisgrid_app:other@db.example:5432/gisgrid"
    with settings_env(GISGRID_DATABASE_URL=owner, GISGRID_APP_DATABASE_URL=app), \
            caplog.at_level(logging.WARNING, logger="gisgrid"):
        assert app_database_url() == "postgresql+psycopg://gisgrid_app:other@db.example:5432/gisgrid"
        assert caplog.text == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_public_form_is_rate_limited_per_address(scratch_engine, monkeypatch):
    from shapely import Point

    from gisgrid.core.settings import get_settings

    from builders import Town, lonlat

    town = Town(scratch_engine)
    point = lonlat(Point(100 + town.dx, 100))
    report = {"category": "urban_management", "title": "路灯不亮", "location": {"lon": point.x, "lat": point.y}}
    monkeypatch.setattr(get_settings(), "public_report_rate", 3)
    clock = FixedClock(datetime(2030, 1, 7, 9, 0, tzinfo=UTC))
    with serve(scratch_engine, clock=clock) as url, httpx.Client(base_url=url, timeout=30, headers=AUTH) as client:
        statuses = [client.post("/public/cases", json=report).status_code for _ in range(4)]
        assert statuses == [201, 201, 201, 429]
        clock.advance(minutes=11)
        assert client.post("/public/cases", json=report).status_code == 201
