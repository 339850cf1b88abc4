"""The routers, driven through an OrderBook with a fake LpView and a real Scorecard.

The scorecard's histories are built with its public events (sent, answer, fill, done), as
the gateway feeds it. Each test then sends a parent order through ``OrderBook.new_parent``
with the router's ``plan`` as the planner, answers the children as an LP would
(``on_child_fill``, ``on_child_done``), and checks the children sent and the ``Decision``
the router recorded. The scorecard hears of each child event before the book does, so that
every re-route uses the scorecard as updated by the last fill.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.fix.enums import OrdType, TimeInForce
from gateway.instruments import Instrument
from gateway.orders import (
    C_CANCELED,
    C_REJECTED,
    CANCELED,
    CHILD_TERMINAL,
    ChildOrder,
    OrderBook,
    Out,
    ParentOrder,
)
from gateway.router import (
    Decision,
    ScorecardRouter,
    ScorecardRouterSettings,
    StaticRouter,
    child_price,
    quote_allows,
)
from gateway.scorecard import ACK_LAT, FILL_RATE, Scorecard, ScorecardSettings
from tests.unit.outs import fields

ACME = Instrument("ACME", tick_size=Decimal("0.01"), lot_size=Decimal("1"), typical_size=Decimal("10000"))
OTHER = Instrument("OTHER", tick_size=Decimal("0.01"), lot_size=Decimal("1"), typical_size=Decimal("10000"))
T0 = 1_790_000_000.0
LPS = ["LP_A", "LP_B", "LP_C", "LP_D"]
BID, ASK = 9999, 10001  # every LP's quote unless a test says otherwise: 99.99 / 100.01

# (ack latency ms, filled share of each child, price improvement vs the ask in bps):
# LP_A fast and reliable, LP_B poor, LP_C the best prices, LP_D fills less
CHARACTER = {
    "LP_A": (5.0, 1.00, 0.2),
    "LP_B": (60.0, 0.60, -0.5),
    "LP_C": (25.0, 0.95, 1.0),
    "LP_D": (15.0, 0.70, 0.5),
}


class View:
    """A fake LpView without displayed sizes: availability, quotes and risk refusals by hand."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.quotes: dict[tuple[str, str], tuple[int | None, int | None] | None] = {}
        self.refuse: dict[str, str] = {}
        self.asked: list[tuple[str, int, int | None]] = []  # (lp, qty, price) of child_allowed

    def available(self, lp: str) -> bool:
        return lp not in self.down

    def quote(self, lp: str, symbol: str, now: float) -> tuple[int | None, int | None] | None:
        return self.quotes.get((lp, symbol), (BID, ASK))

    def child_allowed(
        self, lp: str, parent: ParentOrder, qty: int, price: int | None, now: float
    ) -> str | None:
        self.asked.append((lp, qty, price))
        return self.refuse.get(lp)


class SizedView(View):
    """The same, with the size each LP displays on the side a child would take."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[str, int] = {}

    def quote_size(self, lp: str, symbol: str, is_buy: bool, now: float) -> int | None:
        return self.sizes.get(lp)


def history(card: Scorecard, lp: str, symbol: str, n: int, start: float, *, rejects_every: int = 0) -> None:
    """``n`` children of 1,000 at ``lp``, one a second, per the LP's character."""
    latency_ms, filled, improvement = CHARACTER.get(lp, (20.0, 0.9, 0.0))
    for i in range(n):
        cid = f"H-{lp}-{symbol}-{i}".encode()
        t = start + i
        card.on_sent(cid, lp, symbol, +1, 1000.0, t, bid=99.99, ask=100.01, typical=10000.0)
        t1 = t + latency_ms / 1000.0
        card.on_answer(cid, t1)
        if rejects_every and i % rejects_every:
            card.on_done(cid, True, t1)
            continue
        card.on_fill(cid, 1000.0 * filled, 100.01 * (1 - improvement / 1e4), t1)
        card.on_done(cid, False, t1)


