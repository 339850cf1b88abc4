"""Pre-trade risk: limits per OMS session and per LP, a message throttle and a kill switch.

What it is for: before a parent order from an OMS is accepted, and before a child order is
sent to an LP, the order path asks this module; the answer is None (go) or a `RiskReject`
naming the rule (a snake_case Prometheus label) and a Text(58) a trader can act on, e.g.
"order notional 2,500,000.00 exceeds the limit 1,000,000.00 for session OMS1".

Quantities and prices are the instrument's exact integer units (see `instruments`), and
configured limits are converted to those units once per instrument, so a limit holds to the
last unit: qty units x price units = notional units at scale qty_scale x price_scale. Only
the consolidated mid is a float (it comes from the book), so checks against it — the
price collar and the notional of a market order — are float comparisons.

What it must never do: import asyncio, sockets or prometheus_client, read a clock (`now`,
float seconds, is passed in), do I/O, or act on orders. It answers; the order path rejects,
and cancels working orders when a kill switch is engaged. Metrics read its counters at
scrape time. A check is O(1) and allocates nothing but the reject on the happy path.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Literal, TypeAlias

from gateway.instruments import Instrument

__all__ = [
    "RULES",
    "KillScope",
    "LpLimits",
    "RiskConfigError",
    "RiskEngine",
    "RiskReject",
    "RiskSettings",
    "SessionLimits",
    "parse_risk_settings",
]

# Rule names, as they appear in RiskReject.rule and in the metrics label.
KILL_SWITCH = "kill_switch"
THROTTLE = "throttle"
UNKNOWN_SYMBOL = "unknown_symbol"
MAX_ORDER_QTY = "max_order_qty"
MAX_ORDER_NOTIONAL = "max_order_notional"
MARKET_ORDER_NO_REFERENCE_PRICE = "market_order_no_reference_price"
PRICE_COLLAR = "price_collar"
LP_MAX_ORDER_QTY = "lp_max_order_qty"
LP_MAX_ORDER_NOTIONAL = "lp_max_order_notional"
LP_OPEN_NOTIONAL = "lp_open_notional"

RULES: tuple[str, ...] = (
    KILL_SWITCH,
    THROTTLE,
    UNKNOWN_SYMBOL,
    MAX_ORDER_QTY,
    MAX_ORDER_NOTIONAL,
    MARKET_ORDER_NO_REFERENCE_PRICE,
    PRICE_COLLAR,
    LP_MAX_ORDER_QTY,
    LP_MAX_ORDER_NOTIONAL,
    LP_OPEN_NOTIONAL,
)

# FIX Side(54) values: buy-like and sell-like. Any other side gets the collar both ways.
_BUY_SIDES = frozenset({1, 3})  # Buy, Buy minus
_SELL_SIDES = frozenset({2, 4, 5, 6})  # Sell, Sell plus, Sell short, Sell short exempt

# The mid is a float: a price on the collar to the last bit of the mid must not be refused
# because of how (bid + ask) / 2 rounded, so the collar is widened by one part in 10**9.
_COLLAR_SLACK = 1e-9
_INF = math.inf


@dataclass(frozen=True, slots=True)
class RiskReject:
    """Why an order may not go: `rule` for the metrics label, `text` for Text(58).

    `scope` is what was checked: "session:<name>" for a parent order, "lp:<name>" for a
    child order.
    """

    rule: str
    text: str
    scope: str


# ------------------------------------------------------------------------------ settings


class RiskConfigError(ValueError):
    """A [risk] setting that cannot be used; one line naming file, section, key and allowed."""

    def __init__(self, source: str, section: str, key: str, problem: str, allowed: str = "") -> None:
        self.source = source
        self.section = section
        self.key = key
        self.problem = problem
        self.allowed = allowed
        where = " ".join(part for part in (section, key) if part)
        text = f"{source}: {where}: {problem}"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text)


@dataclass(frozen=True)
class SessionLimits:
    """Limits on parent orders from one OMS session; None means no limit.

    Quantities are in the instrument's quantity, notionals in its price currency.
    """

    max_order_qty: Decimal | None = None
    max_order_notional: Decimal | None = None
    price_collar_pct: Decimal | None = None
    max_messages_per_second: Decimal | None = None
    throttle_burst: int | None = None  # set whenever max_messages_per_second is


@dataclass(frozen=True)
class LpLimits:
    """Limits on child orders to one LP; None means no limit."""

    max_order_qty: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_open_notional: Decimal | None = None


@dataclass(frozen=True)
class RiskSettings:
    """[risk] of the gateway's TOML: defaults, and overrides already merged onto them."""

    source: str = "<defaults>"
    session_defaults: SessionLimits = field(default_factory=SessionLimits)
    sessions: Mapping[str, SessionLimits] = field(default_factory=dict)
    lp_defaults: LpLimits = field(default_factory=LpLimits)
    lps: Mapping[str, LpLimits] = field(default_factory=dict)

    def for_session(self, name: str) -> SessionLimits:
        return self.sessions.get(name, self.session_defaults)

    def for_lp(self, name: str) -> LpLimits:
        return self.lps.get(name, self.lp_defaults)


