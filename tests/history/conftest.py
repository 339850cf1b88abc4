"""A seeded simulator day for the history tests: a gateway with its journal, three distinct
simulated LPs, and the OMS simulator's flow; generated once per test session."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.journal import day_of, journal_files, read_records
from simulators.oms import run_oms
from tests.integration.gwkit import Harness

LPS = ("LP_FAST", "LP_PRICE", "LP_SLOW")


def lp_profile() -> dict[str, Any]:
    """LP_FAST answers at once; LP_PRICE improves prices; LP_SLOW is slow and rejects a lot."""
    return {
        "seed": 11,
        "step_ms": 20,
        "status_interval_s": 0,
        "instrument": [
            {"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1", "Mid": "100.00", "VolatilityBps": 5}
        ],
        "defaults": {"symbols": ["ACME"], "spread_bps": 2.0, "quote_size": 100000},
        "lp": [
            {
                "name": "LP_FAST",
                "port": 0,
                "ack_latency": 0,
                "fill_latency": 0,
                "partial_fill_probability": 0.3,
            },
            {
                "name": "LP_PRICE",
                "port": 0,
                "ack_latency": {"median_ms": 8.0, "sigma": 0.2},
                "fill_latency": {"median_ms": 12.0, "sigma": 0.2},
                "price_improvement_probability": 0.9,
                "price_improvement_ticks": 2,
                "partial_fill_probability": 0.3,
            },
            {
                "name": "LP_SLOW",
                "port": 0,
                "ack_latency": {"median_ms": 25.0, "sigma": 0.2},
                "fill_latency": {"median_ms": 40.0, "sigma": 0.2},
                "reject_rate": 0.4,
            },
        ],
    }


def oms_profile(port: int) -> dict[str, Any]:
    return {
        "seed": 3,
        "orders": 300,
        "rate": 150,
        "max_in_flight": 20,
        "limit_offset_min_bps": 5.0,
        "limit_offset_max_bps": 20.0,
        "session": {"SocketConnectPort": port, "SenderCompID": "OMS1", "TargetCompID": "FIXGW"},
        "symbol": [
            {"Symbol": "ACME", "TickSize": "0.01", "Price": "100.00", "MinQty": "100", "MaxQty": "3000"}
        ],
    }


@dataclass
class Day:
    state: Path
    day: str
    report: Any  # the OMS simulator's report

    def records(self, kind: str) -> list[dict[str, Any]]:
        return list(read_records(self.state / "journal", kinds=frozenset({kind})))


async def _generate(tmp: Path) -> Day:
    async with Harness(
        tmp,
        manual=(),
        sim=lp_profile(),
        scripted_oms=False,
        router={"Kind": "scorecard", "Priority": list(LPS)},
        # no shrinkage (a few hundred orders: the figures speak for themselves); short horizons
        scorecard={"ShrinkageK": 0, "Horizons": [0.2, 0.5, 1.0], "ImpactHorizon": 0.5},
    ) as h:
        report = await run_oms(oms_profile(h.oms_port))
        await asyncio.sleep(1.5)  # the last markouts mature
    files = journal_files(tmp / "state" / "journal")
    assert files, "no journal written"
    return Day(tmp / "state", files[-1].name[8:16], report)


@pytest.fixture(scope="session")
def seeded_day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    day = asyncio.run(_generate(tmp_path_factory.mktemp("history")))
    assert day.report.ok, day.report.summary()
    assert day.day == day_of(day.records("start")[0]["t"])
    return day
