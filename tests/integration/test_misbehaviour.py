"""Every misbehaviour switch of the LP simulator, against the gateway over TCP.

LP_A and LP_B are LpSimulator LPs quoting ACME around a still mid of 100.00 (bid 99.99,
ask 100.01); one switch at a time is set to probability 1.0 on LP_A (``reconfigure`` while
running). A scripted OMS checks every report with the ReportChecker. After each test: the
gateway is still up and still trades, the checker finds nothing wrong, the order book's
invariants hold, and what the gateway believes each child did is what the LP did.

Switches that act on resting orders (late fill after a cancel, unsolicited cancel,
restatement) need Day children resting at the LP: the static router sends IOC children
only, so those tests plug ``day_children`` into the book's planner seam, and the LPs do not
trade (``fill_probability`` 0), so a marketable Day child rests.
"""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.fix.codec import Message
from simulators.lp_profile import Misbehaviour
from simulators.oms import run_oms
from tests.integration.gwkit import Harness, LpOrder, fields, lp_sim_profile, run, sim_agrees, wait_for

MARKETABLE = "100.05"  # a buy at 100.05 trades at LP_A's ask, 100.01
THROUGH = "99.90"  # a buy at 99.90 is below every ask: the router sends it nowhere


def misbehave(h: Harness, lp: str = "LP_A", **switches: Any) -> None:
    assert h.sim is not None
    h.sim.lp(lp).reconfigure(misbehaviour=Misbehaviour(**switches))


async def finish(h: Harness, *, anomalies: int = 0) -> None:
    """Every LP behaves again; the gateway still trades; everything ends cleanly."""
    assert h.sim is not None
    for name in h.sim.lps:
        h.sim.lp(name).reconfigure(misbehaviour=Misbehaviour(), fill_probability=1.0)
    await wait_for(lambda: all(h.gw.available(lp) for lp in h.sim.lps), 8, "LPs logged on")  # type: ignore[union-attr]
    mark = h.oms.mark()
    h.oms.new("LAST", 10, MARKETABLE, tif="3")
    await wait_for(lambda: any(m.get(39) == b"2" for m in h.oms.since(mark)), 5, "a last order filled")
    await h.drain()
    h.verify(anomalies=anomalies)
    sim_agrees(h.gw, h.sim)


async def resting(h: Harness, cl: str, n: int = 1) -> None:
    """The parent's ``n`` children rest at their LPs."""
    assert h.sim is not None
    sim = h.sim

    def rest() -> bool:
        if not any(key[1] == cl.encode() for key in h.gw.book.by_cl_ord_id):
            return False
        children = h.parent(cl).children
        if len(children) < n:
            return False
        orders = [sim.lp(c.lp).order(c.child_id) for c in children[:n]]
        return all(o is not None and o.acked for o in orders)

    await wait_for(rest, 5, f"{n} resting children of {cl}")


async def reports(h: Harness, mark: int, n: int, what: str, timeout: float = 5.0) -> list[Message]:
    msgs = await h.oms.wait_since(mark, n, what, timeout)
    await asyncio.sleep(0.05)
    assert len(h.oms.since(mark)) == n, h.oms.since(mark)
    return msgs


# --- disconnect mid-order ------------------------------------------------------------------------


@pytest.mark.parametrize("filled", [True, False])
def test_disconnect_mid_order(tmp_path: Path, filled: bool) -> None:
    """LP_A hangs up as the child arrives, having filled it (or not). The child is unknown
    until LP_A is back and answers the status request; nothing is routed meanwhile."""

    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile()) as h:
            misbehave(h, disconnect_mid_order=1.0, disconnect_fill_probability=1.0 if filled else 0.0)
            mark = h.oms.mark()
            h.oms.new("P", 100, MARKETABLE, tif="3")
            await wait_for(lambda: not h.gw.available("LP_A"), 5, "LP_A hung up")
            misbehave(h)  # back to normal once reconnected
            p = h.parent("P")
            (child,) = p.children
            assert child.state == "unknown" and p.working_qty == 100 and p.cum_qty == 0
            msgs = await reports(h, mark, 2, "ack and the outcome", timeout=8)
            fields(msgs[0], t150="0", t39="0")
            fields(msgs[1], t150="F", t39="2", t32=100, t31="100.01", t14=100, t151=0)
            assert h.sim is not None and h.sim.lp("LP_A").stats.status_requests == 1
            if filled:
                assert [c.lp for c in p.children] == ["LP_A"]
            else:  # LP_A never traded: only then is the quantity routed again, to LP_B
                assert [c.lp for c in p.children] == ["LP_A", "LP_B"]
                assert child.state == "canceled" and child.cum_qty == 0
            await finish(h)

    run(main())


