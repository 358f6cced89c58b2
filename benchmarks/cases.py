"""Benchmark (issue 6): a year of cases for a city — intake throughput through the API, the
city-wide weekly summary and the monthly assessment, with medians and peak memory.

    GISGRID_HOME=/tmp/gisgrid-cases .venv/bin/python benchmarks/cases.py [--database-url URL]
        [--cases 3000000] [--until 2026-11-01T00:00+08:00] [--seed 6] [--refill] [--fill-only]
        [--intake 5000] [--retries 2000] [--racing 250] [--clients 16] [--workers 2] [--skip-intake]
        [--repeat 5] [--explain-over 3] [--reports weekly-city,...] [--skip-reports]
        [--try-index 'CREATE INDEX name ON ...' ...]

Prerequisite (the script does not build the city itself; it stops and prints this when the
database holds no buildings): a city from the demo generator without residents and cases,

    GISGRID_HOME=/tmp/gisgrid-cases .venv/bin/gisgrid demo --sub-districts 200 --no-residents --no-cases --load-only

(6-9 min on 2 cores: 200 sub-districts, ~77,000 grids, ~325,000 buildings, ~5 million households).

1. Fill. ``--cases`` cases (default 3,000,000) over the year before ``--until`` (default 2026-11-01
   00:00 Asia/Shanghai, the demo generator's REFERENCE_TIME) are generated in SQL, one calendar
   month per transaction (INSERT ... SELECT over generate_series, ``random()`` after
   ``setseed(--seed)``): a weekly rhythm (Monday 1.3x ... Sunday 0.5x) and a season, reports around
   10:30 and 15:00; the place near a building (~12 m Gaussian; 25 % at 1 % of the buildings —
   markets, school gates — ~30 m; 1 % in 40 short-lived weekly bursts, so the hot-spot figure
   has something to find), the grids of every level taken from the building (``buildings.grid_lN_id``,
   not a spatial join of each case point); category, sub-type and title weighted as the demo does
   (``gisgrid.demo.names``), deadlines per sub-type from ``case_categories`` or the settings. Each case
   gets the event timeline the workflow would have written (``_Cases._loop`` of the demo
   generator): reported → registered → dispatched (to the L2 grid's lead) → in_progress → handled →
   verified → closed, 4 % rejected and 2 % duplicates after 0.5-6 h, 3 % reopened (verified →
   dispatched → ... → closed), 2 % stalled in handling for weeks; every stage's deadline in working
   hours of the settings' work calendar (compiled into two SQL functions and checked against
   ``work_calendar().add``), ``due_at`` / ``on_time`` on the step that ends it; a handling deadline
   passed while the case is with the L2 lead escalates it 5 minutes later (the sweep) to the
   community's lead, a second one to the leading group's head (``escalate_overdue``); reopened
   cases are not escalated again. Steps after ``--until`` do not happen, so the latest cases (and
   the stalled ones) are still open; 90 % of closures carry a satisfaction rating. Case numbers
   continue per sub-district and year (``case_numbers`` is kept up to date for the API's intake),
   tracking codes are unique. The fill runs with ``session_replication_role = replica`` (no
   foreign-key checks, no tile-cache triggers; the rows are consistent by construction), then
   ``VACUUM ANALYZE``. A month that already holds cases is skipped: re-runs reuse the data.
2. Intake: ``gisgrid serve --workers N`` (real uvicorn, own process group, the overdue sweep off
   with ``GISGRID_CASE_SWEEP_SECONDS=0`` so nothing else writes), then ``--intake`` POST /cases from
   ``--clients`` threads (httpx, keep-alive), a fresh Idempotency-Key each, points from
   ``ST_GeneratePoints`` inside the sub-districts (a few may fall in no grid, as in life; the server
   migrates the database to head first; every request carries the API key of a city-wide benchmark
   administrator made in it after that, ``common.benchmark_caller``, revoked at the end). Then a
   retry storm (``--retries`` of those keys sent again: 200 + Idempotent-Replayed, the same case
   number) and racing duplicates (``--racing`` new reports, each sent 4x at once: one 201, three
   replays). Reported: requests/s, median / p95 / p99 latency, errors (must be 0), CPU seconds of
   the server's processes and of the PostgreSQL cluster (from /proc) per request, and the check
   that the database holds exactly intake + racing new cases, one event each. Then, in this
   process, ``workflow.intake`` on 50 more reports, each rolled back: its statements by cost, and
   EXPLAIN (ANALYZE, BUFFERS) of the costliest (also rolled back) — where an intake's time goes.
3. Weekly summary, city-wide (``weekly(session, None, week, now, None)``) and for one sub-district, for
   the last full ISO week before ``--until``; 4. the assessment of the last full month before
   ``--until``, city-wide, ``by='grid'`` and ``by='worker'``. Each report kind runs in its own child
   process (this script with ``--child``), ``--repeat`` times; reported: median, min, max and the
   first run, the child's peak RSS (``ru_maxrss``: the report's own memory, not the fill's), its
   CPU and the database's CPU per run, and the three slowest statements. Then once each over HTTP
   (the server above; ``now`` is the server's clock, the in-process runs use the wall clock too).
5. A report slower than ``--explain-over`` seconds gets EXPLAIN (ANALYZE, BUFFERS) of its slowest
   statement printed. ``--try-index 'CREATE INDEX name ON ...'`` (repeatable) runs each report
   without the index, creates it in the benchmark database, runs the report with it and drops it
   again (min(--repeat, 3) runs each, back to back so both sides see the same load on a shared
   machine); ``--try-index 'SET work_mem = 256MB'`` does the same with a setting given to the
   report's connections (PGOPTIONS). The schema is never changed otherwise. ``--refill`` empties the case tables first (a
   benchmark database only) so that the fill is timed again; without it a re-run reuses the data.

Every phase prints the load average (and other benchmarks/*.py found running): the figures are
wall-clock times on a machine that may be shared.

Peak memory of the whole script: ``/usr/bin/time -v .venv/bin/python benchmarks/cases.py ...``
("Maximum resident set size"); the database's memory is not included anywhere (work_mem bounds it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).parent))

import httpx  # noqa: E402
from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from gisgrid.cases.calendar import work_calendar  # noqa: E402
from gisgrid.core.scope import WHOLE  # noqa: E402
from gisgrid.core.settings import get_settings  # noqa: E402
from gisgrid.demo import names  # noqa: E402

from common import (  # noqa: E402
    Caller,
    Server,
    benchmark_caller,
    cluster_cpu,
    database_arg,
    engine_from,
    median,
    neighbours,
    postmaster_pid,
    quantile,
    self_cpu,
    table,
    tree_cpu,
)

ROOT = Path(__file__).resolve().parents[1]
UNTIL = datetime(2026, 11, 1, tzinfo=ZoneInfo("Asia/Shanghai"))  # the demo generator's REFERENCE_TIME
WEEKDAY = (1.3, 1.1, 1.05, 1.0, 0.95, 0.6, 0.5)  # Monday first, as the demo
HOT_EVERY = 100      # every 100th building (1 %) is a hot spot ...
HOT_SHARE = 0.25     # ... drawing 25 % of the cases
BURST_SHARE = 0.01   # 1 % of the cases go to one of BURSTS spots that change every week
BURSTS = 40
REPORT_KINDS = ("weekly-city", "weekly-subdistrict", "assessment-grid", "assessment-worker")


# --- the work calendar in SQL -------------------------------------------------------------------

def calendar_functions(first: date, last: date) -> list[str]:
    """Two SQL functions (temporary, this session) for the settings' work calendar between
    ``first`` and ``last``: ``pg_temp.wpos(t)`` the working minutes before ``t`` counted from
    ``first``, and ``pg_temp.wat(m)`` its inverse (the moment the m-th working minute ends). So a
    deadline of h working hours from t is ``wat(wpos(t) + 60 h)``, as ``WorkCalendar.add`` gives it.
    Both are single expressions over constant arrays, which PostgreSQL inlines into the query."""
    cal = work_calendar()
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    before, working, workdays = [], [], []
    for day in days:
        before.append(len(workdays))
        working.append(int(cal.is_workday(day)))
        if working[-1]:
            workdays.append(day)
    periods = [(b.hour * 60 + b.minute + b.second / 60, e.hour * 60 + e.minute + e.second / 60)
               for b, e in cal.periods]
    per_day = sum(e - b for b, e in periods)
    zone = cal.zone.key
    local = f"($1 AT TIME ZONE '{zone}')"
    tod = f"(extract(epoch FROM {local}::time) / 60.0)"
    worked = " + ".join(f"least(greatest({tod} - {b}, 0), {e - b})" for b, e in periods)
    index = f"({local}::date - DATE '{first}' + 1)"
    arr = lambda values, kind: "'{" + ",".join(str(v) for v in values) + "}'::" + kind  # noqa: E731
    wpos = (f"SELECT ({arr(before, 'int[]')})[{index}] * {per_day}::float8 "
            f"+ ({arr(working, 'int[]')})[{index}] * ({worked})")
    # the day holding working minute m (1-based among workdays) and the minute within it, in (0, L]
    day_no = f"ceil($1 / {per_day})::int"
    rest = f"($1 - (ceil($1 / {per_day}) - 1) * {per_day})"
    cases, done = [], 0.0
    for b, e in periods:
        cases.append(f"WHEN {rest} <= {done + e - b} THEN {b - done} + {rest}")
        done += e - b
    minute = "CASE " + " ".join(cases) + " END"
    wat = (f"SELECT (({arr(workdays, 'date[]')})[{day_no}] + ({minute}) * interval '1 minute') "
           f"AT TIME ZONE '{zone}'")
    return [
        f"CREATE OR REPLACE FUNCTION pg_temp.wpos(timestamptz) RETURNS float8 LANGUAGE sql IMMUTABLE AS $f$ {wpos} $f$",
        f"CREATE OR REPLACE FUNCTION pg_temp.wat(float8) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $f$ {wat} $f$",
    ]


def check_calendar(conn, start: datetime, until: datetime, seed: int) -> int:
    """The SQL deadlines against ``WorkCalendar.add`` on random moments; returns the samples checked."""
    cal, rng = work_calendar(), random.Random(seed)
    span = (until - start).total_seconds()
    samples = [(start + timedelta(seconds=rng.uniform(0, span)), rng.choice([0.5, 1, 2, 4, 8, 16, 40]))
               for _ in range(500)]
    samples += [(datetime.combine(start.date() + timedelta(days=rng.randrange(360)), datetime.min.time(),
                                  cal.zone) + timedelta(hours=h), 4.0) for h in (8.5, 12, 13.5, 17.5, 20)
                for _ in range(20)]
    rows = conn.execute(text("SELECT pg_temp.wat(pg_temp.wpos(t) + h * 60) FROM unnest(CAST(:t AS timestamptz[]), "
                             "CAST(:h AS float8[])) AS s(t, h)"),
                        {"t": [t for t, _ in samples], "h": [float(h) for _, h in samples]}).scalars().all()
    for (t, h), got in zip(samples, rows, strict=True):
        want = cal.add(t, h)
        if got is None or abs((got - want).total_seconds()) > 1:
            raise SystemExit(f"the SQL work calendar is off: {t} + {h} h gave {got}, WorkCalendar.add {want}")
    return len(samples)


# --- the fill -----------------------------------------------------------------------------------

def day_plan(total: int, start: datetime, until: datetime) -> list[tuple[datetime, int, int]]:
    """(local midnight, cases that day, ISO week number yyyyww) for every day of the year, the
    counts summing to ``total``: weekday rhythm and a season, as the demo generator has them."""
    zone = start.tzinfo
    days = []
    day = start.date()
    while day < until.date():
        days.append(day)
        day += timedelta(days=1)
    weights = [WEEKDAY[d.weekday()] * (1 + 0.2 * math.sin(2 * math.pi * (k - 100) / 365))
               for k, d in enumerate(days)]
    scale, out, cumulative, given = total / sum(weights), [], 0.0, 0
    for d, w in zip(days, weights, strict=True):
        cumulative += w * scale
        n = round(cumulative) - given
        given += n
        year, week, _ = d.isocalendar()
        out.append((datetime.combine(d, datetime.min.time(), zone), n, year * 100 + week))
    return out


def months(start: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    out, lo = [], start
    while lo < until:
        nxt = (lo.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((lo, min(nxt, until)))
        lo = nxt
    return out


def kinds(conn) -> list[dict]:
    """(category, sub-type, title) with the demo's weights and the sub-type's deadlines."""
    defaults = get_settings().case_deadlines
    hours = {r.code: r for r in conn.execute(text("""
        SELECT s.code, coalesce(s.register_hours, c.register_hours) AS register,
               coalesce(s.dispatch_hours, c.dispatch_hours) AS dispatch,
               coalesce(s.handle_hours, c.handle_hours) AS handle, coalesce(s.close_hours, c.close_hours) AS close
        FROM case_categories s JOIN case_categories c ON c.code = s.parent_code"""))}
    out = []
    for category, (weight, subtypes) in names.CASE_TITLES.items():
        for subtype, titles in subtypes.items():
            code = f"{category}.{subtype}"
            row = hours.get(code)
            if row is None:
                continue
            for title in titles:
                out.append({"category": category, "subtype": code, "title": title,
                            "weight": weight / len(subtypes) / len(titles),
                            **{stage: float(getattr(row, stage) or defaults[stage])
                               for stage in ("register", "dispatch", "handle", "close")}})
    return out


SETUP = """
CREATE TEMP TABLE bench_b ON COMMIT PRESERVE ROWS AS
    SELECT row_number() OVER (ORDER BY b.id)::int AS n, b.id, b.subdistrict_code AS sd,
           b.grid_l1_id AS l1, b.grid_l2_id AS l2, b.grid_l3_id AS l3, ST_X(b.geom) AS x, ST_Y(b.geom) AS y
    FROM buildings b WHERE b.grid_l1_id IS NOT NULL AND b.grid_l2_id IS NOT NULL;
