"""Declarative map layers: checked at start-up, served as GeoJSON, vector tiles and TileJSON."""

from __future__ import annotations

import math
import shutil

import httpx
import mapbox_vector_tile
import pytest
from shapely.geometry import mapping
from sqlalchemy import text

from gisgrid.core.errors import SetupError
from gisgrid.core.settings import get_settings
from gisgrid.layers.definitions import read_layer, read_layers
from gisgrid.layers.service import source_params

LAYERS = get_settings().layers_dir


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def test_every_shipped_layer_loads():
    layers = read_layers(LAYERS)
    assert {"subdistrict", "grids_l1", "grids_l2", "grids_l3", "buildings", "units", "shops", "cases",
            "orphan_buildings"} <= set(layers)


@pytest.mark.parametrize("name", sorted(read_layers(LAYERS)))
def test_each_layer_pages_as_geojson_and_tiles(http, db, name):
    layer = read_layers(LAYERS)[name]
    first = http.get(f"/layers/{name}/items", params={"limit": 5})
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/geo+json")
    body = first.json()
    assert body["type"] == "FeatureCollection" and body["numberReturned"] == len(body["features"])
    for feature in body["features"]:
        assert list(feature["properties"]) == layer.properties
    tilejson = http.get(f"/layers/{name}/tilejson.json").json()
    assert tilejson["tilejson"] == "3.0.0" and tilejson["vector_layers"][0]["id"] == name
    if body["numberMatched"]:
        lon, lat = db.execute(text(f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface({layer.source.geometry}) p "
                                   f"FROM {layer.source.sql()} src LIMIT 1) x"), source_params()).one()
        z, x, y = tile_of(lon, lat, max(layer.zoom.min, 15))
        tile = http.get(f"/layers/{name}/tiles/{z}/{x}/{y}.mvt")
        assert tile.status_code == 200 and tile.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        decoded = mapbox_vector_tile.decode(tile.content)
        assert decoded[name]["features"], f"no feature of {name} in the tile over one of its features"
        assert set(decoded[name]["features"][0]["properties"]) <= set(layer.properties)


def test_geojson_pages_are_stable_and_complete(http, db):
    seen = []
    for offset in range(0, 200, 37):
        page = http.get("/layers/grids_l3/items", params={"limit": 37, "offset": offset}).json()
        seen += [f["id"] for f in page["features"]]
    total = db.execute(text("SELECT count(*) FROM grids WHERE level = 3 AND retired_at IS NULL")).scalar_one()
    assert len(seen) == len(set(seen)) == min(total, 222) and seen == sorted(seen)


def test_grid_layer_load_status_uses_the_band(http, demo):
    planted = demo.planted[0]
    grids = http.get("/layers/grids_l2/items", params={"limit": 5000}).json()["features"]
    status = {f["id"]: f["properties"]["load_status"] for f in grids}
    assert status[planted.overloaded_grid] == "over" and status[planted.underloaded_grid] == "under"


def test_bbox_limits_the_features(http, db):
    everything = http.get("/layers/buildings/items", params={"limit": 5000}).json()["numberMatched"]
    lon, lat = db.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM buildings ORDER BY id LIMIT 1")).one()
    box = f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}"
    inside = http.get("/layers/buildings/items", params={"bbox": box, "limit": 5000}).json()
    expected = db.execute(text("SELECT count(*) FROM buildings WHERE ST_Intersects(geom, "
                               "ST_MakeEnvelope(:a, :b, :c, :d, 4326))"),
                          {"a": lon - 0.002, "b": lat - 0.002, "c": lon + 0.002, "d": lat + 0.002}).scalar_one()
    assert 0 < inside["numberMatched"] == expected < everything


def test_tiles_outside_the_pyramid_or_the_zoom_range(http):
    assert http.get("/layers/grids_l2/tiles/3/9/1.mvt").status_code == 422
    outside_zoom = http.get("/layers/grids_l2/tiles/5/25/13.mvt")
    assert outside_zoom.status_code == 200 and outside_zoom.content == b""
    assert http.get("/layers/nope/tiles/14/1/1.mvt").status_code == 404


