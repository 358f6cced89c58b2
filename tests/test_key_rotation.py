"""Rotating the personal-data key: exact lookups work before, during and after; ``gisgrid keys
reseal`` moves every sealed value to the newest key in resumable batches; a value sealed under a
key that is no longer configured says so."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import drop_database, fresh_database, settings_env
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.core.errors import SetupError
from gisgrid.core.paging import Page
from gisgrid.core.scope import WHOLE
from gisgrid.core.secrets import Keyring, keyring
from gisgrid.keys.service import key_counts, reseal
from gisgrid.registry.service import list_residents, reveal

OLD = os.environ["GISGRID_DATA_KEY"]  # the tests' key, id 7: the demo is sealed with it
NEW = "9:" + base64.b64encode(b"n" * 32).decode()
TOTP = "JBSWY3DPEHPK3PXP"


def _found(session: Session, **value) -> list[int]:
    page = list_residents(session, grid=None, household=None, tag=None, page=Page(limit=50, offset=0), scope=WHOLE,
                          **value)
    return [r["id"] for r in page["items"]]


class Interrupted(Exception):
    pass


def test_lookups_work_through_a_rotation_and_the_reseal_moves_everything(db, demo):
    resident = db.execute(text("SELECT id, id_number_enc, phone_enc, id_number_masked FROM residents "
                               "WHERE id_number_enc IS NOT NULL AND phone_enc IS NOT NULL ORDER BY id LIMIT 1")).one()
    id_number, phone = keyring().open(resident.id_number_enc), keyring().open(resident.phone_enc)
    assert _found(db, id_number=id_number) == [resident.id]
    # a lower-case x and spaces are the same ID number (the index normalises)
    assert _found(db, id_number=" " + id_number.lower()) == [resident.id]
    assert resident.id in _found(db, phone=phone)
    account = db.execute(text("SELECT id FROM accounts ORDER BY id LIMIT 1")).scalar_one()
    db.execute(text("UPDATE accounts SET totp_secret = :s WHERE id = :id"), {"s": keyring().seal(TOTP), "id": account})
    sealed = db.execute(text("SELECT count(id_number_enc), count(phone_enc) FROM residents")).one()

    with settings_env(GISGRID_DATA_KEY=f"{NEW},{OLD}"):  # step 1: a new key first, the old one kept
        ring = keyring()
        assert ring.current == 9 and len(ring.blind_indexes(id_number)) == 2
        assert _found(db, id_number=id_number) == [resident.id], "rows indexed under the old key are found"
        assert resident.id in _found(db, phone=phone)
        newcomer = db.execute(text("SELECT id FROM residents WHERE id <> :id AND id_number_enc IS NOT NULL "
                                   "ORDER BY id LIMIT 1"), {"id": resident.id}).scalar_one()
        db.execute(text("UPDATE residents SET id_number_enc = :e, id_number_index = :i WHERE id = :id"),
                   {"e": ring.seal("11010119800101001X"), "i": ring.blind_index("11010119800101001X"), "id": newcomer})
        assert _found(db, id_number="11010119800101001X") == [newcomer], "rows indexed under the new key are found"

        # step 2: reseal, in batches that each commit (here: a savepoint of the test's transaction)
        batches = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")

        def stop_after_first_batch(table: str, rows: int) -> None:
            raise Interrupted(table)

        with pytest.raises(Interrupted):
            reseal(batches, ring, batch=5000, progress=stop_after_first_batch)
        halfway = key_counts(db)["residents.id_number_enc"]
        assert 0 < halfway[9] < sealed[0] and halfway[7] > 0, "the first batch stayed done"
        done = reseal(batches, ring, batch=5000)
        assert done["residents.id_number_enc"] == sealed[0] - halfway[9]
        assert done["residents.phone_enc"] > 0 and done["accounts.totp_secret"] == 1
        assert reseal(batches, ring, batch=5000) == {name: 0 for name in done}, "a second run has nothing to do"
        counts = key_counts(db)
        assert counts["residents.id_number_enc"] == {9: sealed[0]} and counts["residents.phone_enc"] == {9: sealed[1]}
        assert counts["accounts.totp_secret"] == {9: 1}
        assert _found(db, id_number=id_number) == [resident.id]

    with settings_env(GISGRID_DATA_KEY=NEW):  # step 3: the old key dropped
        assert list(keyring().keys) == [9]
        assert _found(db, id_number=id_number) == [resident.id]
        assert resident.id in _found(db, phone=phone)
        assert _found(db, id_number="11010119800101001X") == [newcomer]
        assert reveal(db, resident.id, "id_number", WHOLE) == id_number and reveal(db, resident.id, "phone", WHOLE) == phone
        row = db.execute(text("SELECT id_number_masked, totp_secret FROM residents, accounts "
                              "WHERE residents.id = :r AND accounts.id = :a"), {"r": resident.id, "a": account}).one()
        assert row.id_number_masked == resident.id_number_masked
        assert keyring().open(row.totp_secret) == TOTP


def test_a_value_sealed_under_a_key_no_longer_configured_says_which(db, demo):
    sealed = db.execute(text("SELECT id, id_number_enc FROM residents WHERE id_number_enc IS NOT NULL "
                             "ORDER BY id LIMIT 1")).one()
    with settings_env(GISGRID_DATA_KEY=NEW):
        with pytest.raises(SetupError, match=r"key id 7, which GISGRID_DATA_KEY does not hold \(it holds \[9\]\)"):
            reveal(db, sealed.id, "id_number", WHOLE)
        batches = sessionmaker(bind=db.connection(), join_transaction_mode="create_savepoint")
        with pytest.raises(SetupError, match=rf"residents.id_number_enc \(id {sealed.id}\): .*key id 7"):
            reseal(batches, keyring())
    other_key_same_id = Keyring.parse("7:" + base64.b64encode(b"x" * 32).decode())
    with pytest.raises(SetupError, match="does not open with key id 7"):
        other_key_same_id.open(bytes(sealed.id_number_enc))
    with pytest.raises(SetupError, match="names key id 7 twice"):
        Keyring.parse(f"{OLD},{OLD}")


@pytest.fixture
def keys_url(engine):
    """A database of its own: the command line commits, and the others' data stays under key 7."""
    url = engine.url.render_as_string(hide_password=False)
    yield fresh_database(url, "gisgrid_keys_test")
    drop_database(url, "gisgrid_keys_test")


