"""The ledger's HTTP: create, read, change, move and end each record, with its version as ETag.

Every write names the version it starts from in ``If-Match`` (the ETag of the read: ``"v3"``),
428 without it and 409 on a stale one (the answer shows what the other person changed); every
write may carry an ``Idempotency-Key``, so a retry on a weak connection answers the first result
instead of writing twice. Reading and writing people's records is the ``people`` function,
within the caller's scope (a grid worker's own grids, a community manager's zone).
"""


from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.audit.trail import mark_audited
from gisgrid.auth.access import Principal, needs
from gisgrid.auth.routes import client_addr
from gisgrid.cases.calendar import work_calendar
from gisgrid.core.clock import Clock, get_clock
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import BuildingUse, Occupancy, ResidenceType, Sex
from gisgrid.core.errors import InvalidInput, responses
from gisgrid.grids.editing import etag, parse_if_match
from gisgrid.ledger import records, service, summary
from gisgrid.ledger.kinds import KINDS, PATHS, Kind
from gisgrid.ledger.records import Editor
from gisgrid.reports.weekly import week_bounds

router = APIRouter(tags=["ledger"])
ID = Path(..., ge=1, le=2_147_483_647)
IF_MATCH = Header(None, alias="If-Match", description="the record's ETag from its last read, e.g. \"v3\"")
IDEMPOTENCY_KEY = Header(None, alias="Idempotency-Key", min_length=8, max_length=100,
                         description="a client-made id (a UUID): a retry with it answers the first result")
WRITE = responses(404, 409, 428)
Reason = Annotated[str, Field(min_length=2, max_length=500, description="why (kept in the record's history)")]
Text = Annotated[str, Field(min_length=1, max_length=100)]


