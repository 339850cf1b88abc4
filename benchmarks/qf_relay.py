"""A pass-through FIX relay on the ``quickfix`` Python binding: the baseline of ``fixgw bench``.

What a Python user would build instead of the gateway, and nothing more: a SocketAcceptor
for the OMS (FIXGW <- OMS1) and a SocketInitiator to one LP (FIXGW -> LP_A); every
NewOrderSingle from the OMS goes to the LP and every ExecutionReport from the LP goes back
to the OMS, body unchanged (the ClOrdIDs are the OMS's own, unique in the run, so none
needs mapping; QuickFIX fills in the header of each session). Memory store, no logging,
no data-dictionary validation: QuickFIX at its fastest reasonable settings.

    python -m benchmarks.qf_relay --oms-port P --lp-port Q [--lp LP_A]

prints ``STARTED``, then ``LOGON <session>`` / ``LOGOUT <session>``, and stops on SIGINT
or SIGTERM. A measurement baseline, never used by the gateway.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import quickfix as fix

SETTINGS = """\
[DEFAULT]
BeginString=FIX.4.4
SenderCompID=FIXGW
HeartBtInt=30
StartTime=00:00:00
EndTime=00:00:00
UseDataDictionary=N
ResetOnLogon=Y
ReconnectInterval=1
SocketNodelay=Y

[SESSION]
{session}
"""
# QuickFIX wants every session of an acceptor's settings to have an accept port (and the
# same for initiators), so each side gets a settings file of its own
ACCEPTOR = (
    "ConnectionType=acceptor\nTargetCompID={oms}\nSocketAcceptHost=127.0.0.1\nSocketAcceptPort={oms_port}"
)
INITIATOR = (
    "ConnectionType=initiator\nTargetCompID={lp}\nSocketConnectHost=127.0.0.1\nSocketConnectPort={lp_port}"
)

_HEADER_TAGS = (34, 43, 49, 52, 56, 97, 122)  # what the sending session sets itself


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Relay(fix.Application):
    """Forwards D from the OMS to the LP and 8 from the LP to the OMS (QuickFIX callbacks)."""

    def __init__(self, oms: str, lp: str) -> None:
        super().__init__()
        self.oms = fix.SessionID("FIX.4.4", "FIXGW", oms)
        self.lp = fix.SessionID("FIX.4.4", "FIXGW", lp)
        self.oms_key = self.oms.toString()
        self.lp_key = self.lp.toString()

    def onCreate(self, session_id: Any) -> None:
        pass

    def onLogon(self, session_id: Any) -> None:
        _emit(f"LOGON {session_id.getTargetCompID().getValue()}")

    def onLogout(self, session_id: Any) -> None:
        _emit(f"LOGOUT {session_id.getTargetCompID().getValue()}")

    def toAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        pass

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:
        msg_type = message.getHeader().getField(35)
        key = session_id.toString()
        if key == self.oms_key and msg_type == "D":
            self._forward(message, self.lp)
        elif key == self.lp_key and msg_type == "8":
            self._forward(message, self.oms)

    @staticmethod
    def _forward(message: Any, to: Any) -> None:
        out = fix.Message(message.toString(), False)
        header = out.getHeader()
        for tag in _HEADER_TAGS:
            if header.isSetField(tag):
                header.removeField(tag)
        fix.Session.sendToTarget(out, to)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--oms-port", type=int, required=True)
    parser.add_argument("--lp-port", type=int, required=True)
    parser.add_argument("--oms", default="OMS1", help="the OMS's CompID")
    parser.add_argument("--lp", default="LP_A", help="the LP's CompID")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qf-relay-") as tmp:
        sides = {}
        for name, session in (
            ("acceptor", ACCEPTOR.format(oms=args.oms, oms_port=args.oms_port)),
            ("initiator", INITIATOR.format(lp=args.lp, lp_port=args.lp_port)),
        ):
            path = Path(tmp) / f"{name}.cfg"
            path.write_text(SETTINGS.format(session=session))
            sides[name] = fix.SessionSettings(str(path))
        app = Relay(args.oms, args.lp)
        stores = fix.MemoryStoreFactory()
        acceptor = fix.SocketAcceptor(app, stores, sides["acceptor"])
        initiator = fix.SocketInitiator(app, stores, sides["initiator"])
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        acceptor.start()
        initiator.start()
        _emit("STARTED")
        while not stop.wait(0.5):
            pass
        initiator.stop()
        acceptor.stop()
    _emit("STOPPED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
