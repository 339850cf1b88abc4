"""The LP simulator profile (config/lps.toml): instruments, the market clock, and each LP.

Top level: ``seed``, ``step_ms``, ``status_interval_s``, ``retain_orders``, a ``[session]``
table of QuickFIX keys shared by every LP's acceptor session, a ``[defaults]`` table of LP
keys shared by every ``[[lp]]``, the ``[[instrument]]`` tables and the ``[[lp]]`` tables
(each may carry its own ``[lp.session]`` and ``[lp.misbehaviour]``). Every key, its meaning
and its default is in ``LpProfile`` and ``Misbehaviour`` below, and config/lps.toml shows
them all. This module only reads values; it must never open sockets or draw random numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.config import SessionSettings
from simulators.market import InstrumentSpec
from simulators.profile import (
    ProfileError,
    Table,
    load_toml,
    parse_instruments,
    session_settings,
    to_decimal,
)

__all__ = [
    "Lognormal",
    "LpProfile",
    "Misbehaviour",
    "SimProfile",
    "load_profile",
    "parse_profile",
]

# what an LP's acceptor session is unless the profile says otherwise
SESSION_DEFAULTS: dict[str, Any] = {
    "ConnectionType": "acceptor",
    "BeginString": "FIX.4.4",
    "TargetCompID": "FIXGW",
    "HeartBtInt": 30,
    "SocketAcceptHost": "127.0.0.1",
    "UseMemoryStore": True,
    "LogMessages": False,
}


@dataclass(frozen=True, slots=True)
class Lognormal:
    """A latency: lognormal with the given median (ms) and sigma (of the log); 0 = none."""

    median_ms: float = 0.0
    sigma: float = 0.0

    def draw(self, rng: random.Random) -> float:
        """A latency in seconds."""
        if self.median_ms <= 0.0:
            return 0.0
        if self.sigma <= 0.0:
            return self.median_ms / 1000.0
        return self.median_ms * math.exp(self.sigma * rng.gauss(0.0, 1.0)) / 1000.0

    @property
    def enabled(self) -> bool:
        return self.median_ms > 0.0


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """Switches for the ways real LPs hurt a gateway; each is a probability per occasion."""

    # drop the TCP connection after an order arrives, before answering it
    disconnect_mid_order: float = 0.0
    disconnect_fill_probability: float = 0.5  # whether such an order was filled meanwhile
    # on a cancel request for a live order: fill it anyway
    late_fill_after_cancel: float = 0.0
    # "fill_then_reject": fill, then OrderCancelReject "too late";
    # "cancel_then_fill": confirm the cancel, then a fill late_fill_delay_ms later;
    # "either": pick one at random each time
    late_fill_variant: str = "either"
    late_fill_delay_ms: float = 20.0
    bust: float = 0.0  # per fill: a Trade Cancel (150=H) of it bust_delay_ms later
    bust_delay_ms: float = 200.0
    correction: float = 0.0  # per fill: a Trade Correct (150=G) of its price
    correction_delay_ms: float = 200.0
    unsolicited_cancel: float = 0.0  # per resting Day order: cancelled without a request
    unsolicited_cancel_delay_ms: float = 200.0
    restatement: float = 0.0  # per resting Day order: 150=D halving its leaves
    restatement_delay_ms: float = 100.0
    garbage_bytes: float = 0.0  # per outbound message: random non-FIX bytes before it


@dataclass(frozen=True)
class LpProfile:
    """One simulated LP. Quantities are in the instrument's units (e.g. shares)."""

    name: str  # SenderCompID of its session
    port: int  # acceptor port; LPs with the same port share it; 0 = any free port
    symbols: tuple[str, ...]  # what it quotes and trades; default all instruments
    spread_bps: float = 2.0  # full width of its quote around its mid
    skew_bps: float = 0.0  # its mid = market mid x (1 + skew)
    quote_size: Mapping[str, Decimal] = field(default_factory=dict)  # per symbol
    max_order_size: Mapping[str, Decimal] = field(default_factory=dict)  # above: reject
    quote_throttle_ms: float = 50.0  # at most one incremental refresh per symbol per ...
    send_ack: bool = True  # 150=0 before fills (an LP with last look acks at its decision)
    fill_probability: float = 1.0  # a marketable order fills at all
    partial_fill_probability: float = 0.0
    partial_fill_min_fraction: float = 0.2
    partial_fill_max_fraction: float = 0.8
    reject_rate: float = 0.0  # "Last look reject" regardless of the market
    ack_latency: Lognormal = Lognormal(1.0, 0.3)
    fill_latency: Lognormal = Lognormal(2.0, 0.5)
    last_look_hold: Lognormal = Lognormal()  # median 0 = no last look
    last_look_tolerance_bps: float = 0.5  # mid move against the LP that makes it reject
    price_improvement_probability: float = 0.0
    price_improvement_ticks: int = 1
    adverse_selection_probability: float = 0.0  # per fill: the mid then moves against
    adverse_selection_bps: float = 0.0  # the taker by this much (up after a buy)
    through_limit: str = "cancel"  # quote through the limit: "cancel" (IOC 0) or "reject"
    rest_day_orders: bool = True  # TimeInForce 0 rests; false: treated as IOC
    misbehaviour: Misbehaviour = Misbehaviour()
    session: SessionSettings | None = None

    def size_of(self, table: Mapping[str, Decimal], symbol: str) -> Decimal | None:
        return table.get(symbol, table.get("*"))


