"""The inbox: a caller's cases by tab, counted and paged by keyset.

Every tab reads through :class:`gisgrid.cases.service.CaseFilter` (the caller's scope and the
page's filters) and adds its own condition: ``mine`` the cases waiting for a step this caller
may take (the workflow's ``ALLOWED`` and separation of duties), ``grids`` the area's open cases,
``due_soon`` / ``overdue`` by the stage's deadline, ``escalated`` those sent up to the caller's
level, ``closed`` the recently closed, ``all`` everything in scope. Pages follow a cursor of the
tab's sort key and the case id (never OFFSET), so the thousandth page costs what the first does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.cases.calendar import work_calendar
from gisgrid.cases.service import CaseFilter
from gisgrid.cases.workflow import STAGE
from gisgrid.core.enums import CaseStatus as S
from gisgrid.core.enums import Role
from gisgrid.core.errors import InvalidInput
from gisgrid.core.settings import get_settings

DUE_SOON_HOURS = 8.0   # one working day: what is due before tomorrow at this time
RECENT_DAYS = 30       # the closed tab looks back this far
# The step each status waits for, in the order the loop takes them (``mine`` is grouped by it).
STEPS = {S.REPORTED: "register", S.REGISTERED: "dispatch", S.DISPATCHED: "start", S.IN_PROGRESS: "handle",
         S.HANDLED: "verify", S.VERIFIED: "close"}
OPEN = tuple(STEPS)
SUPERVISORS = (Role.ADMIN, Role.COMMUNITY_MANAGER)
# the handling level a case escalated to a supervisor sits at: a manager's zone, the leading group
LEVEL_OF = {Role.COMMUNITY_MANAGER: 1, Role.ADMIN: 0}
NO_DEADLINE = "timestamptz '9999-12-31 00:00+00'"  # sorts an open case without a deadline last


def _statuses(statuses) -> str:
    """An SQL list of enum values (constants of the code, never input), so the status index serves."""
    return ", ".join(f"'{S(s).value}'" for s in statuses)


@dataclass(frozen=True)
class Tab:
    name: str
    keys: tuple[tuple[str, str], ...]  # the sort key as (SQL, its type); c.id follows: the keyset
    descending: bool = False


STEP_RANK = (f"CASE c.status {' '.join(f'WHEN {_statuses([s])} THEN {i}' for i, s in enumerate(STEPS))} END",
             "integer")
DUE = (f"coalesce(c.due_at, {NO_DEADLINE})", "timestamptz")
TABS = {tab.name: tab for tab in (
    Tab("mine", (STEP_RANK, DUE)),
    Tab("grids", (DUE,)),
    Tab("due_soon", (("c.due_at", "timestamptz"),)),
    Tab("overdue", (("c.due_at", "timestamptz"),)),
    Tab("escalated", (DUE,)),
    Tab("closed", (("c.closed_at", "timestamptz"),), descending=True),
    Tab("all", (("c.reported_at", "timestamptz"),), descending=True),
)}
ID = ("c.id", "bigint")


def tabs_of(caller: Principal) -> tuple[str, ...]:
    """A grid worker has no level anything is escalated to; the supervisors have."""
    return tuple(name for name in TABS if name != "escalated" or caller.role in LEVEL_OF)


@dataclass(frozen=True, kw_only=True)
class InboxFilter:
    """The page's filters (the caller's scope is added from the caller)."""

    category: str | None = None   # a category or a sub-type code
    subdistrict: str | None = None  # reported in this sub-district (the weekly report's links)
    grid: str | None = None       # reported in this grid (any level)
    status: str | None = None     # a status, or open / closed
    since: date | None = None
    until: date | None = None

    def cases(self, caller: Principal) -> CaseFilter:
        return CaseFilter(scope=caller.scope, category=self.category, subdistrict=self.subdistrict, grid=self.grid,
                          status=self.status, since=self.since, until=self.until)


def parse_day(value: str | None, where: str) -> date | None:
    """A form's date field: empty is no filter, anything but YYYY-MM-DD a clear 422."""
    if not value:
        return None
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidInput(f"日期应写作 YYYY-MM-DD / a date is written YYYY-MM-DD, got {value!r}", where=where)


