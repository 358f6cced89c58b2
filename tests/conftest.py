"""One real PostGIS cluster per test run, the demo loaded once, a rolled-back transaction per test.

The cluster is gisgrid's own embedded one, started in a temporary home; with
``GISGRID_TEST_DATABASE_URL`` the run uses that (empty, disposable) PostGIS database instead.
A skipped test fails the run (``no_skips``).
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="gisgrid-test-"))
_HOME.chmod(0o755)  # as root the server runs as an unprivileged user who must reach it
atexit.register(shutil.rmtree, _HOME, True)
os.environ["GISGRID_HOME"] = str(_HOME / ".gisgrid")
os.environ["GISGRID_DATA_KEY"] = "7:" + base64.b64encode(b"k" * 32).decode()
os.environ.pop("GISGRID_DATABASE_URL", None)
os.environ["GISGRID_CASE_SWEEP_SECONDS"] = "0"  # tests escalate by their own clock, not the service's sweep
# pages under test draw on the app's own plain basemap: no request may leave 127.0.0.1
os.environ["GISGRID_BASEMAP_URL"] = "/basemap/blank/{z}/{x}/{y}.png"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
# The tests' own city-wide administrator, by API key: every client and browser sends it unless a
# test is about who may do what.
TEST_KEY = "gg_tests-" + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
# The application role's password on a GISGRID_TEST_DATABASE_URL; the embedded cluster keeps its own.
_APP_PASSWORD = base64.urlsafe_b64encode(os.urandom(18)).decode()


def grant_test_key(engine) -> None:
    import hashlib

    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from gisgrid.auth.service import create_account
    from gisgrid.core.enums import Role

    with Session(engine) as db:
        if db.execute(text("SELECT 1 FROM accounts WHERE username = 'tests'")).first() is None:
            account = create_account(db, username="tests", display_name="测试管理员", role=Role.ADMIN,
                                     password="Only-For-Checks-9" + TEST_KEY[-6:])
            db.execute(text("INSERT INTO api_keys (account_id, name, prefix, key_hash) VALUES (:a, 'tests', :p, :h)"),
                       {"a": account["id"], "p": TEST_KEY[:10], "h": hashlib.sha256(TEST_KEY.encode()).hexdigest()})
        db.commit()


@contextmanager
def settings_env(**values: str | None) -> Iterator[None]:
    """Settings read from these environment variables (None: unset) inside the block, as a
    restarted process would read them; the keyring is read again too."""
    from gisgrid.core.secrets import keyring
    from gisgrid.core.settings import get_settings

    saved = {name: os.environ.get(name) for name in values}

    def apply(env: dict[str, str | None]) -> None:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        keyring.cache_clear()

    apply(values)
    try:
        yield
    finally:
        apply(saved)


pytest_plugins = ["no_skips", "pytester"]


@pytest.fixture(scope="session")
def cluster():
    from gisgrid.core.embedded import Cluster

    cluster = Cluster(Path(os.environ["GISGRID_HOME"]))
    if not os.environ.get("GISGRID_TEST_DATABASE_URL"):
        cluster.up()
    yield cluster
    if not os.environ.get("GISGRID_TEST_DATABASE_URL"):
        cluster.down()


@pytest.fixture(scope="session")
def database_url(cluster) -> str:
    """The test database, migrated to head."""
    from gisgrid.core import migrate
    from gisgrid.core.database import normalise_url

    url = os.environ.get("GISGRID_TEST_DATABASE_URL")
    url = normalise_url(url) if url else cluster.url()
    migrate.upgrade(url)
    if os.environ.get("GISGRID_TEST_DATABASE_URL"):
        from sqlalchemy import create_engine, text

        owner = create_engine(url)
        with owner.begin() as conn:
            conn.execute(text(f"ALTER ROLE gisgrid_app LOGIN PASSWORD '{_APP_PASSWORD}'"))
        owner.dispose()
    else:
        cluster.allow_app_login()
    return url


def app_url(owner_url: str) -> str:
    """The owner's database as the application role (migration 0013) sees it: the servers under
    test connect as it, as a deployed one does."""
    from sqlalchemy.engine import make_url

    from gisgrid.core.embedded import APP_ROLE, Cluster

    url = make_url(owner_url)
    if os.environ.get("GISGRID_TEST_DATABASE_URL"):
        return url.set(username=APP_ROLE, password=_APP_PASSWORD).render_as_string(hide_password=False)
    return Cluster(Path(os.environ["GISGRID_HOME"])).url(url.database, role=APP_ROLE)


@pytest.fixture(scope="session")
def engine(database_url):
    from gisgrid.core.database import engine_for

    return engine_for(database_url)


@pytest.fixture(scope="session")
def demo(engine):
    """The default demo sub-district, generated and loaded once; returns the generated data."""
    from gisgrid.demo.generator import DemoConfig, generate
    from gisgrid.demo.loader import load

    data = generate(DemoConfig())
    load(engine, data, progress=False)
    grant_test_key(engine)
    return data


@pytest.fixture(scope="session")
def app_engine(database_url):
    """The test database as the application role: what the servers under test connect as."""
    from gisgrid.core.database import engine_for

    return engine_for(app_url(database_url))


@pytest.fixture
def db(engine):
    """A session inside a transaction that is rolled back after the test."""
    from sqlalchemy.orm import Session

    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    transaction.rollback()
    connection.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(engine, **app_options) -> Iterator[str]:
    """The real app on ``engine``'s database, connected as the application role, behind a real
    uvicorn on a free local port; yields its base URL."""
    import uvicorn

    from gisgrid.core.database import engine_for
    from gisgrid.web.app import create_app

    port = _free_port()
    app = create_app(engine_for(app_url(engine.url.render_as_string(hide_password=False))), **app_options)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(engine, demo):
    """The app on the demo database."""
    with serve(engine) as url:
        yield url


@pytest.fixture
def http(server):
    import httpx

    with httpx.Client(base_url=server, timeout=30, headers=AUTH) as client:
        yield client


def fresh_database(url: str, name: str) -> str:
    """An empty database ``name`` in the same cluster, PostGIS in it, migrated to head: for tests
    whose work must commit (a CLI subprocess, HTTP edits, fuzzing) away from the demo."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from gisgrid.core import migrate

    drop_database(url, name)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    fresh = make_url(url).set(database=name).render_as_string(hide_password=False)
    owner = create_engine(fresh, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    owner.dispose()
    migrate.upgrade(fresh)
    return fresh


def drop_database(url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def scratch_engine(database_url):
    """A second database in the same cluster, migrated, for tests whose changes commit (HTTP
    edits, concurrency): the demo database stays as the demo tests expect it."""
    from gisgrid.core.database import engine_for

    scratch = engine_for(fresh_database(database_url, "gisgrid_scratch"))
    grant_test_key(scratch)
    return scratch


@pytest.fixture(scope="session")
def scratch_server(scratch_engine):
    with serve(scratch_engine) as url:
        yield url


@pytest.fixture
def scratch_http(scratch_server):
    import httpx

    with httpx.Client(base_url=scratch_server, timeout=60, headers=AUTH) as client:
        yield client


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download: the system one)."""
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise RuntimeError("chromium is not installed: run `bash .ci/setup`")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield instance
        instance.close()


class Watched:
    """A page with every console error and every request that left 127.0.0.1 recorded."""

    def __init__(self, page):
        self.page, self.errors, self.external = page, [], []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:", "about:"))
                else self.external.append(r.url))

    def clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.external == [], self.external

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def phone(browser):
    """A page on a phone: 390×844 CSS pixels, touch, Chinese; signed in with the tests' key."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN", bypass_csp=True, extra_http_headers=AUTH)
    page = context.new_page()
    yield Watched(page)
    context.close()


@pytest.fixture
def watched(browser):
    # Playwright's wait_for_function evaluates strings, which the app's CSP forbids; the policy
    # itself is checked page by page in test_security_headers.py
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", bypass_csp=True,
                                  extra_http_headers=AUTH)
    page = context.new_page()
    yield Watched(page)
    context.close()