_NO_LIMIT = "none"
_AMOUNT_ALLOWED = 'a positive number (integer, float or decimal string), or "none" for no limit'
_COLLAR_ALLOWED = 'a percentage greater than 0 and less than 100, or "none" for no collar'
_RATE_ALLOWED = 'a positive number of messages per second, or "none" for no throttle'
_BURST_ALLOWED = "a positive integer number of messages"

# TOML key -> (attribute, allowed text)
_SESSION_KEYS: dict[str, tuple[str, str]] = {
    "MaxOrderQty": ("max_order_qty", _AMOUNT_ALLOWED),
    "MaxOrderNotional": ("max_order_notional", _AMOUNT_ALLOWED),
    "PriceCollarPct": ("price_collar_pct", _COLLAR_ALLOWED),
    "MaxMessagesPerSecond": ("max_messages_per_second", _RATE_ALLOWED),
    "ThrottleBurst": ("throttle_burst", _BURST_ALLOWED),
}
_LP_KEYS: dict[str, tuple[str, str]] = {
    "MaxOrderQty": ("max_order_qty", _AMOUNT_ALLOWED),
    "MaxOrderNotional": ("max_order_notional", _AMOUNT_ALLOWED),
    "MaxOpenNotional": ("max_open_notional", _AMOUNT_ALLOWED),
}
_TABLES = ("session", "lp")
_PUT_IN_LP = "per-LP key: put it in [risk.lp] (every LP) or [risk.lp.NAME]"
_PUT_IN_SESSION = "per-session key: put it in [risk] (every session) or [risk.session.NAME]"


class _Bad(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _show(value: object) -> str:
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", dict: "table"}.get(
        type(value), type(value).__name__
    )
    shown = repr(value)
    return f"{kind} {shown[:37] + '...' if len(shown) > 40 else shown}"


def _decimal(value: object) -> Decimal | None:
    """A positive amount, or None for "none"; floats go through their shortest repr."""
    if isinstance(value, bool):
        raise _Bad(f"expected a number, got {_show(value)}")
    if isinstance(value, str) and value.strip().lower() == _NO_LIMIT:
        return None
    try:
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            raise _Bad(f"expected a number, got {_show(value)}")
    except InvalidOperation:
        raise _Bad(f"{value!r} is not a number") from None
    if not number.is_finite() or number <= 0:
        raise _Bad(f"{value!r} is not a positive number")
    return number


def _parse_value(attr: str, value: object) -> Decimal | int | None:
    if attr == "throttle_burst":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad(f"expected an integer, got {_show(value)}")
        if value < 1:
            raise _Bad(f"{value} is not positive")
        return value
    number = _decimal(value)
    if attr == "price_collar_pct" and number is not None and number >= 100:
        raise _Bad(f"{value!r} is not less than 100")
    return number


