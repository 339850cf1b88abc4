"""/metrics as Prometheus sees it: parses, names and labels by the conventions, every LP from
start-up, numbers that agree with the gateway's own state, and cheap histograms."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import INTERNAL_BUCKETS_S, LatencyHistogram
from tests.ops.kit import LPS, LiveGateway

# name -> (type, label names); counters are listed without "_total" (as the parser names them)
EXPECTED: dict[str, tuple[str, set[str]]] = {
    "fixgw_build_info": ("gauge", {"version", "python"}),  # an info metric, in text format a gauge
    "fixgw_session_logged_on": ("gauge", {"session", "role"}),
    "fixgw_session_connected": ("gauge", {"session", "role"}),
    "fixgw_session_messages_sent": ("counter", {"session", "role"}),
    "fixgw_session_messages_received": ("counter", {"session", "role"}),
    "fixgw_session_next_sender_seq_num": ("gauge", {"session", "role"}),
    "fixgw_session_next_target_seq_num": ("gauge", {"session", "role"}),
    "fixgw_session_logons": ("counter", {"session", "role"}),
    "fixgw_session_reconnects": ("counter", {"session", "role"}),
    "fixgw_session_disconnects": ("counter", {"session", "role"}),
    "fixgw_session_rejects": ("counter", {"session", "role", "direction"}),
    "fixgw_session_business_rejects": ("counter", {"session", "role", "direction"}),
    "fixgw_session_resend_requests": ("counter", {"session", "role", "direction"}),
    "fixgw_session_sequence_resets": ("counter", {"session", "role", "direction"}),
    "fixgw_session_garbled_messages": ("counter", {"session", "role", "direction"}),
    "fixgw_parent_orders_received": ("counter", {"outcome"}),
    "fixgw_parent_orders_done": ("counter", {"outcome"}),
    "fixgw_parent_orders_open": ("gauge", set()),
    "fixgw_parent_order_rejections": ("counter", {"rule"}),
    "fixgw_child_orders_sent": ("counter", {"lp"}),
    "fixgw_child_orders_done": ("counter", {"lp", "outcome"}),
    "fixgw_child_orders_open": ("gauge", {"lp"}),
    "fixgw_lp_fills": ("counter", {"lp"}),
    "fixgw_routing_decisions": ("counter", {"profile", "outcome"}),
    "fixgw_routing_children_planned": ("counter", {"profile", "lp"}),
    "fixgw_lp_enabled": ("gauge", {"lp"}),
    "fixgw_lp_available": ("gauge", {"lp"}),
    "fixgw_risk_rejections": ("counter", {"rule", "scope"}),
    "fixgw_kill_switch_engaged": ("gauge", {"scope"}),
    "fixgw_lp_open_notional": ("gauge", {"lp"}),
    "fixgw_scorecard_score": ("gauge", {"lp", "profile"}),
    "fixgw_scorecard_rank": ("gauge", {"lp", "profile"}),
    "fixgw_scorecard_observations": ("gauge", {"lp"}),
    "fixgw_scorecard_price_improvement_ratio": ("gauge", {"lp", "benchmark"}),
    "fixgw_scorecard_effective_spread_ratio": ("gauge", {"lp"}),
    "fixgw_scorecard_realized_spread_ratio": ("gauge", {"lp", "horizon"}),
    "fixgw_scorecard_markout_ratio": ("gauge", {"lp", "horizon"}),
    "fixgw_scorecard_fill_ratio": ("gauge", {"lp"}),
    "fixgw_scorecard_rejection_ratio": ("gauge", {"lp"}),
    "fixgw_scorecard_ack_latency_seconds": ("gauge", {"lp"}),
    "fixgw_scorecard_fill_latency_seconds": ("gauge", {"lp"}),
    "fixgw_scorecard_hold_time_seconds": ("gauge", {"lp"}),
    "fixgw_profile_weight": ("gauge", {"profile", "kpi"}),
    "fixgw_scorecard_updates": ("counter", set()),
    "fixgw_internal_latency_seconds": ("histogram", {"path"}),
    "fixgw_lp_ack_latency_seconds": ("histogram", {"lp"}),
    "fixgw_lp_fill_latency_seconds": ("histogram", {"lp"}),
}
FORBIDDEN_LABELS = {"clordid", "cl_ord_id", "order_id", "account", "child_id", "exec_id"}


def families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(fam: Metric, suffix: str = "") -> Iterator[tuple[dict[str, str], float]]:
    for s in fam.samples:
        if s.name == fam.name + suffix:
            yield s.labels, s.value


def value(fam: Metric, suffix: str = "", **labels: str) -> float:
    found = [v for lbl, v in samples(fam, suffix) if all(lbl.get(k) == x for k, x in labels.items())]
    assert len(found) == 1, (fam.name, labels, found)
    return found[0]


def scrape(live: LiveGateway) -> dict[str, Metric]:
    status, text, headers = live.http("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    return families(text)


def test_metrics_parse_with_the_right_names_types_and_labels(live: LiveGateway) -> None:
    fams = scrape(live)
    for name, (kind, labels) in EXPECTED.items():
        assert name in fams, f"missing {name}"
        fam = fams[name]
        assert fam.type == kind, (name, fam.type)
        own = [s for s in fam.samples if s.name.startswith(name)]
        assert own, f"{name} has no samples"
        for s in own:
            got = set(s.labels) - {"le"}
            assert got == labels, (name, got)
    for name, fam in fams.items():
        if name.startswith("fixgw_"):
            for s in fam.samples:
                assert not FORBIDDEN_LABELS & {k.lower() for k in s.labels}, (name, s.labels)
        else:  # only the standard process and Python collectors are not ours
            assert name.startswith(("process_", "python_")), name
    # counters end in _total on the wire, histograms have sub-millisecond buckets
    _, text, _ = live.http("GET", "/metrics")
    assert "fixgw_child_orders_sent_total{" in text
    assert 'fixgw_internal_latency_seconds_bucket{le="5e-06",path="order"}' in text
    assert 'fixgw_lp_ack_latency_seconds_bucket{le="0.0001",lp="LP_A"}' in text


def test_every_lp_and_profile_has_its_series(live: LiveGateway) -> None:
    fams = scrape(live)
    for name in (
        "fixgw_child_orders_sent",
        "fixgw_scorecard_fill_ratio",
        "fixgw_lp_enabled",
        "fixgw_lp_open_notional",
    ):
        assert {
            lbl["lp"] for lbl, _ in samples(fams[name], "_total" if "orders_sent" in name else "")
        } >= set(LPS), name
    profiles = set(live.gw.scorecard.settings.profiles)
    got = {(lbl["lp"], lbl["profile"]) for lbl, _ in samples(fams["fixgw_scorecard_score"])}
    assert got == {(lp, p) for lp in LPS for p in profiles}
    horizons = {lbl["horizon"] for lbl, _ in samples(fams["fixgw_scorecard_markout_ratio"])}
    assert horizons == {"0.2s", "0.5s"}
    kills = {lbl["scope"] for lbl, _ in samples(fams["fixgw_kill_switch_engaged"])}
    assert {"all", "lp:LP_A", "lp:LP_B", "lp:LP_C"} <= kills


def test_numbers_agree_with_the_gateway(live: LiveGateway) -> None:
    live.send_orders(3)
    time.sleep(0.1)
    fams = scrape(live)
    gw = live.gw
    tel = gw.telemetry
    for lp in LPS:
        assert value(fams["fixgw_child_orders_sent"], "_total", lp=lp) == tel.children_sent[lp] > 0
        assert value(fams["fixgw_lp_ack_latency_seconds"], "_count", lp=lp) > 0
    assert value(fams["fixgw_parent_orders_received"], "_total", outcome="accepted") == gw.book.counters.get(
        "parents_accepted"
    )
    # every IOC parent ended; the children's outcomes add up to what was sent
    done = sum(v for _, v in samples(fams["fixgw_child_orders_done"], "_total"))
    assert done == sum(tel.children_sent.values())
    assert value(fams["fixgw_parent_orders_open"]) == 0
    # one internal-latency observation per order that sent a child, each well under 100 ms
    order_count = value(fams["fixgw_internal_latency_seconds"], "_count", path="order")
    assert order_count == gw.book.counters.get("parents_accepted")
    assert value(fams["fixgw_internal_latency_seconds"], "_bucket", path="order", le="0.1") == order_count
    assert value(fams["fixgw_internal_latency_seconds"], "_count", path="report") > 0
    # the scorecard gauges are the scorecard's, in base units
    snap = live.call(lambda: gw.scorecard.snapshot(time.time()))
    for lp in LPS:
        k = snap["lps"][lp]["kpis"]
        assert abs(value(fams["fixgw_scorecard_fill_ratio"], lp=lp) - k["fill_rate"]) < 1e-6
        assert abs(value(fams["fixgw_scorecard_ack_latency_seconds"], lp=lp) - k["ack_latency"] / 1e3) < 1e-6
        pi = value(fams["fixgw_scorecard_price_improvement_ratio"], lp=lp, benchmark="far_touch")
        assert abs(pi - k["price_improvement"] / 1e4) < 1e-9
    # LP_C improves the price, LP_B rejects: the scorecard sees it, and so does Prometheus
    pi_c = value(fams["fixgw_scorecard_price_improvement_ratio"], lp="LP_C", benchmark="far_touch")
    assert pi_c > 0.5e-4
    assert value(fams["fixgw_scorecard_rejection_ratio"], lp="LP_B") > value(
        fams["fixgw_scorecard_rejection_ratio"], lp="LP_A"
    )
    assert value(fams["fixgw_child_orders_done"], "_total", lp="LP_B", outcome="rejected") > 0
    decisions = sum(
        v for lbl, v in samples(fams["fixgw_routing_decisions"], "_total") if lbl["profile"] == "hft"
    )
    assert decisions >= gw.book.counters.get("parents_accepted", 0)
    assert value(fams["fixgw_session_logged_on"], session="OMS1", role="oms") == 1
    assert value(fams["fixgw_session_messages_received"], "_total", session="OMS1", role="oms") > 20


def test_kill_switch_and_risk_rejections_show(live: LiveGateway, tmp_path: Path) -> None:
    gw = live.gw
    live.call(lambda: gw.kill(True, "test", ("lp", "LP_B")))
    try:
        fams = scrape(live)
        assert value(fams["fixgw_kill_switch_engaged"], scope="lp:LP_B") == 1
        assert value(fams["fixgw_kill_switch_engaged"], scope="all") == 0
        assert value(fams["fixgw_lp_available"], lp="LP_B") == 0
    finally:
        live.call(lambda: gw.kill(False, "", ("lp", "LP_B")))
    live.call(lambda: gw.kill(True, "test all", "all"))
    try:
        live.send_orders(1, wait=False)
        live.wait(lambda: gw.oms.rejections.get("kill_switch", 0) >= 1, 5, "a refused order")
        fams = scrape(live)
        assert value(fams["fixgw_kill_switch_engaged"], scope="all") == 1
        assert value(fams["fixgw_parent_order_rejections"], "_total", rule="kill_switch") >= 1
        assert value(fams["fixgw_risk_rejections"], "_total", rule="kill_switch", scope="session:OMS1") >= 1
    finally:
        live.call(lambda: gw.kill(False, "", "all"))


def test_openmetrics_when_asked(live: LiveGateway) -> None:
    """Prometheus asks for OpenMetrics first: one "# EOF" at the end, and it parses."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

    status, text, headers = live.http(
        "GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    names = {f.name for f in parse_om(text)}
    assert {"fixgw_child_orders_sent", "fixgw_internal_latency_seconds", "fixgw_build"} <= names


def test_histogram_buckets_are_le_and_observation_is_cheap() -> None:
    h = LatencyHistogram(INTERNAL_BUCKETS_S)
    h.observe_ns(5_000)  # exactly on the first bound: counted in it (le)
    h.observe_ns(5_001)
    h.observe(2.0)  # over every bound: +Inf only
    buckets = dict(h.buckets())
    assert buckets["5e-06"] == 1 and buckets["1e-05"] == 2 and buckets["0.1"] == 2 and buckets["+Inf"] == 3
    assert h.count == 3 and h.sum_ns == 5_000 + 5_001 + 2_000_000_000
    n = 200_000
    t0 = time.perf_counter_ns()
    for i in range(n):
        h.observe_ns(i)
    per = (time.perf_counter_ns() - t0) / n
    assert per < 2_000, f"{per:.0f} ns per observation"


def test_the_grafana_dashboard_uses_series_that_exist(live: LiveGateway) -> None:
    path = Path(__file__).resolve().parents[2] / "dashboards" / "fixgw.json"
    dash = json.loads(path.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dash["templating"]["list"] if "definition" in v]
    assert len(exprs) > 30
    _, text, _ = live.http("GET", "/metrics")
    exposed = {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}
    used = {name for e in exprs for name in re.findall(r"\bfixgw_[a-z0-9_]+", e)}
    missing = used - exposed
    assert not missing, f"the dashboard queries series /metrics does not have: {sorted(missing)}"
    labels = {"profile", "lp", "horizon", "job", "datasource"}
    assert {v["name"] for v in dash["templating"]["list"]} == labels


def test_a_fresh_gateway_has_every_lp_series_at_zero_or_prior(tmp_path: Path) -> None:
    with LiveGateway(tmp_path) as fresh:
        fams = scrape(fresh)
        prior = fresh.gw.scorecard.settings.prior
        for lp in LPS:
            assert value(fams["fixgw_child_orders_sent"], "_total", lp=lp) == 0
            assert value(fams["fixgw_child_orders_done"], "_total", lp=lp, outcome="rejected") == 0
            assert value(fams["fixgw_lp_ack_latency_seconds"], "_count", lp=lp) == 0
            assert value(fams["fixgw_lp_fill_latency_seconds"], "_bucket", lp=lp, le="+Inf") == 0
            assert value(fams["fixgw_scorecard_fill_ratio"], lp=lp) == prior["fill_rate"]
            assert value(fams["fixgw_scorecard_observations"], lp=lp) == 0
            for profile in fresh.gw.scorecard.settings.profiles:
                assert value(fams["fixgw_scorecard_score"], lp=lp, profile=profile) >= 0
            assert value(fams["fixgw_lp_available"], lp=lp) == 1
        assert value(fams["fixgw_internal_latency_seconds"], "_count", path="order") == 0
        assert value(fams["fixgw_risk_rejections"], "_total", rule="kill_switch", scope="session:OMS1") == 0
        assert value(fams["fixgw_risk_rejections"], "_total", rule="lp_open_notional", scope="lp:LP_C") == 0
