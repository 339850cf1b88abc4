"""Throughput of the LP simulator: orders per second it answers, on one core.

``python -m simulators.bench [--orders N] [--window W]`` runs the LP simulator in a child
process (uvloop, one LP, no latency, no logging) and blasts pre-encoded NewOrderSingle
frames at it from this process over loopback, keeping at most W orders unanswered; it
prints orders/s. A measurement, never a pass/fail test; it must never be imported by the
simulators themselves.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import time
from typing import Any

from gateway.fix.codec import encode
from gateway.fix.timeutil import utc_timestamp

BENCH_PROFILE: dict[str, Any] = {
    "seed": 1,
    "step_ms": 100,
    "status_interval_s": 0,
    "instrument": [{"Symbol": "ACME", "TickSize": "0.01", "Mid": "100", "VolatilityBps": 5}],
    "lp": [
        {
            "name": "LP_A",
            "port": 0,
            "spread_bps": 2.0,
            "quote_size": 1_000_000,
            "send_ack": False,
            "ack_latency": 0,
            "fill_latency": 0,
        }
    ],
}


def _serve(port: int, ready: Any, send_ack: bool) -> None:
    import asyncio

    import uvloop

    from simulators.lp import LpSimulator

    profile = dict(BENCH_PROFILE)
    profile["lp"] = [{**BENCH_PROFILE["lp"][0], "send_ack": send_ack}]

    async def main() -> None:
        sim = LpSimulator(profile, ports=port)
        await sim.start()
        ready.set()
        await asyncio.Event().wait()

    uvloop.run(main())


def _frame(seq: int, msg_type: bytes, body: bytes, now: float) -> bytes:
    return encode(
        b"FIX.4.4",
        b"35=%s\x0134=%d\x0149=FIXGW\x0152=%s\x0156=LP_A\x01%s" % (msg_type, seq, utc_timestamp(now), body),
    )


def measure(orders: int = 100_000, window: int = 2000, send_ack: bool = False) -> float:
    """Orders per second answered (each order ends with one fill)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_serve, args=(port, ready, send_ack), daemon=True)
    child.start()
    try:
        if not ready.wait(20):
            raise RuntimeError("the LP simulator did not start")
        now = time.time()
        frames = [
            _frame(
                i + 2,
                b"D",
                b"11=B%d\x0121=1\x0155=ACME\x0154=%d\x0138=100\x0140=2\x0144=%s\x0159=3\x0160=%s\x01"
                % (i, 1 + i % 2, b"101" if i % 2 == 0 else b"99", utc_timestamp(now)),
                now,
            )
            for i in range(orders)
        ]
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(_frame(1, b"A", b"98=0\x01108=30\x01", now))
        buf = b""
        while b"\x0135=A\x01" not in buf:
            buf += sock.recv(65536)
        fills = 0
        sent = 0
        tail = b""
        t0 = time.perf_counter()
        while fills < orders:
            if sent < orders and sent - fills < window:
                n = min(window - (sent - fills), orders - sent, 500)
                sock.sendall(b"".join(frames[sent : sent + n]))
                sent += n
            data = sock.recv(1 << 20)
            if not data:
                raise RuntimeError("the LP simulator hung up")
            chunk = tail + data
            fills += chunk.count(b"\x01150=F\x01")
            tail = chunk[-8:]
        elapsed = time.perf_counter() - t0
        sock.close()
        return orders / elapsed
    finally:
        child.terminate()
        child.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=2000)
    parser.add_argument("--ack", action="store_true", help="the LP acks before each fill")
    args = parser.parse_args()
    rate = measure(args.orders, args.window, args.ack)
    print(f"LP simulator: {rate:,.0f} orders/s ({args.orders} orders, window {args.window})")


if __name__ == "__main__":
    main()
