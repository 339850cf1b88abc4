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
from typing import Protocol

from gateway.fix.enums import OrdType, TimeInForce
from gateway.orders import C_CANCELED, C_REJECTED, ChildPlan, ParentOrder


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
    """LPs whose children for this parent ended with nothing filled (reject or cancel)."""
    return {c.lp for c in parent.children if c.state in (C_CANCELED, C_REJECTED) and c.cum_qty == 0}


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
