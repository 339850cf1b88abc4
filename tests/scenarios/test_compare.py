"""`fixgw scenario compare` over real TCP: static router vs the scorecard router per profile.

The flow (seeded) goes once through the static router and once per scorecard profile; the
LP the static router prefers (LP_A) silently degrades after 60 of the 200 parents: its fill
rate falls and its fills move the market against us, its latency stays as good as it was.

What "beats" means, asserted for every profile (hft, block, best_price):
- a higher fill rate (filled / ordered quantity over the whole flow), and
- a lower implementation shortfall vs arrival (bps: VWAP vs the market mid when the parent
  was sent, with the quantity left unfilled charged at the mid when the parent ended). The
  shortfall and not the VWAP of the fills alone, because the static router leaves more
  unfilled, and the VWAP of what it did fill leaves out what it would have cost to fill
  the rest.
Both come from the simulated market, not from the wall clock.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.scenario import (
    CONFIGS,
    CompareResult,
    compare_values,
    format_compare,
    load_scenario,
    run_compare,
)

SEED = 11
PROFILES = ("hft", "block", "best_price")


@pytest.fixture(scope="module")
def result() -> CompareResult:
    return asyncio.run(run_compare(load_scenario(CONFIGS["compare"]), SEED))


@pytest.mark.parametrize("profile", PROFILES)
def test_each_scorecard_profile_beats_static_on_fill_rate_and_shortfall(
    result: CompareResult, profile: str
) -> None:
    static = result.row("static")
    row = result.row(f"scorecard {profile}")
    assert row.fill_rate > static.fill_rate, (row.fill_rate, static.fill_rate)
    assert row.shortfall_bps < static.shortfall_bps, (row.shortfall_bps, static.shortfall_bps)
    assert row.beats(static)


@pytest.mark.parametrize("profile", PROFILES)
def test_after_the_degradation_the_scorecard_moves_away_from_lp_a(
    result: CompareResult, profile: str
) -> None:
    static = result.row("static")
    row = result.row(f"scorecard {profile}")
    # static keeps sending LP_A everything first; the scorecard sends it much less
    assert static.share["LP_A"] > 50.0
    assert row.share.get("LP_A", 0.0) < static.share["LP_A"] / 2
    assert row.fill_rate_after > static.fill_rate_after


def test_the_degradation_hurts_static(result: CompareResult) -> None:
    static = result.row("static")
    assert static.fill_rate_after < static.fill_rate
    assert static.shortfall_after_bps > static.shortfall_bps
    assert static.markout_bps > max(r.markout_bps for r in result.rows if r is not static)


def test_every_run_sends_the_whole_flow_and_every_report_checks_out(result: CompareResult) -> None:
    assert [r.label for r in result.rows] == ["static", *(f"scorecard {p}" for p in PROFILES)]
    ordered = {r.ordered for r in result.rows}
    assert len(ordered) == 1 and {r.parents for r in result.rows} == {200}
    assert all(r.violations == 0 for r in result.rows)


def test_printed_as_a_table_and_as_name_value_lines(result: CompareResult) -> None:
    text = format_compare(result)
    for label in ("static", "scorecard hft", "scorecard block", "scorecard best_price"):
        assert f"  {label} " in text
    values = dict(line.split("=", 1) for line in compare_values(result))
    assert values["compare.scorecard.block.beats_static"] == "yes"
    assert float(values["compare.static.fill_rate"]) == pytest.approx(
        result.row("static").fill_rate, abs=1e-4
    )
    assert all(line in text for line in compare_values(result))
