"""Market data benchmark: one incremental update and one ``best()`` read, as books grow.

For 4 and 20 LPs and 10, 1,000 and 10,000 symbols (every LP quoting every symbol, top of
book), measures per operation:

- ``update``: ``MarketData.on_incremental`` with one CHANGE entry (already decoded), the
  LP and symbol drawn at random;
- ``apply_X``: ``MarketData.apply`` of a parsed one-entry MarketDataIncrementalRefresh
  (decoding of price and size included, parsing of the frame not);
- ``best_hit``: ``best()`` of a random symbol whose cached quote is valid (the order path:
  every child order and every markout);
- ``update+best``: an update and then ``best()`` of the same symbol, which must recompute
  the consolidated quote from the symbol's books (cost grows with LPs, not with symbols).

Each is run twice: on random symbols among all, and on 10 "hot" symbols only (``/hot``).
The work per call is the same whatever the number of symbols; what grows on random symbols
with 10,000 of them is the CPU cache missing (hundreds of MB of books touched at random),
which the hot runs leave out: hot figures that stay flat from 10 to 10,000 symbols show
that no call scans the symbols.

Each figure is the median over interleaved repeats of µs per operation. Prints a table,
then ``name=value`` lines. Always exits 0: a benchmark is not a test.

Usage: ``python benchmarks/marketdata.py [--quick]``
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.fix.codec import Message, encode_message, parse
from gateway.instruments import Instrument
from gateway.marketdata import BID, CHANGE, OFFER, MarketData

LP_COUNTS = (4, 20)
SYMBOL_COUNTS = (10, 1_000, 10_000)
KEYS = 4096  # random (LP, symbol) draws cycled through by each benchmark
NOW = 1_000.0  # fixed: no quote ages out during a run

Bench = Callable[[int], None]
Setup = Callable[[], None]


def build(n_lps: int, n_symbols: int) -> tuple[MarketData, list[str], list[str]]:
    lps = [f"LP{i:02d}" for i in range(n_lps)]
    symbols = [f"S{i:05d}" for i in range(n_symbols)]
    inst = Instrument("ANY", tick_size=Decimal("0.0001"))
    md = MarketData(lambda symbol: inst, max_age=3600.0)
    rng = random.Random(1)
    for symbol in symbols:
        mid = rng.randrange(10_000, 2_000_000)
        for lp in lps:
            skew = rng.randrange(-3, 4)
            md.on_snapshot(lp, symbol, [(BID, mid - 5 + skew, 100), (OFFER, mid + 5 + skew, 100)], NOW)
    for symbol in symbols:
        md.best(symbol, NOW)
    return md, lps, symbols


def make_benches(
    md: MarketData, lps: list[str], symbols: list[str], suffix: str = ""
) -> dict[str, tuple[Setup | None, Bench]]:
    rng = random.Random(2)
    keys = [(rng.choice(lps), rng.choice(symbols), rng.choice((BID, OFFER))) for _ in range(KEYS)]
    # the updates move a price by at most a tick and keep each LP's book uncrossed
    updates = []
    for lp, symbol, side in keys:
        book = md.book(lp, symbol)
        assert book is not None
        top = book.best_bid() if side == BID else book.best_ask()
        assert top is not None
        updates.append((lp, [(CHANGE, symbol, side, top[0], rng.randrange(1, 1000))]))
    messages: list[tuple[str, Message]] = []
    for lp, symbol, side in keys[:512]:
        book = md.book(lp, symbol)
        assert book is not None
        top = book.best_bid() if side == BID else book.best_ask()
        assert top is not None
        px = b"%d.%04d" % divmod(top[0], 10_000)
        raw = encode_message([
            (8, b"FIX.4.4"), (35, b"X"), (34, 9), (49, lp), (52, b"20240315-13:45:30.123"),
            (56, b"GW"), (262, b"MD-1"), (268, 1),
            (279, 1), (269, side), (55, symbol), (270, px), (271, b"%d" % rng.randrange(1, 1000)),
        ])
        messages.append((lp, parse(raw)))
    read_symbols = [s for _, s, _ in keys]

    def update(n: int) -> None:
        on_incremental = md.on_incremental
        u = updates
        for i in range(n):
            lp, entries = u[i & (KEYS - 1)]
            on_incremental(lp, entries, NOW)

    def apply_x(n: int) -> None:
        apply = md.apply
        m = messages
        for i in range(n):
            lp, msg = m[i & 511]
            apply(lp, msg, NOW)

    def warm() -> None:
        best = md.best
        for s in read_symbols:  # make every cached quote valid (not timed)
            best(s, NOW)

    def best_hit(n: int) -> None:
        best = md.best
        syms = read_symbols
        for i in range(n):
            best(syms[i & (KEYS - 1)], NOW)

    def update_then_best(n: int) -> None:
        on_incremental = md.on_incremental
        best = md.best
        u = updates
        for i in range(n):
            lp, entries = u[i & (KEYS - 1)]
            on_incremental(lp, entries, NOW)
            best(entries[0][1], NOW)

    # sanity: reading after an update sees it; apply decodes without problems
    lp, entries = updates[0]
    md.on_incremental(lp, entries, NOW)
    q = md.lp_quote(lp, entries[0][1], NOW)
    assert q is not None and (q.bid_size if entries[0][2] == BID else q.ask_size) == entries[0][4]
    assert md.apply(*messages[0], NOW) == []
    return {
        "update" + suffix: (None, update),
        "apply_X" + suffix: (None, apply_x),
        "best_hit" + suffix: (warm, best_hit),
        "update+best" + suffix: (None, update_then_best),
    }


def _calibrate(setup: Setup | None, bench: Bench, target_s: float) -> int:
    n = 256
    while True:
        if setup is not None:
            setup()
        t0 = time.perf_counter_ns()
        bench(n)
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        if elapsed >= target_s / 4 or n >= 10_000_000:
            return max(256, int(n * target_s / max(elapsed, 1e-9)))
        n *= 4


def run(
    benches: dict[str, tuple[Setup | None, Bench]], repeats: int, batch_s: float
) -> dict[str, float]:
    """Median µs per operation of each bench, benches interleaved within each repeat."""
    sizes = {name: _calibrate(setup, b, batch_s) for name, (setup, b) in benches.items()}
    samples: dict[str, list[float]] = {name: [] for name in benches}
    names = list(benches)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                n = sizes[name]
                setup, bench = benches[name]
                if setup is not None:
                    setup()
                t0 = time.perf_counter_ns()
                bench(n)
                samples[name].append((time.perf_counter_ns() - t0) / 1e3 / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: statistics.median(v) for name, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    args = ap.parse_args(argv)
    repeats, batch_s = (5, 0.02) if args.quick else (15, 0.1)

    results: dict[tuple[int, int], dict[str, float]] = {}
    for n_lps in LP_COUNTS:
        for n_symbols in SYMBOL_COUNTS:
            md, lps, symbols = build(n_lps, n_symbols)
            benches = make_benches(md, lps, symbols)
            benches.update(make_benches(md, lps, symbols[:10], "/hot"))
            results[(n_lps, n_symbols)] = run(benches, repeats, batch_s)
            del benches
            del md
            gc.collect()

    ops = [f"{op}{suffix}" for op in ("update", "apply_X", "best_hit", "update+best")
           for suffix in ("", "/hot")]
    print(f"market data benchmark: µs per operation, medians of {repeats} interleaved repeats")
    print(f"{'LPs':>4}{'symbols':>8}{'books':>8}" + "".join(f"{op:>16}" for op in ops))
    for (n_lps, n_symbols), med in results.items():
        print(f"{n_lps:>4}{n_symbols:>8}{n_lps * n_symbols:>8}"
              + "".join(f"{med[op]:>16.3f}" for op in ops))
    print()
    print(f"repeats={repeats}")
    for (n_lps, n_symbols), med in results.items():
        for op in ops:
            name = op.replace("+", "_then_").replace("/hot", "_hot")
            print(f"{name}_us_lps{n_lps}_symbols{n_symbols}={med[op]:.3f}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # a broken benchmark reports, it does not fail a build
        print(f"benchmark error: {exc!r}", file=sys.stderr)
    sys.exit(0)
