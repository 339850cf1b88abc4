"""Journal benchmark: what recording costs on the order path, JSON-Lines file against SQLite WAL.

Both candidates get the same records: the mix one order produces in the gateway (the
parent and child states, the OMS NewOrderSingle and the LP fill as received, the ack and
fill reports to the OMS and the child order sent, a routing decision, four scorecard
inputs), in the forms the recorder makes (tuples for the order path's records, see
``gateway.journal.FIELDS``). Per event-loop callback a group of ``GROUP`` records is
committed, as the engine's pre-store hook does.

- file: ``gateway.journal.Journal``: ``append`` (a list append) per record, then ``flush``
  per group (one orjson call for the group's records, CRC-32, a copy into the file's shared
  mapping), fsync never / interval (the background fsync is not on the loop) / always.
- sqlite: the standard ``sqlite3`` module, WAL journal mode, one table
  ``records(t REAL, k TEXT, body TEXT)``: the same append, then per group the records as
  JSON (orjson) by ``executemany`` and a ``commit``; synchronous OFF / NORMAL / FULL
  (FULL is what makes a WAL commit durable like fsync always).

Figures are microseconds per record, everything that runs on the loop included (building
the record dicts is the same for both and is measured apart, ``build_us``).

- order_path: the whole order path of ``benchmarks/pipeline.py`` (the gateway with its
  sessions over in-memory transports; an order, its LP's ack and fill), built twice in one
  process, journal on and off, run in alternating chunks of orders so that the machine's
  load hits both alike: gateway microseconds per order and what the journal adds
  (``journal_us_per_order``, the median over chunks of on minus off), at one order per
  read (``batch1``) and 50 (``batch50``).
Prints ``name=value`` lines. Always exits 0: a benchmark is not a test.

Usage: ``python benchmarks/journal.py [--quick]``
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from gateway.instruments import Instrument
from gateway.journal import Journal, child_record, parent_record
from gateway.orders import ChildOrder, Fill, ParentOrder

GROUP = 8  # records per callback (a fill from an LP: in, score x2, child, parent, out ...)

NOS = (
    "8=FIX.4.4\x019=160\x0135=D\x0134=4711\x0149=OMS1\x0152=20240315-13:45:30.123\x0156=FIXGW\x01"
    "11=OMS1-9F3A2-4711\x0121=1\x0155=ACME\x0154=1\x0138=2500\x0140=2\x0144=50.05\x0159=3\x01"
    "60=20240315-13:45:30.122\x0110=123\x01"
)
FILL = (
    "8=FIX.4.4\x019=230\x0135=8\x0134=9120\x0149=LP_A\x0152=20240315-13:45:30.140\x0156=FIXGW\x01"
    "37=LP_A-1A2B-O4711\x0111=GW1a2b3cC4712\x0117=LP_A-1A2B-E9120\x01150=F\x0139=2\x0155=ACME\x0154=1\x01"
    "38=2500\x0131=50.02\x0132=2500\x01151=0\x0114=2500\x016=50.02\x0160=20240315-13:45:30.139\x0110=201\x01"
)
REPORT = (
    "37=GW1a2b3cO4711\x0111=OMS1-9F3A2-4711\x0117=GW1a2b3cE4714\x01150=F\x0139=2\x0155=ACME\x0154=1\x01"
    "38=2500\x0140=2\x0144=50.05\x0159=3\x0132=2500\x0131=50.02\x01151=0\x0114=2500\x016=50.020000\x01"
    "60=20240315-13:45:30.141\x01"
)


def order_records(now: float) -> list[Any]:
    """The records of one order's life, as the gateway makes them (tuples as ``FIELDS``)."""
    inst = Instrument("ACME", Decimal("0.01"), Decimal("1"))
    p = ParentOrder(
        b"GW1a2b3cO4711",
        "FIX.4.4:FIXGW->OMS1",
        b"OMS1-9F3A2-4711",
        inst,
        b"1",
        b"2",
        b"3",
        2500,
        5005,
        now,
        arrival_mid=50.01,
    )
    c = ChildOrder(b"GW1a2b3cC4712", p, "LP_A", 2500, 5005, b"3", now, state="filled", cum_qty=2500)
    c.fills.append(Fill(b"LP_A-1A2B-E9120", 2500, 5002, b"GW1a2b3cE4714"))
    p.children.append(c)
    p.state, p.cum_qty, p.notional = "filled", 2500, 2500 * 5002
    oms, epoch, cid = "FIX.4.4:FIXGW->OMS1", now - 3600.0, "GW1a2b3cC4712"
    lp_body = "11=GW1a2b3cC4712\x0121=1\x0155=ACME\x0154=1\x0138=2500\x0140=2\x0144=50.05\x0159=3\x01"
    return [
        ("in", now, oms, "oms", 4711, epoch, "D", NOS),
        (
            "decision",
            now,
            "GW1a2b3cO4711",
            "ACME",
            "scorecard",
            "best_price",
            2500,
            1,
            2500.0,
            10000.0,
            [
                ["LP_A", True, "chosen", 71.2],
                ["LP_B", True, "lower score", 55.0],
                ["LP_C", False, "quote through the limit", None],
            ],
            [["LP_A", 2500, 5005, "3"]],
        ),
        ("out", now, "LP_A", "lp", 812, epoch, "D", lp_body, cid),
        ("score", now, "sent", cid, "LP_A", "ACME", 1, 2500.0, 50.0, 50.02, 10000.0, False),
        ("out", now, oms, "oms", 5120, epoch, "8", REPORT.replace("150=F", "150=0"), None),
        ("in", now, "LP_A", "lp", 9120, epoch, "8", FILL),
        ("score", now, "answer", cid),
        ("score", now, "fill", cid, 2500.0, 50.02),
        ("score", now, "done", cid, False),
        child_record(c, now, 812),
        parent_record(p, now),
        ("out", now, oms, "oms", 5121, epoch, "8", REPORT, None),
    ]


