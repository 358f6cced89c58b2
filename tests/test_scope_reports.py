"""Reports, fieldwork, staff and the person export within the caller's scope: for each role and
each of their own grid, a sibling grid of the same community and a grid of another community
(and their communities and sub-district), the exact status; no row from outside the caller's
scope in any list, report or export, against sets the test computes from the tables itself;
and the audit row of every export and every refused one."""

from __future__ import annotations

import csv
import hashlib
import io
import re

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session
from test_access import ROLES, places, tokens  # noqa: F401  (places and tokens are fixtures)

from gisgrid.auth.access import CAN
from gisgrid.core.tables import csv_bytes, xlsx_bytes

WEEK = {"week": "2026-W43"}  # Monday 19 October 2026 to Sunday 25 October, Asia/Shanghai
WEEK_SQL = "c.reported_at >= '2026-10-19T00:00:00+08' AND c.reported_at < '2026-10-26T00:00:00+08'"
MONTH = {"from": "2026-10-01", "to": "2026-10-31"}
FOREIGN_SD = "510107998"


def _can(role: str, function: str) -> bool:
    return function in CAN[ROLES[role]]


@pytest.fixture(scope="module")
def tree(engine, places):  # noqa: F811
    """Codes and ids the expectations are written in, read straight from the tables."""
    with engine.connect() as conn:
        q = lambda sql, **p: conn.execute(text(sql), p)  # noqa: E731
        subdistrict = q("SELECT subdistrict_code FROM grids WHERE code = :c", c=places["own"]).scalar_one()
        other = places["stranger"][:12]
        worker = q("SELECT staff_id FROM accounts WHERE username = 'wangge'").scalar_one()
        # the worker's L2 grids: those they are assigned to, and the parents of their L3 grids
        worker_l2 = set(q("""SELECT CASE WHEN g.level = 2 THEN g.code ELSE g.parent_code END FROM grid_assignments a
                             JOIN grids g ON g.id = a.grid_id WHERE a.staff_id = :s AND g.level IN (2, 3)""",
                          s=worker).scalars())
        sibling_lead = q("""SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
                            WHERE g.code = :c AND a.role = 'grid_lead'""", c=places["sibling"]).scalar_one()
        households = {name: q("SELECT id FROM households WHERE building_id = :b ORDER BY id LIMIT 1", b=b).scalar_one()
                      for name, b in places["building"].items()}
    return {"subdistrict": subdistrict, "other_community": other, "worker": worker, "worker_l2": worker_l2,
            "sibling_lead": sibling_lead, "household": households}


def _worker_sees_grid(tree, code: str) -> bool:
    """A worker's grids, the grids below them and the community above (as access.py documents)."""
    return any(code.startswith(mine) or mine.startswith(code) for mine in tree["worker_l2"])


def sees_grid(role: str, code: str | None, places, tree) -> bool:  # noqa: F811
    if code is None:
        return role == "admin"
    return {"admin": True, "viewer": True, "shequ": code.startswith(places["community"]),
            "wangge": _worker_sees_grid(tree, code)}[role]


@pytest.fixture
def foreign_admin(engine, demo):
    """An administrator of another (empty) sub-district, by API key; gone again after the test,
    so no other test ever sees the second sub-district."""
    from gisgrid.auth.service import create_account
    from gisgrid.core.enums import Role

    key = "gg_foreign-" + hashlib.sha256(FOREIGN_SD.encode()).hexdigest()[:32]
    with Session(engine) as db:
        db.execute(text("""INSERT INTO subdistricts (code, name, county, city, boundary) VALUES (:c, '别处街道', '别区', '别市',
                           ST_Multi(ST_MakeEnvelope(100.0, 30.0, 100.01, 30.01, 4326)))"""), {"c": FOREIGN_SD})
        account = create_account(db, username="foreign-admin", display_name="别处管理员", role=Role.ADMIN,
                                 password="Elsewhere-Admin-2026", subdistrict=FOREIGN_SD)
        db.execute(text("INSERT INTO api_keys (account_id, name, prefix, key_hash) VALUES (:a, 'tests', :p, :h)"),
                   {"a": account["id"], "p": key[:10], "h": hashlib.sha256(key.encode()).hexdigest()})
        db.commit()
    try:
        yield {"Authorization": f"Bearer {key}"}
    finally:
        with Session(engine) as db:
            db.execute(text("DELETE FROM api_keys WHERE account_id = :a"), {"a": account["id"]})
            db.execute(text("DELETE FROM auth_sessions WHERE account_id = :a"), {"a": account["id"]})
            db.execute(text("DELETE FROM accounts WHERE id = :a"), {"a": account["id"]})
            # sub-districts are never deleted (migration 0015): this test's own one is, its guards off
            db.execute(text("ALTER TABLE subdistricts DISABLE TRIGGER subdistricts_never_deleted"))
            db.execute(text("ALTER TABLE subdistrict_versions DISABLE TRIGGER subdistrict_versions_append_only"))
            db.execute(text("DELETE FROM subdistrict_versions WHERE code = :c"), {"c": FOREIGN_SD})
            db.execute(text("DELETE FROM subdistricts WHERE code = :c"), {"c": FOREIGN_SD})
            db.execute(text("ALTER TABLE subdistrict_versions ENABLE TRIGGER subdistrict_versions_append_only"))
            db.execute(text("ALTER TABLE subdistricts ENABLE TRIGGER subdistricts_never_deleted"))
            db.commit()


