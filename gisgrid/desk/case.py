"""The case page's content: the case as the workflow tells it, the steps this caller may take on
it now (for a dispatch: whom it goes to unless another is chosen, and the grid's other staff to
choose from), and the grid outlines around its place for the small map."""

from __future__ import annotations

import json
import math
from datetime import datetime

from sqlalchemy.orm import Session

from gisgrid.cases import service, workflow
from gisgrid.cases.calendar import work_calendar
from gisgrid.core.dependencies import Actor
from gisgrid.core.enums import CaseStatus
from gisgrid.core.geojson import BBox
from gisgrid.core.paging import Page
from gisgrid.core.scope import Scope
from gisgrid.grids.service import list_grids
from gisgrid.staff.service import list_staff

FRAME_M = 150      # the map shows this far around the place at least
OUTLINES_M = 600   # and draws the grids this far around it
CHOOSING = ("dispatch", "verify_fail", "reassign")  # the steps whose form names a person


def case_page(session: Session, case_no: str, *, scope: Scope, actor: Actor, now: datetime) -> dict:
    """Everything the case page shows, for a case in ``scope`` (404 outside it, as for the API)."""
    service.case_in_scope(session, case_no, scope)
    case = workflow.detail(session, case_no=case_no, now=now)
    offered = workflow.steps(session, case_no, actor=actor)
    for step in offered:
        if step["step"] in CHOOSING:
            step["choices"] = _choices(session, step["assignee"], case, scope, leave_out_holder=step["step"] == "reassign")
    lon, lat = case["location"]["lon"], case["location"]["lat"]
    for event in case["events"]:
        event["at_local"], event["due_local"] = _local(event["at"]), _local(event["due_at"])
        # a step sent without a note is noted with its status's name: the heading says it already
        event["own_note"] = None if event["note"] == CaseStatus(event["to_status"]).label_zh else event["note"]
    case["due_local"], case["reported_local"] = _local(case["due_at"]), _local(case["reported_at"])
    return {"case": case, "etag": workflow.etag(case), "steps": offered, "names": _names(session, case),
            "map": {"bounds": _around(lon, lat, FRAME_M), "outlines": _outlines(session, lon, lat, scope)}}


def status_names(lang: str) -> dict[str, str]:
    """Each status by its name in ``lang`` (the cases domain's Chinese labels, else its own name)."""
    return {s.value: s.label_zh if lang == "zh" else s.value.replace("_", " ") for s in CaseStatus}


def _local(iso: str | None) -> str | None:
    """An ISO time as the office reads it: in the work calendar's zone, to the minute."""
    if iso is None:
        return None
    return datetime.fromisoformat(iso).astimezone(work_calendar().zone).strftime("%Y-%m-%d %H:%M")


def _choices(session: Session, assignee: dict, case: dict, scope: Scope, *, leave_out_holder: bool) -> list[dict]:
    """The staff of the grid a step's assignee is on (else the case's grid), the assignee first;
    a reassignment leaves out whoever holds the case now."""
    grid = assignee["grid"] or case["grids"]["l2"]
    rows = list_staff(session, grid=grid, role=None, page=Page(limit=200, offset=0), scope=scope)["items"] if grid else []
    people: dict[int, dict] = {}
    for row in rows:
        person = people.setdefault(row["staff_id"], {"staff_id": row["staff_id"], "name": row["name"], "roles": []})
        if row["role_label"] not in person["roles"]:
            person["roles"].append(row["role_label"])
    if assignee["staff_id"] is not None and assignee["staff_id"] not in people:  # the leading group's head, say
        known = case["handling"]["staff"] if case["handling"]["staff_id"] == assignee["staff_id"] else None
        people[assignee["staff_id"]] = {"staff_id": assignee["staff_id"], "name": known or f"#{assignee['staff_id']}",
                                        "roles": []}
    if leave_out_holder:
        people.pop(case["handling"]["staff_id"], None)
    first = [] if leave_out_holder or assignee["staff_id"] not in people else [people.pop(assignee["staff_id"])]
    return first + list(people.values())


def _names(session: Session, case: dict) -> dict:
    """The category's and sub-type's names in both languages."""
    names = {}
    for category in service.categories(session):
        for item in (category, *category["subtypes"]):
            if item["code"] in (case["category"], case["subtype"]):
                names[item["code"]] = {"zh": item["name_zh"], "en": item["name_en"]}
    return names


def _around(lon: float, lat: float, metres: float) -> list[list[float]]:
    """[[south, west], [north, east]] of a square ``metres`` each way from the point."""
    dlat = metres / 111_320
    dlon = metres / (111_320 * math.cos(math.radians(lat)))
    return [[lat - dlat, lon - dlon], [lat + dlat, lon + dlon]]


def _outlines(session: Session, lon: float, lat: float, scope: Scope) -> dict:
    """The L2 grids near the place that the caller may see, as GeoJSON."""
    (south, west), (north, east) = _around(lon, lat, OUTLINES_M)
    answer = list_grids(session, level=2, parent=None, bbox=BBox(west, south, east, north),
                        page=Page(limit=60, offset=0), scope=scope)
    collection = json.loads(answer.body)
    return {"type": "FeatureCollection", "features": collection["features"]}
