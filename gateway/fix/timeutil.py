"""UTCTimestamp formatting and parsing for FIX, cheap enough for every message.

Formatting caches the date-and-seconds prefix, so a SendingTime costs one integer
formatting per message. Time is always passed in (seconds since the epoch, float or int):
this module reads no clock.
"""

from __future__ import annotations

import calendar
import time

_prefix_second = -1
_prefix = b""
# the last stamp made: messages sent in one event-loop callback share ``now``
_last_now = -1.0
_last_precision = -1
_last_stamp = b""


def utc_timestamp(now: float, precision: int = 3) -> bytes:
    """``YYYYMMDD-HH:MM:SS[.fff[fff[fff]]]`` for ``now`` (seconds since the epoch)."""
    global _prefix_second, _prefix, _last_now, _last_precision, _last_stamp
    if now == _last_now and precision == _last_precision:
        return _last_stamp
    sec = int(now)
    if sec != _prefix_second:
        _prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec)).encode()
        _prefix_second = sec
    if precision == 3:
        stamp = b"%s.%03d" % (_prefix, (now - sec) * 1000)  # %d truncates a float, like int()
    elif precision == 0:
        stamp = _prefix
    elif precision == 6:
        stamp = _prefix + b".%06d" % int((now - sec) * 1_000_000)
    else:
        stamp = _prefix + b".%09d" % int((now - sec) * 1_000_000_000)
    _last_now, _last_precision, _last_stamp = now, precision, stamp
    return stamp


_day_cache: dict[bytes, int] = {}
_last_second = b""  # "YYYYMMDD-HH:MM:SS" of the last timestamp parsed, and its value
_last_second_value = 0
_last_value: bytes | None = None  # the last well-formed timestamp parsed, and its value
_last_result = 0.0


def parse_utc_timestamp(value: bytes) -> float | None:
    """Seconds since the epoch for a FIX UTCTimestamp, or None when it is malformed.

    Messages arrive in time order: one whose second is the last one's only parses its
    fraction.
    """
    global _last_second, _last_second_value, _last_value, _last_result
    if value == _last_value:
        return _last_result  # messages of one read often share their SendingTime
    if _last_second and value.startswith(_last_second):
        # the same second as the last one: a millisecond fraction is one table look-up
        millis = _MILLIS.get(value[17:])
        if millis is not None:
            result = _last_second_value + millis
            _last_value, _last_result = value, result
            return result
    n = len(value)
    if value[:17] == _last_second:
        if n == 17:
            return float(_last_second_value)
        digits = value[18:]
        if value[17:18] != b"." or n - 18 not in (3, 6, 9) or not digits.isdigit():
            return None
        result = _last_second_value + int(digits) / _FRAC_SCALE[n - 18]
        _last_value, _last_result = value, result
        return result
    if n < 17 or value[8:9] != b"-" or value[11:12] != b":" or value[14:15] != b":":
        return None
    day = value[:8]
    base = _day_cache.get(day)
    if base is None:
        if not day.isdigit():
            return None
        try:
            base = calendar.timegm((int(day[:4]), int(day[4:6]), int(day[6:8]), 0, 0, 0))
        except (ValueError, OverflowError):
            return None
        month, dom = int(day[4:6]), int(day[6:8])
        if not (1 <= month <= 12 and 1 <= dom <= 31):
            return None
        if len(_day_cache) > 1000:
            _day_cache.clear()
        _day_cache[day] = base
    hh, mm, ss = value[9:11], value[12:14], value[15:17]
    if not (hh.isdigit() and mm.isdigit() and ss.isdigit()):
        return None
    h, m, s = int(hh), int(mm), int(ss)
    if h > 23 or m > 59 or s > 60:
        return None
    second = base + h * 3600 + m * 60 + s
    frac = 0.0
    if n > 17:
        if value[17:18] != b"." or n - 18 not in (3, 6, 9) or not value[18:].isdigit():
            return None
        frac = int(value[18:]) / _FRAC_SCALE[n - 18]
    _last_second, _last_second_value = value[:17], second
    result = second + frac
    _last_value, _last_result = value, result
    return result


_FRAC_SCALE = {3: 1000, 6: 1_000_000, 9: 1_000_000_000}
# ".000" .. ".999" -> the fraction, as the general path computes it
_MILLIS: dict[bytes, float] = {b".%03d" % i: i / 1000 for i in range(1000)}
