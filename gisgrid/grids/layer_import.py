"""Import a whole layer of grids (GeoJSON, GeoPackage, Shapefile) as one change.

The file is the new state of every family it touches: for each parent that has a child in the
file (or each sub-district, for L1 zones), its children become exactly the file's features —
grids whose code is in the file are reshaped or renamed, new codes are created, and the
parent's other children are retired. Each feature needs a ``name`` (``名称`` / ``网格名称`` are
read too, or the column ``--map name=COLUMN`` names) and a ``code`` (the full 12/15/18-digit grid
code, which says the level and the parent; ``编码`` / ``网格编码``, or ``--map code=COLUMN``).

A file that says its level (``level``) may come without codes, as a planning office draws it:
each feature's parent is then the one holding most of its area (for an L1 zone, the sub-district
holding it); a feature in no parent, or straddling two, is refused with the parents and their
shares. A feature with a code keeps it (refused if the code's level or parent contradicts where it
lies); with ``assign_codes`` the others get serials after every serial their parent ever gave
out, in the order every code follows (:mod:`gisgrid.grids.numbering`).

The features are converted to WGS84 as one layer (:func:`~gisgrid.grids.shapes.convert_layer`),
against the stored parents of their families, so borders shared in the file's CRS stay shared.

The caller must say which state of the layer the file was made from: the dry run returns the
layer's ETag (a digest of the code and version of every grid in scope) and the real import
needs it back (If-Match): a layer edited meanwhile gives 409, none given 428. A first import into
families without grids overwrites nothing: it needs no ETag, and its reason may be the default
(:func:`default_reason`).
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.service import record
from gisgrid.core import crs as crs_mod
from gisgrid.core.errors import Conflict, InvalidInput, PreconditionRequired
from gisgrid.grids import shapes
from gisgrid.grids.edit_report import EditReport, ImportReport, ImportSummary, NewGrid
from gisgrid.grids.editing import Edit, EditRequest
from gisgrid.grids.models import check_grid_code, grid_name
from gisgrid.grids.numbering import ROW_DEPTH_M, reading_order

CODE_COLUMNS = ("code", "grid_code", "编码", "网格编码")
NAME_COLUMNS = ("name", "grid_name", "名称", "网格名称")
COLUMNS = {"code": CODE_COLUMNS, "name": NAME_COLUMNS}
HOLDS = 0.5  # a parent holds at least this share of a feature's area…
STRADDLES = 0.1  # …and a second parent holding this share too means the feature straddles them
FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".shp": "Shapefile",
           ".zip": "Shapefile (zip)"}


def column_map(items: list[str] | None) -> dict[str, str]:
    """``FIELD=COLUMN`` pairs (``--map name=网格名``) → {field: column}, for the fields ``code`` and ``name``."""
    mapped = {}
    for item in items or []:
        field, sep, column = item.partition("=")
        field, column = field.strip().lower(), column.strip()
        if not sep or field not in COLUMNS or not column:
            raise InvalidInput(f"--map 应为 name=列名 或 code=列名，收到 {item!r} / --map takes name=COLUMN or "
                               f"code=COLUMN, got {item!r}", where="map")
        mapped[field] = column
    return mapped


def default_reason(path: str | Path) -> str:
    """The reason a first import goes down in history under when the caller gives none."""
    return f"导入 {Path(path).name}"


def _without_cpg(path: Path) -> bool:
    """A Shapefile (or zipped one) whose .cpg is missing: GDAL would then read its attributes as
    ISO-8859-1, which garbles the GBK a Chinese office's files are mostly in."""
    if path.suffix.lower() == ".shp":
        return not any(path.with_suffix(s).exists() for s in (".cpg", ".CPG"))
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        names = [n.lower() for n in zipfile.ZipFile(path).namelist()]
        return any(n.endswith(".shp") for n in names) and not any(n.endswith(".cpg") for n in names)
    return False


def _frame(path: Path, layer: str | None):
    """The file as a GeoDataFrame; a Shapefile without .cpg decoded as UTF-8, else GB18030 (GBK)."""
    import pyogrio

    for encoding in ("UTF-8", "GB18030") if _without_cpg(path) else (None,):
        try:
            return pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except Exception as exc:  # pyogrio/GDAL errors carry the reason
            raise InvalidInput(f"无法读取文件 / cannot read {path.name}: {str(exc)[:300]}", where="file") from None
    raise InvalidInput(f"{path.name} 的属性表既非 UTF-8 也非 GBK，请附 .cpg 说明编码 / the attributes of {path.name} "
                       "are neither UTF-8 nor GBK: add a .cpg naming their encoding", where="file")


