"""Daily upkeep of the ledger (动态更新): what each kind of record checks before it is written.

The rules, beside the version every change names (:mod:`gisgrid.ledger.records`):

* A point (building, unit, shop) lies in a sub-district of the caller's and, for a grid worker,
  in one of their grids: it is placed by the same membership rule as an import, then read back
  under the caller's scope: a point in none of the caller's sub-districts is refused as bad input
  (422, ``lon``); one in their sub-district but outside a worker's grids is the 404 of anything
  outside their grids.
* A household's flat fits its building (单元 and floor within its counts) and holds no other
  current household; a move checks the same at the far end, both ends in the caller's scope.
* A resident's ID number passes GB 11643 (check digit, birth date, region); sex and birth year
  follow from it, and a disagreement is refused; one current resident per ID number. ID
  numbers and phones are sealed as the registry stores them (encrypted, masked, blind index).
* A household's ``member_count`` follows its residents: +1 for one who joins, −1 for one who
  leaves or dies, in the same transaction.
* Ending a household ends its residents (moved out with it) and their key-group memberships;
  ending a resident ends their memberships. Nothing is deleted.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.core.errors import Conflict, InvalidInput, NotFound
from gisgrid.core.phones import phone_key, plausible_phone
from gisgrid.core.secrets import keyring, mask_id_number, mask_phone
from gisgrid.grids import membership
from gisgrid.ledger import records
from gisgrid.ledger.kinds import ENUMS, KINDS, Kind
from gisgrid.ledger.records import Editor
from gisgrid.registry.idnumbers import BadValue, parse_id_number, parse_phone

BUILDINGS, HOUSEHOLDS, RESIDENTS = KINDS["buildings"], KINDS["households"], KINDS["residents"]
MEMBERSHIPS = KINDS["resident_key_groups"]
PLAIN = {"buildings": ("compound", "name", "address", "floors", "entrances", "flats_per_floor", "use"),
         "households": ("entrance", "floor", "room", "occupancy", "member_count"),
         "residents": ("name", "sex", "birth_year", "relation", "residence_type", "party_member", "separated"),
         "resident_key_groups": ("started_on",),
         "stationed_units": ("name", "kind", "address", "contact_name", "contact_phone"),
         "shops": ("name", "kind", "address", "contact_name", "contact_phone", "licence_no")}
POINTS = ("buildings", "stationed_units", "shops")


def _value(column: str, value: Any) -> tuple[str, dict]:
    if column in ENUMS and value is not None:
        value = ENUMS[column](value).value
    return f":{column}", {column: value}


def _values(kind: Kind, fields: dict) -> dict[str, tuple[str, dict]]:
    return {c: _value(c, fields[c]) for c in PLAIN.get(kind.name, ()) if c in fields}


def create(session: Session, kind: Kind, editor: Editor, fields: dict, *, reason: str, today: date) -> dict:
    """A new record of ``kind`` from validated ``fields``."""
    values = _values(kind, fields)
    if kind.name in POINTS:
        values |= _point(session, editor, fields, required=True)
    elif kind.name == "households":
        _flat_free(session, editor, fields["building_id"], fields["entrance"], fields["floor"], fields["room"])
        values["building_id"] = _value("building_id", fields["building_id"])
    elif kind.name == "residents":
        household = records.read(session, HOUSEHOLDS, fields["household_id"], editor.scope)
        _current(HOUSEHOLDS, household)
        values |= _person(session, fields, today, own_id=None)
        values["household_id"] = _value("household_id", household["id"])
    elif kind.name == "resident_key_groups":
        _current(RESIDENTS, records.read(session, RESIDENTS, fields["resident_id"], editor.scope))
        _key_group_open(session, fields["resident_id"], fields["key_group"])
        values |= {c: _value(c, fields[c]) for c in ("resident_id", "key_group")}
    record_id = records.write(session, kind, editor, record_id=None, values=values, expected=None, reason=reason,
                              operation="create")
    after = _placed(session, kind, editor, record_id) if kind.name in POINTS else \
        records.read(session, kind, record_id, editor.scope)
    if kind.name == "residents":
        _count_members(session, {household["id"]: +1})
    return after


def change(session: Session, kind: Kind, editor: Editor, record_id: int, fields: dict, *, expected: int | None,
           reason: str, today: date) -> dict:
    """Fields of a record changed in place (a household's flat and a resident's household move)."""
    values = _values(kind, fields)
    if kind.name in POINTS:
        values |= _point(session, editor, fields, required=False)
    if kind.name == "households" and {"entrance", "floor", "room"} & set(fields):
        raise InvalidInput("换房请用 move / a household changes flat by a move (POST …/move)", where="room")
    if kind.name == "residents":
        values |= _person(session, fields, today, own_id=record_id,
                          current=records.read(session, RESIDENTS, record_id, editor.scope))
    if not values:
        raise InvalidInput("没有要修改的字段 / no field to change", where="body")
    records.write(session, kind, editor, record_id=record_id, values=values, expected=expected, reason=reason,
                  operation="update")
    if kind.name in POINTS and ("lon" in fields or "lat" in fields):
        return _placed(session, kind, editor, record_id)
    return records.read(session, kind, record_id, editor.scope)


def end(session: Session, kind: Kind, editor: Editor, record_id: int, *, expected: int | None, on: date,
        end_reason: str, reason: str) -> dict:
    """End a record and what cannot outlive it: a household's residents, a resident's memberships.
    A building ends empty: its households move or end first, each with its own reason, rather
    than all vanishing under "demolished"."""
    after = records.end(session, kind, editor, record_id, expected=expected, on=on, end_reason=end_reason,
                        reason=reason)
    if kind.name == "buildings":
        _empty(session, record_id)  # after the scope and version checks; the session is not committed
    if kind.name == "households":
        people = session.execute(text("SELECT id FROM residents WHERE household_id = :h ORDER BY id"),
                                 {"h": record_id}).scalars().all()
        for person in people:
            _end_person(session, editor, person, on, "moved_out", reason)
        session.execute(text("UPDATE all_households SET member_count = 0 WHERE id = :h"), {"h": record_id})
        after = records.read(session, kind, record_id, editor.scope)
    elif kind.name == "residents":
        _end_memberships(session, editor, record_id, on, end_reason, reason)
        _count_members(session, {after["household_id"]: -1})
    return after


def _empty(session: Session, building_id: int) -> None:
    households = session.execute(text("SELECT count(*) FROM households WHERE building_id = :b"),
                                 {"b": building_id}).scalar()
    if households:
        raise Conflict(f"楼栋 {building_id} 仍有 {households} 户，请先迁出或注销 / building {building_id} still holds "
                       f"{households} households: move or end them first", where="building_id")


def _end_person(session, editor, person: int, on: date, end_reason: str, reason: str) -> None:
    current = records.read(session, RESIDENTS, person, editor.scope)
    records.end(session, RESIDENTS, editor, person, expected=current["version"], on=on, end_reason=end_reason,
                reason=reason)
    _end_memberships(session, editor, person, on, end_reason, reason)


def _end_memberships(session, editor, person: int, on: date, end_reason: str, reason: str) -> None:
    for membership_id, version in session.execute(text(
            "SELECT id, version FROM resident_key_groups WHERE resident_id = :r ORDER BY id"), {"r": person}).all():
        records.end(session, MEMBERSHIPS, editor, membership_id, expected=version, on=on,
                    end_reason=end_reason if end_reason in MEMBERSHIPS.end_reasons else "revoked", reason=reason)


def move_household(session: Session, editor: Editor, household_id: int, *, expected: int | None, building_id: int,
                   entrance: int, floor: int, room: str, reason: str) -> dict:
    """A household moves to another flat, in or out of the caller's grids (both ends in scope)."""
    current = records.read(session, HOUSEHOLDS, household_id, editor.scope, lock=True)
    records.check_version(session, HOUSEHOLDS, current, expected)
    _flat_free(session, editor, building_id, entrance, floor, room, own=household_id)
    records.write(session, HOUSEHOLDS, editor, record_id=household_id, expected=expected, reason=reason,
                  operation="move", values={c: _value(c, v) for c, v in (("building_id", building_id),
                                                                         ("entrance", entrance), ("floor", floor),
                                                                         ("room", room))})
    return records.read(session, HOUSEHOLDS, household_id, editor.scope)


