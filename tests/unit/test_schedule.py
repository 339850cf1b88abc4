"""Session schedules: daily, wrapping midnight, weekly, time zones."""

from __future__ import annotations

import datetime as dt

from gateway.sessions.schedule import SessionSchedule


def ts(text: str, tz: str = "UTC") -> float:
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def test_non_stop() -> None:
    s = SessionSchedule(None, None)
    assert s.is_in_session(0) and s.is_same_session(0, 10**9)


def test_daily_window() -> None:
    s = SessionSchedule(dt.time(8), dt.time(17))
    assert s.is_in_session(ts("2026-11-20 09:00"))
    assert not s.is_in_session(ts("2026-11-20 18:00"))
    assert s.is_same_session(ts("2026-11-20 08:30"), ts("2026-11-20 16:00"))
    assert not s.is_same_session(ts("2026-11-19 16:00"), ts("2026-11-20 09:00"))


def test_daily_window_wrapping_midnight() -> None:
    s = SessionSchedule(dt.time(22), dt.time(6))
    assert s.is_in_session(ts("2026-11-20 23:00")) and s.is_in_session(ts("2026-11-21 05:00"))
    assert not s.is_in_session(ts("2026-11-21 12:00"))
    assert s.is_same_session(ts("2026-11-20 23:00"), ts("2026-11-21 05:00"))


def test_weekly_window_and_time_zone() -> None:
    # Sunday 17:00 New York to Friday 17:00 New York (an FX week)
    s = SessionSchedule(
        dt.time(17), dt.time(17), start_day=6, end_day=4, time_zone="America/New_York"
    )
    assert s.is_in_session(ts("2026-11-18 12:00", "America/New_York"))  # Wednesday
    assert not s.is_in_session(ts("2026-11-21 12:00", "America/New_York"))  # Saturday
    assert s.is_same_session(
        ts("2026-11-16 09:00", "America/New_York"), ts("2026-11-20 16:00", "America/New_York")
    )
