"""The ledger (台帐) kept current: every record versioned, ended rather than deleted, readable as of any moment.

Records end, they are not deleted: a household moves out, a resident dies, a shop closes, a
building is demolished, a key-group term or a grid assignment runs out. Each ledger table is
renamed ``all_<table>`` and keeps every record, current and ended (``ended_on``, ``end_reason``);
the old name becomes a view of the current records only, so every reader that counts, maps or
lists "now" keeps reading what it read, and inserts, updates and deletes through the view reach
the table (PostgreSQL's automatically updatable views). ``staff`` stays a table (a released
person's name still shows on the cases they handled) and gets the same columns.

Every record carries ``version`` (1 on insert), when that version began (``valid_from``), who
made it, why and by which operation. The ``ledger_version`` trigger keeps the versions: an update
that changes anything moves the old row into ``ledger_versions`` (append-only, ``valid_to`` the
moment it was replaced; geometries as hex EWKB so the row can be rebuilt with
``jsonb_populate_record``) and stamps the new one from ``gisgrid.actor`` / ``gisgrid.reason`` /
``gisgrid.operation``; a transaction makes one version however often it writes the row (its
membership placed after an insert, a household's size after its residents left); a delete (only tests and benchmarks delete) keeps the last row the same
way. Personal fields are kept exactly as stored: encrypted, masked, blind-indexed. A stale save
is refused by the service (``UPDATE … WHERE version = :expected``), not here. Rows that existed
before this migration begin at ``-infinity``: the ledger as of any earlier moment is today's.

Key-group memberships get an id, a start and an end, so one person can hold 低保 twice; one
open membership per person and group. Residents get ``separated`` (人户分离: registered in this
household but living elsewhere). The natural keys (a building's address, a household's flat, a
staff member's role on a grid, one lead per grid) hold among current records only.

``ledger_requests`` keeps the Idempotency-Key of every write through the API, so a retry on a
weak connection answers the first result instead of writing twice.

The loads triggers of migration 0008 now count a record's end as a change.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWED = ("buildings", "households", "residents", "resident_key_groups", "stationed_units", "shops",
          "grid_assignments")
GEOMETRIES = {"buildings": ("geom", "footprint"), "stationed_units": ("geom",), "shops": ("geom",)}
# migration 0004's indexes, named after their table as SQLAlchemy names them
MEMBERSHIP_INDEXES = [(table, level) for table in ("buildings", "stationed_units", "shops") for level in (1, 2, 3)]
ACTOR = "coalesce(nullif(current_setting('gisgrid.actor', true), ''), session_user)"
REASON = "coalesce(nullif(current_setting('gisgrid.reason', true), ''), '')"

BOOKKEEPING = f"""
ALTER TABLE {{table}}
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN valid_from timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN changed_by varchar(100) NOT NULL DEFAULT 'migration 0016',
    ADD COLUMN change_reason varchar(500) NOT NULL DEFAULT '',
    ADD COLUMN change_operation varchar(30) NOT NULL DEFAULT 'create',
    ADD COLUMN ended_on date,
    ADD COLUMN end_reason varchar(30),
    ADD CONSTRAINT ck_{{name}}_ended_with_reason CHECK ((ended_on IS NULL) = (end_reason IS NULL));
ALTER TABLE {{table}}
    ALTER COLUMN valid_from SET DEFAULT now(),
    ALTER COLUMN changed_by SET DEFAULT left({ACTOR}, 100),
    ALTER COLUMN change_reason SET DEFAULT left({REASON}, 500),
    ALTER COLUMN change_operation SET DEFAULT left(coalesce(nullif(current_setting('gisgrid.operation', true), ''),
                                                            'create'), 30);
CREATE TRIGGER ledger_version BEFORE UPDATE OR DELETE ON {{table}}
    FOR EACH ROW EXECUTE FUNCTION gisgrid_ledger_version('{{name}}', '{{geometries}}');
