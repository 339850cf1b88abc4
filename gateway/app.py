"""Wires one gateway process together: settings → FIX engine → application; start/stop.

For now the application is the session layer alone: every configured session is started
(acceptors listen, initiators connect with backoff), session events are printed, and any
application message is answered with a BusinessMessageReject (ApplicationNotAvailable)
until order routing is wired in. Ctrl-C (SIGINT) or SIGTERM logs every session out and
stops cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

from gateway.config import GatewaySettings
from gateway.fix.codec import Message
from gateway.fix.tags import BusinessRejectReason
from gateway.sessions.session import Session, SessionEvent
from gateway.sessions.transport import BaseApplication, Engine


class SessionMonitor(BaseApplication):
    """Prints session events; answers application messages that nothing handles yet."""

    def __init__(self, out: object = sys.stdout) -> None:
        self.out = out

    def _say(self, session: Session, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} {session.settings.name:<10} {text}", file=self.out, flush=True)  # type: ignore[call-overload]

    def on_logon(self, session: Session, now: float) -> None:
        self._say(session, "logged on")

    def on_logout(self, session: Session, now: float) -> None:
        self._say(session, f"logged out {session.logout_reason}".rstrip())

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        session.send_business_reject(
            msg, BusinessRejectReason.APPLICATION_NOT_AVAILABLE, "order routing is not available yet", now
        )

    def on_session_event(self, session: Session, event: SessionEvent, now: float) -> None:
        if event.kind in ("reject_sent", "reject_received", "gap_detected", "resend_requested", "logout"):
            self._say(session, event.text)


async def serve(settings: GatewaySettings, stop: asyncio.Event) -> None:
    engine = Engine(SessionMonitor())
    for session_settings in settings.sessions:
        engine.add_session(session_settings)
    await engine.start()
    for sid, port in engine.ports.items():
        print(f"listening: {sid} on port {port}", flush=True)
    try:
        await stop.wait()
    finally:
        await engine.stop()


def run(settings: GatewaySettings) -> int:
    """Run until interrupted; returns the process exit status."""
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    import uvloop

    uvloop.run(main())
    return 0