def test_no_layer_puts_a_person_on_the_map():
    """Key groups appear only as counts per grid or building, never as points on a home."""
    for layer in read_layers(LAYERS).values():
        sql = (layer.source.query or "").lower()
        assert "residents r" not in sql or "count(" in sql, layer.name
        assert not {"id_number", "phone", "person", "resident_name"} & set(layer.properties), layer.name


BROKEN = {
    "bad yaml": ("title: {zh: x\n", "not valid YAML"),
    "no title": ("kind: point\nsource: {table: shops}\nscope: {by: rows}\n", "field title"),
    "no scope": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\n", "field scope"),
    "query scope without the query applying it": (
        "title: {zh: x, en: x}\nkind: point\nsource: {query: 'SELECT id, geom FROM shops'}\nscope: {by: query}\n",
        ":scope_sd"),
    "bad colour": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\nscope: {by: rows}\nstyle: {color: red}\n",
                   "field style.color"),
    "rule on a missing property": (
        "title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\nscope: {by: rows}\nproperties: [name]\n"
        "style: {rules: [{when: {property: kind, equals: 零售}, color: '#ff0000'}]}\n", "style.rules[0]"),
    "unknown field": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\nscope: {by: rows}\ncolour: blue\n", "field colour"),
    "table and query": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops, query: 'select 1'}\n",
                        "field source"),
    "popup with an unknown property": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\n"
                                       "scope: {by: rows}\nproperties: [name]\npopup: {zh: '{owner}', en: '{owner}'}\n", "{owner}"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_layer_file_is_refused_naming_file_and_field(tmp_path, case):
    content, expected = BROKEN[case]
    path = tmp_path / "broken.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SetupError) as refused:
        read_layer(path)
    assert "broken.yaml" in refused.value.message and expected in refused.value.message


def test_a_broken_layer_file_stops_the_app_from_starting(tmp_path, engine):
    from gisgrid.web.app import create_app

    (tmp_path / "oops.yaml").write_text("title: {zh: x, en: x}\nkind: blob\nsource: {table: shops}\n")
    with pytest.raises(SetupError, match="oops.yaml.*kind"):
        create_app(engine, layers_dir=tmp_path)


def test_a_new_layer_is_a_new_file(tmp_path, engine, demo, db):
    from conftest import AUTH, serve

    folder = tmp_path / "layers"
    shutil.copytree(LAYERS, folder)
    (folder / "high_rise.yaml").write_text(
        "# 高层楼栋: buildings of ten floors or more\n"
        "title: {zh: 高层楼栋, en: High-rise buildings}\n"
        "kind: point\n"
        "source: {table: buildings, filter: 'floors >= 10'}\n"
        "scope: {by: rows}\n"
        "properties: [id, name, floors]\n"
        "style: {color: '#7a0177', radius: 6}\n"
        "popup: {zh: '{name} {floors} 层', en: '{name}, {floors} floors'}\n"
        "zoom: {min: 13, max: 22}\n", encoding="utf-8")
    expected = db.execute(text("SELECT count(*) FROM buildings WHERE floors >= 10")).scalar_one()
    with serve(engine, layers_dir=folder) as url, httpx.Client(base_url=url, headers=AUTH) as client:
        assert "high_rise" in [layer["name"] for layer in client.get("/layers").json()["layers"]]
        items = client.get("/layers/high_rise/items", params={"limit": 5000}).json()
        assert items["numberMatched"] == expected > 0
        assert all(f["properties"]["floors"] >= 10 for f in items["features"])


