"""Import buildings, stationed units, shops or households from a user's file.

``import_file(session, kind, path, options)`` reads the file (GeoJSON, GeoPackage, Shapefile,
CSV, Excel), maps its columns to the kind's fields, checks every row, writes the accepted rows
and computes their grid membership, and returns an :class:`ImportReport`.

Policy
    * Every row is checked before anything is written: values, geometry, duplicate addresses
      (within the file and against the database), the sub-district that must cover the point,
      and for households the building they belong to.
    * By default the accepted rows are written and the refused ones reported with their row
      number and reason. With ``strict`` any refused row means nothing is written.
      ``dry_run`` runs every check, database ones included, and writes nothing.
    * The write is all or nothing: staged through a temporary table (COPY), inserted by one
      ``INSERT … SELECT`` and followed by the membership refresh, all inside one savepoint of
      the caller's transaction. A database error rolls all of it back. The caller commits.
    * Without ``update`` an import only adds records: a row whose natural key is already in the
      database is refused as a duplicate. With ``update`` that row changes the record instead —
      only the fields the file has a column for, and only where they differ (a geometry within
      0.1 m is unchanged; an empty cell leaves its field as stored, it does not reset it to the
      default). Natural keys: building = address; household = building, entrance, floor, room;
      unit / shop = name and address. A change that would break stored data is
      refused with its row (floors or entrances below a household's, a point moved off the
      building's stored footprint), and so is a key that matches several records. The matching,
      comparing and writing are set-based over the stage (``UPDATE … FROM`` with
      ``IS DISTINCT FROM``); the report lists every change, field by field.
    * Every import, dry runs included, leaves one audit row in the caller's transaction.
    * Within a file the first occurrence of an address wins; later rows with the same address
      are refused as duplicates of it. Addresses compare after NFKC normalisation, ignoring
      whitespace and letter case ("朝阳路１号" = "朝阳路 1号"). Units and shops are duplicates
      when both name and address repeat (a mall holds many shops at one address); households
      when building, entrance, floor and room repeat.
    * Households refer to buildings already in the database, by address or by id: import the
      buildings first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from tqdm import tqdm

from gisgrid.audit.service import record
from gisgrid.core.errors import Conflict, InvalidInput
from gisgrid.core.records import every
from gisgrid.core.sql import identifier
from gisgrid.grids import membership
from gisgrid.imports.fields import (
    FIELDS,
    KIND_LABELS,
    LOCATED,
    LOCATION_ALIASES,
    TABLES,
    BadValue,
    Field,
    Kind,
    address_key,
    header_key,
    header_names,
    key_sql,
    targets,
)
from gisgrid.imports.geometry import locate
from gisgrid.imports.reading import Table, read_table
from gisgrid.imports.report import Change, ImportReport, Refusal

STAGE = "_gisgrid_import_stage"
MOVE_TOLERANCE_M = 0.1  # a geometry that moves less is unchanged: CRS round trips, storage rounding


@dataclass
class ImportOptions:
    crs: str | None = None                 # WGS84, CGCS2000, GCJ-02, BD-09, EPSG:xxxx
    subdistrict: str | None = None         # rows must lie in this sub-district
    mapping: dict[str, str] = field(default_factory=dict)  # field → column of the file
    layer: str | None = None               # GeoPackage layer
    sheet: str | None = None               # Excel sheet
    encoding: str | None = None            # CSV / Shapefile text encoding
    strict: bool = False                   # any refused row → nothing written
    dry_run: bool = False                  # check everything, write nothing
    update: bool = False                   # a row whose natural key exists changes that record
    progress: bool = False                 # tqdm bars on stderr
    actor: str | None = None               # who imports, for the audit row; None: the OS login (CLI)


# --- mapping ---------------------------------------------------------------------------------

def parse_map_flags(items: Iterable[str]) -> dict[str, str]:
    """``["floors=层数", "address=地址"]`` → ``{"floors": "层数", "address": "地址"}``."""
    mapping: dict[str, str] = {}
    for item in items:
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise InvalidInput(f"--map 需写成 字段=列名 / --map takes FIELD=COLUMN, got {item!r}", where="map")
        mapping[target.strip()] = source.strip()
    return mapping


def load_mapping(path: Path) -> dict[str, str]:
    """A small JSON or YAML file ``{field: column}``, e.g. ``{"address": "地址", "floors": "层数"}``."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"无法读取映射文件 / cannot read the mapping file {path}: {exc.strerror}",
                           where="mapping") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(raw)
        else:
            data = json.loads(raw)
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise InvalidInput(f"映射文件格式错误 / the mapping file {path.name} is not valid "
                           f"{'YAML' if path.suffix.lower() in ('.yaml', '.yml') else 'JSON'}: {exc}",
                           where="mapping") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise InvalidInput(f"映射文件应为 字段: 列名 / the mapping file {path.name} must map field names "
                           'to column names, e.g. {"address": "地址", "floors": "层数"}', where="mapping")
    return {k.strip(): v.strip() for k, v in data.items()}


# Required columns an update may leave out: its matched records keep the value, new rows are refused.
UPDATE_OPTIONAL = {Kind.BUILDINGS: ("floors",)}


