"""The audit log of admin changes: one JSON object per line, appended, never rewritten.

Each record says when (UTC ISO time and epoch seconds), who (the token's fingerprint and
the remote address), what (the action and its target), and the state before and after.
A record is written (one ``write`` on an O_APPEND descriptor, so lines never interleave)
before the change is applied; if it cannot be written, the change is refused. The file is
fsynced off the event loop afterwards, so an admin change never stalls the order path on
the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Any

import orjson


class AuditLog:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._syncs: set[asyncio.Future[None]] = set()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)

    def write(
        self, who: dict[str, Any], action: str, target: str, before: Any, after: Any, now: float
    ) -> None:
        """Append one record; raises OSError if it could not be written."""
        if self._fd is None:
            self.open()
        assert self._fd is not None
        record = {
            "time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="microseconds"),
            "ts": now,
            "who": who,
            "action": action,
            "target": target,
            "before": before,
            "after": after,
        }
        line = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS) + b"\n"
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"audit log {self.path}: short write")
        self._sync_later()

    def _sync_later(self) -> None:
        fd = self._fd
        if fd is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            os.fsync(fd)
            return
        fut = loop.run_in_executor(None, os.fsync, fd)
        self._syncs.add(fut)
        fut.add_done_callback(self._syncs.discard)

    def tail(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last records, newest first (the console shows them)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 256 * 1024))
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in reversed(lines):
            if len(out) >= limit:
                break
            with contextlib.suppress(orjson.JSONDecodeError):
                out.append(orjson.loads(line))
        return out

    async def close(self) -> None:
        if self._syncs:
            await asyncio.gather(*self._syncs, return_exceptions=True)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
