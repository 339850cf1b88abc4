"""Tail attribution hook for ``fixgw bench`` (``python benchmarks/tail.py`` puts it on PYTHONPATH).

Imported by every Python process the harness starts (``sitecustomize``), it does something
only when ``FIXGW_TAIL_DIR`` is set: in the gateway (``gateway.cli run``) it records, from a
``reset`` to a ``dump`` of the latency channel, every internal-latency message (arrival,
start of its handling, handed over, thread CPU, involuntary context switches, its place in
the read) and what else ran (each ``data_received`` with its CPU and context switches,
collections, the journal's sync and prepare, markout and application timers, snapshot
forks), written next to the histograms as ``<pid>-<n>.json``; in the load generator, the
time and size of each ``sendall`` (``loadgen-<pid>.txt``). It wraps methods by name: a
diagnostic for benchmarks, never imported by the gateway itself.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_DIR = os.environ.get("FIXGW_TAIL_DIR", "")
_ARGV = " ".join(getattr(sys, "orig_argv", sys.argv))


def _gateway() -> None:
    import gc
    import json
    import resource
    import threading
    import time

    pc = time.perf_counter_ns
    tt = time.thread_time_ns
    events: list[tuple[Any, ...]] = []
    messages: list[tuple[Any, ...]] = []
    state = {"n": 0, "dumps": 0}

    def rusage() -> Any:
        return resource.getrusage(resource.RUSAGE_THREAD)

    import gateway.app as app
    import gateway.journal as journal
    import gateway.latency as latency
    import gateway.metrics as metrics
    import gateway.recovery as recovery
    import gateway.sessions.transport as transport

    tel = metrics.Telemetry
    begin0, order0, report0 = tel.begin, tel.order_out, tel.report_out

    def begin(self: Any, path: int, t0_ns: int) -> None:
        self._tail = (pc(), tt(), rusage().ru_nivcsw)
        state["n"] += 1
        begin0(self, path, t0_ns)

    def out(self: Any, kind: str) -> None:
        b, c, iv = self._tail
        messages.append((kind, self.t0_ns, pc(), tt() - c, rusage().ru_nivcsw - iv, state["n"], b))

    def order_out(self: Any) -> None:
        out(self, "order")
        order0(self)

    def report_out(self: Any) -> None:
        out(self, "report")
        report0(self)

    tel.begin, tel.order_out, tel.report_out = begin, order_out, report_out  # type: ignore[method-assign]

    received0 = transport.FixConnection.data_received

    def data_received(self: Any, data: bytes) -> None:
        s, c, r0 = pc(), tt(), rusage()
        state["n"] = 0
        try:
            received0(self, data)
        finally:
            r1 = rusage()
            name = self.runtime.session.settings.name if self.runtime is not None else "?"
            cs = (r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw)
            events.append((f"cb:{name}", s, pc(), tt() - c, len(data), *cs))

    transport.FixConnection.data_received = data_received  # type: ignore[method-assign]

    def wrap(owner: Any, attr: str, label: str) -> None:
        f = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            s, c = pc(), tt()
            try:
                return f(*args, **kwargs)
            finally:
                events.append((label, s, pc(), tt() - c, threading.current_thread().name))

        setattr(owner, attr, timed)

    wrap(journal.Journal, "sync", "sync")
    wrap(journal.Journal, "prepare", "prepare")
    wrap(app.GatewayApplication, "_mature_markouts", "markouts")
    wrap(app.GatewayApplication, "on_timer", "app_timer")
    wrap(recovery, "_fork_writer", "fork")

    started = {"s": 0, "c": 0}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["s"], started["c"] = pc(), tt()
        else:
            events.append((f"gc{info.get('generation', 0)}", started["s"], pc(), tt() - started["c"]))

    gc.callbacks.insert(0, on_gc)

    rec = latency.LatencyRecorder
    reset0, dump0 = rec.reset, rec.dump

    def reset(self: Any) -> None:
        events.clear()
        messages.clear()
        reset0(self)

    def dump(self: Any) -> None:
        dump0(self)
        state["dumps"] += 1
        with open(os.path.join(_DIR, f"{os.getpid()}-{state['dumps']}.json"), "w") as f:
            json.dump({"messages": messages, "events": events}, f)

    rec.reset, rec.dump = reset, dump  # type: ignore[method-assign]


def _loadgen() -> None:
    import socket
    import time

    fd = os.open(
        os.path.join(_DIR, f"loadgen-{os.getpid()}.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
    )
    sendall0 = socket.socket.sendall

    def sendall(self: socket.socket, data: Any, *args: Any) -> None:
        os.write(fd, b"%d %d\n" % (time.perf_counter_ns(), len(data)))
        sendall0(self, data, *args)

    socket.socket.sendall = sendall  # type: ignore[method-assign,assignment]


if _DIR and "gateway.cli" in _ARGV and " run " in f" {_ARGV} ":
    import importlib.abc
    import importlib.machinery

    class _AtCli(importlib.abc.MetaPathFinder):
        """Installs the wrappers when ``gateway.cli`` is imported (the path is set up by then)."""

        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name != "gateway.cli":
                return None
            sys.meta_path.remove(self)
            _gateway()
            return importlib.machinery.PathFinder.find_spec(name, path)

    sys.meta_path.insert(0, _AtCli())
elif _DIR and "benchmarks.loadgen" in _ARGV:
    _loadgen()
