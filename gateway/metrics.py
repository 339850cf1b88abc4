"""Prometheus metrics of the gateway: read from the domain's own state when Prometheus scrapes.

What it is for: one custom collector (``GatewayCollector``) walks the scorecard, the order
book, the risk engine, the router's counters and the FIX sessions at scrape time and
yields metric families, so the order path pays nothing for gauges and counters it already
keeps. The only things recorded on the order path are in ``Telemetry``: latency histograms
with fixed buckets (an integer bisect and two additions per observation) and a few
counters the domain does not keep (children per LP and outcome, routing decisions by
profile, FIX session events). ``Telemetry`` never allocates on the path and never locks.

What it must never do: be imported by the domain modules (``orders``, ``router``,
``scorecard``, ``risk``, ``marketdata``, ``sessions``), change any state it reads, or hold
a label of unbounded cardinality (no ClOrdID, no account): labels are LP, session,
profile, horizon, rule, outcome, KPI and the like, all bounded by configuration.

Conventions: every name starts with ``fixgw_``; base units (seconds, ratios rather than
basis points or percentages); ``_total`` for counters; ``fixgw_build_info`` for the build.
"""

from __future__ import annotations

import asyncio
import bisect
import platform
import time
from collections.abc import Iterator
from importlib import metadata
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.risk import RULES

if TYPE_CHECKING:
    from gateway.app import GatewayApplication
    from gateway.latency import LatencyRecorder
    from gateway.router import Decision

__all__ = [
    "INTERNAL_BUCKETS_S",
    "LP_BUCKETS_S",
    "GatewayCollector",
    "LatencyHistogram",
    "Telemetry",
    "collectors",
    "exposition",
    "make_registry",
]

#: Gateway-internal latency (bytes in -> bytes handed to the session): 5 us .. 100 ms.
INTERNAL_BUCKETS_S: Final = (
    0.000005,
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.1,
)
#: LP ack and fill latency (child sent -> first report / first fill): 100 us .. 10 s.
LP_BUCKETS_S: Final = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)

# Telemetry.path: which internal latency the message being handled may complete
PATH_NONE: Final = 0
PATH_ORDER: Final = 1  # an OMS NewOrderSingle: until its first child goes to an LP session
PATH_REPORT: Final = 2  # an LP ExecutionReport: until the first report goes to an OMS session

CHILD_OUTCOMES: Final = ("filled", "canceled", "rejected", "expired")
#: Session events counted per session (``SessionEvent.kind``) and the metric each feeds.
SESSION_EVENTS: Final = {
    "reject_sent": ("rejects", "sent"),
    "reject_received": ("rejects", "received"),
    "business_reject_received": ("business_rejects", "received"),
    "gap_detected": ("resend_requests", "sent"),  # we asked for a resend
    "resend_requested": ("resend_requests", "received"),  # they asked us
    "sequence_reset": ("sequence_resets", "received"),
    "garbled": ("garbled", "received"),
}
#: Rejections of parent orders by the OMS handler, besides the risk rules.
ORDER_REJECT_RULES: Final = (
    "duplicate",
    "missing_field",
    "unknown_symbol",
    "bad_field",
    "bad_quantity",
    "bad_price",
)
PARENT_DONE: Final = ("filled", "canceled", "expired", "done_for_day")


class LatencyHistogram:
    """A fixed-bucket histogram observed in integer nanoseconds (cumulated at scrape time)."""

    __slots__ = ("bounds_ns", "bounds_s", "counts", "sum_ns")

    def __init__(self, bounds_s: tuple[float, ...]) -> None:
        self.bounds_s = bounds_s
        self.bounds_ns = [round(b * 1e9) for b in bounds_s]
        self.counts = [0] * (len(bounds_s) + 1)  # the last is +Inf
        self.sum_ns = 0

    def observe_ns(self, ns: int) -> None:
        # Prometheus buckets are "less than or equal": bisect_left finds the first bound >= ns
        self.counts[bisect.bisect_left(self.bounds_ns, ns)] += 1
        self.sum_ns += ns

    def observe(self, seconds: float) -> None:
        self.observe_ns(int(seconds * 1e9))

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, +Inf last."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip(self.bounds_s, self.counts, strict=False):
            total += n
            out.append((_fmt_le(bound), float(total)))
        total += self.counts[-1]
        out.append(("+Inf", float(total)))
        return out

    @property
    def count(self) -> int:
        return sum(self.counts)


