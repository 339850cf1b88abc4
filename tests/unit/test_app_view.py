"""The gateway as the router's view of the LPs: the answers for all LPs at once
(``availability``, ``lp_touches``) are the one-LP answers (``available``, ``quote``)."""

from __future__ import annotations

from pathlib import Path

from gateway.app import GatewayApplication
from gateway.sessions.session import LOGGED_ON
from tests.integration.gwkit import free_port, gateway_settings

LPS = ["LP_A", "LP_B", "LP_C"]


def _app(tmp: Path) -> GatewayApplication:
    return GatewayApplication(gateway_settings(tmp, free_port(), {lp: free_port() for lp in LPS}))


def test_availability_is_available_of_each_lp_through_logons_disabling_and_kill_switches(
    tmp_path: Path,
) -> None:
    app = _app(tmp_path)
    asked = [*LPS, "LP_UNKNOWN", "LP_A"]

    def same() -> list[bool]:
        got = app.availability(asked)
        assert got == [app.available(lp) for lp in asked]
        return got

    assert same() == [False] * 5  # nobody logged on
    app.lp_sessions["LP_A"].state = LOGGED_ON
    app.lp_sessions["LP_C"].state = LOGGED_ON
    assert same() == [True, False, True, False, True]
    app.disabled.add("LP_C")
    assert same() == [True, False, False, False, True]
    app.disabled.discard("LP_C")
    app.kill(True, "LP_A misbehaves", ("lp", "LP_A"))
    assert same() == [False, False, True, False, False]
    app.kill(True, "desk says stop", "all")
    assert same() == [False] * 5
    app.kill(False, "", "all")
    app.kill(False, "", ("lp", "LP_A"))
    assert same() == [True, False, True, False, True]


def test_lp_touches_are_the_quotes_of_the_lps_that_have_one(tmp_path: Path) -> None:
    app = _app(tmp_path)
    md = app.marketdata
    md.on_snapshot("LP_A", "ACME", [(0, 10000, 5), (1, 10002, 5)], 100.0)
    md.on_snapshot("LP_B", "ACME", [(1, 10003, 5)], 100.0)  # an ask only
    md.on_snapshot("LP_C", "ACME", [(0, 9999, 5)], 100.0 - md.max_age - 1)  # stale
    touches = app.lp_touches("ACME", 100.0)
    assert touches == {"LP_A": (10000, 10002), "LP_B": (None, 10003)}
    assert {lp: app.quote(lp, "ACME", 100.0) for lp in LPS} == {**touches, "LP_C": None}
    md.set_available("LP_A", False)
    assert app.lp_touches("ACME", 100.0) == {"LP_B": (None, 10003)}
    assert app.quote("LP_A", "ACME", 100.0) is None
    assert app.lp_touches("NOPE", 100.0) == {}


def test_children_allowed_is_child_allowed_of_each_lp_through_limits_kills_and_missing_prices(
    tmp_path: Path,
) -> None:
    from decimal import Decimal

    from gateway.fix.enums import OrdType, TimeInForce
    from gateway.instruments import Instrument
    from gateway.orders import ParentOrder
    from gateway.risk import LpLimits, RiskSettings

    app = _app(tmp_path)
    acme = Instrument("ACME", tick_size=Decimal("0.01"), lot_size=Decimal("1"))
    app.risk.reconfigure(
        RiskSettings(
            lps={
                "LP_A": LpLimits(max_order_qty=Decimal("500")),
                "LP_B": LpLimits(max_order_notional=Decimal("40000")),
                "LP_C": LpLimits(max_open_notional=Decimal("60000")),
            }
        )
    )
    parent = ParentOrder(b"O1", "OMS1", b"P1", acme, b"1", OrdType.MARKET, TimeInForce.DAY, 1000, None, 100.0)
    asked = [*LPS, "LP_UNKNOWN", "LP_A"]
    prices: list[int | None] = [10000, 10000, None, 10000, None]

    def same(qty: int) -> list[str | None]:
        got = app.children_allowed(asked, parent, qty, prices, 100.0)
        assert got == [
            app.child_allowed(lp, parent, qty, p, 100.0) for lp, p in zip(asked, prices, strict=True)
        ]
        return got

    assert same(400) == [None] * 5  # no mid yet: the children without a price are not checked
    app.marketdata.on_snapshot("LP_A", "ACME", [(0, 9999, 5), (1, 10001, 5)], 100.0)
    got = same(600)  # LP_A over its quantity (twice), LP_B over its notional, LP_C's open notional
    assert [t is not None for t in got] == [True, True, False, False, True]
    app.risk.child_opened("LP_C", acme, 500, 10000)  # 50,000 open at LP_C
    got = same(400)
    assert [t is not None for t in got] == [False, False, True, False, False] and "LP_C" in str(got[2])
    app.kill(True, "LP_A misbehaves", ("lp", "LP_A"))
    assert [t is not None for t in same(100)] == [True, False, False, False, True]
