"""Wires one gateway process together: settings → FIX engine → OMS and LP applications.

The path of one order (DESIGN.md): OMS bytes → transport → Session → ``oms`` (checks,
risk) → ``orders`` (state table) → ``router.plan`` → child orders → ``lps`` → LP
sessions; reports come back the same way, all in one event-loop callback. This module
owns the wiring and the few timers (idle re-routing, status requests for silent
children); the domain modules stay pure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from gateway.config import GatewaySettings
from gateway.fix.codec import Message
from gateway.fix.enums import Side
from gateway.fix.tags import BusinessRejectReason, MsgType
from gateway.instruments import Instrument, InstrumentBook
from gateway.journal import JournalConfigError, parse_journal_settings
from gateway.latency import LatencyRecorder
from gateway.lps import LpHandler
from gateway.marketdata import MarketData, build_market_data_request
from gateway.metrics import PATH_NONE, PATH_ORDER, PATH_REPORT, Telemetry
from gateway.oms import OmsHandler
from gateway.orders import CHILD_TERMINAL, ChildOrder, ChildPlan, OrderBook, Out, ParentOrder
from gateway.recovery import GatewayJournal
from gateway.risk import RiskEngine, parse_risk_settings
from gateway.router import ScorecardRouter, ScorecardRouterSettings, StaticRouter
from gateway.scorecard import Scorecard, parse_scorecard_settings
from gateway.sessions.session import LOGGED_ON, NotLoggedOn, Session, SessionEvent
from gateway.sessions.transport import BaseApplication, Engine

logger = logging.getLogger("fixgw.app")

MARKOUT_TICK_S = 0.05  # markouts mature on a tick this coarse (see _schedule_markouts)
MARKOUT_SLICE_S = 0.01  # one callback matures those due this close to the first (_mature_markouts)
TENURE_S = 0.25  # what survived this long is frozen out of the collector's walks (see tenure)


class AppConfigError(ValueError):
    """A bad [router], [marketdata] or [[instrument]] setting (file, table, key, allowed)."""


def parse_instruments(items: object, source: str) -> InstrumentBook:
    if items is None:
        return InstrumentBook(default=Instrument("*"))
    if not isinstance(items, list):
        raise AppConfigError(f"{source}: [[instrument]] must be an array of tables")
    out = []
    allowed = {"Symbol", "TickSize", "LotSize", "MinQty", "MaxQty", "TypicalSize"}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or "Symbol" not in item:
            raise AppConfigError(f"{source}: [[instrument]] #{n}: Symbol is required")
        unknown = set(item) - allowed
        if unknown:
            raise AppConfigError(
                f"{source}: [[instrument]] #{n} ({item['Symbol']}) {sorted(unknown)[0]}: unknown key; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        try:
            kwargs = {
                "tick_size": Decimal(str(item.get("TickSize", "0.01"))),
                "lot_size": Decimal(str(item.get("LotSize", "1"))),
                "min_qty": Decimal(str(item.get("MinQty", "1"))),
                "max_qty": Decimal(str(item.get("MaxQty", "100000000"))),
                "typical_size": Decimal(str(item.get("TypicalSize", "10000"))),
            }
            out.append(Instrument(str(item["Symbol"]), **kwargs))
        except (ArithmeticError, ValueError) as exc:
            raise AppConfigError(
                f"{source}: [[instrument]] #{n} ({item['Symbol']}): {exc}; allowed: positive decimal numbers"
            ) from exc
    return InstrumentBook(out)


def _scorecard_router_settings(cfg: dict[str, Any], source: str) -> ScorecardRouterSettings:
    keys = {
        "DefaultProfile": ("default_profile", str),
        "MaxRejectionRate": ("max_rejection_rate", float),
        "SliceFactor": ("slice_factor", float),
        "SprayMaxLps": ("spray_max_lps", int),
        "MaxShare": ("max_share", float),
        "LatencyScaleMs": ("latency_scale_ms", float),
    }
    kwargs: dict[str, Any] = {}
    for key, (attr, typ) in keys.items():
        if key in cfg:
            try:
                kwargs[attr] = typ(cfg[key])
            except (TypeError, ValueError):
                raise AppConfigError(
                    f"{source}: [router] {key}: {cfg[key]!r}; allowed: a {typ.__name__}"
                ) from None
    return ScorecardRouterSettings(**kwargs)


class GatewayApplication(BaseApplication):
    """The gateway's application on the FIX engine: OMS sessions in, LP sessions out."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        extra = settings.extra
        source = settings.source
        self.instruments = parse_instruments(extra.get("instrument"), source)
        self.risk = RiskEngine(parse_risk_settings(extra.get("risk", {}), source))
        md_cfg = dict(extra.get("marketdata", {}))
        # LPs that stream no quotes (e.g. an executing venue): never sent a MarketDataRequest
        self.no_quotes: set[str] = set(md_cfg.pop("NoQuotesFrom", []))
        for key in md_cfg:
            if key != "MaxQuoteAge":
                allowed = "MaxQuoteAge, NoQuotesFrom"
                raise AppConfigError(f"{source}: [marketdata] {key}: unknown key; allowed: {allowed}")
        # we subscribe to the top of book (MarketDepth=1): an LP's update moves its one level
        self.marketdata = MarketData(
            self.instruments.get, max_age=float(md_cfg.get("MaxQuoteAge", 5.0)), top_of_book=True
        )
        router_cfg = dict(extra.get("router", {}))
        self.lp_names = [s.name for s in settings.sessions if s.counterparty_role == "lp"]
        priority = list(router_cfg.get("Priority", self.lp_names))
        for lp in priority:
            if lp not in self.lp_names:
                names = ", ".join(self.lp_names)
                raise AppConfigError(f"{source}: [router] Priority: {lp!r} is not an LP; allowed: {names}")
        self.disabled: set[str] = set(router_cfg.get("Disabled", []))
        self.scorecard = Scorecard(parse_scorecard_settings(extra.get("scorecard", {}), source))
        for lp in self.lp_names:
            self.scorecard.add_lp(lp)
        self.last_look: set[str] = set(router_cfg.get("LastLookLps", []))
        kind = str(router_cfg.get("Kind", "static"))
        self.router: StaticRouter | ScorecardRouter
        if kind == "static":
            self.router = StaticRouter(priority, self)
        elif kind == "scorecard":
            self.router = ScorecardRouter(
                self.scorecard, self, priority, _scorecard_router_settings(router_cfg, source)
            )
        else:
            raise AppConfigError(f"{source}: [router] Kind: {kind!r}; allowed: static, scorecard")
        self.book = OrderBook(
            self._plan,
            id_prefix=str(router_cfg.get("IdPrefix", "GW")) + format(int(time.time() * 1000) % 10**9, "x"),
            max_attempts=int(router_cfg.get("MaxAttempts", 5)),
        )
        self.child_timeout = float(router_cfg.get("ChildTimeout", 5.0))
        profile_tag = router_cfg.get("ProfileTag")
        session_profiles = dict(router_cfg.get("SessionProfiles", {}))
        profiles = frozenset(self.scorecard.settings.profiles)
        for sess_name, prof in session_profiles.items():
            if prof not in profiles:
                raise AppConfigError(
                    f"{source}: [router.SessionProfiles] {sess_name}: unknown profile {prof!r}; "
                    f"allowed: {', '.join(sorted(profiles))}"
                )
        by_sid = {s.name: s.session_id for s in settings.sessions}
        # risk limits, kill switches and their texts name an OMS session by its Name
        self.session_names = {s.session_id: s.name for s in settings.sessions}
        self.oms = OmsHandler(
            self.book,
            self.instruments,
            risk=self.risk,
            mid=self.mid_price,
            profile_tag=int(profile_tag) if profile_tag else None,
            default_profiles={by_sid.get(k, k): v for k, v in session_profiles.items()},
            profiles=profiles,
            session_names=self.session_names,
        )
        self.lps = LpHandler(self.book, marketdata=self.marketdata, on_child_event=self._child_event)
        self.book.child_observer = self._observe_child
        self._wire_rerouting()
        self.engine = Engine(self)
        # benchmarks only (FIXGW_LATENCY_FILE): the internal-latency histograms of the telemetry
        # (below) also kept at a fine resolution, with a reset/dump channel on stdin
        self.latency = LatencyRecorder.from_env(
            lambda: {"parents": len(self.book.parents), "open_parents": len(self.book.open_parents)}
        )
        self.sessions_by_name: dict[str, Session] = {}
        self.oms_sessions: dict[str, Session] = {}
        self.lp_sessions: dict[str, Session] = {}
        for s in settings.sessions:
            session = self.engine.add_session(s)
            self.sessions_by_name[s.name] = session
            if s.counterparty_role == "lp":
                self.lp_sessions[s.name] = session
            else:
                self.oms_sessions[s.session_id] = session
        self._role = {id(sess): ("lp", name) for name, sess in self.lp_sessions.items()}
        self._role.update({id(sess): ("oms", sid) for sid, sess in self.oms_sessions.items()})
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._timer: asyncio.Task[None] | None = None
        self.counts: dict[str, int] = {}
        self._markout_timer: asyncio.Handle | None = None
        self._markout_due: float | None = None
        self._markout_fired = 0.0
        # metrics: histograms and counters the order path records; the rest is read at scrape time
        self.telemetry = Telemetry(self.lp_names, list(self.sessions_by_name))
        self.telemetry.fine = self.latency
        self.router.on_decision = self.telemetry.decided
        self.http: Any = None  # the console and /metrics (gateway.console), when HttpPort is set
        if settings.http_port is not None:
            from gateway.console import ConsoleConfigError, ConsoleServer

            try:
                self.http = ConsoleServer(self)
            except ConsoleConfigError as exc:
                raise AppConfigError(str(exc)) from None
        # the journal (gateway.journal): orders, reports, decisions and scorecard inputs, group-
        # committed before the FIX stores are written; start() recovers from it (gateway.recovery)
        try:
            journal_settings = parse_journal_settings(extra.get("journal", {}), source, settings.state_dir)
        except JournalConfigError as exc:
            raise AppConfigError(str(exc)) from None
        self.journal = GatewayJournal(self, journal_settings) if journal_settings.enabled else None

    def mid_price(self, symbol: str, now: float) -> float | None:
        """The consolidated mid as a price (risk collars, arrival price), not price units."""
        mid = self.marketdata.mid(symbol, now)
        inst = self.instruments.get(symbol)
        if mid is None or inst is None:
            return None
        return mid / inst.price_scale

    # --- what the router may know (router.LpView) -------------------------------------------
    def available(self, lp: str) -> bool:
        session = self.lp_sessions.get(lp)
        return (
            session is not None
            and session.logged_on
            and lp not in self.disabled
            and self.risk.killed(lp=lp) is None
        )

    def availability(self, lps: Sequence[str]) -> list[bool]:
        """``available`` of each LP in ``lps``, in one call."""
        risk = self.risk
        if risk.killed() is not None:  # a kill switch for everything
            return [False] * len(lps)
        sessions = self.lp_sessions
        disabled = self.disabled
        killed = risk.killed_lps()
        return [
            (session := sessions.get(lp)) is not None
            and session.state == LOGGED_ON  # Session.logged_on, without a call per LP
            and lp not in disabled
            and lp not in killed
            for lp in lps
        ]

    def lp_touches(self, symbol: str, now: float) -> Mapping[str, tuple[int | None, int | None]]:
        """``quote`` of every LP with a live book for ``symbol``, in one call (kept by the
        market data until a book of the symbol changes: not to be modified)."""
        return self.marketdata.lp_touches(symbol, now)

    def quote(self, lp: str, symbol: str, now: float) -> tuple[int | None, int | None] | None:
        q = self.marketdata.lp_quote(lp, symbol, now)
        return None if q is None else (q.bid, q.ask)

    def child_allowed(
        self, lp: str, parent: ParentOrder, qty: int, price: int | None, now: float
    ) -> str | None:
        ref = price
        if ref is None:
            mid = self.marketdata.mid(parent.symbol, now)
            ref = int(mid) if mid else None
        if ref is None:
            return None
        refusal = self.risk.check_child(lp, parent.inst, qty, ref, now)
        return None if refusal is None else refusal.text

    def children_allowed(
        self, lps: Sequence[str], parent: ParentOrder, qty: int, prices: Sequence[int | None], now: float
    ) -> list[str | None]:
        """``child_allowed`` of each LP in ``lps`` at the price beside it, in one call."""
        refs: Sequence[int | None] = prices
        if None in prices:
            mid = self.marketdata.mid(parent.symbol, now)
            ref = int(mid) if mid else None
            refs = [ref if price is None else price for price in prices]
        if None not in refs:
            checked = self.risk.check_children(lps, parent.inst, qty, cast(Sequence[int], refs), now)
            return [None if r is None else r.text for r in checked]
        # without a reference price a child is not checked (as child_allowed)
        asked = [i for i, r in enumerate(refs) if r is not None]
        got = self.risk.check_children(
            [lps[i] for i in asked], parent.inst, qty, [r for r in refs if r is not None], now
        )
        texts: list[str | None] = [None] * len(lps)
        for i, r in zip(asked, got, strict=True):
            texts[i] = None if r is None else r.text
        return texts

    def _plan(self, parent: ParentOrder, available: int, now: float) -> list[ChildPlan]:
        """The router's plan; when it sends nothing, why each LP was passed over is kept in
        the parent's text, for the Text(58) of an IOC order canceled for want of an LP."""
        plans = self.router.plan(parent, available, now)
        if plans or not self.router.decisions:
            parent.text = ""
        else:
            passed = self.router.decisions[-1].candidates
            parent.text = "; ".join(f"{c.lp}: {c.why}" for c in passed if not c.eligible)
        return plans

    # --- engine callbacks -----------------------------------------------------------------------
    def on_logon(self, session: Session, now: float) -> None:
        role, name = self._role[id(session)]
        self._emit("logon", {"session": session.settings.name, "role": role})
        self.telemetry.logon(session.settings.name)
        if self.journal is not None:
            self.journal.session_event(role, name, session, "logon", now)
        if role != "lp":
            return
        out = self.lps.on_logon(name, now)
        symbols = [i.symbol for i in self.instruments if i.symbol != "*"]
        # one request per symbol: an LP that does not quote one rejects only that one
        asks_quotes = name not in self.no_quotes and name not in self.lps.no_quotes
        for symbol in symbols if asks_quotes else []:
            out.append(
                Out(
                    "lp",
                    name,
                    MsgType.MARKET_DATA_REQUEST,
                    build_market_data_request(f"MD-{name}-{symbol}-{int(now)}", [symbol]),
                )
            )
        out += self._lps_back(now, name)
        self.dispatch(out, now)

    def on_logout(self, session: Session, now: float) -> None:
        role, name = self._role[id(session)]
        self._emit("logout", {"session": session.settings.name, "role": role})
        self.telemetry.logout(session.settings.name)
        if self.journal is not None:
            self.journal.session_event(role, name, session, "logout", now)
        if role == "lp":
            self.lps.on_logout(name, now)

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        role, name = self._role[id(session)]
        if self.journal is not None:
            self.journal.received(role, name, session, msg, now)
        tel = self.telemetry
        try:
            if role == "oms":
                # internal latency: from when these bytes arrived to the first child handed over
                if msg.msg_type == MsgType.NEW_ORDER_SINGLE:
                    tel.begin(PATH_ORDER, self.engine.input_ns)
                out = self.oms.on_message(name, msg, now)
            else:
                if msg.msg_type == MsgType.EXECUTION_REPORT:
                    tel.begin(PATH_REPORT, self.engine.input_ns)
                out = self.lps.on_message(name, msg, now)
            if out:
                self.dispatch(out, now)
        except Exception as exc:
            # a bug must not leave the OMS without an answer or take the process down
            logger.exception("failed on %s from %s", msg.msg_type.decode("latin-1"), name)
            self.counts["internal_errors"] = self.counts.get("internal_errors", 0) + 1
            if role == "oms":
                self.dispatch(self._answer_internal_error(name, msg, exc, now), now)
        finally:
            tel.path = PATH_NONE

    def _answer_internal_error(self, session: str, msg: Message, exc: Exception, now: float) -> list[Out]:
        """What the OMS is told after a bug: its new order rejected (never worked), else a BMR."""
        from gateway.oms import business_reject

        text = f"internal error while handling the message ({type(exc).__name__}); ask the desk"
        cl = msg.get(11)
        p = self.book.by_cl_ord_id.get((session, cl)) if cl else None
        if msg.msg_type == MsgType.NEW_ORDER_SINGLE and p is not None and not p.children and p.state == "new":
            # booked but never routed nor acknowledged: it is rejected, never worked later
            p.state = "rejected"
            self.book.open_parents.pop(p.order_id, None)
            return [self.book._report(p, b"8", now, text=text, rej_reason=99)]
        return [business_reject(session, msg, BusinessRejectReason.OTHER, text)]

    def on_end_of_session(self, session: Session, now: float) -> None:
        """An OMS session's trading day ends (EndTime): its DAY orders expire, reported first."""
        role, name = self._role[id(session)]
        if role == "oms":
            self.dispatch(self.book.end_of_day(now, name), now)

    def on_session_event(self, session: Session, event: SessionEvent, now: float) -> None:
        role, name = self._role[id(session)]
        self.telemetry.session_event(session.settings.name, event.kind)
        if role == "lp" and event.kind == "reject_received" and event.message is not None:
            if self.journal is not None:
                self.journal.received(role, name, session, event.message, now)
            self.dispatch(self.lps.on_session_reject(name, event.message, now), now)

    # --- sending -------------------------------------------------------------------------------
    def dispatch(self, out: list[Out], now: float) -> None:
        """Send what the domain produced; a child that cannot leave is done at once."""
        journal = self.journal
        tel = self.telemetry
        pending = list(out)
        i = 0
        while i < len(pending):
            item = pending[i]
            i += 1
            if item.to == "oms":
                session = self.oms_sessions.get(item.dest)
                if session is None:
                    continue
                seq = session.send(item.msg_type, item.body, now, offline_ok=True)
                if journal is not None:
                    journal.sent("oms", item, session, seq, now)
                if tel.path == PATH_REPORT:
                    tel.report_out()
                continue
            session = self.lp_sessions.get(item.dest)
            child = item.child
            if journal is not None and child is not None:
                journal.touch(child.parent)
            if session is None or not session.logged_on:
                if child is not None:
                    pending += self.book.on_child_done(child, "rejected", now, "LP not logged on")
                continue
            try:
                seq = session.send(item.msg_type, item.body, now)
            except NotLoggedOn:
                if child is not None:
                    pending += self.book.on_child_done(child, "rejected", now, "LP not logged on")
                continue
            if journal is not None:
                journal.sent("lp", item, session, seq, now, child)
            if child is not None:
                if tel.path == PATH_ORDER:
                    tel.order_out()
                self._child_sent(child, seq, now)

    def _child_sent(self, child: ChildOrder, seq: int, now: float) -> None:
        """A child NewOrderSingle went to its LP: metrics, the LP's sequence map, risk, scorecard."""
        lp = child.lp
        self.telemetry.child_sent(lp)
        self.lps.child_sent(lp, seq, child)
        p = child.parent
        inst = p.inst
        if child.price is not None:
            self.risk.child_opened(lp, inst, child.qty, child.price)
        symbol = inst.symbol
        quote = self.marketdata.best(symbol, now)
        bid = ask = None
        if quote is not None:
            scale = inst.price_scale
            if quote.bid is not None:
                bid = quote.bid / scale
            if quote.ask is not None:
                ask = quote.ask / scale
        self.scorecard.on_sent(
            child.child_id,
            lp,
            symbol,
            1 if p.side == Side.BUY else -1,
            child.qty / inst.qty_scale,
            now,
            bid=bid,
            ask=ask,
            typical=inst.typical_float,
            last_look=lp in self.last_look,
        )

    def _schedule_markouts(self) -> None:
        """One loop timer for the markouts still to mature, firing at most every MARKOUT_TICK_S.

        A fill's markouts are due at exact horizons, but a timer per maturity (three per fill)
        cost more than the rest of the order at 1,000 orders/s; maturing what is due on a
        coarse tick scores a markout at most MARKOUT_TICK_S late (against the mid then).
        """
        due = self.scorecard.next_markout()
        if due is None or (self._markout_due is not None and self._markout_due <= due + MARKOUT_TICK_S):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # driven without a loop (tests): mature() is called by hand
        if self._markout_timer is not None:
            self._markout_timer.cancel()
        now = time.time()
        delay = max(0.0, due - now, self._markout_fired + MARKOUT_TICK_S - now)
        self._markout_due = now + delay
        self._markout_timer = loop.call_later(delay, self._mature_markouts)

    def _mature_markouts(self) -> None:
        """Mature what is due a slice at a time: the markouts due within MARKOUT_SLICE_S of the
        first, then the loop's I/O, then the next slice (``call_soon``). A tick's worth at once
        (150 markouts at 1,000 fills/s, 0.3-1.5 ms) held up every order that arrived meanwhile.
        A slice is scored at the end of its window (at most ``now``): the times given to the
        scorecard still only grow, and the journal replays them as given."""
        self._markout_timer = None
        self._markout_due = None
        now = self._markout_fired = time.time()
        card = self.scorecard
        due = card.next_markout()
        if due is None:
            return
        card.mature(min(now, due + MARKOUT_SLICE_S), lambda symbol: self.mid_price(symbol, now))
        due = card.next_markout()
        if due is None or due > now:
            self._schedule_markouts()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # driven without a loop (tests): called again by hand
        self._markout_due = -math.inf  # the next slice runs at once: a fill meanwhile must not defer it
        self._markout_timer = loop.call_soon(self._mature_markouts)

    def quote_size(self, lp: str, symbol: str, is_buy: bool, now: float) -> int | None:
        """The LP's displayed size on the side a child would take (for spraying)."""
        q = self.marketdata.lp_quote(lp, symbol, now)
        if q is None:
            return None
        return q.ask_size if is_buy else q.bid_size

    def _observe_child(self, child: ChildOrder, now: float) -> None:
        """The book's child observer: fills and ends reach the scorecard, telemetry and risk
        before the parent reacts, so a re-route decides on the updated scores (idempotent)."""
        card = self.scorecard
        cid = child.child_id
        tel = self.telemetry
        if len(child.fills) > child.fills_seen:
            if child.acked_at is not None and child.fills_seen == 0:
                card.on_answer(cid, child.acked_at)
            if child.fills_seen == 0:
                tel.child_first_fill(child.lp, now - child.sent_at)
            tel.child_fills(child.lp, len(child.fills) - child.fills_seen)
            inst = child.parent.inst
            for f in child.fills[child.fills_seen :]:
                card.on_fill(cid, inst.qty_to_float(f.qty), inst.price_to_float(f.price), now)
            child.fills_seen = len(child.fills)
            self._schedule_markouts()
        if child.state in CHILD_TERMINAL and not child.finished_seen:
            child.finished_seen = True
            if child.acked_at is not None:
                card.on_answer(cid, child.acked_at)
            card.on_done(cid, child.state == "rejected", now)
            tel.child_done(child.lp, child.state)
        if child.state in CHILD_TERMINAL and child.price is not None and not child.released:
            # what was opened when the child was sent is released once, when it ends
            self.risk.child_released(child.lp, child.parent.inst, child.qty, child.price)
            child.released = True

    def _child_event(self, kind: str, child: ChildOrder, now: float) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "ack":
            self.scorecard.on_answer(child.child_id, now)
            self.telemetry.child_acked(child.lp, now - child.sent_at)
        self._observe_child(child, now)
        if self.listeners:
            self._emit(
                "child",
                {
                    "kind": kind,
                    "lp": child.lp,
                    "child": child.child_id.decode(),
                    "state": child.state,
                    "cum_qty": child.cum_qty,
                },
            )

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, data)

    def stats(self, now: float) -> dict[str, Any]:
        """What happened so far: parents by outcome, fills and rejects per LP, cost vs arrival."""
        book = self.book
        per_lp: dict[str, dict[str, float]] = {}
        slippages: list[float] = []
        for p in book.parents.values():
            if p.cum_qty and p.arrival_mid:
                avg = p.notional / p.cum_qty / p.inst.price_scale
                sign = 1 if p.is_buy else -1
                slippages.append(sign * (avg - p.arrival_mid) / p.arrival_mid * 1e4)
            for child in p.children:
                d = per_lp.setdefault(child.lp, {"children": 0, "filled_qty": 0.0, "rejects": 0})
                d["children"] += 1
                d["filled_qty"] += p.inst.qty_to_float(child.cum_qty)
                if child.state == "rejected":
                    d["rejects"] += 1
        c = book.counters
        return {
            "parents": len(book.parents),
            "open": len(book.open_parents),
            "filled": c.get("parents_filled", 0),
            "canceled": c.get("parents_canceled", 0),
            "rejected": c.get("parents_rejected", 0),
            "children": c.get("children_sent", 0),
            "lps": per_lp,
            "cost_vs_arrival_bps": sum(slippages) / len(slippages) if slippages else None,
            "anomalies": c.get("anomalies", 0),
        }

    def status_line(self, now: float) -> str:
        st = self.stats(now)
        lps = " ".join(
            f"{lp}:{int(d['filled_qty'])}/{int(d['children'])}ch/{int(d['rejects'])}rej"
            for lp, d in sorted(st["lps"].items())
        )
        cost = st["cost_vs_arrival_bps"]
        cost_text = "n/a" if cost is None else f"{cost:+.2f}bps"
        return (
            f"orders {st['parents']} (open {st['open']}, filled {st['filled']}, canceled {st['canceled']}, "
            f"rejected {st['rejected']}) | fills per LP {lps or '-'} | avg px vs arrival {cost_text}"
        )

    # --- kill switch and timers ------------------------------------------------------------------
    def kill(self, engaged: bool, reason: str, scope: Any = "all") -> None:
        """Engage or release a kill switch; engaging cancels the parents it covers.

        A session is named by its Name (or session id), an LP by its name.
        """
        now = time.time()
        if isinstance(scope, tuple) and len(scope) == 2 and scope[0] == "session":
            scope = ("session", self.session_names.get(scope[1], scope[1]))
        self.risk.set_kill(scope, engaged, reason)
        if not engaged:
            # an LP back for the router: what waited for one is routed now, not at the next tick
            back = self._lps_back(now)
            if back:
                self.dispatch(back, now)
                self.engine.flush()
            return
        out: list[Out] = []
        for p in list(self.book.open_parents.values()):
            if scope == "all" or scope == ("session", self.session_names.get(p.session, p.session)):
                out += self.book.kill(p, now, f"kill switch: {reason}")
        self.dispatch(out, now)
        self.engine.flush()

    def on_timer(self, now: float) -> None:
        out = self._reroute(now)
        out += self.book.ask_silent_children(now, self.child_timeout, self.available)
        if out:
            self.dispatch(out, now)
            self.engine.flush()
        if self.journal is not None:
            self.journal.tick(now)  # commits what a quiet loop buffered; scorecard snapshots

    # --- re-routing idle parents -----------------------------------------------------------------
    # A parent with quantity left and nothing working ("idle", gateway.orders) is routed again
    # when something that could change the router's answer happens, never by a scan of every
    # open order: a quote that reaches its limit (MarketData.on_change, and the timer for quotes
    # that age out), an LP logging on or coming back (enabled, kill switch released), and for
    # other reasons (LPs came back empty, attempts used up, risk) the book's retry set, swept
    # by the timer with a growing delay and at once when a risk limit frees up.
    #
    # What prices allow is kept per symbol as two thresholds over the router's LPs that are
    # available: a buy limit at or above the lowest ask, or a sell limit at or below the
    # highest bid, passes some LP's quote; an LP without a live quote lets any limit pass (as
    # in router.quote_allows). A quote update routes only the limits between the thresholds
    # before and after: O(log n) plus the orders routed.

    def _wire_rerouting(self) -> None:
        self._reach_by_symbol: dict[str, tuple[float, float]] = {}  # symbol -> (ask, bid)
        self._lps_up: frozenset[str] = frozenset()
        self._open_notional_seen: dict[str, float] = {}
        self.book.marketable = self._marketable
        self.marketdata.on_change = self._on_quotes

    def _router_lps(self) -> list[str]:
        router = self.router
        return router.priority if isinstance(router, StaticRouter) else router.lps

    def _reach(self, symbol: str, now: float) -> tuple[float, float]:
        """(lowest ask, highest bid) over the available LPs' live quotes, for limit checks:
        -inf / +inf when an available LP has no quote on that side, +inf / -inf with no LP."""
        ask = math.inf
        bid = -math.inf
        for lp in self._router_lps():
            if not self.available(lp):
                continue
            q = self.marketdata.lp_quote(lp, symbol, now)
            if q is None or q.ask is None:
                ask = -math.inf
            elif q.ask < ask:
                ask = q.ask
            if q is None or q.bid is None:
                bid = math.inf
            elif q.bid > bid:
                bid = q.bid
        return ask, bid

    def _marketable(self, parent: ParentOrder, now: float) -> bool:
        """The book's question about a parent it could not route: would prices let it go?"""
        if parent.price is None:
            return any(self.available(lp) for lp in self._router_lps())
        reach = self._reach_by_symbol.get(parent.symbol)
        if reach is None:
            reach = self._reach_by_symbol[parent.symbol] = self._reach(parent.symbol, now)
        return parent.price >= reach[0] if parent.is_buy else parent.price <= reach[1]

    def _requote(self, symbol: str, now: float) -> list[Out]:
        """Route the idle parents of ``symbol`` that its quotes now reach and did not before."""
        ask, bid = self._reach(symbol, now)
        before_ask, before_bid = self._reach_by_symbol.get(symbol, (math.inf, -math.inf))
        self._reach_by_symbol[symbol] = (ask, bid)  # before routing: a parent that fails is judged by it
        out: list[Out] = []
        if ask < before_ask:
            out += self.book.route_reached(symbol, True, ask, before_ask, now)
        if bid > before_bid:
            out += self.book.route_reached(symbol, False, bid, before_bid, now)
        return out

    def _on_quotes(self, symbol: str, now: float) -> None:
        """MarketData.on_change: a quote update of ``symbol`` (O(1) when no order waits on it)."""
        if not self.book.has_idle(symbol):
            return
        out = self._requote(symbol, now)
        if out:
            self.dispatch(out, now)

    def _lps_back(self, now: float, logged_on: str = "") -> list[Out]:
        """When an LP logged on or came back (enabled, kill switch released), every idle
        parent is tried (rare; O(idle parents), as it was at a logon)."""
        up = frozenset(lp for lp in self._router_lps() if self.available(lp))
        back = up - self._lps_up
        self._lps_up = up
        if not back and logged_on not in up:
            return []
        self._reach_by_symbol.clear()  # judged afresh by the parents that still cannot go
        return self.book.route_idle(now)

    def _reroute(self, now: float) -> list[Out]:
        """The timer's share: LPs enabled meanwhile (console), quotes that aged out, due retries.
        O(LPs x symbols with idle parents + retries due), whatever the number of open orders."""
        out = self._lps_back(now)
        if out:
            return out
        out = []
        idle = self.book.idle_symbols()
        for symbol in idle:
            out += self._requote(symbol, now)
        if len(self._reach_by_symbol) > len(idle):
            for symbol in set(self._reach_by_symbol).difference(idle):
                del self._reach_by_symbol[symbol]
        freed = False
        if self.book.retry_pending():
            # a child ended somewhere (open notional went down): parents refused for risk may go
            seen = self._open_notional_seen
            self._open_notional_seen = notionals = self.risk.open_notionals()
            freed = any(v < seen.get(lp, 0.0) for lp, v in notionals.items())
        out += self.book.route_due(now, everything=freed)
        return out

    async def _timer_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.on_timer(time.time())
            except Exception:  # the timer must not die; the order path logs its own problems
                import logging

                logging.getLogger("fixgw.app").exception("timer failed")

    async def start(self) -> None:
        if self.journal is not None:
            self.journal.start()  # recovery from the journal before any session connects
        await self.engine.start()
        if self.http is not None:
            await self.http.start()
        self._timer = asyncio.get_running_loop().create_task(self._timer_loop())

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.http is not None:
            await self.http.stop()
        await self.engine.stop()
        if self.journal is not None:
            self.journal.close()


