"""Helpers for gateway tests over real TCP: a gateway from a settings dict, tiny peers.

The peers here are deliberately small (an LP that answers by a rule, an OMS that records
what it gets); the full simulators live in ``simulators/``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.app import GatewayApplication
from gateway.config import parse_config, session_from_dict
from gateway.fix.codec import Message
from gateway.fix.timeutil import utc_timestamp
from gateway.orders import TERMINAL, ChildPlan, Out, ParentOrder
from gateway.sessions.session import Session
from gateway.sessions.store import MemoryStore
from gateway.sessions.transport import BaseApplication, Engine
from simulators.checker import ReportChecker
from simulators.lp import LpSimulator


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def fields(m: Message, **expected: bytes | str | int) -> None:
    """Assert tags (``t150=b"F"``) of one message, with the message in the failure text."""
    for key, value in expected.items():
        want = value if isinstance(value, bytes) else str(value).encode()
        assert m.get(int(key[1:])) == want, f"tag {key[1:]}: {m.get(int(key[1:]))!r} != {want!r} in {m}"


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


GW_DEFAULT: dict[str, Any] = {
    "BeginString": "FIX.4.4",
    "SenderCompID": "FIXGW",
    "HeartBtInt": 5,
    "ReconnectInterval": 1,
    "ReconnectMaxInterval": 1,
}


def gateway_settings(tmp: Path, oms_port: int, lp_ports: dict[str, int], **tables: Any) -> Any:
    data: dict[str, Any] = {
        "gateway": {"StateDir": str(tmp / "state")},
        "default": dict(GW_DEFAULT),
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


# --------------------------------------------------------------------------------------------
# A harness for the order-path tests: a gateway, LPs (hand-driven or simulated) and a scripted
# OMS whose every report goes through the OMS simulator's ReportChecker.


class ErrorLog(logging.Handler):
    """Collects ERROR records of the gateway's loggers: the engine logs and swallows an
    exception raised by the application, so a test must look for them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [self.format(r) for r in self.records]


@dataclass
class LpOrder:
    """A child order as a hand-driven LP holds it (quantities in shares, prices Decimal)."""

    lp: ManualLp
    cl: bytes
    symbol: bytes
    side: bytes
    qty: int
    price: Decimal | None
    tif: bytes
    order_id: bytes
    cum: int = 0
    notional: Decimal = Decimal(0)
    status: bytes = b"A"  # pending new until acked
    fills: dict[bytes, tuple[int, Decimal]] = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.status not in (b"2", b"4", b"8", b"C")

    @property
    def last_exec_id(self) -> bytes:
        return list(self.fills)[-1]

    @property
    def avg_px(self) -> bytes:
        if not self.cum:
            return b"0"
        return str((self.notional / self.cum).quantize(Decimal("0.000001")).normalize()).encode()


