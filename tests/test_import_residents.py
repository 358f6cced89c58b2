"""`gisgrid import residents`: a 台帐 in Excel or GBK CSV into households, ID numbers and phones
checked and sealed, each refusal with its row, --update by natural key with moves reported,
dry-run and strict storing nothing, and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import drop_database, fresh_database
from shapely import Point
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gisgrid.core.secrets import keyring
from gisgrid.imports.report import format_report
from gisgrid.imports.service import ImportOptions, import_file
from gisgrid.registry.idnumbers import check_character

from builders import Territory, lonlat, metres_box

SD = "110101092"
HEADERS = ["姓名", "性别", "公民身份号码", "联系电话", "地址", "与户主关系", "户籍类型", "党员", "重点人群"]


def id_number(region: str, birth: str, sequence: int) -> str:
    body = f"{region}{birth}{sequence:03d}"
    return body + check_character(body)


ZHANG = id_number("110101", "19650312", 13)   # male (13 is odd)
LI = id_number("110101", "19680720", 24)      # female
XIAO = id_number("110101", "20100105", 35)    # male
WANG = id_number("110102", "19500101", 42)    # female


def buildings(db, tmp_path: Path) -> None:
    """A sub-district with one grid and two buildings, loaded by the buildings import."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 1000, 1000))
    rows = []
    for i, address in enumerate(("幸福路12号", "幸福路14号")):
        p = lonlat(Point(100 + 200 * i, 100))
        rows.append({"地址": address, "层数": 6, "单元数": 2, "每层户数": 2, "lon": p.x, "lat": p.y})
    path = tmp_path / "楼栋.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert import_file(db, "buildings", path, ImportOptions(crs="WGS84")).loaded == 2


def xlsx(path: Path, rows: list[list], headers: list[str] = HEADERS) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "居民台帐"
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


FAMILY = [
    ["张建国", "男", ZHANG, "138 1234 5678", "幸福路12号2单元3层301室", "户主", "户籍", "是", "4050"],
    ["李秀英", "", LI, "+86 139-8765-4321", "幸福路12号2-3-301", "配偶", "本地", "否", ""],
    ["张小明", None, XIAO, None, "幸福路12号2单元3层301室", "子女", "户籍", "否", "留守儿童"],
    ["王桂兰", "女", WANG, "010-65123456", "幸福路14号1单元1层101", "户主", "外来", "否", "残疾、空巢"],
]


def refusals(report) -> dict[int, list[tuple[str, str, str | None]]]:
    out: dict[int, list] = {}
    for r in report.refused:
        out.setdefault(r.row, []).append((r.code, r.reason, r.field))
    return out


def resident(db, number: str):
    return db.execute(text("""
        SELECT r.name, r.sex, r.birth_year, r.relation, r.residence_type, r.party_member,
               b.address, h.entrance, h.floor, h.room, r.phone_masked,
               ARRAY(SELECT k.key_group FROM resident_key_groups k WHERE k.resident_id = r.id ORDER BY 1)
        FROM residents r JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id
        WHERE r.id_number_index = :i"""), {"i": keyring().blind_index(number)}).one()


def members(db, address: str, room: str) -> tuple[int, int]:
    return db.execute(text("""
        SELECT h.member_count, (SELECT count(*) FROM residents r WHERE r.household_id = h.id)
        FROM households h JOIN buildings b ON b.id = h.building_id WHERE b.address = :a AND h.room = :r"""),
        {"a": address, "r": room}).one()


def test_an_excel_ledger_creates_households_and_infers_sex_and_birth_year(db, tmp_path):
    buildings(db, tmp_path)
    report = import_file(db, "residents", xlsx(tmp_path / "台帐.xlsx", FAMILY))
    assert report.ok and report.added == 4 and report.households_added == 2, format_report(report)
    assert resident(db, ZHANG) == ("张建国", "M", 1965, "户主", "registered", True, "幸福路12号", 2, 3, "301",
                                   "138****5678", ["unemployed_4050"])
    assert resident(db, LI)[1:3] == ("F", 1968)            # sex cell empty: from the ID number
    assert resident(db, XIAO)[1:3] == ("M", 2010)
    assert resident(db, XIAO)[10] is None and resident(db, XIAO)[11] == ["left_behind_child"]
    assert resident(db, WANG)[4] == "floating" and resident(db, WANG)[10] == "010****3456"
    assert resident(db, WANG)[11] == ["disabled", "empty_nest_elderly"]
    assert members(db, "幸福路12号", "301") == (3, 3)
    assert members(db, "幸福路14号", "101") == (1, 1)
    assert report.membership == {"in_grid": 4, "in_no_grid": 0}
    audit = db.execute(text("SELECT actor, object_id, detail FROM audit_log WHERE action = 'import' "
                            "ORDER BY id DESC LIMIT 1")).one()
    assert audit[1] == "台帐.xlsx" and audit[2]["added"] == 4 and audit[2]["households_added"] == 2
    assert ZHANG not in json.dumps(audit[2]) and "13812345678" not in json.dumps(audit[2])


