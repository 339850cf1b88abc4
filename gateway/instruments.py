"""Instruments and exact quantities and prices: integers on the inside, decimals on the wire.

A quantity is an int count of the instrument's smallest quantity step (10**-qty_decimals),
a price an int count of 10**-price_decimals. Sums of fills are ints, so CumQty and
LeavesQty never show float artefacts; AvgPx is an exact ratio rounded half-even to
``avg_px_decimals`` places when it is written. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

_FIX_FLOAT = re.compile(rb"-?(\d{1,18}(\.\d{0,18})?|\.\d{1,18})")
_TEXT_CACHE = 4096  # formatted values kept per instrument and kind


class BadValue(ValueError):
    """A quantity or price from a counterparty that the instrument cannot represent."""


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


@dataclass(frozen=True)
class Instrument:
    symbol: str
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("1")
    min_qty: Decimal = Decimal("1")
    max_qty: Decimal = Decimal("100000000")
    typical_size: Decimal = Decimal("10000")  # for the router: what "large" means
    price_decimals: int = field(init=False)
    qty_decimals: int = field(init=False)
    price_scale: int = field(init=False)
    qty_scale: int = field(init=False)
    tick_units: int = field(init=False)
    lot_units: int = field(init=False)
    avg_px_decimals: int = field(init=False)
    symbol_bytes: bytes = field(init=False, repr=False, compare=False)
    typical_float: float = field(init=False, repr=False, compare=False)
    # wire text of recently formatted quantities and prices (reports repeat a handful of them)
    _qty_text: dict[int, bytes] = field(init=False, repr=False, compare=False, hash=False)
    _price_text: dict[int, bytes] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise ValueError(f"{self.symbol}: TickSize and LotSize must be positive")
        pd = _decimals(self.tick_size)
        qd = _decimals(self.lot_size)
        object.__setattr__(self, "price_decimals", pd)
        object.__setattr__(self, "qty_decimals", qd)
        object.__setattr__(self, "price_scale", 10**pd)
        object.__setattr__(self, "qty_scale", 10**qd)
        object.__setattr__(self, "tick_units", int(self.tick_size * 10**pd))
        object.__setattr__(self, "lot_units", int(self.lot_size * 10**qd))
        object.__setattr__(self, "avg_px_decimals", pd + 4)
        object.__setattr__(self, "symbol_bytes", self.symbol.encode())
        object.__setattr__(self, "typical_float", float(self.typical_size))
        object.__setattr__(self, "_qty_text", {})
        object.__setattr__(self, "_price_text", {})

    # --- from the wire ------------------------------------------------------------------
    def parse_qty(self, raw: bytes, *, check_lot: bool = True) -> int:
        units = _parse_fixed(raw, self.qty_decimals, "quantity")
        if units <= 0:
            raise BadValue(f"quantity {raw.decode('latin-1')} must be positive")
        if check_lot and units % self.lot_units:
            raise BadValue(
                f"quantity {raw.decode('latin-1')} is not a multiple of the lot size {self.lot_size}"
            )
        return units

    def parse_price(self, raw: bytes, *, check_tick: bool = True) -> int:
        units = _parse_fixed(raw, self.price_decimals, "price")
        if units <= 0:
            raise BadValue(f"price {raw.decode('latin-1')} must be positive")
        if check_tick and units % self.tick_units:
            raise BadValue(f"price {raw.decode('latin-1')} is not on the tick size {self.tick_size}")
        return units

    def parse_any_price(self, raw: bytes) -> int:
        """A price from an LP (fills, quotes): not forced onto our tick, rounded to it."""
        whole, _, frac = raw.partition(b".")
        pd = self.price_decimals
        if whole.isdigit() and len(whole) <= 18 and len(frac) <= pd and (frac.isdigit() or not frac):
            # the usual case, no more decimals than the tick's: exact without Decimal
            units = int(whole) * self.price_scale + (int(frac.ljust(pd, b"0")) if pd else 0)
            if units > 0:
                return units
        if not _FIX_FLOAT.fullmatch(raw):
            raise BadValue(f"price {raw!r} is not a FIX float (digits with an optional point)")
        try:
            value = Decimal(raw.decode("latin-1"))
        except (InvalidOperation, UnicodeDecodeError) as exc:
            raise BadValue(f"price {raw!r} is not a number") from exc
        if not value.is_finite() or value <= 0:
            raise BadValue(f"price {raw!r} must be positive")
        return int((value * self.price_scale).to_integral_value())

    # --- to the wire --------------------------------------------------------------------
    def fmt_qty(self, units: int) -> bytes:
        text = self._qty_text.get(units)
        return _remember(self._qty_text, units, self.qty_decimals) if text is None else text

    def fmt_price(self, units: int) -> bytes:
        text = self._price_text.get(units)
        return _remember(self._price_text, units, self.price_decimals) if text is None else text

    def fmt_avg_px(self, notional: int, qty: int) -> bytes:
        """notional (qty units x price units) / qty as a price with extra decimals."""
        if qty == 0:
            return b"0"
        extra = 10 ** (self.avg_px_decimals - self.price_decimals)
        num = notional * extra * 2
        den = qty * 2
        q, r = divmod(num, den)
        # round half to even
        if r * 2 > den or (r * 2 == den and q % 2 == 1):
            q += 1
        return _format_fixed(q, self.avg_px_decimals, strip=True)

    def price_to_float(self, units: int) -> float:
        return units / self.price_scale

    def qty_to_float(self, units: int) -> float:
        return units / self.qty_scale


def _parse_fixed(raw: bytes, decimals: int, what: str) -> int:
    text = raw.strip()
    if not text or text.startswith(b"+"):
        raise BadValue(f"{what} {raw!r} is not a number")
    neg = text.startswith(b"-")
    if neg:
        text = text[1:]
    whole, dot, frac = text.partition(b".")
    if not (whole.isdigit() or (dot and not whole)) or (frac and not frac.isdigit()):
        raise BadValue(f"{what} {raw.decode('latin-1')} is not a number")
    frac = frac.rstrip(b"0")
    if len(frac) > decimals:
        raise BadValue(f"{what} {raw.decode('latin-1')} has more than {decimals} decimals")
    units = int(whole or b"0") * 10**decimals + (int(frac.ljust(decimals, b"0")) if decimals else 0)
    return -units if neg else units


def _remember(cache: dict[int, bytes], units: int, decimals: int) -> bytes:
    """Format ``units`` and keep the text (a bounded cache: cleared when full)."""
    text = _format_fixed(units, decimals)
    if len(cache) >= _TEXT_CACHE:
        cache.clear()
    cache[units] = text
    return text


def _format_fixed(units: int, decimals: int, strip: bool = False) -> bytes:
    if decimals == 0:
        return b"%d" % units
    sign = b"-" if units < 0 else b""
    whole, frac = divmod(abs(units), 10**decimals)
    text = b"%d.%0*d" % (whole, decimals, frac)
    if strip:
        text = text.rstrip(b"0").rstrip(b".")
    return sign + text


class InstrumentBook:
    """The instruments the gateway knows, by Symbol; unknown symbols get a default."""

    def __init__(
        self, instruments: list[Instrument] | None = None, default: Instrument | None = None
    ) -> None:
        self._by_symbol = {i.symbol: i for i in instruments or []}
        self.default = default

    def get(self, symbol: str) -> Instrument | None:
        inst = self._by_symbol.get(symbol)
        if inst is None and self.default is not None:
            inst = Instrument(
                symbol,
                self.default.tick_size,
                self.default.lot_size,
                self.default.min_qty,
                self.default.max_qty,
                self.default.typical_size,
            )
            self._by_symbol[symbol] = inst
        return inst

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_symbol.values())

    def __len__(self) -> int:
        return len(self._by_symbol)