# ---------------------------------------------------------------- weekly summary

SCOPES = ("own", "sibling", "stranger", "community", "other_community", "subdistrict", "omitted")
WEEKLY_SEES = {"admin": set(SCOPES), "viewer": set(SCOPES),
               "shequ": {"own", "sibling", "community", "omitted"}, "wangge": set(), "auditor": set()}


def _scope_code(place: str, places, tree) -> str | None:  # noqa: F811
    return {"own": places["own"], "sibling": places["sibling"], "stranger": places["stranger"],
            "community": places["community"], "other_community": tree["other_community"],
            "subdistrict": tree["subdistrict"], "omitted": None}[place]


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("place", SCOPES)
def test_weekly_report_by_role_and_scope(http, tokens, places, tree, role, place):  # noqa: F811
    code = _scope_code(place, places, tree)
    query = {**WEEK, **({"scope": code} if code else {})}
    expected = (200 if place in WEEKLY_SEES[role] else 404) if _can(role, "reports") else 403
    answer = http.get("/reports/weekly", params=query, headers=tokens[role])
    assert answer.status_code == expected, (role, place, answer.text[:200])
    page = http.get("/reports/weekly/page", params=query, headers=tokens[role])
    assert page.status_code == expected
    book = http.get("/reports/weekly", params={**query, "format": "xlsx"}, headers=tokens[role])
    assert book.status_code == expected
    if expected != 200:
        assert "<html" not in page.text and not book.content.startswith(b"PK")
        pdf = http.get("/reports/weekly", params={**query, "format": "pdf"}, headers=tokens[role])
        assert pdf.status_code == expected and not pdf.content.startswith(b"%PDF")
        return
    own_scope = places["community"] if role == "shequ" else tree["subdistrict"]
    assert answer.json()["scope"]["code"] == (code or own_scope)
    assert f"scope={code or own_scope}" in page.text  # the page's export links keep the scope
    assert book.headers["content-type"].startswith("application/vnd.openxmlformats")


def test_the_community_managers_weekly_report_counts_their_community_only(http, tokens, places, tree, db):  # noqa: F811
    """Omitted, the scope is the manager's community; every figure is that community's (counted
    here from the tables), every unit and hot spot one of its grids."""
    report = http.get("/reports/weekly", params=WEEK, headers=tokens["shequ"]).json()
    community = db.execute(text("SELECT id FROM grids WHERE code = :c"), {"c": places["community"]}).scalar_one()
    new = db.execute(text(f"SELECT count(*) FROM cases c WHERE c.grid_l1_id = :l1 AND {WEEK_SQL}"),
                     {"l1": community}).scalar_one()
    visits = db.execute(text(f"""SELECT count(*) FROM visits v JOIN grids g ON g.id = v.grid_l2_id
                                 WHERE g.parent_code = :c AND v.kind = 'visit' AND {WEEK_SQL.replace('c.reported_at',
                                                                                                 'v.visited_at')}"""),
                        {"c": places["community"]}).scalar_one()
    grids = set(db.execute(text("SELECT code FROM grids WHERE parent_code = :c AND retired_at IS NULL"),
                           {"c": places["community"]}).scalars())
    assert report["scope"]["code"] == places["community"]
    assert report["total"]["new"] == new > 0
    assert report["collection"]["visits"] == visits > 0
    assert {u["code"] for u in report["units"]["items"] if u["code"]} == grids
    assert all(h["grid"] is None or h["grid"] in grids for h in report["hotspots"])
    whole = http.get("/reports/weekly", params=WEEK, headers=tokens["admin"]).json()
    assert whole["scope"]["code"] == tree["subdistrict"] and whole["total"]["new"] > new
    book = load_workbook(io.BytesIO(http.get("/reports/weekly", params={**WEEK, "format": "xlsx"},
                                             headers=tokens["shequ"]).content))
    assert {row[0] for row in book["下级单位"].iter_rows(min_row=2, values_only=True) if row[0]} == grids


