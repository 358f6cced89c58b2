"""Teams through the API: staff and grid assignments as ledger records, by role × own / other
zone with exact statuses, one lead per grid, releasing a person, the notice board showing the
change at once, history and audit rows; and staff accounts managed by a community manager in
their zone — on committed towns of their own (the scratch database)."""

from __future__ import annotations

import concurrent.futures
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.enums import Role

from builders import Town

PASSWORD = "Teams-Tests-2026!"
ROLES = {"admin": Role.ADMIN, "manager": Role.COMMUNITY_MANAGER, "worker": Role.GRID_WORKER, "viewer": Role.VIEWER}
DAY = "2026-03-02"


def _lead_of(engine, code: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT l.staff_id FROM grid_leads l JOIN grids g ON g.id = l.grid_id "
                                 "WHERE g.code = :c"), {"c": code}).scalar_one()


@pytest.fixture(scope="module")
def towns(scratch_engine):
    """Town ``a`` with an account of each role; town ``b``, another sub-district, the other zone."""
    a, b = Town(scratch_engine), Town(scratch_engine)
    with Session(scratch_engine) as db:
        for name, role in ROLES.items():
            create_account(db, username=f"{name}{a.sd}", display_name=name, role=role, password=PASSWORD,
                           subdistrict=a.sd, scope_grid=a.l1 if role is Role.COMMUNITY_MANAGER else None,
                           staff_id=_lead_of(scratch_engine, a.west) if role is Role.GRID_WORKER else None)
        db.commit()
    return {"a": a, "b": b}


@pytest.fixture(scope="module")
def as_(scratch_server, towns):
    clients = {}
    for who in ROLES:
        with httpx.Client(base_url=scratch_server, timeout=30) as anonymous:
            token = anonymous.post("/auth/sign-in", json={"username": f"{who}{towns['a'].sd}",
                                                          "password": PASSWORD}).json()["token"]
        clients[who] = httpx.Client(base_url=scratch_server, timeout=30, headers={"Authorization": f"Bearer {token}"})
    yield clients
    for client in clients.values():
        client.close()


