"""Printable pages: the grid notice board (公示牌) and the building diagram (住户状况显示图).

The board's map is drawn on the server as SVG, in metres of a local projection: it prints
crisply on one A4 page with no tiles and no script. It shows the grid, its children, its
neighbours' outlines and its buildings; the people on it are the team (work phones), and the
vulnerable are only counted, never named. The board hangs on a wall in public, so it counts no
sensitive key group at all (in a grid of 250 households a count of 1 社区矫正对象 names a person):
those counts stay in the staff-only ledger.
"""

from __future__ import annotations

from html import escape

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.scope import Scope
from gisgrid.core.settings import get_settings
from gisgrid.grids import service as grids
from gisgrid.grids.shapes import to_metres
from gisgrid.registry import service as registry

SVG_W, SVG_H = 680, 400


def _path(geom, transform) -> str:
    parts = []
    for polygon in shapely.get_parts(geom):
        for ring in (polygon.exterior, *polygon.interiors):
            points = " L".join(f"{x:.1f},{y:.1f}" for x, y in (transform(c) for c in ring.coords))
            parts.append(f"M{points} Z")
    return " ".join(parts)


def grid_svg(session: Session, code: str) -> str:
    """The grid, its children and buildings, and its neighbours' outlines, as an SVG string."""
    rows = session.execute(text("""
        WITH me AS (SELECT id, geom, level, parent_code FROM grids WHERE code = :code)
        SELECT 'me' AS kind, g.code, g.name, ST_AsBinary(g.geom) AS wkb FROM grids g WHERE g.code = :code
        UNION ALL
        SELECT 'child', g.code, g.name, ST_AsBinary(g.geom) FROM grids g
         WHERE g.parent_code = :code AND g.retired_at IS NULL
        UNION ALL
        SELECT 'neighbour', g.code, g.name, ST_AsBinary(g.geom) FROM grids g, me
         WHERE g.level = me.level AND g.code <> :code AND g.retired_at IS NULL
           AND ST_DWithin(g.geom, me.geom, 0.003)
        UNION ALL
        SELECT 'building', b.name, b.name, ST_AsBinary(b.geom) FROM buildings b, me
         WHERE (me.level = 1 AND b.grid_l1_id = me.id) OR (me.level = 2 AND b.grid_l2_id = me.id)
            OR (me.level = 3 AND b.grid_l3_id = me.id)
    """), {"code": code}).all()
    shapes = [(r.kind, r.code, r.name, shapely.from_wkb(r.wkb)) for r in rows]
    grid = next(g for kind, _, _, g in shapes if kind == "me")
    centre = grid.centroid
    metric = [(kind, c, n, to_metres(g, (centre.x, centre.y))) for kind, c, n, g in shapes]
    mine = next(g for kind, _, _, g in metric if kind == "me")
    x0, y0, x1, y1 = mine.buffer(max(mine.bounds[2] - mine.bounds[0], mine.bounds[3] - mine.bounds[1]) * 0.08).bounds
    scale = min(SVG_W / (x1 - x0), SVG_H / (y1 - y0))
    dx, dy = (SVG_W - (x1 - x0) * scale) / 2, (SVG_H - (y1 - y0) * scale) / 2

    def transform(c):
        return dx + (c[0] - x0) * scale, SVG_H - dy - (c[1] - y0) * scale

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_W} {SVG_H}" class="board-map">',
           f'<clipPath id="frame"><rect width="{SVG_W}" height="{SVG_H}"/></clipPath><g clip-path="url(#frame)">']
    for kind, _, _, geom in metric:
        if kind == "neighbour":
            out.append(f'<path d="{_path(geom, transform)}" fill="#f4f4f4" stroke="#aaa" stroke-width="1"/>')
    out.append(f'<path d="{_path(mine, transform)}" fill="#e8f1fa" stroke="#1f4e79" stroke-width="3"/>')
    for kind, child_code, _, geom in metric:
        if kind == "child":
            out.append(f'<path d="{_path(geom, transform)}" fill="none" stroke="#6baed6" stroke-width="1.2" '
                       'stroke-dasharray="5 3"/>')
            x, y = transform(geom.representative_point().coords[0])
            out.append(f'<text x="{x:.0f}" y="{y:.0f}" class="child">{escape(child_code[-3:])}</text>')
    for kind, _, _, geom in metric:
        if kind == "building":
            x, y = transform(geom.coords[0])
            out.append(f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="#555"/>')
    bar = 10 ** len(str(int((x1 - x0) / 4))) / 10
    bar = next(b for b in (bar * 5, bar * 2, bar) if b * scale < SVG_W / 3)
    out.append(f'</g><g class="scale"><rect x="12" y="{SVG_H - 22}" width="{bar * scale:.0f}" height="5" '
               f'fill="#333"/><text x="12" y="{SVG_H - 26}">{bar:.0f} m</text></g>'
               f'<text x="{SVG_W - 20}" y="28" class="north">N ↑</text></svg>')
    return "".join(out)


def board(session: Session, code: str) -> dict:
    """Everything the notice board prints."""
    ledger = grids.ledger(session, code)
    sensitive = set(session.execute(text("SELECT code FROM key_groups WHERE sensitive")).scalars())
    return {"ledger": ledger, "svg": grid_svg(session, code),
            "service_hours": get_settings().board_service_hours,
            "key_groups": [k for k in ledger["key_groups"] if k["people"] and k["code"] not in sensitive]}


def diagram(session: Session, building_id: int, scope: Scope) -> dict:
    """The household diagram (of a building in ``scope``) with the key-group names for its legend."""
    data = registry.household_diagram(session, building_id, scope=scope)
    data["key_groups"] = {r.code: r.name_zh for r in session.execute(
        text("SELECT code, name_zh FROM key_groups ORDER BY sort_order"))}
    # the badge in a flat's cell: two characters, or the number of "4050人员"
    data["short"] = {code: name[:4] if name[0].isdigit() else name[:2] for code, name in data["key_groups"].items()}
    return data
