"""The reports as files: Excel with Chinese headers, CSV, and the printable page as PDF
(printed by the same headless Chromium the page tests use, so the PDF is the page)."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime, timedelta

from jinja2 import Environment, PackageLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from gisgrid.core.errors import SetupError
from gisgrid.reports.assessment import LABELS as ASSESSMENT_LABELS
from gisgrid.reports.weekly import FIGURES
from gisgrid.reports.weekly import LABELS as WEEKLY_LABELS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = Font(bold=True)
FILL = PatternFill("solid", fgColor="F5E6E4")

ASSESSMENT_COLUMNS = {
    "grid": [("rank", "排名"), ("grid", "网格编码"), ("name", "网格名称"), ("lead", "网格长")],
    "worker": [("rank", "排名"), ("staff_id", "人员编号"), ("name", "姓名"), ("title", "岗位"), ("grids", "所在网格")],
}
ASSESSMENT_FIGURES = ("total", "performance", "skills", "satisfaction_score", "cases_handled", "on_time_registration",
                      "accurate_dispatch", "on_time_handling", "on_time_closure", "closure", "mean_handling_hours",
                      "median_close_hours", "reopen", "escalation", "satisfaction", "ratings", "training_score")


def _sheet(book: Workbook, title: str, headers: list[str], rows: list[list]) -> None:
    sheet = book.create_sheet(title)
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font, cell.fill = HEADER, FILL
    for row in rows:
        sheet.append(row)
    for index, header in enumerate(headers, 1):
        width = max([len(str(header)) * 2] + [len(str(r[index - 1])) + 2 for r in rows if r[index - 1] is not None])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width, 8), 40)
    sheet.freeze_panes = "A2"


def _bytes(book: Workbook) -> bytes:
    del book["Sheet"]
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def weekly_xlsx(report: dict) -> bytes:
    book = Workbook()
    figures = [WEEKLY_LABELS[f] for f in FIGURES]
    _sheet(book, "分类统计", ["类别编码", "类别", *figures],
           [[r["code"], r["name_zh"], *(r[f] for f in FIGURES)] for r in report["by_category"]]
           + [["", "合计", *(report["total"][f] for f in FIGURES)]])
    if report["units"]["items"]:
        _sheet(book, "下级单位", ["编码", "名称", *figures],
               [[u["code"], u["name"], *(u[f] for f in FIGURES)] for u in report["units"]["items"]])
    _sheet(book, "热点区域", ["序号", "本周件数", "前四周周均", "显著度", "所在网格"],
           [[i, h["cases"], h["previous_weekly_mean"], h["score"], h["grid"]]
            for i, h in enumerate(report["hotspots"], 1)])
    c = report["collection"]
    _sheet(book, "信息采集", ["入户走访", "信息核查", "走访户数", "参与网格员", "网格员上报事件"],
           [[c["visits"], c["info_checks"], c["households"], c["workers"], c["worker_reports"]]])
    s = report["scope"]
    _sheet(book, "说明", ["项目", "内容"], [["范围", f"{s['label']} {s['name']} {s['code'] or ''}"],
                                         ["周次", report["week"]], ["起", report["from"]], ["止（不含）", report["to"]],
                                         ["生成时间", report["generated_at"]]])
    return _bytes(book)


def _assessment_rows(report: dict) -> tuple[list[str], list[list]]:
    columns = ASSESSMENT_COLUMNS[report["by"]]
    headers = [label for _, label in columns] + [ASSESSMENT_LABELS[f] for f in ASSESSMENT_FIGURES]
    rows = [[item.get(key) for key, _ in columns] + [item[f] for f in ASSESSMENT_FIGURES] for item in report["items"]]
    return headers, rows


def assessment_xlsx(report: dict) -> bytes:
    book = Workbook()
    headers, rows = _assessment_rows(report)
    _sheet(book, "考核排名", headers, rows)
    weights = report["weights"]
    _sheet(book, "说明", ["项目", "内容"], [
        ["考核期", f"{report['from']} 至 {report['to']}"], ["对象", "网格" if report["by"] == "grid" else "网格员"],
        ["权重", f"工作实绩 {weights['performance']}，业务技能 {weights['skills']}，群众满意度 {weights['satisfaction']}"],
    ])
    return _bytes(book)


def _inert(value):
    """A text cell a spreadsheet would read as a formula (=, +, -, @) is quoted with a leading '."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def assessment_csv(report: dict) -> bytes:
    headers, rows = _assessment_rows(report)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows([[_inert(v) for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode()  # the BOM makes Excel read the Chinese headers as UTF-8


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
