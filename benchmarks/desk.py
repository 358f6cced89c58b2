"""Benchmark (issue 17): the case desk on the city with a year of cases — time to first byte of
every inbox tab and of the case page, and time until rendered in Chromium, for a grid worker, a
community manager and the leading group (the administrator of a sub-district).

    GISGRID_HOME=/tmp/gisgrid-ledgerbench .venv/bin/python benchmarks/desk.py [--database-url URL]
        [--now 2026-11-01T00:00+08:00] [--repeat 7] [--renders 3] [--workers 2]
        [--tabs mine,grids,due_soon,overdue,escalated,closed,all] [--no-render] [--no-stand-in]
        [--json results.json] [--markdown results.md]

Prerequisite (the script neither builds the city nor fills it; it stops and prints this when the
database holds no cases): the city of the case benchmark with its year of 3,000,000 cases,

    GISGRID_HOME=/tmp/gisgrid-ledgerbench nice .venv/bin/python benchmarks/cases.py --fill-only

What runs: the app behind uvicorn (``--workers`` processes, own process group, the overdue sweep
off) with its clock fixed at ``--now`` (default: the end of the fill's year, so "overdue" and
"due soon" mean what they meant on that day rather than weeks later; ``clocked_app`` below, the
app ``gisgrid serve`` runs with that clock). The places are chosen in SQL: the sub-district with
the most cases in the last 60 days before ``--now``, its community (L1) with the most open cases,
and that community's L2 grid with the most open cases. Three accounts are made once if missing
(``desk-bench-worker`` for that grid's lead, ``desk-bench-manager`` for the community with its L1
lead's staff record, ``desk-bench-leading`` an administrator of the sub-district with the head of
its leading group), each run gets a fresh API key per account (revoked at the end).

1. Time to first byte (``--repeat`` times each, keep-alive, after one uncounted request): every
   inbox tab ``/desk?tab=...``, the case page ``/desk/cases/{no}`` of an open case of the grid
   (in every account's scope), and the overdue view ``/desk/overdue``. A 403 is reported as not
   for that role; a grid worker's inbox has no ``escalated`` tab (nothing is escalated to a
   grid), so it is not asked for. Beside each tab, its stand-in from the cases API that exists already
   (``GET /cases?...``, the query the tab stands for, with ``numberMatched`` = the tab's size):
   mine = open and held by the account's staff record, grids = open, overdue = ``overdue=true``,
   closed = ``status=closed``, all = no filter, the case page = ``GET /cases/{no}``; due soon and
   escalated have no filter in that API.
2. Rendered: ``--renders`` cold loads in headless Chromium (a fresh context each, the key in the
   session cookie as a signed-in browser holds it; 390×844 phone): from ``goto`` until the load
   event has fired and the page's list is visible (``main`` holding a ``ul``, ``ol``, ``table``
   or the empty-list note ``.gg-empty``).

Bar (the issue): each inbox tab answers (first byte) under 300 ms and renders under 1.5 s; the
tables give the medians and the ratio to the bar (under 1 meets it). Every phase prints the load
average: the figures are wall-clock on a machine that may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from common import Server, database_arg, engine_from, neighbours, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNTIL = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Shanghai"))  # the case benchmark's --until
TABS = ("mine", "grids", "due_soon", "overdue", "escalated", "closed", "all")
TTFB_BAR_MS, RENDER_BAR_S = 300.0, 1.5
LIST_VISIBLE = "main ul, main ol, main table, main .gg-empty"
ROLES = ("grid worker", "community manager", "leading group")
NOW_ENV = "GISGRID_DESK_BENCH_NOW"


def clocked_app():
    """The app as ``gisgrid serve`` builds it, its clock fixed at ``$GISGRID_DESK_BENCH_NOW``
    (uvicorn's factory, imported by each worker)."""
    from gisgrid.core.clock import FixedClock
    from gisgrid.web.app import create_app

    return create_app(clock=FixedClock(datetime.fromisoformat(os.environ[NOW_ENV])))


# --- places and accounts ----------------------------------------------------------------------

def places(engine, now: datetime) -> dict:
    """The busiest sub-district, its community and grid with the most open cases, their leads,
    the head of the leading group, and an open case of the grid for the case page."""
    with engine.connect() as conn:
        def one(sql: str, **params):
            return conn.execute(text(sql), params).one()

        sd = one("SELECT subdistrict_code FROM cases WHERE reported_at >= :s AND reported_at < :n GROUP BY 1 "
                 "ORDER BY count(*) DESC, 1 LIMIT 1", s=now - timedelta(days=60), n=now)[0]
        l1 = one("""SELECT g.code, g.id FROM cases c JOIN grids g ON g.id = c.grid_l1_id
                    WHERE c.subdistrict_code = :sd AND c.status::text NOT IN ('closed', 'rejected', 'duplicate')
                    GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1""", sd=sd)
        l2 = one("""SELECT g.code, g.id FROM cases c JOIN grids g ON g.id = c.grid_l2_id
                    WHERE c.grid_l1_id = :l1 AND c.status::text NOT IN ('closed', 'rejected', 'duplicate')
                    GROUP BY 1, 2 ORDER BY count(*) DESC, 1 LIMIT 1""", l1=l1.id)
        lead = "SELECT staff_id FROM grid_leads WHERE grid_id = :g AND active ORDER BY staff_id LIMIT 1"
        case = one("""SELECT c.case_no FROM cases c WHERE c.grid_l2_id = :g
                      AND c.status::text NOT IN ('closed', 'rejected', 'duplicate')
                      ORDER BY (SELECT count(*) FROM case_events e WHERE e.case_id = c.id) DESC, c.id LIMIT 1""", g=l2.id)
        return {"subdistrict": sd, "community": l1.code, "grid": l2.code, "case_no": case[0],
                "worker_staff": one(lead, g=l2.id)[0], "manager_staff": one(lead, g=l1.id)[0],
                "head_staff": one("SELECT staff_id FROM leading_group_members WHERE subdistrict_code = :sd "
                                  "ORDER BY is_head DESC, staff_id LIMIT 1", sd=sd)[0]}


def desk_callers(engine, where: dict) -> dict[str, dict]:
    """An API key for each role's account (made once; an existing one with another role or scope
    stops the run rather than skew it), with the account's staff record."""
    import secrets

    from sqlalchemy.orm import Session

    from gisgrid.auth.service import API_KEY_PREFIX, account, create_account, digest
    from gisgrid.core.enums import Role

    wanted = {
        "grid worker": ("desk-bench-worker", Role.GRID_WORKER, {"staff_id": where["worker_staff"],
                                                                "subdistrict": where["subdistrict"]}),
        "community manager": ("desk-bench-manager", Role.COMMUNITY_MANAGER,
                              {"scope_grid": where["community"], "staff_id": where["manager_staff"]}),
        "leading group": ("desk-bench-leading", Role.ADMIN, {"subdistrict": where["subdistrict"],
                                                             "staff_id": where["head_staff"]}),
    }
    callers = {}
    with Session(engine) as db:
        for role, (username, kind, scope) in wanted.items():
            found = db.execute(text("SELECT id FROM accounts WHERE lower(username) = lower(:u)"),
                               {"u": username}).scalar()
            if found is None:
                made = create_account(db, username=username, display_name=f"基准测试 {role}", role=kind,
                                      password="Bench-9x" + secrets.token_urlsafe(24), **scope)
            else:
                made = account(db, found)
                staff = db.execute(text("SELECT staff_id FROM accounts WHERE id = :a"), {"a": found}).scalar()
                if (made["role"], made["scope_grid"], staff) != (kind.value, scope.get("scope_grid"), scope["staff_id"]):
                    raise SystemExit(f"the account {username!r} exists as {made['role']} of {made['scope_grid']} "
                                     f"(staff {staff}), not as this benchmark's {role}: rename or remove it")
            key = API_KEY_PREFIX + "bench-" + secrets.token_urlsafe(32)
            db.execute(text("DELETE FROM api_keys WHERE account_id = :a AND (revoked_at IS NOT NULL OR expires_at < now())"),
                       {"a": made["id"]})
            db.execute(text("""INSERT INTO api_keys (account_id, name, prefix, key_hash, expires_at)
                               VALUES (:a, 'desk-benchmark', :p, :h, now() + interval '1 day')"""),
                       {"a": made["id"], "p": key[:10], "h": digest(key)})
            callers[role] = {"username": username, "key": key, "staff_id": scope["staff_id"]}
        db.commit()
    return callers


def revoke(engine, callers: dict[str, dict]) -> None:
    from gisgrid.auth.service import digest

    with engine.begin() as conn:
        for caller in callers.values():
            conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE key_hash = :h AND revoked_at IS NULL"),
                         {"h": digest(caller["key"])})


