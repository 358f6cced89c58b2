"""The report every boundary change returns — preview or saved, from HTTP or the command line.

Typed once here so the routes declare it (OpenAPI shows it, schemathesis checks responses
against it) and the formatter and callers read fields the type names. ``extra="forbid"``: a
field the service adds without declaring it here fails the response instead of slipping out.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only from Python 3.12

EXACT = ConfigDict(extra="forbid")
Geometry = dict[str, Any]  # a GeoJSON geometry
Status = Literal["under", "within", "over"]


@with_config(EXACT)
class GridChange(TypedDict):
    """One grid the change writes: its code (and the one it had), versions and areas around it."""

    code: str
    previous_code: str | None
    name: str
    level: int
    parent_code: str | None
    actions: list[str]
    version_before: int | None
    version_after: int | None
    area_m2_before: float | None
    area_m2_after: float | None
    geometry: Geometry | None


# What ``mode=fit`` changed in a shape to make it fit, and why ("with": the sibling it gave way to).
Adjustment = with_config(EXACT)(TypedDict("Adjustment", {
    "grid": str, "what": Literal["clipped_to_parent", "clipped_to_sibling", "filled_slivers", "child_clipped",
                                 "assigned_leftover"],
    "area_m2": float, "message": str, "with": NotRequired[str]}))


@with_config(EXACT)
class ReleasedMember(TypedDict):
    """A team member whose grid was retired: to be given another grid."""

    staff_id: int
    name: str
    role: str
    grid: str


# The grid a point leaves and the one it enters at one level ("from" is a Python keyword).
LevelMove = with_config(EXACT)(TypedDict("LevelMove", {"from": str | None, "to": str | None}))


@with_config(EXACT)
class MovedPoint(TypedDict):
    """A building, unit or shop that changes grid (a building with the households and people
    it takes along)."""

    id: int
    name: str | None
    lon: float
    lat: float
    levels: dict[str, LevelMove]
    households: NotRequired[int]
    people: NotRequired[int]


@with_config(EXACT)
class CaseMove(TypedDict):
    """An open case that now falls in another grid."""

    id: int
    case_no: str
    title: str
    reported_in: str | None
    grids_before: list[str | None]
    grids_after: list[str | None]


@with_config(EXACT)
class Load(TypedDict):
    households: int
    people: int
    status: Status
    people_status: Status


@with_config(EXACT)
class LoadChange(TypedDict):
    """A grid's load against its band, before and after (``None``: created or retired)."""

    code: str
    name: str
    level: int
    band: list[int]
    people_band: list[int]
    before: Load | None
    after: Load | None


@with_config(EXACT)
class DefectPiece(TypedDict):
    """A blind spot, overlap or spill (or, below the tolerance, a sliver) made or mended."""

    type: str
    label: str
    level: int
    area_m2: float
    geometry: Geometry


@with_config(EXACT)
class Defects(TypedDict):
    created: list[DefectPiece]
    removed: list[DefectPiece]


@with_config(EXACT)
class Impact(TypedDict):
    """What the change does to the ground: points that change grid, loads, open cases, defects."""

    moves: dict[str, list[MovedPoint]]
    households_moved: int
    people_moved: int
    open_cases: list[CaseMove]
    loads: list[LoadChange]
    defects: Defects


@with_config(EXACT)
class EditReport(TypedDict):
    """The whole report of one change."""

    operation: str
    dry_run: bool
    mode: Literal["strict", "fit"]
    reason: str
    grids: list[GridChange]
    adjustments: list[Adjustment]
    warnings: list[str]
    released_team: list[ReleasedMember]
    impact: Impact | None


@with_config(EXACT)
class ImportSummary(TypedDict):
    file: str
    features: int
    created: int
    reshaped: int
    renamed: int
    retired: int
    unchanged: int


@with_config(EXACT)
class NewGrid(TypedDict):
    """A grid an import creates: the feature it comes from, its code (the file's, or ``assigned``
    by the scheme), its name, and its parent (a grid's code, or the sub-district's for an L1 zone)."""

    feature: int
    code: str
    name: str
    parent: str
    assigned: bool


class ImportReport(EditReport):
    """An import's report also counts what it does to the file's features, lists the grids it
    creates, and carries the layer's ETag (what the real import must name after a dry run)."""

    summary: ImportSummary
    etag: str
    new_grids: list[NewGrid]
