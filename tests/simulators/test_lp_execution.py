"""LP simulator order handling over TCP: fills, partials, limits, rejects, last look, Day orders."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from gateway.fix.codec import Message
from tests.simulators.support import lp_and_taker, lp_profile, wait_for

# lp_profile(): ACME mid 100.00, spread 10 bps -> bid 99.95 / ask 100.05, quote size 1000


def f(msg: Message, tag: int) -> str:
    return (msg.get(tag) or b"").decode()


def kinds(reports: list[Message]) -> list[tuple[str, str]]:
    return [(f(m, 150), f(m, 39)) for m in reports]


def run(profile: dict[str, Any], body: Any) -> None:
    async def main() -> None:
        async with lp_and_taker(profile) as (sim, t):
            await body(sim, t)

    asyncio.run(main())


def test_ioc_limit_through_the_quote_fills_in_full() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "100.10")
        ack, fill = await t.wait_reports("LP_A", c, 2)
        assert kinds([ack, fill]) == [("0", "0"), ("F", "2")]
        assert (f(fill, 31), f(fill, 32), f(fill, 14), f(fill, 151), f(fill, 6)) == (
            "100.05",
            "100",
            "100",
            "0",
            "100.05",
        )
        assert f(fill, 37).startswith("LP_A-") and f(ack, 37) == f(fill, 37)
        assert f(ack, 17) != f(fill, 17)
        c2 = t.order("LP_A", "sell", "50", "99.90")
        r = await t.wait_reports("LP_A", c2, 2)
        assert f(r[1], 31) == "99.95" and f(r[1], 54) == "2"

    run(lp_profile(), body)


def test_partial_fill_then_ioc_remainder_cancelled() -> None:
    profile = lp_profile(
        partial_fill_probability=1.0, partial_fill_min_fraction=0.4, partial_fill_max_fraction=0.4
    )

    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "101.00")
        r = await t.wait_reports("LP_A", c, 3)
        assert kinds(r) == [("0", "0"), ("F", "1"), ("4", "4")]
        assert (f(r[1], 32), f(r[1], 14), f(r[1], 151)) == ("40", "40", "60")
        assert (f(r[2], 14), f(r[2], 151), f(r[2], 6)) == ("40", "0", "100.05")

    run(profile, body)


def test_quote_size_caps_the_fill() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "1500", "101.00")
        r = await t.wait_reports("LP_A", c, 3)
        assert kinds(r) == [("0", "0"), ("F", "1"), ("4", "4")]
        assert f(r[1], 32) == "1000"

    run(lp_profile(), body)


def test_limit_through_the_quote_is_cancelled_with_nothing_done() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "100.00")
        r = await t.wait_reports("LP_A", c, 2)
        assert kinds(r) == [("0", "0"), ("4", "4")]
        assert (f(r[1], 14), f(r[1], 151), f(r[1], 6)) == ("0", "0", "0")
        c = t.order("LP_A", "sell", "100", "100.00")
        r = await t.wait_reports("LP_A", c, 2)
        assert kinds(r) == [("0", "0"), ("4", "4")]

    run(lp_profile(), body)


def test_through_limit_reject_policy_and_fok() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "100.00")
        (r,) = await t.wait_reports("LP_A", c, 1)
        assert kinds([r]) == [("8", "8")] and f(r, 103) == "8" and f(r, 58) == "Price moved away"
        c = t.order("LP_A", "buy", "2000", "101.00", tif="4")  # more than the quote size
        (r,) = await t.wait_reports("LP_A", c, 1)
        assert kinds([r]) == [("4", "4")] and f(r, 14) == "0"

    run(lp_profile(through_limit="reject", send_ack=False), body)


def test_reject_rate_one_rejects_everything_with_a_reason() -> None:
    async def body(sim: Any, t: Any) -> None:
        ids = [t.order("LP_A", "buy", "10", "101.00") for _ in range(5)]
        for c in ids:
            (r,) = await t.wait_reports("LP_A", c, 1)
            assert kinds([r]) == [("8", "8")]
            assert f(r, 58) == "Last look reject" and f(r, 103) == "0"
            assert (f(r, 14), f(r, 151)) == ("0", "0")
        assert sim.lp("LP_A").stats.rejects == 5

    run(lp_profile(reject_rate=1.0), body)


def test_size_too_large_and_unknown_symbol() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "600", "101.00")
        (r,) = await t.wait_reports("LP_A", c, 1)
        assert kinds([r]) == [("8", "8")] and f(r, 103) == "3" and f(r, 58) == "Size too large"
        c = t.order("LP_A", "buy", "10", "101.00", symbol="NOPE")
        (r,) = await t.wait_reports("LP_A", c, 1)
        assert f(r, 103) == "1" and f(r, 37) == "NONE"

    run(lp_profile(max_order_size=500), body)


def test_latency_is_applied() -> None:
    profile = lp_profile(ack_latency={"median_ms": 30}, fill_latency={"median_ms": 80})

    async def body(sim: Any, t: Any) -> None:
        t0 = time.monotonic()
        c = t.order("LP_A", "buy", "10", "101.00")
        await t.wait_reports("LP_A", c, 1)
        t_ack = time.monotonic() - t0
        await t.wait_reports("LP_A", c, 2)
        t_fill = time.monotonic() - t0
        assert 0.025 < t_ack < 0.075
        assert 0.075 < t_fill < 0.2

    run(profile, body)


def test_last_look_holds_the_order_then_fills_or_rejects() -> None:
    profile = lp_profile(last_look_hold={"median_ms": 150}, last_look_tolerance_bps=1.0)

    async def body(sim: Any, t: Any) -> None:
        t0 = time.monotonic()
        c = t.order("LP_A", "buy", "10", "101.00")
        r = await t.wait_reports("LP_A", c, 2)
        assert time.monotonic() - t0 > 0.14
        assert kinds(r) == [("0", "0"), ("F", "2")]  # last look: ack and fill together
        # the mid moves against the LP (up, the taker buys) during the hold: rejected
        c = t.order("LP_A", "buy", "10", "102.00")
        await asyncio.sleep(0.05)
        sim.market.set_mid("ACME", Decimal("100.50"))
        (r,) = await t.wait_reports("LP_A", c, 1)
        assert kinds([r]) == [("8", "8")] and f(r, 58) == "Price moved away"
        # a move in the LP's favour does not matter
        c = t.order("LP_A", "sell", "10", "99.00")
        await asyncio.sleep(0.05)
        sim.market.set_mid("ACME", Decimal("101.00"))
        r = await t.wait_reports("LP_A", c, 2)
        assert kinds(r)[-1] == ("F", "2")

    run(profile, body)


def test_price_improvement() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "10", "101.00")
        r = await t.wait_reports("LP_A", c, 2)
        assert f(r[1], 31) == "100.03"  # ask 100.05 improved by 2 ticks
        c = t.order("LP_A", "sell", "10", "99.00")
        r = await t.wait_reports("LP_A", c, 2)
        assert f(r[1], 31) == "99.97"

    run(lp_profile(price_improvement_probability=1.0, price_improvement_ticks=2), body)


def test_adverse_selection_moves_the_mid_against_the_taker() -> None:
    async def body(sim: Any, t: Any) -> None:
        assert sim.market.mid_price("ACME") == 100.0
        c = t.order("LP_A", "buy", "10", "101.00")
        await t.wait_reports("LP_A", c, 2)
        assert abs(sim.market.mid_price("ACME") - 100.2) < 1e-9  # up 20 bps after a buy
        c = t.order("LP_A", "sell", "10", "90.00")
        await t.wait_reports("LP_A", c, 2)
        assert sim.market.mid_price("ACME") < 100.2  # down after a sell
        # and every LP's quote follows the shared mid
        assert sim.lp("LP_A").quotes["ACME"].ask < 10025

    run(lp_profile(adverse_selection_probability=1.0, adverse_selection_bps=20.0), body)


def test_seeded_decisions_repeat() -> None:
    profile = lp_profile(fill_probability=0.5, partial_fill_probability=0.5)

    def one_run() -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []

        async def body(sim: Any, t: Any) -> None:
            for _ in range(20):
                c = t.order("LP_A", "buy", "100", "101.00")
                await t.wait_reports("LP_A", c, 2)
                await wait_for(lambda c=c: t.reports("LP_A", c)[-1].get(39) in (b"2", b"4"))
                last = t.reports("LP_A", c)[-1]
                out.append((f(last, 150), f(last, 39), f(last, 14)))

        run(profile, body)
        return out

    first = one_run()
    assert first == one_run()
    assert len(set(first)) > 1


def test_day_order_rests_fills_when_the_quote_crosses_and_can_be_replaced() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "99.50", tif="0")
        (ack,) = await t.wait_reports("LP_A", c, 1)
        assert kinds([ack]) == [("0", "0")] and f(ack, 151) == "100"
        await asyncio.sleep(0.02)
        assert len(t.reports("LP_A", c)) == 1
        sim.market.set_mid("ACME", Decimal("99.40"))  # ask 99.45 <= 99.50
        r = await t.wait_reports("LP_A", c, 2)
        assert kinds(r)[-1] == ("F", "2") and f(r[-1], 31) == "99.45"

        c = t.order("LP_A", "sell", "100", "100.50", tif="0")
        await t.wait_reports("LP_A", c, 1)
        t.send(
            "LP_A",
            b"G",
            b"41=%s\x0111=R1\x0121=1\x0155=ACME\x0154=2\x0138=200\x0140=2\x0144=100.40\x0159=0\x01"
            b"60=20250101-00:00:00\x01" % c.encode(),
        )
        await wait_for(lambda: any(m.get(11) == b"R1" for m in t.reports("LP_A")))
        rep = next(m for m in t.reports("LP_A") if m.get(11) == b"R1")
        assert (f(rep, 150), f(rep, 39), f(rep, 41), f(rep, 38), f(rep, 151), f(rep, 44)) == (
            "5",
            "0",
            c,
            "200",
            "200",
            "100.40",
        )
        sim.market.set_mid("ACME", Decimal("100.60"))  # bid 100.55 >= 100.40
        await wait_for(lambda: any(m.get(150) == b"F" and m.get(11) == b"R1" for m in t.reports("LP_A")))

    run(lp_profile(), body)


def test_cancel_and_status_requests() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "99.00", tif="0")
        await t.wait_reports("LP_A", c, 1)
        t.status("LP_A", c)
        r = await t.wait_reports("LP_A", c, 2)
        assert (f(r[1], 150), f(r[1], 39), f(r[1], 151), f(r[1], 790)) == ("I", "0", "100", "S1")
        x = t.cancel("LP_A", c)
        await wait_for(lambda: any(m.get(11) == x.encode() for m in t.reports("LP_A")))
        (cxl,) = [m for m in t.reports("LP_A") if m.get(11) == x.encode()]
        assert (f(cxl, 150), f(cxl, 39), f(cxl, 41), f(cxl, 151)) == ("4", "4", c, "0")
        # too late: cancelling it again
        x2 = t.cancel("LP_A", c)
        await wait_for(lambda: any(m.get(11) == x2.encode() for m in t.reports("LP_A")))
        (rej,) = [m for m in t.reports("LP_A") if m.get(11) == x2.encode()]
        assert rej.msg_type == b"9" and (f(rej, 102), f(rej, 434), f(rej, 39)) == ("0", "1", "4")
        # unknown order
        x3 = t.cancel("LP_A", "NOPE")
        await wait_for(lambda: any(m.get(11) == x3.encode() for m in t.reports("LP_A")))
        (rej,) = [m for m in t.reports("LP_A") if m.get(11) == x3.encode()]
        assert f(rej, 102) == "1"
        t.status("LP_A", "NOPE")
        await wait_for(lambda: any(m.get(11) == b"NOPE" and m.get(150) == b"I" for m in t.reports("LP_A")))
        (st,) = [m for m in t.reports("LP_A") if m.get(11) == b"NOPE" and m.get(150) == b"I"]
        assert (f(st, 39), f(st, 103), f(st, 58), f(st, 14), f(st, 151)) == (
            "8",
            "5",
            "Unknown order",
            "0",
            "0",
        )

    run(lp_profile(), body)


def test_reconfigure_a_running_lp() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "10", "101.00")
        assert kinds(await t.wait_reports("LP_A", c, 2))[-1] == ("F", "2")
        sim.lp("LP_A").reconfigure(reject_rate=1.0)
        c = t.order("LP_A", "buy", "10", "101.00")
        assert kinds(await t.wait_reports("LP_A", c, 1)) == [("8", "8")]
        sim.lp("LP_A").reconfigure(reject_rate=0.0, spread_bps=100.0)
        assert sim.lp("LP_A").quotes["ACME"].ask == 10050
        c = t.order("LP_A", "buy", "10", "100.10")
        assert kinds(await t.wait_reports("LP_A", c, 2))[-1] == ("4", "4")

    run(lp_profile(), body)