def test_the_city_is_the_city_wide_administrators_only(http, foreign_admin, tree):
    """The tests' own key is city-wide: its report is the city; another sub-district's
    administrator gets their own sub-district, and ours does not exist for them."""
    assert http.get("/reports/weekly", params=WEEK).json()["scope"]["kind"] == "city"
    mine = http.get("/reports/weekly", params=WEEK, headers=foreign_admin)
    assert mine.status_code == 200 and mine.json()["scope"]["code"] == FOREIGN_SD
    assert mine.json()["total"]["new"] == 0
    for scope in (tree["subdistrict"], tree["other_community"]):
        assert http.get("/reports/weekly", params={**WEEK, "scope": scope}, headers=foreign_admin).status_code == 404


# ---------------------------------------------------------------- assessment

@pytest.mark.parametrize("role", list(ROLES))
def test_the_assessment_ranks_the_callers_grids_and_workers_only(http, tokens, places, tree, role, db):  # noqa: F811
    by_grid = http.get("/reports/assessment", params=MONTH, headers=tokens[role])
    if not _can(role, "reports"):
        assert by_grid.status_code == 403
        return
    prefix = places["community"] if role == "shequ" else tree["subdistrict"]
    grids = set(db.execute(text("SELECT code FROM grids WHERE level = 2 AND retired_at IS NULL "
                                "AND starts_with(code, :p)"), {"p": prefix}).scalars())
    assert {i["grid"] for i in by_grid.json()["items"]} == grids
    in_scope = set(db.execute(text("""SELECT DISTINCT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
                                      WHERE starts_with(g.code, :p)"""), {"p": prefix}).scalars())
    workers = http.get("/reports/assessment", params={**MONTH, "by": "worker"}, headers=tokens[role]).json()["items"]
    assert workers and {w["staff_id"] for w in workers} <= in_scope
    assert all(code.startswith(prefix) for w in workers for code in (w["grids"] or "").split(",") if code)
    table = http.get("/reports/assessment", params={**MONTH, "format": "csv"}, headers=tokens[role])
    rows = list(csv.reader(io.StringIO(table.content.decode("utf-8-sig"))))[1:]
    assert {r[1] for r in rows} == grids
    if role == "shequ":
        assert len(grids) < db.execute(text("SELECT count(*) FROM grids WHERE level = 2 AND retired_at IS NULL "
                                            "AND subdistrict_code = :sd"), {"sd": tree["subdistrict"]}).scalar_one()
        filtered = http.get("/reports/assessment", params={**MONTH, "subdistrict": tree["subdistrict"]},
                            headers=tokens[role])
        assert {i["grid"] for i in filtered.json()["items"]} == grids  # a filter, not a way out
    other = http.get("/reports/assessment", params={**MONTH, "subdistrict": FOREIGN_SD}, headers=tokens[role])
    assert other.status_code == 404


def test_another_sub_districts_administrator_ranks_nothing_of_ours(http, foreign_admin, tree):
    for by in ("grid", "worker"):
        answer = http.get("/reports/assessment", params={**MONTH, "by": by}, headers=foreign_admin)
        assert answer.status_code == 200 and answer.json()["items"] == []
    assert http.get("/reports/assessment", params={**MONTH, "subdistrict": tree["subdistrict"]},
                    headers=foreign_admin).status_code == 404


# ---------------------------------------------------------------- visits