CREATE UNIQUE INDEX ON bench_b (n);
CREATE TEMP TABLE bench_l2 ON COMMIT PRESERVE ROWS AS
    SELECT g.id AS l2,
           (SELECT a.staff_id FROM grid_assignments a WHERE a.grid_id = g.id AND a.role = 'grid_lead' LIMIT 1) AS lead,
           w.staff_id AS worker, w.name AS worker_name
    FROM grids g LEFT JOIN LATERAL (
        SELECT a.staff_id, s.name FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
        WHERE a.grid_id = g.id AND a.role = 'full_time_worker' ORDER BY a.staff_id LIMIT 1) w ON true
    WHERE g.level = 2;
CREATE TEMP TABLE bench_l1 ON COMMIT PRESERVE ROWS AS
    SELECT a.grid_id AS l1, a.staff_id AS lead FROM grid_assignments a JOIN grids g ON g.id = a.grid_id
    WHERE g.level = 1 AND a.role = 'grid_lead';
CREATE TEMP TABLE bench_head ON COMMIT PRESERVE ROWS AS
    SELECT DISTINCT ON (subdistrict_code) subdistrict_code AS sd, staff_id AS head FROM leading_group_members
    ORDER BY subdistrict_code, is_head DESC, staff_id;
CREATE TEMP TABLE bench_days (day_start timestamptz, n int, week int) ON COMMIT PRESERVE ROWS;
CREATE TEMP TABLE bench_kind (k int PRIMARY KEY, category text, subtype text, title text,
    register float8, dispatch float8, handle float8, close float8) ON COMMIT PRESERVE ROWS;
