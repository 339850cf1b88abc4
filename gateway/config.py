"""Gateway settings: a TOML file turned into typed, validated, frozen dataclasses.

Why: a wrong setting must stop the gateway at start with one line that names the file, the
section, the key and what is allowed, instead of surfacing later as an odd session error.
Session keys keep the names QuickFIX users know (HeartBtInt, SocketAcceptPort, ...), and,
like QuickFIX, a [default] table applies to every [[session]] unless the session overrides.

Only [gateway], [default] and [[session]] are validated here; any other top-level table
([router], [risk], [[lp]], ...) is handed over untouched in `GatewaySettings.extra` for the
module that owns it.

This module must never open sockets, start tasks or read a secret: `PasswordEnv` names an
environment variable, and `SessionSettings.password()` reads it only when asked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ConfigError",
    "GatewaySettings",
    "SessionSettings",
    "load_config",
    "parse_config",
    "session_from_dict",
]


class ConfigError(Exception):
    """A setting that cannot be used; the message is one line naming file, section and key."""

    def __init__(
        self,
        source: str,
        section: str,
        key: str,
        problem: str,
        allowed: str | None = None,
    ) -> None:
        self.source = source
        self.section = section
        self.key = key
        self.problem = problem
        self.allowed = allowed
        where = " ".join(part for part in (section, key) if part)
        text = f"{source}: {where}: {problem}" if where else f"{source}: {problem}"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(" ".join(text.split("\n")))


# --------------------------------------------------------------------------- value checkers
# Each checker turns one TOML value into the attribute value or says what is wrong and what
# would be right. `allowed` is the text shown after "allowed:" in every error about the key.


class _Invalid(Exception):
    """Raised by a checker; the caller adds file, section and key."""

    def __init__(self, problem: str, allowed: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.allowed = allowed


_TOML_TYPE_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    dict: "table",
    list: "array",
    dt.datetime: "date-time",
    dt.date: "date",
    dt.time: "time",
}


def _describe(value: object) -> str:
    name = _TOML_TYPE_NAMES.get(type(value), type(value).__name__)
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{name} {shown}"


class _Check:
    allowed: str = ""

    def parse(self, value: object, base_dir: Path) -> Any:
        raise NotImplementedError


class _Str(_Check):
    def __init__(self, pattern: str | None = None, allowed: str = "a non-empty string") -> None:
        self.pattern = re.compile(pattern) if pattern else None
        self.allowed = allowed

    def parse(self, value: object, base_dir: Path) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"expected a string, got {_describe(value)}")
        if not value.strip():
            raise _Invalid("empty string")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise _Invalid("contains control characters")
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise _Invalid(f"invalid value {value!r}")
        return value


class _Int(_Check):
    def __init__(self, lo: int | None = None, hi: int | None = None, unit: str = "") -> None:
        self.lo, self.hi = lo, hi
        suffix = f" ({unit})" if unit else ""
        if lo is not None and hi is not None:
            self.allowed = f"an integer from {lo} to {hi}{suffix}"
        elif lo is not None:
            self.allowed = f"an integer >= {lo}{suffix}"
        else:
            self.allowed = f"an integer{suffix}"

    def parse(self, value: object, base_dir: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected an integer, got {_describe(value)}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise _Invalid(f"{value} is out of range")
        return value


class _IntChoice(_Check):
    def __init__(self, *choices: int) -> None:
        self.choices = choices
        self.allowed = ", ".join(str(c) for c in choices)

    def parse(self, value: object, base_dir: Path) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected an integer, got {_describe(value)}")
        if value not in self.choices:
            raise _Invalid(f"{value} is not one of the allowed values")
        return value


class _TagList(_Check):
    allowed = "an array of FIX tag numbers (integers from 1 to 99999)"

    def parse(self, value: object, base_dir: Path) -> frozenset[int]:
        if not isinstance(value, list):
            raise _Invalid(f"expected an array, got {_describe(value)}")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 99999:
                raise _Invalid(f"{item!r} is not a tag number")
        return frozenset(value)


class _Bool(_Check):
    allowed = 'true or false (TOML booleans, not strings like "Y"/"N")'

    def parse(self, value: object, base_dir: Path) -> bool:
        if not isinstance(value, bool):
            raise _Invalid(f"expected a boolean, got {_describe(value)}")
        return value


class _Choice(_Check):
    """One of a few strings; `reserved` values are recognised but refused with a reason."""

    def __init__(
        self,
        *choices: str,
        ignore_case: bool = True,
        reserved: Mapping[str, str] | None = None,
    ) -> None:
        self.choices = choices
        self.ignore_case = ignore_case
        self.reserved = dict(reserved or {})
        self.allowed = " | ".join(f'"{c}"' for c in choices)

    def parse(self, value: object, base_dir: Path) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"expected a string, got {_describe(value)}")
        for choice in self.choices:
            if value == choice or (self.ignore_case and value.lower() == choice.lower()):
                return choice
        if value in self.reserved:
            raise _Invalid(f"{value!r} {self.reserved[value]}")
        raise _Invalid(f"invalid value {value!r}")


_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})")


class _Time(_Check):
    allowed = '"HH:MM:SS" (24-hour clock), e.g. "08:00:00"'

    def parse(self, value: object, base_dir: Path) -> dt.time:
        if isinstance(value, dt.time):  # a bare TOML local time: StartTime = 08:00:00
            return value.replace(microsecond=0)
        if not isinstance(value, str):
            raise _Invalid(f"expected a time string, got {_describe(value)}")
        match = _TIME_RE.fullmatch(value)
        if match is None:
            raise _Invalid(f"invalid time {value!r}")
        hour, minute, second = (int(g) for g in match.groups())
        if hour > 23 or minute > 59 or second > 59:
            raise _Invalid(f"invalid time {value!r}")
        return dt.time(hour, minute, second)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _Weekday(_Check):
    """A day name → 0 (Monday) .. 6 (Sunday), the numbering of `datetime.date.weekday()`."""

    allowed = "Mon, Tue, Wed, Thu, Fri, Sat, Sun (or full names; any case)"

    def parse(self, value: object, base_dir: Path) -> int:
        if not isinstance(value, str):
            raise _Invalid(f"expected a day name, got {_describe(value)}")
        name = value.strip().lower()
        for number, day in enumerate(_WEEKDAYS):
            if name in (day, day[:3]):
                return number
        raise _Invalid(f"invalid day {value!r}")


class _TimeZone(_Check):
    allowed = 'an IANA time zone name, e.g. "UTC", "Europe/London", "America/New_York"'

    def parse(self, value: object, base_dir: Path) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"expected a string, got {_describe(value)}")
        _zone(value)
        return value


def _zone(name: str) -> dt.tzinfo:
    if name == "UTC":  # works even where no tz database is installed
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise _Invalid(f"unknown time zone {name!r}") from exc


class _PathValue(_Check):
    """A path, relative to the config file's folder; the result is absolute."""

    def __init__(self, must_exist: bool = False) -> None:
        self.must_exist = must_exist
        self.allowed = (
            "the path of an existing file (relative to the config file's folder)"
            if must_exist
            else "a path (relative to the config file's folder)"
        )

    def parse(self, value: object, base_dir: Path) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"expected a path string, got {_describe(value)}")
        if not value.strip():
            raise _Invalid("empty path")
        path = (base_dir / Path(value).expanduser()).resolve()
        if self.must_exist and not path.is_file():
            raise _Invalid(f"file not found: {value!r} (resolved to {path})")
        return str(path)


