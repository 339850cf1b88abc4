"""`fixgw scenario acme | compare`: the router against simulated LPs, in one process over TCP.

A scenario starts, on one asyncio loop, the LP simulator (``simulators.scenarios``), a
gateway (``GatewayApplication``, the class `fixgw run` starts) and an OMS simulator, talking
FIX over loopback TCP, and drives a seeded flow of orders through them:

- ``acme``: the worked scenario of SPEC.md section 3. A warm-up flow of small orders, one
  LP after the other, gives the scorecard a history; then the OMS sells a 200,000 ACME
  block through the scorecard router. Printed: the scores after the warm-up, a timeline of
  every routing wave (the scores it saw), every fill and child end (the scores after it),
  and a summary beside the same block routed by the static router pinned to one LP.
- ``compare``: the same seeded flow of parents once through the static router and once per
  scorecard profile, on an LP mix where the LP the static router prefers silently degrades
  mid-run; printed as a table (fill rate, cost vs arrival, markouts from the simulated
  market, rejects, ack latency, children per order).

What makes a run repeatable: the market moves only when the scenario steps it, never on a
timer; every LP draws from its own seeded stream; the OMS sends one parent at a time and
waits for its end; and after each market step the scenario waits until the gateway holds
every LP's new quote. The order of events is then set by the flow, not by the machine.
Latencies are measured on the wall clock, so they, and through them the scores, vary a
little from run to run: the ACME block's children, fills and prices come out the same,
while in the compare flow the scorecard runs' figures move by a few tenths (the static
run's do not) without changing who beats whom.

Where the scenario stands in for the product: the warm-up's orders are sent each to the
LP whose turn it is by a round-robin planner in place of the router (a scorecard router
would only ever try its current best), and the simulated LPs publish quotes as full
refreshes (see ``simulators.scenarios``). Everything else is the product's code path.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, TextIO

from gateway.app import GatewayApplication
from gateway.config import parse_config
from gateway.fix.enums import TimeInForce
from gateway.orders import C_REJECTED, CHILD_TERMINAL, ChildOrder, ChildPlan, ParentOrder
from gateway.router import Decision
from simulators.lp_profile import SimProfile, parse_profile
from simulators.oms import parse_oms_profile
from simulators.profile import ProfileError, Table, load_toml
from simulators.scenarios import Liquidity, ScenarioLpSimulator, ScriptedOms, parse_liquidity, profile_changes

ROOT = Path(__file__).resolve().parents[1]
CONFIGS: dict[str, Path] = {
    "acme": ROOT / "config" / "scenarios" / "acme.toml",
    "compare": ROOT / "config" / "scenarios" / "compare.toml",
}
OMS = "OMS1"
_KIND_TABLES = ("parent", "baselines", "flow", "degrade", "runs")
_TIFS = {"IOC": "3", "DAY": "0", "FOK": "4"}
_GW_DEFAULT: dict[str, Any] = {
    "BeginString": "FIX.4.4",
    "SenderCompID": "FIXGW",
    "HeartBtInt": 30,
    "ReconnectInterval": 1,
    "ReconnectMaxInterval": 1,
    "UseMemoryStore": True,
    "LogMessages": False,
}


class ScenarioError(ValueError):
    """A bad scenario file or a run that could not be made (the text says which and why)."""


# --------------------------------------------------------------------------- the scenario file


@dataclass(frozen=True)
class Warmup:
    symbol: str
    orders_per_lp: int
    min_qty: int
    max_qty: int
    limit_offset_bps: float
    settle_s: float  # wait after each order, for the markouts at the impact horizon


@dataclass(frozen=True)
class Scenario:
    """A scenario file: its seed, warm-up, gateway tables, LP simulator profile, and the rest."""

    source: str
    seed: int
    warmup: Warmup
    gateway: Mapping[str, Any]
    lps: Mapping[str, Any]
    liquidity: tuple[Liquidity, ...]
    data: Mapping[str, Any]

    def sim_profile(self, seed: int) -> SimProfile:
        return parse_profile({**self.lps, "seed": seed}, self.source)

    def table(self, name: str) -> Table:
        return Table(self.data.get(name, {}), self.source, f"[{name}]")


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file (config/scenarios/*.toml)."""
    source = str(path)
    data = load_toml(path)
    top = Table(data, source, "")
    seed = top.integer("seed", 1)
    w = top.table("warmup")
    warmup = Warmup(
        symbol=w.text("symbol"),
        orders_per_lp=w.integer("orders_per_lp", 8, 0),
        min_qty=w.integer("min_qty", 1000, 1),
        max_qty=w.integer("max_qty", 4000, 1),
        limit_offset_bps=w.number("limit_offset_bps", 20.0, 0.0),
        settle_s=w.number("settle_ms", 30.0, 0.0) / 1000.0,
    )
    w.done()
    if warmup.max_qty < warmup.min_qty:
        raise ProfileError(source, "[warmup]", "max_qty", "less than min_qty")
    gateway = top.raw("gateway", {})
    if not isinstance(gateway, Mapping):
        raise ProfileError(source, "[gateway]", "", "expected the gateway's tables ([gateway.router], ...)")
    for key in ("gateway", "default", "session"):
        if key in gateway:
            raise ProfileError(
                source, f"[gateway.{key}]", "", "sessions and ports are made by the scenario; leave it out"
            )
    lps = top.raw("lps", {})
    if not isinstance(lps, Mapping):
        raise ProfileError(source, "[lps]", "", "expected the LP simulator profile (keys of config/lps.toml)")
    liquidity = parse_liquidity(top.raw("liquidity"), source)
    for key in _KIND_TABLES:
        top.raw(key)  # read where the scenario kind runs (acme: parent, baselines; compare: ...)
    top.done()
    scenario = Scenario(source, seed, warmup, gateway, lps, liquidity, data)
    profile = scenario.sim_profile(seed)  # the LP profile is checked now, not mid-run
    if warmup.symbol not in {spec.symbol for spec in profile.instruments}:
        raise ProfileError(source, "[warmup]", "symbol", f"{warmup.symbol!r} is not an [[lps.instrument]]")
    return scenario


