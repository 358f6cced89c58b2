"""Re-sealing personal data under the newest key.

Every sealed column is listed in :data:`SEALED`. A value is stale when its first byte (the id of
the key that sealed it) is not the newest key's. :func:`reseal` walks each table in id order,
one batch per transaction: it locks the next rows holding a stale value, opens each stale value
with its own key, seals it again under the newest and rewrites its blind index beside it, in one
``UPDATE`` per batch. A committed batch is done, so a run may stop anywhere and start again (it
finds only what is still stale), and a second run finds nothing to do. Run it only once every
process seals with the newest key (all restarted with the new ``GISGRID_DATA_KEY``), or values
sealed meanwhile under the old key are left for the next run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.core.errors import SetupError
from gisgrid.core.secrets import Keyring


@dataclass(frozen=True)
class SealedColumn:
    table: str
    column: str
    index: str | None = None  # the blind index kept beside it

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


SEALED = (
    SealedColumn("residents", "id_number_enc", "id_number_index"),
    SealedColumn("residents", "phone_enc", "phone_index"),
    SealedColumn("accounts", "totp_secret"),
    SealedColumn("accounts", "totp_pending"),
)


def key_counts(session: Session) -> dict[str, dict[int, int]]:
    """How many values of each sealed column are sealed under each key id."""
    return {sealed.name: dict(session.execute(text(
        f"SELECT get_byte({sealed.column}, 0), count(*) FROM {sealed.table} "
        f"WHERE {sealed.column} IS NOT NULL GROUP BY 1 ORDER BY 1")).all()) for sealed in SEALED}


def reseal(sessions: sessionmaker[Session], ring: Keyring, *, batch: int = 1000,
           progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Seal every stale value again under ``ring``'s newest key; how many of each column were.
    ``progress`` hears the table and the rows rewritten so far after each batch."""
    counts = {sealed.name: 0 for sealed in SEALED}
    for table, group in groupby(SEALED, key=lambda sealed: sealed.table):
        columns = list(group)
        after, rows_done = 0, 0
        while True:
            with sessions.begin() as session:
                rows = _stale_batch(session, table, columns, ring.current, after, batch)
                if not rows:
                    break
                _rewrite(session, table, columns, rows, ring, counts)
            after, rows_done = rows[-1].id, rows_done + len(rows)
            if progress:
                progress(table, rows_done)
    return counts


def _stale_batch(session: Session, table: str, columns: list[SealedColumn], current: int, after: int,
                 batch: int) -> list:
    selected = ", ".join(c.column + (f", {c.index}" if c.index else "") for c in columns)
    stale = " OR ".join(f"get_byte({c.column}, 0) <> :current" for c in columns)
    return session.execute(text(
        f"SELECT id, {selected} FROM {table} WHERE id > :after AND ({stale}) ORDER BY id LIMIT :batch FOR UPDATE"),
        {"current": current, "after": after, "batch": batch}).all()


def _rewrite(session: Session, table: str, columns: list[SealedColumn], rows: list, ring: Keyring,
             counts: dict[str, int]) -> None:
    values: dict[str, list] = {"id": [row.id for row in rows]}
    for sealed in columns:
        tokens, indexes = [], []
        for row in rows:
            token = getattr(row, sealed.column)
            index = getattr(row, sealed.index) if sealed.index else None
            if token is not None and token[0] != ring.current:
                try:
                    plain = ring.open(bytes(token))
                except SetupError as exc:
                    raise SetupError(f"{sealed.name} (id {row.id}): {exc.message}", where=sealed.name) from None
                token = ring.seal(plain)
                index = ring.blind_index(plain) if sealed.index else None
                counts[sealed.name] += 1
            tokens.append(token)
            indexes.append(index)
        values[sealed.column] = tokens
        if sealed.index:
            values[sealed.index] = indexes
    names = [name for name in values if name != "id"]
    session.execute(text(
        f"UPDATE {table} t SET {', '.join(f'{n} = v.{n}' for n in names)} "
        f"FROM unnest(CAST(:id AS bigint[]), {', '.join(f'CAST(:{n} AS bytea[])' for n in names)}) "
        f"AS v(id, {', '.join(names)}) WHERE t.id = v.id"), values)
