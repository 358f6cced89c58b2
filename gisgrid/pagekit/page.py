"""A map page, whichever domain it belongs to: a folium map framed on its area, over the basemap,
with declared layers as overlays, the panel's styles, the language switch, and one script of ours
that reads the page's settings from JSON.

Overlays are GeoJSON of one sub-district embedded in the page (a few hundred grids and a
thousand buildings draw at once); the basemap is the ``GISGRID_BASEMAP_URL`` setting, and on a
GCJ-02 / BD-09 basemap (``GISGRID_BASEMAP_CRS``) every overlay is shifted into that system so it
sits on the streets. With no basemap reachable the overlays still draw.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import folium
import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.auth.bar import BAR_CSS
from gisgrid.core import crs as crs_mod
from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.geojson import BBox
from gisgrid.core.settings import get_settings
from gisgrid.layers.definitions import Layer
from gisgrid.layers.service import collection
from gisgrid.pagekit import assets, basemap

SWITCH = {"zh": "English", "en": "中文"}  # the way to the other language, in its own words
BASEMAP = {"zh": "底图", "en": "Basemap"}


def check_lang(lang: str) -> None:
    """Before any work: a page is in Chinese or English."""
    if lang not in SWITCH:
        raise InvalidInput(f"lang 应为 zh 或 en / lang must be zh or en, got {lang!r}", where="lang")


def lang_switch(lang: str, **query) -> str:
    """The link to the same page in the other language, keeping the page's own query."""
    other = "en" if lang == "zh" else "zh"
    return f'<a href="?{urlencode({**query, "lang": other})}">{SWITCH[lang]}</a>'


def to_basemap(geojson: dict) -> dict:
    """Shift a FeatureCollection from WGS84 into the basemap's system (GCJ-02 / BD-09 tiles)."""
    target = get_settings().basemap_crs
    if crs_mod.canonical(target) in (crs_mod.WGS84, crs_mod.CGCS2000):
        return geojson
    for feature in geojson["features"]:
        if feature.get("geometry"):
            geom = shapely.geometry.shape(feature["geometry"])
            moved = shapely.transform(geom, lambda xy: np.column_stack(
                crs_mod.from_wgs84(xy[:, 0], xy[:, 1], target)))
            feature["geometry"] = json.loads(shapely.to_geojson(moved))
    return geojson


def shift(lons: list[float], lats: list[float]) -> tuple[list[float], list[float]]:
    """WGS84 longitudes and latitudes in the basemap's system (for boxes a page's script frames)."""
    target = get_settings().basemap_crs
    x, y = crs_mod.from_wgs84(np.asarray(lons, float), np.asarray(lats, float), target)
    return [float(v) for v in np.atleast_1d(x)], [float(v) for v in np.atleast_1d(y)]


def new_map(bounds: tuple[float, float, float, float], lang: str) -> folium.Map:
    """A map framed on ``bounds`` (WGS84 west, south, east, north). The frame is set by the
    page's own script once the map has its size (a phone's differs from a desktop's), in the
    basemap's system; the basemap is the configured one when it answers, else the blank one."""
    settings = get_settings()
    west, south, east, north = bounds
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=15, tiles=None,
                   control_scale=True, prefer_canvas=False)
    url = basemap.tile_url()
    folium.TileLayer(tiles=url, attr=settings.basemap_attribution if url != basemap.BLANK else "gisgrid",
                     name=BASEMAP[lang], max_zoom=20, max_native_zoom=19).add_to(m)
    (x0, x1), (y0, y1) = shift([west, east], [south, north])
    m.gg_frame = {"map": m.get_name(), "bounds": [[y0, x0], [y1, x1]], "blank": basemap.BLANK, "lang": lang}
    return m


def area_bounds(session: Session, sd, principal: Principal | None) -> tuple[float, float, float, float]:
    """What a page opens on: a grid worker's own grids, a manager's community, else the sub-district."""
    if principal is not None and (principal.grids is not None or principal.community is not None):
        ids = list(principal.grids) if principal.grids is not None else [principal.community[0]]
        row = session.execute(text("""
            SELECT ST_XMin(box) w, ST_YMin(box) s, ST_XMax(box) e, ST_YMax(box) n
            FROM (SELECT ST_Extent(geom) AS box FROM grids WHERE id = ANY(:ids)) extent"""), {"ids": ids}).one()
        if row.w is not None:
            return row.w, row.s, row.e, row.n
    return sd.w, sd.s, sd.e, sd.n


def frame_script(m: folium.Map) -> str:
    """The map's frame and fallback basemap for ``map_page.js``, and the script itself."""
    return (f'<script type="application/json" id="gg-frame">{json.dumps(m.gg_frame)}</script>'
            '<script src="/static/js/map_page.js" defer></script>')