def _conditions(caller: Principal, now: datetime) -> tuple[dict[str, str], dict]:
    """Each tab's condition on ``c`` and the parameters they share."""
    open_ = f"c.status IN ({_statuses(OPEN)})"
    holds = "c.assignee_staff_id = :me_staff" if caller.staff_id is not None else "false"
    mine = f"(c.status IN ({_statuses([S.DISPATCHED, S.IN_PROGRESS])}) AND {holds})"
    if caller.role in SUPERVISORS:
        # the check and the closing are never the handler's own (workflow._separate_duties)
        handled_by_me = """EXISTS (SELECT 1 FROM (SELECT e.actor, e.actor_staff_id FROM case_events e
            WHERE e.case_id = c.id AND e.to_status = 'handled' ORDER BY e.at DESC, e.id DESC LIMIT 1) h
            WHERE h.actor_staff_id = :me_staff OR h.actor = :me_name)"""
        mine = (f"({mine} OR c.status IN ({_statuses([S.REPORTED, S.REGISTERED])}) "
                f"OR (c.status IN ({_statuses([S.HANDLED, S.VERIFIED])}) AND NOT {handled_by_me}))")
    level = LEVEL_OF.get(caller.role)
    conditions = {
        "mine": mine,
        "grids": open_,
        "due_soon": f"c.due_at >= :now AND c.due_at <= :soon AND {open_}",
        "overdue": f"c.due_at < :now AND {open_}",
        "escalated": f"c.escalations > 0 AND c.handling_level = {int(level)} AND {open_}" if level is not None
        else "false",
        "closed": "c.status = 'closed' AND c.closed_at >= :recent",
        "all": "true",
    }
    params = {"now": now, "soon": work_calendar().add(now, DUE_SOON_HOURS), "recent": now - timedelta(days=RECENT_DAYS),
              "me_staff": caller.staff_id, "me_name": caller.username}
    return conditions, params


def counts(session: Session, caller: Principal, filters: InboxFilter, now: datetime) -> dict[str, int]:
    """How many cases each of the caller's tabs holds, with the filters applied: one pass."""
    where = filters.cases(caller).where(session)
    conditions, params = _conditions(caller, now)
    names = tabs_of(caller)
    row = session.execute(text(f"""
        SELECT {", ".join(f"count(*) FILTER (WHERE {conditions[n]}) AS {n}" for n in names)}
        FROM cases c WHERE {where.sql}"""), {**where.params, **params}).one()
    return dict(zip(names, (int(n) for n in row), strict=True))


# --- the cursor ---------------------------------------------------------------------------------

def _encode(tab: str, values: list) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps([tab, plain]).encode()).decode().rstrip("=")


def _decode(tab: Tab, cursor: str) -> list:
    """The keyset values a cursor carries, checked against the tab's keys: anything else is 422."""
    bad = InvalidInput("翻页参数无效，请从第一页重新开始 / the cursor is not one this page gave: start again from "
                       "the first page", where="cursor")
    try:
        name, values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise bad from None
    if name != tab.name or not isinstance(values, list) or len(values) != len(tab.keys) + 1:
        raise bad
    *keys, last = values
    if not _whole(last, 1, 2**63 - 1):
        raise bad
    decoded: list = []
    for (_, kind), value in zip(tab.keys, keys, strict=True):
        if kind == "integer":  # the step's rank
            if not _whole(value, 0, len(STEPS) - 1):
                raise bad
            decoded.append(value)
            continue
        try:
            moment = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise bad from None
        if moment.tzinfo is None:
            raise bad
        decoded.append(moment)
    return [*decoded, last]


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# --- the rows -----------------------------------------------------------------------------------

def _stage_hours_sql() -> str:
    """The working hours the case's current stage may take: the sub-type's, its category's, or the
    settings' (as workflow.deadline_hours decides them)."""
    defaults = get_settings().case_deadlines
    cases = []
    for stage in dict.fromkeys(STAGE.values()):
        statuses = [s for s, st in STAGE.items() if st == stage]
        cases.append(f"WHEN c.status IN ({_statuses(statuses)}) "
                     f"THEN coalesce(sub.{stage}_hours, cat.{stage}_hours, {float(defaults[stage])})")
    return f"CASE {' '.join(cases)} END"