class Desk:
    """An order book routed by a router, the scorecard fed as the gateway feeds it."""

    def __init__(
        self,
        view: View | None = None,
        settings: ScorecardRouterSettings | None = None,
        lps: list[str] | None = None,
        refresh_s: float = 0.01,
    ) -> None:
        self.card = Scorecard(ScorecardSettings(shrinkage_k=2.0, refresh_s=refresh_s))
        for lp in LPS:
            history(self.card, lp, "ACME", 30, T0 - 100.0)
        self.view = view if view is not None else SizedView()
        self.router = ScorecardRouter(self.card, self.view, lps or LPS, settings)
        self.seen: list[Decision] = []
        self.router.on_decision = self.seen.append
        self.book = OrderBook(self.router.plan)
        self.now = T0
        self._n = 0

    def tick(self, dt: float = 0.01) -> float:
        self.now += dt
        return self.now

    def new(
        self,
        qty: int,
        price: int | None = 10010,
        *,
        side: bytes = b"1",
        profile: str = "",
        tif: bytes = TimeInForce.DAY,
        inst: Instrument = ACME,
    ) -> tuple[ParentOrder, list[Out]]:
        self._n += 1
        ord_type = OrdType.LIMIT if price is not None else OrdType.MARKET
        p, out = self.book.new_parent(
            "OMS", b"P%d" % self._n, inst, side, ord_type, tif, qty, price, self.tick(), profile=profile
        )
        self._sent(p)
        p.check()
        return p, out

    def _sent(self, p: ParentOrder) -> None:
        for c in p.children:
            if c.sent_at == self.now:
                self.card.on_sent(
                    c.child_id,
                    c.lp,
                    p.symbol,
                    1 if p.is_buy else -1,
                    float(c.qty),
                    self.now,
                    bid=99.99,
                    ask=100.01,
                    typical=10000.0,
                )

    def fill(self, c: ChildOrder, qty: int, latency: float = 0.02) -> list[Out]:
        """A fill of ``qty``; an IOC child that is not complete is then canceled for the rest."""
        now = self.tick(latency)
        price = c.price if c.price is not None else ASK
        self.card.on_fill(c.child_id, float(qty), price / 100, now)
        out = self.book.on_child_fill(c, b"X-" + c.child_id, qty, price, now)
        if c.state in CHILD_TERMINAL:
            self.card.on_done(c.child_id, False, now)
        else:
            out += self.done(c, C_CANCELED)
        self._sent(c.parent)
        c.parent.check()
        return out

    def done(self, c: ChildOrder, state: str) -> list[Out]:
        self.card.on_answer(c.child_id, self.now)
        self.card.on_done(c.child_id, state == C_REJECTED, self.now)
        out = self.book.on_child_done(c, state, self.now)
        self._sent(c.parent)
        c.parent.check()
        return out

    def bucket(self, qty: int) -> int:
        return self.card.bucket(float(qty), 10000.0)


def working(p: ParentOrder) -> list[ChildOrder]:
    return [c for c in p.children if c.state not in CHILD_TERMINAL]


def by_lp(decision: Decision) -> dict[str, tuple[bool, str, float | None]]:
    return {c.lp: (c.eligible, c.why, c.score) for c in decision.candidates}


# --- primary selection ----------------------------------------------------------------------
def test_first_child_goes_to_the_highest_composite_among_eligible_lps() -> None:
    desk = Desk()
    p, out = desk.new(5000)
    (child,) = p.children
    scores = desk.card.scores(LPS, "ACME", "best_price", desk.now, bucket=desk.bucket(5000))
    assert child.lp == max(scores, key=lambda lp: scores[lp]) == "LP_C"  # the best prices
    assert child.qty == 2500  # no LP sees more than half the parent (max_share)
    assert child.tif == TimeInForce.IMMEDIATE_OR_CANCEL
    sent = [o for o in out if o.to == "lp"]
    assert [o.dest for o in sent] == ["LP_C"] and fields(sent[0])[44] == b"100.10"
    (decision,) = desk.seen
    assert decision.router == "scorecard" and decision.profile == "best_price" and decision.attempt == 1
    # every eligible LP is listed with the score that ranked it, best first
    assert [c.lp for c in decision.candidates] == sorted(LPS, key=lambda lp: -scores[lp])
    assert by_lp(decision)["LP_C"] == (True, "chosen", scores["LP_C"])
    assert {c.why for c in decision.candidates if c.lp != "LP_C"} == {"lower score"}
    assert all(c.score == scores[c.lp] for c in decision.candidates)
    assert desk.router.decisions[-1] is decision