CREATE TEMP TABLE bench_pick (slot int PRIMARY KEY, k int) ON COMMIT PRESERVE ROWS;
ANALYZE bench_b; ANALYZE bench_l2; ANALYZE bench_l1; ANALYZE bench_head
"""

# One month of cases: per case the random draws, the place and the people, the wall-clock times
# of every step, their positions in working minutes, the deadlines, the escalations (each layer
# behind OFFSET 0 so the calendar functions get plain columns and stay inlined).
CASES_OF_MONTH = """
CREATE TEMP TABLE fc ON COMMIT DROP AS
WITH r AS MATERIALIZED (
    SELECT d.day_start, d.week, random() AS uh, 1 - random() AS un1, random() AS un2, random() AS ub,
           random() AS uplace, 1 - random() AS ux1, random() AS ux2, random() AS uk, random() AS urep,
           random() AS uname, random() AS uo, random() AS ure, random() AS uhl, random() AS s1, random() AS s2,
           random() AS s3, random() AS s4, random() AS s5, random() AS s6, random() AS s7, random() AS s8,
           random() AS s9, random() AS s10, random() AS usat, random() AS ustar
    FROM bench_days d CROSS JOIN LATERAL generate_series(1, d.n) g
    WHERE d.day_start >= :lo AND d.day_start < :hi
), placed AS (
    SELECT r.*, r.day_start + make_interval(secs => 3600 * least(21.5, greatest(7.5,
               CASE WHEN r.uh < 0.5 THEN 10.5 ELSE 15.0 END + 1.6 * sqrt(-2 * ln(r.un1)) * cos(2 * pi() * r.un2))))
               AS t_rep,
           CASE WHEN r.uplace < :hot_share THEN :hot_every * (1 + floor(r.ub * (:buildings / :hot_every)))::int
                WHEN r.uplace < :hot_share + :burst_share
                    THEN 1 + abs(hashtext(r.week || ':' || floor(r.ub * :bursts)::int)::bigint) % :buildings
                ELSE 1 + floor(r.ub * :buildings)::int END AS bn,
           CASE WHEN r.uplace < :hot_share THEN 30.0 ELSE 12.0 END AS spread,
           CASE WHEN r.uo < 0.04 THEN 'rejected' WHEN r.uo < 0.06 THEN 'duplicate' END AS early,
           r.uo >= 0.06 AND r.uo < 0.08 AS stalled
    FROM r
), walls AS (
    SELECT p.*, b.id AS building_id, b.sd, b.l1, b.l2, b.l3,
           ST_SetSRID(ST_MakePoint(
               b.x + p.spread * sqrt(-2 * ln(p.ux1)) * cos(2 * pi() * p.ux2) / (111320 * cos(radians(b.y))),
               b.y + p.spread * sqrt(-2 * ln(p.ux1)) * sin(2 * pi() * p.ux2) / 111320), 4326) AS geom,
           k.category, k.subtype, k.title, k.register, k.dispatch, k.handle, k.close,
           l2.lead AS l2_lead, l2.worker, l2.worker_name, l1.lead AS l1_lead, h.head,
           p.early IS NULL AS loop, p.early IS NULL AND NOT p.stalled AND p.ure < 0.03 AS reopen,
           p.t_rep + (0.5 + 5.5 * p.s1) * interval '1 hour' AS t_end,
           p.t_rep + (0.3 + 3.7 * p.s1) * interval '1 hour' AS t_reg
    FROM placed p JOIN bench_b b ON b.n = p.bn JOIN bench_pick kp ON kp.slot = floor(p.uk * 1000)::int
    JOIN bench_kind k ON k.k = kp.k LEFT JOIN bench_l2 l2 ON l2.l2 = b.l2 LEFT JOIN bench_l1 l1 ON l1.l1 = b.l1
    LEFT JOIN bench_head h ON h.sd = b.sd
), walls2 AS (
    SELECT w.*, w.t_reg + (0.3 + 7.7 * w.s2) * interval '1 hour' AS t_disp FROM walls w
), walls3 AS (
    SELECT w.*, w.t_disp + (1 + 23 * w.s3) * interval '1 hour' AS t_inp FROM walls2 w
), walls4 AS (
    SELECT w.*, w.t_inp + CASE WHEN w.stalled THEN 200 + 2800 * w.s4 WHEN w.uhl < 0.85 THEN 1 + 11 * w.s4
                               ELSE 12 + 60 * w.s4 END * interval '1 hour' AS t_hdl FROM walls3 w
), walls5 AS (
    SELECT w.*, w.t_hdl + (1 + 23 * w.s5) * interval '1 hour' AS t_ver FROM walls4 w
), walls6 AS (
    SELECT w.*, CASE WHEN w.reopen THEN w.t_ver + (0.3 + 7.7 * w.s6) * interval '1 hour' END AS t_rd FROM walls5 w
), walls7 AS (
    SELECT w.*, w.t_rd + (1 + 23 * w.s7) * interval '1 hour' AS t_rin FROM walls6 w
), walls8 AS (
    SELECT w.*, w.t_rin + (1 + 23 * w.s8) * interval '1 hour' AS t_rh FROM walls7 w
), walls9 AS (
    SELECT w.*, w.t_rh + (1 + 23 * w.s9) * interval '1 hour' AS t_rv FROM walls8 w
), walls10 AS (
    SELECT w.*, coalesce(w.t_rv, w.t_ver) + (0.5 + 23.5 * w.s10) * interval '1 hour' AS t_clo FROM walls9 w
), pos AS (
    SELECT w.*, pg_temp.wpos(w.t_rep) AS p_rep, pg_temp.wpos(w.t_reg) AS p_reg, pg_temp.wpos(w.t_disp) AS p_disp,
           pg_temp.wpos(w.t_hdl) AS p_hdl, pg_temp.wpos(w.t_rd) AS p_rd, pg_temp.wpos(w.t_rh) AS p_rh
    FROM (SELECT * FROM walls10 OFFSET 0) w
), dues AS (
    SELECT p.*, pg_temp.wat(p.p_rep + 60 * p.register) AS due_r, pg_temp.wat(p.p_reg + 60 * p.dispatch) AS due_d,
           pg_temp.wat(p.p_disp + 60 * p.handle) AS due_h, pg_temp.wat(p.p_hdl + 60 * p.close) AS due_c,
           pg_temp.wat(p.p_rd + 60 * p.handle) AS due_h2r, pg_temp.wat(p.p_rh + 60 * p.close) AS due_c2r
    FROM (SELECT * FROM pos OFFSET 0) p
), esc1 AS (
    SELECT d.*, d.loop AND d.l1_lead IS NOT NULL AND d.due_h + interval '5 minutes' < least(d.t_hdl, :until)
               AS esc1, d.due_h + interval '5 minutes' AS e1_at
    FROM (SELECT * FROM dues OFFSET 0) d
), esc1p AS (
    SELECT e.*, pg_temp.wpos(e.e1_at) AS p_e1 FROM (SELECT * FROM esc1 OFFSET 0) e
), esc2 AS (
    SELECT e.*, pg_temp.wat(e.p_e1 + 60 * e.handle) AS due_h1 FROM (SELECT * FROM esc1p OFFSET 0) e
), esc2b AS (
    SELECT e.*, e.esc1 AND e.head IS NOT NULL AND e.due_h1 + interval '5 minutes' < least(e.t_hdl, :until) AS esc2,
           e.due_h1 + interval '5 minutes' AS e2_at
    FROM (SELECT * FROM esc2 OFFSET 0) e
), esc2p AS (
    SELECT e.*, pg_temp.wpos(e.e2_at) AS p_e2 FROM (SELECT * FROM esc2b OFFSET 0) e
), done AS (
    SELECT e.*, pg_temp.wat(e.p_e2 + 60 * e.handle) AS due_h0 FROM (SELECT * FROM esc2p OFFSET 0) e
)
SELECT d.*, {resident} AS resident, :id_base + row_number() OVER (ORDER BY d.t_rep, d.bn, d.uk) AS id,
       extract(year FROM d.t_rep AT TIME ZONE :zone)::int AS yr
FROM done d
"""

NUMBERED = """
CREATE TEMP TABLE fn ON COMMIT DROP AS
SELECT f.id, f.sd, f.yr, coalesce(cn.last_serial, 0) + row_number() OVER (PARTITION BY f.sd, f.yr ORDER BY f.id)
       AS serial
FROM fc f LEFT JOIN case_numbers cn ON cn.subdistrict_code = f.sd AND cn.year = f.yr
"""

# Every step of the month's cases up to --until: who holds the case after it, the deadline of the
# stage it ends and whether it was met, and what runs after it (for the case row's final state).
EVENTS_OF_MONTH = """
CREATE TEMP TABLE fe ON COMMIT DROP AS
SELECT f.id AS case_id, v.ord, v.at, v.from_s, v.to_s, v.kind, v.actor, v.note, v.actor_staff,
       v.assignee, v.level, v.grid, v.due, v.due_after,
       ((f.esc1 AND v.at >= f.e1_at)::int + (f.esc2 AND v.at >= f.e2_at)::int) AS escalations,
       (f.reopen AND v.at >= f.t_rd)::int AS reopens
