"""The time, as a dependency: deadlines and escalation ask the app's clock, so tests move time
forward instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import Request


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
