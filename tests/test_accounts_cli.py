"""`gisgrid accounts`: a blank installation gets its first administrator from the real command
line, signs in with it over HTTP; weak passwords, taken names, unknown grids and staff are
clear refusals; disable / enable / reset-password end sessions; grid workers by phone or by
their grid; and the administrators' HTTP twins, scoped to an administrator's sub-district."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from conftest import drop_database, fresh_database, serve, settings_env
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.enums import StaffRole
from gisgrid.staff.models import GridAssignment, Staff

from builders import Territory, metres_box

SD, SD_EAST = "110101090", "110101091"
L1, LED, UNLED = SD + "001", SD + "001001", SD + "001002"
STRONG = "Jiedao-Zhuren-2026!"
NAME = "gisgrid_accounts_test"


@pytest.fixture(scope="module")
def place(database_url):
    """A blank installation with two sub-districts: one L1 zone, a grid with a lead (组长001001)
    and one without, whose team has 网格员甲 (13900139000); and its server."""
    from gisgrid.core.database import engine_for

    url = fresh_database(database_url, NAME)
    engine = engine_for(url)
    with Session(engine) as db, db.begin():
        t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
        t.grid("001", metres_box(0, 0, 1000, 1000), lead=False)
        t.grid("001001", metres_box(0, 0, 500, 1000))
        unled = t.grid("001002", metres_box(500, 0, 1000, 1000), lead=False)
        Territory(db, SD_EAST, metres_box(2000, 0, 3000, 1000)).grid("001", metres_box(2000, 0, 3000, 1000),
                                                                   lead=False)
        worker = Staff(name="网格员甲", phone="13900139000")
        db.add(worker)
        db.flush()
        db.add(GridAssignment(staff_id=worker.id, grid_id=unled.id, role=StaffRole.FULL_TIME))
    with serve(engine) as server:
        yield {"url": url, "engine": engine, "server": server}
    engine.dispose()
    drop_database(database_url, NAME)


def gisgrid(place, *args: str, password: str | None = None, real: bool = False) -> SimpleNamespace:
    """``gisgrid accounts …``: as a real process (``real``), or in this one through typer's runner,
    the same command on the same database (a process costs seconds on the shared CI machine)."""
    stdin = None if password is None else password + "\n"
    if real:
        env = {**os.environ, "GISGRID_DATABASE_URL": place["url"]}
        done = subprocess.run([str(Path(sys.executable).parent / "gisgrid"), "accounts", *args], capture_output=True,
                              text=True, env=env, timeout=300, input=stdin)
        return SimpleNamespace(returncode=done.returncode, stdout=done.stdout, stderr=done.stderr)
    from typer.testing import CliRunner

    from gisgrid.cli import app

    with settings_env(GISGRID_DATABASE_URL=place["url"]):
        done = CliRunner().invoke(app, ["accounts", *args], input=stdin)
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    return SimpleNamespace(returncode=done.exit_code, stdout=done.stdout, stderr=done.stderr)


def create(place, username: str, *args: str, password: str = STRONG, real: bool = False) -> SimpleNamespace:
    return gisgrid(place, "create", username, *args, "--password-stdin", password=password, real=real)


def sign_in(place, username: str, password: str = STRONG) -> httpx.Response:
    return httpx.post(f"{place['server']}/auth/sign-in", json={"username": username, "password": password}, timeout=30)


def bearer(place, username: str, password: str = STRONG) -> dict:
    answer = sign_in(place, username, password)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def account(place, username: str):
    with place["engine"].connect() as conn:
        return conn.execute(text("SELECT a.role::text, a.subdistrict_code, a.staff_id, s.name AS staff, a.active "
                                 "FROM accounts a LEFT JOIN staff s ON s.id = a.staff_id WHERE a.username = :u"),
                            {"u": username}).first()


def test_the_first_administrator_from_the_command_line(place):
    empty = gisgrid(place, "list", real=True)
    assert empty.returncode == 0 and "共 0 个账号" in empty.stdout, empty.stderr
    weak = create(place, "chief", "--role", "admin", password="short", real=True)
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr and "Traceback" not in weak.stderr
    assert account(place, "chief") is None
    made = create(place, "chief", "--role", "admin", real=True)
    assert made.returncode == 0, made.stderr
    assert "chief" in made.stdout and "city-wide" in made.stdout
    taken = create(place, "Chief", "--role", "admin")
    assert taken.returncode == 2 and "the username Chief is taken" in taken.stderr
    unknown = create(place, "someone", "--role", "boss")
    assert unknown.returncode == 2 and "unknown role 'boss'" in unknown.stderr and "auditor" in unknown.stderr

    answer = sign_in(place, "chief")
    assert answer.status_code == 200 and answer.json()["account"]["role"] == "admin"
    listed = httpx.get(f"{place['server']}/accounts", headers={"Authorization": f"Bearer {answer.json()['token']}"},
                       timeout=30)
    assert listed.status_code == 200 and [a["username"] for a in listed.json()["items"]] == ["chief"]
    assert "password" not in listed.text and "$argon2" not in listed.text
    with place["engine"].connect() as conn:
        entry = conn.execute(text("SELECT actor, detail FROM audit_log WHERE action = 'account_create' "
                                  "AND object_id = 'chief'")).one()
    assert entry.actor == getpass.getuser() and entry.detail["role"] == "admin"


def test_disable_enable_and_reset_password(place):
    assert create(place, "zhaoliu", "--role", "viewer", "--subdistrict", SD, "--name", "赵六").returncode == 0
    session = bearer(place, "zhaoliu")
    assert httpx.get(f"{place['server']}/auth/me", headers=session, timeout=30).status_code == 200

    disabled = gisgrid(place, "disable", "zhaoliu")
    assert disabled.returncode == 0, disabled.stderr
    assert sign_in(place, "zhaoliu").status_code == 401
    assert httpx.get(f"{place['server']}/auth/me", headers=session, timeout=30).status_code == 401  # session ended
    listed = gisgrid(place, "list")
    line = next(li for li in listed.stdout.splitlines() if li.startswith("zhaoliu"))
    assert "只读用户/viewer" in line and SD in line and " 否 " in line

    assert gisgrid(place, "enable", "zhaoliu").returncode == 0
    session = bearer(place, "zhaoliu")
    weak = gisgrid(place, "reset-password", "zhaoliu", "--password-stdin", password="zhaoliu-123456")
    assert weak.returncode == 2 and "does not contain the username" in weak.stderr
    reset = gisgrid(place, "reset-password", "zhaoliu", "--password-stdin", password="Xin-Mima-2026!")
    assert reset.returncode == 0, reset.stderr
    assert httpx.get(f"{place['server']}/auth/me", headers=session, timeout=30).status_code == 401
    assert sign_in(place, "zhaoliu").status_code == 401
    assert sign_in(place, "zhaoliu", "Xin-Mima-2026!").status_code == 200
    line = next(li for li in gisgrid(place, "list").stdout.splitlines() if li.startswith("zhaoliu"))
    assert " 是 " in line and "20" in line.split()[-2]  # active, and a last sign-in date

    for command in ("disable", "enable", "reset-password"):
        missing = gisgrid(place, command, "nobody", *(["--password-stdin"] if command == "reset-password" else []),
                          password=STRONG)
        assert missing.returncode == 2 and "no account nobody" in missing.stderr
    with place["engine"].connect() as conn:
        actions = conn.execute(text("SELECT action FROM audit_log WHERE object_id = 'zhaoliu' AND action LIKE "
                                    "'account_%' ORDER BY id")).scalars().all()
    assert actions == ["account_create", "account_disable", "account_enable", "account_reset_password"]


def test_grid_workers_by_phone_or_by_their_grid(place):
    by_phone = create(place, "jia", "--role", "grid_worker", "--staff", "+86 139 0013 9000")
    assert by_phone.returncode == 0, by_phone.stderr
    assert UNLED in by_phone.stdout
    assert tuple(account(place, "jia"))[:2] == ("grid_worker", SD) and account(place, "jia").staff == "网格员甲"
    by_grid = create(place, "zuzhang", "--role", "网格员", "--grid", LED)
    assert by_grid.returncode == 0, by_grid.stderr
    assert account(place, "zuzhang").staff == "组长001001"
    no_lead = create(place, "yi", "--role", "grid_worker", "--grid", UNLED)
    assert no_lead.returncode == 2 and f"grid {UNLED} has no lead" in no_lead.stderr
    no_staff = create(place, "bing", "--role", "grid_worker", "--staff", "13000000000")
    assert no_staff.returncode == 2 and "no staff member with phone 13000000000" in no_staff.stderr
    no_grid = create(place, "ding", "--role", "community_manager", "--grid", SD + "009")
    assert no_grid.returncode == 2 and f"no active grid with code {SD}009" in no_grid.stderr
    not_l1 = create(place, "wu", "--role", "community_manager", "--grid", LED)
    assert not_l1.returncode == 2 and "needs an L1 grid" in not_l1.stderr
    manager = create(place, "shequ", "--role", "community_manager", "--grid", L1)
    assert manager.returncode == 0 and tuple(account(place, "shequ"))[:2] == ("community_manager", SD)
    assert account(place, "yi") is None and account(place, "bing") is None
    worker = bearer(place, "jia")
    assert httpx.get(f"{place['server']}/accounts", headers=worker, timeout=30).status_code == 403


def test_the_http_twins_for_administrators_in_their_scope(place):
    server = place["server"]
    if account(place, "chief") is None:
        assert create(place, "chief", "--role", "admin").returncode == 0
    chief = bearer(place, "chief")

    def post(path: str, body: dict | None, headers: dict) -> httpx.Response:
        return httpx.post(f"{server}{path}", json=body, headers=headers, timeout=30)

    made = post("/accounts", {"username": "sd-admin", "role": "admin", "password": STRONG, "subdistrict": SD}, chief)
    assert made.status_code == 201, made.text
    assert made.json()["subdistrict"] == SD and "password" not in made.text
    east = post("/accounts", {"username": "east-viewer", "role": "viewer", "password": STRONG,
                              "subdistrict": SD_EAST}, chief)
    assert east.status_code == 201, east.text
    assert post("/accounts", {"username": "sd-admin", "role": "viewer", "password": STRONG}, chief).status_code == 409
    weak = post("/accounts", {"username": "weakling", "role": "viewer", "password": "weak"}, chief)
    assert weak.status_code == 422 and weak.json()["where"] == "password"

    bound = bearer(place, "sd-admin")
    names = {a["username"] for a in httpx.get(f"{server}/accounts", headers=bound, timeout=30).json()["items"]}
    assert "sd-admin" in names and not names & {"chief", "east-viewer"}
    assert post("/accounts/east-viewer/disable", None, bound).status_code == 404
    assert post("/accounts/chief/reset-password", {"password": STRONG + "x"}, bound).status_code == 404
    elsewhere = post("/accounts", {"username": "east-2", "role": "viewer", "password": STRONG,
                                   "subdistrict": SD_EAST}, bound)
    assert elsewhere.status_code == 404
    local = post("/accounts", {"username": "sd-viewer", "role": "viewer", "password": STRONG}, bound)
    assert local.status_code == 201 and local.json()["subdistrict"] == SD  # the administrator's own by default
    worker = post("/accounts", {"username": "sd-worker", "role": "grid_worker", "password": STRONG,
                                "staff_phone": "139-0013-9000"}, bound)
    assert worker.status_code == 201 and worker.json()["grids"] == [UNLED]
    assert post("/accounts/sd-admin/disable", None, bound).status_code == 409  # not one's own

    viewer = bearer(place, "sd-viewer")
    assert httpx.get(f"{server}/accounts", headers=viewer, timeout=30).status_code == 403
    assert post("/accounts", {"username": "x1", "role": "viewer", "password": STRONG}, viewer).status_code == 403
    assert post("/accounts/sd-viewer/enable", None, viewer).status_code == 403

    assert post("/accounts/sd-viewer/disable", None, bound).json()["active"] is False
    assert httpx.get(f"{server}/auth/me", headers=viewer, timeout=30).status_code == 401
    assert post("/accounts/sd-viewer/enable", None, bound).json()["active"] is True
    reset = post("/accounts/sd-viewer/reset-password", {"password": "Another-Pass-2026"}, bound)
    assert reset.status_code == 200 and "password" not in reset.text.replace("reset-password", "")
    assert sign_in(place, "sd-viewer", "Another-Pass-2026").status_code == 200
    with place["engine"].connect() as conn:
        entries = conn.execute(text("SELECT actor, action, host(client_addr) FROM audit_log WHERE object_id = "
                                    "'sd-viewer' AND action LIKE 'account_%' ORDER BY id")).all()
    assert [tuple(e) for e in entries] == [("sd-admin", a, "127.0.0.1") for a in (
        "account_create", "account_disable", "account_enable", "account_reset_password")]
