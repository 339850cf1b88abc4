"""gateway.risk: every rule refuses with its name and a clear text, and lets through just inside.

Time is passed in, so throttle tests step a float clock; quantities and prices are the
instrument's integer units (AAPL-like: 2 price decimals, whole shares).
"""

from __future__ import annotations

import math
import re
import tomllib
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.instruments import Instrument
from gateway.risk import (
    RULES,
    LpLimits,
    RiskConfigError,
    RiskEngine,
    RiskReject,
    RiskSettings,
    SessionLimits,
    parse_risk_settings,
)

BUY, SELL = 1, 2
STOCK = Instrument("AAPL")  # price units of 0.01, qty units of 1
FX = Instrument("EURUSD", tick_size=Decimal("0.00001"), lot_size=Decimal("1"))  # 10**5 price
BOND = Instrument("UST10Y", tick_size=Decimal("0.001"), lot_size=Decimal("0.01"))  # 10**3 x 10**2

SAMPLE = """
[risk]
MaxOrderQty = 1000000
MaxOrderNotional = 50000000
PriceCollarPct = 5.0
MaxMessagesPerSecond = 2000
ThrottleBurst = 4000

[risk.session.OMS1]
MaxOrderNotional = 1000000
PriceCollarPct = "2.00"

[risk.session.OMS2]
MaxOrderQty = "none"
MaxMessagesPerSecond = 4
ThrottleBurst = 3

[risk.lp]
MaxOpenNotional = 1000

[risk.lp.LP_A]
MaxOrderQty = 200000
MaxOrderNotional = 20000000
MaxOpenNotional = 50000000
"""


def sample_settings() -> RiskSettings:
    return parse_risk_settings(tomllib.loads(SAMPLE)["risk"], "gateway.toml")


def engine(**risk: object) -> RiskEngine:
    return RiskEngine(parse_risk_settings(risk, "gateway.toml"))


def px(text: str, inst: Instrument = STOCK) -> int:
    return inst.parse_price(text.encode(), check_tick=False)


def qty(text: str, inst: Instrument = STOCK) -> int:
    return inst.parse_qty(text.encode(), check_lot=False)


def rejected(result: RiskReject | None, rule: str) -> RiskReject:
    assert result is not None, f"expected a {rule} reject, got none"
    assert result.rule == rule, result
    return result


# ------------------------------------------------------------------------------ settings


def test_sample_settings_merge_overrides_onto_defaults() -> None:
    s = sample_settings()
    assert s.source == "gateway.toml"
    assert s.session_defaults == SessionLimits(
        max_order_qty=Decimal(1000000),
        max_order_notional=Decimal(50000000),
        price_collar_pct=Decimal("5.0"),
        max_messages_per_second=Decimal(2000),
        throttle_burst=4000,
    )
    oms1 = s.for_session("OMS1")
    assert oms1.max_order_notional == Decimal(1000000)
    assert oms1.price_collar_pct == Decimal("2.00")
    assert oms1.max_order_qty == Decimal(1000000)  # inherited
    oms2 = s.for_session("OMS2")
    assert oms2.max_order_qty is None  # "none" removes the default
    assert (oms2.max_messages_per_second, oms2.throttle_burst) == (Decimal(4), 3)
    assert s.for_session("NEW") is s.session_defaults
    assert s.for_lp("LP_A") == LpLimits(Decimal(200000), Decimal(20000000), Decimal(50000000))
    assert s.for_lp("LP_B") == LpLimits(max_open_notional=Decimal(1000))  # [risk.lp] defaults


def test_empty_risk_table_means_no_limits() -> None:
    s = parse_risk_settings({}, "gateway.toml")
    assert s.session_defaults == SessionLimits()
    assert s.lp_defaults == LpLimits()
    e = RiskEngine(s)
    for now in range(100):
        assert e.check_order("OMS1", STOCK, BUY, 10**12, px("1000000"), 1.0, float(now)) is None
    assert e.check_child("LP", STOCK, 10**12, px("1000000"), 0.0) is None