FROM fc f CROSS JOIN LATERAL (
    SELECT x.*, CASE WHEN f.esc2 AND x.at >= f.e2_at THEN f.head WHEN f.esc1 AND x.at >= f.e1_at THEN f.l1_lead
                     ELSE f.l2_lead END AS holder,
           CASE WHEN f.esc2 AND x.at >= f.e2_at THEN 0 WHEN f.esc1 AND x.at >= f.e1_at THEN 1 ELSE 2 END AS hlevel,
           CASE WHEN f.esc2 AND x.at >= f.e2_at THEN NULL WHEN f.esc1 AND x.at >= f.e1_at THEN f.l1
                ELSE f.l2 END AS hgrid,
           CASE WHEN f.esc2 AND x.at >= f.e2_at THEN f.due_h0 WHEN f.esc1 AND x.at >= f.e1_at THEN f.due_h1
                ELSE f.due_h END AS hdue
    FROM (VALUES
        (1, f.t_rep, NULL, 'reported', 'transition', NULL),
        (2, CASE WHEN NOT f.loop THEN f.t_end END, 'reported', f.early, 'transition', 'r'),
        (3, CASE WHEN f.loop THEN f.t_reg END, 'reported', 'registered', 'transition', 'r'),
        (4, CASE WHEN f.loop THEN f.t_disp END, 'registered', 'dispatched', 'transition', 'd'),
        (5, CASE WHEN f.loop THEN f.t_inp END, 'dispatched', 'in_progress', 'transition', NULL),
        (6, CASE WHEN f.esc1 THEN f.e1_at END, CASE WHEN f.t_inp <= f.e1_at THEN 'in_progress' ELSE 'dispatched' END,
            CASE WHEN f.t_inp <= f.e1_at THEN 'in_progress' ELSE 'dispatched' END, 'escalation', 'h'),
        (7, CASE WHEN f.esc2 THEN f.e2_at END, CASE WHEN f.t_inp <= f.e2_at THEN 'in_progress' ELSE 'dispatched' END,
            CASE WHEN f.t_inp <= f.e2_at THEN 'in_progress' ELSE 'dispatched' END, 'escalation', 'h1'),
        (8, CASE WHEN f.loop THEN f.t_hdl END, 'in_progress', 'handled', 'transition', 'H'),
        (9, CASE WHEN f.loop THEN f.t_ver END, 'handled', 'verified', 'transition', NULL),
        (10, f.t_rd, 'verified', 'dispatched', 'transition', 'c'),
        (11, f.t_rin, 'dispatched', 'in_progress', 'transition', NULL),
        (12, f.t_rh, 'in_progress', 'handled', 'transition', 'h2'),
        (13, f.t_rv, 'handled', 'verified', 'transition', NULL),
        (14, CASE WHEN f.loop THEN f.t_clo END, 'verified', 'closed', 'transition', CASE WHEN f.reopen THEN 'c2' ELSE 'c' END)
    ) AS x(ord, at, from_s, to_s, kind, ends)
) w CROSS JOIN LATERAL (SELECT
    w.ord, w.at, w.from_s, w.to_s, w.kind,
    CASE WHEN w.kind = 'escalation' THEN '系统（超期上报） / system: deadline'
         WHEN w.to_s = 'reported' THEN CASE WHEN f.worker IS NOT NULL AND f.urep < 0.8 THEN f.worker_name
                                            ELSE f.resident END
         WHEN w.to_s IN ('in_progress', 'handled') THEN '网格员' WHEN w.to_s = 'verified' THEN '网格督查员'
         ELSE '街道网格化服务中心' END AS actor,
    CASE WHEN w.kind = 'escalation' THEN '超期自动上报 / escalated automatically: the deadline passed. '
         WHEN w.ord = 10 THEN '核查未通过，重新派遣'
         ELSE (:notes ::jsonb) ->> w.to_s END AS note,
    CASE WHEN w.to_s IN ('in_progress', 'handled') AND w.kind = 'transition' THEN w.holder END AS actor_staff,
    CASE WHEN w.ord IN (1, 2, 3) THEN NULL ELSE w.holder END AS assignee,
    CASE WHEN w.ord IN (1, 2, 3) THEN NULL ELSE w.hlevel END AS level,
    CASE WHEN w.ord IN (1, 2, 3) THEN NULL ELSE w.hgrid END AS grid,
    CASE w.ends WHEN 'r' THEN f.due_r WHEN 'd' THEN f.due_d WHEN 'h' THEN f.due_h WHEN 'h1' THEN f.due_h1
                WHEN 'H' THEN w.hdue WHEN 'c' THEN f.due_c WHEN 'h2' THEN f.due_h2r WHEN 'c2' THEN f.due_c2r END AS due,
    CASE WHEN w.to_s IN ('rejected', 'duplicate', 'closed') THEN NULL
         WHEN w.to_s = 'reported' THEN f.due_r WHEN w.to_s = 'registered' THEN f.due_d
         WHEN w.ord IN (10, 11) THEN f.due_h2r WHEN w.ord IN (12, 13) THEN f.due_c2r
         WHEN w.to_s IN ('dispatched', 'in_progress') THEN w.hdue ELSE f.due_c END AS due_after
) v
WHERE v.at IS NOT NULL AND v.at < :until
"""

INSERT_CASES = """
INSERT INTO cases (id, case_no, subdistrict_code, category_code, subtype_code, title, description, reporter_name,
    reporter_kind, reporter_staff_id, status, geom, grid_l1_id, grid_l2_id, grid_l3_id, satisfaction, reported_at,
    updated_at, closed_at, tracking_code, building_id, assignee_staff_id, handling_level, handling_grid_id, due_at,
    escalations, reopens)
SELECT f.id, f.sd || '-' || f.yr || '-' || lpad(n.serial::text, 6, '0'), f.sd, f.category, f.subtype, f.title,
       f.title || '，请及时处理。',
       CASE WHEN f.worker IS NOT NULL AND f.urep < 0.8 THEN f.worker_name ELSE f.resident END,
       CAST(CASE WHEN f.worker IS NOT NULL AND f.urep < 0.8 THEN 'grid_worker' ELSE 'resident' END AS reporter_kind),
       CASE WHEN f.worker IS NOT NULL AND f.urep < 0.8 THEN f.worker END,
       CAST(last.to_s AS case_status), f.geom, f.l1, f.l2, f.l3,
       CASE WHEN last.to_s = 'closed' AND f.usat < 0.9 THEN
            CASE WHEN f.ustar < 0.55 THEN 5 WHEN f.ustar < 0.85 THEN 4 WHEN f.ustar < 0.95 THEN 3
                 WHEN f.ustar < 0.98 THEN 2 ELSE 1 END END,
       f.t_rep, last.at, CASE WHEN last.to_s = 'closed' THEN last.at END,
       TRACKING,
       f.building_id, last.assignee, last.level, last.grid, last.due_after, last.escalations, last.reopens
FROM fc f JOIN fn n ON n.id = f.id
JOIN (SELECT DISTINCT ON (case_id) * FROM fe ORDER BY case_id, at DESC, ord DESC) last ON last.case_id = f.id
"""

INSERT_EVENTS = """
INSERT INTO case_events (id, case_id, at, from_status, to_status, actor, note, kind, actor_staff_id,
    assignee_staff_id, handling_level, due_at, on_time)
SELECT :event_base + row_number() OVER (ORDER BY e.case_id, e.at, e.ord), e.case_id, e.at,
       CAST(e.from_s AS case_status), CAST(e.to_s AS case_status), e.actor, e.note, e.kind, e.actor_staff,
       e.assignee, e.level, e.due, CASE WHEN e.due IS NOT NULL THEN e.at <= e.due END