def _written(engine, town) -> tuple[int, int]:
    """Assignment rows and kept versions on a town's grids: what a refused write must leave alone."""
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT (SELECT count(*) FROM all_grid_assignments a JOIN grids g ON g.id = a.grid_id
                    WHERE g.subdistrict_code = :sd),
                   (SELECT count(*) FROM ledger_versions v JOIN all_grid_assignments a ON a.id = v.record_id
                    JOIN grids g ON g.id = a.grid_id WHERE v.kind = 'grid_assignments' AND g.subdistrict_code = :sd)"""),
                            {"sd": town.sd}).one()


# role → (own zone, other zone) for a write; reads answer 200 where writes do 201
EXPECTED = {"admin": (201, 404), "manager": (201, 404), "worker": (403, 403), "viewer": (403, 403)}
DUTY = {"admin": "volunteer", "manager": "cleaner", "worker": "assistant", "viewer": "party_activist"}


@pytest.mark.parametrize("role", list(ROLES))
def test_roles_by_zone(as_, towns, scratch_engine, role):
    a, b = towns["a"], towns["b"]
    client = as_[role]
    own, other = EXPECTED[role]
    own_staff, other_staff = _lead_of(scratch_engine, a.east), _lead_of(scratch_engine, b.east)
    before = _written(scratch_engine, b)
    assert client.get("/teams").status_code == (200 if own == 201 else 403)
    for staff, grid, status in ((own_staff, a.west, own), (other_staff, b.west, other)):
        answer = client.post("/assignments", json={"staff_id": staff, "grid": grid, "role": DUTY[role],
                                                   "reason": f"{role} 志愿服务"})
        assert answer.status_code == status, answer.text
    read = 200 if own == 201 else 403
    assert client.get(f"/staff/{own_staff}/history").status_code == read
    assert client.get(f"/staff/{other_staff}/history").status_code == (404 if read == 200 else 403)
    assert client.patch(f"/staff/{other_staff}", headers={"If-Match": '"v1"'},
                        json={"title": "外区", "reason": "越权"}).status_code == other
    assert client.post(f"/staff/{other_staff}/release", json={"ended_on": DAY, "reason": "越权"}).status_code == other
    assert client.post("/staff", json={"name": "外区人员", "phone": f"1390000{len(role):04d}", "grid": b.west,
                                       "role": "volunteer"}).status_code == other
    assert _written(scratch_engine, b) == before
    if own == 201:
        listed = client.get("/teams").json()
        assert all(r["grid_code"].startswith(a.sd) for p in listed["staff"] for r in p["assignments"])
        assert {p["id"] for p in listed["staff"]} >= {own_staff} and other_staff not in {p["id"] for p in listed["staff"]}


def test_a_new_lead_replaces_the_old_one_and_the_board_shows_it_at_once(as_, towns, scratch_engine):
    a, manager = towns["a"], as_["manager"]
    old = _lead_of(scratch_engine, a.west)
    old_name = manager.get(f"/staff/{old}/history").json()[-1]["changes"]["name"]["after"]
    made = manager.post("/staff", json={"name": "李新长", "phone": "13911112222", "title": "社区工作人员",
                                        "grid": a.west, "role": "grid_lead", "reason": "新任网格长"})
    assert made.status_code == 201, made.text
    assert made.headers["ETag"] == '"v1"'
    new = made.json()["id"]
    assert _lead_of(scratch_engine, a.west) == new
    with scratch_engine.connect() as conn:
        leads = conn.execute(text("SELECT count(*) FROM grid_leads l JOIN grids g ON g.id = l.grid_id "
                                  "WHERE g.code = :c"), {"c": a.west}).scalar()
        ended = conn.execute(text("SELECT end_reason, ended_on::text FROM all_grid_assignments a JOIN grids g "
                                  "ON g.id = a.grid_id WHERE g.code = :c AND a.staff_id = :s AND a.role = 'grid_lead'"),
                             {"c": a.west, "s": old}).one()
    assert leads == 1 and ended.end_reason == "reassigned"
    board = manager.get(f"/grids/{a.west}/board")
    assert board.status_code == 200 and "李新长" in board.text and old_name not in board.text
    assert a.west not in {g["code"] for g in manager.get("/teams").json()["without_lead"]}
    # naming the same lead again is a conflict, not a second row
    again = manager.post("/assignments", json={"staff_id": new, "grid": a.west, "role": "grid_lead", "reason": "重复"})
    assert again.status_code == 409, again.text


def test_concurrent_leads_on_one_grid_leave_exactly_one(as_, towns, scratch_engine):
    a, admin = towns["a"], as_["admin"]
    people = [admin.post("/staff", json={"name": f"候选{n}", "phone": f"1370000{n:04d}"}).json()["id"]
              for n in range(6)]

    def name(person: int) -> int:
        return admin.post("/assignments", json={"staff_id": person, "grid": a.east, "role": "grid_lead",
                                                "reason": "竞聘网格长"}).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(name, people))
    assert statuses == [201] * 6
    with scratch_engine.connect() as conn:
        current = conn.execute(text("SELECT count(*) FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                                    "WHERE g.code = :c AND a.role = 'grid_lead'"), {"c": a.east}).scalar()
        reassigned = conn.execute(text("SELECT count(*) FROM all_grid_assignments a JOIN grids g ON g.id = a.grid_id "
                                       "WHERE g.code = :c AND a.end_reason = 'reassigned'"), {"c": a.east}).scalar()
    assert current == 1 and reassigned == 6  # the town's lead and five of the six


def test_releasing_a_person_lists_their_grids_as_needing_a_lead(as_, towns, scratch_engine):
    a, manager = towns["a"], as_["manager"]
    person = _lead_of(scratch_engine, a.west)
    name = manager.get(f"/staff/{person}/history").json()[-1]["changes"]["name"]["after"]
    released = manager.post(f"/staff/{person}/release", json={"ended_on": DAY, "reason": "调离本社区"})
    assert released.status_code == 200, released.text
    body = released.json()
    assert [g["code"] for g in body["without_lead"]] == [a.west]
    assert {e["end_reason"] for e in body["ended"]} == {"released"} and {e["ended_on"] for e in body["ended"]} == {DAY}
    assert a.west in {g["code"] for g in manager.get("/teams").json()["without_lead"]}
    assert name not in manager.get(f"/grids/{a.west}/board").text
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid_assignments WHERE staff_id = :s"), {"s": person}).scalar() == 0
    assert manager.post(f"/staff/{person}/release", json={"ended_on": DAY, "reason": "再次"}).status_code == 409
    history = manager.get(f"/assignments/{body['ended'][0]['id']}/history").json()
    assert history[0]["operation"] == "end" and history[0]["reason"] == "调离本社区"
    assert history[0]["changes"]["end_reason"] == {"before": None, "after": "released"}


def test_versions_history_audit_and_retries(as_, towns, scratch_engine):
    a, manager = towns["a"], as_["manager"]
    person = manager.post("/staff", json={"name": "张兼职", "phone": "13622223333", "grid": a.west,
                                          "role": "part_time_worker"}).json()["id"]
    assert manager.patch(f"/staff/{person}", json={"title": "兼职", "reason": "补登职务"}).status_code == 428
    first = manager.patch(f"/staff/{person}", headers={"If-Match": '"v1"'}, json={"title": "兼职", "reason": "补登职务"})
    assert first.status_code == 200 and first.headers["ETag"] == '"v2"'
    stale = manager.patch(f"/staff/{person}", headers={"If-Match": '"v1"'}, json={"phone": "13622224444",
                                                                                "reason": "换号"})
    assert stale.status_code == 409
    assert stale.json()["detail"]["changes"] == {"title": {"before": None, "after": "兼职"}}
    other = manager.post("/staff", json={"name": "钱专职", "phone": "13911113333", "grid": a.west,
                                         "role": "full_time_worker"})
    assert other.status_code == 201, other.text
    taken = manager.patch(f"/staff/{person}", headers={"If-Match": '"v2"'}, json={"phone": "13911113333",
                                                                                "reason": "换号"})
    assert taken.status_code == 409 and taken.json()["where"] == "phone"
    bad = manager.patch(f"/staff/{person}", headers={"If-Match": '"v2"'}, json={"phone": "1234567", "reason": "换号"})
    assert bad.status_code == 422 and bad.json()["where"] == "phone"
    history = manager.get(f"/staff/{person}/history").json()
    assert [h["operation"] for h in history] == ["update", "create"]
    assert history[0]["changes"] == {"title": {"before": None, "after": "兼职"}} and history[0]["by"] == f"manager{a.sd}"
    key = str(uuid.uuid4())
    body = {"staff_id": person, "grid": a.west, "role": "building_head", "reason": "兼任楼栋长"}
    once = manager.post("/assignments", json=body, headers={"Idempotency-Key": key})
    again = manager.post("/assignments", json=body, headers={"Idempotency-Key": key})
    assert once.status_code == 201 and again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert once.json()["id"] == again.json()["id"]
    assignment = once.json()
    ended = manager.post(f"/assignments/{assignment['id']}/end", headers={"If-Match": '"v1"'},
                         json={"ended_on": DAY, "end_reason": "released", "reason": "不再兼任"})
    assert ended.status_code == 200 and ended.json()["without_lead"] == [] and ended.json()["ended_on"] == DAY
    with scratch_engine.connect() as conn:
        audit = dict(conn.execute(text("""SELECT object_type || ' ' || action, count(*) FROM audit_log
                                          WHERE action LIKE 'ledger.%' AND ((object_type = 'staff' AND object_id = :p)
                                             OR (object_type = 'grid_assignments' AND object_id = :g))
                                          GROUP BY 1"""), {"p": str(person), "g": str(assignment["id"])}).all())
    assert audit == {"staff ledger.create": 1, "staff ledger.update": 1, "grid_assignments ledger.create": 1,
                     "grid_assignments ledger.end": 1}


def test_a_lead_change_sweeps_the_cached_tiles_over_its_grid(as_, towns, scratch_engine):
    a, admin = towns["a"], as_["admin"]
    with scratch_engine.begin() as conn:
        conn.execute(text("""INSERT INTO tile_cache (layer, z, x, y, tables, bbox, tile)
                             SELECT 'grids_l2~test', 0, 0, 0, ARRAY['grids', 'grid_assignments', 'staff'],
                                    ST_Envelope(geom), ''::bytea FROM grids WHERE code = :c"""), {"c": a.west})
    person = admin.post("/staff", json={"name": "王网格长", "phone": "13533334444"}).json()["id"]
    assert admin.post("/assignments", json={"staff_id": person, "grid": a.west, "role": "grid_lead",
                                            "reason": "补配网格长"}).status_code == 201
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tile_cache WHERE layer = 'grids_l2~test'")).scalar() == 0


def test_a_community_manager_manages_the_workers_accounts_of_their_zone(as_, towns, scratch_server):
    a, b, manager = towns["a"], towns["b"], as_["manager"]
    assert manager.post("/staff", json={"name": "赵专职", "phone": "13544445555", "grid": a.west,
                                        "role": "full_time_worker"}).status_code == 201
    made = manager.post("/accounts", json={"username": f"wg{a.sd}", "role": "grid_worker", "password": PASSWORD,
                                           "staff_phone": "13544445555"})
    assert made.status_code == 201, made.text
    assert made.json()["grids"] == [a.west]
    assert manager.post("/accounts", json={"username": f"boss{a.sd}", "role": "admin",
                                           "password": PASSWORD}).status_code == 403
    assert manager.post("/accounts", json={"username": f"far{a.sd}", "role": "grid_worker", "password": PASSWORD,
                                           "grid": b.west}).status_code == 404
    listed = {x["username"] for x in manager.get("/accounts").json()["items"]}
    assert f"wg{a.sd}" in listed and f"worker{a.sd}" in listed and f"admin{a.sd}" not in listed
    for target in (f"admin{a.sd}", f"viewer{a.sd}"):
        assert manager.post(f"/accounts/{target}/disable").status_code == 404
        assert manager.post(f"/accounts/{target}/reset-password", json={"password": "Another-Pass-2026!"}).status_code == 404
    new_password = "Reset-By-Manager-2026!"
    assert manager.post(f"/accounts/wg{a.sd}/reset-password", json={"password": new_password}).status_code == 200
    with httpx.Client(base_url=scratch_server) as anonymous:
        assert anonymous.post("/auth/sign-in", json={"username": f"wg{a.sd}", "password": PASSWORD}).status_code == 401
        assert anonymous.post("/auth/sign-in", json={"username": f"wg{a.sd}",
                                                     "password": new_password}).status_code == 200
        disabled = manager.post(f"/accounts/wg{a.sd}/disable")
        assert disabled.status_code == 200 and disabled.json()["active"] is False
        assert anonymous.post("/auth/sign-in", json={"username": f"wg{a.sd}",
                                                     "password": new_password}).status_code == 401
    assert as_["worker"].get("/accounts").status_code == 403
