"""The transport over real TCP on loopback: many sessions on one port, refusals, reconnects, TLS, logs."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.config import session_from_dict
from gateway.fix.codec import Framer, Message, encode_message, parse
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import Session
from gateway.sessions.transport import BaseApplication, Engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recorder(BaseApplication):
    def __init__(self) -> None:
        self.messages: list[tuple[str, Message]] = []
        self.logons: list[str] = []

    def on_logon(self, session: Session, now: float) -> None:
        self.logons.append(session.settings.name)

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self.messages.append((session.settings.name, msg))


def acceptor(port: int, target: str, tmp: Path, **extra: Any) -> Any:
    d: dict[str, Any] = {
        "ConnectionType": "acceptor",
        "BeginString": "FIX.4.4",
        "SenderCompID": "GW",
        "TargetCompID": target,
        "SocketAcceptPort": port,
        "FileStorePath": str(tmp / "acc-store"),
        "FileLogPath": str(tmp / "acc-log"),
        "HeartBtInt": 5,
    }
    d.update(extra)
    return session_from_dict(d)


def initiator(port: int, sender: str, tmp: Path, **extra: Any) -> Any:
    d: dict[str, Any] = {
        "ConnectionType": "initiator",
        "BeginString": "FIX.4.4",
        "SenderCompID": sender,
        "TargetCompID": "GW",
        "SocketConnectPort": port,
        "FileStorePath": str(tmp / f"init-store-{sender}"),
        "FileLogPath": str(tmp / f"init-log-{sender}"),
        "HeartBtInt": 5,
        "ReconnectInterval": 1,
    }
    d.update(extra)
    return session_from_dict(d)


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def raw_logon(port: int, sender: str, target: str, **fields: Any) -> list[Message]:
    """Log on by hand; return what the acceptor sent before closing (or within 2 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = [(int(k[1:]), v) for k, v in fields.items()]
    writer.write(
        encode_message(
            [
                (8, "FIX.4.4"),
                (35, "A"),
                (34, 1),
                (49, sender),
                (52, utc_timestamp(time.time())),
                (56, target),
                (98, 0),
                (108, 30),
                *extra,
            ]
        )
    )
    framer = Framer()
    out: list[Message] = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(reader.read(4096), deadline - time.monotonic())
        except TimeoutError:
            break
        if not data:
            out.append(Message([(0, b"EOF")]))
            break
        out += [parse(f) for f in framer.feed(data) if isinstance(f, bytes)]
    writer.close()
    return out


def test_one_port_many_sessions_and_refusals(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        acc_app = Recorder()
        gw = Engine(acc_app)
        gw.add_session(acceptor(port, "OMS1", tmp_path))
        gw.add_session(
            acceptor(port, "OMS2", tmp_path, Username="oms2", PasswordEnv="OMS2_SECRET"),
            environ={"OMS2_SECRET": "s3cret"},
        )
        await gw.start()
        clients = Engine(Recorder())
        c1 = clients.add_session(initiator(port, "OMS1", tmp_path))
        c2 = clients.add_session(
            initiator(port, "OMS2", tmp_path, Username="oms2", PasswordEnv="OMS2_SECRET"),
            environ={"OMS2_SECRET": "s3cret"},
        )
        await clients.start()
        try:
            await wait_for(lambda: c1.logged_on and c2.logged_on)
            assert sorted(acc_app.logons) == ["GW->OMS1", "GW->OMS2"]
            clients.send(
                c1, b"D", b"11=A\x0121=1\x0155=X\x0154=1\x0138=1\x0140=1\x0160=20261121-10:00:00\x01"
            )
            clients.send(
                c2, b"D", b"11=B\x0121=1\x0155=X\x0154=1\x0138=1\x0140=1\x0160=20261121-10:00:00\x01"
            )
            await wait_for(lambda: len(acc_app.messages) == 2)
            assert {(n, m.get(11)) for n, m in acc_app.messages} == {
                ("GW->OMS1", b"A"),
                ("GW->OMS2", b"B"),
            }
            # an unknown CompID: a Logout that says why, then the connection closes
            unknown = await raw_logon(port, "NOBODY", "GW")
            assert unknown[0].msg_type == b"5" and b"Unknown session" in (unknown[0].get(58) or b"")
            assert unknown[-1].get(0) == b"EOF"
            # a second logon for a session that is logged on: closed, the first one unharmed
            second = await raw_logon(port, "OMS1", "GW")
            assert second[-1].get(0) == b"EOF" and not any(m.msg_type == b"A" for m in second)
            assert c1.logged_on
            # a wrong password: Logout with the reason, then closed
            c2_engine_stop = clients.stop
            await c2_engine_stop()
            bad = await raw_logon(port, "OMS2", "GW", f553="oms2", f554="wrong")
            assert bad[0].msg_type == b"5" and b"Password" in (bad[0].get(58) or b"")
            assert bad[-1].get(0) == b"EOF"
        finally:
            await clients.stop()
            await gw.stop()

    asyncio.run(main())


def test_initiator_reconnects_with_backoff_and_resumes(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        client_app = Recorder()
        clients = Engine(client_app)
        c = clients.add_session(initiator(port, "OMS1", tmp_path))
        await clients.start()  # nobody is listening yet: it keeps retrying
        await asyncio.sleep(1.5)
        assert not c.logged_on
        gw = Engine(Recorder())
        acc = gw.add_session(acceptor(port, "OMS1", tmp_path))
        await gw.start()
        try:
            await wait_for(lambda: c.logged_on, timeout=8)
            seq_before = c.store.next_sender_seq
            # the gateway goes away and comes back on the same store
            await gw.stop()
            await wait_for(lambda: not c.logged_on)
            gw = Engine(Recorder())
            acc = gw.add_session(acceptor(port, "OMS1", tmp_path))
            await gw.start()
            await wait_for(lambda: c.logged_on, timeout=8)
            assert c.store.next_sender_seq > seq_before  # no reset: the sequence went on
            assert acc.store.next_target_seq == c.store.next_sender_seq
        finally:
            await clients.stop()
            await gw.stop()

    asyncio.run(main())


def test_tls_both_sides(tmp_path: Path) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    async def main() -> None:
        port = free_port()
        gw = Engine(Recorder())
        gw.add_session(
            acceptor(
                port,
                "OMS1",
                tmp_path,
                SocketUseSSL=True,
                SSLCertificate=str(tmp_path / "server.pem"),
                SSLPrivateKey=str(tmp_path / "server.pem"),
            )
        )
        await gw.start()
        clients = Engine(Recorder())
        c = clients.add_session(
            initiator(port, "OMS1", tmp_path, SocketUseSSL=True, SSLCACertificate=str(tmp_path / "ca.pem"))
        )
        await clients.start()
        try:
            await wait_for(lambda: c.logged_on, timeout=8)
            # a plain-text client cannot log on to the TLS port
            plain = await raw_logon(port, "OMS1", "GW")
            assert not any(m.msg_type == b"A" for m in plain)
        finally:
            await clients.stop()
            await gw.stop()

    asyncio.run(main())


def test_message_log_is_in_quickfix_format(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        gw = Engine(Recorder())
        gw.add_session(acceptor(port, "OMS1", tmp_path))
        await gw.start()
        clients = Engine(Recorder())
        c = clients.add_session(initiator(port, "OMS1", tmp_path))
        await clients.start()
        try:
            await wait_for(lambda: c.logged_on)
        finally:
            await clients.stop()
            await gw.stop()

    asyncio.run(main())
    log = (tmp_path / "acc-log" / "FIX.4.4-GW-OMS1.messages.current.log").read_bytes().splitlines()
    line = re.compile(rb"^\d{8}-\d{2}:\d{2}:\d{2}\.\d{6} : 8=FIX\.4\.4\x019=\d+\x0135=.*\x0110=\d{3}\x01$")
    assert len(log) >= 4 and all(line.match(x) for x in log), log[:2]
    kinds = [re.search(rb"\x0135=([^\x01]+)", x).group(1) for x in log]  # type: ignore[union-attr]
    assert kinds[:2] == [b"A", b"A"] and kinds[-2:] == [b"5", b"5"]
    events = (tmp_path / "acc-log" / "FIX.4.4-GW-OMS1.event.current.log").read_text()
    assert "logged on" in events