FROM fe e ORDER BY e.case_id, e.at, e.ord
"""

# a tracking code from the id: x -> (x * odd + c) mod 2^50 is one-to-one, written as 10 base-32 digits
TRACKING = " || ".join(f"substr('23456789ABCDEFGHJKLMNPQRSTUVWXYZ', "
                       f"((((f.id * 1000003 + 7777777) % 1125899906842624) >> {5 * i}) & 31)::int + 1, 1)"
                       for i in range(10))
INSERT_CASES = INSERT_CASES.replace("TRACKING", TRACKING)

NOTES = {"reported": "网格巡查发现并上报", "registered": "核实后立案", "rejected": "不属于受理范围，不予立案",
         "duplicate": "与已有案件重复", "dispatched": "派遣至责任网格处置", "in_progress": "网格员到场处置",
         "handled": "处置完毕，反馈结果", "verified": "核查通过", "closed": "结案并回访"}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
         "霞", "平", "刚", "桂英", "建华", "玉兰", "文", "华", "红", "建国", "志强", "淑珍"]


def fill(engine, args) -> dict:
    """The year of cases, month by month; months already holding cases are skipped."""
    until = args.until
    start = until - timedelta(days=365)
    zone = work_calendar().zone.key
    plan = day_plan(args.cases, start, until)
    spent: dict[str, float] = defaultdict(float)
    filled = skipped = 0
    began = time.perf_counter()
    with engine.connect() as conn:
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        todo = [(lo, hi) for lo, hi in months(start, until) if not conn.execute(text(
            "SELECT EXISTS (SELECT 1 FROM cases WHERE reported_at >= :lo AND reported_at < :hi "
            "AND idempotency_key IS NULL)"), {"lo": lo, "hi": hi}).scalar()]
        skipped = len(months(start, until)) - len(todo)
        if not todo:
            conn.rollback()
            return {"filled_months": 0, "skipped_months": skipped, "seconds": 0.0}
        for statement in calendar_functions(start.date() - timedelta(days=7), until.date() + timedelta(days=90)):
            conn.execute(text(statement))
        checked = check_calendar(conn, start, until, args.seed)
        for statement in SETUP.split(";"):
            conn.execute(text(statement))
        conn.execute(text("INSERT INTO bench_days VALUES (:d, :n, :w)"),
                     [{"d": d, "n": n, "w": w} for d, n, w in plan])
        table_of_kinds = kinds(conn)
        conn.execute(text("INSERT INTO bench_kind VALUES (:k, :category, :subtype, :title, :register, :dispatch, "
                          ":handle, :close)"), [{"k": k, **row} for k, row in enumerate(table_of_kinds)])
        total_weight = sum(k["weight"] for k in table_of_kinds)
        picks, edge, acc = [], 0, 0.0
        for k, row in enumerate(table_of_kinds):
            acc += row["weight"] / total_weight * 1000
            while edge < min(round(acc), 1000):
                picks.append({"slot": edge, "k": k})
                edge += 1
        while edge < 1000:
            picks.append({"slot": edge, "k": len(table_of_kinds) - 1})
            edge += 1
        conn.execute(text("INSERT INTO bench_pick VALUES (:slot, :k)"), picks)
        buildings = conn.execute(text("SELECT count(*) FROM bench_b")).scalar()
        if not buildings:
            raise SystemExit("no building lies in an L1 and an L2 grid: nothing to place cases at")
        resident = ("(ARRAY[" + ",".join(f"'{s}'" for s in SURNAMES) + "])[1 + floor(d.uname * "
                    f"{len(SURNAMES)})::int] || (ARRAY[" + ",".join(f"'{g}'" for g in GIVEN) + "])[1 + floor("
                    f"d.ustar * {len(GIVEN)})::int]")
        conn.commit()
        print(f"fill: {args.cases:,} cases over {start:%Y-%m-%d} .. {until:%Y-%m-%d} ({len(todo)} months to do, "
              f"{skipped} present), {buildings:,} buildings to place them at, calendar checked on {checked} "
              f"moments; {'no FK checks/triggers (replica role)' if superuser else 'NOT superuser: FK checks on'}",
              flush=True)
        for number, (lo, hi) in enumerate(todo):
            month_began = time.perf_counter()
            if superuser:
                conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            conn.execute(text("SET LOCAL work_mem = '256MB'"))
            conn.execute(text("SELECT setseed(:s)"), {"s": ((args.seed * 1000 + lo.month + lo.year) % 1000) / 1000})
            id_base = conn.execute(text("SELECT greatest((SELECT coalesce(max(id), 0) FROM cases), "
                                        "(SELECT last_value FROM cases_id_seq))")).scalar()
            event_base = conn.execute(text("SELECT greatest((SELECT coalesce(max(id), 0) FROM case_events), "
                                           "(SELECT last_value FROM case_events_id_seq))")).scalar()
            params = {"lo": lo, "hi": hi, "until": until, "zone": zone, "id_base": id_base,
                      "hot_share": HOT_SHARE, "hot_every": HOT_EVERY, "burst_share": BURST_SHARE,
                      "bursts": BURSTS, "buildings": buildings}
            steps = [
                ("cases", CASES_OF_MONTH.format(resident=resident), params),
                ("numbers", NUMBERED, {}),
                ("events", EVENTS_OF_MONTH, {"until": until, "notes": json.dumps(NOTES, ensure_ascii=False)}),
                ("insert cases", INSERT_CASES, {}),
                ("insert events", INSERT_EVENTS, {"event_base": event_base}),
                ("numbers", """INSERT INTO case_numbers (subdistrict_code, year, last_serial)
                               SELECT sd, yr, max(serial) FROM fn GROUP BY sd, yr
                               ON CONFLICT (subdistrict_code, year) DO UPDATE
                               SET last_serial = greatest(case_numbers.last_serial, excluded.last_serial)""", {}),
                ("numbers", "SELECT setval('cases_id_seq', (SELECT max(id) FROM cases))", {}),
                ("numbers", "SELECT setval('case_events_id_seq', (SELECT max(id) FROM case_events))", {}),
            ]
            made = 0
            for label, sql, values in steps:
                step_began = time.perf_counter()
                result = conn.execute(text(sql), values)
                if label == "insert cases":
                    made = result.rowcount
                spent[label] += time.perf_counter() - step_began
            conn.commit()
            filled += made
            print(f"  {lo:%Y-%m}: {made:,} cases in {time.perf_counter() - month_began:.1f} s "
                  f"({number + 1}/{len(todo)}, {time.perf_counter() - began:.0f} s so far)", flush=True)
    vacuum_began = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) cases"))
        conn.execute(text("VACUUM (ANALYZE) case_events"))
        conn.execute(text("ANALYZE case_numbers"))
    with engine.begin() as conn:  # tile triggers were off (replica role): sweep the cache as the loader does
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('gisgrid.tiles'))"))
        conn.execute(text("DELETE FROM tile_cache"))
    spent["vacuum analyze"] = time.perf_counter() - vacuum_began
    return {"filled_months": len(todo), "skipped_months": skipped, "cases": filled,
            "seconds": time.perf_counter() - began, "steps": dict(spent)}


def data_profile(engine, until: datetime) -> dict:
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT count(*) AS cases, count(*) FILTER (WHERE status NOT IN ('closed', 'rejected', 'duplicate')) AS open,
                   count(*) FILTER (WHERE escalations > 0) AS escalated, count(*) FILTER (WHERE reopens > 0) AS reopened,
                   count(*) FILTER (WHERE status IN ('rejected', 'duplicate')) AS rejected,
                   count(*) FILTER (WHERE status NOT IN ('closed', 'rejected', 'duplicate') AND due_at < :until)
                       AS overdue, avg(satisfaction) AS satisfaction, min(reported_at) AS first, max(reported_at) AS last
            FROM cases"""), {"until": until}).mappings().one()
        events = conn.execute(text("""
            SELECT (SELECT reltuples::bigint FROM pg_class WHERE oid = 'case_events'::regclass) AS events,
                   (SELECT count(*) FROM case_events WHERE on_time = false AND at >= :lo AND at < :until) AS missed_month,
                   (SELECT count(*) FROM case_events WHERE on_time IS NOT NULL AND at >= :lo AND at < :until) AS judged_month
        """), {"lo": until - timedelta(days=30), "until": until}).mappings().one()
        sizes = conn.execute(text("""
            SELECT c.relname AS table, pg_size_pretty(pg_table_size(c.oid)) AS heap,
                   pg_size_pretty(pg_indexes_size(c.oid)) AS indexes, pg_total_relation_size(c.oid) AS bytes,
                   c.reltuples::bigint AS rows
            FROM pg_class c WHERE c.relname IN ('cases', 'case_events', 'buildings', 'grids', 'households')
            ORDER BY pg_total_relation_size(c.oid) DESC""")).mappings().all()
        database = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
        counts = conn.execute(text("""
            SELECT (SELECT count(*) FROM subdistricts) AS subdistricts,
                   (SELECT count(*) FROM grids WHERE retired_at IS NULL) AS grids,
                   (SELECT count(*) FROM grids WHERE retired_at IS NULL AND level = 2) AS l2,
                   (SELECT count(*) FROM buildings) AS buildings, (SELECT count(*) FROM staff) AS staff""")).mappings().one()
    return {**row, **events, "sizes": [dict(s) for s in sizes], "database": database, **counts}


# --- intake through the API ---------------------------------------------------------------------