# FIX CompIDs and friends travel in the header: printable ASCII, no spaces, no SOH.
_FIX_ID = _Str(r"[\x21-\x7e]+", 'printable ASCII without spaces, e.g. "GW"')
_ENV_NAME = _Str(
    r"[A-Za-z_][A-Za-z0-9_]*", 'the NAME of an environment variable, e.g. "LP_A_PASSWORD"'
)
_PORT = _Int(1, 65535)
_REQUIRED = object()  # sentinel in field metadata: no default, must be given


def _key(
    toml_key: str,
    check: _Check,
    default: Any = _REQUIRED,
    *,
    required_for: str | None = None,
) -> Any:
    """A dataclass field that knows its TOML key and checker: the one table of settings.

    `required_for` names the ConnectionType for which the key must be given.
    """
    metadata = {"key": toml_key, "check": check, "required_for": required_for}
    if default is _REQUIRED:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def _derived() -> Any:
    """A field filled by the loader from other settings (no TOML key of its own)."""
    return field(metadata={"key": None})


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, kw_only=True)
class SessionSettings:
    """One FIX session. Times are in seconds unless the name says otherwise."""

    # identity
    name: str = _key("Name", _Str())  # default "Sender->Target" (":Qualifier" if set)
    connection_type: Literal["acceptor", "initiator"] = _key(
        "ConnectionType", _Choice("acceptor", "initiator")
    )
    # who the counterparty is: an order management system or a liquidity provider
    # (default: acceptors serve OMSs, initiators connect to LPs)
    role: str | None = _key("Role", _Choice("oms", "lp"), None)
    begin_string: str = _key(
        "BeginString",
        _Choice(
            "FIX.4.2",
            "FIX.4.4",
            ignore_case=False,
            reserved={"FIXT.1.1": "is not supported yet"},
        ),
    )
    sender_comp_id: str = _key("SenderCompID", _FIX_ID)
    target_comp_id: str = _key("TargetCompID", _FIX_ID)
    sender_sub_id: str | None = _key("SenderSubID", _FIX_ID, None)
    target_sub_id: str | None = _key("TargetSubID", _FIX_ID, None)
    session_qualifier: str | None = _key("SessionQualifier", _FIX_ID, None)

    # sockets; for an acceptor HeartBtInt is the interval we accept from the counterparty
    heart_bt_int: int = _key("HeartBtInt", _Int(1, 3600, "seconds"), 30)
    socket_accept_host: str = _key("SocketAcceptHost", _Str(), "127.0.0.1")
    socket_accept_port: int | None = _key("SocketAcceptPort", _PORT, None, required_for="acceptor")
    socket_connect_host: str = _key("SocketConnectHost", _Str(), "127.0.0.1")
    socket_connect_port: int | None = _key(
        "SocketConnectPort", _PORT, None, required_for="initiator"
    )
    reconnect_interval: int = _key("ReconnectInterval", _Int(1, 86400, "seconds"), 5)
    reconnect_max_interval: int = _key("ReconnectMaxInterval", _Int(1, 86400, "seconds"), 60)

    # schedule: no StartTime/EndTime = non-stop; StartDay/EndDay make it weekly
    # _key() returns dataclasses.field(); ruff only recognises field() by name
    start_time: dt.time | None = _key("StartTime", _Time(), None)  # noqa: RUF009
    end_time: dt.time | None = _key("EndTime", _Time(), None)  # noqa: RUF009
    start_day: int | None = _key("StartDay", _Weekday(), None)  # 0 = Monday
    end_day: int | None = _key("EndDay", _Weekday(), None)
    time_zone: str = _key("TimeZone", _TimeZone(), "UTC")

    # sequence number resets
    reset_on_logon: bool = _key("ResetOnLogon", _Bool(), False)
    reset_on_logout: bool = _key("ResetOnLogout", _Bool(), False)
    reset_on_disconnect: bool = _key("ResetOnDisconnect", _Bool(), False)
    refresh_on_logon: bool = _key("RefreshOnLogon", _Bool(), False)

    # store and log (paths default under [gateway] StateDir)
    persist_messages: bool = _key("PersistMessages", _Bool(), True)
    file_store_path: str = _key("FileStorePath", _PathValue())  # default "{StateDir}/store"
    file_store_sync: Literal["always", "never", "interval"] = _key(
        "FileStoreSync", _Choice("always", "never", "interval"), "interval"
    )
    file_store_sync_interval_ms: int = _key(
        "FileStoreSyncIntervalMs", _Int(1, 60000, "milliseconds"), 50
    )
    use_memory_store: bool = _key("UseMemoryStore", _Bool(), False)
    file_log_path: str = _key("FileLogPath", _PathValue())  # default "{StateDir}/log"
    log_messages: bool = _key("LogMessages", _Bool(), True)

    # validation
    data_dictionary: str | None = _key("DataDictionary", _PathValue(must_exist=True), None)
    use_data_dictionary: bool = _key("UseDataDictionary", _Bool(), True)
    validate_fields_out_of_order: bool = _key("ValidateFieldsOutOfOrder", _Bool(), True)
    validate_fields_have_values: bool = _key("ValidateFieldsHaveValues", _Bool(), True)
    validate_user_defined_fields: bool = _key("ValidateUserDefinedFields", _Bool(), True)
    validate_unordered_group_fields: bool = _key("ValidateUnorderedGroupFields", _Bool(), True)
    allow_unknown_msg_fields: bool = _key("AllowUnknownMsgFields", _Bool(), False)
    # tags a counterparty may send on any message (LPs' custom tags), always accepted
    user_defined_fields: frozenset[int] = _key("UserDefinedFields", _TagList(), frozenset())
    validate_incoming_message: bool = _key("ValidateIncomingMessage", _Bool(), True)
    check_comp_id: bool = _key("CheckCompID", _Bool(), True)
    check_latency: bool = _key("CheckLatency", _Bool(), True)
    max_latency: int = _key("MaxLatency", _Int(1, None, "seconds"), 120)

    # session protocol
    logon_timeout: int = _key("LogonTimeout", _Int(1, 3600, "seconds"), 10)
    logout_timeout: int = _key("LogoutTimeout", _Int(1, 3600, "seconds"), 2)
    resend_request_chunk_size: int = _key(
        "ResendRequestChunkSize", _Int(0, None, "0 = unlimited"), 0
    )
    send_redundant_resend_requests: bool = _key("SendRedundantResendRequests", _Bool(), False)
    enable_next_expected_msg_seq_num: bool = _key("EnableNextExpectedMsgSeqNum", _Bool(), False)
    timestamp_precision: int = _key("TimestampPrecision", _IntChoice(0, 3, 6, 9), 3)
    max_message_size: int = _key("MaxMessageSize", _Int(256, 64 * 1024 * 1024, "bytes"), 1048576)

    # authentication: the password itself never appears in the file
    username: str | None = _key("Username", _Str(), None)
    password_env: str | None = _key("PasswordEnv", _ENV_NAME, None)

    # TLS
    socket_use_ssl: bool = _key("SocketUseSSL", _Bool(), False)
    ssl_certificate: str | None = _key("SSLCertificate", _PathValue(), None)
    ssl_private_key: str | None = _key("SSLPrivateKey", _PathValue(), None)
    ssl_ca_certificate: str | None = _key("SSLCACertificate", _PathValue(), None)
    ssl_check_hostname: bool = _key("SSLCheckHostname", _Bool(), True)

    @property
    def counterparty_role(self) -> str:
        """The counterparty: "oms" or "lp" (Role, else derived from ConnectionType)."""
        if self.role:
            return self.role
        return "oms" if self.connection_type == "acceptor" else "lp"

    @property
    def session_id(self) -> str:
        """QuickFIX-style identity, e.g. "FIX.4.4:GW->OMS1" (":Qualifier" appended if set)."""
        sid = f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"
        return f"{sid}:{self.session_qualifier}" if self.session_qualifier else sid

    @property
    def is_acceptor(self) -> bool:
        return self.connection_type == "acceptor"

    @property
    def is_initiator(self) -> bool:
        return self.connection_type == "initiator"

    @property
    def is_non_stop(self) -> bool:
        return self.start_time is None

    @property
    def tzinfo(self) -> dt.tzinfo:
        return _zone(self.time_zone)

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The logon password from the variable named by PasswordEnv; read only when asked."""
        if self.password_env is None:
            return None
        env = os.environ if environ is None else environ
        value = env.get(self.password_env)
        if value is None:
            raise ConfigError(
                "<environment>",
                f"[[session]] ({self.name})",
                "PasswordEnv",
                f"environment variable {self.password_env} is not set",
                "set it before starting the gateway",
            )
        return value


@dataclass(frozen=True, kw_only=True)
class GatewaySettings:
    """The whole file: process-wide settings, the sessions, and tables owned elsewhere."""

    state_dir: str = _key("StateDir", _PathValue(), "state")  # absolute after loading
    http_port: int | None = _key("HttpPort", _PORT, None)
    http_host: str = _key("HttpHost", _Str(), "127.0.0.1")
    sessions: tuple[SessionSettings, ...] = _derived()
    extra: dict[str, Any] = field(default_factory=dict, metadata={"key": None})
    source: str = field(default="<dict>", metadata={"key": None})

    def session(self, name_or_id: str) -> SessionSettings:
        """The session with this Name or session_id; KeyError if there is none."""
        for s in self.sessions:
            if name_or_id in (s.name, s.session_id):
                return s
        raise KeyError(name_or_id)

    def summary(self) -> str:
        """A few human lines for `fixgw check-config`."""
        lines = [f"{self.source}: OK", f"  state dir: {self.state_dir}"]
        if self.http_port is not None:
            lines.append(f"  http: {self.http_host}:{self.http_port}")
        for s in self.sessions:
            if s.is_acceptor:
                where = f"accept on {s.socket_accept_host}:{s.socket_accept_port}"
            else:
                where = f"connect to {s.socket_connect_host}:{s.socket_connect_port}"
            if s.start_time is None:
                when = "non-stop"
            else:
                when = f"{s.start_time}-{s.end_time} {s.time_zone}"
                if s.start_day is not None and s.end_day is not None:
                    days = f"{_WEEKDAYS[s.start_day][:3]}-{_WEEKDAYS[s.end_day][:3]}"
                    when = f"{days} {when}"
            lines.append(f"  session {s.name}: {s.session_id} {s.connection_type}, {where}, {when}")
        if self.extra:
            lines.append(f"  other tables: {', '.join(sorted(self.extra))}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- key tables


@dataclass(frozen=True)
class _Spec:
    attr: str
    key: str
    check: _Check
    default: Any  # _REQUIRED when the key must be given
    required_for: str | None


def _specs(cls: type) -> dict[str, _Spec]:
    specs: dict[str, _Spec] = {}
    for f in dataclasses.fields(cls):
        key = f.metadata.get("key")
        if key is None:
            continue
        has_default = f.default is not dataclasses.MISSING
        specs[key] = _Spec(
            attr=f.name,
            key=key,
            check=f.metadata["check"],
            default=f.default if has_default else _REQUIRED,
            required_for=f.metadata.get("required_for"),
        )
    return specs


SESSION_KEYS: dict[str, _Spec] = _specs(SessionSettings)
GATEWAY_KEYS: dict[str, _Spec] = _specs(GatewaySettings)

# Keys always required; the rest of the required ones depend on ConnectionType.
_ALWAYS_REQUIRED = ("ConnectionType", "BeginString", "SenderCompID", "TargetCompID")
_KNOWN_TABLES = ("gateway", "default", "session")
_SECRET_KEYS = {"password": "PasswordEnv"}


class _Context:
    """Where we are in the file, so that every error can say it."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    def error(
        self, section: str, key: str, problem: str, allowed: str | None = None
    ) -> ConfigError:
        return ConfigError(self.source, section, key, problem, allowed)


