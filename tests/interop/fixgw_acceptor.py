"""Our engine as a FIX.4.4 acceptor in its own process, for the interop tests to kill -9.

    python fixgw_acceptor.py --dir DIR --port PORT [--dictionary FIX44.xml] [--loop asyncio]

One acceptor session FIXGW <- CLIENT on 127.0.0.1:PORT with a FileStore and FileLog under
DIR, so a restart on the same DIR resumes the session. The application answers nothing.

Commands, one per line on stdin:
    report <ClOrdID>   send an unsolicited ExecutionReport (order accepted) to the client
    quit               log out and exit (end of stdin and SIGTERM do the same)

Output, one line per thing on stdout: ``READY <port>``, ``LOGON``, ``LOGOUT``,
``APP <msg>`` (received application messages, SOH shown as ``|``), ``EVENT <kind> <text>``,
``SENT report <ClOrdID> <MsgSeqNum>`` or ``NOT-SENT report <ClOrdID> <why>``, ``BYE``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from pathlib import Path

from gateway.config import session_from_dict
from gateway.fix.codec import Message
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import NotLoggedOn, Session, SessionEvent
from gateway.sessions.transport import BaseApplication, Engine


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Reporter(BaseApplication):
    """Prints what the engine hands it, answers nothing."""

    def on_logon(self, session: Session, now: float) -> None:
        emit("LOGON")

    def on_logout(self, session: Session, now: float) -> None:
        emit("LOGOUT")

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        emit("APP " + msg.raw.decode("latin-1").replace("\x01", "|"))

    def on_session_event(self, session: Session, event: SessionEvent, now: float) -> None:
        emit(f"EVENT {event.kind} {event.text}")


def execution_report(cl_ord_id: str, seq: int) -> bytes:
    return (
        f"37=O{seq}\x0111={cl_ord_id}\x0117=E{seq}\x01150=0\x0139=0\x01".encode()
        + b"55=ACME\x0154=1\x0138=100\x0140=2\x0144=10.5\x01151=100\x0114=0\x016=0\x01"
        + b"60="
        + utc_timestamp(time.time())
        + b"\x01"
    )


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    keys: dict[str, object] = {
        "ConnectionType": "acceptor",
        "BeginString": "FIX.4.4",
        "SenderCompID": "FIXGW",
        "TargetCompID": "CLIENT",
        "SocketAcceptHost": "127.0.0.1",
        "SocketAcceptPort": args.port,
        "FileStorePath": str(args.dir / "store"),
        "FileLogPath": str(args.dir / "log"),
    }
    if args.dictionary is not None:
        keys["DataDictionary"] = str(args.dictionary)
    settings = session_from_dict(keys, base_dir=args.dir)
    engine = Engine(Reporter())
    session = engine.add_session(settings)

    def command(line: str | None) -> None:
        words = (line or "quit").split()
        if not words:
            return
        if words[0] == "quit":
            stop.set()
        elif words[0] == "report":
            try:
                seq = engine.send(session, b"8", execution_report(words[1], session.store.next_sender_seq))
            except NotLoggedOn as exc:
                emit(f"NOT-SENT report {words[1]} {exc}")
            else:
                emit(f"SENT report {words[1]} {seq}")
        else:
            emit(f"ERROR unknown command {words[0]!r}")

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(command, line)
        loop.call_soon_threadsafe(command, None)  # parent gone: do not outlive it

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await engine.start()
    emit(f"READY {engine.ports[settings.session_id]}")
    threading.Thread(target=read_stdin, daemon=True).start()
    await stop.wait()
    await engine.stop()
    emit("BYE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dictionary", type=Path)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    args.dir = args.dir.resolve()
    if args.loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args))
    else:
        asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
