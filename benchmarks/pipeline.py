"""The gateway's order path in one process, without sockets: CPU per order, and where it goes.

``fixgw bench`` measures the gateway as a process among processes, which is what users
see but is noisy on a shared machine and hides which function costs what. This driver
builds the gateway of the bench profile (``benchmarks/profiles/gateway.toml``) with its
real engine, sessions, journal and router, binds each session to an in-memory transport,
and plays the counterparties itself with their own ``Session`` objects: an OMS that sends
NewOrderSingles and LPs that quote, acknowledge and fill each child at once. Only the
gateway's ``data_received`` calls are timed, in CPU time of the thread (the counterparties'
work is not counted, and other processes on a busy machine disturb it less than a clock);
``--profile`` runs the same under cProfile and prints the top functions.

    python benchmarks/pipeline.py [--orders N] [--batch N] [--journal on|off]
                                  [--router static|scorecard] [--profile]

``--instructions`` runs the driver twice under valgrind's callgrind (N and N + 1000 orders)
and prints the instructions executed per order (the difference over 1000): a count that a
busy machine does not disturb, for comparing two versions of the code.

``--batch`` is how many orders arrive in one read (1 = each order its own callback, as at
1,000 orders/s; more = flat out, where reads carry several messages). Prints a table and
``name=value`` lines; a measurement, never a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.app import GatewayApplication  # noqa: E402
from gateway.config import parse_config, session_from_dict  # noqa: E402
from gateway.fix.codec import Message  # noqa: E402
from gateway.fix.timeutil import utc_timestamp  # noqa: E402
from gateway.sessions.session import Session  # noqa: E402
from gateway.sessions.store import MemoryStore  # noqa: E402
from gateway.sessions.transport import FixConnection  # noqa: E402

LPS: tuple[str, ...] = ("LP_A", "LP_B", "LP_C", "LP_D")  # --lps N: LP01..LPnn instead
SYMBOLS = (b"ACME", b"XYZ", b"ABC")
MIDS = {b"ACME": (b"49.99", b"50.01"), b"XYZ": (b"99.99", b"100.01"), b"ABC": (b"49.99", b"50.01")}


class MemTransport:
    """What FixConnection writes to: the bytes are kept for the counterparty to read."""

    def __init__(self) -> None:
        self.out: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def take(self) -> bytes:
        data = b"".join(self.out)
        self.out.clear()
        return data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


def gateway_settings(state: Path, journal: bool, router: str) -> Any:
    with open(ROOT / "benchmarks" / "profiles" / "gateway.toml", "rb") as f:
        data = tomllib.load(f)
    data["gateway"]["StateDir"] = str(state)
    data["router"]["Kind"] = router
    data["journal"] = {"Enabled": journal}
    data["session"] = [
        {"Name": "OMS1", "ConnectionType": "acceptor", "TargetCompID": "OMS1", "SocketAcceptPort": 1},
        *[
            {"Name": lp, "ConnectionType": "initiator", "TargetCompID": lp, "SocketConnectPort": 2}
            for lp in LPS
        ],
    ]
    return parse_config(data, "<pipeline>", state)


def peer(name: str, initiator: bool, target: str = "FIXGW") -> Session:
    """A FIX 4.4 session with an in-memory store and no log: a counterparty in one process."""
    d = {
        "BeginString": "FIX.4.4",
        "SenderCompID": name,
        "TargetCompID": target,
        "ConnectionType": "initiator" if initiator else "acceptor",
        "HeartBtInt": 30,
        "UseMemoryStore": True,
        "LogMessages": False,
        "ResetOnLogon": True,
        "UseDataDictionary": False,
    }
    if initiator:
        d["SocketConnectPort"] = 1
    else:
        d["SocketAcceptPort"] = 2
    return Session(session_from_dict(d), MemoryStore())


class Pipeline:
    """The gateway wired to in-memory counterparties; ``timed`` sums gateway time only."""

    def __init__(self, app: GatewayApplication) -> None:
        self.app = app
        self.timed_ns = 0
        self.calls = 0
        self.profiler: cProfile.Profile | None = None  # enabled around the gateway's calls only
        engine = app.engine
        self.conns: dict[str, FixConnection] = {}
        self.transports: dict[str, MemTransport] = {}
        self.peers: dict[str, Session] = {}
        self.exec_n = 0
        self.order_n = 0
        self.reports = 0
        for runtime in engine._runtimes.values():
            name = runtime.session.settings.name
            t = MemTransport()
            conn = FixConnection(engine, runtime)
            conn.connection_made(t)  # type: ignore[arg-type]
            self.conns[name] = conn
            self.transports[name] = t
            self.peers[name] = peer(name, initiator=name == "OMS1")
        now = time.time()
        oms = self.peers["OMS1"]
        oms.on_connect(now)
        self.feed("OMS1", oms.data_to_send())
        for _ in range(4):  # logons, market data requests and snapshots settle
            for name in LPS:
                self.pump_lp(name)
            self.pump_oms()

    def feed(self, name: str, data: bytes) -> None:
        if not data:
            return
        prof = self.profiler
        if prof is not None:
            prof.enable()
        t0 = time.thread_time_ns()
        self.conns[name].data_received(data)
        self.timed_ns += time.thread_time_ns() - t0
        if prof is not None:
            prof.disable()
        self.calls += 1

    def pump_oms(self) -> None:
        data = self.transports["OMS1"].take()
        if data:
            for ev in self.peers["OMS1"].receive(data, time.time()):
                if type(ev) is Message and ev.msg_type == b"8":
                    self.reports += 1
            self.feed("OMS1", self.peers["OMS1"].data_to_send())

    def pump_lp(self, name: str) -> None:
        data = self.transports[name].take()
        if not data:
            return
        p = self.peers[name]
        now = time.time()
        ts = utc_timestamp(now)
        for ev in p.receive(data, now):
            if type(ev) is not Message:
                continue
            if ev.msg_type == b"V":
                symbol = ev.get(55) or b"ACME"
                bid, ask = MIDS.get(symbol, MIDS[b"ACME"])
                body = (
                    b"262=%s\x0155=%s\x01268=2\x01269=0\x01270=%s\x01271=10000000\x01"
                    b"269=1\x01270=%s\x01271=10000000\x01" % (ev.get(262), symbol, bid, ask)
                )
                p.send(b"W", body, now)
            elif ev.msg_type == b"D":
                self.order_n += 1
                cl, sym, side, qty, px = ev.get(11), ev.get(55), ev.get(54), ev.get(38), ev.get(44)
                oid = b"O%d" % self.order_n
                common = b"37=%s\x0111=%s\x01" % (oid, cl)
                tail = b"55=%s\x0154=%s\x0138=%s\x01" % (sym, side, qty)
                self.exec_n += 1
                p.send(
                    b"8",
                    common
                    + b"17=E%d\x01150=0\x0139=0\x01%s151=%s\x0114=0\x016=0\x0160=%s\x01"
                    % (self.exec_n, tail, qty, ts),
                    now,
                )
                self.exec_n += 1
                p.send(
                    b"8",
                    common + b"17=E%d\x01150=F\x0139=2\x01%s151=0\x0114=%s\x016=%s\x0131=%s\x01"
                    b"32=%s\x0160=%s\x01" % (self.exec_n, tail, qty, px, px, qty, ts),
                    now,
                )
        self.feed(name, p.data_to_send())

    def send_orders(self, start: int, n: int) -> None:
        oms = self.peers["OMS1"]
        now = time.time()
        ts = utc_timestamp(now)
        for i in range(start, start + n):
            sym = SYMBOLS[i % 3]
            bid, ask = MIDS[sym]
            buy = i % 2 == 0
            body = b"11=C%d\x0121=1\x0155=%s\x0154=%s\x0138=100\x0140=2\x0144=%s\x0159=3\x0160=%s\x01" % (
                i,
                sym,
                b"1" if buy else b"2",
                ask if buy else bid,
                ts,
            )
            oms.send(b"D", body, now)
        self.feed("OMS1", oms.data_to_send())

    def run(self, orders: int, batch: int, first: int = 0) -> None:
        i = first
        while i < first + orders:
            n = min(batch, first + orders - i)
            self.send_orders(i, n)
            i += n
            for name in LPS:
                self.pump_lp(name)
            self.pump_oms()


def build(journal: bool, router: str, state: Path) -> Pipeline:
    app = GatewayApplication(gateway_settings(state, journal, router))
    if app.journal is not None:
        app.journal.start()
    return Pipeline(app)


async def measure(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        pipe = build(args.journal == "on", args.router, Path(tmp))
        if args.gc == "tuned":
            gc.set_threshold(50_000, 20, 100)
            gc.freeze()
        pipe.run(args.warmup, args.batch)
        runs = []
        first = args.warmup
        prof = cProfile.Profile() if args.profile else None
        pipe.profiler = prof
        for _ in range(args.repeat):
            before_ns, before_reports = pipe.timed_ns, pipe.reports
            pipe.run(args.orders, args.batch, first)
            first += args.orders
            got = pipe.reports - before_reports
            if got != 2 * args.orders:
                raise SystemExit(f"expected {2 * args.orders} OMS reports, got {got}")
            runs.append((pipe.timed_ns - before_ns) / 1000 / args.orders)
        if pipe.app.journal is not None:
            pipe.app.journal.close()
    if prof is not None:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats(args.sort).print_stats(args.top)
        print(s.getvalue())
    return {
        "pipeline_us_per_order": statistics.median(runs),
        "pipeline_us_per_order_min": min(runs),
    }


def instructions(args: argparse.Namespace) -> float:
    """Instructions per order, whole process, from two callgrind runs that differ by 1000 orders."""
    import re
    import shutil
    import subprocess

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    counts = []
    for orders in (300, 1300):
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/cg.out",
                sys.executable,
                __file__,
                "--orders",
                str(orders),
                "--repeat",
                "1",
                "--warmup",
                "200",
                "--batch",
                str(args.batch),
                "--journal",
                args.journal,
                "--router",
                args.router,
                "--lps",
                str(args.lps),
                "--gc",
                args.gc,
            ]
            env = {**os.environ, "PYTHONHASHSEED": "0"}  # same dict and set layouts in both runs
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            m = re.search(r"refs:\s+([\d,]+)", done.stderr)
            if m is None:
                raise SystemExit(f"no instruction count from callgrind: {done.stderr[-500:]}")
            counts.append(int(m.group(1).replace(",", "")))
    return (counts[1] - counts[0]) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=5000, help="orders per repeat")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1, help="orders per read from the OMS")
    parser.add_argument("--journal", choices=("on", "off"), default="on")
    parser.add_argument("--router", choices=("static", "scorecard"), default="static")
    parser.add_argument("--lps", type=int, default=4, help="LP sessions (the scorecard router asks each)")
    parser.add_argument("--gc", choices=("tuned", "default"), default="tuned")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured runs")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per order under callgrind (slow)"
    )
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args(argv)
    global LPS
    if args.lps != 4:
        LPS = tuple(f"LP{i:02d}" for i in range(1, args.lps + 1))
    suffix = f"_batch{args.batch}_journal_{args.journal}_{args.router}" + (
        f"_lps{args.lps}" if args.lps != 4 else ""
    )
    if args.instructions:
        n = instructions(args)
        print(f"instructions per order (whole process, gateway and counterparties): {n:,.0f}")
        print(f"pipeline_instructions_per_order{suffix}={n:.0f}")
        return 0
    figures = asyncio.run(measure(args))
    label = f"batch {args.batch}, journal {args.journal}, router {args.router}, gc {args.gc}"
    print("| run | gateway µs per order (median of repeats) | min |")
    print("|---|---|---|")
    med, low = figures["pipeline_us_per_order"], figures["pipeline_us_per_order_min"]
    print(f"| {label} | {med:.1f} | {low:.1f} |")
    for k, v in figures.items():
        print(f"{k}{suffix}={v:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