def test_a_probe_is_at_most_one_slice() -> None:
    desk = Desk(settings=ScorecardRouterSettings(slice_factor=0.5))
    p, _ = desk.new(50_000)
    assert [(c.lp, c.qty) for c in p.children] == [("LP_C", 5000)]  # TypicalSize 10,000 x 0.5
    assert desk.view.asked[0] == ("LP_A", 5000, 10010)  # risk is asked about the slice


def test_profile_comes_from_the_parent_else_the_default() -> None:
    desk = Desk(settings=ScorecardRouterSettings(default_profile="hft"))
    hft = desk.card.scores(LPS, "ACME", "hft", desk.now, bucket=desk.bucket(5000))
    assert max(hft, key=lambda lp: hft[lp]) == "LP_A"  # latency-heavy: the fast LP
    p, _ = desk.new(5000)  # no profile on the order: the router's default
    assert p.children[0].lp == "LP_A" and desk.seen[-1].profile == "hft"
    p, _ = desk.new(5000, profile="best_price")
    assert p.children[0].lp == "LP_C" and desk.seen[-1].profile == "best_price"
    p, _ = desk.new(5000, profile="no_such_profile")  # unknown: the default
    assert p.children[0].lp == "LP_A" and desk.seen[-1].profile == "hft"
    desk.card.set_weights("hft", {"price_improvement": 1.0})  # weights changed at run time
    p, _ = desk.new(5000, profile="hft")
    assert p.children[0].lp == "LP_C"
    assert by_lp(desk.seen[-1])["LP_C"][2] == pytest.approx(
        100.0 * (1 - desk.card.rejection_rate("LP_C", "ACME", desk.now))
    )


# --- who is skipped, and why -----------------------------------------------------------------
def test_unavailable_limit_violating_and_risk_refused_lps_are_skipped_with_their_reason() -> None:
    view = SizedView()
    view.down.add("LP_C")  # the best: logged off
    view.quotes[("LP_A", "ACME")] = (10005, 10012)  # ask 100.12 above the limit 100.10
    view.refuse["LP_D"] = "open notional at LP_D would exceed 1000000"
    desk = Desk(view)
    p, _ = desk.new(5000)
    assert [c.lp for c in p.children] == ["LP_B"]  # the only one left, poor as it is
    cands = by_lp(desk.seen[-1])
    assert cands["LP_C"] == (False, "not available", None)
    assert cands["LP_A"] == (False, "quote through the limit", None)
    assert cands["LP_D"] == (False, "open notional at LP_D would exceed 1000000", None)
    assert cands["LP_B"][:2] == (True, "chosen")
    # scores are normalised across the eligible LPs only: one LP alone is in the middle
    assert cands["LP_B"][2] == pytest.approx(50.0 * (1 - desk.card.rejection_rate("LP_B", "ACME", desk.now)))


def test_a_sell_skips_bids_below_its_limit_and_a_missing_side_does_not_count() -> None:
    view = SizedView()
    view.quotes[("LP_C", "ACME")] = (9990, 10001)  # bid 99.90 below the sell limit 99.95
    view.quotes[("LP_D", "ACME")] = (None, 10001)  # no bid shown: not a violation
    view.quotes[("LP_A", "ACME")] = None  # no quote at all: not a violation
    desk = Desk(view)
    p, _ = desk.new(5000, 9995, side=b"2")
    cands = by_lp(desk.seen[-1])
    assert cands["LP_C"] == (False, "quote through the limit", None)
    assert cands["LP_A"][0] and cands["LP_B"][0] and cands["LP_D"][0]
    assert p.children[0].lp != "LP_C" and p.children[0].price == 9995


def test_lps_over_the_rejection_rate_for_the_symbol_are_skipped_on_that_symbol_only() -> None:
    desk = Desk(lps=[*LPS, "LP_R"])
    card = desk.card
    history(card, "LP_R", "ACME", 30, T0 - 100.0, rejects_every=5)  # 4 in 5 rejected on ACME
    history(card, "LP_R", "OTHER", 30, T0 - 100.0)  # and none on OTHER
    history(card, "LP_A", "OTHER", 30, T0 - 100.0)
    assert (
        card.rejection_rate("LP_R", "ACME", desk.now) > 0.5 > card.rejection_rate("LP_R", "OTHER", desk.now)
    )
    desk.new(5000)
    assert by_lp(desk.seen[-1])["LP_R"] == (False, "rejection rate over 50%", None)
    desk.new(5000, inst=OTHER)
    assert by_lp(desk.seen[-1])["LP_R"][0] is True


