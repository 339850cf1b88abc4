"""What the slow messages of the paced phase waited for: an attribution of the internal-latency tail.

    python benchmarks/tail.py [--runs N] [--threshold US] [--keep DIR] [--analyse DIR]

Runs ``fixgw bench --quick --only gateway`` with ``benchmarks/tailtrace`` on PYTHONPATH
(its ``sitecustomize`` records each message and what else ran, see there) and sorts every
message of the paced phase slower than the threshold (200 us) into the first cause that
explains it: a collection, a snapshot fork, the journal's sync thread (its msync ran while
the loop was held up), other processes (the loop thread was preempted), the reason the
message waited behind others of the same read (a burst from the load generator, a timer
callback, the loop not running), the LP answering with several reports in one write, or
its own CPU time. Overlap in time is evidence, not proof: read the shares beside the same
table without the suspect (an A/B run). A measurement, never a pass/fail test.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACED_DUMP = 2  # the harness dumps after warmup (1), paced (2), flat (3), checked (4), at stop (5)


def classify(
    trace: dict[str, Any], sends: list[tuple[int, int]], threshold_us: float
) -> collections.Counter[str]:
    events = sorted(trace["events"], key=lambda e: e[1])
    reads = [e for e in events if e[0].startswith("cb:")]
    starts = [e[1] for e in reads]
    oms = [e for e in reads if "OMS" in e[0]]
    oms_starts = [e[1] for e in oms]
    send_times = [t for t, _ in sends]

    def of(prefix: str) -> list[tuple[Any, ...]]:
        return [e for e in events if e[0].startswith(prefix)]

    gcs, syncs, forks = of("gc"), of("sync"), of("fork")
    timers = [e for e in events if e[0] in ("markouts", "app_timer")]

    def during(items: list[tuple[Any, ...]], a: float, b: float) -> bool:
        return any(e[1] < b and e[2] > a for e in items)

    causes: collections.Counter[str] = collections.Counter()
    for kind, t0, t1, _cpu, _iv, nth, began in trace["messages"]:
        if (t1 - t0) / 1000 <= threshold_us:
            continue
        read = reads[bisect.bisect_right(starts, t0) - 1]
        held = ((read[2] - read[1]) - read[3]) / 1000 > 100  # the read's callback lost the CPU
        start = read[1]  # from when the messages of this read waited
        previous = 0
        if kind == "order":
            j = bisect.bisect_left(oms_starts, read[1])
            previous = oms[j - 1][1] if j > 0 else 0
            a = bisect.bisect_right(send_times, previous)
            if a < len(sends) and sends[a][0] < read[1]:
                start = sends[a][0]
        if during(gcs, start, t1):
            cause = "collection (gc pause)"
        elif during(forks, start - 20e6, t1):
            cause = "snapshot fork"
        elif held and during(syncs, read[1], read[2]):
            cause = "journal sync thread (msync on the loop's core)"
        elif held:
            cause = "loop preempted by other processes"
        elif nth > 1 and began - t0 > t1 - began:
            if kind == "order":
                k = bisect.bisect_right(send_times, read[1]) - bisect.bisect_right(send_times, previous)
                if k <= 1:
                    cause = "behind others: the load generator sent a burst"
                elif during(timers, start, read[1]):
                    cause = "behind others: a timer callback ran (markouts, app timer)"
                elif during(syncs, start, read[1]):
                    cause = "behind others: journal sync thread"
                else:
                    cause = "behind others: the loop did not run (other processes, wake-up)"
            else:
                cause = (
                    "the LP answered ack and fill in one write"
                    if nth <= 2
                    else "behind others: an LP burst (after an order burst)"
                )
        else:
            cause = f"own CPU over {threshold_us:g} us (cold caches after idle)"
        causes[f"{kind}: {cause}"] += 1
    return causes


def analyse(directory: Path, threshold_us: float) -> collections.Counter[str]:
    total: collections.Counter[str] = collections.Counter()
    for run in sorted(p for p in directory.iterdir() if p.is_dir()) or [directory]:
        traces = sorted(run.glob(f"*-{PACED_DUMP}.json"))
        sends = sorted(run.glob("loadgen-*.txt"))
        if not traces or not sends:
            continue
        lines = sends[0].read_text().split()
        pairs = [(int(lines[i]), int(lines[i + 1])) for i in range(0, len(lines), 2)]
        total += classify(json.loads(traces[0].read_text()), pairs, threshold_us)
        total["runs"] += 1
        total["messages"] += len(json.loads(traces[0].read_text())["messages"])
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=200.0, help="slow above this many us")
    parser.add_argument("--keep", type=Path, help="keep the traces here")
    parser.add_argument("--analyse", type=Path, help="only read the traces kept in this folder")
    args = parser.parse_args(argv)
    directory = args.analyse or args.keep or Path(tempfile.mkdtemp(prefix="fixgw-tail-"))
    if args.analyse is None:
        for n in range(args.runs):
            run = directory / f"run{n + 1}"
            run.mkdir(parents=True, exist_ok=True)
            hook = str(ROOT / "benchmarks" / "tailtrace")
            env = {**os.environ, "FIXGW_TAIL_DIR": str(run), "PYTHONPATH": os.pathsep.join([hook, str(ROOT)])}
            cmd = [
                sys.executable,
                "-m",
                "gateway.cli",
                "bench",
                "--quick",
                "--only",
                "gateway",
                "--no-profile",
            ]
            with (run / "bench.log").open("w") as log:
                subprocess.run(
                    [*cmd, "--out", str(run / "bench.json")], env=env, cwd=ROOT, check=True, stdout=log
                )
    total = analyse(directory, args.threshold)
    runs, messages = total.pop("runs", 0), total.pop("messages", 0)
    slow = sum(total.values())
    print(
        f"{runs} runs, {messages} messages, {slow} slower than {args.threshold:g} us; traces in {directory}"
    )
    for cause, n in total.most_common():
        print(f"{100 * n / max(slow, 1):6.1f} %  {n / max(runs, 1):7.1f} a run  {cause}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
