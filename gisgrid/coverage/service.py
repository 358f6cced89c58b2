"""Coverage analysis in PostGIS, one report for the API, the CLI and notebooks.

Every overlay runs in PostGIS on a 1e-7° precision grid (the precision grids are stored at,
about 1 cm), so exactly shared borders leave no numerical dust; what remains is real and is
measured on the ellipsoid (``geography``) in m². Pieces under the sliver tolerance
(``GISGRID_SLIVER_TOLERANCE_M2``, default 1 m²) are reported apart as slivers.

A grid with no children is not subdivided, so it has no blind spots below it and no point in it
misses a lower level; the sub-district itself always has (every square metre must be in an L1
zone).

Load is judged on households, the band the source document manages by (200-300户 per grid);
people are reported against their own band next to it. A grid is a defect when its households
are outside the band, or when it has no lead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.settings import get_settings
from gisgrid.grids.defects import AREA_DEFECTS, AREA_DEFECTS_SQL, AREA_LABELS_ZH, SLIVERS
from gisgrid.grids.models import no_such_grid

DEFECT_TYPES = (
    *AREA_DEFECTS, *SLIVERS.values(),
    "orphan_building", "orphan_unit", "orphan_shop",
    "overloaded", "underloaded", "no_lead",
)
LABELS_ZH = {
    **AREA_LABELS_ZH, "orphan_building": "未入格楼栋", "orphan_unit": "未入格单位", "orphan_shop": "未入格商铺",
    "overloaded": "超负荷", "underloaded": "负荷不足", "no_lead": "无网格长", "joined_nearest": "就近划入",
}


@dataclass(frozen=True)
class Scope:
    """What to analyse: a sub-district (or all), optionally one community and/or one level."""

    subdistrict: str | None = None
    community: str | None = None
    level: int | None = None


@dataclass
class Defect:
    type: str
    level: int | None
    grids: list[str]
    geometry: shapely.Geometry
    area_m2: float | None = None
    detail: dict = field(default_factory=dict)


@dataclass
class CoverageReport:
    scope: Scope
    tolerance_m2: float
    summary: dict
    defects: list[Defect]
    loads: list[dict]
    joined_nearest: list[dict]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(DEFECT_TYPES, 0)
        for defect in self.defects:
            counts[defect.type] += 1
        return counts


# --- SQL ------------------------------------------------------------------------------------
# :sd (nullable) limits to a sub-district, :community (nullable) to an L1 zone and below.
_IN_SCOPE = """
    {g}.retired_at IS NULL AND (CAST(:sd AS text) IS NULL OR {g}.subdistrict_code = :sd)
    AND (CAST(:community AS text) IS NULL OR left({g}.code, 12) = :community)