def test_nobody_eligible_means_no_child_and_an_ioc_parent_is_canceled() -> None:
    view = SizedView()
    view.down.update(LPS)
    desk = Desk(view)
    p, out = desk.new(5000, tif=TimeInForce.IMMEDIATE_OR_CANCEL)
    assert p.children == [] and p.state == CANCELED
    assert [c.why for c in desk.seen[-1].candidates] == ["not available"] * 4
    assert desk.seen[-1].children == []
    assert [fields(o)[150] for o in out if o.to == "oms"] == [b"0", b"4"]


# --- re-routing and spraying -----------------------------------------------------------------
def test_after_a_partial_fill_the_rest_is_sprayed_over_the_next_best_with_displayed_sizes() -> None:
    view = SizedView()
    view.sizes.update({"LP_A": 3000, "LP_B": 9000, "LP_C": 8000, "LP_D": 2500})
    desk = Desk(view, ScorecardRouterSettings(spray_max_lps=2, max_share=0.5))
    p, _ = desk.new(20_000)
    first = p.children[0]
    assert (first.lp, first.qty) == ("LP_C", 10_000)  # one slice (and half the parent)
    before = desk.seen[-1]
    desk.fill(first, 4000)  # LP_C fills 4,000 of 10,000; the IOC rest is canceled
    second = desk.seen[-1]
    assert second is not before and second.attempt == 2 and second.available_qty == 16_000
    wave = working(p)
    ranked = [c.lp for c in second.candidates if c.eligible]
    next_best = [lp for lp in ranked if lp != "LP_C"][:2]
    assert [c.lp for c in wave] == next_best  # two LPs at once, LP_C not among them
    assert "LP_C" not in next_best and len(wave) == 2
    # each gets what it displays, within the share cap and what is left
    assert [c.qty for c in wave] == [min(view.sizes[lp], 10_000) for lp in next_best]
    assert by_lp(second)["LP_C"][:2] == (True, "came back short for this order")
    # the short child lowered LP_C's score at once: the decision saw it
    now_c, then_c = by_lp(second)["LP_C"][2], by_lp(before)["LP_C"][2]
    assert now_c is not None and then_c is not None and now_c < then_c


def test_without_displayed_sizes_a_wave_is_split_by_fill_rate_and_latency() -> None:
    desk = Desk(View(), ScorecardRouterSettings(spray_max_lps=3, max_share=0.9, latency_scale_ms=50.0))
    p, _ = desk.new(100_000)
    desk.fill(p.children[0], 2000)
    wave = working(p)
    assert len(wave) == 3 and "LP_C" not in [c.lp for c in wave]
    now = desk.now

    def weight(lp: str) -> float:
        k = desk.card.kpis(lp, "ACME", None, now)
        return k[FILL_RATE] / (1.0 + k[ACK_LAT] / 50.0)

    total = sum(weight(c.lp) for c in wave)
    for c in wave:  # a wave of one slice per LP (30,000), shared by weight
        assert c.qty == int(30_000 * weight(c.lp) / total)
    by_weight = sorted(wave, key=lambda c: weight(c.lp))
    assert [c.qty for c in by_weight] == sorted(c.qty for c in wave)  # the better LP gets more
    assert by_weight[-1].lp == "LP_A"  # fast and fills everything


def test_a_rejected_child_goes_to_the_next_best_and_the_lp_is_not_tried_again() -> None:
    desk = Desk(View(), ScorecardRouterSettings(spray_max_lps=1))
    p, _ = desk.new(5000)
    desk.done(p.children[0], C_REJECTED)
    second = p.children[1]
    ranked = [c.lp for c in desk.seen[-2].candidates if c.eligible]
    assert second.lp == ranked[1] != "LP_C" and second.qty == 2500
    desk.done(second, C_REJECTED)
    third = p.children[2]
    assert third.lp not in ("LP_C", second.lp)
    assert desk.seen[-1].attempt == 3


def test_no_lp_gets_more_than_its_share_of_the_parent() -> None:
    view = SizedView()
    view.sizes.update(dict.fromkeys(LPS, 1_000_000))  # everyone shows more than the order
    desk = Desk(view, ScorecardRouterSettings(spray_max_lps=3, max_share=0.3, slice_factor=5.0))
    p, _ = desk.new(40_000)
    assert p.children[0].qty == 12_000  # the slice is 50,000, the cap 30% of 40,000
    desk.fill(p.children[0], 6000)
    wave = working(p)
    assert [c.qty for c in wave] == [12_000, 12_000, 10_000]  # capped, then what is left (34,000)
    for c in p.children:
        assert c.qty <= 0.3 * p.qty


