"""Writing the audit log: who did what, when, from where, with what outcome."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from gisgrid.core.paging import Page, Where, json_page


def record(target: Session | Connection, *, actor: str, action: str, outcome: str, object_type: str | None = None,
           object_id: str | None = None, client_addr: str | None = None, detail: dict | None = None,
           at: datetime | None = None) -> None:
    """Append one entry in the caller's transaction (so it commits or rolls back with the act it
    records); refusals are recorded by :func:`record_now`, which cannot be rolled back with them."""
    target.execute(text("""
        INSERT INTO audit_log (at, actor, action, object_type, object_id, client_addr, outcome, detail)
        VALUES (coalesce(CAST(:at AS timestamptz), now()), :actor, :action, :type, :id, CAST(:addr AS inet), :outcome,
                CAST(:detail AS jsonb))"""),
        {"at": at, "actor": _storable(actor[:100]), "action": action, "type": object_type, "id": _storable(object_id),
         "addr": client_addr, "outcome": outcome,
         "detail": json.dumps(_storable(detail or {}), ensure_ascii=False, default=str)})


def _storable(value):
    """What was sent, with U+FFFD for NUL, which neither text nor jsonb can hold: a request
    carrying one is still on record."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def record_now(session: Session, **entry) -> None:
    """Append one entry in a transaction of its own, committed now: a refused request rolls its
    own work back, but the refusal stays on record."""
    with session.get_bind().engine.connect() as conn:
        record(conn, **entry)
        conn.commit()


def recent(session: Session, *, action: str, client_addr: str, since: datetime, succeeded: bool) -> int:
    """How many ``action`` entries from one address since ``since`` succeeded (or did not): the
    per-address limits read the log every worker writes, so they hold across workers."""
    return session.execute(text(f"""
        SELECT count(*) FROM audit_log WHERE client_addr = CAST(:addr AS inet) AND action = :action
        AND outcome {'=' if succeeded else '<>'} 'ok' AND at > :since"""),
        {"addr": client_addr, "action": action, "since": since}).scalar_one()


def entries(session: Session, *, actor: str | None, action: str | None, outcome: str | None,
            since: datetime | None, until: datetime | None, page: Page) -> dict:
    """The log for auditors, newest first, filtered by who, what, outcome and time."""
    where = Where()
    for column, value in (("actor", actor), ("action", action), ("outcome", outcome)):
        if value is not None:
            where.add(f"{column} = :{column}", {column: value})
    if since is not None:
        where.add("at >= :since", since=since)
    if until is not None:
        where.add("at < :until", until=until)
    return json_page(session, rows_sql=f"""
        SELECT id, at, actor, action, object_type, object_id, host(client_addr) AS client_addr, outcome, detail
        FROM audit_log WHERE {where.sql} ORDER BY at DESC, id DESC""",
                     count_sql=f"SELECT count(*) FROM audit_log WHERE {where.sql}", params=where.params, page=page)
