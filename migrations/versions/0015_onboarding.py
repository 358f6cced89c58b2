"""Onboarding a real sub-district: its boundary versioned like a grid's, and residents from abroad.

``subdistricts`` gets a ``version``; the ``subdistricts_history`` trigger writes every boundary
or name a sub-district ever had into ``subdistrict_versions`` (who, when, why, which operation),
as ``grids_history`` does for grids, and that table is append-only. A sub-district is never
deleted. Rows that exist before this migration get their first version here. A change with no
``gisgrid.reason`` set (the demo loader's COPY) is recorded with the reason ``loaded``.

``residence_type`` gains ``overseas`` (境外人员), the third kind of 实有人口 a 台帐 lists beside
户籍 and 流动. PostgreSQL cannot drop an enum value, so the downgrade leaves it in the type
(unused) and the upgrade adds it only when missing.

A staff list rarely says a person's sex, so ``staff.sex`` may be empty.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
ALTER TYPE residence_type ADD VALUE IF NOT EXISTS 'overseas';
ALTER TABLE staff ALTER COLUMN sex DROP NOT NULL;
ALTER TABLE subdistricts ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE subdistricts ADD CONSTRAINT ck_subdistricts_version_positive CHECK (version >= 1);

CREATE TABLE subdistrict_versions (
    id serial PRIMARY KEY,
    code varchar(9) NOT NULL REFERENCES subdistricts (code),
    version integer NOT NULL,
    name varchar(100) NOT NULL,
    boundary geometry(MULTIPOLYGON, 4326) NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    changed_by varchar(100) NOT NULL,
    reason varchar(500) NOT NULL,
    operation varchar(30) NOT NULL,
    CONSTRAINT uq_subdistrict_versions_code_version UNIQUE (code, version)
);
CREATE INDEX ix_subdistrict_versions_valid ON subdistrict_versions (valid_from, valid_to);
CREATE INDEX ix_subdistrict_versions_boundary ON subdistrict_versions USING gist (boundary);

INSERT INTO subdistrict_versions (code, version, name, boundary, valid_from, changed_by, reason, operation)
SELECT code, 1, name, boundary, created_at, 'migration 0015', 'loaded', 'insert' FROM subdistricts;

CREATE FUNCTION gisgrid_subdistrict_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_actor text := coalesce(nullif(current_setting('gisgrid.actor', true), ''), session_user);
    v_reason text := coalesce(nullif(current_setting('gisgrid.reason', true), ''), 'loaded');
    v_operation text := coalesce(nullif(current_setting('gisgrid.operation', true), ''), lower(TG_OP));
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.boundary IS NOT DISTINCT FROM OLD.boundary AND NEW.name IS NOT DISTINCT FROM OLD.name THEN
            RETURN NEW;
        END IF;
        IF NEW.code <> OLD.code THEN
            RAISE EXCEPTION 'sub-district % cannot change its code', OLD.code USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.version <> OLD.version + 1 THEN
            RAISE EXCEPTION 'sub-district % changed from version % to %: a change must add exactly one version',
                OLD.code, OLD.version, NEW.version USING ERRCODE = 'check_violation';
        END IF;
        UPDATE subdistrict_versions SET valid_to = now() WHERE code = OLD.code AND valid_to IS NULL;
    END IF;
    INSERT INTO subdistrict_versions (code, version, name, boundary, valid_from, changed_by, reason, operation)
    VALUES (NEW.code, NEW.version, NEW.name, NEW.boundary, now(), left(v_actor, 100), left(v_reason, 500),
            left(v_operation, 30));
    RETURN NEW;
END $$;

CREATE TRIGGER subdistricts_history AFTER INSERT OR UPDATE ON subdistricts
    FOR EACH ROW EXECUTE FUNCTION gisgrid_subdistrict_history();
CREATE TRIGGER subdistricts_never_deleted BEFORE DELETE ON subdistricts
    FOR EACH ROW EXECUTE FUNCTION gisgrid_refuse('sub-districts are kept, never deleted');
CREATE TRIGGER subdistrict_versions_append_only
    BEFORE UPDATE OF code, version, name, boundary, valid_from, changed_by, reason, operation OR DELETE
    ON subdistrict_versions
    FOR EACH ROW EXECUTE FUNCTION gisgrid_refuse('sub-district history is never rewritten');
"""

DOWNGRADE = """
DROP TRIGGER subdistrict_versions_append_only ON subdistrict_versions;
DROP TRIGGER subdistricts_never_deleted ON subdistricts;
DROP TRIGGER subdistricts_history ON subdistricts;
DROP FUNCTION gisgrid_subdistrict_history();
DROP TABLE subdistrict_versions;
ALTER TABLE subdistricts DROP CONSTRAINT ck_subdistricts_version_positive;
ALTER TABLE subdistricts DROP COLUMN version;
UPDATE staff SET sex = 'M' WHERE sex IS NULL;  -- the older schema demands one: a placeholder, said here
ALTER TABLE staff ALTER COLUMN sex SET NOT NULL;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
