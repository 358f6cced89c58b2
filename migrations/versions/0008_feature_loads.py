"""Per-building and per-grid loads kept exact by triggers, so map layers read counts, not joins.

``building_loads`` holds, per building, its occupied households, the people of its households
(sum of ``member_count``), its residents in at least one key group and the code of its L2 grid;
``grid_loads`` holds, per grid, the households and people of the buildings it holds at its
level. The buildings and grid layers read them instead of counting households, residents and key
groups per feature at tile time (and the buildings layer joins one narrow table, not two).

Statement triggers on households, residents and resident_key_groups recompute the loads of the
buildings their changed rows touch (and of those buildings' grids); triggers on buildings
recompute the grids a membership change moves buildings between, and the grid code of a building
whose L2 grid changes or is renumbered (``codes_*`` on buildings and grids). Recomputing (not adding
deltas) keeps distinct counts exact; it runs after taking the change lock of migration 0007
exclusively, and each later statement of the function reads a fresh snapshot, so a recompute
sees every change committed before it and none can commit during it: concurrent changes never
lose an update. A recompute that changes nothing writes nothing.

Both tables get the tile-cache sweep triggers of migration 0007: a changed load sweeps the tiles
over its building or grid, so layers name these tables in ``depends_on``. Cached tiles are
compressed with lz4 where the server has it: pglz cost about 0.2 ms of database CPU to store a
20 KB buildings tile, lz4 next to nothing.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK = "hashtext('gisgrid.tiles')"

# The buildings a changed row touches, from {rows} (the rows that differ between old and new).
BUILDINGS_TOUCHED = {
    "households": ("id, building_id, occupancy, member_count", "SELECT building_id FROM {rows}"),
    "residents": ("id, household_id",
                  "SELECT h.building_id FROM households h WHERE h.id IN (SELECT household_id FROM {rows})"),
    "resident_key_groups": ("resident_id",
                            "SELECT h.building_id FROM households h JOIN residents r ON r.household_id = h.id "
                            "WHERE r.id IN (SELECT resident_id FROM {rows})"),
}
MEMBERSHIP = "id, grid_l1_id, grid_l2_id, grid_l3_id"
# The buildings whose L2 grid code a changed row alters.
CODES_TOUCHED = {
    "buildings": ("id, grid_l2_id", "SELECT id FROM {rows}"),
    "grids": ("id, code", "SELECT b.id FROM buildings b WHERE b.grid_l2_id IN (SELECT id FROM {rows})"),
}

# The tile-cache boxes of migration 0007 for the new tables.
EXTENTS = {
    "building_loads": "SELECT ST_Extent(b.geom) FROM buildings b WHERE b.id IN (SELECT building_id FROM {rows})",
    "grid_loads": "SELECT ST_Extent(g.geom) FROM grids g WHERE g.id IN (SELECT grid_id FROM {rows})",
}

SETUP = f"""
CREATE TABLE building_loads (
    building_id integer PRIMARY KEY REFERENCES buildings (id) ON DELETE CASCADE,
    households integer NOT NULL,
    people integer NOT NULL,
    key_group_people integer NOT NULL,
    grid_code varchar(18)
);
COMMENT ON TABLE building_loads IS 'per building: occupied households, people, key-group residents, L2 grid code (triggers)';
CREATE TABLE grid_loads (
    grid_id integer PRIMARY KEY REFERENCES grids (id),
    households integer NOT NULL,
    people integer NOT NULL
);
COMMENT ON TABLE grid_loads IS 'per grid: occupied households and people of its buildings (triggers)';

CREATE FUNCTION gisgrid_refresh_grid_loads(p_grids integer[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK});
    INSERT INTO grid_loads AS gl (grid_id, households, people)
    SELECT g.id, coalesce(sum(m.households), 0), coalesce(sum(m.people), 0)
    FROM grids g LEFT JOIN (
        SELECT 1 AS level, b.grid_l1_id AS grid_id, l.households, l.people
        FROM buildings b JOIN building_loads l ON l.building_id = b.id WHERE b.grid_l1_id = ANY(p_grids)
        UNION ALL
        SELECT 2, b.grid_l2_id, l.households, l.people
        FROM buildings b JOIN building_loads l ON l.building_id = b.id WHERE b.grid_l2_id = ANY(p_grids)
        UNION ALL
        SELECT 3, b.grid_l3_id, l.households, l.people
        FROM buildings b JOIN building_loads l ON l.building_id = b.id WHERE b.grid_l3_id = ANY(p_grids)
    ) m ON m.grid_id = g.id AND m.level = g.level
    WHERE g.id = ANY(p_grids)
    GROUP BY g.id
    ON CONFLICT (grid_id) DO UPDATE SET households = excluded.households, people = excluded.people
    WHERE (gl.households, gl.people) IS DISTINCT FROM (excluded.households, excluded.people);
END $$;

