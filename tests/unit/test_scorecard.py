"""The scorecard's arithmetic, checked by hand on the sample fills of SPEC.md section 3.

Side is not given in the sample table; the fills are taken as buys (the benchmark for a buy
is the ask). Each expected figure is written out from the SPEC formula in a comment.
"""

from __future__ import annotations

import math

import pytest

from gateway.scorecard import (
    ACK_LAT,
    EFF_SPREAD,
    FILL_LAT,
    FILL_RATE,
    PI,
    PI_MID,
    REJECT_RATE,
    Scorecard,
    ScorecardError,
    ScorecardSettings,
    parse_scorecard_settings,
)

T1 = 1754141401.123456  # 2025-08-02 13:30:01.123456 UTC
T2 = 1754141402.456789
T3 = 1754141403.789123
T4 = 1754141404.912345


def sample_card(half_life: float = 300.0, k: float = 0.0) -> Scorecard:
    card = Scorecard(ScorecardSettings(half_life_s=half_life, shrinkage_k=k))
    rows = [
        # (time, LP, symbol, order, fill, price, bid, ask, latency ms)
        (T1, "LP_A", "XYZ", 1000, 1000, 100.01, 100.00, 100.02, 15),
        (T2, "LP_B", "XYZ", 500, 200, 100.03, 100.01, 100.03, 55),
        (T3, "LP_C", "XYZ", 2000, 2000, 100.00, 100.00, 100.02, 25),
        (T4, "LP_A", "ABC", 5000, 5000, 50.24, 50.24, 50.26, 18),
    ]
    for i, (t, lp, sym, qty, fill, px, bid, ask, lat) in enumerate(rows):
        cid = b"C%d" % i
        sent = t - lat / 1000
        card.on_sent(cid, lp, sym, +1, qty, sent, bid=bid, ask=ask)
        card.on_fill(cid, fill, px, t)
        card.on_done(cid, False, t)
    return card


def test_price_improvement_effective_spread_fill_rate_latency_per_fill() -> None:
    card = sample_card()
    b = card.kpis("LP_B", "XYZ", None, T2)
    # LP_B: buy 200 @ 100.03, ask 100.03, mid 100.02
    assert b[PI] == pytest.approx(0.0, abs=1e-9)  # (100.03 - 100.03) / 100.03 x 1e4
    assert b[PI_MID] == pytest.approx((100.02 - 100.03) / 100.02 * 1e4)  # -0.99980
    assert b[EFF_SPREAD] == pytest.approx(2 * (100.03 - 100.02) / 100.02 * 1e4)  # 1.99960
    assert b[FILL_RATE] == pytest.approx(0.4)  # 200 / 500
    assert b[ACK_LAT] == pytest.approx(55.0, abs=1e-3) and b[FILL_LAT] == pytest.approx(55.0, abs=1e-3)
    assert b[REJECT_RATE] == 0.0
    c = card.kpis("LP_C", "XYZ", None, T3)
    assert c[PI] == pytest.approx((100.02 - 100.00) / 100.02 * 1e4)  # 1.99960
    assert c[PI_MID] == pytest.approx((100.01 - 100.00) / 100.01 * 1e4)  # 0.99990
    assert c[EFF_SPREAD] == pytest.approx(-1.9998, abs=1e-4)  # 2 x (100.00 - 100.01) / 100.01 x 1e4


def test_ewma_across_symbols_with_decay() -> None:
    card = sample_card(half_life=300.0)
    a = card.kpis("LP_A", None, None, T4)
    x1 = (100.02 - 100.01) / 100.02 * 1e4  # 0.99980: XYZ at T1
    x2 = (50.26 - 50.24) / 50.26 * 1e4  # 3.97931: ABC at T4
    n = 2 ** (-(T4 - T1) / 300.0) + 1  # the first observation decayed over 3.789 s
    assert a[PI] == pytest.approx(x1 + (x2 - x1) / n)
    assert a[PI] == pytest.approx(2.496075, abs=1e-5)  # 0.99980 + 2.97951 / 1.99128
    assert a[ACK_LAT] == pytest.approx(15 + (18 - 15) / n, abs=1e-3)


