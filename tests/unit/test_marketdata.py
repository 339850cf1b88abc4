"""Market data: LP books, consolidated best bid/offer, FIX decoding, the request we send."""

from __future__ import annotations

import ast
import gc
import types
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gateway.marketdata as md_module
from gateway.fix.codec import Message, encode, encode_message, parse
from gateway.instruments import Instrument, InstrumentBook
from gateway.marketdata import (
    BID,
    CHANGE,
    DELETE,
    NEW,
    OFFER,
    MarketData,
    Quote,
    build_market_data_request,
)

EURUSD = Instrument("EUR/USD", tick_size=Decimal("0.00001"))
ACME = Instrument("ACME", tick_size=Decimal("0.01"))
INSTRUMENTS = InstrumentBook([EURUSD, ACME]).get


def fix(msg_type: bytes, body: list[tuple[int, bytes | str | int]]) -> Message:
    """A message from an LP as it comes off the wire: encoded, then parsed."""
    header: list[tuple[int, bytes | str | int]] = [
        (8, b"FIX.4.4"),
        (35, msg_type),
        (34, 7),
        (49, b"LP1"),
        (52, b"20240315-13:45:30.123"),
        (56, b"GATEWAY"),
    ]
    return parse(encode_message(header + body))


# --- books from decoded entries -----------------------------------------------------------
def test_snapshot_then_incremental_new_change_delete() -> None:
    md = MarketData()
    assert md.on_snapshot("LP1", "ACME", [(BID, 10000, 5), (OFFER, 10002, 7)], now=1.0) == []
    q = md.best("ACME", 1.0)
    assert q == Quote(10000, 5, "LP1", 10002, 7, "LP1", False)

    problems = md.on_incremental(
        "LP1",
        [
            (NEW, "ACME", BID, 10001, 3),  # a better bid
            (CHANGE, "ACME", OFFER, 10002, 9),  # the offer's size changes
            (NEW, "ACME", OFFER, 10003, 4),  # a second offer level
        ],
        now=2.0,
    )
    assert problems == []
    book = md.book("LP1", "ACME")
    assert book is not None
    assert book.bid_levels() == [(10001, 3), (10000, 5)]
    assert book.ask_levels() == [(10002, 9), (10003, 4)]
    assert book.updated == 2.0
    assert md.best("ACME", 2.0) == Quote(10001, 3, "LP1", 10002, 9, "LP1", False)

    md.on_incremental("LP1", [(DELETE, "ACME", BID, 10001, None), (DELETE, "ACME", OFFER, 10002, None)], 3.0)
    assert md.best("ACME", 3.0) == Quote(10000, 5, "LP1", 10003, 4, "LP1", False)
    # a delete of a level that is not there is harmless; size 0 removes a level
    assert md.on_incremental("LP1", [(DELETE, "ACME", BID, 12345, None)], 3.0) == []
    md.on_incremental("LP1", [(CHANGE, "ACME", OFFER, 10003, 0)], 3.0)
    assert md.best("ACME", 3.0) == Quote(10000, 5, "LP1", None, None, None, False)
    assert md.mid("ACME", 3.0) is None and md.spread_bps("ACME", 3.0) is None

    # a new snapshot replaces the whole book
    md.on_snapshot("LP1", "ACME", [(OFFER, 10010, 1)], 4.0)
    assert book.bid_levels() == [] and book.ask_levels() == [(10010, 1)]
    assert md.updates == 7 and md.snapshots == 2


def test_multi_level_books_and_max_levels() -> None:
    md = MarketData(max_levels=3)
    entries = [(BID, 100 - i, 10 + i) for i in range(5)] + [(OFFER, 101 + i, 20 + i) for i in range(5)]
    md.on_snapshot("LP1", "ACME", entries, 0.0)
    book = md.book("LP1", "ACME")
    assert book is not None
    assert book.bid_levels() == [(100, 10), (99, 11), (98, 12)]
    assert book.ask_levels() == [(101, 20), (102, 21), (103, 22)]
    assert book.bid_levels(2) == [(100, 10), (99, 11)]
    assert book.ask_levels(1) == [(101, 20)]
    # within one message a new level may come before the delete it replaces: trimming is
    # done at the end of the message, so the order does not matter
    md.on_incremental(
        "LP1", [(NEW, "ACME", BID, 97, 5), (DELETE, "ACME", BID, 100, None)], 1.0
    )
    assert book.bid_levels() == [(99, 11), (98, 12), (97, 5)]
    md.on_incremental("LP1", [(NEW, "ACME", OFFER, 100, 1)], 1.0)  # the worst offer goes
    assert book.ask_levels() == [(100, 1), (101, 20), (102, 21)]


