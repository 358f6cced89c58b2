"""The reports as files: Excel with Chinese headers, CSV, and the printable page as PDF
(printed by the same headless Chromium the page tests use, so the PDF is the page)."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from gisgrid.core.errors import SetupError
from gisgrid.core.tables import csv_bytes, xlsx_bytes
from gisgrid.reports.assessment import LABELS as ASSESSMENT_LABELS
from gisgrid.reports.weekly import FIGURES, NOW_FIGURES, NOW_FILTERS, area_filter, week_filter
from gisgrid.reports.weekly import LABELS as WEEKLY_LABELS

ASSESSMENT_COLUMNS = {
    "grid": [("rank", "排名"), ("grid", "网格编码"), ("name", "网格名称"), ("lead", "网格长")],
    "worker": [("rank", "排名"), ("staff_id", "人员编号"), ("name", "姓名"), ("title", "岗位"), ("grids", "所在网格")],
}
ASSESSMENT_FIGURES = ("total", "performance", "skills", "satisfaction_score", "cases_handled", "on_time_registration",
                      "accurate_dispatch", "on_time_handling", "on_time_closure", "closure", "mean_handling_hours",
                      "median_close_hours", "reopen", "escalation", "satisfaction", "ratings", "training_score")


def weekly_xlsx(report: dict) -> bytes:
    figures = [WEEKLY_LABELS[f] for f in FIGURES]
    sheets = [("分类统计", ["类别编码", "类别", *figures],
               [[r["code"], r["name_zh"], *(r[f] for f in FIGURES)] for r in report["by_category"]]
               + [["", "合计", *(report["total"][f] for f in FIGURES)]])]
    if report["units"]["items"]:
        sheets.append(("下级单位", ["编码", "名称", *figures],
                       [[u["code"], u["name"], *(u[f] for f in FIGURES)] for u in report["units"]["items"]]))
    c, s = report["collection"], report["scope"]
    sheets += [
        ("热点区域", ["序号", "本周件数", "前四周周均", "显著度", "所在网格"],
         [[i, h["cases"], h["previous_weekly_mean"], h["score"], h["grid"]] for i, h in enumerate(report["hotspots"], 1)]),
        ("信息采集", ["入户走访", "信息核查", "走访户数", "参与网格员", "网格员上报事件"],
         [[c["visits"], c["info_checks"], c["households"], c["workers"], c["worker_reports"]]]),
        ("说明", ["项目", "内容"], [["范围", f"{s['label']} {s['name']} {s['code'] or ''}"], ["周次", report["week"]],
                                  ["起", report["from"]], ["止（不含）", report["to"]], ["生成时间", report["generated_at"]]]),
    ]
    return xlsx_bytes(sheets)


def _assessment_rows(report: dict) -> tuple[list[str], list[list]]:
    columns = ASSESSMENT_COLUMNS[report["by"]]
    headers = [label for _, label in columns] + [ASSESSMENT_LABELS[f] for f in ASSESSMENT_FIGURES]
    rows = [[item.get(key) for key, _ in columns] + [item[f] for f in ASSESSMENT_FIGURES] for item in report["items"]]
    return headers, rows


def assessment_xlsx(report: dict) -> bytes:
    weights = report["weights"]
    return xlsx_bytes([("考核排名", *_assessment_rows(report)), ("说明", ["项目", "内容"], [
        ["考核期", f"{report['from']} 至 {report['to']}"], ["对象", "网格" if report["by"] == "grid" else "网格员"],
        ["权重", f"工作实绩 {weights['performance']}，业务技能 {weights['skills']}，群众满意度 {weights['satisfaction']}"],
    ])])


def assessment_csv(report: dict) -> bytes:
    return csv_bytes(*_assessment_rows(report))


def html_to_pdf(html: str) -> bytes:
    """Print an HTML page to A4 PDF in headless Chromium (installed by setup, no network)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SetupError("PDF 导出需要 chromium / exporting PDF needs chromium: run `bash .ci/setup`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.abort() if not route.request.url.startswith(("data:", "about:"))
                       else route.continue_())
            page.set_content(html, wait_until="load")
            return page.pdf(format="A4", print_background=True)
        finally:
            browser.close()


_TEMPLATES = Environment(loader=PackageLoader("gisgrid.reports"), autoescape=select_autoescape())


WEEKLY_LABELS_EN = {"new": "New", "closed": "Closed", "rejected": "Rejected or duplicate", "open": "Open",
                    "overdue": "Overdue steps", "escalated": "Escalated"}