def test_effective_equals_realized_plus_twice_impact() -> None:
    card = Scorecard(ScorecardSettings(half_life_s=1e9, shrinkage_k=0))
    mids = {"XYZ": 100.05}
    for i, (px, bid, ask, side) in enumerate(
        [(100.01, 100.00, 100.02, 1), (99.99, 99.98, 100.00, -1), (100.03, 100.01, 100.03, 1)]
    ):
        cid = b"K%d" % i
        card.on_sent(cid, "LP_A", "XYZ", side, 100, T1 + i, bid=bid, ask=ask)
        card.on_fill(cid, 100, px, T1 + i + 0.01)
        card.on_done(cid, False, T1 + i + 0.01)
    assert card.mature(T1 + 100, lambda s: mids[s]) == 9
    v = card.kpis("LP_A", "XYZ", None, T1 + 100)
    for h in card.settings.horizons_s:
        realized = card.kpi_value(v, f"realized_spread_{h:g}s")
        impact = card.kpi_value(v, f"market_impact_{h:g}s")
        assert v[EFF_SPREAD] == pytest.approx(realized + 2 * impact)
    # the first fill's impact at any horizon: s x (mid_h - mid_t) / mid_t x 1e4 for each fill, averaged
    impacts = [
        1 * (100.05 - 100.01) / 100.01 * 1e4,
        -1 * (100.05 - 99.99) / 99.99 * 1e4,
        1 * (100.05 - 100.02) / 100.02 * 1e4,
    ]
    assert card.kpi_value(v, "market_impact") == pytest.approx(sum(impacts) / 3)


def test_markouts_wait_for_their_horizon() -> None:
    card = Scorecard(ScorecardSettings(shrinkage_k=0))
    card.on_sent(b"M", "LP_A", "XYZ", 1, 100, T1, bid=100.0, ask=100.02)
    card.on_fill(b"M", 100, 100.01, T1)
    assert card.next_markout() == pytest.approx(T1 + 1.0)
    assert card.mature(T1 + 0.5, lambda s: 100.5) == 0
    assert card.mature(T1 + 1.0, lambda s: 100.5) == 1
    assert card.mature(T1 + 31, lambda s: None) == 0  # no market then: nothing scored
    assert card.next_markout() is None


def test_decay_halves_the_weight_per_half_life() -> None:
    card = Scorecard(ScorecardSettings(half_life_s=10.0, shrinkage_k=0))
    card._update("LP_A", "XYZ", 0, FILL_RATE, 1.0, 0.0)
    st = card._stats["LP_A"]
    assert st.weight(FILL_RATE, 10.0, card.decay) == pytest.approx(0.5)
    assert st.weight(FILL_RATE, 20.0, card.decay) == pytest.approx(0.25)
    card._update("LP_A", "XYZ", 0, FILL_RATE, 0.0, 100.0)  # 10 half-lives later the old record is faint
    assert card.kpis("LP_A", None, None, 100.0)[FILL_RATE] == pytest.approx(2**-10 / (1 + 2**-10))


def test_shrinkage_toward_the_lp_and_the_prior() -> None:
    card = Scorecard(ScorecardSettings(half_life_s=1e9, shrinkage_k=20.0))
    prior = card.settings.prior["fill_rate"]
    assert card.kpis("LP_NEW", "XYZ", None, 0.0)[FILL_RATE] == pytest.approx(prior)
    for i in range(20):  # 20 children at 100% on XYZ
        card._update("LP_A", "XYZ", 0, FILL_RATE, 1.0, float(i))
    lp_wide = 20 / 40 * 1.0 + 20 / 40 * prior  # n / (n + k) toward the prior
    assert card.kpis("LP_A", None, None, 20.0)[FILL_RATE] == pytest.approx(lp_wide)
    sym = 20 / 40 * 1.0 + 20 / 40 * lp_wide  # the symbol shrunk toward the LP-wide value
    assert card.kpis("LP_A", "XYZ", None, 20.0)[FILL_RATE] == pytest.approx(sym)
    assert card.kpis("LP_A", "ABC", None, 20.0)[FILL_RATE] == pytest.approx(lp_wide)  # no ABC data