class ManualLp(BaseApplication):
    """An LP acceptor the test drives by hand: every NewOrderSingle is recorded (and acked
    unless ``auto_ack`` is off); fills, cancels, busts, corrections and restatements go out
    when the test says. OrderStatusRequests are answered from what it holds unless
    ``answer_status`` is off; cancel requests are recorded and left to the test.

    Its store outlives ``stop()``, so ``restart()`` brings the same LP back (an outage)."""

    def __init__(self, name: str, port: int, *, auto_ack: bool = True) -> None:
        self.name = name
        self.port = port
        self.auto_ack = auto_ack
        self.answer_status = True
        self.orders: list[LpOrder] = []
        self.by_cl: dict[bytes, LpOrder] = {}
        self.got: list[Message] = []
        self.cancel_requests: list[Message] = []
        self.status_requests: list[Message] = []
        self.store = MemoryStore()
        self.engine: Engine | None = None
        self.session: Session | None = None
        self._seq = 0

    async def start(self) -> None:
        self.engine = Engine(self)
        self.session = self.engine.add_session(
            session_from_dict(
                {
                    "ConnectionType": "acceptor",
                    "BeginString": "FIX.4.4",
                    "SenderCompID": self.name,
                    "TargetCompID": "FIXGW",
                    "SocketAcceptPort": self.port,
                    "UseMemoryStore": True,
                    "LogMessages": False,
                }
            ),
            store=self.store,
        )
        await self.engine.start()

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def logged_on(self) -> bool:
        return self.session is not None and self.session.logged_on

    def disconnect(self) -> None:
        """Drop the TCP connection without a Logout (the gateway reconnects)."""
        assert self.session is not None and self.engine is not None
        self.session.close_requested = True
        self.engine.flush()
        # an idle session is closed by the engine's timer; close it now
        for runtime in self.engine._runtimes.values():
            if runtime.connection is not None:
                runtime.connection._close()

    # --- what arrives --------------------------------------------------------------------------
    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self.got.append(msg)
        t = msg.msg_type
        if t == b"D":
            self._seq += 1
            price = msg.get(44)
            o = LpOrder(
                self,
                msg[11],
                msg[55],
                msg[54],
                int(msg[38]),
                Decimal(price.decode()) if price else None,
                msg.get(59) or b"0",
                b"%s-O%d" % (self.name.encode(), self._seq),
            )
            self.orders.append(o)
            self.by_cl[o.cl] = o
            if self.auto_ack:
                self.ack(o)
        elif t == b"F":
            self.cancel_requests.append(msg)
        elif t == b"H":
            self.status_requests.append(msg)
            if self.answer_status:
                self.answer_status_request(msg)

    def children(self, live: bool | None = None) -> list[LpOrder]:
        return [o for o in self.orders if live is None or o.live == live]

    # --- what goes out -------------------------------------------------------------------------
    def _exec_id(self) -> bytes:
        self._seq += 1
        return b"%s-E%d" % (self.name.encode(), self._seq)

    def _send(self, body: bytes, msg_type: bytes = b"8") -> None:
        assert self.session is not None and self.engine is not None
        self.engine.send(self.session, msg_type, body)

    def er(
        self,
        o: LpOrder,
        exec_type: bytes,
        *,
        last: tuple[int, Decimal] | None = None,
        extra: bytes = b"",
        exec_id: bytes | None = None,
        cl: bytes | None = None,
    ) -> bytes:
        """Send an ExecutionReport for ``o`` as it is now; returns its ExecID."""
        exec_id = exec_id or self._exec_id()
        leaves = o.qty - o.cum if o.live else 0
        body = b"37=%s\x0111=%s\x0117=%s\x01150=%s\x0139=%s\x0155=%s\x0154=%s\x0138=%d\x01" % (
            o.order_id,
            cl or o.cl,
            exec_id,
            exec_type,
            o.status,
            o.symbol,
            o.side,
            o.qty,
        )
        if last is not None:
            body += b"32=%d\x0131=%s\x01" % (last[0], str(last[1]).encode())
        body += b"151=%d\x0114=%d\x016=%s\x0160=%s\x01" % (
            leaves,
            o.cum,
            o.avg_px,
            utc_timestamp(time.time()),
        )
        self._send(body + extra)
        return exec_id

    def ack(self, o: LpOrder) -> bytes:
        o.status = b"0"
        return self.er(o, b"0")

    def fill(self, o: LpOrder, qty: int, px: str, *, status: bytes | None = None) -> bytes:
        """A fill; the order stays live unless it is filled in full (or ``status`` says)."""
        price = Decimal(px)
        o.cum += qty
        o.notional += qty * price
        if status is not None:
            o.status = status
        elif o.live:
            o.status = b"2" if o.cum >= o.qty else b"1"
        exec_id = self._exec_id()
        o.fills[exec_id] = (qty, price)
        return self.er(o, b"F", last=(qty, price), exec_id=exec_id)

    def cancel(self, o: LpOrder, text: str = "", *, request: Message | None = None) -> bytes:
        """Cancel ``o`` (the IOC remainder, or the answer to a cancel request)."""
        o.status = b"4"
        extra = b"58=%s\x01" % text.encode() if text else b""
        if request is not None:
            extra += b"41=%s\x01" % request[41]
            return self.er(o, b"4", extra=extra, cl=request[11])
        return self.er(o, b"4", extra=extra)

    def reject(self, o: LpOrder, text: str = "last look") -> bytes:
        o.status = b"8"
        return self.er(o, b"8", extra=b"103=0\x0158=%s\x01" % text.encode())

    def bust(self, o: LpOrder, exec_id: bytes) -> bytes:
        qty, price = o.fills.pop(exec_id)
        o.cum -= qty
        o.notional -= qty * price
        if o.live:
            o.status = b"1" if o.cum else b"0"
        elif o.status == b"2":
            o.status = b"4"
        return self.er(o, b"H", last=(qty, price), extra=b"19=%s\x0158=trade bust\x01" % exec_id)

    def correct(self, o: LpOrder, exec_id: bytes, qty: int, px: str) -> bytes:
        old_qty, old_price = o.fills.pop(exec_id)
        price = Decimal(px)
        o.cum += qty - old_qty
        o.notional += qty * price - old_qty * old_price
        if o.status == b"2" and o.cum < o.qty:
            o.status = b"4"  # done, no longer filled in full
        new_id = self._exec_id()
        o.fills[new_id] = (qty, price)
        return self.er(
            o, b"G", last=(qty, price), exec_id=new_id, extra=b"19=%s\x0158=trade correction\x01" % exec_id
        )

    def restate(self, o: LpOrder, leaves: int) -> bytes:
        """ExecType D: the LP cuts the order's leaves to ``leaves``."""
        o.qty = o.cum + leaves
        return self.er(o, b"D", extra=b"378=5\x0158=restated\x01")

    def answer_status_request(self, msg: Message) -> None:
        o = self.by_cl.get(msg[11])
        if o is None:
            self._send(
                b"37=NONE\x0111=%s\x0117=%s\x01150=I\x0139=8\x0155=%s\x0154=%s\x0138=0\x01151=0\x01"
                b"14=0\x016=0\x01103=5\x0158=Unknown order\x01" % (msg[11], self._exec_id(), msg[55], msg[54])
            )
            return
        self.er(o, b"I")


