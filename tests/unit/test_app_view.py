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