def resolve_columns(table: Table, kind: Kind, mapping: dict[str, str], warnings: list[str],
                    *, update: bool = False) -> dict[str, str]:
    """Field (or lon/lat/wkt) → the file's column: explicit mapping first, then default names."""
    valid = targets(kind)
    by_key: dict[str, str] = {}
    for column in table.columns:
        by_key.setdefault(header_key(column), column)
    chosen: dict[str, str] = {}
    for target, source in mapping.items():
        if target not in valid:
            raise InvalidInput(
                f"“{target}”不是{KIND_LABELS[kind]}的字段 / {target!r} is not a field of {kind.value}; "
                f"fields: {', '.join(valid)} (--map takes FIELD=COLUMN, e.g. --map floors=层数)", where="map")
        column = source if source in table.columns else by_key.get(header_key(source))
        if column is None:
            raise InvalidInput(
                f"文件中没有列“{source}” / {table.path.name} has no column {source!r} (mapped to {target}); "
                f"columns: {', '.join(table.columns)}", where="map")
        chosen[target] = column
    used = set(chosen.values())
    candidates: list[tuple[str, tuple[str, ...]]] = [(f.name, f.aliases) for f in FIELDS[kind]]
    if kind in LOCATED and not table.spatial:
        candidates += list(LOCATION_ALIASES.items())
    for name, aliases in candidates:
        if name in chosen:
            continue
        for alias in aliases:
            column = by_key.get(header_key(alias))
            if column is not None and column not in used:
                chosen[name] = column
                used.add(column)
                break
    columns_text = ", ".join(table.columns)
    for f in FIELDS[kind]:
        if f.required and f.name not in chosen and not (update and f.name in UPDATE_OPTIONAL.get(kind, ())):
            raise InvalidInput(
                f"缺少“{f.label_zh}”列 / no column for {f.label}: tried {', '.join(f.aliases)}; "
                f"the file has: {columns_text}; map one with --map {f.name}=COLUMN", where=f.name)
        if f.warn_default and f.name not in chosen:
            warnings.append(f.warn_default)
    if kind is Kind.HOUSEHOLDS:
        if "building_address" not in chosen and "building_id" not in chosen:
            raise InvalidInput(
                "缺少楼栋地址或楼栋编号列 / households need a building_address (楼栋地址) or building_id "
                f"(楼栋编号) column; the file has: {columns_text}", where="building_address")
        if table.spatial:
            warnings.append("住户不使用几何，已忽略 / households have no geometry: the file's geometry was ignored")
    elif kind not in LOCATED:
        if table.spatial:
            warnings.append(f"{KIND_LABELS[kind]}不使用几何，已忽略 / {kind.value} have no geometry: the file's "
                            "geometry was ignored")
    elif table.spatial:
        ignored = [t for t in LOCATION_ALIASES if t in chosen]
        if ignored:
            warnings.append(f"空间文件使用自身几何，忽略 {', '.join(ignored)} / a spatial file's own geometry "
                            f"is used: the {', '.join(ignored)} mapping was ignored")
            for t in ignored:
                used.discard(chosen.pop(t))
    elif kind in LOCATED:
        if "wkt" in chosen:
            for t in ("lon", "lat"):
                if t in chosen:
                    used.discard(chosen.pop(t))
        elif "lon" not in chosen or "lat" not in chosen:
            missing = " and ".join(t for t in ("lon", "lat") if t not in chosen)
            raise InvalidInput(
                f"缺少经纬度列 / no {missing} column: tried "
                f"{', '.join(LOCATION_ALIASES['lon'])} / {', '.join(LOCATION_ALIASES['lat'])}; "
                f"the file has: {columns_text}; map them with --map lon=COLUMN --map lat=COLUMN", where="lon/lat")
    unused = [c for c in table.columns if c not in used]
    if unused:
        warnings.append(f"未使用的列 / columns not imported: {', '.join(unused)}")
    return chosen


# --- rows ------------------------------------------------------------------------------------

@dataclass
class Rows:
    values: dict[str, list]
    refusals: dict[int, list[Refusal]]  # index → refusals
    # index → fields whose cell was empty: an update leaves those as stored, not reset to the default
    blank: dict[int, list[str]] = field(default_factory=dict)

    def refuse(self, index: int, refusal: Refusal) -> None:
        self.refusals.setdefault(index, []).append(refusal)


