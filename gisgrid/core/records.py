"""Ledger records (migration 0016): versioned, ended rather than deleted.

Each ledger table is ``all_<name>`` and keeps every record, current and ended; ``<name>`` is a
view of the current ones, which every reader of "now" uses. The ``ledger_version`` trigger keeps
each replaced version in ``ledger_versions``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

# the current-records view → the table that keeps every record
VIEWED = ("buildings", "households", "residents", "resident_key_groups", "stationed_units", "shops",
          "grid_assignments")
ALL = {name: f"all_{name}" for name in VIEWED} | {"staff": "staff"}


def every(name: str) -> str:
    """The table holding every ``name`` record, ended ones included (``all_households`` for ``households``)."""
    return ALL.get(name, name)


class Versioned:
    """The bookkeeping columns every ledger record carries; the trigger writes them."""

    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default="now()")
    changed_by: Mapped[str] = mapped_column(String(100), server_default="migration 0016")
    change_reason: Mapped[str] = mapped_column(String(500), server_default="")
    change_operation: Mapped[str] = mapped_column(String(30), server_default="create")
    ended_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)


def as_of(name: str, moment_param: str = "as_of") -> str:
    """SQL for the ``name`` records that were current at the moment bound as ``:as_of``, with the
    columns of ``all_<name>``: the version then in force, whether it is today's row or one the
    trigger kept, and not an ended one. Time is the ledger's own (when a change was recorded,
    not the day it says it happened), so a report made then reads the same later."""
    table = every(name)
    return f"""(SELECT t.* FROM {table} t WHERE t.valid_from <= :{moment_param} AND t.ended_on IS NULL
               UNION ALL
               SELECT x.* FROM ledger_versions v CROSS JOIN LATERAL jsonb_populate_record(NULL::{table}, v.data) x
               WHERE v.kind = '{name}' AND v.valid_from <= :{moment_param} AND v.valid_to > :{moment_param}
                 AND x.ended_on IS NULL)"""
