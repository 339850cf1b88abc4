"""`fixgw demo` (what `make run` starts): LP simulators, the gateway and an OMS flow.

Three processes talking FIX over loopback, as in production: the LP simulator
(``config/lps.toml``), the gateway (``config/gateway.toml``) and the OMS simulator
(``config/oms.toml``). Their output is shown interleaved, each line prefixed with who
said it; the gateway prints a status line (orders, fills per LP, rejects, average price
vs arrival) every few seconds. Ctrl-C (or ``--duration``) stops the OMS, then the
gateway (which logs its sessions out), then the LPs, and prints the last figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Child:
    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self._relay: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            "-m",
            "gateway.cli",
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,  # Ctrl-C reaches us; we stop the children in order
        )
        self._relay = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            print(f"[{self.name:>3}] {line}", flush=True)

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self, timeout: float = 8.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self._relay is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._relay, 2)
        return self.proc.returncode


async def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo: timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def demo(args: argparse.Namespace) -> int:
    busy = [p for p in (9876, 9881, 9882, 9883, 9884) if _port_open(p)]
    if busy:
        print(f"demo: ports {busy} are already in use (another demo or gateway running?)", file=sys.stderr)
        return 2
    lps = Child("lp", ["sim-lp", "--config", args.lps])
    # the demo's gateway keeps its stores, logs and journal apart and starts afresh each time
    state = ROOT / "state" / "demo"
    shutil.rmtree(state, ignore_errors=True)
    gw = Child(
        "gw",
        [
            "run",
            "--config",
            args.gateway,
            "--state-dir",
            str(state),
            "--status-every",
            str(args.status_every),
        ],
    )
    oms = Child(
        "oms", ["sim-oms", "--config", args.oms, "--orders", str(args.orders), "--rate", str(args.rate)]
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        await lps.start()
        await _wait(lambda: all(_port_open(p) for p in (9881, 9882, 9883, 9884)), 20, "the LP simulator")
        await gw.start()
        await _wait(
            lambda: (
                sum(gw.saw(f"logon: {lp}") for lp in ("LP_A", "LP_B", "LP_C", "LP_D")) == 4 or not gw.running
            ),
            30,
            "the gateway to log on to the LPs",
        )
        if not gw.running:
            print("demo: the gateway stopped", file=sys.stderr)
            return 1
        await oms.start()
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not gw.running or not lps.running:
                print("demo: a process stopped unexpectedly", file=sys.stderr)
                code = 1
                break
            await asyncio.sleep(0.2)
    finally:
        oms_code = await oms.stop()
        await gw.stop()
        await lps.stop()
    if oms_code not in (None, 0, -signal.SIGINT, 130):
        code = code or 1
    print(f"demo: stopped (OMS simulator exit status {oms_code})", flush=True)
    return code


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("demo", help="LP simulators + gateway + OMS flow (what `make run` starts)")
    p.add_argument("--gateway", default="config/gateway.toml", metavar="PATH")
    p.add_argument("--lps", default="config/lps.toml", metavar="PATH")
    p.add_argument("--oms", default="config/oms.toml", metavar="PATH")
    p.add_argument("--orders", type=int, default=100_000, help="orders the OMS sends (default: many)")
    p.add_argument("--rate", type=float, default=20.0, help="orders per second")
    p.add_argument("--status-every", type=float, default=2.0, help="seconds between gateway status lines")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = Ctrl-C)")
    p.set_defaults(handler=lambda a: asyncio.run(demo(a)))
