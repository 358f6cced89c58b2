"""The weekly summary (周报): for a city, sub-district, community or grid and an ISO week, the
cases new, closed, open at the week's end, deadlines missed and escalated, by category and by
the units one level down; the hot spots where cases clustered against the previous four weeks;
and the information-collection work of the grid workers (visits, checks, their own reports).

Every figure is a count over the record as it stood at the week's end (events carry their
times), so last month's report reads the same today as it did then, except that a deadline
still running at the week's end is judged when it ends.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.cases.calendar import work_calendar
from gisgrid.cases.service import CLOSED as FINISHED
from gisgrid.cases.service import CaseFilter
from gisgrid.core.enums import CaseStatus
from gisgrid.core.errors import InvalidInput
from gisgrid.core.records import as_of
from gisgrid.reports.scope import Scope, resolve

FIGURES = ("new", "closed", "rejected", "open", "overdue", "escalated")
LABELS = {"new": "新增", "closed": "结案", "rejected": "不予立案及重复", "open": "未结", "overdue": "超期环节",
          "escalated": "上报上级"}
HOTSPOT_CELL_M = 250.0
TERMINAL = "(" + ", ".join(f"'{s}'" for s in FINISHED) + ")"
OPEN = "(" + ", ".join(f"'{s.value}'" for s in CaseStatus if s.value not in FINISHED) + ")"


def week_bounds(week: str | None, now: datetime) -> tuple[str, datetime, datetime]:
    """ISO week 'YYYY-Www' (default: the last full week before ``now``) → its label and its
    local Monday 00:00 and the next Monday 00:00."""
    zone = work_calendar().zone
    if week is None:
        today = now.astimezone(zone).date()
        monday = today - timedelta(days=today.weekday() + 7)
    else:
        match = re.fullmatch(r"(\d{4})-W(\d{2})", week.strip())
        if match is None or not 2000 <= int(match[1]) <= 2100:
            raise InvalidInput(f"周应写作 YYYY-Www（2000–2100 年），如 2026-W47 / a week is YYYY-Www in 2000–2100, "
                               f"e.g. 2026-W47, got {week!r}", where="week")
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise InvalidInput(f"没有这一周 {week!r} / no such ISO week", where="week") from None
    start = datetime.combine(monday, datetime.min.time(), zone)
    year, number, _ = monday.isocalendar()
    return f"{year}-W{number:02d}", start, start + timedelta(days=7)


def _counts(session: Session, scope: Scope, group: str, start: datetime, end: datetime, now: datetime) -> dict:
    """{group value: {figure: count}} for the week, grouped by ``group`` (an expression on c)."""
    params = {**scope.params, "start": start, "end": end, "now": now}
    where = scope.cases
    queries = {
        "new": f"SELECT {group} AS k, count(*) FROM cases c WHERE {where} AND c.reported_at >= :start "
               "AND c.reported_at < :end GROUP BY 1",
        "closed": f"SELECT {group} AS k, count(*) FROM case_events e JOIN cases c ON c.id = e.case_id "
                  f"WHERE {where} AND e.kind = 'transition' AND e.to_status = 'closed' AND e.at >= :start "
                  "AND e.at < :end GROUP BY 1",
        "rejected": f"SELECT {group} AS k, count(*) FROM case_events e JOIN cases c ON c.id = e.case_id "
                    f"WHERE {where} AND e.kind = 'transition' AND e.to_status IN ('rejected', 'duplicate') "
                    "AND e.at >= :start AND e.at < :end GROUP BY 1",
        # open at the end: reported before it and not finished before it — either open now, or
        # finished only later; both sets come from indexes (status, event time), never a scan
        # of every old case
        "open": f"""SELECT {group} AS k, count(*) FROM cases c WHERE {where} AND c.reported_at < :end
                    AND c.id IN (SELECT id FROM cases WHERE status IN {OPEN}
                                 UNION SELECT case_id FROM case_events WHERE at >= :end AND kind = 'transition'
                                                                        AND to_status IN {TERMINAL})
                    AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.at < :end
                                    AND e.kind = 'transition' AND e.to_status IN {TERMINAL})
                    GROUP BY 1""",
        # a deadline missed in the week: a stage that ended (or was escalated) after its
        # deadline, the deadline falling in the week; or a deadline in the week still running now
        "overdue": f"""SELECT k, count(*) FROM (
                          SELECT {group} AS k FROM case_events e JOIN cases c ON c.id = e.case_id
                          WHERE {where} AND e.on_time = false AND e.due_at >= :start AND e.due_at < :end
                          UNION ALL
                          SELECT {group} FROM cases c WHERE {where} AND c.status IN {OPEN}
                            AND c.due_at >= :start AND c.due_at < :end AND c.due_at < :now) missed
                       GROUP BY 1""",
        "escalated": f"SELECT {group} AS k, count(DISTINCT c.id) FROM case_events e JOIN cases c ON c.id = e.case_id "
                     f"WHERE {where} AND e.kind = 'escalation' AND e.at >= :start AND e.at < :end GROUP BY 1",
    }
    out: dict = {}
    for figure, sql in queries.items():
        for key, count in session.execute(text(sql), params):
            out.setdefault(key, dict.fromkeys(FIGURES, 0))[figure] = count
    return out


def _hotspots(session: Session, scope: Scope, start: datetime, end: datetime, limit: int = 10) -> list[dict]:
    """Cells of ~250 m where this week's cases stand out against the mean of the previous four
    weeks: at least 3 cases and at least twice that mean, ranked by (n − mean) / √(mean + 1). A
    cell is named by the L2 grid at its centre, only one inside the scope (a cell on the edge
    does not name the neighbour's grid)."""
    rows = session.execute(text(f"""
        WITH located AS (
            SELECT floor(ST_X(m) / :cell) AS i, floor(ST_Y(m) / :cell) AS j, c.reported_at >= :start AS this_week
            FROM (SELECT ST_Transform(c.geom, 3857) AS m, c.reported_at FROM cases c
                  WHERE {scope.cases} AND c.reported_at >= :history AND c.reported_at < :end) c
        ), cells AS (
            SELECT i, j, count(*) FILTER (WHERE this_week) AS n, count(*) FILTER (WHERE NOT this_week) / 4.0 AS mean
            FROM located GROUP BY i, j
        )
        SELECT i, j, n, mean, (n - mean) / sqrt(mean + 1) AS score,
               ST_AsGeoJSON(ST_Transform(ST_MakeEnvelope(i * :cell, j * :cell, (i + 1) * :cell, (j + 1) * :cell,
                                                         3857), 4326), 7) AS geometry,
               (SELECT g.code FROM grids g WHERE g.level = 2 AND g.retired_at IS NULL AND {scope.grids}
                AND ST_Intersects(g.geom,
                    ST_Transform(ST_SetSRID(ST_MakePoint((i + 0.5) * :cell, (j + 0.5) * :cell), 3857), 4326))
                LIMIT 1) AS grid
        FROM cells WHERE n >= 3 AND n >= 2 * mean
        ORDER BY score DESC, n DESC, i, j LIMIT :limit"""),
        {**scope.params, "cell": _mercator_cell(session, scope), "start": start, "end": end,
         "history": start - timedelta(days=28), "limit": limit}).mappings()
    return [{"cases": r["n"], "previous_weekly_mean": round(float(r["mean"]), 2), "score": round(float(r["score"]), 2),
             "grid": r["grid"], "geometry": r["geometry"]} for r in rows]


def _mercator_cell(session: Session, scope: Scope) -> float:
    """250 ground metres in Web Mercator units at the latitude of the scope's area."""
    if scope.kind == "city":
        lat = session.execute(text("SELECT ST_Y(ST_Centroid(ST_Extent(boundary))) FROM subdistricts")).scalar()
    elif scope.kind == "subdistrict":
        lat = session.execute(text("SELECT ST_Y(ST_Centroid(boundary)) FROM subdistricts WHERE code = :c"),
                              {"c": scope.code}).scalar()
    else:
        lat = session.execute(text("SELECT ST_Y(ST_Centroid(geom)) FROM grids WHERE code = :c"),
                              {"c": scope.code}).scalar()
    return HOTSPOT_CELL_M / math.cos(math.radians(lat or 0.0))


def _collection(session: Session, scope: Scope, start: datetime, end: datetime) -> dict:
    visits = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE v.kind = 'visit') AS visits,
               count(*) FILTER (WHERE v.kind = 'info_check') AS info_checks,
               count(DISTINCT v.household_id) AS households, count(DISTINCT v.staff_id) AS workers
        FROM visits v WHERE {scope.visits} AND v.visited_at >= :start AND v.visited_at < :end"""),
        {**scope.params, "start": start, "end": end}).mappings().one()
    reports = session.execute(text(f"""
        SELECT count(*) FROM cases c WHERE {scope.cases} AND c.reporter_kind = 'grid_worker'
        AND c.reported_at >= :start AND c.reported_at < :end"""), {**scope.params, "start": start, "end": end}).scalar()
    return {**dict(visits), "worker_reports": reports}


def _ledger(session: Session, scope: Scope, start: datetime, end: datetime) -> dict:
    """The ledger (台帐) as it stood at the week's end, and how many of its records changed in the
    week: counts over the versions then in force, each change placed where its record was then, so
    ending or moving a record later leaves them as they were."""
    at_end = {**scope.params, "as_of": end}
    figures = session.execute(text(f"""
        SELECT count(DISTINCT b.id) AS buildings, count(h.id) FILTER (WHERE h.occupancy <> 'vacant') AS households,
               coalesce(sum(h.member_count), 0)::int AS people
        FROM {as_of('buildings')} b LEFT JOIN {as_of('households')} h ON h.building_id = b.id
        WHERE {scope.buildings}"""), at_end).mappings().one()
    residents = session.execute(text(f"""
        SELECT count(*) FROM {as_of('residents')} r JOIN {as_of('households')} h ON h.id = r.household_id
        JOIN {as_of('buildings')} b ON b.id = h.building_id WHERE {scope.buildings}"""), at_end).scalar()
    changed = session.execute(text(f"""
        SELECT count(*) FROM (
            SELECT b.id FROM all_buildings b WHERE {scope.buildings} AND b.valid_from >= :start AND b.valid_from < :end
            UNION ALL
            SELECT h.id FROM all_households h JOIN all_buildings b ON b.id = h.building_id
            WHERE {scope.buildings} AND h.valid_from >= :start AND h.valid_from < :end
            UNION ALL
            SELECT r.id FROM all_residents r JOIN {as_of('households', 'end')} h ON h.id = r.household_id
            JOIN all_buildings b ON b.id = h.building_id
            WHERE {scope.buildings} AND r.valid_from >= :start AND r.valid_from < :end
            UNION ALL
            SELECT v.id FROM ledger_versions v JOIN all_buildings b ON b.id = v.building_id
            WHERE v.kind IN ('buildings', 'households', 'residents')
            AND {scope.buildings} AND v.valid_from >= :start AND v.valid_from < :end
        ) changes"""), {**scope.params, "start": start, "end": end}).scalar()
    return {**dict(figures), "residents": residents, "changes": changed}


def weekly(session: Session, scope_code: str | None, week: str | None, now: datetime,
           caller: Principal | None, *, latest_with_cases: bool = False) -> dict:
    """The summary for ``scope_code`` (checked against the ``caller``'s scope, and their own
    scope when omitted). ``caller`` has no default, so a route cannot forget it: ``None`` is
    said only by the operator's command, for the whole city.
    With ``latest_with_cases`` and no week asked for, a last week without a single reported
    case gives way to the latest week that has one (``skipped`` names the empty week), so the
    page opens on figures, not on zeros."""
    scope = resolve(session, scope_code, caller)
    label, start, end = week_bounds(week, now)
    skipped = None
    if week is None and latest_with_cases:
        latest = session.execute(text(f"SELECT max(c.reported_at) FROM cases c WHERE {scope.cases} AND "
                                      "c.reported_at < :end"), {**scope.params, "end": end}).scalar()
        if latest is not None and latest < start:
            year, number, _ = latest.astimezone(start.tzinfo).isocalendar()
            skipped, (label, start, end) = label, week_bounds(f"{year}-W{number:02d}", now)
    categories = session.execute(text("SELECT code, name_zh, name_en FROM case_categories WHERE parent_code IS NULL "
                                      "ORDER BY sort_order")).all()
    by_category = _counts(session, scope, "c.category_code", start, end, now)
    rows = [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en,
             **by_category.get(c.code, dict.fromkeys(FIGURES, 0))} for c in categories]
    total = {f: sum(r[f] for r in rows) for f in FIGURES}
    units = []
    if scope.child_units:
        by_unit = _counts(session, scope, scope.child_key, start, end, now)
        for unit in session.execute(text(scope.child_units + " ORDER BY code"), scope.params):
            units.append({"code": unit.code, "name": unit.name, **by_unit.get(unit.id, dict.fromkeys(FIGURES, 0))})
        if None in by_unit:  # cases in no unit one level down (a blind spot): listed, so the rows add up
            units.append({"code": None, "name": "未入格 / in no unit", **by_unit[None]})
    return {
        "scope": {"kind": scope.kind, "code": scope.code, "name": scope.name, "label": scope.label},
        "week": label, "from": start.isoformat(), "to": end.isoformat(), "skipped": skipped,
        "generated_at": now.astimezone(start.tzinfo).isoformat(),
        "total": total, "by_category": rows,
        "units": {"kind": scope.child_kind, "items": units},
        "hotspots": _hotspots(session, scope, start, end),
        "collection": _collection(session, scope, start, end),
        "ledger": _ledger(session, scope, start, end),
    }


# --- the page's links to the cases behind its figures -------------------------------------------
# A figure links to the inbox (/desk, a page above this layer: only its URL is known here) with
# the filters that select exactly its cases, the names ``GET /cases`` takes too. Only figures over
# the week's *reported* cases have such filters (grid or sub-district, category, from, to, status,
# overdue); the figures over the week's events (closed, rejected, escalated, deadlines missed,
# open at the week's end) have none, so they stay plain numbers.
NOW_FIGURES = ("new", "still_open", "finished", "overdue_now")
NOW_FILTERS = {"new": {"tab": "all"}, "still_open": {"tab": "all", "status": "open"},
               "finished": {"tab": "all", "status": "closed"}, "overdue_now": {"tab": "overdue"}}


def area_filter(code: str | None) -> dict:
    """The list filter selecting the cases reported in a report's scope or unit: a sub-district
    (9 digits) or a grid of any level by its code; the city is no filter."""
    if code is None:
        return {}
    return {"subdistrict": code} if len(code) == 9 else {"grid": code}


def week_filter(start: datetime) -> dict:
    """from / to: the Monday and the Sunday of the week (the list's dates are inclusive days)."""
    monday = start.date()
    return {"from": monday.isoformat(), "to": (monday + timedelta(days=6)).isoformat()}


def new_cases_now(session: Session, code: str | None, week: str, now: datetime, caller: Principal) -> dict:
    """Where the week's new cases stand ``now`` (still open, finished, overdue), in total, by
    category and by the units one level down (by code), each counted with the very filter
    (``CaseFilter``) the figure's link hands the list, so a figure and its list are the same cases."""
    scope = resolve(session, code, caller)
    _, start, _ = week_bounds(week, now)
    dates = week_filter(start)
    area = area_filter(scope.code)
    where = CaseFilter(scope=caller.scope, subdistrict=area.get("subdistrict"), grid=area.get("grid"),
                       since=date.fromisoformat(dates["from"]), until=date.fromisoformat(dates["to"])).where(session)
    counts = ", ".join([
        "count(*) AS new",
        "count(*) FILTER (WHERE c.status::text <> ALL(:finished)) AS still_open",
        "count(*) FILTER (WHERE c.status::text = ANY(:finished)) AS finished",
        "count(*) FILTER (WHERE c.due_at < :now AND c.status::text <> ALL(:finished)) AS overdue_now"])
    params = {**where.params, "finished": list(FINISHED), "now": now}

    def grouped(key: str) -> dict:
        sql = f"SELECT {key} AS k, {counts} FROM cases c WHERE {where.sql} GROUP BY 1"
        return {row["k"]: {f: row[f] for f in NOW_FIGURES} for row in session.execute(text(sql), params).mappings()}

    zero = dict.fromkeys(NOW_FIGURES, 0)
    by_category = grouped("c.category_code")
    total = {f: sum(r[f] for r in by_category.values()) for f in NOW_FIGURES}
    units = {}
    if scope.child_units:
        by_unit = grouped(scope.child_key)
        units = {unit.code: by_unit.get(unit.id, zero)
                 for unit in session.execute(text(scope.child_units + " ORDER BY code"), scope.params)}
    return {"at": now.astimezone(start.tzinfo).isoformat(), "total": total,
            "by_category": {code: by_category.get(code, zero) for code in
                            session.execute(text("SELECT code FROM case_categories WHERE parent_code IS NULL")).scalars()},
            "units": units}
