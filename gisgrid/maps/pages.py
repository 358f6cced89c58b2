"""The coverage map and the boundary editor, built with the page kit (``gisgrid.pagekit``) from
the declared layers."""

from __future__ import annotations

import json
from html import escape

import folium
import shapely
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.auth.bar import account_bar
from gisgrid.core.errors import InvalidInput
from gisgrid.core.geojson import BBox
from gisgrid.coverage import service as coverage
from gisgrid.layers.definitions import Layer
from gisgrid.pagekit import assets, page

PANELS = Environment(loader=PackageLoader("gisgrid.maps"), autoescape=select_autoescape())  # maps/templates

TEXT = {
    "zh": {"coverage": "网格覆盖图", "summary": "覆盖情况", "area": "面积覆盖", "households": "住户覆盖",
           "defects": "问题清单", "none": "未发现问题", "legend": "图例",
           "defect_layer": "覆盖问题", "grids": "网格数"},
    "en": {"coverage": "Grid coverage", "summary": "Coverage", "area": "Area covered",
           "households": "Households covered", "defects": "Defects", "none": "No defect found",
           "legend": "Legend", "defect_layer": "Coverage defects", "grids": "Grids"},
}
LABELS_EN = {
    "blind_spot": "blind spot", "overlap": "overlap", "spill_over": "spill-over", "sliver_gap": "sliver gap",
    "sliver_overlap": "sliver overlap", "sliver_spill": "sliver spill", "orphan_building": "building in no grid",
    "orphan_unit": "unit in no grid", "orphan_shop": "shop in no grid", "overloaded": "over the band",
    "underloaded": "under the band", "no_lead": "no lead", "joined_nearest": "joined nearest",
}
DEFECT_STYLE = {
    "blind_spot": {"color": "#e31a1c", "fillColor": "#e31a1c", "fillOpacity": 0.55, "weight": 2},
    "overlap": {"color": "#6a3d9a", "fillColor": "#6a3d9a", "fillOpacity": 0.55, "weight": 2},
    "spill_over": {"color": "#ff7f00", "fillColor": "#ff7f00", "fillOpacity": 0.55, "weight": 2},
    "sliver": {"color": "#b15928", "fillColor": "#b15928", "fillOpacity": 0.4, "weight": 1},
    "orphan": {"color": "#b10026", "fillColor": "#ffffff", "fillOpacity": 1, "weight": 3, "radius": 9},
    "load": {"color": "#d7301f", "fill": False, "weight": 3, "dashArray": "6 3"},
}


def legend_html(layers: list[Layer], lang: str) -> str:
    t = TEXT[lang]
    items, seen = [], set()
    for layer in layers:
        base = layer.style.leaflet()
        items.append((getattr(layer.title, lang), base.get("color") or base.get("fillColor", "#888")))
        for rule in layer.style.rules:
            label = getattr(rule.label, lang) if rule.label else None
            if label and label not in seen:  # the load colours are the same on every level
                seen.add(label)
                paint = {**base, **rule.leaflet()}
                items.append((label, paint.get("fillColor") or paint.get("color")))
    for kind in ("blind_spot", "overlap", "spill_over"):
        items.append((coverage.LABELS_ZH[kind] if lang == "zh" else LABELS_EN[kind], DEFECT_STYLE[kind]["fillColor"]))
    rows = "".join(f'<div><span class="swatch" style="background:{colour}"></span>{escape(label)}</div>'
                   for label, colour in items)
    return f'<div class="gg-legend"><b>{t["legend"]}</b>{rows}</div>'


