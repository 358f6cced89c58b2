"""Each kept ledger version remembers the building that placed it when it was replaced.

A version is counted in the grid it belonged to then, not where its record is now: a household
that moves today must not take last week's changes with it out of last week's grid. Households
name their building in the version itself, but a resident or a key-group membership reaches its
building through its household, which may move later; so the building is stamped on the version
as it is kept (a BEFORE INSERT trigger on ``ledger_versions``), and the week's changes are placed
by it. Units and shops carry their grids in the version itself and need no stamp.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the building of a kept version, from the version's own data as the records stand at that moment
BUILDING_OF = """CASE {kind} WHEN 'buildings' THEN {record_id}
    WHEN 'households' THEN ({data}->>'building_id')::int
    WHEN 'residents' THEN (SELECT h.building_id FROM all_households h WHERE h.id = ({data}->>'household_id')::int)
    WHEN 'resident_key_groups' THEN (SELECT h.building_id FROM all_residents r
                                     JOIN all_households h ON h.id = r.household_id
                                     WHERE r.id = ({data}->>'resident_id')::int)
    END"""


def upgrade() -> None:
    op.execute("ALTER TABLE ledger_versions ADD COLUMN building_id integer")
    op.execute("COMMENT ON COLUMN ledger_versions.building_id IS "
               "'the building that placed the record when this version was replaced (trigger ledger_version_place)'")
    op.execute("ALTER TABLE ledger_versions DISABLE TRIGGER ledger_versions_append_only")
    op.execute("UPDATE ledger_versions SET building_id = "
               + BUILDING_OF.format(kind="kind", record_id="record_id", data="data"))
    op.execute("ALTER TABLE ledger_versions ENABLE TRIGGER ledger_versions_append_only")
    op.execute(f"""
        CREATE FUNCTION gisgrid_ledger_version_place() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.building_id := {BUILDING_OF.format(kind="NEW.kind", record_id="NEW.record_id", data="NEW.data")};
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER ledger_version_place BEFORE INSERT ON ledger_versions "
               "FOR EACH ROW EXECUTE FUNCTION gisgrid_ledger_version_place()")
    op.execute("CREATE INDEX ix_ledger_versions_building ON ledger_versions (building_id, valid_from)")


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_version_place ON ledger_versions")
    op.execute("DROP FUNCTION gisgrid_ledger_version_place()")
    op.execute("ALTER TABLE ledger_versions DROP COLUMN building_id")
