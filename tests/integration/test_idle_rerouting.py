"""Resting orders are routed again when something that could change the answer happens.

A DAY order the router cannot send now (its limit is through every LP's quote, no LP is up,
the LPs refused it) waits in the gateway with nothing working. It is routed again on a quote
that reaches its limit, a quote that ages out, an LP logging on or coming back (enabled, kill
switch released), and otherwise on a retry with a growing delay; never by a timer that
re-plans every open order every second. Children no LP has acknowledged are still asked
about with an OrderStatusRequest after [router] ChildTimeout. Over TCP, with hand-driven LPs
that stream quotes when the test says.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from gateway.app import GatewayApplication
from gateway.orders import ParentOrder
from tests.integration.gwkit import Harness, ManualLp, fields, run, wait_for


def snapshot(lp: ManualLp, bid: str, ask: str, symbol: str = "ACME") -> None:
    """A MarketDataSnapshotFullRefresh: the LP's top of book."""
    lp._send(
        b"262=MD\x0155=%s\x01268=2\x01269=0\x01270=%s\x01271=1000\x01269=1\x01270=%s\x01271=1000\x01"
        % (symbol.encode(), bid.encode(), ask.encode()),
        b"W",
    )


def offer(lp: ManualLp, ask: str, symbol: str = "ACME") -> None:
    """A MarketDataIncrementalRefresh moving the LP's offer."""
    lp._send(
        b"262=MD\x01268=1\x01279=1\x01269=1\x0155=%s\x01270=%s\x01271=1000\x01"
        % (symbol.encode(), ask.encode()),
        b"X",
    )


def count_plans(gw: GatewayApplication) -> list[int]:
    """Counts router.plan calls (the router's work, a Decision each)."""
    calls = [0]
    plan = gw.router.plan

    def counted(parent: ParentOrder, available: int, now: float) -> Any:
        calls[0] += 1
        return plan(parent, available, now)

    gw.router.plan = counted  # type: ignore[method-assign]
    return calls


async def quoted(h: Harness, lp: str, ask: int) -> None:
    await wait_for(
        lambda: (q := h.gw.marketdata.lp_quote(lp, "ACME", time.time())) is not None and q.ask == ask,
        5,
        f"{lp}'s offer at {ask}",
    )


def test_a_resting_order_routes_when_the_quote_moves_to_its_limit(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path, manual=("LP_A",)) as h:
            lp = h.lp("LP_A")
            snapshot(lp, "99.90", "100.10")
            await quoted(h, "LP_A", 10010)
            plans = count_plans(h.gw)
            mark = h.oms.mark()
            h.oms.new("P", 100, "100.05", tif="0")
            (ack,) = await h.oms.wait_since(mark, 1, "ack")
            fields(ack, t150="0", t39="0")
            p = h.parent("P")
            assert plans[0] == 1 and p.working_qty == 0 and h.gw.book.idle_count() == 1
            await asyncio.sleep(2.3)  # the timer runs twice: nothing re-plans a resting order
            assert plans[0] == 1 and lp.orders == []
            offer(lp, "100.07")  # closer, not there yet
            await quoted(h, "LP_A", 10007)
            await asyncio.sleep(0.1)
            assert plans[0] == 1 and lp.orders == []
            h.gw._reroute = lambda now: []  # type: ignore[method-assign]  # the quote alone does it
            offer(lp, "100.05")  # reaches the limit: routed at once
            child = await h.wait_child("LP_A", 1, timeout=0.9)
            assert child.price is not None and str(child.price) == "100.05" and child.qty == 100
            assert plans[0] == 2
            mark = h.oms.mark()
            lp.fill(child, 100, "100.05")
            (fill,) = await h.oms.wait_since(mark, 1, "fill")
            fields(fill, t150="F", t39="2", t14=100, t151=0)
            assert h.gw.book.idle_count() == 0
            await h.drain()
            h.verify()

    run(main())


def test_an_order_waits_for_the_offer_to_come_back_after_an_lp_left(tmp_path: Path) -> None:
    """An order the best offer reached routes there; when that LP leaves, the rest waits for
    a quote that reaches it again, without a re-plan each second."""

    async def main() -> None:
        async with Harness(tmp_path, manual=("LP_A", "LP_B")) as h:
            a, b = h.lp("LP_A"), h.lp("LP_B")
            snapshot(a, "99.90", "100.10")
            snapshot(b, "99.90", "100.20")
            await quoted(h, "LP_B", 10020)
            await quoted(h, "LP_A", 10010)
            plans = count_plans(h.gw)
            h.oms.new("S", 100, "100.05", tif="0")
            await wait_for(lambda: h.gw.book.idle_count() == 1, 5, "resting")
            await a.stop()
            await wait_for(lambda: not h.gw.available("LP_A"), 5, "LP_A gone")
            await asyncio.sleep(2.2)
            assert plans[0] == 1 and b.orders == []
            offer(b, "100.04")
            child = await h.wait_child("LP_B", 1, timeout=0.9)
            assert str(child.price) == "100.05"
            b.fill(child, 100, "100.04")
            await wait_for(lambda: h.parent("S").state == "filled", 5, "filled")
            await h.drain()
            h.verify()

    run(main())