def _gisgrid(url: str, data_key: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GISGRID_DATABASE_URL": url, "GISGRID_DATA_KEY": data_key}
    return subprocess.run([str(Path(sys.executable).parent / "gisgrid"), "keys", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_the_command_line_rotates_a_database(keys_url):
    from gisgrid.auth.service import create_account
    from gisgrid.core.enums import Role

    owner = create_engine(keys_url)
    try:
        with Session(owner) as session, session.begin():
            for n in range(3):
                created = create_account(session, username=f"admin{n}", display_name="管理员", role=Role.ADMIN,
                                         password="Rotate-Keys-2026")
                session.execute(text("UPDATE accounts SET totp_secret = :s WHERE id = :id"),
                                {"s": keyring().seal(TOTP), "id": created["id"]})

        fresh = _gisgrid(keys_url, OLD, "new")
        assert fresh.returncode == 0, fresh.stderr
        entry = fresh.stdout.strip()
        assert entry.startswith("8:") and Keyring.parse(entry).current == 8
        assert "GISGRID_DATA_KEY=8:…,7:…" in fresh.stderr

        dropped_too_soon = _gisgrid(keys_url, entry, "reseal")
        assert dropped_too_soon.returncode == 2
        assert "sealed with key id 7, which GISGRID_DATA_KEY does not hold" in dropped_too_soon.stderr

        first = _gisgrid(keys_url, f"{entry},{OLD}", "reseal", "--batch", "2")
        assert first.returncode == 0, first.stderr
        assert "accounts.totp_secret                   3" in first.stdout
        assert "accounts.totp_secret        8*: 3" in first.stdout
        again = _gisgrid(keys_url, f"{entry},{OLD}", "reseal")
        assert again.returncode == 0 and "accounts.totp_secret                   0" in again.stdout

        status = _gisgrid(keys_url, entry, "status")
        assert status.returncode == 0, status.stderr
        assert "accounts.totp_secret        8*: 3" in status.stdout
        with owner.connect() as conn:
            tokens = conn.execute(text("SELECT totp_secret FROM accounts")).scalars().all()
        assert [Keyring.parse(entry).open(t) for t in tokens] == [TOTP] * 3
    finally:
        owner.dispose()
