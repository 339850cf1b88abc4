"""An OMS built on the QuickFIX Python binding: FIX.4.4 initiator OMS1 -> FIXGW.

    python qf_oms.py --dir DIR --port PORT --dictionary FIX44.xml

It writes its own QuickFIX settings file into DIR (FileStore and FileLog under DIR too)
and validates everything it receives against the data dictionary, so QuickFIX itself
judges what the gateway sends: a message it finds wrong is answered with a session Reject
(35=3) or a BusinessMessageReject (35=j), which shows as a ``SENT 3`` / ``SENT j`` line
and in its message log.

Commands, one per line on stdin (the symbol is always ACME):
    new <ClOrdID> <side> <qty> <ordtype> <price> <tif>
        side buy|sell, ordtype limit|market (price "-" for market), tif day|ioc|fok|gtc
    cancel <ClOrdID> <OrigClOrdID>             OrderCancelRequest
    replace <ClOrdID> <OrigClOrdID> <qty> <price>   OrderCancelReplaceRequest
    status <ClOrdID>                           OrderStatusRequest
    quit                                       log out and exit (end of stdin does the same)
Side, OrderQty and the terms not changed are taken from the order the OrigClOrdID names.

Output, one line per thing on stdout: ``STARTED``, ``LOGON``, ``LOGOUT``,
``RECV <MsgType> <msg>`` (every application message received, SOH shown as ``|``),
``ADMIN <MsgType> <msg>`` (admin messages received), ``SENT <MsgType> <msg>`` (everything
QuickFIX sends, app and admin), ``OK <command> <ClOrdID>``, ``ERROR <text>``, ``BYE``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import quickfix as fix
import quickfix44 as fix44

SYMBOL = "ACME"
SIDES = {"buy": fix.Side_BUY, "sell": fix.Side_SELL}
ORD_TYPES = {"limit": fix.OrdType_LIMIT, "market": fix.OrdType_MARKET}
TIFS = {
    "day": fix.TimeInForce_DAY,
    "gtc": fix.TimeInForce_GOOD_TILL_CANCEL,
    "ioc": fix.TimeInForce_IMMEDIATE_OR_CANCEL,
    "fok": fix.TimeInForce_FILL_OR_KILL,
}

_print_lock = threading.Lock()


def emit(line: str) -> None:
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def show(message: fix.Message) -> str:
    return str(message.toString()).replace("\x01", "|")


def msg_type(message: fix.Message) -> str:
    field = fix.MsgType()
    message.getHeader().getField(field)
    return str(field.getValue())


@dataclass(frozen=True)
class Terms:
    """What the OMS last asked for under one ClOrdID (for cancels, replaces, status)."""

    side: str
    qty: str
    ord_type: str
    price: str | None
    tif: str


class Oms(fix.Application):
    """Prints what comes and goes; the QuickFIX session does all the protocol work.

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
        emit(f"SENT {msg_type(message)} {show(message)}")

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        emit(f"ADMIN {msg_type(message)} {show(message)}")

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        emit(f"SENT {msg_type(message)} {show(message)}")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        # Only messages that passed the data dictionary get here; nothing is raised, so
        # QuickFIX never answers one with a BusinessMessageReject on our behalf.
        emit(f"RECV {msg_type(message)} {show(message)}")


def write_settings(folder: Path, port: int, dictionary: Path) -> Path:
    lines = [
        "[DEFAULT]",
        "ConnectionType=initiator",
        "SocketConnectHost=127.0.0.1",
        f"SocketConnectPort={port}",
        "ReconnectInterval=1",
        "HeartBtInt=30",
        f"FileStorePath={folder / 'store'}",
        f"FileLogPath={folder / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "UseDataDictionary=Y",
        f"DataDictionary={dictionary}",
        # everything the dictionary can check, is checked
        "ValidateFieldsOutOfOrder=Y",
        "ValidateFieldsHaveValues=Y",
        "ValidateUserDefinedFields=Y",
        "AllowUnknownMsgFields=N",
        "",
        "[SESSION]",
        "BeginString=FIX.4.4",
        "SenderCompID=OMS1",
        "TargetCompID=FIXGW",
        "",
    ]
    path = folder / "oms.cfg"
    path.write_text("\n".join(lines))
    return path


