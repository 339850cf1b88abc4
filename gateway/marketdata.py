"""Market data: a book per LP and symbol, and the consolidated best bid/offer per symbol.

LPs stream quotes (MarketDataSnapshotFullRefresh W, MarketDataIncrementalRefresh X); this
module keeps one book per (LP, symbol) and answers, for the router, the scorecard
(benchmark for price improvement and markouts) and risk (price collar), "what is the best
bid and offer right now, and from whom". ``best`` is read for every child order and every
markout, so the consolidated quote is cached per symbol and recomputed only when one of the
symbol's books changed or its quote is about to age out.

Pure domain core: it must never import asyncio, sockets or prometheus_client, never read a
clock (``now`` is passed in, float seconds), and never let a bad quote raise out: a bad
entry is skipped and reported as a problem string that the caller logs.

Prices and sizes are exact integers in the instrument's units (see ``gateway.instruments``).
A level whose size the LP did not send is kept with size 0 (``UNKNOWN_SIZE``): the price is
still a quote. An explicit size of 0 on the wire removes the level.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NamedTuple

from gateway.fix import tags
from gateway.fix.codec import Message, encode_fields
from gateway.fix.tags import MsgType
from gateway.instruments import BadValue, Instrument

BID: Final = 0  # MDEntryType(269) = 0
OFFER: Final = 1  # MDEntryType(269) = 1

# MDUpdateAction(279)
NEW: Final = 0
CHANGE: Final = 1
DELETE: Final = 2

UNKNOWN_SIZE: Final = 0

#: One entry of a snapshot: (side BID/OFFER, price units, size units or None when unknown).
Entry = tuple[int, int, int | None]
#: One entry of an incremental refresh: (action NEW/CHANGE/DELETE, symbol, side, price, size).
Update = tuple[int, str, int, int, int | None]

InstrumentLookup = Callable[[str], Instrument | None]

# Tags that end a repeating group of market data entries: the trailer, the signature and
# the ApplQueue fields, which follow NoMDEntries in W and X (FIX 4.4).
_GROUP_END: Final = frozenset({10, 89, 93, 813, 814})
_ENTRY_TYPES: Final = {b"0": BID, b"1": OFFER}
_ACTIONS: Final = {b"0": NEW, b"1": CHANGE, b"2": DELETE}
_INF: Final = math.inf
# FIX "float": digits with an optional point and sign, no exponent. Checked before the
# instrument parses a value, so "1E999999" (which Decimal would expand into a
# million-digit integer, or overflow on) and other spellings never get that far.
_FIX_FLOAT: Final = re.compile(rb"-?(?:\d{1,18}(?:\.\d{0,18})?|\.\d{1,18})")


def _no_instruments(symbol: str) -> Instrument | None:
    return None


class Quote(NamedTuple):
    """A best bid and offer in price units; either side may be missing (None).

    ``crossed`` is true when bid >= ask (crossed or locked, usually across LPs): the quote
    is still given, the caller decides whether to trust it. A size of 0 means unknown.
    A NamedTuple, not a frozen dataclass: it is built on every cache miss of ``best``,
    and a frozen dataclass costs four times as much to build.
    """

    bid: int | None
    bid_size: int | None
    bid_lp: str | None
    ask: int | None
    ask_size: int | None
    ask_lp: str | None
    crossed: bool = False

    @property
    def mid(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    def as_dict(self) -> dict[str, Any]:
        return {
            "bid": self.bid,
            "bid_size": self.bid_size,
            "bid_lp": self.bid_lp,
            "ask": self.ask,
            "ask_size": self.ask_size,
            "ask_lp": self.ask_lp,
            "crossed": self.crossed,
        }


class Book:
    """One LP's book for one symbol: price units -> size units, per side.

    ``bids`` and ``asks`` are plain dicts of int -> int, in no order: the best bid is the
    highest key, the best ask the lowest. ``bid_top`` and ``ask_top`` keep the best level at
    hand, as (price, size), so that consolidating a symbol reads attributes instead of
    looking into the sides; only ``MarketData`` changes a book, and it keeps them right.
    ``updated`` is when the LP last touched the book.

    Plain dicts, not sorted containers: a dict holding only ints is not tracked by the
    cyclic garbage collector, where a SortedDict is 20 tracked objects. With top-of-book
    streams from 4 LPs for 10,000 symbols that was 1.7 million objects, built after
    start-up (at the LPs' logons), which every collection of an older generation walked:
    150 to 300 ms with the event loop stopped. A book holds one level per side when
    streamed top of book and a few when not, so finding the next best after the best
    is deleted by a scan costs less than keeping the levels sorted on every update.
    """

    __slots__ = ("ask_top", "asks", "bid_top", "bids", "lp", "symbol", "updated")

    def __init__(self, lp: str, symbol: str, updated: float) -> None:
        self.lp = lp
        self.symbol = symbol
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid_top: tuple[int, int] | None = None
        self.ask_top: tuple[int, int] | None = None
        self.updated = updated

    def best_bid(self) -> tuple[int, int] | None:
        return self.bid_top

    def best_ask(self) -> tuple[int, int] | None:
        return self.ask_top

    def _set(self, is_bid: bool, price: int, size: int) -> None:
        if is_bid:
            self.bids[price] = size
            top = self.bid_top
            if top is None or price >= top[0]:
                self.bid_top = (price, size)
        else:
            self.asks[price] = size
            top = self.ask_top
            if top is None or price <= top[0]:
                self.ask_top = (price, size)

    def _replace_side(self, is_bid: bool, price: int, size: int) -> None:
        """Top-of-book streams: the one level shown on a side is this one now."""
        if is_bid:
            self.bids.clear()
            self.bids[price] = size
            self.bid_top = (price, size)
        else:
            self.asks.clear()
            self.asks[price] = size
            self.ask_top = (price, size)

    def _remove(self, is_bid: bool, price: int) -> None:
        if is_bid:
            bids = self.bids
            if bids.pop(price, None) is not None:
                top = self.bid_top
                if top is not None and top[0] == price:
                    self.bid_top = _best(bids, max)
        else:
            asks = self.asks
            if asks.pop(price, None) is not None:
                top = self.ask_top
                if top is not None and top[0] == price:
                    self.ask_top = _best(asks, min)

    def _refresh_tops(self) -> None:
        self.bid_top = _best(self.bids, max)
        self.ask_top = _best(self.asks, min)

    def bid_levels(self, n: int | None = None) -> list[tuple[int, int]]:
        """Bid levels, best (highest) first."""
        return sorted(self.bids.items(), reverse=True)[:n]

    def ask_levels(self, n: int | None = None) -> list[tuple[int, int]]:
        """Ask levels, best (lowest) first."""
        return sorted(self.asks.items())[:n]

    def top(self) -> Quote:
        b = self.bid_top
        a = self.ask_top
        return _quote(
            None if b is None else b[0],
            None if b is None else b[1],
            self.lp if b else None,
            None if a is None else a[0],
            None if a is None else a[1],
            self.lp if a else None,
        )

    def trim(self, max_levels: int) -> None:
        """Keep the best ``max_levels`` levels per side (the best stays: tops hold)."""
        bids, asks = self.bids, self.asks
        if len(bids) > max_levels:
            for price in sorted(bids)[: len(bids) - max_levels]:
                del bids[price]
        if len(asks) > max_levels:
            for price in sorted(asks, reverse=True)[: len(asks) - max_levels]:
                del asks[price]


def _best(levels: dict[int, int], pick: Callable[[dict[int, int]], int]) -> tuple[int, int] | None:
    """The best level of a side (``max`` for bids, ``min`` for asks), None when empty."""
    if not levels:
        return None
    price = pick(levels)
    return price, levels[price]


def _quote(
    bid: int | None,
    bid_size: int | None,
    bid_lp: str | None,
    ask: int | None,
    ask_size: int | None,
    ask_lp: str | None,
) -> Quote:
    crossed = bid is not None and ask is not None and bid >= ask
    return Quote(bid, bid_size, bid_lp, ask, ask_size, ask_lp, crossed)


class _Symbol:
    """Books of one symbol across LPs and the cached consolidated quote.

    The cache holds while ``computed_at <= now <= valid_until``: an update of any book of
    the symbol sets ``valid_until`` to -inf; ``valid_until`` is otherwise the earliest
    expiry among the books the cached quote came from (a book that did not contribute
    cannot change the best by ageing out). ``computed_at`` guards against time passed in
    going backwards. The LPs' touches (``MarketData.lp_touches``) are cached the same way
    (``touches_at``, ``touches_until``: the earliest expiry of the books in them), and made
    stale by the same events.
    """

    __slots__ = ("books", "computed_at", "quote", "touches", "touches_at", "touches_until", "valid_until")

    def __init__(self) -> None:
        self.books: dict[str, Book] = {}
        self.quote: Quote | None = None
        self.computed_at = _INF
        self.valid_until = -_INF
        self.touches: dict[str, tuple[int | None, int | None]] = {}
        self.touches_at = _INF
        self.touches_until = -_INF


class MarketData:
    """Per-LP books and the consolidated best bid/offer for all symbols.

    A book is live while ``now <= book.updated + max_age`` and its LP is available; only
    live books count for ``best``, ``mid``, ``spread_bps`` and ``lp_quote``. Ties at the
    best price go to the larger size, then to the LP whose name sorts first.
    ``max_levels`` bounds each side of a book after every message (the worst levels go),
    so an LP that never deletes cannot grow a book without limit; None keeps all.
    """

    def __init__(
        self,
        instruments: InstrumentLookup | None = None,
        *,
        max_age: float = 5.0,
        max_levels: int | None = None,
        top_of_book: bool = False,
    ) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        if max_levels is not None and max_levels < 1:
            raise ValueError("max_levels must be at least 1")
        self._instrument = instruments or _no_instruments
        self._max_age = float(max_age)
        self.max_levels = max_levels
        # subscriptions with MarketDepth=1: each NEW/CHANGE is the side's only level
        self.top_of_book = top_of_book
        self._symbols: dict[str, _Symbol] = {}
        self._by_lp: dict[str, dict[str, Book]] = {}
        self._unavailable: set[str] = set()
        # told (symbol, now) after a quote message changed a book of the symbol, once per
        # symbol and message: resting orders a new price reaches are routed (gateway.app)
        self.on_change: Callable[[str, float], None] | None = None
        # counters, read by metrics at scrape time
        self.snapshots = 0
        self.updates = 0
        self.problems = 0
        self.request_rejects = 0
        self.last_reject: dict[str, str] = {}

    # --- configuration and LP state ----------------------------------------------------
    @property
    def max_age(self) -> float:
        return self._max_age

    @max_age.setter
    def max_age(self, value: float) -> None:
        if value <= 0:
            raise ValueError("max_age must be positive")
        self._max_age = float(value)
        for st in self._symbols.values():
            st.valid_until = st.touches_until = -_INF

    def set_available(self, lp: str, available: bool) -> None:
        """An LP logged out or disabled keeps its books but they count for nothing."""
        if available == (lp not in self._unavailable):
            return
        if available:
            self._unavailable.discard(lp)
        else:
            self._unavailable.add(lp)
        self._invalidate_lp(lp)

    def is_available(self, lp: str) -> bool:
        return lp not in self._unavailable

    def clear_lp(self, lp: str) -> None:
        """Drop every book of ``lp`` (disconnect: its quotes are gone, not just stale)."""
        books = self._by_lp.pop(lp, None)
        if not books:
            return
        symbols = self._symbols
        for symbol in books:
            st = symbols[symbol]
            del st.books[lp]
            if st.books:
                st.valid_until = st.touches_until = -_INF
            else:
                del symbols[symbol]

    def _invalidate_lp(self, lp: str) -> None:
        symbols = self._symbols
        for symbol in self._by_lp.get(lp, ()):
            st = symbols[symbol]
            st.valid_until = st.touches_until = -_INF

    # --- updates from already-decoded entries -------------------------------------------
    def _book(self, lp: str, symbol: str, now: float) -> Book:
        st = self._symbols.get(symbol)
        if st is None:
            st = self._symbols[symbol] = _Symbol()
        book = st.books.get(lp)
        if book is None:
            book = st.books[lp] = Book(lp, symbol, now)
            self._by_lp.setdefault(lp, {})[symbol] = book
        st.valid_until = st.touches_until = -_INF
        return book

    def on_snapshot(self, lp: str, symbol: str, entries: Iterable[Entry], now: float) -> list[str]:
        """Replace ``lp``'s book for ``symbol``; returns problems (bad entries skipped)."""
        problems: list[str] = []
        book = self._book(lp, symbol, now)
        bids = book.bids
        asks = book.asks
        bids.clear()
        asks.clear()
        for side, price, size in entries:
            if side == BID:
                levels = bids
            elif side == OFFER:
                levels = asks
            else:
                continue
            if size is None:
                size = UNKNOWN_SIZE
            elif size <= 0:
                if size < 0:
                    problems.append(f"{lp} {symbol}: negative size {size} at {price}, entry skipped")
                continue
            if price <= 0:
                problems.append(f"{lp} {symbol}: price {price} is not positive, entry skipped")
                continue
            levels[price] = size
        book.updated = now
        if self.max_levels is not None:
            book.trim(self.max_levels)
        book._refresh_tops()
        self.snapshots += 1
        self.problems += len(problems)
        if self.on_change is not None:
            self.on_change(symbol, now)
        return problems

    def on_incremental(self, lp: str, updates: Iterable[Update], now: float) -> list[str]:
        """Apply (action, symbol, side, price, size) updates; returns problems.

        NEW and CHANGE set the size at that price (a level is identified by its price);
        DELETE, or a size of 0, removes the level. A DELETE of an absent level is no
        problem (it may have been trimmed, or never sent to us).
        """
        problems: list[str] = []
        touched: list[Book] = []
        last: Book | None = None
        applied = 0
        for action, symbol, side, price, size in updates:
            if side != BID and side != OFFER:
                continue
            if action == DELETE:
                remove, value = True, 0
            elif action == NEW or action == CHANGE:
                if size is None:
                    remove, value = False, UNKNOWN_SIZE
                elif size < 0:
                    problems.append(f"{lp} {symbol}: negative size {size} at {price}, entry skipped")
                    continue
                else:
                    remove, value = size == 0, size
                if not remove and price <= 0:
                    problems.append(f"{lp} {symbol}: price {price} is not positive, entry skipped")
                    continue
            else:
                problems.append(f"{lp} {symbol}: unknown MDUpdateAction {action}, entry skipped")
                continue
            if last is None or last.symbol != symbol:
                last = self._book(lp, symbol, now)
                touched.append(last)
            if remove:
                last._remove(side == BID, price)
            elif self.top_of_book:
                # a top-of-book stream moves its one level: the new price replaces the old
                last._replace_side(side == BID, price, value)
            else:
                last._set(side == BID, price, value)
            applied += 1
        for book in touched:
            book.updated = now
            if self.max_levels is not None:
                book.trim(self.max_levels)
        self.updates += applied
        self.problems += len(problems)
        on_change = self.on_change
        if on_change is not None:
            for symbol in dict.fromkeys(book.symbol for book in touched):
                on_change(symbol, now)
        return problems

    # --- FIX messages ----------------------------------------------------------------
    def apply(self, lp: str, msg: Message, now: float) -> list[str]:
        """Apply one market data message from ``lp``; returns problems for the caller to log.

        Never raises for bad content: bad entries are skipped and described.
        """
        mt = msg.msg_type
        if mt == MsgType.MARKET_DATA_INCREMENTAL_REFRESH:
            return self._apply_incremental(lp, msg, now)
        if mt == MsgType.MARKET_DATA_SNAPSHOT_FULL_REFRESH:
            return self._apply_snapshot(lp, msg, now)
        if mt == MsgType.MARKET_DATA_REQUEST_REJECT:
            self.request_rejects += 1
            text = describe_request_reject(lp, msg)
            self.last_reject[lp] = text
            return [text]
        self.problems += 1
        return [f"{lp}: MsgType {mt.decode('latin-1')!r} is not market data, ignored"]

    def _apply_snapshot(self, lp: str, msg: Message, now: float) -> list[str]:
        problems: list[str] = []
        raw_symbol = msg.get(tags.Symbol)
        if not raw_symbol:
            self.problems += 1
            return [f"{lp} W: no Symbol(55), message ignored"]
        symbol = raw_symbol.decode("latin-1")
        inst = self._instrument(symbol)
        if inst is None:
            self.problems += 1
            return [f"{lp} W: unknown symbol {symbol!r}, message ignored"]
        groups, count_problem = _md_entries(msg.fields)
        if count_problem:
            problems.append(f"{lp} W {symbol}: {count_problem}")
        entries: list[Entry] = []
        for entry in groups:
            side = _ENTRY_TYPES.get(entry.get(tags.MDEntryType, b""))
            if side is None:
                if tags.MDEntryType not in entry:
                    problems.append(f"{lp} W {symbol}: entry without MDEntryType(269), skipped")
                continue  # trades, index values ...: not part of the book
            decoded = _price_size(inst, entry)
            if isinstance(decoded, str):
                problems.append(f"{lp} W {symbol}: {decoded}, entry skipped")
                continue
            entries.append((side, decoded[0], decoded[1]))
        self.problems += len(problems)
        problems.extend(self.on_snapshot(lp, symbol, entries, now))
        return problems

    def _apply_incremental(self, lp: str, msg: Message, now: float) -> list[str]:
        problems: list[str] = []
        fields = msg.fields
        groups, count_problem = _md_entries(fields)
        if count_problem:
            problems.append(f"{lp} X: {count_problem}")
        # Symbol(55) before the group, if any, is where "the last seen 55" starts
        raw_symbol: bytes | None = None
        for tag, value in fields:
            if tag == tags.NoMDEntries:
                break
            if tag == tags.Symbol:
                raw_symbol = value
                break
        symbol = ""
        inst: Instrument | None = None
        updates: list[Update] = []
        for entry in groups:
            raw = entry.get(tags.Symbol)
            if raw is not None and raw != raw_symbol:
                raw_symbol = raw
                inst = None
            if not raw_symbol:
                problems.append(f"{lp} X: entry without Symbol(55), skipped")
                continue
            if inst is None:
                symbol = raw_symbol.decode("latin-1")
                inst = self._instrument(symbol)
                if inst is None:
                    problems.append(f"{lp} X: unknown symbol {symbol!r}, entry skipped")
                    continue
            action = _ACTIONS.get(entry.get(tags.MDUpdateAction, b"0"))
            if action is None:
                problems.append(
                    f"{lp} X {symbol}: MDUpdateAction(279) {entry[tags.MDUpdateAction]!r} "
                    "is not 0, 1 or 2, entry skipped"
                )
                continue
            side = _ENTRY_TYPES.get(entry.get(tags.MDEntryType, b""))
            if side is None:
                if tags.MDEntryType not in entry:
                    problems.append(f"{lp} X {symbol}: entry without MDEntryType(269), skipped")
                continue
            if action == DELETE:
                raw_px = entry.get(tags.MDEntryPx)
                if raw_px is None:
                    problems.append(f"{lp} X {symbol}: delete without MDEntryPx(270), skipped")
                    continue
                price = _price(inst, raw_px)
                if isinstance(price, str):
                    problems.append(f"{lp} X {symbol}: {price}, entry skipped")
                    continue
                updates.append((DELETE, symbol, side, price, None))
                continue
            decoded = _price_size(inst, entry)
            if isinstance(decoded, str):
                problems.append(f"{lp} X {symbol}: {decoded}, entry skipped")
                continue
            updates.append((action, symbol, side, decoded[0], decoded[1]))
        self.problems += len(problems)
        problems.extend(self.on_incremental(lp, updates, now))
        return problems

    # --- reading ---------------------------------------------------------------------
    def best(self, symbol: str, now: float) -> Quote | None:
        """Consolidated best bid/offer over live books; None when no LP quotes the symbol."""
        st = self._symbols.get(symbol)
        if st is None:
            return None
        if st.computed_at <= now <= st.valid_until:
            return st.quote
        return self._recompute(st, now)

    def _recompute(self, st: _Symbol, now: float) -> Quote | None:
        max_age = self._max_age
        unavailable = self._unavailable
        bid = ask = None
        bid_size = ask_size = 0
        bid_lp = ask_lp = ""
        bid_exp = ask_exp = _INF
        for lp, book in st.books.items():
            expires = book.updated + max_age
            if now > expires or lp in unavailable:
                continue
            top = book.bid_top
            if top is not None:
                p, s = top
                if bid is None or p > bid or (p == bid and (s > bid_size or (s == bid_size and lp < bid_lp))):
                    bid, bid_size, bid_lp, bid_exp = p, s, lp, expires
            top = book.ask_top
            if top is not None:
                p, s = top
                if ask is None or p < ask or (p == ask and (s > ask_size or (s == ask_size and lp < ask_lp))):
                    ask, ask_size, ask_lp, ask_exp = p, s, lp, expires
        if bid is None and ask is None:
            quote = None
        else:
            quote = Quote(
                bid,
                None if bid is None else bid_size,
                None if bid is None else bid_lp,
                ask,
                None if ask is None else ask_size,
                None if ask is None else ask_lp,
                bid is not None and ask is not None and bid >= ask,
            )
        st.quote = quote
        st.computed_at = now
        st.valid_until = min(bid_exp, ask_exp)
        return quote

    def mid(self, symbol: str, now: float) -> float | None:
        """(bid + ask) / 2 in price units when both sides are quoted (see Quote.crossed)."""
        q = self.best(symbol, now)
        if q is None or q.bid is None or q.ask is None:
            return None
        return (q.bid + q.ask) / 2

    def spread_bps(self, symbol: str, now: float) -> float | None:
        """(ask - bid) / mid in basis points; negative when the market is crossed."""
        q = self.best(symbol, now)
        if q is None or q.bid is None or q.ask is None:
            return None
        return (q.ask - q.bid) * 20_000 / (q.bid + q.ask)

    def lp_quote(self, lp: str, symbol: str, now: float) -> Quote | None:
        """``lp``'s own top of book, None when it has no live book for ``symbol``."""
        books = self._by_lp.get(lp)
        book = books.get(symbol) if books else None
        if book is None or now > book.updated + self._max_age or lp in self._unavailable:
            return None
        return book.top()

    def lp_quotes(self, symbol: str, now: float) -> dict[str, Quote]:
        """Every live LP's top of book for ``symbol``."""
        st = self._symbols.get(symbol)
        if st is None:
            return {}
        max_age = self._max_age
        unavailable = self._unavailable
        return {
            lp: book.top()
            for lp, book in st.books.items()
            if now <= book.updated + max_age and lp not in unavailable
        }

    def lp_touches(self, symbol: str, now: float) -> Mapping[str, tuple[int | None, int | None]]:
        """(bid, ask) of ``lp_quote`` for every LP with a live book for ``symbol``, in one call
        (the router asks of each LP for each decision); an LP without one is absent. Kept
        until a book of the symbol changes or one of them ages out: not to be modified."""
        st = self._symbols.get(symbol)
        if st is None:
            return {}
        if st.touches_at <= now <= st.touches_until:
            return st.touches
        max_age = self._max_age
        unavailable = self._unavailable
        out: dict[str, tuple[int | None, int | None]] = {}
        until = _INF
        for lp, book in st.books.items():
            expires = book.updated + max_age
            if now > expires or lp in unavailable:
                continue
            if expires < until:
                until = expires
            b = book.bid_top
            a = book.ask_top
            out[lp] = (None if b is None else b[0], None if a is None else a[0])
        st.touches = out
        st.touches_at = now
        st.touches_until = until
        return out

    def book(self, lp: str, symbol: str) -> Book | None:
        """The raw book, live or not (for depth and for tests)."""
        books = self._by_lp.get(lp)
        return books.get(symbol) if books else None

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def snapshot(self, now: float) -> dict[str, Any]:
        """Plain dicts for the console and metrics: per symbol the best and per-LP tops."""
        out: dict[str, Any] = {}
        max_age = self._max_age
        for symbol, st in self._symbols.items():
            q = self.best(symbol, now)
            lps: dict[str, Any] = {}
            for lp, book in st.books.items():
                top = book.top()
                lps[lp] = {
                    "bid": top.bid,
                    "bid_size": top.bid_size,
                    "ask": top.ask,
                    "ask_size": top.ask_size,
                    "levels": (len(book.bids), len(book.asks)),
                    "age": now - book.updated,
                    "stale": now > book.updated + max_age,
                    "available": lp not in self._unavailable,
                }
            inst = self._instrument(symbol)
            out[symbol] = {
                "best": None if q is None else q.as_dict(),
                "mid": None if q is None else q.mid,
                "price_scale": None if inst is None else inst.price_scale,
                "lps": lps,
            }
        return out


# --- decoding helpers -------------------------------------------------------------------
def _md_entries(fields: Sequence[tuple[int, bytes]]) -> tuple[list[dict[int, bytes]], str | None]:
    """The NoMDEntries(268) group as one dict per entry (first occurrence of a tag wins).

    Entries are cut at each occurrence of the group's delimiter, taken as the first tag
    after 268 (279 in X and 269 in W by the standard; an LP with another order still
    reads right). Returns the entries and a problem when their count is not the declared.
    """
    n = len(fields)
    i = 0
    while i < n and fields[i][0] != tags.NoMDEntries:
        i += 1
    if i == n:
        return [], "no NoMDEntries(268)"
    declared = fields[i][1]
    i += 1
    entries: list[dict[int, bytes]] = []
    if i < n and fields[i][0] not in _GROUP_END:
        delimiter = fields[i][0]
        entry: dict[int, bytes] = {}
        for tag, value in fields[i:]:
            if tag == delimiter:
                entry = {tag: value}
                entries.append(entry)
            elif tag in _GROUP_END:
                break
            elif tag not in entry:
                entry[tag] = value
    if declared != b"%d" % len(entries):
        return entries, f"NoMDEntries(268)={declared.decode('latin-1')} but {len(entries)} entries read"
    return entries, None


def _price_size(inst: Instrument, entry: dict[int, bytes]) -> tuple[int, int | None] | str:
    """(price units, size units or None when absent) of one entry, or why it is bad."""
    raw_px = entry.get(tags.MDEntryPx)
    if raw_px is None:
        return "no MDEntryPx(270)"
    price = _price(inst, raw_px)
    if isinstance(price, str):
        return price
    raw_size = entry.get(tags.MDEntrySize)
    if raw_size is None:
        return price, None
    if _FIX_FLOAT.fullmatch(raw_size) is None:
        return f"MDEntrySize(271) {raw_size!r} is not a number"
    try:
        return price, inst.parse_qty(raw_size, check_lot=False)
    except BadValue as exc:
        if _is_zero(raw_size):
            return price, 0
        return f"MDEntrySize(271): {exc}"


def _price(inst: Instrument, raw: bytes) -> int | str:
    """Price units of MDEntryPx(270), or why it is bad."""
    if _FIX_FLOAT.fullmatch(raw) is None:
        return f"MDEntryPx(270) {raw!r} is not a number"
    try:
        return inst.parse_any_price(raw)
    except BadValue as exc:
        return f"MDEntryPx(270): {exc}"


def _is_zero(raw: bytes) -> bool:
    try:
        return Decimal(raw.decode("latin-1")) == 0
    except (InvalidOperation, UnicodeDecodeError):
        return False


def describe_request_reject(lp: str, msg: Message) -> str:
    """A MarketDataRequestReject (Y) as one line for the log."""
    req_id = msg.get_str(tags.MDReqID, "?")
    reason = msg.get_str(tags.MDReqRejReason)
    text = msg.get_str(tags.Text)
    out = f"{lp}: MarketDataRequestReject MDReqID={req_id}"
    if reason is not None:
        out += f" MDReqRejReason={reason}"
    if text:
        out += f" Text={text}"
    return out


# --- the request we send ------------------------------------------------------------------
def build_market_data_request(
    md_req_id: str, symbols: list[str], depth: int = 1, *, subscribe: bool = True
) -> bytes:
    """MarketDataRequest (V) body: bids and offers of ``symbols``, incremental updates.

    Returns pre-encoded body bytes for ``Session.send(b"V", body, now)``. ``depth`` is
    MarketDepth(264): 0 full book, 1 top of book, N levels. ``subscribe=False`` builds the
    unsubscribe (263=2) for the same MDReqID.
    """
    if not symbols:
        raise ValueError("a MarketDataRequest needs at least one symbol")
    if depth < 0:
        raise ValueError("MarketDepth must be >= 0")
    for value in (md_req_id, *symbols):
        if not value or "\x01" in value:
            raise ValueError(f"{value!r} cannot be sent in a FIX field")
    fields: list[tuple[int, bytes]] = [
        (tags.MDReqID, md_req_id.encode("latin-1")),
        (tags.SubscriptionRequestType, b"1" if subscribe else b"2"),
        (tags.MarketDepth, b"%d" % depth),
        (tags.MDUpdateType, b"1"),  # incremental refresh
        (tags.NoMDEntryTypes, b"2"),
        (tags.MDEntryType, b"0"),
        (tags.MDEntryType, b"1"),
        (tags.NoRelatedSym, b"%d" % len(symbols)),
    ]
    fields.extend((tags.Symbol, s.encode("latin-1")) for s in symbols)
    return encode_fields(fields)
