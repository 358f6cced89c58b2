"""Reading cases for maps: filtered lists, and density computed in the database.

Density comes two ways. ``heat``: cases snapped to a ~20 m lattice and counted, a few thousand
weighted points at most whatever the volume, for a heatmap. ``hex``: counts per hexagon of a
given size (``ST_HexagonGrid`` in Web Mercator, sized in ground metres at the data's
latitude), returned as polygons, for large volumes and for clicking through to the cases.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.cases.results import CaseRow
from gisgrid.core.calendar import local_midnight
from gisgrid.core.enums import CaseStatus
from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.geojson import BBox
from gisgrid.core.paging import JsonPage, Page, Where, json_page
from gisgrid.core.scope import Scope
from gisgrid.core.settings import get_settings
from gisgrid.grids.models import check_grid_code

CLOSED = ("closed", "rejected", "duplicate")


@dataclass(frozen=True, kw_only=True)
class CaseFilter:
    scope: Scope                       # the caller's: required, so no list forgets it
    subdistrict: str | None = None
    category: str | None = None
    status: str | None = None          # a status, or "open" / "closed"
    since: date | None = None
    until: date | None = None
    bbox: BBox | None = None
    cell: tuple[int, int, float] | None = None  # a hexagon of :func:`hexagons`: i, j, size in Mercator
    grid: str | None = None            # reported in this grid (any level)
    assignee: int | None = None        # with this staff member now
    overdue_at: datetime | None = None  # open and past its stage's deadline at this moment

    def where(self, session: Session, alias: str = "c") -> Where:
        where = Where()
        where.add(*self.scope.rows(alias))
        if self.subdistrict:
            where.add(f"{alias}.subdistrict_code = :sd", sd=self.subdistrict)
        if self.category:
            known = session.execute(text("SELECT 1 FROM case_categories WHERE code = :c"),
                                    {"c": self.category}).first()
            if known is None:
                raise InvalidInput(f"未知事件类别 {self.category!r} / unknown case category {self.category!r}",
                                   where="category")
            where.add(f"({alias}.category_code = :category OR {alias}.subtype_code = :category)",
                      category=self.category)
        if self.status == "open":
            where.add(f"{alias}.status::text <> ALL(:closed)", closed=list(CLOSED))
        elif self.status == "closed":
            where.add(f"{alias}.status::text = ANY(:closed)", closed=list(CLOSED))
        elif self.status:
            if self.status not in {s.value for s in CaseStatus}:
                raise InvalidInput(f"未知状态 {self.status!r} / unknown status {self.status!r}: use open, closed or "
                                   f"one of {', '.join(s.value for s in CaseStatus)}", where="status")
            where.add(f"{alias}.status::text = :status", status=self.status)
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("起始日期晚于结束日期 / 'from' is after 'to'", where="from")
        if self.since:
            where.add(f"{alias}.reported_at >= :since", since=local_midnight(self.since))
        if self.until:
            where.add(f"{alias}.reported_at < :until", until=local_midnight(self.until, days_after=1))
        if self.bbox:
            where.add(BBox.sql(f"{alias}.geom"), self.bbox.params())
        if self.grid:
            level = check_grid_code(self.grid, where="grid")
            where.add(f"{alias}.grid_l{level}_id IN (SELECT id FROM grids WHERE code = :grid)", grid=self.grid)
        if self.assignee:
            where.add(f"{alias}.assignee_staff_id = :assignee", assignee=self.assignee)
        if self.overdue_at:
            where.add(f"{alias}.due_at < :overdue_at AND {alias}.status::text <> ALL(:closed)",
                      overdue_at=self.overdue_at, closed=list(CLOSED))
        if self.cell:
            i, j, size = self.cell
            hexagon = "ST_SetSRID(ST_Hexagon(:cell_size, :cell_i, :cell_j), 3857)"
            where.add(f"{alias}.geom && ST_Transform({hexagon}, 4326) "
                      f"AND (SELECT (h.i, h.j) FROM {hexagon_of(alias, ':cell_size')}) = (CAST(:cell_i AS integer), CAST(:cell_j AS integer))",
                      cell_i=i, cell_j=j, cell_size=size)
        return where


def hexagon_of(alias: str, size: str) -> str:
    """The one hexagon (of ``ST_HexagonGrid`` at ``size`` Mercator metres) a case counts in, as a
    FROM item with columns i, j: a point on a shared edge or corner goes to the lowest (i, j), so
    the counts per hexagon and the list of a hexagon's cases come from the same rule."""
    point = f"ST_Transform({alias}.geom, 3857)"
    return (f"ST_HexagonGrid({size}, {point}) h WHERE ST_Intersects(h.geom, {point}) "
            f"ORDER BY h.i, h.j LIMIT 1")