# --------------------------------------------------------------------------- the rig


class Rig:
    """LP simulator, gateway and OMS on this event loop, over loopback TCP; ``async with``."""

    def __init__(self, scenario: Scenario, seed: int, router: Mapping[str, Any] | None = None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.router_overrides = dict(router or {})
        self.profile = scenario.sim_profile(seed)
        self.lp_names = [p.name for p in self.profile.lps]
        self.sim = ScenarioLpSimulator(self.profile, liquidity=scenario.liquidity)
        self._tmp: str | None = None
        self._app: GatewayApplication | None = None
        self._oms: ScriptedOms | None = None

    @property
    def app(self) -> GatewayApplication:
        assert self._app is not None, "the rig is not started"
        return self._app

    @property
    def oms(self) -> ScriptedOms:
        assert self._oms is not None, "the rig is not started"
        return self._oms

    def _gateway_data(self, state_dir: str) -> dict[str, Any]:
        tables = {k: v for k, v in self.scenario.gateway.items()}
        router = {**tables.get("router", {}), **self.router_overrides}
        sessions: list[dict[str, Any]] = [
            {"Name": OMS, "ConnectionType": "acceptor", "TargetCompID": OMS, "SocketAcceptPort": 1}
        ]
        for lp in self.lp_names:
            sessions.append(
                {
                    "Name": lp,
                    "ConnectionType": "initiator",
                    "TargetCompID": lp,
                    "SocketConnectHost": "127.0.0.1",
                    "SocketConnectPort": self.sim.port(lp),
                }
            )
        return {
            **tables,
            "router": router,
            "gateway": {"StateDir": state_dir},
            "default": dict(_GW_DEFAULT),
            "session": sessions,
        }

    async def start(self, timeout: float = 10.0) -> None:
        await self.sim.start()
        self._tmp = tempfile.mkdtemp(prefix="fixgw-scenario-")
        settings = parse_config(self._gateway_data(self._tmp), self.scenario.source, Path(self._tmp))
        # the OMS acceptor takes any free port (the settings checker wants 1..65535)
        sessions = tuple(
            dataclasses.replace(s, socket_accept_port=0) if s.name == OMS else s for s in settings.sessions
        )
        settings = dataclasses.replace(settings, sessions=sessions)
        self._app = app = GatewayApplication(settings)
        await app.start()
        port = app.engine.ports[settings.session(OMS).session_id]
        oms_profile = parse_oms_profile(
            {
                "session": {"SenderCompID": OMS, "TargetCompID": "FIXGW", "SocketConnectPort": port},
                "symbol": [
                    {
                        "Symbol": spec.symbol,
                        "TickSize": str(spec.instrument.tick_size),
                        "LotSize": str(spec.instrument.lot_size),
                        "Price": str(spec.mid),
                    }
                    for spec in self.profile.instruments
                ],
            },
            self.scenario.source,
        )
        self._oms = ScriptedOms(oms_profile, port=port)
        await self._oms.open(timeout)
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise ScenarioError("the gateway did not log on to every LP and get its quotes in time")
            await asyncio.sleep(0.01)

    def _ready(self) -> bool:
        app = self.app
        now = time.time()
        for p in self.profile.lps:
            if not app.available(p.name):
                return False
            if any(app.marketdata.lp_quote(p.name, s, now) is None for s in p.symbols):
                return False
        return True

    async def stop(self) -> None:
        if self._oms is not None:
            await self._oms.close()
        if self._app is not None:
            await self._app.stop()
        await self.sim.stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)

    async def __aenter__(self) -> Rig:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- helpers for the flows ---------------------------------------------------------------
    def _quotes_in_sync(self) -> bool:
        app = self.app
        now = time.time()
        for p in self.profile.lps:
            lp = self.sim.lp(p.name)
            for symbol in p.symbols:
                q = app.marketdata.lp_quote(p.name, symbol, now)
                mine = lp.quotes[symbol]
                if q is None or q.bid != mine.bid or q.ask != mine.ask:
                    return False
        return True

    async def step_market(self, n: int = 1, timeout: float = 5.0) -> None:
        """Move the market ``n`` steps and wait until the gateway holds every LP's new quote.

        Without the wait, an order sent right after a step could reach the gateway before
        the quotes do, and be benchmarked against the old ones: timing would leak into the
        scores and the markouts.
        """
        self.sim.step_market(n)
        await self.sync_quotes(timeout)

    async def sync_quotes(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._quotes_in_sync():
            if time.monotonic() > deadline:
                raise ScenarioError("the gateway's quotes did not catch up with the LPs'")
            await asyncio.sleep(0.0005)

    def mid(self, symbol: str) -> float:
        """The simulated market's mid (the truth, not the gateway's view of it)."""
        return self.sim.market.mid_price(symbol)

    def limit(self, symbol: str, side: str, offset_bps: float) -> Decimal:
        """A limit ``offset_bps`` through the market mid (marketable), on the tick."""
        tick = self.sim.market.instrument(symbol).tick_size
        buy = side == "buy"
        raw = Decimal(repr(self.mid(symbol) * (1 + offset_bps / 1e4 if buy else 1 - offset_bps / 1e4)))
        return (raw / tick).to_integral_value(ROUND_FLOOR if buy else ROUND_CEILING) * tick

    def parent(self, clordid: str) -> ParentOrder:
        sid = self.app.settings.session(OMS).session_id
        p = self.app.book.by_cl_ord_id.get((sid, clordid.encode()))
        if p is None:
            raise ScenarioError(f"the gateway has no parent for ClOrdID {clordid}")
        return p

    def slice_qty(self, symbol: str) -> float:
        inst = self.app.instruments.get(symbol)
        assert inst is not None
        factor = getattr(getattr(self.app.router, "settings", None), "slice_factor", 1.0)
        return float(inst.typical_size) * factor

    def scores(self, symbol: str, profile: str, now: float) -> dict[str, float]:
        """Composite scores of every LP for a child of one slice (what the router looks at)."""
        card = self.app.scorecard
        inst = self.app.instruments.get(symbol)
        assert inst is not None
        bucket = card.bucket(self.slice_qty(symbol), float(inst.typical_size))
        return card.scores(list(self.lp_names), symbol, profile, now, bucket=bucket)

    def kpi_rows(self, symbol: str, profile: str, now: float) -> list[LpKpis]:
        card = self.app.scorecard
        inst = self.app.instruments.get(symbol)
        assert inst is not None
        bucket = card.bucket(self.slice_qty(symbol), float(inst.typical_size))
        scores = self.scores(symbol, profile, now)
        rows = []
        for lp in self.lp_names:
            vec = card.kpis(lp, symbol, bucket, now)
            rows.append(
                LpKpis(
                    lp,
                    scores[lp],
                    card.kpi_value(vec, "fill_rate"),
                    card.kpi_value(vec, "ack_latency"),
                    card.kpi_value(vec, "price_improvement"),
                    card.kpi_value(vec, "market_impact"),
                    card.kpi_value(vec, "rejection_rate"),
                    card.observations(lp, now, symbol),
                )
            )
        rows.sort(key=lambda r: (-r.score, r.lp))
        return rows


@dataclass(frozen=True)
class LpKpis:
    lp: str
    score: float
    fill_rate: float
    ack_ms: float
    pi_bps: float
    impact_bps: float
    rejection_rate: float
    observations: float


class _Pinned:
    """The warm-up's stand-in for the router: each order goes to the LP named for it, once."""

    def __init__(self) -> None:
        self.lp_of: dict[bytes, str] = {}

    def plan(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        lp = self.lp_of.get(parent.cl_ord_id)
        if lp is None or parent.children:
            return []
        return [ChildPlan(lp, available, parent.price, TimeInForce.IMMEDIATE_OR_CANCEL)]


async def warm_up(rig: Rig, spec: Warmup, seed: int, *, settle: bool) -> int:
    """Small marketable IOC orders, LP after LP, buys and sells in turn; returns how many."""
    rng = random.Random(seed * 7919 + 1)
    lps = rig.lp_names
    pinned = _Pinned()
    book = rig.app.book
    saved = book.planner
    book.planner = pinned.plan
    n = spec.orders_per_lp * len(lps)
    lot = rig.sim.market.instrument(spec.symbol).lot_size
    try:
        for i in range(n):
            lp = lps[i % len(lps)]
            side = "buy" if (i // len(lps)) % 2 == 0 else "sell"
            await rig.step_market()
            qty = Decimal(rng.randint(spec.min_qty, spec.max_qty)) // lot * lot
            clordid = rig.oms.new(spec.symbol, side, qty, rig.limit(spec.symbol, side, spec.limit_offset_bps))
            pinned.lp_of[clordid.encode()] = lp
            await rig.oms.done(clordid)
            if settle and spec.settle_s:
                await asyncio.sleep(spec.settle_s)
    finally:
        book.planner = saved
    return n


# --------------------------------------------------------------------------- acme: the timeline


@dataclass
class Wave:
    """One routing decision: the scores it saw and the children it sent."""

    t_ms: float
    number: int
    scores: dict[str, float]
    why: dict[str, str]
    children: list[tuple[str, int, Decimal | None]]  # LP, quantity, limit


@dataclass
class ChildEvent:
    """A fill of a child, or its end (with the scorecard's scores right after it)."""

    t_ms: float
    child: int  # 1-based, in the order the children were sent
    lp: str
    kind: str  # "fill" | "end"
    qty: int  # fill: its quantity; end: the child's quantity
    price: Decimal | None  # fill price
    filled: int  # the child's filled quantity so far
    state: str
    latency_ms: float | None = None  # end: sent -> end
    scores_after: dict[str, float] = field(default_factory=dict)


class _Recorder:
    """Listens to the gateway (router decisions, child events) and builds the timeline.

    The gateway routes a parent's next wave inside the callback of the report that ended a
    child (the scorecard has heard of the report by then), before its listeners hear of it.
    Waves are held back until the report is heard, so the timeline reads in causal order.
    """

    def __init__(self, rig: Rig, symbol: str, profile: str, t0: float) -> None:
        self.rig = rig
        self.symbol = symbol
        self.profile = profile
        self.t0 = t0
        self.items: list[Wave | ChildEvent] = []
        self._held: list[Wave] = []
        self._waves = 0
        self._fills_seen: dict[bytes, int] = {}
        self._ended: set[bytes] = set()

    def on_decision(self, d: Decision) -> None:
        if not d.children:
            return
        inst = self.rig.app.instruments.get(d.symbol)
        assert inst is not None
        self._waves += 1
        self._held.append(
            Wave(
                (d.time - self.t0) * 1000.0,
                self._waves,
                {c.lp: c.score for c in d.candidates if c.score is not None},
                {c.lp: c.why for c in d.candidates},
                [
                    (
                        p.lp,
                        int(inst.qty_to_float(p.qty)),
                        None if p.price is None else Decimal(inst.fmt_price(p.price).decode()),
                    )
                    for p in d.children
                ],
            )
        )

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if kind != "child":
            return
        child = self.rig.app.book.child(str(data["child"]).encode())
        if child is None or child.sent_at < self.t0:
            return
        self._child(child)
        self.flush()

    def _child(self, c: ChildOrder) -> None:
        inst = c.parent.inst
        number = c.parent.children.index(c) + 1
        seen = self._fills_seen.get(c.child_id, 0)
        for i, f in enumerate(c.fills[seen:], start=seen):
            at = c.first_fill_at if i == 0 else None
            if c.state == "filled" and i == len(c.fills) - 1 and c.done_at is not None:
                at = c.done_at
            self.items.append(
                ChildEvent(
                    ((at or time.time()) - self.t0) * 1000.0,
                    number,
                    c.lp,
                    "fill",
                    int(inst.qty_to_float(f.qty)),
                    Decimal(inst.fmt_price(f.price).decode()),
                    int(inst.qty_to_float(c.cum_qty)),
                    c.state,
                )
            )
        self._fills_seen[c.child_id] = len(c.fills)
        if c.state in CHILD_TERMINAL and c.child_id not in self._ended:
            self._ended.add(c.child_id)
            done = c.done_at or time.time()
            self.items.append(
                ChildEvent(
                    (done - self.t0) * 1000.0,
                    number,
                    c.lp,
                    "end",
                    int(inst.qty_to_float(c.qty)),
                    None,
                    int(inst.qty_to_float(c.cum_qty)),
                    c.state,
                    (done - c.sent_at) * 1000.0,
                    self.rig.scores(self.symbol, self.profile, done),
                )
            )

    def flush(self) -> None:
        self.items += self._held
        self._held.clear()


@dataclass
class BlockRun:
    """One block parent through the gateway: what happened and what it cost."""

    label: str
    router: str
    profile: str
    symbol: str
    side: str
    qty: int
    arrival: float  # market mid when the OMS sent the parent
    filled: int
    vwap: float | None
    cost_bps: float | None  # VWAP vs arrival, positive = cost
    completion_ms: float
    status: str
    children: int
    waves: int
    share: dict[str, int]  # filled quantity per LP
    warmup_orders: int
    warmup_scores: list[LpKpis]
    timeline: list[Wave | ChildEvent]
    violations: list[str]

    @property
    def share_pct(self) -> dict[str, float]:
        return {lp: 100.0 * q / self.filled for lp, q in self.share.items()} if self.filled else {}


@dataclass
class AcmeResult:
    seed: int
    run: BlockRun
    baselines: list[BlockRun]


def _status(o: Any) -> str:
    names = {b"2": "filled", b"4": "canceled", b"8": "rejected", b"C": "expired", b"3": "done for day"}
    return names.get(o.status, "open" if o.status is None else o.status.decode())


def _vwap(o: Any) -> tuple[int, float | None]:
    qty = sum((q for q, _ in o.fills.values()), Decimal(0))
    if not qty:
        return 0, None
    notional = sum((q * px for q, px in o.fills.values()), Decimal(0))
    return int(qty), float(notional / qty)


def _cost_bps(side: str, vwap: float | None, arrival: float) -> float | None:
    if vwap is None or not arrival:
        return None
    s = 1.0 if side == "buy" else -1.0
    return s * (vwap - arrival) / arrival * 1e4


async def run_block(
    scenario: Scenario, seed: int, *, router: Mapping[str, Any] | None = None, label: str = "scorecard"
) -> BlockRun:
    """The warm-up, then the [parent] block, on a fresh rig with ``router`` settings on top."""
    t = scenario.table("parent")
    symbol = t.text("symbol")
    side = t.text("side", "sell", ("buy", "sell"))
    qty = t.integer("qty", 200000, 1)
    offset = t.number("limit_offset_bps", 100.0, 0.0)
    tif = _TIFS[t.text("tif", "IOC", tuple(_TIFS))]
    timeout = t.number("timeout_s", 15.0, 0.1)
    t.done()
    async with Rig(scenario, seed, router) as rig:
        app = rig.app
        is_scorecard = app.router.name == "scorecard"
        n = await warm_up(rig, scenario.warmup, seed, settle=is_scorecard)
        profile = str(scenario.gateway.get("router", {}).get("SessionProfiles", {}).get(OMS, "block"))
        if profile not in app.scorecard.settings.profiles:
            profile = "block"
        await rig.sync_quotes()
        warm = rig.kpi_rows(symbol, profile, time.time())
        arrival = rig.mid(symbol)
        limit = rig.limit(symbol, side, offset)  # far through the market: never what stops a child
        t0 = time.time()
        rec = _Recorder(rig, symbol, profile, t0)
        before = app.router.on_decision  # the gateway's own (metrics) hears every decision too

        def on_decision(d: Decision) -> None:
            if before is not None:
                before(d)
            rec.on_decision(d)

        app.router.on_decision = on_decision
        app.listeners.append(rec.on_event)
        try:
            clordid = rig.oms.new(symbol, side, Decimal(qty), limit, tif)
            o = await rig.oms.done(clordid, timeout)
        finally:
            app.router.on_decision = before
            app.listeners.remove(rec.on_event)
            rec.flush()
        parent = rig.parent(clordid)
        filled, vwap = _vwap(o)
        share: dict[str, int] = {}
        for c in parent.children:
            if c.cum_qty:
                share[c.lp] = share.get(c.lp, 0) + int(parent.inst.qty_to_float(c.cum_qty))
        done_ns = o.terminal_ns if o.terminal_ns is not None else time.perf_counter_ns()
        return BlockRun(
            label=label,
            router=app.router.name,
            profile=profile if is_scorecard else "-",
            symbol=symbol,
            side=side,
            qty=qty,
            arrival=arrival,
            filled=filled,
            vwap=vwap,
            cost_bps=_cost_bps(side, vwap, arrival),
            completion_ms=(done_ns - (o.sent_ns or done_ns)) / 1e6,
            status=_status(o),
            children=len(parent.children),
            waves=sum(1 for item in rec.items if isinstance(item, Wave)) or parent.attempts,
            share=share,
            warmup_orders=n,
            warmup_scores=warm,
            timeline=rec.items,
            violations=[str(v) for v in rig.oms.checker.violations],
        )


async def run_acme(scenario: Scenario, seed: int | None = None) -> AcmeResult:
    """The ACME block with the scorecard router, then with each static baseline."""
    seed = scenario.seed if seed is None else seed
    main = await run_block(scenario, seed, label="scorecard")
    baselines = []
    t = scenario.table("baselines")
    pinned = t.raw("static", [])
    t.done()
    if not isinstance(pinned, list) or not all(isinstance(p, list) for p in pinned):
        raise ProfileError(scenario.source, "[baselines]", "static", 'expected lists of LPs: [["LP_A"]]')
    for priority in pinned:
        label = "static " + "+".join(priority) + (" only" if len(priority) == 1 else "")
        baselines.append(
            await run_block(scenario, seed, router={"Kind": "static", "Priority": priority}, label=label)
        )
    return AcmeResult(seed, main, baselines)


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class FlowOrder:
    side: str
    qty: int
    offset_bps: float


@dataclass
class CompareRow:
    """One router (and profile) over the whole flow."""

    label: str
    router: str
    profile: str
    parents: int
    filled_parents: int
    ordered: int
    filled: int
    cost_bps: float  # VWAP vs arrival, filled-quantity weighted, positive = cost
    shortfall_bps: float  # the same with the unfilled quantity charged at the mid at the end
    markout_bps: float  # market mid 5 s (market time) after each fill, positive = moved against us
    rejects: int  # children the LPs rejected
    ack_ms: float  # child sent -> first report, mean over children
    children_per_order: float
    violations: int
    share: dict[str, float]  # filled quantity per LP after the degradation, percent
    fill_rate_after: float  # fill rate and cost of the parents sent after the degradation
    cost_after_bps: float
    shortfall_after_bps: float

    @property
    def fill_rate(self) -> float:
        return self.filled / self.ordered if self.ordered else 0.0

    def beats(self, other: CompareRow) -> bool:
        """A higher fill rate and a lower implementation shortfall than ``other``.

        The shortfall, not the VWAP alone: a router that leaves more unfilled looks cheaper
        on the VWAP of what it did fill (the expensive rest is never bought), so when fill
        rates differ only the shortfall compares like with like.
        """
        return self.fill_rate > other.fill_rate and self.shortfall_bps < other.shortfall_bps


@dataclass
class CompareResult:
    seed: int
    symbol: str
    parents: int
    degrade_lp: str
    degrade_after: int
    horizon_s: float
    rows: list[CompareRow]

    def row(self, label: str) -> CompareRow:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(label)


@dataclass(frozen=True)
class FlowSpec:
    symbol: str
    parents: int
    min_qty: int
    max_qty: int
    offset_lo: float
    offset_hi: float
    tif: str
    market_steps: int
    timeout_s: float
    degrade_lp: str
    degrade_after: int
    degrade: Mapping[str, Any]
    static_priority: list[str]
    profiles: list[str]
    horizon_s: float


def _flow_spec(scenario: Scenario, parents: int | None) -> FlowSpec:
    src = scenario.source
    f = scenario.table("flow")
    symbol = f.text("symbol")
    n = f.integer("parents", 200, 1) if parents is None else parents
    lo_q = f.integer("min_qty", 2000, 1)
    hi_q = f.integer("max_qty", 40000, 1)
    offsets = f.raw("limit_offset_bps", [5.0, 25.0])
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in offsets)
        or offsets[1] < offsets[0]
    ):
        raise f.error("limit_offset_bps", "expected [low, high] in bps")
    tif = _TIFS[f.text("tif", "IOC", tuple(_TIFS))]
    steps = f.integer("market_steps", 1, 0)
    timeout = f.number("timeout_s", 10.0, 0.1)
    f.done()
    d = scenario.table("degrade")
    lp = d.text("lp")
    after = d.integer("after_parents", n // 3, 0)
    changes = profile_changes(d.raw("set", {}), src, "[degrade.set]")
    d.done()
    r = scenario.table("runs")
    priority = r.raw("static_priority")
    profiles = r.raw("profiles", ["hft", "block", "best_price"])
    horizon = r.number("markout_horizon_s", 5.0, 0.0)
    r.done()
    if not isinstance(priority, list) or not priority:
        raise ProfileError(src, "[runs]", "static_priority", "expected a list of LPs, the first degrades")
    if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
        raise ProfileError(src, "[runs]", "profiles", "expected a list of profile names")
    if lp != priority[0]:
        raise ProfileError(
            src, "[degrade]", "lp", f"{lp} is not the static router's first LP ({priority[0]})"
        )
    return FlowSpec(
        symbol,
        n,
        lo_q,
        hi_q,
        float(offsets[0]),
        float(offsets[1]),
        tif,
        steps,
        timeout,
        lp,
        min(after, n),
        changes,
        [str(x) for x in priority],
        [str(x) for x in profiles],
        horizon,
    )


def make_flow(spec: FlowSpec, seed: int, lot: Decimal) -> list[FlowOrder]:
    """The seeded list of parents: sides, sizes (log-uniform), limit offsets."""
    rng = random.Random(seed * 104729 + 3)
    out = []
    lo, hi = math.log(spec.min_qty), math.log(spec.max_qty)
    for _ in range(spec.parents):
        side = "buy" if rng.random() < 0.5 else "sell"
        qty = int(Decimal(int(math.exp(rng.uniform(lo, hi)))) // lot * lot) or int(lot)
        out.append(FlowOrder(side, qty, rng.uniform(spec.offset_lo, spec.offset_hi)))
    return out


async def run_flow(
    scenario: Scenario, seed: int, spec: FlowSpec, router: Mapping[str, Any], label: str
) -> CompareRow:
    """The warm-up, then the flow, one parent at a time; ``spec.degrade`` mid-run."""
    async with Rig(scenario, seed, router) as rig:
        app = rig.app
        is_scorecard = app.router.name == "scorecard"
        await warm_up(rig, scenario.warmup, seed, settle=is_scorecard)
        market = rig.sim.market
        inst = market.instrument(spec.symbol)
        flow = make_flow(spec, seed, inst.lot_size)
        # ClOrdID, order, market mid at arrival, market step, market mid when it ended
        sent: list[tuple[str, FlowOrder, float, int, float]] = []
        for k, order in enumerate(flow):
            if k == spec.degrade_after:
                rig.sim.lp(spec.degrade_lp).reconfigure(**spec.degrade)
            await rig.step_market(spec.market_steps)
            arrival = rig.mid(spec.symbol)
            limit = rig.limit(spec.symbol, order.side, order.offset_bps)
            clordid = rig.oms.new(spec.symbol, order.side, Decimal(order.qty), limit, spec.tif)
            await rig.oms.done(clordid, spec.timeout_s)
            sent.append((clordid, order, arrival, market.steps, rig.mid(spec.symbol)))
        horizon_steps = max(1, round(spec.horizon_s * 1000.0 / market.step_ms))
        ordered = filled = filled_parents = children = rejects = 0
        cost_w = cost_sum = mk_w = mk_sum = is_sum = is_w = 0.0
        after = [0, 0, 0.0, 0.0, 0.0, 0.0]  # the same sums for the parents after the degradation
        acks: list[float] = []
        share: dict[str, float] = {}
        for k, (clordid, order, arrival, step, end_mid) in enumerate(sent):
            p = rig.parent(clordid)
            s = 1.0 if order.side == "buy" else -1.0
            ordered += order.qty
            got = int(inst.qty_to_float(p.cum_qty))
            filled += got
            filled_parents += got >= order.qty
            late = k >= spec.degrade_after
            cost = 0.0
            if got:
                avg = p.notional / p.cum_qty / inst.price_scale
                cost = got * s * (avg - arrival) / arrival * 1e4
                cost_sum += cost
                cost_w += got
            # implementation shortfall: what was not filled is charged at the mid at the end
            shortfall = cost + (order.qty - got) * s * (end_mid - arrival) / arrival * 1e4
            is_sum += shortfall
            is_w += order.qty
            if late:
                after[0] += order.qty
                after[1] += got
                after[2] += cost
                after[3] += got
                after[4] += shortfall
                after[5] += order.qty
            for c in p.children:
                children += 1
                rejects += c.state == C_REJECTED
                if c.acked_at is not None:
                    acks.append((c.acked_at - c.sent_at) * 1000.0)
                if not c.cum_qty:
                    continue
                if late:
                    share[c.lp] = share.get(c.lp, 0.0) + inst.qty_to_float(c.cum_qty)
                sim_order = rig.sim.lp(c.lp).order(c.child_id)
                if sim_order is None:
                    continue
                mid0 = sim_order.mid_at_arrival / inst.price_scale
                mid_h = rig.sim.mid_at_step(spec.symbol, step + horizon_steps)
                q = inst.qty_to_float(c.cum_qty)
                mk_sum += q * s * (mid_h - mid0) / mid0 * 1e4
                mk_w += q
        return CompareRow(
            label=label,
            router=app.router.name,
            profile=str(router.get("DefaultProfile", "-")) if is_scorecard else "-",
            parents=len(sent),
            filled_parents=filled_parents,
            ordered=ordered,
            filled=filled,
            cost_bps=cost_sum / cost_w if cost_w else 0.0,
            shortfall_bps=is_sum / is_w if is_w else 0.0,
            markout_bps=mk_sum / mk_w if mk_w else 0.0,
            rejects=rejects,
            ack_ms=sum(acks) / len(acks) if acks else 0.0,
            children_per_order=children / len(sent) if sent else 0.0,
            violations=len(rig.oms.checker.violations),
            share={lp: 100.0 * q / after[1] for lp, q in sorted(share.items())} if after[1] else {},
            fill_rate_after=after[1] / after[0] if after[0] else 0.0,
            cost_after_bps=after[2] / after[3] if after[3] else 0.0,
            shortfall_after_bps=after[4] / after[5] if after[5] else 0.0,
        )


async def run_compare(
    scenario: Scenario,
    seed: int | None = None,
    parents: int | None = None,
    profiles: Sequence[str] | None = None,
) -> CompareResult:
    """The flow with the static router, then with the scorecard router once per profile."""
    seed = scenario.seed if seed is None else seed
    spec = _flow_spec(scenario, parents)
    rows = [
        await run_flow(scenario, seed, spec, {"Kind": "static", "Priority": spec.static_priority}, "static")
    ]
    for profile in profiles or spec.profiles:
        router = {"Kind": "scorecard", "DefaultProfile": profile, "SessionProfiles": {OMS: profile}}
        rows.append(await run_flow(scenario, seed, spec, router, f"scorecard {profile}"))
    return CompareResult(
        seed, spec.symbol, spec.parents, spec.degrade_lp, spec.degrade_after, spec.horizon_s, rows
    )


# --------------------------------------------------------------------------- printing


def _scores_text(scores: Mapping[str, float], why: Mapping[str, str] | None = None) -> str:
    """``LP score`` by rank; with a decision's reasons: * = chosen, (...) = passed over why."""
    lps = sorted(scores, key=lambda lp: (-scores[lp], lp))
    parts = []
    for lp in lps:
        text = f"{lp} {scores[lp]:5.1f}"
        reason = (why or {}).get(lp, "")
        if reason == "chosen":
            text += "*"
        elif reason.startswith("came back short"):
            text += " (came back short)"
        elif reason and reason != "lower score":
            text += f" ({reason})"
        parts.append(text)
    for lp, reason in (why or {}).items():
        if lp not in scores:
            parts.append(f"{lp} ({reason})")  # not eligible: no score
    return "  ".join(parts)


def _bps(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


def format_acme(result: AcmeResult) -> str:
    run = result.run
    lines = [
        f"ACME scenario, seed {result.seed}: {run.side} {run.qty:,} {run.symbol}, profile {run.profile!r},"
        f" scorecard router",
        "LP simulators, gateway and OMS in one process, FIX over loopback TCP",
        "",
        f"Scores after the warm-up ({run.warmup_orders} small orders, LP after LP),"
        f" for a child of one slice:",
        f"  {'rank':<5}{'LP':<6}{'score':>7}{'fill rate':>11}{'ack ms':>8}{'PI bps':>8}"
        f"{'impact bps':>12}{'rejects':>9}",
    ]
    for i, k in enumerate(run.warmup_scores, 1):
        lines.append(
            f"  {i:<5}{k.lp:<6}{k.score:>7.1f}{k.fill_rate:>10.1%} {k.ack_ms:>8.1f}{k.pi_bps:>8.2f}"
            f"{k.impact_bps:>12.2f}{k.rejection_rate:>9.1%}"
        )
    lines += [
        "",
        "Timeline (ms since the OMS sent the parent). A wave is one routing decision: the scores it",
        "saw (* = sent a child, (...) = passed over and why), then its children. When a child ends,",
        "the scores are read again from the scorecard (for a child of one slice).",
    ]
    for item in run.timeline:
        if isinstance(item, Wave):
            sends = " | ".join(f"{lp} {qty:,} @ {px}" for lp, qty, px in item.children)
            seen = _scores_text(item.scores, item.why)
            lines.append(f"  {item.t_ms:8.1f}  wave {item.number:<3} scores before: {seen}")
            lines.append(f"  {'':8}  {'':8} -> {sends}")
        elif item.kind == "fill":
            lines.append(
                f"  {item.t_ms:8.1f}    child {item.child:<3} {item.lp}  fill {item.qty:,} @ {item.price}"
            )
        else:
            what = (
                "filled"
                if item.state == "filled"
                else f"{item.state}, {item.filled:,} of {item.qty:,} filled"
            )
            lines.append(
                f"  {item.t_ms:8.1f}    child {item.child:<3} {item.lp}  {what} ({item.latency_ms:.0f} ms);"
                f" scores after: {_scores_text(item.scores_after)}"
            )
    lines += ["", "Summary:"]
    lines += _block_summary(run)
    if result.baselines:
        lines += ["", "The same warm-up and parent with the static router pinned to one LP:"]
        lines.append(
            f"  {'run':<22}{'filled':>9}{'status':>10}{'VWAP':>10}{'vs arrival bps':>16}"
            f"{'children':>10}{'ms':>8}"
        )
        for r in [run, *result.baselines]:
            lines.append(
                f"  {r.label:<22}{r.filled:>9,}{r.status:>10}{(r.vwap or 0):>10.4f}{_bps(r.cost_bps):>16}"
                f"{r.children:>10}{r.completion_ms:>8.0f}"
            )
    lines += ["", *acme_values(result)]
    return "\n".join(lines)


def _block_summary(r: BlockRun) -> list[str]:
    share = "  ".join(f"{lp} {pct:.1f}%" for lp, pct in sorted(r.share_pct.items(), key=lambda kv: -kv[1]))
    return [
        f"  completion          {r.completion_ms:.0f} ms (parent sent -> its last report)",
        f"  filled              {r.filled:,} of {r.qty:,} ({r.status})",
        f"  arrival mid         {r.arrival:.4f}",
        f"  VWAP                {r.vwap:.4f}" if r.vwap is not None else "  VWAP                n/a",
        f"  VWAP vs arrival     {_bps(r.cost_bps)} bps (positive = cost)",
        f"  children            {r.children} in {r.waves} waves",
        f"  share per LP        {share}",
        f"  report violations   {len(r.violations)}",
    ]


def acme_values(result: AcmeResult) -> list[str]:
    """The ACME run as ``name=value`` lines."""
    r = result.run
    out = [f"acme.seed={result.seed}"]
    for i, k in enumerate(r.warmup_scores, 1):
        out.append(f"acme.warmup.rank.{i}={k.lp}")
        out.append(f"acme.warmup.score.{k.lp}={k.score:.2f}")
    child_no = 0
    for item in r.timeline:
        if isinstance(item, Wave):
            for lp, qty, px in item.children:
                child_no += 1
                pre = f"acme.child.{child_no}"
                out += [
                    f"{pre}.wave={item.number}",
                    f"{pre}.t_ms={item.t_ms:.1f}",
                    f"{pre}.lp={lp}",
                    f"{pre}.qty={qty}",
                    f"{pre}.limit={px}",
                    f"{pre}.score_before={item.scores.get(lp, float('nan')):.2f}",
                ]
        elif item.kind == "end":
            pre = f"acme.child.{item.child}"
            out += [
                f"{pre}.filled={item.filled}",
                f"{pre}.state={item.state}",
                f"{pre}.end_ms={item.t_ms:.1f}",
                *(f"{pre}.score_after.{lp}={s:.2f}" for lp, s in item.scores_after.items()),
            ]
        else:
            out.append(f"acme.child.{item.child}.fill={item.qty}@{item.price}")
    for run in [r, *result.baselines]:
        pre = "acme" if run is r else "acme.baseline." + run.label.replace(" ", "_")
        out += [
            f"{pre}.completion_ms={run.completion_ms:.1f}",
            f"{pre}.filled={run.filled}",
            f"{pre}.status={run.status}",
            f"{pre}.arrival={run.arrival:.4f}",
            f"{pre}.vwap={'' if run.vwap is None else f'{run.vwap:.4f}'}",
            f"{pre}.vwap_vs_arrival_bps={'' if run.cost_bps is None else f'{run.cost_bps:.3f}'}",
            f"{pre}.children={run.children}",
            f"{pre}.waves={run.waves}",
            *(f"{pre}.share.{lp}={pct:.2f}" for lp, pct in sorted(run.share_pct.items())),
            f"{pre}.violations={len(run.violations)}",
        ]
    return out


def format_compare(result: CompareResult) -> str:
    static = result.row("static")
    h = f"{result.horizon_s:g}s"
    lines = [
        f"Router comparison, seed {result.seed}: {result.parents} parents of {result.symbol}, one at a time;"
        f" {result.degrade_lp}, the static router's first choice,",
        f"degrades silently after parent {result.degrade_after} (fill rate and markouts worse, latency not).",
        "  fill rate   filled / ordered quantity",
        "  vwap        VWAP vs the market mid at arrival, weighted by filled quantity (bps, + = cost)",
        "  shortfall   the same with the unfilled quantity charged at the market mid when the parent",
        "              ended (implementation shortfall; fair when fill rates differ)",
        f"  markout     the market mid {result.horizon_s:g} s (market time) after each fill vs the mid when",
        "              the child reached the LP, from the LP simulator's market, weighted by quantity",
        "              (+ = the price moved against us)",
        "  ack ms      child sent -> first report from the LP, mean (wall clock, varies a little)",
        "  beats       higher fill rate and lower shortfall than static",
        "",
        f"  {'router':<22}{'fill rate':>10}{'vwap':>8}{'shortfall':>11}{f'markout {h}':>12}{'rejects':>9}"
        f"{'ack ms':>8}{'children/order':>16}{'filled':>9}  beats static",
    ]
    for r in result.rows:
        verdict = "-" if r is static else ("yes" if r.beats(static) else "NO")
        lines.append(
            f"  {r.label:<22}{r.fill_rate:>10.1%}{r.cost_bps:>+8.2f}{r.shortfall_bps:>+11.2f}"
            f"{r.markout_bps:>+12.2f}{r.rejects:>9}{r.ack_ms:>8.1f}{r.children_per_order:>16.2f}{r.filled_parents:>5}/{r.parents:<3}"
            f"  {verdict}"
        )
    lines += [
        "",
        f"  After the degradation (parents {result.degrade_after + 1}-{result.parents}),"
        " and where their fills went:",
        f"  {'router':<22}{'fill rate':>10}{'vwap':>8}{'shortfall':>11}  share of filled quantity per LP",
    ]
    for r in result.rows:
        share = "  ".join(f"{lp} {pct:4.1f}%" for lp, pct in r.share.items())
        lines.append(
            f"  {r.label:<22}{r.fill_rate_after:>10.1%}{r.cost_after_bps:>+8.2f}"
            f"{r.shortfall_after_bps:>+11.2f}  {share}"
        )
    lines += ["", *compare_values(result)]
    return "\n".join(lines)


def compare_values(result: CompareResult) -> list[str]:
    """The comparison as ``name=value`` lines."""
    static = result.row("static")
    out = [
        f"compare.seed={result.seed}",
        f"compare.parents={result.parents}",
        f"compare.degrade_lp={result.degrade_lp}",
        f"compare.degrade_after={result.degrade_after}",
    ]
    for r in result.rows:
        pre = "compare." + r.label.replace(" ", ".")
        out += [
            f"{pre}.fill_rate={r.fill_rate:.4f}",
            f"{pre}.vwap_vs_arrival_bps={r.cost_bps:.3f}",
            f"{pre}.shortfall_bps={r.shortfall_bps:.3f}",
            f"{pre}.markout_{result.horizon_s:g}s_bps={r.markout_bps:.3f}",
            f"{pre}.rejects={r.rejects}",
            f"{pre}.ack_ms={r.ack_ms:.2f}",
            f"{pre}.children_per_order={r.children_per_order:.3f}",
            f"{pre}.filled_parents={r.filled_parents}",
            f"{pre}.violations={r.violations}",
            f"{pre}.after_degrade.fill_rate={r.fill_rate_after:.4f}",
            f"{pre}.after_degrade.vwap_vs_arrival_bps={r.cost_after_bps:.3f}",
            f"{pre}.after_degrade.shortfall_bps={r.shortfall_after_bps:.3f}",
            *(f"{pre}.after_degrade.share.{lp}={pct:.2f}" for lp, pct in r.share.items()),
        ]
        if r is not static:
            out.append(f"{pre}.beats_static={'yes' if r.beats(static) else 'no'}")
    return out


# --------------------------------------------------------------------------- command line


def run_cli(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """`fixgw scenario KIND [--config PATH] [--seed N] [--parents N]`: 0 clean, 1 a run that
    went wrong (report violations, an unfilled block), 2 a bad scenario file."""
    import uvloop

    path = args.config or CONFIGS[args.kind]
    try:
        scenario = load_scenario(path)
    except ProfileError as exc:
        print(f"fixgw: config error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.kind == "acme":
            acme = uvloop.run(run_acme(scenario, args.seed))
            print(format_acme(acme), file=out, flush=True)
            bad = bool(acme.run.violations) or acme.run.filled < acme.run.qty
        else:
            cmp = uvloop.run(run_compare(scenario, args.seed, args.parents))
            print(format_compare(cmp), file=out, flush=True)
            bad = any(r.violations for r in cmp.rows)
    except (ProfileError, ScenarioError, ValueError) as exc:
        print(f"fixgw: scenario {args.kind}: {exc}", file=sys.stderr)
        return 2
    return 1 if bad else 0
