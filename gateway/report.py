"""LP scorecard reports for a period, from the journal: CSV, JSON, and an HTML page with charts.

In the spirit of MiFID II best-execution venue reports (RTS 28): per LP and symbol, over a
period, what was sent and what came back — volume, share of the flow, fill rate, rejects,
latency, price improvement and markouts at each horizon — so that a desk can show where
its orders went and how well they were executed there. ``fixgw report`` is the command.

Everything comes from the journal's ``score`` records, the same inputs the live scorecard
had (sent with the consolidated quote, first answer, fills, end; markouts matured against
the consolidated mid), so the figures are exact sums and averages over the period, not
decayed averages. Definitions (s = +1 buy, -1 sell; averages weighted by filled quantity):

- fill rate = filled / ordered quantity of the children that ended in the period;
- reject rate = rejected children / children that ended;
- ack latency = sent -> first report; fill latency = sent -> first fill (ms; mean, p50, p95);
- price improvement = s x (far touch at send - fill price) / far touch, bps (vs mid too);
- effective spread = 2 s (fill - mid at send) / mid, bps;
- markout at h = s (mid at h - mid at send) / mid at send, bps: the market impact the
  scorecard scores (the price moving on in the direction we traded: leakage; lower is
  better); realized spread at h = 2 s (fill - mid at h) / mid at send;
- share of flow = the LP's filled notional / all filled notional (per symbol, and overall).

The HTML page is self-contained: inline SVG charts drawn here, no script, no external file.
"""

from __future__ import annotations

import csv
import heapq
import html
import io
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from gateway.journal import Record, read_records

ALL = "ALL"
_KINDS = frozenset({"score", "start", "parent", "decision"})


class ReportError(ValueError):
    """A bad argument (the text says which and what is allowed)."""