def test_id_numbers_and_phones_are_sealed_as_the_registry_stores_them(db, tmp_path):
    buildings(db, tmp_path)
    import_file(db, "residents", xlsx(tmp_path / "台帐.xlsx", FAMILY[:1]))
    enc, masked, phone_enc, phone_masked = db.execute(text(
        "SELECT id_number_enc, id_number_masked, phone_enc, phone_masked FROM residents WHERE id_number_index = :i"),
        {"i": keyring().blind_index(ZHANG)}).one()
    assert keyring().open(enc) == ZHANG and masked == "110101********" + ZHANG[-4:]
    assert keyring().open(phone_enc) == "13812345678" and phone_masked == "138****5678"
    plain = db.execute(text("""
        SELECT count(*) FROM residents r WHERE position(convert_to(:id, 'UTF8') IN r.id_number_enc) > 0
            OR r::text LIKE '%' || :id || '%' OR r::text LIKE '%13812345678%'"""), {"id": ZHANG}).scalar_one()
    assert plain == 0


def test_each_bad_row_is_refused_with_its_row_column_and_reason(db, tmp_path):
    buildings(db, tmp_path)
    wrong_check = ZHANG[:-1] + ("0" if ZHANG[-1] != "0" else "1")
    impossible = "110101" + "19900231" + "123"
    impossible += check_character(impossible)
    rows = [
        ["甲", "男", ZHANG, "13812345678", "幸福路12号1单元1层101", "户主", "户籍", "否", ""],         # 2: fine
        ["乙", "男", wrong_check, "", "幸福路12号1单元1层102", "户主", "户籍", "否", ""],              # 3
        ["丙", "男", impossible, "", "幸福路12号1单元1层102", "户主", "户籍", "否", ""],               # 4
        ["丁", "男", ZHANG, "", "幸福路12号1单元2层201", "户主", "户籍", "否", ""],                    # 5: dup of 2
        ["戊", "女", LI, "", "光明路1号1单元1层101", "户主", "户籍", "否", ""],                        # 6: no building
        ["己", "女", WANG, "", "幸福路14号1单元1层101", "户主", "户籍", "否", "孤寡"],                  # 7: unknown group
        ["庚", "男", XIAO, "1234-5", "幸福路14号1单元1层102", "子女", "户籍", "否", ""],               # 8: bad phone
        ["辛", "女", XIAO, "", "幸福路14号1单元1层102", "子女", "户籍", "否", ""],  # 9: sex
        ["壬", "男", id_number("110101", "19800101", 51), "", "幸福路12号", "户主", "户籍", "否", ""],  # 10: no flat
        ["癸", "男", id_number("110101", "19800101", 71), "", "幸福路12号1单元1层101", "户主", "境外", "党员", ""],
    ]
    report = import_file(db, "residents", xlsx(tmp_path / "bad.xlsx", rows))
    got = refusals(report)
    assert report.added == 2 and set(got) == {3, 4, 5, 6, 7, 8, 9, 10}, format_report(report)
    assert "wrong check digit" in got[3][0][1] and got[3][0][2] == "公民身份号码"
    assert "19900231 does not exist" in got[4][0][1]
    assert got[5][0][0] == "duplicate" and "same ID number as row 2" in got[5][0][1]
    assert got[6][0][0] == "unknown_building" and "光明路1号" in got[6][0][1] and "import the buildings first" in got[6][0][1]
    assert "孤寡" in got[7][0][1] and "残疾人" in got[7][0][1] and got[7][0][2] == "重点人群"
    assert "phone" in got[8][0][1] and got[8][0][2] == "联系电话"
    assert "sex 女 (F) disagrees with the ID number, which says 男 (M)" in got[9][0][1]
    assert "cannot split the address" in got[10][0][1]
    shown = format_report(report) + json.dumps([r.__dict__ for r in report.refused], ensure_ascii=False)
    for number in (ZHANG, wrong_check, impossible, XIAO, "1234-5"):
        assert number not in shown   # refusals never quote an ID number or a phone
    assert db.execute(text("SELECT count(*) FROM residents WHERE name IN ('乙', '丙', '丁', '戊', '己', '庚', '辛', '壬')"
                           )).scalar_one() == 0