def _unknown_key(
    source: str,
    section: str,
    key: str,
    value: object,
    keys: dict[str, tuple[str, str]],
    other: dict[str, tuple[str, str]],
    other_where: str,
    tables: str,
) -> RiskConfigError:
    names = sorted(keys)
    allowed = ", ".join(names) + (f"; tables: {tables}" if tables else "")
    if isinstance(value, dict):
        close_table = difflib.get_close_matches(key, _TABLES, n=1, cutoff=0.6) if tables else []
        problem = f"unknown table; did you mean {close_table[0]!r}?" if close_table else "unknown table"
        return RiskConfigError(source, section, key, problem, allowed)
    problem = "unknown key"
    close = {n.lower(): n for n in names}.get(key.lower())
    if close is None and key in other:
        problem += f"; it is a {other_where}"
    else:
        close = close or next(iter(difflib.get_close_matches(key, names, n=1, cutoff=0.6)), None)
        if close:
            problem += f"; did you mean {close!r}?"
    return RiskConfigError(source, section, key, problem, allowed)


def _parse_limits(
    source: str,
    section: str,
    table: object,
    keys: dict[str, tuple[str, str]],
    other: dict[str, tuple[str, str]],
    other_where: str,
    base: dict[str, Any],
    tables: str = "",
) -> tuple[dict[str, Any], set[str]]:
    """Parse one table of limits onto `base`; returns the merged values and the keys set."""
    if not isinstance(table, dict):
        raise RiskConfigError(source, section, "", f"expected a table, got {_show(table)}", "a table")
    merged = dict(base)
    for key, value in table.items():
        spec = keys.get(key)
        if spec is None:
            raise _unknown_key(source, section, key, value, keys, other, other_where, tables)
        attr, allowed = spec
        try:
            merged[attr] = _parse_value(attr, value)
        except _Bad as exc:
            raise RiskConfigError(source, section, key, exc.problem, allowed) from None
    return merged, set(table)


def _session_limits(source: str, section: str, values: dict[str, Any], keys_set: set[str]) -> SessionLimits:
    rate = values.get("max_messages_per_second")
    if rate is None:
        if "ThrottleBurst" in keys_set and values.get("throttle_burst") is not None:
            raise RiskConfigError(
                source,
                section,
                "ThrottleBurst",
                "a burst needs a rate: MaxMessagesPerSecond is not set",
                "ThrottleBurst together with MaxMessagesPerSecond",
            )
        values = {**values, "throttle_burst": None}
    elif values.get("throttle_burst") is None:
        values = {**values, "throttle_burst": max(1, math.ceil(rate))}  # one second's worth
    return SessionLimits(**values)


def parse_risk_settings(d: Mapping[str, Any], source: str) -> RiskSettings:
    """The [risk] table (as loaded by tomllib) -> RiskSettings; RiskConfigError if unusable.

    [risk] holds the defaults for every OMS session, [risk.session.NAME] overrides them
    key by key; [risk.lp] holds defaults for every LP, [risk.lp.NAME] overrides them. A
    key absent everywhere means no limit, and "none" removes a default for one session/LP.
    """
    if not isinstance(d, Mapping):
        raise RiskConfigError(source, "[risk]", "", f"expected a table, got {_show(d)}", "a table")
    top = {k: v for k, v in d.items() if k not in _TABLES}
    base: dict[str, Any] = {attr: None for attr, _ in _SESSION_KEYS.values()}
    values, keys_set = _parse_limits(
        source,
        "[risk]",
        top,
        _SESSION_KEYS,
        _LP_KEYS,
        _PUT_IN_LP,
        base,
        tables="[risk.session.NAME], [risk.lp], [risk.lp.NAME]",
    )
    session_defaults = _session_limits(source, "[risk]", values, keys_set)
    session_values = values

    sessions: dict[str, SessionLimits] = {}
    for name, table in _subtables(source, "session", d.get("session", {})).items():
        section = f"[risk.session.{name}]"
        merged, keys_set = _parse_limits(
            source, section, table, _SESSION_KEYS, _LP_KEYS, _PUT_IN_LP, session_values
        )
        sessions[name] = _session_limits(source, section, merged, keys_set)

    lp_table = d.get("lp", {})
    if not isinstance(lp_table, dict):
        raise RiskConfigError(source, "[risk.lp]", "", f"expected a table, got {_show(lp_table)}", "a table")
    lp_base: dict[str, Any] = {attr: None for attr, _ in _LP_KEYS.values()}
    lp_scalars = {k: v for k, v in lp_table.items() if not isinstance(v, dict)}
    lp_values, _ = _parse_limits(
        source, "[risk.lp]", lp_scalars, _LP_KEYS, _SESSION_KEYS, _PUT_IN_SESSION, lp_base
    )
    lps: dict[str, LpLimits] = {}
    for name, table in lp_table.items():
        if isinstance(table, dict):
            section = f"[risk.lp.{name}]"
            merged, _ = _parse_limits(
                source, section, table, _LP_KEYS, _SESSION_KEYS, _PUT_IN_SESSION, lp_values
            )
            lps[name] = LpLimits(**merged)
    return RiskSettings(source, session_defaults, sessions, LpLimits(**lp_values), lps)


