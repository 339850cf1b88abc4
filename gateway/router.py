"""Routing decisions — a pure function of the order, what is known of the LPs, and quotes.

``StaticRouter`` is the baseline: a fixed priority list from config. The first LP in the
list that is available (logged on, enabled, not killed), passes the per-LP risk check
and, where it quotes, does not quote through the parent's limit, gets the whole quantity;
on a re-route the LPs that already came back empty for this parent are skipped. The
scorecard router plugs into the same ``plan`` seam.

Every decision is a value (``Decision``): inputs, the candidates considered with why
they were or were not chosen, and the children planned. No I/O, no clock.

Costs (``benchmarks/scorecard.py``): a decision asks the view about each LP once and the
scorecard for all of them in one pass; what depends only on the LP and the reason (a
``Candidate`` without a score) is built once per router and shared, since candidates are
immutable; a parent's earlier children are looked at only when it has some.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, NamedTuple, Protocol, runtime_checkable

from gateway.fix.enums import OrdType, TimeInForce
from gateway.instruments import Instrument
from gateway.orders import C_CANCELED, C_REJECTED, CHILD_TERMINAL, ChildPlan, ParentOrder

Quote = tuple[int | None, int | None]

NOT_AVAILABLE: Final = "not available"
CAME_BACK_EMPTY: Final = "already came back empty for this order"
QUOTE_THROUGH: Final = "quote through the limit"
FIRST_IN_PRIORITY: Final = "first in priority"
LOWER_PRIORITY: Final = "lower priority"
CHOSEN: Final = "chosen"
CAME_BACK_SHORT: Final = "came back short for this order"
LOWER_SCORE: Final = "lower score"
_NOBODY: Final[frozenset[str]] = frozenset()


class LpView(Protocol):
    """What the router may know about LPs at the moment of a decision."""

    def available(self, lp: str) -> bool: ...

    def quote(self, lp: str, symbol: str, now: float) -> Quote | None: ...

    def child_allowed(
        self, lp: str, parent: ParentOrder, qty: int, price: int | None, now: float
    ) -> str | None: ...


@runtime_checkable
class BatchLpView(LpView, Protocol):
    """A view that also answers for many LPs in one call (the scorecard router uses these
    when the view has them): ``availability(lps)`` is ``[available(lp) for lp in lps]``,
    ``lp_touches(symbol, now)`` maps each LP whose ``quote`` is not None to it,
    ``children_allowed(lps, parent, qty, prices, now)`` is ``child_allowed`` of each LP at the
    price beside it."""

    def availability(self, lps: Sequence[str]) -> list[bool]: ...

    def lp_touches(self, symbol: str, now: float) -> Mapping[str, Quote]: ...

    def children_allowed(
        self, lps: Sequence[str], parent: ParentOrder, qty: int, prices: Sequence[int | None], now: float
    ) -> list[str | None]: ...


class Candidate(NamedTuple):
    """One LP in a decision: could it be chosen, why (not), and its score (scorecard router).

    Immutable, so that the candidates whose contents depend only on the LP are shared.
    """

    lp: str
    eligible: bool
    why: str = ""
    score: float | None = None


#: ``Candidate(*fields)`` without the Python-level ``__new__`` of a NamedTuple (a decision
#: makes one per eligible LP)
_candidate: Callable[[tuple[str, bool, str, float | None]], Candidate] = partial(tuple.__new__, Candidate)


class _Shared(dict[str, Candidate]):
    """The candidate of each LP for one fixed reason, built the first time it is needed."""

    def __init__(self, eligible: bool, why: str) -> None:
        super().__init__()
        self.eligible = eligible
        self.why = why

    def __missing__(self, lp: str) -> Candidate:
        c = self[lp] = Candidate(lp, self.eligible, self.why)
        return c


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


def quote_allows(parent: ParentOrder, quote: Quote | None) -> bool:
    """False when the LP's far touch is through the parent's limit (it would not fill)."""
    if quote is None or parent.price is None:
        return True
    bid, ask = quote
    if parent.is_buy:
        return ask is None or ask <= parent.price
    return bid is None or bid >= parent.price


def child_price(parent: ParentOrder, quote: Quote | None) -> int | None:
    """IOC limit at the parent's limit; for a market parent, the LP's far touch if known."""
    if parent.ord_type == OrdType.LIMIT or parent.price is not None:
        return parent.price
    if quote is None:
        return None
    bid, ask = quote
    return ask if parent.is_buy else bid


def _child_tif(parent: ParentOrder) -> bytes:
    if parent.tif == TimeInForce.FILL_OR_KILL:
        return TimeInForce.FILL_OR_KILL
    return TimeInForce.IMMEDIATE_OR_CANCEL


class StaticRouter:
    name = "static"

    def __init__(self, priority: list[str], view: LpView, keep: int = 1000) -> None:
        self.priority = list(priority)
        self.view = view
        self.decisions: deque[Decision] = deque(maxlen=keep)
        self.on_decision: Callable[[Decision], None] | None = None
        self._not_available = _Shared(False, NOT_AVAILABLE)
        self._came_back_empty = _Shared(False, CAME_BACK_EMPTY)
        self._quote_through = _Shared(False, QUOTE_THROUGH)
        self._first = _Shared(True, FIRST_IN_PRIORITY)
        self._lower = _Shared(True, LOWER_PRIORITY)

    def plan(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        view = self.view
        candidates: list[Candidate] = []
        add = candidates.append
        children: list[ChildPlan] = []
        tried = empty_lps(parent) if len(parent.children) > parent.route_epoch else _NOBODY
        symbol = parent.inst.symbol
        lps = self.priority
        for i, lp in enumerate(lps):
            if not view.available(lp):
                add(self._not_available[lp])
                continue
            if lp in tried:
                add(self._came_back_empty[lp])
                continue
            quote = view.quote(lp, symbol, now)
            if not quote_allows(parent, quote):
                add(self._quote_through[lp])
                continue
            price = child_price(parent, quote)
            refusal = view.child_allowed(lp, parent, available, price, now)
            if refusal:
                add(Candidate(lp, False, refusal))
                continue
            children.append(ChildPlan(lp, available, price, _child_tif(parent)))
            add(self._first[lp])
            lower = self._lower
            candidates += [lower[other] for other in lps[i + 1 :]]
            break
        decision = Decision(
            parent.order_id.decode(),
            symbol,
            now,
            self.name,
            parent.profile,
            available,
            parent.attempts + 1,
            candidates,
            children,
        )
        self.decisions.append(decision)
        if self.on_decision is not None:
            self.on_decision(decision)
        return children


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

    The scorecard is asked once per decision, for every available LP: the KPI rows the
    profile weighs and, on the way, each LP's rejection rate on the symbol
    (``Scorecard.decision_rows``); the composite of the eligible ones follows from their
    rows (``Scorecard.composite``), the same figures as ``Scorecard.scores``. The rows come
    from the scorecard's board of the symbol, size bucket and profile
    (``Scorecard.decision_board``): kept from the last decision, each LP's row computed
    again once the LP has a new observation, all of them at least every ``Refresh``. The
    composite and the ranking are kept on the board too (``_Ranking``) while the eligible
    LPs stay the same: a row computed again is scored and placed again alone, unless it
    moved a KPI's range across the LPs (then every LP is).
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
        self._not_available = _Shared(False, NOT_AVAILABLE)
        self._quote_through = _Shared(False, QUOTE_THROUGH)
        # per instrument (by identity): (instrument, slice_factor, slice, TypicalSize as a float)
        self._sizes: dict[int, tuple[Instrument, float, int, float]] = {}
        # the view's answers for all LPs at once, where it has them
        self._availability: Callable[[Sequence[str]], list[bool]] | None = None
        self._touches: Callable[[str, float], Mapping[str, Quote]] | None = None
        self._allowed: Callable[..., list[str | None]] | None = None
        if isinstance(view, BatchLpView):
            self._availability = view.availability
            self._touches = view.lp_touches
            self._allowed = view.children_allowed

    def _sized(self, inst: Instrument) -> tuple[int, float]:
        """The instrument's slice (``_slice``) and TypicalSize as a float, worked out once."""
        factor = self.settings.slice_factor
        got = self._sizes.get(id(inst))
        if got is None or got[0] is not inst or got[1] != factor:
            got = self._sizes[id(inst)] = (inst, factor, self._slice(inst), float(inst.typical_size))
        return got[2], got[3]

    def plan(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        s = self.settings
        view = self.view
        card = self.scorecard
        inst = parent.inst
        symbol = inst.symbol
        profile = parent.profile
        if profile not in card.settings.profiles:
            profile = s.default_profile
        tif = _child_tif(parent)
        # the parent's children at its current terms: who came back short, who empty
        short: list[str] = []
        last_short: str | None = None
        empty: set[str] | frozenset[str] = _NOBODY
        if len(parent.children) > parent.route_epoch:
            short = _came_back_short(parent)
            if short:
                last_short = short[-1]
            empty = empty_lps(parent)
        slice_qty, typical = self._sized(inst)
        probe_qty = min(available, slice_qty)
        limit = parent.price
        is_buy = parent.side == b"1"
        fixed_price = parent.ord_type == OrdType.LIMIT or limit is not None

        # the scorecard, once for the available LPs: KPI rows and rejection rates, kept from
        # the last decision on the symbol, bucket and profile where they still hold
        lps = self.lps
        if self._availability is not None:
            up = self._availability(lps)
        else:
            is_up = view.available
            up = [is_up(lp) for lp in lps]
        bucket = card.bucket(available / inst.qty_scale, typical)
        plan = card.profile_plan(profile)
        rows: Sequence[list[float] | None]
        rates: Sequence[float]
        if all(up):
            board = card.decision_board(lps, symbol, bucket, plan, now)
            rows, rates = board.rows, board.rates
        else:  # lined up with the LPs, None for those not available
            board = card.decision_board(
                [lp for lp, yes in zip(lps, up, strict=True) if yes], symbol, bucket, plan, now
            )
            each, each_rate = iter(board.rows), iter(board.rates)
            rows = [next(each) if yes else None for yes in up]
            rates = [next(each_rate) if yes else 0.0 for yes in up]

        # in the LPs' order: who is passed over and why; the rest is eligible
        candidates: list[Candidate] = []
        passed = candidates.append
        eligible: list[str] = []
        eligible_rows: list[list[float]] = []
        prices: dict[str, int | None] = {}
        max_rate = s.max_rejection_rate
        quote_of = view.quote
        touches = None if self._touches is None else self._touches(symbol, now)
        allowed = view.child_allowed
        batch = self._allowed
        asked: list[tuple[int, str, list[float], int | None]] = []  # (place in candidates, ...)
        for lp, row, rate in zip(lps, rows, rates, strict=False):
            if row is None:
                passed(self._not_available[lp])
                continue
            if rate > max_rate:
                passed(Candidate(lp, False, f"rejection rate over {max_rate:.0%}"))
                continue
            quote = quote_of(lp, symbol, now) if touches is None else touches.get(lp)
            price = limit  # quote_allows and child_price, in one step
            if quote is not None:
                bid, ask = quote
                if limit is not None and (
                    (ask is not None and ask > limit) if is_buy else (bid is not None and bid < limit)
                ):
                    passed(self._quote_through[lp])
                    continue
                if not fixed_price:
                    price = ask if is_buy else bid
            if batch is not None:  # risk asked below, for all of them at once
                asked.append((len(candidates), lp, row, price))
                continue
            refusal = allowed(lp, parent, probe_qty, price, now)
            if refusal:
                passed(Candidate(lp, False, refusal))
                continue
            prices[lp] = price
            eligible.append(lp)
            eligible_rows.append(row)
        if asked and batch is not None:
            refusals = batch([a[1] for a in asked], parent, probe_qty, [a[3] for a in asked], now)
            refused: list[tuple[int, Candidate]] = []
            for (at, lp, row, price), refusal in zip(asked, refusals, strict=True):
                if refusal:
                    refused.append((at, Candidate(lp, False, refusal)))
                    continue
                prices[lp] = price
                eligible.append(lp)
                eligible_rows.append(row)
            for shift, (at, c) in enumerate(refused):  # in the LPs' order among the others passed over
                candidates.insert(at + shift, c)

        # the eligible LPs' scores, best first, ties by name (a stable sort of the names),
        # kept on the board with their candidates as if none were chosen: the same eligible
        # LPs as last time, only the rows computed again since are scored and placed again
        # (all of them afresh when more than half of the rows were)
        memo = board.memo
        changed = board.changed
        if changed:
            board.changed = []
        if memo is not None and memo.eligible == eligible and 2 * len(changed) <= len(eligible):
            if changed:
                memo.follow(changed, board)
        elif len(prices) < len(eligible):  # an LP listed twice is scored once: nothing kept
            memo = _Ranking(eligible, eligible_rows, plan, card, keep=False)
            board.memo = None
        else:
            memo = board.memo = _Ranking(eligible, eligible_rows, plan, card)
        scores, ranked, lower = memo.scores, memo.ranked, memo.lower
        score_of = scores.__getitem__
        # the remainder of a short child goes to the next best, not back to the same LP
        if last_short is None and not empty:
            preferred = ranked
        else:
            preferred = (
                [lp for lp in ranked if lp != last_short and lp not in empty]
                or [lp for lp in ranked if lp not in empty]
                or ranked
            )
        plans: list[ChildPlan] = []
        if preferred:
            if not short:
                plans = [self._child(parent, preferred[0], probe_qty, prices, tif)]
            else:
                plans = self._spray(
                    parent, preferred[: max(1, s.spray_max_lps)], available, prices, tif, scores, now
                )
        chosen = {p.lp for p in plans}
        if lower is not None:  # the ranked candidates, the chosen and the short one marked
            at = len(candidates)
            candidates += lower
            if last_short is not None and last_short in scores and last_short not in chosen:
                candidates[at + ranked.index(last_short)] = _candidate(
                    (last_short, True, CAME_BACK_SHORT, score_of(last_short))
                )
            for lp in chosen:
                candidates[at + ranked.index(lp)] = _candidate((lp, True, CHOSEN, score_of(lp)))
        else:
            candidates += [
                _candidate(
                    (
                        lp,
                        True,
                        CHOSEN if lp in chosen else CAME_BACK_SHORT if lp == last_short else LOWER_SCORE,
                        score_of(lp),
                    )
                )
                for lp in ranked
            ]
        decision = Decision(
            parent.order_id.decode(),
            symbol,
            now,
            self.name,
            profile,
            available,
            parent.attempts + 1,
            candidates,
            [p for p in plans if p.qty > 0],
        )
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
        prices: dict[str, int | None],
        tif: bytes,
    ) -> ChildPlan:
        cap = int(parent.qty * self.settings.max_share) if self.settings.max_share < 1 else parent.qty
        qty = min(qty, max(cap, parent.inst.lot_units))
        return ChildPlan(lp, qty - qty % parent.inst.lot_units, prices[lp], tif)

    def _spray(
        self,
        parent: ParentOrder,
        lps: list[str],
        available: int,
        prices: dict[str, int | None],
        tif: bytes,
        scores: dict[str, float],
        now: float,
    ) -> list[ChildPlan]:
        inst = parent.inst
        lot = inst.lot_units
        card = self.scorecard
        sizes = getattr(self.view, "quote_size", None)
        slice_qty = self._sized(inst)[0]
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
            plans.append(ChildPlan(lp, qty, prices[lp], tif))
            left -= qty
        if not plans and available > 0:
            plans.append(self._child(parent, lps[0], min(available, slice_qty), prices, tif))
        return plans