def _parse_rows(table: Table, kind: Kind, columns: dict[str, str], progress: bool) -> Rows:
    n = table.rows
    fields: tuple[Field, ...] = FIELDS[kind]
    values: dict[str, list] = {f.name: [None] * n for f in fields}
    rows = Rows(values=values, refusals={})
    mapped = [(f, table.cells[columns[f.name]], columns[f.name]) for f in fields if f.name in columns]
    for f in fields:
        if f.name not in columns and f.default is not None:
            values[f.name] = [f.default] * n
    for i in tqdm(range(n), desc="检查 / checking", unit="row", disable=not progress, leave=False):
        row = int(table.row_numbers[i])
        for f, cells, column in mapped:
            raw = cells[i]
            if raw is None or not str(raw).strip():
                if f.required:
                    rows.refuse(i, Refusal(row, "missing_value", f"{f.label_zh}为空 / {f.name} is empty", column))
                else:
                    values[f.name][i] = f.default
                    rows.blank.setdefault(i, []).append(f.name)
                continue
            try:
                values[f.name][i] = f.parse(raw)
            except BadValue as exc:
                rows.refuse(i, Refusal(row, "bad_value", f"{f.label_zh} {exc.reason.split(' / ')[0]} / "
                                       f"{f.name} {exc.reason.split(' / ', 1)[-1]}", column,
                                       None if f.sensitive else str(raw)))
    if kind is Kind.BUILDINGS:
        values["name"] = [name if name is not None else address
                          for name, address in zip(values["name"], values["address"], strict=True)]
    if kind is Kind.HOUSEHOLDS:
        for i in range(n):
            if values["building_address"][i] is None and values["building_id"][i] is None \
                    and not any(r.code == "bad_value" for r in rows.refusals.get(i, [])):
                rows.refuse(i, Refusal(int(table.row_numbers[i]), "missing_value",
                                       "楼栋地址和楼栋编号都为空 / neither building address nor building id given",
                                       columns.get("building_address") or columns.get("building_id")))
    return rows


def _duplicates_in_file(table: Table, kind: Kind, rows: Rows, columns: dict[str, str]) -> list[str | None]:
    """The duplicate key of each row (None when unknown); later repeats are refused."""
    n = table.rows
    if kind is Kind.BUILDINGS:
        keys = [address_key(a) if a else None for a in rows.values["address"]]
        what_zh, what_en, column = "地址", "address", columns.get("address")
    else:
        keys = [f"{address_key(nm)}|{address_key(ad)}" if nm and ad else None
                for nm, ad in zip(rows.values["name"], rows.values["address"], strict=True)]
        what_zh, what_en, column = "名称和地址", "name and address", columns.get("address")
    first: dict[str, int] = {}
    for i in range(n):
        key = keys[i]
        if key is None:
            continue
        if key in first:
            shown = rows.values["address"][i]
            rows.refuse(i, Refusal(
                int(table.row_numbers[i]), "duplicate",
                f"{what_zh}与第 {first[key]} 行重复 / duplicate {what_en}: same as row {first[key]} "
                "(the first is kept)", column, shown))
        else:
            first[key] = int(table.row_numbers[i])
    return keys


# --- the import ------------------------------------------------------------------------------

def import_file(session: Session, kind: str | Kind, path: str | Path,
                options: ImportOptions | None = None) -> ImportReport:
    """Check and load one file; see the module docstring for the policy. The caller commits."""
    try:
        kind = Kind(kind)
    except ValueError:
        raise InvalidInput(f"未知导入类型 / unknown import kind {kind!r}: use "
                           f"{', '.join(k.value for k in Kind)}", where="kind") from None
    options = options or ImportOptions()
    path = Path(path)
    if options.subdistrict is not None:
        found = session.execute(text("SELECT 1 FROM subdistricts WHERE code = :c"),
                                {"c": options.subdistrict}).first()
        if found is None:
            raise InvalidInput(f"街道不存在 / no sub-district {options.subdistrict!r}", where="subdistrict")
    table = read_table(path, layer=options.layer, sheet=options.sheet, encoding=options.encoding,
                       header_names=header_names(kind, options.mapping))
    word_zh, word_en = table.row_word
    report = ImportReport(
        kind=kind.value, file=path.name, format=table.format, crs=None, rows=table.rows,
        dry_run=options.dry_run, strict=options.strict, update=options.update, warnings=list(table.warnings),
        row_numbering=table.row_numbering,
    )
    columns = resolve_columns(table, kind, options.mapping, report.warnings, update=options.update)
    if kind is Kind.RESIDENTS:
        from gisgrid.imports.residents import import_residents  # it builds on this module's helpers

        return import_residents(session, table, columns, report, options)
    rows = _parse_rows(table, kind, columns, options.progress)
    if kind is Kind.STAFF:
        from gisgrid.imports.staff import import_staff  # it builds on this module

        return import_staff(session, table, columns, rows, report, options)
    points = footprints = place = None
    if kind is not Kind.HOUSEHOLDS:
        located = locate(table, kind, options.crs, columns)
        report.crs = located.crs_label
        report.warnings += located.warnings
        for i, problem in located.problems.items():
            rows.refuse(i, Refusal(int(table.row_numbers[i]), problem.code, problem.reason, problem.field))
        points, footprints, place = located.points, located.footprints, located.place
        keys = _duplicates_in_file(table, kind, rows, columns)
    else:
        keys = [address_key(a) if a else None for a in rows.values["building_address"]]
    candidates = [i for i in range(table.rows) if i not in rows.refusals]
    for index_refusals in rows.refusals.values():
        report.refused.extend(index_refusals)

    compared = _compared(kind, columns)

    def check() -> list[Refusal]:
        refused = _stage_and_check(session, kind, table, rows, keys, points, footprints, candidates, options, place)
        if options.update:
            refused += _check_changes(session, kind, columns)
        _plan(session, kind, compared, report)  # on the stage the refused rows have left
        return refused

    all_or_nothing(session, report, options, check, lambda: _write(session, kind, compared, report))
    _audit(session, kind, report, options)
    return report