def move_resident(session: Session, editor: Editor, resident_id: int, *, expected: int | None,
                  household_id: int | None, separated: bool | None, reason: str) -> dict:
    """A resident moves to another household (the counts of both follow), or is marked 人户分离
    (``separated``: registered here, living elsewhere) or back."""
    current = records.read(session, RESIDENTS, resident_id, editor.scope, lock=True)
    records.check_version(session, RESIDENTS, current, expected)
    values: dict[str, tuple[str, dict]] = {}
    counts: dict[int, int] = {}
    if household_id is not None and household_id != current["household_id"]:
        target = records.read(session, HOUSEHOLDS, household_id, editor.scope, lock=True)
        _current(HOUSEHOLDS, target)
        values["household_id"] = _value("household_id", household_id)
        counts = {current["household_id"]: -1, household_id: +1}
    if separated is not None:
        values["separated"] = _value("separated", separated)
    if not values:
        raise InvalidInput("请指明迁入的住户或人户分离状态 / name the household moved to, or the separated status",
                           where="household_id")
    records.write(session, RESIDENTS, editor, record_id=resident_id, expected=expected, reason=reason,
                  operation="move", values=values)
    _count_members(session, counts)
    return records.read(session, RESIDENTS, resident_id, editor.scope)


def _count_members(session: Session, deltas: dict[int, int]) -> None:
    """Household sizes follow the residents who join and leave (a household imported with a
    count but no registered people keeps its count plus or minus those who come and go)."""
    for household, delta in sorted(deltas.items()):
        if delta:
            session.execute(text("UPDATE all_households SET member_count = greatest(member_count + :d, 0) "
                                 "WHERE id = :h"), {"d": delta, "h": household})


