"""The schema as the database enforces it: round trips, spatial indexes, types, SRIDs and rules."""

from __future__ import annotations

import pytest
from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape, to_shape
from shapely import MultiPolygon, Point, Polygon, box
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from gisgrid.audit.models import AuditEntry
from gisgrid.cases.models import Case, CaseEvent
from gisgrid.core.database import set_change_context
from gisgrid.core.enums import (
    BuildingUse,
    CaseStatus,
    Occupancy,
    ReporterKind,
    ResidenceType,
    Sex,
    StaffRole,
)
from gisgrid.core.secrets import keyring, mask_id_number, mask_phone
from gisgrid.grids.models import Grid, GridVersion
from gisgrid.organisations.models import Shop, StationedUnit
from gisgrid.registry.models import Building, Household, Resident, ResidentKeyGroup
from gisgrid.schema import metadata
from gisgrid.staff.models import GridAssignment, Staff
from gisgrid.territory.models import SubDistrict

SD = "110101099"  # a code the demo does not use
AREA = box(116.40, 39.90, 116.42, 39.92)


def ewkb(geom):
    return from_shape(geom, srid=4326)


@pytest.fixture
def territory(db):
    set_change_context(db, actor="test", reason="schema test", operation="create")
    db.add(SubDistrict(code=SD, name="测试街道", county="东城区", city="北京市",
                       boundary=ewkb(MultiPolygon([AREA]))))
    db.flush()
    l1 = Grid(subdistrict_code=SD, level=1, code=SD + "001", serial=1, name="测试社区",
              geom=ewkb(MultiPolygon([AREA])))
    db.add(l1)
    db.flush()
    l2 = Grid(subdistrict_code=SD, level=2, code=l1.code + "001", parent_code=l1.code, serial=1,
              name="第1网格", geom=ewkb(MultiPolygon([box(116.40, 39.90, 116.41, 39.91)])))
    db.add(l2)
    db.flush()
    return l1, l2


