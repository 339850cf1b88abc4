"""``fixgw backtest`` on a seeded simulator day: other weights, other choices, the same facts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.backtest import BacktestError, backtest, parse_weights
from gateway.cli import main
from tests.history.conftest import Day


def test_the_recorded_weights_replay_the_recorded_choices(seeded_day: Day) -> None:
    result = backtest(seeded_day.state, seeded_day.day)
    assert result.decisions == len(seeded_day.records("decision"))
    assert result.compared > 0
    # no change: the alternative is the replay itself
    assert result.agreement == result.replay_agreement
    # the replay comes close to the live router (it starts from the same prior here)
    assert result.replay_agreement >= 0.8 * result.compared
    assert sum(c["chosen"] for c in result.per_lp.values()) == result.compared
    assert result.modelled["chosen"] == result.modelled["alternative"] or result.agreement < result.compared
    assert 0.0 < result.actual["fill_rate"] <= 1.0
    assert result.actual["cost_vs_arrival_bps"] is not None
    assert set(result.ranking) == {"ACME"}


def test_latency_weights_send_the_flow_to_the_fast_lp(seeded_day: Day) -> None:
    recorded = backtest(seeded_day.state, seeded_day.day)
    fast = backtest(seeded_day.state, seeded_day.day, weights={"latency": 1.0})
    assert fast.profile == "backtest"
    lp = fast.per_lp["LP_FAST"]
    assert lp["alternative_first"] > lp["chosen"]  # the recorded profile (best price) chose it less
    assert fast.agreement < recorded.agreement
    assert fast.ranking["ACME"]["alternative"][0][0] == "LP_FAST"
    for d in fast.differences:
        assert d["alternative"] != d["chosen"]
        assert d["alternative_scores"][d["alternative"]] >= max(d["alternative_scores"].values()) - 1e-9
    # the modelled outcome: what the scorecard expected of the LPs each would have picked
    assert set(fast.modelled) == {"chosen", "alternative"}
    assert set(fast.modelled["alternative"]) == {
        "fill_rate",
        "cost_vs_mid_bps",
        "market_impact_0.2s",
        "market_impact_0.5s",
        "market_impact_1s",
    }


def test_the_command_line_and_its_errors(
    seeded_day: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(seeded_day.state)
    out = tmp_path / "bt.json"
    args = [
        "backtest",
        "--state-dir",
        state,
        "--day",
        seeded_day.day,
        "--profile",
        "hft",
        "--half-life",
        "30",
    ]
    assert main([*args, "--format", "json", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["profile"] == "hft" and data["half_life_s"] == 30.0 and data["recorded_half_life_s"] == 300.0
    assert main(["backtest", "--state-dir", state, "--day", seeded_day.day]) == 0
    text = capsys.readouterr().out
    assert "agreement=" in text and "modelled_alternative_fill_rate=" in text and "LP_FAST" in text
    assert main(["backtest", "--state-dir", state, "--day", "19990101"]) == 2
    assert "no journal for 19990101" in capsys.readouterr().err
    with pytest.raises(BacktestError, match="sum to"):
        backtest(state, seeded_day.day, weights={"latency": 0.5})
    with pytest.raises(BacktestError, match="unknown"):
        backtest(state, seeded_day.day, profile="nope")
    with pytest.raises(BacktestError, match="KPI=weight"):
        parse_weights("latency")
    assert parse_weights("latency=0.6, fill_rate=0.4") == {"latency": 0.6, "fill_rate": 0.4}
