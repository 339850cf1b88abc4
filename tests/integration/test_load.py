"""10,000 orders through the gateway: the OMS simulator against four simulated LPs.

The LPs are those of config/lps.toml (LP_A fast and reliable, LP_B slow with last look and
many rejects, LP_C, LP_D a dark pool that fills less and partly), the order flow is
config/oms.toml's with IOC, Day and FOK orders, cancels, cancel/replaces and status
requests, flat out with at most ``max_in_flight`` orders unanswered. Day orders still
working at the end are canceled by the OMS simulator.

What must hold: the OMS simulator's ReportChecker finds nothing (one first report per
order, quantities and AvgPx consistent, every request answered, no order without a
report, nothing left open); in the gateway every parent's invariants held after every
step (CumQty = the children's fills, nothing routed twice) and every parent is done; and
each LP did to each child exactly what the gateway believes. No wall-clock assertion.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest

from simulators.oms import OmsReport, run_oms
from tests.integration.gwkit import Harness, sim_agrees

ROOT = Path(__file__).resolve().parents[2]
INSTRUMENTS = [
    {"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1", "TypicalSize": "20000"},
    {"Symbol": "XYZ", "TickSize": "0.01", "LotSize": "1", "TypicalSize": "5000"},
    {"Symbol": "ABC", "TickSize": "0.01", "LotSize": "1", "TypicalSize": "10000"},
]


def load(name: str) -> dict[str, Any]:
    with open(ROOT / "config" / name, "rb") as f:
        return tomllib.load(f)


def oms_profile(port: int, orders: int) -> dict[str, Any]:
    p = load("oms.toml")
    p["session"]["SocketConnectPort"] = port
    p.update(
        orders=orders,
        rate=0,  # flat out, bounded by max_in_flight
        max_in_flight=100,
        time_in_force={"IOC": 0.6, "DAY": 0.3, "FOK": 0.1},
        cancel_fraction=0.05,
        replace_fraction=0.03,
        status_fraction=0.02,
        settle_timeout_s=15,
        cancel_working_at_end=True,
    )
    return p


async def run_load(tmp: Path, orders: int, router: dict[str, Any]) -> tuple[OmsReport, Harness]:
    lps = load("lps.toml")
    lps["status_interval_s"] = 0
    async with Harness(
        tmp, manual=(), sim=lps, scripted_oms=False, router=router, instrument=INSTRUMENTS
    ) as h:
        report = await run_oms(oms_profile(h.oms_port, orders))
        await asyncio.sleep(0.2)  # the last answers from the LPs
        check(h, report, orders)
    return report, h


def check(h: Harness, report: OmsReport, orders: int) -> None:
    assert report.ok, report.summary()
    assert report.sent == orders and report.violation_count == 0, report.summary()
    outcome = report.outcome
    assert outcome.get("no_report", 0) == 0 and outcome.get("working", 0) == 0, outcome
    assert sum(outcome.values()) == orders
    assert report.count("filled") > orders // 2 and report.count("canceled") > 0, outcome
    assert report.cancels_sent and report.replaces_sent and report.status_sent
    book = h.gw.book
    assert len(book.parents) + book.counters.get("parents_rejected", 0) == orders
    assert not book.open_parents
    # every ParentOrder.check() passed after every step (Harness) and passes now
    h.verify()
    for p in book.parents.values():
        assert p.state in ("filled", "canceled"), (p.order_id, p.state)
        assert p.cum_qty == sum(c.cum_qty for c in p.children) <= p.qty
    # the LPs did what the gateway believes, and know of no child the gateway did not send
    assert h.sim is not None
    sim_agrees(h.gw, h.sim)
    for lp in h.sim.lps.values():
        for o in set(lp.orders.values()):
            assert o.chain[0] in book.children, (lp.name, o.chain[0])
    assert sum(lp.stats.fills for lp in h.sim.lps.values()) > orders // 2


def test_ten_thousand_orders_static_router(tmp_path: Path) -> None:
    router = {"Priority": ["LP_A", "LP_B", "LP_C", "LP_D"]}
    report, h = asyncio.run(run_load(tmp_path, 10_000, router))
    assert report.reports > 20_000
    c = h.gw.book.counters
    # passive DAY orders whose limit no LP quote reaches get no child: not every order is routed
    assert c["children_sent"] > 5_000 and c.get("parents_replaced", 0) > 0


@pytest.mark.parametrize("orders", [2_000])
def test_scorecard_router_sprays_without_routing_twice(tmp_path: Path, orders: int) -> None:
    router = {"Kind": "scorecard", "Priority": ["LP_A", "LP_B", "LP_C", "LP_D"]}
    _, h = asyncio.run(run_load(tmp_path, orders, router))
    sprayed = [p for p in h.gw.book.parents.values() if len({c.lp for c in p.children}) > 1]
    assert sprayed, "no parent was worked at more than one LP"