def test_missing_size_is_kept_as_unknown() -> None:
    md = MarketData()
    md.on_snapshot("LP1", "ACME", [(BID, 100, None), (OFFER, 101, 0)], 0.0)
    # the bid has an unknown size (0); an explicit size 0 is no level at all
    assert md.best("ACME", 0.0) == Quote(100, 0, "LP1", None, None, None, False)


def test_books_leave_the_garbage_collector_nothing_per_level() -> None:
    """Books are built at the LPs' logons, after start-up's objects were frozen, and every
    collection of an older generation walks what the collector tracks: with 10,000 symbols
    and 4 LPs, 20 tracked objects per side made pauses of a few hundred ms. The sides of a
    book hold ints only and are not tracked; what is tracked is one Book per LP and symbol
    and, per symbol, its entry and the dict of its books (and a map of books per LP)."""
    md = MarketData(top_of_book=True)
    md.on_snapshot("LP1", "ACME", [(BID, 100, 5), (BID, 99, 6), (OFFER, 101, 7)], 0.0)
    md.on_incremental("LP1", [(NEW, "ACME", BID, 101, 3), (NEW, "EUR/USD", OFFER, 102, 1)], 1.0)
    md.on_incremental("LP2", [(NEW, "ACME", OFFER, 102, 2), (DELETE, "ACME", OFFER, 102, None)], 1.0)
    for lp, symbol in (("LP1", "ACME"), ("LP1", "EUR/USD"), ("LP2", "ACME")):
        book = md.book(lp, symbol)
        assert book is not None
        assert not gc.is_tracked(book.bids) and not gc.is_tracked(book.asks)

    lps = [f"LP{i}" for i in range(4)]
    symbols = [f"S{i:04d}" for i in range(500)]
    md = MarketData(top_of_book=True)
    before = _tracked_from(md)
    for lp in lps:
        for i, symbol in enumerate(symbols):
            md.on_snapshot(lp, symbol, [(BID, 1000 + i, 5), (OFFER, 1002 + i, 5)], 0.0)
            md.on_incremental(lp, [(CHANGE, symbol, BID, 1001 + i, 7)], 1.0)
    gc.collect()  # tuples of ints (the tops) are untracked by the collector's first look
    added = _tracked_from(md) - before
    assert added <= len(lps) * len(symbols) + 2 * len(symbols) + len(lps) + 2


def _tracked_from(root: object) -> int:
    """The objects the collector tracks that ``root`` holds, directly or not (classes,
    modules and functions left out): what its collections would walk for ``root``, whatever
    else the process (other tests, threads) allocates meanwhile."""
    seen: set[int] = set()
    stack = [root]
    n = 0
    while stack:
        o = stack.pop()
        if id(o) in seen or not gc.is_tracked(o):
            continue
        seen.add(id(o))
        if isinstance(o, type | types.ModuleType | types.FunctionType | types.BuiltinFunctionType):
            continue
        n += 1
        stack.extend(gc.get_referents(o))
    return n


# --- the consolidated quote -------------------------------------------------------------
def three_lps(md: MarketData, now: float = 0.0) -> None:
    md.on_snapshot("LP_A", "XYZ", [(BID, 10000, 100), (OFFER, 10003, 100)], now)
    md.on_snapshot("LP_B", "XYZ", [(BID, 10001, 200), (OFFER, 10004, 200)], now)
    md.on_snapshot("LP_C", "XYZ", [(BID, 9999, 300), (OFFER, 10002, 300)], now)


