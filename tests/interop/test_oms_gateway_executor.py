"""An OMS on QuickFIX -> our gateway -> two LPs: the QuickFIX C++ executor and our LP simulator.

Three independent pieces judge the gateway here. The OMS (qf_oms.py, the QuickFIX Python
binding, FIX.4.4 OMS1 -> FIXGW) validates every message the gateway sends against QuickFIX's
FIX44.xml and would answer anything wrong with a Reject; the executor (QuickFIX C++,
EXECUTOR, FIX.4.4) fills every limit order at once at its limit price; ReportChecker
(simulators/checker.py) checks each order's reports for consistency.

The gateway and the LP simulator (LP "LP_SIM") run in this process on one asyncio loop, so
the test can set the static router's priority between orders; the OMS and the executor are
subprocesses. The session is driven once per module (``run``) and each test checks one
part of what was recorded, so one failure does not hide the others.

How the gateway works an order decides what the OMS can see: children are IOC limits
(SPEC: "Child orders are IOC limits by default") and the static router skips an LP whose
quote is through the parent's limit. So a DAY order never rests *at an LP*:
- priced through LP_SIM's ask, it goes to LP_SIM as an IOC child that LP_SIM holds for
  ``HOLD_MS`` and then cancels ("No liquidity"): a cancel or replace from the OMS meanwhile
  meets a working child, hence PendingCancel/PendingReplace before Canceled/Replaced;
- priced below LP_SIM's ask, it is held by the gateway itself (no child at all), and a
  cancel or replace is confirmed at once (FIX makes the pending report optional).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayApplication
from gateway.config import parse_config
from gateway.fix.codec import Message
from gateway.orders import CHILD_TERMINAL
from gateway.router import StaticRouter
from simulators.checker import ReportChecker
from simulators.lp import LpSimulator
from simulators.lp_profile import Lognormal
from tests.interop.support import (
    HERE,
    LoggedMessage,
    Peer,
    free_port,
    parse_fix,
    read_message_log,
    read_screen_log,
    require_executor,
    require_quickfix,
    spec_file,
)

pytestmark = pytest.mark.timeout(90)

# LP_SIM quotes ACME around 100.00 with a 10 bps spread: 99.95 / 100.05, and never moves
MID = "100.00"
LP_SIM_ASK = Decimal("100.05")
HOLD_MS = 1500  # how long LP_SIM holds an order before its decision ("No liquidity")
EXEC_PX = "100.02"  # IOC limit for the executor, which fills at exactly this price
THROUGH_ASK = "100.10"  # a buy limit LP_SIM's ask does not violate: routed to LP_SIM
BELOW_ASK = "99.50"  # a buy limit under LP_SIM's ask: the router keeps the order back
WAIT = 5.0  # seconds for any one answer


# --- the pieces ------------------------------------------------------------------------------
def write_executor_settings(folder: Path, port: int, dictionary: Path) -> Path:
    """The executor as the LP EXECUTOR, accepting FIX.4.4 from FIXGW (the gateway)."""
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
        "[SESSION]",
        "BeginString=FIX.4.4",
        "SenderCompID=EXECUTOR",
        "TargetCompID=FIXGW",
        f"DataDictionary={dictionary}",
        "",
    ]
    path = folder / "executor.cfg"
    path.write_text("\n".join(lines))
    return path


def lp_sim_profile() -> dict[str, Any]:
    return {
        "seed": 11,
        "step_ms": 100,
        "status_interval_s": 0,
        "instrument": [
            {"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1", "Mid": MID, "VolatilityBps": 0}
        ],
        "lp": [
            {
                "name": "LP_SIM",
                "port": 0,
                "spread_bps": 10.0,
                "quote_size": 1000,
                "ack_latency": 0,
                "fill_latency": HOLD_MS,
                "fill_probability": 0.0,  # it never trades: every order ends unfilled
                "rest_day_orders": True,
            }
        ],
    }


def gateway_config(tmp: Path, oms_port: int, exec_port: int, sim_port: int) -> Any:
    data: dict[str, Any] = {
        "gateway": {"StateDir": str(tmp / "state")},
        "default": {
            "BeginString": "FIX.4.4",
            "SenderCompID": "FIXGW",
            "HeartBtInt": 30,
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
            {
                "Name": "EXEC",
                "ConnectionType": "initiator",
                "TargetCompID": "EXECUTOR",
                "SocketConnectPort": exec_port,
            },
            {
                "Name": "LP_SIM",
                "ConnectionType": "initiator",
                "TargetCompID": "LP_SIM",
                "SocketConnectPort": sim_port,
            },
        ],
        "instrument": [{"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1"}],
        "router": {"Priority": ["EXEC", "LP_SIM"]},
        # LP_SIM's quote never changes, so no refresh comes: keep it live for the whole run
        "marketdata": {"MaxQuoteAge": 3600, "NoQuotesFrom": ["EXEC"]},
    }
    return parse_config(data, "oms-gateway-executor.toml", tmp)


# --- what one run leaves behind --------------------------------------------------------------
def to_message(text: str) -> Message:
    """A message printed by qf_oms.py (SOH shown as "|") as the gateway's codec has it."""
    return Message([(tag, value.encode("latin-1")) for tag, value in parse_fix(text, "|")])


