"""Plain-data views of a running gateway for the admin API and the console page.

Each function reads the application's state and returns dicts and lists that orjson can
write; none of them changes anything. Quantities and prices are shown as numbers in the
instrument's units (not the exact integer units of the order path), times as epoch
seconds. The scorecard history ring is kept here too: a snapshot every few seconds, for
the trend charts, taken on a loop timer by the server, never on the order path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.app import GatewayApplication
    from gateway.orders import ChildOrder, ParentOrder
    from gateway.router import Decision

#: KPIs kept in the history ring (the console's trend charts), besides the scores.
HISTORY_KPIS = (
    "price_improvement",
    "effective_spread",
    "fill_rate",
    "rejection_rate",
    "ack_latency",
    "fill_latency",
    "market_impact",
    "realized_spread",
)


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1 = best; ties broken by name, as the router breaks them."""
    order = sorted(scores, key=lambda lp: (-scores[lp], lp))
    return {lp: i + 1 for i, lp in enumerate(order)}


def ranking(scores: Mapping[str, float]) -> list[dict[str, Any]]:
    r = ranks(scores)
    return [{"lp": lp, "score": scores[lp], "rank": r[lp]} for lp in sorted(r, key=r.__getitem__)]


def default_profile(app: GatewayApplication) -> str:
    settings = getattr(app.router, "settings", None)
    name = getattr(settings, "default_profile", None)
    profiles = app.scorecard.settings.profiles
    return name if name in profiles else next(iter(profiles), "")


def lp_status(app: GatewayApplication, lp: str) -> dict[str, Any]:
    session = app.lp_sessions.get(lp)
    return {
        "logged_on": bool(session is not None and session.logged_on),
        "enabled": lp not in app.disabled,
        "killed": app.risk.killed(lp=lp),
        "available": app.available(lp),
    }


def scorecard(app: GatewayApplication, now: float, symbol: str | None = None) -> dict[str, Any]:
    """KPIs, composite per profile and rank of every LP (LP-wide, or for one symbol)."""
    card = app.scorecard
    snap = card.snapshot(now, symbol)
    profiles: dict[str, dict[str, float]] = snap["profiles"]
    by_profile = {p: {lp: row["scores"][p] for lp, row in snap["lps"].items()} for p in profiles}
    rank_of = {p: ranks(s) for p, s in by_profile.items()}
    lps = []
    for lp, row in snap["lps"].items():
        lps.append(
            {
                "lp": lp,
                **lp_status(app, lp),
                "observations": row["observations"],
                "kpis": row["kpis"],
                "scores": row["scores"],
                "ranks": {p: rank_of[p][lp] for p in profiles},
            }
        )
    return {
        "time": now,
        "symbol": symbol,
        "symbols": [i.symbol for i in app.instruments if i.symbol != "*"],
        "profiles": profiles,
        "default_profile": default_profile(app),
        "kpis": list(card.settings.kpi_names()),
        "horizons": [f"{h:g}s" for h in card.settings.horizons_s],
        "router": getattr(app.router, "name", "unknown"),
        "lps": lps,
    }


def history_point(app: GatewayApplication, now: float) -> dict[str, Any]:
    snap = app.scorecard.snapshot(now)
    return {
        "t": now,
        "lps": {
            lp: {
                "scores": row["scores"],
                "kpis": {k: row["kpis"][k] for k in HISTORY_KPIS},
                "observations": row["observations"],
            }
            for lp, row in snap["lps"].items()
        },
    }


class History:
    """A ring of scorecard snapshots (oldest first)."""

    def __init__(self, size: int) -> None:
        self.points: deque[dict[str, Any]] = deque(maxlen=size)

    def add(self, point: dict[str, Any]) -> None:
        self.points.append(point)

    def since(self, t: float | None, limit: int | None = None) -> list[dict[str, Any]]:
        points = list(self.points) if t is None else [p for p in self.points if p["t"] > t]
        return points[-limit:] if limit else points