def all_or_nothing(session: Session, report: ImportReport, options: ImportOptions,
                   check: Callable[[], list[Refusal]], write: Callable[[], None]) -> ImportReport:
    """Run the database checks and, unless ``dry_run`` or ``strict`` with refusals, the write,
    in one savepoint: a database error rolls all of it back and says so (never a 500)."""
    savepoint = session.begin_nested()
    try:
        report.refused.extend(check())
        report.refused.sort(key=lambda r: r.row)
        wanted = not options.dry_run and not (options.strict and report.refused)
        if wanted:
            write()
        session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))  # the kinds that stage rows
    except DBAPIError as exc:
        savepoint.rollback()
        detail = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or str(exc.orig)
        raise Conflict(f"数据库拒绝写入，已全部回滚 / the database refused the import, nothing was written: "
                       f"{detail}", where="database") from None
    except BaseException:
        savepoint.rollback()
        raise
    if wanted:
        savepoint.commit()
        report.written = report.loaded > 0
    else:
        savepoint.rollback()
    return report


def _audit(session, kind: Kind, report: ImportReport, options: ImportOptions) -> None:
    """One audit row per import, in the caller's transaction; a dry run is on record too (who
    looked at what a file would change), with the counts it would have written."""
    outcome = "dry_run" if report.dry_run else "refused" if report.strict and report.refused else "ok"
    record(session, actor=options.actor or "gisgrid", action="import", outcome=outcome,
           object_type=kind.value,
           detail={"file": report.file, "update": report.update, "dry_run": report.dry_run,
                   "strict": report.strict, "rows": report.rows, "added": report.added,
                   "changed": report.changed, "unchanged": report.unchanged, "refused": report.refused_rows,
                   "loaded": report.loaded})


def _stage_columns(kind: Kind) -> list[tuple[str, str]]:
    if kind is Kind.BUILDINGS:
        return [("address", "text"), ("name", "text"), ("compound", "text"), ("floors", "int"),
                ("entrances", "int"), ("flats_per_floor", "int"), ("use", "text")]
    if kind is Kind.HOUSEHOLDS:
        return [("building_address", "text"), ("building_id", "int"), ("entrance", "int"),
                ("floor", "int"), ("room", "text"), ("occupancy", "text"), ("member_count", "int")]
    extra = [("licence_no", "text")] if kind is Kind.SHOPS else []
    return [("name", "text"), ("address", "text"), ("kind", "text"), ("contact_name", "text"),
            ("contact_phone", "text"), *extra]


def _ewkb(geoms: np.ndarray, indexes: list[int]) -> list[str | None]:
    out: list[str | None] = [None] * len(indexes)
    chosen = geoms[indexes] if indexes else np.array([], dtype=object)
    present = [k for k, g in enumerate(chosen) if g is not None]
    if present:
        hexed = shapely.to_wkb(shapely.set_srid(chosen[present], 4326), hex=True, include_srid=True)
        for k, h in zip(present, hexed, strict=True):
            out[k] = h
    return out


def _stage_and_check(session, kind, table, rows, keys, points, footprints, candidates,
                     options, place) -> list[Refusal]:
    """COPY the candidate rows into a temporary table and run the database checks on it
    (``place`` names a WGS84 point as the file has it)."""
    columns = _stage_columns(kind)
    extra = ("geom geometry(Point, 4326), footprint geometry(Polygon, 4326), subdistrict_code text, "
             "matches int, point_moved boolean NOT NULL DEFAULT false, "
             "outline_changed boolean NOT NULL DEFAULT false"
             if kind is not Kind.HOUSEHOLDS else
             "b_id int, b_matches int, b_floors int, b_entrances int, b_address text, subdistrict_code text")
    # blank: the row's empty cells; old_id: the record the row updates (--update); changed: it differs.
    session.execute(text(
        f"CREATE TEMP TABLE {STAGE} (rownum int PRIMARY KEY, "
        + ", ".join(f'"{c}" {t}' for c, t in columns)
        + f", akey text, blank text[], new_id int, old_id int, changed boolean NOT NULL DEFAULT false, {extra}) "
        "ON COMMIT DROP"
    ))
    names = ["rownum", *(c for c, _ in columns), "akey", "blank"]
    if kind is not Kind.HOUSEHOLDS:
        names += ["geom", "footprint"]
        point_hex, footprint_hex = _ewkb(points, candidates), _ewkb(footprints, candidates)
    quoted = ", ".join(f'"{n}"' for n in names)
    copy_sql = f"COPY {STAGE} ({quoted}) FROM STDIN"
    dbapi = session.connection().connection.dbapi_connection
    with dbapi.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for k, i in enumerate(tqdm(candidates, desc="暂存 / staging", unit="row",
                                   disable=not options.progress, leave=False)):
            record = [int(table.row_numbers[i]), *(rows.values[c][i] for c, _ in columns), keys[i],
                      rows.blank.get(i)]
            if kind is not Kind.HOUSEHOLDS:
                record += [point_hex[k], footprint_hex[k]]
            copy.write_row(record)
    session.execute(text(f"ANALYZE {STAGE}"))
    if kind is Kind.HOUSEHOLDS:
        return _check_households(session, options)
    return _check_points(session, kind, options, place)


