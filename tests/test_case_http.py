"""The case loop over real HTTP (uvicorn, a scratch database whose changes commit, a clock the
test moves): idempotent intake under concurrent retries, steps and their refusals, escalation by
the clock, attachments, the public report and tracking endpoints."""

from __future__ import annotations

import io
import struct
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import AUTH, serve
from shapely import Point
from sqlalchemy import text

from gisgrid.core.clock import FixedClock

from builders import Town, lonlat

CHECKER = {"X-Actor": "%E7%9D%A3%E6%9F%A5%E5%91%98"}  # 督查员: the check and the closing are not the handler's
START = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def clock():
    return FixedClock(START)


@pytest.fixture(scope="module")
def api(scratch_engine, clock):
    with serve(scratch_engine, clock=clock) as url, httpx.Client(base_url=url, timeout=60, headers=AUTH) as client:
        yield client


@pytest.fixture
def town(scratch_engine, clock):
    clock.at = START
    town = Town(scratch_engine)
    with scratch_engine.begin() as conn:
        head = conn.execute(text("INSERT INTO staff (name, sex, phone, party_member) VALUES ('街道主任', 'F', '010-1', true) "
                                 "RETURNING id")).scalar_one()
        conn.execute(text("INSERT INTO leading_group_members VALUES (:sd, :id, true)"), {"sd": town.sd, "id": head})
    town.head = head
    return town


def body(town, x=120.0, y=100.0, **extra) -> dict:
    point = lonlat(Point(x + town.dx, y))
    return {"category": "urban_management", "subtype": "urban_management.city_appearance", "title": "垃圾堆放",
            "description": "楼下垃圾三天未清运", "location": {"lon": point.x, "lat": point.y},
            "reporter_name": "网格员乙"} | extra


def png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def test_concurrent_retries_with_one_key_make_one_case(api, town, scratch_engine):
    key, report = str(uuid.uuid4()), body(town)

    def post(_):
        return api.post("/cases", json=report, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(post, range(24)))
    assert sorted(r.status_code for r in answers) == [200] * 23 + [201]
    assert len({r.json()["case_no"] for r in answers}) == 1
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases WHERE idempotency_key = :k"), {"k": key}).scalar() == 1
    reused = api.post("/cases", json={**report, "title": "另一件事"}, headers={"Idempotency-Key": key})
    assert reused.status_code == 422 and reused.json()["where"] == "Idempotency-Key"


def test_the_loop_over_http_with_refusals_and_the_clock(api, town, clock):
    created = api.post("/cases", json=body(town), headers={"X-Actor": "%E7%BD%91%E6%A0%BC%E5%91%98"})
    assert created.status_code == 201, created.text
    case_no = created.json()["case_no"]
    assert created.headers["Location"] == f"/cases/{case_no}"
    wrong = api.post(f"/cases/{case_no}/transitions", json={"to": "closed"})
    assert wrong.status_code == 409
    assert wrong.json()["detail"]["allowed"] == ["registered", "rejected", "duplicate"]
    extra = api.post(f"/cases/{case_no}/transitions", json={"to": "registered", "priority": "high"})
    assert extra.status_code == 422
    for to in ("registered", "dispatched"):
        assert api.post(f"/cases/{case_no}/transitions", json={"to": to}).status_code == 200
    case = api.get(f"/cases/{case_no}").json()
    assert case["handling"]["grid"] == town.west and case["events"][0]["actor"] == "网格员"
    sweep = {"subdistrict": town.sd}
    assert api.post("/cases/escalate-overdue", params=sweep).json() == {"escalated": []}
    clock.advance(days=3)  # past the 16 working-hour handling limit
    overdue = api.get("/cases", params={"overdue": "true", "subdistrict": town.sd}).json()
    assert [c["case_no"] for c in overdue["items"]] == [case_no] and overdue["items"][0]["overdue"]
    assert api.post("/cases/escalate-overdue", params=sweep).json() == {"escalated": [case_no]}
    escalated = api.get(f"/cases/{case_no}").json()
    assert escalated["handling"]["level"] == 1 and escalated["handling"]["grid"] == town.l1
    by_hand = api.post(f"/cases/{case_no}/escalate", json={"note": "需要街道协调"}).json()
    assert by_hand["handling"] == {"level": 0, "grid": None, "staff_id": town.head, "staff": "街道主任"}
    assert api.post(f"/cases/{case_no}/escalate", json={"note": "再上报"}).status_code == 409
    assert api.get("/cases/110101000-2026-999999").status_code == 404