async def tenure(every: float = TENURE_S) -> None:
    """Freeze (``gc.freeze``, O(1)) whatever survived the last ``every`` seconds.

    What the order path allocates and keeps is kept for the day (parents, children, fills,
    scorecard figures): about 12 tracked objects per order, and no cyclic garbage (none in
    10,000 orders of benchmarks/pipeline.py). Left young, they are all the collector finds:
    a gen-0 collection every ~4,000 orders walked 50,000 live objects and their 440,000
    references for 20-35 ms, freed nothing, and handed them to gen 1, whose collections
    (every 20th) would walk 20 times as many. Frozen every quarter of a second, the young
    generation never reaches the threshold at 1,000 or 6,000 orders/s; objects are still
    freed by their reference counts, only a cycle dropped after its freeze is kept.
    """
    while True:
        await asyncio.sleep(every)
        gc.freeze()


def _kill_signal(app: GatewayApplication, engaged: bool) -> None:
    app.kill(engaged, "operator signal (SIGUSR1)" if engaged else "released")
    print(
        f"kill switch {'ENGAGED: new orders rejected, working orders canceled' if engaged else 'released'}",
        flush=True,
    )


async def serve(
    settings: GatewaySettings,
    stop: asyncio.Event,
    *,
    quiet: bool = False,
    status_every: float = 0.0,
    signals: bool = False,
) -> GatewayApplication:
    app = GatewayApplication(settings)
    if not quiet:  # before start: LP sessions may log on while it runs
        app.listeners.append(
            lambda kind, data: (
                print(f"{kind}: {data['session']} ({data['role']})", flush=True)
                if kind in ("logon", "logout")
                else None
            )
        )
    await app.start()
    tenured: asyncio.Task[None] | None = None
    if os.environ.get("FIXGW_GC", "tuned") != "default":
        gc.freeze()  # what start-up and recovery built is never walked by the collector again
        tenured = asyncio.get_running_loop().create_task(tenure())
    if app.latency is not None:  # a benchmark harness resets and dumps it through stdin
        app.latency.listen(asyncio.get_running_loop())
    if not quiet:
        for sid, port in app.engine.ports.items():
            print(f"listening: {sid} on port {port}", flush=True)
        if app.http is not None and app.http.url:
            print(f"console: {app.http.url} (Prometheus: {app.http.url}metrics)", flush=True)
        if app.journal is not None and app.journal.recovery is not None:
            print(app.journal.recovery.summary(), flush=True)

    async def report() -> None:
        while True:
            await asyncio.sleep(status_every)
            print(app.status_line(time.time()), flush=True)

    reporter = asyncio.get_running_loop().create_task(report()) if status_every > 0 else None
    if signals:
        # an operator's kill switch until the admin API exists: SIGUSR1 engages, SIGUSR2 releases
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGUSR1, lambda: _kill_signal(app, True))
            loop.add_signal_handler(signal.SIGUSR2, lambda: _kill_signal(app, False))
    try:
        await stop.wait()
    finally:
        for task in (reporter, tenured):
            if task is not None:
                task.cancel()
        await app.stop()
        if app.latency is not None:
            app.latency.dump()
        if not quiet:
            print("final: " + app.status_line(time.time()), flush=True)
    return app


def run(settings: GatewaySettings, status_every: float = 5.0) -> int:
    """Run until interrupted; returns the process exit status."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop, status_every=status_every, signals=True)

    # The order path allocates many short-lived objects and the book keeps long-lived ones:
    # collect the young generation less often and never walk what start-up built (settings,
    # dictionaries, recovered orders). FIXGW_GC=default keeps Python's own settings.
    if os.environ.get("FIXGW_GC", "tuned") != "default":
        gc.set_threshold(50_000, 20, 100)
    if os.environ.get("FIXGW_EVENT_LOOP", "uvloop") == "asyncio":  # benchmarks compare the two
        asyncio.run(main())
    else:
        import uvloop

        uvloop.run(main())
    return 0
