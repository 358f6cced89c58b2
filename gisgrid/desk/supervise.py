"""The supervisors' overdue view (超期督办): the open cases past their stage's deadline, counted
by the community and the L2 grid they were reported in and by the staff member holding them,
each with its longest overdue case, so a community manager (their zone) or the leading group
(the sub-district) sees where the loop has stalled and opens the cases from there.

"Overdue" is what ``GET /cases?overdue=true`` and the inbox's overdue tab mean (open, ``due_at``
before now), and a grid's count is over the grid the case was reported in, as the inbox's
``grid`` filter selects: a row's figure and the list its link opens are the same cases.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.cases.service import CLOSED
from gisgrid.core.scope import Scope

LONGEST = 50  # the longest overdue cases listed one by one; the rest are a link to the inbox away


def _groups(session: Session, scope: Scope, now: datetime, key: str, label: str, join: str) -> list[dict]:
    """Overdue cases counted per ``key`` (an expression on c), longest overdue first."""
    scope_sql, params = _where(scope, now)
    rows = session.execute(text(f"""
        SELECT {key} AS key, {label} AS label, count(*) AS cases, min(c.due_at) AS since,
               (array_agg(c.case_no ORDER BY c.due_at, c.id))[1] AS longest_case
        FROM cases c {join}
        WHERE {scope_sql} AND c.due_at < :now AND c.status::text <> ALL(:closed)
        GROUP BY 1, 2 ORDER BY min(c.due_at), 1"""), params).mappings()
    return [{**row, "hours": _hours(now, row["since"])} for row in rows]


def _where(scope: Scope, now: datetime) -> tuple[str, dict]:
    condition, params = scope.rows("c")
    return condition, {**params, "now": now, "closed": list(CLOSED)}


def _hours(now: datetime, since: datetime) -> float:
    return round((now - since).total_seconds() / 3600, 1)


def overdue(session: Session, scope: Scope, now: datetime, *, longest: int = LONGEST) -> dict:
    """The caller's overdue cases: the total, by community (for a scope wider than one), by L2
    grid and by holder, and the ``longest`` overdue ones. Cases in no grid or held by nobody
    (waiting to be registered, say) count in a row of their own, so the rows add up."""
    communities = [] if scope.community is not None or scope.grids is not None else _groups(
        session, scope, now, "g.code", "g.name", "LEFT JOIN grids g ON g.id = c.grid_l1_id")
    grids = _groups(session, scope, now, "g.code", "g.name", "LEFT JOIN grids g ON g.id = c.grid_l2_id")
    workers = _groups(session, scope, now, "c.assignee_staff_id", "st.name",
                      "LEFT JOIN staff st ON st.id = c.assignee_staff_id")
    scope_sql, params = _where(scope, now)
    cases = session.execute(text(f"""
        SELECT c.case_no, c.title, c.status::text AS status, c.category_code, cat.name_zh AS category_zh,
               cat.name_en AS category_en, g.code AS grid, st.name AS holder, c.handling_level, c.due_at, c.escalations
        FROM cases c JOIN case_categories cat ON cat.code = c.category_code
        LEFT JOIN grids g ON g.id = c.grid_l2_id LEFT JOIN staff st ON st.id = c.assignee_staff_id
        WHERE {scope_sql} AND c.due_at < :now AND c.status::text <> ALL(:closed)
        ORDER BY c.due_at, c.id LIMIT :limit"""), {**params, "limit": longest}).mappings()
    return {"total": sum(g["cases"] for g in grids), "communities": communities, "grids": grids, "workers": workers,
            "cases": [{**c, "hours": _hours(now, c["due_at"])} for c in cases], "at": now}
