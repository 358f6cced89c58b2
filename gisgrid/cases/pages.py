"""The cases' pages: the case heatmap for staff, and the residents' pages, open without an
account: the report form (a pin on the map) and the tracking page. Each is thin HTML around one
script that talks to the API (``/cases/density``, ``/public/cases``), so the page and any other
client see the same rules and messages."""

from __future__ import annotations

import json
from html import escape

import folium
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal
from gisgrid.auth.bar import account_bar
from gisgrid.cases.service import categories
from gisgrid.core.enums import CaseStatus
from gisgrid.core.geojson import BBox
from gisgrid.core.settings import get_settings
from gisgrid.layers.definitions import Layer
from gisgrid.layers.service import collection
from gisgrid.pagekit import assets, page

CASES_TEXT = {
    "zh": {"title": "事件热力图", "mode": "显示", "heat": "热力", "hex": "六边形计数", "category": "类别",
           "all": "全部", "status": "状态", "open": "在办", "closed": "已办结", "from": "起", "to": "止",
           "size": "六边形边长（米）", "count": "共 {n} 件", "in_cell": "该格内 {n} 件："},
    "en": {"title": "Case heatmap", "mode": "Show", "heat": "heat", "hex": "hexagon counts", "category": "Category",
           "all": "all", "status": "Status", "open": "open", "closed": "closed", "from": "from", "to": "to",
           "size": "hexagon edge (m)", "count": "{n} cases", "in_cell": "{n} cases in this cell:"},
}

CASES_CSS = """
<style>
  .gg-panel label { display: block; margin: 4px 0 0; }
  .gg-panel select, .gg-panel input { width: 100%; }
  .gg-case { border-bottom: 1px solid #eee; padding: 2px 0; font-size: 12px; }
</style>
"""


def cases_page(session: Session, layers: dict[str, Layer], principal: Principal, *, subdistrict: str | None,
               lang: str) -> str:
    """Case density (heatmap, or hexagon counts from the database) filtered by category,
    status and dates, under the grid boundaries; a hexagon lists its cases when clicked."""
    page.check_lang(lang)
    t = CASES_TEXT[lang]
    sd = page.subdistrict(session, subdistrict, principal)
    bbox = BBox(sd.w, sd.s, sd.e, sd.n)
    m = page.new_map(page.area_bounds(session, sd, principal), lang)
    for name in ("subdistrict", "grids_l2"):
        if name in layers:
            page.add_layer(m, session, layers[name], principal, bbox, lang)
    folium.LayerControl(collapsed=True).add_to(m)
    options = "".join(f'<option value="{c["code"]}">{escape(c["name_zh"] if lang == "zh" else c["name_en"])}</option>'
                      for c in categories(session))
    statuses = "".join(f'<option value="{s.value}">{escape(s.label_zh if lang == "zh" else s.value)}</option>'
                       for s in CaseStatus)
    panel = f"""
    <div class="gg-panel" id="gg-panel">{account_bar(principal, lang)}<h1>{escape(sd.name)} · {t["title"]}</h1>
      {page.lang_switch(lang, subdistrict=sd.code)}
      <form id="gg-filters" onsubmit="return false">
        <label>{t["mode"]}<select name="mode"><option value="heat">{t["heat"]}</option>
          <option value="hex">{t["hex"]}</option></select></label>
        <label>{t["category"]}<select name="category"><option value="">{t["all"]}</option>{options}</select></label>
        <label>{t["status"]}<select name="status"><option value="">{t["all"]}</option>
          <option value="open">{t["open"]}</option><option value="closed">{t["closed"]}</option>{statuses}</select></label>
        <label>{t["from"]}<input type="date" name="from"></label>
        <label>{t["to"]}<input type="date" name="to"></label>
        <label>{t["size"]}<input type="number" name="size" value="150" min="10" max="5000"></label>
      </form>
      <p id="gg-stats"></p><div id="gg-cases"></div>
    </div>"""
    assets.Needs(js=["leaflet-heat.js"]).add_to(m)
    config = {"subdistrict": sd.code, "text": {"count": t["count"], "in_cell": t["in_cell"]},
              "statuses": {s.value: s.label_zh if lang == "zh" else s.value.replace("_", " ") for s in CaseStatus}}
    return page.scripted_page(m, css=CASES_CSS, panel=panel, config=config, script="cases_map.js",
                              title=f"{sd.name} · {t['title']}")


