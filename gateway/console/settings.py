"""The [console] table of the gateway's TOML: admin token, read policy, audit log, history.

Errors name the file, the table, the key and what is allowed, like every settings error of
the gateway. Nothing here touches the network or the clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TOKEN_ENV = "FIXGW_ADMIN_TOKEN"

#: ReadsNeedToken: "remote" (loopback reads are free, others need the token), or always/never.
READS_REMOTE = "remote"


class ConsoleConfigError(ValueError):
    """A bad [console] setting (file, key, allowed)."""


@dataclass(frozen=True)
class ConsoleSettings:
    token_env: str = DEFAULT_TOKEN_ENV
    reads_need_token: bool | str = READS_REMOTE  # True, False or "remote"
    metrics_need_token: bool = False
    audit_log: str = "audit.jsonl"  # relative paths are under the state dir
    history_interval_s: float = 5.0
    history_size: int = 2160  # three hours at 5 s
    chart_js: str | None = None  # the chart library's UMD build; None: the npm-installed one


_KEYS = (
    "TokenEnv",
    "ReadsNeedToken",
    "MetricsNeedToken",
    "AuditLog",
    "HistoryInterval",
    "HistorySize",
    "ChartJs",
)


def parse_console_settings(d: Mapping[str, Any], source: str, state_dir: str) -> ConsoleSettings:
    """Validate [console]; paths come back absolute (relative ones under ``state_dir``)."""

    def bad(key: str, value: object, allowed: str) -> ConsoleConfigError:
        return ConsoleConfigError(f"{source}: [console] {key}: {value!r}; allowed: {allowed}")

    if not isinstance(d, Mapping):
        raise ConsoleConfigError(f"{source}: [console] must be a table")
    for key in d:
        if key not in _KEYS:
            raise ConsoleConfigError(f"{source}: [console] {key}: unknown key; allowed: {', '.join(_KEYS)}")
    token_env = d.get("TokenEnv", DEFAULT_TOKEN_ENV)
    if not isinstance(token_env, str) or not token_env or not token_env.replace("_", "").isalnum():
        raise bad("TokenEnv", token_env, "the name of an environment variable, e.g. FIXGW_ADMIN_TOKEN")
    reads = d.get("ReadsNeedToken", READS_REMOTE)
    if not (isinstance(reads, bool) or reads == READS_REMOTE):
        raise bad(
            "ReadsNeedToken",
            reads,
            'true (every read needs the token), false (none does) or "remote" (only reads from '
            "other hosts than loopback: the default)",
        )
    metrics = d.get("MetricsNeedToken", False)
    if not isinstance(metrics, bool):
        raise bad("MetricsNeedToken", metrics, "true or false")
    audit = d.get("AuditLog", "audit.jsonl")
    if not isinstance(audit, str) or not audit:
        raise bad("AuditLog", audit, "a file path (relative paths are under [gateway] StateDir)")
    interval = d.get("HistoryInterval", 5.0)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not math.isfinite(interval)
        or not 0.1 <= interval <= 3600
    ):
        raise bad("HistoryInterval", interval, "seconds between scorecard snapshots, 0.1 to 3600")
    size = d.get("HistorySize", 2160)
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= 100_000:
        raise bad("HistorySize", size, "snapshots kept in memory, 2 to 100000")
    chart = d.get("ChartJs")
    if chart is not None and (not isinstance(chart, str) or not chart):
        raise bad("ChartJs", chart, "the path of chart.js's chart.umd.js")
    return ConsoleSettings(
        token_env=token_env,
        reads_need_token=reads,
        metrics_need_token=metrics,
        audit_log=str(Path(state_dir) / audit),
        history_interval_s=float(interval),
        history_size=size,
        chart_js=chart,
    )
