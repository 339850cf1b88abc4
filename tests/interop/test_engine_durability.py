"""When a message from QuickFIX has been handed to our application, is it consumed on disk?

Found while killing our acceptor in test_quickfix_python.py: a NewOrderSingle delivered
to the application and then ``kill -9`` within about half a second came back after the
restart — the restarted gateway asked for it again (ResendRequest) and the application got
it a second time (PossDupFlag=Y). The store writes the inbound sequence number only when
the session next sends something (engine.flush() flushes "dirty" sessions, i.e. those with
outbound bytes) or at the next timer tick (Engine.tick, 0.5 s); a callback that only
receives leaves NextTargetMsgSeqNum in memory. QuickFIX writes it as soon as it increments.

This test pins the contract deterministically, without a kill: our Engine (in this
process) accepts the QuickFIX Python initiator (qf_initiator.py, HeartBtInt 30 so no
heartbeat flushes the store by chance); on the loop iteration right after the callback
that delivered the order, the .seqnums file must already count it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from gateway.config import session_from_dict
from gateway.fix.codec import Message
from gateway.sessions.session import Session
from gateway.sessions.store import store_file_prefix
from gateway.sessions.transport import BaseApplication, Engine
from tests.interop.support import HERE, Peer, free_port, read_seqnums, require_quickfix, spec_file

pytestmark = pytest.mark.timeout(60)

class OnDiskAfterDelivery(BaseApplication):
    """For each application message: its MsgSeqNum and NextTargetMsgSeqNum on disk just after."""

    def __init__(self, seqnums: Path) -> None:
        self.seqnums = seqnums
        self.seen: list[tuple[int, int]] = []

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        seq = int(msg[34])
        asyncio.get_running_loop().call_soon(lambda: self.seen.append((seq, read_seqnums(self.seqnums)[1])))


def test_delivered_message_is_consumed_in_the_store(tmp_path: Path) -> None:
    require_quickfix()
    port = free_port()
    settings = session_from_dict(
        {
            "ConnectionType": "acceptor",
            "BeginString": "FIX.4.4",
            "SenderCompID": "FIXGW",
            "TargetCompID": "CLIENT",
            "SocketAcceptPort": port,
            "FileStorePath": str(tmp_path / "fixgw" / "store"),
            "FileLogPath": str(tmp_path / "fixgw" / "log"),
            "DataDictionary": str(spec_file("FIX.4.4")),
        },
        base_dir=tmp_path,
    )
    seqnums = tmp_path / "fixgw" / "store" / f"{store_file_prefix(settings.session_id)}.seqnums"
    app = OnDiskAfterDelivery(seqnums)

    async def scenario() -> None:
        engine = Engine(app)
        session = engine.add_session(settings)
        await engine.start()
        peer = Peer(
            [
                sys.executable,
                HERE / "qf_initiator.py",
                "--dir",
                tmp_path / "quickfix",
                "--port",
                str(port),
                "--dictionary",
                spec_file("FIX.4.4"),
                "--hbi",
                "30",
            ],
            cwd=tmp_path,
            name="quickfix-initiator",
        )
        try:
            deadline = time.monotonic() + 10
            while not session.logged_on:
                assert time.monotonic() < deadline, f"no Logon:\n{peer.output}"
                await asyncio.sleep(0.01)
            peer.send("order D-1")
            while not app.seen:
                assert time.monotonic() < deadline, f"no order:\n{peer.output}"
                await asyncio.sleep(0.005)
            peer.send("quit")
            await asyncio.to_thread(peer.wait_for, r"^BYE$", 15)
        finally:
            peer.close()
            await engine.stop()

    asyncio.run(scenario())
    (seq, next_target_on_disk), *_ = app.seen
    assert next_target_on_disk == seq + 1, (
        f"MsgSeqNum {seq} was delivered but the store on disk still expects {next_target_on_disk}"
    )