def test_a_quote_that_ages_out_lets_the_order_go(tmp_path: Path) -> None:
    """As the router sees it, an LP without a live quote may take any limit."""

    async def main() -> None:
        async with Harness(tmp_path, manual=("LP_A",), marketdata={"MaxQuoteAge": 1.5}) as h:
            lp = h.lp("LP_A")
            snapshot(lp, "99.90", "100.10")
            await quoted(h, "LP_A", 10010)
            h.oms.new("P", 100, "100.05", tif="0")
            await wait_for(lambda: h.gw.book.idle_count() == 1, 5, "resting")
            assert lp.orders == []
            child = await h.wait_child("LP_A", 1, timeout=4)  # the timer sees the quote gone
            lp.fill(child, 100, "100.05")
            await wait_for(lambda: h.parent("P").state == "filled", 5, "filled")
            await h.drain()
            h.verify()

    run(main())


def test_an_order_idle_for_want_of_an_lp_routes_when_one_logs_on(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path, manual=("LP_A",)) as h:
            lp = h.lp("LP_A")
            await lp.stop()
            await wait_for(lambda: not h.gw.available("LP_A"), 5, "LP_A gone")
            plans = count_plans(h.gw)
            mark = h.oms.mark()
            h.oms.new("P", 100, "100.05", tif="0")
            (ack,) = await h.oms.wait_since(mark, 1, "ack")
            fields(ack, t150="0", t39="0")
            await asyncio.sleep(2.2)
            assert plans[0] == 1  # no LP: nothing to retry until one is back
            await lp.start()
            await wait_for(lambda: h.gw.available("LP_A"), 8, "LP_A back")
            child = await h.wait_child("LP_A", 1, timeout=0.9)  # at its logon, not a tick later
            mark = h.oms.mark()
            lp.fill(child, 100, "100.05")
            (fill,) = await h.oms.wait_since(mark, 1, "fill")
            fields(fill, t150="F", t39="2")
            await h.drain()
            h.verify()

    run(main())


def test_an_lp_enabled_again_or_a_kill_switch_released_routes_what_waited(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path, manual=("LP_A",)) as h:
            lp = h.lp("LP_A")
            h.gw.disabled.add("LP_A")  # as the console does
            h.oms.new("P1", 100, "100.05", tif="0")
            await wait_for(lambda: h.gw.book.idle_count() == 1, 5, "resting")
            h.gw.disabled.discard("LP_A")
            c1 = await h.wait_child("LP_A", 1, timeout=2.5)  # noticed by the timer
            lp.fill(c1, 100, "100.05")
            h.gw.kill(True, "LP_A paused", ("lp", "LP_A"))
            h.oms.new("P2", 100, "100.05", tif="0")
            await wait_for(lambda: h.gw.book.idle_count() == 1, 5, "resting")
            await asyncio.sleep(1.2)
            assert len(lp.orders) == 1
            h.gw.kill(False, "released", ("lp", "LP_A"))
            c2 = await h.wait_child("LP_A", 2, timeout=0.5)  # at once
            lp.fill(c2, 100, "100.05")
            await wait_for(lambda: h.parent("P2").state == "filled", 5, "filled")
            await h.drain()
            h.verify()

    run(main())


def test_an_order_every_lp_refused_is_retried_later(tmp_path: Path) -> None:
    async def main() -> None:
        async with Harness(tmp_path, manual=("LP_A",)) as h:
            lp = h.lp("LP_A")
            h.oms.new("P", 100, "100.05", tif="0")
            first = await h.wait_child("LP_A", 1)
            t0 = time.monotonic()
            lp.reject(first, "last look")
            second = await h.wait_child("LP_A", 2, timeout=3)
            assert time.monotonic() - t0 >= 0.5  # not at once: a retry of the retry set
            lp.fill(second, 100, "100.05")
            await wait_for(lambda: h.parent("P").state == "filled", 5, "filled")
            await h.drain()
            h.verify()

    run(main())


def test_a_silent_child_gets_its_status_request_after_child_timeout(tmp_path: Path) -> None:
    async def main() -> None:
        router = {"Priority": ["LP_A"], "ChildTimeout": 1.0}
        async with Harness(tmp_path, manual=("LP_A",), router=router) as h:
            lp = h.lp("LP_A")
            lp.auto_ack = False
            lp.answer_status = False
            h.oms.new("P", 100, "100.05", tif="3")
            child = await h.wait_child("LP_A", 1)
            t0 = time.monotonic()
            await wait_for(lambda: len(lp.status_requests) == 1, 4, "status request")
            assert time.monotonic() - t0 >= 0.9
            fields(lp.status_requests[0], t11=child.cl, t55="ACME", t54="1")
            # still silent: asked again after another ChildTimeout, not before
            await asyncio.sleep(0.5)
            assert len(lp.status_requests) == 1
            await wait_for(lambda: len(lp.status_requests) == 2, 4, "second status request")
            lp.ack(child)
            mark = h.oms.mark()
            lp.fill(child, 100, "100.05")
            (fill,) = await h.oms.wait_since(mark, 1, "fill")
            fields(fill, t150="F", t39="2")
            await asyncio.sleep(2.5)
            assert len(lp.status_requests) == 2  # acknowledged: never asked about again
            await h.drain()
            h.verify()

    run(main())