@dataclass(frozen=True)
class SimProfile:
    seed: int
    step_ms: float
    status_interval_s: float
    retain_orders: int  # finished orders kept for OrderStatusRequest, oldest dropped first
    instruments: tuple[InstrumentSpec, ...]
    lps: tuple[LpProfile, ...]
    source: str = "<dict>"

    def lp(self, name: str) -> LpProfile:
        for p in self.lps:
            if p.name == name:
                return p
        raise KeyError(name)


def load_profile(path: str | Path) -> SimProfile:
    return parse_profile(load_toml(path), str(path))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``, one level deep for sub-tables."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _lognormal(t: Table, key: str, default: Lognormal) -> Lognormal:
    if not t.has(key):
        t.raw(key)
        return default
    value = t.raw(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Lognormal(float(value), 0.0)
    sub = t.table(key)
    result = Lognormal(sub.number("median_ms", 0.0, 0.0), sub.number("sigma", 0.0, 0.0, 5.0))
    sub.done()
    return result


def _sizes(t: Table, key: str, default: Decimal | None) -> dict[str, Decimal]:
    value = t.raw(key)
    if value is None:
        return {} if default is None else {"*": default}
    if isinstance(value, Mapping):
        out: dict[str, Decimal] = {}
        for sym, v in value.items():
            dec = to_decimal(v)
            if dec is None or dec <= 0:
                raise t.error(key, f"{sym} = {v!r} is not a positive number")
            out[str(sym)] = dec
        if default is not None:
            out.setdefault("*", default)
        return out
    dec = to_decimal(value)
    if dec is None or dec <= 0:
        raise t.error(key, f"expected a positive number or a table per symbol, got {value!r}")
    return {"*": dec}


def _misbehaviour(t: Table) -> Misbehaviour:
    m = Misbehaviour(
        disconnect_mid_order=t.prob("disconnect_mid_order", 0.0),
        disconnect_fill_probability=t.prob("disconnect_fill_probability", 0.5),
        late_fill_after_cancel=t.prob("late_fill_after_cancel", 0.0),
        late_fill_variant=t.text(
            "late_fill_variant", "either", ("fill_then_reject", "cancel_then_fill", "either")
        ),
        late_fill_delay_ms=t.number("late_fill_delay_ms", 20.0, 0.0),
        bust=t.prob("bust", 0.0),
        bust_delay_ms=t.number("bust_delay_ms", 200.0, 0.0),
        correction=t.prob("correction", 0.0),
        correction_delay_ms=t.number("correction_delay_ms", 200.0, 0.0),
        unsolicited_cancel=t.prob("unsolicited_cancel", 0.0),
        unsolicited_cancel_delay_ms=t.number("unsolicited_cancel_delay_ms", 200.0, 0.0),
        restatement=t.prob("restatement", 0.0),
        restatement_delay_ms=t.number("restatement_delay_ms", 100.0, 0.0),
        garbage_bytes=t.prob("garbage_bytes", 0.0),
    )
    t.done()
    return m


def _lp(
    raw: Mapping[str, Any],
    index: int,
    source: str,
    session_defaults: Mapping[str, Any],
    symbols: tuple[str, ...],
) -> LpProfile:
    t = Table(raw, source, f"[[lp]] #{index}")
    name = t.text("name")
    t.section = f"[[lp]] ({name})"
    port = t.integer("port", 0, 0, 65535)
    lp_symbols_raw = t.raw("symbols", list(symbols))
    if not isinstance(lp_symbols_raw, list) or not all(isinstance(s, str) for s in lp_symbols_raw):
        raise t.error("symbols", "expected an array of symbols")
    for s in lp_symbols_raw:
        if s not in symbols:
            raise t.error("symbols", f"{s!r} is not an [[instrument]]")
    lo = t.prob("partial_fill_min_fraction", 0.2)
    hi = t.prob("partial_fill_max_fraction", 0.8)
    if hi < lo:
        raise t.error("partial_fill_max_fraction", f"{hi} is less than partial_fill_min_fraction")
    sess = t.table("session")
    keys = {**SESSION_DEFAULTS, **session_defaults, "SenderCompID": name, **sess.data}
    sess._read.update(sess.data)
    settings = session_settings(keys, source, t.section, port=port)
    profile = LpProfile(
        name=name,
        port=port,
        symbols=tuple(lp_symbols_raw),
        spread_bps=t.number("spread_bps", 2.0, 0.0),
        skew_bps=t.number("skew_bps", 0.0),
        quote_size=_sizes(t, "quote_size", Decimal(10000)),
        max_order_size=_sizes(t, "max_order_size", None),
        quote_throttle_ms=t.number("quote_throttle_ms", 50.0, 0.0),
        send_ack=t.flag("send_ack", True),
        fill_probability=t.prob("fill_probability", 1.0),
        partial_fill_probability=t.prob("partial_fill_probability", 0.0),
        partial_fill_min_fraction=lo,
        partial_fill_max_fraction=hi,
        reject_rate=t.prob("reject_rate", 0.0),
        ack_latency=_lognormal(t, "ack_latency", Lognormal(1.0, 0.3)),
        fill_latency=_lognormal(t, "fill_latency", Lognormal(2.0, 0.5)),
        last_look_hold=_lognormal(t, "last_look_hold", Lognormal()),
        last_look_tolerance_bps=t.number("last_look_tolerance_bps", 0.5, 0.0),
        price_improvement_probability=t.prob("price_improvement_probability", 0.0),
        price_improvement_ticks=t.integer("price_improvement_ticks", 1, 0),
        adverse_selection_probability=t.prob("adverse_selection_probability", 0.0),
        adverse_selection_bps=t.number("adverse_selection_bps", 0.0),
        through_limit=t.text("through_limit", "cancel", ("cancel", "reject")),
        rest_day_orders=t.flag("rest_day_orders", True),
        misbehaviour=_misbehaviour(t.table("misbehaviour")),
        session=settings,
    )
    t.done()
    return profile


def parse_profile(data: Mapping[str, Any], source: str = "<dict>") -> SimProfile:
    """A SimProfile from the TOML data of config/lps.toml (or an equivalent dict)."""
    top = Table(data, source, "")
    seed = top.integer("seed", 1)
    step_ms = top.number("step_ms", 100.0, 1.0)
    status = top.number("status_interval_s", 5.0, 0.0)
    retain = top.integer("retain_orders", 200_000, 1)
    instruments = parse_instruments(top.raw("instrument"), source)
    symbols = tuple(spec.symbol for spec in instruments)
    session_defaults = top.raw("session", {})
    if not isinstance(session_defaults, Mapping):
        raise top.error("session", "expected a table of QuickFIX session keys")
    defaults = top.raw("defaults", {})
    if not isinstance(defaults, Mapping):
        raise top.error("defaults", "expected a table of LP keys")
    lps_raw = top.raw("lp")
    if not isinstance(lps_raw, list) or not lps_raw:
        raise top.error("lp", "at least one [[lp]] table is needed")
    lps: list[LpProfile] = []
    names: set[str] = set()
    for i, raw in enumerate(lps_raw, 1):
        if not isinstance(raw, Mapping):
            raise ProfileError(source, f"[[lp]] #{i}", "", "expected a table")
        lp = _lp(_merge(defaults, raw), i, source, session_defaults, symbols)
        if lp.name in names:
            raise ProfileError(source, f"[[lp]] ({lp.name})", "name", "defined twice")
        names.add(lp.name)
        lps.append(lp)
    top.done()
    return SimProfile(seed, step_ms, status, retain, instruments, tuple(lps), source)