def parse_cell(value: str | None) -> tuple[int, int, float] | None:
    if value is None:
        return None
    match = re.fullmatch(r"(-?[0-9]{1,9}),(-?[0-9]{1,9}),([0-9]{1,7}(?:\.[0-9]+)?)", value.strip())
    if match is None or not 1 <= float(match.group(3)) <= 1e6:
        raise InvalidInput(f"cell 应为 i,j,size（取自六边形的 cell 属性）/ cell must be 'i,j,size' as a hexagon's "
                           f"'cell' property gives it, got {value!r}", where="cell")
    return int(match.group(1)), int(match.group(2)), float(match.group(3))


def heat(session: Session, filters: CaseFilter, cell_m: float = 20.0) -> dict:
    """Weighted points: the cases counted on a lattice of about ``cell_m`` metres."""
    where = filters.where(session)
    rows = session.execute(text(f"""
        SELECT ST_X(cell) AS lon, ST_Y(cell) AS lat, n FROM (
            SELECT ST_SnapToGrid(c.geom, :dx, :dy) AS cell, count(*) AS n
            FROM cases c WHERE {where.sql} GROUP BY 1) cells
        ORDER BY n DESC, lon, lat
    """), {**where.params, "dx": cell_m / 96_000, "dy": cell_m / 111_000}).all()
    total = sum(r.n for r in rows)
    return {"mode": "heat", "cases": total, "cells": len(rows),
            "points": [[round(r.lat, 6), round(r.lon, 6), int(r.n)] for r in rows]}


def hexagons(session: Session, filters: CaseFilter, size_m: float = 150.0) -> dict:
    """Cases counted per hexagon, as a GeoJSON FeatureCollection (empty hexagons left out)."""
    if not 10 <= size_m <= 5000:
        raise InvalidInput(f"六边形大小应在 10–5000 米 / size must be 10 to 5000 m, got {size_m}", where="size")
    where = filters.where(session)
    lat = session.execute(text(f"SELECT avg(ST_Y(c.geom)) FROM cases c WHERE {where.sql}"), where.params).scalar()
    if lat is None:
        return {"type": "FeatureCollection", "features": [], "mode": "hex", "cases": 0}
    mercator_size = size_m / math.cos(math.radians(lat))
    rows = session.execute(text(f"""
        WITH counted AS (
            SELECT cell.i, cell.j, count(*) AS n FROM cases c
            CROSS JOIN LATERAL (SELECT h.i, h.j FROM {hexagon_of("c", ":size")}) cell
            WHERE {where.sql} GROUP BY cell.i, cell.j)
        SELECT i, j, n, ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_Hexagon(:size, i, j), 3857), 4326), 7) AS geometry
        FROM counted ORDER BY n DESC, i, j
    """), {**where.params, "size": mercator_size}).all()
    features = [{"type": "Feature", "id": f"{r.i}:{r.j}", "geometry": json.loads(r.geometry),
                 "properties": {"cases": int(r.n), "cell": f"{r.i},{r.j},{mercator_size!r}"}} for r in rows]
    return {"type": "FeatureCollection", "features": features, "mode": "hex",
            "cases": sum(f["properties"]["cases"] for f in features), "size_m": size_m}


def list_cases(session: Session, filters: CaseFilter, page: Page, now: datetime) -> JsonPage[CaseRow]:
    """Newest first (overdue lists: the longest overdue first)."""
    where = filters.where(session)
    order = "c.due_at, c.id" if filters.overdue_at else "c.reported_at DESC, c.id"
    rows_sql = f"""
        SELECT c.id, c.case_no, c.title, c.category_code, cat.name_zh AS category, c.subtype_code,
               c.status::text AS status, c.reported_at, c.closed_at, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
               g.code AS grid_code, c.handling_level, c.assignee_staff_id, st.name AS assignee, c.due_at,
               (c.due_at IS NOT NULL AND c.due_at < :now AND c.status::text <> ALL(:closed_statuses)) AS overdue,
               c.escalations
        FROM cases c JOIN case_categories cat ON cat.code = c.category_code
        LEFT JOIN grids g ON g.id = c.grid_l2_id LEFT JOIN staff st ON st.id = c.assignee_staff_id
        WHERE {where.sql} ORDER BY {order}
    """
    return json_page(session, rows_sql=rows_sql, count_sql=f"SELECT count(*) FROM cases c WHERE {where.sql}",
                     params={**where.params, "now": now, "closed_statuses": list(CLOSED)}, page=page)