def _unknown_key(
    ctx: _Context, section: str, key: str, known: Mapping[str, _Spec], elsewhere: str | None
) -> ConfigError:
    if key.lower() in _SECRET_KEYS:
        env_key = _SECRET_KEYS[key.lower()]
        return ctx.error(
            section,
            key,
            f"secrets must not be written in the config file; use {env_key} = "
            '"NAME_OF_ENV_VAR" and put the password in that environment variable',
            f"{env_key} (the name of an environment variable)",
        )
    names = sorted(known)
    by_lower = {n.lower(): n for n in names}
    match = by_lower.get(key.lower())
    suggestions = [match] if match else difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    problem = "unknown key"
    if suggestions:
        problem += f"; did you mean {suggestions[0]!r}?"
    elif elsewhere:
        problem += f"; {elsewhere}"
    return ctx.error(section, key, problem, ", ".join(names))


def _parse_table(
    ctx: _Context,
    section: str,
    table: Mapping[str, Any],
    known: Mapping[str, _Spec],
    elsewhere: Callable[[str], str | None],
) -> dict[str, Any]:
    """Check each key of one table; returns {TOML key: parsed value} for the keys present."""
    parsed: dict[str, Any] = {}
    for key, value in table.items():
        spec = known.get(key)
        if spec is None:
            raise _unknown_key(ctx, section, key, known, elsewhere(key))
        try:
            parsed[key] = spec.check.parse(value, ctx.base_dir)
        except _Invalid as exc:
            raise ctx.error(section, key, exc.problem, exc.allowed or spec.check.allowed) from None
    return parsed


