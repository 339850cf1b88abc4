"""The shared mid-price process: seeded, stepped by a logical counter, shocks, quotes."""

from __future__ import annotations

import zlib
from decimal import Decimal

from gateway.instruments import Instrument
from simulators.market import InstrumentSpec, Market, stable_seed


def specs(vol: float = 20.0) -> list[InstrumentSpec]:
    return [
        InstrumentSpec(Instrument("ACME", Decimal("0.01")), Decimal("100"), vol),
        InstrumentSpec(Instrument("XYZ", Decimal("0.0001")), Decimal("1.2345"), vol),
    ]


def test_same_seed_same_path_different_seed_different_path() -> None:
    a = Market(specs(), seed=11).path("ACME", 50)
    b = Market(specs(), seed=11).path("ACME", 50)
    c = Market(specs(), seed=12).path("ACME", 50)
    assert a == b
    assert a != c
    assert len(set(a)) > 10  # it does move


def test_a_symbol_path_does_not_depend_on_the_other_symbols() -> None:
    alone = Market(specs()[:1], seed=5).path("ACME", 20)
    together = Market(specs(), seed=5).path("ACME", 20)
    assert alone == together


def test_shocks_are_part_of_the_deterministic_path() -> None:
    def run() -> list[float]:
        m = Market(specs(), seed=3)
        out = []
        for i in range(30):
            m.step()
            if i % 7 == 0:
                m.shock("ACME", 2.0)
            out.append(m.mid_price("ACME"))
        return out

    assert run() == run()
    m = Market(specs(vol=0.0), seed=3)
    m.shock("ACME", 10.0)
    assert abs(m.mid_price("ACME") - 100.1) < 1e-9
    m.shock("ACME", -10.0)
    assert m.mid_price("ACME") < 100.1


def test_quotes_round_outwards_to_the_tick_and_are_never_crossed() -> None:
    m = Market(specs(vol=0.0), seed=1)
    q = m.quote("ACME", spread_bps=10.0, skew_bps=0.0, size=500)
    assert (q.bid, q.ask, q.bid_size) == (9995, 10005, 500)
    zero = m.quote("ACME", spread_bps=0.0, skew_bps=0.0, size=1)
    assert zero.ask > zero.bid
    skewed = m.quote("ACME", spread_bps=10.0, skew_bps=10.0, size=1)
    assert skewed.bid > q.bid and skewed.ask > q.ask


def test_listeners_hear_every_step_and_shock() -> None:
    m = Market(specs(), seed=1)
    heard: list[str] = []
    m.add_listener(heard.append)
    m.step()
    m.shock("XYZ", 1.0)
    assert heard == ["ACME", "XYZ", "XYZ"]
    assert m.steps == 1


def test_a_step_leaves_a_symbol_without_volatility_alone() -> None:
    # a market that does not move costs the LPs nothing per step, however many symbols
    flat = InstrumentSpec(Instrument("FLAT", Decimal("0.01")), Decimal("50"), 0.0)
    m = Market([specs()[0], flat], seed=1)
    heard: list[str] = []
    m.add_listener(heard.append)
    m.step(3)
    assert heard == ["ACME", "ACME", "ACME"]
    assert m.mid_price("FLAT") == 50.0 and m.steps == 3
    m.shock("FLAT", 10.0)  # moved by hand, it is told as before
    assert heard[-1] == "FLAT"


def test_stable_seed_does_not_depend_on_the_process_hash_salt() -> None:
    assert stable_seed(1, "LP_A") == stable_seed(1, "LP_A")
    assert stable_seed(1, "LP_A") != stable_seed(1, "LP_B")
    assert stable_seed(1, "LP_A") == 1_000_003 + zlib.crc32(b"LP_A")