def add_layer(m: folium.Map, session: Session, layer: Layer, principal: Principal, bbox: BBox, lang: str, *,
              show: bool = True) -> int:
    """One declared layer (what of it the caller may see) as a GeoJSON overlay styled by its
    rules, with its popup."""
    data = collection(session, layer, principal, bbox=bbox)
    for feature in data["features"]:
        feature["properties"]["_popup"] = layer.popup_html(feature["properties"], lang) or ""
        feature["properties"]["_style"] = layer.style.for_feature(feature["properties"])
    data = to_basemap(data)
    options = {"name": getattr(layer.title, lang), "show": show, "overlay": True}
    if layer.kind == "point":
        group = folium.FeatureGroup(**options)
        for feature in data["features"]:
            lon, lat = feature["geometry"]["coordinates"][:2]
            style = {"radius": 4, "weight": 1, "fill": True, **feature["properties"]["_style"]}
            folium.CircleMarker([lat, lon], popup=folium.Popup(feature["properties"]["_popup"], max_width=320),
                                **style).add_to(group)
        group.add_to(m)
    else:
        # folium checks a popup's fields against the features: an empty layer (a sub-district
        # without micro-grids yet) gets none
        popup = folium.GeoJsonPopup(fields=["_popup"], labels=False) if data["features"] else None
        folium.GeoJson(data, style_function=lambda f: f["properties"]["_style"], popup=popup, **options).add_to(m)
    return len(data["features"])


def subdistrict(session: Session, code: str | None, principal: Principal | None = None):
    """The sub-district a page shows: the one asked for, else the caller's, else the first; one
    outside the caller's scope does not exist for them."""
    if principal is not None:
        code = principal.narrow(code, None)[0]
    sql = "SELECT code, name, ST_XMin(boundary) w, ST_YMin(boundary) s, ST_XMax(boundary) e, ST_YMax(boundary) n " \
          "FROM subdistricts WHERE (CAST(:c AS text) IS NULL OR code = :c) ORDER BY code LIMIT 1"
    row = session.execute(text(sql), {"c": code}).first()
    if row is None:
        raise NotFound(f"没有街道 {code or ''} / no sub-district {code or 'loaded'}", where="subdistrict")
    return row


PAGE_CSS = """
<style>
  .gg-panel { position: absolute; top: 10px; left: 54px; z-index: 1000; background: #fff; padding: 8px 12px;
              max-width: 340px; max-height: 70vh; overflow: auto; font: 13px/1.4 'Noto Sans CJK SC', sans-serif;
              box-shadow: 0 1px 5px rgba(0,0,0,.4); border-radius: 4px; }
  .gg-panel h1 { font-size: 16px; margin: 0 0 4px; }
  .gg-panel ol { padding-left: 18px; margin: 4px 0; }
  .gg-panel a.gg-defect { cursor: pointer; }
  .gg-legend { position: absolute; bottom: 24px; left: 10px; z-index: 1000; background: #fff; padding: 6px 10px;
               font: 12px/1.5 'Noto Sans CJK SC', sans-serif; box-shadow: 0 1px 5px rgba(0,0,0,.4); border-radius: 4px; }
  .gg-legend .swatch { display: inline-block; width: 14px; height: 10px; margin-right: 6px; border: 1px solid #555; }
  /* a phone: the map on the top of the screen, the panel and the legend below it, in the page's flow */
  @media (max-width: 699px) {
    html, body { height: auto !important; }
    body { display: flex; flex-direction: column; }
    .folium-map { position: relative !important; height: 56vh !important; width: 100% !important; order: 0; }
    .gg-panel { position: static; order: 1; max-width: none !important; width: auto !important; max-height: none;
                box-shadow: none; border-radius: 0; border-top: 1px solid #ccc; padding: 8px 14px; }
    .gg-panel button, .gg-panel select, .gg-panel input { min-height: 40px; font-size: 16px; }
    .gg-legend { position: static; order: 2; box-shadow: none; border-top: 1px solid #eee; padding: 6px 14px; }
  }
</style>
"""


def scripted_page(m: folium.Map, *, css: str, panel: str, config: dict, script: str, title: str) -> str:
    """A map page driven by one script of ours: its panel, its settings as JSON (the map's
    variable name and the basemap's CRS included) and the script, deferred so it runs once
    folium's own script has made the map."""
    config = {"map": m.get_name(), "api": "", "basemap_crs": get_settings().basemap_crs, **config}
    root = m.get_root()
    root.header.add_child(folium.Element(PAGE_CSS + BAR_CSS + css))
    root.html.add_child(folium.Element(panel))
    root.html.add_child(folium.Element(
        f'<script type="application/json" id="gg-config">{json.dumps(config, ensure_ascii=False)}</script>'))
    root.html.add_child(folium.Element('<script src="/static/js/chinacrs.js" defer></script>'
                                       f'<script src="/static/js/{script}" defer></script>' + frame_script(m)))
    root.title = title
    assets.offline(root)
    return root.render()