STAGES = ("register", "dispatch", "handle", "close")


def case_in_scope(session: Session, case_no: str, scope: Scope) -> None:
    """A case outside the caller's scope does not exist for them: 404, as for an unknown number."""
    condition, params = scope.rows("c")
    if session.execute(text(f"SELECT 1 FROM cases c WHERE c.case_no = :n AND {condition}"),
                       {"n": case_no, **params}).first() is None:
        raise NotFound(f"没有事件 {case_no} / no case {case_no}", where="case")


def categories(session: Session) -> list[dict]:
    """The eight categories with their sub-types and each stage's time limit in working hours,
    as set on the row and as in force (the row, else the category's, else the settings)."""
    defaults = get_settings().case_deadlines
    rows = session.execute(text(f"""
        SELECT c.code, c.parent_code, c.name_zh, c.name_en,
               {", ".join(f"c.{s}_hours AS own_{s}, coalesce(c.{s}_hours, p.{s}_hours) AS {s}" for s in STAGES)}
        FROM case_categories c LEFT JOIN case_categories p ON p.code = c.parent_code
        ORDER BY coalesce(p.sort_order, c.sort_order), c.parent_code NULLS FIRST, c.sort_order""")).mappings()
    top: dict[str, dict] = {}
    for row in rows:
        item = {"code": row["code"], "name_zh": row["name_zh"], "name_en": row["name_en"],
                "deadline_hours": {s: float(row[s]) if row[s] is not None else defaults[s] for s in STAGES},
                "own_deadline_hours": {s: float(row[f"own_{s}"]) for s in STAGES if row[f"own_{s}"] is not None}}
        if row["parent_code"] is None:
            top[row["code"]] = {**item, "subtypes": []}
        else:
            top[row["parent_code"]]["subtypes"].append(item)
    return list(top.values())


def put_subtype(session: Session, code: str, *, parent: str, name_zh: str, name_en: str,
                deadline_hours: dict[str, float | None]) -> dict:
    """Add a sub-type, or rename it and set its time limits (None: inherit): data, not code."""
    if session.execute(text("SELECT 1 FROM case_categories WHERE code = :p AND parent_code IS NULL"),
                       {"p": parent}).first() is None:
        raise InvalidInput(f"未知事件大类 {parent!r} / unknown category {parent!r}", where="parent")
    if not code.startswith(parent + ".") or not re.fullmatch(r"[a-z0-9_]+", code[len(parent) + 1:]):
        raise InvalidInput(f"小类编码应为 {parent}.<小写字母、数字或下划线> / a sub-type code is {parent}.<a-z0-9_>",
                           where="code")
    unknown = set(deadline_hours) - set(STAGES)
    if unknown:
        raise InvalidInput(f"未知环节 {sorted(unknown)}；环节为 {', '.join(STAGES)} / unknown stages", where="deadline_hours")
    for stage, hours in deadline_hours.items():
        if hours is not None and not 0 < hours <= 2000:
            raise InvalidInput(f"{stage} 时限应在 0–2000 工作小时 / {stage} must be 0–2000 working hours",
                               where=f"deadline_hours.{stage}")
    existing = session.execute(text("SELECT parent_code FROM case_categories WHERE code = :c"), {"c": code}).first()
    if existing is not None and existing.parent_code != parent:
        raise InvalidInput(f"{code} 属于 {existing.parent_code} / {code} belongs to {existing.parent_code}",
                           where="parent")
    hours = {f"{s}_hours": deadline_hours.get(s) for s in STAGES}
    session.execute(text(f"""
        INSERT INTO case_categories (code, parent_code, name_zh, name_en, sort_order, {", ".join(hours)})
        VALUES (:code, CAST(:parent AS varchar), :zh, :en,
                (SELECT coalesce(max(sort_order), 0) + 1 FROM case_categories WHERE parent_code = CAST(:parent AS varchar)),
                {", ".join(f":{h}" for h in hours)})
        ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en,
            {", ".join(f"{h} = excluded.{h}" for h in hours)}"""),
        {"code": code, "parent": parent, "zh": name_zh, "en": name_en, **hours})
    return next(s for c in categories(session) if c["code"] == parent for s in c["subtypes"] if s["code"] == code)
