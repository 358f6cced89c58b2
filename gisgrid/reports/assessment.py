"""The assessment (考核) for a period, per grid or per worker, in the three parts the source
document names: 工作实绩 (work performance, from the case record), 业务技能 (skills, from
training scores) and 群众满意度 (residents' satisfaction), weighted by the settings.

The rates are counts over case events in the period ``[from, to]`` (local dates):
- 按时立案率  registrations made within the register deadline / registrations
- 准确派遣率  dispatches from registration not followed by a reassignment / those dispatches
- 按期处置率  handled steps within the handling deadline in force / handled steps
- 按期结案率  closures within the close deadline / closures
- 结案率      cases reported in the period and closed by its end / cases registered among them
- 平均处置时长 mean hours from the dispatch a handled step answers (the latest dispatch before it:
              the first, a reopening or an escalation) to that step, for steps in the period
- median time to close: hours from report to closure, for closures in the period
- reopen rate: failed checks (verified → dispatched) / checks made (verified steps)
- escalation rate: cases escalated in the period / cases held in the period (dispatched, in
  progress, handled or escalated then)
A grid's figures count the cases reported in it; a worker's count the steps taken while the
case was with them (the event's assignee). A rate with nothing to count is null and is left
out of the part it feeds. Nothing after the period counts, so a past period reads the same later. 工作实绩 is the mean of the available rates among 按时立案率 (grids
only), 准确派遣率 (grids only), 按期处置率, 按期结案率, 结案率 (grids only), 1 − reopen rate and
1 − escalation rate, × 100; 业务技能 the mean training score (% of the course's maximum; an absence
counts 0, attendance without a test is left out) of the courses held in the period; 群众满意度 (mean rating − 1) / 4 × 100.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.cases.calendar import work_calendar
from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.scope import Scope
from gisgrid.core.settings import get_settings
from gisgrid.staff.service import assigned_within

RATES = ("on_time_registration", "accurate_dispatch", "on_time_handling", "on_time_closure", "closure",
         "reopen", "escalation")
LABELS = {
    "on_time_registration": "按时立案率", "accurate_dispatch": "准确派遣率", "on_time_handling": "按期处置率",
    "on_time_closure": "按期结案率", "closure": "结案率", "reopen": "返工率", "escalation": "上报率",
    "mean_handling_hours": "平均处置时长（小时）", "median_close_hours": "结案时长中位数（小时）",
    "cases_handled": "处置件数", "satisfaction": "满意度（1–5）", "ratings": "评价件数",
    "training_score": "培训成绩", "performance": "工作实绩", "skills": "业务技能",
    "satisfaction_score": "群众满意度", "total": "综合得分", "rank": "排名",
}

# One row per unit with the raw counts; ``{unit}`` is the unit's key on each event row ``e`` of
# case ``c``, ``{scope}`` limits to the sub-district.
COUNTS = """
WITH ev AS (
    SELECT {unit} AS unit, e.*, c.reported_at, c.satisfaction AS case_satisfaction
    FROM case_events e JOIN cases c ON c.id = e.case_id
    WHERE e.at >= :start AND e.at < :end AND {scope}
)
SELECT unit,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'registered') AS registrations,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'registered' AND on_time) AS registrations_on_time,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'dispatched' AND from_status = 'registered')
        AS dispatches,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'dispatched' AND from_status = 'registered'
        AND NOT EXISTS (SELECT 1 FROM case_events r WHERE r.case_id = ev.case_id AND r.kind = 'reassignment'
                        AND r.at >= ev.at AND r.at < :end)) AS dispatches_accurate,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'handled') AS handled,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'handled' AND on_time) AS handled_on_time,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'closed') AS closures,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'closed' AND on_time) AS closures_on_time,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'verified') AS checks,
    count(*) FILTER (WHERE kind = 'transition' AND to_status = 'dispatched' AND from_status = 'verified') AS reopens,
    count(DISTINCT ev.case_id) FILTER (WHERE kind = 'escalation'
        OR to_status IN ('dispatched', 'in_progress', 'handled')) AS cases_held,
    count(DISTINCT ev.case_id) FILTER (WHERE kind = 'escalation') AS cases_escalated,
    avg(extract(epoch FROM ev.at - (
            SELECT max(d.at) FROM case_events d WHERE d.case_id = ev.case_id AND d.at <= ev.at
            AND ((d.kind = 'transition' AND d.to_status = 'dispatched') OR d.kind = 'escalation'))) / 3600)
        FILTER (WHERE kind = 'transition' AND to_status = 'handled') AS mean_handling_hours,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ev.at - ev.reported_at) / 3600)
        FILTER (WHERE kind = 'transition' AND to_status = 'closed') AS median_close_hours,
    avg(case_satisfaction) FILTER (WHERE kind = 'transition' AND to_status = 'closed') AS satisfaction,
    count(case_satisfaction) FILTER (WHERE kind = 'transition' AND to_status = 'closed') AS ratings
