"""Journal benchmark: what recording costs on the order path, JSON-Lines file against SQLite WAL.

Both candidates get the same records: the mix one order produces in the gateway (the
parent and child states, the OMS NewOrderSingle and the LP fill as received, the ack and
fill reports to the OMS and the child order sent, a routing decision, four scorecard
inputs), built with the gateway's own record functions. Per event-loop callback a group
of ``GROUP`` records is committed, as the engine's pre-store hook does.

- file: ``gateway.journal.Journal``: ``append`` (a list append) per record, then ``flush``
  per group (orjson per record, CRC-32, one ``os.write``), fsync never / interval (the
  background fsync is not on the loop) / always.
- sqlite: the standard ``sqlite3`` module, WAL journal mode, one table
  ``records(t REAL, k TEXT, body TEXT)``: the same append, then per group the records as
  JSON (orjson) by ``executemany`` and a ``commit``; synchronous OFF / NORMAL / FULL
  (FULL is what makes a WAL commit durable like fsync always).

Figures are microseconds per record, everything that runs on the loop included (building
the record dicts is the same for both and is measured apart, ``build_us``).

- order_path: the gateway itself (``GatewayApplication``, no sockets: sessions made to look
  logged on) taking an order, its LP's ack and fill, with the journal on and off: the CPU
  microseconds per order and what the journal adds (``journal_us_per_order``). The machine
may be noisy: each candidate runs ``--repeats`` batches interleaved, medians are printed.
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


def order_records(now: float) -> list[dict[str, Any]]:
    """The records of one order's life, as the gateway makes them."""
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
    base = {"t": now, "session": "FIX.4.4:FIXGW->OMS1", "epoch": now - 3600.0}
    return [
        {"k": "in", **base, "role": "oms", "seq": 4711, "msg_type": "D", "raw": NOS},
        {
            "k": "decision",
            "t": now,
            "order_id": "GW1a2b3cO4711",
            "symbol": "ACME",
            "router": "scorecard",
            "profile": "best_price",
            "available": 2500,
            "attempt": 1,
            "qty": 2500.0,
            "typical": 10000.0,
            "candidates": [
                ["LP_A", True, "chosen", 71.2],
                ["LP_B", True, "lower score", 55.0],
                ["LP_C", False, "quote through the limit", None],
            ],
            "children": [["LP_A", 2500, 5005, "3"]],
        },
        {
            "k": "out",
            **base,
            "role": "lp",
            "seq": 812,
            "msg_type": "D",
            "child": "GW1a2b3cC4712",
            "body": "11=GW1a2b3cC4712\x0121=1\x0155=ACME\x0154=1\x0138=2500\x0140=2\x0144=50.05\x0159=3\x01",
        },
        {
            "k": "score",
            "t": now,
            "ev": "sent",
            "child": "GW1a2b3cC4712",
            "lp": "LP_A",
            "symbol": "ACME",
            "side": 1,
            "qty": 2500.0,
            "bid": 50.0,
            "ask": 50.02,
            "typical": 10000.0,
            "last_look": False,
        },
        {
            "k": "out",
            **base,
            "role": "oms",
            "seq": 5120,
            "msg_type": "8",
            "child": None,
            "body": REPORT.replace("150=F", "150=0"),
        },
        {"k": "in", **base, "role": "lp", "seq": 9120, "msg_type": "8", "raw": FILL},
        {"k": "score", "t": now, "ev": "answer", "child": "GW1a2b3cC4712"},
        {"k": "score", "t": now, "ev": "fill", "child": "GW1a2b3cC4712", "qty": 2500.0, "price": 50.02},
        {"k": "score", "t": now, "ev": "done", "child": "GW1a2b3cC4712", "rejected": False},
        child_record(c, now, 812),
        parent_record(p, now),
        {"k": "out", **base, "role": "oms", "seq": 5121, "msg_type": "8", "child": None, "body": REPORT},
    ]


def build_cost(n: int) -> float:
    """Microseconds per record to build the dicts (the same for every backend)."""
    t0 = time.perf_counter()
    made = 0
    now = time.time()
    while made < n:
        made += len(order_records(now))
    return (time.perf_counter() - t0) / made * 1e6


def file_candidate(
    directory: Path, fsync: str
) -> tuple[Callable[[list[dict[str, Any]]], None], Callable[[], None]]:
    journal = Journal(directory, fsync)
    journal.open()

    def run(records: list[dict[str, Any]]) -> None:
        append = journal.append
        for i in range(0, len(records), GROUP):
            for r in records[i : i + GROUP]:
                append(r)
            journal.flush()

    return run, journal.close


def sqlite_candidate(
    path: Path, synchronous: str
) -> tuple[Callable[[list[dict[str, Any]]], None], Callable[[], None]]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE IF NOT EXISTS records (t REAL, k TEXT, body TEXT)")
    dumps = orjson.dumps

    def run(records: list[dict[str, Any]]) -> None:
        buffer: list[dict[str, Any]] = []
        append = buffer.append
        for i in range(0, len(records), GROUP):
            for r in records[i : i + GROUP]:
                append(r)
            rows = [(r["t"], r["k"], dumps(r).decode()) for r in buffer]
            buffer.clear()
            db.execute("BEGIN")
            db.executemany("INSERT INTO records VALUES (?, ?, ?)", rows)
            db.execute("COMMIT")

    return run, db.close


