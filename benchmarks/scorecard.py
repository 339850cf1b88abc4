"""Scorecard and scorecard-router benchmark: one update, one markout, one routing decision.

For 4, 20 and 100 LPs and 10, 1,000 and 10,000 symbols, every LP with a history of
children on every symbol (fills, rejects, matured markouts), measures:

- ``update``: the four events of one child, as the gateway feeds them
  (``on_sent`` + ``on_answer`` + ``on_fill`` + ``on_done``), on a random LP and symbol,
  time moving forward; per child and per event (a quarter of it). The markout that the
  fill schedules is pushed on the heap inside the timed work; pending markouts are
  dropped between batches, untimed. The benchmark's own share (drawing the outcome,
  making the id) is about 1 µs per child;
- ``markout``: one matured markout (``mature`` scoring realized spread and impact at one
  horizon against a mid, and scheduling the fill's next horizon), per markout;
- ``decision``: ``ScorecardRouter.plan`` of a fresh parent (the probe: one child to the
  best LP) on a random symbol, with an in-memory ``LpView``: every LP available, quotes
  present and not through the limit, risk allowing every child;
- ``spray``: ``plan`` of a parent whose last child came back short (the spray across
  ``spray_max_lps`` LPs, sized from displayed quote sizes);
- ``decision after update``: one child's update (as above, on a random LP and the probe's
  symbol) then one probe decision, less the same updates alone, 10,000 of each a second
  (children overlap: a child's answer comes after the next decisions): what a decision
  costs when the scorecard has just changed, as on the order path (fills and decisions
  alternate). This is the headline figure (``router_decision_us_lps20``): the scorecard
  keeps a decision's rows for the next one on the same symbol, size bucket and profile
  (``Scorecard.decision_board``), all of them for at most ``Refresh`` (half-life / 300:
  1 s), the row of an LP until its next observation. With 10 symbols a board is visited
  every ten decisions and about 7 of its 20 rows were moved since (each update moves one
  LP's figures); with 1,000 or 10,000 symbols drawn at random, each batch of a repeat
  starts 31 s later than the last (the update runs let pending markouts lapse) and visits
  a symbol at most once or twice: those figures are the cost of a decision computed afresh.

Update and decision are also run on 10 "hot" symbols of the same scorecard (``/hot``).
On random symbols the work per operation is the same whatever the number of symbols, but
with 10,000 of them the figures touched are spread over gigabytes and the CPU cache
misses; the hot runs leave most of that out. The work itself is also counted, free of
noise: Python line events per child update and per decision (``sys.settrace``); counts
that stay flat from 10 to 10,000 symbols show that no call scans the symbols (compare them
across symbol counts, not across versions of the code: a line is no unit of cost). 100 LPs x
10,000 symbols (a million LP-symbol histories, about 3 GB and a minute and a half to
build) is left out unless ``--full``.

Then, at 20 LPs and 1,000 symbols, what a probe decision is made of: the calls ``plan``
makes to the scorecard (``bucket`` and ``decision_rows`` of every LP: KPI rows and
rejection rates in one pass; ``composite`` of the eligible ones) and to the view
(``available``, ``quote``, ``child_allowed`` per LP), each timed alone, and ``plan`` with
a scorecard that costs nothing (constant answers): the router's own work, view calls
included.

The machine may be shared and noisy: the benchmarks of one configuration are run
interleaved, a short batch of each per repeat, and each figure is the median over the
repeats, in µs of this thread's CPU time (``--wall`` for wall-clock time, which also
counts the time other processes held the CPU). The targets (≤ 5 µs per update event,
≤ 20 µs per decision with 20 LPs) are printed beside the figures. Prints a table, then
``name=value`` lines. Always exits 0: a benchmark is not a test.

Usage: ``python benchmarks/scorecard.py [--quick] [--full] [--wall] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import FrameType, SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.fix.enums import OrdType, TimeInForce
from gateway.instruments import Instrument
from gateway.orders import C_CANCELED, ChildOrder, ParentOrder
from gateway.router import ScorecardRouter, ScorecardRouterSettings
from gateway.scorecard import Board, Scorecard

LP_COUNTS = (4, 20, 100)
SYMBOL_COUNTS = (10, 1_000, 10_000)
KEYS = 4096  # random draws cycled through by each benchmark (a power of two)
HOT = 10  # the symbols of the "hot" runs
T0 = 1_790_000_000.0
UPDATE_TARGET_US = 5.0
DECISION_TARGET_US = 20.0

Setup = Callable[[int], None]
Bench = Callable[[int], int]  # does n operations' worth of work, returns how many it did


class Clock:
    """Time for the scorecard: it only moves forward, as in the gateway."""

    def __init__(self, t: float) -> None:
        self.t = t


class View:
    """An in-memory LpView: every LP available, a quote for every (LP, symbol), risk allows."""

    def __init__(self) -> None:
        self.quotes: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        self.sizes: dict[tuple[str, str], tuple[int, int]] = {}

    def available(self, lp: str) -> bool:
        return True

    def quote(self, lp: str, symbol: str, now: float) -> tuple[int | None, int | None] | None:
        return self.quotes.get((lp, symbol))

    def child_allowed(
        self, lp: str, parent: ParentOrder, qty: int, price: int | None, now: float
    ) -> str | None:
        return None

    def quote_size(self, lp: str, symbol: str, is_buy: bool, now: float) -> int | None:
        sizes = self.sizes.get((lp, symbol))
        return None if sizes is None else sizes[1] if is_buy else sizes[0]


class World:
    """A scorecard with history for every (LP, symbol), a view with quotes, and a router."""

    def __init__(self, n_lps: int, n_symbols: int, history: int) -> None:
        rng = random.Random(1)
        self.rng = rng
        self.lps = [f"LP{i:03d}" for i in range(n_lps)]
        self.symbols = [f"S{i:05d}" for i in range(n_symbols)]
        self.card = Scorecard()
        self.view = View()
        self.router = ScorecardRouter(self.card, self.view, self.lps, ScorecardRouterSettings())
        self.insts = {
            s: Instrument(s, tick_size=Decimal("0.01"), typical_size=Decimal("10000")) for s in self.symbols
        }
        self.mids = {s: rng.uniform(20.0, 200.0) for s in self.symbols}
        # each LP has a character: latency, fill ratio, price improvement, reject rate
        self.character = {
            lp: (rng.uniform(2.0, 80.0), rng.uniform(0.5, 1.0), rng.uniform(-1.0, 1.5), rng.uniform(0, 0.2))
            for lp in self.lps
        }
        for s in self.symbols:
            mid_units = round(self.mids[s] * 100)
            for lp in self.lps:
                skew = rng.randrange(-2, 3)
                self.view.quotes[(lp, s)] = (mid_units - 1 + skew, mid_units + 1 + skew)
                self.view.sizes[(lp, s)] = (rng.randrange(1, 20) * 1000, rng.randrange(1, 20) * 1000)
        self.clock = Clock(T0)
        self.child_seq = 0
        pairs = [(lp, s) for s in self.symbols for lp in self.lps] * history
        rng.shuffle(pairs)
        for i, (lp, s) in enumerate(pairs):
            self.child(lp, s)
            if i % 20_000 == 19_999:
                self.card.mature(self.clock.t, self.mids.get)
        self.clock.t += 60.0
        self.card.mature(self.clock.t, self.mids.get)

    def child(self, lp: str, symbol: str, step: float | None = None) -> None:
        """One child's four events, time moving forward (the scorecard's update path): to
        just after its answer, or by ``step`` only (children overlapping, as at a rate of
        1 / step: the answer comes after the next decisions)."""
        card = self.card
        lat, fill_ratio, pi, rej = self.character[lp]
        rng = self.rng
        self.child_seq += 1
        cid = b"C%d" % self.child_seq
        t = self.clock.t
        mid = self.mids[symbol]
        side = 1 if self.child_seq & 1 else -1
        card.on_sent(cid, lp, symbol, side, 5000.0, t, bid=mid - 0.01, ask=mid + 0.01, typical=10000.0)
        t_ans = t + lat / 1000.0
        card.on_answer(cid, t_ans)
        if rng.random() < rej:
            card.on_done(cid, True, t_ans)
        else:
            card.on_fill(cid, 5000.0 * fill_ratio, mid + side * (0.01 - pi * mid / 1e4), t_ans)
            card.on_done(cid, False, t_ans)
        self.clock.t = t_ans + 0.001 if step is None else t + step

    def drop_markouts(self, n: int = 0) -> None:
        """Let the pending markouts lapse unscored (no market): the heap starts empty."""
        self.clock.t += 31.0
        self.card.mature(self.clock.t, lambda symbol: None)

    def parent(self, symbol: str, buy: bool, qty: int, short_lp: str | None) -> ParentOrder:
        inst = self.insts[symbol]
        mid_units = round(self.mids[symbol] * 100)
        self.child_seq += 1
        p = ParentOrder(
            b"O%d" % self.child_seq,
            "OMS",
            b"P%d" % self.child_seq,
            inst,
            b"1" if buy else b"2",
            OrdType.LIMIT,
            TimeInForce.DAY,
            qty,
            mid_units + 10 if buy else mid_units - 10,
            self.clock.t,
            profile="best_price",
        )
        if short_lp is not None:
            c = ChildOrder(
                b"C%d" % self.child_seq,
                p,
                short_lp,
                10_000,
                p.price,
                TimeInForce.IMMEDIATE_OR_CANCEL,
                self.clock.t,
                state=C_CANCELED,
                cum_qty=4000,
            )
            p.children.append(c)
            p.cum_qty = 4000
            p.attempts = 1
        return p


def make_benches(w: World) -> dict[str, tuple[Setup | None, Bench]]:
    rng = random.Random(2)
    draws = [(rng.choice(w.lps), rng.choice(w.symbols)) for _ in range(KEYS)]
    hot = [(rng.choice(w.lps), rng.choice(w.symbols[:HOT])) for _ in range(KEYS)]
    probes = [w.parent(s, rng.random() < 0.5, 50_000, None) for _, s in draws]
    hot_probes = [w.parent(s, rng.random() < 0.5, 50_000, None) for _, s in hot]
    sprays = [w.parent(s, rng.random() < 0.5, 50_000, lp) for lp, s in draws]
    clock = w.clock
    card = w.card
    plan = w.router.plan
    mids = w.mids

    def updates(d: list[tuple[str, str]], step: float | None = None) -> Bench:
        def bench(n: int) -> int:
            child = w.child
            for i in range(n):
                lp, s = d[i & (KEYS - 1)]
                child(lp, s, step)
            return n

        return bench

    def markout_setup(n: int) -> None:
        w.drop_markouts()
        fills = 0
        i = 0
        while fills * 3 < n:  # three horizons per fill
            lp, s = draws[i & (KEYS - 1)]
            seq = w.child_seq
            mid = mids[s]
            w.child_seq += 1
            cid = b"M%d" % seq
            card.on_sent(cid, lp, s, 1, 5000.0, clock.t, bid=mid - 0.01, ask=mid + 0.01, typical=10000.0)
            card.on_fill(cid, 5000.0, mid, clock.t + 0.01)
            card.on_done(cid, False, clock.t + 0.01)
            clock.t += 0.02
            fills += 1
            i += 1
        clock.t += 31.0

    def markout(n: int) -> int:
        return card.mature(clock.t, mids.get)

    def decide(parents: list[ParentOrder]) -> Bench:
        def bench(n: int) -> int:
            ps = parents
            t = clock.t
            for i in range(n):
                p = ps[i & (KEYS - 1)]
                plan(p, p.qty - p.cum_qty, t + i * 1e-4)
            clock.t = t + n * 1e-4
            return n

        return bench

    def decide_after_update(n: int) -> int:
        # a child's four events on a random LP and the symbol of the probe, then the probe;
        # 10,000 of them a second, as the other decisions (children overlap)
        child = w.child
        for i in range(n):
            lp, sym = draws[i & (KEYS - 1)]
            child(lp, sym, 1e-4)
            p = probes[i & (KEYS - 1)]
            plan(p, p.qty - p.cum_qty, clock.t)
        return n

    # sanity: a probe sends one child to one LP, a spray several
    p = probes[0]
    assert len(plan(p, p.qty, clock.t)) == 1
    s = sprays[0]
    assert len(plan(s, s.qty - s.cum_qty, clock.t)) >= min(2, len(w.lps) - 1)
    return {
        "update": (w.drop_markouts, updates(draws)),
        "update/hot": (w.drop_markouts, updates(hot)),
        "markout": (markout_setup, markout),
        "decision": (None, decide(probes)),
        "decision/hot": (None, decide(hot_probes)),
        "update/overlap": (w.drop_markouts, updates(draws, 1e-4)),
        "update+decision": (w.drop_markouts, decide_after_update),
        "spray": (None, decide(sprays)),
    }


class FreeScorecard:
    """Constant answers at no cost: ``plan`` with it is the router's own work."""

    def __init__(self, card: Scorecard) -> None:
        self.settings = card.settings
        self.row = card.kpis("nobody")
        self.card = card

    def bucket(self, qty: float, typical: float) -> int:
        return 0

    def profile_plan(self, profile: str) -> Any:
        return self.card.profile_plan(profile)

    def decision_rows(
        self, lps: list[str], symbol: str, bucket: int | None, plan: Any, now: float
    ) -> tuple[list[list[float]], list[float]]:
        return [self.row] * len(lps), [0.0] * len(lps)

    def composite(self, plan: Any, rows: list[list[float]]) -> list[float]:
        return [50.0] * len(rows)

    def scored(self, plan: Any, rows: list[list[float]]) -> Any:
        return SimpleNamespace(values=self.composite(plan, rows))  # a new board each time: no replace

    def decision_board(self, lps: list[str], symbol: str, bucket: int | None, plan: Any, now: float) -> Any:
        rows, rates = self.decision_rows(lps, symbol, bucket, plan, now)
        return Board(list(lps), plan, [], now, rows, rates)

    def kpis(
        self, lp: str, symbol: str | None = None, bucket: int | None = None, now: float = 0.0
    ) -> list[float]:
        return self.row


