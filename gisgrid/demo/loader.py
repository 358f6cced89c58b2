"""Loading generated data at COPY speed, in one transaction, then computing membership."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tqdm import tqdm

from gisgrid.core.database import set_change_context
from gisgrid.core.errors import Conflict
from gisgrid.core.records import ALL as LEDGER
from gisgrid.core.records import every
from gisgrid.core.secrets import keyring, mask_id_number, mask_phone
from gisgrid.demo.accounts import create_demo_accounts
from gisgrid.demo.generator import TABLES, DemoData
from gisgrid.grids import membership

GEOMETRY_COLUMNS = {"boundary", "geom", "footprint"}
# tables whose statement triggers sweep the tile cache (migrations 0007, 0008)
TILE_WATCHED = ("subdistricts", "grids", "buildings", "stationed_units", "shops", "cases", "households",
                "residents", "resident_key_groups", "grid_assignments", "staff", "building_loads", "grid_loads")
CHUNK = 200_000


def load(engine: Engine, data: DemoData, progress: bool = True) -> dict[str, int]:
    """Write every table of ``data``; returns rows per table. All or nothing."""
    codes = list(data["subdistricts"]["code"])
    counts: dict[str, int] = {}
    with Session(engine) as session, session.begin():
        taken = session.execute(text("SELECT code FROM subdistricts WHERE code = ANY(:c)"),
                                {"c": codes}).scalars().all()
        if taken:
            raise Conflict(f"sub-district(s) {', '.join(taken)} already loaded", where="subdistricts")
        # Generated rows carry their own ids, so the demo goes into tables that hold none yet.
        for table in TABLES:
            if session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar():
                raise Conflict(f"the demo loads into an empty database, but {table} already has rows",
                               where=table)
        set_change_context(session, actor="gisgrid demo", reason="demo data", operation="import")
        # a bulk load sweeps the whole tile cache at the end instead of box by box per statement
        for table in TILE_WATCHED:
            session.execute(text(f"ALTER TABLE {every(table)} DISABLE TRIGGER tiles_insert, DISABLE TRIGGER tiles_update, "
                                 "DISABLE TRIGGER tiles_delete"))
        cursor = session.connection().connection.dbapi_connection.cursor()
        for table in TABLES:
            frame = data[table]
            if frame.empty:
                continue
            if table == "residents":
                frame = _sealed(frame)
            if table in LEDGER:
                frame = frame.assign(valid_from="-infinity")  # the demo's ledger has always been as generated
            counts[table] = _copy(cursor, every(table), frame, progress)
            # the next table's triggers read this one through its current-records view: without
            # statistics, "ended_on IS NULL" is guessed to keep 0.5 % of the rows (nested loops)
            cursor.execute(f"ANALYZE {every(table)}")
        # placing the points is part of the generated first version, not a change after it
        for table in membership.POINT_TABLES:
            session.execute(text(f"ALTER TABLE {every(table)} DISABLE TRIGGER ledger_version"))
        for code in codes:
            membership.refresh(session, subdistrict=code, tables=(*membership.POINT_TABLES, "cases"))
        for table in membership.POINT_TABLES:
            session.execute(text(f"ALTER TABLE {every(table)} ENABLE TRIGGER ledger_version"))
        if not session.execute(text("SELECT EXISTS (SELECT 1 FROM accounts)")).scalar():
            create_demo_accounts(session, codes[0])
        for table in TILE_WATCHED:
            session.execute(text(f"ALTER TABLE {every(table)} ENABLE TRIGGER tiles_insert, ENABLE TRIGGER tiles_update, "
                                 "ENABLE TRIGGER tiles_delete"))
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('gisgrid.tiles'))"))
        session.execute(text("DELETE FROM tile_cache"))
        for table in counts:
            if "id" in data[table].columns:
                session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{every(table)}', 'id'), (SELECT max(id) FROM {table}))"
                ))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return counts


def _sealed(frame: pd.DataFrame) -> pd.DataFrame:
    """Encrypt ID numbers and phones, keep masked forms and blind indexes, drop the plaintext."""
    ring = keyring()
    out = frame.drop(columns=["id_number", "phone"])
    for column, mask in (("id_number", mask_id_number), ("phone", mask_phone)):
        values = frame[column]
        present = values.notna()
        out[f"{column}_enc"] = [ring.seal(v) if ok else None for v, ok in zip(values, present, strict=True)]
        out[f"{column}_masked"] = [mask(v) if ok else None for v, ok in zip(values, present, strict=True)]
        out[f"{column}_index"] = [ring.blind_index(v) if ok else None for v, ok in zip(values, present, strict=True)]
    return out


def _prepared(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns as COPY's CSV input wants them: EWKB hex geometry, bytea hex, nullable ints."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if column in GEOMETRY_COLUMNS:
            geoms = np.asarray(values, dtype=object)
            present = ~pd.isna(values).to_numpy()
            hexed = np.full(len(geoms), None, dtype=object)
            hexed[present] = shapely.to_wkb(shapely.set_srid(geoms[present], 4326), hex=True, include_srid=True)
            out[column] = hexed
        elif values.dtype == object and values.map(lambda v: isinstance(v, bytes)).any():
            out[column] = values.map(lambda v: "\\x" + v.hex() if isinstance(v, bytes) else None)
        elif values.dtype == float and values.dropna().apply(float.is_integer).all():
            out[column] = values.astype("Int64")
    return out


def _copy(cursor, table: str, frame: pd.DataFrame, progress: bool) -> int:
    prepared = _prepared(frame)
    columns = ", ".join(f'"{c}"' for c in prepared.columns)
    with tqdm(total=len(prepared), desc=table, unit="row", disable=not progress) as bar:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            for start in range(0, len(prepared), CHUNK):
                chunk = prepared.iloc[start:start + CHUNK]
                buffer = io.StringIO()
                chunk.to_csv(buffer, index=False, header=False)
                copy.write(buffer.getvalue())
                bar.update(len(chunk))
    return len(prepared)
