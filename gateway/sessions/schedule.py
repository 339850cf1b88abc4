"""Session schedules (StartTime/EndTime, StartDay/EndDay, TimeZone), pure.

A session with neither StartTime nor EndTime is non-stop. A daily schedule whose
StartTime is later than its EndTime wraps midnight. A weekly schedule runs from StartDay
StartTime to EndDay EndTime. Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


class SessionSchedule:
    def __init__(
        self,
        start_time: dt.time | None,
        end_time: dt.time | None,
        start_day: int | None = None,
        end_day: int | None = None,
        time_zone: str = "UTC",
    ) -> None:
        self.start_time = start_time
        self.end_time = end_time
        self.start_day = start_day
        self.end_day = end_day
        self.tz = ZoneInfo(time_zone)

    @property
    def non_stop(self) -> bool:
        return self.start_time is None or self.end_time is None

    def session_start(self, now: float) -> float | None:
        """Start (epoch seconds) of the session period containing ``now``, or None if outside."""
        if self.non_stop:
            return 0.0
        assert self.start_time is not None and self.end_time is not None
        local = dt.datetime.fromtimestamp(now, self.tz)
        if self.start_day is not None and self.end_day is not None:
            return self._weekly_start(local)
        start, end = self.start_time, self.end_time
        t = local.time()
        today = local.date()
        if start <= end:
            if start <= t <= end:
                return dt.datetime.combine(today, start, self.tz).timestamp()
            return None
        # wraps midnight
        if t >= start:
            return dt.datetime.combine(today, start, self.tz).timestamp()
        if t <= end:
            return dt.datetime.combine(today - dt.timedelta(days=1), start, self.tz).timestamp()
        return None

    def _weekly_start(self, local: dt.datetime) -> float | None:
        assert self.start_time and self.end_time and self.start_day is not None
        assert self.end_day is not None
        # walk back to the most recent start moment and check that the end is not passed
        for back in range(0, 8):
            day = local.date() - dt.timedelta(days=back)
            if day.weekday() != self.start_day:
                continue
            start = dt.datetime.combine(day, self.start_time, self.tz)
            if start > local:
                continue
            span = (self.end_day - self.start_day) % 7
            end = dt.datetime.combine(day + dt.timedelta(days=span), self.end_time, self.tz)
            if end <= start:
                end += dt.timedelta(days=7)
            return start.timestamp() if local <= end else None
        return None

    def is_in_session(self, now: float) -> bool:
        return self.session_start(now) is not None

    def is_same_session(self, earlier: float, now: float) -> bool:
        """True when ``earlier`` and ``now`` fall in the same session period."""
        if self.non_stop:
            return True
        a = self.session_start(earlier)
        b = self.session_start(now)
        return a is not None and a == b