def _read(path: Path, crs: str | None, layer: str | None, mapped: dict[str, str], level: int | None):
    if not path.exists():
        raise InvalidInput(f"文件不存在 / no such file: {path.name}", where="file")
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"不支持的格式 {path.suffix} / unsupported format {path.suffix}: use GeoJSON, "
                           "GeoPackage or Shapefile", where="file")
    frame = _frame(path, layer)
    columns = {c.lower(): c for c in frame.columns if c != "geometry"}
    chosen: dict[str, str | None] = {}
    for field, names in COLUMNS.items():
        if field in mapped:
            column = mapped[field]
            chosen[field] = column if column in frame.columns and column != "geometry" else columns.get(column.lower())
            if chosen[field] is None:
                raise InvalidInput(f"--map {field}={column}：文件没有列 {column} / the file has no column {column!r} "
                                   f"(columns: {', '.join(columns.values())})", where="map")
        else:
            chosen[field] = next((columns[c] for c in names if c in columns), None)
    code_col, name_col = chosen["code"], chosen["name"]
    if name_col is None or (code_col is None and level is None):
        missing = "code" if code_col is None and level is None else "name"
        hint = "; without codes, say the level (--level) and add --assign-codes" if missing == "code" else ""
        raise InvalidInput(f"文件缺少 {missing} 字段 / the file has no '{missing}' field (columns: "
                           f"{', '.join(columns.values())}){hint}", where=missing)
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
                 layer: str | None = None, expected_etag: str | None = None, level: int | None = None,
                 assign_codes: bool = False, columns: dict[str, str] | None = None,
                 reason_given: bool = True, retire_children: bool = False) -> ImportReport:
    """Make the file's families the layer: read, check every feature (and, for a file of one
    ``level``, find its parent and number it), lock the families, check against the stored layer,
    convert, then place each family in turn (parents before children). ``reason_given=False``:
    the request's reason is :func:`default_reason`, enough only while nothing is overwritten.
    ``retire_children``: a grid the file retires, or reshapes so that a child no longer lies in
    it, has those children retired with it (a division redrawing grids, whose micro-grids are
    then drawn anew), instead of the import being refused."""
    path = Path(path)
    if level is not None and level not in (1, 2, 3):
        raise InvalidInput(f"level 应为 1、2 或 3，收到 {level} / level must be 1, 2 or 3, got {level}", where="level")
    frame, code_col, name_col, given = _read(path, crs, layer, columns or {}, level)
    features = _features(frame, code_col, name_col, given, level)
    if level is not None:
        _codes_or_assign(features, assign_codes)
        _find_parents(session, features, level, shapes.convert_layer([f["geom"] for f in features], given))
    edit = Edit(session, request, "import")
    families = sorted({(f["level"], f["parent"], f["subdistrict"]) for f in features}, key=lambda x: (x[0], x[1] or ""))
    for _, parent, subdistrict in families:  # before reading the layer: a family is read as it stays
        edit.lock_parent(parent, subdistrict)
    scope = _stored_layer(session, features, families)
    rows, layer_etag = _lock(edit, scope, expected_etag, reason_given)
    stored_parents = _convert(edit, features, families, {f["code"] for f in features if f["code"]}, given)
    _assign(edit, features, families)
    in_file = {f["code"] for f in features}
    placed: dict[str, object] = {}  # the layer after the import, by code
    for family in families:
        _place_family(edit, family, features, rows, placed, stored_parents, retire_children)
    edit.refuse_if_problems()
    report = edit.finish(allow_noop=True)
    summary = ImportSummary(file=path.name, features=len(features), **_counts(report, len(features), in_file))
    new_grids = [NewGrid(feature=f["index"], code=f["code"], name=f["name"], parent=f["parent"] or f["subdistrict"],
                         assigned=f["assigned"]) for f in sorted(features, key=lambda f: f["code"])
                 if f["code"] not in rows]
    if not request.dry_run:
        record(session, actor=request.actor, action="grid.import", outcome="ok", object_type="grids",
               object_id=path.name, detail={"reason": request.reason, "level": level, **summary,
                                            "new_grids": [g["code"] for g in new_grids]})
    return ImportReport(**report, summary=summary, etag=layer_etag, new_grids=new_grids)


def _refuse(problems: list[dict]) -> None:
    """Every problem found in one pass is reported at once, the first as the message."""
    if problems:
        raise InvalidInput(problems[0]["message"], where=problems[0]["where"], problems=problems)


