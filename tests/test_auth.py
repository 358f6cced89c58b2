"""Accounts over real HTTP on the scratch database (committed, as sign-in failures must be):
sign-in and sessions, the generic refusal, lock-out, the address rate limit, the second factor,
API keys, password changes, and the audit trail of it all."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import httpx
import pyotp
import pytest
from conftest import serve
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth import service
from gisgrid.core.clock import FixedClock
from gisgrid.core.enums import Role
from gisgrid.core.errors import TooManyAttempts, Unauthorised

from builders import Town

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-42"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def clock():
    return FixedClock(NOW)


@pytest.fixture(scope="module")
def api(scratch_engine, clock):
    with serve(scratch_engine, clock=clock) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture
def accounts(scratch_engine, clock):
    """A town with an administrator, a viewer and a grid worker, committed."""
    clock.at = NOW
    town = Town(scratch_engine)
    n = next(_names)
    with Session(scratch_engine) as db:
        lead = db.execute(text("""SELECT a.staff_id FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
                                  WHERE g.code = :c AND a.role = 'grid_lead'"""), {"c": town.west}).scalar()
        made = {
            "admin": service.create_account(db, username=f"admin{n}", display_name="管理员", role=Role.ADMIN,
                                            password=PASSWORD, subdistrict=town.sd),
            "viewer": service.create_account(db, username=f"viewer{n}", display_name="只读", role=Role.VIEWER,
                                             password=PASSWORD, subdistrict=town.sd),
            "worker": service.create_account(db, username=f"worker{n}", display_name="网格员", role=Role.GRID_WORKER,
                                             password=PASSWORD, staff_id=lead),
        }
        db.commit()
    return made


def sign_in(api, username, password=PASSWORD, **extra):
    return api.post("/auth/sign-in", json={"username": username, "password": password, **extra})


def test_sign_in_opens_a_session_the_cookie_and_the_header_both_carry(api, accounts, scratch_engine):
    answer = sign_in(api, accounts["admin"]["username"].upper())  # usernames are case-blind
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    me = api.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["username"], me["role"]) == (accounts["admin"]["username"], "admin")
    with httpx.Client(base_url=str(api.base_url), cookies={"gisgrid_session": token}) as browser:
        assert browser.get("/auth/me").status_code == 200
    assert api.post("/auth/sign-out", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with scratch_engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM accounts WHERE id = :id"),
                              {"id": accounts["admin"]["id"]}).scalar()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert conn.execute(text("SELECT count(*) FROM auth_sessions WHERE token_hash = :t"),
                            {"t": token}).scalar() == 0  # only its digest is kept


def test_refusals_say_the_same_thing_and_lock_the_account_after_five(api, accounts, clock, scratch_engine):
    name = accounts["viewer"]["username"]
    unknown = sign_in(api, "nobody-at-all")
    wrong = sign_in(api, name, "Wrong-Password-1")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["message"] == wrong.json()["message"]
    for _ in range(4):
        assert sign_in(api, name, "Wrong-Password-1").status_code == 401
    assert sign_in(api, name).status_code == 401  # locked: even the right password
    clock.advance(minutes=16)
    assert sign_in(api, name).status_code == 200
    with scratch_engine.connect() as conn:
        outcomes = conn.execute(text("""SELECT outcome, detail->>'reason' FROM audit_log WHERE action = 'sign_in'
                                        AND actor = :u ORDER BY id"""), {"u": name}).all()
    reasons = [r for _, r in outcomes]
    assert reasons.count("wrong password") == 4 and "wrong password, account locked" in reasons
    assert "locked" in reasons and outcomes[-1][0] == "ok"


def test_an_address_with_many_failures_gets_429(scratch_engine):
    with Session(scratch_engine) as db:
        for _ in range(20):
            with pytest.raises(Unauthorised):
                service.sign_in(db, username="ghost", password="x", code=None, client_addr="203.0.113.9", now=NOW)
        with pytest.raises(TooManyAttempts):
            service.sign_in(db, username="ghost", password="x", code=None, client_addr="203.0.113.9", now=NOW)
        with pytest.raises(Unauthorised):  # another address is not held back
            service.sign_in(db, username="ghost", password="x", code=None, client_addr="203.0.113.10", now=NOW)


def test_a_second_factor_is_asked_for_once_confirmed(api, accounts, clock):
    name = accounts["admin"]["username"]
    token = sign_in(api, name).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    secret = api.post("/auth/second-factor", headers=auth).json()["secret"]
    totp = pyotp.TOTP(secret)
    assert api.post("/auth/second-factor/confirm", json={"code": "000000" if totp.at(NOW) != "000000" else "111111"},
                    headers=auth).status_code == 422
    assert api.post("/auth/second-factor/confirm", json={"code": totp.at(clock.now())}, headers=auth).status_code == 200
    assert sign_in(api, name).status_code == 401
    assert sign_in(api, name, code=totp.at(clock.now())).status_code == 200


def test_api_keys_act_as_their_account_until_revoked(api, accounts):
    admin = {"Authorization": "Bearer " + sign_in(api, accounts["admin"]["username"]).json()["token"]}
    worker = {"Authorization": "Bearer " + sign_in(api, accounts["worker"]["username"]).json()["token"]}
    body = {"account_id": accounts["viewer"]["id"], "name": "区级平台对接"}
    assert api.post("/auth/api-keys", json=body, headers=worker).status_code == 403
    key = api.post("/auth/api-keys", json=body, headers=admin).json()
    assert key["key"].startswith("gg_")
    as_key = {"Authorization": f"Bearer {key['key']}"}
    assert api.get("/auth/me", headers=as_key).json()["username"] == accounts["viewer"]["username"]
    assert api.delete(f"/auth/api-keys/{key['id']}", headers=admin).status_code == 204
    assert api.get("/auth/me", headers=as_key).status_code == 401


def test_changing_the_password_checks_the_old_one_and_ends_every_session(api, accounts):
    name = accounts["worker"]["username"]
    first, second = (sign_in(api, name).json()["token"] for _ in range(2))
    auth = {"Authorization": f"Bearer {first}"}
    assert api.post("/auth/password", json={"current": "nope", "new": "Another-Horse-43"}, headers=auth).status_code == 401
    weak = api.post("/auth/password", json={"current": PASSWORD, "new": "password"}, headers=auth)
    assert weak.status_code == 422 and weak.json()["where"] == "password"
    assert api.post("/auth/password", json={"current": PASSWORD, "new": "Another-Horse-43"},
                    headers=auth).status_code == 200
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {second}"}).status_code == 401
    assert sign_in(api, name, "Another-Horse-43").status_code == 200


def test_accounts_need_their_scope(scratch_engine):
    with Session(scratch_engine) as db:
        with pytest.raises(Exception, match="L1 grid"):
            service.create_account(db, username="m", display_name="m", role=Role.COMMUNITY_MANAGER,
                                   password=PASSWORD, scope_grid="110101001001001")
        with pytest.raises(Exception, match="staff record"):
            service.create_account(db, username="w", display_name="w", role=Role.GRID_WORKER, password=PASSWORD)
        db.rollback()


def test_the_demo_has_one_account_per_role(db, demo):
    roles = dict(db.execute(text("SELECT username, role FROM accounts WHERE username IN "
                                 "('admin', 'shequ', 'wangge', 'viewer', 'auditor')")).all())
    assert roles == {"admin": "admin", "shequ": "community_manager", "wangge": "grid_worker", "viewer": "viewer",
                     "auditor": "auditor"}


def test_a_signed_out_token_draws_no_more_tiles(server, demo):
    """Tiles and lookups keep recent callers for a moment; signing out drops the token at once."""
    import httpx

    from gisgrid.demo.accounts import PASSWORDS

    with httpx.Client(base_url=server, timeout=30) as client:
        token = client.post("/auth/sign-in", json={"username": "viewer", "password": PASSWORDS["viewer"]}).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/layers/grids_l2/tiles/14/12925/6720.mvt", headers=bearer).status_code == 200
        assert client.post("/auth/sign-out", headers=bearer).status_code == 200
        assert client.get("/layers/grids_l2/tiles/14/12925/6720.mvt", headers=bearer).status_code == 401
        assert client.get("/lookup", params={"lon": 104.04, "lat": 30.64}, headers=bearer).status_code == 401