def test_composite_scores_on_the_sample_scorecard() -> None:
    card = Scorecard(ScorecardSettings(half_life_s=1e9, shrinkage_k=0))
    table = {
        "LP_A": (0.50, 0.985, 16.5, 0.012),
        "LP_B": (-0.25, 0.65, 55.0, 0.15),
        "LP_C": (1.00, 0.95, 25.0, 0.035),
    }
    for lp, (pi, fill, lat, rej) in table.items():
        card._update(lp, "XYZ", 0, PI, pi, 0.0)
        card._update(lp, "XYZ", 0, FILL_RATE, fill, 0.0)
        card._update(lp, "XYZ", 0, ACK_LAT, lat, 0.0)
        card._update(lp, "XYZ", 0, REJECT_RATE, rej, 0.0)
    scores = card.scores(["LP_A", "LP_B", "LP_C"], "XYZ", "best_price", 0.0)
    # min-max per KPI; market impact has no data (prior for all: 0.5 each)
    # LP_A: PI (0.5+0.25)/1.25=0.6, fill 1.0, latency (55-16.5)/38.5=1.0, impact 0.5
    a = (0.5 * 0.6 + 0.2 * 1.0 + 0.2 * 1.0 + 0.1 * 0.5) * (1 - 0.012) * 100
    # LP_B: 0, 0, 0, 0.5 ; LP_C: PI 1.0, fill (0.95-0.65)/0.335, latency (55-25)/38.5
    b = (0.1 * 0.5) * (1 - 0.15) * 100
    c = (0.5 * 1.0 + 0.2 * (0.30 / 0.335) + 0.2 * (30 / 38.5) + 0.1 * 0.5) * (1 - 0.035) * 100
    assert scores["LP_A"] == pytest.approx(a)  # 74.10
    assert scores["LP_B"] == pytest.approx(b)  # 4.25
    assert scores["LP_C"] == pytest.approx(c)  # 85.98
    hft = card.scores(["LP_A", "LP_B", "LP_C"], "XYZ", "hft", 0.0)
    assert hft["LP_A"] > hft["LP_C"] > hft["LP_B"]  # latency-heavy: LP_A leads
    assert scores["LP_C"] > scores["LP_A"]  # price-heavy: LP_C leads


def test_prior_lp_is_neither_zero_nor_hundred() -> None:
    card = Scorecard(ScorecardSettings(shrinkage_k=5.0))
    for i in range(10):
        card._update("GOOD", "XYZ", 0, FILL_RATE, 1.0, float(i))
        card._update("GOOD", "XYZ", 0, ACK_LAT, 5.0, float(i))
        card._update("BAD", "XYZ", 0, FILL_RATE, 0.2, float(i))
        card._update("BAD", "XYZ", 0, ACK_LAT, 200.0, float(i))
    s = card.scores(["GOOD", "BAD", "NEW"], "XYZ", "hft", 10.0)
    assert s["GOOD"] > s["NEW"] > s["BAD"] and 0 < s["NEW"] < 100


def test_zscore_normalisation_and_single_lp() -> None:
    card = Scorecard(ScorecardSettings(normalization="zscore", shrinkage_k=0))
    assert card.scores(["ONLY"], "XYZ", "hft", 0.0)["ONLY"] == pytest.approx(50.0 * (1 - 0.05))
    for lp, lat in (("A", 10.0), ("B", 20.0), ("C", 30.0)):
        card._update(lp, "XYZ", 0, ACK_LAT, lat, 0.0)
    s = card.scores(["A", "B", "C"], "XYZ", "hft", 0.0, weights={"latency": 1.0})
    z = 10 / math.sqrt(200 / 3)
    assert s["A"] == pytest.approx(100 * 0.5 * (1 + math.erf(z / math.sqrt(2))) * 0.95)


