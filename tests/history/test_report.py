"""``fixgw report``: CSV, JSON and HTML of one seeded simulator day, checked against the journal."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.report import ALL, ReportError, parse_time, report_for, to_csv, to_html
from tests.history.conftest import LPS, Day


def _last(records: list[dict], key: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in records:
        out[r[key]] = r
    return out


def test_the_report_agrees_with_the_journal(seeded_day: Day) -> None:
    report = report_for(seeded_day.state, None, None)
    rows = {(r["lp"], r["symbol"]): r for r in report.rows()}
    children = _last(seeded_day.records("child"), "child_id")
    parents = _last(seeded_day.records("parent"), "order_id")
    per_lp = Counter(c["lp"] for c in children.values())
    rejected = Counter(c["lp"] for c in children.values() if c["state"] == "rejected")
    filled = Counter()
    for c in children.values():
        filled[c["lp"]] += c["cum_qty"]
    assert {lp for lp, _ in rows} <= set(LPS)
    for lp in per_lp:
        row = rows[(lp, ALL)]
        assert row == {**rows[(lp, "ACME")], "symbol": ALL}  # one symbol: the same figures
        assert row["children"] == per_lp[lp]
        assert row["rejects"] == rejected[lp]
        assert row["filled_qty"] == filled[lp]  # lot 1: quantity units are shares
        assert 0.0 <= row["fill_rate"] <= 1.0
    assert sum(r["filled_qty"] for (lp, s), r in rows.items() if s == ALL) == sum(
        p["cum_qty"] for p in parents.values()
    )
    shares = [r["share_of_flow"] for (lp, s), r in rows.items() if s == "ACME"]
    assert sum(shares) == pytest.approx(1.0)
    # the LPs are what the simulator made them
    fast_ack = rows[("LP_FAST", ALL)]["ack_latency_ms_p50"]
    slow_ack = rows.get(("LP_SLOW", ALL), {}).get("ack_latency_ms_p50")
    if fast_ack is not None and slow_ack is not None:  # the router may have left LP_SLOW unused
        assert fast_ack < slow_ack
    if rows.get(("LP_SLOW", ALL), {}).get("children", 0) >= 10:
        assert rows[("LP_SLOW", ALL)]["reject_rate"] > rows[("LP_FAST", ALL)]["reject_rate"]
    price = rows.get(("LP_PRICE", ALL))
    if price is not None and price["fills"] >= 10:
        assert price["price_improvement_bps"] > rows[("LP_FAST", ALL)]["price_improvement_bps"]
    # markouts at each of the day's horizons (0.2 s, 0.5 s, 1 s)
    assert any(r["markout_0.2s_bps"] is not None for r in rows.values())
    summary = report.summary()
    assert summary["horizons_s"] == [0.2, 0.5, 1.0]
    assert summary["parent_orders"] == len(parents) == 300
    assert summary["fills"] == sum(r["fills"] for (lp, s), r in rows.items() if s == ALL)


def test_csv_json_and_html_from_the_command_line(seeded_day: Day, tmp_path: Path) -> None:
    state = str(seeded_day.state)
    for fmt in ("csv", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        assert main(["report", "--state-dir", state, "--format", fmt, "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    data = json.loads((tmp_path / "report.json").read_text())
    assert len(rows) == len(data["rows"]) > 0
    assert {r["lp"] for r in rows} == {r["lp"] for r in data["rows"]}
    assert "markout_1s_bps" in rows[0] and "share_of_flow" in rows[0] and "reject_rate" in rows[0]
    for r, j in zip(rows, data["rows"], strict=True):
        assert (r["lp"], r["symbol"]) == (j["lp"], j["symbol"])
        assert int(r["children"]) == j["children"]
        assert float(r["notional"]) == pytest.approx(j["notional"], rel=1e-5)
    assert data["summary"]["symbols"] == ["ACME"]

    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page.lower()
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) >= 5
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    for lp in {r["lp"] for r in rows}:
        assert lp in page


def test_a_period_selects_the_records_of_its_time(seeded_day: Day) -> None:
    day = seeded_day.day
    whole = report_for(seeded_day.state, parse_time(day), parse_time(day, end=True))
    assert to_csv(whole) == to_csv(report_for(seeded_day.state, None, None))
    t0 = seeded_day.records("start")[0]["t"]
    before = report_for(seeded_day.state, t0 - 7200, t0 - 3600)
    assert before.rows() == [] and before.summary()["fills"] == 0
    assert "<svg" in to_html(before)  # an empty period still makes a page
    with pytest.raises(ReportError, match="expected YYYYMMDD"):
        parse_time("yesterday")
    assert main(["report", "--state-dir", str(seeded_day.state), "--from", "soon"]) == 2
