"""The OMS side of ``fixgw bench``: the OMS simulator in a process of its own, phase by phase.

``python -m benchmarks.loadgen --port P --phases JSON [--handshake]`` where JSON is a list
of phases, each ``{"name", "kind", "profile", "orders", "rate", "window"}`` (rate 0 = flat
out, at most ``window`` orders unanswered). Two kinds of phase:

- ``checked``: one run of ``simulators.oms.OmsSimulator``: log on, send, wait for every
  answer (every report checked by its ReportChecker), log out. It costs the load side
  about 100 us of CPU per order, so flat out it measures itself as much as its target.
- ``blast``: a plain socket, NewOrderSingle bodies built before the phase (framed with
  the SendingTime of the second they leave in), replies only framed and scanned for
  ClOrdID, ExecType and OrdStatus: about 20 microseconds per order, so that flat out the
  system under test is the bottleneck. Nothing lost is
  checked (every order must end, and end filled for IOC), not the report contents.

With ``--handshake`` it prints ``READY <name>`` before a phase and waits for a line on
stdin, so that the harness can reset the gateway's histograms and read its CPU time at
the right moment. After each phase it prints ``RESULT <json>``: round trips (order sent ->
first fill, sent -> done) with p50, p99, p99.9 and max, the throughput of orders fully
answered, outcomes and orders that never got a final answer.

A measurement tool: it talks FIX only, and never imports the gateway's application.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import resource
import select
import socket
import sys
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

from gateway.fix.codec import Framer, encode
from gateway.fix.timeutil import utc_timestamp
from simulators.oms import OmsProfile, OmsSimulator, load_oms_profile

_TERMINAL = frozenset({b"2", b"3", b"4", b"8", b"C"})  # OrdStatus that ends an order


def percentiles_us(values_ns: list[int]) -> dict[str, float]:
    """p50, p99, p99.9 and max of nanosecond values, in microseconds (nearest rank)."""
    if not values_ns:
        return {"count": 0}
    v = sorted(values_ns)
    n = len(v)

    def at(q: float) -> float:
        return v[min(n - 1, max(0, int(q * n + 0.999999) - 1))] / 1000

    return {
        "count": n,
        "mean": sum(v) / n / 1000,
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": v[-1] / 1000,
    }


async def run_phase(profile: OmsProfile, port: int, orders: int, rate: float) -> dict[str, Any]:
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    sim = OmsSimulator(profile, orders=orders, rate=rate, port=port)
    report = await sim.run()
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    tracked = [o for o in sim.checker.orders.values() if o.sent_ns is not None]
    first_fill = [o.first_fill_ns - o.sent_ns for o in tracked if o.first_fill_ns is not None and o.sent_ns]
    done = [o for o in tracked if o.terminal_ns is not None]
    terminal = [o.terminal_ns - o.sent_ns for o in done if o.terminal_ns is not None and o.sent_ns]
    throughput = 0.0
    window_s = 0.0
    if done:
        start = min(o.sent_ns for o in tracked if o.sent_ns is not None)
        end = max(o.terminal_ns for o in done if o.terminal_ns is not None)
        window_s = (end - start) / 1e9
        throughput = len(done) / window_s if window_s > 0 else 0.0
    answered = sum(1 for o in tracked if o.reports > 0)
    ioc = all(t in ("3", "4") for t in profile.tif_weights)
    return {
        "lost": report.sent - (len(done) if ioc else answered),
        "sent": report.sent,
        "reports": report.reports,
        "answered": answered,
        "terminal": len(done),
        "outcome": report.outcome,
        "reject_reasons": report.reject_reasons,
        "violations": report.violation_count,
        "violation_examples": [str(v) for v in report.violations[:5]],
        "errors": report.errors,
        "logged_on": report.logged_on,
        "rtt_first_fill_us": percentiles_us(first_fill),
        "rtt_done_us": percentiles_us(terminal),
        "throughput_done_per_s": throughput,
        "done_window_s": window_s,
        "send_seconds": report.send_seconds,
        "send_rate_per_s": report.throughput,
        "elapsed_seconds": report.elapsed_seconds,
        "loadgen_cpu_s": (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Blaster:
    """One FIX session on a blocking socket: pre-encoded orders out, replies scanned."""

    def __init__(self, profile: OmsProfile, port: int) -> None:
        self.profile = profile
        s = profile.session
        self.sender = s.sender_comp_id.encode()
        self.target = s.target_comp_id.encode()
        self.begin = s.begin_string.encode()
        self.host = s.socket_connect_host
        self.port = port
        self.seq = 0
        self.framer = Framer()
        self.sock: socket.socket | None = None

    def _frame(self, msg_type: bytes, body: bytes, stamp: bytes) -> bytes:
        self.seq += 1
        return encode(
            self.begin,
            b"35=%s\x0134=%d\x0149=%s\x0152=%s\x0156=%s\x01%s"
            % (msg_type, self.seq, self.sender, stamp, self.target, body),
        )

    def _wait_for(self, msg_type: bytes, timeout: float) -> None:
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        tag = b"\x0135=%s\x01" % msg_type
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("the counterparty hung up")
            if any(isinstance(f, bytes) and tag in f for f in self.framer.feed(data)):
                return
        raise TimeoutError(f"no 35={msg_type.decode()} within {timeout:g} s")

    def logon(self) -> None:
        self.sock = socket.create_connection((self.host, self.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.seq = 0
        hb = self.profile.session.heart_bt_int
        self.sock.sendall(self._frame(b"A", b"98=0\x01108=%d\x01141=Y\x01" % hb, utc_timestamp(time.time())))
        self._wait_for(b"A", self.profile.logon_timeout_s)

    def logout(self) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendall(self._frame(b"5", b"", utc_timestamp(time.time())))
            self._wait_for(b"5", 5.0)
        except (OSError, TimeoutError):
            pass
        self.sock.close()
        self.sock = None

    def orders(self, n: int, prefix: bytes) -> tuple[list[bytes], bool]:
        """n NewOrderSingle bodies like the profile's (first TimeInForce); IOC or not."""
        p = self.profile
        rng = random.Random(p.seed)
        tif = max(p.tif_weights, key=lambda k: p.tif_weights[k]).encode()
        stamp = utc_timestamp(time.time())
        bodies = []
        for i in range(n):
            sym = p.symbols[i % len(p.symbols)]
            inst = sym.instrument
            buy = rng.random() < p.buy_fraction
            lots = rng.randint(
                max(1, int(sym.min_qty / inst.lot_size)), max(1, int(sym.max_qty / inst.lot_size))
            )
            qty = inst.lot_size * lots
            offset = rng.uniform(p.limit_offset_min_bps, p.limit_offset_max_bps) / 1e4
            raw = sym.price * Decimal(repr(1 + offset if buy else 1 - offset))
            price = (raw / inst.tick_size).to_integral_value(ROUND_DOWN) * inst.tick_size
            body = b"11=%s%d\x0121=1\x0155=%s\x0154=%s\x0138=%s\x0140=2\x0144=%s\x0159=%s\x0160=%s\x01" % (
                prefix,
                i,
                inst.symbol.encode(),
                b"1" if buy else b"2",
                inst.fmt_qty(int(qty * inst.qty_scale)),
                inst.fmt_price(int(price * inst.price_scale)),
                tif,
                stamp,
            )
            bodies.append(body)
        return bodies, tif in (b"3", b"4")

    def run(self, n: int, rate: float, window: int) -> dict[str, Any]:
        """Send n orders (flat out within ``window``, or at ``rate``); wait for their answers."""
        prefix = b"B%X-" % (time.time_ns() // 1000 & 0xFFFFFFFFF)
        self.logon()
        bodies, ioc = self.orders(n, prefix)
        stamp_second = 0
        stamp = b""
        sock = self.sock
        assert sock is not None
        sent_ns = [0] * n
        first_fill_ns = [0] * n
        done_ns = [0] * n
        answered = [False] * n
        status: dict[bytes, int] = {}
        sent = 0
        done = 0  # IOC: orders ended; otherwise orders answered (acknowledged)
        settle = self.profile.settle_timeout_s
        plen = len(prefix)
        last_progress = time.monotonic()
        t0 = time.perf_counter()
        framer = self.framer
        while done < n:
            if sent < n and sent - done < window:
                due = n if rate <= 0 else min(n, int((time.perf_counter() - t0) * rate) + 1)
                k = min(due, done + window) - sent
                if k > 0:
                    second = int(time.time())
                    if second != stamp_second:  # SendingTime is checked against the clock
                        stamp_second, stamp = second, utc_timestamp(second)
                    make = self._frame
                    payload = b"".join([make(b"D", body, stamp) for body in bodies[sent : sent + k]])
                    now_ns = time.perf_counter_ns()
                    for i in range(sent, sent + k):
                        sent_ns[i] = now_ns
                    sock.sendall(payload)
                    sent += k
            if rate > 0 and sent < n:
                timeout = max(0.0, sent / rate - (time.perf_counter() - t0))
            else:
                timeout = 0.2
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                if time.monotonic() - last_progress > settle and (sent == n or sent - done >= window):
                    break
                continue
            data = sock.recv(1 << 20)
            if not data:
                break
            now_ns = time.perf_counter_ns()
            for frame in framer.feed(data):
                if not isinstance(frame, bytes) or b"\x0135=8\x01" not in frame:
                    continue
                a = frame.find(b"\x0111=")
                if a < 0 or frame[a + 4 : a + 4 + plen] != prefix:
                    continue
                b = frame.find(b"\x01", a + 4)
                index = int(frame[a + 4 + plen : b])
                c = frame.find(b"\x0139=")
                ord_status = frame[c + 4 : frame.find(b"\x01", c + 4)] if c >= 0 else b""
                if not first_fill_ns[index] and b"\x01150=F\x01" in frame:
                    first_fill_ns[index] = now_ns
                if ioc:
                    if ord_status in _TERMINAL and not done_ns[index]:
                        done_ns[index] = now_ns
                        status[ord_status] = status.get(ord_status, 0) + 1
                        done += 1
                elif not answered[index]:
                    answered[index] = True
                    done_ns[index] = now_ns
                    status[ord_status] = status.get(ord_status, 0) + 1
                    done += 1
            last_progress = time.monotonic()
        self.logout()
        ended = [d for d in done_ns if d]
        window_s = (max(ended) - min(x for x in sent_ns if x)) / 1e9 if ended else 0.0
        names = {b"0": "new", b"1": "partially_filled", b"2": "filled", b"4": "canceled", b"8": "rejected"}
        return {
            "sent": sent,
            "terminal" if ioc else "answered": done,
            "lost": sent - done,
            "outcome": {names.get(k, k.decode()): v for k, v in status.items()},
            "rtt_first_fill_us": percentiles_us(
                [f - s for f, s in zip(first_fill_ns, sent_ns, strict=True) if f and s]
            ),
            "rtt_done_us": percentiles_us([d - s for d, s in zip(done_ns, sent_ns, strict=True) if d and s]),
            "throughput_done_per_s": len(ended) / window_s if window_s > 0 else 0.0,
            "done_window_s": window_s,
        }


async def main_async(args: argparse.Namespace) -> int:
    phases = json.loads(args.phases)
    loop = asyncio.get_running_loop()
    for phase in phases:
        profile = load_oms_profile(phase["profile"])
        profile = dataclasses.replace(profile, max_in_flight=int(phase.get("window", profile.max_in_flight)))
        if args.handshake:
            print(f"READY {phase['name']}", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "stop":
                return 0
        started = time.time()
        if phase.get("kind", "checked") == "blast":
            cpu0 = _cpu()
            result = Blaster(profile, args.port).run(
                int(phase["orders"]), float(phase["rate"]), profile.max_in_flight
            )
            result["loadgen_cpu_s"] = _cpu() - cpu0
        else:
            result = await run_phase(profile, args.port, int(phase["orders"]), float(phase["rate"]))
        result.update(
            name=phase["name"],
            kind=phase.get("kind", "checked"),
            orders=int(phase["orders"]),
            rate=float(phase["rate"]),
        )
        result.update(window=profile.max_in_flight, started=started)
        print("RESULT " + json.dumps(result), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True, help="where the OMS session connects")
    parser.add_argument("--phases", required=True, help="JSON list of phases (see the module doc)")
    parser.add_argument("--handshake", action="store_true", help="READY / wait for stdin before each phase")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop

        return uvloop.run(main_async(args))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
