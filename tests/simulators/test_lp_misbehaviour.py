"""Each misbehaviour switch of the LP simulator, at probability 1.0, as seen on the wire."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.fix.codec import Framer, Message, encode_message, parse
from gateway.fix.timeutil import utc_timestamp
from simulators.lp import LpSimulator
from tests.simulators.support import lp_and_taker, lp_profile, wait_for


def f(msg: Message, tag: int) -> str:
    return (msg.get(tag) or b"").decode()


def kinds(reports: list[Message]) -> list[tuple[str, str, str]]:
    return [(m.msg_type.decode(), f(m, 150), f(m, 39)) for m in reports]


def misbehaving(**switches: Any) -> dict[str, Any]:
    return lp_profile(misbehaviour=switches)


def run(profile: dict[str, Any], body: Any, **taker: Any) -> None:
    async def main() -> None:
        async with lp_and_taker(profile, **taker) as (sim, t):
            await body(sim, t)

    asyncio.run(main())


def test_disconnect_mid_order_then_status_after_reconnect_tells_the_truth() -> None:
    profile = lp_profile()
    profile["lp"] = [
        {
            "name": "LP_A",
            "port": 0,
            "ack_latency": 0,
            "fill_latency": 0,
            "spread_bps": 10.0,
            "misbehaviour": {"disconnect_mid_order": 1.0, "disconnect_fill_probability": 1.0},
        },
        {
            "name": "LP_B",
            "port": 0,
            "ack_latency": 0,
            "fill_latency": 0,
            "misbehaviour": {"disconnect_mid_order": 1.0, "disconnect_fill_probability": 0.0},
        },
    ]

    async def body(sim: Any, t: Any) -> None:
        a = t.order("LP_A", "buy", "100", "101.00")
        b = t.order("LP_B", "buy", "100", "101.00")
        await wait_for(lambda: t.logons["LP_A"] == 2 and t.logons["LP_B"] == 2, timeout=5.0)
        assert t.reports("LP_A", a) == [] and t.reports("LP_B", b) == []  # never answered
        t.status("LP_A", a)
        t.status("LP_B", b)
        (sa,) = await t.wait_reports("LP_A", a, 1)
        (sb,) = await t.wait_reports("LP_B", b, 1)
        assert (f(sa, 150), f(sa, 39), f(sa, 14), f(sa, 151), f(sa, 6)) == ("I", "2", "100", "0", "100.05")
        assert (f(sb, 150), f(sb, 39), f(sb, 14), f(sb, 151)) == ("I", "4", "0", "0")
        assert sim.lp("LP_A").stats.disconnects == 1

    run(profile, body)


def test_late_fill_after_cancel_fill_then_too_late_reject() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "99.00", tif="0")
        await t.wait_reports("LP_A", c, 1)
        x = t.cancel("LP_A", c)
        await wait_for(lambda: any(m.get(11) == x.encode() for m in t.reports("LP_A")))
        r = t.reports("LP_A", c)
        # ack, the fill, then OrderCancelReject "too late" (its 41 names the order)
        assert kinds(r) == [("8", "0", "0"), ("8", "F", "2"), ("9", "", "2")]
        assert f(r[1], 32) == "100" and f(r[1], 31) == "99.00"  # at the limit, never through it
        assert (f(r[2], 11), f(r[2], 41), f(r[2], 102), f(r[2], 434)) == (x, c, "0", "1")

    run(misbehaving(late_fill_after_cancel=1.0, late_fill_variant="fill_then_reject"), body)


def test_late_fill_after_cancel_cancel_confirmed_then_a_fill() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "sell", "100", "101.00", tif="0")
        await t.wait_reports("LP_A", c, 1)
        x = t.cancel("LP_A", c, side="sell")
        # after the cancel the order goes by the cancel's ClOrdID: the late fill carries it
        await t.wait_reports("LP_A", x, 2)
        r = t.reports("LP_A", c)[:1] + t.reports("LP_A", x)
        assert kinds(r) == [("8", "0", "0"), ("8", "4", "4"), ("8", "F", "2")]
        assert (f(r[1], 11), f(r[1], 41), f(r[1], 14)) == (x, c, "0")
        assert (f(r[2], 32), f(r[2], 14), f(r[2], 151), f(r[2], 31)) == ("100", "100", "0", "101.00")
        assert f(r[2], 37) == f(r[1], 37)
        assert sim.lp("LP_A").stats.late_fills == 1

    run(misbehaving(late_fill_after_cancel=1.0, late_fill_variant="cancel_then_fill"), body)


def test_bust_of_a_fill() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "101.00")
        r = await t.wait_reports("LP_A", c, 3)
        assert kinds(r) == [("8", "0", "0"), ("8", "F", "2"), ("8", "H", "4")]
        fill, bust = r[1], r[2]
        assert f(bust, 19) == f(fill, 17)
        assert (f(bust, 32), f(bust, 31)) == (f(fill, 32), f(fill, 31))
        assert (f(bust, 14), f(bust, 151), f(bust, 6)) == ("0", "0", "0")

    run(misbehaving(bust=1.0, bust_delay_ms=30), body)


def test_trade_correction() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "101.00")
        r = await t.wait_reports("LP_A", c, 3)
        assert kinds(r) == [("8", "0", "0"), ("8", "F", "2"), ("8", "G", "2")]
        fill, corr = r[1], r[2]
        assert f(corr, 19) == f(fill, 17) and f(corr, 17) != f(fill, 17)
        assert (f(corr, 31), f(corr, 32), f(corr, 6), f(corr, 14)) == ("100.04", "100", "100.04", "100")

    run(misbehaving(correction=1.0, correction_delay_ms=30), body)


def test_unsolicited_cancel_of_a_resting_order() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "99.00", tif="0")
        r = await t.wait_reports("LP_A", c, 2)
        assert kinds(r) == [("8", "0", "0"), ("8", "4", "4")]
        assert f(r[1], 58) == "Unsolicited cancel" and f(r[1], 41) == "" and f(r[1], 151) == "0"

    run(misbehaving(unsolicited_cancel=1.0, unsolicited_cancel_delay_ms=30), body)


def test_restatement_reduces_the_leaves() -> None:
    async def body(sim: Any, t: Any) -> None:
        c = t.order("LP_A", "buy", "100", "99.00", tif="0")
        r = await t.wait_reports("LP_A", c, 2)
        assert kinds(r) == [("8", "0", "0"), ("8", "D", "0")]
        assert (f(r[1], 38), f(r[1], 151), f(r[1], 14), f(r[1], 378)) == ("50", "50", "0", "5")

    run(misbehaving(restatement=1.0, restatement_delay_ms=30), body)


def test_garbage_between_messages_is_skipped_by_our_framer() -> None:
    async def main() -> None:
        sim = LpSimulator(misbehaving(garbage_bytes=1.0), ports=0, auto_step=False)
        await sim.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", sim.port("LP_A"))
            now = time.time()

            def msg(seq: int, msg_type: str, *body: tuple[int, Any]) -> bytes:
                return encode_message(
                    [
                        (8, "FIX.4.4"),
                        (35, msg_type),
                        (34, seq),
                        (49, "FIXGW"),
                        (52, utc_timestamp(now)),
                        (56, "LP_A"),
                        *body,
                    ]
                )

            writer.write(msg(1, "A", (98, 0), (108, 30)))
            writer.write(
                msg(
                    2,
                    "D",
                    (11, "G1"),
                    (21, 1),
                    (55, "ACME"),
                    (54, 1),
                    (38, 10),
                    (40, 2),
                    (44, "101"),
                    (59, 3),
                    (60, utc_timestamp(now)),
                )
            )
            data = b""
            deadline = time.monotonic() + 3
            while data.count(b"\x0110=") < 3 and time.monotonic() < deadline:
                data += await asyncio.wait_for(reader.read(65536), 3)
            writer.close()
            frames = [x for x in Framer().feed(data) if isinstance(x, bytes)]
            types = [parse(x).msg_type for x in frames]
            assert types == [b"A", b"8", b"8"]
            assert sum(len(x) for x in frames) < len(data)  # there were bytes between them
            assert not data.startswith(b"8=FIX.4.4\x019=") or data.count(b"8=FIX") == 3
            assert sim.lp("LP_A").stats.garbage == 2  # one before each application message
        finally:
            await sim.stop()

    asyncio.run(main())

    # and our own engine, as the gateway would, takes every message despite the garbage
    async def body(sim: Any, t: Any) -> None:
        ids = [t.order("LP_A", "buy", "10", "101.00") for _ in range(20)]
        for c in ids:
            await t.wait_reports("LP_A", c, 2)
        assert sim.lp("LP_A").stats.garbage == 40
        assert t.sessions["LP_A"].logged_on

    run(misbehaving(garbage_bytes=1.0), body)
