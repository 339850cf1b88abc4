"""FIX message and event logs in the QuickFIX text format.

One pair of files per session under FileLogPath, named like QuickFIX's:
``FIX.4.4-FIXGW-OMS1.messages.current.log`` (``YYYYMMDD-HH:MM:SS.ffffff : <message>``,
inbound and outbound interleaved as they happened) and ``...event.current.log``
(``YYYYMMDD-HH:MM:SS.ffffff : <text>``). Lines are buffered and written once per
event-loop callback by ``flush()``, so logging costs the order path one list append.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from gateway.fix.timeutil import utc_timestamp


def log_file_prefix(begin_string: str, sender: str, target: str, qualifier: str | None) -> str:
    parts = [begin_string, sender, target] + ([qualifier] if qualifier else [])
    return "-".join(parts)


class FileLog:
    """Appends session traffic and events to the QuickFIX-style log files."""

    def __init__(self, directory: str | Path, prefix: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        self.messages_path = self.directory / f"{prefix}.messages.current.log"
        self.events_path = self.directory / f"{prefix}.event.current.log"
        self._messages_fd = os.open(self.messages_path, flags, 0o644)
        self._events_fd = os.open(self.events_path, flags, 0o644)
        self._messages: list[bytes] = []
        self._events: list[bytes] = []

    def __call__(self, kind: str, data: bytes | str) -> None:
        stamp = utc_timestamp(time.time(), 6)
        if kind == "event":
            text = data.encode("utf-8", "replace") if isinstance(data, str) else data
            self._events.append(stamp + b" : " + text + b"\n")
        else:
            raw = data if isinstance(data, bytes) else data.encode()
            self._messages.append(stamp + b" : " + raw + b"\n")

    def flush(self) -> None:
        if self._messages:
            os.write(self._messages_fd, b"".join(self._messages))
            self._messages.clear()
        if self._events:
            os.write(self._events_fd, b"".join(self._events))
            self._events.clear()

    def close(self) -> None:
        if self._messages_fd < 0:
            return
        self.flush()
        os.close(self._messages_fd)
        os.close(self._events_fd)
        self._messages_fd = self._events_fd = -1


class NullLog:
    """A log that keeps nothing (LogMessages = false)."""

    def __call__(self, kind: str, data: bytes | str) -> None:
        """Discard."""

    def flush(self) -> None:
        """Nothing buffered."""

    def close(self) -> None:
        """Nothing open."""