def test_best_bid_and_best_offer_from_different_lps() -> None:
    md = MarketData()
    three_lps(md)
    q = md.best("XYZ", 0.5)
    assert q == Quote(10001, 200, "LP_B", 10002, 300, "LP_C", False)
    assert q is md.best("XYZ", 0.6)  # cached
    assert md.mid("XYZ", 0.5) == 10001.5
    assert md.spread_bps("XYZ", 0.5) == pytest.approx(1 / 10001.5 * 1e4)
    assert md.lp_quote("LP_A", "XYZ", 0.5) == Quote(10000, 100, "LP_A", 10003, 100, "LP_A", False)
    assert set(md.lp_quotes("XYZ", 0.5)) == {"LP_A", "LP_B", "LP_C"}
    assert md.best("NOPE", 0.5) is None and md.lp_quote("LP_A", "NOPE", 0.5) is None
    # ties at the best price: the larger size, then the LP name that sorts first
    md.on_incremental("LP_A", [(NEW, "XYZ", BID, 10001, 200)], 1.0)
    assert md.best("XYZ", 1.0).bid_lp == "LP_A"  # type: ignore[union-attr]
    md.on_incremental("LP_C", [(NEW, "XYZ", BID, 10001, 250)], 1.0)
    assert md.best("XYZ", 1.0).bid_lp == "LP_C"  # type: ignore[union-attr]
    # a book change of the symbol invalidates the cache at once
    md.on_incremental("LP_A", [(NEW, "XYZ", OFFER, 10010, 1), (NEW, "XYZ", OFFER, 10000, 1)], 1.0)
    assert md.best("XYZ", 1.0) == Quote(10001, 250, "LP_C", 10000, 1, "LP_A", True)


def test_stale_quotes_age_out_at_max_age_and_come_back_when_refreshed() -> None:
    md = MarketData(max_age=5.0)
    three_lps(md, now=0.0)
    md.on_snapshot("LP_C", "XYZ", [(BID, 9999, 300), (OFFER, 10002, 300)], 2.0)
    assert md.best("XYZ", 4.0) == Quote(10001, 200, "LP_B", 10002, 300, "LP_C", False)
    # at exactly max_age a quote still counts, just after it does not
    assert md.best("XYZ", 5.0).bid_lp == "LP_B"  # type: ignore[union-attr]
    assert md.best("XYZ", 5.001) == Quote(9999, 300, "LP_C", 10002, 300, "LP_C", False)
    assert md.lp_quote("LP_B", "XYZ", 5.001) is None
    assert md.best("XYZ", 7.001) is None
    assert md.mid("XYZ", 7.001) is None
    # refreshed: back at once
    md.on_incremental("LP_B", [(CHANGE, "XYZ", BID, 10001, 50)], 8.0)
    assert md.best("XYZ", 8.0) == Quote(10001, 50, "LP_B", 10004, 200, "LP_B", False)
    # time passed in going backwards never serves a quote computed for a later time
    assert md.best("XYZ", 6.0) == Quote(10001, 50, "LP_B", 10002, 300, "LP_C", False)


def test_unavailable_and_cleared_lps_are_excluded() -> None:
    md = MarketData()
    three_lps(md)
    assert md.best("XYZ", 0.0).bid_lp == "LP_B"  # type: ignore[union-attr]
    md.set_available("LP_B", False)
    assert not md.is_available("LP_B")
    assert md.best("XYZ", 0.0) == Quote(10000, 100, "LP_A", 10002, 300, "LP_C", False)
    assert md.lp_quote("LP_B", "XYZ", 0.0) is None
    assert "LP_B" not in md.lp_quotes("XYZ", 0.0)
    md.set_available("LP_B", True)
    assert md.best("XYZ", 0.0).bid_lp == "LP_B"  # type: ignore[union-attr]
    md.clear_lp("LP_C")
    assert md.book("LP_C", "XYZ") is None
    assert md.best("XYZ", 0.0) == Quote(10001, 200, "LP_B", 10003, 100, "LP_A", False)
    md.clear_lp("LP_A")
    md.clear_lp("LP_B")
    md.clear_lp("LP_B")
    assert md.best("XYZ", 0.0) is None and md.symbols() == []


