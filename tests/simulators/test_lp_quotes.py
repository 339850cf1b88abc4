"""LP simulator market data over TCP: snapshot, incrementals, shared mid, rejects."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from gateway.fix.codec import Message
from tests.simulators.support import lp_and_taker, lp_profile, wait_for


def two_lp_profile() -> dict[str, Any]:
    profile = lp_profile()
    profile["lp"] = [
        {"name": "LP_A", "port": 0, "spread_bps": 10.0, "quote_throttle_ms": 0},
        {"name": "LP_B", "port": 0, "spread_bps": 40.0, "skew_bps": 2.0, "quote_throttle_ms": 0},
    ]
    profile["instrument"][0]["VolatilityBps"] = 30.0
    return profile


def entries(msg: Message) -> dict[bytes, Decimal]:
    """MDEntryType -> MDEntryPx of a W or X message."""
    out = {}
    kind = None
    for tag, value in msg.fields:
        if tag == 269:
            kind = value
        elif tag == 270 and kind is not None:
            out[kind] = Decimal(value.decode())
    return out


def test_snapshot_then_incrementals_and_unsubscribe() -> None:
    async def main() -> None:
        async with lp_and_taker(lp_profile(quote_throttle_ms=0)) as (sim, t):
            t.subscribe("LP_A", "M1", "ACME")
            await wait_for(lambda: t.md("LP_A", b"W"))
            snap = t.md("LP_A", b"W")[0]
            assert snap.get(262) == b"M1" and snap.get(55) == b"ACME" and snap.get(268) == b"2"
            assert entries(snap) == {b"0": Decimal("99.95"), b"1": Decimal("100.05")}
            assert snap.get(271) == b"1000"
            assert t.md("LP_A", b"X") == []  # nothing moves until the market does

            sim.market.set_mid("ACME", Decimal("101"))
            await wait_for(lambda: len(t.md("LP_A", b"X")) == 1)
            inc = t.md("LP_A", b"X")[0]
            assert inc.get(262) == b"M1"
            assert inc.get_all(279) == [b"1", b"1"] and inc.get_all(55) == [b"ACME", b"ACME"]
            assert entries(inc) == {b"0": Decimal("100.94"), b"1": Decimal("101.06")}

            t.send("LP_A", b"V", b"262=M1\x01263=2\x01264=1\x01146=1\x0155=ACME\x01")
            await asyncio.sleep(0.05)
            sim.market.set_mid("ACME", Decimal("102"))
            await asyncio.sleep(0.1)
            assert len(t.md("LP_A", b"X")) == 1

    asyncio.run(main())


def test_incrementals_are_throttled_per_symbol() -> None:
    async def main() -> None:
        async with lp_and_taker(lp_profile(quote_throttle_ms=200)) as (sim, t):
            t.subscribe("LP_A", "M1", "ACME")
            await wait_for(lambda: t.md("LP_A", b"W"))
            for i in range(10):
                sim.market.set_mid("ACME", Decimal(100 + i))
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert len(t.md("LP_A", b"X")) == 0  # within 200 ms of the snapshot
            await wait_for(lambda: len(t.md("LP_A", b"X")) == 1, timeout=1.0)
            # the held-back refresh carries the latest quote
            assert entries(t.md("LP_A", b"X")[0])[b"1"] > Decimal("108.9")

    asyncio.run(main())


def test_unknown_symbol_is_rejected() -> None:
    async def main() -> None:
        async with lp_and_taker(lp_profile()) as (_, t):
            t.subscribe("LP_A", "M9", "NOPE")
            await wait_for(lambda: t.md("LP_A", b"Y"))
            rej = t.md("LP_A", b"Y")[0]
            assert rej.get(262) == b"M9" and rej.get(281) == b"0"
            assert b"NOPE" in (rej.get(58) or b"")

    asyncio.run(main())


def test_two_lps_quote_around_the_same_moving_mid() -> None:
    async def main() -> None:
        async with lp_and_taker(two_lp_profile()) as (sim, t):
            t.subscribe("LP_A", "A1", "ACME")
            t.subscribe("LP_B", "B1", "ACME")
            await wait_for(lambda: t.md("LP_A", b"W") and t.md("LP_B", b"W"))
            for _ in range(20):
                sim.market.step()
                await asyncio.sleep(0.005)
            await wait_for(lambda: len(t.md("LP_A", b"X")) >= 5 and len(t.md("LP_B", b"X")) >= 5)
            await asyncio.sleep(0.05)
            mid = Decimal(repr(sim.market.mid_price("ACME")))
            a = entries(t.md("LP_A", b"X")[-1])
            b = entries(t.md("LP_B", b"X")[-1])
            for quote, half_bps, skew in ((a, 5, 0), (b, 20, 2)):
                centre = mid * (1 + Decimal(skew) / 10000)
                assert quote[b"0"] < centre < quote[b"1"]
                assert quote[b"1"] - quote[b"0"] <= centre * 2 * half_bps / 10000 + Decimal("0.02")
            assert b[b"1"] - b[b"0"] > a[b"1"] - a[b"0"]  # LP_B is wider

    asyncio.run(main())


def test_auto_step_moves_the_market_on_its_clock() -> None:
    async def main() -> None:
        profile = lp_profile(quote_throttle_ms=0)
        profile["instrument"][0]["VolatilityBps"] = 50.0
        profile["step_ms"] = 10
        async with lp_and_taker(profile, auto_step=True) as (sim, t):
            t.subscribe("LP_A", "M1", "ACME")
            await wait_for(lambda: len(t.md("LP_A", b"X")) >= 3, timeout=2.0)
            assert sim.market.steps >= 3

    asyncio.run(main())
