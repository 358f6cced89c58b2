"""Excel templates for every import kind (``gisgrid template``, ``GET /templates/{kind}``) and the
HTTP twin of the import (``POST /imports/{kind}``): a template the importer reads as it is, one
filled in and imported through the real CLI into a fresh database, and uploads by role."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import drop_database, fresh_database
from openpyxl import load_workbook
from shapely import Point
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gisgrid.auth.service import create_account
from gisgrid.core.enums import Role
from gisgrid.imports.fields import FIELDS, LOCATED, BadValue, Kind, header_names
from gisgrid.imports.reading import read_table
from gisgrid.imports.service import resolve_columns
from gisgrid.imports.templates import TEXT_COLUMNS, template_bytes

from builders import Territory, lonlat, metres_box

SD = "110101096"
PASSWORD = "Import-Checks-2026!q"


def gisgrid(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GISGRID_DATABASE_URL": url}
    return subprocess.run([str(Path(sys.executable).parent / "gisgrid"), *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=cwd)


def check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_a_template_the_importer_reads_as_it_is(kind, tmp_path):
    path = tmp_path / f"{kind.value}.xlsx"
    path.write_bytes(template_bytes(kind))
    book = load_workbook(path)
    data, notes = book.worksheets
    assert notes.title == "说明 columns" and data.freeze_panes == "A2"
    headers = [c.value for c in data[1]]
    assert all(c.font.bold for c in data[1])

    table = read_table(path, header_names=header_names(kind, {}))
    warnings: list[str] = []
    chosen = resolve_columns(table, kind, {}, warnings)
    assert set(chosen.values()) == set(headers)  # every column is one the importer resolves …
    assert {f.name for f in FIELDS[kind]} <= set(chosen)  # … and every field has its column
    assert not any("not imported" in w for w in warnings)
    assert kind not in LOCATED or {"lon", "lat"} <= set(chosen)

    for f in FIELDS[kind]:  # the example row is a valid row
        value = table.cells[chosen[f.name]][0]
        if value is not None:
            try:
                f.parse(value)
            except BadValue as exc:
                pytest.fail(f"{kind.value}.{f.name} example {value!r}: {exc.reason}")
        column = headers.index(chosen[f.name]) + 1
        if f.name in TEXT_COLUMNS:
            assert data.cell(row=2, column=column).number_format == "@"
            assert data.column_dimensions[data.cell(row=1, column=column).column_letter].number_format == "@"

    described = {row[0].value: [c.value for c in row] for row in notes.iter_rows(min_row=4) if row[1].value}
    assert set(described) == set(headers)
    for f in FIELDS[kind]:
        name, field, required, allowed, rule, _example = described[f.label_zh]
        assert field == f.name and required.startswith("必填" if f.required else "选填")
        assert rule
        for member in getattr(f.parse, "choices", ()):
            assert member.label_zh in allowed
    text_notes = " ".join(str(row[0].value) for row in notes.iter_rows() if row[0].value)
    assert ("--crs" in text_notes and "GCJ-02" in text_notes) == (kind in LOCATED)


def test_the_residents_example_has_a_valid_id_number_and_mobile(tmp_path):
    path = tmp_path / "r.xlsx"
    path.write_bytes(template_bytes(Kind.RESIDENTS))
    table = read_table(path, header_names=header_names(Kind.RESIDENTS, {}))
    id_number, phone = table.cells["公民身份号码"][0], table.cells["联系电话"][0]
    assert len(id_number) == 18 and id_number[17] == check_digit(id_number[:17])
    assert int(id_number[16]) % 2 == (1 if table.cells["性别"][0] == "男" else 0)
    assert id_number[6:10] == table.cells["出生年份"][0]
    assert re.fullmatch(r"1[3-9]\d{9}", phone)
    allowed = dict((row[0].value, row[3].value) for row in load_workbook(path)["说明 columns"].iter_rows(min_row=4))
    assert "户籍人口" in allowed["户籍类型"] and "流动人口" in allowed["户籍类型"]
    staff = load_workbook(io.BytesIO(template_bytes(Kind.STAFF)))["说明 columns"]
    assert any(row[0].value == "角色" and "网格长" in row[3].value and "楼栋长" in row[3].value
               for row in staff.iter_rows(min_row=4))


@pytest.fixture
def blank_url(engine):
    url = engine.url.render_as_string(hide_password=False)
    yield fresh_database(url, "gisgrid_template_cli_test")
    drop_database(url, "gisgrid_template_cli_test")


def test_a_filled_buildings_template_imports_through_the_cli(blank_url, tmp_path):
    scratch = create_engine(blank_url)
    try:
        with Session(scratch) as session, session.begin():
            Territory(session, SD, metres_box(0, 0, 1000, 1000)).grid("001", metres_box(0, 0, 1000, 1000))
        made = gisgrid(blank_url, "template", "buildings", cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        path = tmp_path / "template-buildings.xlsx"
        again = gisgrid(blank_url, "template", "buildings", cwd=tmp_path)
        assert again.returncode == 2 and "not overwritten" in again.stderr

        book = load_workbook(path)
        sheet = book.worksheets[0]
        headers = [c.value for c in sheet[1]]
        rows = [{"地址": "模板路1号", "名称": "1号楼", "层数": 6, "单元数": 2, "每层户数": 2, "用途": "住宅"},
                {"地址": "模板路2号", "层数": 18, "用途": "商住"},
                {"地址": "模板路3号", "层数": "很高"}]
        for r, (row, x) in enumerate(zip(rows, (100, 300, 500), strict=True), start=2):
            point = lonlat(Point(x, 500))
            values = {**row, "经度": point.x, "纬度": point.y}
            for c, header in enumerate(headers, start=1):
                sheet.cell(row=r, column=c, value=values.get(header))
        book.save(path)
        done = gisgrid(blank_url, "import", "buildings", str(path), "--crs", "WGS84")
        assert done.returncode == 1, done.stderr  # one row refused, the others loaded
        assert re.search(r"\n\s+4\s+层数\s+层数", done.stdout), done.stdout
        with scratch.connect() as conn:
            loaded = conn.execute(text("SELECT address, floors, use::text FROM buildings ORDER BY address")).all()
        assert loaded == [("模板路1号", 6, "residential"), ("模板路2号", 18, "mixed")]
    finally:
        scratch.dispose()


# --- HTTP ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def accounts(scratch_engine, scratch_server):
    """A territory of this module's own in the scratch database, a viewer and an administrator
    bound to it; their bearer headers."""
    with Session(scratch_engine) as session, session.begin():
        Territory(session, SD, metres_box(5000, 0, 6000, 1000)).grid("001", metres_box(5000, 0, 6000, 1000))
        for name, role in (("import-viewer", Role.VIEWER), ("import-admin", Role.ADMIN)):
            create_account(session, username=name, display_name=name, role=role, password=PASSWORD, subdistrict=SD)
    headers = {}
    for name in ("import-viewer", "import-admin"):
        answer = httpx.post(f"{scratch_server}/auth/sign-in", json={"username": name, "password": PASSWORD}, timeout=30)
        headers[name] = {"Authorization": f"Bearer {answer.json()['token']}"}
    return headers


def csv_file(rows: list[tuple[str, object, float]]) -> bytes:
    lines = ["幸福社区楼栋台帐", "地址,层数,经度,纬度"]
    for address, floors, x in rows:
        point = lonlat(Point(x, 500))
        lines.append(f"{address},{floors},{point.x:.7f},{point.y:.7f}")
    return "\n".join(lines).encode("gbk")


def test_an_administrator_uploads_a_file_and_gets_the_report(scratch_http, scratch_engine, accounts):
    body = csv_file([("上传路1号", 6, 5100), ("上传路2号", "六", 5200), ("上传路3号", 3, 5300)])
    answer = scratch_http.post("/imports/buildings", files={"file": ("楼栋.csv", body, "text/csv")},
                               data={"crs": "WGS84", "map": ["floors=层数"]})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["file"] == "楼栋.csv" and report["loaded"] == 2 and report["written"]
    assert [(r["row"], r["field"]) for r in report["refused"]] == [(4, "层数")]  # header on row 2
    assert "header is row 2" in report["row_numbering"]

    dry = scratch_http.post("/imports/buildings", files={"file": ("b.csv", csv_file([("上传路9号", 3, 5400)]))},
                            data={"crs": "WGS84", "dry_run": "true"})
    assert dry.status_code == 200 and dry.json()["dry_run"] and not dry.json()["written"]
    with scratch_engine.connect() as conn:
        assert conn.execute(text("SELECT address FROM buildings WHERE address LIKE '上传路%' ORDER BY 1")).scalars() \
            .all() == ["上传路1号", "上传路3号"]


def test_an_administrator_of_one_subdistrict_imports_into_it_only(scratch_http, accounts):
    admin = accounts["import-admin"]
    outside = csv_file([("界外路1号", 3, -5000)])
    answer = scratch_http.post("/imports/buildings", headers=admin, files={"file": ("b.csv", outside)},
                               data={"crs": "WGS84"})
    assert answer.status_code == 200
    assert [r["code"] for r in answer.json()["refused"]] == ["outside_subdistrict"]
    assert SD in answer.json()["refused"][0]["reason"]
    other = scratch_http.post("/imports/buildings", headers=admin, files={"file": ("b.csv", outside)},
                              data={"crs": "WGS84", "subdistrict": "110101097"})
    assert other.status_code == 404


def test_uploads_refused_by_role_type_and_size(scratch_http, accounts):
    viewer = accounts["import-viewer"]
    body = csv_file([("拒绝路1号", 3, 5100)])
    assert scratch_http.post("/imports/buildings", headers=viewer, files={"file": ("b.csv", body)},
                             data={"crs": "WGS84"}).status_code == 403
    assert httpx.post(f"{scratch_http.base_url}/imports/buildings", files={"file": ("b.csv", body)}).status_code == 401
    exe = scratch_http.post("/imports/buildings", files={"file": ("setup.exe", b"MZ\x90\x00")})
    assert exe.status_code == 422 and "unsupported file type '.exe'" in exe.json()["message"]
    empty = scratch_http.post("/imports/buildings", files={"file": ("b.xlsx", b"")})
    assert empty.status_code == 422 and "the uploaded file is empty" in empty.json()["message"]
    broken = scratch_http.post("/imports/buildings", files={"file": ("b.xlsx", b"PK\x03\x04 not a workbook")})
    assert broken.status_code == 422 and "cannot read the workbook" in broken.json()["message"]
    assert scratch_http.post("/imports/trees", files={"file": ("b.csv", body)}).status_code == 422


def test_templates_over_http_for_those_who_keep_the_ledgers(scratch_http, accounts):
    answer = scratch_http.get("/templates/residents")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="template-residents.xlsx"'
    assert load_workbook(io.BytesIO(answer.content)).sheetnames == ["居民", "说明 columns"]
    assert scratch_http.get("/templates/buildings", headers=accounts["import-viewer"]).status_code == 403
    assert scratch_http.get("/templates/trees").status_code == 422