def build_cost(n: int) -> float:
    """Microseconds per record to build the records (the same for every backend)."""
    t0 = time.perf_counter()
    made = 0
    now = time.time()
    while made < n:
        made += len(order_records(now))
    return (time.perf_counter() - t0) / made * 1e6


Candidate = tuple[Callable[[list[Any]], None], Callable[[], None]]


def file_candidate(directory: Path, fsync: str) -> Candidate:
    journal = Journal(directory, fsync)
    journal.open()

    def run(records: list[Any]) -> None:
        append = journal.append
        for i in range(0, len(records), GROUP):
            for r in records[i : i + GROUP]:
                append(r)
            journal.flush()

    return run, journal.close


def sqlite_candidate(path: Path, synchronous: str) -> Candidate:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE IF NOT EXISTS records (t REAL, k TEXT, body TEXT)")
    dumps = orjson.dumps

    def run(records: list[Any]) -> None:
        buffer: list[Any] = []
        append = buffer.append
        for i in range(0, len(records), GROUP):
            for r in records[i : i + GROUP]:
                append(r)
            rows = [(r[1], r[0], dumps(r).decode()) for r in buffer]
            buffer.clear()
            db.execute("BEGIN")
            db.executemany("INSERT INTO records VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")

    return run, db.close


def order_path(batch: int, orders: int, chunks: int) -> dict[str, float]:
    """The pipeline of ``benchmarks/pipeline.py`` journal on and off, chunks interleaved."""
    import asyncio
    import gc

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pipeline  # the order path over in-memory transports (benchmarks/pipeline.py)

    async def run() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as tmp:
            on = pipeline.build(True, "static", Path(tmp) / "on")
            off = pipeline.build(False, "static", Path(tmp) / "off")
            gc.set_threshold(50_000, 20, 100)  # as fixgw run (and pipeline.py --gc tuned)
            gc.freeze()
            first = 1000
            for p in (on, off):
                p.run(first, batch)
            records0 = on.app.journal.journal.records if on.app.journal is not None else 0
            times: dict[str, list[float]] = {"on": [], "off": []}
            for _ in range(chunks):
                for name, p in (("on", on), ("off", off)):
                    before = p.timed_ns
                    p.run(orders, batch, first)
                    times[name].append((p.timed_ns - before) / 1000 / orders)
                first += orders
            journal = on.app.journal
            records = (journal.journal.records - records0) / (orders * chunks) if journal else 0.0
            if journal is not None:
                journal.close()
        diffs = [a - b for a, b in zip(times["on"], times["off"], strict=True)]
        return {
            "us_per_order_journal_on": statistics.median(times["on"]),
            "us_per_order_journal_off": statistics.median(times["off"]),
            "journal_us_per_order": statistics.median(diffs),
            "records_per_order": records,
        }

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="fewer records (a smoke run)")
    ap.add_argument("--repeats", type=int, default=0)
    args = ap.parse_args()
    orders = 200 if args.quick else 2000
    repeats = args.repeats or (3 if args.quick else 7)
    now = time.time()
    records = [r for _ in range(orders) for r in order_records(now)]
    per_order = len(order_records(now))
    sizes = [len(orjson.dumps(r)) for r in order_records(now)]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        candidates: dict[str, Candidate] = {
            "file_never": file_candidate(base / "never", "never"),
            "file_interval": file_candidate(base / "interval", "interval"),
            "sqlite_wal_off": sqlite_candidate(base / "off.db", "OFF"),
            "sqlite_wal_normal": sqlite_candidate(base / "normal.db", "NORMAL"),
        }
        slow: dict[str, Candidate] = {
            "file_always": file_candidate(base / "always", "always"),
            "sqlite_wal_full": sqlite_candidate(base / "full.db", "FULL"),
        }
        results: dict[str, list[float]] = {name: [] for name in [*candidates, *slow]}
        few = records[: min(len(records), 40 * GROUP)]
        for _ in range(repeats):
            for name, (run, _) in candidates.items():
                t0 = time.perf_counter()
                run(records)
                results[name].append((time.perf_counter() - t0) / len(records) * 1e6)
            for name, (run, _) in slow.items():  # fsync per group: fewer groups
                t0 = time.perf_counter()
                run(few)
                results[name].append((time.perf_counter() - t0) / len(few) * 1e6)
        for _, close in [*candidates.values(), *slow.values()]:
            close()
        file_bytes = sum(f.stat().st_size for f in (base / "never").glob("*.jsonl"))
        db_bytes = sum(f.stat().st_size for f in base.glob("off.db*"))
    print(f"records_per_order={per_order}")
    print(f"group_size={GROUP}")
    print(f"record_bytes_median={statistics.median(sizes)}")
    print(f"build_us_per_record={build_cost(len(records)):.2f}")
    for name, values in results.items():
        print(f"{name}_us_per_record={statistics.median(values):.2f}")
    med = {name: statistics.median(v) for name, v in results.items()}
    print(f"sqlite_normal_over_file_interval={med['sqlite_wal_normal'] / med['file_interval']:.2f}")
    print(f"file_bytes_per_order={file_bytes / (orders * repeats):.0f}")
    print(f"sqlite_bytes_per_order={db_bytes / (orders * repeats):.0f}")
    print(f"us_per_order_file_interval={med['file_interval'] * per_order:.1f}")
    print(f"us_per_order_sqlite_wal_normal={med['sqlite_wal_normal'] * per_order:.1f}")
    for batch in (1, 50):
        figures = order_path(batch, 200 if args.quick else 500, repeats * (1 if args.quick else 4))
        for k, v in figures.items():
            print(f"order_path_batch{batch}_{k}={v:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
