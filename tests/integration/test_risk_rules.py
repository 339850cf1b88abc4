"""Every pre-trade risk rule, configured through the gateway settings' [risk] table, over TCP.

A refused order reaches the OMS as an ExecutionReport 150=8 39=8 with OrdRejReason 3
(order exceeds limit; 1 for an unknown symbol) and a Text(58) that names the limit; an
order no LP may take under its per-LP limits is acknowledged and then canceled with a
Text(58) that says why. Each test also checks the rule is counted under its name, and
that an order within the limits goes through (the rule refuses what it should, no more).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from gateway.fix.codec import Message
from gateway.risk import RULES
from tests.integration.gwkit import Harness, fields, lp_sim_profile, run, wait_for

SCOPE = "session:OMS1"
COVERED: set[str] = set()  # rules a test below refuses an order with


async def answer(h: Harness, cl: str, n: int = 1) -> list[Message]:
    await wait_for(lambda: len(h.oms.of(cl)) >= n, 5, f"answer to {cl}")
    return h.oms.of(cl)


async def refused(h: Harness, cl: str, rule: str, text: str, *, reason: str = "3") -> None:
    """``cl`` was rejected at entry, by ``rule``, saying ``text``."""
    (m,) = await answer(h, cl)
    fields(m, t150="8", t39="8", t103=reason, t14=0, t151=0, t58=text)
    if rule != "unknown_symbol":
        assert h.gw.risk.rejections.get((rule, SCOPE), 0) >= 1, h.gw.risk.rejections
    COVERED.add(rule)


async def accepted(h: Harness, cl: str) -> None:
    m = (await answer(h, cl))[0]
    fields(m, t150="0", t39="0")


# --- limits on orders from an OMS session --------------------------------------------------------


def test_max_order_qty_and_notional_per_session(tmp_path: Path) -> None:
    """[risk] holds defaults for every session; [risk.session.OMS1] overrides them by the
    session's Name."""
    risk = {"MaxOrderQty": 5000, "MaxOrderNotional": 100000, "session": {"OMS1": {"MaxOrderQty": 1000}}}

    async def main() -> None:
        async with Harness(tmp_path, risk=risk) as h:
            h.oms.new("Q1", 1001, "100.05", tif="3")
            await refused(
                h, "Q1", "max_order_qty", "order quantity 1,001 exceeds the limit 1,000 for session OMS1"
            )
            h.oms.new("N1", 1000, "100.01", tif="3")
            await refused(
                h,
                "N1",
                "max_order_notional",
                "order notional 100,010.00 exceeds the limit 100,000.00 for session OMS1",
            )
            h.oms.new("OK1", 999, "100.10", tif="3")
            await accepted(h, "OK1")
            await h.drain()
            h.verify()

    run(main())


def test_market_order_without_a_reference_price(tmp_path: Path) -> None:
    """A notional limit cannot be checked for a market order when no LP quotes the symbol."""

    async def main() -> None:
        async with Harness(tmp_path, risk={"MaxOrderNotional": 100000}) as h:
            h.oms.new("M1", 10, None, tif="3")
            await refused(
                h,
                "M1",
                "market_order_no_reference_price",
                "market order cannot be checked against the notional limit 100,000.00 for session OMS1: "
                "no mid price for ACME",
            )
            h.verify()

    run(main())


def test_price_collar_and_market_order_notional_against_the_lp_mid(tmp_path: Path) -> None:
    """With LP quotes (mid 100.00) a limit more than 5% through the mid is refused, and a
    market order's notional is taken at the mid."""
    risk = {"PriceCollarPct": 5, "MaxOrderNotional": 6000}

    async def main() -> None:
        async with Harness(tmp_path, manual=(), sim=lp_sim_profile(), risk=risk) as h:
            assert h.gw.mid_price("ACME", time.time()) == 100.0
            h.oms.new("C1", 10, "105.01", tif="3")
            await refused(
                h,
                "C1",
                "price_collar",
                "limit price 105.01 is 5.01% away from the mid 100.00; the collar is 5.00% for session OMS1",
            )
            h.oms.new("C2", 10, "94.99", side="2", tif="3")
            await refused(
                h,
                "C2",
                "price_collar",
                "limit price 94.99 is 5.01% away from the mid 100.00; the collar is 5.00% for session OMS1",
            )
            h.oms.new("C3", 10, "104.99", tif="3")  # inside the collar: trades at the ask
            h.oms.new("C4", 10, "90.00", tif="0")  # a passive buy far below is not collared
            h.oms.new("M1", 61, None, tif="3")
            await refused(
                h,
                "M1",
                "max_order_notional",
                "market order notional 6,100.00 at the mid 100.00 exceeds the limit 6,000.00 "
                "for session OMS1",
            )
            h.oms.new("M2", 59, None, tif="3")
            for cl in ("C3", "M2"):
                m = (await answer(h, cl, 2))[1]
                fields(m, t150="F", t39="2", t31="100.01")
            await accepted(h, "C4")
            await h.drain()
            h.verify()

    run(main())


