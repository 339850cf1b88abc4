"""A bug on the order path answers the OMS (BusinessMessageReject) and keeps the gateway up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.gwkit import (
    fill_all,
    free_port,
    gateway_settings,
    nos,
    start_gateway,
    start_lp,
    start_oms,
    wait_for,
)


def test_exception_in_the_domain_is_answered_and_survived(tmp_path: Path) -> None:
    async def main() -> None:
        oms_port, a_port = free_port(), free_port()
        lp, _ = await start_lp("LP_A", a_port, tmp_path, fill_all(b"100.00"))
        gw = await start_gateway(gateway_settings(tmp_path, oms_port, {"LP_A": a_port}))
        oms, peer, session = await start_oms(oms_port, tmp_path)
        try:
            await wait_for(lambda: session.logged_on and gw.available("LP_A"), 8)
            real_plan = gw.book.planner

            def broken(*args: object) -> list:  # type: ignore[type-arg]
                raise RuntimeError("a bug")

            gw.book.planner = broken
            oms.send(session, b"D", nos("E1", 100))
            await wait_for(lambda: any(m.get(11) == b"E1" for m in peer.got), 5, "an answer")
            (er,) = [m for m in peer.got if m.get(11) == b"E1"]
            assert er[150] == b"8" and er[39] == b"8" and b"internal error" in er[58]
            assert not gw.book.open_parents  # never worked later
            cancel = b"11=C1\x0141=E1\x0155=ACME\x0154=1\x0138=100\x0160=20261121-10:00:00\x01"
            oms.send(session, b"F", cancel)
            await wait_for(lambda: any(m.msg_type == b"9" for m in peer.got), 5, "cancel reject")
            gw.book.planner = real_plan
            oms.send(session, b"D", nos("E2", 100))
            await wait_for(
                lambda: any(m.get(11) == b"E2" and m.get(39) == b"2" for m in peer.got), 5, "a fill"
            )
            assert gw.counts["internal_errors"] >= 1
        finally:
            await oms.stop()
            await gw.stop()
            await lp.stop()

    asyncio.run(main())