def parse_time(text: str, *, end: bool = False) -> float:
    """A UTC day (YYYYMMDD or YYYY-MM-DD; as an end: the end of that day) or an ISO time."""
    t = text.strip()
    try:
        if len(t) == 8 and t.isdigit():
            day = datetime.strptime(t, "%Y%m%d").replace(tzinfo=UTC)
        elif len(t) == 10 and t[4] == "-":
            day = datetime.strptime(t, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            when = datetime.fromisoformat(t.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return when.timestamp()
    except ValueError:
        raise ReportError(f"{text!r}: expected YYYYMMDD, YYYY-MM-DD or an ISO time (UTC)") from None
    return (day + timedelta(days=1) if end else day).timestamp()


def journal_dir(state_dir: str | Path) -> Path:
    """The journal of a state directory (or the directory itself if it holds day files)."""
    d = Path(state_dir)
    if any(d.glob("journal-*.jsonl")):
        return d
    return d / "journal"


# --------------------------------------------------------------------------- figures


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


@dataclass
class _Acc:
    """Sums for one (LP, symbol) or (LP, ALL)."""

    children: int = 0
    ordered: float = 0.0
    ended: int = 0
    ended_ordered: float = 0.0
    ended_filled: float = 0.0
    rejects: int = 0
    fills: int = 0
    filled: float = 0.0
    notional: float = 0.0
    ack_ms: list[float] = field(default_factory=list)
    fill_ms: list[float] = field(default_factory=list)
    pi_qty: float = 0.0
    pi_sum: float = 0.0
    pim_qty: float = 0.0
    pim_sum: float = 0.0
    eff_sum: float = 0.0
    markout: dict[float, list[float]] = field(default_factory=dict)  # h -> [qty, impact x qty, rs x qty]


@dataclass
class _Child:
    lp: str
    symbol: str
    side: int
    qty: float
    sent: float
    mid: float | None
    far: float | None
    answered: bool = False
    filled: float = 0.0


class Report:
    """The figures of one period (build with ``build_report``)."""

    def __init__(self, start: float | None, end: float | None, horizons: tuple[float, ...]) -> None:
        self.start = start
        self.end = end
        self.horizons = horizons
        self.acc: dict[tuple[str, str], _Acc] = {}
        self.parents: set[str] = set()
        self.decisions = 0
        self.first: float | None = None
        self.last: float | None = None

    def _accs(self, lp: str, symbol: str) -> tuple[_Acc, _Acc]:
        acc = self.acc
        a = acc.get((lp, symbol))
        if a is None:
            a = acc[(lp, symbol)] = _Acc()
        b = acc.get((lp, ALL))
        if b is None:
            b = acc[(lp, ALL)] = _Acc()
        return a, b

    def rows(self) -> list[dict[str, Any]]:
        """One row per LP and symbol, then per LP over all symbols (symbol ALL)."""
        volume: dict[str, float] = {}
        for (_, symbol), a in self.acc.items():
            volume[symbol] = volume.get(symbol, 0.0) + a.notional
        rows = []
        for (lp, symbol), a in sorted(self.acc.items(), key=lambda kv: (kv[0][1] == ALL, kv[0][1], kv[0][0])):
            total = volume.get(symbol, 0.0)
            row: dict[str, Any] = {
                "lp": lp,
                "symbol": symbol,
                "children": a.children,
                "ordered_qty": a.ordered,
                "filled_qty": a.filled,
                "fills": a.fills,
                "notional": a.notional,
                "share_of_flow": a.notional / total if total else None,
                "fill_rate": a.ended_filled / a.ended_ordered if a.ended_ordered else None,
                "rejects": a.rejects,
                "reject_rate": a.rejects / a.ended if a.ended else None,
                "ack_latency_ms_mean": sum(a.ack_ms) / len(a.ack_ms) if a.ack_ms else None,
                "ack_latency_ms_p50": _pct(a.ack_ms, 0.5),
                "ack_latency_ms_p95": _pct(a.ack_ms, 0.95),
                "fill_latency_ms_mean": sum(a.fill_ms) / len(a.fill_ms) if a.fill_ms else None,
                "fill_latency_ms_p50": _pct(a.fill_ms, 0.5),
                "price_improvement_bps": a.pi_sum / a.pi_qty if a.pi_qty else None,
                "price_improvement_mid_bps": a.pim_sum / a.pim_qty if a.pim_qty else None,
                "effective_spread_bps": a.eff_sum / a.pim_qty if a.pim_qty else None,
            }
            for h in self.horizons:
                q, imp, rs = a.markout.get(h, (0.0, 0.0, 0.0))
                row[f"markout_{h:g}s_bps"] = imp / q if q else None
                row[f"realized_spread_{h:g}s_bps"] = rs / q if q else None
            rows.append(row)
        ranks: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            ranks.setdefault(row["symbol"], []).append(row)
        for group in ranks.values():
            for i, row in enumerate(sorted(group, key=lambda r: (-r["notional"], r["lp"])), 1):
                row["rank"] = i
        return rows

    def summary(self) -> dict[str, Any]:
        all_rows = [a for (lp, s), a in self.acc.items() if s == ALL]
        return {
            "from": _iso(self.start),
            "to": _iso(self.end),
            "first_record": _iso(self.first),
            "last_record": _iso(self.last),
            "parent_orders": len(self.parents),
            "decisions": self.decisions,
            "child_orders": sum(a.children for a in all_rows),
            "fills": sum(a.fills for a in all_rows),
            "filled_notional": sum(a.notional for a in all_rows),
            "lps": sorted({lp for lp, _ in self.acc}),
            "symbols": sorted({s for _, s in self.acc if s != ALL}),
            "horizons_s": list(self.horizons),
        }


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_report(records: Iterable[Record], start: float | None = None, end: float | None = None) -> Report:
    """Fold journal records (in order) into a ``Report`` of [start, end)."""
    horizons: tuple[float, ...] | None = None
    children: dict[str, _Child] = {}
    pending: list[tuple[float, int, str, float, float, int, float, float]] = []  # markouts due
    seq = 0
    report: Report | None = None

    def inside(t: float) -> bool:
        return (start is None or t >= start) and (end is None or t < end)

    for rec in records:
        k = rec["k"]
        t = rec["t"]
        if k == "start":
            hs = tuple(float(h) for h in rec.get("scorecard", {}).get("horizons_s", (1.0, 5.0, 30.0)))
            if horizons is None:
                horizons = hs
            continue
        if report is None:
            report = Report(start, end, horizons or (1.0, 5.0, 30.0))
        if k == "parent":
            if inside(t):
                report.parents.add(rec["order_id"])
            continue
        if k == "decision":
            if inside(t):
                report.decisions += 1
            continue
        if k != "score":
            continue
        ev = rec["ev"]
        if ev == "mature":
            mids = rec["mids"]
            while pending and pending[0][0] <= t:
                due, _, cid, h, qty, side, price, mid0 = heapq.heappop(pending)
                c = children.get(cid)
                mid_h = mids.get(c.symbol) if c is not None else None
                if c is None or mid_h is None or not inside(due):
                    continue
                for a in report._accs(c.lp, c.symbol):
                    m = a.markout.setdefault(h, [0.0, 0.0, 0.0])
                    m[0] += qty
                    m[1] += qty * side * (mid_h - mid0) / mid0 * 1e4
                    m[2] += qty * 2 * side * (price - mid_h) / mid0 * 1e4
            continue
        cid = rec["child"]
        if ev == "sent":
            bid, ask = rec["bid"], rec["ask"]
            side = 1 if rec["side"] > 0 else -1
            mid = (bid + ask) / 2 if bid is not None and ask is not None else None
            c = children[cid] = _Child(
                rec["lp"], rec["symbol"], side, rec["qty"], t, mid, ask if side > 0 else bid
            )
            if inside(t):
                report.first = t if report.first is None else report.first
                report.last = t
                for a in report._accs(c.lp, c.symbol):
                    a.children += 1
                    a.ordered += c.qty
            continue
        c = children.get(cid)
        if c is None:
            continue  # sent before the journal began
        if ev == "answer":
            if not c.answered:
                c.answered = True
                if inside(t):
                    for a in report._accs(c.lp, c.symbol):
                        a.ack_ms.append((t - c.sent) * 1000.0)
        elif ev == "fill":
            qty, price = rec["qty"], rec["price"]
            if qty <= 0:
                continue
            first = c.filled == 0.0
            c.filled += qty
            if not inside(t):
                continue
            report.last = t
            s = c.side
            for a in report._accs(c.lp, c.symbol):
                a.fills += 1
                a.filled += qty
                a.notional += qty * price
                if first:
                    a.fill_ms.append((t - c.sent) * 1000.0)
                if c.far:
                    a.pi_qty += qty
                    a.pi_sum += qty * s * (c.far - price) / c.far * 1e4
                if c.mid:
                    a.pim_qty += qty
                    a.pim_sum += qty * s * (c.mid - price) / c.mid * 1e4
                    a.eff_sum += qty * 2 * s * (price - c.mid) / c.mid * 1e4
            if c.mid:
                for h in report.horizons:
                    seq += 1
                    heapq.heappush(pending, (t + h, seq, cid, h, qty, s, price, c.mid))
        elif ev == "done":
            if inside(t):
                for a in report._accs(c.lp, c.symbol):
                    a.ended += 1
                    a.ended_ordered += c.qty
                    a.ended_filled += min(c.filled, c.qty)
                    if rec["rejected"]:
                        a.rejects += 1
    return report or Report(start, end, horizons or (1.0, 5.0, 30.0))


def report_for(state_dir: str | Path, start: float | None, end: float | None) -> Report:
    """The report of a state directory's journal over [start, end).

    Records from an hour before ``start`` are read too: children sent then and markouts
    due in the period need them.
    """
    directory = journal_dir(state_dir)
    lead = None if start is None else start - 3600.0
    records = read_records(directory, start=lead, end=end, kinds=_KINDS)
    return build_report(_with_settings(directory, lead, records), start, end)


def _with_settings(directory: Path, start: float | None, records: Iterator[Record]) -> Iterator[Record]:
    """The records, after the last ``start`` record (the settings) written before ``start``."""
    if start is not None:
        settings = None
        for rec in read_records(directory, end=start, kinds=frozenset({"start"})):
            settings = rec
        if settings is not None:
            yield settings
    yield from records


# --------------------------------------------------------------------------- formats


def to_json(report: Report) -> bytes:
    return orjson.dumps(
        {"report": "LP execution quality", "summary": report.summary(), "rows": report.rows()},
        option=orjson.OPT_INDENT_2,
    )


def to_csv(report: Report) -> str:
    rows = report.rows()
    out = io.StringIO()
    columns = list(rows[0]) if rows else ["lp", "symbol"]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return out.getvalue()


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _bar_chart(title: str, items: list[tuple[str, float | None]], unit: str = "", pct: bool = False) -> str:
    """A horizontal bar chart as inline SVG (negative values drawn to the left of zero)."""
    values = [v for _, v in items if v is not None]
    lo = min([0.0, *values])
    hi = max([0.0, *values])
    span = (hi - lo) or 1.0
    width, label_w, bar_h, pad = 560, 120, 22, 6
    chart_w = width - label_w - 90
    height = 30 + len(items) * (bar_h + pad)
    zero = label_w + (0.0 - lo) / span * chart_w
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="0" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, v) in enumerate(items):
        y = 26 + i * (bar_h + pad)
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{html.escape(label)}</text>')
        if v is None:
            parts.append(f'<text x="{label_w}" y="{y + 15}" font-size="12" fill="#888">n/a</text>')
            continue
        x0 = zero if v >= 0 else zero - (0.0 - v) / span * chart_w
        w = abs(v) / span * chart_w
        color = _COLORS[i % len(_COLORS)]
        parts.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{color}"/>')
        text = f"{v:.1%}" if pct else f"{v:.3g}{unit}"
        parts.append(f'<text x="{max(x0 + w, zero) + 4:.1f}" y="{y + 15}" font-size="12">{text}</text>')
    parts.append(
        f'<line x1="{zero:.1f}" y1="22" x2="{zero:.1f}" y2="{height}" stroke="#444" stroke-width="1"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _line_chart(title: str, xs: list[float], series: list[tuple[str, list[float | None]]], unit: str) -> str:
    """Markouts by horizon: one line per LP, as inline SVG."""
    width, height, left, right, top, bottom = 560, 260, 50, 110, 28, 30
    values = [v for _, ys in series for v in ys if v is not None]
    lo = min([0.0, *values])
    hi = max([0.0, *values])
    span = (hi - lo) or 1.0
    n = max(1, len(xs) - 1)

    def px(i: int) -> float:
        return left + i / n * (width - left - right)

    def py(v: float) -> float:
        return top + (hi - v) / span * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="0" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{py(0):.1f}" x2="{width - right}" y2="{py(0):.1f}" stroke="#999"/>',
        f'<text x="4" y="{py(hi) + 4:.1f}" font-size="11">{hi:.2g}{unit}</text>',
        f'<text x="4" y="{py(lo) + 4:.1f}" font-size="11">{lo:.2g}{unit}</text>',
    ]
    for i, x in enumerate(xs):
        parts.append(f'<text x="{px(i) - 8:.1f}" y="{height - 8}" font-size="11">{x:g}s</text>')
    for j, (name, ys) in enumerate(series):
        color = _COLORS[j % len(_COLORS)]
        points = [(px(i), py(v)) for i, v in enumerate(ys) if v is not None]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            for x, y in points:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
        ly = top + 14 * j
        parts.append(f'<rect x="{width - right + 10}" y="{ly}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{width - right + 24}" y="{ly + 9}" font-size="11">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(v: Any, kind: str = "") -> str:
    if v is None:
        return "&ndash;"
    if kind == "pct":
        return f"{v:.1%}"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) >= 100 or kind == "num" else f"{v:.3g}"
    return html.escape(str(v))


def to_html(report: Report) -> str:
    rows = report.rows()
    s = report.summary()
    lp_rows = [r for r in rows if r["symbol"] == ALL]
    symbols = [x for x in s["symbols"]]
    hs = report.horizons
    charts = [
        _bar_chart(
            "Share of flow (filled notional)", [(r["lp"], r["share_of_flow"]) for r in lp_rows], pct=True
        ),
        _bar_chart("Fill rate", [(r["lp"], r["fill_rate"]) for r in lp_rows], pct=True),
        _bar_chart("Reject rate", [(r["lp"], r["reject_rate"]) for r in lp_rows], pct=True),
        _bar_chart(
            "Price improvement vs far touch (bps)",
            [(r["lp"], r["price_improvement_bps"]) for r in lp_rows],
            " bps",
        ),
        _bar_chart("Ack latency, median (ms)", [(r["lp"], r["ack_latency_ms_p50"]) for r in lp_rows], " ms"),
        _line_chart(
            "Markout by horizon (bps, lower is better for us)",
            list(hs),
            [(r["lp"], [r[f"markout_{h:g}s_bps"] for h in hs]) for r in lp_rows],
            " bps",
        ),
    ]
    columns = [
        ("rank", "Rank", ""),
        ("lp", "LP", ""),
        ("symbol", "Symbol", ""),
        ("children", "Child orders", ""),
        ("filled_qty", "Filled qty", "num"),
        ("notional", "Notional", "num"),
        ("share_of_flow", "Share of flow", "pct"),
        ("fill_rate", "Fill rate", "pct"),
        ("rejects", "Rejects", ""),
        ("reject_rate", "Reject rate", "pct"),
        ("ack_latency_ms_p50", "Ack ms p50", ""),
        ("fill_latency_ms_p50", "Fill ms p50", ""),
        ("price_improvement_bps", "PI bps", ""),
        ("price_improvement_mid_bps", "PI vs mid bps", ""),
        ("effective_spread_bps", "Eff. spread bps", ""),
        *[(f"markout_{h:g}s_bps", f"Markout {h:g}s", "") for h in hs],
    ]
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)

    def table(selected: list[dict[str, Any]]) -> str:
        body = "".join(
            "<tr>" + "".join(f"<td>{_fmt(r.get(key), kind)}</td>" for key, _, kind in columns) + "</tr>"
            for r in sorted(selected, key=lambda r: r["rank"])
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    sections = [f"<h2>All symbols</h2>{table(lp_rows)}"]
    for symbol in symbols:
        sections.append(f"<h2>{html.escape(symbol)}</h2>{table([r for r in rows if r['symbol'] == symbol])}")
    period = f"{s['from'] or s['first_record'] or '-'} to {s['to'] or s['last_record'] or '-'}"
    facts = (
        f"<p>Period (UTC): {html.escape(period)}. Parent orders {s['parent_orders']:,}, routing decisions "
        f"{s['decisions']:,}, child orders {s['child_orders']:,}, fills {s['fills']:,}, filled notional "
        f"{s['filled_notional']:,.2f}. Markout horizons: {', '.join(f'{h:g}s' for h in hs)}.</p>"
    )
    style = (
        "body{font-family:system-ui,sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;margin:8px 0 24px;font-size:13px}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "th{background:#f2f2f2}td:nth-child(2),td:nth-child(3){text-align:left}"
        ".charts{display:flex;flex-wrap:wrap;gap:24px}"
    )
    generated = _iso(time.time())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>LP execution quality {html.escape(period)}</title><style>{style}</style></head><body>"
        f"<h1>LP execution quality</h1>{facts}"
        f'<div class="charts">{"".join(charts)}</div>{"".join(sections)}'
        '<p style="font-size:12px;color:#666">Definitions: fill rate = filled / ordered quantity of the '
        "child orders that ended; price improvement = side x (far touch at send - fill) / far touch; "
        "markout at h = side x (mid at h - mid at send) / mid at send; averages weighted by filled "
        f"quantity. Generated {generated} by fixgw report from the gateway's journal.</p>"
        "</body></html>"
    )


def write(report: Report, fmt: str, out: str | Path | None) -> str | bytes:
    """The report in ``fmt`` (csv, json, html), written to ``out`` when given."""
    data: str | bytes
    if fmt == "csv":
        data = to_csv(report)
    elif fmt == "json":
        data = to_json(report)
    elif fmt == "html":
        data = to_html(report)
    else:
        raise ReportError(f"--format {fmt!r}; allowed: csv, json, html")
    if out is not None and str(out) != "-":
        path = Path(out)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    return data


# --------------------------------------------------------------------------- command line


def _command(args: Any) -> int:
    import sys

    try:
        start = parse_time(args.start) if args.start else None
        end = parse_time(args.end, end=True) if args.end else None
        if not journal_dir(args.state_dir).is_dir():
            raise ReportError(f"--state-dir {args.state_dir}: no journal there")
        report = report_for(args.state_dir, start, end)
        data = write(report, args.format, args.out)
    except ReportError as exc:
        print(f"fixgw report: {exc}", file=sys.stderr)
        return 2
    if args.out is None or args.out == "-":
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data + b"\n")
        else:
            sys.stdout.write(data)
    else:
        s = report.summary()
        print(f"{args.out}: {len(report.rows())} rows, {s['fills']} fills of {len(s['lps'])} LPs")
    return 0


def add_parser(commands: Any) -> None:
    """``fixgw report``."""
    p = commands.add_parser(
        "report", help="LP execution-quality report for a period (CSV, JSON or HTML) from the journal"
    )
    p.add_argument(
        "--state-dir", required=True, metavar="DIR", help="the gateway's StateDir (or its journal)"
    )
    p.add_argument("--from", dest="start", metavar="WHEN", help="YYYYMMDD, YYYY-MM-DD or ISO time, UTC")
    p.add_argument("--to", dest="end", metavar="WHEN", help="the same; a day is included whole")
    p.add_argument("--format", choices=("csv", "json", "html"), default="csv")
    p.add_argument("--out", metavar="PATH", help="file to write (default: standard output)")
    p.set_defaults(handler=_command)