def test_throttle(tmp_path: Path) -> None:
    """One message a second with a burst of 2: the third order in a row is refused, and so
    is a cancel beyond the rate (an OrderCancelReject saying why)."""
    risk = {"MaxMessagesPerSecond": 1, "ThrottleBurst": 2}

    async def main() -> None:
        async with Harness(tmp_path, risk=risk) as h:
            for cl in ("T1", "T2", "T3"):
                h.oms.new(cl, 10, "100.05", tif="0")
            await accepted(h, "T1")
            await accepted(h, "T2")
            text = "message rate exceeds the limit 1 per second (burst 2) for session OMS1"
            await refused(h, "T3", "throttle", text)
            h.oms.cancel("T1-C", "T1")
            (m,) = await answer(h, "T1-C")
            fields(m, t35="9", t11="T1-C", t41="T1", t434="1", t58=text)
            assert h.gw.risk.rejections[("throttle", SCOPE)] == 2
            await asyncio.sleep(1.1)  # a token again
            await h.drain()
            h.verify()

    run(main())


def test_unknown_symbol(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path) as h:
            h.oms.new("U1", 10, "100.05", tif="3", symbol="FOO")
            await refused(h, "U1", "unknown_symbol", "unknown symbol FOO", reason="1")
            assert h.gw.oms.rejections["unknown_symbol"] == 1
            h.verify()

    run(main())


# --- limits on child orders to an LP -------------------------------------------------------------


def test_lp_max_order_qty_and_notional(tmp_path: Path) -> None:
    """LP_A takes at most 500; every LP at most 60,000.00 a child: an order of 600 goes to
    LP_B, one of 700 nowhere (canceled, saying why)."""
    risk = {"lp": {"MaxOrderNotional": 60000, "LP_A": {"MaxOrderQty": 500}}}

    async def main() -> None:
        async with Harness(tmp_path, risk=risk) as h:
            h.oms.new("L1", 600, "100.00", tif="3")
            child = await h.wait_child("LP_B", 1)
            assert child.qty == 600 and h.lp("LP_A").orders == []
            assert h.gw.risk.rejections[("lp_max_order_qty", "lp:LP_A")] == 1
            h.lp("LP_B").fill(child, 600, "100.00")
            h.oms.new("L2", 700, "100.00", tif="3")
            ack, cancel = await answer(h, "L2", 2)
            fields(ack, t150="0", t39="0")
            fields(cancel, t150="4", t39="4", t14=0, t151=0)
            text = cancel[58].decode()
            assert "child order quantity 700 exceeds the limit 500 for LP LP_A" in text, text
            assert "child order notional 70,000.00 exceeds the limit 60,000.00 for LP LP_B" in text, text
            assert h.gw.risk.rejections[("lp_max_order_notional", "lp:LP_B")] == 1
            COVERED.update({"lp_max_order_qty", "lp_max_order_notional"})
            await h.drain()
            h.verify()

    run(main())


def test_lp_open_notional(tmp_path: Path) -> None:
    """At most 15,000.00 open at each LP: children that have not ended count; when one ends
    its notional is released and the LP may be used again."""
    risk = {"lp": {"MaxOpenNotional": 15000}}

    async def main() -> None:
        async with Harness(tmp_path, risk=risk) as h:
            lp_a, lp_b = h.lp("LP_A"), h.lp("LP_B")
            h.oms.new("O1", 100, "100.00", tif="3")
            first = await h.wait_child("LP_A", 1)  # LP_A holds it: 10,000.00 open
            h.oms.new("O2", 100, "100.00", tif="3")
            await h.wait_child("LP_B", 1)  # LP_A would be over: LP_B
            h.oms.new("O3", 100, "100.00", tif="3")
            ack, cancel = await answer(h, "O3", 2)
            fields(ack, t150="0", t39="0")
            fields(cancel, t150="4", t39="4", t14=0, t151=0)
            text = cancel[58].decode()
            assert (
                "open notional at LP LP_A would be 20,000.00 (open 10,000.00 + this order 10,000.00); "
                "the limit is 15,000.00" in text
            ), text
            assert "open notional at LP LP_B would be 20,000.00" in text, text
            assert h.gw.risk.open_notional("LP_A") == 10000
            lp_a.fill(first, 100, "100.00")  # O1 is done: LP_A's notional is released
            await wait_for(lambda: h.gw.risk.open_notional("LP_A") == 0, 5, "release")
            h.oms.new("O4", 100, "100.00", tif="3")
            again = await h.wait_child("LP_A", 2)
            assert again.qty == 100 and len(lp_b.orders) == 1
            COVERED.add("lp_open_notional")
            await h.drain()
            assert h.gw.risk.open_notional("LP_A") == h.gw.risk.open_notional("LP_B") == 0
            h.verify()

    run(main())