@dataclass(frozen=True)
class InboxPage:
    tab: str
    rows: list[dict]
    next_cursor: str | None


def page(session: Session, caller: Principal, filters: InboxFilter, tab: str, now: datetime, *,
         cursor: str | None = None, limit: int = 50) -> InboxPage:
    """One page of a tab, most urgent first (closed and all: newest first), after ``cursor``."""
    if tab not in tabs_of(caller):
        raise InvalidInput(f"没有“{tab}”这个分页签；可用：{', '.join(tabs_of(caller))} / no tab {tab!r}: use one of "
                           f"{', '.join(tabs_of(caller))}", where="tab")
    spec = TABS[tab]
    where = filters.cases(caller).where(session)
    conditions, params = _conditions(caller, now)
    keys = [sql for sql, _ in (*spec.keys, ID)]
    after = "true"
    if cursor:
        values = _decode(spec, cursor)
        bounds = [f"CAST(:after_{i} AS {kind})" for i, (_, kind) in enumerate((*spec.keys, ID))]
        after = f"({', '.join(keys)}) {'<' if spec.descending else '>'} ({', '.join(bounds)})"
        params |= {f"after_{i}": v for i, v in enumerate(values)}
    direction = " DESC" if spec.descending else ""
    rows = session.execute(text(f"""
        SELECT c.id, c.case_no, c.title, c.status::text AS status, c.category_code, cat.name_zh AS category_zh,
               cat.name_en AS category_en, sub.name_zh AS subtype_zh, sub.name_en AS subtype_en,
               g.code AS grid_code, g.name AS grid_name, st.name AS holder, c.handling_level, c.due_at,
               c.reported_at, c.closed_at, c.escalations, {_stage_hours_sql()} AS stage_hours,
               {", ".join(f"{k} AS key_{i}" for i, k in enumerate(keys))}
        FROM cases c JOIN case_categories cat ON cat.code = c.category_code
        LEFT JOIN case_categories sub ON sub.code = c.subtype_code
        LEFT JOIN grids g ON g.id = c.grid_l2_id LEFT JOIN staff st ON st.id = c.assignee_staff_id
        WHERE {where.sql} AND {conditions[tab]} AND {after}
        ORDER BY {", ".join(k + direction for k in keys)} LIMIT :limit"""),
        {**where.params, **params, "limit": limit + 1}).mappings().all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(tab, [rows[-1][f"key_{i}"] for i in range(len(keys))]) if more else None
    return InboxPage(tab, [_row(r, now) for r in rows], next_cursor)


def _row(row, now: datetime) -> dict:
    status = S(row["status"])
    out = {k: v for k, v in row.items() if not k.startswith("key_")}
    out["step"] = STEPS.get(status)
    out["clock"] = clock(now, row["due_at"], float(row["stage_hours"])) \
        if status in OPEN and row["due_at"] is not None and row["stage_hours"] else None
    return out


def clock(now: datetime, due: datetime, stage_hours: float) -> dict:
    """The working-hours clock of a stage: hours left (negative: past the deadline) and how near
    it is — ``ok`` more than half left, ``soon`` under half, ``near`` under a quarter, ``over``."""
    left = work_calendar().hours_between(now, due)
    share = left / stage_hours
    state = "over" if due < now else "near" if share < 0.25 else "soon" if share < 0.5 else "ok"
    return {"left": round(left, 1), "share": share, "state": state}


def grid_choices(session: Session, caller: Principal) -> list[dict]:
    """The L2 grids in the caller's scope, for the grid filter."""
    condition, params = caller.scope.codes("g.code")
    return [dict(r) for r in session.execute(text(f"""
        SELECT g.code, g.name FROM grids g WHERE g.level = 2 AND g.retired_at IS NULL AND {condition}
        ORDER BY g.code LIMIT 1000"""), params).mappings()]