@dataclass(frozen=True)
class Child:
    lp: str
    tif: str
    qty: int
    price: int | None
    state: str


@dataclass
class Run:
    oms_lines: list[str] = field(default_factory=list)  # qf_oms.py's stdout, in order
    oms_log: list[LoggedMessage] = field(default_factory=list)  # its QuickFIX message log
    executor_output: str = ""
    children: dict[str, list[Child]] = field(default_factory=dict)  # by each ClOrdID of a parent
    why_not: dict[str, set[str]] = field(default_factory=dict)  # router: LP -> reasons it was skipped
    problems: list[str] = field(default_factory=list)  # what went wrong while driving
    anomalies: list[str] = field(default_factory=list)  # the order book's own complaints
    seconds: float = 0.0

    def received(self) -> list[Message]:
        return [to_message(line.split(" ", 2)[2]) for line in self.oms_lines if line.startswith("RECV ")]

    def reports(self, *cl_ord_ids: str, status: bool = False) -> list[Message]:
        """ExecutionReports and OrderCancelRejects whose ClOrdID is one of ``cl_ord_ids``;
        order status answers (150=I) only with ``status``."""
        ids = {c.encode() for c in cl_ord_ids}
        return [
            m
            for m in self.received()
            if m.msg_type in (b"8", b"9") and m.get(11) in ids and (m.get(150) == b"I") == status
        ]

    def executor_messages(self, direction: str) -> list[LoggedMessage]:
        screen = read_screen_log(self.executor_output).get("FIX.4.4:EXECUTOR->FIXGW", [])
        return [m for m in screen if m.direction == direction]

    def context(self) -> str:
        tail = "\n".join(self.oms_lines[-30:])
        return f"problems while driving: {self.problems}\nlast OMS lines:\n{tail}"


def kinds(reports: list[Message]) -> list[tuple[str, str]]:
    """(ExecType, OrdStatus) of each report; ("9", OrdStatus) for an OrderCancelReject."""
    return [
        ("9" if m.msg_type == b"9" else m.get_str(150, "?") or "?", m.get_str(39, "?") or "?")
        for m in reports
    ]


def dec(m: Message, tag: int) -> Decimal:
    value = m.get(tag)
    assert value is not None, f"tag {tag} missing: {m.fields}"
    return Decimal(value.decode())