def test_attachments_are_checked_and_filed_with_a_step(api, town):
    case_no = api.post("/cases", json=body(town)).json()["case_no"]
    upload = api.post(f"/cases/{case_no}/attachments", files={"file": ("现场.png", png(), "image/png")})
    assert upload.status_code == 201, upload.text
    attachment = upload.json()["id"]
    fake = api.post(f"/cases/{case_no}/attachments", files={"file": ("x.png", b"<script>", "image/png")})
    assert fake.status_code == 422 and "content" in fake.json()["message"]
    other = api.post(f"/cases/{case_no}/attachments", files={"file": ("x.html", b"<html>", "text/html")})
    assert other.status_code == 422
    moved = api.post(f"/cases/{case_no}/transitions", json={"to": "registered", "attachment_ids": [attachment]})
    assert moved.json()["events"][-1]["attachment_ids"] == [attachment]
    again = api.post(f"/cases/{case_no}/transitions", json={"to": "dispatched", "attachment_ids": [attachment]})
    assert again.status_code == 422
    assert api.get(f"/cases/{case_no}").json()["status"] == "registered"  # the refused step left nothing
    download = api.get(f"/cases/{case_no}/attachments/{attachment}")
    assert download.content == png() and download.headers["content-type"] == "image/png"


def test_a_resident_reports_follows_and_rates_without_an_account(api, town):
    report = {k: v for k, v in body(town).items() if k != "reporter_name"}
    created = api.post("/public/cases", json=report)
    assert created.status_code == 201, created.text
    view = created.json()
    code = view["tracking_code"]
    assert view["status"] == "reported" and "assignee" not in view and "reporter" not in view
    staff_only = api.post("/public/cases", json={**report, "reporter_staff_id": 1})
    assert staff_only.status_code == 422
    assert api.get("/public/cases/ABCDEFGHJK").status_code == 404
    assert api.get("/public/cases/abc").status_code == 422
    case_no = view["case_no"]
    for to in ("registered", "dispatched", "in_progress", "handled", "verified", "closed"):
        api.post(f"/cases/{case_no}/transitions", json={"to": to, "note": "已清理" if to == "closed" else None},
                 headers=CHECKER if to in ("verified", "closed") else {})
    followed = api.get(f"/public/cases/{code}").json()
    assert followed["status"] == "closed" and followed["can_rate"]
    assert followed["steps"][-1]["note"] == "已清理"
    assert "网格员" not in str(followed) and "组长" not in str(followed)
    rated = api.post(f"/public/cases/{code}/rating", json={"satisfaction": 5, "feedback": "处理及时"})
    assert rated.status_code == 200 and rated.json()["satisfaction"] == 5
    assert api.post(f"/public/cases/{code}/rating", json={"satisfaction": 1}).status_code == 409


def test_bad_reports_are_refused_saying_where(api, town):
    cases = [
        ({**body(town), "location": {"lon": "east", "lat": 1}}, "location"),
        ({**body(town), "category": "weather"}, "category"),
        ({**body(town), "location": {"lon": 1e300, "lat": 39.9}}, "location"),
        ({k: v for k, v in body(town).items() if k != "location"}, None),
        ({**body(town), "status": "closed"}, None),
        ({**body(town), "title": ""}, None),
    ]
    for payload, where in cases:
        answer = api.post("/cases", json=payload)
        assert answer.status_code == 422, (payload, answer.text)
        if where:
            assert where in str(answer.json()), answer.text
    categories = api.get("/case-categories").json()
    urban = next(c for c in categories if c["code"] == "urban_management")
    assert [s["name_zh"] for s in urban["subtypes"]][:6] == ["市容环境", "宣传广告", "施工管理", "街面秩序", "突发事件", "其他"]
    emergency = next(s for s in urban["subtypes"] if s["name_zh"] == "突发事件")
    assert emergency["deadline_hours"]["handle"] == 2.0


