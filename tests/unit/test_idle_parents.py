"""Idle parents in the order book: the index re-routing looks at instead of every open order.

A parent with quantity left and nothing working is "idle". The book keeps idle limit parents
by symbol, side and price (so that a quote only looks at the limits it reaches), a retry set
for the ones that prices would let go but could not be routed, and the children that may
still be PendingNew by when they were sent. These tests drive the book alone (pure, no
clock): the index must match a scan of every open order after any sequence of events.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from gateway.fix.enums import TimeInForce
from gateway.instruments import Instrument
from gateway.marketdata import BID, CHANGE, OFFER, MarketData
from gateway.orders import (
    C_CANCELED,
    C_NEW,
    C_PENDING_NEW,
    CANCELED,
    EXPIRED,
    FILLED,
    RETRY_FIRST,
    RETRY_MAX,
    ChildPlan,
    OrderBook,
    Out,
    ParentOrder,
)
from tests.unit.outs import fields

ACME = Instrument("ACME", tick_size=Decimal("0.01"), lot_size=Decimal("1"))
XYZ = Instrument("XYZ", tick_size=Decimal("0.01"), lot_size=Decimal("1"))
T = 1_790_000_000.0
DAY = TimeInForce.DAY


class Quoted:
    """A planner that routes a parent to LP_A only when ``ask``/``bid`` reach its limit
    (``open`` False: never), counting its calls."""

    def __init__(self, ask: int = 10010, bid: int = 9990) -> None:
        self.ask = ask
        self.bid = bid
        self.open = True
        self.calls = 0

    def reaches(self, p: ParentOrder) -> bool:
        if p.price is None:
            return True
        return p.price >= self.ask if p.is_buy else p.price <= self.bid

    def __call__(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        self.calls += 1
        if not self.open or not self.reaches(parent):
            return []
        return [ChildPlan("LP_A", available, parent.price, TimeInForce.IMMEDIATE_OR_CANCEL)]


def book_with(planner: Quoted, *, prices_only: bool = True) -> OrderBook:
    book = OrderBook(planner)
    if prices_only:
        book.marketable = lambda p, now: planner.reaches(p)
    return book


def new(
    book: OrderBook,
    cl: bytes,
    price: int | None,
    *,
    side: bytes = b"1",
    inst: Instrument = ACME,
    qty: int = 100,
    tif: bytes = DAY,
) -> tuple[ParentOrder, list[Out]]:
    return book.new_parent("OMS", cl, inst, side, b"2" if price else b"1", tif, qty, price, T)


def children(out: list[Out]) -> list[Out]:
    return [o for o in out if o.to == "lp" and o.msg_type == b"D"]


def idle_by_scan(book: OrderBook) -> set[bytes]:
    return {
        p.order_id
        for p in book.open_parents.values()
        if p.state in ("new", "partially_filled") and p.working_qty == 0 and p.cum_qty < p.qty
    }


def idle_in_index(book: OrderBook) -> set[bytes]:
    return {p.order_id for p in book._idle_parents()}


def test_a_resting_parent_routes_when_a_quote_reaches_its_limit_and_not_before() -> None:
    planner = Quoted(ask=10010)
    book = book_with(planner)
    p, out = new(book, b"B1", 10005)
    assert children(out) == [] and book.idle_count() == 1 and book.has_idle("ACME")
    assert planner.calls == 1
    # nothing changes: no sweep, no due retry, no re-plan
    assert book.route_due(T + 60) == [] and planner.calls == 1
    # the ask moves to 100.07: still above the limit, and the range it opens is empty
    planner.ask = 10007
    assert book.route_reached("ACME", True, 10007, 10010, T + 1) == [] and planner.calls == 1
    # the ask reaches 100.05: this parent is in [new ask, old ask)
    planner.ask = 10005
    out = book.route_reached("ACME", True, 10005, 10007, T + 2)
    (child,) = children(out)
    assert fields(child)[44] == b"100.05" and planner.calls == 2
    assert book.idle_count() == 0 and not book.has_idle("ACME")
    p.check()


def test_only_the_side_and_limits_a_quote_reaches_are_looked_at() -> None:
    planner = Quoted(ask=10100, bid=9900)
    book = book_with(planner)
    buys = [new(book, b"B%d" % i, 10000 + i)[0] for i in range(10)]  # 100.00 .. 100.09
    sells = [new(book, b"S%d" % i, 10000 + i, side=b"2")[0] for i in range(10)]
    new(book, b"X1", 10005, inst=XYZ)
    assert book.idle_count() == 21 and planner.calls == 21
    planner.ask = 10007
    out = book.route_reached("ACME", True, 10007, 10100, T + 1)
    # the three most aggressive buys, best limit first; no sell, no XYZ order
    assert [fields(o)[44] for o in children(out)] == [b"100.09", b"100.08", b"100.07"]
    assert planner.calls == 24
    planner.bid = 10002
    out = book.route_reached("ACME", False, 10002, 9900, T + 2)
    assert [fields(o)[44] for o in children(out)] == [b"100.00", b"100.01", b"100.02"]
    assert planner.calls == 27
    assert idle_in_index(book) == idle_by_scan(book)
    assert all(p.working_qty for p in buys[7:] + sells[:3])


def test_a_replace_moves_the_parent_to_its_new_price() -> None:
    planner = Quoted(ask=10010)
    book = book_with(planner)
    p, _ = new(book, b"B1", 10000)
    book.replace_request("OMS", b"B2", b"B1", 100, 10002, T + 1)
    assert p.price == 10002 and idle_in_index(book) == {p.order_id}
    # a quote that reaches only the old price finds nothing there
    assert book.route_reached("ACME", True, 10000, 10001, T + 2) == []
    planner.ask = 10002
    (child,) = children(book.route_reached("ACME", True, 10002, 10010, T + 3))
    assert fields(child)[44] == b"100.02"


def test_parents_that_end_leave_the_index() -> None:
    planner = Quoted(ask=10010, bid=9000)
    book = book_with(planner)
    a, _ = new(book, b"A", 10000)
    c, _ = new(book, b"C", 10001)
    m, _ = new(book, b"M", None)  # a market order the planner routes: not idle
    d, _ = new(book, b"D", 9500, side=b"2")  # rests: the bid is below
    assert m.working_qty == 100
    assert idle_in_index(book) == idle_by_scan(book) == {a.order_id, c.order_id, d.order_id}
    book.cancel_request("OMS", b"A-X", b"A", T + 1)
    assert a.state == CANCELED
    book.kill(c, T + 1, "kill switch: test")
    assert c.state == CANCELED
    book.end_of_day(T + 2)
    assert d.state == EXPIRED
    assert idle_in_index(book) == idle_by_scan(book) == set()
    assert book.retry_pending() == 0 or not book._retry


def test_a_late_fill_that_completes_an_idle_parent_takes_it_out() -> None:
    planner = Quoted(ask=10000)
    book = book_with(planner)
    p, out = new(book, b"B1", 10000)
    (nos,) = children(out)
    child = book.child(fields(nos)[11])
    assert child is not None
    book.on_child_fill(child, b"F1", 40, 10000, T)
    planner.ask = 10100  # the rest comes back and rests
    book.on_child_done(child, C_CANCELED, T)
    assert idle_in_index(book) == {p.order_id}
    # the LP reports a fill of the rest after it canceled the child: the parent is filled
    book.on_child_fill(child, b"F2", 60, 10000, T + 1)
    assert p.state == FILLED and idle_in_index(book) == set()
    p.check()


def test_the_retry_set_for_what_prices_would_let_go() -> None:
    planner = Quoted(ask=10000)
    planner.open = False  # e.g. every LP came back empty, or a risk limit
    book = book_with(planner)
    p, _ = new(book, b"B1", 10005)
    assert planner.calls == 1 and book.retry_pending() == 1
    assert book.route_due(T + RETRY_FIRST - 0.01) == [] and planner.calls == 1
    book.route_due(T + RETRY_FIRST)
    assert planner.calls == 2
    # then after twice as long, and so on up to RETRY_MAX
    t = T + RETRY_FIRST
    delays = []
    for _ in range(6):
        calls = planner.calls
        step = 0.0
        while planner.calls == calls:
            step += 0.5
            book.route_due(t + step)
        delays.append(step)
        t += step
    assert delays == [2.0, 4.0, 8.0, RETRY_MAX, RETRY_MAX, RETRY_MAX]
    # a risk limit freed up: everything in the retry set goes at once
    calls = planner.calls
    book.route_due(t + 0.1, everything=True)
    assert planner.calls == calls + 1
    planner.open = True
    (child,) = children(book.route_due(t + 0.2, everything=True))
    assert book.idle_count() == 0 and book.retry_pending() >= 0
    assert fields(child)[11] == p.children[-1].child_id


def test_a_parent_waiting_for_a_price_is_not_retried() -> None:
    planner = Quoted(ask=10010)
    book = book_with(planner)
    new(book, b"B1", 10005)
    for s in range(1, 100):
        book.route_due(T + s)
    assert planner.calls == 1
    # once prices would let it go but it is refused anyway, it is retried; and when the quote
    # moves away again the due retry finds it waiting for a price and leaves it there
    planner.open = False
    planner.ask = 10005
    book.route_reached("ACME", True, 10005, 10010, T + 100)
    assert planner.calls == 2 and book.retry_pending() == 1
    planner.ask = 10010
    book.route_due(T + 102)
    assert planner.calls == 2


def test_without_a_marketable_question_every_idle_parent_is_retried() -> None:
    planner = Quoted(ask=10010)
    book = book_with(planner, prices_only=False)
    new(book, b"B1", 10005)
    book.route_due(T + RETRY_FIRST)
    assert planner.calls == 2


def test_route_idle_tries_every_idle_parent_in_order_of_arrival() -> None:
    planner = Quoted(ask=10010)
    book = book_with(planner)
    ps = [new(book, b"B%d" % i, 10000 + (7 * i) % 10)[0] for i in range(5)]
    planner.ask = 0
    out = book.route_idle(T + 1)
    assert [fields(o)[11] for o in children(out)] == [p.children[0].child_id for p in ps]


def test_silent_children_are_asked_about_after_the_timeout_and_again_after_another() -> None:
    planner = Quoted(ask=10000)
    book = book_with(planner)
    _p, out = new(book, b"B1", 10000)
    _q, out2 = new(book, b"B2", 10000)
    c1 = book.child(fields(children(out)[0])[11])
    c2 = book.child(fields(children(out2)[0])[11])
    assert c1 is not None and c2 is not None and c1.state == c2.state == C_PENDING_NEW
    book.on_child_ack(c2, b"L2", T + 0.1)
    assert c2.state == C_NEW
    assert book.ask_silent_children(T + 5, 5.0, lambda lp: True) == []
    (req,) = book.ask_silent_children(T + 5.01, 5.0, lambda lp: True)
    assert req.msg_type == b"H" and fields(req)[11] == c1.child_id and c1.status_asked == T + 5.01
    assert book.ask_silent_children(T + 9, 5.0, lambda lp: True) == []
    # its LP is away: asked as soon as it is back
    assert book.ask_silent_children(T + 11, 5.0, lambda lp: False) == []
    (req,) = book.ask_silent_children(T + 12, 5.0, lambda lp: True)
    assert fields(req)[11] == c1.child_id
    book.on_child_ack(c1, b"L1", T + 12.5)
    assert book.ask_silent_children(T + 60, 5.0, lambda lp: True) == []
    assert book._silent == []


def test_children_answered_in_time_never_reach_the_silent_heap() -> None:
    """The timer's work for an answered child is one O(1) step, not a heap pop (a heap of every
    child sent was 1 ms of one callback a second at 1,000 orders/s)."""
    planner = Quoted(ask=10000)
    book = book_with(planner)
    kids = []
    for i in range(20):
        _p, out = new(book, b"B%d" % i, 10000)
        kid = book.child(fields(children(out)[0])[11])
        assert kid is not None
        kids.append(kid)
    for kid in kids[1:]:
        book.on_child_ack(kid, b"L" + kid.child_id, T + 0.1)
    assert book._silent == []  # nothing pushed on the way
    (req,) = book.ask_silent_children(T + 6, 5.0, lambda lp: True)
    assert fields(req)[11] == kids[0].child_id
    assert [c for _, _, c in book._silent] == [kids[0]] and not book._sent


def test_the_index_matches_a_scan_of_every_open_order_after_random_events() -> None:
    rng = random.Random(7)
    planner = Quoted(ask=10005, bid=9995)
    book = book_with(planner)
    now = T
    n = 0
    for _ in range(2000):
        now += rng.random()
        op = rng.random()
        live = [p for p in book.open_parents.values() if p.state in ("new", "partially_filled")]
        working = [c for c in book.children.values() if c.state in (C_PENDING_NEW, C_NEW, "partially_filled")]
        if op < 0.3:
            n += 1
            side = rng.choice((b"1", b"2"))
            price = None if rng.random() < 0.05 else 9990 + rng.randrange(20)
            tif = DAY if rng.random() < 0.9 else TimeInForce.IMMEDIATE_OR_CANCEL
            new(book, b"P%d" % n, price, side=side, inst=rng.choice((ACME, XYZ)), tif=tif)
        elif op < 0.45 and working:
            c = rng.choice(working)
            qty = rng.randrange(1, c.qty - c.cum_qty + 1)
            book.on_child_fill(c, b"F%d-%d" % (n, rng.randrange(10**9)), qty, c.price or 10000, now)
        elif op < 0.6 and working:
            book.on_child_done(rng.choice(working), C_CANCELED, now)
        elif op < 0.7 and live:
            p = rng.choice(live)
            n += 1
            book.replace_request("OMS", b"R%d" % n, p.cl_ord_id, p.qty + 10, p.price and p.price + 1, now)
        elif op < 0.75 and live:
            p = rng.choice(live)
            n += 1
            book.cancel_request("OMS", b"X%d" % n, p.cl_ord_id, now)
        elif op < 0.85:
            old_ask, old_bid = planner.ask, planner.bid
            planner.ask = 9995 + rng.randrange(20)
            planner.bid = planner.ask - 10
            for symbol in ("ACME", "XYZ"):
                book.route_reached(symbol, True, planner.ask, old_ask, now)
                book.route_reached(symbol, False, planner.bid, old_bid, now)
        elif op < 0.9:
            planner.open = not planner.open
        elif op < 0.95:
            book.route_due(now, everything=rng.random() < 0.2)
        elif op < 0.97:
            book.route_idle(now)
        else:
            book.ask_silent_children(now, 5.0, lambda lp: True)
        assert idle_in_index(book) == idle_by_scan(book)
    for p in book.parents.values():
        p.check()
    # idle limit parents that prices would let go are all in the retry set
    for p in book._idle_parents():
        if planner.reaches(p):
            assert book._retry.get(p.order_id, (math.inf,))[0] != math.inf, p.order_id


def test_marketdata_tells_of_each_symbol_a_message_changed() -> None:
    md = MarketData(top_of_book=True)
    seen: list[tuple[str, float]] = []
    md.on_change = lambda symbol, now: seen.append((symbol, now))
    md.on_snapshot("LP_A", "ACME", [(BID, 9990, 100), (OFFER, 10010, 100)], T)
    md.on_incremental(
        "LP_A",
        [
            (CHANGE, "ACME", BID, 9991, 100),
            (CHANGE, "ACME", OFFER, 10009, 100),
            (CHANGE, "XYZ", BID, 5000, 100),
        ],
        T + 1,
    )
    assert seen == [("ACME", T), ("ACME", T + 1), ("XYZ", T + 1)]