def _visit_grids(role: str, places, tree, db) -> set[str]:  # noqa: F811
    """The L2 grids whose visits the role sees."""
    if role == "wangge":
        return tree["worker_l2"]
    prefix = places["community"] if role == "shequ" else tree["subdistrict"]
    return set(db.execute(text("SELECT code FROM grids WHERE level = 2 AND starts_with(code, :p)"),
                          {"p": prefix}).scalars())


@pytest.mark.parametrize("role", list(ROLES))
def test_visits_are_listed_of_the_callers_grids_only(http, tokens, places, tree, role, db):  # noqa: F811
    answer = http.get("/visits", params={"limit": 5000}, headers=tokens[role])
    if not _can(role, "fieldwork"):
        assert answer.status_code == 403
        return
    grids = _visit_grids(role, places, tree, db)
    expected = db.execute(text("""SELECT count(*) FROM visits v LEFT JOIN grids g ON g.id = v.grid_l2_id
                                  WHERE g.code = ANY(:grids) OR (:all AND v.subdistrict_code = :sd)"""),
                          {"grids": list(grids), "all": role == "admin", "sd": tree["subdistrict"]}).scalar_one()
    body = answer.json()
    assert body["numberMatched"] == expected > 0
    assert body["items"] and all(v["grid"] in grids for v in body["items"])
    stranger = http.get("/visits", params={"grid": places["stranger"]}, headers=tokens[role]).json()
    assert (stranger["numberMatched"] > 0) == (role == "admin")


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("place", ["own", "sibling", "stranger"])
def test_a_visit_is_logged_in_the_callers_grids_only(http, tokens, places, tree, role, place, engine):  # noqa: F811
    sees = {"admin": {"own", "sibling", "stranger"}, "shequ": {"own", "sibling"}, "wangge": {"own"}}
    expected = (201 if place in sees[role] else 404) if _can(role, "fieldwork") else 403
    for target in ({"building_id": places["building"][place]}, {"household_id": tree["household"][place]}):
        body = {"staff_id": tree["worker"], "visited_at": "2026-10-28T10:00:00+08:00", "note": "范围检查", **target}
        answer = http.post("/visits", json=body, headers=tokens[role])
        try:
            assert answer.status_code == expected, (role, place, target, answer.text[:200])
        finally:
            if answer.status_code == 201:  # the demo stays as the other tests expect it
                with engine.begin() as conn:
                    conn.execute(text("DELETE FROM visits WHERE id = :id"), {"id": answer.json()["id"]})
        if expected == 201:
            assert answer.json()["grid_l2_id"] is not None


def test_a_worker_logs_no_visit_for_staff_outside_their_grids(http, tokens, places, tree, foreign_admin):  # noqa: F811
    body = {"staff_id": tree["sibling_lead"], "building_id": places["building"]["own"]}
    refused = http.post("/visits", json=body, headers=tokens["wangge"])
    assert refused.status_code == 422 and refused.json()["where"] == "staff_id"
    assert http.get("/visits", headers=foreign_admin).json()["numberMatched"] == 0
    assert http.post("/visits", json={"staff_id": tree["worker"], "building_id": places["building"]["own"]},
                     headers=foreign_admin).status_code == 422  # our worker is nobody they know


# ---------------------------------------------------------------- training

def _staff_in_scope(role: str, places, tree, db) -> set[int]:  # noqa: F811
    rows = db.execute(text("SELECT a.staff_id, g.code FROM grid_assignments a JOIN grids g ON g.id = a.grid_id")).all()
    return {staff for staff, code in rows if sees_grid(role, code, places, tree)}


@pytest.mark.parametrize("role", ["admin", "shequ", "wangge"])
def test_training_records_are_shown_of_the_callers_staff_only(http, tokens, places, tree, role, db):  # noqa: F811
    courses = http.get("/training/courses", headers=tokens[role]).json()
    total = db.execute(text("SELECT count(*) FROM training_courses WHERE subdistrict_code = :sd"),
                       {"sd": tree["subdistrict"]}).scalar_one()
    assert courses["numberMatched"] == total > 0  # courses are sub-district-wide
    staff = _staff_in_scope(role, places, tree, db)
    everyone = 0
    for course in courses["items"]:
        records = http.get(f"/training/courses/{course['id']}", headers=tokens[role]).json()["records"]
        expected = {s for s in db.execute(text("SELECT staff_id FROM training_records WHERE course_id = :c"),
                                          {"c": course["id"]}).scalars() if s in staff}
        assert {r["staff_id"] for r in records} == expected
        assert course["attended"] == sum(r["attended"] for r in records)
        everyone += db.execute(text("SELECT count(*) FILTER (WHERE attended) FROM training_records "
                                    "WHERE course_id = :c"), {"c": course["id"]}).scalar_one()
    seen = sum(c["attended"] for c in courses["items"])
    if role == "admin":
        assert seen == everyone
    else:
        assert 0 < seen < everyone