def test_amounts_accept_int_float_and_decimal_strings() -> None:
    s = parse_risk_settings(
        {"MaxOrderQty": 0.1, "MaxOrderNotional": " 2_500.25 ", "PriceCollarPct": 1}, "f.toml"
    )
    assert s.session_defaults.max_order_qty == Decimal("0.1")  # not the binary 0.1000000000000000055...
    assert s.session_defaults.max_order_notional == Decimal("2500.25")
    assert s.session_defaults.price_collar_pct == Decimal(1)


def test_burst_defaults_to_one_second_of_rate() -> None:
    s = parse_risk_settings({"MaxMessagesPerSecond": 2.5}, "f.toml")
    assert s.session_defaults.throttle_burst == 3
    s = parse_risk_settings(
        {"MaxMessagesPerSecond": 10, "session": {"OMS1": {"MaxMessagesPerSecond": "none"}}}, "f.toml"
    )
    assert s.for_session("OMS1").max_messages_per_second is None
    assert s.for_session("OMS1").throttle_burst is None


@pytest.mark.parametrize(
    ("risk", "where", "words"),
    [
        ({"MaxOrderQty": -1}, "[risk] MaxOrderQty", ["-1 is not a positive number", "allowed: a positive"]),
        ({"MaxOrderQty": 0}, "[risk] MaxOrderQty", ["not a positive number"]),
        ({"MaxOrderNotional": True}, "[risk] MaxOrderNotional", ["got boolean True"]),
        ({"MaxOrderNotional": "lots"}, "[risk] MaxOrderNotional", ["'lots' is not a number", '"none"']),
        ({"MaxOrderNotional": "NaN"}, "[risk] MaxOrderNotional", ["not a positive number"]),
        ({"MaxOrderNotional": [1]}, "[risk] MaxOrderNotional", ["expected a number, got list"]),
        ({"PriceCollarPct": 100}, "[risk] PriceCollarPct", ["not less than 100", "less than 100"]),
        ({"MaxMessagesPerSecond": 0}, "[risk] MaxMessagesPerSecond", ["messages per second"]),
        ({"MaxMessagesPerSecond": 5, "ThrottleBurst": 2.5}, "[risk] ThrottleBurst", ["positive integer"]),
        ({"MaxMessagesPerSecond": 5, "ThrottleBurst": 0}, "[risk] ThrottleBurst", ["0 is not positive"]),
        ({"ThrottleBurst": 5}, "[risk] ThrottleBurst", ["needs a rate", "MaxMessagesPerSecond"]),
        ({"MaxOrdrQty": 5}, "[risk] MaxOrdrQty", ["unknown key", "did you mean 'MaxOrderQty'", "allowed:"]),
        ({"maxorderqty": 5}, "[risk] maxorderqty", ["did you mean 'MaxOrderQty'"]),
        ({"MaxOpenNotional": 5}, "[risk] MaxOpenNotional", ["per-LP key", "[risk.lp.NAME]"]),
        ({"sessions": {"OMS1": {}}}, "[risk] sessions", ["unknown table", "did you mean 'session'"]),
        ({"session": {"OMS1": 5}}, "[risk.session] OMS1", ["expected a table [risk.session.OMS1]"]),
        ({"session": 5}, "[risk.session]", ["expected a table"]),
        ({"lp": 5}, "[risk.lp]", ["expected a table"]),
        (
            {"session": {"OMS1": {"MaxOrderQty": "x"}}},
            "[risk.session.OMS1] MaxOrderQty",
            ["'x' is not a number"],
        ),
        (
            {"session": {"OMS1": {"MaxOpenNotional": 1}}},
            "[risk.session.OMS1] MaxOpenNotional",
            ["per-LP key"],
        ),
        ({"lp": {"LP_A": {"ThrottleBurst": 3}}}, "[risk.lp.LP_A] ThrottleBurst", ["per-session key"]),
        ({"lp": {"LP_A": {"MaxOpenNotional": -5}}}, "[risk.lp.LP_A] MaxOpenNotional", ["not a positive"]),
        ({"lp": {"PriceCollarPct": 2}}, "[risk.lp] PriceCollarPct", ["per-session key"]),
    ],
)
def test_config_errors_name_file_section_key_and_what_is_allowed(
    risk: dict[str, object], where: str, words: list[str]
) -> None:
    with pytest.raises(RiskConfigError) as info:
        parse_risk_settings(risk, "conf/gateway.toml")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith(f"conf/gateway.toml: {where}: "), message
    assert "allowed: " in message
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_config_error_carries_its_parts() -> None:
    with pytest.raises(RiskConfigError) as info:
        parse_risk_settings({"lp": {"LP_A": {"MaxOrderQty": -1}}}, "g.toml")
    err = info.value
    assert (err.source, err.section, err.key) == ("g.toml", "[risk.lp.LP_A]", "MaxOrderQty")
    assert "positive number" in err.allowed


