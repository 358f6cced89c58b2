"""The local calendar: where a day begins in the settings' time zone, whatever the database's is.

Cases, field visits and reports all filter by calendar days; the working-hours calendar of case
deadlines (``gisgrid.cases.calendar``) is the cases' own.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gisgrid.core.errors import InvalidInput
from gisgrid.core.settings import get_settings


def local_midnight(day: date, days_after: int = 0) -> datetime:
    """The start of a local calendar day (the settings' time zone), whatever the database's is."""
    if not 1900 <= day.year <= 2200:
        raise InvalidInput(f"日期 {day} 超出 1900–2200 年 / the date {day} is outside 1900–2200", where="from")
    return datetime.combine(day + timedelta(days=days_after), time.min, ZoneInfo(get_settings().timezone))
