"""Working time: case deadlines are counted in working hours of the local calendar (work days,
work periods, holidays and swapped working weekends from the settings)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from gisgrid.core.errors import SetupError
from gisgrid.core.settings import get_settings


@dataclass(frozen=True)
class WorkCalendar:
    zone: ZoneInfo
    days: frozenset[int]
    periods: tuple[tuple[time, time], ...]
    holidays: frozenset[date]
    extra: frozenset[date]

    def is_workday(self, day: date) -> bool:
        return day in self.extra or (day.weekday() in self.days and day not in self.holidays)

    def add(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` working hours after ``start`` (an aware datetime)."""
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(3660):  # ten years of days: a calendar with no working time fails below
            if self.is_workday(day):
                for begin, end in self.periods:
                    period_end = datetime.combine(day, end, self.zone)
                    if local >= period_end:
                        continue
                    period_start = max(local, datetime.combine(day, begin, self.zone))
                    available = period_end - period_start
                    if remaining <= available:
                        return (period_start + remaining).astimezone(start.tzinfo)
                    remaining -= available
            day += timedelta(days=1)
        raise SetupError("工作日历没有工作时间 / the work calendar has no working time (GISGRID_WORK_DAYS, "
                         "GISGRID_WORK_HOURS)")

    def hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours from ``start`` to ``end`` (aware datetimes), the inverse of :meth:`add`;
        negative when ``end`` comes first: the hours left before a deadline, or how far past it."""
        if end < start:
            return -self.hours_between(end, start)
        first, last = start.astimezone(self.zone), end.astimezone(self.zone)
        worked = timedelta()
        day = first.date()
        while day <= last.date():
            if self.is_workday(day):
                for begin, finish in self.periods:
                    span = (min(last, datetime.combine(day, finish, self.zone))
                            - max(first, datetime.combine(day, begin, self.zone)))
                    worked += max(span, timedelta())
            day += timedelta(days=1)
        return worked.total_seconds() / 3600


def _period(text: str) -> tuple[time, time]:
    try:
        begin, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as exc:
        raise SetupError(f"工作时段格式应为 HH:MM-HH:MM / a work period is HH:MM-HH:MM, got {text!r}") from exc
    if begin >= end:
        raise SetupError(f"工作时段 {text!r} 起点不早于终点 / work period {text!r} ends before it begins")
    return begin, end


@lru_cache
def work_calendar() -> WorkCalendar:
    settings = get_settings()
    return WorkCalendar(
        zone=ZoneInfo(settings.timezone),
        days=frozenset(settings.work_days),
        periods=tuple(sorted(_period(p) for p in settings.work_hours)),
        holidays=frozenset(settings.holidays),
        extra=frozenset(settings.workdays_extra),
    )