class ScriptedOms(BaseApplication):
    """The OMS side: sends what the test says and puts every report through ReportChecker."""

    def __init__(self, port: int, tmp: Path) -> None:
        self.checker = ReportChecker()
        self.got: list[Message] = []
        self.engine = Engine(self)
        self.session = self.engine.add_session(
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
        self._status_seq = 0

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self.got.append(msg)
        self.checker.on_message(msg)

    def _send(self, msg_type: bytes, body: bytes) -> None:
        self.engine.send(self.session, msg_type, body)

    def new(
        self,
        cl: str,
        qty: int = 100,
        px: str | None = "100.05",
        *,
        side: str = "1",
        tif: str = "0",
        symbol: str = "ACME",
    ) -> None:
        self.checker.new_order(cl, symbol, "buy" if side == "1" else "sell", qty, px, tif)
        self._send(b"D", nos(cl, qty, px, side, tif, symbol))

    def cancel(self, cl: str, orig: str, *, symbol: str = "ACME", side: str = "1") -> None:
        self.checker.cancel_request(cl, orig)
        now = utc_timestamp(time.time()).decode()
        self._send(b"F", f"41={orig}\x0111={cl}\x0155={symbol}\x0154={side}\x0160={now}\x01".encode())

    def replace(
        self,
        cl: str,
        orig: str,
        qty: int,
        px: str | None,
        *,
        symbol: str = "ACME",
        side: str = "1",
        tif: str = "0",
    ) -> None:
        self.checker.replace_request(cl, orig, qty, px)
        body = f"41={orig}\x0111={cl}\x0121=1\x0155={symbol}\x0154={side}\x0138={qty}\x01"
        body += f"40=2\x0144={px}\x01" if px is not None else "40=1\x01"
        body += f"59={tif}\x0160={utc_timestamp(time.time()).decode()}\x01"
        self._send(b"G", body.encode())

    def status(self, cl: str, *, symbol: str = "ACME", side: str = "1") -> None:
        self.checker.status_request(cl)
        self._status_seq += 1
        self._send(b"H", f"11={cl}\x0155={symbol}\x0154={side}\x01790=S{self._status_seq}\x01".encode())

    # --- reading what came back ----------------------------------------------------------------
    def mark(self) -> int:
        return len(self.got)

    def since(self, mark: int, *, status: bool = False) -> list[Message]:
        """Reports and cancel rejects after ``mark``; status answers (150=I) only if asked."""
        return [m for m in self.got[mark:] if m.msg_type in (b"8", b"9") and (status or m.get(150) != b"I")]

    def of(self, *cls: str) -> list[Message]:
        keys = {c.encode() for c in cls}
        return [m for m in self.got if m.get(11) in keys or m.get(41) in keys]

    async def wait_since(
        self, mark: int, n: int, what: str = "reports", timeout: float = 5.0, *, status: bool = False
    ) -> list[Message]:
        await wait_for(lambda: len(self.since(mark, status=status)) >= n, timeout, what)
        return self.since(mark, status=status)

    async def barrier(self, cl: str) -> Message:
        """A status request answered: everything the gateway sent before it has arrived."""
        mark = self.mark()
        self.status(cl)
        await wait_for(
            lambda: any(m.get(150) == b"I" and m.get(11) == cl.encode() for m in self.got[mark:]),
            5,
            f"status answer for {cl}",
        )
        return next(m for m in self.got[mark:] if m.get(150) == b"I" and m.get(11) == cl.encode())


def lp_sim_profile(names: tuple[str, ...] = ("LP_A", "LP_B"), **lp: Any) -> dict[str, Any]:
    """An LP simulator profile: ACME at a still mid of 100.00, no latency, ``lp`` keys for every
    LP (a "misbehaviour" table included)."""
    table: dict[str, Any] = {
        "spread_bps": 2.0,
        "quote_size": 100000,
        "ack_latency": 0,
        "fill_latency": 0,
    }
    table.update(lp)
    return {
        "seed": 11,
        "step_ms": 50,
        "status_interval_s": 0,
        "instrument": [
            {"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1", "Mid": "100.00", "VolatilityBps": 0}
        ],
        "lp": [{"name": name, "port": 0, **table} for name in names],
    }


def day_children(gw: GatewayApplication) -> None:
    """Children of Day parents go out as Day limit orders and rest at the LP.

    The static router sends IOC children only; the LP behaviours that act on resting orders
    (cancel requests answered by a late fill, unsolicited cancels, restatements) need Day
    children, so these tests plug a planner into the order book's planner seam."""
    plan = gw.book.planner

    def planner(parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        return [
            c._replace(tif=b"0") if parent.tif == b"0" and c.price is not None else c
            for c in plan(parent, available, now)
        ]

    gw.book.planner = planner


def end_of_day(gw: GatewayApplication) -> None:
    """The OMS session's trading day ends now (as at its EndTime): its DAY orders expire."""
    for session in gw.oms_sessions.values():
        gw.on_end_of_session(session, time.time())
    gw.engine.flush()


def check_book(gw: GatewayApplication) -> None:
    """The order book's invariants for every parent, and no quantity routed twice."""
    for p in gw.book.parents.values():
        p.check()
        for c in p.children:
            assert 0 <= c.cum_qty <= c.qty, f"{c.child_id!r}: cum {c.cum_qty} of {c.qty}"
        if p.state in TERMINAL:
            assert p.order_id not in gw.book.open_parents


class Harness:
    """One gateway on free ports with hand-driven LPs (``manual``) and/or simulated ones
    (``sim``, an LpSimulator profile dict), and a ScriptedOms (or none: then an OMS simulator
    connects to ``oms_port``); every (state, event) the order book applies is recorded in
    ``rows``, and the parent's invariants are checked after it. ``tables`` go into the gateway's settings
    ([risk], [router], [[instrument]], ...)."""

    def __init__(
        self,
        tmp: Path,
        *,
        manual: tuple[str, ...] = ("LP_A", "LP_B"),
        sim: dict[str, Any] | None = None,
        day: bool = False,
        default: dict[str, Any] | None = None,
        scripted_oms: bool = True,
        **tables: Any,
    ) -> None:
        self.tmp = tmp
        self.scripted_oms = scripted_oms
        self.oms_port = free_port()
        self.manual = {name: ManualLp(name, free_port()) for name in manual}
        self.sim_profile = sim
        self.sim: LpSimulator | None = None
        self.day = day
        self.default = default
        self.tables = tables
        self.rows: list[tuple[str, str]] = []
        self.errors = ErrorLog()
        self._gw: GatewayApplication | None = None
        self._oms: ScriptedOms | None = None

    @property
    def gw(self) -> GatewayApplication:
        assert self._gw is not None
        return self._gw

    @property
    def oms(self) -> ScriptedOms:
        assert self._oms is not None
        return self._oms

    def lp(self, name: str = "LP_A") -> ManualLp:
        return self.manual[name]

    async def __aenter__(self) -> Harness:
        logging.getLogger("fixgw").addHandler(self.errors)
        ports = {}
        for lp in self.manual.values():
            await lp.start()
            ports[lp.name] = lp.port
        if self.sim_profile is not None:
            self.sim = LpSimulator(self.sim_profile, ports=0)
            await self.sim.start()
            ports.update({name: self.sim.port(name) for name in self.sim.lps})
        oms_port = self.oms_port
        tables = dict(self.tables)
        if self.default:
            tables["default"] = {**GW_DEFAULT, **self.default}
        settings = gateway_settings(self.tmp, oms_port, ports, **tables)
        self._gw = GatewayApplication(settings)
        book = self._gw.book
        apply = book._apply

        def recorded(p: ParentOrder, event: str, now: float, out: list[Out], *args: object) -> None:
            self.rows.append((p.state, event))
            apply(p, event, now, out, *args)
            p.check()  # after every step: a failure is logged by the engine and fails verify()

        setattr(book, "_apply", recorded)  # noqa: B010 - an instance attribute over the method
        if self.day:
            day_children(self._gw)
        await self._gw.start()
        if self.scripted_oms:
            self._oms = ScriptedOms(oms_port, self.tmp)
            await self._oms.engine.start()
        await wait_for(
            lambda: (
                (self._oms is None or self.oms.session.logged_on)
                and all(self.gw.available(lp) for lp in ports)
            ),
            8,
            "logons",
        )
        if self.sim is not None:
            symbols = [i.symbol for i in self.gw.instruments if i.symbol != "*"]
            await wait_for(
                lambda: all(self.gw.marketdata.mid(s, time.time()) for s in symbols), 5, "market data"
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._oms is not None:
                await self._oms.engine.stop()
            if self._gw is not None:
                await self._gw.stop()
            for lp in self.manual.values():
                await lp.stop()
            if self.sim is not None:
                await self.sim.stop()
        finally:
            logging.getLogger("fixgw").removeHandler(self.errors)

    # --- waiting and checking ------------------------------------------------------------------
    def parent(self, cl: str) -> ParentOrder:
        (session,) = self.gw.oms_sessions
        p = self.gw.book.by_cl_ord_id.get((session, cl.encode()))
        assert p is not None, f"no parent order {cl}"
        return p

    async def wait_row(self, state: str, event: str, after: int = 0, timeout: float = 5.0) -> None:
        await wait_for(lambda: (state, event) in self.rows[after:], timeout, f"row ({state}, {event})")

    async def wait_child(self, lp: str, n: int, timeout: float = 5.0) -> LpOrder:
        """The ``n``-th child (1-based) at a hand-driven LP."""
        m = self.manual[lp]
        await wait_for(lambda: len(m.orders) >= n, timeout, f"child #{n} at {lp}")
        return m.orders[n - 1]

    async def drain(self, timeout: float = 8.0) -> None:
        """End every order: the OMS cancels what is open, the hand-driven LPs cancel what they
        hold, until nothing is open and every request is answered."""
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            book = self.gw.book
            pending = self.oms.checker.has_pending()
            for p in list(book.open_parents.values()):
                if p.state in ("new", "partially_filled") and not pending:
                    n += 1
                    self.oms.cancel(f"DRAIN{n}", p.cl_ord_id.decode())
            for lp in self.manual.values():
                if lp.logged_on:
                    for o in lp.children(live=True):
                        lp.cancel(o)
            await asyncio.sleep(0.05)
            if not book.open_parents and not self.oms.checker.has_pending():
                await self.oms.barrier(next(iter(self.oms.checker.orders)))
                return
        raise AssertionError(
            f"orders still open: {[p.cl_ord_id for p in self.gw.book.open_parents.values()]}, "
            f"pending {self.oms.checker.pending_requests()}"
        )

    def verify(self, *, allow: tuple[str, ...] = (), anomalies: int = 0) -> None:
        """No logged error, the book's invariants, and a clean ReportChecker."""
        assert not self.errors.records, self.errors.texts()
        check_book(self.gw)
        assert self.gw.book.counters.get("anomalies", 0) == anomalies, self.gw.book.anomalies
        if self._oms is None:
            return
        checker = self.oms.checker
        checker.finish()
        bad = [v for v in checker.violations if v.kind not in allow]
        assert not bad, "\n".join(map(str, bad))


def sim_agrees(gw: GatewayApplication, sim: LpSimulator, *, refused: int = 0) -> None:
    """What the gateway believes each child did is what the simulated LP did: the same
    filled quantity, and done on both sides. ``refused`` late fills the gateway refused
    (DontKnowTrade) are the only allowed differences."""
    differ = []
    for p in gw.book.parents.values():
        for c in p.children:
            if c.lp not in sim.lps:
                continue
            o = sim.lp(c.lp).order(c.child_id)
            if o is None:
                assert c.state == "rejected" and c.cum_qty == 0, (c.child_id, c.state)
                continue
            if o.cum != c.cum_qty:
                differ.append((c.child_id, o.cum, c.cum_qty))
            done = c.state in ("filled", "canceled", "rejected", "expired")
            # restatements included; one the LP made while away is seen in the status answer
            # only as LeavesQty, which does not matter to a child that ended meanwhile
            assert o.qty == c.qty or (done and c.status_asked is not None), (c.child_id, o.qty, c.qty)
            assert done != o.live, (c.child_id, c.state, o.status)
    assert len(differ) <= refused, differ