def coverage_page(session: Session, layers: dict[str, Layer], principal: Principal, *, subdistrict: str | None,
                  lang: str) -> str:
    """The coverage map: grids by level with load colours, defects highlighted, a legend, a
    layer switcher and the coverage summary, whose defects zoom the map when clicked."""
    page.check_lang(lang)
    t = TEXT[lang]
    sd = page.subdistrict(session, subdistrict, principal)
    bbox = BBox(sd.w, sd.s, sd.e, sd.n)
    m = page.new_map(page.area_bounds(session, sd, principal), lang)
    shown = [layers[name] for name in ("subdistrict", "grids_l1", "grids_l2", "grids_l3") if name in layers]
    for layer in shown:
        page.add_layer(m, session, layer, principal, bbox, lang, show=layer.name != "grids_l3")
    report = coverage.analyse(session, coverage.Scope(*principal.narrow(sd.code, None)))
    if principal.grids is not None:
        report = coverage.touching(report, principal.sees_code)
    defects = coverage.defect_features(report)
    for index, feature in enumerate(defects["features"]):
        feature["properties"]["index"] = index
        if lang == "en":
            feature["properties"]["label"] = LABELS_EN[feature["properties"]["defect"]]
    bounds = [shapely.geometry.shape(f["geometry"]).bounds for f in defects["features"]]
    shifted = page.to_basemap(json.loads(json.dumps(defects)))

    def defect_style(feature):
        kind = feature["properties"]["defect"]
        if kind.startswith("sliver"):
            return DEFECT_STYLE["sliver"]
        if kind in ("overloaded", "underloaded", "no_lead"):
            return DEFECT_STYLE["load"]
        return DEFECT_STYLE.get(kind, DEFECT_STYLE["sliver"])

    polygons = {"type": "FeatureCollection", "features": [
        f for f in shifted["features"] if f["geometry"]["type"] != "Point"]}
    group = folium.FeatureGroup(name=t["defect_layer"], show=True)
    folium.GeoJson(polygons, style_function=defect_style,
                   popup=folium.GeoJsonPopup(fields=["label", "grids", "area_m2"], labels=False)
                   if polygons["features"] else None,  # folium refuses a popup over no features
                   class_name="gg-defects").add_to(group)
    for feature in polygons["features"]:
        kind = feature["properties"]["defect"]
        if kind in DEFECT_STYLE:  # a blind spot of 50 m is a dot at the overview: mark it
            centre = shapely.geometry.shape(feature["geometry"]).representative_point()
            folium.CircleMarker([centre.y, centre.x], radius=7, color=DEFECT_STYLE[kind]["color"], weight=3,
                                fill=False, class_name=f"gg-mark gg-mark-{kind}").add_to(group)
    for feature in shifted["features"]:
        if feature["geometry"]["type"] == "Point":
            lon, lat = feature["geometry"]["coordinates"][:2]
            folium.CircleMarker([lat, lon], popup=f"{escape(feature['properties']['label'])}: "
                                f"{escape(str(feature['properties'].get('name', '')))}",
                                class_name="gg-orphan", **DEFECT_STYLE["orphan"]).add_to(group)
    group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)

    panel = PANELS.get_template("coverage_panel.html").render(
        t=t, name=sd.name, summary=report.summary, defects=[f["properties"] for f in defects["features"]],
        bar=account_bar(principal, lang), switch=page.lang_switch(lang, subdistrict=sd.code))
    shifted_bounds = []
    for west, south, east, north in bounds:
        (x0, x1), (y0, y1) = page.shift([west, east], [south, north])
        shifted_bounds.append([[y0, x0], [y1, x1]])
    return page.scripted_page(m, css="", panel=panel + legend_html(shown, lang), config={"bounds": shifted_bounds},
                              script="coverage_map.js", title=f"{sd.name} · {t['coverage']}")


EDIT_TEXT = {
    "zh": {"title": "网格边界编辑", "operation": "操作", "transfer": "划转（把一块划给相邻网格）", "split": "拆分（画切割线）",
           "reshape": "重画边界", "merge": "合并（点选相邻网格）", "to": "接收网格", "draw": "开始绘制",
           "reason": "修改原因（必填）", "mode": "校验", "strict": "严格", "fit": "自动贴合", "preview": "预览影响",
           "save": "保存", "restart": "重新开始", "households": "户",
           "pick_first": "第一步：在地图上点击要修改的网格。",
           "click_receiver": "（在地图上点击接收网格）", "not_neighbour": "只能划给相邻的同级网格。",
           "guide_transfer": "第二步：在地图上点击接收这块区域的相邻网格（将显示为绿色）。",
           "guide_draw_transfer": "接收网格：{to}。第三步：点“开始绘制”，画出要划出的一块（须与两网格的边界相接）。",
           "guide_split": "第二步：点“开始绘制”，画一条穿过网格的切割线，两端越过网格边界。",
           "guide_reshape": "第二步：点“开始绘制”，画出这个网格的新边界。",
           "guide_merge": "第二步：在地图上点击要并入的相邻网格，然后填写原因并预览。", "draw_first": "请先绘制。", "merge_first": "请点选要并入的相邻网格。",
           "reason_first": "请填写修改原因。", "draw_polygon": "在地图上逐点绘制多边形，点击第一个点闭合。",
           "draw_line": "绘制切割线，两端越过网格边界，点击最后一点结束。", "drawn": "已绘制。填写原因后预览影响。",
           "previewed": "以上为预览，尚未保存。", "saved": "已保存，新版本 v{v}。",
           "conflict": "保存失败：他人已修改网格 {g}（当前版本 v{v}），红色虚线为其形状。请重新开始。",
           "restarted": "已载入最新边界，请重新绘制。", "moves": "换网格：{b} 栋楼，{h} 户", "grid": "网格",
           "before": "之前", "after": "之后", "band": "标准", "retired": "撤销", "people": "人",
           "status": {"under": "偏少", "within": "达标", "over": "超标"}},
    "en": {"title": "Boundary editor", "operation": "Operation", "transfer": "transfer (give part to a neighbour)",
           "split": "split (draw a cutting line)", "reshape": "redraw the boundary",
           "merge": "merge (click neighbours)", "to": "Receiving grid", "draw": "Draw", "reason": "Reason (required)",
           "mode": "Checks", "strict": "strict", "fit": "fit", "preview": "Preview impact", "save": "Save",
           "restart": "Start over", "households": "households",
           "pick_first": "Step 1: click the grid to change on the map.",
           "click_receiver": "(click the receiving grid on the map)", "not_neighbour": "Only a neighbour of the same level can receive.",
           "guide_transfer": "Step 2: click the neighbour that receives the area (it turns green).",
           "guide_draw_transfer": "Receiving grid: {to}. Step 3: press Draw and outline the part to give (touching both grids' border).",
           "guide_split": "Step 2: press Draw and draw a cutting line across the grid, both ends beyond its border.",
           "guide_reshape": "Step 2: press Draw and draw the grid's new boundary.",
           "guide_merge": "Step 2: click the neighbours to merge in, then give a reason and preview.",
           "draw_first": "Draw first.", "merge_first": "Click the neighbours to merge in.",
           "reason_first": "Give a reason.", "draw_polygon": "Click the corners; click the first one to close.",
           "draw_line": "Draw a line crossing the grid; click the last point again to finish.",
           "drawn": "Drawn. Give a reason, then preview.", "previewed": "This is a preview: nothing is saved yet.",
           "saved": "Saved: version v{v}.",
           "conflict": "Not saved: someone else changed grid {g} (now v{v}); its shape is dashed red. Start over.",
           "restarted": "Latest boundaries loaded: draw again.", "moves": "Changing grid: {b} buildings, {h} households",
           "grid": "Grid", "before": "before", "after": "after", "band": "band", "retired": "retired",
           "status": {"under": "under", "within": "in band", "over": "over"}, "people": "people"},
}

