"""Simulator pieces of the routing scenarios (`fixgw scenario`): LPs, a market clock, an OMS.

- ``ScenarioLpSimulator``: the LP simulator with what a scenario needs. Block liquidity
  that runs out (``Liquidity``): an LP fills its first large orders of a symbol as usual,
  then shows and fills less, answers later, moves the market more, the way a venue's depth
  is used up by a block. A market clock stepped by the scenario, never by a timer, with the
  mid recorded at every step: so that the same seed gives the same prices whatever the
  machine's speed, and markouts can be read off the market at a horizon in market time.
  And quotes published as full refreshes (35=W) on every change instead of incremental
  refreshes: the simulator's incremental refresh moves its top of book with a Change
  (279=1) at the new price, which a price-level book (the gateway's) takes as one more
  level, so the old prices would stay in the book.
- ``ScriptedOms``: the OMS simulator (same session, same ReportChecker) driven one order at
  a time: send, then await the order's end.

Like the other simulators it must never import the gateway's application modules (only
gateway.fix, gateway.sessions, gateway.config and gateway.instruments, through them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.fix.codec import Message
from gateway.sessions.session import Session
from simulators.checker import TrackedOrder
from simulators.lp import LpSimulator, SimLp
from simulators.lp_profile import Lognormal, LpProfile, Misbehaviour, SimProfile
from simulators.oms import OmsProfile, OmsSimulator
from simulators.profile import ProfileError, Table, to_decimal

__all__ = [
    "Liquidity",
    "ScenarioLpSimulator",
    "ScriptedOms",
    "parse_liquidity",
    "profile_changes",
]

_LATENCIES = frozenset({"ack_latency", "fill_latency", "last_look_hold"})
_FIXED = frozenset({"name", "port", "symbols", "quote_size", "max_order_size", "session"})
_CHANGEABLE = frozenset(f.name for f in dataclasses.fields(LpProfile)) - _FIXED


def profile_changes(raw: Mapping[str, Any], source: str, section: str) -> dict[str, Any]:
    """LpProfile changes for ``SimLp.reconfigure`` from TOML values (latencies as in lps.toml)."""
    if not isinstance(raw, Mapping):
        raise ProfileError(source, section, "", "expected a table of LP keys")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _CHANGEABLE:
            raise ProfileError(
                source,
                section,
                key,
                f"not an LP key that can change; allowed: {', '.join(sorted(_CHANGEABLE))}",
            )
        if key in _LATENCIES:
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[key] = Lognormal(float(value), 0.0)
            elif isinstance(value, Mapping):
                t = Table(value, source, f"{section}.{key}")
                out[key] = Lognormal(t.number("median_ms", 0.0, 0.0), t.number("sigma", 0.0, 0.0, 5.0))
                t.done()
            else:
                raise ProfileError(source, section, key, "expected milliseconds or {median_ms, sigma}")
        elif key == "misbehaviour":
            if not isinstance(value, Mapping):
                raise ProfileError(source, section, key, "expected a table")
            try:
                out[key] = Misbehaviour(**value)
            except TypeError as exc:
                raise ProfileError(source, section, key, str(exc)) from None
        elif key in ("send_ack", "rest_day_orders"):
            if not isinstance(value, bool):
                raise ProfileError(source, section, key, f"expected true or false, got {value!r}")
            out[key] = value
        elif key == "through_limit":
            if value not in ("cancel", "reject"):
                raise ProfileError(source, section, key, 'expected "cancel" or "reject"')
            out[key] = value
        elif key == "price_improvement_ticks":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ProfileError(source, section, key, f"expected a whole number, got {value!r}")
            out[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
        else:
            raise ProfileError(source, section, key, f"expected a number, got {value!r}")
    return out


@dataclass(frozen=True)
class Liquidity:
    """An LP's block liquidity in one symbol, used up by large orders.

    Orders of at least ``min_qty`` draw on it. The first ``fresh_orders`` of them find it
    whole and are filled as the LP's profile says. When the next one arrives it has run
    out: from then on the LP shows (and fills at most) ``depleted_size`` per order in the
    symbol, and behaves as ``then`` says (LpProfile changes: e.g. answers later, moves the
    market more). Both hold for every order the LP decides afterwards, including one that
    arrived just before.
    """

    lp: str
    symbol: str
    min_qty: Decimal
    fresh_orders: int
    depleted_size: Decimal
    then: Mapping[str, Any] = field(default_factory=dict)


def parse_liquidity(raw: object, source: str) -> tuple[Liquidity, ...]:
    """``[liquidity.LP_NAME]``: symbol, min_qty, fresh_orders, depleted_size, then = {LP keys}."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ProfileError(source, "[liquidity]", "", "expected one table per LP: [liquidity.LP_A]")
    out = []
    for lp, item in raw.items():
        t = Table(item, source, f"[liquidity.{lp}]")
        liq = Liquidity(
            lp=str(lp),
            symbol=t.text("symbol"),
            min_qty=t.decimal("min_qty"),
            fresh_orders=t.integer("fresh_orders", 1, 0),
            depleted_size=t.decimal("depleted_size"),
            then=profile_changes(t.raw("then", {}), source, f"[liquidity.{lp}.then]"),
        )
        t.done()
        out.append(liq)
    return tuple(out)


