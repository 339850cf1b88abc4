"""``fixgw bench``: the gateway measured end to end, against a direct run and a QuickFIX relay.

Every party is a process of its own, talking FIX over loopback TCP: LP simulators
(``fixgw sim-lp``), the system under test (the gateway, ``fixgw run`` on a generated
config; or the QuickFIX relay, ``benchmarks/qf_relay.py``; or nothing: the OMS talks to an
LP simulator directly) and the OMS load generator (``benchmarks/loadgen.py``). On a
machine with two or more cores the system under test gets a core of its own (CPU 1) and
the load side shares CPU 0, so that the figures are those of the system under test.

A run (``Setup``) starts the processes, then goes through phases (``Phase``); before each
phase the harness resets the gateway's latency histograms (stdin ``reset``, see
``gateway.latency``) and reads the CPU time and memory of the system under test, and
after it reads them again and has the gateway dump its histograms (``dump``). Measured:

- internal latency (the gateway's own histograms): OMS order bytes in -> first child
  order handed to the LP session; LP report bytes in -> OMS report handed to the session;
- round trip as the load generator sees it (order sent -> fill received);
- throughput flat out (parent orders fully reported back per second) and orders lost;
- CPU time of the system under test per order (user + sys, from the gateway's getrusage,
  or /proc/<pid>/stat for the others), peak RSS, and memory per open parent order;
- the same with the journal off ([journal] Enabled = false), with the standard asyncio
  loop, with the file store, with the scorecard router, and (full mode) with 1..50 LP
  sessions, 10..10,000 symbols and 100..100,000 open orders.

Results go to ``benchmarks/results/<date>-<mode>.json`` with a description of the machine;
the output is one Markdown table, the targets, and one ``name=value`` line per figure.
A measurement, never a pass/fail test.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "benchmarks" / "profiles"
RESULTS = ROOT / "benchmarks" / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
LATENCY_ENV = "FIXGW_LATENCY_FILE"  # gateway.latency.ENV_FILE (not imported: no gateway code here)
LOOP_ENV = "FIXGW_EVENT_LOOP"


# --------------------------------------------------------------------------- plans


@dataclasses.dataclass(frozen=True)
class Plan:
    """How many orders each phase sends, for --quick and for the full run."""

    mode: str
    warmup: int
    paced: int
    rate: float
    flat: int
    window: int
    checked: int
    checked_rate: float
    open_orders: int
    scaling: bool
    scale_paced: int
    scale_flat: int


QUICK = Plan("quick", 2000, 4000, 1000.0, 15000, 500, 1500, 500.0, 20000, False, 0, 0)
FULL = Plan("full", 3000, 8000, 1000.0, 30000, 500, 2000, 500.0, 100000, True, 5000, 0)


@dataclasses.dataclass
class Phase:
    name: str
    kind: str  # blast | checked (see benchmarks/loadgen.py)
    orders: int
    rate: float  # 0 = flat out
    window: int
    profile: str = "oms"  # oms | resting
    py_spy: bool = False  # sample the gateway with py-spy during this phase


@dataclasses.dataclass
class Setup:
    name: str
    target: str  # gateway | relay | direct
    phases: list[Phase]
    lps: int = 4
    symbols: int = 0  # 0: the profiles' three symbols
    store: str = "memory"  # memory | file
    loop: str = "uvloop"  # uvloop | asyncio
    router: str = "static"  # static | scorecard
    journal: str = "on"  # on | off ([journal] Enabled; on is the gateway's default)
    note: str = ""
    idle_after: str = ""  # measure CPU for a few idle seconds after this phase
    group: str = "main"  # main | scaling | profile


def _main_phases(plan: Plan) -> list[Phase]:
    return [
        Phase("warmup", "blast", plan.warmup, 0.0, 200),
        Phase("paced", "blast", plan.paced, plan.rate, plan.window),
        Phase("flat", "blast", plan.flat, 0.0, plan.window),
        Phase("checked", "checked", plan.checked, plan.checked_rate, 200),
    ]


def _scale_phases(plan: Plan) -> list[Phase]:
    phases = [
        Phase("warmup", "blast", plan.warmup, 0.0, 200),
        Phase("paced", "blast", plan.scale_paced, plan.rate, plan.window),
    ]
    if plan.scale_flat:
        phases.append(Phase("flat", "blast", plan.scale_flat, 0.0, plan.window))
    return phases


def _open_phases(plan: Plan, n: int, measure: bool) -> list[Phase]:
    phases = [
        Phase("warmup", "blast", plan.warmup, 0.0, 200),
        Phase("rest", "blast", n, 0.0, 1000, profile="resting"),
    ]
    if measure:
        phases.append(Phase("paced", "blast", plan.scale_paced, plan.rate, plan.window))
        if plan.scale_flat:
            phases.append(Phase("flat", "blast", plan.scale_flat, 0.0, plan.window))
    return phases


def setups(plan: Plan, py_spy: bool) -> list[Setup]:
    out = [
        Setup("direct", "direct", _main_phases(plan), lps=1, note="OMS -> one LP simulator, no gateway"),
        Setup("quickfix-relay", "relay", _main_phases(plan), lps=1, note="quickfix Python pass-through"),
        Setup("gateway", "gateway", _main_phases(plan), idle_after="warmup"),
        Setup("gateway-no-journal", "gateway", _main_phases(plan), journal="off", idle_after="warmup"),
        Setup("gateway-asyncio", "gateway", _main_phases(plan), loop="asyncio"),
        Setup("gateway-filestore", "gateway", _main_phases(plan), store="file"),
        Setup("gateway-scorecard", "gateway", _main_phases(plan)[:3], router="scorecard"),
    ]
    if not plan.scaling:
        out.append(
            Setup(
                f"gateway-open-{plan.open_orders}",
                "gateway",
                _open_phases(plan, plan.open_orders, False),
                idle_after="rest",
                note="DAY orders left open",
            )
        )
    else:
        # LPs and symbols with the scorecard router, the one that looks at every LP and keeps
        # state per (LP, symbol); open orders with the static router of the main run
        sc = "scorecard"
        for n in (1, 4, 16, 50):
            out.append(
                Setup(f"scale-lps-{n}", "gateway", _scale_phases(plan), lps=n, router=sc, group="scaling")
            )
        for n in (10, 1000, 10000):
            out.append(
                Setup(
                    f"scale-symbols-{n}",
                    "gateway",
                    _scale_phases(plan),
                    symbols=n,
                    router=sc,
                    group="scaling",
                )
            )
        for n in (100, 10000, plan.open_orders):
            out.append(
                Setup(
                    f"scale-open-{n}",
                    "gateway",
                    _open_phases(plan, n, True),
                    idle_after="rest",
                    group="scaling",
                    note="DAY orders left open",
                )
            )
    if py_spy:
        out.append(
            Setup(
                "profile",
                "gateway",
                [
                    Phase("warmup", "blast", plan.warmup, 0.0, 200),
                    Phase("paced", "blast", plan.paced, plan.rate, plan.window, py_spy=True),
                    Phase("flat", "blast", plan.flat, 0.0, plan.window, py_spy=True),
                ],
                group="profile",
                note="py-spy attached (figures not used)",
            )
        )
    return out


# --------------------------------------------------------------------------- TOML out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {type(v).__name__}")


def toml_dumps(data: dict[str, Any], prefix: str = "") -> str:
    """TOML text for what tomllib.load gives (scalars, arrays, tables, arrays of tables)."""

    def is_table_array(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    lines = [
        f"{k} = {_toml_value(v)}"
        for k, v in data.items()
        if not isinstance(v, dict) and not is_table_array(v)
    ]
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            lines.append(f"\n[{name}]")
            lines.append(toml_dumps(v, name + "."))
        elif is_table_array(v):
            for item in v:
                lines.append(f"\n[[{name}]]")
                lines.append(toml_dumps(item, name + "."))
    return "\n".join(line for line in lines if line)


def _load(name: str) -> dict[str, Any]:
    with open(PROFILES / name, "rb") as f:
        return tomllib.load(f)


def _symbols(n: int) -> list[str]:
    return [f"S{i:05d}" for i in range(n)]


def lp_profile(setup: Setup, port: int) -> dict[str, Any]:
    data = _load("direct-lp.toml" if setup.target == "direct" else "lps.toml")
    if setup.target == "direct":
        data["lp"] = [{**data["lp"][0], "port": port}]
    else:
        if setup.lps <= 26:
            names = [f"LP_{chr(ord('A') + i)}" for i in range(setup.lps)]
        else:
            names = [f"LP_{i:03d}" for i in range(1, setup.lps + 1)]
        data["lp"] = [{"name": name, "port": port} for name in names]
    if setup.symbols:
        data["instrument"] = [
            {"Symbol": s, "TickSize": "0.01", "LotSize": "1", "Mid": "50.00", "VolatilityBps": 0.0}
            for s in _symbols(setup.symbols)
        ]
    return data


def oms_profile(setup: Setup, kind: str, port: int) -> dict[str, Any]:
    data = _load("oms-resting.toml" if kind == "resting" else "oms.toml")
    data["session"]["SocketConnectPort"] = port
    if setup.symbols:
        data["symbol"] = [
            {
                "Symbol": s,
                "TickSize": "0.01",
                "LotSize": "1",
                "Price": "50.00",
                "MinQty": "100",
                "MaxQty": "1000",
            }
            for s in _symbols(setup.symbols)
        ]
    return data


def gateway_config(
    setup: Setup, lp_names: list[str], oms_port: int, lp_port: int, state: Path
) -> dict[str, Any]:
    data = _load("gateway.toml")
    data["gateway"]["StateDir"] = str(state)
    data["default"]["UseMemoryStore"] = setup.store == "memory"
    data["router"]["Kind"] = setup.router
    data["journal"] = {"Enabled": setup.journal == "on"}
    data["session"] = [
        {"Name": "OMS1", "ConnectionType": "acceptor", "TargetCompID": "OMS1", "SocketAcceptPort": oms_port},
        *[
            {"Name": lp, "ConnectionType": "initiator", "TargetCompID": lp, "SocketConnectPort": lp_port}
            for lp in lp_names
        ],
    ]
    if setup.symbols:
        data["instrument"] = [
            {"Symbol": s, "TickSize": "0.01", "LotSize": "1", "TypicalSize": "10000"}
            for s in _symbols(setup.symbols)
        ]
    return data


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(
        self, name: str, args: list[str], cpu: int | None, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-u", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        if cpu is not None:
            try:
                os.sched_setaffinity(self.proc.pid, {cpu})
            except OSError:
                pass
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def expect(self, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {what} within {timeout:g} s; last output: {self.tail()}")
            try:
                line = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.wait()}) waiting for {what}: {self.tail()}"
                )
            if predicate(line):
                return line

    def tail(self, n: int = 8) -> str:
        return " | ".join(self.lines[-n:])

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        return self.proc.returncode


def proc_times(pid: int) -> tuple[float, float]:
    """(user, sys) CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_cpu_s(pid: int) -> float:
    user, system = proc_times(pid)
    return user + system