def _iso_day(value: Any) -> Any:
    """A day is written YYYY-MM-DD: a number is not one (pydantic would read 0 as 1970-01-01)."""
    if not isinstance(value, str | date):
        raise ValueError("日期应写作 YYYY-MM-DD / a day is written YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
Lon = Annotated[float, Field(ge=-180, le=180, description="WGS84 longitude")]
Lat = Annotated[float, Field(ge=-90, le=90, description="WGS84 latitude")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BuildingFields(Body):
    name: Text | None = None
    compound: Annotated[str, Field(max_length=100)] | None = None
    address: Annotated[str, Field(min_length=2, max_length=200)] | None = None
    floors: Annotated[int, Field(strict=True, ge=1, le=200)] | None = None
    entrances: Annotated[int, Field(strict=True, ge=1, le=50)] | None = None
    flats_per_floor: Annotated[int, Field(strict=True, ge=0, le=50)] | None = None
    use: BuildingUse | None = None
    lon: Lon | None = None
    lat: Lat | None = None


class NewBuilding(BuildingFields):
    name: Text
    address: Annotated[str, Field(min_length=2, max_length=200)]
    floors: Annotated[int, Field(strict=True, ge=1, le=200)]
    entrances: Annotated[int, Field(strict=True, ge=1, le=50)] = 1
    flats_per_floor: Annotated[int, Field(strict=True, ge=0, le=50)] = 2
    use: BuildingUse = BuildingUse.RESIDENTIAL
    lon: Lon
    lat: Lat
    reason: Reason = "新登记 / registered"


class HouseholdFields(Body):
    occupancy: Occupancy | None = None
    member_count: Annotated[int, Field(strict=True, ge=0, le=99)] | None = None


class NewHousehold(HouseholdFields):
    building_id: Annotated[int, Field(strict=True, ge=1)]
    entrance: Annotated[int, Field(strict=True, ge=1, le=50)] = 1
    floor: Annotated[int, Field(strict=True, ge=1, le=200)]
    room: Annotated[str, Field(min_length=1, max_length=20)]
    occupancy: Occupancy = Occupancy.OWNER
    member_count: Annotated[int, Field(strict=True, ge=0, le=99)] = 0
    reason: Reason = "新登记 / registered"


class ResidentFields(Body):
    name: Annotated[str, Field(min_length=1, max_length=50)] | None = None
    sex: Sex | None = None
    birth_year: Annotated[int, Field(strict=True, ge=1900, le=2100)] | None = None
    relation: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    residence_type: ResidenceType | None = None
    party_member: bool | None = None
    id_number: Annotated[str, Field(min_length=15, max_length=22)] | None = None
    phone: Annotated[str, Field(min_length=7, max_length=20)] | None = None


class NewResident(ResidentFields):
    household_id: Annotated[int, Field(strict=True, ge=1)]
    name: Annotated[str, Field(min_length=1, max_length=50)]
    relation: Annotated[str, Field(min_length=1, max_length=20)] = "户主"
    residence_type: ResidenceType = ResidenceType.REGISTERED
    party_member: bool = False
    separated: bool = False
    key_groups: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=10)
    reason: Reason = "新登记 / registered"


class MembershipFields(Body):
    started_on: Day | None = None


class NewMembership(MembershipFields):
    resident_id: Annotated[int, Field(strict=True, ge=1)]
    key_group: Annotated[str, Field(min_length=1, max_length=40)]
    reason: Reason = "新登记 / registered"


class OrganisationFields(Body):
    name: Annotated[str, Field(min_length=1, max_length=150)] | None = None
    kind: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    address: Annotated[str, Field(min_length=2, max_length=200)] | None = None
    contact_name: Annotated[str, Field(max_length=50)] | None = None
    contact_phone: Annotated[str, Field(max_length=20)] | None = None
    lon: Lon | None = None
    lat: Lat | None = None


class ShopFields(OrganisationFields):
    licence_no: Annotated[str, Field(max_length=30)] | None = None


class NewUnit(OrganisationFields):
    name: Annotated[str, Field(min_length=1, max_length=150)]
    kind: Annotated[str, Field(min_length=1, max_length=40)]
    address: Annotated[str, Field(min_length=2, max_length=200)]
    lon: Lon
    lat: Lat
    reason: Reason = "新登记 / registered"


class NewShop(NewUnit, ShopFields):
    pass


def _with_reason(fields: type[Body]) -> type[Body]:
    return type(f"{fields.__name__}Change", (fields,), {"__annotations__": {"reason": Reason}})


BODIES: dict[str, tuple[type[Body], type[Body]]] = {
    "buildings": (NewBuilding, _with_reason(BuildingFields)),
    "households": (NewHousehold, _with_reason(HouseholdFields)),
    "residents": (NewResident, _with_reason(ResidentFields)),
    "resident_key_groups": (NewMembership, _with_reason(MembershipFields)),
    "stationed_units": (NewUnit, _with_reason(OrganisationFields)),
    "shops": (NewShop, _with_reason(ShopFields)),
}


class EndBody(Body):
    ended_on: Day = Field(description="the day it ended (moved out, died, closed, demolished, term over)")
    end_reason: Annotated[str, Field(min_length=2, max_length=30)]
    reason: Reason


class HouseholdMove(Body):
    building_id: Annotated[int, Field(strict=True, ge=1)]
    entrance: Annotated[int, Field(strict=True, ge=1, le=50)] = 1
    floor: Annotated[int, Field(strict=True, ge=1, le=200)]
    room: Annotated[str, Field(min_length=1, max_length=20)]
    reason: Reason


class ResidentMove(Body):
    household_id: Annotated[int, Field(strict=True, ge=1)] | None = None
    separated: bool | None = Field(None, description="人户分离: registered in this household, living elsewhere")
    reason: Reason


def editor(request: Request, me: Principal = Depends(needs("people"))) -> Editor:
    return Editor(me.username, me.scope, client_addr(request))


def _answer(request: Request, record: dict, status: int = 200) -> JSONResponse:
    mark_audited(request)
    return JSONResponse(jsonable_encoder(record), status_code=status, headers={"ETag": etag(record["version"])})


def once(session: Session, request: Request, key: str | None, who: Editor, kind: Kind, operation: str,
         record_id: int | None, work) -> JSONResponse:
    """Run ``work`` once per Idempotency-Key: the first request takes the key in its own
    transaction; a retry (even one racing the first) answers the record the first one wrote.
    A key answers only its own request: the same account, ``<kind>.<operation>`` and record
    (``record_id``; None for a create, whose record the key learns once it is written), so a
    client that reuses a key on another record or operation gets a 422, not another's answer."""
    if key is not None:
        request_kind = f"{kind.name}.{operation}"
        taken = session.execute(text("""
            INSERT INTO ledger_requests (key, account, kind, record_id) VALUES (:k, :a, :kind, :id)
            ON CONFLICT (key) DO NOTHING RETURNING key"""),
                                {"k": key, "a": who.actor, "kind": request_kind, "id": record_id}).first()
        if taken is None:
            session.rollback()
            earlier = session.execute(text("SELECT account, kind, record_id FROM ledger_requests WHERE key = :k"),
                                      {"k": key}).one()
            if earlier.account != who.actor or earlier.kind != request_kind or earlier.record_id is None \
                    or record_id not in (None, earlier.record_id):
                raise InvalidInput("Idempotency-Key 已用于另一请求 / this Idempotency-Key belongs to another request",
                                   where="Idempotency-Key")
            mark_audited(request)
            answer = _answer(request, records.read(session, kind, earlier.record_id, who.scope))
            answer.headers["Idempotent-Replayed"] = "true"
            return answer
    record, status = work()
    if key is not None and record_id is None:
        session.execute(text("UPDATE ledger_requests SET record_id = :id WHERE key = :k"), {"id": record["id"], "k": key})
    session.commit()
    return _answer(request, record, status)


def _today(clock: Clock) -> date:
    return clock.now().date()


def _register(path: str, kind: Kind) -> None:
    new_body, change_body = BODIES[kind.name]
    label = f"{kind.label[0]} / {kind.label[1]}"

    @router.post(f"/{path}", status_code=201, summary=f"登记{kind.label[0]} / Register a {kind.label[1]}",
                 responses={200: {"description": "a retry with the same Idempotency-Key: the first result"},
                            **responses(404, 409)}, name=f"create_{kind.name}")
    def create(body: new_body, request: Request, who: Editor = Depends(editor),  # type: ignore[valid-type]
               key: str | None = IDEMPOTENCY_KEY, clock: Clock = Depends(get_clock),
               session: Session = Depends(get_session)) -> Any:
        fields = body.model_dump(exclude={"reason", "key_groups"}, exclude_unset=False)

        def work():
            record = service.create(session, kind, who, fields, reason=body.reason, today=_today(clock))
            for group in getattr(body, "key_groups", []):
                service.create(session, KINDS["resident_key_groups"], who, {"resident_id": record["id"],
                               "key_group": group, "started_on": None}, reason=body.reason, today=_today(clock))
            return record, 201
        return once(session, request, key, who, kind, "create", None, work)

    @router.get(f"/{path}/{{record_id:int}}", summary=f"{label}（含版本 ETag）", responses=responses(404),
                name=f"read_{kind.name}")
    def read(request: Request, record_id: int = ID, who: Editor = Depends(editor),
             session: Session = Depends(get_session)) -> Any:
        record = records.read(session, kind, record_id, who.scope)
        return JSONResponse(jsonable_encoder(record), headers={"ETag": etag(record["version"])})

    @router.patch(f"/{path}/{{record_id:int}}", summary=f"修改{kind.label[0]} / Change a {kind.label[1]}",
                  responses=WRITE, name=f"change_{kind.name}")
    def change(body: change_body, request: Request, record_id: int = ID,  # type: ignore[valid-type]
               who: Editor = Depends(editor), if_match: str | None = IF_MATCH, key: str | None = IDEMPOTENCY_KEY,
               clock: Clock = Depends(get_clock), session: Session = Depends(get_session)) -> Any:
        fields = body.model_dump(exclude={"reason"}, exclude_unset=True)
        return once(session, request, key, who, kind, "update", record_id, lambda: (service.change(
            session, kind, who, record_id, fields, expected=parse_if_match(if_match), reason=body.reason,
            today=_today(clock)), 200))

    @router.post(f"/{path}/{{record_id:int}}/end", summary=f"注销{kind.label[0]} / End a {kind.label[1]} "
                 f"({', '.join(kind.end_reasons)})", responses=WRITE, name=f"end_{kind.name}")
    def end(body: EndBody, request: Request, record_id: int = ID, who: Editor = Depends(editor),
            if_match: str | None = IF_MATCH, key: str | None = IDEMPOTENCY_KEY,
            session: Session = Depends(get_session)) -> Any:
        return once(session, request, key, who, kind, "end", record_id, lambda: (service.end(
            session, kind, who, record_id, expected=parse_if_match(if_match), on=body.ended_on,
            end_reason=body.end_reason, reason=body.reason), 200))

    @router.get(f"/{path}/{{record_id:int}}/history", summary=f"{kind.label[0]}的变更历史 / A {kind.label[1]}'s history",
                responses=responses(404), name=f"history_{kind.name}")
    def history(record_id: int = ID, who: Editor = Depends(editor),
                session: Session = Depends(get_session)) -> list[dict[str, Any]]:
        return records.history(session, kind, record_id, who.scope)


for _path, _name in PATHS.items():
    if _name in BODIES:
        _register(_path, KINDS[_name])


@router.post("/households/{record_id}/move", summary="住户换房 / A household moves to another flat", responses=WRITE)
def move_household(body: HouseholdMove, request: Request, record_id: int = ID, who: Editor = Depends(editor),
                   if_match: str | None = IF_MATCH, key: str | None = IDEMPOTENCY_KEY,
                   session: Session = Depends(get_session)) -> Any:
    return once(session, request, key, who, KINDS["households"], "move", record_id, lambda: (service.move_household(
        session, who, record_id, expected=parse_if_match(if_match), building_id=body.building_id,
        entrance=body.entrance, floor=body.floor, room=body.room, reason=body.reason), 200))


@router.post("/residents/{record_id}/move", summary="居民迁移或人户分离 / A resident moves to another household, "
             "or lives apart from it (人户分离)", responses=WRITE)
def move_resident(body: ResidentMove, request: Request, record_id: int = ID, who: Editor = Depends(editor),
                  if_match: str | None = IF_MATCH, key: str | None = IDEMPOTENCY_KEY,
                  session: Session = Depends(get_session)) -> Any:
    return once(session, request, key, who, KINDS["residents"], "move", record_id, lambda: (service.move_resident(
        session, who, record_id, expected=parse_if_match(if_match), household_id=body.household_id,
        separated=body.separated, reason=body.reason), 200))



GRID = Query(..., min_length=12, max_length=18, description="a grid code at any level; its children are included",
             examples=["510107001001001"])


@router.get("/ledger", summary="某日的台帐 / The ledger of a grid as it stood at the end of a day",
            responses=responses(404))
def ledger_as_of(grid: str = GRID, as_of: date | None = Query(None, description="YYYY-MM-DD; default today"),
                 me: Principal = Depends(needs("people")), clock: Clock = Depends(get_clock),
                 session: Session = Depends(get_session)) -> dict[str, Any]:
    day = as_of or clock.now().astimezone(work_calendar().zone).date()
    return summary.ledger_as_of(session, grid, day, me.scope)


@router.get("/ledger/changes", summary="本周台帐变更 / The ledger's changes in a week, per grid",
            responses=responses(404))
def ledger_changes(grid: str = GRID, week: str | None = Query(None, description="ISO week YYYY-Www; default this week"),
                   me: Principal = Depends(needs("people")), clock: Clock = Depends(get_clock),
                   session: Session = Depends(get_session)) -> dict[str, Any]:
    now = clock.now()
    label, start, end = week_bounds(week, now + timedelta(days=7) if week is None else now)
    return {"grid": grid, "week": label, "from": start.isoformat(), "to": end.isoformat(),
            "changes": jsonable_encoder(summary.changes(session, grid, start, end, me.scope))}
