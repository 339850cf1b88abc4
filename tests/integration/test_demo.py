"""`make run` is `fixgw demo`: three processes over FIX; a short run must trade cleanly."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = (9876, 9881, 9882, 9883, 9884)


def _busy(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_runs_trades_and_stops_cleanly() -> None:
    if any(_busy(p) for p in PORTS):
        pytest.skip(f"the demo's ports {PORTS} are in use (a `make run` is running?)")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "demo",
            "--duration",
            "8",
            "--rate",
            "40",
            "--status-every",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-2000:]
    for lp in ("LP_A", "LP_B", "LP_C", "LP_D"):
        assert f"logon: {lp}" in out
    assert "[oms] violations 0" in out
    final = re.search(r"final: orders (\d+) \(open (\d+), filled (\d+)", out)
    assert final, out[-2000:]
    orders, still_open, filled = (int(g) for g in final.groups())
    assert orders > 100 and filled > 0 and still_open == 0
    assert "fills per LP LP_A:" in out and "avg px vs arrival" in out
    assert "Traceback" not in out
    assert "demo: stopped (OMS simulator exit status 0)" in out
