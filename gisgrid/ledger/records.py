"""Reading, writing and ending one ledger record, with its version, its history and an audit row.

Every write names the version it starts from; the row is locked and compared first, so of
twenty saves of one version exactly one lands and the others get a 409 that shows what the
winner changed. The ``ledger_version`` trigger (migration 0016) keeps the replaced version and
stamps the new one with who, why and which operation (``set_change_context``); this module
writes the audit row in the same transaction, so the change, its history and its audit entry
commit or roll back together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.service import record
from gisgrid.core.database import set_change_context
from gisgrid.core.errors import Conflict, InvalidInput, NotFound, PreconditionRequired
from gisgrid.core.scope import Scope
from gisgrid.ledger.kinds import BOOKKEEPING, Kind, staff_condition

# what history shows of a version: never a ciphertext or a blind index, never the bookkeeping
HIDDEN = frozenset({"id_number_enc", "id_number_index", "phone_enc", "phone_index", "version", "valid_from",
                    "changed_by", "change_reason", "change_operation"})
LABELS = {"id_number_masked": "id_number", "phone_masked": "phone"}


@dataclass(frozen=True)
class Editor:
    """Who writes: the name on the history and the audit row, and where they may write."""

    actor: str
    scope: Scope
    client_addr: str | None = None


def _place(kind: Kind, scope: Scope) -> tuple[str, dict]:
    if kind.name == "grid_assignments":
        return scope.codes("g.code")
    if kind.name == "staff":
        return staff_condition(scope)
    return scope.rows(kind.place_alias)


def read(session: Session, kind: Kind, record_id: int, scope: Scope, *, lock: bool = False) -> dict:
    """One record as a reader sees it (ended ones too), or 404 outside ``scope``.

    Locked, a row another transaction changed meanwhile is re-checked by PostgreSQL against the
    joined rows as first read: a resident just moved to another household no longer joins its
    old one and drops out. A second reading, after the lock's wait, sees the move and answers
    the record (then a 409 for the stale version), not a 404."""
    condition, params = _place(kind, scope)
    query = text(f"""
        SELECT {kind.public}, {BOOKKEEPING} FROM {kind.table} r {kind.joins}
        WHERE r.id = :id AND {condition} {'FOR UPDATE OF r' if lock else ''}""")
    row = session.execute(query, {**params, "id": record_id}).mappings().first()
    if row is None and lock:
        row = session.execute(query, {**params, "id": record_id}).mappings().first()
    if row is None:
        raise NotFound(f"没有{kind.label[0]} {record_id} / no {kind.label[1]} {record_id}", where="id")
    return dict(row)


def check_version(session: Session, kind: Kind, current: dict, expected: int | None) -> None:
    """428 without a version; 409 on a stale one, with what changed since it."""
    if expected is None:
        raise PreconditionRequired(f"请在 If-Match 中写明{kind.label[0]}的版本（其 ETag，如 \"v3\"）/ send the "
                                   f"{kind.label[1]}'s version in If-Match (its ETag, such as \"v3\")",
                                   where="If-Match")
    if current["ended_on"] is not None:
        raise Conflict(f"{kind.label[0]} {current['id']} 已于 {current['ended_on']} 结束 / {kind.label[1]} "
                       f"{current['id']} ended on {current['ended_on']}", where="id", current=_jsonable(current))
    if expected != current["version"]:
        raise Conflict(f"{kind.label[0]} {current['id']} 已被 {current['changed_by']} 改为 v{current['version']}"
                       f"（你的是 v{expected}）/ {kind.label[1]} {current['id']} was changed by "
                       f"{current['changed_by']} to v{current['version']} (yours is v{expected})",
                       where="If-Match", current=_jsonable(current),
                       changes=changes_since(session, kind, current["id"], expected))


def write(session: Session, kind: Kind, editor: Editor, *, record_id: int | None, values: dict[str, tuple[str, Any]],
          expected: int | None, reason: str, operation: str) -> int:
    """Insert (``record_id`` None) or update one record; ``values``: column → (SQL expression
    with ``:name`` parameters, parameters). Returns its id; the caller reads it back in its scope
    (a point placed anew only once its grids are known)."""
    set_change_context(session, actor=editor.actor, reason=reason, operation=operation)
    params: dict[str, Any] = {}
    expressions = {}
    for column, (sql, bound) in values.items():
        expressions[column] = sql
        params.update(bound)
    # the statement's triggers take the tile-cache lock until commit: it returns what the audit row needs
    if record_id is None:
        columns = ", ".join(expressions)
        record_id, version = session.execute(text(f"INSERT INTO {kind.table} ({columns}) VALUES "
                                                  f"({', '.join(expressions.values())}) RETURNING id, version"),
                                             params).one()
    else:
        check_version(session, kind, read(session, kind, record_id, editor.scope, lock=True), expected)
        assignments = ", ".join(f"{c} = {e}" for c, e in expressions.items())
        version = session.execute(text(f"UPDATE {kind.table} SET {assignments} WHERE id = :record_id RETURNING version"),
                                  {**params, "record_id": record_id}).scalar_one()
    record(session, actor=editor.actor, action=f"ledger.{operation}", outcome="ok", object_type=kind.name,
           object_id=str(record_id), client_addr=editor.client_addr,
           detail={"reason": reason, "version": version, "fields": sorted(values)})
    return record_id


def end(session: Session, kind: Kind, editor: Editor, record_id: int, *, expected: int | None, on: date,
        end_reason: str, reason: str) -> dict:
    if end_reason not in kind.end_reasons:
        known = ", ".join(f"{k}（{zh}）" for k, (zh, _) in kind.end_reasons.items())
        raise InvalidInput(f"结束原因应为 {known} / end_reason must be one of {', '.join(kind.end_reasons)}",
                           where="end_reason")
    write(session, kind, editor, record_id=record_id, expected=expected, reason=reason, operation="end",
          values={"ended_on": ("CAST(:ended_on AS date)", {"ended_on": on}),
                  "end_reason": (":end_reason", {"end_reason": end_reason})})
    return read(session, kind, record_id, editor.scope)


def _jsonable(row: dict) -> dict:
    return json.loads(json.dumps(row, default=str))


def versions(session: Session, kind: Kind, record_id: int) -> list[dict]:
    """Every version of a record, oldest first: what a reader may see of it, who made it, when, why."""
    geometry = {g: f"encode(ST_AsEWKB(r.{g}), 'hex')" for g in kind.geometries}
    overrides = "".join(f" || jsonb_build_object('{g}', {e})" for g, e in geometry.items())
    rows = session.execute(text(f"""
        SELECT version, nullif(valid_from, '-infinity') AS valid_from, NULL::timestamptz AS valid_to, changed_by, change_reason AS reason,
               change_operation AS operation, to_jsonb(r){overrides} AS data
        FROM {kind.table} r WHERE r.id = :id
        UNION ALL
        SELECT version, nullif(valid_from, '-infinity'), valid_to, changed_by, reason, operation, data
        FROM ledger_versions WHERE kind = :kind AND record_id = :id
        ORDER BY version"""), {"id": record_id, "kind": kind.name}).mappings()
    return [{**row, "data": _readable(kind, row["data"])} for row in rows]


def _readable(kind: Kind, data: dict) -> dict:
    out = {LABELS.get(k, k): v for k, v in data.items() if k not in HIDDEN}
    for column in kind.geometries:
        if out.get(column):
            shape = shapely.from_wkb(bytes.fromhex(out[column]))
            out[column] = shapely.geometry.mapping(shape)
    return out


def history(session: Session, kind: Kind, record_id: int, scope: Scope) -> list[dict]:
    """The record's versions, newest first, each with what it changed (before → after)."""
    read(session, kind, record_id, scope)
    rows = versions(session, kind, record_id)
    out = []
    for previous, current in zip([None, *rows], rows, strict=False):
        before = previous["data"] if previous else {}
        changes = {k: {"before": before.get(k), "after": v} for k, v in current["data"].items()
                   if before.get(k) != v and (previous is not None or v is not None)}
        out.append({"version": current["version"], "at": current["valid_from"], "by": current["changed_by"],
                    "reason": current["reason"], "operation": current["operation"], "changes": changes})
    return out[::-1]


def changes_since(session: Session, kind: Kind, record_id: int, version: int) -> dict:
    """Field → {before, after} between ``version`` and now: what a stale save would have overwritten."""
    rows = versions(session, kind, record_id)
    then = next((r["data"] for r in rows if r["version"] == version), None)
    now = rows[-1]["data"]
    if then is None:
        return {}
    return _jsonable({k: {"before": then.get(k), "after": v} for k, v in now.items() if then.get(k) != v})
