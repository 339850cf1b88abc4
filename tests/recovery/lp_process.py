"""The LP simulators as a separate process for the recovery test, recording what they received.

``python -m tests.recovery.lp_process CONFIG.json`` starts an ``LpSimulator`` with the
profile and ports of the config, prints ``ready`` once listening and, on SIGTERM, writes
every order each LP received (ClOrdID, quantity, fills, when it arrived and when it
ended, by the LP's clock) to the config's ``out`` path as JSON, then stops. The test
checks the gateway against this: what reached the LPs, whatever the gateway believes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from simulators.lp import LpSimulator, SimLp, SimOrder

Times = dict[tuple[str, bytes], float]  # (LP, ClOrdID) -> time.time() at the LP


def _record(lp: SimLp, arrivals: Times, ends: Times) -> None:
    on_new_order = lp.on_new_order
    finish = lp._finish
    name = lp.name

    def new_order(msg: Any, now: float) -> None:
        cl = msg.get(11)
        if cl is not None:
            arrivals.setdefault((name, cl), time.time())
        on_new_order(msg, now)

    def finished(o: SimOrder) -> None:
        ends.setdefault((name, o.clordid), time.time())
        finish(o)

    setattr(lp, "on_new_order", new_order)  # noqa: B010 - instance attributes over the methods
    setattr(lp, "_finish", finished)  # noqa: B010


def _dump(sim: LpSimulator, arrivals: Times, ends: Times) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, lp in sim.lps.items():
        seen: set[int] = set()
        for o in lp.orders.values():
            if id(o) in seen:
                continue
            seen.add(id(o))
            inst = o.instrument
            out.append(
                {
                    "lp": name,
                    "cl_ord_id": o.clordid.decode("latin-1"),
                    "symbol": o.symbol,
                    "qty": inst.fmt_qty(o.qty).decode(),
                    "cum": inst.fmt_qty(o.cum).decode(),
                    "status": o.status.decode(),
                    "fills": [
                        [e.decode("latin-1"), inst.fmt_qty(q).decode(), inst.fmt_price(px).decode()]
                        for e, (q, px) in o.fills.items()
                    ],
                    "arrived": arrivals.get((name, o.clordid)),
                    "ended": ends.get((name, o.clordid)),
                }
            )
    return out


async def _main(cfg: dict[str, Any]) -> None:
    sim = LpSimulator(cfg["profile"], ports=cfg["ports"])
    await sim.start()
    arrivals: Times = {}
    ends: Times = {}
    for lp in sim.lps.values():
        _record(lp, arrivals, ends)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    data = _dump(sim, arrivals, ends)
    Path(cfg["out"]).write_text(json.dumps(data))
    await sim.stop()


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[1]).read_text())
    import uvloop

    uvloop.run(_main(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