def test_a_gbk_csv_with_flat_columns_and_a_15_digit_number(db, tmp_path):
    buildings(db, tmp_path)
    old = "110101" + "650312" + "013"  # 张建国's number before 1999
    frame = pd.DataFrame([
        {"姓名": "张建国", "身份证号": old, "手机": "13812345678", "楼栋地址": "幸福路 12 号", "单元": "2单元",
         "楼层": "3", "房号": "301室", "人员类型": "户籍人口", "是否党员": "否"},
        {"姓名": "赵六", "身份证号": "", "性别": "男", "出生年份": "1977", "楼栋地址": "幸福路14号", "单元": 1,
         "楼层": "", "房号": "502", "人员类型": "流动", "是否党员": "否"},
    ])
    path = tmp_path / "台帐.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    report = import_file(db, "residents", path)
    assert report.ok and report.added == 2, format_report(report)
    assert resident(db, ZHANG)[:3] == ("张建国", "M", 1965)  # stored under the converted 18-digit number
    assert any("15-digit" in w and "rows 2" in w for w in report.warnings)
    assert any("floor taken from the room" in w for w in report.warnings)
    assert db.execute(text("SELECT h.floor, r.id_number_enc IS NULL FROM residents r JOIN households h "
                           "ON h.id = r.household_id WHERE r.name = '赵六'")).one() == (5, True)


def test_someone_living_elsewhere_is_refused_saying_where(db, tmp_path):
    buildings(db, tmp_path)
    import_file(db, "residents", xlsx(tmp_path / "a.xlsx", FAMILY))
    moved = [["王桂兰", "女", WANG, "", "幸福路12号1单元1层102", "户主", "外来", "否", ""]]
    report = import_file(db, "residents", xlsx(tmp_path / "b.xlsx", moved))
    (code, reason, _), = refusals(report)[2]
    assert code == "living_elsewhere" and "幸福路14号 1单元1层101" in reason and "not moved" in reason
    assert "110102********" + WANG[-4:] in reason and WANG not in reason
    assert resident(db, WANG)[6:10] == ("幸福路14号", 1, 1, "101")
    again = import_file(db, "residents", xlsx(tmp_path / "c.xlsx", FAMILY[:1]))
    assert refusals(again)[2][0][0] == "duplicate" and "--update" in refusals(again)[2][0][1]


def test_update_changes_exactly_what_changed_and_reports_the_move(db, tmp_path):
    buildings(db, tmp_path)
    import_file(db, "residents", xlsx(tmp_path / "a.xlsx", FAMILY))
    before = dict(db.execute(text("SELECT id_number_index, phone_enc FROM residents r "
                                  "JOIN households h ON h.id = r.household_id")).all())
    sheet = [list(r) for r in FAMILY]
    for row in sheet[:3]:            # the family moves to 14号 1-2-201
        row[4] = "幸福路14号1单元2层201"
    sheet[3][3] = "13900001111"      # a phone changed
    sheet[3][8] = "残疾"             # and a key group ended
    sheet.append(["孙七", "男", id_number("110101", "19900101", 91), "", "幸福路14号1单元1层101", "子女", "外来",
                  "否", ""])         # a new resident
    report = import_file(db, "residents", xlsx(tmp_path / "b.xlsx", sheet), ImportOptions(update=True))
    assert report.ok, format_report(report)
    assert (report.added, report.changed, report.unchanged) == (1, 4, 0)
    assert [(m.row, m.from_flat, m.to_flat) for m in report.moves] == [
        (r, "幸福路12号 2单元3层301", "幸福路14号 1单元2层201") for r in (2, 3, 4)]
    assert "幸福路12号 2单元3层301 → 幸福路14号 1单元2层201" in format_report(report)
    assert resident(db, ZHANG)[6:10] == ("幸福路14号", 1, 2, "201")
    assert resident(db, WANG)[10:] == ("139****1111", ["disabled"])
    assert members(db, "幸福路12号", "301") == (0, 0) and members(db, "幸福路14号", "201") == (3, 3)
    assert members(db, "幸福路14号", "101") == (2, 2)
    after = dict(db.execute(text("SELECT id_number_index, phone_enc FROM residents")).all())
    index = keyring().blind_index
    assert after[index(ZHANG)] == before[index(ZHANG)]   # a moved person's phone is not resealed
    assert after[index(WANG)] != before[index(WANG)]
    assert any("left as they are" in w for w in report.warnings)

    same = import_file(db, "residents", xlsx(tmp_path / "b.xlsx", sheet), ImportOptions(update=True))
    assert (same.added, same.changed, same.unchanged, same.moves) == (0, 0, 5, [])