def _collect(session, sql: str, params: dict, make) -> list[Refusal]:
    """Run a check query returning (rownum, …) rows; refuse those rows and drop them from the stage."""
    found = session.execute(text(sql), params).all()
    refusals = [make(row) for row in found]
    if found:
        session.execute(text(f"DELETE FROM {STAGE} WHERE rownum = ANY(:rows)"),
                        {"rows": sorted({row[0] for row in found})})
    return refusals


def _check_points(session, kind: Kind, options: ImportOptions, place) -> list[Refusal]:
    sd = options.subdistrict
    table = identifier(TABLES[kind], TABLES.values())
    if not session.execute(text("SELECT EXISTS (SELECT 1 FROM subdistricts)")).scalar():
        raise InvalidInput("数据库中还没有街道边界，无法判断归属 / no sub-district boundaries are loaded yet: "
                           "load the sub-district first", where="subdistrict")
    session.execute(text(f"UPDATE {STAGE} SET geom = ST_PointOnSurface(footprint) "
                         "WHERE geom IS NULL AND footprint IS NOT NULL"))
    session.execute(text(f"""
        UPDATE {STAGE} s SET subdistrict_code = (
            SELECT d.code FROM subdistricts d WHERE ST_Covers(d.boundary, s.geom)
            ORDER BY d.code = CAST(:sd AS text) DESC NULLS LAST, d.code LIMIT 1)
    """), {"sd": sd})

    def outside(row) -> Refusal:
        rownum, code, x, y = row
        where = place(x, y)
        if code is None and sd is None:
            reason = f"不在任何街道范围内 / outside every sub-district: {where}"
        elif code is None:
            reason = f"不在街道 {sd} 范围内 / outside sub-district {sd}: {where}"
        else:
            reason = f"位于街道 {code} 而非 {sd} / inside sub-district {code}, not {sd}: {where}"
        return Refusal(rownum, "outside_subdistrict", reason, "geometry")

    refusals = _collect(session, f"""
        SELECT rownum, subdistrict_code, ST_X(geom), ST_Y(geom) FROM {STAGE}
        WHERE subdistrict_code IS NULL OR (CAST(:sd AS text) IS NOT NULL AND subdistrict_code <> :sd)
        ORDER BY rownum
    """, {"sd": sd}, outside)

    if kind is Kind.BUILDINGS:
        existing_key = key_sql("t.address")
        what = "地址已存在 / address already in the database"
    else:
        existing_key = f"{key_sql('t.name')} || '|' || {key_sql('t.address')}"
        what = "名称和地址已存在 / name and address already in the database"
    if not options.update:
        return refusals + _collect(session, f"""
            SELECT DISTINCT ON (s.rownum) s.rownum, t.id, t.address FROM {STAGE} s
            JOIN {table} t ON {existing_key} = s.akey ORDER BY s.rownum, t.id
        """, {}, lambda row: Refusal(row[0], "duplicate", f"{what} (#{row[1]}: {row[2]})", "address", row[2]))
    session.execute(text(f"""
        UPDATE {STAGE} s SET old_id = m.id, matches = m.n
        FROM (SELECT s2.rownum, min(t.id) AS id, count(*) AS n
              FROM {STAGE} s2 JOIN {table} t ON {existing_key} = s2.akey GROUP BY s2.rownum) m
        WHERE s.rownum = m.rownum
    """))
    return refusals + _collect(session, f"""
        SELECT rownum, matches, address FROM {STAGE} WHERE matches > 1 ORDER BY rownum
    """, {}, lambda row: Refusal(
        row[0], "ambiguous", f"与 {row[1]} 条已有记录的自然键相同，无法确定更新哪一条 / the key matches {row[1]} "
        "records in the database: cannot tell which one to update", "address", row[2]))


def flat_refusals(session, sd: str | None) -> list[Refusal]:
    """Staged flats (``b_*`` the building found) in another sub-district than ``sd``, or on an
    entrance or floor the building does not have: households and residents check them alike."""
    refusals = []
    if sd is not None:
        refusals += _collect(session, f"""
            SELECT rownum, subdistrict_code, b_address FROM {STAGE} WHERE subdistrict_code <> :sd ORDER BY rownum
        """, {"sd": sd}, lambda row: Refusal(
            row[0], "outside_subdistrict", f"楼栋位于街道 {row[1]} 而非 {sd} / the building {row[2]!r} is in "
            f"sub-district {row[1]}, not {sd}", "building_address", row[2]))
    refusals += _collect(session, f"""
        SELECT rownum, entrance, b_entrances, 'entrance' FROM {STAGE} WHERE entrance > b_entrances
        UNION ALL
        SELECT rownum, floor, b_floors, 'floor' FROM {STAGE} WHERE floor > b_floors AND entrance <= b_entrances
        ORDER BY 1
    """, {}, lambda row: Refusal(
        row[0], "bad_value",
        (f"单元 {row[1]} 超出楼栋的 {row[2]} 个单元 / entrance {row[1]}, but the building has {row[2]} entrance(s)"
         if row[3] == "entrance" else
         f"楼层 {row[1]} 高于楼栋的 {row[2]} 层 / floor {row[1]} is above the building's {row[2]} floor(s)"),
        row[3], str(row[1])))
    return refusals


