"""Tables as files, shared by the reports and the person exports: CSV that Excel opens as UTF-8
and never runs as formulas, Excel workbooks whose text stays text, and the download answer."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
HEADER = Font(bold=True)
FILL = PatternFill("solid", fgColor="F5E6E4")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Sheet = tuple[str, Sequence[str], Sequence[Sequence]]  # title, headers, rows


def inert(value):
    """A text cell a spreadsheet would read as a formula (=, +, -, @) is quoted with a leading '."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([inert(h) for h in headers])
    writer.writerows([[inert(v) for v in row] for row in rows])
    return ("\ufeff" + buffer.getvalue()).encode()  # the BOM makes Excel read the Chinese headers as UTF-8


def _sheet(book: Workbook, title: str, headers: Sequence[str], rows: Sequence[Sequence]) -> None:
    sheet = book.create_sheet(title)
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font, cell.fill = HEADER, FILL
    for row in rows:
        sheet.append(list(row))
    for line in sheet.iter_rows():
        for cell in line:
            if cell.data_type == "f":  # openpyxl takes a text starting with = for a formula: keep it text
                cell.data_type = "s"
    for index, header in enumerate(headers, 1):
        width = max([len(str(header)) * 2] + [len(str(r[index - 1])) + 2 for r in rows if r[index - 1] is not None])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width, 8), 40)
    sheet.freeze_panes = "A2"


def xlsx_bytes(sheets: Iterable[Sheet]) -> bytes:
    """A workbook of the given sheets, headers bold on a tint, the first row frozen."""
    book = Workbook()
    del book["Sheet"]
    for title, headers, rows in sheets:
        _sheet(book, title, headers, rows)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def download(content: bytes, media_type: str, name: str) -> Response:
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})