def test_weights_are_validated_and_replaceable() -> None:
    card = Scorecard()
    card.set_weights("hft", {"latency": 0.5, "fill_rate": 0.5})
    assert card.settings.profiles["hft"] == {"latency": 0.5, "fill_rate": 0.5}
    for bad, why in (
        ({"latency": 0.7, "fill_rate": 0.7}, "sum to"),
        ({"latency": -0.5, "fill_rate": 1.5}, "non-negative"),
        ({"speed": 1.0}, "unknown KPI"),
        ({}, "no weights"),
    ):
        with pytest.raises(ScorecardError, match=why):
            card.set_weights("hft", bad)
    assert card.settings.profiles["hft"] == {"latency": 0.5, "fill_rate": 0.5}  # unchanged
    card.set_weights("custom", {"rejection_rate": 0.3, "price_improvement": 0.7})
    assert "custom" in card.snapshot(0.0)["profiles"]


def test_rejections_and_last_look_hold_time() -> None:
    card = Scorecard(ScorecardSettings(shrinkage_k=0))
    card.on_sent(b"R1", "LP_B", "XYZ", 1, 100, 0.0, bid=99.0, ask=101.0, last_look=True)
    card.on_answer(b"R1", 0.080)
    card.on_done(b"R1", True, 0.080)
    v = card.kpis("LP_B", "XYZ", None, 0.1)
    assert v[REJECT_RATE] == 1.0 and v[FILL_RATE] == 0.0
    assert card.kpi_value(v, "hold_time") == pytest.approx(80.0)
    assert card.kpi_value(v, "latency") == pytest.approx(80.0)


def test_size_buckets() -> None:
    card = Scorecard(ScorecardSettings(shrinkage_k=0))
    assert [card.bucket(q, 1000) for q in (100, 499, 500, 1999, 2000, 10**6)] == [0, 0, 1, 1, 2, 2]
    card.on_sent(b"S", "LP_A", "XYZ", 1, 5000, 0.0, bid=1.0, ask=1.1, typical=1000)
    card.on_fill(b"S", 1000, 1.1, 0.01)
    card.on_done(b"S", False, 0.01)
    assert card.kpis("LP_A", "XYZ", 2, 0.01)[FILL_RATE] == pytest.approx(0.2)
    assert card.kpis("LP_A", "XYZ", 0, 0.01)[FILL_RATE] == pytest.approx(
        0.2
    )  # no small-size data: symbol value


def decided_card() -> Scorecard:
    """Four LPs with children on XYZ in two size buckets (rejects among them) and on ABC."""
    card = Scorecard(ScorecardSettings(half_life_s=60.0, shrinkage_k=5.0))
    for i in range(40):
        lp = ("LP_A", "LP_B", "LP_C", "LP_D")[i % 4]
        sym = "XYZ" if i % 3 else "ABC"
        cid = b"D%d" % i
        t = T1 + i * 0.7
        card.on_sent(
            cid, lp, sym, 1 if i % 2 else -1, 500 + 300 * (i % 5), t, bid=99.99, ask=100.01, typical=1000
        )
        card.on_answer(cid, t + 0.01 * (1 + i % 4))
        if i % 7 == 3:
            card.on_done(cid, True, t + 0.05)
            continue
        card.on_fill(cid, 500, 100.01 - 0.001 * (i % 4), t + 0.05)
        card.on_done(cid, False, t + 0.05)
        card.mature(t + 6, lambda s: 100.02)
    return card