def test_the_attachment_cap_holds(api, town, monkeypatch):
    from gisgrid.core.settings import get_settings

    case_no = api.post("/cases", json=body(town)).json()["case_no"]
    monkeypatch.setattr(get_settings(), "max_attachment_bytes", 100)
    big = api.post(f"/cases/{case_no}/attachments", files={"file": ("big.png", png() + b"\0" * 200, "image/png")})
    assert big.status_code == 422 and "larger" in big.json()["message"]
    assert io.BytesIO(png()).read(8) == b"\x89PNG\r\n\x1a\n"


def test_hostile_headers_and_values_get_4xx_not_500(api, town):
    case_no = api.post("/cases", json=body(town)).json()["case_no"]
    for headers in ({"X-Staff-Id": "999999"}, {"X-Staff-Id": "100000000000000000000"}, {"X-Actor": "a%00b"}):
        answer = api.post(f"/cases/{case_no}/transitions", json={"to": "registered"}, headers=headers)
        assert answer.status_code == 422, (headers, answer.text)
    assert api.post("/public/cases", json={**body(town), "reporter_name": None, "title": "a\u0000b"}
                    ).status_code == 422
    for query in ({"week": "9999-W52"}, {"week": "0001-W01"}):
        assert api.get("/reports/weekly", params=query).status_code == 422
    assert api.get("/reports/assessment", params={"from": "9999-12-31", "to": "9999-12-31"}).status_code == 422
    assert api.get("/cases", params={"to": "9999-12-31"}).status_code == 422
    assert api.get(f"/cases/{case_no}").json().get("tracking_code") is None  # only the reporter gets it
    assert api.post(f"/cases/{case_no}/transitions", json={"to": "registered"}).status_code == 200


def test_the_handler_may_not_check_or_close_their_own_case(api, town):
    """GB/T 30428's loop: 核查 and 结案 by someone other than the person who handled the case (403 naming the rule)."""
    handler = {"X-Actor": "%E7%BD%91%E6%A0%BC%E5%91%98%E4%B8%99"}  # 网格员丙
    case_no = api.post("/cases", json=body(town)).json()["case_no"]
    for to in ("registered", "dispatched"):
        assert api.post(f"/cases/{case_no}/transitions", json={"to": to}).status_code == 200
    for to in ("in_progress", "handled"):
        assert api.post(f"/cases/{case_no}/transitions", json={"to": to}, headers=handler).status_code == 200
    own_check = api.post(f"/cases/{case_no}/transitions", json={"to": "verified"}, headers=handler)
    assert own_check.status_code == 403 and own_check.json()["detail"]["rule"] == "check_by_another"
    assert "处置人" in own_check.json()["message"]
    assert api.get(f"/cases/{case_no}").json()["status"] == "handled"  # nothing was written
    assert api.post(f"/cases/{case_no}/transitions", json={"to": "verified"}, headers=CHECKER).status_code == 200
    own_close = api.post(f"/cases/{case_no}/transitions", json={"to": "closed", "note": "x"}, headers=handler)
    assert own_close.status_code == 403 and own_close.json()["detail"]["rule"] == "check_by_another"
    closed = api.post(f"/cases/{case_no}/transitions", json={"to": "closed", "note": "已清理"}, headers=CHECKER)
    assert closed.status_code == 200
    actors = {e["to_status"]: e["actor"] for e in closed.json()["events"]}
    assert actors["handled"] != actors["verified"] and actors["handled"] != actors["closed"]
