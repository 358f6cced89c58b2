"""Hardening seen from outside: security headers on every answer, every page working under its
Content Security Policy in a real browser, request bodies capped, statements time-limited."""

from __future__ import annotations

import pytest
from conftest import AUTH
from sqlalchemy import text

PAGES = ["/", "/map/coverage", "/map/cases", "/map/edit", "/report", "/track", "/reports/weekly/page?week=2026-W43",
         "/docs", "/redoc"]


def test_every_answer_carries_the_security_headers(http):
    for path in ("/health", "/grids?limit=1", "/layers", "/map/coverage", "/cases/NOPE", "/static/js/editor.js"):
        answer = http.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert "default-src 'self'" in answer.headers["content-security-policy"], path
        assert answer.headers["referrer-policy"] == "no-referrer", path


@pytest.fixture
def strict_page(browser):
    """A page that enforces the CSP (no bypass) and records violations and errors."""
    context = browser.new_context(viewport={"width": 1200, "height": 800}, extra_http_headers=AUTH)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, errors
    context.close()


def test_every_page_works_under_its_content_security_policy(server, strict_page, db, demo):
    page, errors = strict_page
    grid = db.execute(text("SELECT code FROM grids WHERE level = 2 ORDER BY code LIMIT 1")).scalar_one()
    building = db.execute(text("SELECT id FROM buildings ORDER BY id LIMIT 1")).scalar_one()
    household = db.execute(text("SELECT id FROM households ORDER BY id LIMIT 1")).scalar_one()
    field = ["/field", f"/field/grids/{grid}", f"/field/grids/{grid}/changes", f"/field/buildings/{building}",
             f"/field/households/{household}"]
    for path in [*PAGES, f"/grids/{grid}/board", f"/buildings/{building}/diagram", *field]:
        errors.clear()
        page.goto(server + path, wait_until="networkidle")
        if path.startswith("/map") or path == "/report" or path == f"/field/grids/{grid}":
            page.wait_for_selector(".leaflet-tile-loaded, .leaflet-interactive", state="attached", timeout=20_000)
        # ReDoc's bundle shows its maker's logo from their CDN: the policy blocks it (offline-safe)
        errors[:] = [e for e in errors if not (path == "/redoc" and "https://cdn.redoc.ly/redoc/logo-mini.svg" in e)]
        violations = [e for e in errors if "Content Security Policy" in e or "Refused to" in e]
        assert violations == [], (path, violations)
        assert errors == [], (path, errors)


def test_a_body_over_the_cap_is_refused_before_it_is_read(scratch_engine, monkeypatch):
    import httpx
    from conftest import AUTH, serve

    from gisgrid.core.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_body_bytes", 1000)  # read when the app is made
    with serve(scratch_engine) as url, httpx.Client(base_url=url, timeout=30, headers=AUTH) as client:
        declared = client.post("/cases", content=b"x" * 5000, headers={"content-type": "application/json"})
        assert declared.status_code == 413 and declared.json()["where"] == "body"

        def chunks():
            yield b"{"
            yield b" " * 5000

        streamed = client.post("/cases", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.post("/cases", json={}).status_code == 422  # under the cap: read and judged


def test_statements_of_a_request_are_time_limited(engine):
    from gisgrid.core.database import session_factory
    from gisgrid.web.hardening import limit_statements

    factory = session_factory(engine)
    limit_statements(factory)
    with factory() as session:
        assert session.execute(text("SHOW statement_timeout")).scalar() == "2min"