def order_path(journal: bool, n: int, tmp: Path) -> tuple[float, float]:
    """CPU us per order (NewOrderSingle, LP ack, LP fill) through the gateway; records/order."""
    from gateway.app import GatewayApplication
    from gateway.config import parse_config
    from gateway.fix.codec import encode, parse
    from gateway.fix.timeutil import utc_timestamp
    from gateway.sessions.session import LOGGED_ON

    settings = parse_config(
        {
            "gateway": {"StateDir": str(tmp)},
            "default": {"BeginString": "FIX.4.4", "SenderCompID": "FIXGW"},
            "session": [
                {"Name": "OMS1", "ConnectionType": "acceptor", "TargetCompID": "OMS1", "SocketAcceptPort": 1},
                {
                    "Name": "LP_A",
                    "ConnectionType": "initiator",
                    "TargetCompID": "LP_A",
                    "SocketConnectPort": 2,
                },
            ],
            "instrument": [{"Symbol": "ACME", "TickSize": "0.01", "LotSize": "1"}],
            "router": {"Priority": ["LP_A"]},
            "journal": {"Enabled": journal, "Fsync": "interval"},
        },
        "bench.toml",
        tmp,
    )
    app = GatewayApplication(settings)
    if app.journal is not None:
        app.journal.start()
    (sid,) = app.oms_sessions
    oms, lp = app.oms_sessions[sid], app.lp_sessions["LP_A"]
    oms.state = lp.state = LOGGED_ON

    def msg(sender: bytes, seq: int, body: bytes, msg_type: bytes = b"8") -> Any:
        head = b"35=%s\x0134=%d\x0149=%s\x0152=%s\x0156=FIXGW\x01" % (
            msg_type,
            seq,
            sender,
            utc_timestamp(now),
        )
        return parse(encode(b"FIX.4.4", head + body))

    now = time.time()
    orders = [
        msg(
            b"OMS1",
            k + 1,
            b"11=C%d\x0121=1\x0155=ACME\x0154=1\x0138=100\x0140=2\x0144=100.05\x0159=3\x01" % k,
            b"D",
        )
        for k in range(n)
    ]
    cpu = 0.0
    for k, order in enumerate(orders):
        t0 = time.process_time()
        oms.store.next_target_seq = k + 2
        app.on_message(oms, order, now)
        cid = app.book.by_cl_ord_id[(sid, b"C%d" % k)].children[-1].child_id
        cpu += time.process_time() - t0
        base = b"37=L%d\x0111=%s\x0155=ACME\x0154=1\x0138=100\x01" % (k, cid)
        ack = msg(b"LP_A", 2 * k + 1, base + b"17=A%d\x01150=0\x0139=0\x01151=100\x0114=0\x016=0\x01" % k)
        fill = msg(
            b"LP_A",
            2 * k + 2,
            base + b"17=F%d\x01150=F\x0139=2\x0132=100\x0131=100.01\x01151=0\x0114=100\x016=100.01\x01" % k,
        )
        t0 = time.process_time()
        app.on_message(lp, ack, now)
        app.on_message(lp, fill, now)
        app.engine.flush()
        cpu += time.process_time() - t0
        oms.data_to_send()
        lp.data_to_send()
    records = app.journal.journal.records / n if app.journal is not None else 0.0
    if app.journal is not None:
        app.journal.close()
    for s in app.sessions_by_name.values():
        s.store.close()
    return cpu / n * 1e6, records


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
        candidates: dict[str, tuple[Callable[[list[dict[str, Any]]], None], Callable[[], None]]] = {
            "file_never": file_candidate(base / "never", "never"),
            "file_interval": file_candidate(base / "interval", "interval"),
            "sqlite_wal_off": sqlite_candidate(base / "off.db", "OFF"),
            "sqlite_wal_normal": sqlite_candidate(base / "normal.db", "NORMAL"),
        }
        slow: dict[str, tuple[Callable[[list[dict[str, Any]]], None], Callable[[], None]]] = {
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
    n = 300 if args.quick else 2000
    with_journal: list[float] = []
    without: list[float] = []
    records = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):  # interleaved: the machine's load hits both alike
            off, _ = order_path(False, n, Path(tmp) / f"off{i}")
            on, records = order_path(True, n, Path(tmp) / f"on{i}")
            without.append(off)
            with_journal.append(on)
    print(f"order_path_records_per_order={records:.1f}")
    print(f"order_path_us_per_order_without_journal={statistics.median(without):.1f}")
    print(f"order_path_us_per_order_with_journal={statistics.median(with_journal):.1f}")
    extra = statistics.median([a - b for a, b in zip(with_journal, without, strict=True)])
    print(f"journal_us_per_order={extra:.1f}")
    print(f"journal_us_per_record_on_the_order_path={extra / records if records else 0.0:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
