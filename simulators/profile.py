"""Reading simulator profiles (config/lps.toml, config/oms.toml): typed values, clear errors.

A profile names its keys in snake_case (they are simulator knobs, not FIX settings); the
FIX session of each simulated party is written with the QuickFIX keys of gateway.config in
a ``[session]`` table. A misspelt or mistyped key stops the simulator at start with one
line naming the file, the table and the key. This module must never open sockets or read
a clock; it only turns dicts into frozen values.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, SessionSettings, session_from_dict
from gateway.instruments import Instrument
from simulators.market import InstrumentSpec

__all__ = ["ProfileError", "Table", "load_toml", "parse_instruments", "session_settings"]


class ProfileError(Exception):
    """A profile value that cannot be used; one line naming file, table and key."""

    def __init__(self, source: str, section: str, key: str, problem: str) -> None:
        where = " ".join(p for p in (section, key) if p)
        super().__init__(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


def load_toml(path: str | Path) -> dict[str, Any]:
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise ProfileError(source, "", "", f"cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProfileError(source, "", "", "not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(source, "", "", f"not valid TOML: {exc}") from None


class Table:
    """Typed reads from one TOML table; ``done()`` refuses keys nobody read."""

    def __init__(self, data: Mapping[str, Any], source: str, section: str) -> None:
        if not isinstance(data, Mapping):
            raise ProfileError(source, section, "", f"expected a table, got {type(data).__name__}")
        self.data = data
        self.source = source
        self.section = section
        self._read: set[str] = set()

    def error(self, key: str, problem: str) -> ProfileError:
        return ProfileError(self.source, self.section, key, problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self.data.get(key, default)

    def number(self, key: str, default: float, lo: float | None = None, hi: float | None = None) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"{'' if lo is None else lo} .. {'' if hi is None else hi}"
            raise self.error(key, f"{value} is out of range ({bounds})")
        return float(value)

    def prob(self, key: str, default: float) -> float:
        return self.number(key, default, 0.0, 1.0)

    def integer(self, key: str, default: int, lo: int | None = None, hi: int | None = None) -> int:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(key, f"{value} is out of range")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def text(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.raw(key, default)
        if value is None:
            raise self.error(key, "missing required key")
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        if choices and value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def decimal(self, key: str, default: Decimal | None = None, positive: bool = True) -> Decimal:
        value = self.raw(key, default)
        if value is None:
            raise self.error(key, "missing required key")
        dec = to_decimal(value)
        if dec is None or (positive and dec <= 0):
            raise self.error(key, f"expected a positive number, got {value!r}")
        return dec

    def table(self, key: str) -> Table:
        value = self.raw(key, {})
        return Table(value, self.source, f"{self.section}.{key}" if self.section else key)

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self._read]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, sorted(self._read), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"unknown key{hint}")


def to_decimal(value: object) -> Decimal | None:
    """A TOML number or numeric string as a Decimal (floats through their shortest repr)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            return value if value.is_finite() else None
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, str):
            dec = Decimal(value.strip())
            return dec if dec.is_finite() else None
    except InvalidOperation:
        return None
    return None


def parse_instruments(items: object, source: str) -> tuple[InstrumentSpec, ...]:
    """The [[instrument]] tables: Symbol, TickSize, LotSize, Mid, VolatilityBps."""
    if items is None:
        raise ProfileError(source, "[[instrument]]", "", "at least one instrument is needed")
    if not isinstance(items, list):
        raise ProfileError(source, "instrument", "", "expected an array of tables [[instrument]]")
    specs: list[InstrumentSpec] = []
    seen: set[str] = set()
    for i, item in enumerate(items, 1):
        t = Table(item, source, f"[[instrument]] #{i}")
        symbol = t.text("Symbol")
        if symbol in seen:
            raise t.error("Symbol", f"{symbol!r} is defined twice")
        seen.add(symbol)
        t.section = f"[[instrument]] ({symbol})"
        try:
            instrument = Instrument(
                symbol,
                t.decimal("TickSize", Decimal("0.01")),
                t.decimal("LotSize", Decimal("1")),
                t.decimal("MinQty", Decimal("1")),
                t.decimal("MaxQty", Decimal("100000000")),
                t.decimal("TypicalSize", Decimal("10000")),
            )
        except ValueError as exc:
            raise t.error("TickSize", str(exc)) from None
        mid = t.decimal("Mid", Decimal("100"))
        vol = t.number("VolatilityBps", 10.0, 0.0)
        t.done()
        specs.append(InstrumentSpec(instrument, mid, vol))
    return tuple(specs)


def session_settings(
    keys: Mapping[str, Any], source: str, section: str, *, port: int | None = None
) -> SessionSettings:
    """SessionSettings from QuickFIX keys; port 0 asks the OS for a free port (acceptors)."""
    d = dict(keys)
    ephemeral = port == 0
    if port is not None:
        if d.get("ConnectionType") == "acceptor":
            d["SocketAcceptPort"] = 1 if ephemeral else port
        else:
            d["SocketConnectPort"] = port
    try:
        settings = session_from_dict(d, source)
    except ConfigError as exc:
        raise ProfileError(source, section, "", f"session: {exc.problem} ({exc.key})") from None
    if ephemeral and settings.connection_type == "acceptor":
        # the settings checker asks for 1..65535; 0 is our own "any free port" for tests
        settings = dataclasses.replace(settings, socket_accept_port=0)
    return settings
