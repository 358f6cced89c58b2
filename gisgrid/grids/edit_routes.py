"""HTTP for boundary editing: thin routes over :mod:`gisgrid.grids.operations`.

Every change is a POST with a required ``reason``; ``?dry_run=true`` previews it (the same
computation, rolled back). The grid in the path carries its version in ``If-Match`` (its
ETag from ``GET /grids/{code}``); other grids a change names carry theirs in ``versions``.
The response is the impact report, with the path grid's new ETag.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Depends, File, Form, Header, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from gisgrid.auth.access import Principal, needs
from gisgrid.core.dependencies import get_session
from gisgrid.core.enums import Role
from gisgrid.core.errors import Forbidden, InvalidInput, responses
from gisgrid.core.geojson import MEDIA_TYPE
from gisgrid.core.paging import Page, page_params
from gisgrid.grids import history, operations
from gisgrid.grids.edit_report import EditReport, ImportReport
from gisgrid.grids.editing import EditRequest, etag, parse_if_match
from gisgrid.grids.layer_import import column_map as column_map_of
from gisgrid.grids.layer_import import default_reason, import_layer
from gisgrid.grids.models import no_such_grid
from gisgrid.grids.service import grid_in_scope

router = APIRouter(tags=["grid editing"])
EDIT = responses(409, 428)  # a grid changed since the version the change names, or no version named

SQUARE = {"type": "Polygon", "coordinates": [[[104.040, 30.640], [104.042, 30.640], [104.042, 30.642],
                                               [104.040, 30.642], [104.040, 30.640]]]}
DRY_RUN = Query(False, description="preview: run the change, report it, keep nothing")
ACTOR = Header(None, alias="X-Actor", description="for an administrator's integration: the person it acts "
               "for, percent-encoded UTF-8 (others edit under their own account's name)")


class Change(BaseModel):
    """What every change carries."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=1, max_length=500, description="why (kept in the grid's history)")
    mode: Literal["strict", "fit"] = Field("strict", description="strict refuses a shape that does not fit; "
                                           "fit clips it, fills slivers and says what it changed")
    versions: dict[str, int] = Field(default_factory=dict, description="grid code → the version you started "
                                     "from, for grids other than the one in the path")
    crs: str | None = Field(None, description="WGS84 (default), CGCS2000, GCJ-02, BD-09 or EPSG:xxxx",
                            examples=["GCJ-02"])


class CreateBody(Change):
    parent: str | None = Field(None, description="parent grid code; omit for a new L1 zone",
                               examples=["510107001001"])
    subdistrict: str | None = Field(None, description="sub-district code, for a new L1 zone")
    name: str = Field(..., min_length=1, max_length=100)
    serial: int | None = Field(None, ge=1, le=999, description="the last three digits; default: next free")
    geometry: dict[str, Any] = Field(..., examples=[SQUARE])


class ReshapeBody(Change):
    geometry: dict[str, Any] = Field(..., examples=[SQUARE])
    name: str | None = Field(None, min_length=1, max_length=100)


class TransferBody(Change):
    to: str = Field(..., description="the neighbouring grid that receives the area")
    area: dict[str, Any] = Field(..., description="drawn polygon: the part of this grid inside it moves",
                                 examples=[SQUARE])


class SplitPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    geometry: dict[str, Any]
    name: str | None = None
    keep: bool = Field(False, description="this part keeps the grid's code, team and history")


class SplitBody(Change):
    line: dict[str, Any] | None = Field(None, description="a LineString crossing the grid")
    parts: list[SplitPart] | None = Field(None, max_length=100, description="or polygons that together cover the grid")
    names: list[str] | None = Field(None, max_length=100,
                                    description="names of the new grids (line split), north-west first")


class MergeBody(Change):
    codes: list[str] = Field(..., min_length=2, max_length=100, description="adjacent grids of one parent")
    into: str | None = Field(None, description="the grid that stays (default: the smallest code)")
    name: str | None = Field(None, min_length=1, max_length=100)


class RetireBody(Change):
    into: str | None = Field(None, description="the neighbour that takes all of the area")
    leave_uncovered: bool = Field(False, description="allow the area to become a blind spot")


class RestoreBody(Change):
    version: int = Field(..., ge=1, description="the version to make current again")


def _versions(body: Change, code: str | None, if_match: str | None) -> dict[str, int]:
    versions = dict(body.versions)
    header = parse_if_match(if_match)
    if header is not None and code is not None:
        if code in versions and versions[code] != header:
            raise InvalidInput(f"If-Match（v{header}）与 versions 中的 {code}（{versions[code]}）不一致 / If-Match "
                               f"and versions disagree about {code}", where="If-Match")
        versions[code] = header
    return versions


@dataclass(frozen=True)
class Editor:
    """Who edits: the caller, and the name their change goes down in history under."""

    principal: Principal
    name: str


def editor(principal: Principal = Depends(needs("edit")), actor: str | None = ACTOR) -> Editor:
    """An administrator's integration may name the person it acts for (``X-Actor``); anyone else
    edits under their own account's name. Either way the audit log names the account."""
    named = unquote(actor)[:100] if actor and principal.role is Role.ADMIN else ""
    return Editor(principal, named.strip() or principal.username)


def _within_scope(session: Session, who: Editor, report: EditReport) -> None:
    """A change may only touch grids in the editor's area: one that reaches outside it (a
    neighbour in another community, a new zone) is undone and refused."""
    outside = sorted({g["code"] for g in report.get("grids", []) if g.get("code")
                      and not who.principal.sees_code(g["code"])})
    if outside:
        session.rollback()
        raise Forbidden(f"此修改涉及管辖范围外的网格 {', '.join(outside)} / the change touches grids outside your "
                        f"area: {', '.join(outside)}", where="grids")


def _run(session: Session, body: Change, code: str | None, if_match: str | None, who: Editor,
         dry_run: bool, response: Response, call: Callable[[EditRequest], EditReport]) -> EditReport:
    if code is not None:
        grid_in_scope(session, who.principal, code)
    request = EditRequest(actor=who.name, reason=body.reason, mode=body.mode,
                          versions=_versions(body, code, if_match), dry_run=dry_run)
    report = call(request)
    _within_scope(session, who, report)
    if dry_run:
        session.rollback()
    else:
        session.commit()
    grid = next((g for g in report["grids"] if g["code"] == code), None)
    if grid is not None and grid["version_after"] is not None and not dry_run:
        response.headers["ETag"] = etag(grid["version_after"])
    response.status_code = 200 if dry_run else (201 if report["operation"] == "create" else 200)
    return report


@router.get("/grids/{code}", response_class=Response, summary="单个网格 / One grid, with its version as ETag",
            responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON Feature; ETag header"}})
def get_grid(code: str, me: Principal = Depends(needs("maps")), session: Session = Depends(get_session)) -> Response:
    grid_in_scope(session, me, code)
    feature, version = history.current(session, code)
    return Response(feature, media_type=MEDIA_TYPE, headers={"ETag": etag(version)})


@router.get("/grids/{code}/history", response_class=Response, summary="网格沿革 / Every version of a grid",
            responses={200: {"content": {MEDIA_TYPE: {}}, "description": "GeoJSON FeatureCollection"}})
def grid_history(code: str, page: Page = Depends(page_params), me: Principal = Depends(needs("maps")),
                 session: Session = Depends(get_session)) -> Response:
    """Newest first: who, when, why, which operation, and the shape of each version (by any code
    the grid had: one outside the caller's scope does not exist for them)."""
    if not me.sees_code(code):
        raise no_such_grid(code)
    return history.history(session, code, page)


@router.post("/grids", status_code=201, summary="新建网格 / Create a grid",
             responses={**EDIT, 200: {"description": "dry_run: the impact report; nothing changed"}})
def create_grid(body: CreateBody, response: Response, dry_run: bool = DRY_RUN, who: Editor = Depends(editor),
                session: Session = Depends(get_session)) -> EditReport:
    return _run(session, body, None, None, who, dry_run, response, lambda r: operations.create(
        session, r, geometry=body.geometry, crs=body.crs, parent=body.parent, subdistrict=body.subdistrict,
        name=body.name, serial=body.serial))


@router.post("/grids/merge", summary="合并网格 / Merge adjacent grids",
             responses=EDIT)
def merge_grids(body: MergeBody, response: Response, dry_run: bool = DRY_RUN, who: Editor = Depends(editor),
                session: Session = Depends(get_session)) -> EditReport:
    return _run(session, body, None, None, who, dry_run, response, lambda r: operations.merge(
        session, r, body.codes, into=body.into, name=body.name))


@router.post("/grids/import", summary="导入网格图层 / Import a layer of grids as one change",
             responses=EDIT)
def import_grids(
    response: Response,
    file: UploadFile = File(..., description="GeoJSON, GeoPackage or zipped Shapefile"),
    reason: str | None = Form(None, min_length=1, max_length=500, description="why (kept in the history); a first "
                              "import into families without grids defaults to '导入 FILE'"),
    mode: Literal["strict", "fit"] = Form("strict"),
    crs: str | None = Form(None),
    layer: str | None = Form(None, description="layer name in a GeoPackage"),
    level: int | None = Form(None, ge=1, le=3, description="the file's level: features may then lack codes, "
                             "each parent is found by containment"),
    assign_codes: bool = Form(False, description="number features without a code by the scheme"),
    column_map: list[str] | None = Form(None, alias="map", description="FIELD=COLUMN, e.g. name=网格名"),
    if_match: str | None = Header(None, alias="If-Match", description="the layer ETag the dry run returned"),
    dry_run: bool = DRY_RUN,
    who: Editor = Depends(editor),
    session: Session = Depends(get_session),
) -> ImportReport:
    suffix = Path(file.filename or "upload.geojson").suffix.lower()
    stem = Path(file.filename or "upload").stem or "upload"
    request = EditRequest(actor=who.name, reason=reason or default_reason(stem + suffix), mode=mode, dry_run=dry_run)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{stem}{suffix}"
        path.write_bytes(file.file.read())
        report = import_layer(session, request, path, crs=crs, layer=layer, expected_etag=if_match, level=level,
                              assign_codes=assign_codes, columns=column_map_of(column_map),
                              reason_given=reason is not None)
    _within_scope(session, who, report)
    if dry_run:
        session.rollback()
    else:
        session.commit()
    if dry_run:
        response.headers["ETag"] = report["etag"]
    return report


@router.post("/grids/{code}/reshape", summary="修改网格形状 / Reshape a grid",
             responses=EDIT)
def reshape_grid(code: str, body: ReshapeBody, response: Response, dry_run: bool = DRY_RUN, who: Editor = Depends(editor),
                 if_match: str | None = Header(None, alias="If-Match"),
                 session: Session = Depends(get_session)) -> EditReport:
    return _run(session, body, code, if_match, who, dry_run, response, lambda r: operations.reshape(
        session, r, code, geometry=body.geometry, crs=body.crs, name=body.name))


@router.post("/grids/{code}/transfer", summary="边界调整：划出一块给相邻网格 / Give part of a grid to a neighbour",
             responses=EDIT)
def transfer_area(code: str, body: TransferBody, response: Response, dry_run: bool = DRY_RUN, who: Editor = Depends(editor),
                  if_match: str | None = Header(None, alias="If-Match"),
                  session: Session = Depends(get_session)) -> EditReport:
    return _run(session, body, code, if_match, who, dry_run, response, lambda r: operations.transfer(
        session, r, code, to=body.to, area=body.area, crs=body.crs))


@router.post("/grids/{code}/split", summary="拆分网格 / Split a grid by a line or into parts",
             responses=EDIT)
def split_grid(code: str, body: SplitBody, response: Response, dry_run: bool = DRY_RUN, who: Editor = Depends(editor),
               if_match: str | None = Header(None, alias="If-Match"),
               session: Session = Depends(get_session)) -> EditReport:
    parts = [p.model_dump() for p in body.parts] if body.parts is not None else None
    return _run(session, body, code, if_match, who, dry_run, response, lambda r: operations.split(
        session, r, code, line=body.line, parts=parts, names=body.names, crs=body.crs))


@router.post("/grids/{code}/retire", summary="撤销网格 / Retire a grid, its area going to neighbours",
             responses=EDIT)
def retire_grid(code: str, body: RetireBody, response: Response, dry_run: bool = DRY_RUN, who: Editor = Depends(editor),
                if_match: str | None = Header(None, alias="If-Match"),
                session: Session = Depends(get_session)) -> EditReport:
    return _run(session, body, code, if_match, who, dry_run, response, lambda r: operations.retire(
        session, r, code, into=body.into, leave_uncovered=body.leave_uncovered))


@router.post("/grids/{code}/restore", summary="恢复旧版本 / Make an old version current again",
             responses=EDIT)
def restore_grid(code: str, body: RestoreBody, response: Response, dry_run: bool = DRY_RUN, who: Editor = Depends(editor),
                 if_match: str | None = Header(None, alias="If-Match"),
                 session: Session = Depends(get_session)) -> EditReport:
    return _run(session, body, code, if_match, who, dry_run, response, lambda r: operations.restore(
        session, r, code, version=body.version))