# --- late fills after a cancel -------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["fill_then_reject", "cancel_then_fill"])
def test_late_fill_after_cancel(tmp_path: Path, variant: str) -> None:
    """A Day child rests at LP_A; the OMS cancels; LP_A fills it anyway, either before
    refusing the cancel (too late) or after confirming it."""

    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile(fill_probability=0.0), day=True) as h:
            misbehave(h, late_fill_after_cancel=1.0, late_fill_variant=variant, late_fill_delay_ms=20)
            h.oms.new("P", 100, MARKETABLE, tif="0")
            await resting(h, "P")
            mark = h.oms.mark()
            h.oms.cancel("P-C", "P")
            if variant == "fill_then_reject":
                pending, fill, reject = await reports(h, mark, 3, "pending cancel, fill, cancel reject")
                fields(pending, t150="6", t39="6", t11="P-C")
                fields(fill, t150="F", t39="2", t32=100, t31="100.01", t14=100, t151=0)
                fields(reject, t35="9", t11="P-C", t41="P", t39="2", t434="1", t102="0")
                assert h.oms.checker.late_fill_count == 0
            else:
                pending, canceled, late = await reports(h, mark, 3, "pending cancel, cancel, late fill")
                fields(pending, t150="6", t39="6", t11="P-C")
                fields(canceled, t150="4", t39="4", t11="P-C", t41="P", t14=0, t151=0)
                fields(late, t150="F", t39="2", t32=100, t31="100.01", t14=100, t151=0)
                assert b"after the order was done" in late[58]
                assert h.oms.checker.late_fill_count == 1
            p = h.parent("P")
            assert p.state == "filled" and p.cum_qty == 100 and len(p.children) == 1
            await finish(h)

    run(main())


# --- busts and corrections -----------------------------------------------------------------------


@pytest.mark.parametrize("tif", ["3", "0"])
def test_bust(tmp_path: Path, tif: str) -> None:
    """LP_A busts its fill: the OMS gets a Trade Cancel naming its fill report and the
    quantities go back; an IOC order stays done, a Day order is worked again (at LP_B)."""

    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile()) as h:
            misbehave(h, bust=1.0, bust_delay_ms=30)
            mark = h.oms.mark()
            h.oms.new("P", 100, MARKETABLE, tif=tif)
            n = 3 if tif == "3" else 4
            msgs = await reports(h, mark, n, "ack, fill, bust (and the fill at LP_B)")
            fields(msgs[1], t150="F", t39="2", t32=100, t31="100.01", t14=100, t151=0)
            bust = msgs[2]
            fields(bust, t150="H", t19=msgs[1][17], t32=100, t31="100.01", t14=0, t6=0)
            if tif == "3":
                fields(bust, t39="4", t151=0)
            else:
                fields(bust, t39="0", t151=100)
                fields(msgs[3], t150="F", t39="2", t32=100, t31="100.01", t14=100, t151=0)
                assert [c.lp for c in h.parent("P").children] == ["LP_A", "LP_B"]
            assert h.sim is not None and h.sim.lp("LP_A").stats.busts == 1
            await finish(h)

    run(main())


def test_correction(tmp_path: Path) -> None:
    """LP_A corrects its fill's price by a tick in our favour: the OMS gets a Trade Correct
    naming its fill report, with the new price and AvgPx."""

    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile()) as h:
            misbehave(h, correction=1.0, correction_delay_ms=30)
            mark = h.oms.mark()
            h.oms.new("P", 100, MARKETABLE, tif="0")
            _, fill, correct = await reports(h, mark, 3, "ack, fill, correction")
            fields(fill, t150="F", t39="2", t31="100.01", t14=100)
            fields(correct, t150="G", t39="2", t19=fill[17], t32=100, t31="100.00", t14=100, t151=0, t6="100")
            assert h.parent("P").notional == 100 * 10000
            await finish(h)

    run(main())


# --- an LP acting on its own: unsolicited cancel, restatement ------------------------------------


def test_unsolicited_cancel_reroutes_the_leaves(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile(fill_probability=0.0), day=True) as h:
            misbehave(h, unsolicited_cancel=1.0, unsolicited_cancel_delay_ms=30)
            mark = h.oms.mark()
            h.oms.new("P", 100, MARKETABLE, tif="0")
            await resting(h, "P", 2)
            p = h.parent("P")
            first, second = p.children
            assert (first.lp, first.state, second.lp, second.qty) == ("LP_A", "canceled", "LP_B", 100)
            assert p.working_qty == 100 and p.state == "new"
            await h.oms.barrier("P")
            (ack,) = h.oms.since(mark)  # the OMS hears of none of it
            fields(ack, t150="0", t39="0")
            await finish(h)

    run(main())