# The counts (and L2 grid code) the layers show, counted from the rows themselves, as the layers
# did per feature before building_loads and grid_loads (migration 0008) kept them.
COUNTED_BUILDINGS = """
SELECT b.id, (SELECT count(*) FROM households h WHERE h.building_id = b.id AND h.occupancy <> 'vacant')::int,
       (SELECT count(DISTINCT rk.resident_id) FROM households h JOIN residents r ON r.household_id = h.id
          JOIN resident_key_groups rk ON rk.resident_id = r.id WHERE h.building_id = b.id)::int,
       (SELECT g.code FROM grids g WHERE g.id = b.grid_l2_id)
FROM buildings b"""
COUNTED_GRIDS = """
SELECT g.code, count(h.id) FILTER (WHERE h.occupancy <> 'vacant')::int, coalesce(sum(h.member_count), 0)::int
FROM grids g
LEFT JOIN buildings b ON (g.level = 1 AND b.grid_l1_id = g.id) OR (g.level = 2 AND b.grid_l2_id = g.id)
                      OR (g.level = 3 AND b.grid_l3_id = g.id)
LEFT JOIN households h ON h.building_id = b.id
WHERE g.retired_at IS NULL GROUP BY g.code"""


def shown(db, name: str, columns: str) -> dict:
    """What a layer shows per feature: its id → ``columns``."""
    layer = read_layers(LAYERS)[name]
    rows = db.execute(text(f"SELECT src.{layer.source.id}, {columns} FROM {layer.source.sql()} src"),
                      source_params())
    return {row[0]: tuple(row[1:]) for row in rows}


def shown_counts(db) -> tuple[dict, dict]:
    """Buildings: id → (households, key-group people, L2 code); grids: code → (households, people)."""
    grids = {}
    for level in (1, 2, 3):
        grids.update(shown(db, f"grids_l{level}", "households, people"))
    return shown(db, "buildings", "households, key_group_people, grid_code"), grids


def assert_counts_exact(db) -> tuple[dict, dict]:
    buildings, grids = shown_counts(db)
    assert buildings == {row[0]: tuple(row[1:]) for row in db.execute(text(COUNTED_BUILDINGS))}
    assert grids == {row[0]: tuple(row[1:]) for row in db.execute(text(COUNTED_GRIDS))}
    return buildings, grids


def test_the_counts_shown_are_the_counts_of_the_rows(db, demo):
    buildings, grids = assert_counts_exact(db)
    assert sum(h for h, _, _ in buildings.values()) > 1000 and sum(k for _, k, _ in buildings.values()) > 100
    assert sum(code is None for _, _, code in buildings.values()) < len(buildings) / 10
    assert sum(p for _, p in grids.values()) > 1000


