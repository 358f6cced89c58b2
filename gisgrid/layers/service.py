"""Serving a declared layer: GeoJSON pages, Mapbox vector tiles and TileJSON, built in PostGIS.

Tiles are index-friendly: the tile envelope is transformed once to the data's SRID (4326) and
the rows are found by the GiST index on their own geometry; only the rows inside are projected
to Web Mercator and clipped by ``ST_AsMVTGeom``. The data is never transformed to be filtered.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from fastapi.responses import Response
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.core.errors import Forbidden, InvalidInput, NotFound
from gisgrid.core.geojson import BBox, feature_page
from gisgrid.core.paging import Page, Where
from gisgrid.core.settings import get_settings
from gisgrid.layers.definitions import Layer

EXTENT, BUFFER = 4096, 64
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


def box_ewkt(box: tuple[float, float, float, float]) -> str:
    return "SRID=4326;POLYGON(({0} {1},{2} {1},{2} {3},{0} {3},{0} {1}))".format(*box)


UNLIMITED = dict.fromkeys(("scope_sd", "scope_l1", "scope_l1_code", "scope_grids", "scope_codes"))


def source_params(box: tuple[float, float, float, float] | None = None) -> dict:
    """What a layer's SQL may use as bound parameters: each level's load band, and ``:bbox``,
    the box asked for (a tile's envelope, a page's bbox) as EWKT or NULL, for sources that
    can limit their own work to it (``gisgrid_area_defects``, hexagon counts); and the caller's
    scope (``:scope_sd`` …), here unlimited: requests put the caller's own over these."""
    params: dict = {"bbox": None if box is None else box_ewkt(box), **UNLIMITED}
    for level, bands in get_settings().load_bands.items():
        for what in ("households", "people"):
            band = getattr(bands, what)
            params[f"l{level}_{what}_low"], params[f"l{level}_{what}_high"] = band.low, band.high
    return params


def visible_layers(layers: dict[str, Layer], principal: Principal) -> list[Layer]:
    return [layer for layer in layers.values() if principal.role.value in layer.visible_to]


def layer_or_404(layers: dict[str, Layer], name: str, principal: Principal) -> Layer:
    """The named layer, if the caller's role may see it (``visible_to``; otherwise 403)."""
    if name not in layers:
        raise NotFound(f"没有名为 {name} 的图层 / no layer named {name}", where="layer")
    layer = layers[name]
    if principal.role.value not in layer.visible_to:
        raise Forbidden(f"“{principal.role.label_zh}”角色看不到图层 {name} / the {principal.role.value} role may "
                        f"not see the layer {name}", where="layer")
    return layer


def masks_small_counts(principal: Principal) -> bool:
    """A caller without person access sees a key group's small counts as '<N'."""
    return not principal.can("people")


def features(session: Session, layer: Layer, principal: Principal, *, bbox: BBox | None, page: Page) -> Response:
    """A page of the layer's features in the caller's scope as RFC 7946 GeoJSON, in id order,
    with ``numberMatched``."""
    geom = layer.source.geometry
    where = Where()
    where.add(layer.scope.sql("src"),
              {**source_params(None if bbox is None else (bbox.west, bbox.south, bbox.east, bbox.north)),
               **principal.scope_params(), "small_count": get_settings().small_count})
    if bbox is not None:
        where.add(BBox.sql(f"src.{geom}"), bbox.params())
    masked = masks_small_counts(principal)
    properties = {name: layer.property_sql(name, "src", masked) for name in layer.properties}
    return feature_page(session, rows=f"{layer.source.sql()} AS src", ident=f"src.{layer.source.id}",
                        geometry=f"src.{geom}", properties=properties, where=where, page=page)


def collection(session: Session, layer: Layer, principal: Principal, *, bbox: BBox) -> dict:
    """All of the layer inside ``bbox`` (and the caller's scope) as a GeoJSON dict, for pages
    that embed it."""
    body = features(session, layer, principal, bbox=bbox, page=Page(limit=get_settings().max_page_size, offset=0)).body
    return json.loads(body)


def tile_bounds(z: int, x: int, y: int, margin: float = 0.0) -> tuple[float, float, float, float]:
    """A web-mercator tile's WGS84 box (west, south, east, north), grown by ``margin`` tiles."""
    n = 2 ** z

    def lon(tx: float) -> float:
        return tx / n * 360 - 180

    def lat(ty: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * ty / n))))

    return (lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin))


def check_tile(layer: Layer, z: int, x: int, y: int) -> None:
    if not 0 <= z <= 24:
        raise InvalidInput(f"缩放级别 {z} 超出 0–24 / zoom {z} is outside 0–24", where="z")
    limit = 2 ** z
    if not (0 <= x < limit and 0 <= y < limit):
        raise InvalidInput(f"瓦片 {z}/{x}/{y} 不存在：x、y 应在 0–{limit - 1} / tile {z}/{x}/{y} does not exist: "
                           f"x and y run 0 to {limit - 1} at zoom {z}", where="tile")


@dataclass(frozen=True)
class TilePlan:
    """What serving a layer's tiles needs, worked out once per layer: the cache key,
    the render statement in the driver's placeholders, and the constant parameters."""

    key: str | None          # None: the layer is not cached
    render: str
    params: dict


_PLANS: dict[tuple[int, bool], tuple[Layer, TilePlan]] = {}


def cache_key(layer: Layer) -> str:
    """The layer's name and a digest of its definition and parameters: a changed layer file or
    band setting never meets tiles rendered before the change."""
    fingerprint = layer.model_dump_json() + json.dumps(source_params(), sort_keys=True)
    return f"{layer.name}@{hashlib.sha256(fingerprint.encode()).hexdigest()[:12]}"