def _fmt_le(bound: float) -> str:
    return repr(float(bound))


class Telemetry:
    """What the order path records for metrics: histograms and counters, all plain ints.

    ``GatewayApplication`` calls these from its engine callbacks; ``GatewayCollector``
    reads them at scrape time. Every configured LP and session has its entries from
    start-up, so its series exist (at zero) before the first order.
    """

    def __init__(self, lps: list[str], sessions: list[str]) -> None:
        self.internal = {
            "order": LatencyHistogram(INTERNAL_BUCKETS_S),
            "report": LatencyHistogram(INTERNAL_BUCKETS_S),
        }
        self._order_hist = self.internal["order"]
        self._report_hist = self.internal["report"]
        self.lp_ack: dict[str, LatencyHistogram] = {lp: LatencyHistogram(LP_BUCKETS_S) for lp in lps}
        self.lp_fill: dict[str, LatencyHistogram] = {lp: LatencyHistogram(LP_BUCKETS_S) for lp in lps}
        self.children_sent: dict[str, int] = dict.fromkeys(lps, 0)
        self.children_done: dict[tuple[str, str], int] = {(lp, o): 0 for lp in lps for o in CHILD_OUTCOMES}
        self.fills: dict[str, int] = dict.fromkeys(lps, 0)
        self.decisions: dict[tuple[str, str], int] = {}
        self.decision_children: dict[tuple[str, str], int] = {}
        self.logons: dict[str, int] = dict.fromkeys(sessions, 0)
        self.logouts: dict[str, int] = dict.fromkeys(sessions, 0)
        self.session_events: dict[tuple[str, str], int] = {
            (s, kind): 0 for s in sessions for kind in SESSION_EVENTS
        }
        # the internal-latency path of the message being handled, and when its bytes arrived
        self.path = PATH_NONE
        self.t0_ns = 0
        # benchmarks: the same two latencies at a fine resolution (gateway.latency), or None
        self.fine: LatencyRecorder | None = None

    # --- internal latency --------------------------------------------------------------
    def begin(self, path: int, t0_ns: int) -> None:
        self.path = path
        self.t0_ns = t0_ns or time.perf_counter_ns()

    def order_out(self) -> None:
        """The first child of the OMS order being handled was handed to its LP session."""
        ns = time.perf_counter_ns() - self.t0_ns
        self._order_hist.observe_ns(ns)
        if self.fine is not None:
            self.fine.order.record(ns)
        self.path = PATH_NONE

    def report_out(self) -> None:
        """The first report caused by the LP report being handled was handed to the OMS session."""
        ns = time.perf_counter_ns() - self.t0_ns
        self._report_hist.observe_ns(ns)
        if self.fine is not None:
            self.fine.report.record(ns)
        self.path = PATH_NONE

    # --- child orders ----------------------------------------------------------------------
    def child_sent(self, lp: str) -> None:
        self.children_sent[lp] = self.children_sent.get(lp, 0) + 1

    def child_acked(self, lp: str, seconds: float) -> None:
        h = self.lp_ack.get(lp)
        if h is None:
            h = self.lp_ack[lp] = LatencyHistogram(LP_BUCKETS_S)
        h.observe_ns(int(seconds * 1e9))

    def child_first_fill(self, lp: str, seconds: float) -> None:
        h = self.lp_fill.get(lp)
        if h is None:
            h = self.lp_fill[lp] = LatencyHistogram(LP_BUCKETS_S)
        h.observe_ns(int(seconds * 1e9))

    def child_fills(self, lp: str, n: int) -> None:
        self.fills[lp] = self.fills.get(lp, 0) + n

    def child_done(self, lp: str, outcome: str) -> None:
        key = (lp, outcome)
        self.children_done[key] = self.children_done.get(key, 0) + 1

    # --- routing and sessions ----------------------------------------------------------------
    def decided(self, decision: Decision) -> None:
        """``router.on_decision``: decisions by profile and outcome, children by profile and LP."""
        profile = decision.profile or "default"
        key = (profile, "routed" if decision.children else "no_route")
        self.decisions[key] = self.decisions.get(key, 0) + 1
        for child in decision.children:
            k2 = (profile, child.lp)
            self.decision_children[k2] = self.decision_children.get(k2, 0) + 1

    def logon(self, session: str) -> None:
        self.logons[session] = self.logons.get(session, 0) + 1

    def logout(self, session: str) -> None:
        self.logouts[session] = self.logouts.get(session, 0) + 1

    def session_event(self, session: str, kind: str) -> None:
        if kind in SESSION_EVENTS:
            key = (session, kind)
            self.session_events[key] = self.session_events.get(key, 0) + 1