FROM ev WHERE unit IS NOT NULL
GROUP BY unit
"""

# A step counts for the worker who had the case after it, except an escalation or a failed check,
# which count against the worker who had it before.
WORKER_UNIT = """CASE WHEN e.kind = 'escalation' OR (e.to_status = 'dispatched' AND e.from_status = 'verified')
    THEN (SELECT p.assignee_staff_id FROM case_events p WHERE p.case_id = e.case_id AND (p.at, p.id) < (e.at, e.id)
          ORDER BY p.at DESC, p.id DESC LIMIT 1)
    ELSE e.assignee_staff_id END"""

# Closure rate, grids only: of the cases reported in the period and registered, those closed by its end.
CLOSURE = """
SELECT g.id AS unit, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id
                                     AND e.to_status = 'registered' AND e.kind = 'transition')) AS registered,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.kind = 'transition'
                                      AND e.to_status = 'closed' AND e.at < :end)) AS closed
FROM cases c JOIN grids g ON g.id = c.grid_l2_id
WHERE c.reported_at >= :start AND c.reported_at < :end AND {scope}
GROUP BY g.id
"""

# Training: per worker, the mean of score / max (absences 0) over courses held in the period.
TRAINING = """
SELECT r.staff_id, avg(CASE WHEN NOT r.attended THEN 0 ELSE 100.0 * r.score / t.max_score END) AS score
FROM training_records r JOIN training_courses t ON t.id = r.course_id
WHERE t.held_on >= :since AND t.held_on <= :until AND {scope}
GROUP BY r.staff_id
"""


def _bounds(since: date, until: date) -> tuple[datetime, datetime]:
    if since > until:
        raise InvalidInput("起始日期晚于结束日期 / 'from' is after 'to'", where="from")
    if not (date(2000, 1, 1) <= since and until <= date(2100, 12, 31)):
        raise InvalidInput("考核期应在 2000–2100 年 / an assessment period lies in 2000–2100", where="from")
    if (until - since).days > 366:
        raise InvalidInput("考核期不超过一年 / an assessment period is at most a year", where="to")
    zone = work_calendar().zone
    return datetime.combine(since, time.min, zone), datetime.combine(until + timedelta(days=1), time.min, zone)


def _ratio(part, whole) -> float | None:
    return None if not whole else round(part / whole, 4)


def _rates(counts: dict, closure: dict | None) -> dict:
    rates = {
        "on_time_registration": _ratio(counts["registrations_on_time"], counts["registrations"]),
        "accurate_dispatch": _ratio(counts["dispatches_accurate"], counts["dispatches"]),
        "on_time_handling": _ratio(counts["handled_on_time"], counts["handled"]),
        "on_time_closure": _ratio(counts["closures_on_time"], counts["closures"]),
        "closure": _ratio(closure["closed"], closure["registered"]) if closure else None,
        "reopen": _ratio(counts["reopens"], counts["checks"]),
        "escalation": _ratio(counts["cases_escalated"], counts["cases_held"]),
    }
    return rates


def _scores(rates: dict, satisfaction: float | None, training: float | None, by: str) -> dict:
    performance_parts = [rates["on_time_handling"], rates["on_time_closure"],
                         None if rates["reopen"] is None else 1 - rates["reopen"],
                         None if rates["escalation"] is None else 1 - rates["escalation"]]
    if by == "grid":
        performance_parts += [rates["on_time_registration"], rates["accurate_dispatch"], rates["closure"]]
    present = [p for p in performance_parts if p is not None]
    parts = {
        "performance": round(100 * sum(present) / len(present), 2) if present else None,
        "skills": None if training is None else round(training, 2),
        "satisfaction_score": None if satisfaction is None else round((satisfaction - 1) / 4 * 100, 2),
    }
    weights = get_settings().assessment_weights
    weighted = [(weights[k], parts[n]) for k, n in (("performance", "performance"), ("skills", "skills"),
                                                    ("satisfaction", "satisfaction_score")) if parts[n] is not None]
    total_weight = sum(w for w, _ in weighted)
    parts["total"] = round(sum(w * v for w, v in weighted) / total_weight, 2) if total_weight else None
    return parts


def assessment(session: Session, *, since: date, until: date, by: str, scope: Scope,
               subdistrict: str | None = None) -> dict:
    """The ranking table: one row per L2 grid (``by='grid'``) or per worker (``by='worker'``).
    In a caller's ``scope``, only their grids and the workers assigned to them, counted over the
    cases in it (a sub-district beyond it is 404); in the whole installation, everything."""
    if by not in ("grid", "worker"):
        raise InvalidInput("by 应为 grid 或 worker / by is grid or worker", where="by")
    start, end = _bounds(since, until)
    if subdistrict is not None and scope.subdistrict not in (None, subdistrict):
        raise NotFound(f"没有街道 {subdistrict} / no sub-district {subdistrict}", where="subdistrict")
    cases, grids = scope.rows("c"), scope.codes("g.code")
    params = {"start": start, "end": end, "since": since, "until": until, "sd": subdistrict, **cases[1], **grids[1]}
    case_scope = ("c.subdistrict_code = :sd" if subdistrict else "true") + f" AND {cases[0]}"
    unit = "c.grid_l2_id" if by == "grid" else WORKER_UNIT
    counts = {r["unit"]: dict(r) for r in session.execute(
        text(COUNTS.format(unit=unit, scope=case_scope)), params).mappings()}
    closure = {r["unit"]: dict(r) for r in session.execute(text(CLOSURE.format(scope=case_scope)), params).mappings()} \
        if by == "grid" else {}
    training_scope = "t.subdistrict_code = :sd" if subdistrict else "true"
    training = {r.staff_id: float(r.score) for r in session.execute(text(TRAINING.format(scope=training_scope)),
                                                                      params)}
    if by == "grid":
        units = session.execute(text(f"""
            SELECT g.id, g.code, g.name, lead.staff_id, lead.name AS lead,
                   (SELECT array_agg(a.staff_id) FROM grid_assignments a WHERE a.grid_id = g.id
                      AND a.role IN ('grid_lead', 'full_time_worker')) AS team
            FROM grids g LEFT JOIN grid_leads lead ON lead.grid_id = g.id
            WHERE g.level = 2 AND g.retired_at IS NULL AND (CAST(:sd AS text) IS NULL OR g.subdistrict_code = :sd)
              AND {grids[0]}
            ORDER BY g.code"""), params).mappings().all()
    else:
        staff_scope = assigned_within(scope)
        units = session.execute(text(f"""
            SELECT s.id, s.name, s.title,
                   (SELECT string_agg(DISTINCT g.code, ',' ORDER BY g.code) FROM grid_assignments a
                      JOIN grids g ON g.id = a.grid_id WHERE a.staff_id = s.id AND {grids[0]}) AS grids
            FROM staff s WHERE s.id = ANY(:ids) AND {staff_scope[0]} ORDER BY s.id"""),
            {**params, **staff_scope[1], "ids": list(counts) + [k for k in training if k not in counts]}
        ).mappings().all()
    rows = []
    empty = dict.fromkeys(("registrations", "registrations_on_time", "dispatches", "dispatches_accurate", "handled",
                           "handled_on_time", "closures", "closures_on_time", "checks", "reopens",
                           "cases_held", "cases_escalated", "ratings"), 0)
    for u in units:
        c = counts.get(u["id"], {**empty, "mean_handling_hours": None, "median_close_hours": None,
                                 "satisfaction": None})
        if by == "grid":
            team = [training[s] for s in (u["team"] or []) if s in training]
            skill = sum(team) / len(team) if team else None
            row = {"grid": u["code"], "name": u["name"], "lead": u["lead"]}
        else:
            skill = training.get(u["id"])
            row = {"staff_id": u["id"], "name": u["name"], "title": u["title"], "grids": u["grids"]}
        rates = _rates(c, closure.get(u["id"]) if by == "grid" else None)
        satisfaction = None if c["satisfaction"] is None else float(c["satisfaction"])
        row |= {
            "cases_handled": c["handled"], **rates,
            "mean_handling_hours": None if c["mean_handling_hours"] is None else round(float(c["mean_handling_hours"]), 2),
            "median_close_hours": None if c["median_close_hours"] is None else round(float(c["median_close_hours"]), 2),
            "satisfaction": None if satisfaction is None else round(satisfaction, 3), "ratings": c["ratings"],
            "training_score": None if skill is None else round(skill, 2),
            **_scores(rates, satisfaction, skill, by),
        }
        rows.append(row)
    ranked = sorted(rows, key=lambda r: (r["total"] is None, -(r["total"] or 0)))
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank if row["total"] is not None else None
    return {"by": by, "from": since.isoformat(), "to": until.isoformat(), "subdistrict": subdistrict,
            "weights": get_settings().assessment_weights, "items": ranked}