def test_restatement_reroutes_the_difference(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile(fill_probability=0.0), day=True) as h:
            misbehave(h, restatement=1.0, restatement_delay_ms=30)
            mark = h.oms.mark()
            h.oms.new("P", 100, MARKETABLE, tif="0")
            assert h.sim is not None
            lp_a = h.sim.lp("LP_A")
            await wait_for(lambda: lp_a.stats.restatements == 1, 5, "restatement")
            misbehave(h)
            await resting(h, "P", 2)
            p = h.parent("P")
            first, second = p.children
            # LP_A cut the child's leaves to 50: the other 50 are routed again (LP_A is first)
            assert (first.qty, first.state, second.qty) == (50, "new", 50)
            assert p.working_qty == 100 and p.cum_qty == 0
            await h.oms.barrier("P")
            (ack,) = h.oms.since(mark)
            fields(ack, t150="0", t39="0")
            await finish(h)

    run(main())


# --- garbage on the wire -------------------------------------------------------------------------


def test_garbage_bytes_between_messages(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile()) as h:
            misbehave(h, garbage_bytes=1.0)
            misbehave(h, "LP_B", garbage_bytes=1.0)
            for i in range(20):
                h.oms.new(f"P{i}", 100 + i, MARKETABLE if i % 2 else THROUGH, tif="3" if i % 3 else "0")
            await wait_for(
                lambda: all(
                    o.reports and (o.terminal or o.tif == "0") for o in h.oms.checker.orders.values()
                ),
                5,
                "answers",
            )
            assert h.sim is not None and h.sim.lp("LP_A").stats.garbage >= 20
            assert h.gw.available("LP_A") and h.gw.available("LP_B")
            filled = [o for o in h.oms.checker.orders.values() if o.cum == o.qty]
            assert len(filled) == 10
            await finish(h)

    run(main())


# --- LPs misbehaving beyond the simulator's switches (hand-driven LPs) ---------------------------


def test_late_fill_that_would_overfill_is_refused(tmp_path: Path) -> None:
    """LP_A cancels its child, the quantity is filled at LP_B, then LP_A reports a fill of
    the canceled child: reporting it would overfill the order, so LP_A gets a DontKnowTrade
    and the OMS hears nothing of it."""

    async def main() -> None:
        async with Harness(tmp_path) as h:
            lp_a, lp_b = h.lp("LP_A"), h.lp("LP_B")
            h.oms.new("P", 100, "100.05", tif="0")
            first = await h.wait_child("LP_A", 1)
            lp_a.cancel(first)
            second = await h.wait_child("LP_B", 1)
            mark = h.oms.mark()
            lp_b.fill(second, 100, "100.02")
            await h.oms.wait_since(mark, 1, "fill")
            lp_a.fill(first, 100, "100.01")
            await wait_for(lambda: any(m.msg_type == b"Q" for m in lp_a.got), 5, "DontKnowTrade")
            (dk,) = [m for m in lp_a.got if m.msg_type == b"Q"]
            assert dk[127] == b"C" and dk[32] == b"100" and dk[17] == lp_a.orders[0].last_exec_id
            await h.oms.barrier("P")
            (fill,) = h.oms.since(mark)
            fields(fill, t150="F", t39="2", t14=100, t31="100.02")
            assert h.parent("P").cum_qty == 100
            await h.drain()
            h.verify(anomalies=1)

    run(main())