def _subtables(source: str, name: str, value: object) -> dict[str, object]:
    section = f"[risk.{name}]"
    if not isinstance(value, dict):
        raise RiskConfigError(source, section, "", f"expected a table, got {_show(value)}", "a table")
    for key, table in value.items():
        if not isinstance(table, dict):
            raise RiskConfigError(
                source,
                section,
                key,
                f"expected a table [risk.{name}.{key}], got {_show(table)}",
                f"[risk.{name}.NAME] tables only; defaults for every session go in [risk]",
            )
    return value


# ------------------------------------------------------------------------------ engine

_BAD_SCOPE = "kill switch scope must be 'all', ('session', name) or ('lp', name)"
KillScope: TypeAlias = Literal["all"] | tuple[Literal["session", "lp"], str]


def _units_limit(limit: Decimal | None, scale: int) -> int | None:
    """The largest integer count of 1/scale that does not exceed `limit`: exact."""
    if limit is None:
        return None
    return math.floor(Fraction(limit) * scale)


class _InstLimits:
    """One limit set in one instrument's units, cached by symbol."""

    __slots__ = ("max_notional", "max_qty", "price_scale", "qty_scale")

    def __init__(self, inst: Instrument, max_qty: Decimal | None, max_notional: Decimal | None) -> None:
        self.qty_scale = inst.qty_scale
        self.price_scale = inst.price_scale
        self.max_qty = _units_limit(max_qty, inst.qty_scale)
        self.max_notional = _units_limit(max_notional, inst.qty_scale * inst.price_scale)


class _SessionState:
    __slots__ = (
        "burst",
        "by_symbol",
        "collar_down",
        "collar_up",
        "last",
        "limits",
        "name",
        "rate",
        "scope",
        "tokens",
    )

    def __init__(self, name: str, limits: SessionLimits) -> None:
        self.name = name
        self.scope = f"session:{name}"
        self.tokens = 0.0
        self.last = -_INF
        self.configure(limits)

    def configure(self, limits: SessionLimits) -> None:
        self.limits = limits
        self.by_symbol: dict[str, _InstLimits] = {}
        pct = limits.price_collar_pct
        if pct is None:
            self.collar_up, self.collar_down = _INF, 0.0
        else:
            self.collar_up = (1.0 + float(pct) / 100.0) * (1.0 + _COLLAR_SLACK)
            self.collar_down = (1.0 - float(pct) / 100.0) * (1.0 - _COLLAR_SLACK)
        if limits.max_messages_per_second is None:
            self.rate = 0.0
            self.burst = _INF
        else:
            self.rate = float(limits.max_messages_per_second)
            self.burst = float(limits.throttle_burst or 1)
        if self.last == -_INF or self.tokens > self.burst:
            self.tokens = self.burst  # a new session starts with a full bucket

    def inst_limits(self, inst: Instrument) -> _InstLimits:
        lim = self.by_symbol.get(inst.symbol)
        if lim is None or lim.qty_scale != inst.qty_scale or lim.price_scale != inst.price_scale:
            lim = _InstLimits(inst, self.limits.max_order_qty, self.limits.max_order_notional)
            self.by_symbol[inst.symbol] = lim
        return lim