WEEKLY_TEXT = {
    "zh": {"title": "网格化管理工作周报", "print": "打印", "switch": "English", "to": "至", "week": "选择周",
           "show": "查看", "previous": "上一周", "skipped": "上周（{week}）没有上报的事件，这里是有事件的最近一周。", "next": "下一周", "by_category": "一、分类统计（八大类信息）",
           "category": "类别", "total": "合计", "units": "二、下级单位", "code": "编码", "name": "名称",
           "hotspots": "三、热点区域（本周与前四周周均相比）", "rank": "序号", "grid": "所在网格",
           "cases": "本周件数", "mean": "前四周周均", "score": "显著度", "no_hotspots": "本周无明显聚集区域。",
           "collection": "四、信息采集", "visits": "入户走访", "checks": "信息核查", "households": "走访户数",
           "workers": "参与网格员", "reports": "网格员上报事件",
           "standing": "五、本周新增事件办理现状", "standing_at": "截至", "now_labels": {
               "new": "本周新增", "still_open": "仍在办理", "finished": "已办结（含不予立案、重复）", "overdue_now": "现超期"},
           "linked": "数字可点开，列出其对应的事件。",
           "footer": "超期环节：本周到期而未按期完成的环节（一件事件可有多个环节，含超期自动上报）；未结：周末时尚未结案、"
                     "不予立案或判为重复的事件；新增减去结案、不予立案及重复，即未结的变化。生成于"},
    "en": {"title": "Weekly grid management report", "print": "Print", "switch": "中文", "to": "to",
           "week": "Week", "show": "Show", "previous": "previous week",
           "skipped": "Last week ({week}) had no reported case: this is the latest week that has one.", "next": "next week",
           "by_category": "1. By category (the eight information categories)", "category": "Category",
           "total": "Total", "units": "2. Units below", "code": "Code", "name": "Name",
           "hotspots": "3. Hot spots (this week against the mean of the four before)", "rank": "No.",
           "grid": "Grid", "cases": "Cases this week", "mean": "Weekly mean before", "score": "Score",
           "no_hotspots": "No marked cluster this week.", "collection": "4. Information collection",
           "visits": "Household visits", "checks": "Information checks", "households": "Households visited",
           "workers": "Grid workers", "reports": "Cases reported by workers",
           "standing": "5. Where this week's new cases stand now", "standing_at": "as of", "now_labels": {
               "new": "New this week", "still_open": "Still open", "finished": "Finished (closed, rejected, duplicate)",
               "overdue_now": "Overdue now"},
           "linked": "Each figure opens the list of its cases.",
           "footer": "Overdue steps: steps due this week and not done in time (a case can have several, automatic "
                     "escalations included); open: cases not closed, rejected or marked duplicate at the week's end; "
                     "new minus closed, rejected and duplicate is the change in open. Generated"},
}


def _week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def case_lists(report: dict, lang: str):
    """For the page: the inbox URL of the cases behind a figure of the week's new cases, of the
    report's scope or of one of its units, in total or of a category (see ``NOW_FILTERS``)."""
    area, dates = area_filter(report["scope"]["code"]), week_filter(datetime.fromisoformat(report["from"]))

    def url(figure: str, *, category: str | None = None, unit: str | None = None) -> str:
        where = area_filter(unit) if unit else area
        return "/desk?" + urlencode({**NOW_FILTERS[figure], **where, **({"category": category} if category else {}),
                                     **dates, "lang": lang})
    return url


def weekly_html(report: dict, lang: str = "zh", bar: str = "", standing: dict | None = None) -> str:
    """The printable weekly report (one A4 page for a grid or community, a few for a city), in
    Chinese or English, with a week picker and the weeks either side on screen (not in print).
    On the page (``standing``: :func:`~gisgrid.reports.weekly.new_cases_now`) the new cases'
    figures link to their lists, and a section says where the week's new cases stand now."""
    scope = f"&scope={report['scope']['code']}" if report["scope"]["code"] else ""
    query = f"week={report['week']}" + scope
    start = datetime.fromisoformat(report["from"]).date()
    end = (datetime.fromisoformat(report["to"]) - timedelta(days=1)).date().isoformat()
    weeks = {"previous": _week_of(start - timedelta(days=7)), "next": _week_of(start + timedelta(days=7))}
    return _TEMPLATES.get_template("weekly.html").render(
        r=report, figures=FIGURES, labels=WEEKLY_LABELS if lang == "zh" else WEEKLY_LABELS_EN, week_end=end,
        t=WEEKLY_TEXT[lang], lang=lang, scope_code=report["scope"]["code"], bar=bar, standing=standing,
        lists=case_lists(report, lang) if standing else None, now_figures=NOW_FIGURES,
        links={"xlsx": f"/reports/weekly?{query}&format=xlsx", "pdf": f"/reports/weekly?{query}&format=pdf",
               "switch": f"?{query}&lang={'en' if lang == 'zh' else 'zh'}",
               **{k: f"?week={w}{scope}&lang={lang}" for k, w in weeks.items()}})