def _current(kind: Kind, row: dict) -> None:
    if row["ended_on"] is not None:
        raise Conflict(f"{kind.label[0]} {row['id']} 已于 {row['ended_on']} 结束 / {kind.label[1]} {row['id']} "
                       f"ended on {row['ended_on']}", where=f"{kind.label[1].replace(' ', '_')}_id")


def _flat_free(session: Session, editor: Editor, building_id: int, entrance: int, floor: int, room: str,
               own: int | None = None) -> None:
    building = records.read(session, BUILDINGS, building_id, editor.scope)
    _current(BUILDINGS, building)
    if entrance > building["entrances"]:
        raise InvalidInput(f"该楼只有 {building['entrances']} 个单元 / the building has {building['entrances']} "
                           f"entrances (单元), not {entrance}", where="entrance")
    if floor > building["floors"]:
        raise InvalidInput(f"该楼只有 {building['floors']} 层 / the building has {building['floors']} floors, "
                           f"not {floor}", where="floor")
    other = session.execute(text("""
        SELECT id FROM households WHERE building_id = :b AND entrance = :e AND floor = :f AND room = :r
        AND id IS DISTINCT FROM :own"""), {"b": building_id, "e": entrance, "f": floor, "r": room,
                                            "own": own}).scalar()
    if other is not None:
        raise Conflict(f"{building['address']} {entrance} 单元 {room} 已有住户 {other} / the flat already holds "
                       f"household {other}", where="room", household_id=other)


def _key_group_open(session: Session, resident_id: int, key_group: str) -> None:
    if session.execute(text("SELECT 1 FROM key_groups WHERE code = :g"), {"g": key_group}).first() is None:
        known = session.execute(text("SELECT string_agg(code, ', ' ORDER BY sort_order) FROM key_groups")).scalar()
        raise InvalidInput(f"没有重点人群类别 {key_group!r} / unknown key group {key_group!r}; known: {known}",
                           where="key_group")
    open_id = session.execute(text("SELECT id FROM resident_key_groups WHERE resident_id = :r AND key_group = :g"),
                              {"r": resident_id, "g": key_group}).scalar()
    if open_id is not None:
        raise Conflict(f"该居民已在此类别中（记录 {open_id}）/ the resident already holds this membership "
                       f"({open_id})", where="key_group", membership_id=open_id)


