"""Visits and training over real HTTP on the scratch database: what is logged keeps its grid,
bad input is refused saying where, and the figures reach the weekly summary and assessment."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from gisgrid.core.scope import WHOLE
from gisgrid.reports.assessment import assessment

from builders import Town


@pytest.fixture
def town(scratch_engine):
    town = Town(scratch_engine)
    with scratch_engine.connect() as conn:
        town.lead = conn.execute(text("""SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
                                         WHERE g.code = :c AND a.role = 'grid_lead'"""), {"c": town.west}).scalar()
        town.household = conn.execute(text("SELECT id FROM households WHERE building_id = :b LIMIT 1"),
                                      {"b": town.west_building}).scalar()
    return town


def test_a_visit_keeps_its_grid_and_shows_in_the_weekly_summary(scratch_http, town):
    when = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    made = scratch_http.post("/visits", json={"staff_id": town.lead, "household_id": town.household,
                                              "visited_at": when.isoformat(), "note": "了解独居老人需求"})
    assert made.status_code == 201, made.text
    assert made.json()["building_id"] == town.west_building
    check = scratch_http.post("/visits", json={"staff_id": town.lead, "kind": "info_check",
                                               "building_id": town.west_building, "visited_at": when.isoformat()})
    assert check.status_code == 201
    listed = scratch_http.get("/visits", params={"grid": town.west}).json()
    assert listed["numberMatched"] == 2 and listed["items"][0]["grid"] == town.west
    summary = scratch_http.get("/reports/weekly", params={"scope": town.west, "week": "2026-W48"}).json()
    assert summary["collection"] == {"visits": 1, "info_checks": 1, "households": 1, "workers": 1,
                                         "worker_reports": 0}
    for body, where in (
        ({"staff_id": town.lead}, "household_id"),
        ({"staff_id": 999999, "building_id": town.west_building}, "staff_id"),
        ({"staff_id": town.lead, "building_id": town.west_building, "kind": "party"}, "kind"),
        ({"staff_id": town.lead, "building_id": town.west_building,
          "visited_at": (datetime.now(ZoneInfo("UTC")) + timedelta(days=2)).isoformat()}, "visited_at"),
        ({"staff_id": town.lead, "building_id": town.west_building, "mood": "good"}, "mood"),
    ):
        refused = scratch_http.post("/visits", json=body)
        assert refused.status_code == 422 and where in refused.text, (body, refused.text)


def test_a_visit_retried_with_its_key_is_logged_once(scratch_http, scratch_engine, town):
    import concurrent.futures
    import uuid

    key = str(uuid.uuid4())
    body = {"staff_id": town.lead, "household_id": town.household, "note": "弱信号重试"}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: scratch_http.post("/visits", json=body, headers={"Idempotency-Key": key}),
                                range(4)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM visits WHERE idempotency_key = :k"), {"k": key}).scalar() == 1
    other = scratch_http.post("/visits", json={**body, "note": "另一次"}, headers={"Idempotency-Key": key})
    assert other.status_code == 422 and "Idempotency-Key" in other.text


def test_training_scores_feed_the_skills_part_of_the_assessment(scratch_http, scratch_engine, town):
    course = scratch_http.post("/training/courses", json={"subdistrict": town.sd, "title": "矛盾纠纷调解",
                                                         "held_on": "2026-11-10", "hours": 3, "max_score": 50})
    assert course.status_code == 201, course.text
    course_id = course.json()["id"]
    bad = scratch_http.put(f"/training/courses/{course_id}/records", json=[
        {"staff_id": town.lead, "attended": True, "score": 45}, {"staff_id": town.lead, "attended": False, "score": 10}])
    assert bad.status_code == 422 and "records[1]" in bad.json()["where"]
    assert scratch_http.get(f"/training/courses/{course_id}").json()["records"] == []  # nothing half-written
    saved = scratch_http.put(f"/training/courses/{course_id}/records",
                             json=[{"staff_id": town.lead, "attended": True, "score": 45}])
    assert saved.json()["records"] == [{"staff_id": town.lead, "name": "组长001001", "attended": True, "score": 45.0}]
    with scratch_engine.connect() as conn:
        from sqlalchemy.orm import Session

        report = assessment(Session(bind=conn), since=date(2026, 11, 1), until=date(2026, 11, 30), by="grid",
                            scope=WHOLE, subdistrict=town.sd)
    west = next(r for r in report["items"] if r["grid"] == town.west)
    assert west["training_score"] == 90.0 and west["skills"] == 90.0
    assert scratch_http.put("/training/courses/999999/records", json=[]).status_code == 404