def test_crossed_market_is_flagged_but_mid_is_given() -> None:
    md = MarketData()
    md.on_snapshot("LP_A", "XYZ", [(BID, 10005, 1), (OFFER, 10007, 1)], 0.0)
    md.on_snapshot("LP_B", "XYZ", [(BID, 10001, 1), (OFFER, 10003, 1)], 0.0)
    q = md.best("XYZ", 0.0)
    assert q == Quote(10005, 1, "LP_A", 10003, 1, "LP_B", True)
    assert md.mid("XYZ", 0.0) == 10004.0
    assert md.spread_bps("XYZ", 0.0) < 0  # type: ignore[operator]
    # locked counts as crossed
    md.on_snapshot("LP_A", "XYZ", [(BID, 10003, 1), (OFFER, 10007, 1)], 0.0)
    assert md.best("XYZ", 0.0).crossed  # type: ignore[union-attr]
    md.on_snapshot("LP_A", "XYZ", [(BID, 10002, 1), (OFFER, 10007, 1)], 0.0)
    assert not md.best("XYZ", 0.0).crossed  # type: ignore[union-attr]


def test_snapshot_for_the_console() -> None:
    md = MarketData(INSTRUMENTS)
    md.on_snapshot("LP_A", "ACME", [(BID, 5024, 100), (OFFER, 5026, 100)], 0.0)
    md.on_snapshot("LP_B", "ACME", [(BID, 5023, 100)], 0.0)
    md.set_available("LP_B", False)
    snap = md.snapshot(1.0)
    acme = snap["ACME"]
    assert acme["best"]["bid_lp"] == "LP_A" and acme["mid"] == 5025.0
    assert acme["price_scale"] == 100
    assert acme["lps"]["LP_B"] == {
        "bid": 5023, "bid_size": 100, "ask": None, "ask_size": None,
        "levels": (1, 0), "age": 1.0, "stale": False, "available": False,
    }


# --- bad values -----------------------------------------------------------------------
def test_bad_decoded_entries_are_skipped_and_reported() -> None:
    md = MarketData()
    problems = md.on_snapshot(
        "LP1", "ACME", [(BID, 100, -5), (BID, 0, 5), (OFFER, 101, 3), (7, 1, 1)], 0.0
    )
    assert len(problems) == 2 and "negative size" in problems[0] and "not positive" in problems[1]
    assert md.best("ACME", 0.0) == Quote(None, None, None, 101, 3, "LP1", False)
    problems = md.on_incremental(
        "LP1", [(NEW, "ACME", BID, 99, -1), (9, "ACME", BID, 99, 1), (NEW, "ACME", BID, 99, 2)], 0.0
    )
    assert len(problems) == 2
    assert md.best("ACME", 0.0).bid == 99  # type: ignore[union-attr]
    assert md.problems == 4
    # nothing valid for a symbol: no book is created for it
    assert md.on_incremental("LP1", [(NEW, "OTHER", BID, 99, -1)], 0.0)
    assert md.book("LP1", "OTHER") is None


