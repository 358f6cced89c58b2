"""The ledger's API walked as a matrix, on committed towns of their own (the scratch database):
every record kind created, changed, moved and ended by each role in and out of its scope; one
version saved twenty times at once; the ledger as of earlier days and the weekly report after
later changes; loads, tiles and the household diagram after a move; retries by Idempotency-Key.

tests/test_ledger_api.py tells one family's story; this file checks the rules around it.
"""

from __future__ import annotations

import concurrent.futures
import math
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import mapbox_vector_tile
import pytest
from conftest import AUTH
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.enums import Role
from gisgrid.core.settings import get_settings

from builders import LAT0, LAT_STEP, LON0, LON_STEP, Town

PASSWORD = "Ledger-Matrix-2026!"
LEDGER_TABLES = ("all_buildings", "all_households", "all_residents", "all_resident_key_groups",
                 "all_stationed_units", "all_shops")
KEY_GROUP = "subsistence_allowance"
# path → (a change, an end) that each kind accepts, in the order records can end (a membership
# before its resident, who would end it; a household before its building)
WRITES = {
    "key-group-memberships": ({"started_on": "2026-01-05", "reason": "补录起始日"}, "expired"),
    "residents": ({"relation": "配偶", "reason": "更正关系"}, "deceased"),
    "households": ({"occupancy": "rented", "reason": "出租"}, "moved_out"),
    "buildings": ({"name": "改名楼", "reason": "更正楼名"}, "demolished"),
    "units": ({"contact_name": "张主任", "reason": "换联系人"}, "closed"),
    "shops": ({"licence_no": "L-2026-001", "reason": "补录执照"}, "closed"),
}


def _point(town: Town, x: float, y: float) -> dict:
    return {"lon": round(LON0 + (x + town.dx) * LON_STEP, 7), "lat": round(LAT0 + y * LAT_STEP, 7)}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(get_settings().timezone)).date()