# ------------------------------------------------------------------------------ parent orders


def test_max_order_qty_boundary_and_text() -> None:
    e = engine(MaxOrderQty=1000000)
    assert e.check_order("OMS1", STOCK, BUY, 1000000, px("1.00"), None, 0.0) is None
    r = rejected(e.check_order("OMS1", STOCK, BUY, 1000001, px("1.00"), None, 0.0), "max_order_qty")
    assert r.text == "order quantity 1,000,001 exceeds the limit 1,000,000 for session OMS1"
    assert r.scope == "session:OMS1"


def test_max_order_qty_in_fractional_lots_is_exact() -> None:
    e = engine(MaxOrderQty="1000.5")
    assert e.check_order("S", BOND, BUY, qty("1000.50", BOND), px("99.5", BOND), None, 0.0) is None
    r = rejected(
        e.check_order("S", BOND, BUY, qty("1000.51", BOND), px("99.5", BOND), None, 0.0), "max_order_qty"
    )
    assert "order quantity 1,000.51 exceeds the limit 1,000.50 for session S" == r.text


def test_max_order_notional_boundary_and_text() -> None:
    e = engine(MaxOrderNotional=1000000)
    assert e.check_order("OMS1", STOCK, BUY, 10000, px("100.00"), None, 0.0) is None  # exactly 1,000,000
    r = rejected(e.check_order("OMS1", STOCK, BUY, 10000, px("100.01"), None, 0.0), "max_order_notional")
    assert r.text == "order notional 1,000,100.00 exceeds the limit 1,000,000.00 for session OMS1"
    r = rejected(e.check_order("OMS1", STOCK, SELL, 25000, px("100"), None, 0.0), "max_order_notional")
    assert r.text == "order notional 2,500,000.00 exceeds the limit 1,000,000.00 for session OMS1"


def test_notional_limit_with_cents_is_exact_in_fine_units() -> None:
    # 0.1 + 0.2 style traps: 3 x 0.10001 = 0.30003 exactly, limit 0.30003 passes, one unit more fails
    e = engine(MaxOrderNotional="0.30003")
    assert e.check_order("S", FX, BUY, 3, px("0.10001", FX), None, 0.0) is None
    rejected(e.check_order("S", FX, BUY, 3, px("0.10002", FX), None, 0.0), "max_order_notional")


def test_session_override_wins_over_default() -> None:
    e = RiskEngine(sample_settings())
    order = (STOCK, BUY, 20000, px("100.00"), None, 0.0)  # notional 2,000,000
    assert e.check_order("OMS9", *order) is None  # default limit 50,000,000
    r = rejected(e.check_order("OMS1", *order), "max_order_notional")
    assert "limit 1,000,000.00 for session OMS1" in r.text
    big = (STOCK, BUY, 2000000, px("1.00"), None, 0.0)
    rejected(e.check_order("OMS9", *big), "max_order_qty")
    assert e.check_order("OMS2", *big) is None  # MaxOrderQty = "none" for OMS2