def _features(frame, code_col: str | None, name_col: str, given: str | None, level: int | None) -> list[dict]:
    """The file's features, each checked on its own (code, geometry, name) before anything is read
    from the database: all refusals at once, each naming its feature. In a file of one ``level``
    a feature may have no code (``code`` None, its parent found later)."""
    problems: list[dict] = []
    features: list[dict] = []
    seen: dict[str, int] = {}
    codes = frame[code_col] if code_col is not None else [None] * len(frame)
    for i, (code, name, geom) in enumerate(zip(codes, frame[name_col], frame.geometry, strict=True)):
        where = f"features[{i}]"
        code = str(code).strip() if code is not None and not (isinstance(code, float) and np.isnan(code)) else ""
        if code.endswith(".0") and code[:-2].isdigit():  # a code column read as numbers
            code = code[:-2]
        if code or level is None:
            problem = _code_problem(code, where, level, seen.get(code))
            if problem:
                problems.append(problem)
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
        features.append({"index": i, "code": code or None, "name": name, "geom": shape, "assigned": False,
                         "level": level or (len(code) - 9) // 3, "parent": code[:-3] if len(code) > 12 else None,
                         "subdistrict": code[:9] or None})
    _refuse(problems)
    if not features:
        raise InvalidInput("文件没有要素 / the file has no features", where="file")
    return features


def _code_problem(code: str, where: str, level: int | None, repeats: int | None) -> dict | None:
    """What is wrong with one feature's code on its own, if anything."""
    try:
        found = check_grid_code(code, where=f"{where}.code")
    except InvalidInput as exc:
        return {"where": exc.where, "message": exc.message}
    if code.endswith("000"):
        return {"where": f"{where}.code", "message": f"{where}.code：编码 {code} 的序号为 000，序号应为 "
                f"001–999 / {where}.code: code {code} has serial 000; serials are 001 to 999"}
    if level is not None and found != level:
        return {"where": f"{where}.code", "message": f"{where} 编码 {code} 是 {found} 级编码，文件为 {level} 级 / "
                f"{where}: code {code} is a level-{found} code, the file is level {level}"}
    if repeats is not None:
        return {"where": f"{where}.code", "message": f"{where} 编码 {code} 与 features[{repeats}] 重复 / "
                f"{where}: code {code} repeats features[{repeats}]"}
    return None


def _codes_or_assign(features: list[dict], assign_codes: bool) -> None:
    """Features without a code are numbered only when the caller asked for it."""
    uncoded = [f"features[{f['index']}]" for f in features if f["code"] is None]
    if uncoded and not assign_codes:
        listed = ", ".join(uncoded[:5]) + (" …" if len(uncoded) > 5 else "")
        raise InvalidInput(f"{len(uncoded)} 个要素没有编码（{listed}）：加 --assign-codes 按规则自动编号 / "
                           f"{len(uncoded)} feature(s) have no code ({listed}): add --assign-codes to number them "
                           "by the scheme, or give each its code", where="assign_codes")


def _find_parents(session: Session, features: list[dict], level: int, converted: list) -> None:
    """Each feature's parent: the sub-district (L1) or active grid one level up holding most of
    its area (``converted``: the features in WGS84). Refused when no parent holds half of it, or
    a second one holds a share too; a feature's own code must name that parent."""
    x0, y0, x1, y1 = shapely.total_bounds(converted)
    box = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
    if level == 1:
        found = session.execute(text(
            "SELECT code, code AS subdistrict_code, ST_AsBinary(boundary) AS wkb FROM subdistricts "
            "WHERE boundary && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) ORDER BY code"), box).all()
    else:
        found = session.execute(text(
            "SELECT code, subdistrict_code, ST_AsBinary(geom) AS wkb FROM grids WHERE retired_at IS NULL "
            "AND level = :up AND geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) ORDER BY code"),
            {**box, "up": level - 1}).all()
    parents = [(r.code, r.subdistrict_code, shapely.from_wkb(r.wkb)) for r in found]
    tree = shapely.STRtree([geom for _, _, geom in parents])
    kind = ("街道", "sub-district") if level == 1 else (f"{level - 1} 级网格", f"level-{level - 1} grid")
    problems: list[dict] = []
    for f, shape in zip(features, converted, strict=True):
        label = f"features[{f['index']}]（{f['name']}）"
        label_en = f"features[{f['index']}] ({f['name']})"
        total = shapes.area_m2(shape)
        shares = sorted(((shapes.area_m2(shapes.intersection(shape, parents[j][2])) / total, parents[j])
                         for j in tree.query(shape, predicate="intersects").tolist()), key=lambda p: -p[0])
        held = [(share, p) for share, p in shares if share >= STRADDLES]
        listed = [{"code": p[0], "share": round(share, 3)} for share, p in shares if share > 0]
        zh = "、".join(f"{p['code']} {p['share']:.0%}" for p in listed)
        en = ", ".join(f"{p['code']} {p['share']:.0%}" for p in listed)
        where = f"features[{f['index']}].geometry"
        if len(held) > 1:
            problems.append({"where": where, "problem": "straddles_parents", "parents": listed, "message":
                             f"{label} 跨越多个{kind[0]}：{zh} / {label_en} straddles {len(held)} {kind[1]}s: {en}"})
            continue
        if not held or held[0][0] < HOLDS:
            zh_at, en_at = (f"（最多 {held[0][0]:.0%} 在 {held[0][1][0]} 内）", f" (at most {held[0][0]:.0%} inside "
                            f"{held[0][1][0]})") if held else ("", "")
            problems.append({"where": where, "problem": "in_no_parent", "parents": listed, "message":
                             f"{label} 不在任何{kind[0]}内{zh_at} / {label_en} lies in no {kind[1]}{en_at}"})
            continue
        code, subdistrict, _ = held[0][1]
        parent = code if level > 1 else None
        if f["code"] is not None and (f["parent"], f["subdistrict"]) != (parent, subdistrict):
            claimed = f["parent"] or f["subdistrict"]
            problems.append({"where": f"features[{f['index']}].code", "problem": "code_contradicts_parent",
                             "message": f"{label} 编码 {f['code']} 的上级为 {claimed}，但要素位于 {code} 内 / "
                                        f"{label_en}: code {f['code']} names the parent {claimed}, but the feature "
                                        f"lies in {code}"})
            continue
        f["parent"], f["subdistrict"] = parent, subdistrict
    _refuse(problems)


