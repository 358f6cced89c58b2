"""Grid layers from files with or without codes: parents by containment, codes by the scheme
(north→south, west→east within the parent), through the service, the real command and HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.affinity import translate
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import Conflict, InvalidInput, PreconditionRequired
from gisgrid.grids import shapes
from gisgrid.grids.editing import EditRequest
from gisgrid.grids.layer_import import default_reason, import_layer

from builders import Territory, lonlat, metres_box

SD = "110105960"
GISGRID = str(Path(sys.executable).parent / "gisgrid")

# The sub-district, 1500 × 1600 m, cut into six community zones of 500 × 800 m: two rows far
# enough apart (800 m) to be two rows of the L1 scheme (600 m deep). Listed in file order.
ZONES = {"东南社区": (1000, 0, 1500, 800), "西北社区": (0, 800, 500, 1600), "正南社区": (500, 0, 1000, 800),
         "东北社区": (1000, 800, 1500, 1600), "西南社区": (0, 0, 500, 800), "正北社区": (500, 800, 1000, 1600)}
ZONE_SERIALS = {"西北社区": "001", "正北社区": "002", "东北社区": "003", "西南社区": "004", "正南社区": "005",
                "东南社区": "006"}
# Grids of the north-west zone (x 0–500, y 800–1600) and two of the north one (x 500–1000), in file order.
GRIDS = {"西北社区东南网格": (250, 800, 500, 1200), "正北社区东网格": (750, 800, 1000, 1600),
         "西北社区西北网格": (0, 1200, 250, 1600), "西北社区西南网格": (0, 800, 250, 1200),
         "正北社区西网格": (500, 800, 750, 1600), "西北社区东北网格": (250, 1200, 500, 1600)}
GRID_CODES = {"西北社区西北网格": "001001", "西北社区东北网格": "001002", "西北社区西南网格": "001003",
              "西北社区东南网格": "001004", "正北社区西网格": "002001", "正北社区东网格": "002002"}


def req(**kw) -> EditRequest:
    return EditRequest(actor="规划办", reason=kw.pop("reason", "导入图层"), **kw)


def write(path: Path, rows: dict[str, tuple], *, name_column: str = "名称", codes: dict[str, str] | None = None,
          crs: str = "EPSG:4326", encoding: str | None = None, dx: float = 0, dy: float = 0) -> Path:
    """A layer file of boxes (local metres) by name; a Shapefile loses its .cpg, as offices' do."""
    columns = {name_column: list(rows)}
    if codes is not None:
        columns["code"] = [codes.get(n) for n in rows]
    frame = gpd.GeoDataFrame(columns, geometry=[lonlat(translate(metres_box(*b), dx, dy)) for b in rows.values()],
                             crs=crs)
    frame.to_file(path, engine="pyogrio", **({"encoding": encoding} if encoding else {}))
    path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def grids_of(db, subdistrict: str = SD) -> dict[str, tuple[str, int, bool]]:
    return {r.code: (r.name, r.level, r.retired) for r in db.execute(text(
        "SELECT code, name, level, retired_at IS NOT NULL AS retired FROM grids WHERE subdistrict_code = :sd"),
        {"sd": subdistrict})}


def refused(db, call, match: str) -> InvalidInput:
    before = grids_of(db)
    with pytest.raises(InvalidInput, match=match) as caught:
        call()
    assert grids_of(db) == before, "a refused import stored something"
    return caught.value


def dry_run(db, call):
    """A dry run as the command and the route make it: the same work, rolled back."""
    savepoint = db.begin_nested()
    try:
        return call()
    finally:
        savepoint.rollback()


@pytest.fixture
def territory(db):
    return Territory(db, SD, metres_box(0, 0, 1500, 1600))


@pytest.fixture
def zones(db, territory, tmp_path):
    """The six zones imported from a file without codes (the first import: no ETag, no reason)."""
    path = write(tmp_path / "zones.geojson", ZONES)
    return import_layer(db, req(reason=default_reason(path)), path, level=1, assign_codes=True, reason_given=False)