def test_children_are_never_priced_through_the_parents_limit() -> None:
    view = SizedView()
    view.sizes.update(dict.fromkeys(LPS, 4000))
    view.quotes.update({(lp, "ACME"): (9990, 10000) for lp in LPS})  # asks below the limit
    desk = Desk(view, ScorecardRouterSettings(spray_max_lps=3))
    p, out = desk.new(20_000, 10_010)
    out += desk.fill(p.children[0], 1000)
    for c in p.children:
        assert c.price == 10_010
    prices = [fields(o)[44] for o in out if o.to == "lp"]
    assert len(prices) == 4 and set(prices) == {b"100.10"}
    # a market parent: the LP's far touch (its ask for a buy, its bid for a sell)
    m, _ = desk.new(1000, None)
    assert m.children[0].price == 10_000
    s, _ = desk.new(1000, None, side=b"2")
    assert s.children[0].price == 9990


def test_each_decision_records_the_scores_of_that_moment() -> None:
    # Refresh 0: every decision computes its rows afresh (see the board tests for the default)
    desk = Desk(View(), ScorecardRouterSettings(spray_max_lps=1), refresh_s=0.0)
    p, _ = desk.new(30_000)
    for _ in range(3):
        decision = desk.seen[-1]
        eligible = [c.lp for c in decision.candidates if c.eligible]
        expected = desk.card.scores(
            eligible, "ACME", decision.profile, decision.time, bucket=desk.bucket(decision.available_qty)
        )
        assert {c.lp: c.score for c in decision.candidates if c.eligible} == expected
        assert [ch.lp for ch in decision.children] == [c.lp for c in decision.candidates if c.why == "chosen"]
        desk.fill(working(p)[0], 1000)
    assert len(desk.seen) == 4 and [d.attempt for d in desk.seen] == [1, 2, 3, 4]


def test_a_decision_long_after_the_last_fill_records_the_scores_of_its_own_moment() -> None:
    # nothing is kept from one decision to the next: the figures decay with time alone
    desk = Desk(View())
    desk.new(5000)
    first = desk.seen[-1]
    desk.tick(600.0)  # two half-lives, no event in between
    desk.new(5000)
    later = desk.seen[-1]
    scores = desk.card.scores(LPS, "ACME", later.profile, later.time, bucket=desk.bucket(5000))
    assert {c.lp: c.score for c in later.candidates} == scores
    assert {c.lp: c.score for c in later.candidates} != {c.lp: c.score for c in first.candidates}


@pytest.mark.parametrize("router_kind", ["static", "scorecard"])
def test_the_limit_check_and_the_child_price_are_those_of_quote_allows_and_child_price(
    router_kind: str,
) -> None:
    # both routers work them out inline; the module's functions are the rule
    quotes: list[tuple[int | None, int | None] | None] = [
        None,
        (BID, ASK),
        (None, ASK),
        (BID, None),
        (None, None),
        (10005, 10012),
        (9990, 10000),
        (10010, 10010),
        (9995, 9995),
    ]
    for side in (b"1", b"2"):
        for price in (10010, 9995, None):
            for quote in quotes:
                view = View()
                view.quotes[("LP_A", "ACME")] = quote
                router: StaticRouter | ScorecardRouter
                if router_kind == "static":
                    router = StaticRouter(["LP_A"], view)
                else:
                    router = ScorecardRouter(Desk().card, view, ["LP_A"])
                ord_type = OrdType.LIMIT if price is not None else OrdType.MARKET
                parent = ParentOrder(
                    b"O", "OMS", b"P", ACME, side, ord_type, TimeInForce.DAY, 1000, price, T0
                )
                plans = router.plan(parent, 1000, T0)
                (candidate,) = router.decisions[-1].candidates
                if quote_allows(parent, quote):
                    assert candidate.eligible and [p.price for p in plans] == [child_price(parent, quote)]
                    assert view.asked == [("LP_A", 1000, child_price(parent, quote))]
                else:
                    assert (candidate.eligible, candidate.why, plans) == (
                        False,
                        "quote through the limit",
                        [],
                    )