class _LiquidityState:
    __slots__ = ("depleted", "orders", "spec")

    def __init__(self, spec: Liquidity) -> None:
        self.spec = spec
        self.orders = 0
        self.depleted = False


class ScenarioLpSimulator(LpSimulator):
    """The LP simulator with block liquidity that runs out and a market stepped by hand.

    ``step_market()`` is the market clock (``auto_step`` is off): every step's mid is kept,
    so ``mid_at_step(symbol, k)`` is the market mid right after step k (step 0: the start).
    """

    def __init__(
        self,
        profile: SimProfile,
        *,
        liquidity: Iterable[Liquidity] = (),
        ports: int | Mapping[str, int] | None = 0,
    ) -> None:
        super().__init__(profile, ports=ports, auto_step=False)
        self._liquidity: dict[tuple[str, str], _LiquidityState] = {}
        names = {p.name for p in profile.lps}
        for spec in liquidity:
            if spec.lp not in names:
                raise ProfileError(profile.source, f"[liquidity.{spec.lp}]", "", "no such [[lp]]")
            self._liquidity[(spec.lp, spec.symbol)] = _LiquidityState(spec)
        self.mids: dict[str, list[float]] = {s: [self.market.mid_price(s)] for s in self.market.symbols}
        self._subs: dict[str, dict[bytes, bytes]] = {}  # LP -> symbol -> MDReqID

    # --- the market clock ---------------------------------------------------------------
    def step_market(self, n: int = 1) -> None:
        """Advance the market ``n`` steps, recording each mid; the LPs requote at every step
        and publish their quotes once, after the last."""
        market = self.market
        if n <= 0:
            return
        market.remove_listener(self._publish)
        try:
            for _ in range(n):
                market.step()
                for symbol, path in self.mids.items():
                    path.append(market.mid_price(symbol))
        finally:
            if self.started:
                market.add_listener(self._publish)
        if self.started:
            for symbol in market.symbols:
                self._publish(symbol)
            self.engine.flush()

    def mid_at_step(self, symbol: str, step: int) -> float:
        path = self.mids[symbol]
        while step >= len(path):
            self.step_market()
        return path[step]

    # --- block liquidity ---------------------------------------------------------------------
    def _lp_for(self, session: Session) -> SimLp | None:
        for lp in self.lps.values():
            if lp.session is session:
                return lp
        return None

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        t = msg.msg_type
        if t == b"D" and self._liquidity:
            lp = self._lp_for(session)
            if lp is not None:
                self._draw_on_liquidity(lp, msg)
        elif t == b"V" and msg.get(263, b"1") == b"1":
            lp = self._lp_for(session)
            req_id = msg.get(262)
            if lp is not None and req_id is not None:
                # a subscription: answered with a snapshot now and a snapshot on every change
                for symbol in msg.get_all(55):
                    self._subs.setdefault(lp.name, {})[symbol] = req_id
                msg = Message([(tag, b"0" if tag == 263 else v) for tag, v in msg.fields])
        super().on_message(session, msg, now)

    async def start(self) -> None:
        await super().start()
        self.market.add_listener(self._publish)  # after the LPs' own listener: they requote first

    async def stop(self) -> None:
        self.market.remove_listener(self._publish)
        await super().stop()

    def _publish(self, symbol: str) -> None:
        """Every subscribed LP sends its new top of book as a full refresh (35=W)."""
        sym = symbol.encode()
        now = time.time()
        for name, subs in self._subs.items():
            req_id = subs.get(sym)
            lp = self.lps[name]
            if req_id is None or lp.stopped or lp.session is None or not lp.session.logged_on:
                continue
            lp.on_market_data_request(
                Message([(35, b"V"), (262, req_id), (263, b"0"), (146, b"1"), (55, sym)]), now
            )

    def _draw_on_liquidity(self, lp: SimLp, msg: Message) -> None:
        symbol = (msg.get(55) or b"").decode("latin-1")
        state = self._liquidity.get((lp.name, symbol))
        qty = to_decimal((msg.get(38) or b"0").decode("latin-1"))
        if state is None or state.depleted or qty is None or qty < state.spec.min_qty:
            return
        state.orders += 1
        if state.orders > state.spec.fresh_orders:
            state.depleted = True
            spec = state.spec
            if spec.then:
                lp.reconfigure(**spec.then)
            self._set_displayed_size(lp, symbol, spec.depleted_size)

    def _set_displayed_size(self, lp: SimLp, symbol: str, size: Decimal) -> None:
        """The LP's quote size in ``symbol``, which is also the most one order fills.

        ``SimLp.reconfigure`` keeps sizes fixed for a running LP, so this one scenario knob
        sets the size the LP derived from its profile at start (its ``_quote_sizes``),
        then requotes and publishes.
        """
        lp._quote_sizes[symbol] = int(size * self.market.instrument(symbol).qty_scale)
        lp.on_market(symbol)
        self._publish(symbol)


