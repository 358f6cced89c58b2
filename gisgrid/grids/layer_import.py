"""Import a whole layer of grids (GeoJSON, GeoPackage, Shapefile) as one change.

The file is the new state of every family it touches: for each parent that has a child in the
file (or each sub-district, for L1 zones), its children become exactly the file's features —
grids whose code is in the file are reshaped or renamed, new codes are created, and the
parent's other children are retired. Each feature needs a ``code`` (the full 12/15/18-digit
grid code, which says the level and the parent) and a ``name`` (``编码`` / ``名称`` and
``网格编码`` / ``网格名称`` are read too).

The features are converted to WGS84 as one layer (:func:`~gisgrid.grids.shapes.convert_layer`),
against the stored parents of their families, so borders shared in the file's CRS stay shared.

The caller must say which state of the layer the file was made from: the dry run returns the
layer's ETag (a digest of the code and version of every grid in scope) and the real import
needs it back (If-Match): a layer edited meanwhile gives 409, none given 428.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core import crs as crs_mod
from gisgrid.core.errors import Conflict, InvalidInput, PreconditionRequired
from gisgrid.grids import shapes
from gisgrid.grids.edit_report import EditReport, ImportReport, ImportSummary
from gisgrid.grids.editing import Edit, EditRequest
from gisgrid.grids.models import check_grid_code, grid_name

CODE_COLUMNS = ("code", "grid_code", "编码", "网格编码")
NAME_COLUMNS = ("name", "grid_name", "名称", "网格名称")
FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".shp": "Shapefile",
           ".zip": "Shapefile (zip)"}


def _read(path: Path, crs: str | None, layer: str | None):
    import pyogrio

    if not path.exists():
        raise InvalidInput(f"文件不存在 / no such file: {path.name}", where="file")
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"不支持的格式 {path.suffix} / unsupported format {path.suffix}: use GeoJSON, "
                           "GeoPackage or Shapefile", where="file")
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio/GDAL errors carry the reason
        raise InvalidInput(f"无法读取文件 / cannot read {path.name}: {str(exc)[:300]}", where="file") from None
    columns = {c.lower(): c for c in frame.columns if c != "geometry"}
    code_col = next((columns[c] for c in CODE_COLUMNS if c in columns), None)
    name_col = next((columns[c] for c in NAME_COLUMNS if c in columns), None)
    if code_col is None or name_col is None:
        missing = "code" if code_col is None else "name"
        raise InvalidInput(f"文件缺少 {missing} 字段 / the file has no '{missing}' field (columns: "
                           f"{', '.join(columns.values())})", where=missing)
    declared = frame.crs
    if crs is None and declared is not None:
        epsg = declared.to_epsg()
        if epsg is None:  # no code to name it by: converted here, vertex by vertex
            frame = frame.to_crs(4326)
        elif epsg not in (4326, 4490):
            crs = f"EPSG:{epsg}"
    elif crs is not None and declared is not None and crs_mod.canonical(crs) not in (
            crs_mod.GCJ02, crs_mod.BD09) and declared.to_epsg() not in (4326, 4490, None):
        raise InvalidInput(f"文件声明坐标系 {declared.name}，与 crs {crs} 矛盾 / the file declares "
                           f"{declared.name}, which contradicts crs {crs}", where="crs")
    return frame, code_col, name_col, crs


def _etag(rows) -> str:
    digest = hashlib.sha256("|".join(f"{r.code}:{r.version}" for r in rows).encode()).hexdigest()
    return f'"layer-{digest[:20]}"'


def import_layer(session: Session, request: EditRequest, path: str | Path, *, crs: str | None = None,
                 layer: str | None = None, expected_etag: str | None = None) -> ImportReport:
    """Make the file's families the layer: read, check every feature, check against the stored
    layer, lock it, convert, then place each family in turn (parents before children)."""
    path = Path(path)
    frame, code_col, name_col, given = _read(path, crs, layer)
    features = _features(frame, code_col, name_col, given)
    edit = Edit(session, request, "import")
    families = sorted({(f["level"], f["parent"], f["subdistrict"]) for f in features}, key=lambda x: (x[0], x[1] or ""))
    in_file = {f["code"] for f in features}
    scope = _stored_layer(session, features, families)
    rows, layer_etag = _lock(edit, scope, expected_etag)
    stored_parents = _convert(edit, features, families, in_file, given)
    placed: dict[str, object] = {}  # the layer after the import, by code
    for family in families:
        _place_family(edit, family, features, rows, placed, stored_parents)
    edit.refuse_if_problems()
    report = edit.finish(allow_noop=True)
    summary = ImportSummary(file=path.name, features=len(features), **_counts(report, len(features), in_file))
    return ImportReport(**report, summary=summary, etag=layer_etag)


def _refuse(problems: list[dict]) -> None:
    """Every problem found in one pass is reported at once, the first as the message."""
    if problems:
        raise InvalidInput(problems[0]["message"], where=problems[0]["where"], problems=problems)


def _features(frame, code_col: str, name_col: str, given: str | None) -> list[dict]:
    """The file's features, each checked on its own (code, geometry, name) before anything is read
    from the database: all refusals at once, each naming its feature."""
    problems: list[dict] = []
    features: list[dict] = []
    seen: dict[str, int] = {}
    for i, (code, name, geom) in enumerate(zip(frame[code_col], frame[name_col], frame.geometry, strict=True)):
        where = f"features[{i}]"
        code = str(code).strip() if code is not None and not (isinstance(code, float) and np.isnan(code)) else ""
        try:
            level = check_grid_code(code, where=f"{where}.code")
        except InvalidInput as exc:
            problems.append({"where": exc.where, "message": exc.message})
            continue
        if code.endswith("000"):
            problems.append({"where": f"{where}.code", "message": f"{where}.code：编码 {code} 的序号为 000，序号应为 "
                             f"001–999 / {where}.code: code {code} has serial 000; serials are 001 to 999"})
            continue
        if code in seen:
            problems.append({"where": f"{where}.code", "message": f"{where} 编码 {code} 与 features[{seen[code]}] "
                             f"重复 / {where}: code {code} repeats features[{seen[code]}]"})
            continue
        seen[code] = i
        if geom is None:
            problems.append({"where": f"{where}.geometry", "message": f"{where} 缺少几何 / {where} has no geometry"})
            continue
        try:
            shape = shapes.read_area(mapping(geom), given, where=f"{where}.geometry")
            name = grid_name(name if isinstance(name, str) else "", f"{where}.name")
        except InvalidInput as exc:
            problems.append({"where": exc.where, "message": exc.message})
            continue
        features.append({"index": i, "code": code, "name": name, "geom": shape, "level": level,
                         "parent": code[:-3] if level > 1 else None, "subdistrict": code[:9]})
    _refuse(problems)
    if not features:
        raise InvalidInput("文件没有要素 / the file has no features", where="file")
    return features


def _stored_layer(session: Session, features: list[dict], families: list[tuple]) -> list:
    """The stored grids the file touches (its codes, and the active children of its families),
    refused if a sub-district is unknown or a code belongs to a retired grid."""
    problems: list[dict] = []
    subdistricts = sorted({f["subdistrict"] for f in features})
    known = set(session.execute(text("SELECT code FROM subdistricts WHERE code = ANY(:c)"),
                                {"c": subdistricts}).scalars())
    for f in features:
        if f["subdistrict"] not in known:
            problems.append({"where": f"features[{f['index']}].code", "message":
                             f"没有编码为 {f['subdistrict']} 的街道 / no sub-district {f['subdistrict']}"})
    index = {f["code"]: f["index"] for f in features}
    scope = session.execute(text(
        "SELECT code, version, level, parent_code, subdistrict_code, retired_at IS NOT NULL AS retired FROM grids "
        "WHERE code = ANY(:codes) OR (retired_at IS NULL AND (parent_code = ANY(:parents) "
        "OR (level = 1 AND subdistrict_code = ANY(:l1)))) ORDER BY code"),
        {"codes": sorted(index), "parents": [p for _, p, _ in families if p],
         "l1": [s for level, _, s in families if level == 1]}).all()
    for row in scope:
        if row.retired and row.code in index:
            problems.append({"where": f"features[{index[row.code]}].code", "message":
                             f"编码 {row.code} 属于已撤销网格，编码不重复使用 / code {row.code} belongs to a retired "
                             "grid: codes are never reused"})
    _refuse(problems)
    return scope


def _lock(edit: Edit, scope: list, expected_etag: str | None) -> tuple[dict, str]:
    """Lock the active grids in scope and check the caller's ETag against them: the ETag comes
    from the locked rows, so nothing can change between the check and the write."""
    active = [r for r in scope if not r.retired]
    rows = {r.code: r for r in edit.lock([r.code for r in active], check=False)} if active else {}
    layer_etag = _etag(sorted(rows.values(), key=lambda r: r.code))
    if not edit.request.dry_run:
        if expected_etag is None:
            raise PreconditionRequired("导入图层须提供试运行返回的 etag（If-Match）/ importing a layer needs the etag "
                                       "its dry run returned, in If-Match", where="If-Match")
        if expected_etag.strip().removeprefix("W/") != layer_etag:
            raise Conflict("图层在试运行后已被修改，请重新试运行 / the layer changed since the dry run: run it again",
                           where="If-Match", current_etag=layer_etag)
    return rows, layer_etag


def _convert(edit: Edit, features: list[dict], families: list[tuple], in_file: set[str],
             given: str | None) -> dict:
    """Convert the features to WGS84 as one layer, fitted to the stored parents the file does not
    hold; returns those parents' shapes, by parent code (or sub-district code, for L1 zones)."""
    stored_parents = {}
    for _, parent, subdistrict in families:
        edit.lock_parent(parent, subdistrict)
        if parent not in in_file:
            stored_parents[parent or subdistrict] = edit.parent_shape(parent, subdistrict)
    for f, shape in zip(features, shapes.convert_layer([f["geom"] for f in features], given,
                                                       list(stored_parents.values())), strict=True):
        f["geom"] = shape
    return stored_parents