def test_market_order_notional_uses_the_mid() -> None:
    e = engine(MaxOrderNotional=1000000)
    assert e.check_order("OMS1", STOCK, BUY, 10000, None, 100.0, 0.0) is None
    assert e.check_order("OMS1", STOCK, BUY, 9990, None, 100.1, 0.0) is None  # 999,999.00
    r = rejected(e.check_order("OMS1", STOCK, BUY, 25000, None, 100.05, 0.0), "max_order_notional")
    assert r.text == (
        "market order notional 2,501,250.00 at the mid 100.05 exceeds the limit 1,000,000.00 for session OMS1"
    )
    rejected(e.check_order("OMS1", STOCK, SELL, 10001, None, 100.0, 0.0), "max_order_notional")


@pytest.mark.parametrize("mid", [None, math.nan, 0.0, -1.0, math.inf])
def test_market_order_without_a_usable_mid_is_rejected(mid: float | None) -> None:
    e = engine(MaxOrderNotional=1000000)
    r = rejected(e.check_order("OMS1", STOCK, BUY, 1, None, mid, 0.0), "market_order_no_reference_price")
    assert r.text == (
        "market order cannot be checked against the notional limit 1,000,000.00 for session OMS1: "
        "no mid price for AAPL"
    )


def test_market_order_without_mid_passes_when_no_notional_limit_applies() -> None:
    assert engine(MaxOrderQty=10).check_order("OMS1", STOCK, BUY, 10, None, None, 0.0) is None


def test_price_collar_text_matches_the_example() -> None:
    e = engine(PriceCollarPct=2)
    r = rejected(e.check_order("OMS1", STOCK, BUY, 100, px("105.00"), 100.05, 0.0), "price_collar")
    assert r.text == (
        "limit price 105.00 is 4.95% away from the mid 100.05; the collar is 2.00% for session OMS1"
    )


def test_price_collar_boundaries_for_buy_and_sell() -> None:
    e = engine(PriceCollarPct=2)
    # mid 100.00: the buy ceiling is 102.00, the sell floor 98.00, both included
    assert e.check_order("S", STOCK, BUY, 1, px("102.00"), 100.0, 0.0) is None
    rejected(e.check_order("S", STOCK, BUY, 1, px("102.01"), 100.0, 0.0), "price_collar")
    assert e.check_order("S", STOCK, SELL, 1, px("98.00"), 100.0, 0.0) is None
    r = rejected(e.check_order("S", STOCK, SELL, 1, px("97.99"), 100.0, 0.0), "price_collar")
    assert "limit price 97.99 is 2.01% away from the mid 100.00" in r.text
    # a mid that floats cannot hold exactly: (100.1 + 100.0) / 2 and a 5% collar
    e = engine(PriceCollarPct=5)
    mid = (100.1 + 100.0) / 2  # 100.05 in float
    assert e.check_order("S", STOCK, BUY, 1, px("105.05"), mid, 0.0) is None  # 105.0525 ceiling
    rejected(e.check_order("S", STOCK, BUY, 1, px("105.06"), mid, 0.0), "price_collar")


def test_price_collar_only_applies_to_aggressive_prices() -> None:
    e = engine(PriceCollarPct=2)
    assert e.check_order("S", STOCK, BUY, 1, px("50.00"), 100.0, 0.0) is None  # passive bid far below
    assert e.check_order("S", STOCK, SELL, 1, px("150.00"), 100.0, 0.0) is None  # passive offer far above
    rejected(e.check_order("S", STOCK, SELL, 1, px("50.00"), 100.0, 0.0), "price_collar")
    rejected(e.check_order("S", STOCK, BUY, 1, px("150.00"), 100.0, 0.0), "price_collar")


def test_price_collar_needs_a_mid_and_a_limit_price() -> None:
    e = engine(PriceCollarPct=2)
    assert e.check_order("S", STOCK, BUY, 1, px("150.00"), None, 0.0) is None
    assert e.check_order("S", STOCK, BUY, 1, None, 100.0, 0.0) is None


def test_price_collar_text_with_a_half_tick_mid_and_a_price_just_over() -> None:
    e = engine(PriceCollarPct=1)
    r = rejected(e.check_order("S", STOCK, BUY, 1, px("101.01"), 100.005, 0.0), "price_collar")
    # 1.00495...% shows as 1.00%, the collar itself: more places show why it is over
    assert "limit price 101.01 is 1.004950% away from the mid 100.005; the collar is 1.00%" in r.text


