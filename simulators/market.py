"""The simulated market: one seeded mid-price random walk per symbol, shared by all LPs.

Every LP of a simulator process quotes around the same mid, so the markouts the gateway
computes from its quotes mean something: a fill followed by an adverse-selection shock
shows up as impact, a quiet LP's quotes drift with everybody else's.

The walk advances on a logical step counter, never on wall time: ``step()`` moves every
symbol by one step of ``step_ms`` milliseconds, ``shock()`` applies an adverse-selection
move. Given the seed and the sequence of shocks the path is the same on every run; tests
step it by hand, the LP server steps it from a timer. This module must never read a clock,
touch the event loop or import anything from the gateway but its instruments.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from gateway.instruments import Instrument

__all__ = ["InstrumentSpec", "Market", "Quote", "stable_seed"]


def stable_seed(seed: int, name: str) -> int:
    """``seed`` combined with a name, the same in every process.

    Python's ``hash(str)`` is salted per process (PYTHONHASHSEED), so it cannot make
    per-LP or per-symbol random streams reproducible; CRC-32 of the name can.
    """
    return seed * 1_000_003 + zlib.crc32(name.encode())


@dataclass(frozen=True)
class InstrumentSpec:
    """One [[instrument]] of a simulator profile: the instrument and its price process."""

    instrument: Instrument
    mid: Decimal  # start price
    volatility_bps: float  # standard deviation of log returns per sqrt(second), in bps

    @property
    def symbol(self) -> str:
        return self.instrument.symbol


@dataclass(frozen=True, slots=True)
class Quote:
    """A two-sided quote in integer price and quantity units of the instrument."""

    bid: int
    ask: int
    bid_size: int
    ask_size: int


class _Walk:
    __slots__ = ("instrument", "mid", "rng", "sigma")

    def __init__(self, spec: InstrumentSpec, seed: int, step_seconds: float) -> None:
        self.instrument = spec.instrument
        # the mid in price units of the instrument (a float: it is a model, not a price)
        self.mid = float(spec.mid) * spec.instrument.price_scale
        self.rng = random.Random(stable_seed(seed, spec.symbol))
        self.sigma = spec.volatility_bps / 1e4 * math.sqrt(step_seconds)


class Market:
    """Mid prices of every symbol, stepped by hand or by a timer owned by the caller."""

    def __init__(self, specs: Iterable[InstrumentSpec], seed: int, step_ms: float = 100.0) -> None:
        if step_ms <= 0:
            raise ValueError("step_ms must be positive")
        self.seed = seed
        self.step_ms = step_ms
        self.steps = 0  # the logical clock
        self._walks: dict[str, _Walk] = {}
        for spec in specs:
            self._walks[spec.symbol] = _Walk(spec, seed, step_ms / 1000.0)
        # a symbol without volatility never moves: a step neither walks it nor tells anyone
        # (with 10,000 such symbols a step was 40,000 requotes that changed nothing, ~100 ms
        # in which the LPs answered no order)
        self._moving = [(symbol, walk) for symbol, walk in self._walks.items() if walk.sigma != 0.0]
        self._listeners: list[Callable[[str], None]] = []

    # --- reading ------------------------------------------------------------------------
    @property
    def symbols(self) -> list[str]:
        return list(self._walks)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._walks

    def instrument(self, symbol: str) -> Instrument:
        return self._walks[symbol].instrument

    def mid(self, symbol: str) -> float:
        """The mid in price units (ticks of 10**-price_decimals) of the instrument."""
        return self._walks[symbol].mid

    def mid_price(self, symbol: str) -> float:
        """The mid as a price (for display and tests)."""
        walk = self._walks[symbol]
        return walk.mid / walk.instrument.price_scale

    def quote(self, symbol: str, spread_bps: float, skew_bps: float, size: int) -> Quote:
        """A quote around the mid: bid rounded down, ask up to the tick, at least one tick wide."""
        walk = self._walks[symbol]
        tick = walk.instrument.tick_units
        centre = walk.mid * (1.0 + skew_bps / 1e4)
        half = centre * spread_bps / 2e4
        bid = math.floor((centre - half) / tick) * tick
        ask = math.ceil((centre + half) / tick) * tick
        if ask <= bid:
            ask = bid + tick
        if bid < tick:
            bid = tick
            ask = max(ask, 2 * tick)
        return Quote(bid, ask, size, size)

    # --- moving ---------------------------------------------------------------------------
    def add_listener(self, callback: Callable[[str], None]) -> None:
        """``callback(symbol)`` after the mid of ``symbol`` has moved."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[str], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def step(self, n: int = 1) -> None:
        """Advance every symbol by ``n`` steps of ``step_ms``: listeners hear once per step
        of each symbol that moves (one with VolatilityBps 0 does not)."""
        for _ in range(n):
            self.steps += 1
            for symbol, walk in self._moving:
                walk.mid *= math.exp(walk.sigma * walk.rng.gauss(0.0, 1.0))
                self._notify(symbol)

    def shock(self, symbol: str, bps: float) -> None:
        """Move the mid of ``symbol`` by ``bps`` basis points (negative: down)."""
        walk = self._walks[symbol]
        walk.mid *= 1.0 + bps / 1e4
        self._notify(symbol)

    def set_mid(self, symbol: str, price: Decimal | float) -> None:
        """Put the mid somewhere (tests, scenarios)."""
        walk = self._walks[symbol]
        walk.mid = float(price) * walk.instrument.price_scale
        self._notify(symbol)

    def _notify(self, symbol: str) -> None:
        for callback in self._listeners:
            callback(symbol)

    def path(self, symbol: str, steps: int) -> list[float]:
        """Step ``steps`` times and return the mid prices of ``symbol`` (for tests)."""
        out = []
        for _ in range(steps):
            self.step()
            out.append(self.mid_price(symbol))
        return out
