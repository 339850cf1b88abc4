"""DAY orders expire when their OMS session's trading day ends (EndTime)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import pytest

from gateway.fix.codec import Message
from gateway.sessions.session import Session
from tests.integration.gwkit import (
    Peer,
    free_port,
    gateway_settings,
    nos,
    start_gateway,
    start_lp,
    start_oms,
    wait_for,
)


def test_day_order_expires_at_end_time(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    end = now + dt.timedelta(seconds=4)
    start = now - dt.timedelta(hours=1)
    if end.date() != start.date():
        pytest.skip("the session window would cross midnight")

    def ack_only(peer: Peer, session: Session, msg: Message, t: float) -> None:
        if msg.msg_type == b"D":  # the order rests at the LP: acknowledged, never filled
            session.send(
                b"8",
                b"37=L1\x0111=" + msg[11] + b"\x0117=A" + msg[11] + b"\x01150=0\x0139=0\x0155=ACME"
                b"\x0154=1\x0138=" + msg[38] + b"\x01151=" + msg[38] + b"\x0114=0\x016=0\x01",
                t,
            )
        elif msg.msg_type == b"F":
            session.send(
                b"8",
                b"37=L1\x0111="
                + msg[11]
                + b"\x0141="
                + msg[41]
                + b"\x0117=C"
                + msg[11]
                + b"\x01150=4\x0139=4\x0155=ACME\x0154=1\x0138="
                + msg[38]
                + b"\x01151=0\x0114=0\x016=0\x01",
                t,
            )

    async def main() -> None:
        oms_port, a_port = free_port(), free_port()
        lp, _ = await start_lp("LP_A", a_port, tmp_path, ack_only)
        settings = gateway_settings(tmp_path, oms_port, {"LP_A": a_port})
        sessions = list(settings.sessions)
        import dataclasses

        sessions[0] = dataclasses.replace(
            sessions[0],
            start_time=start.time().replace(microsecond=0),
            end_time=end.time().replace(microsecond=0),
        )
        settings = dataclasses.replace(settings, sessions=tuple(sessions))
        gw = await start_gateway(settings)
        oms, peer, oms_session = await start_oms(oms_port, tmp_path)
        try:
            await wait_for(lambda: oms_session.logged_on and gw.available("LP_A"), 8)
            oms.send(oms_session, b"D", nos("DAY1", 100, tif="0"))
            await wait_for(
                lambda: any(m.get(11) == b"DAY1" and m.get(39) == b"C" for m in peer.got), 12, "expiry"
            )
            expired = [m for m in peer.got if m.get(11) == b"DAY1"][-1]
            assert expired[150] == b"C" and expired[151] == b"0" and expired[14] == b"0"
            assert b"end of day" in expired[58]
            assert time.time() >= end.timestamp() - 1
        finally:
            await oms.stop()
            await gw.stop()
            await lp.stop()

    asyncio.run(main())