class _SeqCounter:
    """A monotonic count of messages from a session's sequence numbers, seen at scrape time.

    The session layer keeps no message counters; the next sequence number grows by one per
    message and goes back to 1 on a reset, so the count is the sum of the increases (after
    a reset: what was numbered since). Messages between the last scrape and a reset are
    not seen; counting inside the session layer would close that gap.
    """

    __slots__ = ("last", "total")

    def __init__(self) -> None:
        self.last: int | None = None
        self.total = 0

    def update(self, next_seq: int) -> int:
        last = self.last
        if last is None:
            self.total += max(0, next_seq - 1)
        elif next_seq >= last:
            self.total += next_seq - last
        else:
            self.total += max(0, next_seq - 1)
        self.last = next_seq
        return self.total


def _version() -> str:
    try:
        return metadata.version("fixgw")
    except metadata.PackageNotFoundError:
        return "unknown"


class GatewayCollector(Collector):
    """Everything about one gateway, read from its state when Prometheus scrapes."""

    def __init__(self, app: GatewayApplication) -> None:
        self.app = app
        self._sent: dict[str, _SeqCounter] = {}
        self._received: dict[str, _SeqCounter] = {}
        self._version = _version()

    def describe(self) -> list[Metric]:
        return []  # no checks at registration: the series depend on configuration

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        yield from self._build()
        yield from self._sessions()
        yield from self._orders()
        yield from self._routing()
        yield from self._risk()
        yield from self._scorecard(now)
        yield from self._latency()

    # --- families ---------------------------------------------------------------------------
    def _build(self) -> Iterator[Metric]:
        info = InfoMetricFamily("fixgw_build", "Gateway build and runtime", labels=["version", "python"])
        info.add_metric([self._version, platform.python_version()], {})
        yield info
        router = GaugeMetricFamily("fixgw_router_info", "Routing in use (always 1)", labels=["router"])
        router.add_metric([str(getattr(self.app.router, "name", "unknown"))], 1.0)
        yield router

    def _sessions(self) -> Iterator[Metric]:
        app = self.app
        tel = app.telemetry
        labels = ["session", "role"]
        logged_on = GaugeMetricFamily(
            "fixgw_session_logged_on", "1 while the FIX session is logged on", labels=labels
        )
        connected = GaugeMetricFamily(
            "fixgw_session_connected", "1 while the session has a TCP connection", labels=labels
        )
        sent = CounterMetricFamily(
            "fixgw_session_messages_sent", "FIX messages sent (from sequence numbers)", labels=labels
        )
        received = CounterMetricFamily(
            "fixgw_session_messages_received", "FIX messages received (from sequence numbers)", labels=labels
        )
        next_out = GaugeMetricFamily(
            "fixgw_session_next_sender_seq_num", "Next outgoing MsgSeqNum", labels=labels
        )
        next_in = GaugeMetricFamily(
            "fixgw_session_next_target_seq_num", "Next expected incoming MsgSeqNum", labels=labels
        )
        logons = CounterMetricFamily("fixgw_session_logons", "Logons completed", labels=labels)
        reconnects = CounterMetricFamily(
            "fixgw_session_reconnects", "Logons after the first one (reconnections)", labels=labels
        )
        logouts = CounterMetricFamily(
            "fixgw_session_disconnects",
            "Logged-on sessions that logged out or lost the connection",
            labels=labels,
        )
        families: dict[str, CounterMetricFamily] = {
            "rejects": CounterMetricFamily(
                "fixgw_session_rejects", "Session-level Rejects (35=3)", labels=[*labels, "direction"]
            ),
            "business_rejects": CounterMetricFamily(
                "fixgw_session_business_rejects",
                "BusinessMessageRejects (35=j)",
                labels=[*labels, "direction"],
            ),
            "resend_requests": CounterMetricFamily(
                "fixgw_session_resend_requests", "ResendRequests (35=2)", labels=[*labels, "direction"]
            ),
            "sequence_resets": CounterMetricFamily(
                "fixgw_session_sequence_resets", "SequenceResets (35=4)", labels=[*labels, "direction"]
            ),
            "garbled": CounterMetricFamily(
                "fixgw_session_garbled_messages", "Garbled messages ignored", labels=[*labels, "direction"]
            ),
        }
        connected_ids = {id(s) for s in app.engine.connected_sessions()}
        for name, session in app.sessions_by_name.items():
            role = "lp" if name in app.lp_sessions else "oms"
            lv = [name, role]
            logged_on.add_metric(lv, 1.0 if session.logged_on else 0.0)
            connected.add_metric(lv, 1.0 if id(session) in connected_ids else 0.0)
            store = session.store
            sent.add_metric(lv, self._sent.setdefault(name, _SeqCounter()).update(store.next_sender_seq))
            received.add_metric(
                lv, self._received.setdefault(name, _SeqCounter()).update(store.next_target_seq)
            )
            next_out.add_metric(lv, store.next_sender_seq)
            next_in.add_metric(lv, store.next_target_seq)
            n = tel.logons.get(name, 0)
            logons.add_metric(lv, n)
            reconnects.add_metric(lv, max(0, n - 1))
            logouts.add_metric(lv, tel.logouts.get(name, 0))
            for kind, (family, direction) in SESSION_EVENTS.items():
                families[family].add_metric([*lv, direction], tel.session_events.get((name, kind), 0))
        yield from (logged_on, connected, sent, received, next_out, next_in, logons, reconnects, logouts)
        yield from families.values()

    def _orders(self) -> Iterator[Metric]:
        app = self.app
        book = app.book
        c = book.counters
        tel = app.telemetry
        received = CounterMetricFamily(
            "fixgw_parent_orders_received", "Parent orders from OMSs by admission", labels=["outcome"]
        )
        received.add_metric(["accepted"], c.get("parents_accepted", 0))
        received.add_metric(["rejected"], c.get("parents_rejected", 0))
        yield received
        done = CounterMetricFamily(
            "fixgw_parent_orders_done", "Parent orders ended, by outcome", labels=["outcome"]
        )
        for outcome in PARENT_DONE:
            done.add_metric([outcome], c.get(f"parents_{outcome}", 0))
        yield done
        yield GaugeMetricFamily(
            "fixgw_parent_orders_open", "Parent orders not yet ended", value=len(book.open_parents)
        )
        yield CounterMetricFamily(
            "fixgw_parent_orders_replaced",
            "Parent orders replaced (35=G accepted)",
            value=c.get("parents_replaced", 0),
        )
        anomalies = CounterMetricFamily(
            "fixgw_order_events", "Unusual order events the state table handled", labels=["event"]
        )
        for name in (
            "anomalies",
            "late_fills",
            "late_fills_refused",
            "busts",
            "corrections",
            "duplicate_fills_ignored",
        ):
            anomalies.add_metric([name], c.get(name, 0))
        yield anomalies
        sent = CounterMetricFamily("fixgw_child_orders_sent", "Child orders sent, per LP", labels=["lp"])
        done_c = CounterMetricFamily(
            "fixgw_child_orders_done", "Child orders ended, per LP and outcome", labels=["lp", "outcome"]
        )
        open_c = GaugeMetricFamily(
            "fixgw_child_orders_open", "Child orders sent and not yet ended, per LP", labels=["lp"]
        )
        fills = CounterMetricFamily("fixgw_lp_fills", "Fills (executions) received, per LP", labels=["lp"])
        for lp in self._lps():
            n_sent = tel.children_sent.get(lp, 0)
            sent.add_metric([lp], n_sent)
            n_done = 0
            for outcome in CHILD_OUTCOMES:
                n = tel.children_done.get((lp, outcome), 0)
                n_done += n
                done_c.add_metric([lp, outcome], n)
            open_c.add_metric([lp], max(0, n_sent - n_done))
            fills.add_metric([lp], tel.fills.get(lp, 0))
        yield from (sent, done_c, open_c, fills)
        rejections = CounterMetricFamily(
            "fixgw_parent_order_rejections", "Parent orders refused, by rule", labels=["rule"]
        )
        seen = dict.fromkeys((*ORDER_REJECT_RULES, *(r for r in RULES if not r.startswith("lp_"))), 0)
        seen.update(app.oms.rejections)
        for rule, n in seen.items():
            rejections.add_metric([rule], n)
        yield rejections
        problems = CounterMetricFamily(
            "fixgw_lp_problems",
            "LP messages the gateway could not use (logged)",
            value=app.lps.counters.get("problems", 0),
        )
        yield problems

    def _routing(self) -> Iterator[Metric]:
        app = self.app
        tel = app.telemetry
        profiles = list(app.scorecard.settings.profiles)
        decisions = CounterMetricFamily(
            "fixgw_routing_decisions",
            "Routing decisions, by profile and outcome",
            labels=["profile", "outcome"],
        )
        keys = {(p, o): 0 for p in profiles for o in ("routed", "no_route")}
        keys.update(tel.decisions)
        for (profile, outcome), n in keys.items():
            decisions.add_metric([profile, outcome], n)
        yield decisions
        children = CounterMetricFamily(
            "fixgw_routing_children_planned",
            "Children planned by routing decisions, by profile and LP",
            labels=["profile", "lp"],
        )
        ckeys = {(p, lp): 0 for p in profiles for lp in self._lps()}
        ckeys.update(tel.decision_children)
        for (profile, lp), n in ckeys.items():
            children.add_metric([profile, lp], n)
        yield children
        enabled = GaugeMetricFamily(
            "fixgw_lp_enabled", "1 unless the LP is disabled for routing", labels=["lp"]
        )
        available = GaugeMetricFamily(
            "fixgw_lp_available",
            "1 when the router may use the LP (logged on, enabled, not killed)",
            labels=["lp"],
        )
        for lp in self._lps():
            enabled.add_metric([lp], 0.0 if lp in app.disabled else 1.0)
            available.add_metric([lp], 1.0 if app.available(lp) else 0.0)
        yield enabled
        yield available

    def _risk(self) -> Iterator[Metric]:
        app = self.app
        risk = app.risk
        rej = CounterMetricFamily(
            "fixgw_risk_rejections", "Pre-trade risk refusals, by rule and scope", labels=["rule", "scope"]
        )
        # every rule of every OMS session and LP from start-up (scopes as the risk engine names them)
        oms = [session.settings.name for session in app.oms_sessions.values()]
        counts = {(rule, f"lp:{lp}"): 0 for rule in RULES if rule.startswith("lp_") for lp in self._lps()}
        counts.update(
            {(rule, f"session:{name}"): 0 for rule in RULES if not rule.startswith("lp_") for name in oms}
        )
        counts.update(risk.rejections)
        for (rule, scope), n in sorted(counts.items()):
            rej.add_metric([rule, scope], n)
        yield rej
        kill = GaugeMetricFamily(
            "fixgw_kill_switch_engaged", "1 while a kill switch is engaged", labels=["scope"]
        )
        engaged = risk.kill_switches()
        oms = [session.settings.name for session in app.oms_sessions.values()]
        scopes = ["all"] + [f"session:{name}" for name in oms] + [f"lp:{lp}" for lp in self._lps()]
        for scope in dict.fromkeys([*scopes, *engaged]):
            kill.add_metric([scope], 1.0 if scope in engaged else 0.0)
        yield kill
        notional = GaugeMetricFamily(
            "fixgw_lp_open_notional",
            "Notional of child orders open at the LP (price currency)",
            labels=["lp"],
        )
        opened = risk.open_notionals()
        for lp in self._lps():
            notional.add_metric([lp], opened.get(lp, 0.0))
        yield notional
        tokens = GaugeMetricFamily(
            "fixgw_risk_throttle_tokens", "Messages an OMS session may still send at once", labels=["session"]
        )
        for session, level in risk.throttle_levels(time.time()).items():
            tokens.add_metric([session], level)
        yield tokens

    def _scorecard(self, now: float) -> Iterator[Metric]:
        app = self.app
        card = app.scorecard
        snap = card.snapshot(now)
        horizons = [f"{h:g}s" for h in card.settings.horizons_s]
        lp_label = ["lp"]

        def gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=labels or lp_label)

        score = gauge("fixgw_scorecard_score", "Composite score 0-100 per LP and profile", ["lp", "profile"])
        rank = gauge(
            "fixgw_scorecard_rank", "Rank of the LP by composite score (1 = best)", ["lp", "profile"]
        )
        obs = gauge("fixgw_scorecard_observations", "Decayed number of finished children behind the figures")
        pi = gauge(
            "fixgw_scorecard_price_improvement_ratio",
            "Price improvement vs the benchmark at send time (1e-4 = 1 bp)",
            ["lp", "benchmark"],
        )
        eff = gauge("fixgw_scorecard_effective_spread_ratio", "Effective spread (1e-4 = 1 bp)")
        realized = gauge(
            "fixgw_scorecard_realized_spread_ratio",
            "Realized spread at a horizon (1e-4 = 1 bp)",
            ["lp", "horizon"],
        )
        markout = gauge(
            "fixgw_scorecard_markout_ratio",
            "Markout (market impact) at a horizon: mid move against us after our fill (1e-4 = 1 bp)",
            ["lp", "horizon"],
        )
        fill_ratio = gauge("fixgw_scorecard_fill_ratio", "Filled quantity / ordered quantity of children")
        rej_ratio = gauge("fixgw_scorecard_rejection_ratio", "Rejected children / children")
        ack = gauge("fixgw_scorecard_ack_latency_seconds", "EWMA of child sent -> first report")
        fill_lat = gauge("fixgw_scorecard_fill_latency_seconds", "EWMA of child sent -> first fill")
        hold = gauge("fixgw_scorecard_hold_time_seconds", "EWMA of last-look hold time")
        per_profile: dict[str, list[str]] = {}
        for profile in snap["profiles"]:
            per_profile[profile] = sorted(
                snap["lps"], key=lambda lp: (-snap["lps"][lp]["scores"][profile], lp)
            )
        for lp, row in snap["lps"].items():
            k = row["kpis"]
            for profile, value in row["scores"].items():
                score.add_metric([lp, profile], value)
                rank.add_metric([lp, profile], per_profile[profile].index(lp) + 1)
            obs.add_metric([lp], row["observations"])
            pi.add_metric([lp, "far_touch"], k["price_improvement"] / 1e4)
            pi.add_metric([lp, "mid"], k["price_improvement_mid"] / 1e4)
            eff.add_metric([lp], k["effective_spread"] / 1e4)
            for h in horizons:
                realized.add_metric([lp, h], k[f"realized_spread_{h}"] / 1e4)
                markout.add_metric([lp, h], k[f"market_impact_{h}"] / 1e4)
            fill_ratio.add_metric([lp], k["fill_rate"])
            rej_ratio.add_metric([lp], k["rejection_rate"])
            ack.add_metric([lp], k["ack_latency"] / 1e3)
            fill_lat.add_metric([lp], k["fill_latency"] / 1e3)
            hold.add_metric([lp], k["hold_time"] / 1e3)
        yield from (score, rank, obs, pi, eff, realized, markout, fill_ratio, rej_ratio, ack, fill_lat, hold)
        weights = gauge("fixgw_profile_weight", "Weight of a KPI in a routing profile", ["profile", "kpi"])
        for profile, w in snap["profiles"].items():
            for kpi, value in w.items():
                weights.add_metric([profile, kpi], value)
        yield weights
        yield CounterMetricFamily(
            "fixgw_scorecard_updates", "KPI observations applied to the scorecard", value=card.updates
        )

    def _latency(self) -> Iterator[Metric]:
        tel = self.app.telemetry
        internal = HistogramMetricFamily(
            "fixgw_internal_latency_seconds",
            "Inside the gateway: OMS order bytes in -> first child handed to the LP session (path=order); "
            "LP report bytes in -> first report handed to the OMS session (path=report)",
            labels=["path"],
        )
        for path, h in tel.internal.items():
            internal.add_metric([path], h.buckets(), h.sum_ns / 1e9)
        yield internal
        ack = HistogramMetricFamily(
            "fixgw_lp_ack_latency_seconds", "Child sent -> first ExecutionReport from the LP", labels=["lp"]
        )
        fill = HistogramMetricFamily(
            "fixgw_lp_fill_latency_seconds", "Child sent -> first fill", labels=["lp"]
        )
        for lp in self._lps():
            for fam, table in ((ack, tel.lp_ack), (fill, tel.lp_fill)):
                h = table.get(lp) or LatencyHistogram(LP_BUCKETS_S)
                fam.add_metric([lp], h.buckets(), h.sum_ns / 1e9)
        yield ack
        yield fill

    def _lps(self) -> list[str]:
        lps: dict[str, None] = dict.fromkeys(self.app.lp_names)
        lps.update(dict.fromkeys(self.app.telemetry.children_sent))
        return list(lps)


