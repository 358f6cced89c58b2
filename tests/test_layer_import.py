"""Whole-layer imports on hand-built shapes: what fit may change, layers drawn in GCJ-02, and
refusals that name the place in the user's own coordinates."""

from __future__ import annotations

import itertools
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import Polygon
from sqlalchemy import text

from gisgrid.core import crs
from gisgrid.core.errors import InvalidInput
from gisgrid.coverage.service import AREA_DEFECTS, SLIVERS, Scope, analyse
from gisgrid.grids import shapes
from gisgrid.grids.editing import EditRequest
from gisgrid.grids.layer_import import import_layer
from gisgrid.imports.service import ImportOptions, import_file

from builders import LAT0, LAT_STEP, LON0, LON_STEP, Territory, lonlat, metres_box

SD = "110101950"


def req(**kw) -> EditRequest:
    return EditRequest(actor="技术员", reason="导入图层", **kw)


def write_layer(tmp_path, codes: list[str], geometries) -> str:
    path = tmp_path / "layer.geojson"
    gpd.GeoDataFrame({"code": codes, "name": [f"网格{c[-3:]}" for c in codes]}, geometry=list(geometries),
                     crs="EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def thin_m2(geom) -> float:
    """Area an opening by 0.5 m takes away: the parts of a shape (tails, hairs) narrower than 1 m."""
    centre = geom.centroid
    metric = shapes.to_metres(geom, (centre.x, centre.y))
    opened = metric.buffer(-0.5, join_style="mitre").buffer(0.5, join_style="mitre")
    return metric.difference(opened).area


def area(geom) -> float:
    return shapes.area_m2(geom)


# A, B, D in file order, in a 400 × 200 m zone. A–B: a 0.6 m slit between them, A with a vertex
# 0.5 m off B's corner; B–D touch exactly; D overlaps A by 0.3 m.
SLIT_BESIDE_AN_OVERLAP = ([Polygon([(0, 0), (200, 0), (200, 100.5), (200, 200), (0, 200)]),
                           metres_box(200.6, 0, 400, 100), metres_box(199.7, 100, 400, 200)],
                          metres_box(200, 0, 200.6, 100))
# A, C, B: a 0.6 m slit between A and C whose end B closes.
SLIT_ENDING_AT_A_THIRD = ([metres_box(0, 0, 200, 200), metres_box(200.6, 100, 400, 200),
                           metres_box(200, 0, 400, 100)],
                          metres_box(200, 100, 200.6, 200))


@pytest.mark.parametrize(("drawn", "slit"), [SLIT_BESIDE_AN_OVERLAP, SLIT_ENDING_AT_A_THIRD],
                         ids=["slit-beside-an-overlap", "slit-ending-at-a-third-grid"])
def test_fit_moves_area_only_where_the_input_overlapped(db, tmp_path, drawn, slit):
    territory = Territory(db, SD, metres_box(0, 0, 400, 200))
    territory.grid("001", metres_box(0, 0, 400, 200))
    codes = [f"{SD}001{i + 1:03d}" for i in range(len(drawn))]
    inputs = [lonlat(g) for g in drawn]
    slit = lonlat(slit)
    report = import_layer(db, req(dry_run=True, mode="fit"), write_layer(tmp_path, codes, inputs))
    result = {g["code"]: shapely.geometry.shape(g["geometry"]) for g in report["grids"]}
    for i, (code, given) in enumerate(zip(codes, inputs, strict=True)):
        got = result[code]
        assert len(shapely.get_parts(got)) == 1, f"{code} split in parts"
        assert thin_m2(got) < 0.01, f"{code} grew a tail"
        # it grows only into the slit, and loses only what it overlapped a feature given before it
        assert area(shapes.difference(shapes.difference(got, given), slit)) < 0.01
        given_first = shapes.union(*inputs[:i])
        assert area(shapes.difference(given, got)) == pytest.approx(area(shapes.intersection(given, given_first)),
                                                                    abs=0.01)
        for other, other_given in zip(codes, inputs, strict=True):
            if other != code:
                assert area(shapes.intersection(got, other_given)) <= \
                    area(shapes.intersection(given, other_given)) + 0.01, f"{code} took area from {other}"


# --- a layer in GCJ-02 (or another CRS whose conversion bends straight edges) -------------------

def drawn_in(name: str):
    """Metres → ``name``: the local frame of builders placed where its WGS84 origin shows in that
    CRS, so shapes drawn there are an exact partition in it, straight edges and all, as AMap's
    (or a CAD tool's) own drawing makes them."""
    if name.startswith("EPSG:"):
        x0, y0 = (round(float(v)) for v in crs.from_wgs84(LON0, LAT0, name))
        return lambda geom_m: shapely.transform(geom_m, lambda xy: xy + [x0, y0])
    lon0, lat0 = (float(v) for v in np.round(crs.from_wgs84(LON0, LAT0, name), 7))
    return lambda geom_m: shapely.transform(geom_m, lambda xy: np.round(np.column_stack(
        [lon0 + xy[:, 0] * LON_STEP, lat0 + xy[:, 1] * LAT_STEP]), 7))


def converted_to(name: str):
    """Metres → WGS84 → ``name`` vertex by vertex, as coordinate tools export a WGS84 layer: an
    exact partition in WGS84 whose vertices on a parent's edge are off that edge in ``name``."""
    return lambda geom_m: crs.geometry_from_wgs84(lonlat(geom_m), name)


# An L2 grid of 2 × 1.5 km and four L3 grids tiling it: 001 and 002 carry vertices along the
# parent's edges that the parent does not have, and 002's corner sits on 001's long edge.
L2_M = metres_box(0, 0, 2000, 1500)
L3_M = {"001": Polygon([(0, 0), (400, 0), (800, 0), (800, 1500), (400, 1500), (0, 1500)]),
        "002": Polygon([(800, 0), (1400, 0), (2000, 0), (2000, 350), (2000, 700), (800, 700)]),
        "003": metres_box(800, 700, 1400, 1500),
        "004": metres_box(1400, 700, 2000, 1500)}
L2_CODE = SD + "001001"


@pytest.fixture
def zone(db):
    """A sub-district and its L1 zone in WGS84, a good way round the layer."""
    territory = Territory(db, SD, metres_box(-500, -500, 2500, 2000))
    territory.grid("001", metres_box(-500, -500, 2500, 2000))
    return territory


def layer_file(tmp_path, name: str, codes: list[str], geometries) -> tuple[str, str | None]:
    """A GeoJSON of lon/lat in ``name`` (which no file can declare), or a GeoPackage declaring a
    projected ``name``: the file and the crs to give the import."""
    if name.startswith("EPSG:"):
        path = tmp_path / f"layer{len(codes)}.gpkg"
        gpd.GeoDataFrame({"code": codes, "name": codes}, geometry=list(geometries), crs=name).to_file(path)
        return path, None
    return write_layer(tmp_path, codes, geometries), name


def import_for_real(db, path, name: str) -> dict:
    """A dry run (rolled back, as the caller of a dry run does) for the ETag, then the import."""
    dry_run = db.begin_nested()
    etag = import_layer(db, req(dry_run=True), path, crs=name)["etag"]
    dry_run.rollback()
    return import_layer(db, req(), path, crs=name, expected_etag=etag)


def assert_a_partition(children: dict, parent) -> None:
    """Children tile the parent, within a few cm², measured as coverage measures: overlays on
    the 1e-7° storage grid. (Summing areas would not do: ``area_m2`` takes edges as geodesics,
    so a parent's edge and its children's, split at a vertex, enclose different areas.)"""
    for code, child in children.items():
        assert area(shapes.difference(child, parent)) < 0.0005, f"{code} spills out of its parent"
        assert len(shapely.get_parts(child)) == 1
    for a, b in itertools.combinations(sorted(children), 2):
        assert area(shapes.intersection(children[a], children[b])) < 0.0005, f"{a} overlaps {b}"
    assert area(shapes.difference(parent, shapes.union(*children.values()))) < 0.0005, "a gap in the parent"


@pytest.mark.parametrize(("name", "place"), [
    ("GCJ-02", drawn_in("GCJ-02")), ("BD-09", drawn_in("BD-09")), ("EPSG:4547", drawn_in("EPSG:4547")),
    ("GCJ-02", converted_to("GCJ-02"))], ids=["drawn-in-GCJ-02", "drawn-in-BD-09", "drawn-in-EPSG:4547",
                                              "converted-to-GCJ-02-vertex-by-vertex"])
def test_a_layer_partitioned_in_gcj02_stays_a_partition_in_strict_mode(db, zone, tmp_path, name, place):
    codes = [L2_CODE] + [L2_CODE + k for k in L3_M]
    drawn = [place(L2_M)] + [place(g) for g in L3_M.values()]
    path, given = layer_file(tmp_path, name, codes, drawn)
    report = import_layer(db, req(dry_run=True), path, crs=given)
    result = {g["code"]: shapely.geometry.shape(g["geometry"]) for g in report["grids"]}
    parent = result.pop(L2_CODE)
    assert_a_partition(result, parent)
    assert not [a for a in report["adjustments"] if a["what"].startswith("clipped")]
    # the parent's corners are where the conversion puts them (on the storage grid)
    corners = shapely.points(shapely.get_coordinates(shapes.on_grid(crs.geometry_to_wgs84(drawn[0], name))))
    assert shapely.distance(corners, shapely.multipoints(shapely.get_coordinates(parent))).max() < 1e-12


def test_a_gcj02_child_layer_fits_the_parent_stored_from_gcj02(db, zone, tmp_path):
    place = drawn_in("GCJ-02")
    import_for_real(db, write_layer(tmp_path, [L2_CODE], [place(L2_M)]), "GCJ-02")
    children_file = write_layer(tmp_path, [L2_CODE + k for k in L3_M], [place(g) for g in L3_M.values()])
    report = import_for_real(db, children_file, "GCJ-02")
    stored = shapely.from_wkb(db.execute(text("SELECT ST_AsBinary(geom) FROM grids WHERE code = :c"),
                                         {"c": L2_CODE}).scalar_one())
    assert_a_partition({g["code"]: shapely.geometry.shape(g["geometry"]) for g in report["grids"]}, stored)
    counts = analyse(db, Scope(subdistrict=SD, level=3)).counts()
    assert all(counts[kind] == 0 for kind in (*AREA_DEFECTS, *SLIVERS.values())), counts


# --- refusals name the place in the user's coordinates ------------------------------------------

# A bow-tie drawn in GCJ-02: its edges cross at (150, 150) of the frame.
BOW_TIE_M = Polygon([(100, 100), (200, 200), (200, 100), (100, 200), (100, 100)])


def named_places(message: str) -> dict[str, tuple[float, float]]:
    """The points a message names, by CRS: ``GCJ-02 (lon, lat) = WGS84 (lon, lat)``."""
    return {name: (float(x), float(y))
            for name, x, y in re.findall(r"(GCJ-02|WGS84) \((-?[0-9.]+), (-?[0-9.]+)\)", message.split(" / ")[-1])}


def assert_names_the_crossing(message: str) -> None:
    crossing = shapely.get_coordinates(drawn_in("GCJ-02")(shapely.Point(150, 150)))[0]
    places = named_places(message)
    assert np.abs(np.subtract(places["GCJ-02"], crossing)).max() < 1e-6, message
    assert np.abs(np.subtract(places["WGS84"], crs.gcj02_to_wgs84(*crossing))).max() < 1e-6, message


def test_a_refused_layer_feature_names_its_problem_point_in_gcj02_and_wgs84(db, zone, tmp_path):
    path = write_layer(tmp_path, [L2_CODE], [drawn_in("GCJ-02")(BOW_TIE_M)])
    with pytest.raises(InvalidInput) as refused:
        import_layer(db, req(dry_run=True), path, crs="GCJ-02")
    assert "Self-intersection" in refused.value.message and refused.value.where == "features[0].geometry"
    assert_names_the_crossing(refused.value.message)
    assert_names_the_crossing(refused.value.detail["problems"][0]["message"])


def test_a_refused_row_names_its_problem_point_in_gcj02_and_wgs84(db, zone, tmp_path):
    path = tmp_path / "buildings.geojson"
    gpd.GeoDataFrame([{"地址": "测试路1号", "层数": 3}], geometry=[drawn_in("GCJ-02")(BOW_TIE_M)],
                     crs="EPSG:4326").to_file(path, driver="GeoJSON", engine="pyogrio")
    report = import_file(db, "buildings", path, ImportOptions(crs="GCJ-02"))
    (refusal,) = report.refused
    assert refusal.row == 1 and "Self-intersection" in refusal.reason
    assert_names_the_crossing(refusal.reason)


def test_a_row_outside_the_subdistrict_is_named_where_the_gcj02_map_shows_it(db, zone, tmp_path):
    path = tmp_path / "shops.csv"
    outside = shapely.get_coordinates(drawn_in("GCJ-02")(shapely.Point(5000, 5000)))[0]
    path.write_text(f"名称,地址,经度,纬度\n远处商铺,测试路9号,{outside[0]:.7f},{outside[1]:.7f}\n", encoding="utf-8")
    report = import_file(db, "shops", path, ImportOptions(crs="GCJ-02"))
    (refusal,) = report.refused
    assert refusal.code == "outside_subdistrict"
    places = named_places(refusal.reason)
    assert np.abs(np.subtract(places["GCJ-02"], outside)).max() < 1e-6, refusal.reason
    assert np.abs(np.subtract(places["WGS84"], crs.gcj02_to_wgs84(*outside))).max() < 1e-6, refusal.reason