def test_repeated_exec_ids_and_busts_count_once(tmp_path: Path) -> None:
    """A fill sent twice with one ExecID is one fill; a fill busted twice is busted once;
    a fill for a ClOrdID the gateway never sent gets a DontKnowTrade."""

    async def main() -> None:
        async with Harness(tmp_path) as h:
            lp = h.lp("LP_A")
            h.oms.new("P", 100, "100.05", tif="0")
            child = await h.wait_child("LP_A", 1)
            mark = h.oms.mark()
            exec_id = lp.fill(child, 40, "100.01")
            lp.er(child, b"F", last=(40, Decimal("100.01")), exec_id=exec_id)  # the same again
            lp.bust(child, exec_id)
            child.fills[exec_id] = (40, Decimal("100.01"))  # and busted again
            lp.bust(child, exec_id)
            stranger = LpOrder(lp, b"NOT-OURS", b"ACME", b"1", 10, None, b"3", b"X1")
            lp.fill(stranger, 10, "100.00")
            await wait_for(lambda: any(m.msg_type == b"Q" for m in lp.got), 5, "DontKnowTrade")
            (dk,) = [m for m in lp.got if m.msg_type == b"Q"]
            assert dk[127] == b"D" and dk[37] == b"X1"
            await h.oms.barrier("P")
            fill, bust = h.oms.since(mark)
            fields(fill, t150="F", t39="1", t14=40, t151=60)
            fields(bust, t150="H", t39="0", t14=0, t151=100, t19=fill[17])
            p = h.parent("P")
            assert p.cum_qty == 0 and p.working_qty == 100
            assert h.gw.book.counters["duplicate_fills_ignored"] == 1
            await h.drain()
            h.verify(anomalies=1)  # the second bust

    run(main())


def test_ioc_order_corrected_below_its_quantity_stays_done(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path) as h:
            lp = h.lp("LP_A")
            h.oms.new("P", 100, "100.05", tif="3")
            child = await h.wait_child("LP_A", 1)
            mark = h.oms.mark()
            exec_id = lp.fill(child, 100, "100.01")
            lp.correct(child, exec_id, 90, "100.01")
            fill, correct = await h.oms.wait_since(mark, 2, "fill and correction")
            fields(fill, t150="F", t39="2", t14=100)
            fields(correct, t150="G", t39="4", t32=90, t14=90, t151=0, t19=fill[17])
            assert h.parent("P").state == "canceled" and not h.gw.book.open_parents
            await h.drain()
            h.verify()

    run(main())


# --- every switch at once, under load ------------------------------------------------------------


def test_every_switch_at_once_under_load(tmp_path: Path) -> None:
    """2,000 orders from the OMS simulator to the four LPs of config/lps.toml, every switch
    on at a modest rate, Day children resting: the checker finds nothing, the invariants held
    after every step, and only refused late fills (DontKnowTrade) are anomalies."""
    from tests.integration.test_load import INSTRUMENTS, load, oms_profile

    lps = load("lps.toml")
    lps["status_interval_s"] = 0
    switches = {
        "disconnect_mid_order": 0.001,
        "late_fill_after_cancel": 0.3,
        "bust": 0.02,
        "bust_delay_ms": 50,
        "correction": 0.02,
        "correction_delay_ms": 50,
        "unsolicited_cancel": 0.1,
        "unsolicited_cancel_delay_ms": 50,
        "restatement": 0.1,
        "restatement_delay_ms": 30,
        "garbage_bytes": 0.01,
    }
    lps["defaults"]["misbehaviour"].update(switches)
    router = {"Priority": ["LP_A", "LP_B", "LP_C", "LP_D"]}

    async def main() -> None:
        async with Harness(
            tmp_path, manual=(), sim=lps, scripted_oms=False, day=True, router=router, instrument=INSTRUMENTS
        ) as h:
            assert h.sim is not None
            sim = h.sim

            async def quiet() -> None:
                # before the OMS cancels what still works: no new misbehaviour, and the
                # busts, corrections and late fills already due have come
                for lp in sim.lps.values():
                    lp.reconfigure(misbehaviour=Misbehaviour())
                await asyncio.sleep(0.5)

            report = await run_oms(oms_profile(h.oms_port, 2000), before_final_cancel=quiet)
            await asyncio.sleep(0.2)
            assert report.ok and report.violation_count == 0, report.summary()
            assert report.count("no_report") == report.count("working") == 0, report.summary()
            stats = sim.stats()
            for switch in (
                "busts",
                "corrections",
                "late_fills",
                "unsolicited_cancels",
                "restatements",
                "garbage",
            ):
                assert sum(s[switch] for s in stats.values()) > 0, switch
            book = h.gw.book
            refused = book.counters.get("late_fills_refused", 0)
            # the only anomalies: late fills refused (they would overfill a parent whose
            # quantity was routed again), and busts or corrections of those
            dk = {m[1] for a in book.anomalies if (m := re.search(r"late fill (\S+) on .* refused", a))}
            for a in book.anomalies:
                m = re.search(r"(?:busted|corrected) unknown fill (\S+) on", a)
                assert "refused (DK)" in a or (m is not None and m[1] in dk), a
            assert not book.open_parents
            h.verify(anomalies=len(book.anomalies))
            sim_agrees(h.gw, sim, refused=refused)

    run(main())
