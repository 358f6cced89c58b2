"""What the case routes answer: a case with its timeline, and the rows of the case list.

Typed once so the routes declare them (OpenAPI, schemathesis) and callers read named fields;
``extra="forbid"``: a field the service adds without declaring it here fails the response.
Times in a case's detail are ISO 8601 text, as the timeline is built in SQL.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only from Python 3.12

from gisgrid.core.enums import CaseStatus, ReporterKind

EXACT = ConfigDict(extra="forbid")


@with_config(EXACT)
class Reporter(TypedDict):
    name: str
    kind: ReporterKind
    staff_id: int | None


@with_config(EXACT)
class Place(TypedDict):
    """Longitude and latitude as SQL wrote them (a whole degree stays an integer in the JSON)."""

    lon: int | float
    lat: int | float


@with_config(EXACT)
class CaseGrids(TypedDict):
    """The grid at each level the case was reported in (kept when boundaries move later)."""

    l1: str | None
    l2: str | None
    l3: str | None


@with_config(EXACT)
class Handling(TypedDict):
    """Who has the case now: the level (2 grid, 1 community, 0 leading group), grid and person."""

    level: int | None
    grid: str | None
    staff_id: int | None
    staff: str | None


@with_config(EXACT)
class CaseEvent(TypedDict):
    """One step of the timeline, with the deadline of the stage it ended and whether it was met."""

    id: int
    kind: str
    at: str
    from_status: CaseStatus | None
    to_status: CaseStatus
    actor: str
    actor_staff_id: int | None
    note: str
    assignee_staff_id: int | None
    assignee: str | None
    handling_level: int | None
    due_at: str | None
    on_time: bool | None
    attachment_ids: list[int]


@with_config(EXACT)
class Attachment(TypedDict):
    id: int
    filename: str
    media_type: str
    size_bytes: int
    event_id: int | None
    uploaded_by: str
    uploaded_at: str


@with_config(EXACT)
class CaseDetail(TypedDict):
    """A case, the steps allowed from where it stands, its timeline and its attachments."""

    case_no: str
    subdistrict: str
    category: str
    subtype: str | None
    title: str
    description: str
    status: CaseStatus
    reporter: Reporter
    location: Place
    building_id: int | None
    address: str | None
    grids: CaseGrids
    handling: Handling
    due_at: str | None
    overdue: bool
    escalations: int
    reopens: int
    duplicate_of: str | None
    satisfaction: int | None
    feedback: str | None
    reported_at: str
    updated_at: str
    closed_at: str | None
    allowed: list[CaseStatus]
    events: list[CaseEvent]
    attachments: list[Attachment]


class ReportedCase(CaseDetail):
    """A new case as its reporter gets it back: with the tracking code to follow it by."""

    tracking_code: str


@with_config(EXACT)
class CaseRow(TypedDict):
    """One line of the case list."""

    id: int
    case_no: str
    title: str
    category_code: str
    category: str
    subtype_code: str | None
    status: CaseStatus
    reported_at: datetime
    closed_at: datetime | None
    lon: float
    lat: float
    grid_code: str | None
    handling_level: int | None
    assignee_staff_id: int | None
    assignee: str | None
    due_at: datetime | None
    overdue: bool
    escalations: int