def test_counts_stay_exact_as_households_residents_and_key_groups_change(db, demo):
    here, there = db.execute(text(
        "SELECT b.id FROM buildings b WHERE b.grid_l2_id IS NOT NULL AND EXISTS "
        "(SELECT 1 FROM households h WHERE h.building_id = b.id) ORDER BY b.id LIMIT 2")).scalars().all()
    l2 = dict(db.execute(text("SELECT b.id, g.code FROM buildings b JOIN grids g ON g.id = b.grid_l2_id "
                              "WHERE b.id IN (:a, :b)"), {"a": here, "b": there}).all())
    start_buildings, start_grids = assert_counts_exact(db)

    def delta() -> tuple:
        buildings, grids = assert_counts_exact(db)
        return (tuple(b - a for a, b in zip(start_buildings[here][:2], buildings[here][:2], strict=True)),
                tuple(b - a for a, b in zip(start_buildings[there][:2], buildings[there][:2], strict=True)),
                tuple(b - a for a, b in zip(start_grids[l2[here]], grids[l2[here]], strict=True)))

    household = db.execute(text(
        "INSERT INTO households (building_id, entrance, floor, room, occupancy, member_count) "
        "VALUES (:b, 49, 1, 'T1', 'owner', 4) RETURNING id"), {"b": here}).scalar_one()
    assert delta()[0] == (1, 0) and delta()[2] == (1, 4)
    db.execute(text("UPDATE households SET occupancy = 'vacant' WHERE id = :h"), {"h": household})
    assert delta()[0] == (0, 0) and delta()[2] == (0, 4)
    resident = db.execute(text(
        "INSERT INTO residents (household_id, name, sex, birth_year, relation, residence_type, party_member) "
        "VALUES (:h, '测试', 'F', 1940, '户主', 'registered', false) RETURNING id"), {"h": household}).scalar_one()
    groups = db.execute(text("SELECT code FROM key_groups ORDER BY sort_order LIMIT 2")).scalars().all()
    db.execute(text("INSERT INTO resident_key_groups (resident_id, key_group) VALUES (:r, :g)"),
               {"r": resident, "g": groups[0]})
    assert delta()[0] == (0, 1)
    db.execute(text("INSERT INTO resident_key_groups (resident_id, key_group) VALUES (:r, :g)"),
               {"r": resident, "g": groups[1]})
    assert delta()[0] == (0, 1)  # people, not memberships
    db.execute(text("UPDATE households SET building_id = :b WHERE id = :h"), {"b": there, "h": household})
    assert delta()[:2] == ((0, 0), (0, 1))
    db.execute(text("UPDATE households SET occupancy = 'rented', member_count = 6 WHERE id = :h"), {"h": household})
    assert delta()[1] == (1, 1)
    db.execute(text("DELETE FROM resident_key_groups WHERE resident_id = :r AND key_group = :g"),
               {"r": resident, "g": groups[0]})
    assert delta()[1] == (1, 1)
    db.execute(text("DELETE FROM residents WHERE id = :r"), {"r": resident})  # its key group goes with it
    assert delta()[1] == (1, 0)
    db.execute(text("DELETE FROM households WHERE id = :h"), {"h": household})
    assert delta() == ((0, 0), (0, 0), (0, 0))


def test_counts_follow_a_boundary_transfer(db):
    from gisgrid.grids import membership, operations
    from gisgrid.grids.editing import EditRequest

    from builders import Territory, lonlat, metres_box

    sd = "110101902"
    t = Territory(db, sd, metres_box(0, 0, 400, 200))
    t.grid("001", metres_box(0, 0, 400, 200))
    t.grid("001001", metres_box(0, 0, 200, 200))
    t.grid("001002", metres_box(200, 0, 400, 200))
    t.grid("001001001", metres_box(0, 0, 200, 200))
    t.grid("001002001", metres_box(200, 0, 400, 200))
    moving = t.building(170, 50, households=10, people_each=3).id
    t.building(250, 50, households=20)
    membership.refresh(db, subdistrict=sd)
    west, east = sd + "001001", sd + "001002"
    _, grids = assert_counts_exact(db)
    assert (grids[west], grids[east], grids[west + "001"], grids[sd + "001"]) == ((10, 30), (20, 40), (10, 30), (30, 70))
    operations.transfer(db, EditRequest(actor="t", reason="划转", versions={west: 1, east: 1}), west, to=east,
                        area=mapping(lonlat(metres_box(150, -10, 210, 100))))
    buildings, grids = assert_counts_exact(db)
    assert (grids[west], grids[east], grids[west + "001"], grids[east + "001"]) == ((0, 0), (30, 70), (0, 0), (30, 70))
    assert grids[sd + "001"] == (30, 70)
    assert buildings[moving][2] == east


def test_a_renumbered_grid_shows_its_new_code_on_its_buildings(db):
    from gisgrid.grids import membership

    from builders import Territory, metres_box

    sd = "110101903"
    t = Territory(db, sd, metres_box(0, 0, 200, 200))
    t.grid("001", metres_box(0, 0, 200, 200))
    grid = t.grid("001001", metres_box(0, 0, 200, 200))
    building = t.building(50, 50, households=3).id
    membership.refresh(db, subdistrict=sd)
    assert assert_counts_exact(db)[0][building] == (3, 0, sd + "001001")
    db.execute(text("UPDATE grids SET code = :c, serial = 7, version = version + 1 WHERE id = :id"),
               {"c": sd + "001007", "id": grid.id})
    assert assert_counts_exact(db)[0][building] == (3, 0, sd + "001007")