def test_bad_fix_entries_never_raise() -> None:
    md = MarketData(INSTRUMENTS)
    msg = fix(
        b"X",
        [
            (262, b"R1"),
            (268, 7),
            (279, 0), (269, 0), (55, b"ACME"), (270, b"abc"), (271, 100),  # price not a number
            (279, 0), (269, 1), (270, b"50.26"), (271, b"-5"),  # negative size
            (279, 0), (269, 0), (55, b"UNKNOWN"), (270, b"1.5"), (271, 1),  # unknown symbol
            (279, 7), (269, 0), (55, b"ACME"), (270, b"50.20"), (271, 1),  # bad action
            (279, 0), (270, b"50.20"), (271, 1),  # no MDEntryType
            (279, 0), (269, 0), (270, b"50.24"), (271, b"1.5"),  # fractional size, lot 1
            (279, 0), (269, 1), (270, b"50.27"), (271, b"300"),  # the one good entry
        ],
    )
    problems = md.apply("LP1", msg, 0.0)
    assert len(problems) == 6, problems
    assert "not a number" in problems[0]
    assert "must be positive" in problems[1]
    assert "unknown symbol 'UNKNOWN'" in problems[2]
    assert "MDUpdateAction(279)" in problems[3]
    assert "MDEntryType(269)" in problems[4]
    assert "decimals" in problems[5]
    assert md.best("ACME", 0.0) == Quote(None, None, None, 5027, 300, "LP1", False)

    # spellings a Decimal would take but FIX does not, a price below one tick, a delete
    # without a price: all skipped, none raises or expands into a huge integer
    hostile = fix(
        b"X",
        [
            (268, 7),
            (279, 0), (269, 0), (55, b"ACME"), (270, b"1E999999"), (271, 1),
            (279, 0), (269, 0), (270, b"1E999999999"), (271, 1),
            (279, 0), (269, 0), (270, b"NaN"), (271, 1),
            (279, 0), (269, 0), (270, b"50.1"), (271, b"1e3"),
            (279, 0), (269, 0), (270, b"0.0001"), (271, 1),
            (279, 2), (269, 1),
            (279, 2), (269, 1), (270, b"-1"),
        ],
    )
    problems = md.apply("LP1", hostile, 0.0)
    assert len(problems) == 7, problems
    assert all("is not a number" in p for p in problems[:4])
    assert "delete without" in problems[4] and "must be positive" in problems[5]
    assert "not positive" in problems[6]  # rounded to 0 units: found when applied
    assert md.best("ACME", 0.0) == Quote(None, None, None, 5027, 300, "LP1", False)

    # a snapshot for an unknown symbol, a wrong count, no group, a stranger message
    unknown = fix(b"W", [(262, b"R1"), (55, b"NOPE"), (268, 1), (269, 0), (270, b"1"), (271, 1)])
    assert "unknown symbol" in md.apply("LP1", unknown, 0.0)[0]
    assert md.book("LP1", "NOPE") is None
    miscount = fix(b"W", [(262, b"R1"), (55, b"ACME"), (268, 3), (269, 0), (270, b"50.1"), (271, 1)])
    assert md.apply("LP1", miscount, 0.0) == ["LP1 W ACME: NoMDEntries(268)=3 but 1 entries read"]
    assert md.best("ACME", 0.0).bid == 5010  # type: ignore[union-attr]
    assert md.apply("LP1", fix(b"W", [(262, b"R1"), (55, b"ACME")]), 0.0) == [
        "LP1 W ACME: no NoMDEntries(268)"
    ]
    assert md.apply("LP1", fix(b"W", [(262, b"R1")]), 0.0)
    assert "not market data" in md.apply("LP1", fix(b"8", [(11, b"x")]), 0.0)[0]
    assert md.apply("LP1", fix(b"X", [(268, 1), (279, 0), (269, 0), (270, b"1")]), 0.0) == [
        "LP1 X: entry without Symbol(55), skipped"
    ]


def test_fix_without_instruments_reports_every_symbol_unknown() -> None:
    md = MarketData()
    msg = fix(b"W", [(262, b"R1"), (55, b"ACME"), (268, 1), (269, 0), (270, b"50.1"), (271, 1)])
    assert "unknown symbol" in md.apply("LP1", msg, 0.0)[0]