# --- what is measured -------------------------------------------------------------------------

def targets(where: dict, role: str, staff_id: int, tabs: list[str]) -> list[dict]:
    """(name, the desk's path, its stand-in from the cases API or None) for one account."""
    tabs = [tab for tab in tabs if tab != "escalated" or role != "grid worker"]
    stand_ins = {"mine": f"/cases?status=open&assignee={staff_id}", "grids": "/cases?status=open",
                 "overdue": "/cases?overdue=true", "closed": "/cases?status=closed", "all": "/cases"}
    rows = [{"name": f"tab {tab}", "path": f"/desk?tab={tab}", "stand_in": stand_ins.get(tab), "tab": True}
            for tab in tabs]
    rows.append({"name": "case page", "path": f"/desk/cases/{where['case_no']}",
                 "stand_in": f"/cases/{where['case_no']}", "tab": False})
    rows.append({"name": "overdue view", "path": "/desk/overdue", "stand_in": None, "tab": False})
    return rows


def first_byte(client: httpx.Client, path: str, repeat: int) -> dict:
    """Status, the median (and min, max) time to the first byte of the body in ms, the body's size,
    and ``numberMatched`` of a JSON list."""
    times, status, size, matched = [], None, 0, None
    for run in range(repeat + 1):  # the first is uncounted: a worker's first request compiles templates
        start = time.perf_counter()
        with client.stream("GET", path) as response:
            body = response.iter_raw()
            first = next(body, b"")
            elapsed = time.perf_counter() - start
            rest = b"".join(body)
            status, size = response.status_code, len(first) + len(rest)
            if run == 0 and status == 200 and response.headers.get("content-type", "").startswith("application/json"):
                matched = json.loads(first + rest).get("numberMatched")
        if status != 200:
            break
        if run:
            times.append(elapsed * 1000)
    figures = {"status": status, "bytes": size, "matched": matched}
    if times:
        figures.update(ttfb_ms=statistics.median(times), min_ms=min(times), max_ms=max(times))
    return figures