def make_parts(w: World) -> dict[str, tuple[Setup | None, Bench]]:
    """The calls one probe decision makes, each timed alone (one operation = one decision)."""
    rng = random.Random(3)
    parents = [w.parent(rng.choice(w.symbols), rng.random() < 0.5, 50_000, None) for _ in range(KEYS)]
    clock = w.clock
    card = w.card
    view = w.view
    lps = w.lps
    plan = w.router.plan
    free_plan = ScorecardRouter(FreeScorecard(card), view, lps, w.router.settings).plan

    def timed(body: Callable[[ParentOrder, float], None]) -> Bench:
        def bench(n: int) -> int:
            t = clock.t
            for i in range(n):
                body(parents[i & (KEYS - 1)], t + i * 1e-4)
            clock.t = t + n * 1e-4
            return n

        return bench

    def whole(p: ParentOrder, now: float) -> None:
        plan(p, p.qty, now)

    profile = card.profile_plan("best_price")

    def rows(p: ParentOrder, now: float) -> None:
        inst = p.inst
        b = card.bucket(inst.qty_to_float(p.qty), float(inst.typical_size))
        card.decision_rows(lps, p.symbol, b, profile, now)

    some_rows = card.decision_rows(lps, w.symbols[0], 1, profile, clock.t)[0]

    def composite(p: ParentOrder, now: float) -> None:
        card.composite(profile, some_rows)

    def view_calls(p: ParentOrder, now: float) -> None:
        sym = p.symbol
        for lp in lps:
            view.available(lp)
            view.quote(lp, sym, now)
            view.child_allowed(lp, p, 10_000, p.price, now)

    def free(p: ParentOrder, now: float) -> None:
        free_plan(p, p.qty, now)

    return {
        "plan": (None, timed(whole)),
        "bucket + decision_rows": (None, timed(rows)),
        "composite": (None, timed(composite)),
        "view calls x LPs": (None, timed(view_calls)),
        "plan, free scorecard": (None, timed(free)),
    }