EDIT_CSS = """
<style>
  .gg-panel label { display: block; margin: 4px 0 0; }
  .gg-panel select, .gg-panel textarea { width: 100%; }
  .gg-panel button { margin: 6px 4px 0 0; }
  .gg-message { margin: 6px 0; padding: 4px; background: #f7f7f7; }
  .gg-message.error { background: #fde0dd; color: #a50f15; }
  .gg-message.ok { background: #e5f5e0; color: #006d2c; }
  .gg-loads td, .gg-loads th { border: 1px solid #ddd; padding: 1px 4px; font-size: 12px; }
  .gg-warn { color: #a63603; }
</style>
"""


def edit_page(session: Session, layers: dict[str, Layer], principal: Principal, *, subdistrict: str | None,
              level: int, lang: str) -> str:
    """The boundary editor: a grid layer to pick from, Leaflet.draw to draw, and a panel that
    previews the impact and saves with the grid's version, through the editing API."""
    page.check_lang(lang)
    if level not in (1, 2, 3):
        raise InvalidInput(f"level 应为 1、2 或 3 / level must be 1, 2 or 3, got {level}", where="level")
    t = EDIT_TEXT[lang]
    sd = page.subdistrict(session, subdistrict, principal)
    m = page.new_map(page.area_bounds(session, sd, principal), lang)
    if "subdistrict" in layers:
        page.add_layer(m, session, layers["subdistrict"], principal, BBox(sd.w, sd.s, sd.e, sd.n), lang)
    assets.Needs(js=["leaflet_draw_js"], css=["leaflet_draw_css"]).add_to(m)
    operations = "".join(f'<option value="{op}">{t[op]}</option>' for op in ("transfer", "split", "reshape", "merge"))
    panel = f"""
    <div class="gg-panel" id="gg-panel">{account_bar(principal, lang)}<h1>{escape(sd.name)} · {t["title"]}</h1>
      {page.lang_switch(lang, subdistrict=sd.code, level=level)}
      <p id="gg-selected">{t["pick_first"]}</p>
      <label>{t["operation"]}<select id="gg-operation">{operations}</select></label>
      <label id="gg-to-row">{t["to"]}<select id="gg-to"></select></label>
      <button id="gg-draw" type="button">{t["draw"]}</button>
      <label>{t["reason"]}<textarea id="gg-reason" rows="2"></textarea></label>
      <label>{t["mode"]}<select id="gg-mode"><option value="strict">{t["strict"]}</option>
        <option value="fit">{t["fit"]}</option></select></label>
      <button id="gg-preview" type="button">{t["preview"]}</button>
      <button id="gg-save" type="button">{t["save"]}</button>
      <button id="gg-restart" type="button" hidden>{t["restart"]}</button>
      <div id="gg-message" class="gg-message"></div>
      <div id="gg-impact"></div>
    </div>"""
    config = {"level": level, "bbox": [sd.w, sd.s, sd.e, sd.n],
              "text": {k: v for k, v in t.items() if k != "title"}}
    return page.scripted_page(m, css=EDIT_CSS, panel=panel, config=config, script="editor.js",
                              title=f"{sd.name} · {t['title']}")