REPORT_TEXT = {
    "zh": {"title": "居民事件上报", "intro": "在地图上点击事件发生的位置（虚线内为本街道），填写内容后提交，无需注册。",
           "no_pin": "尚未选择位置：请在地图上点击。", "pin": "已选位置（可拖动图钉调整）：", "category": "类别",
           "subtype": "小类", "choose": "请选择", "none": "（不确定）", "what": "标题", "what_hint": "例如：路灯不亮",
           "description": "详细描述（可选）", "name": "您的称呼（可选，不填为匿名）", "submit": "提交",
           "sending": "正在提交…", "need_pin": "请先在地图上点击，标出事件的位置。", "failed": "提交失败：",
           "network": "网络错误，请稍后重试：将原样重发上次的内容，不会重复上报。", "done": "已提交，谢谢！您的查询码：",
           "keep": "请记下查询码，凭它查询办理进度、结案后评价。", "track": "查询办理进度", "again": "再报一件"},
    "en": {"title": "Report a problem", "intro": "Click the map where it is (inside the dashed line), fill in "
           "the form and send it. No account needed.", "no_pin": "No place yet: click the map.",
           "pin": "Place chosen (drag the pin to adjust):", "category": "Category", "subtype": "Sub-type",
           "choose": "Choose…", "none": "(not sure)", "what": "Title", "what_hint": "e.g. street light out",
           "description": "Description (optional)", "name": "Your name (optional; anonymous if left out)",
           "submit": "Send", "sending": "Sending…", "need_pin": "Click the map first to mark the place.",
           "failed": "Not sent: ", "network": "Network error: try again; the same report is sent again as it was, never twice.",
           "done": "Sent, thank you! Your tracking code:",
           "keep": "Keep this code: with it you follow the case and rate it once it is closed.",
           "track": "Follow the case", "again": "Report another"},
}

REPORT_CSS = """
<style>
  .gg-panel { width: 340px; }
  .gg-panel label { display: block; margin: 6px 0 0; }
  .gg-panel select, .gg-panel input, .gg-panel textarea { width: 100%; box-sizing: border-box; font: inherit; }
  .gg-panel button { margin: 8px 8px 0 0; padding: 4px 14px; font: inherit; }
  .gg-pin { margin: 4px 0; color: #666; }
  .gg-pin.set { color: #006d2c; }
  .gg-message { margin: 6px 0 0; padding: 4px; }
  .gg-message:empty { display: none; }
  .gg-message.error { background: #fde0dd; color: #a50f15; }
  #gg-done a { margin-right: 12px; }
  .gg-code { font: 600 28px/1.3 ui-monospace, monospace; letter-spacing: 2px; color: #b22222; margin: 6px 0; }
</style>
"""


def report_page(session: Session, layers: dict[str, Layer], *, subdistrict: str | None, lang: str) -> str:
    """The public form: the sub-district's boundary so residents see where they may report, a
    click drops the pin, and the form sends category, title and the pin in the basemap's own
    coordinate system (the API converts GCJ-02 / BD-09)."""
    page.check_lang(lang)
    t = REPORT_TEXT[lang]
    sd = page.subdistrict(session, subdistrict)
    m = page.new_map((sd.w, sd.s, sd.e, sd.n), lang)
    # drawn but not clickable: a click anywhere, on the boundary too, places the pin
    if boundary := layers.get("subdistrict"):
        data = page.to_basemap(collection(session, boundary, Principal.of_subdistrict(sd.code),
                                         bbox=BBox(sd.w, sd.s, sd.e, sd.n)))
        folium.GeoJson(data, style_function=lambda f: boundary.style.for_feature(f["properties"]),
                       name=getattr(boundary.title, lang), control=False, interactive=False).add_to(m)
    panel = f"""
    <div class="gg-panel" id="gg-panel"><h1>{escape(sd.name)} · {t["title"]}</h1>
      {page.lang_switch(lang, subdistrict=sd.code)}
      <form id="gg-form" novalidate>
        <p>{t["intro"]}</p>
        <p id="gg-pin" class="gg-pin">{t["no_pin"]}</p>
        <label>{t["category"]}<select name="category" required>
          <option value="">{t["choose"]}</option></select></label>
        <label>{t["subtype"]}<select name="subtype"><option value="">{t["none"]}</option></select></label>
        <label>{t["what"]}<input name="title" maxlength="200" placeholder="{t["what_hint"]}" required></label>
        <label>{t["description"]}<textarea name="description" rows="3" maxlength="5000"></textarea></label>
        <label>{t["name"]}<input name="reporter_name" maxlength="50"></label>
        <button id="gg-submit" type="submit">{t["submit"]}</button>
        <div id="gg-message" class="gg-message" role="alert"></div>
      </form>
      <div id="gg-done" hidden>
        <p>{t["done"]}</p><div id="gg-code" class="gg-code"></div><p>{t["keep"]}</p>
        <a id="gg-track" href="/track">{t["track"]}</a>
        <button id="gg-again" type="button">{t["again"]}</button>
      </div>
    </div>"""
    config = {"lang": lang,
              "text": {k: v for k, v in t.items() if k not in ("title", "intro")}}
    return page.scripted_page(m, css=REPORT_CSS, panel=panel, config=config, script="report_form.js",
                              title=f"{sd.name} · {t['title']}")


