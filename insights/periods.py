"""The period a dashboard shows: local dates in a chosen time zone, and their UTC bounds."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo

PERIOD_DAYS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PERIOD = "30d"
MAX_DAYS = 366 * 2


@dataclass(frozen=True)
class Period:
    start: date  # first local day shown
    end: date  # last local day shown (inclusive)
    tz: ZoneInfo

    @property
    def utc_start(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=self.tz).astimezone(dt_timezone.utc)

    @property
    def utc_end(self) -> datetime:
        """Exclusive end: local midnight after the last day, in UTC."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.tz).astimezone(dt_timezone.utc)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "tz": self.tz.key}


def period_resolve(*, period: str, tz: ZoneInfo, start: date | None, end: date | None, now: datetime) -> Period:
    """A period ending on `end` (default: today in `tz`).

    Anchored to the clock, not to the newest event: one event posted with a later date
    must not move "last 30 days" away from everything else. When the data is older than
    the period, the dashboard says so (see `selectors.period_coverage`).
    `start` given: from `start` to `end`; otherwise the last N days of `period`.
    """
    if end is None:
        end = now.astimezone(tz).date()
    if start is None:
        start = end - timedelta(days=PERIOD_DAYS[period] - 1)
    return Period(start=start, end=end, tz=tz)
