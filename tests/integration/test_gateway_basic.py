"""The gateway end to end over TCP with tiny peers: one OMS, two LPs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.fix.codec import Message
from gateway.sessions.session import Session
from tests.integration.gwkit import (
    Peer,
    fill_all,
    free_port,
    gateway_settings,
    nos,
    start_gateway,
    start_lp,
    start_oms,
    wait_for,
)


def reports(peer: Peer, cl: bytes) -> list[Message]:
    return [m for m in peer.got if m.msg_type == b"8" and m.get(11) == cl]


def test_order_routed_filled_and_reported(tmp_path: Path) -> None:
    async def main() -> None:
        oms_port, a_port, b_port = free_port(), free_port(), free_port()
        lp_a, peer_a = await start_lp("LP_A", a_port, tmp_path, fill_all(b"100.01"))
        lp_b, peer_b = await start_lp("LP_B", b_port, tmp_path, fill_all(b"100.02"))
        gw = await start_gateway(gateway_settings(tmp_path, oms_port, {"LP_A": a_port, "LP_B": b_port}))
        oms, oms_peer, oms_session = await start_oms(oms_port, tmp_path)
        try:
            await wait_for(lambda: oms_session.logged_on and gw.available("LP_A") and gw.available("LP_B"), 8)
            oms.send(oms_session, b"D", nos("O1", 300))
            await wait_for(lambda: any(m.get(39) == b"2" for m in reports(oms_peer, b"O1")), 5, "fill")
            ers = reports(oms_peer, b"O1")
            assert [(m[150], m[39]) for m in ers] == [(b"0", b"0"), (b"F", b"2")]
            fill = ers[-1]
            assert fill[32] == b"300" and fill[31] == b"100.01" and fill[14] == b"300" and fill[151] == b"0"
            assert fill[6] == b"100.01" and fill[37].startswith(b"GW")
            (child,) = [m for m in peer_a.got if m.msg_type == b"D"]
            assert child[38] == b"300" and child[44] == b"100.05" and child[59] == b"3"
            assert not [m for m in peer_b.got if m.msg_type == b"D"]
            # an unsupported message type gets a BusinessMessageReject
            oms.send(oms_session, b"AE", b"571=1\x01")
            await wait_for(lambda: any(m.msg_type == b"j" for m in oms_peer.got), 5, "business reject")
            (bmr,) = [m for m in oms_peer.got if m.msg_type == b"j"]
            assert bmr[380] == b"3" and b"not supported" in bmr[58]
        finally:
            await oms.stop()
            await gw.stop()
            await lp_a.stop()
            await lp_b.stop()

    asyncio.run(main())


def test_reject_then_reroute_and_bad_quantity(tmp_path: Path) -> None:
    def reject_all(peer: Peer, session: Session, msg: Message, now: float) -> None:
        if msg.msg_type == b"D":
            session.send(
                b"8",
                b"37=R1\x0111=" + msg[11] + b"\x0117=RX" + msg[11] + b"\x01150=8\x0139=8\x0155=ACME"
                b"\x0154=1\x0138=" + msg[38] + b"\x01151=0\x0114=0\x016=0\x0158=last look\x01",
                now,
            )

    async def main() -> None:
        oms_port, a_port, b_port = free_port(), free_port(), free_port()
        lp_a, _ = await start_lp("LP_A", a_port, tmp_path, reject_all)
        lp_b, peer_b = await start_lp("LP_B", b_port, tmp_path, fill_all(b"100.00"))
        gw = await start_gateway(gateway_settings(tmp_path, oms_port, {"LP_A": a_port, "LP_B": b_port}))
        oms, oms_peer, oms_session = await start_oms(oms_port, tmp_path)
        try:
            await wait_for(lambda: oms_session.logged_on and gw.available("LP_A") and gw.available("LP_B"), 8)
            oms.send(oms_session, b"D", nos("O2", 50))
            await wait_for(lambda: any(m.get(39) == b"2" for m in reports(oms_peer, b"O2")), 5, "fill")
            assert len([m for m in peer_b.got if m.msg_type == b"D"]) == 1
            oms.send(oms_session, b"D", nos("O3", 0))
            oms.send(oms_session, b"D", nos("O4", 10, px="100.001"))
            oms.send(oms_session, b"D", nos("O2", 10))  # duplicate ClOrdID
            await wait_for(
                lambda: (
                    len(reports(oms_peer, b"O3")) == 1
                    and len(reports(oms_peer, b"O4")) == 1
                    and len(reports(oms_peer, b"O2")) == 3
                ),
                5,
                "rejects",
            )
            r3, r4, r2 = (
                reports(oms_peer, b"O3")[0],
                reports(oms_peer, b"O4")[0],
                reports(oms_peer, b"O2")[-1],
            )
            assert r3[39] == b"8" and r3[103] == b"13" and b"positive" in r3[58]
            assert r4[39] == b"8" and b"more than 2 decimals" in r4[58]
            assert r2[39] == b"8" and r2[103] == b"6" and b"duplicate" in r2[58]
        finally:
            await oms.stop()
            await gw.stop()
            await lp_a.stop()
            await lp_b.stop()

    asyncio.run(main())
