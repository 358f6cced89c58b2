"""Boundary editing: grids are retired (kept, never deleted), history records retirements,
and a grid's children can be re-coded under a new parent within one transaction.

- ``grids.retired_at``: a retired grid keeps its row (cases reported in it still point at it)
  and its code (codes are never reused), but is out of every layer, lookup and analysis.
- ``grid_versions.retired``: the version that retired the grid; the layer at time t leaves it out.
- The parent-code foreign key becomes DEFERRABLE without ON UPDATE CASCADE: a merge or split
  re-codes a whole subtree (parent first, children after) and the key is checked at commit.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRID_HISTORY = """
CREATE OR REPLACE FUNCTION gisgrid_grid_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_actor text := coalesce(nullif(current_setting('gisgrid.actor', true), ''), session_user);
    v_reason text := nullif(current_setting('gisgrid.reason', true), '');
    v_operation text := coalesce(nullif(current_setting('gisgrid.operation', true), ''),
                                 lower(TG_OP));
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.geom IS NOT DISTINCT FROM OLD.geom AND NEW.name IS NOT DISTINCT FROM OLD.name
           AND NEW.parent_code IS NOT DISTINCT FROM OLD.parent_code
           AND NEW.code IS NOT DISTINCT FROM OLD.code
           AND NEW.retired_at IS NOT DISTINCT FROM OLD.retired_at THEN
            RETURN NEW;
        END IF;
        IF NEW.version <> OLD.version + 1 THEN
            RAISE EXCEPTION 'grid % changed from version % to %: a change must add exactly one version',
                OLD.code, OLD.version, NEW.version USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF v_reason IS NULL THEN
        RAISE EXCEPTION 'grid % changed without a reason (set gisgrid.reason)', NEW.code
            USING ERRCODE = 'check_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        UPDATE grid_versions SET valid_to = now() WHERE grid_id = OLD.id AND valid_to IS NULL;
    END IF;
    INSERT INTO grid_versions (grid_id, version, code, parent_code, level, name, geom,
                               valid_from, valid_to, changed_by, reason, operation, retired)
    VALUES (NEW.id, NEW.version, NEW.code, NEW.parent_code, NEW.level, NEW.name, NEW.geom,
            now(), NULL, v_actor, v_reason, v_operation, NEW.retired_at IS NOT NULL);
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.add_column("grids", sa.Column(
        "retired_at", sa.DateTime(timezone=True), nullable=True,
        comment="set when the grid's area went to its neighbours; the row and code are kept"))
    op.add_column("grid_versions", sa.Column(
        "retired", sa.Boolean(), server_default=sa.text("false"), nullable=False,
        comment="this version retired the grid"))
    op.create_index("ix_grid_versions_code", "grid_versions", ["code"])
    op.create_index("ix_grid_versions_parent_code", "grid_versions", ["parent_code"])
    op.create_index("ix_grids_active_geom", "grids", ["geom"], postgresql_using="gist",
                    postgresql_where=sa.text("retired_at IS NULL"))
    op.drop_constraint("grids_parent_code_fkey", "grids", type_="foreignkey")
    op.create_foreign_key("grids_parent_code_fkey", "grids", "grids", ["parent_code"], ["code"],
                          deferrable=True, initially="IMMEDIATE")
    op.execute(GRID_HISTORY)


def downgrade() -> None:
    op.execute(GRID_HISTORY.replace(", retired)", ")").replace(
        ", NEW.retired_at IS NOT NULL);", ");").replace(
        "\n           AND NEW.retired_at IS NOT DISTINCT FROM OLD.retired_at", ""))
    op.drop_constraint("grids_parent_code_fkey", "grids", type_="foreignkey")
    op.create_foreign_key("grids_parent_code_fkey", "grids", "grids", ["parent_code"], ["code"],
                          onupdate="CASCADE")
    op.drop_index("ix_grids_active_geom", table_name="grids")
    op.drop_index("ix_grid_versions_parent_code", table_name="grid_versions")
    op.drop_index("ix_grid_versions_code", table_name="grid_versions")
    op.drop_column("grid_versions", "retired")
    op.drop_column("grids", "retired_at")