class ScriptedOms(OmsSimulator):
    """The OMS simulator one order at a time: ``await open()``, ``new()``, ``await done()``."""

    def __init__(self, profile: OmsProfile, *, port: int) -> None:
        super().__init__(profile, orders=0, port=port)
        self._changed = asyncio.Event()

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        super().on_message(session, msg, now)
        self._changed.set()

    def on_logon(self, session: Session, now: float) -> None:
        super().on_logon(session, now)
        self._changed.set()

    async def _until(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"OMS: timed out after {timeout:g} s waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.25))
            except TimeoutError:
                pass

    async def open(self, timeout: float = 10.0) -> None:
        self.session = self.engine.add_session(self.settings)
        await self.engine.start()
        session = self.session
        await self._until(lambda: session.logged_on, timeout, "the logon")

    def new(self, symbol: str, side: str, qty: Decimal, price: Decimal | None, tif: str = "3") -> str:
        """Send a NewOrderSingle now; returns its ClOrdID."""
        clordid = self.send_new(self._symbol(symbol), side, qty, price, tif)
        if clordid is None:
            raise RuntimeError("OMS: not logged on")
        self.engine.flush()
        return clordid

    async def done(self, clordid: str, timeout: float = 30.0) -> TrackedOrder:
        """Wait until the order has ended (filled, canceled, rejected, ...)."""

        def ended() -> bool:
            o = self.checker.order(clordid)
            return o is not None and o.terminal

        await self._until(ended, timeout, f"the end of order {clordid}")
        o = self.checker.order(clordid)
        assert o is not None
        return o

    async def close(self) -> None:
        await self.engine.stop()
        self.checker.finish()
