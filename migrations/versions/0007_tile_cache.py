"""A vector-tile cache in the database, invalidated exactly and atomically by the data it shows.

``tile_cache`` holds rendered MVT tiles with the box they cover and the tables their layer reads
(its ``depends_on``). Statement triggers on those tables work out the box a change touches
(changed rows and, for points and people, the grids they count towards) and delete the tiles
there, in the same transaction as the change. An advisory lock orders tile writers (shared)
against changes (exclusive), so a tile computed from data a change is about to replace can
never be stored after that change has swept its box: the cache never serves a stale tile.

UNLOGGED: the cache is rebuilt by use, so it need not survive a crash or be replicated.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK = "hashtext('gisgrid.tiles')"

# The box a change to each table touches; {rows} is the transition table (old or new rows).
BUILDINGS_OF = """SELECT ST_Extent(e) FROM (
    SELECT b.geom AS e FROM buildings b WHERE b.id IN ({ids})
    UNION ALL
    SELECT g.geom FROM grids g JOIN buildings b ON g.id IN (b.grid_l1_id, b.grid_l2_id, b.grid_l3_id)
    WHERE b.id IN ({ids})) x"""
EXTENTS = {
    "subdistricts": "SELECT ST_Extent(boundary) FROM {rows}",
    "grids": "SELECT ST_Extent(geom) FROM {rows}",
    "buildings": """SELECT ST_Extent(e) FROM (
        SELECT geom AS e FROM {rows}
        UNION ALL SELECT g.geom FROM grids g JOIN {rows} r ON g.id IN (r.grid_l1_id, r.grid_l2_id, r.grid_l3_id)) x""",
    "stationed_units": """SELECT ST_Extent(e) FROM (
        SELECT geom AS e FROM {rows}
        UNION ALL SELECT g.geom FROM grids g JOIN {rows} r ON g.id IN (r.grid_l1_id, r.grid_l2_id, r.grid_l3_id)) x""",
    "shops": """SELECT ST_Extent(e) FROM (
        SELECT geom AS e FROM {rows}
        UNION ALL SELECT g.geom FROM grids g JOIN {rows} r ON g.id IN (r.grid_l1_id, r.grid_l2_id, r.grid_l3_id)) x""",
    "cases": "SELECT ST_Expand(ST_Extent(geom)::geometry, 0.01) FROM {rows}",
    "households": BUILDINGS_OF.format(ids="SELECT building_id FROM {rows}"),
    "residents": BUILDINGS_OF.format(
        ids="SELECT h.building_id FROM households h WHERE h.id IN (SELECT household_id FROM {rows})"),
    "resident_key_groups": BUILDINGS_OF.format(
        ids="SELECT h.building_id FROM households h JOIN residents r ON r.household_id = h.id "
            "WHERE r.id IN (SELECT resident_id FROM {rows})"),
    "grid_assignments": "SELECT ST_Extent(g.geom) FROM grids g WHERE g.id IN (SELECT grid_id FROM {rows})",
    "staff": "SELECT ST_Extent(g.geom) FROM grids g JOIN grid_assignments a ON a.grid_id = g.id "
             "WHERE a.staff_id IN (SELECT id FROM {rows})",
}

SETUP = f"""
CREATE UNLOGGED TABLE tile_cache (
    layer text NOT NULL,  -- layer name and definition digest
    z smallint NOT NULL,
    x integer NOT NULL,
    y integer NOT NULL,
    tables text[] NOT NULL,
    bbox geometry(Polygon, 4326) NOT NULL,
    tile bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (layer, z, x, y)
);
CREATE INDEX ix_tile_cache_bbox ON tile_cache USING gist (bbox);
COMMENT ON COLUMN tile_cache.layer IS 'layer name and definition digest';

CREATE FUNCTION gisgrid_tiles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_extent geometry;
    v_rows text;
BEGIN
    -- exclusive against tile writers until this transaction ends (see the module docstring)
    PERFORM pg_advisory_xact_lock({LOCK});
    IF NOT EXISTS (SELECT 1 FROM tile_cache LIMIT 1) THEN  -- nothing cached: nothing to sweep
        RETURN NULL;
    END IF;
    FOREACH v_rows IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY['new_rows'] WHEN 'DELETE' THEN ARRAY['old_rows']
                                      ELSE ARRAY['old_rows', 'new_rows'] END LOOP
        EXECUTE replace(TG_ARGV[0], '{{rows}}', v_rows) INTO v_extent;
        IF v_extent IS NOT NULL THEN
            DELETE FROM tile_cache WHERE TG_TABLE_NAME = ANY(tables) AND bbox && v_extent;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
"""


def _quote(sql: str) -> str:
    return "'" + " ".join(sql.split()).replace("'", "''") + "'"


def upgrade() -> None:
    op.execute(SETUP)
    for table, extent in EXTENTS.items():
        for event, transition in (("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                                  ("DELETE", "OLD TABLE AS old_rows")):
            op.execute(f"CREATE TRIGGER tiles_{event.lower()} AFTER {event} ON {table} REFERENCING {transition} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_tiles_changed({_quote(extent)})")


def downgrade() -> None:
    for table in EXTENTS:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER tiles_{event} ON {table}")
    op.execute("DROP FUNCTION gisgrid_tiles_changed()")
    op.execute("DROP TABLE tile_cache")