def test_unknown_symbol() -> None:
    e = RiskEngine()
    r = rejected(e.check_order("OMS1", None, BUY, 1, 100, None, 0.0, symbol="XYZ"), "unknown_symbol")
    assert r.text == "unknown symbol XYZ: no instrument is configured for it"
    r = rejected(e.check_order("OMS1", None, BUY, 1, 100, None, 0.0), "unknown_symbol")
    assert r.text == "unknown symbol: no instrument is configured for it"


def test_check_order_order_of_rules() -> None:
    e = engine(MaxOrderQty=10, MaxOrderNotional=10, MaxMessagesPerSecond=1, ThrottleBurst=1)
    e.set_kill(("session", "OMS1"), True, "desk closed")
    # the kill switch answers first and takes no throttle token
    rejected(e.check_order("OMS1", None, BUY, 100, 100000, None, 0.0), "kill_switch")
    e.set_kill(("session", "OMS1"), False, "")
    # then the throttle: this takes the one token, then the unknown symbol is found
    rejected(e.check_order("OMS1", None, BUY, 100, 100000, None, 0.0), "unknown_symbol")
    rejected(e.check_order("OMS1", STOCK, BUY, 100, 100000, None, 0.0), "throttle")
    # then quantity before notional
    rejected(e.check_order("OMS1", STOCK, BUY, 100, 100000, None, 5.0), "max_order_qty")
    rejected(e.check_order("OMS1", STOCK, BUY, 10, 100000, None, 10.0), "max_order_notional")


def test_notional_limits_are_per_instrument_units() -> None:
    e = engine(MaxOrderNotional=1000)
    # the same 1,000 in three unit systems: 10 x 100.00, 1000 x 1.00000, 10.00 x 100.000
    assert e.check_order("S", STOCK, BUY, 10, px("100.00"), None, 0.0) is None
    assert e.check_order("S", FX, BUY, 1000, px("1.00000", FX), None, 0.0) is None
    assert e.check_order("S", BOND, BUY, qty("10", BOND), px("100", BOND), None, 0.0) is None
    rejected(e.check_order("S", FX, BUY, 1000, px("1.00001", FX), None, 0.0), "max_order_notional")
    rejected(
        e.check_order("S", BOND, BUY, qty("10.01", BOND), px("100", BOND), None, 0.0), "max_order_notional"
    )


# ------------------------------------------------------------------------------ throttle


def test_throttle_bucket_burst_then_refill_over_passed_in_time() -> None:
    e = engine(MaxMessagesPerSecond=4, ThrottleBurst=3)
    for _ in range(3):
        assert e.check_message("OMS1", 10.0) is None
    r = rejected(e.check_message("OMS1", 10.0), "throttle")
    assert r.text == "message rate exceeds the limit 4 per second (burst 3) for session OMS1"
    assert r.scope == "session:OMS1"
    rejected(e.check_message("OMS1", 10.125), "throttle")  # half a token
    assert e.check_message("OMS1", 10.25) is None  # one token after 1/4 s
    rejected(e.check_message("OMS1", 10.25), "throttle")
    # a long pause refills up to the burst, not beyond
    for _ in range(3):
        assert e.check_message("OMS1", 100.0) is None
    rejected(e.check_message("OMS1", 100.0), "throttle")


def test_throttle_is_shared_by_orders_and_other_messages_per_session() -> None:
    e = engine(MaxMessagesPerSecond=1, ThrottleBurst=2)
    assert e.check_order("OMS1", STOCK, BUY, 1, 100, None, 0.0) is None
    assert e.check_message("OMS1", 0.0) is None
    rejected(e.check_order("OMS1", STOCK, BUY, 1, 100, None, 0.0), "throttle")
    rejected(e.check_message("OMS1", 0.0), "throttle")
    assert e.check_message("OMS2", 0.0) is None  # another session, another bucket
    assert e.throttle_levels() == {"OMS1": 0.0, "OMS2": 1.0}
    assert e.throttle_levels(now=0.5) == {"OMS1": 0.5, "OMS2": 1.5}
    assert e.throttle_levels() == {"OMS1": 0.0, "OMS2": 1.0}  # looking takes nothing


