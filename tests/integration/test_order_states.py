"""Every row of the parent order state table, driven over TCP.

A scripted OMS sends a Day order ``P`` (buy 100 ACME at 100.05); the router sends it to
LP_A, a hand-driven LP that acks the child and then does exactly what the test says. Each
test brings ``P`` into a state (``reach``), fires one event (a fill, a child's end, a bust,
a correction from the LP; a cancel, replace or status request from the OMS; the end of
the day; the kill switch), checks the reports the OMS gets field by field and that the
order book applied exactly that (state, event) row, then ends every order (``drain``)
and requires a clean ReportChecker and the book's invariants.

Rows no event can reach are listed apart: states no event of the gateway leads to
(REJECTED: a refused order is remembered apart and never booked as a parent; DONE_FOR_DAY:
nothing finishes an order for the day) are forced in the book and then driven over TCP;
three rows are impossible while the book's invariants hold (``UNREACHABLE``); the end of
the day and the kill switch never look up a finished parent (``NOT_VISITED``), which the
tests check along with "nothing reaches the OMS".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.fix.codec import Message
from gateway.orders import (
    CANCELED,
    DONE_FOR_DAY,
    EV_BUST,
    EV_CANCEL_REQUEST,
    EV_CHILD_DONE,
    EV_CORRECT,
    EV_END_OF_DAY,
    EV_FILL,
    EV_KILL,
    EV_REPLACE_REQUEST,
    EV_STATUS_REQUEST,
    EXPIRED,
    FILLED,
    NEW,
    PARENT_TRANSITIONS,
    PARTIALLY_FILLED,
    PENDING_CANCEL,
    PENDING_REPLACE,
    REJECTED,
    TERMINAL,
    Out,
)
from tests.integration.gwkit import Harness, LpOrder, ManualLp, end_of_day, fields, run, wait_for

PF, PC, PR = PARTIALLY_FILLED, PENDING_CANCEL, PENDING_REPLACE
LIVE_OR_PENDING = (NEW, PF, PC, PR)
REACHABLE = (NEW, PF, PC, PR, FILLED, CANCELED, EXPIRED)
WITH_A_FILL = (PF, PC, PR, FILLED, CANCELED, EXPIRED)

#: Rows that cannot happen while the invariants hold: a bust or correction needs a fill that
#: stands, so the parent has CumQty > 0 and is not NEW; a CANCELED parent has no working
#: child (it is canceled only when nothing works), so no child of it can end.
UNREACHABLE = {
    (NEW, EV_BUST): "a NEW parent has no fill that stands",
    (NEW, EV_CORRECT): "a NEW parent has no fill that stands",
    (CANCELED, EV_CHILD_DONE): "a parent is canceled only when no child works",
}
#: The end of the day and the kill switch visit the open parents only: on a finished parent
#: these rows (all "nothing to do") are never looked up. The tests fire the event anyway and
#: check that nothing happens and the row is not applied.
NOT_VISITED = {(s, e) for s in TERMINAL for e in (EV_END_OF_DAY, EV_KILL)}
FORCED = [(REJECTED, e) for e in (EV_CANCEL_REQUEST, EV_REPLACE_REQUEST, EV_STATUS_REQUEST)] + [
    (REJECTED, EV_END_OF_DAY),
    (REJECTED, EV_KILL),
    *[
        (DONE_FOR_DAY, e)
        for e in (
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
    ],
]
DRIVEN = (
    [(s, EV_FILL) for s in (NEW, PF, PC, PR, CANCELED, EXPIRED)]
    + [(s, EV_CHILD_DONE) for s in (NEW, PF, PC, PR, FILLED, EXPIRED)]
    + [(s, EV_BUST) for s in WITH_A_FILL]
    + [(s, EV_CORRECT) for s in WITH_A_FILL]
    + [(s, e) for e in (EV_CANCEL_REQUEST, EV_REPLACE_REQUEST, EV_STATUS_REQUEST) for s in REACHABLE]
    + [(s, e) for e in (EV_END_OF_DAY, EV_KILL) for s in REACHABLE]
)


def test_the_rows_driven_here_are_the_whole_table() -> None:
    driven, forced = set(DRIVEN), set(FORCED)
    assert len(driven) == len(DRIVEN) and len(forced) == len(FORCED)
    assert not driven & forced and not (driven | forced) & set(UNREACHABLE)
    assert driven | forced | set(UNREACHABLE) == set(PARENT_TRANSITIONS)
    assert NOT_VISITED <= driven | forced


# --- bringing P into a state -------------------------------------------------------------------


@dataclass
class Ctx:
    h: Harness
    child: LpOrder  # P's child at LP_A
    cl: str = "P"  # the ClOrdID the OMS names P by now
    f1: bytes = b""  # LP_A's ExecID of the first fill (40 @ 100.01)
    f1_report: bytes = b""  # the ExecID the OMS got for it

    @property
    def lp(self) -> ManualLp:
        return self.h.lp("LP_A")


def avg(*fills: tuple[int, str]) -> Decimal:
    qty = sum(q for q, _ in fills)
    notional = sum((q * Decimal(p) for q, p in fills), Decimal(0))
    return (notional / qty).quantize(Decimal("0.000001"))


async def one(h: Harness, mark: int, what: str) -> Message:
    (m,) = await h.oms.wait_since(mark, 1, what)
    return m


async def nothing_after(h: Harness, mark: int, cl: str) -> None:
    """Nothing reaches the OMS: a status request is answered and nothing came before it."""
    await h.oms.barrier(cl)
    assert h.oms.since(mark) == [], h.oms.since(mark)


async def reach(h: Harness, state: str) -> Ctx:
    oms, lp = h.oms, h.lp("LP_A")
    oms.new("P", 100, "100.05", tif="0")
    child = await h.wait_child("LP_A", 1)
    assert child.qty == 100 and child.price == Decimal("100.05") and child.tif == b"3"
    await wait_for(lambda: h.parent("P").children[0].state == "new", 5, "child ack")
    (ack,) = oms.since(0)
    fields(ack, t150="0", t39="0", t14=0, t151=100)
    ctx = Ctx(h, child)
    if state == NEW:
        return ctx
    mark = oms.mark()
    ctx.f1 = lp.fill(child, 40, "100.01")
    m = await one(h, mark, "first fill")
    fields(m, t150="F", t39="1", t32=40, t31="100.01", t14=40, t151=60)
    ctx.f1_report = m[17]
    mark = oms.mark()
    if state == FILLED:
        lp.fill(child, 60, "100.03")
        fields(await one(h, mark, "fill"), t150="F", t39="2", t14=100, t151=0)
    elif state in (PC, CANCELED):
        oms.cancel("P-C", "P")
        fields(await one(h, mark, "pending cancel"), t150="6", t39="6", t11="P-C", t41="P")
        assert lp.cancel_requests == []  # an IOC child ends by itself
        if state == CANCELED:
            mark = oms.mark()
            lp.cancel(child)
            fields(await one(h, mark, "cancel"), t150="4", t39="4", t11="P-C", t41="P", t14=40, t151=0)
            ctx.cl = "P-C"
    elif state == PR:
        oms.replace("P-R", "P", 150, "100.06")
        fields(await one(h, mark, "pending replace"), t150="E", t39="E", t11="P-R", t41="P", t14=40)
    elif state == EXPIRED:
        end_of_day(h.gw)
        m = await one(h, mark, "expiry")
        fields(m, t150="C", t39="C", t14=40, t151=0, t58="end of day")
        assert child.live  # the IOC child still works at the LP
    assert h.parent("P").state == state
    return ctx


Body = Callable[["Ctx", int], Awaitable[None]]


async def run_row(tmp: Path, state: str, event: str, body: Body, *, reach_state: str = "") -> None:
    """Reach ``state`` (or ``reach_state``), run ``body``, require the row, end cleanly."""
    async with Harness(tmp) as h:
        ctx = await reach(h, reach_state or state)
        rows = len(h.rows)
        await body(ctx, h.oms.mark())
        await applied(h, state, event, rows)
        await h.drain()
        h.verify()


async def applied(h: Harness, state: str, event: str, rows: int) -> None:
    """The book applied the row (or, for the rows it never visits, did not)."""
    if (state, event) in NOT_VISITED:
        await h.oms.barrier("P")
        assert (state, event) not in h.rows[rows:]
    else:
        await h.wait_row(state, event, rows)


# --- fills ---------------------------------------------------------------------------------------

FILL_AFTER = {  # state -> OrdStatus, CumQty, LeavesQty after a fill of 20 @ 100.02
    NEW: ("1", 20, 80),
    PF: ("1", 60, 40),
    PC: ("6", 60, 40),
    PR: ("E", 60, 40),
    CANCELED: ("4", 60, 0),
    EXPIRED: ("C", 60, 0),
}


@pytest.mark.parametrize("state", list(FILL_AFTER))
def test_fill(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        ctx.lp.fill(ctx.child, 20, "100.02")  # after a cancel: a late fill on a canceled child
        m = await one(ctx.h, mark, "fill")
        status, cum, leaves = FILL_AFTER[state]
        fields(m, t150="F", t39=status, t32=20, t31="100.02", t14=cum, t151=leaves, t38=100)
        fills = [(20, "100.02")] if state == NEW else [(40, "100.01"), (20, "100.02")]
        assert Decimal(m[6].decode()) == avg(*fills)
        if state in (CANCELED, EXPIRED):
            assert b"after the order was done" in m[58]
            assert ctx.h.oms.checker.late_fill_count == 1
        p = ctx.h.parent("P")
        assert p.state == (PF if state == NEW else state) and p.cum_qty == cum

    run(run_row(tmp_path, state, EV_FILL, body))


# --- a child ends --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [NEW, PF, PC, PR, FILLED, EXPIRED])
def test_child_done(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        h, lp = ctx.h, ctx.lp
        if state == FILLED:
            # the fill that completes P ends its child: (FILLED, child_done) follows (PF, fill)
            lp.fill(ctx.child, 60, "100.03")
            m = await one(h, mark, "fill")
            fields(m, t150="F", t39="2", t14=100, t151=0)
            assert Decimal(m[6].decode()) == avg((40, "100.01"), (60, "100.03"))
            return
        lp.cancel(ctx.child, "IOC remainder")
        if state == NEW:
            # nothing filled at LP_A: the whole order goes to LP_B, the OMS hears nothing
            again = await h.wait_child("LP_B", 1)
            assert again.qty == 100 and again.price == Decimal("100.05")
            await nothing_after(h, mark, "P")
        elif state == PF:
            again = await h.wait_child("LP_A", 2)  # LP_A filled some: it gets the rest again
            assert again.qty == 60
            await nothing_after(h, mark, "P")
        elif state == PC:
            fields(await one(h, mark, "cancel"), t150="4", t39="4", t11="P-C", t41="P", t14=40, t151=0)
        elif state == PR:
            m = await one(h, mark, "replaced")
            fields(m, t150="5", t39="1", t11="P-R", t41="P", t38=150, t44="100.06", t14=40, t151=110)
            again = await h.wait_child("LP_A", 2)
            assert again.qty == 110 and again.price == Decimal("100.06")
        else:
            await h.wait_row(EXPIRED, EV_CHILD_DONE)
            await nothing_after(h, mark, "P")
            assert h.parent("P").working_qty == 0

    run(run_row(tmp_path, state, EV_CHILD_DONE, body, reach_state=PF if state == FILLED else state))


# --- busts and corrections -----------------------------------------------------------------------

BUST_AFTER = {  # state -> OrdStatus, CumQty, LeavesQty after the 40 @ 100.01 is busted
    PF: ("0", 0, 100),
    PC: ("6", 0, 100),
    PR: ("E", 0, 100),
    FILLED: ("1", 60, 40),  # a Day order comes back to life
    CANCELED: ("4", 0, 0),
    EXPIRED: ("C", 0, 0),
}


@pytest.mark.parametrize("state", list(BUST_AFTER))
def test_bust(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        ctx.lp.bust(ctx.child, ctx.f1)
        m = await one(ctx.h, mark, "bust")
        status, cum, leaves = BUST_AFTER[state]
        fields(m, t150="H", t39=status, t19=ctx.f1_report, t32=40, t31="100.01", t14=cum, t151=leaves)
        assert m[6] == (b"0" if cum == 0 else b"100.03")
        if state == FILLED:  # the busted quantity is worked again
            again = await ctx.h.wait_child("LP_A", 2)
            assert again.qty == 40

    run(run_row(tmp_path, state, EV_BUST, body))


CORRECT_AFTER = {  # state -> OrdStatus, CumQty, LeavesQty after 40 @ 100.01 becomes 30 @ 100.00
    PF: ("1", 30, 70),
    PC: ("6", 30, 70),
    PR: ("E", 30, 70),
    FILLED: ("1", 90, 10),
    CANCELED: ("4", 30, 0),
    EXPIRED: ("C", 30, 0),
}


@pytest.mark.parametrize("state", list(CORRECT_AFTER))
def test_correct(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        ctx.lp.correct(ctx.child, ctx.f1, 30, "100.00")
        m = await one(ctx.h, mark, "correction")
        status, cum, leaves = CORRECT_AFTER[state]
        fields(m, t150="G", t39=status, t19=ctx.f1_report, t32=30, t31="100.00", t14=cum, t151=leaves)
        fills = [(30, "100.00"), (60, "100.03")] if state == FILLED else [(30, "100.00")]
        assert Decimal(m[6].decode()) == avg(*fills)
        if state == FILLED:  # the 10 no longer filled are worked again
            again = await ctx.h.wait_child("LP_A", 2)
            assert again.qty == 10

    run(run_row(tmp_path, state, EV_CORRECT, body))


# --- requests from the OMS -----------------------------------------------------------------------

TOO_LATE = {FILLED: "2", CANCELED: "4", EXPIRED: "C"}
PENDING = {PC: "6", PR: "E"}


@pytest.mark.parametrize("state", REACHABLE)
def test_cancel_request(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        ctx.h.oms.cancel("P-X", ctx.cl)
        m = await one(ctx.h, mark, "answer to the cancel")
        if state in (NEW, PF):
            cum = 0 if state == NEW else 40
            fields(m, t35="8", t150="6", t39="6", t11="P-X", t41="P", t14=cum, t151=100 - cum)
            assert ctx.lp.cancel_requests == []  # the IOC child ends by itself
        elif state in PENDING:
            fields(m, t35="9", t11="P-X", t41="P", t39=PENDING[state], t434="1", t102="3")
            assert b"already pending" in m[58]
        else:
            fields(m, t35="9", t11="P-X", t41=ctx.cl, t39=TOO_LATE[state], t434="1", t102="0")
            assert m[58].startswith(b"too late")

    run(run_row(tmp_path, state, EV_CANCEL_REQUEST, body))


@pytest.mark.parametrize("state", REACHABLE)
def test_replace_request(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        ctx.h.oms.replace("P-X", ctx.cl, 150, "100.06")
        m = await one(ctx.h, mark, "answer to the replace")
        if state in (NEW, PF):
            fields(m, t35="8", t150="E", t39="E", t11="P-X", t41="P", t38=100)
        elif state in PENDING:
            fields(m, t35="9", t11="P-X", t39=PENDING[state], t434="2", t102="3")
        else:
            fields(m, t35="9", t11="P-X", t41=ctx.cl, t39=TOO_LATE[state], t434="2", t102="0")
            assert m[58].startswith(b"too late")

    run(run_row(tmp_path, state, EV_REPLACE_REQUEST, body))


STATUS = {  # state -> OrdStatus, CumQty, LeavesQty
    NEW: ("0", 0, 100),
    PF: ("1", 40, 60),
    PC: ("6", 40, 60),
    PR: ("E", 40, 60),
    FILLED: ("2", 100, 0),
    CANCELED: ("4", 40, 0),
    EXPIRED: ("C", 40, 0),
}


@pytest.mark.parametrize("state", REACHABLE)
def test_status_request(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        m = await ctx.h.oms.barrier(ctx.cl)
        status, cum, leaves = STATUS[state]
        order_id = ctx.h.parent("P").order_id
        fields(m, t150="I", t39=status, t11=ctx.cl, t14=cum, t151=leaves, t38=100, t37=order_id)

    run(run_row(tmp_path, state, EV_STATUS_REQUEST, body))


# --- end of day and the kill switch --------------------------------------------------------------


@pytest.mark.parametrize("state", REACHABLE)
def test_end_of_day(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        h = ctx.h
        end_of_day(h.gw)
        if state in TOO_LATE:
            await nothing_after(h, mark, ctx.cl)
            return
        cum = 0 if state == NEW else 40
        msgs = await h.oms.wait_since(mark, 2 if state in PENDING else 1, "expiry")
        fields(msgs[0], t150="C", t39="C", t14=cum, t151=0, t58="end of day")
        if state in PENDING:  # the pending request is answered: too late, the order expired
            cl, response_to = ("P-C", "1") if state == PC else ("P-R", "2")
            fields(msgs[1], t35="9", t11=cl, t41="P", t39="C", t434=response_to, t102="0")
        assert h.parent("P").state == EXPIRED

    run(run_row(tmp_path, state, EV_END_OF_DAY, body))


@pytest.mark.parametrize("state", REACHABLE)
def test_kill_switch(tmp_path: Path, state: str) -> None:
    async def body(ctx: Ctx, mark: int) -> None:
        h = ctx.h
        h.gw.kill(True, "test")
        if state in (NEW, PF):
            m = await one(h, mark, "pending cancel")
            fields(m, t150="6", t39="6", t11="P", t14=0 if state == NEW else 40, t58="kill switch: test")
        elif state == PR:
            rej, m = await h.oms.wait_since(mark, 2, "replace abandoned, pending cancel")
            fields(rej, t35="9", t11="P-R", t41="P", t434="2", t39="6")
            assert rej[58] == b"replace abandoned: kill switch: test"
            fields(m, t150="6", t39="6", t14=40)
        else:
            await nothing_after(h, mark, ctx.cl)
        # new orders are refused while it is engaged
        mark = h.oms.mark()
        h.oms.new("K1", 10, "100.05")
        m = await one(h, mark, "reject")
        fields(m, t150="8", t39="8", t11="K1", t103="3", t14=0, t151=0)
        assert m[58] == b"kill switch engaged for all sessions and LPs: test"
        if state in (NEW, PF, PR):  # the IOC child ends; the order is canceled, saying why
            mark = h.oms.mark()
            ctx.lp.cancel(ctx.child)
            m = await one(h, mark, "cancel")
            fields(m, t150="4", t39="4", t11="P", t151=0, t58="kill switch: test")

    run(run_row(tmp_path, state, EV_KILL, body))


# --- states no event leads to, forced in the book ------------------------------------------------


@pytest.mark.parametrize(("state", "event"), FORCED)
def test_forced_state(tmp_path: Path, state: str, event: str) -> None:
    async def main() -> None:
        async with Harness(tmp_path) as h:
            oms, lp = h.oms, h.lp("LP_A")
            if state == REJECTED:
                # P is booked and both LPs refuse it: a Day order with nothing working
                h.lp("LP_A").auto_ack = h.lp("LP_B").auto_ack = False
                oms.new("P", 100, "100.05", tif="0")
                h.lp("LP_A").reject(await h.wait_child("LP_A", 1))
                h.lp("LP_B").reject(await h.wait_child("LP_B", 1))
                await wait_for(lambda: h.parent("P").working_qty == 0, 5, "children refused")
                p = h.parent("P")
                p.state = REJECTED  # what a refused order would be, were it booked
                h.gw.book.open_parents.pop(p.order_id)
                ctx = None
                expect = ("8", 0, 0)
            else:
                ctx = await reach(h, PF)
                p = h.parent("P")
                out: list[Out] = []
                mark = oms.mark()
                h.gw.book._finish(p, DONE_FOR_DAY, time.time(), out)
                h.gw.dispatch(out, time.time())
                fields(await one(h, mark, "done for day"), t150="3", t39="3", t14=40, t151=0)
                expect = ("3", 40, 0)
            rows = len(h.rows)
            mark = oms.mark()
            status, cum, leaves = expect
            if event == EV_FILL:
                assert ctx is not None
                lp.fill(ctx.child, 20, "100.02")
                m = await one(h, mark, "late fill")
                fields(m, t150="F", t39=status, t14=60, t151=0, t32=20)
            elif event == EV_CHILD_DONE:
                assert ctx is not None
                lp.cancel(ctx.child)
                await h.wait_row(state, event, rows)
                await nothing_after(h, mark, "P")
            elif event == EV_BUST:
                assert ctx is not None
                lp.bust(ctx.child, ctx.f1)
                fields(await one(h, mark, "bust"), t150="H", t39=status, t14=0, t151=0, t19=ctx.f1_report)
            elif event == EV_CORRECT:
                assert ctx is not None
                lp.correct(ctx.child, ctx.f1, 30, "100.00")
                fields(await one(h, mark, "correction"), t150="G", t39=status, t14=30, t151=0)
            elif event == EV_CANCEL_REQUEST:
                oms.cancel("P-X", "P")
                fields(await one(h, mark, "cancel reject"), t35="9", t39=status, t434="1", t102="0")
            elif event == EV_REPLACE_REQUEST:
                oms.replace("P-X", "P", 150, "100.06")
                fields(await one(h, mark, "cancel reject"), t35="9", t39=status, t434="2", t102="0")
            elif event == EV_STATUS_REQUEST:
                oms.status("P")
                (m,) = await h.oms.wait_since(mark, 1, "status", status=True)
                fields(m, t150="I", t39=status, t14=cum, t151=leaves)
            elif event == EV_END_OF_DAY:
                end_of_day(h.gw)
                await nothing_after(h, mark, "P")
            else:
                h.gw.kill(True, "test")
                await nothing_after(h, mark, "P")
            await applied(h, state, event, rows)
            await h.drain()
            # the OMS never heard of the forced REJECTED: its checker sees the status disagree
            h.verify(allow=("status_report",) if state == REJECTED else ())

    run(main())


# --- an LP that goes away with a child working ---------------------------------------------------


def test_lp_outage_children_unknown_until_the_lp_answers_a_status_request(tmp_path: Path) -> None:
    """LP_A drops with a child working: its fate is unknown, so its quantity is not routed
    elsewhere and the parent's quantities stay what is known; back, LP_A is asked with an
    OrderStatusRequest and what was missed (a fill while away) is reported to the OMS."""

    async def main() -> None:
        async with Harness(tmp_path) as h:
            oms, lp_a, lp_b = h.oms, h.lp("LP_A"), h.lp("LP_B")
            ctx = await reach(h, PF)
            await lp_a.stop()
            await wait_for(lambda: not h.gw.available("LP_A"), 5, "LP_A gone")
            p = h.parent("P")
            (child,) = p.children
            assert child.state == "unknown"
            assert (p.state, p.cum_qty, p.working_qty, p.available_qty) == (PF, 40, 60, 0)
            p.check()
            fields(await oms.barrier("P"), t150="I", t39="1", t14=40, t151=60)
            await asyncio.sleep(2.2)  # the idle re-routing timer runs twice: nothing moves
            assert lp_b.orders == [] and p.working_qty == 60
            mark = oms.mark()
            oms.cancel("P-C", "P")
            fields(await one(h, mark, "pending cancel"), t150="6", t39="6", t11="P-C", t14=40, t151=60)
            # while away, LP_A filled 30 more at 100.02 and ended the IOC child
            o = ctx.child
            o.cum, o.notional, o.status = 70, o.notional + 30 * Decimal("100.02"), b"4"
            mark = oms.mark()
            await lp_a.start()
            fill, done = await oms.wait_since(mark, 2, "reconciled fill and cancel", timeout=8)
            (question,) = lp_a.status_requests
            assert question[11] == child.child_id
            fields(fill, t150="F", t39="6", t32=30, t31="100.02", t14=70, t151=30)
            assert Decimal(fill[6].decode()) == avg((40, "100.01"), (30, "100.02"))
            fields(done, t150="4", t39="4", t11="P-C", t41="P", t14=70, t151=0)
            assert lp_b.orders == [] and len(lp_a.orders) == 1  # nothing was routed twice
            await h.drain()
            h.verify()

    run(main())


def test_lp_outage_with_a_resting_child_and_a_cancel_asked_meanwhile(tmp_path: Path) -> None:
    """A Day child rests at LP_A when LP_A drops; the OMS cancels meanwhile. Back, LP_A says
    the child still works: the gateway must now ask LP_A to cancel it, and the parent is
    canceled when LP_A confirms."""

    async def main() -> None:
        async with Harness(tmp_path, day=True) as h:
            oms, lp_a = h.oms, h.lp("LP_A")
            oms.new("P", 100, "100.05", tif="0")
            child = await h.wait_child("LP_A", 1)
            assert child.tif == b"0"
            mark = oms.mark()
            lp_a.fill(child, 40, "100.01")
            await oms.wait_since(mark, 1, "fill")
            await lp_a.stop()
            await wait_for(lambda: not h.gw.available("LP_A"), 5, "LP_A gone")
            mark = oms.mark()
            oms.cancel("P-C", "P")
            fields(await one(h, mark, "pending cancel"), t150="6", t39="6", t14=40, t151=60)
            assert lp_a.cancel_requests == []
            await lp_a.start()
            await wait_for(lambda: len(lp_a.status_requests) == 1, 8, "status request")
            await wait_for(lambda: len(lp_a.cancel_requests) == 1, 5, "cancel request after the answer")
            (request,) = lp_a.cancel_requests
            assert request[41] == child.cl
            mark = oms.mark()
            lp_a.cancel(child, request=request)
            fields(await one(h, mark, "canceled"), t150="4", t39="4", t11="P-C", t41="P", t14=40, t151=0)
            await h.drain()
            h.verify()

    run(main())


def test_lp_outage_with_a_restatement_missed_meanwhile(tmp_path: Path) -> None:
    """While LP_A was away it cut the resting child's leaves (a restatement the gateway
    never got): the status answer's LeavesQty tells, and the difference is routed again."""

    async def main() -> None:
        async with Harness(tmp_path, day=True) as h:
            oms, lp_a = h.oms, h.lp("LP_A")
            oms.new("P", 100, "100.05", tif="0")
            child = await h.wait_child("LP_A", 1)
            await wait_for(lambda: h.parent("P").children[0].state == "new", 5, "child ack")
            await lp_a.stop()
            await wait_for(lambda: not h.gw.available("LP_A"), 5, "LP_A gone")
            child.qty = 60  # restated to 60 while away
            mark = oms.mark()
            await lp_a.start()
            again = await h.wait_child("LP_A", 2, timeout=8)
            assert again.qty == 40 and again.tif == b"0"
            p = h.parent("P")
            assert [c.qty for c in p.children] == [60, 40] and p.working_qty == 100
            await h.oms.barrier("P")
            assert h.oms.since(mark) == []  # the OMS hears nothing of it
            await h.drain()
            h.verify()

    run(main())