CREATE FUNCTION gisgrid_refresh_building_loads(p_buildings integer[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK});
    INSERT INTO building_loads AS bl (building_id, households, people, key_group_people, grid_code)
    SELECT b.id, coalesce(h.households, 0), coalesce(h.people, 0), coalesce(k.people, 0), g.code
    FROM buildings b
    LEFT JOIN grids g ON g.id = b.grid_l2_id
    LEFT JOIN (
        SELECT building_id, count(*) FILTER (WHERE occupancy <> 'vacant') AS households,
               sum(member_count) AS people
        FROM households WHERE building_id = ANY(p_buildings) GROUP BY building_id
    ) h ON h.building_id = b.id
    LEFT JOIN (
        SELECT h.building_id, count(DISTINCT rk.resident_id) AS people
        FROM households h JOIN residents r ON r.household_id = h.id
        JOIN resident_key_groups rk ON rk.resident_id = r.id
        WHERE h.building_id = ANY(p_buildings) GROUP BY h.building_id
    ) k ON k.building_id = b.id
    WHERE b.id = ANY(p_buildings)
    ON CONFLICT (building_id) DO UPDATE
        SET households = excluded.households, people = excluded.people, key_group_people = excluded.key_group_people,
            grid_code = excluded.grid_code
    WHERE (bl.households, bl.people, bl.key_group_people, bl.grid_code)
          IS DISTINCT FROM (excluded.households, excluded.people, excluded.key_group_people, excluded.grid_code);
    PERFORM gisgrid_refresh_grid_loads(ARRAY(
        SELECT DISTINCT unnest(ARRAY[grid_l1_id, grid_l2_id, grid_l3_id]) FROM buildings WHERE id = ANY(p_buildings)));
END $$;

-- TG_ARGV: [0] the columns that matter, [1] the query from {{rows}} to what to recompute,
-- [2] 'buildings' or 'grids'. Only rows whose columns that matter changed count.
CREATE FUNCTION gisgrid_loads_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_changed text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT ' || TG_ARGV[0] || ' FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT ' || TG_ARGV[0] || ' FROM old_rows'
        ELSE format('(SELECT %1$s FROM new_rows EXCEPT SELECT %1$s FROM old_rows) UNION ALL '
                    '(SELECT %1$s FROM old_rows EXCEPT SELECT %1$s FROM new_rows)', TG_ARGV[0]) END;
    v_ids integer[];
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK});  -- before reading which buildings a row is in
    EXECUTE 'SELECT array_agg(DISTINCT i) FROM (' || replace(TG_ARGV[1], '{{rows}}', '(' || v_changed || ') c')
            || ') x(i) WHERE i IS NOT NULL' INTO v_ids;
    IF v_ids IS NULL THEN
        RETURN NULL;
    ELSIF TG_ARGV[2] = 'buildings' THEN
        PERFORM gisgrid_refresh_building_loads(v_ids);
    ELSE
        PERFORM gisgrid_refresh_grid_loads(v_ids);
    END IF;
    RETURN NULL;
END $$;
"""

LZ4 = """
DO $$ BEGIN
    ALTER TABLE tile_cache ALTER COLUMN tile SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;  -- a server built without lz4 keeps pglz
END $$;
"""

FILL = """
SELECT gisgrid_refresh_building_loads(ARRAY(SELECT id FROM buildings));
SELECT gisgrid_refresh_grid_loads(ARRAY(SELECT id FROM grids));
"""

EVENTS = (("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
          ("DELETE", "OLD TABLE AS old_rows"))


def _quote(sql: str) -> str:
    return "'" + " ".join(sql.split()).replace("'", "''") + "'"


def _triggers() -> list[tuple[str, str, str, str, str]]:
    """(trigger name, table, the columns that matter, what they touch, buildings or grids)."""
    out = [("loads", table, columns, query, "buildings") for table, (columns, query) in BUILDINGS_TOUCHED.items()]
    out.append(("loads", "buildings", MEMBERSHIP, "SELECT unnest(ARRAY[grid_l1_id, grid_l2_id, grid_l3_id]) FROM {rows}",
                "grids"))
    out += [("codes", table, columns, query, "buildings") for table, (columns, query) in CODES_TOUCHED.items()]
    return out


def upgrade() -> None:
    op.execute(SETUP)
    for name, table, columns, query, target in _triggers():
        for event, transition in EVENTS:
            op.execute(f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {table} REFERENCING {transition} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION "
                       f"gisgrid_loads_changed({_quote(columns)}, {_quote(query)}, '{target}')")
    for table, extent in EXTENTS.items():
        for event, transition in EVENTS:
            op.execute(f"CREATE TRIGGER tiles_{event.lower()} AFTER {event} ON {table} REFERENCING {transition} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_tiles_changed({_quote(extent)})")
    op.execute(LZ4)
    op.execute(FILL)


def downgrade() -> None:
    op.execute("ALTER TABLE tile_cache ALTER COLUMN tile SET COMPRESSION default")
    for name, table, *_ in _triggers():
        for event, _ in EVENTS:
            op.execute(f"DROP TRIGGER {name}_{event.lower()} ON {table}")
    op.execute("DROP FUNCTION gisgrid_loads_changed()")
    op.execute("DROP FUNCTION gisgrid_refresh_building_loads(integer[])")
    op.execute("DROP FUNCTION gisgrid_refresh_grid_loads(integer[])")
    op.execute("DROP TABLE grid_loads")
    op.execute("DROP TABLE building_loads")
