"""The time, as a dependency: deadlines and escalation ask the app's clock, so tests move time
forward instead of sleeping."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import Request
from pydantic import BeforeValidator


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until told to move."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


Clock = SystemClock | FixedClock


def get_clock(request: Request) -> Clock:
    return request.app.state.clock


def _written_out(value: object) -> object:
    """pydantic reads a number as a Unix time, so ``?to=20260102`` would be a day of 1970: a date
    sent in a query or a body must be written out (YYYY-MM-DD…)."""
    if not isinstance(value, date) and not (isinstance(value, str) and re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)):
        raise ValueError(f"日期应写作 YYYY-MM-DD / a date is written YYYY-MM-DD (a time after it), got {value!r}")
    return value


# a date and a moment as requests send them (a required parameter is ``Annotated[Day, Query(...)]``:
# FastAPI drops the check from a bare ``Day = Query(...)``)
Day = Annotated[date, BeforeValidator(_written_out)]
Moment = Annotated[datetime, BeforeValidator(_written_out)]