def test_decision_rows_give_the_rejection_rates_and_the_scores_to_the_last_bit() -> None:
    card = decided_card()
    lps = ["LP_A", "LP_B", "LP_C", "LP_D", "LP_NEW"]
    now = T1 + 40.0
    for profile in ("hft", "block", "best_price"):
        plan = card.profile_plan(profile)
        for bucket in (0, 1, 2, None):
            rows, rates = card.decision_rows(lps, "XYZ", bucket, plan, now)
            assert rates == [card.rejection_rate(lp, "XYZ", now) for lp in lps]
            assert card.composite(plan, rows) == list(
                card.scores(lps, "XYZ", profile, now, bucket=bucket).values()
            )
    assert card.composite(card.profile_plan("hft"), []) == []


def test_scores_move_with_time_alone_so_none_may_be_kept_from_one_decision_to_the_next() -> None:
    # A score depends on when it is asked, not only on what was observed: each key's weight
    # decays to ``now``. A score kept until the next update (a cache keyed on the scorecard's
    # updates) would be stale as soon as time moves; after an update it must change at once.
    card = decided_card()
    lps = ["LP_A", "LP_B", "LP_C", "LP_D"]
    plan = card.profile_plan("hft")
    now = T1 + 40.0
    first = card.composite(plan, card.decision_rows(lps, "XYZ", 0, plan, now)[0])
    later = card.composite(plan, card.decision_rows(lps, "XYZ", 0, plan, now + 30.0)[0])
    assert later != first  # no event in between
    assert later == list(card.scores(lps, "XYZ", "hft", now + 30.0, bucket=0).values())
    card.on_sent(b"U", "LP_B", "XYZ", 1, 500, now + 30.0, bid=99.99, ask=100.01, typical=1000)
    card.on_answer(b"U", now + 30.5)  # a slow answer: LP_B's latency worsens
    after = card.composite(plan, card.decision_rows(lps, "XYZ", 0, plan, now + 30.5)[0])
    assert after[1] < card.composite(plan, card.decision_rows(lps, "XYZ", 0, plan, now + 30.0)[0])[1]
    assert after == list(card.scores(lps, "XYZ", "hft", now + 30.5, bucket=0).values())


def test_a_board_keeps_rows_until_an_lp_observes_or_the_refresh_lapses() -> None:
    # The board of (symbol, bucket, profile): rows as decision_rows gives them when it was
    # made; an observation of one LP recomputes that LP's row (at the time of the decision)
    # and no other; once older than Refresh, every row is computed again.
    card = decided_card()
    assert card.settings.refresh_s is None and card.settings.refresh == 60.0 / 300  # half-life / 300
    lps = ["LP_A", "LP_B", "LP_C", "LP_D", "LP_NEW"]
    plan = card.profile_plan("hft")
    now = T1 + 40.0
    board = card.decision_board(lps, "XYZ", 0, plan, now)
    exact = card.decision_rows(lps, "XYZ", 0, plan, now)
    assert (board.rows, board.rates) == exact
    board.memo = "derived"
    later = now + 0.002  # within Refresh, nothing observed: the same rows, the memo kept
    assert card.decision_board(lps, "XYZ", 0, plan, later) is board
    assert (board.rows, board.rates, board.memo) == (*exact, "derived")
    assert board.rows != card.decision_rows(lps, "XYZ", 0, plan, later)[0]  # what the decay moved
    # LP_B observes on another symbol: its LP-wide figures move, so does its XYZ row
    card.on_sent(b"U", "LP_B", "ABC", 1, 500, later, bid=99.99, ask=100.01, typical=1000)
    card.on_answer(b"U", later + 0.001)
    moved = card.decision_board(lps, "XYZ", 0, plan, later + 0.001)
    assert moved is board and board.memo == "derived" and board.changed == [1]  # the caller's to follow
    board.changed = []
    fresh = card.decision_rows(lps, "XYZ", 0, plan, later + 0.001)
    assert board.rows[1] == fresh[0][1] and board.rates[1] == fresh[1][1]
    assert board.rows[1] != exact[0][1]
    assert [board.rows[i] for i in (0, 2, 3, 4)] == [exact[0][i] for i in (0, 2, 3, 4)]
    # LP_NEW had no figures: its first observation moves its row too
    card.on_sent(b"N", "LP_NEW", "XYZ", 1, 500, later + 0.002, bid=99.99, ask=100.01, typical=1000)
    card.on_answer(b"N", later + 0.003)
    assert card.decision_board(lps, "XYZ", 0, plan, later + 0.003) is board and board.changed == [4]
    assert board.rows[4] == card.decision_rows(lps, "XYZ", 0, plan, later + 0.003)[0][4] != exact[0][4]
    # older than Refresh: all rows again, exactly those of the moment
    lapsed = now + 0.21
    again = card.decision_board(lps, "XYZ", 0, plan, lapsed)
    assert (again.rows, again.rates) == card.decision_rows(lps, "XYZ", 0, plan, lapsed)
    assert again.memo is None and again.changed == []
    # time going back, other LPs, another bucket or new weights: another computation
    assert (card.decision_board(lps, "XYZ", 0, plan, now).rows) == card.decision_rows(
        lps, "XYZ", 0, plan, now
    )[0]
    assert (
        card.decision_board(lps[:2], "XYZ", 0, plan, now).rows
        == card.decision_rows(lps[:2], "XYZ", 0, plan, now)[0]
    )
    assert (
        card.decision_board(lps, "XYZ", 1, plan, now).rows == card.decision_rows(lps, "XYZ", 1, plan, now)[0]
    )
    card.set_weights("hft", {"fill_rate": 1.0})
    plan2 = card.profile_plan("hft")
    b2 = card.decision_board(lps, "XYZ", 0, plan2, now)
    assert b2.plan is plan2 and (b2.rows, b2.rates) == card.decision_rows(lps, "XYZ", 0, plan2, now)