def test_an_l1_layer_without_codes_is_numbered_north_to_south_then_west_to_east(db, zones):
    assert {name: code for code, (name, _, _) in grids_of(db).items()} == {
        name: SD + serial for name, serial in ZONE_SERIALS.items()}
    assert [(g["feature"], g["code"], g["name"], g["parent"], g["assigned"]) for g in zones["new_grids"]] == sorted(
        ((list(ZONES).index(name), SD + serial, name, SD, True) for name, serial in ZONE_SERIALS.items()),
        key=lambda g: g[1])
    assert zones["summary"]["created"] == 6 and not zones["dry_run"]
    history = db.execute(text("SELECT DISTINCT operation, reason, changed_by FROM grid_versions "
                              "WHERE left(code, 9) = :sd"), {"sd": SD}).all()
    assert [tuple(h) for h in history] == [("import", "导入 zones.geojson", "规划办")]
    audit = db.execute(text("SELECT actor, object_id, detail FROM audit_log WHERE action = 'grid.import' "
                            "AND detail->'new_grids' ? :code"), {"code": SD + "001"}).one()
    assert audit.actor == "规划办" and audit.object_id == "zones.geojson" and audit.detail["created"] == 6


def test_an_l2_shapefile_in_cgcs2000_with_gbk_names_finds_each_parent_by_containment(db, zones, tmp_path):
    path = write(tmp_path / "grids.shp", GRIDS, crs="EPSG:4490", encoding="GBK")
    assert not path.with_suffix(".cpg").exists()
    report = import_layer(db, req(reason=default_reason(path)), path, level=2, assign_codes=True, reason_given=False)
    stored = {name: (code, level) for code, (name, level, _) in grids_of(db).items()}
    assert {name: stored[name] for name in GRIDS} == {name: (SD + code, 2) for name, code in GRID_CODES.items()}
    assert {g["name"]: g["parent"] for g in report["new_grids"]} == {
        name: SD + code[:3] for name, code in GRID_CODES.items()}
    assert report["summary"]["created"] == 6 and report["summary"]["retired"] == 0


def test_codes_in_the_file_are_kept_and_the_others_continue_after_them(db, zones, tmp_path):
    codes = {"西北社区西南网格": SD + "001007"}
    path = write(tmp_path / "grids.geojson", GRIDS, codes=codes)
    report = import_layer(db, req(), path, level=2, assign_codes=True)
    got = {g["name"]: (g["code"], g["assigned"]) for g in report["new_grids"]}
    assert got["西北社区西南网格"] == (SD + "001007", False)
    # the other three of zone 001 in reading order after 007; zone 002 from 001
    assert [got[n] for n in ("西北社区西北网格", "西北社区东北网格", "西北社区东南网格", "正北社区西网格")] == [
        (SD + "001008", True), (SD + "001009", True), (SD + "001010", True), (SD + "002001", True)]


def test_a_name_column_named_by_map(db, zones, tmp_path):
    path = write(tmp_path / "grids.geojson", GRIDS, name_column="网格名")
    refused(db, lambda: import_layer(db, req(), path, level=2, assign_codes=True), "no 'name' field")
    refused(db, lambda: import_layer(db, req(), path, level=2, assign_codes=True, columns={"name": "网名"}),
            "no column '网名'")
    import_layer(db, req(), path, level=2, assign_codes=True, columns={"name": "网格名"})
    assert {name for name, level, _ in grids_of(db).values() if level == 2} == set(GRIDS)


@pytest.mark.parametrize(("rows", "kw", "match"), [
    ({"跨界网格": (400, 800, 600, 1600)}, {}, r"features\[0\] \(跨界网格\) straddles 2 level-1 grids: "
                                           rf"{SD}001 50%, {SD}002 50%"),
    ({"界外网格": (2000, 0, 2200, 200)}, {}, r"features\[0\] \(界外网格\) lies in no level-1 grid"),
    ({"半出网格": (1400, 0, 1700, 200)}, {}, rf"lies in no level-1 grid \(at most 33% inside {SD}006\)"),
    ({"网格": (0, 800, 250, 1200), "": (250, 800, 500, 1200)}, {}, r"features\[1\].name"),
    (GRIDS, {"assign_codes": False}, r"6 feature\(s\) have no code .*add --assign-codes"),
    ({"西北网格": (0, 800, 250, 1200)}, {"codes": {"西北网格": SD + "002005"}},
     rf"code {SD}002005 names the parent {SD}002, but the feature lies in {SD}001"),
    ({"西北网格": (0, 800, 250, 1200)}, {"codes": {"西北网格": SD + "001"}}, "is a level-1 code, the file is level 2"),
], ids=["straddles-two-parents", "outside-every-parent", "mostly-outside", "no-name", "no-codes-no-assign",
        "code-contradicts-containment", "code-of-another-level"])
def test_a_feature_refused_by_containment_or_its_code(db, zones, tmp_path, rows, kw, match):
    assign = kw.pop("assign_codes", True)
    path = write(tmp_path / "grids.geojson", rows, codes=kw.get("codes"))
    refused(db, lambda: import_layer(db, req(), path, level=2, assign_codes=assign), match)