# --- driving ---------------------------------------------------------------------------------
class Driver:
    """Sends OMS commands and waits, without blocking the loop the gateway runs on."""

    def __init__(self, oms: Peer, run: Run) -> None:
        self.oms = oms
        self.run = run
        self._parsed: list[Message] = []
        self._seen = 0

    def send(self, command: str) -> None:
        self.oms.send(command)

    def _received(self) -> list[Message]:
        lines = self.oms.lines_since(self._seen)
        self._seen += len(lines)
        self._parsed += [to_message(line.split(" ", 2)[2]) for line in lines if line.startswith("RECV ")]
        return self._parsed

    async def until(
        self, predicate: Callable[[], bool], what: str, timeout: float = WAIT, record: bool = True
    ) -> bool:
        """Whether ``predicate`` came true in time; a timeout is a problem if ``record``."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                if record:
                    self.run.problems.append(f"timed out after {timeout}s waiting for {what}")
                return False
            await asyncio.sleep(0.005)
        return True

    async def answer(
        self,
        cl_ord_id: str,
        what: str,
        predicate: Callable[[Message], bool],
        timeout: float = WAIT,
        record: bool = True,
    ) -> bool:
        """Wait for a message to ``cl_ord_id`` that ``predicate`` accepts."""
        cl = cl_ord_id.encode()
        return await self.until(
            lambda: any(m.get(11) == cl and predicate(m) for m in self._received()),
            f"{what} for {cl_ord_id}",
            timeout,
            record,
        )

    async def line(self, pattern: str, what: str, timeout: float = WAIT) -> bool:
        regex = re.compile(pattern)
        return await self.until(lambda: any(regex.search(x) for x in self.oms.lines_since()), what, timeout)


def exec_type(*values: str) -> Callable[[Message], bool]:
    wanted = {v.encode() for v in values}
    return lambda m: m.msg_type == b"8" and m.get(150) in wanted


def done(m: Message) -> bool:
    """A final answer to an order or a request: terminal, or a cancel/replace reject."""
    return m.msg_type == b"9" or (m.get(150) != b"I" and m.get(39) in (b"2", b"4", b"8", b"C"))


def set_priority(app: GatewayApplication, *lps: str) -> None:
    """The static router's priority list, changed between orders (on the gateway's loop)."""
    router = app.router
    assert isinstance(router, StaticRouter), f"expected the static router, got {router!r}"
    router.priority = list(lps)


def first_child_ended(app: GatewayApplication, cl_ord_id: str) -> bool:
    parents = [p for (_, cl), p in app.book.by_cl_ord_id.items() if cl == cl_ord_id.encode()]
    return bool(parents and parents[0].children) and parents[0].children[0].state in CHILD_TERMINAL


async def scenarios(d: Driver, app: GatewayApplication, sim: LpSimulator) -> None:
    # 1. IOC limit buy routed to the executor: New, then Filled at the executor's price
    set_priority(app, "EXEC", "LP_SIM")
    d.send(f"new IOC1 buy 100 limit {EXEC_PX} ioc")
    await d.answer("IOC1", "the end of the IOC order", done)
    # 5. cancel and replace of the filled order: OrderCancelReject "too late"
    d.send("cancel IOC1-X IOC1")
    await d.answer("IOC1-X", "an answer to the cancel", lambda m: True)
    d.send(f"replace IOC1-R IOC1 200 {EXEC_PX}")
    await d.answer("IOC1-R", "an answer to the replace", lambda m: True)
    # 4. status of the filled order
    d.send("status IOC1")
    await d.answer("IOC1", "the status answer", exec_type("I"))

    # only LP_SIM from here on, so nothing LP_SIM leaves unfilled is sent to the executor
    set_priority(app, "LP_SIM")

    # 2. DAY order working at LP_SIM (its IOC child is held there); the OMS cancels it
    d.send(f"new DAY1 buy 100 limit {THROUGH_ASK} day")
    await d.answer("DAY1", "New", exec_type("0"))
    d.send("cancel DAY1-X DAY1")
    await d.answer("DAY1-X", "PendingCancel", lambda m: m.msg_type == b"9" or m.get(150) in (b"6", b"4"))
    d.send("status DAY1")  # 4. while the cancel is pending
    await d.answer("DAY1", "the status answer", exec_type("I"))
    await d.answer("DAY1-X", "Canceled", done, timeout=WAIT + HOLD_MS / 1000)

    # 3. DAY order working at LP_SIM; the OMS replaces quantity and price, then cancels it
    d.send(f"new DAY2 buy 100 limit {THROUGH_ASK} day")
    await d.answer("DAY2", "New", exec_type("0"))
    d.send("replace DAY2-R DAY2 200 100.08")
    await d.answer(
        "DAY2-R", "Replaced", lambda m: m.msg_type == b"9" or m.get(150) == b"5", WAIT + HOLD_MS / 1000
    )
    d.send("status DAY2-R")
    await d.answer("DAY2-R", "the status answer", exec_type("I"))
    d.send("cancel DAY2-X DAY2-R")
    await d.answer("DAY2-X", "Canceled", done)

    # 2/3 again for a DAY order the gateway holds itself (LP_SIM's ask is above its limit)
    d.send(f"new DAY3 buy 100 limit {BELOW_ASK} day")
    await d.answer("DAY3", "New", exec_type("0"))
    await asyncio.sleep(1.2)  # one tick of the gateway's idle re-routing timer goes by
    d.send("status DAY3")
    await d.answer("DAY3", "the status answer", exec_type("I"))
    d.send("replace DAY3-R DAY3 150 99.60")
    await d.answer("DAY3-R", "Replaced", lambda m: m.msg_type == b"9" or m.get(150) == b"5")
    d.send("cancel DAY3-X DAY3-R")
    await d.answer("DAY3-X", "Canceled", done)

    # 4./5. status and cancel of an order the gateway never had
    d.send("status NOPE")
    await d.answer("NOPE", "the status answer", exec_type("I"))
    d.send("cancel NOPE-X NOPE")
    await d.answer("NOPE-X", "an answer to the cancel", lambda m: True)

    # 3. a replaced order is worked at its new terms: DAY4 comes back empty from LP_SIM,
    # LP_SIM starts filling, the OMS replaces DAY4 (new price): it should go to LP_SIM again
    d.send(f"new DAY4 buy 100 limit {THROUGH_ASK} day")
    await d.answer("DAY4", "New", exec_type("0"))
    await d.until(
        lambda: first_child_ended(app, "DAY4"), "LP_SIM to end DAY4's child", WAIT + HOLD_MS / 1000
    )
    sim.lp("LP_SIM").reconfigure(fill_probability=1.0, fill_latency=Lognormal(), ack_latency=Lognormal())
    d.send("replace DAY4-R DAY4 100 100.09")
    await d.answer("DAY4-R", "Replaced", lambda m: m.msg_type == b"9" or m.get(150) == b"5")
    # up to two ticks of the gateway's idle re-routing timer for the fill
    filled = await d.answer("DAY4-R", "a fill", exec_type("F"), timeout=2.5, record=False)
    if not filled:
        d.send("cancel DAY4-X DAY4-R")
        await d.answer("DAY4-X", "Canceled", done)


def snapshot_book(app: GatewayApplication, run: Run) -> None:
    """The gateway's own view: each parent's children, and why the router skipped LPs."""
    run.anomalies = list(app.book.anomalies)
    reasons: dict[str, set[str]] = {}
    for decision in app.router.decisions:
        for candidate in decision.candidates:
            if not candidate.eligible:
                reasons.setdefault(decision.order_id, set()).add(f"{candidate.lp}: {candidate.why}")
    for (_session, cl), parent in app.book.by_cl_ord_id.items():
        run.children[cl.decode()] = [
            Child(c.lp, c.tif.decode(), c.qty, c.price, c.state) for c in parent.children
        ]
        run.why_not[cl.decode()] = reasons.get(parent.order_id.decode(), set())


async def drive(tmp: Path, executor_port: int, run: Run, peers: list[Peer]) -> None:
    dictionary = spec_file("FIX.4.4")
    sim = LpSimulator(lp_sim_profile(), ports={"LP_SIM": 0})  # any free port
    await sim.start()
    app: GatewayApplication | None = None
    try:
        oms_port = free_port()
        app = GatewayApplication(gateway_config(tmp / "gateway", oms_port, executor_port, sim.port("LP_SIM")))
        await app.start()
        oms = Peer(
            [
                sys.executable,
                HERE / "qf_oms.py",
                "--dir",
                tmp / "oms",
                "--port",
                str(oms_port),
                "--dictionary",
                dictionary,
            ],
            cwd=tmp,
            name="qf-oms",
        )
        peers.append(oms)
        d = Driver(oms, run)
        gateway = app
        ready = await d.line(r"^LOGON$", "the OMS's Logon", timeout=15) and await d.until(
            lambda: (
                gateway.available("EXEC")
                and gateway.available("LP_SIM")
                and gateway.quote("LP_SIM", "ACME", time.time()) is not None
            ),
            "both LPs logged on and LP_SIM's quote",
        )
        if ready:
            started = time.monotonic()
            await scenarios(d, app, sim)
            run.seconds = time.monotonic() - started
        snapshot_book(app, run)
        if oms.proc.poll() is None:
            oms.send("quit")
            await d.line(r"^BYE$", "the OMS to log out")
        await d.until(lambda: oms.finished, "the OMS to exit")
    finally:
        if len(peers) > 1:
            run.oms_lines = peers[1].lines_since()
        if app is not None:
            await app.stop()
        await sim.stop()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    require_quickfix()
    executor = require_executor()
    dictionary = spec_file("FIX.4.4")
    tmp = tmp_path_factory.mktemp("oms-gateway-executor")
    executor_port = free_port()
    settings = write_executor_settings(tmp / "executor", executor_port, dictionary)
    peers = [Peer([executor, settings], cwd=tmp / "executor", name="qf-executor")]
    result = Run()
    try:
        peers[0].wait_for(r"Type Ctrl-C to quit", timeout=10)
        asyncio.run(drive(tmp, executor_port, result, peers))
        log = tmp / "oms" / "log" / "FIX.4.4-OMS1-FIXGW.messages.current.log"
        result.oms_log = read_message_log(log) if log.exists() else []
    finally:
        result.executor_output = peers[0].output
        for peer in reversed(peers):
            peer.close()
    yield result


# --- the checks ------------------------------------------------------------------------------
def test_ioc_limit_order_is_filled_by_the_executor(run: Run) -> None:
    """1. New, then Filled with exactly the executor's price, and nothing else."""
    reports = run.reports("IOC1")
    assert kinds(reports) == [("0", "0"), ("F", "2")], run.context()
    new, fill = reports
    assert (dec(new, 151), dec(new, 14), dec(new, 6)) == (100, 0, 0)
    assert dec(fill, 32) == 100 and dec(fill, 31) == Decimal(EXEC_PX)
    assert dec(fill, 14) == 100 and dec(fill, 6) == Decimal(EXEC_PX)
    assert dec(fill, 151) == 0 and dec(fill, 38) == 100 and dec(fill, 44) == Decimal(EXEC_PX)
    assert new[37] == fill[37] and new[17] != fill[17]
    # what the executor was sent and what it answered
    orders = [m for m in run.executor_messages("incoming") if m.msg_type == "D"]
    assert len(orders) == 1, [m.text for m in orders]
    child = orders[0]
    assert (child[54], Decimal(child[38]), Decimal(child[44]), child[59]) == ("1", 100, Decimal(EXEC_PX), "3")
    assert run.children["IOC1"] == [Child("EXEC", "3", 100, 10002, "filled")]
    fills = [m for m in run.executor_messages("outgoing") if m.msg_type == "8"]
    assert [Decimal(m[31]) for m in fills] == [Decimal(EXEC_PX)] and fills[0][11] == child[11]


