"""A live gateway for the ops and browser tests: LP simulators, the gateway with its HTTP
server, and an OMS session, all on one event loop in a background thread.

The tests talk to it as people do, over HTTP (and a browser), and look inside it through
``call``, which runs a function on the gateway's loop so nothing is read mid-callback.

Three simulated LPs that differ in known ways, so the scorecard ranks them:
LP_A fast at the quote, LP_B slow and rejecting often, LP_C slower but improving the price
by a tick. ``seed_scores`` routes a batch of orders to each LP in turn (the others
disabled for the batch), so every LP has observations.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from gateway.app import GatewayApplication
from gateway.sessions.session import Session
from gateway.sessions.transport import Engine
from simulators.lp import LpSimulator
from tests.integration.gwkit import Peer, free_port, gateway_settings, nos, start_oms

T = TypeVar("T")

TOKEN = "test-token-0123456789"
TOKEN_ENV = "FIXGW_TEST_ADMIN_TOKEN"
LPS = ("LP_A", "LP_B", "LP_C")


def sim_profile() -> dict[str, Any]:
    base: dict[str, Any] = {
        "spread_bps": 2.0,
        "quote_size": 100000,
        "ack_latency": 0,
        "fill_latency": 0,
        "quote_throttle_ms": 20,
    }
    lps = [
        {"name": "LP_A", "port": 0, **base},
        {
            "name": "LP_B",
            "port": 0,
            **base,
            "ack_latency": {"median_ms": 12.0, "sigma": 0.0},
            "fill_latency": {"median_ms": 12.0, "sigma": 0.0},
            "reject_rate": 0.4,
        },
        {
            "name": "LP_C",
            "port": 0,
            **base,
            # far enough behind LP_A that a loaded machine's stalls on a few of LP_A's seeding
            # orders do not put LP_C first for "hft" (6 ms did, once, in CI)
            "ack_latency": {"median_ms": 20.0, "sigma": 0.0},
            "fill_latency": {"median_ms": 20.0, "sigma": 0.0},
            "price_improvement_probability": 1.0,
            "price_improvement_ticks": 1,
        },
    ]
    return {
        "seed": 7,
        "step_ms": 50,
        "status_interval_s": 0,
        "instrument": [
            {"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1", "Mid": "100.00", "VolatilityBps": 0}
        ],
        "lp": lps,
    }


class LiveGateway:
    """Start with ``start()``, stop with ``stop()`` (a context manager does both)."""

    def __init__(self, tmp: Path, console: dict[str, Any] | None = None, token: str | None = TOKEN) -> None:
        self.tmp = tmp
        self.console = {"TokenEnv": TOKEN_ENV, "HistoryInterval": 0.5, **(console or {})}
        self.token = token
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-loop", daemon=True)
        self.sim: LpSimulator | None = None
        self.app: GatewayApplication | None = None
        self.oms_engine: Engine | None = None
        self.oms_peer: Peer | None = None
        self.oms_session: Session | None = None
        self.base_url = ""
        self._n = 0

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LiveGateway:
        self.thread.start()
        self.run(self._start(), timeout=30)
        return self

    async def _start(self) -> None:
        self.sim = LpSimulator(sim_profile(), ports=0)
        await self.sim.start()
        ports = {name: self.sim.port(name) for name in LPS}
        oms_port = free_port()
        settings = gateway_settings(
            self.tmp,
            oms_port,
            ports,
            gateway={"StateDir": str(self.tmp / "state"), "HttpPort": free_port(), "HttpHost": "127.0.0.1"},
            router={"Kind": "scorecard", "Priority": list(LPS), "DefaultProfile": "hft"},
            scorecard={
                "HalfLife": 1e7,
                "ShrinkageK": 1.0,
                "Horizons": [0.2, 0.5],
                "ImpactHorizon": 0.5,
            },
            console=self.console,
        )
        old = os.environ.get(TOKEN_ENV)
        if self.token is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = self.token
        try:
            self.app = GatewayApplication(settings)
        finally:
            if old is None:
                os.environ.pop(TOKEN_ENV, None)
            else:
                os.environ[TOKEN_ENV] = old
        await self.app.start()
        assert self.app.http is not None and self.app.http.url, self.app.http and self.app.http.error
        self.base_url = self.app.http.url.rstrip("/")
        self.oms_engine, self.oms_peer, self.oms_session = await start_oms(oms_port, self.tmp)
        app = self.app
        deadline = time.monotonic() + 15
        while not (
            self.oms_session.logged_on
            and all(app.available(lp) for lp in LPS)
            and app.marketdata.mid("ACME", time.time())
        ):
            if time.monotonic() > deadline:
                raise AssertionError("the gateway did not log on to its LPs and OMS")
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        async def _stop() -> None:
            if self.oms_engine is not None:
                await self.oms_engine.stop()
            if self.app is not None:
                await self.app.stop()
            if self.sim is not None:
                await self.sim.stop()

        try:
            self.run(_stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def __enter__(self) -> LiveGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- on the gateway's loop ---------------------------------------------------------------
    def run(self, coro: Any, timeout: float = 20) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10) -> T:
        async def wrapper() -> T:
            return fn()

        result: T = self.run(wrapper(), timeout)
        return result

    @property
    def gw(self) -> GatewayApplication:
        assert self.app is not None
        return self.app

    # --- orders ------------------------------------------------------------------------------
    def send_orders(self, n: int, qty: int = 100, side: str = "1", wait: bool = True) -> list[str]:
        """``n`` IOC limit orders through the OMS session; waits until each has ended."""
        cls: list[str] = []
        for _ in range(n):
            self._n += 1
            cl = f"T{self._n}"
            px = "100.05" if side == "1" else "99.95"
            body = nos(cl, qty=qty, px=px, side=side, tif="3")
            assert self.oms_engine is not None and self.oms_session is not None
            engine, session = self.oms_engine, self.oms_session
            self.call(lambda b=body, e=engine, s=session: e.send(s, b"D", b))
            cls.append(cl)
            if wait:
                self.wait(lambda c=cl: self._done(c), 10, f"order {cl} to end")
        return cls

    def _done(self, cl: str) -> bool:
        book = self.gw.book
        p = next((p for p in book.parents.values() if p.cl_ord_id == cl.encode()), None)
        return p is not None and p.order_id not in book.open_parents

    def wait(self, predicate: Callable[[], bool], timeout: float = 10, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not self.call(predicate):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def seed_scores(self, per_lp: int = 8) -> None:
        """Every LP gets ``per_lp`` orders on its own, then all are enabled again."""
        gw = self.gw
        for lp in LPS:
            others = {x for x in LPS if x != lp}
            self.call(lambda o=others: gw.disabled.update(o))
            self.send_orders(per_lp)
            self.call(lambda o=others: gw.disabled.difference_update(o))
        time.sleep(0.7)  # markouts at the 0.5 s horizon mature

    # --- HTTP ------------------------------------------------------------------------------------
    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """(status, decoded JSON or text, headers) of one request to the gateway."""
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw, hdrs = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, raw, hdrs = err.code, err.read(), dict(err.headers)
        ctype = hdrs.get("Content-Type", "")
        payload: Any = json.loads(raw) if "json" in ctype else raw.decode()
        return status, payload, hdrs
