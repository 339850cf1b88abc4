"""A FIX.4.4 initiator built on the QuickFIX Python binding, driven by the interop tests.

    python qf_initiator.py --dir DIR --port PORT --dictionary FIX44.xml [--hbi 1]

It writes its own QuickFIX settings file into DIR (store and log under DIR too, so a
restart on the same DIR resumes the session), connects to 127.0.0.1:PORT as CLIENT ->
FIXGW, reconnects every second, and never resets sequence numbers.

Commands, one per line on stdin:
    order <ClOrdID>      send a limit NewOrderSingle (QuickFIX stores it if not logged on)
    testreq <TestReqID>  send a TestRequest
    quit                 log out and exit (end of stdin does the same)

Output, one line per thing on stdout: ``LOGON``, ``LOGOUT``, ``ADMIN <msg>``, ``APP <msg>``
(received messages, SOH shown as ``|``), ``SENT <what>`` / ``QUEUED <what>``, ``BYE``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import quickfix as fix
import quickfix44 as fix44

_print_lock = threading.Lock()


def emit(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def show(message: fix.Message) -> str:
    return str(message.toString()).replace("\x01", "|")


class Client(fix.Application):
    """Reports what happens; the QuickFIX session does all the protocol work.

    The camelCase method names are the callbacks QuickFIX calls.
    """

    def __init__(self) -> None:
        super().__init__()
        self.session_id: fix.SessionID | None = None

    def onCreate(self, session_id: fix.SessionID) -> None:
        self.session_id = session_id

    def onLogon(self, session_id: fix.SessionID) -> None:
        emit("LOGON")

    def onLogout(self, session_id: fix.SessionID) -> None:
        emit("LOGOUT")

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        emit("ADMIN " + show(message))

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        pass

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        emit("APP " + show(message))


def write_settings(folder: Path, port: int, hbi: int, dictionary: Path) -> Path:
    lines = [
        "[DEFAULT]",
        "ConnectionType=initiator",
        "SocketConnectHost=127.0.0.1",
        f"SocketConnectPort={port}",
        "ReconnectInterval=1",
        f"HeartBtInt={hbi}",
        f"FileStorePath={folder / 'store'}",
        f"FileLogPath={folder / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "ResetOnLogon=N",
        "ResetOnLogout=N",
        "ResetOnDisconnect=N",
        "UseDataDictionary=Y",
        f"DataDictionary={dictionary}",
        "",
        "[SESSION]",
        "BeginString=FIX.4.4",
        "SenderCompID=CLIENT",
        "TargetCompID=FIXGW",
        "",
    ]
    path = folder / "initiator.cfg"
    path.write_text("\n".join(lines))
    return path


def new_order(cl_ord_id: str) -> fix.Message:
    order = fix44.NewOrderSingle()
    order.setField(fix.ClOrdID(cl_ord_id))
    order.setField(fix.HandlInst("1"))
    order.setField(fix.Symbol("ACME"))
    order.setField(fix.Side(fix.Side_BUY))
    order.setField(fix.TransactTime())
    order.setField(fix.OrderQty(100))
    order.setField(fix.OrdType(fix.OrdType_LIMIT))
    order.setField(fix.Price(10.5))
    return order


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dictionary", type=Path, required=True)
    parser.add_argument("--hbi", type=int, default=1)
    args = parser.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    settings = fix.SessionSettings(str(write_settings(args.dir, args.port, args.hbi, args.dictionary)))
    app = Client()
    initiator = fix.SocketInitiator(
        app, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings)
    )
    initiator.start()
    emit("STARTED")
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            assert app.session_id is not None
            if words[0] == "order":
                sent = fix.Session.sendToTarget(new_order(words[1]), app.session_id)
                logged_on = fix.Session.lookupSession(app.session_id).isLoggedOn()
                emit(("SENT" if sent and logged_on else "QUEUED") + f" order {words[1]}")
            elif words[0] == "testreq":
                request = fix44.TestRequest()
                request.setField(fix.TestReqID(words[1]))
                fix.Session.sendToTarget(request, app.session_id)
                emit(f"SENT testreq {words[1]}")
            else:
                emit(f"ERROR unknown command {words[0]!r}")
    finally:
        initiator.stop()
        emit("BYE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
