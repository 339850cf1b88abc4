"""Our initiator against the QuickFIX C++ example executor (a real, independent FIX engine).

The executor (QuickFIX's examples/executor) accepts FIX.4.0-5.0 sessions and answers a limit
NewOrderSingle with one ExecutionReport that fills it completely at the limit price. It
logs to stdout (QuickFIX ScreenLog), which is how we see what it received from us. Our
Engine runs in this process on uvloop (the product's loop) with a file store and file log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.config import session_from_dict
from gateway.fix.codec import Message
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import Session, SessionEvent
from gateway.sessions.store import store_file_prefix
from gateway.sessions.transport import BaseApplication, Engine
from tests.interop.support import (
    LoggedMessage,
    Peer,
    free_port,
    read_message_log,
    read_screen_log,
    read_seqnums,
    require_executor,
    spec_file,
)

pytestmark = pytest.mark.timeout(60)

BEGIN_STRINGS = ["FIX.4.2", "FIX.4.4"]
ORDER_QTY = Decimal("100")
LIMIT_PRICE = Decimal("10.5")


@dataclass
class Outcome:
    stop_seconds: float = 0.0
    logged_on_after_stop: bool = True


class Recorder(BaseApplication):
    """Keeps what the engine hands the application."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.events: list[SessionEvent] = []
        self.logons = 0
        self.logouts = 0

    def on_logon(self, session: Session, now: float) -> None:
        self.logons += 1

    def on_logout(self, session: Session, now: float) -> None:
        self.logouts += 1

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self.messages.append(msg)

    def on_session_event(self, session: Session, event: SessionEvent, now: float) -> None:
        self.events.append(event)


def run(coro: Coroutine[Any, Any, None], loop: str) -> None:
    """Run on asyncio's own loop or on uvloop (the gateway's production loop)."""
    if loop == "asyncio":
        asyncio.run(coro)
        return
    uvloop = pytest.importorskip("uvloop")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