class _LpState:
    __slots__ = ("by_symbol", "limits", "max_open", "name", "open_scale", "open_units", "scope")

    def __init__(self, name: str, limits: LpLimits) -> None:
        self.name = name
        self.scope = f"lp:{name}"
        # Open notional is an int at a power-of-ten scale that only ever grows, so adding an
        # instrument with finer units rescales the total exactly instead of rounding it.
        self.open_units = 0
        self.open_scale = 1
        self.configure(limits)

    def configure(self, limits: LpLimits) -> None:
        self.limits = limits
        self.by_symbol: dict[str, _InstLimits] = {}
        self.max_open = _units_limit(limits.max_open_notional, self.open_scale)

    def inst_limits(self, inst: Instrument) -> _InstLimits:
        lim = self.by_symbol.get(inst.symbol)
        if lim is None or lim.qty_scale != inst.qty_scale or lim.price_scale != inst.price_scale:
            lim = _InstLimits(inst, self.limits.max_order_qty, self.limits.max_order_notional)
            self.by_symbol[inst.symbol] = lim
        return lim

    def units_at_open_scale(self, notional: int, scale: int) -> int:
        """`notional` (at `scale`) at the open-notional scale, growing that scale if needed."""
        if scale > self.open_scale:
            factor = scale // self.open_scale
            self.open_units *= factor
            self.open_scale = scale
            self.max_open = _units_limit(self.limits.max_open_notional, scale)
        return notional * (self.open_scale // scale)


class RiskEngine:
    """Pre-trade checks and their state: throttles, open notional per LP, kill switches.

    Counters for metrics (read at scrape time, never reset):
    `rejections[(rule, scope)]` and `open_notional_anomalies[lp]` (releases of more than was
    open, clamped to zero). See also `kill_switches()`, `open_notionals()`, `throttle_levels()`.
    """

    def __init__(self, settings: RiskSettings | None = None) -> None:
        self.settings = settings or RiskSettings()
        self._sessions: dict[str, _SessionState] = {}
        self._lps: dict[str, _LpState] = {}
        self._kill_all: str | None = None
        self._kill_sessions: dict[str, str] = {}
        self._kill_lps: dict[str, str] = {}
        self.rejections: dict[tuple[str, str], int] = {}
        self.open_notional_anomalies: dict[str, int] = {}

    def reconfigure(self, settings: RiskSettings) -> None:
        """New limits; throttle buckets, open notional and kill switches carry over."""
        self.settings = settings
        for s in self._sessions.values():
            s.configure(settings.for_session(s.name))
        for lp in self._lps.values():
            lp.configure(settings.for_lp(lp.name))

    # --- state lookup -------------------------------------------------------------------
    def _session(self, name: str) -> _SessionState:
        state = self._sessions.get(name)
        if state is None:
            state = self._sessions[name] = _SessionState(name, self.settings.for_session(name))
        return state

    def _lp(self, name: str) -> _LpState:
        state = self._lps.get(name)
        if state is None:
            state = self._lps[name] = _LpState(name, self.settings.for_lp(name))
        return state

    def _reject(self, rule: str, text: str, scope: str) -> RiskReject:
        key = (rule, scope)
        self.rejections[key] = self.rejections.get(key, 0) + 1
        return RiskReject(rule, text, scope)

    # --- parent orders from an OMS ------------------------------------------------------
    def check_order(
        self,
        session: str,
        inst: Instrument | None,
        side: int,
        qty: int,
        price: int | None,
        mid: float | None,
        now: float,
        *,
        symbol: str | None = None,
    ) -> RiskReject | None:
        """A new parent order: `qty` and `price` in `inst` units, price None for a market order.

        `side` is the FIX Side(54) value, `mid` the consolidated mid (None if there is no
        two-sided book), `symbol` only names an unknown instrument in the text. Takes a
        throttle token unless the kill switch refuses first. With no notional limit a
        market order needs no mid.
        """
        s = self._session(session)
        if self._kill_all is not None or self._kill_sessions:
            text = self._kill_text(session=session)
            if text is not None:
                return self._reject(KILL_SWITCH, text, s.scope)
        if not self._take_token(s, now):
            return self._reject(THROTTLE, self._throttle_text(s), s.scope)
        if inst is None:
            named = f" {symbol}" if symbol else ""
            return self._reject(
                UNKNOWN_SYMBOL, f"unknown symbol{named}: no instrument is configured for it", s.scope
            )
        lim = s.inst_limits(inst)
        if lim.max_qty is not None and qty > lim.max_qty:
            return self._reject(
                MAX_ORDER_QTY,
                f"order quantity {_fmt_qty(inst, qty)} exceeds the limit "
                f"{_fmt_dec(s.limits.max_order_qty, inst.qty_decimals)} for session {session}",
                s.scope,
            )
        has_mid = mid is not None and 0.0 < mid < _INF
        if lim.max_notional is not None:
            if price is not None:
                if qty * price > lim.max_notional:
                    return self._reject(
                        MAX_ORDER_NOTIONAL,
                        f"order notional {_fmt_notional(inst, qty * price)} exceeds the limit "
                        f"{_fmt_dec(s.limits.max_order_notional, 2)} for session {session}",
                        s.scope,
                    )
            elif not has_mid:
                return self._reject(
                    MARKET_ORDER_NO_REFERENCE_PRICE,
                    f"market order cannot be checked against the notional limit "
                    f"{_fmt_dec(s.limits.max_order_notional, 2)} for session {session}: "
                    f"no mid price for {inst.symbol}",
                    s.scope,
                )
            else:
                assert mid is not None
                if qty * (mid * inst.price_scale) > lim.max_notional:
                    return self._reject(
                        MAX_ORDER_NOTIONAL,
                        f"market order notional {_fmt_float(qty * mid / inst.qty_scale, 2)} at the mid "
                        f"{_fmt_mid(inst, mid)} exceeds the limit "
                        f"{_fmt_dec(s.limits.max_order_notional, 2)} for session {session}",
                        s.scope,
                    )
        if price is not None and has_mid:
            assert mid is not None
            mid_units = mid * inst.price_scale
            too_high = price > mid_units * s.collar_up and side not in _SELL_SIDES
            too_low = price < mid_units * s.collar_down and side not in _BUY_SIDES
            if too_high or too_low:
                return self._reject(PRICE_COLLAR, self._collar_text(s, inst, price, mid), s.scope)
        return None

    def check_message(self, session: str, now: float) -> RiskReject | None:
        """Any other message from an OMS (cancel, replace): the throttle alone.

        The kill switch is not asked: cancels must get through when it is engaged. A
        replace that changes price or quantity should also pass `check_order`.
        """
        s = self._session(session)
        if not self._take_token(s, now):
            return self._reject(THROTTLE, self._throttle_text(s), s.scope)
        return None

    def _take_token(self, s: _SessionState, now: float) -> bool:
        """Token bucket: `rate` tokens a second up to `burst`; a message takes one."""
        if s.rate == 0.0:
            return True
        elapsed = now - s.last
        if elapsed > 0.0:  # time that goes backwards refills nothing
            tokens = s.tokens + elapsed * s.rate
            s.tokens = tokens if tokens < s.burst else s.burst
            s.last = now
        if s.tokens >= 1.0:
            s.tokens -= 1.0
            return True
        return False

    @staticmethod
    def _throttle_text(s: _SessionState) -> str:
        return (
            f"message rate exceeds the limit {_fmt_dec(s.limits.max_messages_per_second, 0)} per second "
            f"(burst {s.limits.throttle_burst:,}) for session {s.name}"
        )

    @staticmethod
    def _collar_text(s: _SessionState, inst: Instrument, price: int, mid: float) -> str:
        pct = s.limits.price_collar_pct
        assert pct is not None
        away = abs(inst.price_to_float(price) - mid) / mid * 100.0
        decimals = max(2, _places(pct))
        shown = f"{away:.{decimals}f}"
        if shown == f"{pct:.{decimals}f}":  # rounded onto the collar: show why it is over
            shown = f"{away:.{decimals + 4}f}"
        return (
            f"limit price {_fmt_qty_like(price, inst.price_decimals)} is {shown}% away from the mid "
            f"{_fmt_mid(inst, mid)}; the collar is {pct:.{decimals}f}% for session {s.name}"
        )

    # --- child orders to an LP ----------------------------------------------------------
    def check_child(self, lp: str, inst: Instrument, qty: int, price: int, now: float) -> RiskReject | None:
        """A child order to `lp`: its limits and its open notional with this child added.

        `price` is the child's limit price in `inst` units; for a child without one, the
        reference price the router used. `now` is unused today; it keeps the signature
        ready for time-based LP limits.
        """
        return self.check_children((lp,), inst, qty, (price,), now)[0]

    def check_children(
        self, lps: Sequence[str], inst: Instrument, qty: int, prices: Sequence[int], now: float
    ) -> list[RiskReject | None]:
        """``check_child`` of a child of `qty` to each LP in `lps` at the price beside it, in
        one call (a routing decision asks for every LP): the refusal of each, or None."""
        out: list[RiskReject | None] = [None] * len(lps)
        kills = self._kill_all is not None or bool(self._kill_lps)
        states = self._lps
        symbol, qty_scale, price_scale = inst.symbol, inst.qty_scale, inst.price_scale
        unit_scale = qty_scale * price_scale
        for i, (lp, price) in enumerate(zip(lps, prices, strict=True)):
            state = states.get(lp) or self._lp(lp)
            if kills:
                text = self._kill_text(lp=lp)
                if text is not None:
                    out[i] = self._reject(KILL_SWITCH, text, state.scope)
                    continue
            lim = state.by_symbol.get(symbol)  # inst_limits, without a call when it is known
            if lim is None or lim.qty_scale != qty_scale or lim.price_scale != price_scale:
                lim = state.inst_limits(inst)
            if lim.max_qty is not None and qty > lim.max_qty:
                out[i] = self._reject(
                    LP_MAX_ORDER_QTY,
                    f"child order quantity {_fmt_qty(inst, qty)} exceeds the limit "
                    f"{_fmt_dec(state.limits.max_order_qty, inst.qty_decimals)} for LP {lp}",
                    state.scope,
                )
                continue
            notional = qty * price
            if lim.max_notional is not None and notional > lim.max_notional:
                out[i] = self._reject(
                    LP_MAX_ORDER_NOTIONAL,
                    f"child order notional {_fmt_notional(inst, notional)} exceeds the limit "
                    f"{_fmt_dec(state.limits.max_order_notional, 2)} for LP {lp}",
                    state.scope,
                )
                continue
            if state.limits.max_open_notional is not None:
                open_scale = state.open_scale
                added = (
                    notional * (open_scale // unit_scale)  # units_at_open_scale when the scale holds
                    if unit_scale <= open_scale
                    else state.units_at_open_scale(notional, unit_scale)
                )
                assert state.max_open is not None
                if state.open_units + added > state.max_open:
                    scale = state.open_scale
                    out[i] = self._reject(
                        LP_OPEN_NOTIONAL,
                        f"open notional at LP {lp} would be {_fmt_scaled(state.open_units + added, scale)} "
                        f"(open {_fmt_scaled(state.open_units, scale)} + this order "
                        f"{_fmt_scaled(added, scale)}); the limit is "
                        f"{_fmt_dec(state.limits.max_open_notional, 2)}",
                        state.scope,
                    )
        return out

    def child_opened(self, lp: str, inst: Instrument, qty: int, price: int) -> None:
        """A child order of `qty` at `price` (inst units) is working at `lp`."""
        state = self._lp(lp)
        added = state.units_at_open_scale(qty * price, inst.qty_scale * inst.price_scale)
        state.open_units += added  # after the call: it may rescale open_units

    def child_released(self, lp: str, inst: Instrument, qty: int, price: int) -> None:
        """`qty` of a child is no longer working (filled, cancelled, rejected, expired).

        Pass the price it was opened at, so that what is released is what was added.
        Releasing more than is open is a bug elsewhere: counted, and the total stays at 0.
        """
        state = self._lp(lp)
        released = state.units_at_open_scale(qty * price, inst.qty_scale * inst.price_scale)
        units = state.open_units - released
        if units < 0:
            self.open_notional_anomalies[lp] = self.open_notional_anomalies.get(lp, 0) + 1
            units = 0
        state.open_units = units

    def open_notional(self, lp: str) -> Decimal:
        """What is open at `lp`, exactly, in currency."""
        state = self._lps.get(lp)
        if state is None or state.open_units == 0:
            return Decimal(0)
        return _scaled_decimal(state.open_units, state.open_scale)

    def open_notionals(self) -> dict[str, float]:
        """Open notional per LP (currency) for a gauge."""
        return {name: s.open_units / s.open_scale for name, s in self._lps.items()}

    # --- kill switch --------------------------------------------------------------------
    def set_kill(self, scope: KillScope, engaged: bool, reason: str) -> bool:
        """Engage or release a kill switch; True if that changed whether it is engaged.

        While engaged, new orders in its scope are refused; the caller cancels what is
        working when this returns True for an engagement.
        """
        if scope == "all":
            was = self._kill_all is not None
            self._kill_all = reason if engaged else None
            return was != engaged
        if isinstance(scope, tuple) and len(scope) == 2 and isinstance(scope[1], str):
            kind, name = scope
            if kind == "session":
                table = self._kill_sessions
            elif kind == "lp":
                table = self._kill_lps
            else:
                raise ValueError(f"{_BAD_SCOPE}: {scope!r}")
            was = name in table
            if engaged:
                table[name] = reason
            else:
                table.pop(name, None)
            return was != engaged
        raise ValueError(f"{_BAD_SCOPE}: {scope!r}")

    def killed_lps(self) -> Collection[str]:
        """The LPs stopped by a kill switch of their own (besides one for everything)."""
        return self._kill_lps.keys()

    def killed(self, session: str | None = None, lp: str | None = None) -> str | None:
        """The reason of the kill switch that stops this session or LP, or None."""
        if self._kill_all is not None:
            return self._kill_all
        if session is not None:
            reason = self._kill_sessions.get(session)
            if reason is not None:
                return reason
        if lp is not None:
            return self._kill_lps.get(lp)
        return None

    def _kill_text(self, session: str | None = None, lp: str | None = None) -> str | None:
        if self._kill_all is not None:
            return f"kill switch engaged for all sessions and LPs: {self._kill_all}"
        if session is not None and session in self._kill_sessions:
            return f"kill switch engaged for session {session}: {self._kill_sessions[session]}"
        if lp is not None and lp in self._kill_lps:
            return f"kill switch engaged for LP {lp}: {self._kill_lps[lp]}"
        return None

    def kill_switches(self) -> dict[str, str]:
        """Engaged kill switches: {"all" | "session:NAME" | "lp:NAME": reason}."""
        out = {"all": self._kill_all} if self._kill_all is not None else {}
        out.update({f"session:{n}": r for n, r in self._kill_sessions.items()})
        out.update({f"lp:{n}": r for n, r in self._kill_lps.items()})
        return out

    # --- throttle state -----------------------------------------------------------------
    def throttle_levels(self, now: float | None = None) -> dict[str, float]:
        """Tokens left per throttled session, refilled up to `now` if given (not consumed)."""
        out: dict[str, float] = {}
        for name, s in self._sessions.items():
            if s.rate == 0.0:
                continue
            tokens = s.tokens
            if now is not None and now > s.last:
                tokens = min(s.burst, tokens + (now - s.last) * s.rate)
            out[name] = tokens
        return out


# ------------------------------------------------------------------------------ text
# Only on the reject path: allocation and Decimal are fine here.


def _places(d: Decimal) -> int:
    exponent = d.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _scaled_decimal(units: int, scale: int) -> Decimal:
    """units / scale exactly (scale a power of ten): Decimal's constructor does not round."""
    return Decimal(f"{units}E-{len(str(scale)) - 1}")


def _fmt_dec(d: Decimal | None, decimals: int) -> str:
    assert d is not None
    return f"{d:,.{max(decimals, _places(d))}f}"


def _fmt_scaled(units: int, scale: int) -> str:
    return f"{_scaled_decimal(units, scale):,.2f}"


def _fmt_qty_like(units: int, decimals: int) -> str:
    return f"{_scaled_decimal(units, 10**decimals):,.{decimals}f}"


def _fmt_qty(inst: Instrument, qty: int) -> str:
    return _fmt_qty_like(qty, inst.qty_decimals)


def _fmt_notional(inst: Instrument, notional: int) -> str:
    return _fmt_scaled(notional, inst.qty_scale * inst.price_scale)


def _fmt_float(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _fmt_mid(inst: Instrument, mid: float) -> str:
    """The mid with the instrument's decimals, one more if it is between two ticks."""
    pd = inst.price_decimals
    text = f"{mid:.{pd + 1}f}"
    if text.endswith("0"):
        text = text[:-1].rstrip(".") if pd == 0 else text[:-1]
    return text