def test_a_worker_records_no_score_for_staff_outside_their_grids(http, tokens, tree, db, foreign_admin):  # noqa: F811
    course = db.execute(text("SELECT min(id) FROM training_courses WHERE subdistrict_code = :sd"),
                        {"sd": tree["subdistrict"]}).scalar_one()
    before = db.execute(text("SELECT count(*) FROM training_records WHERE course_id = :c"), {"c": course}).scalar_one()
    refused = http.put(f"/training/courses/{course}/records", headers=tokens["wangge"],
                       json=[{"staff_id": tree["sibling_lead"], "attended": True, "score": 99}])
    assert refused.status_code == 422 and refused.json()["where"] == "records[0].staff_id"
    assert db.execute(text("SELECT count(*) FROM training_records WHERE course_id = :c"),
                      {"c": course}).scalar_one() == before
    assert http.get(f"/training/courses/{course}", headers=foreign_admin).status_code == 404
    assert http.put(f"/training/courses/{course}/records", json=[], headers=foreign_admin).status_code == 404
    assert http.get("/training/courses", headers=foreign_admin).json()["numberMatched"] == 0
    made = http.post("/training/courses", headers=foreign_admin, json={
        "subdistrict": tree["subdistrict"], "title": "越界培训", "held_on": "2026-10-20", "hours": 2})
    assert made.status_code == 422 and made.json()["where"] == "subdistrict"


# ---------------------------------------------------------------- staff

@pytest.mark.parametrize("role", list(ROLES))
def test_staff_are_listed_of_the_callers_grids_only(http, tokens, places, tree, role, db):  # noqa: F811
    answer = http.get("/staff", params={"limit": 5000}, headers=tokens[role])
    if not _can(role, "people"):
        assert answer.status_code == 403
        return
    rows = db.execute(text("""SELECT g.code FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
                              JOIN grids g ON g.id = a.grid_id WHERE s.active""")).scalars().all()
    expected = [code for code in rows if sees_grid(role, code, places, tree)]
    body = answer.json()
    assert body["numberMatched"] == len(expected) > 0
    assert all(sees_grid(role, item["grid_code"], places, tree) for item in body["items"])
    assert any(item["grid_code"] == places["own"] for item in body["items"])
    assert any(item["grid_code"] == places["sibling"] for item in body["items"]) == (role != "wangge")
    filtered = http.get("/staff", params={"grid": places["stranger"]}, headers=tokens[role]).json()
    assert (filtered["numberMatched"] > 0) == (role == "admin")


def test_another_sub_districts_administrator_lists_none_of_our_staff(http, foreign_admin):
    assert http.get("/staff", headers=foreign_admin).json()["numberMatched"] == 0


# ---------------------------------------------------------------- person exports

def _audit_mark(db) -> int:
    return db.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one()


def _exports_since(db, mark: int) -> list[dict]:
    return [dict(r) for r in db.execute(text("""
        SELECT actor, action, object_type, object_id, host(client_addr) AS client_addr, outcome, detail
        FROM audit_log WHERE id > :m AND action = 'export.residents' ORDER BY id"""), {"m": mark}).mappings()]


def _plain_values(demo) -> set[str]:
    residents = demo["residents"]
    return set(residents["id_number"].dropna()) | set(residents["phone"].dropna())