def test_time_going_backwards_refills_nothing() -> None:
    e = engine(MaxMessagesPerSecond=1, ThrottleBurst=1)
    assert e.check_message("S", 100.0) is None
    rejected(e.check_message("S", 50.0), "throttle")
    rejected(e.check_message("S", 100.5), "throttle")
    assert e.check_message("S", 101.0) is None


def test_session_throttle_override() -> None:
    e = RiskEngine(sample_settings())
    for _ in range(3):
        assert e.check_message("OMS2", 0.0) is None
    rejected(e.check_message("OMS2", 0.0), "throttle")
    for _ in range(100):
        assert e.check_message("OMS1", 0.0) is None  # default: 2000/s, burst 4000


# ------------------------------------------------------------------------------ LP limits


def test_lp_max_child_qty_and_notional_boundaries() -> None:
    e = RiskEngine(sample_settings())
    assert e.check_child("LP_A", STOCK, 200000, px("100.00"), 0.0) is None  # 20,000,000 exactly
    r = rejected(e.check_child("LP_A", STOCK, 200001, px("1.00"), 0.0), "lp_max_order_qty")
    assert r.text == "child order quantity 200,001 exceeds the limit 200,000 for LP LP_A"
    assert r.scope == "lp:LP_A"
    r = rejected(e.check_child("LP_A", STOCK, 200000, px("100.01"), 0.0), "lp_max_order_notional")
    assert r.text == "child order notional 20,002,000.00 exceeds the limit 20,000,000.00 for LP LP_A"


def test_lp_open_notional_boundary_and_text() -> None:
    e = RiskEngine(sample_settings())
    e.child_opened("LP_A", STOCK, 150000, px("100.00"))  # 15,000,000
    e.child_opened("LP_A", STOCK, 150000, px("200.00"))  # 30,000,000
    assert e.check_child("LP_A", STOCK, 50000, px("100.00"), 0.0) is None  # 50,000,000 exactly
    r = rejected(e.check_child("LP_A", STOCK, 50000, px("100.01"), 0.0), "lp_open_notional")
    assert r.text == (
        "open notional at LP LP_A would be 50,000,500.00 (open 45,000,000.00 + this order "
        "5,000,500.00); the limit is 50,000,000.00"
    )
    e.child_released("LP_A", STOCK, 1, px("200.00"))
    assert e.check_child("LP_A", STOCK, 50000, px("100.00"), 0.0) is None


def test_lp_defaults_from_the_lp_table_and_lp_without_limits() -> None:
    e = RiskEngine(sample_settings())
    assert e.check_child("LP_B", STOCK, 10, px("100.00"), 0.0) is None  # 1,000 = [risk.lp] default
    rejected(e.check_child("LP_B", STOCK, 10, px("100.01"), 0.0), "lp_open_notional")
    assert RiskEngine().check_child("LP_Z", STOCK, 10**9, px("1000"), 0.0) is None


def test_open_notional_is_exact_across_instruments_with_different_units() -> None:
    e = engine(lp={"LP": {"MaxOpenNotional": "1000.3"}})
    e.child_opened("LP", STOCK, 10, px("0.01"))  # 0.1
    e.child_opened("LP", FX, 2, px("0.10000", FX))  # 0.2
    e.child_opened("LP", BOND, qty("10", BOND), px("100", BOND))  # 1000
    assert e.open_notional("LP") == Decimal("1000.3")
    rejected(e.check_child("LP", FX, 1, 1, 0.0), "lp_open_notional")  # 0.00001 more
    e.child_released("LP", STOCK, 10, px("0.01"))
    assert e.check_child("LP", FX, 1, 1, 0.0) is None
    e.child_released("LP", FX, 2, px("0.10000", FX))
    e.child_released("LP", BOND, qty("10", BOND), px("100", BOND))
    assert e.open_notional("LP") == 0
    assert e.open_notionals() == {"LP": 0.0}
    assert e.open_notional_anomalies == {}


