"""The audit trail: every change, export and refused access is on record with who, when, what,
from where and the outcome, written before the answer goes out; auditors read it, nobody else."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from gisgrid.demo.accounts import PASSWORDS


@pytest.fixture(scope="module")
def signed(server, demo):
    def token(name: str) -> dict:
        with httpx.Client(base_url=server, timeout=30) as client:
            answer = client.post("/auth/sign-in", json={"username": name, "password": PASSWORDS[name]})
            return {"Authorization": "Bearer " + answer.json()["token"]}
    return {name: token(name) for name in ("viewer", "auditor", "shequ")}


def last_entry(engine, **match):
    where = " AND ".join(f"{k} = :{k}" for k in match)
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT actor, action, object_type, object_id, host(client_addr) AS addr, outcome, "
                                 f"detail FROM audit_log WHERE {where} ORDER BY id DESC LIMIT 1"), match).first()


def test_a_change_is_on_record_with_who_what_and_outcome(http, engine, demo):
    code = http.get("/grids", params={"level": 2, "limit": 1}).json()["features"][0]["id"]
    shape = http.get(f"/grids/{code}").json()["geometry"]
    answer = http.post(f"/grids/{code}/reshape", params={"dry_run": "true"},
                       json={"reason": "核对边界", "geometry": shape, "mode": "fit"})
    assert answer.status_code == 200
    entry = last_entry(engine, action="edit", object_id=code)
    assert (entry.actor, entry.object_type, entry.outcome, entry.addr) == ("tests", "grids", "ok", "127.0.0.1")
    assert entry.detail["path"] == f"/grids/{code}/reshape" and entry.detail["status"] == 200
    refused = http.post(f"/grids/{code}/reshape", json={"reason": "", "geometry": shape})
    assert refused.status_code == 422
    assert last_entry(engine, action="edit", object_id=code).outcome == "rejected_422"


def test_refused_access_is_on_record(server, signed, engine):
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.get("/residents", headers=signed["viewer"]).status_code == 403
        entry = last_entry(engine, action="access", actor="viewer")
        assert (entry.object_type, entry.outcome) == ("residents", "refused")
        assert client.get("/residents").status_code == 401
        assert last_entry(engine, action="access", actor="anonymous").detail["path"] == "/residents"


def test_an_export_is_on_record_without_the_query_values(http, engine, demo):
    answer = http.get("/reports/assessment", params={"from": "2026-10-01", "to": "2026-10-31", "format": "xlsx"})
    assert answer.status_code == 200 and answer.headers["content-disposition"].startswith("attachment")
    entry = last_entry(engine, action="export", actor="tests")
    assert entry.detail["path"] == "/reports/assessment"
    assert entry.detail["query"] == ["format", "from", "to"]  # names, never values
    assert "2026-10-01" not in str(entry.detail)


def test_only_auditors_read_the_log(server, signed, http):
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.get("/residents", headers=signed["viewer"]).status_code == 403
        log = client.get("/audit", params={"actor": "viewer", "action": "access"}, headers=signed["auditor"])
        assert log.status_code == 200
        items = log.json()["items"]
        assert items and all(i["actor"] == "viewer" and i["action"] == "access" for i in items)
        assert items[0]["outcome"] == "refused" and items[0]["client_addr"] == "127.0.0.1"
        assert client.get("/audit", headers=signed["shequ"]).status_code == 403
    assert http.get("/audit").status_code == 403  # administrators do not audit themselves
