"""Files as sub-district offices make them: an Excel 台帐 with a merged title, a date line and
blank rows above the header, merged cells, a 合计 row, formulas with and without their computed
values, ID numbers Excel stored as numbers, and a GBK CSV with a title line."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from shapely import Point
from sqlalchemy import text

from gisgrid.core.errors import InvalidInput
from gisgrid.imports.fields import Kind, header_names
from gisgrid.imports.reading import read_table
from gisgrid.imports.service import ImportOptions, import_file

from builders import Territory, lonlat, metres_box

SD = "110101095"
HEADER = ["序号", "楼栋地址", "单元", "楼层", "房号", "居住状态", "人数", "备注"]


@pytest.fixture
def place(db):
    """A sub-district with one grid and two six-storey buildings."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 1000, 1000))
    return t, t.building(100, 100, households=24), t.building(300, 100, households=24)


def ledger(path: Path, rows: list[list], *, sheet: str = "住户") -> Path:
    """A 台帐 as a community keeps it: the title merged over A1:H1, a date line, a blank row, the
    header on row 4 and the data from row 5."""
    book = Workbook()
    ws = book.active
    ws.title = sheet
    ws["A1"] = "幸福社区住户信息台帐"
    ws.merge_cells("A1:H1")
    ws["A2"] = "填报单位：幸福社区居委会"
    ws["E2"] = "填报日期：2026年11月"
    ws.append([])
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def with_computed_values(path: Path, value: str) -> Path:
    """What Excel does on saving: each formula's result written beside it (openpyxl writes none)."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/worksheets/sheet1.xml"] = re.sub(rb"(<f>[^<]*</f>)<v ?/>", rb"\1<v>" + value.encode() + rb"</v>",
                                               parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


def test_an_excel_ledger_with_its_header_on_row_4_keeps_excels_row_numbers(db, place, tmp_path):
    _, first, second = place
    book_path = ledger(tmp_path / "台帐.xlsx", [
        [1, first.address, 1, 2, "201", "自住", 3, None],
        [2, None, 1, 2, "202", "出租", 2, None],
        [3, None, 1, "二楼", "203", "自住", 1, "楼层写错"],
        [],
        [4, second.address, 1, 3, "0301", "空置", 0, None],
        ["合计", None, None, None, None, None, 6, None],
        [None, "   ", None],
    ])
    from openpyxl import load_workbook

    book = load_workbook(book_path)
    book.active.merge_cells("B5:B7")  # the building's address merged down the rows of its flats
    book.save(book_path)

    report = import_file(db, "households", book_path)
    assert report.rows == 4 and report.loaded == 3
    assert [(r.row, r.field) for r in report.refused] == [(7, "楼层")]  # the row Excel shows
    assert "header is row 4, data from row 5" in report.row_numbering
    assert any("header found on row 4" in w for w in report.warnings)
    assert any("totals rows" in w and "row 10" in w for w in report.warnings)
    assert any("merged cells" in w and "B5:B7" in w for w in report.warnings)
    flats = db.execute(text("SELECT building_id, floor, room, occupancy::text, member_count FROM households "
                            "WHERE id = ANY(:ids) ORDER BY room"), {"ids": report.ids}).all()
    assert flats == [(second.id, 3, "0301", "vacant", 0), (first.id, 2, "201", "owner", 3),
                     (first.id, 2, "202", "rented", 2)]


def test_a_formula_without_a_computed_value_refuses_the_file_naming_its_cells(db, place, tmp_path):
    _, first, _ = place
    path = ledger(tmp_path / "公式.xlsx", [[1, first.address, 1, 2, "201", "自住", "=1+2", None],
                                          [2, first.address, 1, 2, "202", "自住", "=1+2", None]])
    with pytest.raises(InvalidInput, match=r"住户!G5, 住户!G6 是公式且没有计算结果.*paste the cells as values"):
        import_file(db, "households", path)
    assert db.execute(text("SELECT count(*) FROM households WHERE building_id = :b AND room IN ('201', '202')"),
                      {"b": first.id}).scalar_one() == 0


def test_a_formula_saved_by_excel_is_read_as_its_value_and_said_so(db, place, tmp_path):
    _, first, _ = place
    path = with_computed_values(ledger(tmp_path / "公式.xlsx", [
        [1, first.address, 1, 2, "201", "自住", "=1+2", None]]), "3")
    report = import_file(db, "households", path)
    assert report.loaded == 1
    assert any("formula cell(s) read as their computed values: 住户!G5" in w for w in report.warnings)
    assert db.execute(text("SELECT member_count FROM households WHERE id = :id"),
                      {"id": report.ids[0]}).scalar_one() == 3


def test_a_formula_above_the_header_does_not_matter(db, place, tmp_path):
    _, first, _ = place
    path = ledger(tmp_path / "日期.xlsx", [[1, first.address, 1, 2, "201", "自住", 3, None]])
    from openpyxl import load_workbook

    book = load_workbook(path)
    book.active["H2"] = "=TODAY()"  # the date line of the title block, never computed
    book.save(path)
    assert import_file(db, "households", path).loaded == 1


def test_id_numbers_stored_as_numbers_are_refused_with_the_column_and_cells(tmp_path):
    names = header_names(Kind.RESIDENTS, {})
    book = Workbook()
    ws = book.active
    ws.append(["居民信息台帐"])
    ws.append(["姓名", "性别", "公民身份号码", "联系电话"])
    ws.append(["张三", "男", 1.1010119900307e17, 13912345678])
    ws.append(["李四", "女", "110101199003074527", 13812345678])
    book.save(tmp_path / "居民.xlsx")
    with pytest.raises(InvalidInput, match=r"“公民身份号码”列以数字保存.*Sheet!C3.*format the column as text"):
        read_table(tmp_path / "居民.xlsx", header_names=names)

    ws["C3"] = "110101199003071234"  # typed as text: every digit kept, and an 11-digit phone is fine
    book.save(tmp_path / "居民.xlsx")
    table = read_table(tmp_path / "居民.xlsx", header_names=names)
    assert table.header_row == 2 and list(table.row_numbers) == [3, 4]
    assert table.cells["公民身份号码"] == ["110101199003071234", "110101199003074527"]
    assert table.cells["联系电话"] == ["13912345678", "13812345678"]

    (tmp_path / "居民.csv").write_text("姓名,公民身份号码\n张三,1.10101E+17\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="lost the digits beyond the 15th"):
        read_table(tmp_path / "居民.csv", header_names=names)


def test_a_gbk_csv_with_a_title_line_and_numbers_written_as_floats(db, place, tmp_path):
    def ll(x, y):
        p = lonlat(Point(x, y))
        return f"{p.x:.7f},{p.y:.7f}"

    lines = ["幸福社区楼栋台帐", "", "地址,层数,每层户数,经度,纬度",
             f"幸福路1号,6.0,4.0,{ll(500, 500)}", f"幸福路2号,十八,2.0,{ll(600, 500)}", f"幸福路3号,3.0,2.0,{ll(700, 500)}"]
    path = tmp_path / "楼栋.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    report = import_file(db, "buildings", path, ImportOptions(crs="WGS84"))
    assert report.loaded == 2 and [(r.row, r.field) for r in report.refused] == [(5, "层数")]
    assert any("header found on row 3" in w for w in report.warnings)
    assert any("'每层户数' held whole numbers written as 301.0" in w for w in report.warnings)
    assert db.execute(text("SELECT floors, flats_per_floor FROM buildings WHERE address = '幸福路1号'")).one() == (6, 4)


def test_a_sheet_without_a_recognisable_header_lists_what_was_expected(tmp_path):
    book = Workbook()
    book.active.append(["幸福社区住户信息台帐"])
    book.active.append([])
    book.active.append(["甲", "乙", "丙"])
    book.save(tmp_path / "x.xlsx")
    with pytest.raises(InvalidInput, match=r"no header row in the first 15 rows of x.xlsx: expected columns such "
                                           r"as 楼栋地址、楼栋编号、单元、楼层、房号"):
        read_table(tmp_path / "x.xlsx", header_names=header_names(Kind.HOUSEHOLDS, {}))
