"""Coverage's area defects as a database function, so the coverage report, the impact
report of a boundary edit and the map layers (blind spots, overlaps: ``layers/``) all run the
same statement, and a map tile asks only for the families in its box.

``gisgrid_area_defects(sd, community, families, bbox)``: every argument may be NULL (no limit).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE FUNCTION gisgrid_area_defects(p_sd text, p_community text, p_families text[], p_bbox geometry)
RETURNS TABLE (type text, level int, parent_code text, grids text[], area_m2 float8, geom geometry)
LANGUAGE sql STABLE PARALLEL SAFE AS $fn$
WITH parents AS (
    SELECT s.code AS parent_code, 0 AS parent_level, s.boundary AS geom
    FROM subdistricts s
    WHERE (p_bbox IS NULL OR s.boundary && p_bbox)
      AND (p_sd IS NULL OR s.code = p_sd) AND p_community IS NULL
      AND (p_families IS NULL OR s.code = ANY(p_families))
    UNION ALL
    SELECT g.code, g.level, g.geom FROM grids g
    WHERE (p_bbox IS NULL OR g.geom && p_bbox) AND g.level < 3 AND
    g.retired_at IS NULL AND (p_sd IS NULL OR g.subdistrict_code = p_sd)
    AND (p_community IS NULL OR left(g.code, 12) = p_community)

      AND (p_families IS NULL OR g.code = ANY(p_families))
),
kids AS (
    SELECT c.code, c.geom, coalesce(c.parent_code, c.subdistrict_code) AS parent_code
    FROM grids c WHERE
    c.retired_at IS NULL AND (p_sd IS NULL OR c.subdistrict_code = p_sd)
    AND (p_community IS NULL OR left(c.code, 12) = p_community)

      AND (p_families IS NULL OR coalesce(c.parent_code, c.subdistrict_code) = ANY(p_families))
      AND coalesce(c.parent_code, c.subdistrict_code) IN (SELECT parent_code FROM parents)
),
families AS MATERIALIZED (
    SELECT p.parent_code, p.parent_level, p.geom AS parent_geom, u.union_geom,
           coalesce(u.child_area, 0) AS child_area,
           CASE WHEN u.union_geom IS NOT NULL AND ST_Equals(p.geom, u.union_geom)
                THEN ST_GeomFromText('POLYGON EMPTY', 4326)  -- the common case, 4x cheaper to prove
                ELSE ST_Difference(p.geom, coalesce(u.union_geom, ST_GeomFromText('POLYGON EMPTY', 4326)), 1e-07)
           END AS gap
    FROM parents p LEFT JOIN (
        SELECT parent_code, ST_Union(geom) AS union_geom, sum(ST_Area(geom)) AS child_area
        FROM kids GROUP BY parent_code
    ) u USING (parent_code)
    WHERE p.parent_level = 0 OR u.union_geom IS NOT NULL
),
blind AS (
    SELECT 'blind_spot' AS type, parent_level + 1 AS level, parent_code,
           NULL::text[] AS pair, (ST_Dump(ST_CollectionExtract(gap, 3))).geom AS geom
    FROM families
),
suspect AS MATERIALIZED (
    SELECT k.code, k.geom, f.parent_code, f.parent_level, f.parent_geom,
           ST_Area(f.union_geom) - ST_Area(f.parent_geom) + ST_Area(f.gap) > 1e-12 AS may_spill,
           f.child_area - ST_Area(f.union_geom) > 1e-12 AS may_overlap
    FROM families f JOIN kids k USING (parent_code)
    WHERE f.union_geom IS NOT NULL AND (
        ST_Area(f.union_geom) - ST_Area(f.parent_geom) + ST_Area(f.gap) > 1e-12
        OR f.child_area - ST_Area(f.union_geom) > 1e-12)
),
spill AS (
    SELECT 'spill_over' AS type, parent_level + 1 AS level, parent_code, ARRAY[code] AS pair,
           (ST_Dump(ST_CollectionExtract(ST_Difference(geom, parent_geom, 1e-07), 3))).geom AS geom
    FROM suspect WHERE may_spill AND NOT ST_CoveredBy(geom, parent_geom)
),
overlap AS (
    SELECT 'overlap' AS type, a.parent_level + 1 AS level, a.parent_code, ARRAY[a.code, b.code] AS pair,
           (ST_Dump(ST_CollectionExtract(ST_Intersection(a.geom, b.geom, 1e-07), 3))).geom AS geom
    FROM suspect a JOIN suspect b
      ON b.parent_code = a.parent_code AND a.code < b.code AND a.geom && b.geom
    WHERE a.may_overlap AND ST_Relate(a.geom, b.geom, 'T********')
),
pieces AS (
    SELECT * FROM blind UNION ALL SELECT * FROM spill UNION ALL SELECT * FROM overlap
)
SELECT type, level, parent_code,
       CASE WHEN type = 'blind_spot' THEN ARRAY(
           SELECT k.code FROM grids k
           WHERE k.geom && ST_Expand(pieces.geom, 0.0001)
             AND coalesce(k.parent_code, k.subdistrict_code) = pieces.parent_code AND k.retired_at IS NULL
             AND ST_DWithin(k.geom::geography, pieces.geom::geography, 5)
           ORDER BY k.code) ELSE pair END AS grids,
       ST_Area(geom::geography) AS area_m2, geom
FROM pieces WHERE NOT ST_IsEmpty(geom) AND ST_Area(geom) > 0
ORDER BY type, level, parent_code, grids
$fn$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION gisgrid_area_defects(text, text, text[], geometry)")
