"""`gisgrid import staff`: staff and their grid assignments from Excel and GBK CSV lists; one
lead per grid; unknown roles and grids refused with their rows; --update by phone; dry run and
strict store nothing; the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import drop_database, fresh_database
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from gisgrid.core.phones import phone_key
from gisgrid.imports.service import ImportOptions, import_file

from builders import Territory, metres_box

SD = "110101090"
L1, WEST, EAST = SD + "001", SD + "001001", SD + "001002"


def territory(db) -> Territory:
    """One L1 zone, two L2 grids: the west one without a lead, the east one led by 组长001002."""
    t = Territory(db, SD, metres_box(0, 0, 1000, 1000))
    t.grid("001", metres_box(0, 0, 1000, 1000), lead=False)
    t.grid("001001", metres_box(0, 0, 500, 1000), lead=False)
    t.grid("001002", metres_box(500, 0, 1000, 1000))
    return t


def row(name, phone, role, grid, **extra) -> dict:
    return {"姓名": name, "电话": phone, "角色": role, "网格编码": grid, **extra}


LIST = [
    row("张三", "138 0013 8000", "网格长", WEST, 性别="女", 职务="居委会委员", 党员="是"),   # row 2
    row("张三", "+86 138-0013-8000", "网格员", L1),                                        # row 3: the same person
    row("李四", "13900139000", "民警", WEST),                                              # row 4
    row("王五", "13700137000", "兼职", WEST),                                              # row 5
    row("赵六", "13600136000", "网格长", WEST),                                            # row 6: a second lead
    row("钱七", "13500135000", "厨师", WEST),                                              # row 7: no such role
    row("孙八", "13400134000", "网格员", SD + "001009"),                                   # row 8: no such grid
    row("周九", "13300133000", "网格长", EAST),                                            # row 9: EAST has a lead
    row("张四", "8613800138000", "协管员", EAST),                                          # row 10: 张三's phone
]


def excel(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_excel(path, index=False, sheet_name="网格队伍")
    return path


def gbk_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    return path


def by_row(report) -> dict[int, tuple[str, str, str]]:
    return {r.row: (r.code, r.field, r.reason) for r in report.refused}


def team(db, code: str) -> set[tuple[str, str]]:
    return set(db.execute(text("""SELECT s.name, a.role::text FROM grid_assignments a JOIN staff s ON s.id = a.staff_id
                                  JOIN grids g ON g.id = a.grid_id WHERE g.code = :c"""), {"c": code}).all())


def counts(db) -> tuple[int, int, int]:
    return db.execute(text("SELECT (SELECT count(*) FROM staff), (SELECT count(*) FROM grid_assignments), "
                           "(SELECT count(*) FROM audit_log WHERE action = 'import')")).one()


def test_phones_are_one_key_however_written():
    assert {phone_key(p) for p in ("138 0013 8000", "+86 138-0013-8000", "0086 13800138000", "8613800138000",
                                   "１３８００１３８０００")} == {"13800138000"}
    assert phone_key("028-8512 3456") == "02885123456"


def test_an_excel_staff_list_makes_staff_and_assignments_and_refuses_with_rows(db, tmp_path):
    territory(db)
    report = import_file(db, "staff", excel(tmp_path / "队伍.xlsx", LIST))
    assert (report.added, report.loaded, report.refused_rows) == (4, 4, 5)
    refused = by_row(report)
    assert sorted(refused) == [6, 7, 8, 9, 10]
    assert refused[6][0] == "one_lead" and "row 2 (张三)" in refused[6][2]
    assert refused[7][:2] == ("bad_value", "角色") and "网格长/grid_lead" in refused[7][2] \
        and "community_police" in refused[7][2]
    assert refused[8] == ("unknown_grid", "网格编码", f"没有编码为 {SD}001009 的在用网格 / no active grid with code "
                          f"{SD}001009")
    assert refused[9][0] == "one_lead" and "组长001002" in refused[9][2] and "--update" in refused[9][2]
    assert refused[10][:2] == ("name_mismatch", "姓名") and "row 2" in refused[10][2]
    assert team(db, WEST) == {("张三", "grid_lead"), ("李四", "community_police"), ("王五", "part_time_worker")}
    assert team(db, L1) == {("张三", "full_time_worker")}
    assert team(db, EAST) == {("组长001002", "grid_lead")}
    zhang = db.execute(text("SELECT phone, sex::text, title, party_member FROM staff WHERE name = '张三'")).all()
    assert zhang == [("13800138000", "F", "居委会委员", True)]  # one person on two grids
    entry = db.execute(text("SELECT actor, object_type, detail FROM audit_log WHERE action = 'import' "
                            "ORDER BY id DESC LIMIT 1")).one()
    assert entry.object_type == "staff" and entry.detail["added"] == 4 and len(entry.detail["new_staff"]) == 3


def test_without_update_a_second_import_only_adds(db, tmp_path):
    territory(db)
    import_file(db, "staff", excel(tmp_path / "a.xlsx", LIST[:4]))
    again = import_file(db, "staff", excel(tmp_path / "b.xlsx", [
        LIST[2], row("张三丰", "13800138000", "志愿者", EAST), row("吴十", "13200132000", "保洁", EAST)]))
    refused = by_row(again)
    assert refused[2][0] == "duplicate" and "already has this role" in refused[2][2]
    assert refused[3][0] == "name_mismatch" and "belongs to 张三" in refused[3][2]
    assert again.added == 1 and team(db, EAST) == {("组长001002", "grid_lead"), ("吴十", "cleaner")}


def test_update_from_a_gbk_csv_renames_by_phone_and_replaces_a_lead(db, tmp_path):
    territory(db)
    import_file(db, "staff", excel(tmp_path / "first.xlsx", LIST[:4]))
    old_lead = db.execute(text("SELECT id FROM staff WHERE name = '组长001002'")).scalar_one()
    path = gbk_csv(tmp_path / "队伍.csv", [
        row("张三丰", "13800138000", "网格长", WEST, 职务="社区主任"),   # renamed, new title: changed
        row("张三丰", "13800138000", "网格员", L1),                    # the same person, changed
        row("李四", "13900139000", "社区民警", WEST),                   # as stored: unchanged
        row("周九", "13300133000", "网格长", EAST),                     # replaces 组长001002
        row("吴十", "13200132000", "楼长", EAST),                       # new
    ])
    dry = import_file(db, "staff", path, ImportOptions(update=True, dry_run=True))
    assert dry.ok and not dry.written and team(db, EAST) == {("组长001002", "grid_lead")}
    report = import_file(db, "staff", path, ImportOptions(update=True))
    assert report.ok, report.refused
    assert (report.added, report.changed, report.unchanged, report.loaded) == (2, 2, 1, 4)
    assert any("lead 组长001002 replaced by 周九" in w for w in report.warnings)
    assert db.execute(text("SELECT name, title, sex::text, party_member FROM staff WHERE phone = '13800138000'")).one() \
        == ("张三丰", "社区主任", "F", True)  # empty cells and absent columns change nothing
    assert team(db, EAST) == {("周九", "grid_lead"), ("吴十", "building_head")}
    assert db.execute(text("SELECT name FROM staff WHERE id = :i"), {"i": old_lead}).scalar_one() == "组长001002"
    assert team(db, WEST) == {("张三丰", "grid_lead"), ("李四", "community_police"), ("王五", "part_time_worker")}
    detail = db.execute(text("SELECT detail FROM audit_log WHERE action = 'import' ORDER BY id DESC LIMIT 1")).scalar()
    assert detail["leads_replaced"] == [{"grid": EAST, "staff_id": old_lead}] and detail["changed"] == 2


@pytest.mark.parametrize("how", [{"dry_run": True}, {"strict": True}])
def test_dry_run_and_strict_store_nothing(db, tmp_path, how):
    territory(db)
    before = counts(db)
    report = import_file(db, "staff", excel(tmp_path / "队伍.xlsx", LIST), ImportOptions(**how))
    assert report.refused_rows == 5 and not report.written and report.loaded == 0
    assert counts(db) == before


def test_rows_must_lie_in_the_named_subdistrict(db, tmp_path):
    territory(db)
    Territory(db, "110101091", metres_box(2000, 0, 3000, 1000)).grid("001", metres_box(2000, 0, 3000, 1000),
                                                                   lead=False)
    report = import_file(db, "staff", excel(tmp_path / "x.xlsx", [row("李四", "13900139000", "民警", "110101091001"),
                                                                  row("王五", "13700137000", "民警", WEST)]),
                         ImportOptions(subdistrict=SD))
    assert by_row(report)[2][0] == "outside_subdistrict" and report.added == 1


@pytest.fixture
def scratch_url(engine):
    url = engine.url.render_as_string(hide_password=False)
    yield fresh_database(url, "gisgrid_staff_cli_test")
    drop_database(url, "gisgrid_staff_cli_test")


def test_cli_imports_a_staff_list(scratch_url, tmp_path):
    scratch = create_engine(scratch_url)
    try:
        with Session(scratch) as session, session.begin():
            territory(session)
        path = excel(tmp_path / "队伍.xlsx", LIST)
        env = {**os.environ, "GISGRID_DATABASE_URL": scratch_url}
        done = subprocess.run([str(Path(sys.executable).parent / "gisgrid"), "import", "staff", str(path)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 1, done.stderr  # some rows refused, the others loaded
        assert "一格一长 / one_lead" in done.stdout and "网格不存在 / unknown_grid" in done.stdout
        assert "Traceback" not in done.stdout + done.stderr
        with scratch.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM grid_assignments")).scalar() == 5  # 4 + the builder's lead
    finally:
        scratch.dispose()