@pytest.mark.parametrize("place", ["own", "sibling", "stranger"])
def test_an_administrator_exports_a_grids_residents_masked_and_audited(http, tokens, places, place, db, demo):  # noqa: F811
    grid = places[place]
    listed = http.get("/residents", params={"grid": grid, "limit": 5000}, headers=tokens["admin"]).json()["items"]
    count = db.execute(text("""SELECT count(*) FROM residents r JOIN households h ON h.id = r.household_id
                               JOIN buildings b ON b.id = h.building_id JOIN grids g ON g.id = b.grid_l2_id
                               WHERE g.code = :g"""), {"g": grid}).scalar_one()
    assert len(listed) == count > 0
    masked = {(r["id"], r["id_number"], r["phone"]) for r in listed}
    plain = _plain_values(demo)
    mark = _audit_mark(db)

    answer = http.get("/residents/export", params={"grid": grid}, headers=tokens["admin"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][0] == "居民编号" and len(rows) == count + 1
    assert {(int(r[0]), r[8] or None, r[9] or None) for r in rows[1:]} == masked
    assert not plain & set(re.findall(r"[0-9Xx]+", answer.text))  # no plaintext ID number or phone anywhere

    book = http.get("/residents/export", params={"grid": grid, "format": "xlsx"}, headers=tokens["admin"])
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content))["居民"]
    cells = list(sheet.iter_rows(min_row=2, values_only=True))
    assert {(r[0], r[8], r[9]) for r in cells} == masked
    assert not plain & {str(c) for r in cells for c in r}

    assert _exports_since(db, mark) == [
        {"actor": "admin", "action": "export.residents", "object_type": "grid", "object_id": grid,
         "client_addr": "127.0.0.1", "outcome": "ok", "detail": {"format": fmt, "rows": count}}
        for fmt in ("csv", "xlsx")]


@pytest.mark.parametrize("role", ["shequ", "wangge", "viewer", "auditor"])
def test_no_other_role_exports_persons_and_every_refusal_is_audited(http, tokens, places, role, db):  # noqa: F811
    mark = _audit_mark(db)
    for place in ("own", "stranger"):
        refused = http.get("/residents/export", params={"grid": places[place], "format": "xlsx"}, headers=tokens[role])
        assert refused.status_code == 403 and not refused.content.startswith(b"PK")
    assert _exports_since(db, mark) == [
        {"actor": role, "action": "export.residents", "object_type": "grid", "object_id": places[place],
         "client_addr": "127.0.0.1", "outcome": "refused", "detail": {"format": "xlsx", "status": 403}}
        for place in ("own", "stranger")]


def test_a_grid_outside_the_administrators_sub_district_is_not_there(http, places, db, foreign_admin):  # noqa: F811
    mark = _audit_mark(db)
    assert http.get("/residents/export", params={"grid": places["own"]}, headers=foreign_admin).status_code == 404
    assert http.get("/residents/export", params={"grid": "510107001099999"}, headers=foreign_admin).status_code == 404
    assert http.get("/residents/export", params={"grid": places["own"]}).status_code == 200  # the city-wide key
    with httpx.Client(base_url=str(http.base_url)) as anonymous:
        assert anonymous.get("/residents/export", params={"grid": places["own"]}).status_code == 401
    entries = _exports_since(db, mark)
    assert [(e["actor"], e["object_id"], e["outcome"], e["detail"].get("status")) for e in entries] == [
        ("foreign-admin", places["own"], "refused", 404), ("foreign-admin", "510107001099999", "refused", 404),
        ("tests", places["own"], "ok", None)]


def test_exported_cells_are_never_formulas():
    hostile = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-3", "@SUM(A1)", "\tx", "plain", 5]
    table = csv_bytes(["姓名"] * len(hostile), [hostile])
    assert table.startswith("\ufeff".encode())
    row = list(csv.reader(io.StringIO(table.decode("utf-8-sig"))))[1]
    assert row[:5] == ["'" + v for v in hostile[:5]] and row[5:] == ["plain", "5"]
    sheet = load_workbook(io.BytesIO(xlsx_bytes([("表", ["a"] * len(hostile), [hostile])])))["表"]
    cells = list(sheet.iter_rows(min_row=2))[0]
    assert [c.value for c in cells] == hostile and all(c.data_type != "f" for c in cells)
    assert not re.search(rb"<f>", _sheet_xml(xlsx_bytes([("表", ["a"], [["=1+1"]])])))


def _sheet_xml(book: bytes) -> bytes:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(book)) as archive:
        return archive.read("xl/worksheets/sheet1.xml")