"""

# The levels a point (alias ``p``) lacks. L1 is always expected. A lower level is expected when
# the nearest grid the point has above it is subdivided down to that level (has live descendants
# there): a grid with nothing below it is not subdivided, so nothing below it is missing, as it
# has no blind spots. A point in no grid at all lacks every level its sub-district has.
MISSING_LEVELS = """array_remove(ARRAY[
    CASE WHEN p.grid_l1_id IS NULL THEN 1 END,
    CASE WHEN p.grid_l2_id IS NULL AND CASE WHEN p.grid_l1_id IS NULL
        THEN EXISTS (SELECT 1 FROM grids c WHERE c.subdistrict_code = p.subdistrict_code AND c.level = 2 AND c.retired_at IS NULL)
        ELSE EXISTS (SELECT 1 FROM grids c JOIN grids up ON c.parent_code = up.code WHERE up.id = p.grid_l1_id AND c.retired_at IS NULL)
        END THEN 2 END,
    CASE WHEN p.grid_l3_id IS NULL AND CASE
        WHEN p.grid_l2_id IS NOT NULL
        THEN EXISTS (SELECT 1 FROM grids c JOIN grids up ON c.parent_code = up.code WHERE up.id = p.grid_l2_id AND c.retired_at IS NULL)
        WHEN p.grid_l1_id IS NOT NULL
        THEN EXISTS (SELECT 1 FROM grids c JOIN grids mid ON c.parent_code = mid.code JOIN grids up ON mid.parent_code = up.code
                     WHERE up.id = p.grid_l1_id AND mid.retired_at IS NULL AND c.retired_at IS NULL)
        ELSE EXISTS (SELECT 1 FROM grids c WHERE c.subdistrict_code = p.subdistrict_code AND c.level = 3 AND c.retired_at IS NULL)
        END THEN 3 END], NULL)"""

ORPHANS = f"""
SELECT :kind AS type, id, name, ST_AsBinary(geom) AS wkb, levels FROM (
    SELECT p.id, p.name, p.geom, {MISSING_LEVELS} AS levels
    FROM {{table}} p
    WHERE (CAST(:sd AS text) IS NULL OR p.subdistrict_code = :sd)
      AND (p.grid_l1_id IS NULL OR p.grid_l2_id IS NULL OR p.grid_l3_id IS NULL)
      AND (CAST(:community AS text) IS NULL
           OR p.grid_l1_id = (SELECT id FROM grids WHERE code = :community)
           OR (p.grid_l1_id IS NULL AND ST_Intersects(p.geom, (SELECT geom FROM grids WHERE code = :community))))
) missing
WHERE cardinality(levels) > 0 AND (CAST(:level AS int) IS NULL OR :level = ANY(levels))
ORDER BY id
"""

JOINED_NEAREST = """
SELECT u.id, u.name, g.code AS grid_code,
       round(ST_Distance(u.geom::geography, g.geom::geography)::numeric, 1) AS distance_m
FROM stationed_units u JOIN grids g ON g.id = u.grid_l2_id
WHERE u.joined_nearest AND (CAST(:sd AS text) IS NULL OR u.subdistrict_code = :sd)
  AND (CAST(:community AS text) IS NULL OR left(g.code, 12) = :community)
ORDER BY u.id
"""

# Each grid's load as grid_loads keeps it (the buildings it holds, migration 0008): the figures
# /grids, the ledger and the grid layers show.
LOADS = f"""
SELECT g.code, g.name, g.level, coalesce(load.households, 0) AS households,
       coalesce(load.people, 0) AS people,
       EXISTS (SELECT 1 FROM grid_leads lead WHERE lead.grid_id = g.id) AS has_lead
FROM grids g LEFT JOIN grid_loads load ON load.grid_id = g.id
WHERE {_IN_SCOPE.format(g="g")} AND (CAST(:level AS int) IS NULL OR g.level = :level)
ORDER BY g.code
"""

TERRITORY_AREA = """
SELECT coalesce(sum(ST_Area(boundary::geography)), 0) FROM subdistricts
WHERE (CAST(:sd AS text) IS NULL OR code = :sd) AND CAST(:community AS text) IS NULL
UNION ALL
SELECT ST_Area(geom::geography) FROM grids WHERE code = :community
"""

# A household is covered at level L when its building lacks no level down to L (MISSING_LEVELS):
# a building in an L2 with no micro-grids, or in a community not subdivided, is covered at L3.
HOUSEHOLDS_COVERED = f"""
SELECT count(*) AS households,
       count(*) FILTER (WHERE NOT b.missing && ARRAY[1]) AS l1,
       count(*) FILTER (WHERE NOT b.missing && ARRAY[1, 2]) AS l2,
       count(*) FILTER (WHERE NOT b.missing && ARRAY[1, 2, 3]) AS l3
