"""``grid_leads`` over the current assignments only; cached tiles swept by the renamed ledger tables.

A view names the relation it reads, not its name: when migration 0016 renamed
``grid_assignments`` to ``all_grid_assignments`` (every assignment, ended ones too), the
``grid_leads`` view of migration 0014 went with it and kept showing a replaced lead beside the
new one. It is recreated over the ``grid_assignments`` view (the current assignments), so the
notice board, the grid table, the lookup and case routing name the lead of today at once.

The tile-cache sweep (migration 0007) deletes the tiles whose layer lists the changed table in
``depends_on``; since 0016 the triggers fire on ``all_<name>`` while the layers keep naming the
view (``grid_assignments``, ``buildings`` …), so a change left stale tiles behind. The sweep now
takes a change to ``all_<name>`` as a change to ``<name>``.

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK = "hashtext('gisgrid.tiles')"

LEADS = """
CREATE VIEW grid_leads AS
SELECT a.grid_id, a.staff_id, s.name, s.phone, s.active
FROM {assignments} a JOIN staff s ON s.id = a.staff_id
WHERE a.role = 'grid_lead';
COMMENT ON VIEW grid_leads IS 'per grid with a lead: the lead''s staff id, name, phone and whether still active';
"""

SWEEP = """
CREATE OR REPLACE FUNCTION gisgrid_tiles_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_extent geometry;
    v_rows text;
    v_table text := {table};
BEGIN
    -- exclusive against tile writers until this transaction ends (migration 0007)
    PERFORM pg_advisory_xact_lock({lock});
    IF NOT EXISTS (SELECT 1 FROM tile_cache LIMIT 1) THEN  -- nothing cached: nothing to sweep
        RETURN NULL;
    END IF;
    FOREACH v_rows IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY['new_rows'] WHEN 'DELETE' THEN ARRAY['old_rows']
                                      ELSE ARRAY['old_rows', 'new_rows'] END LOOP
        EXECUTE replace(TG_ARGV[0], '{{rows}}', v_rows) INTO v_extent;
        IF v_extent IS NOT NULL THEN
            DELETE FROM tile_cache WHERE v_table = ANY(tables) AND bbox && v_extent;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute("DROP VIEW grid_leads")
    op.execute(LEADS.format(assignments="grid_assignments"))
    op.execute(SWEEP.format(table="regexp_replace(TG_TABLE_NAME, '^all_', '')", lock=LOCK))


def downgrade() -> None:
    op.execute(SWEEP.format(table="TG_TABLE_NAME", lock=LOCK))
    op.execute("DROP VIEW grid_leads")
    op.execute(LEADS.format(assignments="all_grid_assignments"))