def test_every_table_round_trips(db, territory):
    l1, l2 = territory
    ring = keyring()
    building = Building(subdistrict_code=SD, compound="测试苑", name="3号楼", address="测试路1号测试苑3号楼",
                        floors=6, entrances=2, flats_per_floor=2, use=BuildingUse.RESIDENTIAL,
                        geom=ewkb(Point(116.405, 39.905)),
                        footprint=ewkb(box(116.4049, 39.9049, 116.4051, 39.9051)))
    db.add(building)
    db.flush()
    household = Household(building_id=building.id, entrance=1, floor=5, room="502",
                          occupancy=Occupancy.OWNER, member_count=1)
    db.add(household)
    db.flush()
    resident = Resident(household_id=household.id, name="王芳", sex=Sex.FEMALE, birth_year=1950,
                        relation="户主", residence_type=ResidenceType.REGISTERED, party_member=True,
                        id_number_enc=ring.seal("11010119500307002X"),
                        id_number_masked=mask_id_number("11010119500307002X"),
                        id_number_index=ring.blind_index("11010119500307002X"),
                        phone_enc=ring.seal("13812345678"), phone_masked=mask_phone("13812345678"),
                        phone_index=ring.blind_index("13812345678"))
    db.add(resident)
    db.flush()
    db.add(ResidentKeyGroup(resident_id=resident.id, key_group="elderly_living_alone"))
    staff = Staff(name="李强", sex=Sex.MALE, phone="028-85550001", title="社区工作人员", party_member=True)
    db.add_all([
        staff,
        StationedUnit(subdistrict_code=SD, name="测试小学", kind="学校", address="测试路2号",
                      geom=ewkb(Point(116.406, 39.906))),
        Shop(subdistrict_code=SD, name="便民超市", kind="零售", address="测试路3号", licence_no="9111",
             geom=ewkb(Point(116.407, 39.907))),
    ])
    db.flush()
    db.add(GridAssignment(staff_id=staff.id, grid_id=l2.id, role=StaffRole.GRID_LEAD))
    case = Case(case_no="110101099-2026-000001", subdistrict_code=SD, category_code="urban_management",
                subtype_code="urban_management.city_appearance", title="垃圾堆放", description="路口",
                reporter_name="李强", reporter_kind=ReporterKind.GRID_WORKER, reporter_staff_id=staff.id,
                status=CaseStatus.REPORTED, geom=ewkb(Point(116.405, 39.905)), grid_l2_id=l2.id)
    db.add(case)
    db.flush()
    db.add(CaseEvent(case_id=case.id, to_status=CaseStatus.REPORTED, actor="李强", note="上报"))
    db.add(AuditEntry(actor="test", action="reveal", object_type="resident", object_id=str(resident.id),
                      client_addr="127.0.0.1", outcome="ok", detail={"reason": "走访"}))
    db.commit()
    db.expire_all()

    got = db.get(Building, building.id)
    assert (got.name, got.use, got.floors) == ("3号楼", BuildingUse.RESIDENTIAL, 6)
    assert to_shape(got.geom).equals(Point(116.405, 39.905))
    person = db.get(Resident, resident.id)
    assert ring.open(person.id_number_enc) == "11010119500307002X"
    assert person.id_number_masked == "110101********002X"
    assert person.phone_masked == "138****5678"
    assert db.scalars(select(ResidentKeyGroup.key_group).where(
        ResidentKeyGroup.resident_id == resident.id)).all() == ["elderly_living_alone"]
    assert db.get(Household, household.id).room == "502"
    assert db.scalars(select(StationedUnit.name).where(StationedUnit.subdistrict_code == SD)).one() == "测试小学"
    assert db.scalars(select(Shop.licence_no).where(Shop.subdistrict_code == SD)).one() == "9111"
    assert db.scalars(select(GridAssignment.role).where(GridAssignment.grid_id == l2.id)).one() is StaffRole.GRID_LEAD
    assert db.get(Case, case.id).status is CaseStatus.REPORTED
    assert db.scalars(select(CaseEvent.note).where(CaseEvent.case_id == case.id)).one() == "上报"
    assert db.scalars(select(AuditEntry.detail).where(AuditEntry.object_id == str(resident.id))).one() == {"reason": "走访"}
    assert db.get(SubDistrict, SD).name == "测试街道"
    assert to_shape(db.get(Grid, l2.id).geom).equals(MultiPolygon([box(116.40, 39.90, 116.41, 39.91)]))


def test_every_geometry_column_has_a_gist_index(db):
    columns = db.execute(text(
        "SELECT f_table_name, f_geometry_column FROM geometry_columns JOIN pg_class ON relname = f_table_name "
        "WHERE f_table_schema = 'public' AND relkind = 'r'"  # the current-records views read their tables' indexes
    )).all()
    declared = {
        (table.name, column.name)
        for table in metadata.tables.values() for column in table.columns
        if isinstance(column.type, Geometry)
    }
    assert {tuple(c) for c in columns} == declared
    missing = []
    for table, column in columns:
        indexed = db.execute(text("""
            SELECT 1 FROM pg_index i
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_class ix ON ix.oid = i.indexrelid
            JOIN pg_am am ON am.oid = ix.relam
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
            WHERE t.relname = :t AND a.attname = :c AND am.amname = 'gist'
        """), {"t": table, "c": column}).first()
        if not indexed:
            missing.append(f"{table}.{column}")
    assert missing == []


@pytest.mark.parametrize(
    "wkt",
    ["SRID=4326;POLYGON((0 0,1 0,1 1,0 0))", "SRID=3857;POINT(104 30)", "SRID=4326;MULTIPOINT(104 30)"],
    ids=["polygon", "web-mercator", "multipoint"],
)
def test_database_enforces_geometry_type_and_srid(db, territory, wkt):
    insert = text("""
        INSERT INTO buildings (subdistrict_code, name, address, floors, entrances, flats_per_floor, use, geom)
        VALUES (:sd, 'x', :address, 1, 1, 1, 'residential', ST_GeomFromEWKT(:w))
    """)
    db.execute(insert, {"sd": SD, "address": "ok", "w": "SRID=4326;POINT(116.401 39.901)"})
    with pytest.raises(DBAPIError, match="Geometry type|SRID"):
        db.execute(insert, {"sd": SD, "address": "bad", "w": wkt})


