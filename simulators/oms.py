"""OMS simulator / load generator: a FIX initiator that sends orders and checks the answers.

It sends NewOrderSingle at a set rate, or flat out with at most ``max_in_flight`` orders
unanswered, or a scripted list of actions (new, cancel, replace, status, wait); a seeded
fraction of orders is followed by a cancel, a cancel/replace or a status request. Every
ExecutionReport goes through ``ReportChecker`` (simulators.checker); the run ends with an
``OmsReport``: what happened to the orders, reject reasons, violations, late fills, orders
still open, round trips (sent -> first fill, sent -> done; perf_counter_ns) and throughput.

``run_oms(profile, orders=..., rate=..., port=...)`` runs it in-process (integration
tests); ``fixgw sim-oms`` runs it from config/oms.toml and exits 1 on any violation. It
talks to the gateway only over FIX and must never import the gateway's application
modules, nor log per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, TextIO

from gateway.config import SessionSettings
from gateway.fix.codec import Message
from gateway.fix.timeutil import utc_timestamp
from gateway.instruments import Instrument
from gateway.sessions.session import NotLoggedOn, Session
from gateway.sessions.transport import BaseApplication, Engine
from simulators.checker import ReportChecker, TrackedOrder, Violation
from simulators.profile import ProfileError, Table, load_toml, session_settings, to_decimal

__all__ = [
    "OmsProfile",
    "OmsReport",
    "OmsSimulator",
    "OmsSymbol",
    "ReportChecker",
    "ScriptAction",
    "Violation",
    "load_oms_profile",
    "parse_oms_profile",
    "run_oms",
]

SESSION_DEFAULTS: dict[str, Any] = {
    "ConnectionType": "initiator",
    "BeginString": "FIX.4.4",
    "SenderCompID": "OMS1",
    "TargetCompID": "FIXGW",
    "SocketConnectHost": "127.0.0.1",
    "SocketConnectPort": 9876,
    "HeartBtInt": 30,
    "UseMemoryStore": True,
    "LogMessages": False,
    "ResetOnLogon": True,
    "ReconnectInterval": 1,
}
_TIF_CODES = {"DAY": "0", "IOC": "3", "FOK": "4", "0": "0", "3": "3", "4": "4"}


# --------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class OmsSymbol:
    instrument: Instrument
    price: Decimal  # reference price for limits
    min_qty: Decimal
    max_qty: Decimal
    weight: float = 1.0

    @property
    def symbol(self) -> str:
        return self.instrument.symbol


@dataclass(frozen=True)
class ScriptAction:
    """One step of a scripted run; ``id`` names the order across steps."""

    action: str  # new | cancel | replace | status | wait
    id: str = ""
    delay_ms: float = 0.0  # wait this long before the step
    symbol: str = ""
    side: str = "buy"
    qty: Decimal | None = None
    price: Decimal | None = None  # None: market order (new) / unchanged (replace)
    tif: str = "3"


@dataclass(frozen=True)
class OmsProfile:
    session: SessionSettings
    symbols: tuple[OmsSymbol, ...]
    seed: int = 1
    orders: int = 1000
    rate: float = 100.0  # orders per second; 0 = flat out, bounded by max_in_flight
    max_in_flight: int = 100
    settle_timeout_s: float = 10.0  # after the last order, wait this long for the answers
    logon_timeout_s: float = 10.0
    require_ack: bool = True  # the first report of an order must be an ack or a reject
    buy_fraction: float = 0.5
    market_fraction: float = 0.0  # market orders; the rest are limits
    tif_weights: Mapping[str, float] = field(default_factory=lambda: {"3": 1.0})
    limit_offset_min_bps: float = -5.0  # limit = reference +/- offset; > 0 is marketable
    limit_offset_max_bps: float = 20.0
    cancel_fraction: float = 0.0
    replace_fraction: float = 0.0
    status_fraction: float = 0.0
    action_delay_ms: float = 5.0  # order -> its cancel / replace / status
    cancel_working_at_end: bool = True  # cancel Day orders still working, to end cleanly
    script: tuple[ScriptAction, ...] = ()
    source: str = "<dict>"


def load_oms_profile(path: str | Path) -> OmsProfile:
    return parse_oms_profile(load_toml(path), str(path), Path(path).resolve().parent)


def _symbols(items: object, source: str) -> tuple[OmsSymbol, ...]:
    if not isinstance(items, list) or not items:
        raise ProfileError(source, "[[symbol]]", "", "at least one [[symbol]] table is needed")
    out = []
    for i, item in enumerate(items, 1):
        t = Table(item, source, f"[[symbol]] #{i}")
        name = t.text("Symbol")
        t.section = f"[[symbol]] ({name})"
        try:
            inst = Instrument(
                name, t.decimal("TickSize", Decimal("0.01")), t.decimal("LotSize", Decimal("1"))
            )
        except ValueError as exc:
            raise t.error("TickSize", str(exc)) from None
        sym = OmsSymbol(
            inst,
            t.decimal("Price"),
            t.decimal("MinQty", inst.lot_size),
            t.decimal("MaxQty", inst.lot_size * 100),
            t.number("weight", 1.0, 0.0),
        )
        if sym.max_qty < sym.min_qty:
            raise t.error("MaxQty", "less than MinQty")
        t.done()
        out.append(sym)
    return tuple(out)


def _script(items: object, source: str, symbols: tuple[OmsSymbol, ...]) -> tuple[ScriptAction, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ProfileError(source, "script", "", "expected an array of tables [[script]]")
    names = {s.symbol for s in symbols}
    ids: set[str] = set()
    out = []
    for i, item in enumerate(items, 1):
        t = Table(item, source, f"[[script]] #{i}")
        action = t.text("action", None, ("new", "cancel", "replace", "status", "wait"))
        delay = t.number("delay_ms", 0.0, 0.0)
        if action == "wait":
            t.done()
            out.append(ScriptAction("wait", delay_ms=delay))
            continue
        order_id = t.text("id")
        qty = to_decimal(t.raw("qty")) if t.has("qty") else None
        price = to_decimal(t.raw("price")) if t.has("price") else None
        if action == "new":
            if order_id in ids:
                raise t.error("id", f"{order_id!r} is used by an earlier new order")
            ids.add(order_id)
            symbol = t.text("symbol", symbols[0].symbol)
            if symbol not in names:
                raise t.error("symbol", f"{symbol!r} is not a [[symbol]]")
            if qty is None or qty <= 0:
                raise t.error("qty", "a new order needs a positive qty")
            tif = _TIF_CODES.get(t.text("tif", "IOC").upper())
            if tif is None:
                raise t.error("tif", "expected IOC, FOK or DAY")
            side = t.text("side", "buy", ("buy", "sell"))
            out.append(ScriptAction("new", order_id, delay, symbol, side, qty, price, tif))
        else:
            if order_id not in ids:
                raise t.error("id", f"{order_id!r} is not the id of an earlier new order")
            if action == "replace" and qty is None and price is None:
                raise t.error("qty", "a replace needs a new qty or price")
            out.append(ScriptAction(action, order_id, delay, qty=qty, price=price))
        t.done()
    return tuple(out)


def parse_oms_profile(
    data: Mapping[str, Any], source: str = "<dict>", base_dir: Path | None = None
) -> OmsProfile:
    """An OmsProfile from the TOML data of config/oms.toml (or an equivalent dict)."""
    top = Table(data, source, "")
    sess = top.raw("session", {})
    if not isinstance(sess, Mapping):
        raise top.error("session", "expected a table of QuickFIX session keys")
    settings = session_settings({**SESSION_DEFAULTS, **sess}, source, "[session]")
    symbols = _symbols(top.raw("symbol"), source)
    tif_raw = top.raw("time_in_force", {"IOC": 1.0})
    if not isinstance(tif_raw, Mapping) or not tif_raw:
        raise top.error("time_in_force", "expected a table of weights, e.g. { IOC = 0.9, DAY = 0.1 }")
    tif_weights: dict[str, float] = {}
    for name, weight in tif_raw.items():
        code = _TIF_CODES.get(str(name).upper())
        if code is None or isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise top.error("time_in_force", f"{name} = {weight!r}: expected IOC/FOK/DAY = a weight")
        tif_weights[code] = float(weight)
    if sum(tif_weights.values()) <= 0:
        raise top.error("time_in_force", "the weights add up to 0")
    script_items = top.raw("script")
    script_file = top.raw("script_file")
    if script_file is not None:
        if not isinstance(script_file, str):
            raise top.error("script_file", "expected the path of a JSON or TOML file")
        path = Path(script_file)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        if path.suffix == ".json":
            try:
                script_items = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise top.error("script_file", f"cannot read {path}: {exc}") from None
        else:
            script_items = load_toml(path).get("script")
    lo = top.number("limit_offset_min_bps", -5.0)
    hi = top.number("limit_offset_max_bps", 20.0)
    if hi < lo:
        raise top.error("limit_offset_max_bps", "less than limit_offset_min_bps")
    profile = OmsProfile(
        session=settings,
        symbols=symbols,
        seed=top.integer("seed", 1),
        orders=top.integer("orders", 1000, 0),
        rate=top.number("rate", 100.0, 0.0),
        max_in_flight=top.integer("max_in_flight", 100, 1),
        settle_timeout_s=top.number("settle_timeout_s", 10.0, 0.0),
        logon_timeout_s=top.number("logon_timeout_s", 10.0, 0.0),
        require_ack=top.flag("require_ack", True),
        buy_fraction=top.prob("buy_fraction", 0.5),
        market_fraction=top.prob("market_fraction", 0.0),
        tif_weights=tif_weights,
        limit_offset_min_bps=lo,
        limit_offset_max_bps=hi,
        cancel_fraction=top.prob("cancel_fraction", 0.0),
        replace_fraction=top.prob("replace_fraction", 0.0),
        status_fraction=top.prob("status_fraction", 0.0),
        action_delay_ms=top.number("action_delay_ms", 5.0, 0.0),
        cancel_working_at_end=top.flag("cancel_working_at_end", True),
        script=_script(script_items, source, symbols),
        source=source,
    )
    top.done()
    return profile


# --------------------------------------------------------------------------- the report


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[index])


@dataclass
class OmsReport:
    logged_on: bool = False
    sent: int = 0
    cancels_sent: int = 0
    replaces_sent: int = 0
    status_sent: int = 0
    outcome: dict[str, int] = field(default_factory=dict)  # filled, partially_filled, ...
    reject_reasons: dict[str, int] = field(default_factory=dict)
    cancel_rejects: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    violation_count: int = 0
    late_fills: list[str] = field(default_factory=list)
    late_fill_count: int = 0
    open_orders: list[str] = field(default_factory=list)
    reports: int = 0
    rtt_first_fill_us: tuple[float, float] = (float("nan"), float("nan"))  # p50, p99
    rtt_terminal_us: tuple[float, float] = (float("nan"), float("nan"))
    send_seconds: float = 0.0
    elapsed_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # the run itself went wrong

    @property
    def ok(self) -> bool:
        return self.logged_on and self.violation_count == 0 and not self.errors

    @property
    def throughput(self) -> float:
        """Orders sent per second while sending."""
        return self.sent / self.send_seconds if self.send_seconds > 0 else 0.0

    def count(self, outcome: str) -> int:
        return self.outcome.get(outcome, 0)

    def summary(self) -> str:
        o = self.outcome
        lines = [
            f"orders sent {self.sent} (cancels {self.cancels_sent}, replaces {self.replaces_sent},"
            f" status {self.status_sent}); reports {self.reports}",
            f"filled {o.get('filled', 0)}, partially filled {o.get('partially_filled', 0)},"
            f" canceled {o.get('canceled', 0)}, rejected {o.get('rejected', 0)},"
            f" working {o.get('working', 0)}, no report {o.get('no_report', 0)}",
        ]
        if self.reject_reasons:
            reasons = ", ".join(
                f"{k}: {v}" for k, v in sorted(self.reject_reasons.items(), key=lambda kv: -kv[1])
            )
            lines.append(f"reject reasons: {reasons}")
        if self.cancel_rejects:
            reasons = ", ".join(
                f"{k}: {v}" for k, v in sorted(self.cancel_rejects.items(), key=lambda kv: -kv[1])
            )
            lines.append(f"cancel rejects: {reasons}")
        lines.append(f"late fills (after a cancel) {self.late_fill_count}")
        lines.append(
            "round trip first fill p50 {:.0f} us p99 {:.0f} us; done p50 {:.0f} us p99 {:.0f} us".format(
                *self.rtt_first_fill_us, *self.rtt_terminal_us
            )
        )
        lines.append(
            f"throughput {self.throughput:.0f} orders/s (sending {self.send_seconds:.2f} s,"
            f" whole run {self.elapsed_seconds:.2f} s)"
        )
        if self.open_orders:
            shown = ", ".join(self.open_orders[:10])
            more = f" and {len(self.open_orders) - 10} more" if len(self.open_orders) > 10 else ""
            lines.append(f"still open: {shown}{more}")
        lines.extend(f"error: {e}" for e in self.errors)
        lines.append(f"violations {self.violation_count}")
        lines.extend(f"  {v}" for v in self.violations[:10])
        if not self.logged_on:
            lines.append("never logged on")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the runner


class OmsSimulator(BaseApplication):
    """One OMS session; ``await run()`` returns the OmsReport."""

    def __init__(
        self,
        profile: OmsProfile | Mapping[str, Any],
        *,
        orders: int | None = None,
        rate: float | None = None,
        port: int | None = None,
        host: str | None = None,
    ) -> None:
        self.profile = profile if isinstance(profile, OmsProfile) else parse_oms_profile(profile)
        p = self.profile
        self.orders = p.orders if orders is None else orders
        self.rate = p.rate if rate is None else rate
        settings = p.session
        if port is not None or host is not None:
            settings = dataclasses.replace(
                settings,
                socket_connect_port=port if port is not None else settings.socket_connect_port,
                socket_connect_host=host if host is not None else settings.socket_connect_host,
            )
        self.settings = settings
        self.engine = Engine(self)
        self.session: Session | None = None
        self.checker = ReportChecker(require_ack=p.require_ack)
        self.rng = random.Random(p.seed)
        self.report = OmsReport()
        self._run = b"%X" % (time.time_ns() // 1000 & 0xFFFFFFFFF)
        self._prefix = settings.sender_comp_id.encode() + b"-" + self._run + b"-"
        self._seq = 0
        self._in_flight = 0
        self._unsettled: set[str] = set()
        self._progress = asyncio.Event()
        self._answers = 0  # reports and cancel rejects received
        self._weights = [s.weight for s in p.symbols]
        self._tifs = list(p.tif_weights)
        self._tif_weights = [p.tif_weights[t] for t in self._tifs]
        self.interrupted = False  # Ctrl-C: stop sending, settle, cancel what works, report
        # awaited once everything sent is answered, before the orders still working are
        # cancelled: a test quiets its LPs there (a bust may still come after a fill)
        self.before_final_cancel: Callable[[], Awaitable[None]] | None = None

    # --- engine callbacks ---------------------------------------------------------------------
    def on_logon(self, session: Session, now: float) -> None:
        self.report.logged_on = True
        self._progress.set()

    def on_logout(self, session: Session, now: float) -> None:
        self._progress.set()

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        self._answers += 1
        o = self.checker.on_message(msg, time.perf_counter_ns())
        if o is not None and o.clordid in self._unsettled and self._is_settled(o):
            self._unsettled.discard(o.clordid)
            self._in_flight -= 1
            self._progress.set()
        elif msg.msg_type in (b"8", b"9"):
            self._progress.set()

    @staticmethod
    def _is_settled(o: TrackedOrder) -> bool:
        return o.terminal or (o.tif == "0" and o.reports > 0)

    # --- sending --------------------------------------------------------------------------------
    def _next_clordid(self) -> str:
        self._seq += 1
        return (self._prefix + b"%d" % self._seq).decode()

    def _send(self, msg_type: bytes, body: bytes) -> bool:
        session = self.session
        if session is None or not session.logged_on:
            return False
        try:
            session.send(msg_type, body, time.time())
        except NotLoggedOn:
            return False
        return True

    def send_new(
        self,
        symbol: OmsSymbol,
        side: str,
        qty: Decimal,
        price: Decimal | None,
        tif: str,
    ) -> str | None:
        """Send a NewOrderSingle; returns its ClOrdID (None when not logged on)."""
        inst = symbol.instrument
        clordid = self._next_clordid()
        qty_b = inst.fmt_qty(int(qty * inst.qty_scale))
        now = time.time()
        body = b"11=%s\x0121=1\x0155=%s\x0154=%s\x0138=%s\x01" % (
            clordid.encode(),
            inst.symbol.encode(),
            b"1" if side == "buy" else b"2",
            qty_b,
        )
        if price is None:
            body += b"40=1\x01"
        else:
            body += b"40=2\x0144=%s\x01" % inst.fmt_price(int(price * inst.price_scale))
        body += b"59=%s\x0160=%s\x01" % (tif.encode(), utc_timestamp(now))
        sent_ns = time.perf_counter_ns()
        if not self._send(b"D", body):
            return None
        self.checker.new_order(clordid, inst.symbol, side, qty, price, tif, sent_ns)
        self.report.sent += 1
        self._in_flight += 1
        self._unsettled.add(clordid)
        return clordid

    def _order_fields(self, o: TrackedOrder) -> bytes:
        sym = self._symbol(o.symbol)
        inst = sym.instrument
        return b"55=%s\x0154=%s\x0138=%s\x01" % (
            o.symbol.encode(),
            b"1" if o.side == "buy" else b"2",
            inst.fmt_qty(int(o.qty * inst.qty_scale)),
        )

    def _symbol(self, name: str) -> OmsSymbol:
        for s in self.profile.symbols:
            if s.symbol == name:
                return s
        raise KeyError(name)

    def send_cancel(self, o: TrackedOrder) -> str | None:
        clordid = self._next_clordid()
        body = b"41=%s\x0111=%s\x01%s60=%s\x01" % (
            o.current.encode(),
            clordid.encode(),
            self._order_fields(o),
            utc_timestamp(time.time()),
        )
        orig = o.current
        if not self._send(b"F", body):
            return None
        self.checker.cancel_request(clordid, orig)
        self.report.cancels_sent += 1
        return clordid

    def send_replace(self, o: TrackedOrder, qty: Decimal | None, price: Decimal | None) -> str | None:
        sym = self._symbol(o.symbol)
        inst = sym.instrument
        new_qty = qty if qty is not None else o.qty
        new_price = price if price is not None else o.price
        clordid = self._next_clordid()
        body = b"41=%s\x0111=%s\x0121=1\x0155=%s\x0154=%s\x0138=%s\x01" % (
            o.current.encode(),
            clordid.encode(),
            o.symbol.encode(),
            b"1" if o.side == "buy" else b"2",
            inst.fmt_qty(int(new_qty * inst.qty_scale)),
        )
        if new_price is None:
            body += b"40=1\x01"
        else:
            body += b"40=2\x0144=%s\x01" % inst.fmt_price(int(new_price * inst.price_scale))
        body += b"59=%s\x0160=%s\x01" % (o.tif.encode(), utc_timestamp(time.time()))
        orig = o.current
        if not self._send(b"G", body):
            return None
        self.checker.replace_request(clordid, orig, new_qty, new_price)
        self.report.replaces_sent += 1
        return clordid

    def send_status(self, o: TrackedOrder) -> bool:
        body = b"11=%s\x01%s790=%s\x01" % (o.current.encode(), self._order_fields(o), b"S%d" % self._seq)
        if not self._send(b"H", body):
            return False
        self.checker.status_request(o.current)
        self.report.status_sent += 1
        return True

    # --- random orders --------------------------------------------------------------------------
    def _random_order(self) -> tuple[OmsSymbol, str, Decimal, Decimal | None, str]:
        p = self.profile
        rng = self.rng
        sym = rng.choices(p.symbols, self._weights)[0] if len(p.symbols) > 1 else p.symbols[0]
        inst = sym.instrument
        side = "buy" if rng.random() < p.buy_fraction else "sell"
        lots_lo = int(sym.min_qty / inst.lot_size)
        lots_hi = int(sym.max_qty / inst.lot_size)
        qty = inst.lot_size * rng.randint(max(1, lots_lo), max(1, lots_hi))
        tif = rng.choices(self._tifs, self._tif_weights)[0] if len(self._tifs) > 1 else self._tifs[0]
        price: Decimal | None = None
        if not (p.market_fraction and rng.random() < p.market_fraction):
            offset = rng.uniform(p.limit_offset_min_bps, p.limit_offset_max_bps) / 1e4
            raw = sym.price * Decimal(repr(1 + offset if side == "buy" else 1 - offset))
            price = (raw / inst.tick_size).to_integral_value(ROUND_DOWN) * inst.tick_size
            if price <= 0:
                price = inst.tick_size
        return sym, side, qty, price, tif

    def _follow_up(self, clordid: str) -> None:
        """Maybe schedule a cancel, a replace or a status request for a new order."""
        p = self.profile
        rng = self.rng
        draw = rng.random()
        loop = asyncio.get_running_loop()
        delay = p.action_delay_ms / 1000.0
        if draw < p.cancel_fraction:
            loop.call_later(delay, self._delayed, "cancel", clordid)
        elif draw < p.cancel_fraction + p.replace_fraction:
            loop.call_later(delay, self._delayed, "replace", clordid)
        elif draw < p.cancel_fraction + p.replace_fraction + p.status_fraction:
            loop.call_later(delay, self._delayed, "status", clordid)

    def _delayed(self, action: str, clordid: str) -> None:
        o = self.checker.order(clordid)
        if o is None:
            return
        if action == "cancel":
            self.send_cancel(o)
        elif action == "replace":
            sym = self._symbol(o.symbol)
            price = o.price
            if price is not None:
                step = sym.instrument.tick_size
                price = price + step if o.side == "buy" else max(step, price - step)
            self.send_replace(o, None, price)
        else:
            self.send_status(o)
        self.engine.flush()

    async def _wait_progress(self, timeout: float) -> None:
        self._progress.clear()
        try:
            await asyncio.wait_for(self._progress.wait(), timeout)
        except TimeoutError:
            pass

    async def _send_random(self) -> None:
        p = self.profile
        n = self.orders
        rate = self.rate
        start = time.perf_counter()
        sent = 0
        answers = self._answers
        while sent < n and not self.interrupted:
            session = self.session
            if session is None or not session.logged_on:
                self.report.errors.append(f"session lost after {sent} orders")
                return
            due = n if rate <= 0 else min(n, int((time.perf_counter() - start) * rate) + 1)
            batch = 0
            while sent < due and self._in_flight < p.max_in_flight and batch < 512:
                sym, side, qty, price, tif = self._random_order()
                clordid = self.send_new(sym, side, qty, price, tif)
                if clordid is None:
                    break
                sent += 1
                batch += 1
                if p.cancel_fraction or p.replace_fraction or p.status_fraction:
                    self._follow_up(clordid)
            if batch:
                self.engine.flush()
            if sent >= n:
                break
            if self._in_flight >= p.max_in_flight:
                # blocked on answers: give up when none has come for settle_timeout_s
                waited = time.perf_counter()
                while self._in_flight >= p.max_in_flight:
                    await self._wait_progress(0.1)
                    if self._answers != answers:
                        answers = self._answers
                        waited = time.perf_counter()
                    elif time.perf_counter() - waited > max(p.settle_timeout_s, 0.1):
                        self.report.errors.append(
                            f"stalled after {sent} orders: {self._in_flight} in flight and no answer"
                            f" for {p.settle_timeout_s:g} s"
                        )
                        return
            elif rate > 0 and sent >= due:
                await asyncio.sleep(max(0.0, sent / rate - (time.perf_counter() - start)))
            else:
                await asyncio.sleep(0)

    async def _send_script(self) -> None:
        ids: dict[str, str] = {}
        for step in self.profile.script:
            if step.delay_ms:
                await asyncio.sleep(step.delay_ms / 1000.0)
            if step.action == "wait":
                continue
            if step.action == "new":
                sym = self._symbol(step.symbol)
                assert step.qty is not None
                clordid = self.send_new(sym, step.side, step.qty, step.price, step.tif)
                if clordid is None:
                    self.report.errors.append(f"script step new {step.id}: not logged on")
                    return
                ids[step.id] = clordid
            else:
                o = self.checker.order(ids[step.id])
                assert o is not None
                if step.action == "cancel":
                    self.send_cancel(o)
                elif step.action == "replace":
                    self.send_replace(o, step.qty, step.price)
                else:
                    self.send_status(o)
            self.engine.flush()

    async def _settle(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while (self._unsettled or self.checker.has_pending()) and time.perf_counter() < deadline:
            await self._wait_progress(min(0.05, max(0.0, deadline - time.perf_counter())))

    async def run(self) -> OmsReport:
        """Log on, send, wait for the answers, log out; never raises for a bad counterparty."""
        p = self.profile
        report = self.report
        t0 = time.perf_counter()
        self.session = self.engine.add_session(self.settings)
        await self.engine.start()
        try:
            deadline = time.perf_counter() + p.logon_timeout_s
            while not self.session.logged_on and time.perf_counter() < deadline:
                await self._wait_progress(0.05)
            if not self.session.logged_on:
                report.errors.append(
                    f"no logon to {self.settings.socket_connect_host}:{self.settings.socket_connect_port}"
                    f" within {p.logon_timeout_s:g} s"
                )
                return report
            t_send = time.perf_counter()
            if p.script:
                await self._send_script()
            else:
                await self._send_random()
            report.send_seconds = time.perf_counter() - t_send
            await self._settle(p.settle_timeout_s)
            if self.before_final_cancel is not None:
                await self.before_final_cancel()
                await self._settle(p.settle_timeout_s)
            if p.cancel_working_at_end and self.session.logged_on:
                working = [o for o in self.checker.open_orders() if o.reports and o.working]
                for o in working:
                    self.send_cancel(o)
                if working:
                    self.engine.flush()
                    await self._settle(p.settle_timeout_s)
        finally:
            await self.engine.stop()
            report.elapsed_seconds = time.perf_counter() - t0
            self._fill_report()
        return report

    def _fill_report(self) -> None:
        checker = self.checker
        checker.finish()
        r = self.report
        r.outcome = dict(checker.outcome())
        r.reject_reasons = dict(checker.reject_reasons)
        r.cancel_rejects = dict(checker.cancel_rejects)
        r.violations = list(checker.violations)
        r.violation_count = checker.violation_count
        r.late_fills = list(checker.late_fills)
        r.late_fill_count = checker.late_fill_count
        r.reports = checker.reports
        r.open_orders = [
            f"{o.current} ({'no report' if o.status is None else '39=' + o.status.decode()})"
            for o in checker.open_orders()
        ]
        first = sorted(
            (o.first_fill_ns - o.sent_ns) // 1000
            for o in checker.orders.values()
            if o.first_fill_ns is not None and o.sent_ns is not None
        )
        done = sorted(
            (o.terminal_ns - o.sent_ns) // 1000
            for o in checker.orders.values()
            if o.terminal_ns is not None and o.sent_ns is not None
        )
        r.rtt_first_fill_us = (_percentile(first, 0.5), _percentile(first, 0.99))
        r.rtt_terminal_us = (_percentile(done, 0.5), _percentile(done, 0.99))


async def run_oms(
    profile: OmsProfile | Mapping[str, Any],
    *,
    orders: int | None = None,
    rate: float | None = None,
    port: int | None = None,
    host: str | None = None,
    before_final_cancel: Callable[[], Awaitable[None]] | None = None,
) -> OmsReport:
    """Run the OMS simulator in the current event loop and return its report."""
    sim = OmsSimulator(profile, orders=orders, rate=rate, port=port, host=host)
    sim.before_final_cancel = before_final_cancel
    return await sim.run()


def run(
    profile: OmsProfile,
    *,
    orders: int | None = None,
    rate: float | None = None,
    port: int | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """`fixgw sim-oms`: run under uvloop, print the summary; 0 if clean, 1 otherwise."""
    import uvloop

    async def main() -> OmsReport:
        sim = OmsSimulator(profile, orders=orders, rate=rate, port=port)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGINT, lambda: setattr(sim, "interrupted", True))
        return await sim.run()

    report = uvloop.run(main())
    print(report.summary(), file=out, flush=True)
    return 0 if report.ok else 1
