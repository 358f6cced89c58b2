"""Whole-layer imports on hand-built shapes: what fit may change, layers drawn in GCJ-02, and
refusals that name the place in the user's own coordinates."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely import Polygon

from gisgrid.grids import shapes
from gisgrid.grids.editing import EditRequest
from gisgrid.grids.layer_import import import_layer

from builders import Territory, lonlat, metres_box

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