def report_bodies(conn, count: int, seed: int) -> list[dict]:
    """Reports at random points inside the sub-districts, with the demo's categories and titles."""
    sds = conn.execute(text("SELECT count(*) FROM subdistricts")).scalar()
    # the point as sent (7 decimals) must still lie in a sub-district, or the API rightly says 422
    points = conn.execute(text("""
        SELECT lon, lat FROM (
            SELECT round(ST_X(p.geom)::numeric, 7)::float8 AS lon, round(ST_Y(p.geom)::numeric, 7)::float8 AS lat
            FROM subdistricts s, LATERAL ST_Dump(ST_GeneratePoints(s.boundary, :k, :seed)) p) q
        WHERE EXISTS (SELECT 1 FROM subdistricts s WHERE ST_Intersects(s.boundary, ST_SetSRID(ST_MakePoint(lon, lat), 4326)))
        """), {"k": count // max(sds, 1) + 3, "seed": seed}).all()
    rng = random.Random(seed)
    rng.shuffle(points)
    choices = kinds(conn)
    weights = [k["weight"] for k in choices]
    out = []
    for lon, lat in points[:count]:
        kind = rng.choices(choices, weights)[0]
        out.append({"category": kind["category"], "subtype": kind["subtype"], "title": kind["title"],
                    "description": f"{kind['title']}，请及时处理。（基准测试）",
                    "location": {"lon": lon, "lat": lat},
                    "reporter_name": rng.choice(SURNAMES) + rng.choice(GIVEN), "reporter_kind": "grid_worker"})
    if len(out) < count:
        raise SystemExit(f"only {len(out)} points generated for {count} reports")
    return out


class Load:
    """One pass of POSTs from a thread pool: latencies, statuses, CPU of server, database, client."""

    def __init__(self, name: str):
        self.name, self.latencies, self.status = name, [], Counter()
        self.samples: list[str] = []
        self.case_no: dict[str, set[str]] = defaultdict(set)
        self.replayed = 0
        self.seconds = self.server_cpu = self.db_cpu = self.client_cpu = 0.0

    def run(self, client: httpx.Client, jobs: list[tuple[str, dict]], clients: int, server_pid: int,
            db_pid: int | None) -> Load:
        lock = threading.Lock()

        def post(job: tuple[str, dict]) -> None:
            key, body = job
            began = time.perf_counter()
            try:
                response = client.post("/cases", json=body, headers={"Idempotency-Key": key})
                spent, status = time.perf_counter() - began, response.status_code
                case_no = response.json().get("case_no") if status in (200, 201) else None
                error = None if status in (200, 201) else f"{status}: {response.text[:300]}"
                replayed = response.headers.get("Idempotent-Replayed") == "true"
            except httpx.HTTPError as exc:
                spent, status, case_no, replayed = time.perf_counter() - began, "exception", None, False
                error = f"{type(exc).__name__}: {exc}"
            with lock:
                self.latencies.append(spent)
                self.status[status] += 1
                self.replayed += replayed
                if case_no:
                    self.case_no[key].add(case_no)
                if error and len(self.samples) < 5:
                    self.samples.append(error)

        app0, db0, me0 = tree_cpu(server_pid), cluster_cpu(db_pid), self_cpu()
        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, jobs))
        self.seconds = time.perf_counter() - began
        self.server_cpu = tree_cpu(server_pid) - app0
        self.db_cpu = cluster_cpu(db_pid) - db0 if db_pid else float("nan")
        self.client_cpu = self_cpu() - me0
        return self

    def row(self, expect: str) -> dict:
        n = max(len(self.latencies), 1)
        errors = sum(v for k, v in self.status.items() if k not in (200, 201))
        return {"pass": self.name, "requests": len(self.latencies), "201": self.status[201], "200": self.status[200],
                "errors": errors, "req/s": f"{len(self.latencies) / self.seconds:,.1f}",
                "p50 ms": f"{median(self.latencies) * 1000:.1f}",
                "p95 ms": f"{quantile(self.latencies, 0.95) * 1000:.1f}",
                "p99 ms": f"{quantile(self.latencies, 0.99) * 1000:.1f}",
                "max ms": f"{max(self.latencies) * 1000:.0f}",
                "server cpu ms/req": f"{self.server_cpu * 1000 / n:.1f}",
                "db cpu ms/req": f"{self.db_cpu * 1000 / n:.1f}", "client cpu ms/req": f"{self.client_cpu * 1000 / n:.1f}",
                "expected": expect}