# --- the static router ------------------------------------------------------------------------
def test_static_router_gives_everything_to_the_first_usable_lp_in_priority() -> None:
    view = View()
    view.down.add("LP_A")
    view.quotes[("LP_B", "ACME")] = (10005, 10012)  # through the limit of 100.10
    router = StaticRouter(["LP_A", "LP_B", "LP_C", "LP_D"], view)
    seen: list[Decision] = []
    router.on_decision = seen.append
    book = OrderBook(router.plan)
    p, _ = book.new_parent("OMS", b"S1", ACME, b"1", OrdType.LIMIT, TimeInForce.DAY, 50_000, 10010, T0)
    assert [(c.lp, c.qty, c.price) for c in p.children] == [("LP_C", 50_000, 10010)]
    assert [(c.lp, c.eligible, c.why) for c in seen[-1].candidates] == [
        ("LP_A", False, "not available"),
        ("LP_B", False, "quote through the limit"),
        ("LP_C", True, "first in priority"),
        ("LP_D", True, "lower priority"),
    ]
    assert seen[-1].router == "static" and all(c.score is None for c in seen[-1].candidates)
    # an empty child: the rest goes down the list, the LP is not tried again for this order
    book.on_child_done(p.children[0], C_REJECTED, T0 + 1)
    assert [(c.lp, c.qty) for c in p.children[1:]] == [("LP_D", 50_000)]
    assert ("LP_C", False, "already came back empty for this order") in [
        (c.lp, c.eligible, c.why) for c in seen[-1].candidates
    ]
    book.on_child_done(p.children[1], C_REJECTED, T0 + 2)
    assert len(p.children) == 2 and seen[-1].children == []
    assert p.state == "new" and p.working_qty == 0  # a DAY order is left working
    p.check()


def test_static_router_asks_risk_and_skips_a_refusal() -> None:
    view = View()
    view.refuse["LP_A"] = "max quantity 10000 exceeded"
    router = StaticRouter(["LP_A", "LP_B"], view)
    book = OrderBook(router.plan)
    p, _ = book.new_parent("OMS", b"S3", ACME, b"1", OrdType.LIMIT, TimeInForce.DAY, 50_000, 10010, T0)
    assert [(c.lp, c.qty) for c in p.children] == [("LP_B", 50_000)]
    assert view.asked == [("LP_A", 50_000, 10010), ("LP_B", 50_000, 10010)]
    assert (router.decisions[-1].candidates[0].eligible, router.decisions[-1].candidates[0].why) == (
        False,
        "max quantity 10000 exceeded",
    )


def test_static_router_market_order_takes_the_lps_far_touch_and_fok_stays_fok() -> None:
    view = View()
    router = StaticRouter(["LP_A"], view)
    book = OrderBook(router.plan)
    p, _ = book.new_parent("OMS", b"S2", ACME, b"2", OrdType.MARKET, TimeInForce.FILL_OR_KILL, 100, None, T0)
    (c,) = p.children
    assert (c.price, c.tif) == (BID, TimeInForce.FILL_OR_KILL)


def test_the_ranking_kept_on_the_board_follows_each_observation_as_one_made_afresh(
    followed: dict[str, int],
) -> None:
    # Two scorecards fed the same children: one keeps boards and rankings, the other
    # computes every decision afresh (its boards emptied each time). Time stands still, so
    # that rows kept from an earlier decision are exactly those of the moment: every
    # decision must then be the same, candidates, scores and order included, whether the
    # observation moved one LP's score alone or a KPI's range across the LPs.
    import random

    lps = [f"LP{i:02d}" for i in range(12)]
    kept = Scorecard(ScorecardSettings(shrinkage_k=2.0))
    fresh = Scorecard(ScorecardSettings(shrinkage_k=2.0))  # its boards emptied before each decision
    for card in (kept, fresh):
        for i, lp in enumerate(lps):
            history(card, lp, "ACME", 5 + i, T0 - 100.0)
    view = View()
    routers = [ScorecardRouter(card, view, lps) for card in (kept, fresh)]
    rng = random.Random(5)
    now = T0
    n = 0
    for step in range(200):
        lp = rng.choice(lps)
        cid = b"R%d" % step
        filled, improvement, rejected = rng.uniform(0.3, 1.0), rng.uniform(-1, 1.5), rng.random() < 0.1
        sent = now - rng.uniform(0.005, 0.05)  # its latency: sent before the moment that stands still
        for card in (kept, fresh):
            card.on_sent(cid, lp, "ACME", +1, 1000.0, sent, bid=99.99, ask=100.01, typical=10000.0)
            card.on_answer(cid, now)
            if rejected:
                card.on_done(cid, True, now)
            else:
                card.on_fill(cid, 1000.0 * filled, 100.01 * (1 - improvement / 1e4), now)
                card.on_done(cid, False, now)
        decisions = []
        fresh._boards.clear()
        fresh._lp_level.clear()
        for router in routers:
            n += 1
            parent = ParentOrder(
                b"O%d" % n, "OMS", b"P%d" % n, ACME, b"1", OrdType.LIMIT, TimeInForce.DAY, 5000, 10010, now
            )
            plans = router.plan(parent, 5000, now)
            decisions.append((plans, router.decisions[-1].candidates))
        assert decisions[0] == decisions[1]
    assert kept._boards and all(b.memo is not None for b in kept._boards.values())
    assert 0 < followed["alone"] and 0 < followed["all"]  # both ways of following were taken


