"""The gateway's garbage-collector policy: what the order path keeps is not walked again."""

from __future__ import annotations

import asyncio
import gc

from gateway.app import tenure


def test_tenure_freezes_what_survived_so_no_collection_walks_it() -> None:
    kept: list[list[int]] = []

    async def main() -> None:
        task = asyncio.get_running_loop().create_task(tenure(0.01))
        kept.extend([i] for i in range(1000))  # long-lived, like the book's orders
        await asyncio.sleep(0.05)
        task.cancel()

    enabled = gc.isenabled()
    gc.disable()  # no collection meanwhile: only the tenure may move them
    try:
        asyncio.run(main())
        young = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert not any(id(o) in young for o in kept)
        assert gc.get_count()[0] < 1000  # the young generation's count started again
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