def test_update_matches_a_person_without_id_number_by_name_and_household(db, tmp_path):
    buildings(db, tmp_path)
    child = [["赵小", "女", "", "", "幸福路12号1单元1层101", "子女", "户籍", "否", ""]]
    child[0].insert(0, None)
    headers = ["序号", *HEADERS, "出生年份"]
    child[0].append(2015)
    assert import_file(db, "residents", xlsx(tmp_path / "a.xlsx", child, headers)).added == 1
    child[0][3] = id_number("110101", "20150601", 22)  # the ID number arrives later
    report = import_file(db, "residents", xlsx(tmp_path / "b.xlsx", child, headers), ImportOptions(update=True))
    assert (report.added, report.changed) == (0, 1), format_report(report)
    assert resident(db, child[0][3])[:3] == ("赵小", "F", 2015)


def test_dry_run_and_strict_store_nothing(db, tmp_path):
    buildings(db, tmp_path)
    rows = [*FAMILY, ["错", "男", ZHANG[:-1] + "Y", "", "幸福路12号1单元1层101", "户主", "户籍", "否", ""]]
    path = xlsx(tmp_path / "a.xlsx", rows)
    for flags in ({"dry_run": True}, {"strict": True}):
        report = import_file(db, "residents", path, ImportOptions(**flags))
        assert not report.written and report.accepted == 4 and report.refused_rows == 1
        assert db.execute(text("SELECT count(*) FROM residents r JOIN households h ON h.id = r.household_id "
                               "JOIN buildings b ON b.id = h.building_id WHERE b.subdistrict_code = :sd"),
                          {"sd": SD}).scalar_one() == 0
        assert db.execute(text("SELECT count(*) FROM households h JOIN buildings b ON b.id = h.building_id "
                               "WHERE b.subdistrict_code = :sd"), {"sd": SD}).scalar_one() == 0
    assert import_file(db, "residents", path).added == 4


# --- the command line ------------------------------------------------------------------------

@pytest.fixture
def scratch_url(engine):
    url = engine.url.render_as_string(hide_password=False)
    yield fresh_database(url, "gisgrid_residents_cli_test")
    drop_database(url, "gisgrid_residents_cli_test")


def _gisgrid(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GISGRID_DATABASE_URL": url}
    return subprocess.run([str(Path(sys.executable).parent / "gisgrid"), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_cli_imports_and_updates_a_ledger(scratch_url, tmp_path):
    scratch = create_engine(scratch_url)
    try:
        with Session(scratch) as session, session.begin():
            buildings(session, tmp_path)
        bad = [*FAMILY, ["错", "男", ZHANG[:-1] + "Y", "", "幸福路12号1单元1层101", "户主", "户籍", "否", ""]]
        path = xlsx(tmp_path / "台帐.xlsx", bad)
        strict = _gisgrid(scratch_url, "import", "residents", str(path), "--strict")
        assert strict.returncode == 1 and "nothing was written" in strict.stdout, strict.stderr
        done = _gisgrid(scratch_url, "import", "residents", str(path), "--report", str(tmp_path / "r.json"))
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        body = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        assert body["added"] == 4 and body["refused"][0]["row"] == 6 and body["households_added"] == 2
        moved = [list(r) for r in FAMILY]
        moved[3][4] = "幸福路12号1单元1层101"
        update = _gisgrid(scratch_url, "import", "residents", str(xlsx(tmp_path / "b.xlsx", moved)), "--update")
        assert update.returncode == 0, update.stdout + update.stderr
        assert "迁移 / moves" in update.stdout and "幸福路14号 1单元1层101 → 幸福路12号 1单元1层101" in update.stdout
        for plain in (ZHANG, LI, WANG, "13812345678"):
            assert plain not in update.stdout + done.stdout + done.stderr
        with scratch.connect() as conn:
            assert conn.execute(text("SELECT sum(member_count), count(*) FROM households")).one() == (4, 3)
            assert conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'import' "
                                     "AND actor LIKE '命令行%'")).scalar_one() == 2
    finally:
        scratch.dispose()