@pytest.fixture
def followed(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often Scores.replace scored one row alone, and how often all of them."""
    from gateway.scorecard import Scores

    counts = {"alone": 0, "all": 0}
    replace = Scores.replace

    def counted(self: Scores, changes: list[tuple[int, list[float]]]) -> bool:
        alone = replace(self, changes)
        counts["alone" if alone else "all"] += 1
        return alone

    monkeypatch.setattr(Scores, "replace", counted)
    return counts


class BatchView(View):
    """The same fake view answering for all LPs at once too (BatchLpView)."""

    def availability(self, lps: list[str]) -> list[bool]:
        return [self.available(lp) for lp in lps]

    def lp_touches(self, symbol: str, now: float) -> dict[str, tuple[int | None, int | None]]:
        quotes = {lp: self.quote(lp, symbol, now) for lp in [*LPS, "LP_E", "LP_F"]}
        return {lp: q for lp, q in quotes.items() if q is not None}

    def children_allowed(
        self, lps: list[str], parent: ParentOrder, qty: int, prices: list[int | None], now: float
    ) -> list[str | None]:
        return [self.child_allowed(lp, parent, qty, p, now) for lp, p in zip(lps, prices, strict=True)]


def test_a_batch_view_gives_the_decisions_of_the_one_lp_answers() -> None:
    # Risk asked for all LPs at once: refusals among the candidates in the LPs' order, as when
    # asked one LP at a time, whatever else passes LPs over before them.
    from gateway.router import BatchLpView

    lps = [*LPS, "LP_E", "LP_F"]
    views = (View(), BatchView())
    assert not isinstance(views[0], BatchLpView) and isinstance(views[1], BatchLpView)
    cards = [Desk().card, Desk().card]
    routers = [ScorecardRouter(card, view, lps) for card, view in zip(cards, views, strict=True)]
    cases = [
        ({}, set(), {}),
        ({"LP_B": "LP_B over its limit"}, set(), {}),
        ({"LP_A": "no", "LP_F": "no either"}, {"LP_C"}, {("LP_D", "ACME"): (10050, 10060)}),
        ({lp: "all refused" for lp in lps}, set(), {}),
        ({"LP_E": "refused"}, {"LP_A"}, {("LP_B", "ACME"): (10050, 10060), ("LP_F", "ACME"): None}),
    ]
    for n, (refuse, down, quotes) in enumerate(cases):
        got = []
        for router, view in zip(routers, views, strict=True):
            view.refuse, view.down, view.quotes = dict(refuse), set(down), dict(quotes)
            for price in (10010, None):
                parent = ParentOrder(
                    b"O%d" % n, "OMS", b"P%d" % n, ACME, b"1", OrdType.LIMIT if price else OrdType.MARKET,
                    TimeInForce.DAY, 5000, price, T0,
                )  # fmt: skip
                plans = router.plan(parent, 5000, T0)
                got.append((plans, router.decisions[-1].candidates, list(view.asked)))
                view.asked.clear()
        half = len(got) // 2
        assert got[:half] == got[half:]
        assert [c.why for c in got[0][1] if c.lp in refuse and not c.eligible] == [
            refuse[lp] for lp in lps if lp in refuse and lp not in down and (lp, "ACME") not in quotes
        ]
