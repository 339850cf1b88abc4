"""Routing decisions — a pure function of the order, what is known of the LPs, and quotes.

``StaticRouter`` is the baseline: a fixed priority list from config. The first LP in the
list that is available (logged on, enabled, not killed), passes the per-LP risk check
and, where it quotes, does not quote through the parent's limit, gets the whole quantity;
on a re-route the LPs that already came back empty for this parent are skipped. The
scorecard router plugs into the same ``plan`` seam.

Every decision is a value (``Decision``): inputs, the candidates considered with why
they were or were not chosen, and the children planned. No I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.fix.enums import OrdType, TimeInForce
from gateway.orders import C_CANCELED, C_REJECTED, CHILD_TERMINAL, ChildPlan, ParentOrder


class LpView(Protocol):
    """What the router may know about LPs at the moment of a decision."""

    def available(self, lp: str) -> bool: ...

    def quote(self, lp: str, symbol: str, now: float) -> tuple[int | None, int | None] | None: ...

    def child_allowed(
        self, lp: str, parent: ParentOrder, qty: int, price: int | None, now: float
    ) -> str | None: ...


@dataclass(slots=True)
class Candidate:
    lp: str
    eligible: bool
    why: str = ""
    score: float | None = None


@dataclass(slots=True)
class Decision:
    order_id: str
    symbol: str
    time: float
    router: str
    profile: str
    available_qty: int
    attempt: int
    candidates: list[Candidate] = field(default_factory=list)
    children: list[ChildPlan] = field(default_factory=list)


def empty_lps(parent: ParentOrder) -> set[str]:
    """LPs whose children for this parent ended with nothing filled (reject or cancel).

    Only children at the parent's current terms count: after a replace, or when a working
    DAY order is routed again by the idle timer, every LP may be tried again.
    """
    return {
        c.lp
        for c in parent.children[parent.route_epoch :]
        if c.state in (C_CANCELED, C_REJECTED) and c.cum_qty == 0
    }


def quote_allows(parent: ParentOrder, quote: tuple[int | None, int | None] | None) -> bool:
    """False when the LP's far touch is through the parent's limit (it would not fill)."""
    if quote is None or parent.price is None:
        return True
    bid, ask = quote
    if parent.is_buy:
        return ask is None or ask <= parent.price
    return bid is None or bid >= parent.price


def child_price(parent: ParentOrder, quote: tuple[int | None, int | None] | None) -> int | None:
    """IOC limit at the parent's limit; for a market parent, the LP's far touch if known."""
    if parent.ord_type == OrdType.LIMIT or parent.price is not None:
        return parent.price
    if quote is None:
        return None
    bid, ask = quote
    return ask if parent.is_buy else bid


class StaticRouter:
    name = "static"

    def __init__(self, priority: list[str], view: LpView, keep: int = 1000) -> None:
        self.priority = list(priority)
        self.view = view
        self.decisions: deque[Decision] = deque(maxlen=keep)
        self.on_decision: Callable[[Decision], None] | None = None

    def plan(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        view = self.view
        decision = Decision(
            parent.order_id.decode(),
            parent.symbol,
            now,
            self.name,
            parent.profile,
            available,
            parent.attempts + 1,
        )
        tried = empty_lps(parent)
        tif = (
            TimeInForce.FILL_OR_KILL
            if parent.tif == TimeInForce.FILL_OR_KILL
            else TimeInForce.IMMEDIATE_OR_CANCEL
        )
        chosen: ChildPlan | None = None
        for lp in self.priority:
            if chosen is not None:
                decision.candidates.append(Candidate(lp, True, "lower priority"))
                continue
            if not view.available(lp):
                decision.candidates.append(Candidate(lp, False, "not available"))
                continue
            if lp in tried:
                decision.candidates.append(Candidate(lp, False, "already came back empty for this order"))
                continue
            quote = view.quote(lp, parent.symbol, now)
            if not quote_allows(parent, quote):
                decision.candidates.append(Candidate(lp, False, "quote through the limit"))
                continue
            price = child_price(parent, quote)
            refusal = view.child_allowed(lp, parent, available, price, now)
            if refusal:
                decision.candidates.append(Candidate(lp, False, refusal))
                continue
            chosen = ChildPlan(lp, available, price, tif)
            decision.candidates.append(Candidate(lp, True, "first in priority"))
        if chosen is not None:
            decision.children.append(chosen)
        self.decisions.append(decision)
        if self.on_decision is not None:
            self.on_decision(decision)
        return decision.children


@dataclass
class ScorecardRouterSettings:
    """[router] settings of the scorecard router (SPEC.md section 2)."""

    default_profile: str = "best_price"
    max_rejection_rate: float = 0.5  # LPs above this rejection rate for the symbol are skipped
    slice_factor: float = 1.0  # a child is at most TypicalSize x slice_factor while probing
    spray_max_lps: int = 2  # LPs in one wave once the order is sprayed
    max_share: float = 0.5  # no LP gets more than this share of the parent in one child
    latency_scale_ms: float = 50.0  # sizing weight: fill_rate / (1 + latency / scale)


class ScorecardRouter:
    """Routes with the LP scorecard: best composite score first, spray once liquidity is thin.

    - Eligible LPs: available, not over the rejection-rate threshold for the symbol, quote
      not through the parent's limit, allowed by per-LP risk, and not the LP whose child for
      this parent just came back short (the remainder goes at once to the next best).
    - Probing: until a child of the parent comes back short, one child to the best LP, of at
      most a slice (the instrument's TypicalSize x slice_factor).
    - Spraying: after a short child (a partial fill, a reject) the parent is worked across
      the top ``spray_max_lps`` LPs at once; each gets its displayed quote size when known,
      else a share of the wave weighted by fill rate and latency; no LP gets more than
      ``max_share`` of the parent in one child.
    """

    name = "scorecard"

    def __init__(
        self,
        scorecard: Any,
        view: LpView,
        lps: list[str],
        settings: ScorecardRouterSettings | None = None,
        keep: int = 1000,
    ) -> None:
        self.scorecard = scorecard
        self.view = view
        self.lps = list(lps)
        self.settings = settings or ScorecardRouterSettings()
        self.decisions: deque[Decision] = deque(maxlen=keep)
        self.on_decision: Callable[[Decision], None] | None = None

    def plan(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        s = self.settings
        view = self.view
        card = self.scorecard
        inst = parent.inst
        profile = parent.profile if parent.profile in card.settings.profiles else s.default_profile
        decision = Decision(
            parent.order_id.decode(), parent.symbol, now, self.name, profile, available, parent.attempts + 1
        )
        tif = (
            TimeInForce.FILL_OR_KILL
            if parent.tif == TimeInForce.FILL_OR_KILL
            else TimeInForce.IMMEDIATE_OR_CANCEL
        )
        short = _came_back_short(parent)
        last_short = short[-1] if short else None
        empty = empty_lps(parent)
        eligible: list[str] = []
        quotes: dict[str, tuple[int | None, int | None] | None] = {}
        for lp in self.lps:
            why = ""
            if not view.available(lp):
                why = "not available"
            elif card.rejection_rate(lp, parent.symbol, now) > s.max_rejection_rate:
                why = f"rejection rate over {s.max_rejection_rate:.0%}"
            else:
                quote = view.quote(lp, parent.symbol, now)
                quotes[lp] = quote
                if not quote_allows(parent, quote):
                    why = "quote through the limit"
                else:
                    refusal = view.child_allowed(
                        lp, parent, min(available, self._slice(inst)), child_price(parent, quote), now
                    )
                    if refusal:
                        why = refusal
            if why:
                decision.candidates.append(Candidate(lp, False, why))
            else:
                eligible.append(lp)
        bucket = card.bucket(inst.qty_to_float(available), float(inst.typical_size))
        scores = card.scores(eligible, parent.symbol, profile, now, bucket=bucket) if eligible else {}
        ranked = sorted(eligible, key=lambda lp: (-scores[lp], lp))
        # the remainder of a short child goes to the next best, not back to the same LP
        preferred = (
            [lp for lp in ranked if lp != last_short and lp not in empty]
            or [lp for lp in ranked if lp not in empty]
            or ranked
        )
        plans: list[ChildPlan] = []
        if preferred:
            if not short:
                plans = [self._child(parent, preferred[0], min(available, self._slice(inst)), quotes, tif)]
            else:
                plans = self._spray(
                    parent, preferred[: max(1, s.spray_max_lps)], available, quotes, tif, scores, now
                )
        chosen = {p.lp for p in plans}
        for lp in ranked:
            why = (
                "chosen"
                if lp in chosen
                else ("came back short for this order" if lp == last_short else "lower score")
            )
            decision.candidates.append(Candidate(lp, True, why, scores[lp]))
        decision.children = [p for p in plans if p.qty > 0]
        self.decisions.append(decision)
        if self.on_decision is not None:
            self.on_decision(decision)
        return decision.children

    def _slice(self, inst: Any) -> int:
        # TypicalSize is a Decimal, the factor a float
        typical = int(float(inst.typical_size) * inst.qty_scale * self.settings.slice_factor)
        lot = inst.lot_units
        return max(lot, typical - typical % lot)

    def _child(
        self,
        parent: ParentOrder,
        lp: str,
        qty: int,
        quotes: dict[str, tuple[int | None, int | None] | None],
        tif: bytes,
    ) -> ChildPlan:
        cap = int(parent.qty * self.settings.max_share) if self.settings.max_share < 1 else parent.qty
        qty = min(qty, max(cap, parent.inst.lot_units))
        return ChildPlan(lp, qty - qty % parent.inst.lot_units, child_price(parent, quotes.get(lp)), tif)

    def _spray(
        self,
        parent: ParentOrder,
        lps: list[str],
        available: int,
        quotes: dict[str, tuple[int | None, int | None] | None],
        tif: bytes,
        scores: dict[str, float],
        now: float,
    ) -> list[ChildPlan]:
        inst = parent.inst
        lot = inst.lot_units
        card = self.scorecard
        sizes = getattr(self.view, "quote_size", None)
        slice_qty = self._slice(inst)
        caps: dict[str, int] = {}
        for lp in lps:
            shown = sizes(lp, parent.symbol, parent.is_buy, now) if sizes is not None else None
            caps[lp] = shown if shown else 0
        if all(caps.values()):
            wanted = dict(caps)  # each LP gets what it shows
        else:
            # no displayed sizes: a wave of one slice per LP, split by fill rate and latency
            weights = {}
            for lp in lps:
                k = card.kpis(lp, parent.symbol, None, now)
                weights[lp] = max(1e-6, k[3]) / (1.0 + k[5] / self.settings.latency_scale_ms)
            total = sum(weights.values())
            wave = slice_qty * len(lps)
            wanted = {lp: int(wave * weights[lp] / total) for lp in lps}
        cap_share = int(parent.qty * self.settings.max_share) if self.settings.max_share < 1 else parent.qty
        plans: list[ChildPlan] = []
        left = available
        for lp in lps:
            qty = min(wanted[lp], cap_share, left)
            qty -= qty % lot
            if qty <= 0:
                continue
            plans.append(ChildPlan(lp, qty, child_price(parent, quotes.get(lp)), tif))
            left -= qty
        if not plans and available > 0:
            plans.append(self._child(parent, lps[0], min(available, slice_qty), quotes, tif))
        return plans


def _came_back_short(parent: ParentOrder) -> list[str]:
    """LPs whose finished children for this parent filled less than they were sent, in order."""
    return [
        c.lp
        for c in parent.children[parent.route_epoch :]
        if c.state in CHILD_TERMINAL and c.cum_qty < c.qty
    ]
