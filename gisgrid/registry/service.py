"""Reading buildings, households and residents (masked), and a building's household diagram."""

from __future__ import annotations

from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import InvalidInput, NotFound
from gisgrid.core.geojson import BBox, feature_page, geometry_json
from gisgrid.core.paging import Page, Where, json_page
from gisgrid.core.scope import Scope
from gisgrid.core.secrets import keyring
from gisgrid.grids.service import grid_codes_json, membership_filter


def list_buildings(session: Session, *, grid: str | None, bbox: BBox | None, page: Page,
                   scope: Scope) -> Response:
    """Households and people from ``building_loads``: the figures the buildings layer shows."""
    where = Where()
    where.add(*scope.rows("b"))
    if grid is not None:
        where.add(*membership_filter(session, grid, "b"))
    if bbox is not None:
        where.add(BBox.sql("b.geom"), bbox.params())
    properties = {"id": "b.id", "name": "b.name", "compound": "b.compound", "address": "b.address",
                  "use": "b.use", "floors": "b.floors", "entrances": "b.entrances",
                  "flats_per_floor": "b.flats_per_floor",
                  "households": "coalesce(load.households, 0)", "people": "coalesce(load.people, 0)",
                  "grid_codes": grid_codes_json("b"), "footprint": geometry_json("b.footprint")}
    return feature_page(session, rows="buildings b LEFT JOIN building_loads load ON load.building_id = b.id",
                        ident="b.id", geometry="b.geom", properties=properties, where=where, page=page)


def list_households(session: Session, *, grid: str | None, building: int | None, page: Page,
                    scope: Scope) -> dict:
    where = Where()
    where.add(*scope.rows("b"))
    if grid is not None:
        where.add(*membership_filter(session, grid, "b"))
    if building is not None:
        _building(session, building, scope)
        where.add("h.building_id = :building", building=building)
    condition = where.sql
    rows = f"""
        SELECT h.id, h.building_id, b.address AS building_address, h.entrance, h.floor, h.room,
               h.occupancy, h.member_count
        FROM households h JOIN buildings b ON b.id = h.building_id
        WHERE {condition} ORDER BY h.id
    """
    count = f"SELECT count(*) FROM households h JOIN buildings b ON b.id = h.building_id WHERE {condition}"
    return json_page(session, rows_sql=rows, count_sql=count, params=where.params, page=page)


RESIDENT_COLUMNS = """r.id, r.household_id, r.name, r.sex, r.birth_year, r.relation, r.residence_type,
    r.party_member, r.id_number_masked AS id_number, r.phone_masked AS phone,
    ARRAY(SELECT k.key_group FROM resident_key_groups k WHERE k.resident_id = r.id ORDER BY k.key_group) AS key_groups"""
RESIDENT_JOINS = "FROM residents r JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id"


def _residents_where(session: Session, *, grid: str | None, household: int | None, tag: str | None,
                     scope: Scope, id_number: str | None = None, phone: str | None = None) -> Where:
    """``id_number`` and ``phone`` find exact values through the blind index, under every
    configured key (a rotation may be half done)."""
    where = Where()
    where.add(*scope.rows("b"))
    for column, value in (("id_number_index", id_number), ("phone_index", phone)):
        if value is not None:
            where.add(f"r.{column} = ANY(:{column})", {column: keyring().blind_indexes(value)})
    if grid is not None:
        where.add(*membership_filter(session, grid, "b"))
    if household is not None:
        where.add("r.household_id = :household", household=household)
    if tag is not None:
        if session.execute(text("SELECT 1 FROM key_groups WHERE code = :t"), {"t": tag}).first() is None:
            known = session.execute(text("SELECT string_agg(code, ', ' ORDER BY sort_order) FROM key_groups")).scalar()
            raise InvalidInput(f"unknown key group {tag!r}; known: {known}", where="tag")
        where.add("EXISTS (SELECT 1 FROM resident_key_groups k WHERE k.resident_id = r.id AND k.key_group = :tag)",
                  tag=tag)
    return where


def list_residents(
    session: Session, *, grid: str | None, household: int | None, tag: str | None, page: Page,
    scope: Scope, id_number: str | None = None, phone: str | None = None,
) -> dict:
    """Residents with ID number and phone masked; the ciphertexts never leave the database.
    ``scope``: the caller's, on the residents' buildings."""
    where = _residents_where(session, grid=grid, household=household, tag=tag, scope=scope, id_number=id_number,
                             phone=phone)
    return json_page(session, rows_sql=f"SELECT {RESIDENT_COLUMNS} {RESIDENT_JOINS} WHERE {where.sql} ORDER BY r.id",
                     count_sql=f"SELECT count(*) {RESIDENT_JOINS} WHERE {where.sql}", params=where.params, page=page)