# --- the kill switch -----------------------------------------------------------------------------


def test_kill_switch_cancels_working_orders_and_refuses_new_ones(tmp_path: Path) -> None:
    """Day children rest at the simulated LPs; the kill switch asks the LPs to cancel them,
    cancels the parents saying why, and refuses new orders until it is released."""

    async def main() -> None:
        sim = lp_sim_profile(fill_probability=0.0)  # marketable Day children rest
        async with Harness(tmp_path, manual=(), sim=sim, day=True) as h:
            for cl in ("K1", "K2"):
                h.oms.new(cl, 100, "100.05", tif="0")
            await wait_for(lambda: h.gw.risk.open_notional("LP_A") == 20010, 5, "children resting")
            h.oms.new("K3", 100, "100.05", tif="3")  # an IOC order: LP_A cancels it at once
            await wait_for(lambda: len(h.oms.of("K3")) == 2, 5, "K3 done")
            mark = h.oms.mark()
            h.gw.kill(True, "desk closed")
            msgs = await h.oms.wait_since(mark, 4, "pending cancels and cancels")
            for cl in ("K1", "K2"):
                pending, done = [m for m in msgs if m[11] == cl.encode()]
                fields(pending, t150="6", t39="6", t58="kill switch: desk closed")
                fields(done, t150="4", t39="4", t14=0, t151=0, t58="kill switch: desk closed")
            assert h.sim is not None and h.sim.lp("LP_A").stats.cancels >= 3
            h.oms.new("K4", 10, "100.05", tif="3")
            await refused(h, "K4", "kill_switch", "kill switch engaged for all sessions and LPs: desk closed")
            assert not h.gw.available("LP_A")
            h.gw.kill(False, "released")
            h.sim.lp("LP_A").reconfigure(fill_probability=1.0)
            h.oms.new("K5", 10, "100.05", tif="3")
            m = (await answer(h, "K5", 2))[1]
            fields(m, t150="F", t39="2")
            await h.drain()
            assert h.gw.risk.open_notional("LP_A") == 0
            h.verify()

    run(main())


def test_kill_switch_for_one_lp(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path) as h:
            h.gw.kill(True, "LP_A misbehaves", ("lp", "LP_A"))
            h.oms.new("A1", 10, "100.05", tif="3")
            child = await h.wait_child("LP_B", 1)
            assert h.lp("LP_A").orders == []
            h.lp("LP_B").fill(child, 10, "100.01")
            await answer(h, "A1", 2)
            await h.drain()
            h.verify()

    run(main())


def test_kill_switch_for_one_session(tmp_path: Path) -> None:
    """A kill switch for OMS1, named as in the settings: its working order is canceled and
    its new orders are refused, saying so."""

    async def main() -> None:
        async with Harness(tmp_path) as h:
            h.oms.new("S1", 10, "100.05", tif="0")
            await h.wait_child("LP_A", 1)
            mark = h.oms.mark()
            h.gw.kill(True, "desk review", ("session", "OMS1"))
            fields((await h.oms.wait_since(mark, 1, "pending cancel"))[0], t150="6", t11="S1")
            h.oms.new("S2", 10, "100.05", tif="3")
            (m,) = await answer(h, "S2")
            fields(m, t150="8", t103="3", t58="kill switch engaged for session OMS1: desk review")
            assert h.gw.risk.rejections[("kill_switch", SCOPE)] == 1
            await h.drain()
            h.verify()

    run(main())


def test_every_rule_is_covered() -> None:
    """Runs last in this module: each rule of gateway.risk refused an order above."""
    if len(COVERED) < 3:
        pytest.skip("run with the rest of the module")
    assert set(RULES) == COVERED, set(RULES) - COVERED