class _Ranking:
    """The eligible LPs of a decision scored (``Scorecard.scored`` of their rows), ranked best
    first (ties by name), and their candidates as if none were chosen (``lower``), kept on
    the scorecard's board for the next decision with the same eligible LPs."""

    __slots__ = ("eligible", "lower", "places", "ranked", "scored", "scores")

    def __init__(
        self, eligible: list[str], rows: list[list[float]], plan: Any, card: Any, keep: bool = True
    ) -> None:
        self.eligible = eligible
        firsts: dict[str, list[float]] | list[str] = eligible
        if not keep:  # an LP listed twice: its first row
            firsts = {}
            for lp, row in zip(eligible, rows, strict=True):
                firsts.setdefault(lp, row)
            rows = list(firsts.values())
        self.scored = card.scored(plan, rows)
        self.places = dict(zip(eligible, range(len(eligible)), strict=True)) if keep else {}
        self.scores: dict[str, float] = {}
        self.ranked: list[str] = []
        self.lower: list[Candidate] | None = None  # each LP once (else built each time: see plan)
        self._rank(dict(zip(firsts, self.scored.values, strict=True)), keep)

    def _rank(self, scores: dict[str, float], lower: bool = True) -> None:
        """Every LP ranked afresh by ``scores`` (a stable sort of the names: ties by name)."""
        self.scores = scores
        self.ranked = ranked = sorted(sorted(scores), key=scores.__getitem__, reverse=True)
        self.lower = [_candidate((lp, True, LOWER_SCORE, scores[lp])) for lp in ranked] if lower else None

    def follow(self, changed: list[int], board: Any) -> None:
        """The board's rows at places ``changed`` were computed again: score them, and
        rank them again (every LP when a KPI's range across the LPs moved)."""
        places = self.places
        lps = board.lps
        rows = board.rows
        moved: list[str] = []
        changes: list[tuple[int, list[float]]] = []
        for b in changed:
            lp = lps[b]
            i = places.get(lp)
            if i is None:  # not eligible for this decision: not scored
                continue
            changes.append((i, rows[b]))
            moved.append(lp)
        if not moved:
            return
        scored = self.scored
        if not scored.replace(changes):
            self._rank(dict(zip(places, scored.values, strict=True)))
            return
        values = scored.values
        scores = self.scores
        ranked = self.ranked
        for lp in set(moved):  # out of the ranking, then back in at its new score
            ranked.remove(lp)
            scores[lp] = values[places[lp]]
            insort(ranked, lp, key=lambda x: (-scores[x], x))
        self.lower = [_candidate((lp, True, LOWER_SCORE, scores[lp])) for lp in ranked]


def _came_back_short(parent: ParentOrder) -> list[str]:
    """LPs whose finished children for this parent filled less than they were sent, in order."""
    return [
        c.lp for c in parent.children[parent.route_epoch :] if c.state in CHILD_TERMINAL and c.cum_qty < c.qty
    ]