def system_times() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def wait_machine_quiet(max_wait: float, threshold: float = 0.25, window: float = 3.0) -> float:
    """Wait (at most ``max_wait`` s) until the machine is busy less than ``threshold`` cores."""
    start = time.monotonic()
    while True:
        busy0, _ = system_times()
        time.sleep(window)
        busy1, _ = system_times()
        load = (busy1 - busy0) / window
        if load < threshold or time.monotonic() - start >= max_wait:
            return load


def proc_mem_kib(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def wait_quiet(pid: int, timeout: float = 60.0, busy: float = 0.15) -> float:
    """Wait until the process uses less than ``busy`` of a core over 0.5 s; seconds waited."""
    start = time.monotonic()
    last = proc_cpu_s(pid)
    while time.monotonic() - start < timeout:
        time.sleep(0.5)
        now = proc_cpu_s(pid)
        if now - last < busy * 0.5:
            break
        last = now
    return time.monotonic() - start


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for dist in ("uvloop", "quickfix", "py-spy"):
        try:
            from importlib import metadata

            versions[dist] = metadata.version(dist)
        except Exception:
            versions[dist] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": versions,
    }


# --------------------------------------------------------------------------- one setup


class Runner:
    def __init__(self, plan: Plan, pin: bool, log: Callable[[str], None]) -> None:
        self.plan = plan
        self.log = log
        cores = sorted(os.sched_getaffinity(0))
        self.pin = pin and len(cores) >= 2
        self.load_cpu = cores[0] if self.pin else None
        self.sut_cpu = cores[1] if self.pin else None
        self.others: set[int] = set()  # our other processes of the current setup
        self.py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(self.py_spy).exists():
            self.py_spy = ""
        self.spy_native = False  # --native: C frames too (uvloop, syscalls)
        self.spy_keep: Path | None = None  # --profile-dir: keep py-spy's raw output there

    def run(self, setup: Setup) -> dict[str, Any]:
        started = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f"fixgw-bench-{setup.name}-"))
        procs: list[Proc] = []
        result: dict[str, Any] = {
            "name": setup.name,
            "target": setup.target,
            "group": setup.group,
            "lps": setup.lps,
            "symbols": setup.symbols or 3,
            "store": setup.store
            if setup.target == "gateway"
            else ("memory" if setup.target == "relay" else "-"),
            "loop": setup.loop
            if setup.target == "gateway"
            else ("quickfix threads" if setup.target == "relay" else "-"),
            "router": setup.router if setup.target == "gateway" else "-",
            "journal": setup.journal if setup.target == "gateway" else "-",
            "note": setup.note,
            "phases": {},
        }
        try:
            lp_port = free_port()
            front_port = free_port()
            lp_data = lp_profile(setup, front_port if setup.target == "direct" else lp_port)
            (tmp / "lps.toml").write_text(toml_dumps(lp_data) + "\n")
            load_cpu = self.load_cpu
            lp_cpu = self.sut_cpu if setup.target == "direct" else load_cpu
            lp = Proc("lp-sim", ["-m", "gateway.cli", "sim-lp", "--config", str(tmp / "lps.toml")], lp_cpu)
            procs.append(lp)
            self.others = {lp.pid}
            n_lps = len(lp_data["lp"])
            for _ in range(n_lps):
                lp.expect(lambda s: "listening on port" in s, 60, "LP listening")
            sut: Proc | None = None
            if setup.target == "gateway":
                names = [x["name"] for x in lp_data["lp"]]
                cfg = gateway_config(setup, names, front_port, lp_port, tmp / "state")
                (tmp / "gateway.toml").write_text(toml_dumps(cfg) + "\n")
                env = {LATENCY_ENV: str(tmp / "latency.json"), LOOP_ENV: setup.loop}
                sut = Proc(
                    "gateway",
                    [
                        "-m",
                        "gateway.cli",
                        "run",
                        "--config",
                        str(tmp / "gateway.toml"),
                        "--status-every",
                        "0",
                    ],
                    self.sut_cpu,
                    env,
                )
                procs.append(sut)
                seen: set[str] = set()
                while len(seen) < n_lps:
                    line = sut.expect(lambda s: s.startswith("logon: ") and "(lp)" in s, 120, "LP logons")
                    seen.add(line.split()[1])
            elif setup.target == "relay":
                sut = Proc(
                    "qf-relay",
                    ["-m", "benchmarks.qf_relay", "--oms-port", str(front_port), "--lp-port", str(lp_port)],
                    self.sut_cpu,
                )
                procs.append(sut)
                sut.expect(lambda s: s.startswith("LOGON LP_A"), 60, "LP logon")
            sut_pid = sut.pid if sut is not None else lp.pid
            result["startup_s"] = time.monotonic() - started
            wait_quiet(sut_pid)
            for kind in {p.profile for p in setup.phases}:
                data = oms_profile(setup, kind, front_port)
                (tmp / f"oms-{kind}.toml").write_text(toml_dumps(data) + "\n")
            spec = [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "profile": str(tmp / f"oms-{p.profile}.toml"),
                    "orders": p.orders,
                    "rate": p.rate,
                    "window": p.window,
                }
                for p in setup.phases
            ]
            gen = Proc(
                "loadgen",
                [
                    "-m",
                    "benchmarks.loadgen",
                    "--port",
                    str(front_port),
                    "--phases",
                    json.dumps(spec),
                    "--handshake",
                ],
                load_cpu,
            )
            procs.append(gen)
            for phase in setup.phases:
                result["phases"][phase.name] = self._phase(setup, phase, gen, sut, sut_pid, tmp)
                if setup.idle_after == phase.name:
                    cpu0 = proc_cpu_s(sut_pid)
                    time.sleep(3.0)
                    result["idle_cpu_share"] = (proc_cpu_s(sut_pid) - cpu0) / 3.0
            mem = proc_mem_kib(sut_pid)
            result["peak_rss_mib"] = mem.get("VmHWM", 0) / 1024
            result["rss_mib"] = mem.get("VmRSS", 0) / 1024
            gen.stop(signal.SIGTERM, 10)
            if sut is not None:
                sut.stop(signal.SIGTERM, 20)
            lp.stop(signal.SIGINT, 10)
        except Exception as exc:  # a broken run is reported, and the others go on
            result["error"] = f"{type(exc).__name__}: {exc}"
            self.log(f"  {setup.name}: FAILED: {result['error']}")
        finally:
            for p in reversed(procs):
                p.stop(signal.SIGKILL if "error" in result else signal.SIGTERM, 5)
            shutil.rmtree(tmp, ignore_errors=True)
        result["wall_s"] = time.monotonic() - started
        return result

    @staticmethod
    def _cpu_or_zero(pid: int) -> float:
        try:
            return proc_cpu_s(pid)
        except OSError:
            return 0.0

    def _phase(
        self, setup: Setup, phase: Phase, gen: Proc, sut: Proc | None, sut_pid: int, tmp: Path
    ) -> dict[str, Any]:
        gen.expect(lambda s: s == f"READY {phase.name}", 120, f"READY {phase.name}")
        gateway = sut if setup.target == "gateway" else None
        cpu0_precise: float | None = None
        if gateway is not None:
            gateway.send("reset")
            line = gateway.expect(lambda s: s.startswith("latency: reset"), 30, "latency reset")
            cpu0_precise = float(line.split("cpu_s=")[1]) if "cpu_s=" in line else None
        mem0 = proc_mem_kib(sut_pid)
        ours = [p for p in {sut_pid, gen.pid, *self.others} if p]
        ours0 = sum(self._cpu_or_zero(p) for p in ours) + _self_cpu()
        busy0, steal0 = system_times()
        wall0 = time.monotonic()
        user0, sys0 = proc_times(sut_pid)
        cpu0 = user0 + sys0
        spy: subprocess.Popen[bytes] | None = None
        spy_out = tmp / f"py-spy-{phase.name}.txt"
        if phase.py_spy and self.py_spy:
            spy_args = ["record", "--pid", str(sut_pid), "--rate", "250"]
            # C frames need the process stopped while sampled (slower, still proportional)
            spy_args.append("--native" if self.spy_native else "--nonblocking")
            spy = subprocess.Popen(
                [self.py_spy, *spy_args, "--format", "raw", "--output", str(spy_out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches
        gen.send("go")
        timeout = 60 + phase.orders / max(phase.rate or 1000.0, 1000.0) * 4
        line = gen.expect(lambda s: s.startswith("RESULT "), timeout, f"RESULT {phase.name}")
        user1, sys1 = proc_times(sut_pid)
        cpu1 = user1 + sys1
        mem1 = proc_mem_kib(sut_pid)
        busy1, steal1 = system_times()
        wall = max(time.monotonic() - wall0, 1e-9)
        ours1 = sum(self._cpu_or_zero(p) for p in ours) + _self_cpu()
        out: dict[str, Any] = json.loads(line[len("RESULT ") :])
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
            out["profile"] = summarize_py_spy(spy_out) if spy_out.exists() else {"error": "no py-spy output"}
            if self.spy_keep is not None and spy_out.exists():
                self.spy_keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(spy_out, self.spy_keep / f"py-spy-{setup.name}-{phase.name}.txt")
        cpu = cpu1 - cpu0
        if gateway is not None:
            gateway.send("dump")
            gateway.expect(lambda s: s == "latency: dumped", 30, "latency dump")
            dump = json.loads((tmp / "latency.json").read_text())
            out["internal"] = {"order": _strip(dump["order"]), "report": _strip(dump["report"])}
            out["gateway"] = dump.get("gateway", {})
            out["gc"] = dump.get("gc", {})
            out["event_loop"] = dump.get("event_loop")
            if cpu0_precise is not None:
                cpu = dump["cpu_user_s"] + dump["cpu_sys_s"] - cpu0_precise
        out["sut_cpu_s"] = cpu
        # what other processes of the machine used meanwhile, in cores (noise indicator)
        out["background_cores"] = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
        out["steal_cores"] = (steal1 - steal0) / wall
        out["sut_sys_share"] = (sys1 - sys0) / (cpu1 - cpu0) if cpu1 > cpu0 else float("nan")
        done = out.get("terminal", out.get("answered", 0)) or out.get("sent", 0)
        out["sut_cpu_us_per_order"] = cpu / done * 1e6 if done else float("nan")
        out["sut_rss_kib_before"] = mem0.get("VmRSS", 0)
        out["sut_rss_kib_after"] = mem1.get("VmRSS", 0)
        self.log(f"  {setup.name}/{phase.name}: {_phase_line(out)}")
        return out


def _self_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def _strip(hist: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hist.items() if k != "buckets_ns"} | {"buckets_ns": hist.get("buckets_ns", [])}


def _phase_line(p: dict[str, Any]) -> str:
    rtt = p.get("rtt_first_fill_us", {})
    parts = [
        f"{p.get('sent', 0)} sent",
        f"lost {p.get('lost', 0)}",
        f"{p.get('throughput_done_per_s', 0):.0f}/s",
        f"rtt p50 {rtt.get('p50', float('nan')):.0f} us",
        f"cpu {p.get('sut_cpu_us_per_order', float('nan')):.1f} us/order"
        f" (sys {100 * p.get('sut_sys_share', float('nan')):.0f}%)",
    ]
    if "internal" in p:
        parts.append(f"internal p50 {p['internal']['order'].get('p50', float('nan')):.1f} us")
    parts.append(f"background {p.get('background_cores', 0):.2f} cores")
    if "gc" in p:
        parts.append(f"gc {p['gc'].get('cpu_ms', 0):.0f} ms cpu")
    if "violations" in p:
        parts.append(f"violations {p['violations']}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- py-spy


def summarize_py_spy(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive share of samples per function from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        n = int(count_text)
        total += n
        frames = [_frame_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        own[frames[-1]] += n
        for name in set(frames):
            incl[name] += n
    if not total:
        return {"samples": 0}
    # the event loop's own frame holds the samples taken in C (uvloop, sockets) and, at a low
    # rate, some taken while waiting: shares are also given without it
    loop = sum(n for name, n in own.items() if name.startswith(_LOOP_FRAMES))
    python = max(1, total - loop)
    return {
        "samples": total,
        "event_loop_self_share": round(100 * loop / total, 2),
        "self": [
            [name, round(100 * n / total, 2), round(100 * n / python, 2)]
            for name, n in own.most_common(top + 3)
            if not name.startswith(_LOOP_FRAMES)
        ][:top],
        "by_file": [
            [file, round(100 * n / total, 2), round(100 * n / python, 2)]
            for file, n in _by_file(own).most_common(top)
            if not any(name.startswith(_LOOP_FRAMES) and name.endswith(f"({file})") for name in own)
        ],
        # frames on (nearly) every stack of the loop's thread are the way in, not a cost;
        # inclusive shares are of all samples
        "inclusive": [
            [name, round(100 * n / total, 2), round(100 * n / total, 2)]
            for name, n in incl.most_common()
            if n < 0.9 * max(incl.values())
        ][:top],
    }


def _by_file(own: collections.Counter[str]) -> collections.Counter[str]:
    files: collections.Counter[str] = collections.Counter()
    for name, n in own.items():
        files[name.rpartition(" (")[2].rstrip(")")] += n
    return files


_LOOP_FRAMES = ("Runner.run ", "run_forever ", "BaseEventLoop.run_forever", "_run_once ")


def _frame_name(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``, paths relative to the repo."""
    func, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    root = str(ROOT) + os.sep
    if file.startswith(root):
        file = file[len(root) :]
    else:
        parts = Path(file).parts
        for i, part in enumerate(parts):  # the standard library and site-packages, shortened
            if part in ("site-packages", "asyncio"):
                file = "/".join(parts[i:])
                break
        else:
            file = Path(file).name
    return f"{func} ({file})"


# --------------------------------------------------------------------------- figures


def _get(d: dict[str, Any], *keys: str, default: float = float("nan")) -> float:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    try:
        return float(d)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def figures(results: list[dict[str, Any]], plan: Plan) -> dict[str, float]:
    by = {r["name"]: r for r in results}
    f: dict[str, float] = {}
    gw = by.get("gateway", {})
    relay = by.get("quickfix-relay", {})
    direct = by.get("direct", {})
    paced = gw.get("phases", {}).get("paced", {})
    flat = gw.get("phases", {}).get("flat", {})
    for path, label in (("order", "in_to_out"), ("report", "report_in_to_out")):
        for q, name in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max")):
            f[f"internal_latency_{label}_{name}_us"] = _get(paced, "internal", path, q)
    for q, name in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max")):
        f[f"internal_latency_in_to_out_flat_{name}_us"] = _get(flat, "internal", "order", q)
        f[f"internal_latency_report_in_to_out_flat_{name}_us"] = _get(flat, "internal", "report", q)
    for q, name in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max")):
        f[f"round_trip_{name}_us"] = _get(paced, "rtt_first_fill_us", q)
        f[f"round_trip_relay_{name}_us"] = _get(relay, "phases", "paced", "rtt_first_fill_us", q)
        f[f"round_trip_direct_{name}_us"] = _get(direct, "phases", "paced", "rtt_first_fill_us", q)
    f["gateway_cpu_us_per_order"] = _get(paced, "sut_cpu_us_per_order")
    f["gateway_cpu_us_per_order_flat"] = _get(flat, "sut_cpu_us_per_order")
    f["relay_cpu_us_per_order_flat"] = _get(relay, "phases", "flat", "sut_cpu_us_per_order")
    f["throughput_orders_per_s"] = _get(flat, "throughput_done_per_s")
    f["throughput_lost_orders"] = _get(flat, "lost")
    f["throughput_relay_orders_per_s"] = _get(relay, "phases", "flat", "throughput_done_per_s")
    f["throughput_direct_orders_per_s"] = _get(direct, "phases", "flat", "throughput_done_per_s")
    f["throughput_ratio_vs_quickfix_relay"] = (
        f["throughput_orders_per_s"] / f["throughput_relay_orders_per_s"]
    )
    # what one core would do at the CPU cost measured: robust when other processes share the core
    f["capacity_orders_per_s"] = 1e6 / f["gateway_cpu_us_per_order_flat"]
    f["capacity_relay_orders_per_s"] = 1e6 / f["relay_cpu_us_per_order_flat"]
    f["capacity_ratio_vs_quickfix_relay"] = f["capacity_orders_per_s"] / f["capacity_relay_orders_per_s"]
    f["throughput_ratio_vs_direct"] = f["throughput_orders_per_s"] / f["throughput_direct_orders_per_s"]
    f["round_trip_p50_ratio_vs_quickfix_relay"] = f["round_trip_p50_us"] / f["round_trip_relay_p50_us"]
    f["round_trip_p50_ratio_vs_direct"] = f["round_trip_p50_us"] / f["round_trip_direct_p50_us"]
    f["checked_violations"] = _get(gw, "phases", "checked", "violations")
    f["peak_rss_mib"] = _get(gw, "peak_rss_mib")
    # CPU of a gateway with no order flow (timers): at 1,000 orders/s, share x 1,000 us per order
    f["gateway_idle_cpu_share"] = _get(gw, "idle_cpu_share")
    aio = by.get("gateway-asyncio", {}).get("phases", {})
    f["asyncio_throughput_orders_per_s"] = _get(aio, "flat", "throughput_done_per_s")
    f["asyncio_cpu_us_per_order"] = _get(aio, "paced", "sut_cpu_us_per_order")
    f["asyncio_internal_latency_in_to_out_p50_us"] = _get(aio, "paced", "internal", "order", "p50")
    f["asyncio_round_trip_p50_us"] = _get(aio, "paced", "rtt_first_fill_us", "p50")
    nj = by.get("gateway-no-journal", {}).get("phases", {})
    f["journal_on_throughput_orders_per_s"] = f["throughput_orders_per_s"]
    f["journal_off_throughput_orders_per_s"] = _get(nj, "flat", "throughput_done_per_s")
    f["journal_on_cpu_us_per_order"] = f["gateway_cpu_us_per_order"]
    f["journal_off_cpu_us_per_order"] = _get(nj, "paced", "sut_cpu_us_per_order")
    f["journal_on_cpu_us_per_order_flat"] = f["gateway_cpu_us_per_order_flat"]
    f["journal_off_cpu_us_per_order_flat"] = _get(nj, "flat", "sut_cpu_us_per_order")
    f["journal_off_internal_latency_in_to_out_p50_us"] = _get(nj, "paced", "internal", "order", "p50")
    f["journal_off_internal_latency_report_in_to_out_p50_us"] = _get(nj, "paced", "internal", "report", "p50")
    f["journal_off_round_trip_p50_us"] = _get(nj, "paced", "rtt_first_fill_us", "p50")
    sc = by.get("gateway-scorecard", {}).get("phases", {})
    f["scorecard_throughput_orders_per_s"] = _get(sc, "flat", "throughput_done_per_s")
    f["scorecard_cpu_us_per_order"] = _get(sc, "paced", "sut_cpu_us_per_order")
    f["scorecard_cpu_us_per_order_flat"] = _get(sc, "flat", "sut_cpu_us_per_order")
    f["scorecard_internal_latency_in_to_out_p50_us"] = _get(sc, "paced", "internal", "order", "p50")
    f["scorecard_internal_latency_in_to_out_p99_us"] = _get(sc, "paced", "internal", "order", "p99")
    f["scorecard_internal_latency_report_in_to_out_p50_us"] = _get(sc, "paced", "internal", "report", "p50")
    f["scorecard_internal_latency_report_in_to_out_p99_us"] = _get(sc, "paced", "internal", "report", "p99")
    f["scorecard_round_trip_p50_us"] = _get(sc, "paced", "rtt_first_fill_us", "p50")
    f["gc_share_of_cpu_flat"] = _get(flat, "gc", "cpu_ms") / 1000 / _get(flat, "sut_cpu_s")
    f["gc_share_of_cpu_paced"] = _get(paced, "gc", "cpu_ms") / 1000 / _get(paced, "sut_cpu_s")
    fs = by.get("gateway-filestore", {}).get("phases", {})
    f["filestore_throughput_orders_per_s"] = _get(fs, "flat", "throughput_done_per_s")
    f["filestore_cpu_us_per_order"] = _get(fs, "paced", "sut_cpu_us_per_order")
    f["filestore_internal_latency_in_to_out_p50_us"] = _get(fs, "paced", "internal", "order", "p50")
    opened = by.get(f"gateway-open-{plan.open_orders}") or by.get(f"scale-open-{plan.open_orders}", {})
    rest = opened.get("phases", {}).get("rest", {})
    n_open = _get(rest, "gateway", "open_parents")
    grown = _get(rest, "sut_rss_kib_after") - _get(rest, "sut_rss_kib_before")
    f["open_orders"] = n_open
    f["bytes_per_open_order"] = grown * 1024 / n_open if n_open else float("nan")
    f["idle_cpu_share_with_open_orders"] = _get(opened, "idle_cpu_share")
    for dim in ("lps", "symbols", "open"):
        costs = [
            _get(r, "phases", "paced", "sut_cpu_us_per_order")
            for r in results
            if r["name"].startswith(f"scale-{dim}-") and "error" not in r
        ]
        costs = [c for c in costs if not math.isnan(c)]
        if len(costs) >= 2:
            f[f"cost_spread_{dim}"] = max(costs) / min(costs)
    return f


TARGETS: list[tuple[str, str, str, float]] = [
    # (figure, text, comparison, bound)
    (
        "internal_latency_in_to_out_p50_us",
        "internal latency order in->child out p50 <= 20 us @1k/s",
        "<=",
        20,
    ),
    (
        "internal_latency_in_to_out_p99_us",
        "internal latency order in->child out p99 <= 100 us @1k/s",
        "<=",
        100,
    ),
    (
        "internal_latency_report_in_to_out_p50_us",
        "internal latency LP report in->OMS report out p50 <= 20 us",
        "<=",
        20,
    ),
    (
        "internal_latency_report_in_to_out_p99_us",
        "internal latency LP report in->OMS report out p99 <= 100 us",
        "<=",
        100,
    ),
    ("gateway_cpu_us_per_order", "gateway CPU <= 60 us per one-child filled order (@1k/s)", "<=", 60),
    ("gateway_cpu_us_per_order_flat", "gateway CPU <= 60 us per one-child filled order (flat out)", "<=", 60),
    ("throughput_orders_per_s", ">= 10,000 orders/s flat out, 4 LP sessions", ">=", 10000),
    ("throughput_lost_orders", "nothing lost flat out", "<=", 0),
    ("throughput_ratio_vs_quickfix_relay", "throughput >= 3x the quickfix relay's", ">=", 3),
    ("capacity_ratio_vs_quickfix_relay", "CPU per order <= 1/3 of the relay's (capacity >= 3x)", ">=", 3),
    ("round_trip_p50_ratio_vs_quickfix_relay", "round trip p50 no worse than the relay's", "<=", 1),
    ("cost_spread_lps", "cost per order within 25% from 1 to 50 LP sessions", "<=", 1.25),
    ("cost_spread_symbols", "cost per order within 25% from 10 to 10,000 symbols", "<=", 1.25),
    ("cost_spread_open", "cost per order within 25% from 100 to 100,000 open orders", "<=", 1.25),
    ("bytes_per_open_order", "memory per open parent order <= 2 KiB", "<=", 2048),
]


def targets(f: dict[str, float]) -> list[dict[str, Any]]:
    out = []
    for key, text, op, bound in TARGETS:
        value = f.get(key, float("nan"))
        if math.isnan(value):
            verdict = "not measured"
        elif (value <= bound) if op == "<=" else (value >= bound):
            verdict = "met"
        else:
            verdict = "NOT met"
        out.append({"figure": key, "target": text, "value": value, "verdict": verdict})
    return out


# --------------------------------------------------------------------------- printing


def _n(v: float, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:,.{digits}f}"


def _quad(d: dict[str, Any]) -> str:
    if not d or not d.get("count"):
        return "n/a"
    return "/".join(_n(_get(d, q), 0 if _get(d, q) >= 100 else 1) for q in ("p50", "p99", "p99.9", "max"))


def markdown_table(results: list[dict[str, Any]]) -> str:
    head = [
        "run",
        "LPs",
        "symbols",
        "store",
        "loop",
        "router",
        "journal",
        "internal order in->child out µs p50/p99/p99.9/max @1k/s",
        "internal LP report in->OMS out µs p50/p99/p99.9/max @1k/s",
        "round trip µs p50/p99/p99.9/max @1k/s",
        "flat out orders/s (lost)",
        "round trip p50 µs flat out",
        "CPU µs/order @1k/s",
        "CPU µs/order flat out",
        "capacity orders/s at one core",
        "peak RSS MiB",
        "report violations",
        "other processes, cores",
    ]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if r.get("group") == "profile":
            continue
        ph = r.get("phases", {})
        paced, flat = ph.get("paced", {}), ph.get("flat", {})
        name = r["name"]
        if "error" in r:
            rows.append(f"| {name} | " + " | ".join(["failed"] + [""] * (len(head) - 2)) + " |")
            continue
        if "rest" in ph:
            rest = ph["rest"]
            n = _get(rest, "gateway", "open_parents")
            grown = (_get(rest, "sut_rss_kib_after") - _get(rest, "sut_rss_kib_before")) * 1024
            idle = 100 * r.get("idle_cpu_share", float("nan"))
            name += f" ({_n(grown / n if n else float('nan'))} B/open order, idle CPU {_n(idle)}%)"
        checked = ph.get("checked", {})
        cells = [
            name,
            str(r.get("lps", "")),
            str(r.get("symbols", "")),
            r.get("store", ""),
            r.get("loop", ""),
            r.get("router", ""),
            r.get("journal", "-"),
            _quad(paced.get("internal", {}).get("order", {})) if r["target"] == "gateway" else "-",
            _quad(paced.get("internal", {}).get("report", {})) if r["target"] == "gateway" else "-",
            _quad(paced.get("rtt_first_fill_us", {})),
            f"{_n(_get(flat, 'throughput_done_per_s'))} ({_n(_get(flat, 'lost'))})" if flat else "n/a",
            _n(_get(flat, "rtt_first_fill_us", "p50")),
            _n(_get(paced, "sut_cpu_us_per_order"), 1),
            _n(_get(flat, "sut_cpu_us_per_order"), 1),
            _n(1e6 / _get(flat, "sut_cpu_us_per_order")),
            _n(r.get("peak_rss_mib", float("nan")), 1),
            _n(_get(checked, "violations")) if checked else "-",
            _n(max((_get(p, "background_cores", default=0.0) for p in ph.values()), default=0.0), 2),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print()
    print(
        f"## fixgw bench ({report['mode']}) — {m['date_utc']}, {m['cpu_model']}, {m['cores']} cores, "
        f"Python {m['python']}, commit {m['git_commit'][:10]}{' (dirty)' if m['git_dirty'] else ''}"
    )
    print()
    print(markdown_table(report["runs"]))
    print()
    print(
        "Other processes, cores: the most CPU that processes outside the benchmark used during a"
        " phase (other work on the machine; figures of a run with a high value are disturbed)."
    )
    print(
        "System under test pinned to its own core: "
        + ("yes" if report["pinned"] else "no")
        + "; journal: [journal] Enabled as the column says (on is the gateway's default)."
    )
    print()
    print("### Targets")
    print()
    print("| target | measured | verdict |")
    print("|---|---|---|")
    for t in report["targets"]:
        print(f"| {t['target']} | {_n(t['value'], 2)} | {t['verdict']} |")
    prof = report.get("profile")
    if prof:
        for phase, data in prof.items():
            if not data.get("samples"):
                continue
            print()
            print(
                f"### Gateway profile, {phase} phase (py-spy, {data['samples']} samples; the event loop's"
                f" own frame, C code and waits: {data['event_loop_self_share']}%; % of the other samples)"
            )
            print()
            print("| self % (of the other samples) | function | | inclusive % (of all) | function |")
            print("|---|---|---|---|---|")
            for (a, _, pa), (b, _, pb) in zip(data["self"][:15], data["inclusive"][:15], strict=False):
                print(f"| {pa} | `{a}` | | {pb} | `{b}` |")
            files = ", ".join(f"{f} {p}%" for f, _, p in data.get("by_file", [])[:10])
            print()
            print(f"Self time by file: {files}")
    print()
    for key, value in report["figures"].items():
        print(f"{key}={'n/a' if math.isnan(value) else round(value, 3)}")


# --------------------------------------------------------------------------- main


def results_text(report: dict[str, Any]) -> str:
    """The JSON file; histogram buckets kept for the paced and flat phases of the main runs."""

    def drop_buckets(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: drop_buckets(x) for k, x in v.items() if k != "buckets_ns"}
        if isinstance(v, list):
            return [drop_buckets(x) for x in v]
        return v

    runs = []
    for run in report.get("runs", []):
        keep = run.get("group") == "main"
        phases = {
            name: phase if keep and name in ("paced", "flat") else drop_buckets(phase)
            for name, phase in run.get("phases", {}).items()
        }
        runs.append({**run, "phases": phases})
    text = json.dumps(_json_safe({**report, "runs": runs}), indent=1)
    # a bucket [low_ns, count] on one line
    return re.sub(r"\[\s+(-?\d+),\s+(-?\d+)\s+\]", r"[\1, \2]", text) + "\n"


def _json_safe(v: Any) -> Any:
    """NaN and infinities as null: the file stays strict JSON."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    return v


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fixgw bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="the short version (a few minutes)")
    parser.add_argument(
        "--only", default="", metavar="NAMES", help="comma-separated runs to do (e.g. gateway,direct)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the gateway")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each run, wait up to this long for other processes to leave the machine idle",
    )
    parser.add_argument(
        "--out", metavar="PATH", help="JSON results (default benchmarks/results/<date>-<mode>.json)"
    )
    parser.add_argument("--native", action="store_true", help="py-spy profiles with C frames (--native)")
    parser.add_argument("--profile-dir", metavar="DIR", help="keep py-spy's raw (collapsed) output here")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    runner = Runner(plan, not args.no_pin, log)
    runner.spy_native = args.native
    runner.spy_keep = Path(args.profile_dir) if args.profile_dir else None
    todo = setups(plan, py_spy=not args.no_profile and bool(runner.py_spy))
    if args.only:
        wanted = {x.strip() for x in args.only.split(",") if x.strip()}
        todo = [s for s in todo if s.name in wanted]
    t0 = time.monotonic()
    results = []
    for setup in todo:
        before = wait_machine_quiet(args.wait_quiet) if args.wait_quiet > 0 else float("nan")
        log(f"{setup.name}: starting ({len(setup.phases)} phases)")
        result = runner.run(setup)
        result["machine_busy_cores_before"] = before
        results.append(result)
    profile = {}
    for r in results:
        if r.get("group") == "profile":
            profile = {k: v.get("profile", {}) for k, v in r.get("phases", {}).items() if "profile" in v}
    f = figures(results, plan)
    info = machine()
    report: dict[str, Any] = {
        "mode": plan.mode,
        "plan": dataclasses.asdict(plan),
        "machine": info,
        "pinned": runner.pin,
        "wall_s": time.monotonic() - t0,
        "runs": results,
        "figures": f,
        "targets": targets(f),
        "profile": profile,
    }
    out = Path(args.out) if args.out else RESULTS / f"{info['date_utc'][:10]}-{plan.mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(results_text(report))
    print_report(report)
    try:
        shown = out.relative_to(ROOT)
    except ValueError:
        shown = out
    print(f"results: {shown} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