def test_cancel_of_a_day_order_working_at_lp_sim(run: Run) -> None:
    """2. New, PendingCancel, Canceled (CumQty 0, LeavesQty 0, OrigClOrdID the order's)."""
    reports = run.reports("DAY1", "DAY1-X")
    assert kinds(reports) == [("0", "0"), ("6", "6"), ("4", "4")], run.context()
    new, pending, canceled = reports
    assert new[11] == b"DAY1"
    for m in (pending, canceled):
        assert (m[11], m[41]) == (b"DAY1-X", b"DAY1")
        assert m[37] == new[37]
    assert (dec(pending, 14), dec(pending, 151)) == (0, 100)
    assert (dec(canceled, 14), dec(canceled, 151), dec(canceled, 38)) == (0, 0, 100)
    # the order was working at LP_SIM, as an IOC child LP_SIM ended without a fill
    assert run.children["DAY1"] == [Child("LP_SIM", "3", 100, 10010, "canceled")]


def test_replace_then_cancel_of_a_day_order_working_at_lp_sim(run: Run) -> None:
    """3. New, PendingReplace, Replaced (new OrderQty and Price), then Canceled."""
    reports = run.reports("DAY2", "DAY2-R", "DAY2-X")
    got = kinds(reports)
    # a cancel of an order with nothing working may be confirmed without PendingCancel
    assert got in (
        [("0", "0"), ("E", "E"), ("5", "0"), ("4", "4")],
        [("0", "0"), ("E", "E"), ("5", "0"), ("6", "6"), ("4", "4")],
    ), run.context()
    pending, replaced, canceled = reports[1], reports[2], reports[-1]
    assert (pending[11], pending[41]) == (b"DAY2-R", b"DAY2")
    assert (dec(pending, 38), dec(pending, 151)) == (100, 100)
    assert (replaced[11], replaced[41]) == (b"DAY2-R", b"DAY2")
    assert (dec(replaced, 38), dec(replaced, 44)) == (200, Decimal("100.08"))
    assert (dec(replaced, 14), dec(replaced, 151)) == (0, 200)
    assert (canceled[11], canceled[41]) == (b"DAY2-X", b"DAY2-R")
    assert (dec(canceled, 38), dec(canceled, 14), dec(canceled, 151)) == (200, 0, 0)
    assert len({m[37] for m in reports}) == 1 and len({m[17] for m in reports}) == len(reports)
    # the first child had the old terms; any later one (a re-route) has the new ones
    first, *later = run.children["DAY2"]
    assert first == Child("LP_SIM", "3", 100, 10010, "canceled")
    assert all((c.qty, c.price, c.state) == (200, 10008, "canceled") for c in later), later


