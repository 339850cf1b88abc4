"""Liquidity-provider simulator: several LPs in one process, each a FIX acceptor session.

Each LP quotes the shared market (simulators.market) with its own spread and skew, streams
MarketData snapshots and throttled incremental refreshes, and executes NewOrderSingle
against its own current quote with seeded latencies, partial fills, price improvement,
last look, rejects and adverse selection; Day orders rest and can be cancelled, replaced
and queried. Misbehaviour switches make it act like the LPs that break gateways: hang up
mid-order, fill after a cancel, bust and correct trades, cancel or restate on its own,
write garbage between messages.

Why a simulator and not mocks: the gateway's learning router needs counterparties whose
quality differs in known ways, over real FIX, fast enough for benchmarks (pre-encoded
bytes, no logging or dict copies per order). It must never import the gateway's
application modules (only gateway.fix, gateway.sessions, gateway.config and
gateway.instruments), and never let a bad message from its counterparty stop it.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import random
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TextIO

from gateway.fix.codec import Message
from gateway.fix.tags import BusinessRejectReason, MsgType
from gateway.fix.timeutil import utc_timestamp
from gateway.instruments import BadValue, Instrument
from gateway.sessions.session import NotLoggedOn, Session
from gateway.sessions.transport import BaseApplication, Engine
from simulators.lp_profile import LpProfile, SimProfile, load_profile, parse_profile
from simulators.market import Market, Quote, stable_seed

__all__ = ["LpSimulator", "LpStats", "SimLp", "SimOrder", "load_profile", "parse_profile"]

# OrdStatus(39) / ExecType(150) values used here
NEW: Final = b"0"
PARTIALLY_FILLED: Final = b"1"
FILLED: Final = b"2"
CANCELED: Final = b"4"
REPLACED: Final = b"5"
PENDING_NEW: Final = b"A"
REJECTED: Final = b"8"
TRADE: Final = b"F"
TRADE_CORRECT: Final = b"G"
TRADE_CANCEL: Final = b"H"
RESTATED: Final = b"D"
ORDER_STATUS: Final = b"I"
TERMINAL: Final = frozenset({FILLED, CANCELED, REJECTED})

# OrdRejReason(103): why an LP says no
REJ_BROKER_OPTION: Final = b"0"  # last look
REJ_UNKNOWN_SYMBOL: Final = b"1"
REJ_EXCEEDS_LIMIT: Final = b"3"  # size too large
REJ_UNKNOWN_ORDER: Final = b"5"
REJ_DUPLICATE_ORDER: Final = b"6"
REJ_STALE: Final = b"8"  # price moved away
REJ_UNSUPPORTED: Final = b"11"
REJ_INCORRECT_QTY: Final = b"13"
REJ_OTHER: Final = b"99"

# CxlRejReason(102) and CxlRejResponseTo(434)
CXL_TOO_LATE: Final = b"0"
CXL_UNKNOWN_ORDER: Final = b"1"
CXL_BROKER_OPTION: Final = b"2"
RESPONSE_TO_CANCEL: Final = b"1"
RESPONSE_TO_REPLACE: Final = b"2"

_BUY: Final = b"1"
_SELL: Final = b"2"
# garbage never holds "8", so it can never look like the start of a frame ("8=FIX")
_GARBAGE_ALPHABET: Final = bytes(b for b in range(256) if b != ord("8"))


class LpStats:
    """Counters of one LP; read by the summary line and by tests."""

    __slots__ = (
        "acks",
        "busts",
        "cancel_rejects",
        "cancels",
        "corrections",
        "disconnects",
        "fills",
        "garbage",
        "late_fills",
        "lost",
        "md_requests",
        "md_updates",
        "orders",
        "queued",
        "rejects",
        "replaces",
        "restatements",
        "status_requests",
        "unsolicited_cancels",
    )

    def __init__(self) -> None:
        self.acks = 0
        self.busts = 0
        self.cancel_rejects = 0
        self.cancels = 0
        self.corrections = 0
        self.disconnects = 0
        self.fills = 0
        self.garbage = 0
        self.late_fills = 0
        self.lost = 0
        self.md_requests = 0
        self.md_updates = 0
        self.orders = 0
        self.queued = 0  # sent while the session was down: delivered by resend
        self.rejects = 0
        self.replaces = 0
        self.restatements = 0
        self.status_requests = 0
        self.unsolicited_cancels = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class SimOrder:
    """An order as the LP sees it; quantities and prices in integer instrument units."""

    __slots__ = (
        "ack_timer",
        "acked",
        "buy",
        "chain",
        "clordid",
        "cum",
        "fills",
        "inst",
        "instrument",
        "limit",
        "mid_at_arrival",
        "notional",
        "order_id",
        "qty",
        "side",
        "status",
        "symbol",
        "tif",
        "timer",
    )

    def __init__(
        self,
        order_id: bytes,
        clordid: bytes,
        symbol: str,
        instrument: Instrument,
        side: bytes,
        qty: int,
        limit: int | None,
        tif: bytes,
    ) -> None:
        self.order_id = order_id
        self.clordid = clordid
        self.chain: list[bytes] = [clordid]  # every ClOrdID the order has had
        self.symbol = symbol
        self.instrument = instrument
        self.side = side
        self.buy = side == _BUY
        self.qty = qty
        self.limit = limit  # None: market order
        self.tif = tif
        self.cum = 0
        self.notional = 0  # sum of qty units x price units over live fills
        self.status = PENDING_NEW
        self.acked = False
        # ExecID -> [qty, price] of each fill not busted
        self.fills: dict[bytes, list[int]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.ack_timer: asyncio.TimerHandle | None = None
        self.mid_at_arrival = 0.0
        self.inst = b""
        self._encode_instrument()

    def _encode_instrument(self) -> None:
        self.inst = b"55=%s\x0154=%s\x0138=%s\x01" % (
            self.symbol.encode(),
            self.side,
            self.instrument.fmt_qty(self.qty),
        )

    @property
    def leaves(self) -> int:
        return 0 if self.status in TERMINAL else self.qty - self.cum

    @property
    def live(self) -> bool:
        return self.status not in TERMINAL

    def cancel_timers(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.ack_timer is not None:
            self.ack_timer.cancel()
            self.ack_timer = None


class SimLp:
    """One simulated LP: its quotes, orders and behaviour, bound to one FIX session.

    ``call_later`` schedules its timers and ``flush`` pushes what a timer callback sent to
    the socket (inside an engine callback the engine flushes by itself).
    """

    def __init__(
        self,
        profile: LpProfile,
        market: Market,
        seed: int,
        call_later: Callable[..., asyncio.TimerHandle],
        flush: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        retain_orders: int = 200_000,
        run_id: bytes | None = None,
    ) -> None:
        self.profile = profile
        self.name = profile.name
        self.market = market
        self.rng = random.Random(stable_seed(seed, profile.name))
        self._call_later = call_later
        self._flush = flush
        self._clock = clock
        self.session: Session | None = None
        self.stats = LpStats()
        self.symbols = frozenset(profile.symbols)
        run = run_id if run_id is not None else b"%X" % (time.time_ns() // 1000 & 0xFFFFFFFFF)
        self._exec_prefix = profile.name.encode() + b"-" + run + b"-E"
        self._order_prefix = profile.name.encode() + b"-" + run + b"-O"
        self._exec_seq = 0
        self._order_seq = 0
        self.orders: dict[bytes, SimOrder] = {}  # every ClOrdID of an order's chain
        self._finished: collections.deque[SimOrder] = collections.deque()
        self._retain = retain_orders
        self._resting: dict[str, dict[bytes, SimOrder]] = {s: {} for s in profile.symbols}
        # market data
        self.quotes: dict[str, Quote] = {}
        self._quote_sizes: dict[str, int] = {}
        self._max_sizes: dict[str, int | None] = {}
        for symbol in profile.symbols:
            inst = market.instrument(symbol)
            size = profile.size_of(profile.quote_size, symbol)
            self._quote_sizes[symbol] = int(size * inst.qty_scale) if size is not None else 0
            max_size = profile.size_of(profile.max_order_size, symbol)
            self._max_sizes[symbol] = int(max_size * inst.qty_scale) if max_size is not None else None
            self.quotes[symbol] = self._make_quote(symbol)
        self._md_subs: dict[str, list[bytes]] = {s: [] for s in profile.symbols}
        self._md_sent: dict[str, Quote] = {}
        self._md_last: dict[str, float] = {}
        self._md_timers: dict[str, asyncio.TimerHandle] = {}
        self._mute = False
        self.stopped = False
        self._garbage = 0.0
        self._immediate = True
        self._derive()

    def _derive(self) -> None:
        """Values read on every order, taken from the profile once."""
        p = self.profile
        self._garbage = p.misbehaviour.garbage_bytes
        self._immediate = not (p.ack_latency.enabled or p.fill_latency.enabled or p.last_look_hold.enabled)
        self._md_throttle = p.quote_throttle_ms / 1000.0

    def reconfigure(self, **changes: Any) -> None:
        """Change this LP's behaviour while it runs (tests, scenarios): LpProfile fields,
        e.g. ``reject_rate=1.0``, ``fill_latency=Lognormal(40)``, ``misbehaviour=Misbehaviour(bust=1)``.

        Quotes follow a new spread or skew at once; symbols, sizes and the session stay.
        """
        fixed = {"name", "port", "symbols", "quote_size", "max_order_size", "session"} & changes.keys()
        if fixed:
            raise ValueError(f"cannot change {', '.join(sorted(fixed))} of a running LP")
        self.profile = dataclasses.replace(self.profile, **changes)
        self._derive()
        for symbol in self.profile.symbols:
            self.on_market(symbol)

    # --- identifiers -------------------------------------------------------------------
    def _exec_id(self) -> bytes:
        self._exec_seq += 1
        return self._exec_prefix + b"%d" % self._exec_seq

    def _new_order_id(self) -> bytes:
        self._order_seq += 1
        return self._order_prefix + b"%d" % self._order_seq

    # --- sending -------------------------------------------------------------------------
    def _send(self, msg_type: bytes, body: bytes, now: float) -> None:
        if self._mute:
            return
        session = self.session
        if session is None:
            self.stats.lost += 1
            return
        if not session.logged_on:
            # kept with its sequence number, as a QuickFIX LP does: the gateway gets it by
            # ResendRequest (PossDupFlag=Y) when it logs on again
            session.send(msg_type, body, now, offline_ok=True)
            self.stats.queued += 1
            return
        if self._garbage and self.rng.random() < self._garbage:
            self._write_garbage(session, now)
        try:
            session.send(msg_type, body, now)
        except NotLoggedOn:
            self.stats.lost += 1

    def _write_garbage(self, session: Session, now: float) -> None:
        """Random bytes between two messages; the counterparty's framer must skip them."""
        n = self.rng.randint(1, 48)
        alphabet = _GARBAGE_ALPHABET
        junk = bytes(alphabet[self.rng.randrange(len(alphabet))] for _ in range(n))
        session.write_raw(junk, now)
        self.stats.garbage += 1

    def _er(
        self,
        o: SimOrder,
        exec_type: bytes,
        now: float,
        extra: bytes = b"",
        ids: bytes | None = None,
        exec_id: bytes | None = None,
    ) -> bytes:
        """An ExecutionReport body for ``o`` as it is now; ``extra`` ends it."""
        inst = o.instrument
        if ids is None:
            ids = b"37=%s\x0111=%s\x01" % (o.order_id, o.clordid)
        return b"%s17=%s\x01150=%s\x0139=%s\x01%s151=%s\x0114=%s\x016=%s\x0160=%s\x01%s" % (
            ids,
            exec_id if exec_id is not None else self._exec_id(),
            exec_type,
            o.status,
            o.inst,
            inst.fmt_qty(o.leaves),
            inst.fmt_qty(o.cum),
            inst.fmt_avg_px(o.notional, o.cum),
            utc_timestamp(now),
            extra,
        )

    def _send_er(self, o: SimOrder, exec_type: bytes, now: float, extra: bytes = b"") -> None:
        self._send(MsgType.EXECUTION_REPORT, self._er(o, exec_type, now, extra), now)

    # --- quotes --------------------------------------------------------------------------
    def _make_quote(self, symbol: str) -> Quote:
        p = self.profile
        return self.market.quote(symbol, p.spread_bps, p.skew_bps, self._quote_sizes[symbol])

    def on_market(self, symbol: str) -> None:
        """The market mid of ``symbol`` moved: requote, publish, fill resting orders."""
        if self.stopped:
            return
        quote = self._make_quote(symbol)
        old = self.quotes.get(symbol)
        self.quotes[symbol] = quote
        if quote == old:
            return
        if self._md_subs[symbol]:
            self._md_publish(symbol)
        resting = self._resting[symbol]
        if resting:
            self._cross_resting(symbol)

    def _md_publish(self, symbol: str) -> None:
        now = self._clock()
        wait = self._md_last.get(symbol, -1e18) + self._md_throttle - now
        if wait <= 0:
            self._md_send_incremental(symbol, now)
        elif symbol not in self._md_timers:
            self._md_timers[symbol] = self._call_later(wait, self._md_timer_fired, symbol)

    def _md_timer_fired(self, symbol: str) -> None:
        self._md_timers.pop(symbol, None)
        if self.stopped or not self._md_subs[symbol]:
            return
        self._md_send_incremental(symbol, self._clock())
        self._flush()

    def _md_send_incremental(self, symbol: str, mono: float) -> None:
        quote = self.quotes[symbol]
        if self._md_sent.get(symbol) == quote:
            return
        self._md_sent[symbol] = quote
        self._md_last[symbol] = mono
        inst = self.market.instrument(symbol)
        sym = symbol.encode()
        entries = (
            b"268=2\x01279=1\x01269=0\x0155=%s\x01270=%s\x01271=%s\x01"
            b"279=1\x01269=1\x0155=%s\x01270=%s\x01271=%s\x01"
            % (
                sym,
                inst.fmt_price(quote.bid),
                inst.fmt_qty(quote.bid_size),
                sym,
                inst.fmt_price(quote.ask),
                inst.fmt_qty(quote.ask_size),
            )
        )
        now = time.time()
        for req_id in self._md_subs[symbol]:
            self._send(MsgType.MARKET_DATA_INCREMENTAL_REFRESH, b"262=%s\x01" % req_id + entries, now)
            self.stats.md_updates += 1

    def _snapshot(self, req_id: bytes, symbol: str, now: float) -> None:
        quote = self.quotes[symbol]
        inst = self.market.instrument(symbol)
        body = b"262=%s\x0155=%s\x01268=2\x01269=0\x01270=%s\x01271=%s\x01269=1\x01270=%s\x01271=%s\x01" % (
            req_id,
            symbol.encode(),
            inst.fmt_price(quote.bid),
            inst.fmt_qty(quote.bid_size),
            inst.fmt_price(quote.ask),
            inst.fmt_qty(quote.ask_size),
        )
        self._md_sent[symbol] = quote
        self._md_last[symbol] = self._clock()
        self._send(MsgType.MARKET_DATA_SNAPSHOT_FULL_REFRESH, body, now)

    def on_market_data_request(self, msg: Message, now: float) -> None:
        self.stats.md_requests += 1
        req_id = msg.get(262)
        if req_id is None:
            self._send(
                MsgType.MARKET_DATA_REQUEST_REJECT, b"262=?\x01281=0\x0158=MDReqID(262) missing\x01", now
            )
            return
        sub_type = msg.get(263, b"1")
        if sub_type == b"2":
            for reqs in self._md_subs.values():
                if req_id in reqs:
                    reqs.remove(req_id)
            return
        symbols = [s.decode("latin-1") for s in msg.get_all(55)]
        unknown = [s for s in symbols if s not in self.symbols]
        if unknown or not symbols:
            text = f"Unknown symbol: {', '.join(unknown)}" if unknown else "no Symbol(55) requested"
            self._send(
                MsgType.MARKET_DATA_REQUEST_REJECT,
                b"262=%s\x01281=0\x0158=%s\x01" % (req_id, text.encode("latin-1", "replace")),
                now,
            )
            return
        for symbol in symbols:
            self._snapshot(req_id, symbol, now)
            if sub_type == b"1" and req_id not in self._md_subs[symbol]:
                self._md_subs[symbol].append(req_id)

    def on_disconnect(self) -> None:
        """Subscriptions die with the connection; orders live on (OrderStatusRequest)."""
        for reqs in self._md_subs.values():
            reqs.clear()
        for handle in self._md_timers.values():
            handle.cancel()
        self._md_timers.clear()

    # --- orders ---------------------------------------------------------------------------
    def _business_reject(self, msg: Message, text: str, now: float) -> None:
        session = self.session
        if session is not None and session.logged_on:
            session.send_business_reject(
                msg, BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING, text, now
            )

    def _reject_unbooked(self, msg: Message, clordid: bytes, reason: bytes, text: str, now: float) -> None:
        """A reject for an order we could not even book (bad symbol, quantity, ...)."""
        self.stats.rejects += 1
        body = (
            b"37=NONE\x0111=%s\x0117=%s\x01150=8\x0139=8\x0155=%s\x0154=%s\x0138=%s\x01"
            b"151=0\x0114=0\x016=0\x0160=%s\x01103=%s\x0158=%s\x01"
            % (
                clordid,
                self._exec_id(),
                msg.get(55, b"?"),
                msg.get(54, b"?"),
                msg.get(38, b"0"),
                utc_timestamp(now),
                reason,
                text.encode("latin-1", "replace"),
            )
        )
        self._send(MsgType.EXECUTION_REPORT, body, now)

    def on_new_order(self, msg: Message, now: float) -> None:
        clordid = msg.get(11)
        if clordid is None:
            self._business_reject(msg, "ClOrdID(11) missing", now)
            return
        self.stats.orders += 1
        symbol_b = msg.get(55)
        symbol = symbol_b.decode("latin-1") if symbol_b is not None else ""
        if symbol not in self.symbols:
            self._reject_unbooked(msg, clordid, REJ_UNKNOWN_SYMBOL, f"Unknown symbol {symbol}", now)
            return
        if clordid in self.orders:
            self._reject_unbooked(msg, clordid, REJ_DUPLICATE_ORDER, "Duplicate ClOrdID", now)
            return
        inst = self.market.instrument(symbol)
        side = msg.get(54)
        if side != _BUY and side != _SELL:
            self._reject_unbooked(msg, clordid, REJ_UNSUPPORTED, "Side must be 1 or 2", now)
            return
        try:
            qty = inst.parse_qty(msg.get(38) or b"")
        except BadValue as exc:
            self._reject_unbooked(msg, clordid, REJ_INCORRECT_QTY, str(exc), now)
            return
        ord_type = msg.get(40)
        price_b = msg.get(44)
        limit: int | None = None
        if ord_type == b"2" or (ord_type is None and price_b is not None):
            try:
                limit = inst.parse_price(price_b or b"")
            except BadValue as exc:
                self._reject_unbooked(msg, clordid, REJ_OTHER, str(exc), now)
                return
        elif ord_type != b"1":
            self._reject_unbooked(msg, clordid, REJ_UNSUPPORTED, "OrdType must be 1 or 2", now)
            return
        tif = msg.get(59, b"3") or b"3"
        if tif not in (b"0", b"3", b"4"):
            self._reject_unbooked(msg, clordid, REJ_UNSUPPORTED, "TimeInForce must be 0, 3 or 4", now)
            return
        if tif == b"0" and (limit is None or not self.profile.rest_day_orders):
            tif = b"3"
        o = SimOrder(self._new_order_id(), clordid, symbol, inst, side, qty, limit, tif)
        o.mid_at_arrival = self.market.mid(symbol)
        self.orders[clordid] = o
        p = self.profile
        rng = self.rng
        m = p.misbehaviour
        if m.disconnect_mid_order and rng.random() < m.disconnect_mid_order:
            self._disconnect_mid_order(o, now)
            return
        max_size = self._max_sizes[symbol]
        if max_size is not None and qty > max_size:
            self._schedule_reject(o, REJ_EXCEEDS_LIMIT, b"Size too large", now)
            return
        if p.reject_rate and rng.random() < p.reject_rate:
            self._schedule_reject(o, REJ_BROKER_OPTION, b"Last look reject", now)
            return
        if self._immediate:
            if p.send_ack:
                self._ack(o, now)
            self._decide(o, now)
            return
        ack_delay = p.ack_latency.draw(rng)
        decide_delay = max(p.fill_latency.draw(rng), ack_delay) + p.last_look_hold.draw(rng)
        # an LP with last look says nothing before its decision
        if p.send_ack and not p.last_look_hold.enabled:
            if ack_delay > 0:
                o.ack_timer = self._call_later(ack_delay, self._ack_timer_fired, o)
            else:
                self._ack(o, now)
        o.timer = self._call_later(decide_delay, self._decide_timer_fired, o)

    def _disconnect_mid_order(self, o: SimOrder, now: float) -> None:
        """Hang up before answering; what happened to the order is kept for status requests."""
        self.stats.disconnects += 1
        self._mute = True
        try:
            if self.rng.random() < self.profile.misbehaviour.disconnect_fill_probability:
                self._execute(o, now, forced=True)
            else:
                self._no_fill(o, now, b"Connection lost")
        finally:
            self._mute = False
        if self.session is not None:
            self.session.close_requested = True

    def _schedule_reject(self, o: SimOrder, reason: bytes, text: bytes, now: float) -> None:
        delay = self.profile.ack_latency.draw(self.rng) + self.profile.last_look_hold.draw(self.rng)
        if delay <= 0:
            self._reject(o, reason, text, now)
        else:
            o.timer = self._call_later(delay, self._reject_timer_fired, o, reason, text)

    def _reject_timer_fired(self, o: SimOrder, reason: bytes, text: bytes) -> None:
        o.timer = None
        if self.stopped or not o.live:
            return
        self._reject(o, reason, text, time.time())
        self._flush()

    def _reject(self, o: SimOrder, reason: bytes, text: bytes, now: float) -> None:
        """No trade. The first answer is a Reject; after an ack it can only be a Cancel."""
        self.stats.rejects += 1
        extra = b"103=%s\x0158=%s\x01" % (reason, text)
        if o.acked:
            o.status = CANCELED
            self._send_er(o, CANCELED, now, b"58=%s\x01" % text)
        else:
            o.status = REJECTED
            self._send_er(o, REJECTED, now, extra)
        self._finish(o)

    def _ack(self, o: SimOrder, now: float) -> None:
        if o.acked:
            return
        o.acked = True
        if o.status == PENDING_NEW:
            o.status = NEW
        self.stats.acks += 1
        self._send_er(o, NEW, now)

    def _ack_timer_fired(self, o: SimOrder) -> None:
        o.ack_timer = None
        if self.stopped or not o.live:
            return
        self._ack(o, time.time())
        self._flush()

    def _decide_timer_fired(self, o: SimOrder) -> None:
        o.timer = None
        if self.stopped or not o.live:
            return
        now = time.time()
        p = self.profile
        if p.last_look_hold.enabled:
            # last look: reject if the mid moved against the LP while it held the order
            moved = (self.market.mid(o.symbol) - o.mid_at_arrival) / o.mid_at_arrival * 1e4
            against = moved if o.buy else -moved
            if against > p.last_look_tolerance_bps:
                self._reject(o, REJ_STALE, b"Price moved away", now)
                self._flush()
                return
        if p.send_ack and not o.acked:
            self._ack(o, now)
        self._decide(o, now)
        self._flush()

    def _decide(self, o: SimOrder, now: float) -> None:
        """The LP's decision on a new order: trade against its own quote, or not."""
        p = self.profile
        if p.fill_probability < 1.0 and self.rng.random() >= p.fill_probability:
            self._no_fill(o, now, b"No liquidity")
            return
        self._execute(o, now)

    def _quote_price(self, o: SimOrder) -> int | None:
        """The LP's price for ``o`` now, or None when the quote is through the limit."""
        quote = self.quotes[o.symbol]
        px = quote.ask if o.buy else quote.bid
        limit = o.limit
        if limit is not None and (px > limit if o.buy else px < limit):
            return None
        return px

    def _execute(self, o: SimOrder, now: float, forced: bool = False) -> None:
        p = self.profile
        rng = self.rng
        px = self._quote_price(o)
        if px is None:
            if o.tif == b"0":
                self._rest(o, now)
            elif p.through_limit == "reject" and not forced:
                self._reject(o, REJ_STALE, b"Price moved away", now)
            else:
                self._no_fill(o, now, b"Quote through limit")
            return
        inst = o.instrument
        leaves = o.qty - o.cum
        qty = leaves
        if not forced and p.partial_fill_probability and rng.random() < p.partial_fill_probability:
            lot = inst.lot_units
            frac = rng.uniform(p.partial_fill_min_fraction, p.partial_fill_max_fraction)
            qty = max(lot, int(leaves * frac) // lot * lot)
        available = self._quote_sizes[o.symbol]
        if available and qty > available:
            qty = available
        if o.tif == b"4" and qty < leaves:
            self._no_fill(o, now, b"FOK: not fillable in full")
            return
        if not forced and p.price_improvement_probability and rng.random() < p.price_improvement_probability:
            quote = self.quotes[o.symbol]
            step = p.price_improvement_ticks * inst.tick_units
            px = max(px - step, quote.bid) if o.buy else min(px + step, quote.ask)
        self._fill(o, qty, px, now)
        if o.live:
            if o.tif == b"0":
                self._rest(o, now)
            else:
                self._no_fill(o, now, b"")

    def _fill(self, o: SimOrder, qty: int, px: int, now: float, late: bool = False) -> None:
        o.cum += qty
        o.notional += qty * px
        o.status = FILLED if o.cum >= o.qty else PARTIALLY_FILLED
        exec_id = self._exec_id()
        o.fills[exec_id] = [qty, px]
        self.stats.fills += 1
        inst = o.instrument
        extra = b"31=%s\x0132=%s\x01" % (inst.fmt_price(px), inst.fmt_qty(qty))
        if late:
            extra += b"58=Late fill\x01"
        self._send(MsgType.EXECUTION_REPORT, self._er(o, TRADE, now, extra, exec_id=exec_id), now)
        if o.status == FILLED:
            self._finish(o)
        if self._mute:
            return
        p = self.profile
        rng = self.rng
        if p.adverse_selection_probability and rng.random() < p.adverse_selection_probability:
            # the price moves the way that hurts the taker: up after it bought
            bps = p.adverse_selection_bps
            self.market.shock(o.symbol, bps if o.buy else -bps)
        m = p.misbehaviour
        if m.bust and rng.random() < m.bust:
            self._call_later(m.bust_delay_ms / 1000.0, self._bust, o, exec_id)
        elif m.correction and rng.random() < m.correction:
            self._call_later(m.correction_delay_ms / 1000.0, self._correct, o, exec_id)

    def _no_fill(self, o: SimOrder, now: float, text: bytes) -> None:
        """IOC/FOK end: what is left is cancelled (the whole order if nothing traded)."""
        if o.tif == b"0" and o.live and o.limit is not None:
            self._rest(o, now)
            return
        o.status = CANCELED
        self.stats.cancels += 1
        self._send_er(o, CANCELED, now, b"58=%s\x01" % text if text else b"")
        self._finish(o)

    def _finish(self, o: SimOrder) -> None:
        o.cancel_timers()
        self._resting[o.symbol].pop(o.order_id, None)
        finished = self._finished
        finished.append(o)
        if len(finished) > self._retain:
            orders = self.orders
            for key in finished.popleft().chain:
                orders.pop(key, None)

    # --- Day orders -----------------------------------------------------------------------
    def _rest(self, o: SimOrder, now: float) -> None:
        if not o.acked:
            self._ack(o, now)
        if o.order_id in self._resting[o.symbol]:
            return
        self._resting[o.symbol][o.order_id] = o
        if self._mute:
            return
        m = self.profile.misbehaviour
        rng = self.rng
        if m.unsolicited_cancel and rng.random() < m.unsolicited_cancel:
            self._call_later(m.unsolicited_cancel_delay_ms / 1000.0, self._unsolicited_cancel, o)
        if m.restatement and rng.random() < m.restatement:
            self._call_later(m.restatement_delay_ms / 1000.0, self._restate, o)

    def _cross_resting(self, symbol: str) -> None:
        now = time.time()
        for o in list(self._resting[symbol].values()):
            if not o.live or o.order_id not in self._resting[symbol]:
                continue
            px = self._quote_price(o)
            if px is None:
                continue
            qty = o.qty - o.cum
            available = self._quote_sizes[symbol]
            if available and qty > available:
                qty = available
            self._fill(o, qty, px, now)

    def _unsolicited_cancel(self, o: SimOrder) -> None:
        if self.stopped or not o.live:
            return
        now = time.time()
        o.status = CANCELED
        self.stats.unsolicited_cancels += 1
        self._send_er(o, CANCELED, now, b"58=Unsolicited cancel\x01")
        self._finish(o)
        self._flush()

    def _restate(self, o: SimOrder) -> None:
        if self.stopped or not o.live:
            return
        leaves = o.qty - o.cum
        lot = o.instrument.lot_units
        cut = leaves // 2 // lot * lot
        if cut <= 0:
            return
        o.qty -= cut
        o._encode_instrument()
        self.stats.restatements += 1
        now = time.time()
        self._send_er(o, RESTATED, now, b"378=5\x0158=Restated: leaves reduced\x01")
        self._flush()

    # --- busts and corrections -------------------------------------------------------------
    def _bust(self, o: SimOrder, exec_id: bytes) -> None:
        if self.stopped:
            return
        fill = o.fills.pop(exec_id, None)
        if fill is None:
            return
        qty, px = fill
        o.cum -= qty
        o.notional -= qty * px
        if o.live:
            # a resting order gets the busted quantity back as leaves
            o.status = PARTIALLY_FILLED if o.cum > 0 else NEW
        elif o.status == FILLED:
            # a finished order stays finished: no longer filled in full, so cancelled
            o.status = CANCELED
        self.stats.busts += 1
        inst = o.instrument
        now = time.time()
        extra = b"19=%s\x0131=%s\x0132=%s\x0158=Trade bust\x01" % (
            exec_id,
            inst.fmt_price(px),
            inst.fmt_qty(qty),
        )
        self._send_er(o, TRADE_CANCEL, now, extra)
        self._flush()

    def _correct(self, o: SimOrder, exec_id: bytes) -> None:
        if self.stopped:
            return
        fill = o.fills.pop(exec_id, None)
        if fill is None:
            return
        qty, px = fill
        tick = o.instrument.tick_units
        new_px = px - tick if o.buy else px + tick  # corrected in the taker's favour
        if new_px <= 0:
            new_px = px
        o.notional += qty * (new_px - px)
        new_exec = self._exec_id()
        o.fills[new_exec] = [qty, new_px]
        self.stats.corrections += 1
        inst = o.instrument
        now = time.time()
        extra = b"19=%s\x0131=%s\x0132=%s\x0158=Trade correction\x01" % (
            exec_id,
            inst.fmt_price(new_px),
            inst.fmt_qty(qty),
        )
        self._send(MsgType.EXECUTION_REPORT, self._er(o, TRADE_CORRECT, now, extra, exec_id=new_exec), now)
        self._flush()

    # --- cancel, replace, status -------------------------------------------------------------
    def _cancel_reject(
        self,
        clordid: bytes,
        orig: bytes,
        o: SimOrder | None,
        response_to: bytes,
        reason: bytes,
        text: bytes,
        now: float,
    ) -> None:
        self.stats.cancel_rejects += 1
        body = b"11=%s\x0141=%s\x0137=%s\x0139=%s\x01434=%s\x01102=%s\x0158=%s\x0160=%s\x01" % (
            clordid,
            orig,
            o.order_id if o is not None else b"NONE",
            o.status if o is not None else REJECTED,
            response_to,
            reason,
            text,
            utc_timestamp(now),
        )
        self._send(MsgType.ORDER_CANCEL_REJECT, body, now)

    def _order_to_change(
        self, msg: Message, response_to: bytes, too_late: bytes, now: float
    ) -> tuple[bytes, bytes, SimOrder] | None:
        """The live order a cancel/replace names, or None once it has been refused."""
        clordid = msg.get(11)
        orig = msg.get(41)
        if clordid is None or orig is None:
            self._business_reject(msg, "ClOrdID(11) and OrigClOrdID(41) are required", now)
            return None
        o = self.orders.get(orig)
        if o is None:
            self._cancel_reject(clordid, orig, None, response_to, CXL_UNKNOWN_ORDER, b"Unknown order", now)
            return None
        if not o.live:
            self._cancel_reject(clordid, orig, o, response_to, CXL_TOO_LATE, too_late, now)
            return None
        return clordid, orig, o

    def on_cancel_request(self, msg: Message, now: float) -> None:
        found = self._order_to_change(msg, RESPONSE_TO_CANCEL, b"Too late to cancel", now)
        if found is None:
            return
        clordid, orig, o = found
        m = self.profile.misbehaviour
        rng = self.rng
        if m.late_fill_after_cancel and rng.random() < m.late_fill_after_cancel:
            variant = m.late_fill_variant
            if variant == "either":
                variant = "fill_then_reject" if rng.random() < 0.5 else "cancel_then_fill"
            if variant == "fill_then_reject":
                self.stats.late_fills += 1
                o.cancel_timers()
                if self.profile.send_ack and not o.acked:
                    self._ack(o, now)
                self._fill(o, o.qty - o.cum, self._late_price(o), now, late=True)
                self._cancel_reject(
                    clordid, orig, o, RESPONSE_TO_CANCEL, CXL_TOO_LATE, b"Too late to cancel", now
                )
                return
            leaves = o.qty - o.cum
            self._cancel(o, clordid, orig, now)
            self._call_later(m.late_fill_delay_ms / 1000.0, self._late_fill, o, leaves)
            return
        self._cancel(o, clordid, orig, now)

    def _late_price(self, o: SimOrder) -> int:
        px = self._quote_price(o)
        if px is not None:
            return px
        assert o.limit is not None  # a market order always has a quote price
        return o.limit

    def _cancel(self, o: SimOrder, clordid: bytes, orig: bytes, now: float) -> None:
        o.cancel_timers()
        if self.profile.send_ack and not o.acked:
            self._ack(o, now)
        o.status = CANCELED
        o.clordid = clordid
        o.chain.append(clordid)
        self.orders[clordid] = o
        self.stats.cancels += 1
        ids = b"37=%s\x0111=%s\x0141=%s\x01" % (o.order_id, clordid, orig)
        self._send(MsgType.EXECUTION_REPORT, self._er(o, CANCELED, now, ids=ids), now)
        self._finish(o)

    def _late_fill(self, o: SimOrder, qty: int) -> None:
        """A fill on an order whose cancel was already confirmed (documented LP behaviour)."""
        if self.stopped or qty <= 0:
            return
        now = time.time()
        self.stats.late_fills += 1
        px = self._late_price(o)
        o.cum += qty
        o.notional += qty * px
        o.status = FILLED if o.cum >= o.qty else CANCELED
        exec_id = self._exec_id()
        o.fills[exec_id] = [qty, px]
        self.stats.fills += 1
        inst = o.instrument
        extra = b"31=%s\x0132=%s\x0158=Late fill after cancel\x01" % (
            inst.fmt_price(px),
            inst.fmt_qty(qty),
        )
        self._send(MsgType.EXECUTION_REPORT, self._er(o, TRADE, now, extra, exec_id=exec_id), now)
        self._flush()

    def on_replace_request(self, msg: Message, now: float) -> None:
        found = self._order_to_change(msg, RESPONSE_TO_REPLACE, b"Too late to replace", now)
        if found is None:
            return
        clordid, orig, o = found
        if o.order_id not in self._resting[o.symbol]:
            self._cancel_reject(
                clordid,
                orig,
                o,
                RESPONSE_TO_REPLACE,
                CXL_BROKER_OPTION,
                b"Only resting Day orders can be replaced",
                now,
            )
            return
        inst = o.instrument
        try:
            qty = inst.parse_qty(msg.get(38) or b"")
            price_b = msg.get(44)
            limit = inst.parse_price(price_b) if price_b is not None else o.limit
        except BadValue as exc:
            self._cancel_reject(
                clordid, orig, o, RESPONSE_TO_REPLACE, CXL_BROKER_OPTION, str(exc).encode(), now
            )
            return
        if qty <= o.cum:
            self._cancel_reject(
                clordid, orig, o, RESPONSE_TO_REPLACE, CXL_BROKER_OPTION, b"OrderQty not above CumQty", now
            )
            return
        o.qty = qty
        o.limit = limit
        o._encode_instrument()
        o.clordid = clordid
        o.chain.append(clordid)
        self.orders[clordid] = o
        self.stats.replaces += 1
        ids = b"37=%s\x0111=%s\x0141=%s\x01" % (o.order_id, clordid, orig)
        extra = b"44=%s\x01" % inst.fmt_price(limit) if limit is not None else b""
        self._send(MsgType.EXECUTION_REPORT, self._er(o, REPLACED, now, extra, ids=ids), now)
        px = self._quote_price(o)
        if px is not None:
            self._cross_resting(o.symbol)

    def on_status_request(self, msg: Message, now: float) -> None:
        self.stats.status_requests += 1
        clordid = msg.get(11) or b"?"
        req = msg.get(790)
        extra = b"790=%s\x01" % req if req is not None else b""
        o = self.orders.get(clordid)
        if o is None:
            body = (
                b"37=NONE\x0111=%s\x0117=%s\x01150=I\x0139=8\x0155=%s\x0154=%s\x0138=%s\x01"
                b"151=0\x0114=0\x016=0\x0160=%s\x01103=5\x0158=Unknown order\x01%s"
                % (
                    clordid,
                    self._exec_id(),
                    msg.get(55, b"?"),
                    msg.get(54, b"?"),
                    msg.get(38, b"0"),
                    utc_timestamp(now),
                    extra,
                )
            )
            self._send(MsgType.EXECUTION_REPORT, body, now)
            return
        ids = b"37=%s\x0111=%s\x01" % (o.order_id, clordid)
        self._send(MsgType.EXECUTION_REPORT, self._er(o, ORDER_STATUS, now, extra, ids=ids), now)

    def on_message(self, msg: Message, now: float) -> None:
        t = msg.msg_type
        if t == MsgType.NEW_ORDER_SINGLE:
            self.on_new_order(msg, now)
        elif t == MsgType.MARKET_DATA_REQUEST:
            self.on_market_data_request(msg, now)
        elif t == MsgType.ORDER_CANCEL_REQUEST:
            self.on_cancel_request(msg, now)
        elif t == MsgType.ORDER_STATUS_REQUEST:
            self.on_status_request(msg, now)
        elif t == MsgType.ORDER_CANCEL_REPLACE_REQUEST:
            self.on_replace_request(msg, now)
        else:
            session = self.session
            if session is not None and session.logged_on:
                session.send_business_reject(
                    msg, BusinessRejectReason.UNSUPPORTED_MESSAGE_TYPE, "Unsupported message type", now
                )

    # --- inspection (tests) ----------------------------------------------------------------
    def order(self, clordid: str | bytes) -> SimOrder | None:
        key = clordid.encode() if isinstance(clordid, str) else clordid
        return self.orders.get(key)


class LpSimulator(BaseApplication):
    """Several simulated LPs on one event loop: ``await start()``, ``await stop()``.

    ``ports`` overrides the profile: an int puts every LP on that port (0: one free port
    shared by all), a mapping sets it per LP name. ``auto_step`` runs the market clock;
    without it tests call ``market.step()`` themselves. ``out`` gets one line per logon
    and a summary line every ``status_interval_s`` (None: silent).
    """

    def __init__(
        self,
        profile: SimProfile | Mapping[str, Any],
        *,
        ports: int | Mapping[str, int] | None = None,
        auto_step: bool = True,
        out: TextIO | None = None,
    ) -> None:
        self.profile = profile if isinstance(profile, SimProfile) else parse_profile(profile)
        self.market = Market(self.profile.instruments, self.profile.seed, self.profile.step_ms)
        self.engine = Engine(self)
        self.auto_step = auto_step
        self.out = out
        self._ports = ports
        self.lps: dict[str, SimLp] = {}
        self._by_session: dict[str, SimLp] = {}
        self._by_symbol: dict[str, list[SimLp]] = {}
        self._step_timer: asyncio.TimerHandle | None = None
        self._status_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_orders = 0
        self._last_status = 0.0
        self.started = False

    # --- lifecycle ------------------------------------------------------------------------
    def _port_for(self, lp: LpProfile) -> int:
        ports = self._ports
        if ports is None:
            return lp.port
        if isinstance(ports, int):
            return ports
        return ports.get(lp.name, lp.port)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        run_id = b"%X" % (time.time_ns() // 1000 & 0xFFFFFFFFF)
        for lp_profile in self.profile.lps:
            settings = lp_profile.session
            assert settings is not None
            port = self._port_for(lp_profile)
            if port != settings.socket_accept_port:
                settings = dataclasses.replace(settings, socket_accept_port=port)
            lp = SimLp(
                lp_profile,
                self.market,
                self.profile.seed,
                loop.call_later,
                self.engine.flush,
                loop.time,
                self.profile.retain_orders,
                run_id,
            )
            lp.session = self.engine.add_session(settings)
            self.lps[lp.name] = lp
            self._by_session[settings.session_id] = lp
            for symbol in lp_profile.symbols:
                self._by_symbol.setdefault(symbol, []).append(lp)
        self.market.add_listener(self._on_market)
        await self.engine.start()
        self.started = True
        if self.auto_step:
            self._step_timer = loop.call_later(self.market.step_ms / 1000.0, self._step)
        if self.out is not None:
            for lp in self.lps.values():
                print(f"{lp.name}: listening on port {self.port(lp.name)}", file=self.out, flush=True)
            if self.profile.status_interval_s > 0:
                self._last_status = loop.time()
                self._status_timer = loop.call_later(self.profile.status_interval_s, self._status)

    async def stop(self) -> None:
        for lp in self.lps.values():
            lp.stopped = True
            lp.on_disconnect()
        for handle in (self._step_timer, self._status_timer):
            if handle is not None:
                handle.cancel()
        self.market.remove_listener(self._on_market)
        await self.engine.stop()

    async def __aenter__(self) -> LpSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def port(self, name: str) -> int:
        """The port LP ``name`` listens on (after start)."""
        lp = self.lps[name]
        assert lp.session is not None
        return self.engine.ports[lp.session.session_id]

    def lp(self, name: str) -> SimLp:
        return self.lps[name]

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: lp.stats.as_dict() for name, lp in self.lps.items()}

    # --- the market clock -----------------------------------------------------------------
    def _step(self) -> None:
        assert self._loop is not None
        self._step_timer = self._loop.call_later(self.market.step_ms / 1000.0, self._step)
        self.market.step()
        self.engine.flush()

    def _on_market(self, symbol: str) -> None:
        for lp in self._by_symbol.get(symbol, ()):
            lp.on_market(symbol)

    def _status(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        self._status_timer = self._loop.call_later(self.profile.status_interval_s, self._status)
        total = sum(lp.stats.orders for lp in self.lps.values())
        rate = (total - self._last_orders) / max(now - self._last_status, 1e-9)
        self._last_orders, self._last_status = total, now
        parts = [
            f"{lp.name} {'up' if lp.session is not None and lp.session.logged_on else 'down'}"
            f" o={lp.stats.orders} f={lp.stats.fills} r={lp.stats.rejects}"
            for lp in self.lps.values()
        ]
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} orders {total} ({rate:.0f}/s) | " + " | ".join(parts), file=self.out, flush=True)

    # --- engine callbacks -------------------------------------------------------------------
    def on_logon(self, session: Session, now: float) -> None:
        if self.out is not None:
            print(
                f"{session.settings.sender_comp_id}: logged on ({session.session_id})",
                file=self.out,
                flush=True,
            )

    def on_logout(self, session: Session, now: float) -> None:
        lp = self._by_session.get(session.session_id)
        if lp is not None:
            lp.on_disconnect()
        if self.out is not None:
            reason = f": {session.logout_reason}" if session.logout_reason else ""
            print(f"{session.settings.sender_comp_id}: logged out{reason}", file=self.out, flush=True)

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        lp = self._by_session.get(session.session_id)
        if lp is not None and not lp.stopped:
            lp.on_message(msg, now)


async def serve(profile: SimProfile, stop: asyncio.Event, out: TextIO = sys.stdout) -> None:
    """Run the simulator until ``stop`` is set."""
    sim = LpSimulator(profile, out=out)
    await sim.start()
    try:
        await stop.wait()
    finally:
        await sim.stop()
        print("lp simulator stopped", file=out, flush=True)


def run(profile: SimProfile) -> int:
    """`fixgw sim-lp`: run under uvloop until SIGINT/SIGTERM."""
    import contextlib
    import signal

    import uvloop

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(profile, stop)

    uvloop.run(main())
    return 0