"""

SETUP = f"""
CREATE TABLE ledger_versions (
    id bigserial PRIMARY KEY,
    kind varchar(40) NOT NULL,
    record_id integer NOT NULL,
    version integer NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz NOT NULL,
    changed_by varchar(100) NOT NULL,
    reason varchar(500) NOT NULL,
    operation varchar(30) NOT NULL,
    data jsonb NOT NULL,
    CONSTRAINT uq_ledger_versions_record_version UNIQUE (kind, record_id, version)
);
CREATE TABLE ledger_requests (
    key varchar(100) PRIMARY KEY,
    account varchar(100) NOT NULL,
    kind varchar(40) NOT NULL,
    record_id integer,
    at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ledger_requests IS 'Idempotency-Key of every ledger write: a retry answers the first result';
CREATE INDEX ix_ledger_versions_valid ON ledger_versions (kind, valid_to, valid_from);
COMMENT ON TABLE ledger_versions IS 'every replaced version of a ledger record (trigger ledger_version)';
CREATE TRIGGER ledger_versions_append_only BEFORE UPDATE OR DELETE ON ledger_versions
    FOR EACH ROW EXECUTE FUNCTION gisgrid_refuse('ledger history is never rewritten');

-- TG_ARGV: [0] the record kind (the view's name), [1] its geometry columns as a text array
CREATE FUNCTION gisgrid_ledger_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_data jsonb := to_jsonb(OLD);
    v_column text;
    v_hex text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        NEW.version := OLD.version;
        NEW.valid_from := OLD.valid_from;
        NEW.changed_by := OLD.changed_by;
        NEW.change_reason := OLD.change_reason;
        NEW.change_operation := OLD.change_operation;
        IF NEW IS NOT DISTINCT FROM OLD OR OLD.valid_from = now() THEN
            RETURN NEW;  -- nothing changed, or changed again by the transaction that made this version
        END IF;
    END IF;
    FOREACH v_column IN ARRAY TG_ARGV[1]::text[] LOOP
        EXECUTE format('SELECT encode(ST_AsEWKB($1.%I), ''hex'')', v_column) USING OLD INTO v_hex;
        v_data := jsonb_set(v_data, ARRAY[v_column], coalesce(to_jsonb(v_hex), 'null'::jsonb));
    END LOOP;
    INSERT INTO ledger_versions (kind, record_id, version, valid_from, valid_to, changed_by, reason, operation, data)
    VALUES (TG_ARGV[0], OLD.id, OLD.version, OLD.valid_from, now(), OLD.changed_by, OLD.change_reason,
            OLD.change_operation, v_data);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    NEW.version := OLD.version + 1;
    NEW.valid_from := now();
    NEW.changed_by := left({ACTOR}, 100);
    NEW.change_reason := left({REASON}, 500);
    NEW.change_operation := left(coalesce(nullif(current_setting('gisgrid.operation', true), ''), 'update'), 30);
    RETURN NEW;
END $$;
"""

KEY_GROUPS = """
ALTER TABLE resident_key_groups DROP CONSTRAINT resident_key_groups_pkey;
ALTER TABLE resident_key_groups ADD COLUMN id serial PRIMARY KEY;
ALTER TABLE resident_key_groups ADD COLUMN started_on date;
CREATE INDEX ix_resident_key_groups_resident ON resident_key_groups (resident_id);
ALTER TABLE residents ADD COLUMN separated boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN residents.separated IS '人户分离: registered in this household, living elsewhere';
"""

NATURAL_KEYS = """
ALTER TABLE buildings DROP CONSTRAINT buildings_address_key;
CREATE UNIQUE INDEX uq_buildings_address_current ON buildings (address) WHERE ended_on IS NULL;
ALTER TABLE households DROP CONSTRAINT uq_households_flat;
CREATE UNIQUE INDEX uq_households_flat ON households (building_id, entrance, floor, room) WHERE ended_on IS NULL;
CREATE UNIQUE INDEX uq_resident_key_groups_open ON resident_key_groups (resident_id, key_group)
    WHERE ended_on IS NULL;
ALTER TABLE grid_assignments DROP CONSTRAINT uq_grid_assignments_staff_grid_role;
CREATE UNIQUE INDEX uq_grid_assignments_staff_grid_role ON grid_assignments (staff_id, grid_id, role)
    WHERE ended_on IS NULL;
DROP INDEX uq_grid_assignments_one_lead;
CREATE UNIQUE INDEX uq_grid_assignments_one_lead ON grid_assignments (grid_id)
    WHERE role = 'grid_lead' AND ended_on IS NULL;
"""

# an insert through a view takes the view's defaults, not the table's: give it the table's
VIEW_DEFAULTS = """
DO $$ DECLARE c record; BEGIN
    FOR c IN SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS expr
             FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = 'all_{table}'::regclass LOOP
        EXECUTE format('ALTER VIEW {table} ALTER COLUMN %I SET DEFAULT %s', c.attname, c.expr);
    END LOOP;
END $$;
"""

# migration 0008's loads triggers, now with the end of a record among the columns that matter
LOADS = {
    "households": ("id, building_id, occupancy, member_count, ended_on", "SELECT building_id FROM {rows}",
                   "buildings"),
    "residents": ("id, household_id, ended_on",
                  "SELECT h.building_id FROM all_households h WHERE h.id IN (SELECT household_id FROM {rows})",
                  "buildings"),
    "resident_key_groups": ("resident_id, ended_on",
                            "SELECT h.building_id FROM all_households h JOIN all_residents r "
                            "ON r.household_id = h.id WHERE r.id IN (SELECT resident_id FROM {rows})", "buildings"),
    "buildings": ("id, grid_l1_id, grid_l2_id, grid_l3_id, ended_on",
                  "SELECT unnest(ARRAY[grid_l1_id, grid_l2_id, grid_l3_id]) FROM {rows}", "grids"),
}
OLD_LOADS = {
    "households": ("id, building_id, occupancy, member_count", "SELECT building_id FROM {rows}", "buildings"),
    "residents": ("id, household_id",
                  "SELECT h.building_id FROM households h WHERE h.id IN (SELECT household_id FROM {rows})",
                  "buildings"),
    "resident_key_groups": ("resident_id",
                            "SELECT h.building_id FROM households h JOIN residents r ON r.household_id = h.id "
                            "WHERE r.id IN (SELECT resident_id FROM {rows})", "buildings"),
    "buildings": ("id, grid_l1_id, grid_l2_id, grid_l3_id",
                  "SELECT unnest(ARRAY[grid_l1_id, grid_l2_id, grid_l3_id]) FROM {rows}", "grids"),
}
EVENTS = (("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
          ("DELETE", "OLD TABLE AS old_rows"))


def _quote(sql: str) -> str:
    return "'" + " ".join(sql.split()).replace("'", "''") + "'"


def _loads(name: str, definitions: dict) -> None:
    columns, query, target = definitions[name]
    table = f"all_{name}"
    for event, transition in EVENTS:
        op.execute(f"DROP TRIGGER loads_{event.lower()} ON {table}")
        op.execute(f"CREATE TRIGGER loads_{event.lower()} AFTER {event} ON {table} REFERENCING {transition} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION "
                   f"gisgrid_loads_changed({_quote(columns)}, {_quote(query)}, '{target}')")


def upgrade() -> None:
    op.execute(SETUP)
    op.execute(KEY_GROUPS)
    for table in (*VIEWED, "staff"):
        geometries = "{" + ",".join(GEOMETRIES.get(table, ())) + "}"
        op.execute(BOOKKEEPING.format(table=table, name=table, geometries=geometries))
    op.execute(NATURAL_KEYS)
    for table in VIEWED:
        op.execute(f"ALTER TABLE {table} RENAME TO all_{table}")
        op.execute(f"CREATE VIEW {table} AS SELECT * FROM all_{table} WHERE ended_on IS NULL")
        op.execute(f"COMMENT ON VIEW {table} IS 'the current {table}: all_{table} without the ended ones'")
        op.execute(VIEW_DEFAULTS.format(table=table))
    for table, level in MEMBERSHIP_INDEXES:
        op.execute(f"ALTER INDEX ix_{table}_grid_l{level}_id RENAME TO ix_all_{table}_grid_l{level}_id")
    op.execute("REVOKE ALL ON ledger_versions FROM gisgrid_app")
    op.execute("GRANT SELECT, INSERT ON ledger_versions TO gisgrid_app")
    op.execute("GRANT USAGE ON SEQUENCE ledger_versions_id_seq TO gisgrid_app")
    for table in (*VIEWED, "staff"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO gisgrid_app")
    op.execute("GRANT USAGE, SELECT ON SEQUENCE resident_key_groups_id_seq TO gisgrid_app")
    for table in LOADS:
        _loads(table, LOADS)
    for table in (*VIEWED, "staff"):  # statistics for ended_on, which every current-records view filters on
        op.execute(f"ANALYZE {'staff' if table == 'staff' else 'all_' + table}")


def downgrade() -> None:
    for table in LOADS:
        _loads(table, OLD_LOADS)
    for table, level in MEMBERSHIP_INDEXES:
        op.execute(f"ALTER INDEX ix_all_{table}_grid_l{level}_id RENAME TO ix_{table}_grid_l{level}_id")
    for table in reversed(VIEWED):  # the older schema has no ended records: they go (dependents first)
        op.execute(f"DROP VIEW {table}")
        op.execute(f"DELETE FROM all_{table} WHERE ended_on IS NOT NULL")
        op.execute(f"ALTER TABLE all_{table} RENAME TO {table}")
    op.execute("""
        DROP INDEX uq_grid_assignments_one_lead;
        CREATE UNIQUE INDEX uq_grid_assignments_one_lead ON grid_assignments (grid_id) WHERE role = 'grid_lead';
        DROP INDEX uq_grid_assignments_staff_grid_role;
        ALTER TABLE grid_assignments ADD CONSTRAINT uq_grid_assignments_staff_grid_role
            UNIQUE (staff_id, grid_id, role);
        DROP INDEX uq_resident_key_groups_open;
        DROP INDEX uq_households_flat;
        ALTER TABLE households ADD CONSTRAINT uq_households_flat UNIQUE (building_id, entrance, floor, room);
        DROP INDEX uq_buildings_address_current;
        ALTER TABLE buildings ADD CONSTRAINT buildings_address_key UNIQUE (address);
    """)
    for table in (*VIEWED, "staff"):
        op.execute(f"DROP TRIGGER ledger_version ON {table}")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_ended_with_reason, DROP COLUMN version, "
                   "DROP COLUMN valid_from, DROP COLUMN changed_by, DROP COLUMN change_reason, "
                   "DROP COLUMN change_operation, DROP COLUMN ended_on, DROP COLUMN end_reason")
    op.execute("""
        ALTER TABLE residents DROP COLUMN separated;
        DROP INDEX ix_resident_key_groups_resident;
        DELETE FROM resident_key_groups a USING resident_key_groups b
            WHERE a.resident_id = b.resident_id AND a.key_group = b.key_group AND a.id > b.id;
        ALTER TABLE resident_key_groups DROP COLUMN started_on, DROP COLUMN id;
        ALTER TABLE resident_key_groups ADD PRIMARY KEY (resident_id, key_group);
        DROP TABLE ledger_versions;
        DROP TABLE ledger_requests;
        DROP FUNCTION gisgrid_ledger_version();
    """)