def test_replace_then_cancel_of_a_day_order_the_gateway_holds(run: Run) -> None:
    """2/3 with LP_SIM's quote not crossing the limit: the router keeps the order back, and
    a replace and a cancel are confirmed at once."""
    assert any("quote through the limit" in why for why in run.why_not["DAY3"]), run.why_not
    assert run.children["DAY3"] == []
    reports = run.reports("DAY3", "DAY3-R", "DAY3-X")
    got = kinds(reports)
    assert got in (
        [("0", "0"), ("5", "0"), ("4", "4")],
        [("0", "0"), ("E", "E"), ("5", "0"), ("4", "4")],
        [("0", "0"), ("5", "0"), ("6", "6"), ("4", "4")],
        [("0", "0"), ("E", "E"), ("5", "0"), ("6", "6"), ("4", "4")],
    ), run.context()
    replaced = next(m for m in reports if m[150] == b"5")
    assert (replaced[11], replaced[41]) == (b"DAY3-R", b"DAY3")
    assert (dec(replaced, 38), dec(replaced, 44), dec(replaced, 151)) == (150, Decimal("99.60"), 150)
    canceled = reports[-1]
    assert (canceled[11], canceled[41]) == (b"DAY3-X", b"DAY3-R")
    assert (dec(canceled, 14), dec(canceled, 151)) == (0, 0)


