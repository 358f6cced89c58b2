"""``grid_leads``: each grid's lead (网格长) with name and phone, the one place that says who it is.

A view over ``grid_assignments`` and ``staff``: one row per grid that has a lead (the partial
unique index ``uq_grid_assignments_one_lead`` allows no second), so every reader joins it by
``grid_id`` instead of writing the role filter and the staff join again. ``active`` stays a
column, not a filter: only case routing skips a lead who has left. The phone is the plain work
number the notice board prints (staff phones are not sealed). The app reads it by the default
privileges of migration 0013; a view over a join takes no writes. Layers that show a lead name
``grid_assignments`` and ``staff`` in ``depends_on``: the view has no triggers of its own.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
CREATE VIEW grid_leads AS
SELECT a.grid_id, a.staff_id, s.name, s.phone, s.active
FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
WHERE a.role = 'grid_lead';
COMMENT ON VIEW grid_leads IS 'per grid with a lead: the lead''s staff id, name, phone and whether still active';
""")


def downgrade() -> None:
    op.execute("DROP VIEW grid_leads")
