"""The order state table, driven row by row without sockets.

Each test walks a parent order through events and checks the reports to the OMS (ExecType,
OrdStatus, quantities, AvgPx as exact decimals), the messages to LPs, and the book's
invariants after every step.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.fix.enums import TimeInForce
from gateway.instruments import Instrument
from gateway.orders import (
    C_CANCELED,
    C_REJECTED,
    C_UNKNOWN,
    CANCELED,
    EXPIRED,
    FILLED,
    NEW,
    PARENT_EVENTS,
    PARENT_STATES,
    PARENT_TRANSITIONS,
    PARTIALLY_FILLED,
    PENDING_CANCEL,
    PENDING_REPLACE,
    REJECTED,
    ChildPlan,
    OrderBook,
    Out,
    ParentOrder,
)
from tests.unit.outs import fields

ACME = Instrument("ACME", tick_size=Decimal("0.01"), lot_size=Decimal("1"))
T = 1_790_000_000.0


class Scripted:
    """A planner that sends to the LPs listed, in turn, one LP per wave."""

    def __init__(self, *lps: str, tif: bytes = TimeInForce.IMMEDIATE_OR_CANCEL) -> None:
        self.lps = list(lps)
        self.tif = tif

    def __call__(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        if not self.lps:
            return []
        return [ChildPlan(self.lps.pop(0), available, parent.price, self.tif)]


def new(book: OrderBook, qty: int = 100, price: int | None = 10000, tif: bytes = b"3", cl: bytes = b"P1"):  # type: ignore[no-untyped-def]
    p, out = book.new_parent("OMS", cl, ACME, b"1", b"2" if price else b"1", tif, qty, price, T)
    p.check()
    return p, out


def reports(out: list[Out]) -> list[tuple[bytes, bytes]]:
    return [(fields(o)[150], fields(o)[39]) for o in out if o.to == "oms" and o.msg_type == b"8"]


def test_every_pair_of_the_table_is_listed_or_impossible() -> None:
    impossible = {
        (REJECTED, "fill"),
        (REJECTED, "child_done"),
        (REJECTED, "bust"),
        (REJECTED, "correct"),
        (FILLED, "fill"),
    }
    for state in PARENT_STATES:
        for event in PARENT_EVENTS:
            assert (state, event) in PARENT_TRANSITIONS or (state, event) in impossible, (state, event)


def test_ioc_fill_in_one_child() -> None:
    book = OrderBook(Scripted("LP_A"))
    p, out = new(book)
    assert reports(out) == [(b"0", b"0")]
    (nos,) = [o for o in out if o.to == "lp"]
    f = fields(nos)
    assert nos.dest == "LP_A" and f[38] == b"100" and f[44] == b"100.00" and f[59] == b"3"
    child = book.child(f[11])
    assert child is not None
    out = book.on_child_fill(child, b"X1", 100, 10000, T + 0.01)
    p.check()
    (er,) = [fields(o) for o in out]
    assert er[150] == b"F" and er[39] == b"2" and er[14] == b"100" and er[151] == b"0" and er[6] == b"100"
    assert p.state == FILLED and not book.open_parents


def test_partial_fill_reroutes_and_avg_px_is_exact() -> None:
    book = OrderBook(Scripted("LP_A", "LP_B"))
    p, out = new(book, qty=300, price=10005)
    c1 = book.child(fields(out[1])[11])
    assert c1 is not None
    out = book.on_child_fill(c1, b"A1", 100, 10001, T)
    assert reports(out) == [(b"F", b"1")]
    out = book.on_child_done(c1, C_CANCELED, T)  # IOC remainder canceled: route the rest
    p.check()
    (nos,) = [o for o in out if o.to == "lp"]
    assert nos.dest == "LP_B" and fields(nos)[38] == b"200"
    c2 = book.child(fields(nos)[11])
    assert c2 is not None
    out = book.on_child_fill(c2, b"B1", 200, 10002, T)
    er = fields(out[0])
    # (100 x 100.01 + 200 x 100.02) / 300 = 100.016666... -> 100.016667
    assert er[39] == b"2" and er[14] == b"300" and er[6] == b"100.016667"
    p.check()


def test_ioc_with_no_liquidity_is_canceled() -> None:
    book = OrderBook(Scripted())
    p, out = new(book)
    assert reports(out) == [(b"0", b"0"), (b"4", b"4")]
    assert p.state == CANCELED and fields(out[-1])[14] == b"0"


def test_day_order_stays_working_until_routed() -> None:
    planner = Scripted()
    book = OrderBook(planner)
    p, out = new(book, tif=TimeInForce.DAY)
    assert p.state == NEW and reports(out) == [(b"0", b"0")]
    planner.lps.append("LP_A")
    out = book.route_idle(T + 1)
    assert [o.dest for o in out] == ["LP_A"]
    p.check()


def test_cancel_with_a_child_working_then_fill_during_pending_cancel() -> None:
    book = OrderBook(Scripted("LP_A", tif=TimeInForce.DAY))
    p, out = new(book, tif=TimeInForce.DAY)
    child = book.child(fields(out[1])[11])
    assert child is not None
    out = book.cancel_request("OMS", b"C1", b"P1", T)
    assert p.state == PENDING_CANCEL
    er = fields(out[0])
    assert (er[150], er[39], er[11], er[41]) == (b"6", b"6", b"C1", b"P1")
    assert out[1].to == "lp" and out[1].msg_type == b"F"  # cancel sent to the LP
    out = book.on_child_fill(child, b"A1", 40, 10000, T)
    assert reports(out) == [(b"F", b"6")]  # pending cancel outranks partially filled
    out = book.on_child_done(child, C_CANCELED, T)
    er = fields(out[0])
    assert (er[150], er[39], er[14], er[151], er[11], er[41]) == (b"4", b"4", b"40", b"0", b"C1", b"P1")
    p.check()


def test_fill_completing_during_pending_cancel_rejects_the_cancel() -> None:
    book = OrderBook(Scripted("LP_A", tif=TimeInForce.DAY))
    p, out = new(book, tif=TimeInForce.DAY)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.cancel_request("OMS", b"C1", b"P1", T)
    out = book.on_child_fill(child, b"A1", 100, 10000, T)
    assert reports(out) == [(b"F", b"2")]
    ocr = next(fields(o) for o in out if o.msg_type == b"9")
    assert ocr[102] == b"0" and ocr[39] == b"2" and ocr[434] == b"1"
    assert p.state == FILLED


def test_cancel_refusals() -> None:
    book = OrderBook(Scripted("LP_A"))
    _p, out = new(book)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.on_child_fill(child, b"A1", 100, 10000, T)
    (ocr,) = book.cancel_request("OMS", b"C1", b"P1", T)
    assert ocr.msg_type == b"9" and fields(ocr)[102] == b"0"  # too late
    (ocr,) = book.cancel_request("OMS", b"C2", b"NOPE", T)
    assert fields(ocr)[102] == b"1"  # unknown order
    (ocr,) = book.cancel_request("OMS", b"C1", b"P1", T)
    assert fields(ocr)[102] == b"6"  # duplicate ClOrdID


def test_replace_without_and_with_working_children() -> None:
    planner = Scripted()
    book = OrderBook(planner)
    p, _ = new(book, tif=TimeInForce.DAY)
    out = book.replace_request("OMS", b"R1", b"P1", 150, 10010, T)
    er = fields(out[0])
    assert (er[150], er[39], er[11], er[41], er[38], er[44]) == (b"5", b"0", b"R1", b"P1", b"150", b"100.10")
    planner.lps.append("LP_A")
    planner.tif = TimeInForce.DAY
    out = book.route_idle(T)
    child = book.child(fields(out[0])[11])
    assert child is not None
    book.on_child_fill(child, b"A1", 50, 10010, T)
    out = book.replace_request("OMS", b"R2", b"R1", 120, 10010, T)
    assert p.state == PENDING_REPLACE and reports(out)[0] == (b"E", b"E")
    planner.lps.append("LP_B")
    out = book.on_child_done(child, C_CANCELED, T)
    er = fields(out[0])
    assert (er[150], er[39], er[38], er[14], er[151]) == (b"5", b"1", b"120", b"50", b"70")
    assert [o.dest for o in out if o.to == "lp"] == ["LP_B"]
    p.check()
    (ocr,) = book.replace_request("OMS", b"R3", b"R2", 40, 10010, T)
    assert ocr.msg_type == b"9" and b"filled quantity" in fields(ocr)[58]


def test_status_requests() -> None:
    book = OrderBook(Scripted())
    new(book, tif=TimeInForce.DAY)
    (er,) = book.status_request("OMS", b"P1", T)
    assert fields(er)[150] == b"I" and fields(er)[39] == b"0"
    (er,) = book.status_request("OMS", b"??", T)
    assert fields(er)[39] == b"8" and fields(er)[103] == b"5"


def test_bust_on_filled_day_order_reopens_and_reroutes() -> None:
    book = OrderBook(Scripted("LP_A", "LP_B", tif=TimeInForce.DAY))
    p, out = new(book, tif=TimeInForce.DAY)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.on_child_fill(child, b"A1", 100, 10000, T)
    assert p.state == FILLED
    out = book.on_child_bust(child, b"A1", T)
    er = fields(out[0])
    assert (er[150], er[39], er[14], er[151]) == (b"H", b"0", b"0", b"100") and er[19].startswith(b"GW")
    assert [o.dest for o in out if o.to == "lp"] == ["LP_B"]
    p.check()


def test_bust_on_ioc_stays_done_and_correction() -> None:
    book = OrderBook(Scripted("LP_A"))
    p, out = new(book)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.on_child_fill(child, b"A1", 60, 10000, T)
    book.on_child_fill(child, b"A2", 40, 10001, T)
    out = book.on_child_correct(child, b"A2", 40, 9999, T)
    er = fields(out[0])
    assert er[150] == b"G" and er[6] == b"99.996"  # (60 x 100.00 + 40 x 99.99) / 100
    out = book.on_child_bust(child, b"A1", T)
    er = fields(out[0])
    assert (er[150], er[39], er[14], er[151]) == (b"H", b"4", b"40", b"0")
    assert p.state == CANCELED
    p.check()


def test_late_fill_after_confirmed_cancel_is_reported_and_overfill_is_refused() -> None:
    book = OrderBook(Scripted("LP_A", "LP_B"))
    p, out = new(book)
    a = book.child(fields(out[1])[11])
    assert a is not None
    out = book.on_child_done(a, C_CANCELED, T)  # nothing filled: routed again to LP_B
    b = book.child(fields(next(o for o in out if o.to == "lp"))[11])
    assert b is not None
    out = book.on_child_fill(a, b"A-LATE", 100, 10000, T)  # would overfill: B has all 100
    assert out[0].to == "lp" and out[0].msg_type == b"Q" and fields(out[0])[127] == b"C"
    p.check()
    book.on_child_fill(b, b"B1", 30, 10000, T)
    out = book.on_child_done(b, C_CANCELED, T)  # parent canceled with 30 done
    assert p.state == CANCELED
    late = book.on_child_fill(b, b"B-LATE", 20, 10000, T)  # the LP fills after its cancel
    er = fields(late[0])
    assert (er[150], er[39], er[14], er[151]) == (b"F", b"4", b"50", b"0")
    p.check()


def test_lp_disconnect_then_status_reconciles_missed_fill() -> None:
    book = OrderBook(Scripted("LP_A", "LP_B", tif=TimeInForce.DAY))
    p, out = new(book, tif=TimeInForce.DAY)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.on_child_fill(child, b"A1", 10, 10000, T)
    assert book.lp_disconnected("LP_A", T) == 1
    assert child.state == C_UNKNOWN and p.available_qty == 0  # nothing routed twice
    assert book.route_idle(T) == []
    (req,) = [book.status_request_for(c, T) for c in book.unknown_children("LP_A")]
    assert req.msg_type == b"H" and fields(req)[11] == child.child_id
    # the LP says: 60 filled at avg 100.01 in all, now canceled
    out = book.on_child_status(child, b"4", 60, 10001, True, T)
    fills = [fields(o) for o in out if o.to == "oms" and fields(o)[150] == b"F"]
    assert fills and fills[0][32] == b"50" and fills[0][14] == b"60"
    assert [o.dest for o in out if o.to == "lp"] == ["LP_B"]  # the 40 left go elsewhere
    p.check()


def test_unknown_to_lp_after_reconnect_frees_quantity() -> None:
    book = OrderBook(Scripted("LP_A", "LP_B"))
    p, out = new(book)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.lp_disconnected("LP_A", T)
    out = book.on_child_status(child, b"8", 0, None, False, T)
    assert child.state == C_REJECTED and [o.dest for o in out if o.to == "lp"] == ["LP_B"]
    p.check()


def test_restatement_reduces_leaves_and_reroutes() -> None:
    book = OrderBook(Scripted("LP_A", "LP_B", tif=TimeInForce.DAY))
    p, out = new(book, tif=TimeInForce.DAY)
    child = book.child(fields(out[1])[11])
    assert child is not None
    out = book.on_child_restated(child, 30, T)
    (nos,) = [o for o in out if o.to == "lp"]
    assert nos.dest == "LP_B" and fields(nos)[38] == b"70"
    p.check()


def test_kill_and_end_of_day() -> None:
    book = OrderBook(Scripted("LP_A", tif=TimeInForce.DAY))
    p, out = new(book, tif=TimeInForce.DAY)
    child = book.child(fields(out[1])[11])
    assert child is not None
    out = book.kill(p, T, "risk desk")
    assert reports(out)[0] == (b"6", b"6")
    out = book.on_child_done(child, C_CANCELED, T)
    assert reports(out) == [(b"4", b"4")] and b"risk desk" in fields(out[0])[58]
    book2 = OrderBook(Scripted())
    q, _ = new(book2, tif=TimeInForce.DAY)
    out = book2.end_of_day(T)
    assert reports(out) == [(b"C", b"C")] and q.state == EXPIRED


def test_duplicate_lp_exec_id_is_ignored() -> None:
    book = OrderBook(Scripted("LP_A"))
    p, out = new(book)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.on_child_fill(child, b"A1", 10, 10000, T)
    assert book.on_child_fill(child, b"A1", 10, 10000, T) == []
    assert p.cum_qty == 10 and p.state == PARTIALLY_FILLED


@pytest.mark.parametrize("qty", [150, 100])
def test_overfill_from_lp_is_cut_to_the_child(qty: int) -> None:
    book = OrderBook(Scripted("LP_A"))
    p, out = new(book)
    child = book.child(fields(out[1])[11])
    assert child is not None
    book.on_child_fill(child, b"A1", qty, 10000, T)
    assert p.cum_qty == 100 and p.state == FILLED
    assert (qty > 100) == bool(book.anomalies)
    p.check()