def test_open_notional_never_goes_negative_and_counts_the_anomaly() -> None:
    e = RiskEngine()
    e.child_opened("LP", STOCK, 10, px("1.00"))
    e.child_released("LP", STOCK, 11, px("1.00"))
    assert e.open_notional("LP") == 0
    assert e.open_notional_anomalies == {"LP": 1}
    e.child_released("LP", STOCK, 1, px("1.00"))
    assert e.open_notional_anomalies == {"LP": 2}
    e.child_opened("LP", STOCK, 1, px("1.00"))
    assert e.open_notional("LP") == Decimal("1.00")
    assert e.open_notional("NEVER_SEEN") == 0


# ------------------------------------------------------------------------------ kill switch


def test_kill_all_stops_orders_and_children_until_released() -> None:
    e = RiskEngine()
    assert e.set_kill("all", True, "market halt") is True
    assert e.set_kill("all", True, "market halt, still") is False  # already engaged
    r = rejected(e.check_order("OMS1", STOCK, BUY, 1, 100, None, 0.0), "kill_switch")
    assert r.text == "kill switch engaged for all sessions and LPs: market halt, still"
    r = rejected(e.check_child("LP_A", STOCK, 1, 100, 0.0), "kill_switch")
    assert r.scope == "lp:LP_A"
    assert e.killed() == "market halt, still"
    assert e.killed(session="OMS1") == e.killed(lp="LP_A") == "market halt, still"
    assert e.kill_switches() == {"all": "market halt, still"}
    assert e.check_message("OMS1", 0.0) is None  # cancels still get through
    assert e.set_kill("all", False, "resumed") is True
    assert e.set_kill("all", False, "resumed") is False
    assert e.check_order("OMS1", STOCK, BUY, 1, 100, None, 0.0) is None
    assert e.check_child("LP_A", STOCK, 1, 100, 0.0) is None
    assert e.killed() is None and e.kill_switches() == {}


def test_kill_session_stops_only_that_session() -> None:
    e = RiskEngine()
    assert e.set_kill(("session", "OMS1"), True, "runaway algo") is True
    r = rejected(e.check_order("OMS1", STOCK, BUY, 1, 100, None, 0.0), "kill_switch")
    assert r.text == "kill switch engaged for session OMS1: runaway algo"
    assert e.check_order("OMS2", STOCK, BUY, 1, 100, None, 0.0) is None
    assert e.check_child("LP_A", STOCK, 1, 100, 0.0) is None
    assert e.killed(session="OMS1") == "runaway algo"
    assert e.killed(session="OMS2") is None
    assert e.kill_switches() == {"session:OMS1": "runaway algo"}
    assert e.set_kill(("session", "OMS1"), False, "") is True
    assert e.check_order("OMS1", STOCK, BUY, 1, 100, None, 0.0) is None


def test_kill_lp_stops_only_children_to_that_lp() -> None:
    e = RiskEngine()
    e.set_kill(("lp", "LP_A"), True, "stale quotes")
    r = rejected(e.check_child("LP_A", STOCK, 1, 100, 0.0), "kill_switch")
    assert r.text == "kill switch engaged for LP LP_A: stale quotes"
    assert e.check_child("LP_B", STOCK, 1, 100, 0.0) is None
    assert e.check_order("OMS1", STOCK, BUY, 1, 100, None, 0.0) is None
    assert e.killed(lp="LP_A") == "stale quotes"
    assert e.killed(session="OMS1", lp="LP_B") is None
    e.set_kill(("session", "OMS1"), True, "desk")
    assert e.kill_switches() == {"session:OMS1": "desk", "lp:LP_A": "stale quotes"}
    e.set_kill(("lp", "LP_A"), False, "")
    assert e.check_child("LP_A", STOCK, 1, 100, 0.0) is None


@pytest.mark.parametrize("scope", ["ALL", ("desk", "X"), ("session",), ("lp", 5), None])
def test_kill_switch_scope_must_be_known(scope: object) -> None:
    with pytest.raises(ValueError, match="kill switch scope"):
        RiskEngine().set_kill(scope, True, "x")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ counters


