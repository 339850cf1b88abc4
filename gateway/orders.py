"""Parent and child orders, the order state table, and fill aggregation — pure and synchronous.

A parent order comes from an OMS; it is worked through child orders sent to LPs. Every
(state, event) pair a parent can meet is listed in ``PARENT_TRANSITIONS`` (FIX 4.4 order
state tables, Volume 4 Appendix D); anything not listed is answered as invalid, never
silently ignored. Real-world oddities are rows of the table: fills after a cancel was
requested or confirmed, busts and corrections after a fill, unsolicited cancels and
restatements from an LP, LPs that vanish with children working.

Quantities and prices are exact ints (``gateway.instruments``). Invariants kept at all
times, and checked by ``ParentOrder.check()`` in tests:

- cum_qty == sum of the children's cum_qty (busts and corrections included);
- working_qty == sum of (qty - cum_qty) over children that are not terminal, and
  cum_qty + working_qty <= qty: quantity is never routed twice, including to children
  whose fate is unknown after an LP disconnect;
- notional == sum of fill qty x price over the children.

The book returns what must be sent as values (``Out``); it never performs I/O, reads no
clock (``now`` is passed in), and calls the router only through the planner it is given.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, NamedTuple

from sortedcontainers import SortedDict

from gateway.fix.enums import CxlRejReason, ExecType, OrdStatus, TimeInForce
from gateway.fix.tags import MsgType
from gateway.instruments import Instrument

# --- parent states --------------------------------------------------------------------
NEW: Final = "new"
PARTIALLY_FILLED: Final = "partially_filled"
PENDING_CANCEL: Final = "pending_cancel"
PENDING_REPLACE: Final = "pending_replace"
FILLED: Final = "filled"
CANCELED: Final = "canceled"
REJECTED: Final = "rejected"
EXPIRED: Final = "expired"
DONE_FOR_DAY: Final = "done_for_day"

PARENT_STATES: Final = (
    NEW,
    PARTIALLY_FILLED,
    PENDING_CANCEL,
    PENDING_REPLACE,
    FILLED,
    CANCELED,
    REJECTED,
    EXPIRED,
    DONE_FOR_DAY,
)
TERMINAL: Final = frozenset({FILLED, CANCELED, REJECTED, EXPIRED, DONE_FOR_DAY})
ORD_STATUS: Final = {
    NEW: OrdStatus.NEW,
    PARTIALLY_FILLED: OrdStatus.PARTIALLY_FILLED,
    PENDING_CANCEL: OrdStatus.PENDING_CANCEL,
    PENDING_REPLACE: OrdStatus.PENDING_REPLACE,
    FILLED: OrdStatus.FILLED,
    CANCELED: OrdStatus.CANCELED,
    REJECTED: OrdStatus.REJECTED,
    EXPIRED: OrdStatus.EXPIRED,
    DONE_FOR_DAY: OrdStatus.DONE_FOR_DAY,
}

# --- parent events --------------------------------------------------------------------
EV_FILL: Final = "fill"  # a child fill
EV_CHILD_DONE: Final = "child_done"  # a child ended (canceled/rejected/expired/filled)
EV_BUST: Final = "bust"  # ExecType H from an LP
EV_CORRECT: Final = "correct"  # ExecType G from an LP
EV_CANCEL_REQUEST: Final = "cancel_request"
EV_REPLACE_REQUEST: Final = "replace_request"
EV_STATUS_REQUEST: Final = "status_request"
EV_END_OF_DAY: Final = "end_of_day"
EV_KILL: Final = "kill"  # kill switch: cancel what is working
PARENT_EVENTS: Final = (
    EV_FILL,
    EV_CHILD_DONE,
    EV_BUST,
    EV_CORRECT,
    EV_CANCEL_REQUEST,
    EV_REPLACE_REQUEST,
    EV_STATUS_REQUEST,
    EV_END_OF_DAY,
    EV_KILL,
)

_LIVE = (NEW, PARTIALLY_FILLED)
_PENDING = (PENDING_CANCEL, PENDING_REPLACE)
_DONE = (FILLED, CANCELED, EXPIRED, DONE_FOR_DAY)

#: The state table: (state, event) -> handler name. Pairs not listed are invalid and are
#: answered by ``OrderBook._invalid`` (a reject to the requester, an anomaly count).
PARENT_TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    **{(s, EV_FILL): "_fill" for s in (*_LIVE, *_PENDING)},
    **{(s, EV_FILL): "_late_fill" for s in (CANCELED, EXPIRED, DONE_FOR_DAY)},
    **{(s, EV_CHILD_DONE): "_child_done" for s in (*_LIVE, *_PENDING, *_DONE)},
    **{(s, EV_BUST): "_bust" for s in (*_LIVE, *_PENDING, *_DONE)},
    **{(s, EV_CORRECT): "_correct" for s in (*_LIVE, *_PENDING, *_DONE)},
    **{(s, EV_CANCEL_REQUEST): "_cancel_request" for s in _LIVE},
    **{(s, EV_CANCEL_REQUEST): "_already_pending" for s in _PENDING},
    **{(s, EV_CANCEL_REQUEST): "_too_late" for s in TERMINAL},
    **{(s, EV_REPLACE_REQUEST): "_replace_request" for s in _LIVE},
    **{(s, EV_REPLACE_REQUEST): "_already_pending" for s in _PENDING},
    **{(s, EV_REPLACE_REQUEST): "_too_late" for s in TERMINAL},
    **{(s, EV_STATUS_REQUEST): "_status" for s in PARENT_STATES},
    **{(s, EV_END_OF_DAY): "_expire" for s in (*_LIVE, *_PENDING)},
    **{(s, EV_END_OF_DAY): "_nothing" for s in TERMINAL},
    **{(s, EV_KILL): "_kill" for s in (*_LIVE, PENDING_REPLACE)},
    **{(s, EV_KILL): "_nothing" for s in (PENDING_CANCEL, *TERMINAL)},
}
# (a fill on a REJECTED parent cannot happen: a rejected parent never had a child)

# --- child states ---------------------------------------------------------------------
C_PENDING_NEW: Final = "pending_new"
C_NEW: Final = "new"
C_PARTIALLY_FILLED: Final = "partially_filled"
C_PENDING_CANCEL: Final = "pending_cancel"
C_UNKNOWN: Final = "unknown"  # the LP disconnected; asked with OrderStatusRequest on return
C_FILLED: Final = "filled"
C_CANCELED: Final = "canceled"
C_REJECTED: Final = "rejected"
C_EXPIRED: Final = "expired"
CHILD_TERMINAL: Final = frozenset({C_FILLED, C_CANCELED, C_REJECTED, C_EXPIRED})

# --- idle parents -----------------------------------------------------------------------
#: A parent that is marketable but could not be routed (LPs came back empty, attempts used
#: up, a risk limit) is tried again after RETRY_FIRST seconds, then after twice as long each
#: time, up to RETRY_MAX; at most RETRY_BATCH such retries per sweep.
RETRY_FIRST: Final = 1.0
RETRY_MAX: Final = 10.0
RETRY_BATCH: Final = 1000


# an ExecutionReport to the OMS, field order as before: optional fields are b"" or whole fields
_REPORT: Final = (
    b"37=%s\x0111=%s\x01%s17=%s\x01150=%s\x0139=%s\x01%s55=%s\x0154=%s\x0138=%s\x0140=%s\x01%s"
    b"59=%s\x01%s151=%s\x0114=%s\x016=%s\x01%s%s%s60=%s\x01"
)


class Out(NamedTuple):
    """A message to send: to an OMS session (``"oms"``) or an LP (``"lp"``)."""

    to: str
    dest: str
    msg_type: bytes
    body: bytes
    child: ChildOrder | None = None  # the child order a NewOrderSingle to an LP opens


class ChildPlan(NamedTuple):
    """What the router wants sent: ``qty`` to ``lp`` at ``price`` (None = market)."""

    lp: str
    qty: int
    price: int | None
    tif: bytes = TimeInForce.IMMEDIATE_OR_CANCEL


@dataclass(slots=True, eq=False)
class Fill:
    exec_id: bytes  # the LP's ExecID
    qty: int
    price: int
    parent_exec_id: bytes  # the ExecID we reported to the OMS for it
    busted: bool = False


@dataclass(slots=True, eq=False)
class ChildOrder:
    child_id: bytes
    parent: ParentOrder
    lp: str
    qty: int
    price: int | None
    tif: bytes
    sent_at: float
    state: str = C_PENDING_NEW
    cum_qty: int = 0
    notional: int = 0
    lp_order_id: bytes = b""
    acked_at: float | None = None
    first_fill_at: float | None = None
    done_at: float | None = None
    cancel_sent: bool = False
    status_asked: float | None = None
    fills: list[Fill] = field(default_factory=list)
    text: str = ""
    # bookkeeping of the application around the book (scorecard, risk): what it has seen
    fills_seen: int = 0
    finished_seen: bool = False
    released: bool = False

    @property
    def leaves(self) -> int:
        return 0 if self.state in CHILD_TERMINAL else self.qty - self.cum_qty


@dataclass(slots=True, eq=False)
class ParentOrder:
    order_id: bytes
    session: str
    cl_ord_id: bytes
    inst: Instrument
    side: bytes
    ord_type: bytes
    tif: bytes
    qty: int
    price: int | None
    created: float
    account: bytes | None = None
    profile: str = ""
    arrival_mid: float | None = None  # consolidated mid price when the order arrived
    state: str = NEW
    cum_qty: int = 0
    notional: int = 0
    working_qty: int = 0
    orig_cl_ord_id: bytes | None = None
    children: list[ChildOrder] = field(default_factory=list)
    attempts: int = 0
    # a pending cancel/replace: the request's ClOrdID and, for a replace, the new terms
    pending_cl_ord_id: bytes | None = None
    pending_qty: int | None = None
    pending_price: int | None = None
    cancel_reason: str = ""
    text: str = ""  # why the last routing wave sent nothing (set by the planner), for Text(58)
    late_fills: int = 0
    # children before this index belong to earlier terms (before a replace or an idle
    # re-route): an LP that came back empty then may be tried again
    route_epoch: int = 0

    @property
    def symbol(self) -> str:
        return self.inst.symbol

    @property
    def leaves_qty(self) -> int:
        return 0 if self.state in TERMINAL else self.qty - self.cum_qty

    @property
    def available_qty(self) -> int:
        """What may still be routed: leaves not already working at an LP."""
        if self.state not in _LIVE:
            return 0
        return self.qty - self.cum_qty - self.working_qty

    @property
    def is_buy(self) -> bool:
        return self.side == b"1"

    def check(self) -> None:
        """Assert the invariants (tests call it after every step)."""
        assert self.cum_qty == sum(c.cum_qty for c in self.children), "cum_qty != sum of children"
        assert self.notional == sum(c.notional for c in self.children), "notional != sum of children"
        working = sum(c.qty - c.cum_qty for c in self.children if c.state not in CHILD_TERMINAL)
        assert self.working_qty == working, f"working_qty {self.working_qty} != {working}"
        assert self.cum_qty + self.working_qty <= max(self.qty, self.cum_qty), "quantity routed twice"
        assert 0 <= self.cum_qty, "negative cum_qty"


Planner = Callable[[ParentOrder, int, float], list[ChildPlan]]


def _no_route(parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
    return []


class OrderBook:
    """All parent and child orders of the gateway, and what happens to them."""

    def __init__(
        self,
        planner: Planner = _no_route,
        *,
        id_prefix: str = "GW",
        max_attempts: int = 5,
        timestamp: Callable[[float], bytes] | None = None,
    ) -> None:
        from gateway.fix.timeutil import utc_timestamp

        self.planner = planner
        # told of every child change before the parent reacts (and so before any re-route):
        # the scorecard and risk must see a short child before the router decides again
        self.child_observer: Callable[[ChildOrder, float], None] | None = None
        self.id_prefix = id_prefix.encode()
        self.max_attempts = max_attempts
        self._ts = timestamp or utc_timestamp
        self.parents: dict[bytes, ParentOrder] = {}  # by OrderID
        self.by_cl_ord_id: dict[tuple[str, bytes], ParentOrder] = {}  # every ClOrdID seen
        self.children: dict[bytes, ChildOrder] = {}  # by our child ClOrdID
        self.lp_exec_ids: set[tuple[str, bytes]] = set()
        self._next_id = 0
        self.anomalies: list[str] = []
        self.counters: dict[str, int] = {}
        self.open_parents: dict[bytes, ParentOrder] = {}
        # NewOrderSingles refused at entry: (Symbol, Side, OrderQty, OrdType, Text) by ClOrdID
        self.rejected: dict[tuple[str, bytes], tuple[bytes, bytes, bytes, bytes, str]] = {}
        # Idle parents (live, nothing working, quantity left): re-routing looks at these only,
        # and only when something that could change the router's answer happens (the
        # application wires the triggers), never at every open order. Limit parents by
        # symbol, then (sells, buys), then price -> {OrderID: parent}; market parents apart.
        self._idle_limits: dict[str, tuple[SortedDict, SortedDict]] = {}
        self._idle_market: dict[bytes, ParentOrder] = {}
        # whether a parent that could not be routed would be routed now if nothing but
        # prices mattered (the application's quotes and LPs): True sends it to the retry set,
        # False leaves it to wait for a quote that reaches its limit. None: always retried
        self.marketable: Callable[[ParentOrder, float], bool] | None = None
        # the retry set: (due, OrderID) and OrderID -> (due, tries, cum_qty at the last try)
        self._retry_heap: list[tuple[float, bytes]] = []
        self._retry: dict[bytes, tuple[float, int, int]] = {}
        # children that may still be PendingNew: as sent (their times only grow), and a heap
        # by when they were sent or last asked about of those still PendingNew after the
        # timeout (and of recovered ones). Nearly every child is answered within milliseconds:
        # leaving the deque is O(1), where a heap of every child cost ~1 us a pop, ~1 ms a
        # second at 1,000 orders/s in one timer callback, on top of ~1 us a push per child.
        self._sent: deque[ChildOrder] = deque()
        self._silent: list[tuple[float, bytes, ChildOrder]] = []

    # --- ids --------------------------------------------------------------------------
    def _id(self, kind: bytes) -> bytes:
        self._next_id += 1
        return self.id_prefix + kind + b"%d" % self._next_id

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _anomaly(self, text: str) -> None:
        self._count("anomalies")
        if len(self.anomalies) < 1000:
            self.anomalies.append(text)

    # --- reports to the OMS -----------------------------------------------------------
    def _report(
        self,
        p: ParentOrder,
        exec_type: bytes,
        now: float,
        *,
        last_qty: int = 0,
        last_px: int = 0,
        text: str = "",
        exec_ref_id: bytes | None = None,
        rej_reason: int | None = None,
        cl_ord_id: bytes | None = None,
        orig_cl_ord_id: bytes | None = None,
        ord_status: bytes | None = None,
        exec_id: bytes | None = None,
    ) -> Out:
        inst = p.inst
        fmt_qty = inst.fmt_qty
        body = _REPORT % (
            p.order_id,
            cl_ord_id or p.cl_ord_id,
            b"41=%s\x01" % orig_cl_ord_id if orig_cl_ord_id else b"",
            exec_id or self._id(b"E"),
            exec_type,
            ord_status if ord_status is not None else ORD_STATUS[p.state],
            b"1=%s\x01" % p.account if p.account else b"",
            inst.symbol_bytes,
            p.side,
            fmt_qty(p.qty),
            p.ord_type,
            b"44=%s\x01" % inst.fmt_price(p.price) if p.price is not None else b"",
            p.tif,
            b"32=%s\x0131=%s\x01" % (fmt_qty(last_qty), inst.fmt_price(last_px)) if last_qty else b"",
            fmt_qty(p.leaves_qty),
            fmt_qty(p.cum_qty),
            inst.fmt_avg_px(p.notional, p.cum_qty),
            b"19=%s\x01" % exec_ref_id if exec_ref_id else b"",
            b"103=%d\x01" % rej_reason if rej_reason is not None else b"",
            b"58=%s\x01" % text.encode("latin-1", "replace") if text else b"",
            self._ts(now),
        )
        return Out("oms", p.session, MsgType.EXECUTION_REPORT, body)

    def _cancel_reject(
        self,
        session: str,
        cl_ord_id: bytes,
        orig: bytes,
        order_id: bytes,
        status: bytes,
        response_to: bytes,
        reason: int,
        text: str,
    ) -> Out:
        body = (
            b"37="
            + (order_id or b"NONE")
            + b"\x0111="
            + cl_ord_id
            + b"\x0141="
            + orig
            + b"\x0139="
            + status
            + b"\x01434="
            + response_to
            + b"\x01102=%d\x01" % reason
            + b"58="
            + text.encode("latin-1", "replace")
            + b"\x01"
        )
        return Out("oms", session, MsgType.ORDER_CANCEL_REJECT, body)

    # --- new parent orders ------------------------------------------------------------
    def is_duplicate(self, session: str, cl_ord_id: bytes) -> bool:
        key = (session, cl_ord_id)
        return key in self.by_cl_ord_id or key in self.rejected

    def _rejected_status(self, session: str, cl_ord_id: bytes, now: float) -> Out:
        symbol, side, qty_raw, ord_type, text = self.rejected[(session, cl_ord_id)]
        body = (
            b"37=NONE\x0111="
            + cl_ord_id
            + b"\x0117="
            + self._id(b"E")
            + b"\x01150=I\x0139=8\x0155="
            + symbol
            + b"\x0154="
            + side
            + b"\x0138="
            + qty_raw
            + b"\x0140="
            + ord_type
            + b"\x01151=0\x0114=0\x016=0\x0158="
            + text.encode("latin-1", "replace")
            + b"\x0160="
            + self._ts(now)
            + b"\x01"
        )
        return Out("oms", session, MsgType.EXECUTION_REPORT, body)

    def _refused_earlier(self, session: str, cl_ord_id: bytes, orig: bytes, response_to: bytes) -> Out | None:
        """OrderCancelReject for a cancel/replace of an order we rejected at entry."""
        if (session, orig) not in self.rejected or (session, orig) in self.by_cl_ord_id:
            return None
        return self._cancel_reject(
            session,
            cl_ord_id,
            orig,
            b"NONE",
            OrdStatus.REJECTED,
            response_to,
            CxlRejReason.TOO_LATE_TO_CANCEL,
            "too late: the order was rejected",
        )

    def reject_new(
        self,
        session: str,
        cl_ord_id: bytes,
        inst: Instrument | None,
        symbol: bytes,
        side: bytes,
        qty_raw: bytes,
        ord_type: bytes,
        reason: int,
        text: str,
        now: float,
    ) -> Out:
        """ExecutionReport 150=8 for a NewOrderSingle we did not accept.

        The refusal is remembered by ClOrdID: a status request is answered with it, a cancel
        is too late, and the ClOrdID cannot be used again.
        """
        self._count("parents_rejected")
        order_id = b"NONE"
        if (session, cl_ord_id) not in self.by_cl_ord_id:  # a duplicate does not replace the original
            self.rejected.setdefault(
                (session, cl_ord_id), (symbol, side or b"1", qty_raw or b"0", ord_type or b"2", text)
            )
        body = (
            b"37="
            + order_id
            + b"\x0111="
            + cl_ord_id
            + b"\x0117="
            + self._id(b"E")
            + b"\x01150=8\x0139=8\x0155="
            + symbol
            + b"\x0154="
            + (side or b"1")
            + b"\x0138="
            + (qty_raw or b"0")
            + b"\x0140="
            + (ord_type or b"2")
            + b"\x01151=0\x0114=0\x016=0\x01103=%d\x01" % reason
            + b"58="
            + text.encode("latin-1", "replace")
            + b"\x0160="
            + self._ts(now)
            + b"\x01"
        )
        return Out("oms", session, MsgType.EXECUTION_REPORT, body)

    def new_parent(
        self,
        session: str,
        cl_ord_id: bytes,
        inst: Instrument,
        side: bytes,
        ord_type: bytes,
        tif: bytes,
        qty: int,
        price: int | None,
        now: float,
        *,
        account: bytes | None = None,
        profile: str = "",
        arrival_mid: float | None = None,
    ) -> tuple[ParentOrder, list[Out]]:
        """Accept a parent order (checks are done): acknowledge it and route it."""
        p = ParentOrder(
            self._id(b"O"),
            session,
            cl_ord_id,
            inst,
            side,
            ord_type,
            tif,
            qty,
            price,
            now,
            account=account,
            profile=profile,
            arrival_mid=arrival_mid,
        )
        self.parents[p.order_id] = p
        self.open_parents[p.order_id] = p
        self.by_cl_ord_id[(session, cl_ord_id)] = p
        self._count("parents_accepted")
        out = [self._report(p, ExecType.NEW, now)]
        self._route(p, now, out)
        return p, out

    # --- routing ------------------------------------------------------------------------
    def _route(self, p: ParentOrder, now: float, out: list[Out]) -> None:
        """Send what the planner wants for the available quantity; finish IOC/FOK parents."""
        available = p.available_qty
        if available > 0 and p.attempts < self.max_attempts:
            plans = self.planner(p, available, now)
            if plans:
                p.attempts += 1
                for plan in plans:
                    qty = min(plan.qty, p.available_qty)
                    if qty <= 0:
                        continue
                    price = plan.price
                    if p.price is not None and (
                        price is None or (price > p.price if p.is_buy else price < p.price)
                    ):
                        price = p.price  # never through the parent's limit
                    out.append(self._send_child(p, plan.lp, qty, price, plan.tif, now))
        if (
            p.working_qty == 0
            and p.state in _LIVE
            and p.tif
            in (
                TimeInForce.IMMEDIATE_OR_CANCEL,
                TimeInForce.FILL_OR_KILL,
            )
        ):
            # nothing at any LP and nothing more will be tried: the rest is canceled
            if p.cum_qty < p.qty:
                text = p.cancel_reason or "no more liquidity for IOC/FOK order"
                if p.text and not p.cancel_reason:
                    text += f" ({p.text})"  # why the router passed over each LP
                self._finish(p, CANCELED, now, out, text=text)
        if p.state in _LIVE and p.working_qty == 0 and p.cum_qty < p.qty:
            self._rest(p, now)  # nothing works for it: idle until something changes
        else:
            self._unindex(p)

    def _send_child(
        self, p: ParentOrder, lp: str, qty: int, price: int | None, tif: bytes, now: float
    ) -> Out:
        child = ChildOrder(self._id(b"C"), p, lp, qty, price, tif, now)
        p.children.append(child)
        p.working_qty += qty
        self.children[child.child_id] = child
        self._sent.append(child)
        self._count("children_sent")
        inst = p.inst
        parts = [
            b"11=",
            child.child_id,
            b"\x0121=1\x0155=",
            inst.symbol_bytes,
            b"\x0154=",
            p.side,
            b"\x0138=",
            inst.fmt_qty(qty),
        ]
        if price is None:
            parts.append(b"\x0140=1")
        else:
            parts += [b"\x0140=2\x0144=", inst.fmt_price(price)]
        parts += [b"\x0159=", tif, b"\x0160=", self._ts(now), b"\x01"]
        return Out("lp", lp, MsgType.NEW_ORDER_SINGLE, b"".join(parts), child)

    # --- idle parents: what re-routing looks at --------------------------------------------
    def _index(self, p: ParentOrder) -> None:
        if p.price is None:
            self._idle_market[p.order_id] = p
            return
        sides = self._idle_limits.get(p.inst.symbol)
        if sides is None:
            sides = self._idle_limits[p.inst.symbol] = (SortedDict(), SortedDict())
        levels = sides[p.is_buy]
        level = levels.get(p.price)
        if level is None:
            level = levels[p.price] = {}
        level[p.order_id] = p

    def _unindex(self, p: ParentOrder) -> None:
        """Out of the index (found by its current price: a replace unindexes it first)."""
        if p.price is None:
            if self._idle_market:
                self._idle_market.pop(p.order_id, None)
            return
        sides = self._idle_limits.get(p.inst.symbol)
        if sides is None:
            return
        levels = sides[p.is_buy]
        level = levels.get(p.price)
        if level is not None and level.pop(p.order_id, None) is not None and not level:
            del levels[p.price]

    def _rest(self, p: ParentOrder, now: float) -> None:
        """``p`` could not be routed: index it, and retry it later unless it waits for a price."""
        self._index(p)
        oid = p.order_id
        rec = self._retry.get(oid)
        if self.marketable is None or self.marketable(p, now):
            if rec is not None and rec[0] != math.inf:
                return  # a retry is already due
            tries = rec[1] if rec is not None and rec[2] == p.cum_qty else 0  # a fill starts over
            due = now + min(RETRY_FIRST * 2.0 ** min(tries, 16), RETRY_MAX)
            self._retry[oid] = (due, tries + 1, p.cum_qty)
            heapq.heappush(self._retry_heap, (due, oid))
        elif rec is not None and rec[0] != math.inf:
            self._retry[oid] = (math.inf, rec[1], rec[2])  # now it waits for a quote

    def _wake(self, p: ParentOrder, now: float, out: list[Out]) -> None:
        """Route an idle parent afresh: every LP may be tried again."""
        if p.state in _LIVE and p.working_qty == 0 and p.cum_qty < p.qty:
            p.attempts = 0
            p.route_epoch = len(p.children)
            self._route(p, now, out)  # indexes it again if it still cannot go
        else:
            self._unindex(p)

    def _idle_parents(self) -> list[ParentOrder]:
        parents = list(self._idle_market.values())
        for sides in self._idle_limits.values():
            for levels in sides:
                for level in levels.values():
                    parents.extend(level.values())
        # in order of arrival, as before (OrderIDs are numbered: shorter ones first)
        parents.sort(key=lambda p: (p.created, len(p.order_id), p.order_id))
        return parents

    def idle_count(self) -> int:
        return len(self._idle_market) + sum(
            len(level)
            for sides in self._idle_limits.values()
            for levels in sides
            for level in levels.values()
        )

    def has_idle(self, symbol: str) -> bool:
        """Whether limit parents of ``symbol`` wait (O(1): asked on every quote update)."""
        sides = self._idle_limits.get(symbol)
        return sides is not None and bool(sides[0] or sides[1])

    def idle_symbols(self) -> list[str]:
        return [symbol for symbol, (sells, buys) in self._idle_limits.items() if sells or buys]

    def retry_pending(self) -> int:
        return len(self._retry_heap)

    def route_idle(self, now: float) -> list[Out]:
        """Give every idle parent another chance: an LP logged on, was enabled, a kill switch
        was released (O(idle parents): for those rare events, never on a timer)."""
        out: list[Out] = []
        for p in self._idle_parents():
            self._wake(p, now, out)
        return out

    def route_reached(self, symbol: str, is_buy: bool, reach: float, before: float, now: float) -> list[Out]:
        """Route the idle limit parents of one side of ``symbol`` that prices at ``reach``
        make marketable and prices at ``before`` did not: buys limited at or above a best ask
        of ``reach`` but below ``before``; sells at or below a best bid of ``reach`` but above
        ``before`` (either may be infinite). O(log n) plus the parents routed; the most
        aggressive limits go first, and at one price the parents that have waited longest.
        """
        out: list[Out] = []
        sides = self._idle_limits.get(symbol)
        if sides is None:
            return out
        levels = sides[is_buy]
        if not levels:
            return out
        if is_buy:
            if reach >= before:
                return out
            prices = list(levels.irange(reach, before, (True, False), reverse=True))
        else:
            if reach <= before:
                return out
            prices = list(levels.irange(before, reach, (False, True)))
        for price in prices:
            level = levels.get(price)
            if level:
                for p in list(level.values()):
                    self._wake(p, now, out)
        return out

    def route_due(self, now: float, *, everything: bool = False, limit: int = RETRY_BATCH) -> list[Out]:
        """Retry the parents of the retry set that are due (or all of them: a risk limit freed
        up), at most ``limit``; one that now waits for a price is left to the quotes."""
        out: list[Out] = []
        heap = self._retry_heap
        retry = self._retry
        horizon = math.inf if everything else now
        due_now: list[ParentOrder] = []
        while heap and heap[0][0] <= horizon and len(due_now) < limit:
            due, oid = heapq.heappop(heap)
            rec = retry.get(oid)
            if rec is None or rec[0] != due:
                continue  # rescheduled or done since
            retry[oid] = (math.inf, rec[1], rec[2])
            p = self.parents.get(oid)
            if p is not None:
                due_now.append(p)
        marketable = self.marketable
        for p in due_now:
            if marketable is not None and p.state in _LIVE and not marketable(p, now):
                continue  # still indexed: a quote that reaches its limit routes it
            self._wake(p, now, out)
        return out

    def ask_silent_children(self, now: float, timeout: float, can_ask: Callable[[str], bool]) -> list[Out]:
        """OrderStatusRequests for children still PendingNew ``timeout`` seconds after they
        were sent or last asked about, at LPs ``can_ask`` accepts (O(log n) per child due).
        Children leave ``_sent`` in the order they were sent: a clock stepping back delays the
        look at those sent after the step by at most the step."""
        out: list[Out] = []
        heap = self._silent
        sent = self._sent
        while sent and sent[0].sent_at + timeout < now:
            c = sent.popleft()
            if c.state == C_PENDING_NEW:
                heapq.heappush(heap, (c.sent_at, c.child_id, c))
        later: list[tuple[float, bytes, ChildOrder]] = []
        while heap and heap[0][0] + timeout < now:
            _since, cid, c = heapq.heappop(heap)
            if c.state != C_PENDING_NEW:
                continue
            last = c.sent_at if c.status_asked is None else max(c.sent_at, c.status_asked)
            if not last + timeout < now:
                later.append((last, cid, c))  # asked about meanwhile
            elif can_ask(c.lp):
                out.append(self.status_request_for(c, now))
                later.append((now, cid, c))
            else:
                later.append((last, cid, c))  # asked as soon as its LP is there
        for entry in later:
            heapq.heappush(heap, entry)
        return out

    # --- dispatch through the table -------------------------------------------------------
    def _apply(self, p: ParentOrder, event: str, now: float, out: list[Out], *args: object) -> None:
        handler = PARENT_TRANSITIONS.get((p.state, event))
        if handler is None:
            self._invalid(p, event, now, out, *args)
            return
        getattr(self, handler)(p, now, out, *args)

    def _invalid(self, p: ParentOrder, event: str, now: float, out: list[Out], *args: object) -> None:
        self._anomaly(f"{p.order_id.decode()} in state {p.state}: unexpected event {event}")

    def _nothing(self, p: ParentOrder, now: float, out: list[Out], *args: object) -> None:
        """A valid pair that needs no action (e.g. end of day on a filled order)."""

    # --- OMS requests -------------------------------------------------------------------
    def _target_of_change(
        self, session: str, cl_ord_id: bytes, orig: bytes, response_to: bytes
    ) -> tuple[ParentOrder | None, Out | None]:
        """The parent a cancel/replace names, or the OrderCancelReject that answers it."""
        refused = self._refused_earlier(session, cl_ord_id, orig, response_to)
        if refused is not None:
            return None, refused
        p = self.by_cl_ord_id.get((session, orig))
        if p is None:
            return None, self._cancel_reject(
                session,
                cl_ord_id,
                orig,
                b"NONE",
                OrdStatus.REJECTED,
                response_to,
                CxlRejReason.UNKNOWN_ORDER,
                f"unknown order: OrigClOrdID {orig.decode('latin-1')}",
            )
        if (session, cl_ord_id) in self.by_cl_ord_id:
            return None, self._cancel_reject(
                session,
                cl_ord_id,
                orig,
                p.order_id,
                ORD_STATUS[p.state],
                response_to,
                CxlRejReason.DUPLICATE_CLORDID,
                f"duplicate ClOrdID {cl_ord_id.decode('latin-1')}",
            )
        return p, None

    def cancel_request(self, session: str, cl_ord_id: bytes, orig: bytes, now: float) -> list[Out]:
        p, answer = self._target_of_change(session, cl_ord_id, orig, b"1")
        if p is None:
            return [answer] if answer is not None else []
        out: list[Out] = []
        self._apply(p, EV_CANCEL_REQUEST, now, out, cl_ord_id, orig, b"1")
        return out

    def replace_request(
        self, session: str, cl_ord_id: bytes, orig: bytes, qty: int, price: int | None, now: float
    ) -> list[Out]:
        p, answer = self._target_of_change(session, cl_ord_id, orig, b"2")
        if p is None:
            return [answer] if answer is not None else []
        out: list[Out] = []
        self._apply(p, EV_REPLACE_REQUEST, now, out, cl_ord_id, orig, b"2", qty, price)
        return out

    def status_request(self, session: str, cl_ord_id: bytes, now: float) -> list[Out]:
        p = self.by_cl_ord_id.get((session, cl_ord_id))
        if p is None and (session, cl_ord_id) in self.rejected:
            return [self._rejected_status(session, cl_ord_id, now)]
        if p is None:
            return [
                Out(
                    "oms",
                    session,
                    MsgType.EXECUTION_REPORT,
                    (
                        b"37=NONE\x0111="
                        + cl_ord_id
                        + b"\x0117="
                        + self._id(b"E")
                        + b"\x01150=I\x0139=8\x0155=NONE\x0154=1\x01151=0\x0114=0\x016=0\x01103=5\x01"
                        + b"58=unknown order\x0160="
                        + self._ts(now)
                        + b"\x01"
                    ),
                )
            ]
        out: list[Out] = []
        self._apply(p, EV_STATUS_REQUEST, now, out, cl_ord_id)
        return out

    def _status(self, p: ParentOrder, now: float, out: list[Out], cl_ord_id: bytes) -> None:
        out.append(self._report(p, ExecType.ORDER_STATUS, now, cl_ord_id=cl_ord_id))

    def _refuse_change(
        self,
        p: ParentOrder,
        out: list[Out],
        cl_ord_id: bytes,
        orig: bytes,
        response_to: bytes,
        reason: int,
        text: str,
    ) -> None:
        self.by_cl_ord_id[(p.session, cl_ord_id)] = p
        out.append(
            self._cancel_reject(
                p.session, cl_ord_id, orig, p.order_id, ORD_STATUS[p.state], response_to, reason, text
            )
        )

    def _too_late(
        self,
        p: ParentOrder,
        now: float,
        out: list[Out],
        cl_ord_id: bytes,
        orig: bytes,
        response_to: bytes,
        *rest: object,
    ) -> None:
        self._refuse_change(
            p,
            out,
            cl_ord_id,
            orig,
            response_to,
            CxlRejReason.TOO_LATE_TO_CANCEL,
            f"too late: order is {p.state.replace('_', ' ')}",
        )

    def _already_pending(
        self,
        p: ParentOrder,
        now: float,
        out: list[Out],
        cl_ord_id: bytes,
        orig: bytes,
        response_to: bytes,
        *rest: object,
    ) -> None:
        self._refuse_change(
            p,
            out,
            cl_ord_id,
            orig,
            response_to,
            CxlRejReason.ALREADY_PENDING,
            f"order is already {p.state.replace('_', ' ')}",
        )

    def _cancel_request(
        self, p: ParentOrder, now: float, out: list[Out], cl_ord_id: bytes, orig: bytes, response_to: bytes
    ) -> None:
        self.by_cl_ord_id[(p.session, cl_ord_id)] = p
        if p.working_qty == 0:
            p.orig_cl_ord_id = p.cl_ord_id
            p.cl_ord_id = cl_ord_id
            self._finish(p, CANCELED, now, out, orig=orig, text="canceled on request")
            return
        p.pending_cl_ord_id = cl_ord_id
        p.state = PENDING_CANCEL
        out.append(self._report(p, ExecType.PENDING_CANCEL, now, cl_ord_id=cl_ord_id, orig_cl_ord_id=orig))
        self._cancel_children(p, now, out)

    def _replace_request(
        self,
        p: ParentOrder,
        now: float,
        out: list[Out],
        cl_ord_id: bytes,
        orig: bytes,
        response_to: bytes,
        qty: int,
        price: int | None,
    ) -> None:
        self.by_cl_ord_id[(p.session, cl_ord_id)] = p
        if qty <= p.cum_qty:
            out.append(
                self._cancel_reject(
                    p.session,
                    cl_ord_id,
                    orig,
                    p.order_id,
                    ORD_STATUS[p.state],
                    b"2",
                    CxlRejReason.BROKER_OPTION,
                    f"new OrderQty {p.inst.fmt_qty(qty).decode()} is not above the filled "
                    f"quantity {p.inst.fmt_qty(p.cum_qty).decode()}",
                )
            )
            return
        if (price is None) != (p.price is None):
            out.append(
                self._cancel_reject(
                    p.session,
                    cl_ord_id,
                    orig,
                    p.order_id,
                    ORD_STATUS[p.state],
                    b"2",
                    CxlRejReason.BROKER_OPTION,
                    "OrdType cannot change on replace",
                )
            )
            return
        p.pending_cl_ord_id = cl_ord_id
        p.pending_qty = qty
        p.pending_price = price
        if p.working_qty == 0:
            self._apply_replace(p, now, out)
            return
        p.state = PENDING_REPLACE
        out.append(self._report(p, ExecType.PENDING_REPLACE, now, cl_ord_id=cl_ord_id, orig_cl_ord_id=orig))
        self._cancel_children(p, now, out)

    def _apply_replace(self, p: ParentOrder, now: float, out: list[Out]) -> None:
        assert p.pending_cl_ord_id is not None and p.pending_qty is not None
        self._unindex(p)  # indexed at its old price; new terms, a fresh retry count
        self._retry.pop(p.order_id, None)
        orig = p.cl_ord_id
        p.orig_cl_ord_id = orig
        p.cl_ord_id = p.pending_cl_ord_id
        p.qty = p.pending_qty
        p.price = p.pending_price
        p.pending_cl_ord_id = p.pending_qty = p.pending_price = None
        p.state = PARTIALLY_FILLED if p.cum_qty else NEW
        p.attempts = 0
        p.route_epoch = len(p.children)
        out.append(self._report(p, ExecType.REPLACED, now, orig_cl_ord_id=orig))
        self._count("parents_replaced")
        self._route(p, now, out)

    def _cancel_children(self, p: ParentOrder, now: float, out: list[Out]) -> None:
        """Ask LPs to cancel working children that will not end by themselves (not IOC/FOK)."""
        for c in p.children:
            if c.state in CHILD_TERMINAL or c.cancel_sent or c.state == C_UNKNOWN:
                continue
            if c.tif in (TimeInForce.IMMEDIATE_OR_CANCEL, TimeInForce.FILL_OR_KILL):
                continue  # it ends on its own within the LP's answer
            c.cancel_sent = True
            c.state = C_PENDING_CANCEL if c.state != C_PENDING_NEW else c.state
            out.append(
                Out(
                    "lp",
                    c.lp,
                    MsgType.ORDER_CANCEL_REQUEST,
                    (
                        b"41="
                        + c.child_id
                        + b"\x0111="
                        + c.child_id
                        + b"-X\x0155="
                        + p.inst.symbol_bytes
                        + b"\x0154="
                        + p.side
                        + b"\x0138="
                        + p.inst.fmt_qty(c.qty)
                        + b"\x0160="
                        + self._ts(now)
                        + b"\x01"
                    ),
                )
            )

    def kill(self, p: ParentOrder, now: float, reason: str) -> list[Out]:
        out: list[Out] = []
        p.cancel_reason = reason
        self._apply(p, EV_KILL, now, out)
        return out

    def _kill(self, p: ParentOrder, now: float, out: list[Out]) -> None:
        if p.state == PENDING_REPLACE:
            assert p.pending_cl_ord_id is not None
            out.append(
                self._cancel_reject(
                    p.session,
                    p.pending_cl_ord_id,
                    p.cl_ord_id,
                    p.order_id,
                    OrdStatus.PENDING_CANCEL,
                    b"2",
                    CxlRejReason.BROKER_OPTION,
                    f"replace abandoned: {p.cancel_reason}",
                )
            )
            p.pending_cl_ord_id = p.pending_qty = p.pending_price = None
        if p.working_qty == 0:
            self._finish(p, CANCELED, now, out, text=p.cancel_reason)
            return
        p.state = PENDING_CANCEL
        out.append(self._report(p, ExecType.PENDING_CANCEL, now, text=p.cancel_reason))
        self._cancel_children(p, now, out)

    def end_of_day(self, now: float, session: str | None = None) -> list[Out]:
        """Expire the working DAY parents (of one OMS session, or all)."""
        out: list[Out] = []
        for p in list(self.open_parents.values()):
            if session is None or p.session == session:
                self._apply(p, EV_END_OF_DAY, now, out)
        return out

    def _expire(self, p: ParentOrder, now: float, out: list[Out]) -> None:
        if p.working_qty:
            p.cancel_reason = "end of day"
            self._cancel_children(p, now, out)
        self._finish(p, EXPIRED, now, out, text="end of day")
        self._too_late_for_pending(p, out, "too late: order expired at the end of the day")

    # --- finishing --------------------------------------------------------------------------
    def _finish(
        self,
        p: ParentOrder,
        state: str,
        now: float,
        out: list[Out],
        *,
        orig: bytes | None = None,
        text: str = "",
    ) -> None:
        exec_type = {
            CANCELED: ExecType.CANCELED,
            FILLED: ExecType.TRADE,
            EXPIRED: ExecType.EXPIRED,
            DONE_FOR_DAY: ExecType.DONE_FOR_DAY,
        }[state]
        if state == CANCELED and p.cum_qty >= p.qty:
            state = FILLED
        p.state = state
        self.open_parents.pop(p.order_id, None)
        self._unindex(p)
        self._retry.pop(p.order_id, None)
        self._count(f"parents_{state}")
        if state != FILLED:
            out.append(self._report(p, exec_type, now, orig_cl_ord_id=orig, text=text))

    # --- LP reports ---------------------------------------------------------------------------
    def child(self, child_id: bytes) -> ChildOrder | None:
        return self.children.get(child_id)

    def on_child_ack(self, c: ChildOrder, lp_order_id: bytes, now: float) -> list[Out]:
        if c.state == C_PENDING_NEW:
            c.state = C_NEW
        if c.acked_at is None:
            c.acked_at = now
        if lp_order_id:
            c.lp_order_id = lp_order_id
        return []

    def on_child_fill(
        self,
        c: ChildOrder,
        exec_id: bytes,
        qty: int,
        price: int,
        now: float,
        *,
        lp_cum_qty: int | None = None,
    ) -> list[Out]:
        """A fill from an LP. Overfills are cut to the child's quantity and counted."""
        out: list[Out] = []
        key = (c.lp, exec_id)
        if key in self.lp_exec_ids:
            self._count("duplicate_fills_ignored")
            return out
        self.lp_exec_ids.add(key)
        p = c.parent
        room = c.qty - c.cum_qty
        if qty > room:
            self._anomaly(f"{c.lp} filled {qty} on child {c.child_id.decode()} with only {room} left")
            qty = room
            if qty <= 0:
                return out
        was_terminal = c.state in CHILD_TERMINAL
        if was_terminal and qty > p.qty - p.cum_qty - p.working_qty:
            # a late fill that would overfill the parent (its quantity was routed again):
            # refuse it with DontKnowTrade and leave it to people, never report an overfill
            self._anomaly(
                f"{c.lp} late fill {exec_id.decode('latin-1')} on {c.child_id.decode()} refused (DK)"
            )
            self._count("late_fills_refused")
            out.append(self.dont_know_trade(c, exec_id, qty, price, b"C", "late fill exceeds what is left"))
            return out
        if c.first_fill_at is None:
            c.first_fill_at = now
        if c.acked_at is None:
            c.acked_at = now
        c.cum_qty += qty
        c.notional += qty * price
        p.cum_qty += qty
        p.notional += qty * price
        if not was_terminal:
            p.working_qty -= qty
        parent_exec_id = self._id(b"E")
        c.fills.append(Fill(exec_id, qty, price, parent_exec_id))
        if not was_terminal:
            c.state = C_FILLED if c.cum_qty >= c.qty else C_PARTIALLY_FILLED
            if c.state == C_FILLED:
                c.done_at = now
        else:
            self._count("late_fills")
            p.late_fills += 1
        if self.child_observer is not None:
            self.child_observer(c, now)
        self._apply(p, EV_FILL, now, out, c, qty, price, parent_exec_id)
        if c.state == C_FILLED and not was_terminal:
            self._apply(p, EV_CHILD_DONE, now, out, c)
        return out

    def _fill(
        self, p: ParentOrder, now: float, out: list[Out], c: ChildOrder, qty: int, price: int, exec_id: bytes
    ) -> None:
        if p.cum_qty >= p.qty:
            p.state = FILLED
            self.open_parents.pop(p.order_id, None)
            self._unindex(p)  # a late fill of an earlier child may fill an idle parent
            self._retry.pop(p.order_id, None)
            self._count("parents_filled")
            out.append(self._report(p, ExecType.TRADE, now, last_qty=qty, last_px=price, exec_id=exec_id))
            self._too_late_for_pending(p, out, "too late: order is filled")
            return
        if p.state == NEW:
            p.state = PARTIALLY_FILLED
        out.append(self._report(p, ExecType.TRADE, now, last_qty=qty, last_px=price, exec_id=exec_id))

    def _too_late_for_pending(self, p: ParentOrder, out: list[Out], text: str) -> None:
        """The parent ended first: its pending cancel or replace is answered, too late."""
        if p.pending_cl_ord_id is None:
            return
        out.append(
            self._cancel_reject(
                p.session,
                p.pending_cl_ord_id,
                p.cl_ord_id,
                p.order_id,
                ORD_STATUS[p.state],
                b"1" if p.pending_qty is None else b"2",
                CxlRejReason.TOO_LATE_TO_CANCEL,
                text,
            )
        )
        p.pending_cl_ord_id = p.pending_qty = p.pending_price = None

    def _late_fill(
        self, p: ParentOrder, now: float, out: list[Out], c: ChildOrder, qty: int, price: int, exec_id: bytes
    ) -> None:
        # A fill after the parent was confirmed canceled: it happened at the LP, so the OMS
        # is told; the parent stays done with its leaves at 0.
        self._count("fills_after_done")
        p.late_fills += 1
        if p.cum_qty >= p.qty:
            p.state = FILLED
        out.append(
            self._report(
                p,
                ExecType.TRADE,
                now,
                last_qty=qty,
                last_px=price,
                exec_id=exec_id,
                text="fill reported by the LP after the order was done",
            )
        )

    def on_child_done(self, c: ChildOrder, state: str, now: float, text: str = "") -> list[Out]:
        """A child ended without more fills coming (canceled, rejected, expired)."""
        out: list[Out] = []
        if c.state in CHILD_TERMINAL:
            return out
        p = c.parent
        p.working_qty -= c.qty - c.cum_qty
        c.state = state
        c.done_at = now
        c.text = text
        self._count(f"children_{state}")
        if self.child_observer is not None:
            self.child_observer(c, now)
        self._apply(p, EV_CHILD_DONE, now, out, c)
        return out

    def _child_done(self, p: ParentOrder, now: float, out: list[Out], c: ChildOrder) -> None:
        if p.working_qty > 0:
            if p.state in _LIVE:
                self._route(p, now, out)  # re-route what came back while others work
            return
        if p.state == PENDING_CANCEL:
            orig = None
            if p.pending_cl_ord_id is not None:  # a cancel the OMS asked for (not a kill)
                orig = p.orig_cl_ord_id = p.cl_ord_id
                p.cl_ord_id = p.pending_cl_ord_id
                p.pending_cl_ord_id = None
            self._finish(p, CANCELED, now, out, orig=orig, text=p.cancel_reason or "canceled on request")
        elif p.state == PENDING_REPLACE:
            self._apply_replace(p, now, out)
        elif p.state in _LIVE:
            if p.cum_qty >= p.qty:
                return
            self._route(p, now, out)

    def on_child_restated(self, c: ChildOrder, leaves: int, now: float) -> list[Out]:
        """The LP reduced the child's leaves (ExecType D): route the difference elsewhere."""
        out: list[Out] = []
        if c.state in CHILD_TERMINAL:
            return out
        current = c.qty - c.cum_qty
        if 0 <= leaves < current:
            c.qty = c.cum_qty + leaves
            c.parent.working_qty -= current - leaves
            if leaves == 0:
                c.state = C_CANCELED
                c.done_at = now
            if self.child_observer is not None:
                self.child_observer(c, now)
            self._apply(c.parent, EV_CHILD_DONE, now, out, c)
        return out

    def on_child_bust(self, c: ChildOrder, exec_ref_id: bytes, now: float) -> list[Out]:
        out: list[Out] = []
        fill = next((f for f in c.fills if f.exec_id == exec_ref_id and not f.busted), None)
        if fill is None:
            self._anomaly(
                f"{c.lp} busted unknown fill {exec_ref_id.decode('latin-1')} on {c.child_id.decode()}"
            )
            return out
        fill.busted = True
        p = c.parent
        c.cum_qty -= fill.qty
        c.notional -= fill.qty * fill.price
        p.cum_qty -= fill.qty
        p.notional -= fill.qty * fill.price
        if c.state not in CHILD_TERMINAL:
            # a working child gets the busted quantity back as leaves: it works again
            p.working_qty += fill.qty
            if c.cum_qty == 0 and c.state == C_PARTIALLY_FILLED:
                c.state = C_NEW
        self._count("busts")
        self._apply(p, EV_BUST, now, out, c, fill)
        return out

    def _bust(self, p: ParentOrder, now: float, out: list[Out], c: ChildOrder, fill: Fill) -> None:
        if c.state == C_FILLED:
            c.state = C_CANCELED  # the child is done; its busted quantity is not working
        if p.state == FILLED:
            # a DAY order comes back to life and is worked again; IOC/FOK stay done
            if p.tif in (TimeInForce.DAY, TimeInForce.GOOD_TILL_CANCEL):
                p.state = PARTIALLY_FILLED if p.cum_qty else NEW
                self.open_parents[p.order_id] = p
            else:
                p.state = CANCELED
        elif p.state == PARTIALLY_FILLED and p.cum_qty == 0:
            p.state = NEW
        out.append(
            self._report(
                p,
                ExecType.TRADE_CANCEL,
                now,
                last_qty=fill.qty,
                last_px=fill.price,
                exec_ref_id=fill.parent_exec_id,
                text="trade busted by the LP",
            )
        )
        if (
            p.state in _LIVE
            and p.working_qty == 0
            and p.tif in (TimeInForce.DAY, TimeInForce.GOOD_TILL_CANCEL)
        ):
            p.attempts = 0
            self._route(p, now, out)

    def on_child_correct(
        self, c: ChildOrder, exec_ref_id: bytes, qty: int, price: int, now: float
    ) -> list[Out]:
        out: list[Out] = []
        fill = next((f for f in c.fills if f.exec_id == exec_ref_id and not f.busted), None)
        if fill is None:
            self._anomaly(
                f"{c.lp} corrected unknown fill {exec_ref_id.decode('latin-1')} on {c.child_id.decode()}"
            )
            return out
        if qty <= 0 or c.cum_qty - fill.qty + qty > c.qty:
            self._anomaly(f"{c.lp} correction to an impossible quantity on {c.child_id.decode()}")
            return out
        p = c.parent
        dq = qty - fill.qty
        dn = qty * price - fill.qty * fill.price
        c.cum_qty += dq
        c.notional += dn
        p.cum_qty += dq
        p.notional += dn
        if c.state not in CHILD_TERMINAL:
            p.working_qty -= dq
        fill.qty, fill.price = qty, price
        self._count("corrections")
        self._apply(p, EV_CORRECT, now, out, c, fill)
        return out

    def _correct(self, p: ParentOrder, now: float, out: list[Out], c: ChildOrder, fill: Fill) -> None:
        day = p.tif in (TimeInForce.DAY, TimeInForce.GOOD_TILL_CANCEL)
        if p.state == FILLED and p.cum_qty < p.qty:
            # no longer filled in full: as after a bust, a DAY order is worked again and
            # IOC/FOK stay done
            if day:
                p.state = PARTIALLY_FILLED
                self.open_parents[p.order_id] = p
            else:
                p.state = CANCELED
        elif p.state in _LIVE and p.cum_qty >= p.qty:
            p.state = FILLED
            self.open_parents.pop(p.order_id, None)
            self._unindex(p)
            self._retry.pop(p.order_id, None)
        out.append(
            self._report(
                p,
                ExecType.TRADE_CORRECT,
                now,
                last_qty=fill.qty,
                last_px=fill.price,
                exec_ref_id=fill.parent_exec_id,
                text="trade corrected by the LP",
            )
        )
        if p.state in _LIVE and p.working_qty == 0 and day:
            p.attempts = 0
            self._route(p, now, out)

    def dont_know_trade(
        self,
        c: ChildOrder | None,
        exec_id: bytes,
        qty: int,
        price: int,
        reason: bytes,
        text: str,
        *,
        lp: str = "",
        order_id: bytes = b"NONE",
        symbol: bytes = b"NONE",
        side: bytes = b"1",
        inst: Instrument | None = None,
    ) -> Out:
        """DontKnowTrade (35=Q) to an LP for an execution we cannot accept."""
        if c is not None:
            lp, order_id = c.lp, c.lp_order_id or b"NONE"
            symbol, side, inst = c.parent.inst.symbol_bytes, c.parent.side, c.parent.inst
        qty_b = inst.fmt_qty(qty) if inst else b"%d" % qty
        px_b = inst.fmt_price(price) if inst else b"%d" % price
        return Out(
            "lp",
            lp,
            MsgType.DONT_KNOW_TRADE,
            (
                b"37="
                + order_id
                + b"\x0117="
                + exec_id
                + b"\x01127="
                + reason
                + b"\x0155="
                + symbol
                + b"\x0154="
                + side
                + b"\x0132="
                + qty_b
                + b"\x0131="
                + px_b
                + b"\x0158="
                + text.encode("latin-1", "replace")
                + b"\x01"
            ),
        )

    # --- LP sessions coming and going --------------------------------------------------------
    def lp_disconnected(self, lp: str, now: float) -> int:
        """Children working at ``lp`` become unknown: not re-routed until the LP answers."""
        n = 0
        for c in self.children.values():
            if c.lp == lp and c.state not in CHILD_TERMINAL and c.state != C_UNKNOWN:
                c.state = C_UNKNOWN
                c.status_asked = None
                n += 1
        return n

    def unknown_children(self, lp: str) -> list[ChildOrder]:
        return [c for c in self.children.values() if c.lp == lp and c.state == C_UNKNOWN]

    def restore(
        self,
        parents: list[ParentOrder],
        *,
        cl_ord_ids: dict[tuple[str, bytes], ParentOrder] | None = None,
        rejected: dict[tuple[str, bytes], tuple[bytes, bytes, bytes, bytes, str]] | None = None,
        lp_exec_ids: set[tuple[str, bytes]] | None = None,
    ) -> None:
        """Put back orders rebuilt from the journal (gateway.recovery), before any traffic.

        Parents come with their children (working ones UNKNOWN) and ``working_qty`` set;
        ``cl_ord_ids`` maps further ClOrdIDs (cancel/replace requests) to their parents.
        Counters are recounted and ids are numbered on past the recovered ones.
        """
        count = self._count
        for p in parents:
            self.parents[p.order_id] = p
            for cl in (p.cl_ord_id, p.orig_cl_ord_id, p.pending_cl_ord_id):
                if cl is not None:
                    self.by_cl_ord_id[(p.session, cl)] = p
            if p.state not in TERMINAL:
                self.open_parents[p.order_id] = p
                if p.state in _LIVE and p.working_qty == 0 and p.cum_qty < p.qty:
                    self._index(p)
                    self._retry[p.order_id] = (-math.inf, 0, p.cum_qty)  # tried at the first sweep
                    heapq.heappush(self._retry_heap, (-math.inf, p.order_id))
            count("parents_accepted")
            if p.state in TERMINAL:
                count(f"parents_{p.state}")
            for c in p.children:
                self.children[c.child_id] = c
                if c.state == C_PENDING_NEW:
                    heapq.heappush(self._silent, (c.sent_at, c.child_id, c))
                count("children_sent")
                if c.state in (C_CANCELED, C_REJECTED, C_EXPIRED):
                    count(f"children_{c.state}")
        self.by_cl_ord_id.update(cl_ord_ids or {})
        for key, entry in (rejected or {}).items():
            self.rejected.setdefault(key, entry)
            count("parents_rejected")
        self.lp_exec_ids |= lp_exec_ids or set()
        prefix = self.id_prefix
        for oid in self.parents:  # ids of this prefix (a restart within the same prefix)
            if oid.startswith(prefix) and oid[len(prefix) + 1 :].isdigit():
                self._next_id = max(self._next_id, int(oid[len(prefix) + 1 :]))
        for cid in self.children:
            if cid.startswith(prefix) and cid[len(prefix) + 1 :].isdigit():
                self._next_id = max(self._next_id, int(cid[len(prefix) + 1 :]))

    def status_request_for(self, c: ChildOrder, now: float) -> Out:
        c.status_asked = now
        return Out(
            "lp",
            c.lp,
            MsgType.ORDER_STATUS_REQUEST,
            (
                b"11="
                + c.child_id
                + b"\x0155="
                + c.parent.inst.symbol_bytes
                + b"\x0154="
                + c.parent.side
                + b"\x01790="
                + c.child_id
                + b"\x01"
            ),
        )

    def on_child_status(
        self,
        c: ChildOrder,
        ord_status: bytes,
        lp_cum_qty: int,
        lp_avg_px: Decimal | int | None,
        known: bool,
        now: float,
        *,
        lp_leaves: int | None = None,
    ) -> list[Out]:
        """The LP's answer to an OrderStatusRequest: reconcile what we missed.

        ``lp_avg_px`` is the LP's AvgPx in price units, exact (not rounded to the tick): the
        price of the missed part is derived from it. ``lp_leaves`` (LeavesQty) below ours
        on a working child is a restatement we missed: the difference is routed again (0 on
        a working child is not believed: the quantity stays where it may still trade).
        """
        out: list[Out] = []
        if not known:
            # the LP never saw it (or lost it): nothing was filled; the quantity is free
            if c.state not in CHILD_TERMINAL:
                out += self.on_child_done(c, C_REJECTED, now, "unknown to the LP after reconnect")
            return out
        if lp_cum_qty > c.cum_qty:
            missing = lp_cum_qty - c.cum_qty
            if lp_avg_px is not None:
                # price of the missed part: what makes the LP's average come out right
                total = lp_avg_px * lp_cum_qty
                px = max(1, round((total - c.notional) / missing))
            else:
                px = c.price or 0
            out += self.on_child_fill(c, b"RECON-" + c.child_id + b"-%d" % lp_cum_qty, missing, px, now)
        if ord_status in (
            OrdStatus.FILLED,
            OrdStatus.CANCELED,
            OrdStatus.REJECTED,
            OrdStatus.EXPIRED,
            OrdStatus.DONE_FOR_DAY,
        ):
            state = {
                OrdStatus.FILLED: C_FILLED,
                OrdStatus.CANCELED: C_CANCELED,
                OrdStatus.REJECTED: C_REJECTED,
                OrdStatus.EXPIRED: C_EXPIRED,
                OrdStatus.DONE_FOR_DAY: C_EXPIRED,
            }[ord_status]
            if c.state not in CHILD_TERMINAL:
                out += self.on_child_done(c, state, now, "reconciled by OrderStatusRequest")
        else:
            if lp_leaves and c.state not in CHILD_TERMINAL and lp_leaves < c.qty - c.cum_qty:
                out += self.on_child_restated(c, lp_leaves, now)
            if c.state != C_UNKNOWN:
                return out
            c.state = C_PARTIALLY_FILLED if c.cum_qty else C_NEW
            if c.parent.state not in _LIVE:
                # it still works, but its parent is being canceled, replaced or is done: the
                # cancel skipped while the LP was away is sent now
                self._cancel_children(c.parent, now, out)
        return out