def _calibrate(setup: Setup | None, bench: Bench, target_s: float, clock: Callable[[], int]) -> int:
    n = 64
    while True:
        if setup is not None:
            setup(n)
        t0 = clock()
        bench(n)
        elapsed = (clock() - t0) / 1e9
        if elapsed >= target_s / 4 or n >= 2_000_000:
            return max(64, int(n * target_s / max(elapsed, 1e-9)))
        n *= 4


def run(
    benches: dict[str, tuple[Setup | None, Bench]], repeats: int, batch_s: float, clock: Callable[[], int]
) -> dict[str, float]:
    """Median µs per operation of each bench, benches interleaved within each repeat."""
    sizes = {name: _calibrate(setup, b, batch_s, clock) for name, (setup, b) in benches.items()}
    samples: dict[str, list[float]] = {name: [] for name in benches}
    names = list(benches)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                n = sizes[name]
                setup, bench = benches[name]
                if setup is not None:
                    setup(n)
                t0 = clock()
                done = bench(n)
                samples[name].append((clock() - t0) / 1e3 / max(done, 1))
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: statistics.median(v) for name, v in samples.items()}


def line_events(setup: Setup | None, bench: Bench, n: int) -> float:
    """Python line events per operation: the work done, whatever the machine is doing."""
    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return trace

    if setup is not None:
        setup(n)
    sys.settrace(trace)
    try:
        done = bench(n)
    finally:
        sys.settrace(None)
    return count / max(done, 1)


