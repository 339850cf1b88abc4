"""Helpers for gateway tests over real TCP: a gateway from a settings dict, tiny peers.

The peers here are deliberately small (an LP that answers by a rule, an OMS that records
what it gets); the full simulators live in ``simulators/``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.app import GatewayApplication
from gateway.config import parse_config, session_from_dict
from gateway.fix.codec import Message
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import Session
from gateway.sessions.transport import BaseApplication, Engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def gateway_settings(tmp: Path, oms_port: int, lp_ports: dict[str, int], **tables: Any) -> Any:
    data: dict[str, Any] = {
        "gateway": {"StateDir": str(tmp / "state")},
        "default": {
            "BeginString": "FIX.4.4",
            "SenderCompID": "FIXGW",
            "HeartBtInt": 5,
            "ReconnectInterval": 1,
            "ReconnectMaxInterval": 1,
        },
        "session": [
            {
                "Name": "OMS1",
                "ConnectionType": "acceptor",
                "TargetCompID": "OMS1",
                "SocketAcceptPort": oms_port,
            },
            *[
                {"Name": lp, "ConnectionType": "initiator", "TargetCompID": lp, "SocketConnectPort": port}
                for lp, port in lp_ports.items()
            ],
        ],
        "instrument": [{"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1"}],
        "router": {"Priority": list(lp_ports)},
    }
    data.update(tables)
    return parse_config(data, "test.toml", tmp)


class Peer(BaseApplication):
    """Records every application message; ``rule`` answers them (LP side)."""

    def __init__(self, rule: Callable[[Peer, Session, Message, float], None] | None = None) -> None:
        self.rule = rule
        self.got: list[Message] = []
        self.logged_on = False

    def on_logon(self, session: Session, now: float) -> None:
        self.logged_on = True

    def on_logout(self, session: Session, now: float) -> None:
        self.logged_on = False

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self.got.append(msg)
        if self.rule is not None:
            self.rule(self, session, msg, now)


def fill_all(px: bytes = b"100.00") -> Callable[[Peer, Session, Message, float], None]:
    """An LP rule: every NewOrderSingle is filled in full at ``px``."""
    counter = [0]

    def rule(peer: Peer, session: Session, msg: Message, now: float) -> None:
        if msg.msg_type != b"D":
            return
        counter[0] += 1
        qty = msg[38]
        session.send(
            b"8",
            b"37=L%d\x0111=%s\x0117=X%d\x01150=F\x0139=2\x0155=%s\x0154=%s\x0138=%s\x01"
            b"32=%s\x0131=%s\x01151=0\x0114=%s\x016=%s\x0160=%s\x01"
            % (counter[0], msg[11], counter[0], msg[55], msg[54], qty, qty, px, qty, px, utc_timestamp(now)),
            now,
        )

    return rule


async def start_lp(name: str, port: int, tmp: Path, rule: Callable[..., None] | None) -> tuple[Engine, Peer]:
    peer = Peer(rule)
    engine = Engine(peer)
    engine.add_session(
        session_from_dict(
            {
                "ConnectionType": "acceptor",
                "BeginString": "FIX.4.4",
                "SenderCompID": name,
                "TargetCompID": "FIXGW",
                "SocketAcceptPort": port,
                "UseMemoryStore": True,
                "LogMessages": False,
            }
        )
    )
    await engine.start()
    return engine, peer


async def start_oms(port: int, tmp: Path) -> tuple[Engine, Peer, Session]:
    peer = Peer()
    engine = Engine(peer)
    session = engine.add_session(
        session_from_dict(
            {
                "ConnectionType": "initiator",
                "BeginString": "FIX.4.4",
                "SenderCompID": "OMS1",
                "TargetCompID": "FIXGW",
                "SocketConnectPort": port,
                "FileStorePath": str(tmp / "oms-store"),
                "LogMessages": False,
                "ReconnectInterval": 1,
            }
        )
    )
    await engine.start()
    return engine, peer, session


async def start_gateway(settings: Any) -> GatewayApplication:
    app = GatewayApplication(settings)
    await app.start()
    return app


def nos(
    cl: str,
    qty: int = 100,
    px: str | None = "100.05",
    side: str = "1",
    tif: str = "3",
    symbol: str = "ACME",
    now: float | None = None,
) -> bytes:
    body = f"11={cl}\x0121=1\x0155={symbol}\x0154={side}\x0138={qty}\x01"
    body += f"40=2\x0144={px}\x01" if px is not None else "40=1\x01"
    body += f"59={tif}\x0160={utc_timestamp(now or time.time()).decode()}\x01"
    return body.encode()
