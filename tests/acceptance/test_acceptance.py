"""QuickFIX's session-level acceptance definitions, run against our acceptor over TCP.

All definitions run concurrently once (the slowest, 6_SendTestRequest, waits for
heartbeat timeouts for about 35 s); each definition is then its own test case.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.acceptance.runner import (
    ACCEPTANCE_DIR,
    KNOWN_DIFFERENCES,
    Result,
    definition_files,
    run_all,
)

FILES = definition_files() if ACCEPTANCE_DIR.exists() else []
pytestmark = pytest.mark.skipif(
    not FILES, reason=f"acceptance definitions not found in {ACCEPTANCE_DIR}"
)


@pytest.fixture(scope="module")
def results() -> dict[str, Result]:
    return {r.name: r for r in asyncio.run(run_all(FILES))}


def test_all_definitions_present() -> None:
    assert len(list((ACCEPTANCE_DIR / "quickfixj-fix44").glob("*.def"))) == 65
    assert len(list((ACCEPTANCE_DIR / "extra").glob("*.def"))) >= 3


@pytest.mark.parametrize("name", [p.name for p in FILES])
def test_definition(name: str, results: dict[str, Result]) -> None:
    result = results[name]
    if name in KNOWN_DIFFERENCES:
        pytest.xfail(KNOWN_DIFFERENCES[name])
    assert result.passed, result.detail