EXPORT_COLUMNS = (("id", "居民编号"), ("household_id", "户编号"), ("name", "姓名"), ("sex", "性别"),
                  ("birth_year", "出生年份"), ("relation", "与户主关系"), ("residence_type", "居住类型"),
                  ("party_member", "党员"), ("id_number", "身份证号（脱敏）"), ("phone", "电话（脱敏）"),
                  ("key_groups", "重点人群"))


def export_residents(session: Session, grid: str, scope: Scope) -> tuple[list[str], list[list]]:
    """Every resident of a grid (its children included) as a table with Chinese headers, masked
    exactly as ``list_residents`` answers: the export reads the same columns."""
    where = _residents_where(session, grid=grid, household=None, tag=None, scope=scope)
    rows = session.execute(text(f"SELECT {RESIDENT_COLUMNS} {RESIDENT_JOINS} WHERE {where.sql} ORDER BY r.id"),
                           where.params).mappings()
    return [label for _, label in EXPORT_COLUMNS], [[_cell(r[key]) for key, _ in EXPORT_COLUMNS] for r in rows]


def _cell(value):
    if isinstance(value, list):
        return "、".join(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def _building(session: Session, building_id: int, scope: Scope):
    """A building in the caller's scope; one outside it does not exist for them (404)."""
    condition, params = scope.rows("b")
    row = session.execute(text(f"""
        SELECT b.id, b.name, b.compound, b.address, b.floors, b.entrances, b.flats_per_floor, b.use,
               {grid_codes_json('b')} AS grid_codes
        FROM buildings b WHERE b.id = :id AND {condition}
    """), {"id": building_id, **params}).first()
    if row is None:
        raise NotFound(f"no building with id {building_id}", where="id")
    return row


DIAGRAM = """
SELECT h.id, h.entrance, h.floor, h.room, h.occupancy, h.member_count,
       ARRAY(SELECT DISTINCT k.key_group FROM residents r JOIN resident_key_groups k ON k.resident_id = r.id
             WHERE r.household_id = h.id ORDER BY k.key_group) AS flags
FROM households h WHERE h.building_id = :id
ORDER BY h.entrance, h.floor DESC, h.room
"""


def household_diagram(session: Session, building_id: int, scope: Scope) -> dict:
    """The 居民楼住户状况显示图 as data: per entrance (单元), floors top-down, flats left-right.

    Each flat slot is a household (owner-occupied or rented, with member count and key-group
    flags) or vacant; slots without a household row are vacant flats.
    """
    building = _building(session, building_id, scope)
    by_floor: dict[tuple[int, int], list[dict]] = {}
    for row in session.execute(text(DIAGRAM), {"id": building_id}):
        by_floor.setdefault((row.entrance, row.floor), []).append({
            "household_id": row.id, "room": row.room, "status": row.occupancy,
            "members": row.member_count, "flags": list(row.flags),
        })
    entrances = []
    for entrance in range(1, building.entrances + 1):
        floors = []
        for floor in range(building.floors, 0, -1):
            flats = by_floor.pop((entrance, floor), [])
            used = {flat["room"] for flat in flats}
            spare = (f"{floor}{slot:02d}" for slot in range(1, 100) if f"{floor}{slot:02d}" not in used)
            while len(flats) < building.flats_per_floor:
                flats.append({"household_id": None, "room": next(spare), "status": "vacant",
                              "members": 0, "flags": []})
            floors.append({"floor": floor, "flats": flats})
        entrances.append({"entrance": entrance, "floors": floors})
    occupied = [flat for e in entrances for f in e["floors"] for flat in f["flats"] if flat["household_id"]]
    return {
        "building": dict(building._mapping),
        "entrances": entrances,
        "outside_layout": [dict(entrance=k[0], floor=k[1], flats=v) for k, v in sorted(by_floor.items())],
        "totals": {
            "flats": sum(len(f["flats"]) for e in entrances for f in e["floors"]),
            "households": sum(1 for flat in occupied if flat["status"] != "vacant"),
            "vacant": sum(1 for e in entrances for f in e["floors"] for flat in f["flats"]
                          if flat["status"] == "vacant"),
            "people": sum(flat["members"] for flat in occupied),
        },
    }


def reveal(session: Session, resident_id: int, field: str, scope: Scope) -> str:
    """The full ID number or phone of one resident, opened from its ciphertext. The caller
    checks the role and writes the audit entry in the same transaction."""
    column = {"id_number": "id_number_enc", "phone": "phone_enc"}[field]
    condition, params = scope.rows("b")
    sealed = session.execute(text(f"""SELECT r.{column} FROM residents r JOIN households h ON h.id = r.household_id
                                      JOIN buildings b ON b.id = h.building_id WHERE r.id = :id AND {condition}"""),
                             {"id": resident_id, **params}).first()
    if sealed is None:
        raise NotFound(f"没有居民 {resident_id} / no resident {resident_id}", where="resident")
    if sealed[0] is None:
        raise NotFound(f"居民 {resident_id} 没有登记{'身份证号' if field == 'id_number' else '电话'} / not recorded",
                       where=field)
    return keyring().open(bytes(sealed[0]))