def test_an_l1_zone_outside_the_subdistrict_is_refused(db, territory, tmp_path):
    path = write(tmp_path / "zones.geojson", {"远方社区": (0, 0, 500, 800)}, dx=5000)
    refused(db, lambda: import_layer(db, req(), path, level=1, assign_codes=True),
            r"features\[0\] \(远方社区\) lies in no sub-district")


OVERLAPPING = {"西网格": (0, 800, 260, 1600), "东网格": (250, 800, 500, 1600)}  # a 10 m overlap


def test_overlapping_siblings_are_refused_in_strict_mode_and_fitted_in_fit_mode(db, zones, tmp_path):
    path = write(tmp_path / "grids.geojson", OVERLAPPING)
    error = refused(db, lambda: import_layer(db, req(), path, level=2, assign_codes=True), "overlaps grid")
    assert [p["problem"] for p in error.detail["problems"]] == ["overlap"]
    report = import_layer(db, req(mode="fit"), path, level=2, assign_codes=True)
    assert [(a["what"], a["with"]) for a in report["adjustments"]] == [("clipped_to_sibling", SD + "001001")]
    west, east = (shapely.geometry.shape(g["geometry"]) for g in report["grids"])
    assert shapes.area_m2(shapes.intersection(west, east)) == 0
    assert {g["name"]: g["code"] for g in report["new_grids"]} == {"西网格": SD + "001001", "东网格": SD + "001002"}


def test_a_hand_drawn_file_with_slivers_between_neighbours_is_closed_in_fit_mode(db, zones, tmp_path):
    drawn = {"西网格": (0, 800, 249.6, 1600), "东网格": (250, 800, 500, 1600.4)}  # a 0.4 m slit; 0.4 m over the top
    path = write(tmp_path / "grids.geojson", drawn)
    report = import_layer(db, req(mode="fit"), path, level=2, assign_codes=True)
    assert {a["what"] for a in report["adjustments"]} == {"filled_slivers", "clipped_to_parent"}
    zone = shapely.from_wkb(db.execute(text("SELECT ST_AsBinary(geom) FROM grids WHERE code = :c"),
                                       {"c": SD + "001"}).scalar_one())
    layer = shapes.union(*(shapely.geometry.shape(g["geometry"]) for g in report["grids"]))
    assert shapes.area_m2(shapes.difference(zone, layer)) < 0.01
    assert shapes.area_m2(shapes.difference(layer, zone)) < 0.01


def test_reimporting_a_family_that_has_grids_needs_the_reason_and_the_etag(db, zones, tmp_path):
    first = write(tmp_path / "grids.geojson", GRIDS)
    import_layer(db, req(), first, level=2, assign_codes=True)
    redrawn = write(tmp_path / "redrawn.geojson", {"西北社区北网格": (0, 1200, 500, 1600),
                                                   "西北社区南网格": (0, 800, 500, 1200)})
    refused(db, lambda: import_layer(db, req(reason=default_reason(redrawn)), redrawn, level=2, assign_codes=True,
                                     reason_given=False), "say why")
    preview = dry_run(db, lambda: import_layer(db, req(dry_run=True), redrawn, level=2, assign_codes=True))
    with pytest.raises(PreconditionRequired, match="etag"):
        import_layer(db, req(), redrawn, level=2, assign_codes=True)
    with pytest.raises(Conflict, match="changed since the dry run"):
        import_layer(db, req(), redrawn, level=2, assign_codes=True, expected_etag='"layer-0"')
    saved = import_layer(db, req(), redrawn, level=2, assign_codes=True, expected_etag=preview["etag"])
    # the same codes as the preview, after the highest serial zone 001 ever gave (004): retired codes stay theirs
    assert [g["code"] for g in saved["new_grids"]] == [g["code"] for g in preview["new_grids"]] == [
        SD + "001005", SD + "001006"]
    stored = grids_of(db)
    assert all(stored[SD + c][2] for c in ("001001", "001002", "001003", "001004"))
    assert saved["summary"]["retired"] == 4 and stored[SD + "002001"][2] is False


# --- the real command and HTTP, committed ------------------------------------------------------