def _person(session: Session, fields: dict, today: date, *, own_id: int | None,
            current: dict | None = None) -> dict[str, tuple[str, dict]]:
    """The sealed ID number and phone, and sex and birth year as the ID number says them."""
    values: dict[str, tuple[str, dict]] = {}
    ring = keyring()
    if fields.get("id_number"):
        try:
            number = parse_id_number(fields["id_number"], today)
        except BadValue as exc:
            raise InvalidInput(f"身份证号{exc.reason}", where="id_number") from None
        for column, stated in (("sex", fields.get("sex") or (current or {}).get("sex")),
                               ("birth_year", fields.get("birth_year") or (current or {}).get("birth_year"))):
            implied = getattr(number, column)
            stated_value = ENUMS["sex"](stated).value if column == "sex" and stated else stated
            if column in fields and stated_value is not None and stated_value != implied:
                raise InvalidInput(f"与身份证号不符：身份证号表明 {implied} / disagrees with the ID number, which "
                                   f"says {implied}", where=column)
            values[column] = _value(column, implied)
        other = session.execute(text("""
            SELECT r.id, r.household_id FROM residents r WHERE r.id_number_index = ANY(:idx)
            AND r.id IS DISTINCT FROM :own"""), {"idx": ring.blind_indexes(number.value), "own": own_id}).first()
        if other is not None:
            raise Conflict(f"身份证号 {mask_id_number(number.value)} 已登记在住户 {other.household_id} / ID number "
                           f"{mask_id_number(number.value)} is registered in household {other.household_id}",
                           where="id_number", resident_id=other.id)
        values |= {"id_number_enc": (":id_enc", {"id_enc": ring.seal(number.value)}),
                   "id_number_masked": (":id_masked", {"id_masked": mask_id_number(number.value)}),
                   "id_number_index": (":id_index", {"id_index": ring.blind_index(number.value)})}
    elif own_id is None and not (fields.get("sex") and fields.get("birth_year")):
        raise InvalidInput("没有身份证号时请填写性别和出生年份 / without an ID number, give sex and birth year",
                           where="id_number")
    if fields.get("phone"):
        try:
            phone = parse_phone(fields["phone"])
        except BadValue as exc:
            raise InvalidInput(f"电话{exc.reason}", where="phone") from None
        if not plausible_phone(phone_key(phone)):
            raise InvalidInput("电话号码不像真实号码 / the phone number is not plausible", where="phone")
        values |= {"phone_enc": (":ph_enc", {"ph_enc": ring.seal(phone)}),
                   "phone_masked": (":ph_masked", {"ph_masked": mask_phone(phone)}),
                   "phone_index": (":ph_index", {"ph_index": ring.blind_index(phone)})}
    return values


def _point(session: Session, editor: Editor, fields: dict, *, required: bool) -> dict[str, tuple[str, dict]]:
    """The point of a building, unit or shop (WGS84), in a sub-district of the caller's."""
    if "lon" not in fields and "lat" not in fields and not required:
        return {}
    if fields.get("lon") is None or fields.get("lat") is None:
        raise InvalidInput("请同时给出经度和纬度 / give both lon and lat (WGS84)", where="lon")
    condition, params = editor.scope.codes("s.code")
    code = session.execute(text(f"""
        SELECT s.code FROM subdistricts s
        WHERE ST_Covers(s.boundary, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) AND {condition}
        ORDER BY s.code LIMIT 1"""), {**params, "lon": fields["lon"], "lat": fields["lat"]}).scalar()
    if code is None:
        raise InvalidInput(f"位置 ({fields['lon']}, {fields['lat']}) 不在你的街道内 / the point is in no sub-district "
                           "of yours", where="lon")
    return {"subdistrict_code": _value("subdistrict_code", code),
            "geom": ("ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)", {"lon": fields["lon"], "lat": fields["lat"]})}


def _placed(session: Session, kind: Kind, editor: Editor, record_id: int) -> dict:
    """Membership of a point just written, then the record under the caller's scope: a worker
    cannot place a building outside their grids (404, and the transaction is rolled back)."""
    x, y = session.execute(text(f"SELECT ST_X(geom), ST_Y(geom) FROM {kind.table} WHERE id = :id"),
                           {"id": record_id}).one()
    membership.refresh(session, area_ewkt=f"SRID=4326;POINT({x!r} {y!r})", tables=(kind.name,))
    try:
        return records.read(session, kind, record_id, editor.scope)
    except NotFound:
        raise NotFound("该位置不在你的网格内 / the point lies outside your grids", where="lon") from None
