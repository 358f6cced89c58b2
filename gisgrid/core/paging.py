"""Paging shared by every list: limit/offset over a stable order, with the total matched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import ConfigDict, with_config
from sqlalchemy import Result, text
from sqlalchemy.orm import Session
from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only from Python 3.12

from gisgrid.core.errors import InvalidInput
from gisgrid.core.settings import get_settings

Item = TypeVar("Item")


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page_params(
    limit: int = Query(100, ge=1, description="features per page (at most the server's page cap)"),
    offset: int = Query(0, ge=0, le=2_147_483_647, description="features to skip; pages are in a stable order"),
) -> Page:
    cap = get_settings().max_page_size
    if limit > cap:
        raise InvalidInput(f"每页最多 {cap} 条 / limit {limit} is above the page cap of {cap} (GISGRID_MAX_PAGE_SIZE)",
                           where="limit")
    return Page(limit=limit, offset=offset)


class Where:
    """A list's filters: SQL conditions joined with AND, with their bound parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: dict = {}

    def add(self, condition: str, params: dict | None = None, **named) -> None:
        self.conditions.append(condition)
        self.params.update(params or {}, **named)

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions) or "true"


@with_config(ConfigDict(extra="forbid"))
class JsonPage(TypedDict, Generic[Item]):
    """The envelope of every plain JSON list (the OGC API's names): how many match the filters,
    how many this page holds, and the page."""

    numberMatched: int
    numberReturned: int
    items: list[Item]


def counted_page(session: Session, *, rows_sql: str, count_sql: str, params: dict, page: Page) -> tuple[int, Result]:
    """How many rows match (``count_sql``), then one page of them: every list's envelope, JSON
    or GeoJSON, is this count and this page. ``rows_sql`` carries its own stable ORDER BY."""
    matched = session.execute(text(count_sql), params).scalar_one()
    rows = session.execute(
        text(f"{rows_sql} LIMIT :_limit OFFSET :_offset"),
        {**params, "_limit": page.limit, "_offset": page.offset},
    )
    return matched, rows


def json_page(session: Session, *, rows_sql: str, count_sql: str, params: dict, page: Page) -> JsonPage[dict[str, Any]]:
    """A page of plain JSON items."""
    matched, rows = counted_page(session, rows_sql=rows_sql, count_sql=count_sql, params=params, page=page)
    items = [dict(row._mapping) for row in rows]
    return {"numberMatched": matched, "numberReturned": len(items), "items": items}