def test_refresh_zero_computes_every_board_afresh_and_boards_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    card = decided_card()
    card._refresh = 0.0  # what Refresh = 0 sets
    lps = ["LP_A", "LP_B", "LP_C", "LP_D"]
    plan = card.profile_plan("block")
    now = T1 + 40.0
    first = card.decision_board(lps, "XYZ", 0, plan, now).rows
    again = card.decision_board(lps, "XYZ", 0, plan, now + 1e-6)
    assert again.rows != first and again.rows == card.decision_rows(lps, "XYZ", 0, plan, now + 1e-6)[0]
    import gateway.scorecard as scorecard_module

    monkeypatch.setattr(scorecard_module, "MAX_BOARDS", 3)
    for i in range(10):
        card.decision_board(lps, f"S{i}", 0, plan, now)
    assert len(card._boards) == 3 and list(card._boards) == [(f"S{i}", 0, id(plan)) for i in (7, 8, 9)]
    with pytest.raises(ScorecardError, match="Refresh"):
        ScorecardSettings(refresh_s=-1.0)
    assert parse_scorecard_settings({"Refresh": 0}, "test").refresh_s == 0.0


def test_a_record_faded_out_of_the_floats_counts_as_unseen_even_without_shrinkage() -> None:
    # ShrinkageK 0: w = n / n. After ~1,075 half-lives n underflows to 0.0, and 0 / 0 used to
    # raise ZeroDivisionError in the middle of a routing decision.
    card = Scorecard(ScorecardSettings(half_life_s=1.0, shrinkage_k=0))
    card._update("LP_A", "XYZ", 0, FILL_RATE, 0.25, 0.0)  # faded by the time of the decision
    card._update("LP_A", "ABC", 0, FILL_RATE, 0.75, 1990.0)  # LP-wide: still weighs
    card._update("LP_A", "XYZ", 0, REJECT_RATE, 0.5, 0.0)
    now = 2000.0
    assert card.kpis("LP_A", "XYZ", 0, now)[FILL_RATE] == 0.75  # the LP-wide value
    assert card.rejection_rate("LP_A", "XYZ", now) == card.settings.prior["rejection_rate"]
    plan = card.profile_plan("block")
    rows, rates = card.decision_rows(["LP_A", "LP_B"], "XYZ", 0, plan, now)
    assert rates == [card.settings.prior["rejection_rate"]] * 2
    assert card.composite(plan, rows) == list(
        card.scores(["LP_A", "LP_B"], "XYZ", "block", now, bucket=0).values()
    )