def rendered(browser, base: str, key: str, path: str, renders: int) -> dict:
    """Seconds from ``goto`` until the load event and the page's list visible, cold each time."""
    from gisgrid.auth.access import COOKIE

    times, errors = [], []
    for _ in range(renders):
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                      has_touch=True, locale="zh-CN")
        context.add_cookies([{"name": COOKIE, "value": key, "url": base, "httpOnly": True, "sameSite": "Strict"}])
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        start = time.perf_counter()
        answer = page.goto(base + path, wait_until="load")
        if answer is None or answer.status != 200:
            context.close()
            return {"render_status": None if answer is None else answer.status}
        page.wait_for_selector(LIST_VISIBLE, state="visible", timeout=30_000)
        times.append(time.perf_counter() - start)
        context.close()
    return {"render_s": statistics.median(times), "render_max_s": max(times), "console_errors": len(errors)}


def verdict(row: dict) -> str:
    if row["status"] == 403:
        return "403: not for this role"
    if row["status"] != 200:
        return f"answered {row['status']}"
    return ""


def markdown(rows: list[dict], columns: list[str]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 10 else f"{value:,.0f}"
        return "" if value is None else str(value)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--now", type=datetime.fromisoformat, default=UNTIL,
                        help="the server's clock (ISO, with offset); default the end of the fill's year")
    parser.add_argument("--repeat", type=int, default=7, help="first-byte samples per path")
    parser.add_argument("--renders", type=int, default=3, help="cold Chromium loads per path")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--tabs", default=",".join(TABS), help="inbox tabs, comma-separated")
    parser.add_argument("--no-render", action="store_true", help="first bytes only")
    parser.add_argument("--no-stand-in", action="store_true", help="leave out the cases API's stand-ins")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    args = parser.parse_args()
    if args.now.tzinfo is None:
        raise SystemExit("--now needs an offset, e.g. 2026-11-01T00:00+08:00")
    tabs = [t for t in args.tabs.split(",") if t]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a plain kill still stops the server (finally)

    engine = engine_from(args)
    with engine.connect() as conn:
        if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM cases)")).scalar():
            raise SystemExit("the database holds no cases: run first\n  GISGRID_HOME=... nice .venv/bin/python "
                             "benchmarks/cases.py --fill-only   (see this script's docstring)")
        cases = conn.execute(text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'cases'")).scalar()
    where = places(engine, args.now)
    print(f"database {engine.url.render_as_string(hide_password=True)}: ~{cases:,} cases; clock {args.now.isoformat()}; "
          f"sub-district {where['subdistrict']}, community {where['community']}, grid {where['grid']}, case "
          f"{where['case_no']}; {os.cpu_count()} CPUs; {neighbours()}", flush=True)

    logdir = Path(tempfile.mkdtemp(prefix="gisgrid-desk-bench-"))
    env = {**os.environ, "GISGRID_CASE_SWEEP_SECONDS": "0", NOW_ENV: args.now.isoformat()}
    if args.database_url:
        env["GISGRID_DATABASE_URL"] = args.database_url
    server = Server("desk-serve", [sys.executable, "-m", "uvicorn", "desk:clocked_app", "--factory", "--app-dir",
                                   str(ROOT / "benchmarks"), "--port", "{port}", "--workers", str(args.workers),
                                   "--no-access-log", "--log-level", "warning"], env, "/health", logdir, cwd=ROOT)
    callers: dict[str, dict] = {}
    rows: list[dict] = []
    try:
        server.wait_ready(120)
        callers = desk_callers(engine, where)
        for role in ROLES:
            caller = callers[role]
            headers = {"Authorization": f"Bearer {caller['key']}"}
            print(f"\n{role} ({caller['username']}): first bytes, {args.repeat} samples per path ({neighbours()}) ...",
                  flush=True)
            with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
                for target in targets(where, role, caller["staff_id"], tabs):
                    row = {"role": role, "page": target["name"], "path": target["path"], "tab": target["tab"],
                           **first_byte(client, target["path"], args.repeat)}
                    if target["stand_in"] and not args.no_stand_in:
                        api = first_byte(client, target["stand_in"], args.repeat)
                        row.update(stand_in=target["stand_in"], api_status=api["status"], api_ms=api.get("ttfb_ms"),
                                   api_matched=api["matched"])
                    rows.append(row)
                    print(f"  {target['path']}: {row['status']} {row.get('ttfb_ms', 0):.0f} ms"
                          + (f"; stand-in {row['stand_in']}: {row['api_status']} {row['api_ms'] or 0:.0f} ms, "
                             f"{row['api_matched']} matched" if row.get("stand_in") else ""), flush=True)
        if not args.no_render:
            from playwright.sync_api import sync_playwright

            executable = shutil.which("chromium") or shutil.which("chromium-browser")
            print(f"\nrendered in Chromium, {args.renders} cold loads per page that answers 200 ({neighbours()}) ...",
                  flush=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
                for row in rows:
                    if row["status"] == 200:
                        row.update(rendered(browser, server.base, callers[row["role"]]["key"], row["path"], args.renders))
                browser.close()
    finally:
        server.stop()
        if callers:
            revoke(engine, callers)

    for row in rows:
        row["note"] = verdict(row)
        if "ttfb_ms" in row:
            row["ttfb / bar"] = row["ttfb_ms"] / TTFB_BAR_MS
        if "render_s" in row:
            row["render / bar"] = row["render_s"] / RENDER_BAR_S
        if row.get("api_ms") is not None:
            row["stand-in / bar"] = row["api_ms"] / TTFB_BAR_MS
    columns = ["role", "page", "status", "ttfb_ms", "ttfb / bar", "render_s", "render / bar", "console_errors",
               "stand_in", "api_ms", "stand-in / bar", "api_matched", "note"]
    print(f"\nmedians (bar: first byte {TTFB_BAR_MS:.0f} ms, rendered {RENDER_BAR_S} s; ratio under 1 meets it):")
    print(table(rows, columns))
    built = [r for r in rows if r["tab"] and r["status"] == 200]
    missed = [r for r in built if r.get("ttfb / bar", 0) >= 1 or r.get("render / bar", 0) >= 1]
    over = ", ".join(f"{r['role']} {r['page']}" for r in missed) or "none"
    print(f"\ninbox tabs answering: {len(built)} of {sum(r['tab'] for r in rows)}; over the bar: {over}"
          + f" ({neighbours()})")
    stand_ins = [r for r in rows if r.get("api_ms") is not None]
    if stand_ins:
        worst = max(stand_ins, key=lambda r: r["api_ms"])
        print(f"stand-ins (GET /cases): median of medians {statistics.median(r['api_ms'] for r in stand_ins):.0f} ms, "
              f"slowest {worst['role']} {worst['stand_in']} {worst['api_ms']:.0f} ms ({worst['api_ms'] / TTFB_BAR_MS:.2f} x the bar)")
    if args.json:
        args.json.write_text(json.dumps({"now": args.now.isoformat(), "places": where, "rows": rows}, indent=1,
                                        default=str, ensure_ascii=False))
    if args.markdown:
        args.markdown.write_text(markdown(rows, columns) + "\n")


if __name__ == "__main__":
    main()