def test_rejections_are_counted_by_rule_and_scope_and_happy_path_counts_nothing() -> None:
    e = RiskEngine(sample_settings())
    assert e.check_order("OMS1", STOCK, BUY, 1, px("100"), 100.0, 0.0) is None
    assert e.rejections == {}
    for _ in range(2):
        e.check_order("OMS1", STOCK, BUY, 20000, px("100"), None, 0.0)
    e.check_child("LP_A", STOCK, 200001, 1, 0.0)
    assert e.rejections == {
        ("max_order_notional", "session:OMS1"): 2,
        ("lp_max_order_qty", "lp:LP_A"): 1,
    }


def test_every_rule_name_is_a_snake_case_label() -> None:
    assert len(set(RULES)) == len(RULES) == 10
    for rule in RULES:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", rule), rule


def test_reconfigure_keeps_open_notional_kill_switches_and_buckets() -> None:
    e = engine(MaxMessagesPerSecond=1, ThrottleBurst=1, lp={"LP": {"MaxOpenNotional": 100}})
    e.child_opened("LP", STOCK, 50, px("1.00"))
    e.set_kill(("session", "OMS2"), True, "x")
    assert e.check_message("OMS1", 0.0) is None
    e.reconfigure(
        parse_risk_settings(
            {"MaxMessagesPerSecond": 1, "ThrottleBurst": 5, "lp": {"LP": {"MaxOpenNotional": 60}}}, "g"
        )
    )
    rejected(e.check_message("OMS1", 0.0), "throttle")  # the bucket was empty and stays so
    assert e.open_notional("LP") == 50
    assert e.check_child("LP", STOCK, 10, px("1.00"), 0.0) is None
    rejected(e.check_child("LP", STOCK, 11, px("1.00"), 0.0), "lp_open_notional")
    assert e.killed(session="OMS2") == "x"


# ------------------------------------------------------------------------------ properties

INSTRUMENTS = [STOCK, FX, BOND]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["open", "release"]),
            st.sampled_from(["LP_A", "LP_B"]),
            st.integers(0, len(INSTRUMENTS) - 1),
            st.integers(0, 10**9),
            st.integers(1, 10**9),
        ),
        max_size=60,
    )
)
def test_open_notional_equals_brute_force_sum(
    ops: list[tuple[str, str, int, int, int]],
) -> None:
    e = RiskEngine()
    expected: dict[str, Fraction] = {}
    anomalies: dict[str, int] = {}
    for op, lp, index, q, p in ops:
        inst = INSTRUMENTS[index]
        amount = Fraction(q * p, inst.qty_scale * inst.price_scale)
        total = expected.get(lp, Fraction(0))
        if op == "open":
            e.child_opened(lp, inst, q, p)
            total += amount
        else:
            e.child_released(lp, inst, q, p)
            total -= amount
            if total < 0:
                anomalies[lp] = anomalies.get(lp, 0) + 1
                total = Fraction(0)
        expected[lp] = total
        assert Fraction(e.open_notional(lp)) == total
    assert e.open_notional_anomalies == anomalies
    for lp, total in expected.items():
        assert e.open_notionals()[lp] == pytest.approx(float(total))


@settings(max_examples=300, deadline=None)
@given(
    limit=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**9), places=3),
    index=st.integers(0, len(INSTRUMENTS) - 1),
    q=st.integers(1, 10**12),
    p=st.integers(1, 10**8),
)
def test_limits_in_units_decide_exactly_like_decimal_arithmetic(
    limit: Decimal, index: int, q: int, p: int
) -> None:
    inst = INSTRUMENTS[index]
    e = engine(MaxOrderQty=str(limit), MaxOrderNotional=str(limit))
    result = e.check_order("S", inst, BUY, q, p, None, 0.0)
    qty_value = Fraction(q, inst.qty_scale)
    notional = Fraction(q * p, inst.qty_scale * inst.price_scale)
    if qty_value > Fraction(limit):
        assert result is not None and result.rule == "max_order_qty"
    elif notional > Fraction(limit):
        assert result is not None and result.rule == "max_order_notional"
    else:
        assert result is None
