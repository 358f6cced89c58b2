"""Chinese coordinate systems: known reference points and round trips."""

import numpy as np
import pytest
import shapely
from shapely import Point

from gisgrid.core import crs
from gisgrid.core.errors import InvalidInput

# Tiananmen flag pole: WGS84 and its published GCJ-02 form; BD-09 as Baidu's own map gives it
# (to three decimals: 116.404, 39.915 is Baidu's default centre of Beijing).
WGS = (116.391285, 39.907380)
GCJ = (116.397528, 39.908779)
BD = (116.404, 39.915)


def test_wgs84_to_gcj02_matches_the_reference_point():
    lon, lat = crs.wgs84_to_gcj02(*WGS)
    assert abs(lon - GCJ[0]) < 2e-5 and abs(lat - GCJ[1]) < 2e-5


def test_gcj02_to_bd09_matches_the_reference_point():
    lon, lat = crs.gcj02_to_bd09(*GCJ)
    assert abs(lon - BD[0]) < 5e-4 and abs(lat - BD[1]) < 5e-4


@pytest.mark.parametrize("name", ["GCJ-02", "BD-09", "EPSG:3857", "EPSG:4547"])
def test_round_trip_is_within_a_centimetre(name):
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(103.9, 104.2, 500), rng.uniform(30.5, 30.8, 500)
    back_lon, back_lat = crs.to_wgs84(*crs.from_wgs84(lon, lat, name), name)
    assert np.abs(back_lon - lon).max() < 1e-7 and np.abs(back_lat - lat).max() < 1e-7


def test_gcj02_leaves_points_outside_china_alone():
    lon, lat = crs.wgs84_to_gcj02(2.35, 48.85)
    assert (lon, lat) == (2.35, 48.85)


def test_cgcs2000_is_taken_as_wgs84():
    assert crs.canonical("epsg:4490") == crs.CGCS2000
    assert crs.geometry_to_wgs84(Point(104, 30), "CGCS2000").equals(Point(104, 30))


def test_geometry_conversion_moves_every_vertex():
    moved = crs.geometry_to_wgs84(Point(*GCJ), "gcj02")
    assert abs(moved.x - WGS[0]) < 2e-5 and abs(moved.y - WGS[1]) < 2e-5


@pytest.mark.parametrize("name", ["mars", "EPSG:999999", ""])
def test_unknown_crs_is_refused_with_its_name(name):
    with pytest.raises(InvalidInput, match="unknown CRS"):
        crs.canonical(name)


def test_a_swapped_bd09_corner_is_named_as_given_with_its_wgs84_beside():
    from gisgrid.core.coordinates import coordinate_problem

    swapped = shapely.box(39.90, 116.39, 39.91, 116.40)
    wgs = crs.geometry_to_wgs84(swapped, "BD-09")
    problem = coordinate_problem(*shapely.bounds(wgs), 39.90, 116.39, "BD-09")
    assert "apparently swapped" in problem and "BD-09 (39.900000, 116.390000) = WGS84 (" in problem