def locate_buildings(session, key: str, only: str = "true") -> None:
    """Each staged flat's building by its normalised address (``key``, the stage's key column; ``only``
    the rows to match): its id, how many buildings match, and what :func:`flat_refusals` needs of it."""
    session.execute(text(f"""
        UPDATE {STAGE} s SET b_id = m.id, b_matches = m.n
        FROM (SELECT s2.rownum, min(b.id) AS id, count(*) AS n
              FROM {STAGE} s2 JOIN buildings b ON {key_sql('b.address')} = s2.{key}
              WHERE {only} GROUP BY s2.rownum) m
        WHERE s.rownum = m.rownum
    """))
    session.execute(text(f"""
        UPDATE {STAGE} s SET b_floors = b.floors, b_entrances = b.entrances, b_address = b.address,
                             subdistrict_code = b.subdistrict_code
        FROM buildings b WHERE b.id = s.b_id
    """))


def _check_households(session, options: ImportOptions) -> list[Refusal]:
    sd = options.subdistrict
    session.execute(text(f"""
        UPDATE {STAGE} s SET b_id = b.id, b_matches = 1
        FROM buildings b WHERE s.building_id IS NOT NULL AND b.id = s.building_id
    """))
    locate_buildings(session, "akey", only="s2.building_id IS NULL")

    def unknown(row) -> Refusal:
        rownum, building_id, address, matches = row
        if matches and matches > 1:
            return Refusal(rownum, "unknown_building",
                           f"地址对应 {matches} 栋楼，请用楼栋编号 / the address matches {matches} buildings: "
                           "give building_id", "building_address", address)
        if building_id is not None:
            return Refusal(rownum, "unknown_building", f"楼栋编号 {building_id} 不存在 / no building #{building_id}",
                           "building_id", str(building_id))
        return Refusal(rownum, "unknown_building",
                       f"楼栋地址不存在（请先导入楼栋）/ no building at address {address!r} "
                       "(import the buildings first)", "building_address", address)

    refusals = _collect(session, f"""
        SELECT rownum, building_id, building_address, b_matches FROM {STAGE}
        WHERE b_id IS NULL OR b_matches > 1 ORDER BY rownum
    """, {}, unknown)
    refusals += _collect(session, f"""
        SELECT rownum, b_id, b_address, building_address FROM {STAGE}
        WHERE building_id IS NOT NULL AND building_address IS NOT NULL
          AND {key_sql('b_address')} <> akey ORDER BY rownum
    """, {}, lambda row: Refusal(row[0], "unknown_building",
                                 f"楼栋 {row[1]} 的地址是“{row[2]}” / building #{row[1]} is at {row[2]!r}, "
                                 f"not {row[3]!r}", "building_address", row[3]))
    refusals += flat_refusals(session, sd)
    refusals += _collect(session, f"""
        SELECT rownum, first FROM (
            SELECT rownum, min(rownum) OVER (PARTITION BY b_id, entrance, floor, room) AS first FROM {STAGE}
        ) d WHERE rownum <> first ORDER BY rownum
    """, {}, lambda row: Refusal(row[0], "duplicate",
                                 f"与第 {row[1]} 行是同一户 / the same flat as row {row[1]} (the first is kept)",
                                 "room"))
    if options.update:  # the flat is unique in the database: at most one match
        session.execute(text(f"""
            UPDATE {STAGE} s SET old_id = h.id FROM households h
            WHERE h.building_id = s.b_id AND h.entrance = s.entrance AND h.floor = s.floor AND h.room = s.room
        """))
        return refusals
    refusals += _collect(session, f"""
        SELECT DISTINCT ON (s.rownum) s.rownum, h.id, s.b_address, s.entrance, s.floor, s.room
        FROM {STAGE} s JOIN households h
          ON h.building_id = s.b_id AND h.entrance = s.entrance AND h.floor = s.floor AND h.room = s.room
        ORDER BY s.rownum, h.id
    """, {}, lambda row: Refusal(
        row[0], "duplicate", f"住户已存在 / household already in the database (#{row[1]}: {row[2]} "
        f"{row[3]}单元 {row[4]}层 {row[5]})", "room", row[5]))
    return refusals


# --- update: match, compare, change ----------------------------------------------------------