def collectors(app: GatewayApplication, *, process: bool = True) -> list[Collector]:
    """What one gateway exposes: its own collector, and the standard process and Python ones."""
    out: list[Collector] = [GatewayCollector(app)]
    if process:
        scratch = CollectorRegistry()  # they insist on registering somewhere
        out += [ProcessCollector(registry=scratch), PlatformCollector(registry=scratch), GCCollector(scratch)]
    return out


def make_registry(app: GatewayApplication, *, process: bool = True) -> CollectorRegistry:
    """A registry of one gateway (not the global one: several gateways can share a process)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in collectors(app, process=process):
        registry.register(collector)
    return registry


class _One:
    """One metric family, in the shape the exposition encoders read (``collect()``)."""

    __slots__ = ("family",)

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> list[Metric]:
        return [self.family]


async def exposition(
    sources: list[Collector], accept: str | None = None, *, slice_s: float = 0.0005
) -> tuple[bytes, str]:
    """The exposition, built family by family with the event loop let in between.

    Built at once, a scrape of a few LPs holds the loop for several milliseconds (most of it
    formatting text); the order path shares that loop, so the work is cut into slices of
    about ``slice_s`` (one family at least) and other callbacks run between them.
    """
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    openmetrics = content_type.startswith("application/openmetrics-text")
    eof = b"# EOF\n"
    parts: list[bytes] = []
    start = time.perf_counter()
    for source in sources:
        for family in source.collect():
            body = encoder(_One(family))
            if openmetrics and body.endswith(eof):
                body = body[: -len(eof)]
            parts.append(body)
            if time.perf_counter() - start > slice_s:
                await asyncio.sleep(0)
                start = time.perf_counter()
    if openmetrics:
        parts.append(eof)
    return b"".join(parts), content_type


def scrape(registry: CollectorRegistry, accept: str | None = None) -> tuple[bytes, str]:
    """The exposition in the format the scraper asked for (OpenMetrics or text 0.0.4)."""
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
