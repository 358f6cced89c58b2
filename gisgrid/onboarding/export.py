"""Everything of one sub-district as a file the imports read back: a GeoPackage or an Excel workbook.

Every column is named by the first (Chinese) name its importer tries (``gisgrid.imports.fields``;
grid layers ``编码`` / ``名称`` as ``gisgrid.grids.layer_import`` reads them), and every value is
written as the importer parses it (用途 住宅, 角色 网格长, 党员 是/否). Coordinates are WGS84 at
full precision. Only live grids are written, one layer (sheet) per level.

GeoPackage: layers ``boundary``, ``grids_l1`` … ``grids_l3``, ``buildings`` (footprints) and
``buildings_points`` (buildings without one; an import of a footprint derives the point as
``ST_PointOnSurface``), ``units``, ``shops``, and the attribute tables ``households`` and
``staff``. Residents are never in it.

Excel: one sheet per kind, areas and buildings as WKT in ``几何`` (the footprint, else the
point), units and shops as ``经度`` / ``纬度``; the sheet ``居民`` holds the residents, with ID
numbers and phones masked unless the personal data are asked for, which opens the sealed values
and is written to the audit log in the caller's transaction. A WKT longer than an Excel cell
holds (32,767 characters) is left out and named on the sheet ``说明``: the GeoPackage has it.

Staff are one row per assignment to a live grid (the staff import's form); staff without one
have no row.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.service import record
from gisgrid.core.enums import BuildingUse, Occupancy, ResidenceType, Sex, StaffRole
from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.scope import Scope
from gisgrid.core.secrets import keyring
from gisgrid.core.tables import XLSX, xlsx_bytes
from gisgrid.imports.fields import FIELDS, KIND_LABELS, Kind

GPKG = "application/geopackage+sqlite3"
MEDIA_TYPES = {"gpkg": GPKG, "xlsx": XLSX}
EXCEL_CELL = 32_767
GRID_HEADERS = ("编码", "名称", "上级编码")
LEVEL_SHEETS = {1: "一级网格", 2: "二级网格", 3: "三级网格"}


def headers(kind: Kind, names: tuple[str, ...]) -> list[str]:
    """The column each field is read from: its first alias, the Chinese header."""
    first = {f.name: f.aliases[0] for f in FIELDS[kind]}
    return [first[name] for name in names]


BUILDING_NAMES = ("address", "name", "compound", "floors", "entrances", "flats_per_floor", "use")
ORG_NAMES = ("name", "address", "kind", "contact_name", "contact_phone")
HOUSEHOLD_NAMES = ("building_address", "entrance", "floor", "room", "occupancy", "member_count")
STAFF_NAMES = ("name", "phone", "role", "grid_code", "sex", "title", "party_member")
RESIDENT_NAMES = ("name", "sex", "id_number", "birth_year", "phone", "building_address", "entrance", "floor",
                  "room", "relation", "residence_type", "party_member", "key_groups")


@dataclass
class Part:
    """One layer / sheet: its rows (in header order) and, for a spatial one, a geometry per row."""

    layer: str
    sheet: str
    headers: list[str]
    rows: list[list]
    geometries: list | None = None  # shapely geometries, or None for an attribute table
    geometry_type: str | None = None


@dataclass
class Exported:
    subdistrict: str
    format: str
    content: bytes
    counts: dict[str, int]
    personal_data: bool
    notes: list[str] = field(default_factory=list)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def filename(self) -> str:
        return f"gisgrid-{self.subdistrict}.{self.format}"


def _yes(value: bool) -> str:
    return "是" if value else "否"


def _label(enum, value) -> str | None:
    return None if value is None else _LABELS[enum][value]


_LABELS = {enum: {m.value: m.label_zh for m in enum} for enum in (BuildingUse, Occupancy, ResidenceType, Sex, StaffRole)}


def _shape(wkb) -> shapely.Geometry | None:
    return None if wkb is None else shapely.from_wkb(bytes(wkb))


def which_subdistrict(session: Session, subdistrict: str | None, scope: Scope) -> str:
    """The sub-district to export: the one named (in the caller's scope), else the only one there is."""
    condition, params = scope.codes("code")
    known = list(session.execute(text(f"SELECT code FROM subdistricts WHERE {condition} ORDER BY code"),
                                 params).scalars())
    if subdistrict is not None:
        if subdistrict not in known:
            raise NotFound(f"没有街道 {subdistrict} / no sub-district {subdistrict}", where="subdistrict")
        return subdistrict
    if len(known) != 1:
        listed = ", ".join(known[:20]) or "none is loaded"
        raise InvalidInput(f"请指定街道 / name the sub-district to export (--subdistrict): {listed}",
                           where="subdistrict")
    return known[0]


def _boundary(session: Session, sd: str) -> Part:
    row = session.execute(text("SELECT code, name, county, city, ST_AsBinary(boundary) AS wkb FROM subdistricts "
                               "WHERE code = :sd"), {"sd": sd}).one()
    return Part("boundary", "边界", ["编码", "名称", "区县", "城市"], [[row.code, row.name, row.county, row.city]],
                [_shape(row.wkb)], "MultiPolygon")


def _grids(session: Session, sd: str, level: int, scope: Scope) -> Part:
    condition, params = scope.codes("g.code")
    rows = session.execute(text(f"""
        SELECT g.code, g.name, g.parent_code, ST_AsBinary(g.geom) AS wkb FROM grids g
        WHERE g.subdistrict_code = :sd AND g.level = :level AND g.retired_at IS NULL AND {condition}
        ORDER BY g.code"""), {"sd": sd, "level": level, **params}).all()
    return Part(f"grids_l{level}", LEVEL_SHEETS[level], list(GRID_HEADERS),
                [[r.code, r.name, r.parent_code] for r in rows], [_shape(r.wkb) for r in rows], "MultiPolygon")


def _buildings(session: Session, sd: str, scope: Scope) -> list[Part]:
    """Two layers: the buildings with a footprint (polygons) and those without (points)."""
    condition, params = scope.rows("b")
    rows = session.execute(text(f"""
        SELECT b.address, b.name, b.compound, b.floors, b.entrances, b.flats_per_floor, b.use,
               ST_AsBinary(b.geom) AS point, ST_AsBinary(b.footprint) AS footprint
        FROM buildings b WHERE b.subdistrict_code = :sd AND {condition} ORDER BY b.id"""),
        {"sd": sd, **params}).all()
    columns = headers(Kind.BUILDINGS, BUILDING_NAMES)
    outlines = Part("buildings", KIND_LABELS[Kind.BUILDINGS], columns, [], [], "Polygon")
    points = Part("buildings_points", KIND_LABELS[Kind.BUILDINGS], columns, [], [], "Point")
    for r in rows:
        part = outlines if r.footprint is not None else points
        part.rows.append([r.address, r.name, r.compound, r.floors, r.entrances, r.flats_per_floor,
                          _label(BuildingUse, r.use)])
        part.geometries.append(_shape(r.footprint if r.footprint is not None else r.point))
    return [outlines, points]


def _organisations(session: Session, sd: str, kind: Kind, scope: Scope) -> Part:
    condition, params = scope.rows("o")
    shops = kind is Kind.SHOPS
    table = "shops" if shops else "stationed_units"
    rows = session.execute(text(f"""
        SELECT o.name, o.address, o.kind, o.contact_name, o.contact_phone{", o.licence_no" if shops else ""},
               ST_AsBinary(o.geom) AS wkb
        FROM {table} o WHERE o.subdistrict_code = :sd AND {condition} ORDER BY o.id"""), {"sd": sd, **params}).all()
    names = ORG_NAMES + (("licence_no",) if shops else ())
    return Part("shops" if shops else "units", KIND_LABELS[kind], headers(kind, names),
                [list(r[:len(names)]) for r in rows], [_shape(r.wkb) for r in rows], "Point")


def _households(session: Session, sd: str, scope: Scope) -> Part:
    condition, params = scope.rows("b")
    rows = session.execute(text(f"""
        SELECT b.address, h.entrance, h.floor, h.room, h.occupancy, h.member_count
        FROM households h JOIN buildings b ON b.id = h.building_id
        WHERE b.subdistrict_code = :sd AND {condition} ORDER BY h.id"""), {"sd": sd, **params}).all()
    return Part("households", KIND_LABELS[Kind.HOUSEHOLDS], headers(Kind.HOUSEHOLDS, HOUSEHOLD_NAMES),
                [[r.address, r.entrance, r.floor, r.room, _label(Occupancy, r.occupancy), r.member_count]
                 for r in rows])


def _staff(session: Session, sd: str, scope: Scope) -> Part:
    condition, params = scope.codes("g.code")
    rows = session.execute(text(f"""
        SELECT s.name, s.phone, a.role, g.code, s.sex, s.title, s.party_member
        FROM grid_assignments a JOIN staff s ON s.id = a.staff_id JOIN grids g ON g.id = a.grid_id
        WHERE g.subdistrict_code = :sd AND g.retired_at IS NULL AND {condition}
        ORDER BY g.code, a.role = 'grid_lead' DESC, a.role, s.id"""), {"sd": sd, **params}).all()
    return Part("staff", KIND_LABELS[Kind.STAFF], headers(Kind.STAFF, STAFF_NAMES),
                [[r.name, r.phone, _label(StaffRole, r.role), r.code, _label(Sex, r.sex), r.title,
                  _yes(r.party_member)] for r in rows])


def _residents(session: Session, sd: str, scope: Scope, personal: bool) -> Part:
    """The residents, masked; with ``personal`` their ID numbers and phones opened."""
    condition, params = scope.rows("b")
    sealed = "r.id_number_enc, r.phone_enc" if personal else "r.id_number_masked, r.phone_masked"
    rows = session.execute(text(f"""
        SELECT r.name, r.sex, {sealed}, r.birth_year, b.address, h.entrance, h.floor, h.room, r.relation,
               r.residence_type, r.party_member, tags.names
        FROM residents r JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id
        LEFT JOIN (SELECT rk.resident_id, string_agg(k.name_zh, '、' ORDER BY k.sort_order) AS names
                   FROM resident_key_groups rk JOIN key_groups k ON k.code = rk.key_group GROUP BY 1) tags
               ON tags.resident_id = r.id
        WHERE b.subdistrict_code = :sd AND {condition} ORDER BY r.id"""), {"sd": sd, **params}).all()
    opened = keyring().open if personal else None

    def value(cell):
        return None if cell is None else opened(bytes(cell)) if opened else cell

    return Part("residents", KIND_LABELS[Kind.RESIDENTS], headers(Kind.RESIDENTS, RESIDENT_NAMES),
                [[r.name, _label(Sex, r.sex), value(r[2]), r.birth_year, value(r[3]), r.address, r.entrance, r.floor,
                  r.room, r.relation, _label(ResidenceType, r.residence_type), _yes(r.party_member), r.names]
                 for r in rows])


def gather(session: Session, sd: str, scope: Scope) -> list[Part]:
    """Every layer of the sub-district but the residents, in the order they are imported."""
    return [_boundary(session, sd), *(_grids(session, sd, level, scope) for level in (1, 2, 3)),
            *_buildings(session, sd, scope), _organisations(session, sd, Kind.UNITS, scope),
            _organisations(session, sd, Kind.SHOPS, scope), _households(session, sd, scope), _staff(session, sd, scope)]


def export(session: Session, subdistrict: str | None, scope: Scope, *, format: str, with_personal_data: bool,
           actor: str, client_addr: str | None = None) -> Exported:
    """The sub-district as a GeoPackage or an Excel workbook. Opening personal data writes an
    audit row in the caller's transaction: the caller commits it with the export."""
    if format not in MEDIA_TYPES:
        raise InvalidInput(f"格式应为 gpkg 或 xlsx / the format must be gpkg or xlsx, got {format!r}", where="format")
    if with_personal_data and format != "xlsx":
        raise InvalidInput("居民只导出到 Excel / residents are exported in the Excel form only: use xlsx",
                           where="with_personal_data")
    sd = which_subdistrict(session, subdistrict, scope)
    parts = gather(session, sd, scope)
    notes: list[str] = []
    if format == "gpkg":
        content = _geopackage(parts)
    else:
        parts.append(_residents(session, sd, scope, with_personal_data))
        content = _workbook(parts, sd, with_personal_data, notes)
    counts = {part.layer: len(part.rows) for part in parts}
    if with_personal_data:
        record(session, actor=actor, action="export.personal_data", object_type="subdistrict", object_id=sd,
               outcome="ok", client_addr=client_addr, detail={"format": format, "residents": counts["residents"]})
    return Exported(sd, format, content, counts, with_personal_data, notes)


def _geopackage(parts: list[Part]) -> bytes:
    """Every part as a layer of one GeoPackage (EPSG:4326); an empty level is an empty layer."""
    import geopandas
    import pandas
    import pyogrio

    with tempfile.TemporaryDirectory(prefix="gisgrid-export-") as folder:
        path = Path(folder) / "export.gpkg"
        for part in parts:
            columns = {name: pandas.Series([row[i] for row in part.rows], dtype=None if part.rows else object)
                       for i, name in enumerate(part.headers)}
            if part.geometries is None:
                pyogrio.write_dataframe(pandas.DataFrame(columns), path, layer=part.layer, driver="GPKG")
                continue
            frame = geopandas.GeoDataFrame(columns, geometry=geopandas.GeoSeries(part.geometries, crs="EPSG:4326"),
                                           crs="EPSG:4326")
            pyogrio.write_dataframe(frame, path, layer=part.layer, driver="GPKG", geometry_type=part.geometry_type,
                                    promote_to_multi=part.geometry_type == "MultiPolygon")
        return path.read_bytes()


def _workbook(parts: list[Part], sd: str, personal: bool, notes: list[str]) -> bytes:
    """One sheet per kind (the two building layers in one); ``notes`` gets every geometry left out."""
    sheets: dict[str, tuple[list[str], list[list]]] = {}
    for part in parts:
        columns, rows = sheets.setdefault(part.sheet, (list(part.headers), []))
        if part.geometries is None:
            rows.extend(part.rows)
            continue
        if part.geometry_type == "Point" and part.layer != "buildings_points":
            if "经度" not in columns:
                columns += ["经度", "纬度"]
            rows.extend([*row, geom.x, geom.y] for row, geom in zip(part.rows, part.geometries, strict=True))
            continue
        if "几何" not in columns:
            columns.append("几何")
        for row, geom in zip(part.rows, part.geometries, strict=True):
            wkt = shapely.to_wkt(geom, rounding_precision=-1)
            if len(wkt) > EXCEL_CELL:
                notes.append(f"{part.sheet} {row[0]}: 几何超过 Excel 单元格上限，见 GeoPackage / the geometry is longer "
                             f"than an Excel cell holds ({len(wkt):,} characters): export the GeoPackage")
                wkt = None
            rows.append([*row, wkt])
    about = [["街道 / sub-district", sd], ["导出时间 / exported at", datetime.now(UTC).isoformat(timespec="seconds")],
             ["坐标系 / coordinates", "WGS84 (EPSG:4326)，几何为 WKT / geometries as WKT"],
             ["居民身份证号与电话 / residents' ID numbers and phones",
              "完整（已记入审计日志）/ in full (on the audit log)" if personal else "已脱敏 / masked"],
             *[["未写入 / left out", note] for note in notes]]
    return xlsx_bytes([*((title, columns, rows) for title, (columns, rows) in sheets.items()),
                       ("说明", ["项目 / item", "内容 / value"], about)])