def test_grid_codes_must_embed_the_parent(db, territory):
    l1, _ = territory
    with pytest.raises(IntegrityError, match="code_extends_parent"):
        db.add(Grid(subdistrict_code=SD, level=2, code=SD + "002" + "001", parent_code=l1.code,
                    serial=1, name="错码", geom=ewkb(MultiPolygon([AREA]))))
        db.flush()


def test_invalid_polygon_is_refused(db, territory):
    bowtie = Polygon([(116.40, 39.90), (116.41, 39.91), (116.41, 39.90), (116.40, 39.91)])
    with pytest.raises(IntegrityError, match="geom_valid"):
        db.add(Grid(subdistrict_code=SD, level=1, code=SD + "002", serial=2, name="自交",
                    geom=ewkb(MultiPolygon([bowtie]))))
        db.flush()


def test_grid_history_keeps_every_version_with_who_and_why(db, territory):
    _, l2 = territory
    set_change_context(db, actor="张工", reason="小区新建, 调整边界", operation="reshape")
    l2.geom = ewkb(MultiPolygon([box(116.40, 39.90, 116.412, 39.91)]))
    l2.version = 2
    db.flush()
    versions = db.execute(
        select(GridVersion.version, GridVersion.changed_by, GridVersion.reason, GridVersion.valid_to)
        .where(GridVersion.grid_id == l2.id).order_by(GridVersion.version)
    ).all()
    assert [(v, who, why) for v, who, why, _ in versions] == [
        (1, "test", "schema test"), (2, "张工", "小区新建, 调整边界")
    ]
    assert versions[0].valid_to is not None and versions[1].valid_to is None


def test_grid_change_without_a_new_version_is_refused(db, territory):
    _, l2 = territory
    l2.geom = ewkb(MultiPolygon([box(116.40, 39.90, 116.413, 39.91)]))
    with pytest.raises(IntegrityError, match="exactly one version"):
        db.flush()


def test_grid_change_without_a_reason_is_refused(db, territory):
    _, l2 = territory
    set_change_context(db, actor="张工", reason="", operation="reshape")
    l2.geom = ewkb(MultiPolygon([box(116.40, 39.90, 116.413, 39.91)]))
    l2.version = 2
    with pytest.raises(IntegrityError, match="without a reason"):
        db.flush()


def test_grids_are_never_deleted(db, territory):
    _, l2 = territory
    with pytest.raises(DBAPIError, match="never deleted"):
        db.execute(text("DELETE FROM grids WHERE id = :id"), {"id": l2.id})


def test_one_lead_per_grid(db, territory):
    _, l2 = territory
    a, b = Staff(name="甲", sex=Sex.MALE, phone="1"), Staff(name="乙", sex=Sex.FEMALE, phone="2")
    db.add_all([a, b])
    db.flush()
    db.add(GridAssignment(staff_id=a.id, grid_id=l2.id, role=StaffRole.GRID_LEAD))
    db.flush()
    db.add(GridAssignment(staff_id=b.id, grid_id=l2.id, role=StaffRole.FULL_TIME))
    db.flush()
    with pytest.raises(IntegrityError, match="uq_grid_assignments_one_lead"):
        db.add(GridAssignment(staff_id=b.id, grid_id=l2.id, role=StaffRole.GRID_LEAD))
        db.flush()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET outcome = 'forged'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
])
def test_audit_log_is_append_only(db, statement):
    db.add(AuditEntry(actor="test", action="sign_in", outcome="ok"))
    db.flush()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text(statement))


def test_building_point_must_lie_on_its_footprint(db, territory):
    with pytest.raises(IntegrityError, match="point_on_footprint"):
        db.add(Building(subdistrict_code=SD, name="1号楼", address="测试路9号", floors=1, entrances=1,
                        flats_per_floor=1, use=BuildingUse.PUBLIC, geom=ewkb(Point(116.41, 39.91)),
                        footprint=ewkb(box(116.4049, 39.9049, 116.4051, 39.9051))))
        db.flush()
