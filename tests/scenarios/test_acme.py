"""`fixgw scenario acme` over real TCP: the worked scenario of SPEC.md section 3, seed fixed.

LP simulators, the gateway and an OMS in one process on loopback. The story is asserted,
not the clock: who gets the first child, that LP_A's partial fill puts it below LP_C in
the scorecard, that the next wave is split across LP_C and LP_D in one decision, that the
block completes, and that it costs less than the same block routed statically to one LP.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.scenario import (
    CONFIGS,
    AcmeResult,
    BlockRun,
    ChildEvent,
    Wave,
    acme_values,
    format_acme,
    load_scenario,
    run_acme,
    run_block,
)

SEED = 4  # the scenario file's own seed: what `fixgw scenario acme` prints


@pytest.fixture(scope="module")
def acme() -> AcmeResult:
    return asyncio.run(run_acme(load_scenario(CONFIGS["acme"]), SEED))


def waves(result: AcmeResult) -> list[Wave]:
    return [item for item in result.run.timeline if isinstance(item, Wave)]


def first_short_of(result: AcmeResult, lp: str) -> ChildEvent:
    for item in result.run.timeline:
        if isinstance(item, ChildEvent) and item.kind == "end" and item.lp == lp and item.filled < item.qty:
            return item
    raise AssertionError(f"no child of {lp} came back short")


def test_lp_a_ranks_first_after_the_warm_up_then_lp_c_lp_d_lp_b(acme: AcmeResult) -> None:
    assert [k.lp for k in acme.run.warmup_scores] == ["LP_A", "LP_C", "LP_D", "LP_B"]


def test_the_first_child_goes_to_lp_a(acme: AcmeResult) -> None:
    first = waves(acme)[0]
    assert [(lp, qty) for lp, qty, _ in first.children] == [("LP_A", 20_000)]


def test_lp_a_fills_the_first_child_in_full_and_half_of_the_second(acme: AcmeResult) -> None:
    ends = [i for i in acme.run.timeline if isinstance(i, ChildEvent) and i.kind == "end"]
    by_child = {e.child: e for e in ends}
    assert (by_child[1].lp, by_child[1].filled, by_child[1].qty) == ("LP_A", 20_000, 20_000)
    assert (by_child[2].lp, by_child[2].filled, by_child[2].qty) == ("LP_A", 10_000, 20_000)


def test_after_lp_a_comes_back_short_its_score_falls_below_lp_c(acme: AcmeResult) -> None:
    short = first_short_of(acme, "LP_A")
    before = waves(acme)[0].scores
    assert before["LP_A"] > before["LP_C"]
    assert short.scores_after["LP_A"] < short.scores_after["LP_C"]
    assert short.scores_after["LP_A"] < before["LP_A"]


def test_the_next_wave_is_split_across_lp_c_and_lp_d_at_once(acme: AcmeResult) -> None:
    timeline = acme.run.timeline
    short = first_short_of(acme, "LP_A")
    nxt = next(i for i in timeline[timeline.index(short) :] if isinstance(i, Wave))
    # one routing decision, two children: LP_C and LP_D work at the same time
    assert sorted(lp for lp, _, _ in nxt.children) == ["LP_C", "LP_D"]
    assert dict((lp, qty) for lp, qty, _ in nxt.children) == {"LP_C": 30_000, "LP_D": 15_000}
    assert nxt.why["LP_A"] == "came back short for this order"
    # the decision saw the scorecard as updated by LP_A's short fill (the rows of LPs with
    # no observation since the last decision are kept up to Refresh: their decay a little late)
    assert nxt.scores["LP_C"] > nxt.scores["LP_A"]
    assert nxt.scores == pytest.approx(short.scores_after, rel=1e-4)
    assert abs(short.scores_after["LP_A"] - waves(acme)[0].scores["LP_A"]) > 1.0  # what the fill moved


def test_the_block_completes_and_every_report_checks_out(acme: AcmeResult) -> None:
    run = acme.run
    assert run.filled == 200_000 and run.status == "filled"
    assert sum(run.share.values()) == 200_000
    assert run.violations == []
    assert len(waves(acme)) >= 3 and run.children >= 4


def test_cheaper_than_routing_the_block_statically_to_one_lp(acme: AcmeResult) -> None:
    run = acme.run
    assert run.cost_bps is not None
    labels = {b.label: b for b in acme.baselines}
    assert set(labels) == {"static LP_A only", "static LP_B only"}
    for baseline in acme.baselines:
        assert baseline.filled > 0 and baseline.cost_bps is not None, baseline.label
        assert baseline.share.keys() == {baseline.label.split()[1]}  # it really went to one LP
        assert run.cost_bps < baseline.cost_bps, (baseline.label, run.cost_bps, baseline.cost_bps)
    # pinned to LP_A the block is done, but slowly and at a much worse price
    assert labels["static LP_A only"].filled == 200_000
    assert labels["static LP_A only"].cost_bps > run.cost_bps + 2.0  # type: ignore[operator]


def test_printed_as_a_timeline_and_as_name_value_lines(acme: AcmeResult) -> None:
    text = format_acme(acme)
    assert "Timeline" in text and "wave 1" in text and "Summary:" in text
    values = dict(line.split("=", 1) for line in acme_values(acme))
    assert values["acme.child.1.lp"] == "LP_A"
    assert values["acme.filled"] == "200000"
    assert float(values["acme.vwap_vs_arrival_bps"]) == pytest.approx(acme.run.cost_bps, abs=1e-3)
    assert all(line in text for line in acme_values(acme))


def test_same_seed_same_story() -> None:
    """Two runs of the block (each with its warm-up) tell the same story, fill for fill.

    The waves up to and including the split and their fills are compared exactly (LPs,
    quantities, prices). Later waves are not: once the scores of two LPs are within the
    noise of wall-clock latencies a late decision may go either way, and two fills at
    different LPs a millisecond apart may come in either order (each moves the market).
    """
    scenario = load_scenario(CONFIGS["acme"])

    def story(run: BlockRun) -> list[tuple[object, ...]]:
        tl = run.timeline
        split = [i for i in tl if isinstance(i, Wave)][2]
        children = set(range(1, 3 + len(split.children)))  # waves 1 and 2: one child each
        out: list[tuple[object, ...]] = [
            ("wave", w.number, tuple(w.children)) for w in tl if isinstance(w, Wave)
        ][:3]
        out += sorted(
            (i.kind, i.child, i.lp, i.qty, i.price, i.filled, i.state)
            for i in tl
            if isinstance(i, ChildEvent) and i.child in children
        )
        return out

    first = asyncio.run(run_block(scenario, SEED))
    second = asyncio.run(run_block(scenario, SEED))
    a, b = story(first), story(second)
    assert a == b, ([x for x in a if x not in b], [x for x in b if x not in a])
    assert first.arrival == second.arrival and first.filled == second.filled == 200_000
    assert first.cost_bps == pytest.approx(second.cost_bps, abs=0.5)