TRACK_TEXT = {
    "zh": {"title": "事件办理进度查询", "code": "查询码", "lookup": "查询", "case_no": "事件编号", "what": "事件",
           "status": "当前状态：", "reported": "上报时间", "closed": "结案时间", "handled_by": "办理层级",
           "overdue": "已超过本环节办理时限，正在督办。", "steps": "办理过程", "rate": "评价办理结果",
           "scores": ["很不满意", "不满意", "一般", "满意", "很满意"], "feedback": "意见（可选）", "send": "提交评价",
           "pick_score": "请选择满意程度。", "rated": "您的评价", "feedback_given": "您的意见", "thanks": "感谢您的评价！",
           "network": "网络错误，请稍后重试。", "report": "我要上报", "lang": "English"},
    "en": {"title": "Follow a reported case", "code": "Tracking code", "lookup": "Look up", "case_no": "Case number",
           "what": "Case", "status": "Status: ", "reported": "Reported", "closed": "Closed", "handled_by": "Handled by",
           "overdue": "Past this step's time limit: being followed up.", "steps": "Steps", "rate": "Rate the outcome",
           "scores": ["very dissatisfied", "dissatisfied", "neutral", "satisfied", "very satisfied"],
           "feedback": "Comments (optional)", "send": "Send rating", "pick_score": "Choose a score.",
           "rated": "Your rating", "feedback_given": "Your comments", "thanks": "Thank you for your rating!",
           "network": "Network error: try again later.", "report": "Report a problem", "lang": "中文"},
}

TRACK_CSS = """
<style>
  main { max-width: 720px; }
  form.gg-lookup { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  form.gg-lookup input { font: 600 1.2rem ui-monospace, monospace; letter-spacing: 2px; width: 12em;
                         text-transform: uppercase; padding: .3rem .5rem; }
  button { font: inherit; padding: .3rem 1rem; }
  .gg-message { padding: .4rem; margin: .6rem 0 0; }
  .gg-message:empty { display: none; }
  .gg-message.error { background: #fde0dd; color: #a50f15; }
  .gg-message.ok { background: #e5f5e0; color: #006d2c; }
  .gg-status { font-size: 1.6rem; font-weight: 600; color: var(--accent); }
  .gg-facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .6rem 0; }
  .gg-facts dt { color: var(--muted); }
  .gg-facts dd { margin: 0; }
  .gg-steps { list-style: none; padding: 0 0 0 1rem; border-left: 3px solid var(--line); }
  .gg-steps li { position: relative; margin: 0 0 .7rem; }
  .gg-steps li::before { content: ""; position: absolute; left: -1.45rem; top: .35rem; width: .7rem; height: .7rem;
                         border-radius: 50%; background: var(--accent); }
  .gg-steps time { color: var(--muted); margin-right: .6rem; }
  .gg-steps .note { color: var(--muted); margin: .1rem 0 0; }
  .gg-scores { display: flex; flex-direction: column; gap: .3rem; border: 0; padding: 0; margin: .4rem 0; }
  .gg-scores .stars { display: inline-block; width: 6em; color: #e6a100; }
  textarea { width: 100%; font: inherit; }
</style>
"""


def track_page(*, lang: str) -> str:
    """The tracking page: a code (typed, or ``?code=``, read by the script) → status and
    steps, and the rating form once the case is closed and not yet rated."""
    page.check_lang(lang)
    t = TRACK_TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    statuses = {s.value: s.label_zh if lang == "zh" else s.value.replace("_", " ") for s in CaseStatus}
    config = {"api": "", "lang": lang, "timezone": get_settings().timezone, "statuses": statuses,
              "text": {k: v for k, v in t.items() if k not in ("title", "lang")}}
    scores = "".join(f'<label><input type="radio" name="satisfaction" value="{n}"> <span class="stars">{"★" * n}</span>{escape(t["scores"][n - 1])}'
                     "</label>" for n in range(5, 0, -1))
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title>
<link rel="stylesheet" href="/static/gisgrid.css">
{TRACK_CSS}
</head>
<body>
<header>
  <h1>{t["title"]}</h1>
  <a class="lang" id="gg-lang" href="?lang={other}">{t["lang"]}</a>
</header>
<main>
  <section>
    <form class="gg-lookup" id="gg-lookup">
      <label for="gg-code">{t["code"]}</label>
      <input id="gg-code" name="code" maxlength="10" autocomplete="off" spellcheck="false" required>
      <button type="submit">{t["lookup"]}</button>
      <a href="/report?lang={lang}">{t["report"]}</a>
    </form>
    <div id="gg-message" class="gg-message" role="alert"></div>
  </section>
  <section id="gg-case" hidden>
    <div id="gg-status" class="gg-status"></div>
    <p id="gg-overdue" hidden>{t["overdue"]}</p>
    <dl class="gg-facts" id="gg-facts"></dl>
    <h2>{t["steps"]}</h2>
    <ol class="gg-steps" id="gg-steps"></ol>
  </section>
  <section id="gg-rating" hidden>
    <h2>{t["rate"]}</h2>
    <form id="gg-rate">
      <fieldset class="gg-scores">{scores}</fieldset>
      <label>{t["feedback"]}<textarea name="feedback" rows="3" maxlength="2000"></textarea></label>
      <button type="submit" id="gg-send">{t["send"]}</button>
      <div id="gg-rate-message" class="gg-message" role="alert"></div>
    </form>
  </section>
</main>
<script type="application/json" id="gg-config">{json.dumps(config, ensure_ascii=False)}</script>
<script src="/static/js/track.js" defer></script>
</body>
</html>"""