def _check_changes(session, kind: Kind, columns: dict[str, str]) -> list[Refusal]:
    """With --update, once rows are matched: how far each matched point and outline moved, and
    the changes that would break stored data, refused with their rows; a new row lacking a
    column the update left out is refused."""
    refusals: list[Refusal] = []
    for f in (f for f in FIELDS[kind] if f.name in UPDATE_OPTIONAL.get(kind, ()) and f.name not in columns):
        refusals += _collect(session, f"SELECT rownum FROM {STAGE} WHERE old_id IS NULL ORDER BY rownum", {},
                             lambda row, f=f: Refusal(
                                 row[0], "missing_value", f"新记录需要{f.label_zh}，文件没有该列 / a new record "
                                 f"needs {f.name}: the file has no {f.label_zh} column", f.name))
    if kind is Kind.HOUSEHOLDS:
        return refusals
    table = identifier(TABLES[kind], TABLES.values())
    # Web Mercator stretches lengths by 1/cos(latitude): scaled back, metres at a building's size.
    outline = ("s.footprint IS NOT NULL AND (t.footprint IS NULL OR ST_HausdorffDistance(ST_Transform("
               "t.footprint, 3857), ST_Transform(s.footprint, 3857)) * cos(radians(ST_Y(s.geom))) > :tol)"
               if kind is Kind.BUILDINGS else "false")
    session.execute(text(f"""
        UPDATE {STAGE} s
        SET point_moved = ST_Distance(CAST(t.geom AS geography), CAST(s.geom AS geography)) > :tol,
            outline_changed = {outline}
        FROM {table} t WHERE t.id = s.old_id
    """), {"tol": MOVE_TOLERANCE_M})
    if kind is not Kind.BUILDINGS:
        return refusals
    refusals += _collect(session, f"""
        SELECT s.rownum, t.id FROM {STAGE} s JOIN buildings t ON t.id = s.old_id
        WHERE s.point_moved AND s.footprint IS NULL AND t.footprint IS NOT NULL
          AND NOT ST_Covers(t.footprint, s.geom)
        ORDER BY s.rownum
    """, {}, lambda row: Refusal(
        row[0], "conflict", f"新位置不在楼栋 #{row[1]} 已存的轮廓内，请导入新轮廓 / the new point lies outside the "
        f"stored footprint of building #{row[1]}: import its footprint instead", "geometry"))
    floors, entrances = (f"CASE WHEN '{c}' = ANY(s.blank) THEN NULL ELSE s.{c} END" if c in columns
                         else "CAST(NULL AS int)" for c in ("floors", "entrances"))
    return refusals + _collect(session, f"""
        WITH used AS (
            SELECT s.rownum, {floors} AS floors, {entrances} AS entrances, max(h.floor) AS top, max(h.entrance) AS last
            FROM {STAGE} s JOIN households h ON h.building_id = s.old_id GROUP BY s.rownum
        )
        SELECT rownum, 'floors', floors, top FROM used WHERE floors < top
        UNION ALL
        SELECT rownum, 'entrances', entrances, last FROM used WHERE entrances < last
        ORDER BY 1, 2
    """, {}, lambda row: Refusal(
        row[0], "conflict",
        (f"层数 {row[2]} 低于已有住户所在的第 {row[3]} 层 / floors {row[2]} is below the household(s) on "
         f"floor {row[3]}" if row[1] == "floors" else
         f"单元数 {row[2]} 少于已有住户所在的第 {row[3]} 单元 / entrances {row[2]}, but household(s) live in "
         f"entrance {row[3]}"), row[1], str(row[2])))


@dataclass(frozen=True)
class Compared:
    """One column an update compares: stored and filed values as text for the report (``t`` the
    table, ``s`` the stage), when they differ, and the value written when ``write_when`` holds."""
    field: str          # the table's column, as the report names it
    before: str
    after: str
    differs: str
    new: str
    write_when: str

    def assignment(self) -> str:
        return f"{self.field} = CASE WHEN {self.write_when} THEN {self.new} ELSE t.{self.field} END"


UPDATABLE = {
    Kind.BUILDINGS: ("name", "compound", "floors", "entrances", "flats_per_floor", "use"),
    Kind.HOUSEHOLDS: ("occupancy", "member_count"),
    Kind.UNITS: ("kind", "contact_name", "contact_phone"),
    Kind.SHOPS: ("kind", "contact_name", "contact_phone", "licence_no"),
}
ENUM_TYPES = {"use": "building_use", "occupancy": "occupancy"}


def _compared(kind: Kind, columns: dict[str, str]) -> list[Compared]:
    """The fields the file has a column for (a file without 层数 leaves floors as they are, an
    empty cell its field), and the geometry of located kinds, which always comes with the row."""
    out = []
    for name in UPDATABLE[kind]:
        if name not in columns:
            continue
        stored = f"CAST(t.{name} AS text)" if name in ENUM_TYPES else f"t.{name}"
        new = f"CAST(s.{name} AS {ENUM_TYPES[name]})" if name in ENUM_TYPES else f"s.{name}"
        differs = f"NOT coalesce('{name}' = ANY(s.blank), false) AND {stored} IS DISTINCT FROM s.{name}"
        out.append(Compared(name, f"CAST(t.{name} AS text)", f"CAST(s.{name} AS text)", differs, new, differs))
    if kind in LOCATED:
        moved = "(s.point_moved OR s.outline_changed)"  # the point follows the outline, and the reverse
        out.append(Compared("geom", "ST_AsText(t.geom, 7)", "ST_AsText(s.geom, 7)", "s.point_moved",
                            "s.geom", moved))
        if kind is Kind.BUILDINGS:  # a row with a point only keeps the outline (it covers the point)
            out.append(Compared("footprint", "ST_AsText(t.footprint, 7)", "ST_AsText(s.footprint, 7)",
                                "s.outline_changed", "coalesce(s.footprint, t.footprint)", moved))
        sd_differs = f"{moved} AND t.subdistrict_code IS DISTINCT FROM s.subdistrict_code"
        out.append(Compared("subdistrict_code", "CAST(t.subdistrict_code AS text)", "s.subdistrict_code",
                            sd_differs, "s.subdistrict_code", sd_differs))
    return out