def test_order_status_requests(run: Run) -> None:
    """4. ExecType I with the order's OrdStatus and quantities, for whichever ClOrdID asks."""
    expected = {
        "IOC1": ("2", 100, 100, 0),  # OrdStatus, OrderQty, CumQty, LeavesQty
        "DAY1": ("6", 100, 0, 100),  # asked while the cancel was pending
        "DAY2-R": ("0", 200, 0, 200),
        "DAY3": ("0", 100, 0, 100),
    }
    for cl, (status, qty, cum, leaves) in expected.items():
        answers = run.reports(cl, status=True)
        assert len(answers) == 1, f"{cl}: {len(answers)} status answers\n{run.context()}"
        m = answers[0]
        assert m[39] == status.encode(), f"{cl}: 39={m[39]!r}, expected {status}"
        assert (dec(m, 38), dec(m, 14), dec(m, 151)) == (qty, cum, leaves), cl
    assert dec(run.reports("DAY2-R", status=True)[0], 44) == Decimal("100.08")
    unknown = run.reports("NOPE", status=True)
    assert len(unknown) == 1 and unknown[0][39] == b"8", run.context()


def test_cancel_and_replace_of_a_filled_order_are_rejected_too_late(run: Run) -> None:
    """5. OrderCancelReject, CxlRejReason 0 (too late) with a Text, for a cancel and a replace."""
    for cl, response_to in (("IOC1-X", b"1"), ("IOC1-R", b"2")):
        answers = run.reports(cl)
        assert kinds(answers) == [("9", "2")], f"{cl}\n{run.context()}"
        m = answers[0]
        assert (m[41], m[434], m[102]) == (b"IOC1", response_to, b"0"), m.fields
        assert m[37] == run.reports("IOC1")[0][37]
        assert m.get_str(58), f"{cl}: OrderCancelReject without Text: {m.fields}"
    # and a cancel of an order the gateway never had: CxlRejReason 1 (unknown order)
    answers = run.reports("NOPE-X")
    assert kinds(answers) == [("9", "8")], run.context()
    assert (answers[0][41], answers[0][434], answers[0][102]) == (b"NOPE", b"1", b"1")
    assert answers[0].get_str(58)


