"""The application's markout timer: what is due is matured a slice at a time, all of it in the end."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.app import MARKOUT_SLICE_S, GatewayApplication
from tests.integration.gwkit import free_port, gateway_settings


def _app_with_due_markouts(tmp: Path, fills: int) -> GatewayApplication:
    """An application whose scorecard has ``fills`` fills 2 ms apart, all horizons long past."""
    app = GatewayApplication(gateway_settings(tmp, free_port(), {"LP_A": free_port()}))
    app.mid_price = lambda symbol, now: 100.0  # type: ignore[method-assign]
    t0 = time.time() - 100
    for i in range(fills):
        cid = b"S%d" % i
        app.scorecard.on_sent(cid, "LP_A", "ACME", 1, 100, t0 + i * 0.002, bid=99.99, ask=100.01)
        app.scorecard.on_fill(cid, 100, 100.0, t0 + i * 0.002)
    return app


def test_a_callback_matures_only_the_markouts_of_one_slice(tmp_path: Path) -> None:
    app = _app_with_due_markouts(tmp_path, 50)  # first horizons due over 100 ms
    card = app.scorecard
    matured: list[tuple[float, int]] = []
    mature = card.mature

    def counted(now: float, mid_of: object) -> int:
        n = mature(now, mid_of)  # type: ignore[arg-type]
        matured.append((now, n))
        return n

    card.mature = counted  # type: ignore[method-assign]
    calls = 0
    while (first := card.next_markout()) is not None:
        app._mature_markouts()  # no loop here: the next slice is called by hand
        calls += 1
        upto, n = matured[-1]
        assert upto <= first + MARKOUT_SLICE_S and 1 <= n <= MARKOUT_SLICE_S / 0.002 + 1
        after = card.next_markout()
        assert after is None or after > upto  # everything due in the slice, nothing after it
    assert sum(n for _, n in matured) == 150  # three horizons of 50 fills
    assert calls >= 150 / (MARKOUT_SLICE_S / 0.002 + 1)  # in slices, not at once
    assert [t for t, _ in matured] == sorted(t for t, _ in matured)  # the scorecard's times only grow


def test_on_a_loop_the_slices_follow_each_other_until_nothing_is_due(tmp_path: Path) -> None:
    app = _app_with_due_markouts(tmp_path, 50)

    async def main() -> None:
        app._schedule_markouts()
        for _ in range(500):
            await asyncio.sleep(0.01)
            if app.scorecard.next_markout() is None:
                return

    asyncio.run(main())
    assert app.scorecard.next_markout() is None


def test_a_fill_between_two_slices_does_not_defer_the_next_to_a_later_tick(tmp_path: Path) -> None:
    app = _app_with_due_markouts(tmp_path, 50)  # a backlog due 100 s ago
    card = app.scorecard
    slices: list[float] = []
    mature = card.mature

    def counted(now: float, mid_of: object) -> int:
        slices.append(now)
        return mature(now, mid_of)  # type: ignore[arg-type]

    card.mature = counted  # type: ignore[method-assign]

    async def main() -> None:
        app._mature_markouts()  # the first slice; the next one queued
        app._schedule_markouts()  # what a fill does meanwhile
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert len(slices) >= 2