FROM households h JOIN (
    SELECT p.id, {MISSING_LEVELS} AS missing
    FROM buildings p
    WHERE (CAST(:sd AS text) IS NULL OR p.subdistrict_code = :sd)
      AND (CAST(:community AS text) IS NULL OR p.grid_l1_id = (SELECT id FROM grids WHERE code = :community)
           OR (p.grid_l1_id IS NULL AND ST_Intersects(p.geom, (SELECT geom FROM grids WHERE code = :community))))
) b ON b.id = h.building_id
WHERE h.occupancy <> 'vacant'
"""


def _check_scope(session: Session, scope: Scope) -> None:
    if scope.level is not None and scope.level not in (1, 2, 3):
        raise InvalidInput(f"level must be 1, 2 or 3, got {scope.level}", where="level")
    if scope.subdistrict is not None:
        if session.execute(text("SELECT 1 FROM subdistricts WHERE code = :c"),
                           {"c": scope.subdistrict}).first() is None:
            raise NotFound(f"no sub-district with code {scope.subdistrict}", where="subdistrict")
    if scope.community is not None:
        row = session.execute(text("SELECT level FROM grids WHERE code = :c"),
                              {"c": scope.community}).first()
        if row is None:
            raise no_such_grid(scope.community, where="community")
        if row.level != 1:
            raise InvalidInput(f"{scope.community} is a level-{row.level} grid, not a community zone",
                               where="community")


def analyse(session: Session, scope: Scope = Scope(), tolerance_m2: float | None = None) -> CoverageReport:
    """The whole coverage report for ``scope``."""
    _check_scope(session, scope)
    settings = get_settings()
    tolerance = settings.sliver_tolerance_m2 if tolerance_m2 is None else tolerance_m2
    params = {"sd": scope.subdistrict, "community": scope.community, "level": scope.level,
              "families": None}

    defects: list[Defect] = []
    gap_area = dict.fromkeys((1, 2, 3), 0.0)
    for row in session.execute(text(AREA_DEFECTS_SQL), params):
        if row.type == "blind_spot":
            gap_area[row.level] += row.area_m2
        if scope.level is not None and row.level != scope.level:
            continue
        kind = row.type if row.area_m2 >= tolerance else SLIVERS[row.type]
        detail = {} if row.type == "overlap" else {"parent": row.parent_code}
        defects.append(Defect(kind, row.level, list(row.grids), shapely.from_wkb(row.wkb),
                              round(row.area_m2, 2), detail))

    for kind, table in (("orphan_building", "buildings"), ("orphan_unit", "stationed_units"),
                        ("orphan_shop", "shops")):
        for row in session.execute(text(ORPHANS.format(table=table)), {**params, "kind": kind}):
            defects.append(Defect(kind, None, [], shapely.from_wkb(row.wkb), None,
                                  {"id": row.id, "name": row.name, "missing_levels": list(row.levels)}))

    loads, flagged = [], []
    for row in session.execute(text(LOADS), params):
        bands = settings.load_bands[row.level]
        status = bands.households.classify(row.households)
        people_status = bands.people.classify(row.people)
        loads.append({"code": row.code, "name": row.name, "level": row.level,
                      "households": row.households, "people": row.people,
                      "status": status, "people_status": people_status, "has_lead": row.has_lead})
        figures = {"households": row.households, "people": row.people,
                   "band": [bands.households.low, bands.households.high], "people_status": people_status}
        if status != "within":
            flagged.append(("overloaded" if status == "over" else "underloaded", row.level, row.code, figures))
        if not row.has_lead:
            flagged.append(("no_lead", row.level, row.code, {}))
    shapes = dict(session.execute(
        text("SELECT code, ST_AsBinary(geom) FROM grids WHERE code = ANY(:codes)"),
        {"codes": sorted({code for _, _, code, _ in flagged})},
    ).all())
    defects += [Defect(kind, level, [code], shapely.from_wkb(shapes[code]), None, figures)
                for kind, level, code, figures in flagged]

    joined = [dict(row._mapping) for row in session.execute(text(JOINED_NEAREST), params)]
    for item in joined:
        item["distance_m"] = float(item["distance_m"])
    report = CoverageReport(scope, tolerance, {}, defects, loads, joined)
    report.summary = _summary(session, params, report, gap_area)
    return report


def _summary(session: Session, params: dict, report: CoverageReport, gap_area: dict) -> dict:
    """Area covered at level L is the territory less every gap down to L: the part of it that
    lies in a grid of each level above and at L (a spill into a neighbour's gap does not count).
    Households covered at L are those in a building that lacks no level down to L, by the rule
    that finds orphans, so the two figures always agree."""
    territory = sum(session.execute(text(TERRITORY_AREA), params).scalars())
    households = session.execute(text(HOUSEHOLDS_COVERED), params).one()

    def pct(part, whole):
        return round(100.0 * part / whole, 3) if whole else None

    by_level, uncovered = {}, 0.0
    for level in (1, 2, 3):
        uncovered += gap_area[level]
        by_level[level] = {
            "area_covered_pct": pct(territory - uncovered, territory),
            "households_covered_pct": pct(getattr(households, f"l{level}"), households.households),
        }
    return {
        "area_m2": round(territory, 1),
        "area_covered_pct": by_level[3]["area_covered_pct"],
        "households": households.households,
        "households_covered_pct": by_level[3]["households_covered_pct"],
        "by_level": by_level,
        "grids": len(report.loads),
        "defects": report.counts(),
        "joined_nearest_units": len(report.joined_nearest),
        "sliver_tolerance_m2": report.tolerance_m2,
    }


def touching(report: CoverageReport, sees: Callable[[str], bool]) -> CoverageReport:
    """The report with only the defects involving a grid the caller sees (a grid worker's own),
    naming only those grids: an overlap with a neighbour shows as the worker's own grid's."""
    return replace(report, defects=[replace(d, grids=[code for code in d.grids if sees(code)]) for d in report.defects
                                    if any(sees(code) for code in d.grids)],
                   loads=[row for row in report.loads if sees(row["code"])],
                   joined_nearest=[row for row in report.joined_nearest if sees(row["grid_code"])])


def defect_features(report: CoverageReport) -> dict:
    """The defects as an RFC 7946 FeatureCollection, each feature typed by ``defect``."""
    features = []
    for index, defect in enumerate(report.defects, 1):
        features.append({
            "type": "Feature",
            "id": index,
            "geometry": geojson_geometry(defect.geometry),
            "properties": {
                "defect": defect.type,
                "label": LABELS_ZH[defect.type],
                "level": defect.level,
                "grids": defect.grids,
                "area_m2": defect.area_m2,
                **defect.detail,
            },
        })
    return {"type": "FeatureCollection", "features": features}


def geojson_geometry(geom: shapely.Geometry) -> dict | None:
    """``geom`` as GeoJSON at the 1e-7° it was computed on, exteriors counter-clockwise.

    Rounded point by point, never snapped again as a whole: re-noding a 1 cm wide needle on the
    grid (GEOS's default) collapses it to an empty polygon, which is not GeoJSON. If rounding
    would make it invalid it is written as it is; a defect with no area left at all has no
    geometry (``null``), keeping its place, type and area in the list.
    """
    rounded = shapely.set_precision(geom, 1e-7, mode="pointwise")
    shape = rounded if rounded.is_valid else geom
    if shape.geom_type in ("Polygon", "MultiPolygon"):
        parts = [part for part in shapely.get_parts(shape) if part.area > 0]
        if not parts:
            return None
        shape = parts[0] if shape.geom_type == "Polygon" else shapely.MultiPolygon(parts)
    elif shape.is_empty:
        return None
    return json.loads(shapely.to_geojson(shapely.orient_polygons(shape)))


def report_json(report: CoverageReport) -> dict:
    return {
        "scope": {"subdistrict": report.scope.subdistrict, "community": report.scope.community,
                  "level": report.scope.level},
        "summary": report.summary,
        "joined_nearest": report.joined_nearest,
        "defects": defect_features(report),
    }


def frames(report: CoverageReport) -> dict:
    """For notebooks: one GeoDataFrame per defect type (EPSG:4326), plus ``loads``."""
    import geopandas
    import pandas

    out = {}
    for kind in DEFECT_TYPES:
        rows = [d for d in report.defects if d.type == kind]
        out[kind] = geopandas.GeoDataFrame(
            [{"level": d.level, "grids": d.grids, "area_m2": d.area_m2, **d.detail} for d in rows],
            geometry=[d.geometry for d in rows], crs="EPSG:4326",
        )
    out["loads"] = pandas.DataFrame(report.loads)
    return out


def coverage_frames(engine, scope: Scope = Scope(), tolerance_m2: float | None = None):
    """Run the analysis on an engine and return :func:`frames` — the notebook entry point."""
    with Session(engine) as session:
        return frames(analyse(session, scope, tolerance_m2))