# --- decoding real FIX ------------------------------------------------------------------
def test_snapshot_and_incremental_from_fix_bytes() -> None:
    md = MarketData(INSTRUMENTS)
    snapshot = fix(
        b"W",
        [
            (262, b"MD-1"),
            (55, b"EUR/USD"),
            (268, 5),
            (269, 0), (270, b"1.08745"), (271, b"1000000"),
            (269, 0), (270, b"1.08744"), (271, b"2000000"),
            (269, 1), (270, b"1.08747"), (271, b"1000000"),
            (269, 2), (270, b"1.08746"), (271, b"500000"),  # a trade: not part of the book
            (269, 1), (270, b"1.08749"),  # no size: unknown
        ],
    )
    assert md.apply("LP1", snapshot, 10.0) == []
    book = md.book("LP1", "EUR/USD")
    assert book is not None
    assert book.bid_levels() == [(108745, 1000000), (108744, 2000000)]
    assert book.ask_levels() == [(108747, 1000000), (108749, 0)]

    incremental = fix(
        b"X",
        [
            (262, b"MD-1"),
            (268, 5),
            (279, 2), (269, 0), (55, b"EUR/USD"), (270, b"1.08745"),
            (279, 0), (269, 0), (270, b"1.08746"), (271, b"500000"),  # 55 carried over
            (279, 1), (269, 1), (270, b"1.08747"), (271, b"3000000"),
            (279, 0), (269, 0), (55, b"ACME"), (270, b"50.24"), (271, b"5000"),
            (279, 0), (269, 1), (270, b"50.26"), (271, b"4000"),
        ],
    )
    assert md.apply("LP1", incremental, 11.0) == []
    assert book.bid_levels() == [(108746, 500000), (108744, 2000000)]
    assert book.ask_levels(1) == [(108747, 3000000)]
    assert md.best("EUR/USD", 11.0) == Quote(108746, 500000, "LP1", 108747, 3000000, "LP1", False)
    assert md.best("ACME", 11.0) == Quote(5024, 5000, "LP1", 5026, 4000, "LP1", False)
    assert md.snapshots == 1 and md.updates == 5


def test_group_read_by_its_first_tag_even_out_of_standard_order() -> None:
    md = MarketData(INSTRUMENTS)
    msg = fix(
        b"X",
        [
            (268, 2),
            (269, 0), (279, 0), (55, b"ACME"), (270, b"50.24"), (271, b"100"),
            (269, 1), (279, 0), (270, b"50.26"), (271, b"100"),
        ],
    )
    assert md.apply("LP1", msg, 0.0) == []
    assert md.best("ACME", 0.0) == Quote(5024, 100, "LP1", 5026, 100, "LP1", False)


def test_market_data_request_reject() -> None:
    md = MarketData(INSTRUMENTS)
    msg = fix(b"Y", [(262, b"MD-9"), (281, b"0"), (58, b"Unknown symbol XYZ")])
    problems = md.apply("LP1", msg, 0.0)
    assert problems == [
        "LP1: MarketDataRequestReject MDReqID=MD-9 MDReqRejReason=0 Text=Unknown symbol XYZ"
    ]
    assert md.request_rejects == 1 and md.last_reject["LP1"] == problems[0]


# --- the request we send ----------------------------------------------------------------
def test_market_data_request_builder() -> None:
    body = build_market_data_request("MD-1", ["EUR/USD", "ACME"], depth=1)
    msg = parse(encode(b"FIX.4.4", b"35=V\x0134=2\x0149=GW\x0152=20240315-13:45:30\x0156=LP1\x01" + body))
    fields = [(t, v) for t, v in msg.fields if t not in (8, 9, 10, 34, 35, 49, 52, 56)]
    assert fields == [
        (262, b"MD-1"),
        (263, b"1"),
        (264, b"1"),
        (265, b"1"),
        (267, b"2"),
        (269, b"0"),
        (269, b"1"),
        (146, b"2"),
        (55, b"EUR/USD"),
        (55, b"ACME"),
    ]
    assert msg.msg_type == b"V"
    assert b"263=2\x01264=5\x01" in build_market_data_request("MD-1", ["ACME"], 5, subscribe=False)
    with pytest.raises(ValueError):
        build_market_data_request("MD-1", [])
    with pytest.raises(ValueError):
        build_market_data_request("MD-1", ["A\x01B"])