def gisgrid(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GISGRID_DATABASE_URL": url}
    return subprocess.run([GISGRID, "grid", "import", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def blank_url(database_url):
    from conftest import drop_database, fresh_database

    url = fresh_database(database_url, "gisgrid_grid_codes")
    yield url
    drop_database(database_url, "gisgrid_grid_codes")


def test_a_blank_installation_gets_its_grids_through_the_command(blank_url, tmp_path):
    from gisgrid.core.database import engine_for

    engine = engine_for(blank_url)
    with Session(engine) as db:
        Territory(db, SD, metres_box(0, 0, 1500, 1600))
        db.commit()
    zones = write(tmp_path / "zones.geojson", ZONES)
    first = gisgrid(blank_url, str(zones), "--level", "1", "--assign-codes")
    assert first.returncode == 0, first.stderr
    assert f"features[1] → {SD}001 (assigned)  西北社区  ⊂ {SD}" in first.stdout
    grids = write(tmp_path / "grids.shp", GRIDS, name_column="网格名", crs="EPSG:4490", encoding="GBK")
    no_codes = gisgrid(blank_url, str(grids), "--level", "2", "--map", "name=网格名")
    assert no_codes.returncode == 2 and "--assign-codes" in no_codes.stderr
    second = gisgrid(blank_url, str(grids), "--level", "2", "--assign-codes", "--map", "name=网格名")
    assert second.returncode == 0, second.stderr
    assert f"→ {SD}001001 (assigned)  西北社区西北网格  ⊂ {SD}001" in second.stdout
    again = [str(grids), "--level", "2", "--assign-codes", "--map", "name=网格名", "--mode", "fit"]
    assert "--reason" in gisgrid(blank_url, *again).stderr
    assert "etag" in gisgrid(blank_url, *again, "--reason", "重新导入").stderr
    dry = gisgrid(blank_url, *again, "--reason", "重新导入", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    etag = json.loads(dry.stdout)["etag"]
    real = gisgrid(blank_url, *again, "--reason", "重新导入", "--expect", etag)
    assert real.returncode == 0, real.stderr
    with engine.connect() as conn:
        codes = dict(conn.execute(text("SELECT name, code FROM grids WHERE level = 2 AND retired_at IS NULL")).all())
        history = conn.execute(text("SELECT reason, count(*) FROM grid_versions WHERE level = 2 GROUP BY reason "
                                    "ORDER BY reason")).all()
        audits = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'grid.import'")).scalar_one()
    engine.dispose()
    # zone 001's grids were 001…004: the re-import numbers after them, codes never reused
    assert codes == {name: SD + code[:3] + f"{int(code[3:]) + (4 if code.startswith('001') else 2):03d}"
                     for name, code in GRID_CODES.items()}
    assert [tuple(h) for h in history] == [("导入 grids.shp", 6), ("重新导入", 12)]
    assert audits == 3


def test_the_http_twin_takes_the_level_the_codes_and_the_map(scratch_http, scratch_engine, tmp_path):
    sd, dy = "110108961", -30_000  # a sub-district of its own, far from the other tests' towns
    with Session(scratch_engine) as db:
        Territory(db, sd, translate(metres_box(0, 0, 1500, 1600), 0, dy))
        db.commit()
    zones = write(tmp_path / "zones.geojson", ZONES, dy=dy)

    def send(path: Path, data: dict, dry_run: bool = False, if_match: str | None = None):
        return scratch_http.post("/grids/import", params={"dry_run": dry_run},
                                 headers={"If-Match": if_match} if if_match else {}, data=data,
                                 files={"file": (path.name, path.read_bytes(), "application/octet-stream")})

    refusal = send(zones, {"level": "1"})
    assert refusal.status_code == 422 and "--assign-codes" in refusal.json()["message"]
    first = send(zones, {"level": "1", "assign_codes": "true"})
    assert first.status_code == 200, first.text
    assert {g["name"]: g["code"] for g in first.json()["new_grids"]} == {
        name: sd + serial for name, serial in ZONE_SERIALS.items()}
    write(tmp_path / "grids.shp", GRIDS, name_column="网格名", crs="EPSG:4490", encoding="GBK", dy=dy)
    archive = tmp_path / "grids.zip"  # the Shapefile as a browser uploads it, still without .cpg
    with zipfile.ZipFile(archive, "w") as z:
        for part in tmp_path.glob("grids.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    form = {"level": "2", "assign_codes": "true", "map": "name=网格名"}
    second = send(archive, form)
    assert second.status_code == 200, second.text
    assert {g["name"]: (g["code"], g["parent"]) for g in second.json()["new_grids"]} == {
        name: (sd + code, sd + code[:3]) for name, code in GRID_CODES.items()}
    assert send(archive, {**form, "reason": "重新导入"}).status_code == 428
    preview = send(archive, {**form, "reason": "重新导入"}, dry_run=True)
    assert preview.status_code == 200 and preview.headers["ETag"] == preview.json()["etag"]
    with scratch_engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM grids WHERE subdistrict_code = :sd"), {"sd": sd}).scalar_one()
    assert count == 12