def tile_plan(layer: Layer, masked: bool = False) -> TilePlan:
    """The layer's :class:`TilePlan` (with small counts masked or not), made on its first tile
    with the settings of that moment and kept for the process (keyed by the layer object, which
    the memo keeps alive)."""
    memo = _PLANS.get((id(layer), masked))
    if memo is None:
        memo = _PLANS[id(layer), masked] = (layer, _plan(layer, get_settings().tile_cache, masked))
    return memo[1]


def _plan(layer: Layer, cache: bool, masked: bool) -> TilePlan:
    cached = cache and bool(layer.depends_on)
    geom = layer.source.geometry
    columns = "".join(f"{layer.property_sql(p, 'src', masked)} AS {p}, " for p in layer.properties)
    # MATERIALIZED: ST_AsMVTGeom runs once a row; inlined, the NULL test below would repeat it.
    sql = f"""
        WITH bounds AS (
            SELECT ST_TileEnvelope(:z, :x, :y) AS merc, ST_MakeEnvelope(:w, :s, :e, :n, 4326) AS box
        ), rows AS MATERIALIZED (
            SELECT {columns}ST_AsMVTGeom(ST_Transform(src.{geom}, 3857), bounds.merc, {EXTENT}, {BUFFER}, true) AS mvt_geom
            FROM {layer.source.sql()} AS src, bounds
            WHERE src.{geom} && bounds.box AND ST_Intersects(src.{geom}, bounds.box) AND {layer.scope.sql("src")}
        ), tile AS (
            SELECT coalesce(ST_AsMVT(rows.*, :name, {EXTENT}, 'mvt_geom'), ''::bytea) AS tile
            FROM rows WHERE mvt_geom IS NOT NULL
        )"""
    if cached:
        sql += """, stored AS (
            INSERT INTO tile_cache (layer, z, x, y, tables, bbox, tile)
            SELECT :key, :z, :x, :y, :tables, bounds.box, tile.tile FROM bounds, tile ON CONFLICT DO NOTHING
        )"""
    sql += " SELECT tile FROM tile"
    key = (cache_key(layer) + ("~masked" if masked and layer.small_counts else "")) if cached else None
    params = {**source_params(), "name": layer.name, "tables": list(layer.depends_on),
              "small_count": get_settings().small_count}
    return TilePlan(key=key, render=str(text(sql).compile(dialect=psycopg.dialect())), params=params)


CACHED = "SELECT tile FROM tile_cache WHERE layer = %s AND z = %s AND x = %s AND y = %s"
LOCK_SHARED = "SELECT pg_advisory_xact_lock_shared(hashtext('gisgrid.tiles'))"


async def tile(pool: AsyncConnectionPool, layer: Layer, principal: Principal, z: int, x: int, y: int) -> bytes:
    """One MVT tile of the layer in the caller's scope (an empty tile outside its zoom range or
    data). Features carry the layer's properties; the id column is among them when the layer
    lists it.

    Cached tiles are kept per scope (the layer key and the caller's ``scope_key``): everyone
    with the same scope shares them, and no caller ever meets a tile drawn for a wider one.

    Cached in ``tile_cache`` when the setting allows and the layer names the tables it reads
    (``depends_on``): triggers on those tables sweep the tiles a change touches. A hit is one
    prepared primary-key read. A miss renders and stores in one statement, after a separate
    statement took a shared advisory lock (changes take it exclusively): the render's snapshot
    starts under the lock, so no change can commit between reading the data and storing the
    tile, and a stored tile is never stale. (Not pipelined: psycopg's async pipeline polls while
    the render runs, costing more CPU than the round trips it saves.)
    """
    check_tile(layer, z, x, y)
    if not layer.zoom.min <= z <= layer.zoom.max:
        return b""
    plan = tile_plan(layer, masks_small_counts(principal))
    key = None if plan.key is None else f"{plan.key}|{principal.scope_key}"
    async with pool.connection() as conn:
        if key is not None:
            cursor = await conn.execute(CACHED, (key, z, x, y), prepare=True, binary=True)
            hit = await cursor.fetchone()
            if hit is not None:
                return hit[0]
        box = tile_bounds(z, x, y, BUFFER / EXTENT)
        params = {**plan.params, **principal.scope_params(), "key": key, "z": z, "x": x, "y": y,
                  "w": box[0], "s": box[1], "e": box[2], "n": box[3], "bbox": box_ewkt(box)}
        if key is None:
            cursor = await conn.execute(plan.render, params, binary=True)
            return (await cursor.fetchone())[0]
        async with conn.transaction():
            await conn.execute(LOCK_SHARED)
            cursor = await conn.execute(plan.render, params, binary=True)
            return (await cursor.fetchone())[0]


def tilejson(layer: Layer, base_url: str, lang: str = "zh") -> dict:
    """TileJSON 3.0.0 for the layer, with its fields as the vector layer's schema."""
    return {
        "tilejson": "3.0.0",
        "name": layer.name,
        "description": getattr(layer.title, lang),
        "scheme": "xyz",
        "tiles": [f"{base_url}layers/{layer.name}/tiles/{{z}}/{{x}}/{{y}}.mvt"],
        "minzoom": layer.zoom.min,
        "maxzoom": layer.zoom.max,
        "bounds": [-180, -85.05112877980659, 180, 85.0511287798066],
        "vector_layers": [{
            "id": layer.name,
            "description": getattr(layer.title, lang),
            "minzoom": layer.zoom.min,
            "maxzoom": layer.zoom.max,
            "fields": {p: p for p in layer.properties},
        }],
    }