def test_boards_are_not_written_in_a_snapshot_and_are_emptied_when_figures_come_back() -> None:
    from gateway.recovery import restore_scorecard, scorecard_state

    card = decided_card()
    lps = ["LP_A", "LP_B", "LP_C", "LP_D"]
    plan = card.profile_plan("hft")
    now = T1 + 40.0
    card.decision_board(lps, "XYZ", 0, plan, now)
    snap = scorecard_state(card)
    assert "_boards" not in snap["state"] and "_lp_level" not in snap["state"]
    other = Scorecard(card.settings)
    stale = other.decision_board(lps, "XYZ", 0, other.profile_plan("hft"), now)  # of no figures
    assert restore_scorecard(other, snap)
    assert other._boards == {} and other._lp_level == {}
    fresh = other.decision_board(lps, "XYZ", 0, other.profile_plan("hft"), now)
    assert fresh is not stale and fresh.rows == card.decision_rows(lps, "XYZ", 0, plan, now)[0]


@pytest.mark.parametrize("normalization", ["minmax", "zscore"])
def test_scores_follow_replaced_rows_exactly_as_computed_afresh(normalization: str) -> None:
    # Scores.replace changes one row: only that score is computed again while its values stay
    # inside each KPI's range across the rows, else all of them; either way the values are
    # those of composite() on the rows as they are now, to the last bit.
    import random

    card = Scorecard(ScorecardSettings(normalization=normalization))
    card.set_weights(
        "mixed", {"latency": 0.4, "fill_rate": 0.3, "price_improvement": 0.2, "ack_latency": 0.1}
    )
    rng = random.Random(7)
    for profile in ("hft", "block", "best_price", "mixed"):
        plan = card.profile_plan(profile)
        width = len(plan.pj)
        rows = [[rng.uniform(0.0, 1.0) for _ in range(width)] for _ in range(12)]
        scores = card.scored(plan, rows)
        assert scores.values == card.composite(plan, rows)
        alone = again = 0
        for _ in range(300):
            changes = []
            for _ in range(rng.choice((1, 1, 2, 3))):  # one row or a few at once
                i = rng.randrange(len(rows))
                row = [
                    rng.uniform(0.1, 0.9) if rng.random() < 0.8 else rng.uniform(-0.5, 1.5)
                    for _ in range(width)
                ]
                if rng.random() < 0.1:
                    row = list(rows[i])  # the same figures again
                rows[i] = row
                changes.append((i, row))
            if scores.replace(changes):
                alone += 1
            else:
                again += 1
            assert scores.values == card.composite(plan, rows)
        if normalization == "minmax":
            assert alone > 50 and again > 10  # both ways taken
        else:
            assert alone == 0  # z-scores move with every row
    one = card.scored(card.profile_plan("hft"), [[0.5] * len(card.profile_plan("hft").pj)])
    assert one.replace([(0, [0.7] * len(card.profile_plan("hft").pj))]) is False and one.values == [
        card.composite(card.profile_plan("hft"), [[0.7] * len(card.profile_plan("hft").pj)])[0]
    ]


def test_refresh_defaults_to_a_three_hundredth_of_the_half_life() -> None:
    assert ScorecardSettings().refresh == 1.0  # half-life 300 s: weights at most 0.23 % late
    assert ScorecardSettings(half_life_s=3.0).refresh == 0.01
    assert ScorecardSettings(half_life_s=3.0, refresh_s=0.5).refresh == 0.5
    assert parse_scorecard_settings({}, "test").refresh_s is None
    assert Scorecard(parse_scorecard_settings({"HalfLife": 30}, "test"))._refresh == 0.1
