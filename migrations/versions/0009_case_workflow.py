"""The case workflow: deadlines per category, routing and escalation, idempotent intake with a
tracking code, attachments, the leading group, visits and training.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGES = ("register", "dispatch", "handle", "close")
# Urgent sub-types get short limits (working hours: register, dispatch, handle, close); the rest
# inherit the settings' defaults until someone sets their own row.
URGENT = {
    "urban_management.emergency": (0.5, 0.5, 2, 4),
    "public_safety.fire_safety": (0.5, 0.5, 2, 4),
    "public_safety.gas_safety": (0.5, 0.5, 2, 4),
    "stability.mass_incident": (0.5, 0.5, 2, 4),
    "urban_management.street_order": (2, 1, 8, 8),
}


def upgrade() -> None:
    for stage in STAGES:
        op.add_column("case_categories", sa.Column(f"{stage}_hours", sa.Numeric(6, 2), nullable=True))
        op.create_check_constraint(f"{stage}_hours_positive", "case_categories",
                                   f"{stage}_hours IS NULL OR {stage}_hours > 0")
    for code, hours in URGENT.items():
        op.execute(sa.text("UPDATE case_categories SET register_hours = :r, dispatch_hours = :d, "
                           "handle_hours = :h, close_hours = :c WHERE code = :code")
                   .bindparams(r=hours[0], d=hours[1], h=hours[2], c=hours[3], code=code))

    op.add_column("cases", sa.Column("tracking_code", sa.String(12), nullable=True,
                                     comment="what a resident follows the case by"))
    op.create_unique_constraint("uq_cases_tracking_code", "cases", ["tracking_code"])
    op.add_column("cases", sa.Column("idempotency_key", sa.String(200), nullable=True))
    op.add_column("cases", sa.Column("request_digest", sa.String(64), nullable=True,
                                     comment="sha256 of the report an idempotency key first carried"))
    op.create_index("uq_cases_idempotency_key", "cases", ["idempotency_key"], unique=True,
                    postgresql_where=sa.text("idempotency_key IS NOT NULL"))
    op.add_column("cases", sa.Column("building_id", sa.Integer, sa.ForeignKey("buildings.id"), nullable=True))
    op.add_column("cases", sa.Column("address", sa.String(200), nullable=True))
    op.add_column("cases", sa.Column("assignee_staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=True))
    op.add_column("cases", sa.Column(
        "handling_level", sa.SmallInteger, nullable=True,
        comment="who handles it: 2 = L2 grid, 1 = community, 0 = the leading group"))
    op.create_check_constraint("handling_level_0_3", "cases", "handling_level BETWEEN 0 AND 3")
    op.add_column("cases", sa.Column("handling_grid_id", sa.Integer, sa.ForeignKey("grids.id"), nullable=True))
    op.add_column("cases", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True,
                                     comment="deadline of the stage the case is in"))
    op.add_column("cases", sa.Column("escalations", sa.SmallInteger, nullable=False, server_default="0"))
    op.add_column("cases", sa.Column("reopens", sa.SmallInteger, nullable=False, server_default="0"))
    op.add_column("cases", sa.Column("duplicate_of", sa.BigInteger, sa.ForeignKey("cases.id"), nullable=True))
    op.add_column("cases", sa.Column("feedback", sa.Text, nullable=True,
                                     comment="the reporter's feedback at closure"))
    op.create_index("ix_cases_assignee", "cases", ["assignee_staff_id"])
    op.create_index("ix_cases_due", "cases", ["due_at"], postgresql_where=sa.text("due_at IS NOT NULL"))

    op.add_column("case_events", sa.Column("kind", sa.String(20), nullable=False, server_default="transition"))
    op.create_check_constraint("kind_known", "case_events", "kind IN ('transition', 'escalation', 'reassignment')")
    op.add_column("case_events", sa.Column("actor_staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=True))
    op.add_column("case_events", sa.Column("assignee_staff_id", sa.Integer, sa.ForeignKey("staff.id"),
                                           nullable=True))
    op.add_column("case_events", sa.Column("handling_level", sa.SmallInteger, nullable=True))
    op.add_column("case_events", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("case_events", sa.Column("on_time", sa.Boolean, nullable=True))
    op.create_index("ix_case_events_at", "case_events", ["at"])
    op.create_index("ix_case_events_missed", "case_events", ["due_at"], postgresql_where=sa.text("on_time = false"))

    op.create_table(
        "case_attachments",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("case_id", sa.BigInteger, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("event_id", sa.BigInteger, sa.ForeignKey("case_events.id"), nullable=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("size_bytes > 0", name="not_empty"),
    )
    op.create_index("ix_case_attachments_case", "case_attachments", ["case_id"])
    op.create_table(
        "case_numbers",
        sa.Column("subdistrict_code", sa.String(9), sa.ForeignKey("subdistricts.code"), primary_key=True),
        sa.Column("year", sa.SmallInteger, primary_key=True),
        sa.Column("last_serial", sa.Integer, nullable=False),
    )
    op.create_table(
        "leading_group_members",
        sa.Column("subdistrict_code", sa.String(9), sa.ForeignKey("subdistricts.code"), primary_key=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), primary_key=True),
        sa.Column("is_head", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.create_index("uq_leading_group_one_head", "leading_group_members", ["subdistrict_code"], unique=True,
                    postgresql_where=sa.text("is_head"))

    op.create_table(
        "visits",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("building_id", sa.Integer, sa.ForeignKey("buildings.id"), nullable=False),
        sa.Column("household_id", sa.Integer, sa.ForeignKey("households.id"), nullable=True),
        sa.Column("subdistrict_code", sa.String(9), sa.ForeignKey("subdistricts.code"), nullable=False),
        sa.Column("grid_l2_id", sa.Integer, sa.ForeignKey("grids.id"), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('visit', 'info_check')", name="kind_known"),
    )
    op.create_index("ix_visits_at", "visits", ["visited_at"])
    op.create_index("ix_visits_staff", "visits", ["staff_id", "visited_at"])
    op.create_index("ix_visits_grid", "visits", ["grid_l2_id", "visited_at"])
    op.create_table(
        "training_courses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subdistrict_code", sa.String(9), sa.ForeignKey("subdistricts.code"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("hours", sa.Numeric(5, 1), nullable=False),
        sa.Column("max_score", sa.Numeric(5, 1), nullable=False, server_default="100"),
        sa.CheckConstraint("hours > 0", name="hours_positive"),
        sa.CheckConstraint("max_score > 0", name="max_score_positive"),
    )
    op.create_table(
        "training_records",
        sa.Column("course_id", sa.Integer, sa.ForeignKey("training_courses.id"), primary_key=True),
        sa.Column("staff_id", sa.Integer, sa.ForeignKey("staff.id"), primary_key=True),
        sa.Column("attended", sa.Boolean, nullable=False),
        sa.Column("score", sa.Numeric(5, 1), nullable=True),
        sa.CheckConstraint("score IS NULL OR score >= 0", name="score_not_negative"),
        sa.CheckConstraint("attended OR score IS NULL", name="score_only_if_attended"),
    )
    op.create_index("ix_training_records_staff", "training_records", ["staff_id"])


def downgrade() -> None:
    for table in ("training_records", "training_courses", "visits", "leading_group_members", "case_numbers",
                  "case_attachments"):
        op.drop_table(table)
    op.drop_index("ix_case_events_missed", "case_events")
    op.drop_index("ix_case_events_at", "case_events")
    op.drop_constraint("kind_known", "case_events")
    for column in ("kind", "actor_staff_id", "assignee_staff_id", "handling_level", "due_at", "on_time"):
        op.drop_column("case_events", column)
    op.drop_index("ix_cases_due", "cases")
    op.drop_index("ix_cases_assignee", "cases")
    op.drop_index("uq_cases_idempotency_key", "cases")
    op.drop_constraint("uq_cases_tracking_code", "cases")
    op.drop_constraint("handling_level_0_3", "cases")
    for column in ("tracking_code", "idempotency_key", "request_digest", "building_id", "address",
                   "assignee_staff_id", "handling_level", "handling_grid_id", "due_at", "escalations", "reopens",
                   "duplicate_of", "feedback"):
        op.drop_column("cases", column)
    for stage in STAGES:
        op.drop_constraint(f"{stage}_hours_positive", "case_categories")
        op.drop_column("case_categories", f"{stage}_hours")