def test_marketdata_is_pure() -> None:
    tree = ast.parse(Path(md_module.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "math", "re", "collections", "dataclasses", "decimal", "typing",
                        "sortedcontainers", "gateway"}


# --- random sequences against a brute-force model ------------------------------------------
MAX_AGE = 5.0
LPS = ["A", "B", "C"]
SYMS = ["S1", "S2"]

sizes = st.one_of(st.none(), st.integers(-1, 4))
prices = st.integers(1, 5)
sides = st.sampled_from([BID, OFFER])
dts = st.one_of(st.sampled_from([0.0, 0.0, 1.0, 2.5, MAX_AGE, -1.0]), st.floats(0, 7))
ops = st.one_of(
    st.tuples(st.just("snap"), st.sampled_from(LPS), st.sampled_from(SYMS),
              st.lists(st.tuples(sides, prices, sizes), max_size=6), dts),
    st.tuples(st.just("inc"), st.sampled_from(LPS),
              st.lists(st.tuples(st.sampled_from([NEW, CHANGE, DELETE]), st.sampled_from(SYMS),
                                 sides, prices, sizes), max_size=6), dts),
    st.tuples(st.just("avail"), st.sampled_from(LPS), st.booleans()),
    st.tuples(st.just("clear"), st.sampled_from(LPS)),
    st.tuples(st.just("query"), st.sampled_from(SYMS), dts),
)

ModelBook = tuple[dict[int, int], dict[int, int], list[float]]


def _trim(book: ModelBook, n: int | None) -> None:
    if n is None:
        return
    bids, asks, _ = book
    for p in sorted(bids)[:-n] if len(bids) > n else []:
        del bids[p]
    for p in sorted(asks)[n:]:
        del asks[p]


def _brute_best(
    books: dict[tuple[str, str], ModelBook], down: set[str], symbol: str, now: float
) -> Quote | None:
    bids: list[tuple[str, int, int]] = []
    asks: list[tuple[str, int, int]] = []
    for (lp, sym), (b, a, updated) in sorted(books.items()):
        if sym != symbol or lp in down or now > updated[0] + MAX_AGE:
            continue
        bids.extend((lp, p, s) for p, s in b.items())
        asks.extend((lp, p, s) for p, s in a.items())
    if not bids and not asks:
        return None
    # max()/min() return the first of equals: LPs are sorted, so the name sorting first wins
    bb = max(bids, key=lambda x: (x[1], x[2])) if bids else None
    ba = min(asks, key=lambda x: (x[1], -x[2])) if asks else None
    return Quote(
        bb and bb[1], bb and bb[2], bb and bb[0], ba and ba[1], ba and ba[2], ba and ba[0],
        bool(bb and ba and bb[1] >= ba[1]),
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(ops, max_size=40), st.sampled_from([None, 1, 2]))
def test_random_updates_keep_books_consistent_and_best_exact(
    sequence: list[tuple], max_levels: int | None
) -> None:
    md = MarketData(max_age=MAX_AGE, max_levels=max_levels)
    books: dict[tuple[str, str], ModelBook] = {}
    down: set[str] = set()
    now = 100.0
    for op in sequence:
        kind = op[0]
        if kind == "snap":
            _, lp, sym, entries, dt = op
            now += dt
            md.on_snapshot(lp, sym, entries, now)
            bids: dict[int, int] = {}
            asks: dict[int, int] = {}
            for side, price, size in entries:
                if size is None:
                    size = 0
                elif size <= 0:
                    continue
                (bids if side == BID else asks)[price] = size
            books[(lp, sym)] = (bids, asks, [now])
            _trim(books[(lp, sym)], max_levels)
        elif kind == "inc":
            _, lp, updates, dt = op
            now += dt
            problems = md.on_incremental(lp, updates, now)
            touched: list[ModelBook] = []
            expected_problems = 0
            for action, sym, side, price, size in updates:
                if action != DELETE and size is not None and size < 0:
                    expected_problems += 1
                    continue
                book = books.setdefault((lp, sym), ({}, {}, [now]))
                touched.append(book)
                levels = book[0] if side == BID else book[1]
                if action == DELETE or size == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = 0 if size is None else size
            for book in touched:
                book[2][0] = now
                _trim(book, max_levels)
            assert len(problems) == expected_problems
        elif kind == "avail":
            _, lp, flag = op
            md.set_available(lp, flag)
            (down.discard if flag else down.add)(lp)
        elif kind == "clear":
            _, lp = op
            md.clear_lp(lp)
            for key in [k for k in books if k[0] == lp]:
                del books[key]
        else:
            _, sym, dt = op
            now += dt
        # books: exactly the model, sorted, no negative sizes, zero only for unknown sizes
        for (lp, sym), (b, a, updated) in books.items():
            real = md.book(lp, sym)
            assert real is not None
            assert dict(real.bids) == b and dict(real.asks) == a
            assert real.updated == updated[0]
            assert all(s >= 0 for s in (*b.values(), *a.values()))
            if b:
                assert real.best_bid() == (max(b), b[max(b)])
            if a:
                assert real.best_ask() == (min(a), a[min(a)])
        for sym in SYMS:
            expected = _brute_best(books, down, sym, now)
            assert md.best(sym, now) == expected
            assert md.best(sym, now) == expected  # and again, from the cache
            if expected is not None and expected.bid is not None and expected.ask is not None:
                assert md.mid(sym, now) == (expected.bid + expected.ask) / 2
            for lp in LPS:
                key = (lp, sym)
                live = key in books and lp not in down and now <= books[key][2][0] + MAX_AGE
                assert (md.lp_quote(lp, sym, now) is not None) == live
            # every LP's (bid, ask) at once: lp_quote's, for the LPs that have one
            tops = {lp: md.lp_quote(lp, sym, now) for lp in LPS}
            assert md.lp_touches(sym, now) == {lp: (q.bid, q.ask) for lp, q in tops.items() if q is not None}


def test_top_of_book_stream_moves_its_level() -> None:
    """An LP streaming its top of book sends CHANGE at the new price: the old level goes."""
    md = MarketData(max_age=5.0, top_of_book=True)
    md.on_snapshot("LP", "X", [(0, 10000, 5), (1, 10002, 5)], 0.0)
    md.on_incremental("LP", [(1, "X", 0, 10010, 5), (1, "X", 1, 10012, 5)], 1.0)
    q = md.best("X", 1.0)
    assert q is not None and (q.bid, q.ask, q.crossed) == (10010, 10012, False)
    md.on_incremental("LP", [(1, "X", 0, 9990, 5), (1, "X", 1, 9992, 5)], 2.0)
    q = md.best("X", 2.0)
    assert q is not None and (q.bid, q.ask) == (9990, 9992)
    depth = MarketData(max_age=5.0)  # a depth book keeps levels by price
    depth.on_snapshot("LP", "X", [(0, 10000, 5)], 0.0)
    depth.on_incremental("LP", [(1, "X", 0, 9990, 5)], 1.0)
    assert depth.best("X", 1.0).bid == 10000  # type: ignore[union-attr]


def test_lp_touches_kept_between_calls_are_always_the_lps_quotes_of_the_moment() -> None:
    # lp_touches is kept per symbol until a book changes or ages out: after each event it
    # must still be what lp_quote of each LP says at that moment.
    md = MarketData(max_age=5.0)
    three_lps(md, now=0.0)
    lps = ["LP_A", "LP_B", "LP_C", "LP_D"]

    def check(now: float) -> dict[str, tuple[int | None, int | None]]:
        got = dict(md.lp_touches("XYZ", now))
        quotes = {lp: md.lp_quote(lp, "XYZ", now) for lp in lps}
        assert got == {lp: (q.bid, q.ask) for lp, q in quotes.items() if q is not None}
        assert md.lp_touches("XYZ", now) is md.lp_touches("XYZ", now)  # kept
        return got

    assert len(check(1.0)) == 3
    md.on_snapshot("LP_D", "XYZ", [(BID, 9990, 5)], 2.0)  # a fourth LP, bid only
    assert check(2.0)["LP_D"] == (9990, None)
    md.on_incremental("LP_A", [(CHANGE, "XYZ", BID, 10000, 7), (NEW, "XYZ", BID, 10001, 1)], 3.0)
    assert check(3.0)["LP_A"][0] == 10001
    assert set(check(5.5)) == {"LP_A", "LP_D"}  # the books of time 0 aged out
    assert set(check(4.0)) == {"LP_A", "LP_B", "LP_C", "LP_D"}  # time going back: not the later answer
    md.set_available("LP_D", False)
    assert "LP_D" not in check(4.0)
    md.set_available("LP_D", True)
    md.clear_lp("LP_A")
    assert set(check(4.0)) == {"LP_B", "LP_C", "LP_D"}
    md.max_age = 1.0
    assert set(check(4.0)) == set() and md.lp_touches("NOPE", 4.0) == {}
