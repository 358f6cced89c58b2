"""Rules the database enforces itself: grid history by trigger, grids never deleted,
an append-only audit log.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRID_HISTORY = """
CREATE FUNCTION gisgrid_grid_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_actor text := coalesce(nullif(current_setting('gisgrid.actor', true), ''), session_user);
    v_reason text := nullif(current_setting('gisgrid.reason', true), '');
    v_operation text := coalesce(nullif(current_setting('gisgrid.operation', true), ''),
                                 lower(TG_OP));
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.geom IS NOT DISTINCT FROM OLD.geom AND NEW.name IS NOT DISTINCT FROM OLD.name
           AND NEW.parent_code IS NOT DISTINCT FROM OLD.parent_code
           AND NEW.code IS NOT DISTINCT FROM OLD.code THEN
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
                               valid_from, valid_to, changed_by, reason, operation)
    VALUES (NEW.id, NEW.version, NEW.code, NEW.parent_code, NEW.level, NEW.name, NEW.geom,
            now(), NULL, v_actor, v_reason, v_operation);
    RETURN NEW;
END $$;

CREATE TRIGGER grids_history AFTER INSERT OR UPDATE ON grids
    FOR EACH ROW EXECUTE FUNCTION gisgrid_grid_history();

CREATE FUNCTION gisgrid_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER grids_never_deleted BEFORE DELETE ON grids
    FOR EACH ROW EXECUTE FUNCTION gisgrid_refuse('grids are retired, never deleted');
CREATE TRIGGER grid_versions_append_only BEFORE UPDATE OF geom, version, changed_by, reason, operation OR DELETE ON grid_versions
    FOR EACH ROW EXECUTE FUNCTION gisgrid_refuse('grid history is never rewritten');
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION gisgrid_refuse('the audit log is append-only');
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION gisgrid_refuse('the audit log is append-only');
"""


def upgrade() -> None:
    op.execute(GRID_HISTORY)


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
    op.execute("DROP TRIGGER grid_versions_append_only ON grid_versions")
    op.execute("DROP TRIGGER grids_never_deleted ON grids")
    op.execute("DROP TRIGGER grids_history ON grids")
    op.execute("DROP FUNCTION gisgrid_refuse()")
    op.execute("DROP FUNCTION gisgrid_grid_history()")