def _plan(session, kind: Kind, compared: list[Compared], report: ImportReport) -> None:
    """Count what the write does — rows without a match are added, matched rows whose values
    differ are changed — and list each change: exactly what a dry run reports."""
    if report.update and compared:
        table = identifier(TABLES[kind], TABLES.values())
        session.execute(text(f"""
            UPDATE {STAGE} s SET changed = ({" OR ".join(c.differs for c in compared)})
            FROM {table} t WHERE t.id = s.old_id
        """))
        values = ", ".join(f"({k}, '{c.field}', {c.before}, {c.after}, {c.differs})" for k, c in enumerate(compared))
        report.changes = [Change(*row) for row in session.execute(text(f"""
            SELECT s.rownum, t.id, c.field, c.before, c.after
            FROM {STAGE} s JOIN {table} t ON t.id = s.old_id
            CROSS JOIN LATERAL (VALUES {values}) c(ord, field, before, after, differs)
            WHERE s.changed AND c.differs ORDER BY s.rownum, c.ord
        """))]
    report.added, report.changed, report.unchanged = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE old_id IS NULL), count(*) FILTER (WHERE changed),
               count(*) FILTER (WHERE old_id IS NOT NULL AND NOT changed) FROM {STAGE}
    """)).one()


def _write(session, kind: Kind, compared: list[Compared], report: ImportReport) -> None:
    """Insert the added rows, change the changed ones, then refresh the grid membership of the
    points added or moved."""
    table = identifier(TABLES[kind], TABLES.values())
    session.execute(text(f"""
        UPDATE {STAGE} s SET new_id = n.id
        FROM (SELECT o.rownum, nextval(pg_get_serial_sequence('{every(table)}', 'id')) AS id
              FROM (SELECT rownum FROM {STAGE} WHERE old_id IS NULL ORDER BY rownum) o) n
        WHERE s.rownum = n.rownum
    """))
    if kind is Kind.BUILDINGS:
        session.execute(text(f"""
            INSERT INTO buildings (id, subdistrict_code, compound, name, address, floors, entrances,
                                   flats_per_floor, use, geom, footprint)
            SELECT new_id, subdistrict_code, compound, name, address, floors, entrances, flats_per_floor,
                   CAST(use AS building_use), geom, footprint
            FROM {STAGE} WHERE old_id IS NULL ORDER BY rownum
        """))
    elif kind is Kind.HOUSEHOLDS:
        session.execute(text(f"""
            INSERT INTO households (id, building_id, entrance, floor, room, occupancy, member_count)
            SELECT new_id, b_id, entrance, floor, room, CAST(occupancy AS occupancy), member_count
            FROM {STAGE} WHERE old_id IS NULL ORDER BY rownum
        """))
    else:
        licence = ", licence_no" if kind is Kind.SHOPS else ""
        session.execute(text(f"""
            INSERT INTO {table} (id, subdistrict_code, name, kind, address, contact_name, contact_phone,
                                 geom{licence})
            SELECT new_id, subdistrict_code, name, kind, address, contact_name, contact_phone, geom{licence}
            FROM {STAGE} WHERE old_id IS NULL ORDER BY rownum
        """))
    if report.changed:
        session.execute(text(f"""
            UPDATE {table} t SET {", ".join(c.assignment() for c in compared)}
            FROM {STAGE} s WHERE t.id = s.old_id AND s.changed
        """))
    written = "(s.old_id IS NULL OR s.changed)"
    report.ids = list(session.execute(text(
        f"SELECT coalesce(s.new_id, s.old_id) FROM {STAGE} s WHERE {written} ORDER BY s.rownum")).scalars())
    report.loaded = len(report.ids)
    report.subdistricts = dict(session.execute(text(
        f"SELECT s.subdistrict_code, count(*) FROM {STAGE} s WHERE {written} GROUP BY 1 ORDER BY 1")).all())
    if kind is Kind.HOUSEHOLDS:
        counts = session.execute(text(f"""
            SELECT count(*) FILTER (WHERE b.grid_l1_id IS NOT NULL), count(*) FILTER (WHERE b.grid_l1_id IS NULL)
            FROM {STAGE} s JOIN buildings b ON b.id = s.b_id WHERE {written}
        """)).one()
        report.membership = {"in_grid": counts[0], "in_no_grid": counts[1]}
        return
    for code in session.execute(text(f"""
        SELECT DISTINCT s.subdistrict_code FROM {STAGE} s
        WHERE s.old_id IS NULL OR (s.changed AND (s.point_moved OR s.outline_changed)) ORDER BY 1
    """)).scalars():
        membership.refresh(session, subdistrict=code, tables=(table,))
    nearest = "count(*) FILTER (WHERE t.joined_nearest)" if kind is Kind.UNITS else "0"
    counts = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE t.grid_l1_id IS NOT NULL), count(*) FILTER (WHERE t.grid_l1_id IS NULL),
               {nearest}
        FROM {table} t WHERE t.id = ANY(:ids)
    """), {"ids": report.ids}).one()
    report.membership = {"in_grid": counts[0], "in_no_grid": counts[1]}
    if kind is Kind.UNITS:
        report.membership["joined_nearest"] = counts[2]
    if counts[1]:
        report.warnings.append(f"{counts[1]} 条不在任何网格内（盲区）/ {counts[1]} rows lie in no grid (a blind spot)")