def profile(w: World) -> None:
    """cProfile of probe and spray decisions and of updates (where the time goes)."""
    benches = make_benches(w)
    prof = cProfile.Profile()
    prof.enable()
    benches["decision"][1](20_000)
    benches["spray"][1](20_000)
    w.drop_markouts()
    benches["update"][1](20_000)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter repeats; less history")
    ap.add_argument("--full", action="store_true", help="also 100 LPs x 10,000 symbols (about 3 GB)")
    ap.add_argument("--wall", action="store_true", help="wall-clock time instead of this thread's CPU time")
    ap.add_argument("--profile", action="store_true", help="cProfile at 20 LPs, 1,000 symbols, then stop")
    args = ap.parse_args(argv)
    repeats, batch_s, history = (5, 0.02, 1) if args.quick else (11, 0.05, 2)
    clock = time.perf_counter_ns if args.wall else time.thread_time_ns
    if args.profile:
        profile(World(20, 1_000, history))
        return 0

    results: dict[tuple[int, int], dict[str, float]] = {}
    parts: dict[str, float] = {}
    for n_lps in LP_COUNTS:
        for n_symbols in SYMBOL_COUNTS:
            if n_lps * n_symbols > 200_000 and not args.full:
                continue
            t0 = time.perf_counter()
            w = World(n_lps, n_symbols, history)
            built = time.perf_counter() - t0
            benches = make_benches(w)
            results[(n_lps, n_symbols)] = med = run(benches, repeats, batch_s, clock)
            med["lines/update"] = line_events(*benches["update"], 500)
            med["lines/decision"] = line_events(*benches["decision"], max(20, 2000 // n_lps))
            del benches
            if (n_lps, n_symbols) == (20, 1_000):
                parts = run(make_parts(w), repeats, batch_s, clock)
            print(
                f"  ({n_lps} LPs, {n_symbols} symbols: history of {n_lps * n_symbols * history} "
                f"children built in {built:.1f} s)",
                file=sys.stderr,
            )
            del w
            gc.collect()

    what = "wall-clock" if args.wall else "CPU"
    print(f"scorecard benchmark: µs of {what} time per operation, medians of {repeats} interleaved repeats")
    print(
        f"{'LPs':>4}{'symbols':>8}{'update/child':>14}{'update/event':>14}{'/hot':>7}{'markout':>9}"
        f"{'decision':>10}{'/hot':>9}{'after upd':>11}{'spray':>9}   {'lines/child':>11}"
        f"{'lines/decision':>15}"
    )
    for (n_lps, n_symbols), med in results.items():
        med["decision after update"] = med["update+decision"] - med["update/overlap"]
        print(
            f"{n_lps:>4}{n_symbols:>8}{med['update']:>14.2f}{med['update'] / 4:>14.2f}"
            f"{med['update/hot'] / 4:>7.2f}{med['markout']:>9.2f}{med['decision']:>10.2f}"
            f"{med['decision/hot']:>9.2f}{med['decision after update']:>11.2f}{med['spray']:>9.2f}   "
            f"{med['lines/update']:>11.0f}{med['lines/decision']:>15.0f}"
        )
    print("(lines: Python line events per operation, the benchmark's own ~15 per child included)")
    print("(after upd: one child's update then one decision on its symbol, less the update alone)")
    upd = statistics.median(med["update"] for med in results.values())
    dec20 = statistics.median(med["decision after update"] for (n, _), med in results.items() if n == 20)
    print(
        f"targets: update ≤ {UPDATE_TARGET_US:g} µs per event (median over the table: {upd / 4:.2f}), "
        f"decision ≤ {DECISION_TARGET_US:g} µs with 20 LPs (after an update, median over the symbol "
        f"counts: {dec20:.2f})"
    )
    own = 0.0
    if parts:
        print()
        print("one probe decision at 20 LPs, 1,000 symbols, its parts timed alone, µs:")
        for name, v in parts.items():
            print(f"  {name:<28}{v:>8.2f}")
        own = parts["plan, free scorecard"] - parts["view calls x LPs"]
        print(f"  {'router own work':<28}{own:>8.2f}   (plan with a free scorecard, less the view calls)")
    print()
    print(f"repeats={repeats}")
    print(f"clock={'wall' if args.wall else 'thread_cpu'}")
    print(f"scorecard_update_us={upd / 4:.3f}")
    print(f"scorecard_update_per_child_us={upd:.3f}")
    print(f"router_decision_us_lps20={dec20:.3f}")
    for (n_lps, n_symbols), med in results.items():
        tag = f"lps{n_lps}_symbols{n_symbols}"
        print(f"scorecard_update_us_{tag}={med['update'] / 4:.3f}")
        print(f"scorecard_update_hot_us_{tag}={med['update/hot'] / 4:.3f}")
        print(f"scorecard_update_per_child_us_{tag}={med['update']:.3f}")
        print(f"scorecard_markout_us_{tag}={med['markout']:.3f}")
        print(f"router_decision_us_{tag}={med['decision']:.3f}")
        print(f"router_decision_hot_us_{tag}={med['decision/hot']:.3f}")
        print(f"router_decision_after_update_us_{tag}={med['decision after update']:.3f}")
        print(f"router_spray_us_{tag}={med['spray']:.3f}")
        print(f"scorecard_update_lines_per_child_{tag}={med['lines/update']:.1f}")
        print(f"router_decision_lines_{tag}={med['lines/decision']:.1f}")
    if parts:
        names = {
            "plan": "router_part_plan_us_lps20_symbols1000",
            "bucket + decision_rows": "router_part_rows_us_lps20_symbols1000",
            "composite": "router_part_composite_us_lps20_symbols1000",
            "view calls x LPs": "router_part_view_calls_us_lps20_symbols1000",
            "plan, free scorecard": "router_part_plan_free_scorecard_us_lps20_symbols1000",
        }
        for name, v in parts.items():
            print(f"{names[name]}={v:.3f}")
        print(f"router_part_own_work_us_lps20_symbols1000={own:.3f}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # a broken benchmark reports, it does not fail a build
        print(f"benchmark error: {exc!r}", file=sys.stderr)
    sys.exit(0)