def _child(c: ChildOrder) -> dict[str, Any]:
    inst = c.parent.inst
    avg = c.notional / c.cum_qty / inst.price_scale if c.cum_qty else None
    return {
        "child_id": c.child_id.decode("latin-1"),
        "lp": c.lp,
        "qty": inst.qty_to_float(c.qty),
        "price": None if c.price is None else inst.price_to_float(c.price),
        "tif": c.tif.decode("latin-1"),
        "state": c.state,
        "cum_qty": inst.qty_to_float(c.cum_qty),
        "avg_px": avg,
        "sent_at": c.sent_at,
        "acked_at": c.acked_at,
        "done_at": c.done_at,
        "text": c.text,
    }


def parent(p: ParentOrder) -> dict[str, Any]:
    inst = p.inst
    avg = p.notional / p.cum_qty / inst.price_scale if p.cum_qty else None
    return {
        "order_id": p.order_id.decode("latin-1"),
        "cl_ord_id": p.cl_ord_id.decode("latin-1"),
        "session": p.session,
        "symbol": p.symbol,
        "side": "buy" if p.is_buy else "sell",
        "ord_type": "limit" if p.price is not None else "market",
        "tif": p.tif.decode("latin-1"),
        "qty": inst.qty_to_float(p.qty),
        "price": None if p.price is None else inst.price_to_float(p.price),
        "state": p.state,
        "cum_qty": inst.qty_to_float(p.cum_qty),
        "avg_px": avg,
        "arrival_mid": p.arrival_mid,
        "profile": p.profile,
        "created": p.created,
        "attempts": p.attempts,
        "text": p.text,
        "children": [_child(c) for c in p.children],
    }


def orders(app: GatewayApplication, limit: int = 50) -> dict[str, Any]:
    """Open parents (oldest first) and the most recent parents (newest first)."""
    book = app.book
    recent: list[dict[str, Any]] = []
    for p in reversed(book.parents.values()):
        if len(recent) >= limit:
            break
        recent.append(parent(p))
    open_ = [parent(p) for p in list(book.open_parents.values())[:limit]]
    return {"open_count": len(book.open_parents), "open": open_, "recent": recent}


def decision(app: GatewayApplication, d: Decision) -> dict[str, Any]:
    inst = app.instruments.get(d.symbol)

    def qty(units: int) -> float:
        return inst.qty_to_float(units) if inst is not None else float(units)

    def price(units: int | None) -> float | None:
        if units is None:
            return None
        return inst.price_to_float(units) if inst is not None else float(units)

    return {
        "order_id": d.order_id,
        "symbol": d.symbol,
        "time": d.time,
        "router": d.router,
        "profile": d.profile,
        "available_qty": qty(d.available_qty),
        "attempt": d.attempt,
        "candidates": [
            {"lp": c.lp, "eligible": c.eligible, "why": c.why, "score": c.score} for c in d.candidates
        ],
        "children": [
            {"lp": c.lp, "qty": qty(c.qty), "price": price(c.price), "tif": c.tif.decode("latin-1")}
            for c in d.children
        ],
    }


def decisions(app: GatewayApplication, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent routing decisions, newest first, with the scores that drove them."""
    out: list[dict[str, Any]] = []
    for d in reversed(app.router.decisions):
        if len(out) >= limit:
            break
        out.append(decision(app, d))
    return out


def sessions(app: GatewayApplication) -> list[dict[str, Any]]:
    tel = app.telemetry
    connected = {id(s) for s in app.engine.connected_sessions()}
    out = []
    for name, s in app.sessions_by_name.items():
        st = s.settings
        out.append(
            {
                "name": name,
                "session_id": s.session_id,
                "role": "lp" if name in app.lp_sessions else "oms",
                "connection_type": st.connection_type,
                "state": s.state,
                "state_since": getattr(s, "state_since", None),
                "logged_on": s.logged_on,
                "connected": id(s) in connected,
                "next_sender_seq": s.store.next_sender_seq,
                "next_target_seq": s.store.next_target_seq,
                "logons": tel.logons.get(name, 0),
                "disconnects": tel.logouts.get(name, 0),
            }
        )
    return out


def status(app: GatewayApplication, now: float) -> dict[str, Any]:
    st = app.stats(now)
    return {
        "time": now,
        "stats": st,
        "kill_switches": app.risk.kill_switches(),
        "disabled": sorted(app.disabled),
        "router": getattr(app.router, "name", "unknown"),
    }
