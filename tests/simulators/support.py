"""Test helpers: a tiny "gateway side" (FIX initiators) to drive the LP simulator over TCP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from gateway.config import session_from_dict
from gateway.fix.codec import Message
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import Session
from gateway.sessions.transport import BaseApplication, Engine
from simulators.lp import LpSimulator


def lp_profile(**lp: Any) -> dict[str, Any]:
    """A one-LP, one-instrument profile with no latency; ``lp`` overrides LP keys."""
    lp_table: dict[str, Any] = {
        "name": "LP_A",
        "port": 0,
        "spread_bps": 10.0,
        "quote_size": 1000,
        "ack_latency": 0,
        "fill_latency": 0,
    }
    lp_table.update(lp)
    return {
        "seed": 7,
        "step_ms": 100,
        "status_interval_s": 0,
        "instrument": [
            {"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1", "Mid": "100.00", "VolatilityBps": 0}
        ],
        "lp": [lp_table],
    }


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Taker(BaseApplication):
    """The gateway's stand-in: an initiator per LP that records what it receives."""

    def __init__(self) -> None:
        self.engine = Engine(self)
        self.sessions: dict[str, Session] = {}
        self.received: dict[str, list[Message]] = {}
        self.logons: dict[str, int] = {}
        self.events: list[tuple[str, str]] = []
        self._seq = 0

    def connect(self, lp: str, port: int, **extra: Any) -> Session:
        d: dict[str, Any] = {
            "ConnectionType": "initiator",
            "BeginString": "FIX.4.4",
            "SenderCompID": "FIXGW",
            "TargetCompID": lp,
            "SocketConnectPort": port,
            "HeartBtInt": 30,
            "UseMemoryStore": True,
            "LogMessages": False,
            "ReconnectInterval": 1,
        }
        d.update(extra)
        session = self.engine.add_session(session_from_dict(d))
        self.sessions[lp] = session
        self.received[lp] = []
        self.logons[lp] = 0
        return session

    async def start(self) -> None:
        await self.engine.start()
        await wait_for(lambda: all(s.logged_on for s in self.sessions.values()))

    async def stop(self) -> None:
        await self.engine.stop()

    def on_logon(self, session: Session, now: float) -> None:
        self.logons[session.target_comp_id.decode()] += 1

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self.received[session.target_comp_id.decode()].append(msg)

    def on_session_event(self, session: Session, event: Any, now: float) -> None:
        self.events.append((event.kind, event.text))

    # --- sending ---------------------------------------------------------------------
    def send(self, lp: str, msg_type: bytes, body: bytes) -> None:
        self.engine.send(self.sessions[lp], msg_type, body)

    def next_id(self, prefix: str = "C") -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def subscribe(self, lp: str, req_id: str, *symbols: str) -> None:
        body = b"262=%s\x01263=1\x01264=1\x01265=1\x01267=2\x01269=0\x01269=1\x01146=%d\x01" % (
            req_id.encode(),
            len(symbols),
        )
        body += b"".join(b"55=%s\x01" % s.encode() for s in symbols)
        self.send(lp, b"V", body)

    def order(
        self,
        lp: str,
        side: str,
        qty: str,
        price: str | None,
        *,
        tif: str = "3",
        symbol: str = "ACME",
        clordid: str | None = None,
    ) -> str:
        cid = clordid or self.next_id()
        fields = [
            b"11=" + cid.encode(),
            b"21=1",
            b"55=" + symbol.encode(),
            b"54=" + (b"1" if side == "buy" else b"2"),
            b"38=" + qty.encode(),
            b"40=" + (b"2" if price is not None else b"1"),
        ]
        if price is not None:
            fields.append(b"44=" + price.encode())
        fields += [b"59=" + tif.encode(), b"60=" + utc_timestamp(time.time())]
        self.send(lp, b"D", b"\x01".join(fields) + b"\x01")
        return cid

    def cancel(self, lp: str, orig: str, side: str = "buy", qty: str = "100") -> str:
        cid = self.next_id("X")
        body = b"41=%s\x0111=%s\x0155=ACME\x0154=%s\x0138=%s\x0160=%s\x01" % (
            orig.encode(),
            cid.encode(),
            b"1" if side == "buy" else b"2",
            qty.encode(),
            utc_timestamp(time.time()),
        )
        self.send(lp, b"F", body)
        return cid

    def status(self, lp: str, clordid: str, side: str = "buy") -> None:
        body = b"11=%s\x0155=ACME\x0154=%s\x01790=S1\x01" % (
            clordid.encode(),
            b"1" if side == "buy" else b"2",
        )
        self.send(lp, b"H", body)

    # --- reading ------------------------------------------------------------------------
    def reports(self, lp: str, clordid: str | None = None) -> list[Message]:
        out = [m for m in self.received[lp] if m.msg_type in (b"8", b"9")]
        if clordid is None:
            return out
        key = clordid.encode()
        return [m for m in out if m.get(11) == key or m.get(41) == key]

    async def wait_reports(self, lp: str, clordid: str, n: int, timeout: float = 5.0) -> list[Message]:
        await wait_for(lambda: len(self.reports(lp, clordid)) >= n, timeout)
        return self.reports(lp, clordid)

    def md(self, lp: str, msg_type: bytes = b"X") -> list[Message]:
        return [m for m in self.received[lp] if m.msg_type == msg_type]


@asynccontextmanager
async def lp_and_taker(
    profile: dict[str, Any], *, auto_step: bool = False, **taker_extra: Any
) -> AsyncIterator[tuple[LpSimulator, Taker]]:
    """The LP simulator on a free port and a logged-on taker session to each of its LPs."""
    sim = LpSimulator(profile, ports=0, auto_step=auto_step)
    await sim.start()
    taker = Taker()
    try:
        for name in sim.lps:
            taker.connect(name, sim.port(name), **taker_extra)
        await taker.start()
        yield sim, taker
    finally:
        await taker.stop()
        await sim.stop()