def _assign(edit: Edit, features: list[dict], families: list[tuple]) -> None:
    """Codes for the features without one: serials after every one their parent ever gave out and
    after the file's own, in reading order within the parent (north→south, west→east)."""
    for family in families:
        level, parent, subdistrict = family
        members = [f for f in features if (f["level"], f["parent"], f["subdistrict"]) == family]
        uncoded = [f for f in members if f["code"] is None]
        if not uncoded:
            continue
        after = max((int(f["code"][-3:]) for f in members if f["code"]), default=0)
        origin = shapes.union(*(f["geom"] for f in uncoded)).centroid
        metric = [shapes.to_metres(f["geom"], (origin.x, origin.y)) for f in uncoded]
        for i in reading_order(metric, ROW_DEPTH_M[level]):
            uncoded[i]["code"] = (parent or subdistrict) + f"{edit.next_serial(parent, subdistrict, after=after):03d}"
            uncoded[i]["assigned"] = True


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
    index = {f["code"]: f["index"] for f in features if f["code"]}
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


def _lock(edit: Edit, scope: list, expected_etag: str | None, reason_given: bool) -> tuple[dict, str]:
    """Lock the active grids in scope and check the caller's ETag against them: the ETag comes
    from the locked rows, so nothing can change between the check and the write. Families with
    no grids yet have nothing to overwrite: no ETag is needed, the default reason will do."""
    active = [r for r in scope if not r.retired]
    rows = {r.code: r for r in edit.lock([r.code for r in active], check=False)} if active else {}
    layer_etag = _etag(sorted(rows.values(), key=lambda r: r.code))
    if rows and not reason_given:
        raise InvalidInput("导入会修改已有网格，须说明原因（--reason）/ the import changes existing grids: say why "
                           "(--reason)", where="reason")
    if not edit.request.dry_run and (rows or expected_etag is not None):
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
        if parent not in in_file:
            stored_parents[parent or subdistrict] = edit.parent_shape(parent, subdistrict)
    for f, shape in zip(features, shapes.convert_layer([f["geom"] for f in features], given,
                                                       list(stored_parents.values())), strict=True):
        f["geom"] = shape
    return stored_parents


def _place_family(edit: Edit, family: tuple, features: list[dict], rows: dict, placed: dict,
                  stored_parents: dict, retire_children: bool) -> None:
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
            if retire_children:
                for child in edit.children(row.code):
                    if shapes.area_m2(shapes.difference(child.geom, shape)) > edit.tolerance:
                        edit.retire(child)
        if f["name"] != row.name:
            target = edit.target(row)
            target.name = f["name"]
            target.actions.append("renamed")
    in_file = {f["code"] for f in siblings}
    for row in rows.values():
        if (row.level, row.parent_code, row.subdistrict_code) == family and row.code not in in_file:
            children = edit.children(row.code)
            if children and retire_children:
                for child in children:
                    edit.retire(child)
            elif children and not any(f["parent"] == row.code for f in features):
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
