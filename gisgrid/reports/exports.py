"""The reports as files: Excel with Chinese headers, CSV, and the printable page as PDF
(printed by the same headless Chromium the page tests use, so the PDF is the page)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

from jinja2 import Environment, PackageLoader, select_autoescape

from gisgrid.core.errors import SetupError
from gisgrid.core.tables import csv_bytes, xlsx_bytes
from gisgrid.reports.assessment import LABELS as ASSESSMENT_LABELS
from gisgrid.reports.weekly import FIGURES
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


def weekly_html(report: dict) -> str:
    """The printable weekly report (one A4 page for a grid or community, a few for a city)."""
    query = f"week={report['week']}" + (f"&scope={report['scope']['code']}" if report["scope"]["code"] else "")
    end = (datetime.fromisoformat(report["to"]) - timedelta(days=1)).date().isoformat()
    return _TEMPLATES.get_template("weekly.html").render(
        r=report, figures=FIGURES, labels=WEEKLY_LABELS, week_end=end,
        links={"xlsx": f"/reports/weekly?{query}&format=xlsx", "pdf": f"/reports/weekly?{query}&format=pdf"})
