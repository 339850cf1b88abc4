"""gateway.fix.timeutil: UTCTimestamp formatting and parsing, with their one-entry caches."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fix.timeutil import parse_utc_timestamp, utc_timestamp

T0 = calendar.timegm((2024, 3, 15, 13, 45, 30))


def test_same_now_different_precisions() -> None:
    now = T0 + 0.123456789
    assert utc_timestamp(now) == b"20240315-13:45:30.123"
    assert utc_timestamp(now, 6) == b"20240315-13:45:30.123456"
    assert utc_timestamp(now, 0) == b"20240315-13:45:30"
    assert utc_timestamp(now) == b"20240315-13:45:30.123"
    assert utc_timestamp(now + 1) == b"20240315-13:45:31.123"


@pytest.mark.parametrize(
    "value",
    [b"", b"20240315-13:45:30.12", b"20240315-13:45:30.1x3", b"20240315-24:00:00", b"2024031513:45:30"],
)
def test_malformed_after_a_good_one_is_none(value: bytes) -> None:
    good = b"20240315-13:45:30.123"
    assert parse_utc_timestamp(good) == pytest.approx(T0 + 0.123)
    assert parse_utc_timestamp(value) is None
    assert parse_utc_timestamp(good) == pytest.approx(T0 + 0.123)
    assert parse_utc_timestamp(value) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3 * 86_400_000), min_size=1, max_size=8), st.sampled_from([0, 3, 6, 9]))
def test_round_trip_whatever_came_before(millis: list[int], precision: int) -> None:
    for ms in [*millis, *reversed(millis)]:
        now = T0 + ms / 1000
        stamp = utc_timestamp(now, precision)
        assert stamp == utc_timestamp(now, precision)
        parsed = parse_utc_timestamp(stamp)
        assert parsed is not None
        # the stamp truncates to its precision (and the float product may land just below)
        assert now - 10.0**-precision - 1e-6 <= parsed <= now + 1e-6


def test_millisecond_table_agrees_with_the_general_path() -> None:
    for ms in (0, 1, 7, 99, 123, 500, 999):
        first = b"20240315-13:45:3%d.%03d" % (ms % 10, ms)  # a new second: the general path
        value = parse_utc_timestamp(first)
        other = b"20240315-13:45:3%d.%03d" % (ms % 10, (ms + 1) % 1000)
        assert parse_utc_timestamp(other) is not None  # same second: the table
        assert parse_utc_timestamp(first) == value
        assert value == calendar.timegm((2024, 3, 15, 13, 45, 30 + ms % 10)) + ms / 1000


def test_same_second_with_a_bad_fraction_is_none() -> None:
    assert parse_utc_timestamp(b"20240315-13:45:30.123") is not None
    for bad in (b"20240315-13:45:30.12a", b"20240315-13:45:30.1234", b"20240315-13:45:30x123"):
        assert parse_utc_timestamp(bad) is None
