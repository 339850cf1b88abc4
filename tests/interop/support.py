"""Shared pieces of the interop tests: finding the peers, ports, processes and FIX logs.

Everything is found relative to the repository or the running interpreter, never by an
absolute path of one machine. A missing peer skips the test with the reason, unless
REQUIRE_INTEROP=1 (as in CI), where it fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SOH = "\x01"


# --- finding the peers ------------------------------------------------------------------
def unavailable(reason: str) -> NoReturn:
    """Skip for a missing peer; with REQUIRE_INTEROP=1 a missing peer is a failure."""
    if os.environ.get("REQUIRE_INTEROP") == "1":
        pytest.fail(f"REQUIRE_INTEROP=1 but {reason}")
    pytest.skip(reason)


def executor_path() -> Path | None:
    """The QuickFIX C++ example executor: next to the venv's python, else on PATH."""
    beside = Path(sys.executable).parent / "qf-executor"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("qf-executor")
    return Path(found) if found else None


def require_executor() -> Path:
    path = executor_path()
    if path is None:
        unavailable("QuickFIX executor not found (qf-executor beside python or on PATH; `make`)")
    return path


def require_quickfix() -> None:
    if importlib.util.find_spec("quickfix") is None:
        unavailable("the `quickfix` Python binding is not installed (pip extra `interop`)")


def spec_file(begin_string: str) -> Path:
    """The QuickFIX data dictionary for a BeginString (FIX.4.4 -> FIX44.xml)."""
    name = begin_string.replace(".", "")[:5] + ".xml"
    for folder in (REPO.parent / "shared" / "fix-spec", Path(sys.prefix) / "share" / "quickfix"):
        if (folder / name).is_file():
            return folder / name
    unavailable(f"no FIX data dictionary {name} (shared/fix-spec or the quickfix wheel)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# --- FIX messages in logs ---------------------------------------------------------------
@dataclass(frozen=True)
class LoggedMessage:
    """One FIX message from a log: when, which way (if the log says), and its fields."""

    stamp: str
    fields: tuple[tuple[int, str], ...]
    direction: str = ""  # "incoming"/"outgoing" for the executor's screen log

    def get(self, tag: int, default: str | None = None) -> str | None:
        for t, v in self.fields:
            if t == tag:
                return v
        return default

    def __getitem__(self, tag: int) -> str:
        value = self.get(tag)
        if value is None:
            raise KeyError(f"tag {tag} not in {self.text}")
        return value

    @property
    def msg_type(self) -> str:
        return self.get(35, "") or ""

    @property
    def seq(self) -> int:
        return int(self[34])

    @property
    def sender(self) -> str:
        return self.get(49, "") or ""

    @property
    def text(self) -> str:
        return "|".join(f"{t}={v}" for t, v in self.fields)


def parse_fix(raw: str, sep: str = SOH) -> tuple[tuple[int, str], ...]:
    fields = []
    for part in raw.split(sep):
        if not part:
            continue
        tag, _, value = part.partition("=")
        fields.append((int(tag), value))
    return tuple(fields)


# QuickFIX FileLog: "YYYYMMDD-HH:MM:SS.ffffff : 8=FIX.4.4<SOH>9=...<SOH>10=123<SOH>"
_FILE_LOG_LINE = re.compile(r"^(\d{8}-\d\d:\d\d:\d\d(?:\.\d{1,9})?) : (8=FIX.*)$")


def read_message_log(path: Path, *, live: bool = False) -> list[LoggedMessage]:
    """Messages of a QuickFIX-format messages.current.log; every line must match.

    ``live``: the file may be being written, so a missing file is empty and an unfinished
    last line is left for the next read.
    """
    if live and not path.exists():
        return []
    text = path.read_text("latin-1")
    if live and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        match = _FILE_LOG_LINE.match(line)
        assert match, f"{path.name}:{number} is not in QuickFIX log format: {line!r}"
        out.append(LoggedMessage(match.group(1), parse_fix(match.group(2))))
    return out


# QuickFIX ScreenLog (the executor): "<stamp, FIX.4.4:EXECUTOR->CLIENT1, incoming>" then
# "  (8=FIX.4.4<SOH>...)" on the next line
_SCREEN_HEAD = re.compile(r"^<([^,]+), ([^,]+), (incoming|outgoing|event)>$")


def read_screen_log(text: str) -> dict[str, list[LoggedMessage]]:
    """Messages of a QuickFIX ScreenLog, by session ID ("FIX.4.4:EXECUTOR->CLIENT1")."""
    out: dict[str, list[LoggedMessage]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        head = _SCREEN_HEAD.match(line)
        if not head or head.group(3) == "event":
            continue
        body = lines[i + 1].strip()
        if not (body.startswith("(8=FIX") and body.endswith(")")):
            continue
        raw = body[1:-1]
        sep = SOH if SOH in raw else "|"
        out.setdefault(head.group(2), []).append(
            LoggedMessage(head.group(1), parse_fix(raw, sep), head.group(3))
        )
    return out


def read_seqnums(path: Path) -> tuple[int, int]:
    """A QuickFIX-style .seqnums file: "SSSSSSSSSS : TTTTTTTTTT" (next sender, next target)."""
    text = path.read_text()
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    assert match, f"{path.name} is not 'SSSSSSSSSS : TTTTTTTTTT': {text!r}"
    return int(match.group(1)), int(match.group(2))


# --- processes --------------------------------------------------------------------------
class Peer:
    """A subprocess whose output lines are collected by a thread, so a test can wait for one.

    Bounded in time: every wait has a timeout and ``close()`` kills what is left. stdin is a
    pipe for scripts that take commands.
    """

    def __init__(
        self,
        argv: Sequence[str | Path],
        cwd: Path,
        name: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="latin-1",
            bufsize=1,
            env={**os.environ, **(env or {})},
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        """The first output line from index ``start`` on that matches ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    tail = "\n".join(self.lines[-40:])
                    state = "running" if self.proc.poll() is None else f"exit {self.proc.poll()}"
                    raise AssertionError(
                        f"{self.name} ({state}): no line matching {pattern!r} within {timeout}s;"
                        f" last output:\n{tail}"
                    )
                self._cond.wait(min(left, 0.1))

    def mark(self) -> int:
        """The number of lines so far, for ``wait_for(..., start=mark)``."""
        with self._cond:
            return len(self.lines)

    def lines_since(self, start: int = 0) -> list[str]:
        """A copy of the output lines from index ``start`` on, without waiting (for tests
        that must not block, e.g. on an event loop that also runs the other side)."""
        with self._cond:
            return self.lines[start:]

    @property
    def finished(self) -> bool:
        """The process has exited and all its output has been read."""
        return self.proc.poll() is not None and not self._reader.is_alive()

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)
        self._reader.join(timeout=5)

    def wait_exit(self, timeout: float) -> int:
        """The exit status of a process that is ending by itself; kill it if it does not."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise AssertionError(f"{self.name} did not exit within {timeout}s") from None
        self._reader.join(timeout=5)
        return self.proc.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Ask the process to end; kill it if it does not within ``timeout``."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                raise AssertionError(f"{self.name} did not exit within {timeout}s") from None
        self._reader.join(timeout=5)
        return self.proc.returncode

    def close(self) -> None:
        """Kill whatever is left (for ``finally``); never raises."""
        try:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