def _session_key_elsewhere(key: str) -> str | None:
    if key in GATEWAY_KEYS:
        return "it is a process-wide key: put it in [gateway]"
    return None


def _gateway_key_elsewhere(key: str) -> str | None:
    if key in SESSION_KEYS:
        return "it is a session key: put it in [default] or in a [[session]]"
    return None


def _as_table(ctx: _Context, section: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ctx.error(
            section, "", f"expected a table, got {_describe(value)}", "a table of key = value"
        )
    return value


def _session_label(index: int, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> str:
    merged = {**defaults, **raw}
    name = merged.get("Name")
    if not isinstance(name, str) or not name:
        sender, target = merged.get("SenderCompID"), merged.get("TargetCompID")
        name = f"{sender}->{target}" if isinstance(sender, str) and isinstance(target, str) else ""
        if name and isinstance(merged.get("SessionQualifier"), str):
            name += f":{merged['SessionQualifier']}"
    return f"[[session]] #{index} ({name})" if name else f"[[session]] #{index}"


def _build_session(
    ctx: _Context,
    section: str,
    values: Mapping[str, Any],
    state_dir: str,
) -> SessionSettings:
    """Apply defaults, required keys and cross-field rules to merged {TOML key: value}."""

    def fail(key: str, problem: str, allowed: str | None = None) -> ConfigError:
        return ctx.error(section, key, problem, allowed or SESSION_KEYS[key].check.allowed)

    for key in _ALWAYS_REQUIRED:
        if key not in values:
            raise fail(key, "missing required key")

    v = dict(values)
    connection_type = v["ConnectionType"]
    for spec in SESSION_KEYS.values():
        if spec.required_for == connection_type and spec.key not in v:
            raise fail(spec.key, f'missing: required when ConnectionType = "{connection_type}"')

    qualifier = f":{v['SessionQualifier']}" if "SessionQualifier" in v else ""
    v.setdefault("Name", f"{v['SenderCompID']}->{v['TargetCompID']}{qualifier}")
    v.setdefault("FileStorePath", str(Path(state_dir) / "store"))
    v.setdefault("FileLogPath", str(Path(state_dir) / "log"))

    if "ReconnectMaxInterval" in v or "ReconnectInterval" in v:
        low = v.get("ReconnectInterval", SESSION_KEYS["ReconnectInterval"].default)
        cap = v.get("ReconnectMaxInterval", SESSION_KEYS["ReconnectMaxInterval"].default)
        if cap < low:
            raise fail(
                "ReconnectMaxInterval",
                f"{cap} is less than ReconnectInterval = {low}",
                f"an integer from ReconnectInterval ({low}) to 86400 (seconds)",
            )

    for first, second in (("StartTime", "EndTime"), ("StartDay", "EndDay")):
        if (first in v) != (second in v):
            given, missing = (first, second) if first in v else (second, first)
            raise fail(
                missing,
                f"{given} is set but {missing} is not",
                f"both {first} and {second}, or neither (non-stop)",
            )
    if "StartDay" in v and "StartTime" not in v:
        raise fail(
            "StartTime",
            "StartDay/EndDay need StartTime and EndTime",
            "both StartTime and EndTime with StartDay/EndDay",
        )

    if v.get("SocketUseSSL", False):
        for key in ("SSLCertificate", "SSLPrivateKey", "SSLCACertificate"):
            path = v.get(key)
            if path is not None and not Path(path).is_file():
                raise fail(key, f"file not found: {path}", "the path of an existing file")
        if connection_type == "acceptor":
            for key in ("SSLCertificate", "SSLPrivateKey"):
                if key not in v:
                    raise fail(
                        key,
                        "missing: an acceptor with SocketUseSSL = true needs a certificate and key",
                        "the path of an existing PEM file (relative to the config file's folder)",
                    )
        elif ("SSLCertificate" in v) != ("SSLPrivateKey" in v):
            missing = "SSLPrivateKey" if "SSLCertificate" in v else "SSLCertificate"
            raise fail(
                missing,
                "a client certificate needs both SSLCertificate and SSLPrivateKey",
                "both keys, or neither",
            )

    kwargs: dict[str, Any] = {}
    for key, spec in SESSION_KEYS.items():
        if key in v:
            kwargs[spec.attr] = v[key]
        elif spec.default is not _REQUIRED:
            kwargs[spec.attr] = spec.default
    return SessionSettings(**kwargs)


def _check_top_level(ctx: _Context, data: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse misspelt known tables and stray keys; return the tables owned elsewhere."""
    extra: dict[str, Any] = {}
    for name, value in data.items():
        if name in _KNOWN_TABLES:
            continue
        if not isinstance(value, dict | list):
            home = (
                "[gateway]"
                if name in GATEWAY_KEYS
                else "[default] or a [[session]]"
                if name in SESSION_KEYS
                else None
            )
            problem = "key outside any table"
            if home:
                problem += f"; it belongs in {home}"
            raise ctx.error(
                "(top level)",
                name,
                problem,
                "tables only at top level: [gateway], [default], [[session]] and "
                "tables owned by other parts of the gateway ([router], [risk], [[lp]], ...)",
            )
        close = difflib.get_close_matches(name.lower(), _KNOWN_TABLES, n=1, cutoff=0.75)
        if close:
            shape = "[[session]]" if close[0] == "session" else f"[{close[0]}]"
            raise ctx.error(
                f"[{name}]",
                "",
                f"unknown table; did you mean {shape}?",
                "[gateway], [default], [[session]]",
            )
        extra[name] = value
    return extra


def parse_config(data: Mapping[str, Any], source: str, base_dir: Path) -> GatewaySettings:
    """Validate an already-parsed TOML document; relative paths are taken from `base_dir`."""
    ctx = _Context(source, Path(base_dir).resolve())
    extra = _check_top_level(ctx, data)

    gw_table = _as_table(ctx, "[gateway]", data.get("gateway", {}))
    gw = _parse_table(ctx, "[gateway]", gw_table, GATEWAY_KEYS, _gateway_key_elsewhere)
    state_dir = gw.get("StateDir") or str(ctx.base_dir / GATEWAY_KEYS["StateDir"].default)

    default_table = _as_table(ctx, "[default]", data.get("default", {}))
    if "Name" in default_table:
        raise ctx.error(
            "[default]",
            "Name",
            "Name labels one session and cannot be a default",
            "Name inside each [[session]]",
        )
    defaults = _parse_table(ctx, "[default]", default_table, SESSION_KEYS, _session_key_elsewhere)

    raw_sessions = data.get("session", [])
    if not isinstance(raw_sessions, list) or not all(isinstance(s, dict) for s in raw_sessions):
        raise ctx.error(
            "[session]",
            "",
            "sessions must be an array of tables",
            "one [[session]] header (double brackets) per session",
        )
    if not raw_sessions:
        raise ctx.error("[[session]]", "", "no sessions defined", "one or more [[session]] tables")

    sessions: list[SessionSettings] = []
    seen_ids: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for index, raw in enumerate(raw_sessions, start=1):
        section = _session_label(index, raw, default_table)
        own = _parse_table(ctx, section, raw, SESSION_KEYS, _session_key_elsewhere)
        session = _build_session(ctx, section, {**defaults, **own}, state_dir)
        if session.session_id in seen_ids:
            raise ctx.error(
                section,
                "TargetCompID",
                f"duplicate session {session.session_id} (also {seen_ids[session.session_id]})",
                "sessions unique by BeginString, SenderCompID, TargetCompID and SessionQualifier",
            )
        if session.name in seen_names:
            raise ctx.error(
                section,
                "Name",
                f"duplicate Name {session.name!r} (also {seen_names[session.name]})",
                "a Name used by one session only (set Name when two sessions share CompIDs)",
            )
        seen_ids[session.session_id] = section
        seen_names[session.name] = section
        sessions.append(session)

    return GatewaySettings(
        state_dir=state_dir,
        http_port=gw.get("HttpPort"),
        http_host=gw.get("HttpHost", GATEWAY_KEYS["HttpHost"].default),
        sessions=tuple(sessions),
        extra=extra,
        source=source,
    )


def load_config(path: str | Path, *, state_dir: str | None = None) -> GatewaySettings:
    """Read and validate a TOML settings file; raises ConfigError naming file and key.

    ``state_dir`` overrides [gateway] StateDir (and so the stores and logs under it).
    """
    source = str(path)
    file_path = Path(path)
    try:
        text = file_path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, "", "", f"cannot read the file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(source, "", "", "not UTF-8 text", "a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            source, "", "", f"not valid TOML: {exc}", "TOML syntax (https://toml.io)"
        ) from None
    if state_dir is not None:
        data.setdefault("gateway", {})["StateDir"] = str(Path(state_dir).resolve())
    return parse_config(data, source, file_path.resolve().parent)


def session_from_dict(
    d: Mapping[str, Any],
    source: str = "<dict>",
    base_dir: Path | None = None,
    *,
    state_dir: str | Path = "state",
) -> SessionSettings:
    """One session from a dict of TOML keys, with the built-in defaults (handy in tests)."""
    ctx = _Context(source, (base_dir or Path.cwd()).resolve())
    section = _session_label(1, d, {})
    own = _parse_table(ctx, section, d, SESSION_KEYS, _session_key_elsewhere)
    return _build_session(ctx, section, own, str(ctx.base_dir / state_dir))
