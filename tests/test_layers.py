"""Declarative map layers: checked at start-up, served as GeoJSON, vector tiles and TileJSON."""

from __future__ import annotations

import math
import shutil

import httpx
import mapbox_vector_tile
import pytest
from sqlalchemy import text

from gisgrid.core.errors import SetupError
from gisgrid.core.settings import get_settings
from gisgrid.maps.layers import read_layer, read_layers
from gisgrid.maps.service import source_params

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
    "no title": ("kind: point\nsource: {table: shops}\n", "field title"),
    "bad colour": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\nstyle: {color: red}\n",
                   "field style.color"),
    "rule on a missing property": (
        "title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\nproperties: [name]\n"
        "style: {rules: [{when: {property: kind, equals: 零售}, color: '#ff0000'}]}\n", "style.rules[0]"),
    "unknown field": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\ncolour: blue\n", "field colour"),
    "table and query": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops, query: 'select 1'}\n",
                        "field source"),
    "popup with an unknown property": ("title: {zh: x, en: x}\nkind: point\nsource: {table: shops}\n"
                                       "properties: [name]\npopup: {zh: '{owner}', en: '{owner}'}\n", "{owner}"),
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
