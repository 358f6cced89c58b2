"""RFC 7946 checks shared by the HTTP tests."""

from __future__ import annotations

from shapely.geometry import shape


def assert_rfc7946(collection: dict) -> None:
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        assert "crs" not in geometry
        assert_lonlat(geometry["coordinates"])
        geom = shape(geometry)
        assert geom.is_valid, feature.get("id")
        for polygon in getattr(geom, "geoms", [geom]):
            if polygon.geom_type != "Polygon":
                continue
            assert polygon.exterior.is_ccw, f"exterior ring of {feature.get('id')} is clockwise"
            assert all(not ring.is_ccw for ring in polygon.interiors), "holes must be clockwise"


def assert_lonlat(coordinates) -> None:
    if isinstance(coordinates[0], (int, float)):
        lon, lat = coordinates[:2]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        return
    for part in coordinates:
        assert_lonlat(part)
