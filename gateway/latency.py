"""Internal latency of the gateway, for benchmarks: bytes in -> the answer handed to a session.

The same two measurements as the Prometheus histograms of ``gateway.metrics.Telemetry``
(which records into this recorder too, when there is one: ``Telemetry.fine``), kept at a
resolution fine enough for percentiles, with a channel for a harness to reset and read them:

- ``order``: an OMS NewOrderSingle's bytes arrived (``Engine.input_ns``) -> its first child
  NewOrderSingle handed to an LP session;
- ``report``: an LP ExecutionReport's bytes arrived -> the first message it caused handed
  to the OMS session (the parent's ExecutionReport).

It also times the cyclic garbage collector's pauses (``gc.callbacks``), which land on
whatever the order path was doing when a collection started.

Off unless the environment variable ``FIXGW_LATENCY_FILE`` names a JSON file. Then
``stdin`` takes one command per line: ``reset`` (clear both histograms), ``dump`` (write
the file, atomically); each is answered on stdout (``latency: reset cpu_s=<user+sys>`` /
``latency: dumped``) so that a harness can wait for it and read the process's CPU time at
that moment. The file is written once more at shutdown.

A plain class with fixed log-linear buckets (64 per power of two, so a bucket is at most
1.6 % wide, a few thousand ints in all): recording is one ``bit_length`` and one list
increment, and the memory never grows. It must never do I/O on the order path.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

__all__ = ["ENV_FILE", "LatencyRecorder", "LogHistogram"]

ENV_FILE: Final = "FIXGW_LATENCY_FILE"
_SUB: Final = 6  # 2**6 buckets per power of two
_EXACT: Final = 1 << (_SUB + 1)  # values below this have a bucket each
_BUCKETS: Final = 64 << _SUB  # enough for any int64 of nanoseconds


class LogHistogram:
    """Counts of non-negative integers (nanoseconds) in log-linear buckets."""

    __slots__ = ("count", "counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts = [0] * _BUCKETS
        self.count = 0
        self.total = 0
        self.min = 0
        self.max = 0

    def record(self, value: int) -> None:
        if value < 0:
            value = 0
        shift = value.bit_length() - _SUB - 1
        self.counts[(shift << _SUB) + (value >> shift) if shift > 0 else value] += 1
        if self.count == 0 or value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        self.count += 1
        self.total += value

    @staticmethod
    def bucket_bounds(index: int) -> tuple[int, int]:
        """[low, high) of the values counted in bucket ``index``."""
        if index < _EXACT:
            return index, index + 1
        shift = (index >> _SUB) - 1
        low = (index - (shift << _SUB)) << shift
        return low, low + (1 << shift)

    def percentile(self, q: float) -> float:
        """The value at quantile ``q`` (0..1): the middle of its bucket, within [min, max]."""
        if self.count == 0:
            return float("nan")
        rank = max(1, min(self.count, int(q * self.count + 0.999999)))
        seen = 0
        for index, n in enumerate(self.counts):
            if n:
                seen += n
                if seen >= rank:
                    low, high = self.bucket_bounds(index)
                    return float(min(self.max, max(self.min, (low + high - 1) / 2)))
        return float(self.max)

    def summary_us(self) -> dict[str, float]:
        """count, mean, p50, p90, p99, p99.9 and max in microseconds."""
        if self.count == 0:
            return {"count": 0}
        return {
            "count": self.count,
            "mean": self.total / self.count / 1000,
            "p50": self.percentile(0.5) / 1000,
            "p90": self.percentile(0.9) / 1000,
            "p99": self.percentile(0.99) / 1000,
            "p99.9": self.percentile(0.999) / 1000,
            "max": self.max / 1000,
        }

    def buckets(self) -> list[list[int]]:
        """[low_ns, count] of every bucket that counted something."""
        return [[self.bucket_bounds(i)[0], n] for i, n in enumerate(self.counts) if n]


class LatencyRecorder:
    """The gateway's internal-latency histograms and their dump channel (see the module doc)."""

    def __init__(self, path: str | Path, describe: Callable[[], dict[str, Any]] | None = None) -> None:
        self.path = Path(path)
        self.describe = describe
        self.order = LogHistogram()
        self.report = LogHistogram()
        self._reset_at = time.time()
        # the cyclic garbage collector's pauses: a large share of the tail on a big heap
        self.gc_pauses = LogHistogram()  # wall clock: what the order path waited
        self.gc_cpu_ns = 0  # CPU time: what it cost (a preempted pause is long, not costly)
        self.gc_by_generation = [0, 0, 0]
        self._gc_start = 0
        self._gc_cpu_start = 0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
            self._gc_cpu_start = time.thread_time_ns()
        elif self._gc_start:
            self.gc_pauses.record(time.perf_counter_ns() - self._gc_start)
            self.gc_cpu_ns += time.thread_time_ns() - self._gc_cpu_start
            self.gc_by_generation[min(2, max(0, info.get("generation", 0)))] += 1
            self._gc_start = 0

    @classmethod
    def from_env(cls, describe: Callable[[], dict[str, Any]] | None = None) -> LatencyRecorder | None:
        path = os.environ.get(ENV_FILE)
        return cls(path, describe) if path else None

    # --- reading ---------------------------------------------------------------------------
    def reset(self) -> None:
        self.order = LogHistogram()
        self.report = LogHistogram()
        self.gc_pauses = LogHistogram()
        self.gc_cpu_ns = 0
        self.gc_by_generation = [0, 0, 0]
        self._reset_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        try:
            loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
        except RuntimeError:
            loop = None
        data: dict[str, Any] = {
            "since": self._reset_at,
            "at": time.time(),
            "event_loop": loop,
            "pid": os.getpid(),
            "cpu_user_s": usage.ru_utime,
            "cpu_sys_s": usage.ru_stime,
            "max_rss_kib": usage.ru_maxrss,
            "order": {**self.order.summary_us(), "buckets_ns": self.order.buckets()},
            "report": {**self.report.summary_us(), "buckets_ns": self.report.buckets()},
            "gc": {
                **self.gc_pauses.summary_us(),
                "total_ms": self.gc_pauses.total / 1e6,
                "cpu_ms": self.gc_cpu_ns / 1e6,
                "collections_by_generation": list(self.gc_by_generation),
            },
        }
        if self.describe is not None:
            data["gateway"] = self.describe()
        return data

    def dump(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.snapshot()))
        tmp.replace(self.path)

    # --- the command channel ----------------------------------------------------------------
    def listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Take ``reset`` / ``dump`` lines from stdin (a pipe from the harness)."""
        try:
            fd = sys.stdin.fileno()
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                return  # a terminal, /dev/null, a file: nobody to talk to
        except (AttributeError, OSError, ValueError):
            return
        buffer = bytearray()

        def readable() -> None:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                loop.remove_reader(fd)
                return
            buffer.extend(chunk)
            while b"\n" in buffer:
                line, _, rest = bytes(buffer).partition(b"\n")
                buffer[:] = rest
                command = line.strip().decode("ascii", "replace")
                if command == "reset":
                    self.reset()
                    usage = resource.getrusage(resource.RUSAGE_SELF)
                    print(f"latency: reset cpu_s={usage.ru_utime + usage.ru_stime:.6f}", flush=True)
                elif command == "dump":
                    self.dump()
                    print("latency: dumped", flush=True)
                elif command:
                    print(f"latency: unknown command {command!r}", flush=True)

        loop.add_reader(fd, readable)
