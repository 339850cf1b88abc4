"""Enumerated FIX field values used by the order path (OrdStatus, ExecType, ...).

Kept apart from ``tags`` so that ``tags.OrdStatus`` (the tag number 39) and
``enums.OrdStatus.FILLED`` (the value b"2") can both carry their FIX names.
"""

from __future__ import annotations


class OrdStatus:
    """OrdStatus(39) values."""

    NEW = b"0"
    PARTIALLY_FILLED = b"1"
    FILLED = b"2"
    DONE_FOR_DAY = b"3"
    CANCELED = b"4"
    PENDING_CANCEL = b"6"
    STOPPED = b"7"
    REJECTED = b"8"
    SUSPENDED = b"9"
    PENDING_NEW = b"A"
    EXPIRED = b"C"
    PENDING_REPLACE = b"E"


class ExecType:
    """ExecType(150) values (FIX 4.4)."""

    NEW = b"0"
    DONE_FOR_DAY = b"3"
    CANCELED = b"4"
    REPLACED = b"5"
    PENDING_CANCEL = b"6"
    REJECTED = b"8"
    PENDING_NEW = b"A"
    EXPIRED = b"C"
    RESTATED = b"D"
    PENDING_REPLACE = b"E"
    TRADE = b"F"
    TRADE_CORRECT = b"G"
    TRADE_CANCEL = b"H"
    ORDER_STATUS = b"I"


class Side:
    BUY = b"1"
    SELL = b"2"


class OrdType:
    MARKET = b"1"
    LIMIT = b"2"


class TimeInForce:
    DAY = b"0"
    GOOD_TILL_CANCEL = b"1"
    IMMEDIATE_OR_CANCEL = b"3"
    FILL_OR_KILL = b"4"


class OrdRejReason:
    BROKER_OPTION = 0
    UNKNOWN_SYMBOL = 1
    EXCHANGE_CLOSED = 2
    ORDER_EXCEEDS_LIMIT = 3
    TOO_LATE_TO_ENTER = 4
    UNKNOWN_ORDER = 5
    DUPLICATE_ORDER = 6
    INCORRECT_QUANTITY = 13
    OTHER = 99


class CxlRejReason:
    TOO_LATE_TO_CANCEL = 0
    UNKNOWN_ORDER = 1
    BROKER_OPTION = 2
    ALREADY_PENDING = 3
    DUPLICATE_CLORDID = 6
    OTHER = 99


class CxlRejResponseToValue:
    ORDER_CANCEL_REQUEST = b"1"
    ORDER_CANCEL_REPLACE_REQUEST = b"2"
