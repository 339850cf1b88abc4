"""One live gateway (LP simulators, OMS, HTTP server) shared by the ops tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.kit import LiveGateway


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    tmp: Path = tmp_path_factory.mktemp("ops")
    with LiveGateway(tmp) as gw:
        gw.seed_scores(per_lp=6)
        yield gw
