"""The ledger kept current through the API: create, change, move and end with versions, history,
audit rows and the ledger as of a day — on a committed town of its own (the scratch database)."""

from __future__ import annotations

import concurrent.futures
import uuid
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.enums import Role

from builders import LAT0, LAT_STEP, LON0, LON_STEP, Town

PASSWORD = "Ledger-Tests-2026!"


def _id(body17: str) -> str:
    from gisgrid.registry.idnumbers import check_character

    return body17 + check_character(body17)


@pytest.fixture(scope="module")
def town(scratch_engine):
    town = Town(scratch_engine)
    with Session(scratch_engine) as db:
        for username, role in (("worker", Role.GRID_WORKER), ("manager", Role.COMMUNITY_MANAGER)):
            staff = db.execute(text("SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                                    "WHERE g.code = :c"), {"c": town.west}).scalar()
            create_account(db, username=f"{username}{town.sd}", display_name=username, role=role, password=PASSWORD,
                           subdistrict=town.sd, scope_grid=town.l1 if role is Role.COMMUNITY_MANAGER else None,
                           staff_id=staff if role is Role.GRID_WORKER else None)
        db.commit()
    return town


@pytest.fixture(scope="module")
def as_(scratch_server, town):
    clients = {}
    for who in ("worker", "manager"):
        with httpx.Client(base_url=scratch_server, timeout=30) as anonymous:
            token = anonymous.post("/auth/sign-in", json={"username": f"{who}{town.sd}",
                                                          "password": PASSWORD}).json()["token"]
        clients[who] = httpx.Client(base_url=scratch_server, timeout=30, headers={"Authorization": f"Bearer {token}"})
    yield clients
    for client in clients.values():
        client.close()


def _point(town, x: float, y: float) -> dict:
    return {"lon": round(LON0 + (x + town.dx) * LON_STEP, 7), "lat": round(LAT0 + y * LAT_STEP, 7)}


def test_a_family_moves_out_and_a_baby_is_born(as_, town, scratch_engine):
    worker = as_["worker"]
    building = worker.post("/buildings", json={"name": "新楼", "address": f"{town.sd}新路1号", "floors": 6,
                                               "entrances": 2, **_point(town, 50, 50)})
    assert building.status_code == 201, building.text
    assert building.headers["ETag"] == '"v1"'
    building = building.json()
    household = worker.post("/households", json={"building_id": building["id"], "entrance": 1, "floor": 3,
                                                 "room": "301"}).json()
    mother = worker.post("/residents", json={"household_id": household["id"], "name": "王芳", "relation": "户主",
                                             "id_number": _id("11010519900101002"), "phone": "13800138000",
                                             "key_groups": ["subsistence_allowance"]})
    assert mother.status_code == 201, mother.text
    assert mother.json()["id_number"].startswith("110105") and "*" in mother.json()["id_number"]
    assert mother.json()["sex"] == "F" and mother.json()["birth_year"] == 1990
    baby = worker.post("/residents", json={"household_id": household["id"], "name": "王小宝", "relation": "子女",
                                           "sex": "M", "birth_year": 2026, "reason": "新生儿 / newborn"})
    assert baby.status_code == 201, baby.text
    household = worker.get(f"/households/{household['id']}")
    assert household.json()["member_count"] == 2
    with scratch_engine.connect() as conn:
        loads = conn.execute(text("SELECT households, people FROM building_loads WHERE building_id = :b"),
                             {"b": building["id"]}).one()
    assert tuple(loads) == (1, 2)
    # a stale save is refused and says what changed
    stale = worker.patch(f"/households/{household.json()['id']}", headers={"If-Match": '"v1"'},
                         json={"occupancy": "rented", "reason": "出租"})
    assert stale.status_code == 409, stale.text
    assert stale.json()["detail"]["changes"]["member_count"] == {"before": 0, "after": 2}
    missing = worker.patch(f"/households/{household.json()['id']}", json={"occupancy": "rented", "reason": "出租"})
    assert missing.status_code == 428
    ended = worker.post(f"/households/{household.json()['id']}/end", headers={"If-Match": household.headers["ETag"]},
                        json={"ended_on": str(date.today()), "end_reason": "moved_out", "reason": "全家迁往外地"})
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_on"] == str(date.today()) and ended.json()["member_count"] == 0
    assert worker.get(f"/residents/{mother.json()['id']}").json()["end_reason"] == "moved_out"
    with scratch_engine.connect() as conn:
        loads = conn.execute(text("SELECT households, people FROM building_loads WHERE building_id = :b"),
                             {"b": building["id"]}).one()
        open_groups = conn.execute(text("SELECT count(*) FROM resident_key_groups WHERE resident_id = :r"),
                                   {"r": mother.json()["id"]}).scalar()
        audit = conn.execute(text("SELECT count(*) FROM audit_log WHERE object_type = 'households' AND object_id = :h"),
                             {"h": str(household.json()["id"])}).scalar()
    assert tuple(loads) == (0, 0) and open_groups == 0 and audit >= 3
    history = worker.get(f"/households/{household.json()['id']}/history").json()
    assert [h["operation"] for h in history][:1] == ["end"]
    assert history[0]["changes"]["end_reason"] == {"before": None, "after": "moved_out"}
    today = worker.get("/ledger", params={"grid": town.west}).json()
    assert today["households"] == 10  # the town's ten, the new family gone
    week = worker.get("/ledger/changes", params={"grid": town.west}).json()
    assert {c["kind"] for c in week["changes"]} >= {"buildings", "households", "residents"}


def test_twenty_concurrent_saves_of_one_version_land_once(as_, town, scratch_server):
    worker = as_["worker"]
    household = worker.get("/households", params={"building": town.west_building}).json()["items"][0]
    current = worker.get(f"/households/{household['id']}")
    tag = current.headers["ETag"]

    def save(n: int) -> int:
        return worker.patch(f"/households/{household['id']}", headers={"If-Match": tag},
                            json={"member_count": n, "reason": f"核实 {n}"}).status_code

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(save, range(3, 23)))
    assert sorted(statuses) == [200] + [409] * 19


def test_a_retry_with_the_same_key_writes_once(as_, town, scratch_engine):
    worker = as_["worker"]
    key = str(uuid.uuid4())
    body = {"building_id": town.west_building, "entrance": 1, "floor": 3, "room": "399"}
    first = worker.post("/households", json=body, headers={"Idempotency-Key": key})
    again = worker.post("/households", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and again.headers["Idempotent-Replayed"] == "true"


def test_outside_the_workers_grids_nothing_is_written(as_, town, scratch_engine):
    worker, manager = as_["worker"], as_["manager"]
    east = worker.post("/buildings", json={"name": "东楼", "address": f"{town.sd}东路1号", "floors": 3,
                                           **_point(town, 300, 50)})
    assert east.status_code == 404, east.text
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM all_buildings WHERE address = :a"),
                            {"a": f"{town.sd}东路1号"}).scalar() == 0
    built = manager.post("/buildings", json={"name": "东楼", "address": f"{town.sd}东路1号", "floors": 3,
                                             **_point(town, 300, 50)})
    assert built.status_code == 201, built.text
    assert worker.get(f"/buildings/{built.json()['id']}").status_code == 404
    moved = worker.post("/households", json={"building_id": built.json()["id"], "floor": 1, "room": "101"})
    assert moved.status_code == 404


def test_the_ledger_as_of_yesterday_is_unchanged_by_todays_end(as_, town):
    worker = as_["worker"]
    yesterday = str(date.today() - timedelta(days=1))
    before = worker.get("/ledger", params={"grid": town.west, "as_of": yesterday}).json()
    household = worker.get("/households", params={"building": town.west_building}).json()["items"][-1]
    tag = worker.get(f"/households/{household['id']}").headers["ETag"]
    assert worker.post(f"/households/{household['id']}/end", headers={"If-Match": tag},
                       json={"ended_on": yesterday, "end_reason": "moved_out", "reason": "迁出"}).status_code == 200
    assert worker.get("/ledger", params={"grid": town.west, "as_of": yesterday}).json() == before


def test_a_move_today_leaves_last_weeks_changes_where_they_were_made(as_, town, scratch_engine):
    manager = as_["manager"]
    west = manager.post("/buildings", json={"name": "西楼", "address": f"{town.sd}西路9号", "floors": 3,
                                            **_point(town, 60, 120)}).json()
    east = manager.post("/buildings", json={"name": "东楼", "address": f"{town.sd}东路9号", "floors": 3,
                                            **_point(town, 300, 120)}).json()
    household = manager.post("/households", json={"building_id": west["id"], "floor": 1, "room": "102"}).json()
    person = manager.post("/residents", json={"household_id": household["id"], "name": "赵强", "relation": "户主",
                                              "sex": "M", "birth_year": 1980}).json()
    with scratch_engine.begin() as conn:  # what was just recorded, recorded a week ago
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table, ids in (("all_buildings", [west["id"], east["id"]]), ("all_households", [household["id"]]),
                           ("all_residents", [person["id"]])):
            conn.execute(text(f"UPDATE {table} SET valid_from = valid_from - interval '7 days' WHERE id = ANY(:ids)"),
                         {"ids": ids})
        conn.execute(text("UPDATE ledger_versions SET valid_from = valid_from - interval '7 days', "
                          "valid_to = valid_to - interval '7 days' WHERE kind = 'households' AND record_id = :h"),
                     {"h": household["id"]})
    year, number, _ = (date.today() - timedelta(days=7)).isocalendar()
    last_week = f"{year}-W{number:02d}"

    def last_weeks():
        return {grid: (manager.get("/reports/weekly", params={"scope": grid, "week": last_week}).json()["ledger"],
                       sorted((c["kind"], c["record_id"], c["version"]) for c in manager.get(
                           "/ledger/changes", params={"grid": grid, "week": last_week}).json()["changes"]))
                for grid in (town.west, town.east)}

    before = last_weeks()
    assert ("residents", person["id"], 1) in before[town.west][1]
    tag = manager.get(f"/households/{household['id']}").headers["ETag"]
    assert ("households", household["id"], int(tag.strip('"v'))) in before[town.west][1]
    moved = manager.post(f"/households/{household['id']}/move", headers={"If-Match": tag},
                         json={"building_id": east["id"], "floor": 2, "room": "201", "reason": "换房"})
    assert moved.status_code == 200, moved.text
    assert last_weeks() == before
    this_week = manager.get("/ledger/changes", params={"grid": town.east}).json()["changes"]
    assert ("households", household["id"]) in {(c["kind"], c["record_id"]) for c in this_week}


def test_a_building_ends_only_when_its_households_are_gone(as_, town, scratch_engine):
    worker = as_["worker"]
    building = worker.post("/buildings", json={"name": "旧楼", "address": f"{town.sd}旧路3号", "floors": 2,
                                               **_point(town, 40, 160)}).json()
    household = worker.post("/households", json={"building_id": building["id"], "floor": 1, "room": "101"}).json()
    demolish = {"ended_on": str(date.today()), "end_reason": "demolished", "reason": "拆迁"}
    refused = worker.post(f"/buildings/{building['id']}/end", headers={"If-Match": '"v1"'}, json=demolish)
    assert refused.status_code == 409, refused.text
    assert "still holds 1 households" in refused.text
    assert worker.get(f"/buildings/{building['id']}").json()["ended_on"] is None
    tag = worker.get(f"/households/{household['id']}").headers["ETag"]
    assert worker.post(f"/households/{household['id']}/end", headers={"If-Match": tag},
                       json={"ended_on": str(date.today()), "end_reason": "moved_out", "reason": "拆迁"}).status_code == 200
    ended = worker.post(f"/buildings/{building['id']}/end", headers={"If-Match": '"v1"'}, json=demolish)
    assert ended.status_code == 200, ended.text
    assert ended.json()["end_reason"] == "demolished"