def _instrument(message: fix.Message, terms: Terms) -> None:
    message.setField(fix.Symbol(SYMBOL))
    message.setField(fix.Side(terms.side))
    message.setField(fix.TransactTime())


def new_order(cl_ord_id: str, terms: Terms) -> fix.Message:
    order = fix44.NewOrderSingle()
    order.setField(fix.ClOrdID(cl_ord_id))
    order.setField(fix.HandlInst("1"))
    _instrument(order, terms)
    order.setField(fix.OrderQty(float(terms.qty)))
    order.setField(fix.OrdType(terms.ord_type))
    if terms.price is not None:
        order.setField(fix.Price(float(terms.price)))
    order.setField(fix.TimeInForce(terms.tif))
    return order


def cancel_request(cl_ord_id: str, orig: str, terms: Terms) -> fix.Message:
    request = fix44.OrderCancelRequest()
    request.setField(fix.OrigClOrdID(orig))
    request.setField(fix.ClOrdID(cl_ord_id))
    _instrument(request, terms)
    request.setField(fix.OrderQty(float(terms.qty)))
    return request


def replace_request(cl_ord_id: str, orig: str, terms: Terms) -> fix.Message:
    request = fix44.OrderCancelReplaceRequest()
    request.setField(fix.OrigClOrdID(orig))
    request.setField(fix.ClOrdID(cl_ord_id))
    request.setField(fix.HandlInst("1"))
    _instrument(request, terms)
    request.setField(fix.OrderQty(float(terms.qty)))
    request.setField(fix.OrdType(terms.ord_type))
    if terms.price is not None:
        request.setField(fix.Price(float(terms.price)))
    request.setField(fix.TimeInForce(terms.tif))
    return request


def status_request(cl_ord_id: str, terms: Terms) -> fix.Message:
    request = fix44.OrderStatusRequest()
    request.setField(fix.ClOrdID(cl_ord_id))
    request.setField(fix.Symbol(SYMBOL))
    request.setField(fix.Side(terms.side))
    return request


class Commands:
    """Turns command lines into messages; remembers each ClOrdID's terms."""

    def __init__(self) -> None:
        self.terms: dict[str, Terms] = {}

    def _known(self, cl_ord_id: str) -> Terms:
        # a request about an order this OMS never sent (to test the gateway's answer)
        return self.terms.get(cl_ord_id, Terms(fix.Side_BUY, "100", fix.OrdType_LIMIT, "1", "0"))

    def message(self, words: list[str]) -> tuple[str, fix.Message]:
        command, args = words[0], words[1:]
        if command == "new" and len(args) == 6:
            cl, side, qty, ord_type, price, tif = args
            terms = Terms(SIDES[side], qty, ORD_TYPES[ord_type], None if price == "-" else price, TIFS[tif])
            self.terms[cl] = terms
            return cl, new_order(cl, terms)
        if command == "cancel" and len(args) == 2:
            cl, orig = args
            terms = self._known(orig)
            self.terms[cl] = terms
            return cl, cancel_request(cl, orig, terms)
        if command == "replace" and len(args) == 4:
            cl, orig, qty, price = args
            terms = replace(self._known(orig), qty=qty, price=None if price == "-" else price)
            self.terms[cl] = terms
            return cl, replace_request(cl, orig, terms)
        if command == "status" and len(args) == 1:
            return args[0], status_request(args[0], self._known(args[0]))
        raise ValueError(f"cannot read command {' '.join(words)!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dictionary", type=Path, required=True)
    args = parser.parse_args()

    args.dir.mkdir(parents=True, exist_ok=True)
    settings = fix.SessionSettings(str(write_settings(args.dir, args.port, args.dictionary)))
    app = Oms()
    initiator = fix.SocketInitiator(
        app, fix.FileStoreFactory(settings), settings, fix.FileLogFactory(settings)
    )
    commands = Commands()
    initiator.start()
    emit("STARTED")
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            try:
                cl, message = commands.message(words)
            except (KeyError, ValueError) as exc:
                emit(f"ERROR {exc}")
                continue
            assert app.session_id is not None
            if fix.Session.sendToTarget(message, app.session_id):
                emit(f"OK {words[0]} {cl}")
            else:
                emit(f"ERROR {words[0]} {cl} not sent")
    finally:
        initiator.stop()
        emit("BYE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
