"""The readiness check finds exactly each planted gap, with its count and example; a clean
territory has none; the command line's exit status says which; the route and the page are for
administrators."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import fresh_database
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.scope import WHOLE
from gisgrid.demo.accounts import PASSWORDS
from gisgrid.onboarding.check import readiness

from builders import ready_territory as build

GISGRID = str(Path(sys.executable).with_name("gisgrid"))
CLEAN, PLANTED = "110101961", "110101962"


def test_a_clean_territory_lacks_nothing(db, demo):
    build(db, CLEAN, planted=False)
    result = readiness(db, CLEAN, WHOLE)
    assert {key: count for key, count in result.counts().items() if count} == {}
    assert result.ready and result.as_json()["missing"] == 0


def test_each_planted_gap_is_found_exactly(db, demo):
    plants = build(db, PLANTED, planted=True)
    result = readiness(db, PLANTED, WHOLE)
    found = {key: count for key, count in result.counts().items() if count}
    assert found == {"no_lead_l2": 1, "buildings_outside_grids": 1, "buildings_without_households": 1,
                     "households_without_residents": 1, "staff_without_account": 1, "coverage_blind_spot": 1,
                     "coverage_orphan_building": 1}
    gaps = {gap.key: gap for gap in result.gaps}
    assert [e["code"] for e in gaps["no_lead_l2"].examples] == [PLANTED + "001003"]
    assert gaps["no_lead_l2"].examples[0]["link"] == f"/grids/{PLANTED}001003/board"
    assert [e["id"] for e in gaps["buildings_outside_grids"].examples] == [plants["outside"].id]
    assert gaps["buildings_outside_grids"].examples[0]["address"] == plants["outside"].address
    assert [e["id"] for e in gaps["buildings_without_households"].examples] == [plants["empty"].id]
    assert [e["id"] for e in gaps["households_without_residents"].examples] == [plants["household"]]
    assert gaps["households_without_residents"].examples[0]["address"].endswith("1单元 1层 101")
    assert [(e["id"], e["name"], e["code"]) for e in gaps["staff_without_account"].examples] == [
        (plants["volunteer"], "志愿者甲", "138****0001")]
    area = float(gaps["coverage_blind_spot"].examples[0]["name"].removesuffix(" m²").replace(",", ""))
    assert area == pytest.approx(100 * 200, rel=0.005)
    assert not result.ready and result.as_json()["missing"] == 7


def test_examples_stop_at_five_and_the_count_goes_on(db, demo):
    build(db, CLEAN, planted=False)
    db.execute(text("UPDATE staff SET active = false WHERE id IN (SELECT l.staff_id FROM grid_leads l "
                    "JOIN grids g ON g.id = l.grid_id WHERE g.subdistrict_code = :sd AND g.level = 2)"), {"sd": CLEAN})
    gap = next(g for g in readiness(db, CLEAN, WHOLE).gaps if g.key == "no_lead_l2")
    assert gap.count == 6 and [e["code"] for e in gap.examples] == [f"{CLEAN}001{i:03d}" for i in range(1, 6)]


def test_the_command_says_what_is_missing_in_its_exit_status(database_url):
    url = fresh_database(database_url, "gisgrid_check_cli")
    env = {**os.environ, "GISGRID_DATABASE_URL": url}

    def check(*args):
        return subprocess.run([GISGRID, "check", *args], capture_output=True, text=True, env=env, timeout=300)

    blank = check()
    assert blank.returncode == 1, blank.stderr
    assert "✗ 尚未导入街道边界 / no sub-district boundary loaded" in blank.stdout
    from gisgrid.core.database import engine_for

    engine = engine_for(url)
    with Session(engine) as db:
        build(db, CLEAN, planted=False)
        db.commit()
    ready = check("--subdistrict", CLEAN)
    assert ready.returncode == 0, ready.stdout
    assert "可以开始工作 / ready: nothing is missing" in ready.stdout
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE staff SET active = false WHERE id = (SELECT l.staff_id FROM grid_leads l "
                          f"JOIN grids g ON g.id = l.grid_id WHERE g.code = '{CLEAN}001002')"))
    missing = check("--subdistrict", CLEAN)
    assert missing.returncode == 1
    assert f"{CLEAN}001002" in missing.stdout and "尚缺 1 项 / 1 kinds of thing still missing" in missing.stdout
    unknown = check("--subdistrict", "999999999")
    assert unknown.returncode == 2 and "999999999" in unknown.stderr
    engine.dispose()


@pytest.fixture(scope="module")
def tokens(server, demo):
    with httpx.Client(base_url=server, timeout=30) as client:
        return {name: {"Authorization": "Bearer " + client.post("/auth/sign-in", json={
            "username": name, "password": PASSWORDS[name]}).json()["token"]} for name in ("admin", "viewer")}


def test_the_route_is_for_administrators(http, tokens, demo):
    sd = demo.planted[0].subdistrict
    answer = http.get("/check", params={"subdistrict": sd}, headers=tokens["admin"])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    gaps = {gap["key"]: gap for gap in body["gaps"]}
    assert body["subdistrict"] == sd and not body["ready"]
    assert gaps["coverage_blind_spot"]["count"] == 1 and gaps["coverage_overlap"]["count"] == 1
    assert gaps["buildings_outside_grids"]["examples"][0]["address"] == demo.planted[0].orphan_building
    assert http.get("/check", headers=tokens["viewer"]).status_code == 403
    assert http.get("/check", params={"subdistrict": "999999999"}, headers=tokens["admin"]).status_code == 404


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_page_on_a_phone_and_a_desktop(server, demo, tokens, size, request):
    watched = request.getfixturevalue("phone" if size == "phone" else "watched")
    page = watched.page
    page.set_extra_http_headers(tokens["admin"])
    page.goto(f"{server}/admin/check")
    assert page.locator("#gg-verdict").inner_text() == "尚缺 7 项"
    orphan = page.locator('[data-gap="buildings_outside_grids"] ul.examples a').first
    assert orphan.inner_text() == "1号楼" and "/diagram?lang=zh" in orphan.get_attribute("href")
    assert page.locator('[data-gap="no_lead_l2"] .gap-count').inner_text() == "✓"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways: {width}px"
    watched.shot(f"check-{size}")
    page.locator("#gg-lang").click()
    page.wait_for_load_state()
    assert page.locator("#gg-verdict").inner_text() == "7 kinds of thing still missing"
    watched.shot(f"check-{size}-en")
    watched.clean()
    viewer = page.context.request.get(f"{server}/admin/check", headers=tokens["viewer"])
    assert viewer.status == 403
