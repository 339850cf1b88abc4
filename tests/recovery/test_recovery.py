"""Crash recovery: ``kill -9`` the gateway again and again during a 5,000-order flow; nothing is lost.

Three processes, as in production: the LP simulators (``tests.recovery.lp_process``, which
records what every LP received), the gateway (``fixgw run``, killed with SIGKILL at random
moments and started again on the same state directory), and the OMS simulator in this
test's event loop, whose initiator reconnects after each crash and whose ``ReportChecker``
sees the whole flow across the restarts (resends both ways, PossDup). Some runs of the
gateway kill themselves at the worst moment instead: right after a journal group is
written and before the FIX stores are (``FIXGW_FAULT_JOURNAL_CRASH_AFTER``).

Checked at the end, after the OMS cancelled what was still working:

- the OMS's consistency checks: no violation at all (no fill lost or counted twice, every
  report once, quantities and statuses right), every order answered and finished;
- at the LPs: the fills of each parent's children add up to the CumQty the OMS was told,
  never exceed the parent's quantity, and at no moment did the LPs hold more of a parent
  (working children in full, finished ones by what they filled) than its quantity: no
  quantity was routed twice;
- the journal agrees with the OMS (final CumQty per order).

No assertion is about time; the timeouts only stop a test that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway.journal import read_records
from simulators.oms import OmsSimulator

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 5000
KILLS = 20
RATE = 250.0  # orders per second while the gateway is up
LPS = ("LP_A", "LP_B", "LP_C")
SYMBOLS = {"ACME": ("50.00", "2000"), "XYZ": ("100.01", "1000")}  # mid, typical size


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lp_profile() -> dict[str, Any]:
    return {
        "seed": 5,
        "step_ms": 50,
        "status_interval_s": 0,
        "instrument": [
            {"Symbol": s, "TickSize": "0.01", "LotSize": "1", "Mid": mid, "VolatilityBps": 4.0}
            for s, (mid, _) in SYMBOLS.items()
        ],
        "defaults": {"symbols": list(SYMBOLS), "spread_bps": 2.0, "quote_size": 50000},
        "lp": [
            {
                "name": "LP_A",
                "port": 0,
                "ack_latency": {"median_ms": 2.0, "sigma": 0.3},
                "fill_latency": {"median_ms": 8.0, "sigma": 0.4},
                "fill_probability": 0.95,
                "partial_fill_probability": 0.2,
                "reject_rate": 0.02,
            },
            {
                "name": "LP_B",
                "port": 0,
                "spread_bps": 3.0,
                "ack_latency": {"median_ms": 5.0, "sigma": 0.4},
                "fill_latency": {"median_ms": 25.0, "sigma": 0.5},
                "last_look_hold": {"median_ms": 5.0, "sigma": 0.5},
                "fill_probability": 0.85,
                "partial_fill_probability": 0.4,
                "reject_rate": 0.1,
            },
            {
                "name": "LP_C",
                "port": 0,
                "ack_latency": {"median_ms": 3.0, "sigma": 0.3},
                "fill_latency": {"median_ms": 15.0, "sigma": 0.4},
                "fill_probability": 0.8,
                "partial_fill_probability": 0.3,
                "price_improvement_probability": 0.3,
            },
        ],
    }


def gateway_toml(state: Path, oms_port: int, lp_ports: dict[str, int]) -> str:
    lines = [
        "[gateway]",
        f'StateDir = "{state}"',
        "[default]",
        'BeginString = "FIX.4.4"',
        'SenderCompID = "FIXGW"',
        "HeartBtInt = 30",
        "ReconnectInterval = 1",
        "ReconnectMaxInterval = 1",
        'FileStoreSync = "never"',  # kill -9 keeps what was written; no power cut here
        f"LogMessages = {'true' if os.environ.get('RECOVERY_TEST_LOG_MESSAGES') else 'false'}",
        "[[session]]",
        'Name = "OMS1"',
        'ConnectionType = "acceptor"',
        'TargetCompID = "OMS1"',
        'SocketAcceptHost = "127.0.0.1"',
        f"SocketAcceptPort = {oms_port}",
    ]
    for lp, port in lp_ports.items():
        lines += [
            "[[session]]",
            f'Name = "{lp}"',
            'ConnectionType = "initiator"',
            f'TargetCompID = "{lp}"',
            'SocketConnectHost = "127.0.0.1"',
            f"SocketConnectPort = {port}",
        ]
    for symbol, (_, typical) in SYMBOLS.items():
        lines += [
            "[[instrument]]",
            f'Symbol = "{symbol}"',
            'TickSize = "0.01"',
            'LotSize = "1"',
            f'TypicalSize = "{typical}"',
        ]
    lines += [
        "[router]",
        'Kind = "scorecard"',
        f"Priority = {json.dumps(list(lp_ports))}",
        "MaxAttempts = 4",
        "[journal]",
        'Fsync = "never"',
        "SnapshotEvery = 2",
    ]
    return "\n".join(lines) + "\n"


def oms_profile(port: int) -> dict[str, Any]:
    return {
        "seed": 17,
        "orders": ORDERS,
        "rate": RATE,
        "max_in_flight": 80,
        "settle_timeout_s": 30,
        "time_in_force": {"IOC": 0.9, "DAY": 0.1},
        "limit_offset_min_bps": -3.0,
        "limit_offset_max_bps": 15.0,
        "cancel_fraction": 0.05,
        "replace_fraction": 0.02,
        "status_fraction": 0.03,
        "action_delay_ms": 20,
        "session": {
            "SenderCompID": "OMS1",
            "TargetCompID": "FIXGW",
            "SocketConnectHost": "127.0.0.1",
            "SocketConnectPort": port,
            "ResetOnLogon": False,  # sequences and stored reports carry across the crashes
            "UseMemoryStore": True,  # this process lives through them all
            "ReconnectInterval": 1,
            "ReconnectMaxInterval": 1,
        },
        "symbol": [
            {"Symbol": s, "TickSize": "0.01", "Price": mid, "MinQty": "100", "MaxQty": typical}
            for s, (mid, typical) in SYMBOLS.items()
        ],
    }


class Gateway:
    """``fixgw run`` as a child process, restarted on the same state directory."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.proc: asyncio.subprocess.Process | None = None
        self.runs = 0
        self.recoveries: list[str] = []

    async def start(self, crash_after: int | None = None) -> None:
        self.runs += 1
        env = dict(os.environ)
        env.pop("FIXGW_FAULT_JOURNAL_CRASH_AFTER", None)
        if crash_after is not None:
            env["FIXGW_FAULT_JOURNAL_CRASH_AFTER"] = str(crash_after)
        log = open(self.logs / f"gateway-{self.runs:02d}.log", "wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "run",
            "--config",
            str(self.config),
            "--status-every",
            "0",
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill9(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                await self.kill9()
        return self.proc.returncode

    async def until_logged_on(self, sim: OmsSimulator, timeout: float = 60.0) -> None:
        """Until the OMS is logged on to this run; fails at once if the run died."""
        deadline = time.monotonic() + timeout
        while sim.session is None or not sim.session.logged_on:
            if not self.alive:
                log = (self.logs / f"gateway-{self.runs:02d}.log").read_text(errors="replace")
                raise AssertionError(f"gateway run {self.runs} died on its own:\n{log[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for the OMS logon")
            await asyncio.sleep(0.02)

    def collect_logs(self) -> None:
        for path in sorted(self.logs.glob("gateway-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("recovered from"):
                    self.recoveries.append(line)


class Flow:
    """The OMS side: random orders (with cancels, replaces, status requests) at a rate, only
    while logged on; the simulator's checker sees every report."""

    def __init__(self, sim: OmsSimulator) -> None:
        self.sim = sim
        self.sent = 0
        self.done = asyncio.Event()

    async def run(self) -> None:
        sim = self.sim
        p = sim.profile
        while self.sent < ORDERS:
            session = sim.session
            if session is None or not session.logged_on or sim._in_flight >= p.max_in_flight:
                await asyncio.sleep(0.01)
                continue
            t0 = time.perf_counter()
            batch = min(5, ORDERS - self.sent, p.max_in_flight - sim._in_flight)
            for _ in range(batch):
                symbol, side, qty, price, tif = sim._random_order()
                cl = sim.send_new(symbol, side, qty, price, tif)
                if cl is None:
                    break
                self.sent += 1
                sim._follow_up(cl)
            sim.engine.flush()
            await asyncio.sleep(max(0.0, batch / RATE - (time.perf_counter() - t0)))
        self.done.set()


def _unsettled(sim: OmsSimulator) -> str:
    checker = sim.checker
    lines = [f"in flight {sim._in_flight}; requests {checker.pending_requests()[:10]}"]
    for o in checker.open_orders():
        if o.tif == "0" and o.reports and o.working:
            continue
        lines.append(f"{o.clordid} (now {o.current}) tif {o.tif} status {o.status!r} reports {o.reports}")
    return "\n".join(lines[:40])


async def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _scenario(tmp: Path) -> dict[str, Any]:
    rng = random.Random(2024)
    state = tmp / "state"
    logs = tmp / "logs"
    logs.mkdir()
    lp_ports = {lp: _free_port() for lp in LPS}
    oms_port = _free_port()
    lp_cfg = tmp / "lps.json"
    lp_out = tmp / "lp-orders.json"
    lp_cfg.write_text(json.dumps({"profile": lp_profile(), "ports": lp_ports, "out": str(lp_out)}))
    gw_cfg = tmp / "gateway.toml"
    gw_cfg.write_text(gateway_toml(state, oms_port, lp_ports))

    lp_proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.recovery.lp_process",
        str(lp_cfg),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    gw = Gateway(gw_cfg, logs)
    sim = OmsSimulator(oms_profile(oms_port))
    kills = injected = self_crashed = 0
    try:
        assert lp_proc.stdout is not None
        line = await asyncio.wait_for(lp_proc.stdout.readline(), 30)
        assert line.strip() == b"ready", line
        await gw.start()
        sim.session = sim.engine.add_session(sim.settings)
        await sim.engine.start()
        flow = Flow(sim)
        sender = asyncio.get_running_loop().create_task(flow.run())

        # the crashes: while orders flow, and at least KILLS of them
        while kills < KILLS or not flow.done.is_set():
            await gw.until_logged_on(sim)
            if kills % 3 == 2:
                # this run dies by itself between a journal group and the FIX stores
                await gw.kill9()
                await gw.start(crash_after=rng.randint(20, 150))
                injected += 1
                deadline = time.monotonic() + 10.0
                while gw.alive and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                if gw.alive:
                    await gw.kill9()
                else:
                    self_crashed += 1
            else:
                await asyncio.sleep(rng.uniform(0.3, 1.7))
                await gw.kill9()
            kills += 1
            assert not sender.done() or flow.done.is_set(), sender.exception()
            await gw.start()

        # the end of the flow: every order answered; what still works is cancelled
        await gw.until_logged_on(sim)
        checker = sim.checker

        def settled() -> bool:
            return checker.settled() and sim._in_flight == 0

        try:
            await _wait(settled, 60, "the orders to settle")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {_unsettled(sim)}") from None
        working = [o for o in checker.open_orders() if o.reports and o.working]
        for o in working:
            sim.send_cancel(o)
        sim.engine.flush()
        await _wait(
            lambda: not checker.open_orders() and not checker.has_pending(),
            90,
            f"the cancels: {len(checker.open_orders())} open, {checker.pending_requests()[:5]}",
        )
        await sender
    finally:
        await gw.stop()
        await sim.engine.stop()
        if lp_proc.returncode is None:
            lp_proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(lp_proc.wait(), 30)
    gw.collect_logs()
    return {
        "sim": sim,
        "sent": flow.sent,
        "kills": kills,
        "injected": injected,
        "self_crashed": self_crashed,
        "runs": gw.runs,
        "recoveries": gw.recoveries,
        "lp_orders": json.loads(lp_out.read_text()),
        "journal": state / "journal",
    }


def _lp_checks(result: dict[str, Any]) -> dict[str, int]:
    """What reached the LPs, per parent, against the OMS's view of each order."""
    sim: OmsSimulator = result["sim"]
    child_parent: dict[str, str] = {}
    parent_cl: dict[str, tuple[str, str]] = {}
    journal_cum: dict[str, int] = {}
    checker = sim.checker
    for rec in read_records(result["journal"], kinds=frozenset({"parent", "child"})):
        if rec["k"] == "child":
            child_parent[rec["child_id"]] = rec["order_id"]
        else:
            oid = rec["order_id"]
            tracked = checker.order(rec["cl_ord_id"])  # any ClOrdID of the order's chain
            assert tracked is not None, f"parent {oid} ({rec['cl_ord_id']}) was not sent by the OMS"
            parent_cl.setdefault(oid, (tracked.clordid, rec["symbol"]))
            journal_cum[oid] = rec["cum_qty"]
    orders = checker.orders
    by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lo in result["lp_orders"]:
        oid = child_parent.get(lo["cl_ord_id"])
        assert oid is not None, f"{lo['lp']} got {lo['cl_ord_id']}, a child the journal does not know"
        by_parent[oid].append(lo)
    problems: list[str] = []
    checked = 0
    for oid, (cl, _) in parent_cl.items():
        o = orders.get(cl)
        assert o is not None, f"parent {oid} ({cl}) was not sent by the OMS"
        lp_orders = by_parent.get(oid, [])
        filled = sum((Decimal(lo["cum"]) for lo in lp_orders), Decimal(0))
        if filled != o.cum:
            problems.append(f"{cl}: the LPs filled {filled}, the OMS was told CumQty {o.cum}")
        if filled > o.qty:
            problems.append(f"{cl}: the LPs filled {filled} of an order of {o.qty}")
        if Decimal(journal_cum[oid]) != o.cum:
            problems.append(f"{cl}: the journal says CumQty {journal_cum[oid]}, the OMS {o.cum}")
        # at each arrival at an LP: working children in full + finished ones by their fills
        for lo in lp_orders:
            t = lo["arrived"]
            held = Decimal(0)
            for other in lp_orders:
                if other["arrived"] is None or other["arrived"] > t:
                    continue
                ended = other["ended"]
                held += Decimal(other["cum"]) if ended is not None and ended < t else Decimal(other["qty"])
            if held > o.qty:
                problems.append(f"{cl}: {held} at the LPs at once for an order of {o.qty} (routed twice)")
                break
        checked += 1
    assert not problems, "\n".join(problems[:20])
    return {"parents": checked, "lp_orders": len(result["lp_orders"])}


@pytest.mark.timeout(400)
def test_recovery_kill9_at_random_points_of_a_5000_order_flow(tmp_path: Path) -> None:
    import uvloop

    result = uvloop.run(_scenario(tmp_path))
    sim: OmsSimulator = result["sim"]
    checker = sim.checker
    checker.finish()
    summary = (
        f"{result['sent']} orders, {result['kills']} kills ({result['injected']} runs set to die between "
        f"journal and stores, {result['self_crashed']} did), {result['runs']} gateway runs; "
        f"outcome {dict(checker.outcome())}; "
        f"reports {checker.reports}; late fills {checker.late_fill_count}"
    )
    print(summary)
    for line in result["recoveries"]:
        print(line)
    assert result["sent"] == ORDERS
    assert result["kills"] >= KILLS
    assert checker.violation_count == 0, "\n".join(str(v) for v in checker.violations[:20]) + "\n" + summary
    outcome = checker.outcome()
    assert outcome["working"] == 0 and outcome["no_report"] == 0, summary
    assert len(result["recoveries"]) >= KILLS  # every restart recovered (and said so)
    assert result["self_crashed"] > 0  # the window between the journal and the stores was hit
    counts = _lp_checks(result)
    print(f"LP side: {counts}")
    assert counts["parents"] > 0.5 * ORDERS  # most orders were accepted and routed
