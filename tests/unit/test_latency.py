"""gateway.latency: bucket arithmetic, percentiles, what Telemetry records into it, the dump."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from gateway.latency import LatencyRecorder, LogHistogram
from gateway.metrics import PATH_ORDER, PATH_REPORT, Telemetry


def test_buckets_are_contiguous_and_narrow() -> None:
    h = LogHistogram()
    previous_high = 0
    for index in range(4000):
        low, high = h.bucket_bounds(index)
        assert low == previous_high, index
        assert high > low
        if low >= 128:
            assert (high - low) / low <= 1 / 64
        previous_high = high


def test_every_value_lands_in_its_bucket() -> None:
    rng = random.Random(3)
    values = [0, 1, 127, 128, 129, 255, 256, 10**3, 10**6, 2**40 + 7, 2**62]
    values += [rng.randrange(1, 10**10) for _ in range(2000)]
    for v in values:
        h = LogHistogram()
        h.record(v)
        [(low, n)] = h.buckets()
        index = next(i for i, c in enumerate(h.counts) if c)
        assert n == 1
        assert low <= v < h.bucket_bounds(index)[1]


def test_percentiles_within_a_bucket_of_the_exact_value() -> None:
    rng = random.Random(7)
    values = sorted(int(rng.lognormvariate(10, 1)) for _ in range(10_000))
    h = LogHistogram()
    for v in values:
        h.record(v)
    for q in (0.5, 0.9, 0.99, 0.999):
        exact = values[int(q * len(values) + 0.999999) - 1]
        assert abs(h.percentile(q) - exact) <= exact / 64 + 1
    assert h.percentile(1.0) == values[-1]
    assert h.max == values[-1] and h.min == values[0] and h.count == len(values)
    s = h.summary_us()
    assert s["count"] == len(values) and s["max"] == values[-1] / 1000


def test_empty_and_negative() -> None:
    h = LogHistogram()
    assert h.summary_us() == {"count": 0}
    h.record(-5)
    assert h.min == 0 and h.count == 1


def test_recorder_gets_the_telemetry_latencies(tmp_path: Path) -> None:
    """Telemetry's internal latencies (NewOrderSingle in -> first child out, LP report in ->
    first OMS report out) reach the fine recorder too, once per message handled."""
    rec = LatencyRecorder(tmp_path / "lat.json", describe=lambda: {"open_parents": 3})
    tel = Telemetry(["LP_A"], ["OMS1", "LP_A"])
    tel.fine = rec
    tel.begin(PATH_ORDER, time.perf_counter_ns() - 5_000)
    tel.order_out()
    assert rec.order.count == 1 and rec.report.count == 0
    assert rec.order.min >= 5_000 and tel.internal["order"].count == 1
    tel.begin(PATH_REPORT, time.perf_counter_ns())
    tel.report_out()
    assert rec.report.count == 1 and tel.internal["report"].count == 1
    rec.dump()
    data = json.loads((tmp_path / "lat.json").read_text())
    assert data["order"]["count"] == 1 and data["report"]["count"] == 1
    assert data["gateway"] == {"open_parents": 3}
    assert "gc" in data and "cpu_user_s" in data
    rec.reset()
    assert rec.order.count == 0 and rec.report.count == 0
