"""Reading buildings with their household figures."""

from __future__ import annotations

from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.core.geojson import BBox, Page, feature_collection, geometry_json


def list_buildings(session: Session, *, bbox: BBox | None, page: Page) -> Response:
    where, params = "true", {}
    if bbox is not None:
        where, params = BBox.sql("b.geom"), bbox.params()
    features = f"""
        SELECT json_build_object(
            'type', 'Feature',
            'id', b.id,
            'geometry', {geometry_json('b.geom')},
            'properties', json_build_object(
                'id', b.id, 'name', b.name, 'compound', b.compound, 'address', b.address,
                'use', b.use, 'floors', b.floors, 'entrances', b.entrances,
                'flats_per_floor', b.flats_per_floor,
                'households', load.households, 'people', load.people,
                'footprint', {geometry_json('b.footprint')}
            )
        )::text
        FROM buildings b
        LEFT JOIN LATERAL (
            SELECT count(*) FILTER (WHERE h.occupancy <> 'vacant') AS households,
                   coalesce(sum(h.member_count), 0) AS people
            FROM households h WHERE h.building_id = b.id
        ) load ON true
        WHERE {where}
        ORDER BY b.id
    """
    count = f"SELECT count(*) FROM buildings b WHERE {where}"
    return feature_collection(session, features_sql=features, count_sql=count, params=params, page=page)