def _place_family(edit: Edit, family: tuple, features: list[dict], rows: dict, placed: dict,
                  stored_parents: dict) -> None:
    """One family becomes exactly the file's features: fitted into its parent (as the file places
    it, or as stored) and beside each other, then created, reshaped or renamed; the family's
    other grids are retired (refused while they still have children)."""
    level, parent, subdistrict = family
    parent_geom = placed[parent] if parent in placed else stored_parents[parent or subdistrict]
    siblings = [f for f in features if (f["level"], f["parent"], f["subdistrict"]) == family]
    done: dict[str, object] = {}
    labels = {f"features[{f['index']}] ({f['code']})": f for f in siblings}
    for label, f in labels.items():
        done[f["code"]] = edit.fit(f["geom"], parent=parent_geom, neighbours=done, label=label,
                                   where=f"features[{f['index']}].geometry", fill_slivers=False)
    if edit.request.mode == "fit":
        # slivers once the whole family is placed: a gap goes to the grid bordering it most
        filled = edit.fill_slivers({label: done[f["code"]] for label, f in labels.items()}, parent_geom, {})
        done = {f["code"]: filled[label] for label, f in labels.items()}
    for f in siblings:
        shape = placed[f["code"]] = done[f["code"]]
        row = rows.get(f["code"])
        if row is None:
            edit.create(parent_code=parent, subdistrict=subdistrict, level=level, name=f["name"], geom=shape,
                        serial=int(f["code"][-3:]))
            continue
        if not shapes.on_grid(shape).equals(shapes.on_grid(row.geom)):
            edit.reshape(row, shape)
        if f["name"] != row.name:
            target = edit.target(row)
            target.name = f["name"]
            target.actions.append("renamed")
    in_file = {f["code"] for f in siblings}
    for row in rows.values():
        if (row.level, row.parent_code, row.subdistrict_code) == family and row.code not in in_file:
            if edit.children(row.code) and not any(f["parent"] == row.code for f in features):
                edit.problems.append({"where": "file", "grid": row.code, "message":
                                      f"网格 {row.code} 不在文件中但有下级网格 / grid {row.code} is missing from the "
                                      "file but has children: keep it, or give its children new parents"})
                continue
            edit.retire(row)


def _counts(report: EditReport, features: int, in_file: set[str]) -> dict[str, int]:
    """How many grids the import created, reshaped, renamed, retired or left as they were."""
    counts = {"created": 0, "reshaped": 0, "renamed": 0, "retired": 0}
    for grid in report["grids"]:
        for action in grid["actions"]:
            if action in counts:
                counts[action] += 1
    counts["unchanged"] = features - sum(1 for g in report["grids"] if g["code"] in in_file)
    return counts
