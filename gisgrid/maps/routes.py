"""HTTP for layers: the list, GeoJSON pages, vector tiles and TileJSON."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs, needs_async
from gisgrid.core.dependencies import get_session
from gisgrid.core.geojson import MEDIA_TYPE, BBox, bbox_param
from gisgrid.core.paging import Page, page_params
from gisgrid.layers import service
from gisgrid.layers.definitions import Layer

router = APIRouter(tags=["layers"])


def layers_of(request: Request) -> dict[str, Layer]:
    return request.app.state.layers


@router.get("/layers", summary="图层列表 / The map layers")
def list_layers(request: Request, lang: str = Query("zh", pattern="^(zh|en)$"),
                me: Principal = Depends(needs("maps"))) -> dict:
    """Every layer the caller's role may see, with its title, kind, zoom range, who may see it
    and its links."""
    base = str(request.base_url)
    return {"layers": [{
        "name": layer.name, "title": getattr(layer.title, lang), "kind": layer.kind,
        "minzoom": layer.zoom.min, "maxzoom": layer.zoom.max, "properties": layer.properties,
        "visible_to": layer.visible_to,
        "links": {"items": f"{base}layers/{layer.name}/items", "tilejson": f"{base}layers/{layer.name}/tilejson.json"},
    } for layer in service.visible_layers(layers_of(request), me)]}


@router.get("/layers/{name}/items", response_class=Response, summary="图层要素 / A layer as GeoJSON",
            responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}})
def layer_items(request: Request, name: str, bbox: BBox | None = Depends(bbox_param),
                page: Page = Depends(page_params), me: Principal = Depends(needs("maps")),
                session: Session = Depends(get_session)) -> Response:
    """A page of the layer's features in the caller's scope, in a stable order, optionally inside a bbox."""
    layer = service.layer_or_404(layers_of(request), name, me)
    return service.features(session, layer, me, bbox=bbox, page=page)


@router.get("/layers/{name}/tiles/{z}/{x}/{y}.mvt", response_class=Response, summary="矢量瓦片 / A vector tile",
            responses={200: {"content": {service.MVT_MEDIA_TYPE: {}}, "description": "Mapbox vector tile"}})
async def layer_tile(request: Request, name: str, z: int = Path(..., ge=0, le=24), x: int = Path(..., ge=0),
                     y: int = Path(..., ge=0), me: Principal = Depends(needs_async("maps"))) -> Response:
    """Async on the app's connection pool: the caller and a cached tile are two prepared reads,
    no thread hop."""
    layer = service.layer_or_404(layers_of(request), name, me)
    data = await service.tile(request.app.state.pool, layer, me, z, x, y)
    return Response(data, media_type=service.MVT_MEDIA_TYPE)


@router.get("/layers/{name}/tilejson.json", summary="TileJSON")
def layer_tilejson(request: Request, name: str, lang: str = Query("zh", pattern="^(zh|en)$"),
                   me: Principal = Depends(needs("maps"))) -> dict:
    layer = service.layer_or_404(layers_of(request), name, me)
    return service.tilejson(layer, str(request.base_url), lang)