def _database_now(engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT now()")).scalar_one()


def fingerprint(engine) -> dict:
    """Rows, versions and ends of every ledger table, and the kept versions: any write moves it."""
    with engine.connect() as conn:
        out = {table: tuple(conn.execute(text(f"SELECT count(*), coalesce(sum(version), 0), count(ended_on) "
                                              f"FROM {table}")).one()) for table in LEDGER_TABLES}
        out["ledger_versions"] = conn.execute(text("SELECT count(*) FROM ledger_versions")).scalar_one()
    return out


def _tag(client: httpx.Client, path: str) -> dict:
    return {"If-Match": client.get(path).headers["ETag"]}


def _created(answer: httpx.Response) -> dict:
    assert answer.status_code == 201, answer.text
    return answer.json()


def chain(client: httpx.Client, town: Town, x: float, label: str) -> dict[str, int]:
    """One record of every kind at local x (a building, a household in it, a resident, their
    key-group membership, a unit and a shop beside it): path → id."""
    building = _created(client.post("/buildings", json={"name": f"{label}楼", "address": f"{town.sd}{label}路{x:.0f}号",
                                                        "floors": 6, "entrances": 2, **_point(town, x, 60)}))
    household = _created(client.post("/households", json={"building_id": building["id"], "floor": 3, "room": "301",
                                                          "member_count": 2}))
    resident = _created(client.post("/residents", json={"household_id": household["id"], "name": f"{label}居民",
                                                        "sex": "F", "birth_year": 1970}))
    membership = _created(client.post("/key-group-memberships", json={"resident_id": resident["id"],
                                                                      "key_group": KEY_GROUP}))
    organisation = {"kind": "机关单位", "address": f"{town.sd}{label}路{x:.0f}号旁"}
    unit = _created(client.post("/units", json={"name": f"{label}单位", **organisation, **_point(town, x, 80)}))
    shop = _created(client.post("/shops", json={"name": f"{label}商铺", **organisation, **_point(town, x, 100)}))
    return {"buildings": building["id"], "households": household["id"], "residents": resident["id"],
            "key-group-memberships": membership["id"], "units": unit["id"], "shops": shop["id"]}


@pytest.fixture(scope="module")
def mine(scratch_engine) -> Town:
    return Town(scratch_engine)


@pytest.fixture(scope="module")
def theirs(scratch_engine) -> Town:
    """Another sub-district: outside every account of this file but the tests' city-wide one."""
    return Town(scratch_engine)


@pytest.fixture(scope="module")
def city(scratch_server):
    with httpx.Client(base_url=scratch_server, timeout=30, headers=AUTH) as client:
        yield client


@pytest.fixture(scope="module")
def as_(scratch_server, scratch_engine, mine):
    """A signed-in client per role, all in ``mine``: the administrator its sub-district, the
    community manager its L1 zone, the grid worker (the west grid's lead) the west grid."""
    with Session(scratch_engine) as db:
        lead = db.execute(text("SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id "
                               "WHERE g.code = :c"), {"c": mine.west}).scalar_one()
        for role in (Role.ADMIN, Role.COMMUNITY_MANAGER, Role.GRID_WORKER, Role.VIEWER, Role.AUDITOR):
            create_account(db, username=f"m{role.value}{mine.sd}", display_name=role.value, role=role,
                           password=PASSWORD, subdistrict=mine.sd,
                           scope_grid=mine.l1 if role is Role.COMMUNITY_MANAGER else None,
                           staff_id=lead if role is Role.GRID_WORKER else None)
        db.commit()
    clients = {}
    for role in Role:
        with httpx.Client(base_url=scratch_server, timeout=30) as anonymous:
            signed_in = anonymous.post("/auth/sign-in", json={"username": f"m{role.value}{mine.sd}",
                                                              "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        clients[role.value] = httpx.Client(base_url=scratch_server, timeout=30,
                                           headers={"Authorization": f"Bearer {signed_in.json()['token']}"})
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def standing(city, mine, theirs) -> dict[str, dict[str, int]]:
    """Records made by the city-wide account: in ``mine``'s west grid (everyone's own), in its
    east grid (the worker's other) and in ``theirs`` (everyone's other)."""
    return {"west": chain(city, mine, 20, "西"), "east": chain(city, mine, 320, "东"),
            "theirs": chain(city, theirs, 20, "外")}


@pytest.mark.parametrize("role", ["admin", "community_manager", "grid_worker"])
def test_each_kind_is_created_changed_moved_and_ended_in_own_scope(as_, mine, standing, role):
    client = as_[role]
    x = {"admin": 40, "community_manager": 60, "grid_worker": 80}[role]
    ids = chain(client, mine, x, role)  # every create answered 201
    for path, (change, _) in WRITES.items():
        changed = client.patch(f"/{path}/{ids[path]}", json=change, headers=_tag(client, f"/{path}/{ids[path]}"))
        assert changed.status_code == 200, (path, changed.text)
        assert all(changed.json()[k] == v for k, v in change.items() if k != "reason")
        assert changed.json()["change_operation"] == "update"

    household = f"/households/{ids['households']}"
    moved = client.post(f"{household}/move", headers=_tag(client, household),
                        json={"building_id": ids["buildings"], "entrance": 2, "floor": 5, "room": "502",
                              "reason": "换房"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["entrance"], moved.json()["floor"], moved.json()["room"]) == (2, 5, "502")
    resident = f"/residents/{ids['residents']}"
    to = standing["west"]["households"]
    before = client.get(f"/households/{to}").json()["member_count"]
    moved = client.post(f"{resident}/move", headers=_tag(client, resident), json={"household_id": to, "reason": "投靠"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["household_id"] == to and client.get(f"/households/{to}").json()["member_count"] == before + 1
    assert client.get(household).json()["member_count"] == 2  # imported as 2, one registered person joined and left

    for path, (_, end_reason) in WRITES.items():
        ended = client.post(f"/{path}/{ids[path]}/end", headers=_tag(client, f"/{path}/{ids[path]}"),
                            json={"ended_on": "2026-03-02", "end_reason": end_reason, "reason": "注销"})
        assert ended.status_code == 200, (path, ended.text)
        assert (ended.json()["ended_on"], ended.json()["end_reason"]) == ("2026-03-02", end_reason)
        assert [h["operation"] for h in client.get(f"/{path}/{ids[path]}/history").json()][0] == "end"
    assert client.get(f"/households/{to}").json()["member_count"] == before  # the resident who died left it


OTHERS = [("admin", "theirs"), ("community_manager", "theirs"), ("grid_worker", "east"), ("grid_worker", "theirs")]


@pytest.mark.parametrize(("role", "where"), OTHERS, ids=[f"{r}-{w}" for r, w in OTHERS])
def test_outside_its_scope_a_role_writes_nothing(as_, city, mine, theirs, standing, scratch_engine, role, where):
    client, other, own = as_[role], standing[where], standing["west"]
    town, x = (mine, 340) if where == "east" else (theirs, 60)
    # a point in another sub-district is no place of the caller's (422, on lon); one in the caller's
    # sub-district outside their grids is the 404 of anything outside
    place_status = 404 if where == "east" else 422
    before = fingerprint(scratch_engine)
    organisation = {"name": "越界", "kind": "机关单位", "address": f"{town.sd}越界路"}
    attempts = {
        "create building": (client.post("/buildings", json={"name": "越界楼", "address": f"{town.sd}越界路1号",
                                                            "floors": 3, **_point(town, x, 60)}), place_status),
        "create unit": (client.post("/units", json={**organisation, **_point(town, x, 80)}), place_status),
        "create shop": (client.post("/shops", json={**organisation, **_point(town, x, 100)}), place_status),
        "create household": (client.post("/households", json={"building_id": other["buildings"], "floor": 1,
                                                              "room": "101"}), 404),
        "create resident": (client.post("/residents", json={"household_id": other["households"], "name": "越界",
                                                            "sex": "M", "birth_year": 1980}), 404),
        "create membership": (client.post("/key-group-memberships", json={"resident_id": other["residents"],
                                                                          "key_group": "disabled"}), 404),
        "move household in": (client.post(f"/households/{other['households']}/move",
                                          headers=_tag(city, f"/households/{other['households']}"),
                                          json={"building_id": own["buildings"], "floor": 6, "room": "601",
                                                "reason": "换房"}), 404),
        "move household out": (client.post(f"/households/{own['households']}/move",
                                           headers=_tag(city, f"/households/{own['households']}"),
                                           json={"building_id": other["buildings"], "floor": 6, "room": "601",
                                                 "reason": "换房"}), 404),
        "move resident in": (client.post(f"/residents/{other['residents']}/move",
                                         headers=_tag(city, f"/residents/{other['residents']}"),
                                         json={"household_id": own["households"], "reason": "投靠"}), 404),
        "move resident out": (client.post(f"/residents/{own['residents']}/move",
                                          headers=_tag(city, f"/residents/{own['residents']}"),
                                          json={"household_id": other["households"], "reason": "投靠"}), 404),
    }
    for path, (change, end_reason) in WRITES.items():
        record, tag = f"/{path}/{other[path]}", _tag(city, f"/{path}/{other[path]}")
        attempts[f"read {path}"] = (client.get(record), 404)
        attempts[f"history {path}"] = (client.get(f"{record}/history"), 404)
        attempts[f"change {path}"] = (client.patch(record, json=change, headers=tag), 404)
        attempts[f"end {path}"] = (client.post(f"{record}/end", headers=tag, json={
            "ended_on": "2026-03-02", "end_reason": end_reason, "reason": "注销"}), 404)
    assert {k: a.status_code for k, (a, _) in attempts.items()} == {k: s for k, (_, s) in attempts.items()}
    assert fingerprint(scratch_engine) == before


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_a_read_only_role_reads_and_writes_no_record(as_, mine, standing, scratch_engine, role):
    client, own = as_[role], standing["west"]
    before = fingerprint(scratch_engine)
    answers = [client.post("/buildings", json={"name": "楼", "address": f"{mine.sd}只读路1号", "floors": 3,
                                               **_point(mine, 150, 60)}),
               client.post("/households", json={"building_id": own["buildings"], "floor": 2, "room": "201"}),
               client.post(f"/households/{own['households']}/move", headers={"If-Match": '"v1"'},
                           json={"building_id": own["buildings"], "floor": 2, "room": "201", "reason": "换房"}),
               client.post(f"/residents/{own['residents']}/move", headers={"If-Match": '"v1"'},
                           json={"separated": True, "reason": "人户分离"}),
               client.get("/ledger", params={"grid": mine.west})]
    for path, (change, end_reason) in WRITES.items():
        answers += [client.get(f"/{path}/{own[path]}"), client.get(f"/{path}/{own[path]}/history"),
                    client.patch(f"/{path}/{own[path]}", json=change, headers={"If-Match": '"v1"'}),
                    client.post(f"/{path}/{own[path]}/end", headers={"If-Match": '"v1"'},
                                json={"ended_on": "2026-03-02", "end_reason": end_reason, "reason": "注销"})]
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert fingerprint(scratch_engine) == before


def test_twenty_concurrent_writes_of_one_version_make_one_version(as_, city, mine, scratch_engine):
    """Changes, moves and ends of one resident at once: one lands, nineteen 409; without If-Match 428."""
    manager = as_["community_manager"]
    ids = chain(city, mine, 100, "并发")
    there = city.post("/households", json={"building_id": ids["buildings"], "floor": 4, "room": "401"}).json()
    resident = f"/residents/{ids['residents']}"
    start = manager.get(resident)
    tag = {"If-Match": start.headers["ETag"]}
    before = fingerprint(scratch_engine)
    writes = [lambda n: manager.patch(resident, headers=tag, json={"relation": f"亲属{n}", "reason": f"更正 {n}"}),
              lambda n: manager.post(f"{resident}/move", headers=tag, json={"household_id": there["id"],
                                                                            "reason": f"迁移 {n}"}),
              lambda n: manager.post(f"{resident}/end", headers=tag, json={"ended_on": "2026-03-02",
                                                                           "end_reason": "moved_out",
                                                                           "reason": f"迁出 {n}"}),
              lambda n: manager.patch(resident, json={"relation": "无版本", "reason": f"无版本 {n}"})]

    def save(n: int) -> int:  # 0–19 name the version, 20–24 do not
        return (writes[n % 3] if n < 20 else writes[3])(n).status_code

    with concurrent.futures.ThreadPoolExecutor(25) as pool:
        statuses = list(pool.map(save, range(25)))
    assert sorted(statuses[:20]) == [200] + [409] * 19 and statuses[20:] == [428] * 5
    after = manager.get(resident)
    assert after.headers["ETag"] == f'"v{start.json()["version"] + 1}"'
    with scratch_engine.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM ledger_versions WHERE kind = 'residents' AND record_id = :r"),
                            {"r": ids["residents"]}).scalar_one()
    assert kept == start.json()["version"]  # every earlier version kept once, the one that landed is current
    assert fingerprint(scratch_engine)["ledger_versions"] - before["ledger_versions"] in (1, 2, 3)
    landed = after.json()["change_operation"]
    counts = (manager.get(f"/households/{ids['households']}").json()["member_count"],
              manager.get(f"/households/{there['id']}").json()["member_count"])
    assert counts == {"update": (3, 0), "move": (2, 1), "end": (2, 0)}[landed]


def _seed_the_past(engine, town: Town, days_ago: int) -> dict:
    """A building of the west grid with three households of one resident each (one of them on
    低保), a unit and a shop, recorded ``days_ago`` days before the database's now: as an import
    then would have left them (an insert is no new version, so no trigger rewrites the time)."""
    with engine.begin() as conn:
        at = conn.execute(text("SELECT now() - make_interval(days => :d)"), {"d": days_ago}).scalar_one()
        stamp = {"at": at, "who": "import", "why": "历史导入"}
        bookkeeping = "valid_from, changed_by, change_reason, change_operation"
        grids = dict(conn.execute(text("SELECT code, id FROM grids WHERE code IN (:l1, :l2)"),
                                  {"l1": town.l1, "l2": town.west}).all())
        point = _point(town, 120, 150)
        building = conn.execute(text(f"""
            INSERT INTO all_buildings (subdistrict_code, name, address, floors, entrances, flats_per_floor, use, geom,
                                       grid_l1_id, grid_l2_id, {bookkeeping})
            VALUES (:sd, '旧楼', :address, 3, 1, 2, 'residential', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
                    :l1, :l2, :at, :who, :why, 'create') RETURNING id"""),
            {**stamp, **point, "sd": town.sd, "address": f"{town.sd}旧路1号", "l1": grids[town.l1],
             "l2": grids[town.west]}).scalar_one()
        households = conn.execute(text(f"""
            INSERT INTO all_households (building_id, entrance, floor, room, occupancy, member_count, {bookkeeping})
            SELECT :b, 1, f, f || '01', 'owner', 1, :at, :who, :why, 'create' FROM generate_series(1, 3) f
            ORDER BY f RETURNING id"""), {**stamp, "b": building}).scalars().all()
        residents = conn.execute(text(f"""
            INSERT INTO all_residents (household_id, name, sex, birth_year, relation, residence_type, party_member,
                                       {bookkeeping})
            SELECT h, '旧居民', 'M', 1960, '户主', 'registered', false, :at, :who, :why, 'create'
            FROM unnest(CAST(:hs AS int[])) h ORDER BY h RETURNING id"""), {**stamp, "hs": households}).scalars().all()
        membership = conn.execute(text(f"""
            INSERT INTO all_resident_key_groups (resident_id, key_group, {bookkeeping})
            VALUES (:r, :g, :at, :who, :why, 'create') RETURNING id"""),
            {**stamp, "r": residents[2], "g": KEY_GROUP}).scalar_one()
        places = {}
        for table, y in (("all_stationed_units", 170), ("all_shops", 180)):
            places[table] = conn.execute(text(f"""
                INSERT INTO {table} (subdistrict_code, name, kind, address, geom, grid_l1_id, grid_l2_id, {bookkeeping})
                VALUES (:sd, '旧单位', '机关单位', '旧路', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :l1, :l2,
                        :at, :who, :why, 'create') RETURNING id"""),
                {**stamp, **_point(town, 120, y), "sd": town.sd, "l1": grids[town.l1],
                 "l2": grids[town.west]}).scalar_one()
    return {"at": at, "building": building, "households": households, "residents": residents,
            "membership": membership, "unit": places["all_stationed_units"], "shop": places["all_shops"]}


def _ledger(client, grid: str, day: date) -> dict:
    answer = client.get("/ledger", params={"grid": grid, "as_of": day.isoformat()})
    assert answer.status_code == 200, answer.text
    return {k: answer.json()[k] for k in ("buildings", "households", "people", "residents", "key_groups", "units",
                                          "shops")}


def test_the_ledger_as_of_each_day_counts_what_stood_then(as_, city, scratch_engine, scratch_server):
    manager = as_["community_manager"]
    town = Town(scratch_engine)  # the manager's zone is another town's: the city-wide account reads and writes here
    past = _seed_the_past(scratch_engine, town, days_ago=21)
    seeded = _local_day(past["at"])
    then = {"buildings": 1, "households": 3, "people": 3, "residents": 3, "key_groups": {KEY_GROUP: 1},
            "units": 1, "shops": 1}
    nothing = {"buildings": 0, "households": 0, "people": 0, "residents": 0, "key_groups": {}, "units": 0, "shops": 0}
    assert _ledger(city, town.west, seeded - timedelta(days=1)) == nothing
    assert _ledger(city, town.west, seeded) == then

    first, second, third = past["households"]
    for path, body in ((f"/households/{first}/end", {"ended_on": "2026-03-02", "end_reason": "moved_out",
                                                      "reason": "全家迁出"}),
                       (f"/key-group-memberships/{past['membership']}/end",
                        {"ended_on": "2026-03-02", "end_reason": "expired", "reason": "低保期满"}),
                       (f"/shops/{past['shop']}/end", {"ended_on": "2026-02-01", "end_reason": "closed",
                                                       "reason": "上月关门，今日补报"})):
        assert city.post(path, headers=_tag(city, path.removesuffix("/end")), json=body).status_code == 200
    changed = city.patch(f"/households/{second}", headers=_tag(city, f"/households/{second}"),
                         json={"member_count": 4, "reason": "新增成员"})
    assert changed.status_code == 200
    today = _local_day(datetime.fromisoformat(city.get(f"/households/{second}").json()["valid_from"]))

    assert _ledger(city, town.west, seeded - timedelta(days=1)) == nothing
    assert _ledger(city, town.west, seeded) == then
    assert _ledger(city, town.west, today - timedelta(days=1)) == then  # the shop closed "last month" was reported today
    now = _ledger(city, town.west, today)
    with scratch_engine.connect() as conn:  # today's figures are the current records'
        current = conn.execute(text("""
            SELECT count(DISTINCT b.id), count(h.id), coalesce(sum(h.member_count), 0),
                   (SELECT count(*) FROM residents r JOIN households h ON h.id = r.household_id
                    JOIN buildings b ON b.id = h.building_id WHERE b.grid_l2_id = g.id)
            FROM grids g JOIN buildings b ON b.grid_l2_id = g.id LEFT JOIN households h ON h.building_id = b.id
            WHERE g.code = :c GROUP BY g.id"""), {"c": town.west}).one()
    assert (now["buildings"], now["households"], now["people"], now["residents"]) == tuple(current) == (2, 12, 25, 2)
    assert (now["key_groups"], now["units"], now["shops"]) == ({}, 1, 0)
    assert manager.get("/ledger", params={"grid": town.west, "as_of": seeded.isoformat()}).status_code == 404

    history = city.get(f"/households/{first}/history").json()
    assert [(h["operation"], h["by"]) for h in history] == [("end", "tests"), ("create", "import")]
    assert datetime.fromisoformat(history[1]["at"]) == past["at"]
    assert history[0]["changes"]["ended_on"] == {"before": None, "after": "2026-03-02"}
    assert [h["operation"] for h in city.get(f"/residents/{past['residents'][0]}/history").json()] == ["end", "create"]
    assert [h["operation"] for h in city.get(f"/households/{third}/history").json()] == ["create"]
    week = seeded.isocalendar()
    seed_week = city.get("/ledger/changes", params={"grid": town.west, "week": f"{week[0]}-W{week[1]:02d}"}).json()
    assert sorted(c["kind"] for c in seed_week["changes"]) == sorted(
        ["buildings"] + ["households"] * 3 + ["residents"] * 3 + ["resident_key_groups", "stationed_units", "shops"])
    assert {c["operation"] for c in seed_week["changes"]} == {"create"}


def test_ending_records_keeps_a_past_weekly_report(city, scratch_engine):
    town = Town(scratch_engine)
    past = _seed_the_past(scratch_engine, town, days_ago=14)
    year, number, _ = _local_day(past["at"]).isocalendar()
    week = {"scope": town.sd, "week": f"{year}-W{number:02d}"}

    def report() -> dict:
        answer = city.get("/reports/weekly", params=week)
        assert answer.status_code == 200, answer.text
        return {k: v for k, v in answer.json().items() if k != "generated_at"}

    before = report()
    assert before["ledger"] == {"buildings": 1, "households": 3, "people": 3, "residents": 3, "changes": 7}
    for household in past["households"]:
        path = f"/households/{household}"
        assert city.post(f"{path}/end", headers=_tag(city, path), json={
            "ended_on": "2026-03-02", "end_reason": "moved_out", "reason": "整栋搬迁"}).status_code == 200
    path = f"/buildings/{past['building']}"
    assert city.post(f"{path}/end", headers=_tag(city, path), json={
        "ended_on": "2026-03-02", "end_reason": "demolished", "reason": "拆除"}).status_code == 200
    assert report() == before
    assert city.get("/ledger", params={"grid": town.west}).json()["buildings"] == 1  # only the town's own is left


def _loads(engine, building_ids: list[int], grid_codes: list[str]) -> tuple[list, list]:
    with engine.connect() as conn:
        buildings = [tuple(conn.execute(text(
            "SELECT coalesce(l.households, 0), coalesce(l.people, 0) FROM buildings b "
            "LEFT JOIN building_loads l ON l.building_id = b.id WHERE b.id = :b"), {"b": b}).one()) for b in building_ids]
        grids = [tuple(conn.execute(text(
            "SELECT coalesce(l.households, 0), coalesce(l.people, 0) FROM grids g "
            "LEFT JOIN grid_loads l ON l.grid_id = g.id WHERE g.code = :c"), {"c": c}).one()) for c in grid_codes]
    return buildings, grids


def _tile_features(client, engine, layer: str, building: int, ident: str) -> dict:
    with engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM buildings WHERE id = :b"),
                                {"b": building}).one()
    z, x, y = tile_of(lon, lat, 16)
    tile = client.get(f"/layers/{layer}/tiles/{z}/{x}/{y}.mvt")
    assert tile.status_code == 200
    features = mapbox_vector_tile.decode(tile.content).get(layer, {"features": []})["features"]
    return {f["properties"][ident]: f["properties"] for f in features}


def _diagram(client, building: int) -> dict[int, tuple]:
    answer = client.get(f"/buildings/{building}/households")
    assert answer.status_code == 200, answer.text
    return {flat["household_id"]: (entrance["entrance"], floor["floor"], flat["room"], flat["members"])
            for entrance in answer.json()["entrances"] for floor in entrance["floors"] for flat in floor["flats"]
            if flat["household_id"]}


def test_loads_tiles_and_the_diagram_follow_a_move_at_once(as_, city, scratch_engine):
    manager = as_["community_manager"]
    town = Town(scratch_engine)  # of the city-wide account; its west and east grids are two of its zone's
    west = _created(city.post("/buildings", json={"name": "西楼", "address": f"{town.sd}西街1号", "floors": 6,
                                                  **_point(town, 60, 150)}))["id"]
    east = _created(city.post("/buildings", json={"name": "东楼", "address": f"{town.sd}东街1号", "floors": 6,
                                                  **_point(town, 260, 150)}))["id"]
    family = _created(city.post("/households", json={"building_id": west, "floor": 2, "room": "201",
                                                     "member_count": 3}))["id"]
    stays = _created(city.post("/households", json={"building_id": west, "floor": 3, "room": "301"}))["id"]
    person = _created(city.post("/residents", json={"household_id": stays, "name": "李四", "sex": "M",
                                                    "birth_year": 1985}))["id"]
    grids_before = _loads(scratch_engine, [], [town.west, town.east])[1]
    assert _loads(scratch_engine, [west, east], [])[0] == [(2, 4), (0, 0)]
    assert _diagram(city, west) == {family: (1, 2, "201", 3), stays: (1, 3, "301", 1)} and _diagram(city, east) == {}

    moved = city.post(f"/households/{family}/move", headers=_tag(city, f"/households/{family}"),
                      json={"building_id": east, "floor": 5, "room": "502", "reason": "搬到东楼"})
    assert moved.status_code == 200, moved.text
    assert _loads(scratch_engine, [west, east], [])[0] == [(1, 1), (1, 3)]
    assert _diagram(city, west) == {stays: (1, 3, "301", 1)} and _diagram(city, east) == {family: (1, 5, "502", 3)}
    moved = city.post(f"/residents/{person}/move", headers=_tag(city, f"/residents/{person}"),
                      json={"household_id": family, "reason": "投靠家人"})
    assert moved.status_code == 200, moved.text
    buildings, grids = _loads(scratch_engine, [west, east], [town.west, town.east])
    assert buildings == [(1, 0), (1, 4)]
    (west_households, west_people), (east_households, east_people) = grids_before
    assert grids == [(west_households - 1, west_people - 4), (east_households + 1, east_people + 4)]
    assert _diagram(city, west) == {stays: (1, 3, "301", 0)} and _diagram(city, east) == {family: (1, 5, "502", 4)}
    assert _tile_features(city, scratch_engine, "buildings", west, "id")[west]["households"] == 1
    assert _tile_features(city, scratch_engine, "buildings", east, "id")[east]["households"] == 1
    shown = _tile_features(city, scratch_engine, "grids_l2", east, "code")
    assert (shown[town.east]["households"], shown[town.east]["people"]) == (east_households + 1, east_people + 4)
    assert manager.get(f"/buildings/{east}/households").status_code == 404  # another zone's diagram


def test_an_idempotency_key_answers_its_own_request_only(as_, mine, standing, scratch_engine):
    manager = as_["community_manager"]
    ids = chain(manager, mine, 140, "重试")
    household = f"/households/{ids['households']}"
    key = str(uuid.uuid4())
    headers = {**_tag(manager, household), "Idempotency-Key": key}
    before = fingerprint(scratch_engine)
    first = manager.patch(household, headers=headers, json={"occupancy": "rented", "reason": "出租"})
    again = manager.patch(household, headers=headers, json={"occupancy": "rented", "reason": "出租"})
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    after = fingerprint(scratch_engine)
    assert after["ledger_versions"] == before["ledger_versions"] + 1
    assert after["all_households"][1] == before["all_households"][1] + 1  # one new version, written once

    other = f"/households/{standing['west']['households']}"
    reused = {
        "another record": manager.patch(other, headers={**_tag(manager, other), "Idempotency-Key": key},
                                        json={"occupancy": "rented", "reason": "出租"}),
        "another operation": manager.post(f"{household}/end", headers={**_tag(manager, household),
                                                                      "Idempotency-Key": key},
                                          json={"ended_on": "2026-03-02", "end_reason": "moved_out",
                                                "reason": "迁出"}),
        "a move": manager.post(f"{household}/move", headers={**_tag(manager, household), "Idempotency-Key": key},
                               json={"building_id": ids["buildings"], "floor": 4, "room": "401", "reason": "换房"}),
        "another kind": manager.patch(f"/shops/{ids['shops']}", headers={**_tag(manager, f"/shops/{ids['shops']}"),
                                                                        "Idempotency-Key": key},
                                      json={"licence_no": "X1", "reason": "补录"}),
    }
    shop_key = str(uuid.uuid4())
    shop = manager.post("/shops", headers={"Idempotency-Key": shop_key},
                        json={"name": "重试商铺", "kind": "零售", "address": "重试路", **_point(mine, 140, 120)})
    assert shop.status_code == 201, shop.text
    reused["a create's key on its record"] = manager.patch(
        f"/shops/{shop.json()['id']}", headers={"If-Match": shop.headers["ETag"], "Idempotency-Key": shop_key},
        json={"licence_no": "X2", "reason": "补录"})
    reused["a create's key on another kind"] = manager.post(
        "/units", headers={"Idempotency-Key": shop_key},
        json={"name": "重试单位", "kind": "机关单位", "address": "重试路", **_point(mine, 140, 130)})
    assert {k: a.status_code for k, a in reused.items()} == dict.fromkeys(reused, 422), \
        {k: a.text for k, a in reused.items()}
    assert all(a.json()["where"] == "Idempotency-Key" for a in reused.values())
    after_reuse = fingerprint(scratch_engine)
    assert after_reuse["ledger_versions"] == after["ledger_versions"]
    assert after_reuse["all_shops"][0] == after["all_shops"][0] + 1  # the new shop, and nothing else
    assert manager.get(household).json()["ended_on"] is None
    retried = manager.post("/shops", headers={"Idempotency-Key": shop_key},
                           json={"name": "重试商铺", "kind": "零售", "address": "重试路", **_point(mine, 140, 120)})
    assert retried.status_code == 200 and retried.json()["id"] == shop.json()["id"]


def test_retries_racing_the_first_request_write_once(as_, mine, scratch_engine):
    worker = as_["grid_worker"]
    key = str(uuid.uuid4())
    body = {"name": "抢先商铺", "kind": "零售", "address": f"{mine.sd}抢先路", **_point(mine, 160, 120)}
    before = fingerprint(scratch_engine)["all_shops"][0]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: worker.post("/shops", json=body, headers={"Idempotency-Key": key}),
                                range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    assert fingerprint(scratch_engine)["all_shops"][0] == before + 1