def write_executor_settings(folder: Path, port: int) -> Path:
    """An acceptor settings file for the executor: one session per BeginString we test."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "[DEFAULT]",
        "ConnectionType=acceptor",
        f"SocketAcceptPort={port}",
        "SocketReuseAddress=Y",
        f"FileStorePath={folder / 'store'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        "",
    ]
    for begin in BEGIN_STRINGS:
        lines += [
            "[SESSION]",
            f"BeginString={begin}",
            "SenderCompID=EXECUTOR",
            "TargetCompID=CLIENT1",
            f"DataDictionary={spec_file(begin)}",
            "",
        ]
    path = folder / "executor.cfg"
    path.write_text("\n".join(lines))
    return path


def new_order_single(cl_ord_id: str, transact_time: bytes) -> bytes:
    return (
        f"11={cl_ord_id}\x0121=1\x0155=ACME\x0154=1\x01".encode()
        + b"60="
        + transact_time
        + f"\x0138={ORDER_QTY}\x0140=2\x0144={LIMIT_PRICE}\x01".encode()
    )


def types(messages: list[LoggedMessage]) -> list[str]:
    return [m.msg_type for m in messages]


@pytest.mark.parametrize(
    ("begin_string", "loop"),
    [
        ("FIX.4.2", "asyncio"),
        ("FIX.4.4", "asyncio"),
        ("FIX.4.4", "uvloop"),
    ],
)
def test_limit_order_filled_by_quickfix_executor(tmp_path: Path, begin_string: str, loop: str) -> None:
    executor = require_executor()
    dictionary = spec_file(begin_string)
    port = free_port()
    settings_file = write_executor_settings(tmp_path / "executor", port)
    peer = Peer([executor, settings_file], cwd=tmp_path / "executor", name="qf-executor")
    try:
        peer.wait_for(r"Type Ctrl-C to quit", timeout=10)
        settings = session_from_dict(
            {
                "ConnectionType": "initiator",
                "BeginString": begin_string,
                "SenderCompID": "CLIENT1",
                "TargetCompID": "EXECUTOR",
                "SocketConnectHost": "127.0.0.1",
                "SocketConnectPort": port,
                "HeartBtInt": 5,
                "ReconnectInterval": 1,
                "FileStorePath": str(tmp_path / "ours" / "store"),
                "FileLogPath": str(tmp_path / "ours" / "log"),
                "DataDictionary": str(dictionary),
            },
            base_dir=tmp_path,
        )
        app = Recorder()
        cl_ord_id = f"ORD-{begin_string[-3:]}-1"
        outcome = Outcome()

        async def scenario() -> None:
            engine = Engine(app)
            session = engine.add_session(settings)
            await engine.start()
            stopped = False
            try:
                await until(lambda: session.logged_on, 3, "Logon with the executor")
                engine.send(session, b"D", new_order_single(cl_ord_id, utc_timestamp(time.time())))
                await until(
                    lambda: any(m.get(11) == cl_ord_id.encode() for m in app.messages),
                    10,
                    "the ExecutionReport",
                )
                started = time.monotonic()
                await engine.stop()
                stopped = True
                outcome.stop_seconds = time.monotonic() - started
                outcome.logged_on_after_stop = session.logged_on
            finally:
                if not stopped:
                    await engine.stop()

        run(scenario(), loop)

        # the fill: what the executor's code promises for a limit order
        reports = [m for m in app.messages if m.get(11) == cl_ord_id.encode()]
        assert len(reports) == 1, reports
        report = reports[0]
        assert report.msg_type == b"8", report
        assert report.get(39) == b"2", f"OrdStatus not filled: {report}"
        assert report.get(11) == cl_ord_id.encode()
        assert report.get(55) == b"ACME" and report.get(54) == b"1"
        for tag in (32, 14):  # LastQty (LastShares in 4.2), CumQty
            assert Decimal(report[tag].decode()) == ORDER_QTY, f"tag {tag}: {report}"
        for tag in (31, 6):  # LastPx, AvgPx
            assert Decimal(report[tag].decode()) == LIMIT_PRICE, f"tag {tag}: {report}"
        assert Decimal(report[151].decode()) == 0  # LeavesQty
        assert len([m for m in app.messages if m.msg_type == b"8"]) == 1

        # clean logout: both sides exchanged Logout and the engine told the application
        assert not outcome.logged_on_after_stop
        # stop() returns when the Logout reply closes the link, not at its 2 s timeout
        assert outcome.stop_seconds < 1.5, f"engine.stop() took {outcome.stop_seconds:.2f}s"
        assert app.logons == 1 and app.logouts == 1
        assert not [e for e in app.events if e.kind in ("reject_received", "reject_sent")]

        # our message log (QuickFIX text format) holds the executor's messages and ours
        ours = read_message_log(
            tmp_path / "ours" / "log" / f"{begin_string}-CLIENT1-EXECUTOR.messages.current.log"
        )
        sent = [m for m in ours if m.sender == "CLIENT1"]
        received = [m for m in ours if m.sender == "EXECUTOR"]
        assert types(sent) == ["A", "D", "5"], [m.text for m in sent]
        assert types(received) == ["A", "8", "5"], [m.text for m in received]
        assert [m.seq for m in sent] == [1, 2, 3]
        assert [m.seq for m in received] == [1, 2, 3]
        assert received[1].get(11) == cl_ord_id
        assert sent[2].get(58) == "gateway shutting down"

        # the executor's own log (stdout): it received exactly what we logged as sent
        peer.wait_for(r"Disconnecting", timeout=5)
        assert peer.proc.poll() is None, "the executor died"
        screen = read_screen_log(peer.output).get(f"{begin_string}:EXECUTOR->CLIENT1", [])
        theirs_in = [m for m in screen if m.direction == "incoming"]
        theirs_out = [m for m in screen if m.direction == "outgoing"]
        assert [m.text for m in theirs_in] == [m.text for m in sent]
        assert [m.text for m in theirs_out] == [m.text for m in received]
        assert not [m.text for m in screen if m.msg_type in ("3", "j")]
        assert "Rejected" not in peer.output

        # both stores agree: 3 messages each way, next 4 and 4
        ours_seq = read_seqnums(
            tmp_path / "ours" / "store" / f"{store_file_prefix(settings.session_id)}.seqnums"
        )
        theirs_seq = read_seqnums(
            tmp_path / "executor" / "store" / f"{begin_string}-EXECUTOR-CLIENT1.seqnums"
        )
        assert ours_seq == (4, 4)
        assert theirs_seq == (4, 4)
    finally:
        peer.close()
