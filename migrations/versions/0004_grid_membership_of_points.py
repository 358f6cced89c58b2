"""Stored grid membership of buildings, stationed units and shops at every level; units in no
grid join the nearest one (驻社区单位就近划入网格).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("buildings", "stationed_units", "shops")
LEVELS = (1, 2, 3)


def upgrade() -> None:
    for table in TABLES:
        for level in LEVELS:
            column = f"grid_l{level}_id"
            op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(f"{table}_{column}_fkey", table, "grids", [column], ["id"])
            op.create_index(f"ix_{table}_{column}", table, [column])
    op.add_column(
        "stationed_units",
        sa.Column(
            "joined_nearest", sa.Boolean(), server_default=sa.text("false"), nullable=False,
            comment="in no grid, so joined to the nearest one (驻社区单位就近划入网格)",
        ),
    )


def downgrade() -> None:
    op.drop_column("stationed_units", "joined_nearest")
    for table in TABLES:
        for level in LEVELS:
            op.drop_column(table, f"grid_l{level}_id")