def test_reports_pass_the_report_checker(run: Run) -> None:
    """6. Each order's reports, in the order the OMS sent and received them, pass ReportChecker."""
    checker = ReportChecker()
    fed = 0
    for line in run.oms_lines:
        kind, _, rest = line.partition(" ")
        if kind not in ("SENT", "RECV"):
            continue
        msg_type, _, text = rest.partition(" ")
        m = to_message(text)
        cl = m.get_str(11, "") or ""
        if kind == "SENT" and msg_type == "D":
            checker.new_order(
                cl,
                m.get_str(55, "") or "",
                m.get_str(54, "") or "",
                dec(m, 38),
                m.get_str(44),
                m.get_str(59, "0") or "0",
            )
        elif kind == "SENT" and msg_type == "F":
            checker.cancel_request(cl, m.get_str(41, "") or "")
        elif kind == "SENT" and msg_type == "G":
            checker.replace_request(cl, m.get_str(41, "") or "", dec(m, 38), m.get_str(44))
        elif kind == "SENT" and msg_type == "H" and checker.order(cl) is not None:
            checker.status_request(cl)
        elif kind == "RECV" and msg_type in ("8", "9") and checker.order(cl) is not None:
            checker.on_message(m)
            fed += 1
    checker.finish()
    assert fed >= 21, run.context()
    assert [str(v) for v in checker.violations] == []
    assert not checker.has_pending() and checker.open_orders() == []
    outcome = checker.outcome()
    # DAY4 ends filled or canceled (see test_replaced_day_order_is_worked_again_at_its_new_terms)
    assert outcome["filled"] >= 1 and outcome["filled"] + outcome["canceled"] == 5, outcome


def test_quickfix_sent_no_rejects(run: Run) -> None:
    """6. Neither the OMS nor the executor sent a Reject or BusinessMessageReject to the gateway
    about an order (the executor's answer to market data is the next test), and the gateway
    sent the OMS none either."""
    assert run.oms_log, "no OMS message log"
    sent_by_oms = [m for m in run.oms_log if m.sender == "OMS1"]
    assert [m.text for m in sent_by_oms if m.msg_type in ("3", "j")] == []
    assert [x for x in run.oms_lines if x.startswith(("SENT 3 ", "SENT j ", "ERROR"))] == []
    received = [m for m in run.oms_log if m.sender == "FIXGW"]
    assert [m.text for m in received if m.msg_type in ("3", "j")] == []
    executor_sent = run.executor_messages("outgoing")
    assert executor_sent, "no executor messages in its screen log"
    assert [m.text for m in executor_sent if m.msg_type == "3"] == []
    about_orders = [m.text for m in executor_sent if m.msg_type == "j" and m.get(372) != "V"]
    assert about_orders == []
    assert run.anomalies == [], run.anomalies


def test_executor_is_sent_nothing_it_does_not_support(run: Run) -> None:
    executor_sent = run.executor_messages("outgoing")
    assert executor_sent, "no executor messages in its screen log"
    assert [m.text for m in executor_sent if m.msg_type == "j"] == []
    assert [m.text for m in run.executor_messages("incoming") if m.msg_type == "V"] == []


def test_replace_of_a_day_order_lp_sim_came_back_empty_for(run: Run) -> None:
    """3. DAY4 (LP_SIM's IOC child ended unfilled, nothing working) is replaced at once with
    its new price, and then ends: filled by LP_SIM (next test) or canceled by the OMS."""
    reports = run.reports("DAY4", "DAY4-R", "DAY4-X")
    got = kinds(reports)
    assert got[:2] == [("0", "0"), ("5", "0")], run.context()
    assert got[2:] in ([("F", "2")], [("4", "4")], [("6", "6"), ("4", "4")]), run.context()
    replaced = reports[1]
    assert (replaced[11], replaced[41]) == (b"DAY4-R", b"DAY4")
    assert (dec(replaced, 38), dec(replaced, 44), dec(replaced, 151)) == (100, Decimal("100.09"), 100)
    assert run.children["DAY4"][0] == Child("LP_SIM", "3", 100, 10010, "canceled")


def test_replaced_day_order_is_worked_again_at_its_new_terms(run: Run) -> None:
    """3. After LP_SIM came back empty for DAY4 and started filling, DAY4 replaced to a new
    price goes to LP_SIM again and is filled at LP_SIM's ask."""
    fills = [m for m in run.reports("DAY4-R") if m[150] == b"F"]
    assert [(dec(m, 32), dec(m, 31), m[39]) for m in fills] == [(100, LP_SIM_ASK, b"2")], run.why_not["DAY4"]


def test_run_was_complete_and_quick(run: Run) -> None:
    assert run.problems == [], run.context()
    assert run.seconds < 20, f"the scenarios took {run.seconds:.1f}s"