def intake(engine, server: Server, caller: Caller, args, db_pid: int | None) -> tuple[list[dict], list[str]]:
    run = f"bench-{int(time.time())}-{os.getpid()}"
    with engine.connect() as conn:
        bodies = report_bodies(conn, args.intake + args.racing, args.seed)
        before = conn.execute(text("SELECT count(*) FROM cases")).scalar()
    fresh = [(f"{run}-{i:07d}", body) for i, body in enumerate(bodies[:args.intake])]
    rng = random.Random(args.seed)
    notes: list[str] = []
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    headers = {"X-Actor": "benchmark", **caller.headers}
    with httpx.Client(base_url=server.base, limits=limits, headers=headers, timeout=120) as client:
        warm = Load("warm-up").run(client, [(f"{run}-warm-{i}", b) for i, b in enumerate(bodies[:args.clients * 2])],
                                   args.clients, server.proc.pid, db_pid)
        created = Load("intake: new reports").run(client, fresh, args.clients, server.proc.pid, db_pid)
        retries = rng.sample(fresh, min(args.retries, len(fresh)))
        storm = Load("retry storm: same key again").run(client, retries, args.clients, server.proc.pid, db_pid)
        racing = [(f"{run}-race-{i:05d}", body) for i, body in enumerate(bodies[args.intake:])]
        jobs = [job for job in racing for _ in range(4)]   # the four copies of a report sit side by side
        race = Load("racing duplicates: 4x at once").run(client, jobs, args.clients, server.proc.pid, db_pid)
    first = {key: created.case_no[key] for key, _ in fresh}
    mismatched = sum(1 for key, _ in retries if storm.case_no[key] != first[key])
    split = sum(1 for key, _ in racing if len(race.case_no[key]) != 1)
    if race.status[201] != len(racing):
        notes.append(f"racing duplicates: {race.status[201]} created for {len(racing)} keys")
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT count(*) AS cases, count(DISTINCT idempotency_key) AS keys, count(DISTINCT case_no) AS numbers,
                   (SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id
                    WHERE c.idempotency_key LIKE :run AND c.idempotency_key NOT LIKE :warm) AS events,
                   count(*) FILTER (WHERE grid_l2_id IS NULL) AS no_grid
            FROM cases WHERE idempotency_key LIKE :run AND idempotency_key NOT LIKE :warm"""),
            {"run": f"{run}-%", "warm": f"{run}-warm-%"}).mappings().one()
        after = conn.execute(text("SELECT count(*) FROM cases")).scalar()
    expected = args.intake + len(racing)
    rows = [warm.row("201 each (not counted)"), created.row(f"{args.intake} x 201"),
            storm.row(f"{len(retries)} x 200 replay, same case_no"),
            race.row(f"{len(racing)} x 201 + {3 * len(racing)} x 200")]
    notes.append(f"database check: {row['cases']:,} new cases with this run's keys (expected exactly {expected:,}: "
                 f"{args.intake:,} + {len(racing):,} racing), {row['keys']:,} distinct keys, {row['numbers']:,} "
                 f"distinct case numbers, {row['events']:,} 'reported' events; {row['no_grid']:,} in no L2 grid "
                 f"(random points in blind spots); table grew by {after - before:,} incl. {len(warm.latencies)} "
                 f"warm-up -> {'OK' if row['cases'] == expected and row['events'] == expected else 'MISMATCH'}")
    notes.append(f"retry storm: {storm.replayed:,} answers marked Idempotent-Replayed, {mismatched} with another "
                 f"case number than the first call; racing: {split} keys answered with more than one case number, "
                 f"{race.replayed:,} replays")
    for load in (created, storm, race):
        for sample in load.samples:
            notes.append(f"error sample ({load.name}): {sample}")
    return rows, notes


class StatementTimer:
    """Wall time of every SQL statement run on ``engine``: statement -> [seconds, calls, slowest
    call's seconds, that call's parameters] (for EXPLAIN ANALYZE of the costliest)."""

    def __init__(self, engine):
        self.engine, self.statements, self._timing = engine, {}, threading.local()
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._timing.began = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        spent = time.perf_counter() - self._timing.began
        entry = self.statements.setdefault(statement, [0.0, 0, 0.0, parameters])
        entry[0] += spent
        entry[1] += 1
        if spent > entry[2]:
            entry[2], entry[3] = spent, parameters

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def intake_profile(args, runs: int) -> tuple[list[dict], dict | None]:
    """Where one intake spends its SQL: ``workflow.intake`` in this process on ``runs`` reports, each
    rolled back (nothing stays), statements timed; EXPLAIN (ANALYZE, BUFFERS) of the costliest one,
    also rolled back."""
    from gisgrid.cases import workflow
    from gisgrid.cases.schemas import CaseReport
    from gisgrid.core.dependencies import Actor

    engine = engine_from(args)
    timer = StatementTimer(engine)
    spent = timer.statements

    with engine.connect() as conn:
        bodies = report_bodies(conn, runs, args.seed + 1)
    walls = []
    for i, body in enumerate(bodies):
        with Session(engine) as session:
            began = time.perf_counter()
            workflow.intake(session, CaseReport(**body), actor=Actor("benchmark"), now=datetime.now(UTC),
                            idempotency_key=f"profile-{os.getpid()}-{i}")
            walls.append(time.perf_counter() - began)
            session.rollback()
    timer.stop()
    total = sum(v[0] for v in spent.values())
    rows = [{"statement": " ".join(sql.split())[:100], "calls/intake": f"{v[1] / runs:.1f}",
             "mean ms/intake": f"{v[0] * 1000 / runs:.2f}", "share": f"{100 * v[0] / total:.0f} %"}
            for sql, v in sorted(spent.items(), key=lambda kv: -kv[1][0])[:6]]
    rows.append({"statement": f"(all SQL; wall time of intake() median {median(walls) * 1000:.1f} ms)",
                 "mean ms/intake": f"{total * 1000 / runs:.2f}"})
    sql, (_, _, _, parameters) = max(spent.items(), key=lambda kv: kv[1][0])
    plan = None
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, parameters)
        plan = {"sql": sql.strip(), "plan": [r[0] for r in cursor.fetchall()]}
        conn.rollback()
    engine.dispose()
    return rows, plan


def http_reports(server: Server, caller: Caller, week: str, since: date, until: date, sd: str) -> list[dict]:
    rows = []
    targets = [("weekly-city", f"/reports/weekly?week={week}"),
               ("weekly-subdistrict", f"/reports/weekly?week={week}&scope={sd}"),
               ("assessment-grid", f"/reports/assessment?from={since}&to={until}&by=grid"),
               ("assessment-worker", f"/reports/assessment?from={since}&to={until}&by=worker")]
    with httpx.Client(base_url=server.base, headers=caller.headers, timeout=1800) as client:
        for kind, path in targets:
            began = time.perf_counter()
            response = client.get(path)
            spent = time.perf_counter() - began
            rows.append({"report": kind, "via": "HTTP (once)", "median s": f"{spent:.2f}",
                         "status": response.status_code, "KB": f"{len(response.content) / 1024:,.0f}",
                         "path": path})
    return rows


# --- reports, each in a child process -----------------------------------------------------------

def child_main(args) -> None:
    """Run one report kind ``--repeat`` times and print JSON: times, peak RSS, CPU, slowest statements."""
    from gisgrid.reports.assessment import assessment
    from gisgrid.reports.weekly import weekly

    engine = engine_from(args)
    statements = StatementTimer(engine).statements

    week, since, until, scope = args.week, date.fromisoformat(args.since), date.fromisoformat(args.to), args.scope
    calls = {
        "weekly-city": lambda s: weekly(s, None, week, datetime.now(UTC), None),
        "weekly-subdistrict": lambda s: weekly(s, scope, week, datetime.now(UTC), None),
        "assessment-grid": lambda s: assessment(s, since=since, until=until, by="grid", scope=WHOLE),
        "assessment-worker": lambda s: assessment(s, since=since, until=until, by="worker", scope=WHOLE),
    }
    call = calls[args.child]
    with engine.connect() as conn:
        db_pid = postmaster_pid(conn)
    times, db_cpu, py_cpu, summary = [], [], [], {}
    for _ in range(args.repeat):
        with Session(engine) as session:
            db0, me0 = cluster_cpu(db_pid), self_cpu()
            began = time.perf_counter()
            result = call(session)
            times.append(time.perf_counter() - began)
            db_cpu.append(cluster_cpu(db_pid) - db0 if db_pid else float("nan"))
            py_cpu.append(self_cpu() - me0)
            session.rollback()
        if args.child.startswith("weekly"):
            summary = {"total": result["total"], "units": len(result["units"]["items"]),
                       "hotspots": len(result["hotspots"]), "top_hotspot": (result["hotspots"] or [{}])[0].get("cases")}
        else:
            items = result["items"]
            summary = {"units": len(items), "ranked": sum(1 for r in items if r["rank"] is not None),
                       "handled": sum(r["cases_handled"] for r in items)}
    slowest = sorted(statements.items(), key=lambda kv: -kv[1][0])[:3]
    out = {"kind": args.child, "times": times, "db_cpu": db_cpu, "py_cpu": py_cpu,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "summary": summary,
           "slowest": [{"sql": " ".join(sql.split())[:110], "mean_s": v[0] / args.repeat,
                        "calls": v[1] // args.repeat} for sql, v in slowest]}
    if args.explain_over and median(times) > args.explain_over and slowest:
        sql, (_, _, _, parameters) = slowest[0]
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, parameters)
            out["explain"] = {"sql": sql.strip(), "plan": [r[0] for r in cursor.fetchall()]}
            conn.rollback()
    print(json.dumps(out, default=str))


def run_child(args, kind: str, week: str, since: date, until: date, scope: str, explain: bool,
              repeat: int | None = None, env: dict | None = None) -> dict:
    argv = [sys.executable, __file__, "--child", kind, "--repeat", str(repeat or args.repeat), "--week", week,
            "--since", since.isoformat(), "--to", until.isoformat(), "--scope", scope,
            "--explain-over", str(args.explain_over if explain else 0)]
    if args.database_url:
        argv += ["--database-url", args.database_url]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"report child {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_row(result: dict, label: str = "in-process") -> dict:
    t = result["times"]
    return {"report": result["kind"], "via": label, "runs": len(t), "median s": f"{median(t):.2f}",
            "min s": f"{min(t):.2f}", "max s": f"{max(t):.2f}", "first s": f"{t[0]:.2f}",
            "peak RSS MB": f"{result['peak_rss_mb']:.0f}", "py cpu s": f"{median(result['py_cpu']):.2f}",
            "db cpu s": f"{median(result['db_cpu']):.2f}",
            "result": ", ".join(f"{k}={v}" for k, v in result["summary"].items() if k != "total")}


def report_periods(until: datetime) -> tuple[str, date, date]:
    """The last full ISO week before ``until`` and the last full calendar month before it."""
    from gisgrid.reports.weekly import week_bounds

    label, _, _ = week_bounds(None, until)
    last_day = until.astimezone(work_calendar().zone).date().replace(day=1) - timedelta(days=1)
    return label, last_day.replace(day=1), last_day


def try_change(engine, args, statement: str, kinds: list[str], period: tuple) -> list[dict]:
    """The reports without and with an index (``CREATE INDEX name ON ...``: created, analysed,
    dropped again) or a setting (``SET name = value``: given to the report's connections via
    PGOPTIONS), measured back to back (min(--repeat, 3) runs each) so both see the same load."""
    runs = min(args.repeat, 3)
    setting = statement.strip().upper().startswith("SET ")
    label = statement.strip()[4:].replace(" ", "") if setting else statement.split("INDEX", 1)[1].split()[0]
    if not setting and label.upper() in ("CONCURRENTLY", "IF", "ON"):
        raise SystemExit("--try-index needs a named index: CREATE INDEX name ON ...")
    print(f"\ntrying: {statement} ({neighbours()})", flush=True)
    rows = []
    for kind in kinds:
        without = run_child(args, kind, *period, explain=False, repeat=runs)["times"]
        note = ""
        if setting:
            env = {"PGOPTIONS": f"{os.environ.get('PGOPTIONS', '')} -c {label}".strip()}
            res = run_child(args, kind, *period, explain=False, repeat=runs, env=env)
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                began = time.perf_counter()
                conn.execute(text(statement))
                built = time.perf_counter() - began
                size = conn.execute(text("SELECT pg_size_pretty(pg_relation_size(CAST(:n AS regclass)))"),
                                    {"n": label}).scalar()
                conn.execute(text(f"ANALYZE {statement.split(' ON ', 1)[1].split('(')[0].split()[0]}"))
            note = f" ({size}, built in {built:.0f} s)"
            try:
                res = run_child(args, kind, *period, explain=False, repeat=runs)
            finally:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(f"DROP INDEX IF EXISTS {label}"))
        with_it = res["times"]
        rows.append({"change": label + note, "report": kind,
                     "without s (median/min)": f"{median(without):.2f} / {min(without):.2f}",
                     "with s (median/min)": f"{median(with_it):.2f} / {min(with_it):.2f}",
                     "speed-up": f"{median(without) / median(with_it):.1f}x",
                     "slowest statement with it": f"{res['slowest'][0]['mean_s']:.2f} s `{res['slowest'][0]['sql'][:70]}`"})
        print(f"  {kind}: without {median(without):.2f} s, with {median(with_it):.2f} s", flush=True)
    return rows


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    database_arg(parser)
    parser.add_argument("--cases", type=int, default=3_000_000, help="cases in the year (the fill)")
    parser.add_argument("--until", type=datetime.fromisoformat, default=UNTIL,
                        help="end of the year of cases (ISO, with offset); default 2026-11-01T00:00+08:00")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--intake", type=int, default=5000, help="new reports POSTed")
    parser.add_argument("--retries", type=int, default=2000, help="of those, re-sent with the same key")
    parser.add_argument("--racing", type=int, default=250, help="new reports sent 4x at once each")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each report (in-process)")
    parser.add_argument("--explain-over", type=float, default=3.0,
                        help="EXPLAIN (ANALYZE, BUFFERS) the slowest statement of a report slower than this (s)")
    parser.add_argument("--try-index", action="append", default=[],
                        help="'CREATE INDEX name ON ...' (created, then dropped) or 'SET name = value' (the "
                             "reports' connections): each report without and with it, back to back")
    parser.add_argument("--reports", default=",".join(REPORT_KINDS), help="report kinds to run")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--refill", action="store_true",
                        help="TRUNCATE cases, case_events, case_attachments, case_numbers first (a benchmark "
                             "database only!) so the fill is timed again")
    parser.add_argument("--skip-intake", action="store_true")
    parser.add_argument("--skip-reports", action="store_true")
    parser.add_argument("--child", choices=REPORT_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--week", help=argparse.SUPPRESS)
    parser.add_argument("--since", help=argparse.SUPPRESS)
    parser.add_argument("--to", help=argparse.SUPPRESS)
    parser.add_argument("--scope", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if args.until.tzinfo is None:
        raise SystemExit("--until needs an offset, e.g. 2026-11-01T00:00+08:00")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # a plain kill still stops the server (finally)

    engine = engine_from(args)
    with engine.connect() as conn:
        if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM buildings)")).scalar():
            raise SystemExit("the database holds no city: run first\n  GISGRID_HOME=... .venv/bin/gisgrid demo "
                             "--sub-districts 200 --no-residents --no-cases --load-only")
        db_pid = postmaster_pid(conn)
        versions = conn.execute(text("SELECT version(), postgis_lib_version()")).one()
    head = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h %cI"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "gisgrid", "migrations"],
                           capture_output=True, text=True).stdout.count("\n")
    print(f"database {engine.url.render_as_string(hide_password=True)} ({versions[0].split(',')[0]}, PostGIS "
          f"{versions[1]}); code {head}{f' + {dirty} uncommitted files in gisgrid/, migrations/' if dirty else ''}; "
          f"{os.cpu_count()} CPUs; {neighbours()}", flush=True)

    if args.refill:
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE cases, case_events, case_attachments, case_numbers"))
        print("refill: cases, case_events, case_attachments and case_numbers truncated", flush=True)
    result = fill(engine, args)
    profile = data_profile(engine, args.until)
    if result["filled_months"]:
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in result["steps"].items())
        print(f"fill: {result['cases']:,} cases in {result['seconds']:.0f} s ({result['cases'] / result['seconds']:,.0f} "
              f"cases/s; {steps}); {result['skipped_months']} months were present")
    else:
        print(f"fill: skipped, all {result['skipped_months']} months of the year already hold cases")
    print(f"data: {profile['subdistricts']:,} sub-districts, {profile['grids']:,} active grids ({profile['l2']:,} L2), "
          f"{profile['buildings']:,} buildings, {profile['staff']:,} staff; {profile['cases']:,} cases "
          f"({profile['first']:%Y-%m-%d} .. {profile['last']:%Y-%m-%d}), ~{profile['events']:,} events; "
          f"open {profile['open']:,} ({100 * profile['open'] / profile['cases']:.1f} %, overdue at --until "
          f"{profile['overdue']:,}), escalated {profile['escalated']:,} ({100 * profile['escalated'] / profile['cases']:.1f} %), "
          f"reopened {profile['reopened']:,}, rejected/duplicate {profile['rejected']:,}, mean satisfaction "
          f"{float(profile['satisfaction'] or 0):.2f}; deadlines missed in the last 30 days "
          f"{profile['missed_month']:,} of {profile['judged_month']:,} judged steps")
    print(table(profile["sizes"], ["table", "rows", "heap", "indexes"]))
    print(f"database size {profile['database']}", flush=True)
    if args.fill_only:
        return

    week, since, until = report_periods(args.until)
    with engine.connect() as conn:
        scope = conn.execute(text("SELECT subdistrict_code FROM cases WHERE reported_at >= :s GROUP BY 1 "
                                  "ORDER BY count(*) DESC, 1 LIMIT 1"), {"s": args.until - timedelta(days=60)}).scalar()
    kinds_to_run = [k for k in args.reports.split(",") if k]
    report_rows, explains, slow_lines = [], [], []
    if not args.skip_reports:
        print(f"\nreports: week {week}, assessment {since} .. {until}, sub-district {scope} (the busiest); "
              f"{args.repeat} runs each in a child process ({neighbours()}) ...", flush=True)
        for kind in kinds_to_run:
            res = run_child(args, kind, week, since, until, scope, explain=True)
            report_rows.append(report_row(res))
            slow_lines.append(f"  {kind}: " + "; ".join(f"{s['mean_s']:.2f} s x{s['calls']} `{s['sql'][:80]}`"
                                                      for s in res["slowest"]))
            if "explain" in res:
                explains.append((kind, res["explain"]))
            print(f"  {kind}: median {median(res['times']):.2f} s ({neighbours()})", flush=True)

    intake_rows, intake_notes, profile_rows = [], [], []
    if not args.skip_intake or not args.skip_reports:
        logdir = Path(tempfile.mkdtemp(prefix="gisgrid-cases-bench-"))
        env = {**os.environ, "GISGRID_CASE_SWEEP_SECONDS": "0"}
        if args.database_url:
            env["GISGRID_DATABASE_URL"] = args.database_url
        server = Server("gisgrid-serve", [str(ROOT / ".venv/bin/gisgrid"), "serve", "--port", "{port}", "--workers",
                                          str(args.workers), "--no-access-log"], env, "/health", logdir, cwd=ROOT)
        caller = None
        try:
            server.wait_ready(120)
            caller = benchmark_caller(engine)  # the server has migrated the database by now
            if not args.skip_intake:
                print(f"\nintake: {args.intake:,} reports from {args.clients} clients to {args.workers} workers "
                      f"as {caller.username} ({caller.role}, scope {caller.scope_key}; {neighbours()}) ...", flush=True)
                intake_rows, intake_notes = intake(engine, server, caller, args, db_pid)
            if not args.skip_reports:
                report_rows += http_reports(server, caller, week, since, until, scope)
        finally:
            server.stop()
            if caller:
                caller.revoke(engine)
        if not args.skip_intake:
            profile_rows, plan = intake_profile(args, 50)
            explains.insert(0, ("one intake (workflow.intake, rolled back)", plan))

    index_rows = []
    for statement in args.try_index:
        index_rows += try_change(engine, args, statement, kinds_to_run, (week, since, until, scope))

    if intake_rows:
        print(f"\nintake through the API (POST /cases, {args.workers} uvicorn workers, {args.clients} client threads; "
              "latency per request, CPU per request):")
        print(table(intake_rows, ["pass", "requests", "201", "200", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms",
                                  "max ms", "server cpu ms/req", "db cpu ms/req", "client cpu ms/req", "expected"]))
        for note in intake_notes:
            print("  " + note)
        print("one intake in this process (workflow.intake x50, each rolled back): its costliest statements")
        print(table(profile_rows, ["statement", "calls/intake", "mean ms/intake", "share"]))
    if report_rows:
        print(f"\nreports over {profile['cases']:,} cases (week {week}; month {since} .. {until}; sub-district {scope}):")
        print(table(report_rows, ["report", "via", "runs", "median s", "min s", "max s", "first s", "peak RSS MB",
                                  "py cpu s", "db cpu s", "status", "KB", "result"]))
        print("slowest statements (mean s per run, calls per run):")
        for line in slow_lines:
            print(line)
    for kind, plan in explains:
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the slowest statement of {kind}:\n  {' '.join(plan['sql'].split())[:600]}")
        for line in plan["plan"]:
            print("  " + line)
    if index_rows:
        print("\nchanges tried (each report without, then with it, back to back; an index is dropped again):")
        print(table(index_rows, ["change", "report", "without s (median/min)", "with s (median/min)", "speed-up",
                                 "slowest statement with it"]))
    print(f"\npeak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB "
          f"(reports: their own child processes above; the database's memory is not included)")


if __name__ == "__main__":
    main()
