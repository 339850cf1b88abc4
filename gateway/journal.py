"""The journal: an append-only record of every order, child order, report, decision and admin change.

What it is for: best-execution evidence (what was decided, with which scores), crash
recovery (``gateway.recovery`` rebuilds the order book, the lost reports and the scorecard
from it), and history (``fixgw report``, ``fixgw backtest``). What it must never do: slow
the order path more than it must (a record is serialised into a buffer in memory; the
buffer is copied once per event-loop callback into the day file's shared memory mapping:
no system call, the page cache has it at once), or fall behind the FIX
stores: ``Engine.flush`` calls :meth:`JournalRecorder.flush` before it writes any session
store, so nothing a store says was received or sent is missing from the journal.

Storage (chosen by ``benchmarks/journal.py``; see docs/journal.md for the numbers): one
JSON-Lines file per UTC day, ``journal-YYYYMMDD.jsonl``, plus a sparse index
``journal-YYYYMMDD.idx``. An append-only file with our own group commit costs a quarter
to a sixth of what SQLite in WAL mode costs per record on the order path (1.4-3.5 us
against 8-15 us with synchronous=NORMAL, serialising included), its crash semantics are
ours to state (below), and any tool reads it (``jq``, ``grep``, pandas).

The open day file is mapped ``MAP_SHARED``, ``MAP_CHUNK`` bytes at a time, the file
extended in zeros to the end of the mapping: a page of a shared file mapping is the page
cache's, so a group copied into it survives ``kill -9`` of the process like a ``write``
would. While a gateway runs (and after a crash, until the next start) the file ends in
zeros after the last group; readers stop there, the writer cuts them off at close/open.

Group commit: the records of one flush are copied into the mapping, followed by a
commit line ``{"k":"commit","g":G,"n":N,"crc":C,"t":T}`` where C is the CRC-32 of the N
record lines (bytes, newlines included). A reader keeps a group only when its commit line
is there and matches: a group torn by ``kill -9`` or a power cut is ignored as a whole, so
the journal is always a sequence of whole callbacks. On opening a file for appending, a
torn tail is cut off. fsync policy: ``always`` (after every group, on the loop),
``interval`` (a background thread every FsyncIntervalMs; the default), ``never``.

The index file has lines ``time,offset,group``: the start of a group at most once per
second, so that a reader can seek to a time; it is advisory (a reader checks the offset).

Record kinds (every record has ``k`` = kind and ``t`` = UNIX time in seconds; bytes from
FIX are latin-1 strings; quantities and prices of orders are exact integer units of the
instrument, ``qty_scale`` / ``price_scale`` in the ``start`` record; scorecard inputs are
floats, as the scorecard was given them):

- ``start``: a process started (after recovery): ``pid``, ``schema``, ``id_prefix``,
  ``lps``, ``instruments``, ``scorecard`` (settings), ``router``, ``recovered`` (counts).
- ``session``: logon / logout / start of a session: ``session``, ``role``, ``event``,
  ``epoch`` (the store's creation time), ``next_in``, ``next_out``.
- ``in``: an application message received: ``session`` (Name), ``role`` (oms | lp),
  ``seq`` (MsgSeqNum), ``epoch``, ``msg_type``, ``raw`` (the whole frame). LP market data
  is not journaled.
- ``out``: an application message sent (or stored for a logged-out session): ``session``,
  ``role``, ``seq``, ``epoch``, ``msg_type``, ``body`` (without the header), ``child``.
- ``parent``: the full state of a parent order after it changed (the last one wins).
- ``child``: the full state of a child order after it changed, its fills included.
- ``reject``: a NewOrderSingle refused at entry (risk or checks): ``session``,
  ``cl_ord_id``, ``symbol``, ``side``, ``qty``, ``ord_type``, ``reason`` (OrdRejReason),
  ``text``.
- ``decision``: a routing decision with the scores that drove it: ``order_id``,
  ``symbol``, ``router``, ``profile``, ``available``, ``attempt``, ``qty`` (available, as
  a float), ``typical``, ``candidates`` ([lp, eligible, why, score]), ``children``
  ([lp, qty, price, tif]).
- ``score``: one input of the scorecard, exactly as it was given: ``ev`` = sent | answer |
  fill | done | mature, with the arguments (``child``, ``lp``, ``symbol``, ``side``,
  ``qty``, ``bid``, ``ask``, ``typical``, ``last_look``, ``price``, ``rejected``,
  ``mids``). Replaying them through a ``Scorecard`` rebuilds it exactly.
- ``admin``: ``what`` = kill (``scope``, ``engaged``, ``reason``) | weights
  (``profile``, ``weights``).
- ``checkpoint``: marks records that repeat the state of open orders at the start of a
  file (rotation, start after recovery); ``open`` = how many parents follow.
- ``commit``: closes a group (see above).
"""

from __future__ import annotations

import calendar
import contextlib
import mmap
import os
import re
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from gateway.orders import CHILD_TERMINAL, ChildOrder, OrderBook, Out, ParentOrder

SCHEMA_VERSION: Final = 1
FSYNC_POLICIES: Final = ("always", "interval", "never")
_COMMIT_PREFIX: Final = b'{"k":"commit"'
_FILE_RE: Final = re.compile(r"^journal-(\d{8})\.jsonl$")
#: bytes of a day file mapped (and the file extended by, in zeros) at a time
MAP_CHUNK: Final = 8 << 20
_MARKET_DATA: Final = (b"W", b"X", b"Y")
_LP_JOURNALED: Final = (b"8", b"9", b"j", b"3")  # reports, cancel rejects, rejects

Record = dict[str, Any]


class JournalConfigError(ValueError):
    """A bad [journal] setting (the text names the file, the key and what is allowed)."""


@dataclass(frozen=True)
class JournalSettings:
    """``[journal]`` of the gateway's TOML."""

    directory: str
    enabled: bool = True
    fsync: str = "interval"
    fsync_interval_ms: float = 50.0
    snapshot_every_s: float = 10.0  # scorecard snapshot for recovery (0 = only at stop)
    recover: bool = True  # rebuild orders and scorecard from the journal at start


def parse_journal_settings(d: Mapping[str, Any], source: str, state_dir: str) -> JournalSettings:
    """[journal] Enabled, Dir, Fsync, FsyncIntervalMs, SnapshotEvery, Recover."""
    allowed = {"Enabled", "Dir", "Fsync", "FsyncIntervalMs", "SnapshotEvery", "Recover"}
    if not isinstance(d, Mapping):
        raise JournalConfigError(f"{source}: [journal] must be a table")
    for key in d:
        if key not in allowed:
            raise JournalConfigError(
                f"{source}: [journal] {key}: unknown key; allowed: {', '.join(sorted(allowed))}"
            )

    def flag(key: str, default: bool) -> bool:
        value = d.get(key, default)
        if not isinstance(value, bool):
            raise JournalConfigError(f"{source}: [journal] {key}: {value!r}; allowed: true, false")
        return value

    def number(key: str, default: float) -> float:
        value = d.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise JournalConfigError(f"{source}: [journal] {key}: {value!r}; allowed: a number >= 0")
        return float(value)

    fsync = d.get("Fsync", "interval")
    if fsync not in FSYNC_POLICIES:
        raise JournalConfigError(
            f"{source}: [journal] Fsync: {fsync!r}; allowed: {', '.join(FSYNC_POLICIES)}"
        )
    directory = d.get("Dir", str(Path(state_dir) / "journal"))
    if not isinstance(directory, str) or not directory:
        raise JournalConfigError(f"{source}: [journal] Dir: {directory!r}; allowed: a path")
    path = Path(directory)
    if not path.is_absolute():
        path = Path(state_dir) / path
    return JournalSettings(
        str(path),
        enabled=flag("Enabled", True),
        fsync=str(fsync),
        fsync_interval_ms=number("FsyncIntervalMs", 50.0),
        snapshot_every_s=number("SnapshotEvery", 10.0),
        recover=flag("Recover", True),
    )


# --------------------------------------------------------------------------- files


def day_of(t: float) -> str:
    """The UTC day of a UNIX time, YYYYMMDD (the journal rotates on it)."""
    return time.strftime("%Y%m%d", time.gmtime(t))


def file_for(directory: str | Path, day: str) -> Path:
    return Path(directory) / f"journal-{day}.jsonl"


def journal_files(directory: str | Path) -> list[Path]:
    """The day files of a journal directory, oldest first."""
    d = Path(directory)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if _FILE_RE.match(p.name))


def file_day(path: Path) -> str:
    m = _FILE_RE.match(path.name)
    return m.group(1) if m else ""


@dataclass(slots=True)
class Group:
    """One committed group: its number, where it starts and ends in the file, its records.

    ``lines`` are the (start, end) offsets of its record lines in ``data`` (the file's
    bytes); ``records`` are parsed unless the reader asked for lines only.
    """

    g: int
    start: int
    end: int
    t: float
    records: list[Record]
    lines: list[tuple[int, int]]
    data: bytes

    def kind_is(self, line: tuple[int, int], kind: bytes) -> bool:
        """Whether a record line is of ``kind`` (b"score", ...), without parsing it."""
        return self.data.startswith(b'{"k":"' + kind + b'"', line[0])

    def parse(self, line: tuple[int, int]) -> Record:
        rec: Record = orjson.loads(self.data[line[0] : line[1]])
        return rec


def read_groups(path: str | Path, start: int = 0, *, parse: bool = True) -> Iterator[Group]:
    """The whole groups of a day file from byte ``start`` (a group boundary) on.

    Stops at the first torn or corrupt group: nothing after it was committed in order.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return
    yield from groups_in(data, start, parse=parse)


def groups_in(data: bytes, start: int = 0, *, parse: bool = True) -> Iterator[Group]:
    """The whole groups in the bytes of a day file (see ``read_groups``)."""
    pos = group_start = start
    lines: list[tuple[int, int]] = []
    find = data.find
    loads = orjson.loads
    while True:
        nl = find(b"\n", pos)
        if nl < 0:
            return  # a torn last line (or nothing more)
        if data.startswith(_COMMIT_PREFIX, pos):
            try:
                commit = loads(data[pos:nl])
                ok = (
                    commit.get("n") == len(lines)
                    and commit.get("crc") == zlib.crc32(data[group_start:pos]) & 0xFFFFFFFF
                )
            except orjson.JSONDecodeError:
                ok = False
            if not ok:
                return
            records = [loads(data[a:b]) for a, b in lines] if parse else []
            g, t = int(commit.get("g", 0)), float(commit.get("t", 0.0))
            yield Group(g, group_start, nl + 1, t, records, lines, data)
            lines = []
            group_start = nl + 1
        else:
            lines.append((pos, nl))
        pos = nl + 1


def valid_end(path: str | Path, start: int = 0) -> tuple[int, int]:
    """(end of the last whole group, its group number) of a day file."""
    end, g = start, 0
    for group in read_groups(path, start, parse=False):
        end, g = group.end, group.g
    return end, g


def read_index(path: str | Path) -> list[tuple[float, int, int]]:
    """(time, offset, group) entries of a day file's index; torn lines are skipped."""
    idx = Path(path).with_suffix(".idx")
    out: list[tuple[float, int, int]] = []
    try:
        text = idx.read_text("latin-1")
    except FileNotFoundError:
        return out
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        parts = line.strip().split(",")
        if len(parts) != 3:
            break
        try:
            out.append((float(parts[0]), int(parts[1]), int(parts[2])))
        except ValueError:
            break
    return out


def read_records(
    directory: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    kinds: frozenset[str] | None = None,
) -> Iterator[Record]:
    """Committed records of a journal directory in order, optionally within [start, end)."""
    for path in journal_files(directory):
        day = file_day(path)
        if start is not None and day < day_of(start) and day != "":
            continue
        if end is not None and day > day_of(end):
            continue
        offset = 0
        if start is not None:
            for t, off, _ in read_index(path):
                if t < start - 1.0:
                    offset = off
                else:
                    break
            if offset > path.stat().st_size:
                offset = 0
        for group in read_groups(path, offset):
            for rec in group.records:
                t = rec.get("t", 0.0)
                if start is not None and t < start:
                    continue
                if end is not None and t >= end:
                    continue
                if kinds is None or rec.get("k") in kinds:
                    yield rec


# --------------------------------------------------------------------------- the writer


class Journal:
    """Buffered, group-committed, day-rotated writer of records (see the module docstring).

    ``append`` serialises a record into the buffer; ``flush`` writes the buffer as one
    group. ``on_rotate`` returns records to write at the start of a new day's file (the
    open orders).
    """

    def __init__(
        self,
        directory: str | Path,
        fsync: str = "interval",
        *,
        clock: Callable[[], float] = time.time,
        index_every_s: float = 1.0,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {FSYNC_POLICIES}, not {fsync!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.clock = clock
        self.index_every_s = index_every_s
        # records serialised as they come (bytes are not tracked by the garbage collector:
        # a burst of records does not make the collector scan the order book more often)
        self.buffer: list[bytes] = []
        self._dumps = orjson.dumps
        self.on_rotate: Callable[[], list[Record]] | None = None
        self.groups = 0  # committed by this process
        self.records = 0
        self.bytes = 0
        self.g = 0  # number of the last committed group (continues across restarts)
        self.day = ""
        self.path: Path | None = None
        self.offset = 0  # end of the last committed group
        self._fd = -1
        self._idx_fd = -1
        self._mm: mmap.mmap | None = None
        self._map_start = self._map_end = 0  # the file's bytes the mapping covers
        self._day_start = self._day_end = 0.0  # UNIX times of the open file's day
        self._last_index = float("-inf")
        self._unsynced = False
        self._lock = threading.Lock()
        self._crash_after = int(os.environ.get("FIXGW_FAULT_JOURNAL_CRASH_AFTER", "0") or 0)
        last = journal_files(self.directory)
        if last:
            end, self.g = _whole_end(last[-1])
            if last[-1].stat().st_size > end:  # a crash left zeros (or a torn group) after it
                os.truncate(last[-1], end)

    # --- files -------------------------------------------------------------------------
    def _open(self, day: str) -> None:
        """Open the day's file for appending: a torn tail and the zeros after it cut off first."""
        self._close_files()
        path = file_for(self.directory, day)
        end = 0
        if path.exists():
            end, g = _whole_end(path)
            if g:
                self.g = max(self.g, g)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(fd, end)  # what follows the last whole group goes (torn group, zeros)
        idx_path = path.with_suffix(".idx")
        idx_fd = os.open(idx_path, os.O_RDWR | os.O_CREAT, 0o644)
        good = b"".join(b"%.6f,%d,%d\n" % (t, off, g) for t, off, g in read_index(path) if off < end)
        os.ftruncate(idx_fd, 0)
        os.pwrite(idx_fd, good, 0)
        os.lseek(idx_fd, len(good), os.SEEK_SET)
        self._fd, self._idx_fd = fd, idx_fd
        self.path, self.day, self.offset = path, day, end
        start = calendar.timegm(time.strptime(day, "%Y%m%d"))
        self._day_start, self._day_end = float(start), float(start + 86_400)
        self._last_index = float("-inf")
        self._map(end, 0)

    def _map(self, offset: int, need: int) -> None:
        """Map the file from the page of ``offset`` on, for ``need`` bytes at least.

        The file is extended (in zeros) to the end of the mapping: a page of a shared file
        mapping is the page cache's, so what is copied into it is the kernel's at once, and
        survives ``kill -9`` of the process like a ``write`` would.
        """
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        size = max(MAP_CHUNK, offset - start + need)
        size += -size % mmap.ALLOCATIONGRANULARITY
        os.ftruncate(self._fd, start + size)
        if self._mm is not None:
            self._mm.close()
        self._mm = mmap.mmap(self._fd, size, offset=start)
        self._map_start, self._map_end = start, start + size

    def _close_files(self) -> None:
        with self._lock:
            if self._mm is not None:
                self._mm.close()
                self._mm = None
            fd = self._fd
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self.offset)  # the zeros after the last group go
            for fd in (self._fd, self._idx_fd):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        if self._unsynced:
                            os.fsync(fd)
                    os.close(fd)
            self._fd = self._idx_fd = -1
            self._unsynced = False

    def open(self, now: float | None = None) -> None:
        """Open today's file now (else the first flush does)."""
        self._open(day_of(self.clock() if now is None else now))

    # --- writing -----------------------------------------------------------------------
    def append(self, record: Record) -> None:
        self.buffer.append(self._dumps(record))

    def extend(self, records: list[Record]) -> None:
        dumps = self._dumps
        self.buffer.extend([dumps(r) for r in records])

    def flush(self) -> int:
        """Write what is buffered as one group; returns the number of records written.

        The group is copied into the shared mapping of the file: no system call, and the
        bytes are the kernel's (the page cache) before this returns.
        """
        buf = self.buffer
        if not buf:
            return 0
        now = self.clock()
        if not self._day_start <= now < self._day_end or self._fd < 0:
            day = day_of(now)
            rotating = self.day != "" and day != self.day
            self._open(day)
            if rotating and self.on_rotate is not None:
                self.extend(self.on_rotate())
        self.buffer = []
        n = len(buf)
        buf.append(b"")
        data = b"\n".join(buf)
        g = self.g + 1
        commit = self._dumps({"k": "commit", "t": now, "g": g, "n": n, "crc": zlib.crc32(data)})
        start = self.offset
        end = start + len(data) + len(commit) + 1
        if end > self._map_end:
            self._map(start, end - start)
        mm = self._mm
        assert mm is not None
        base = self._map_start
        mid = start + len(data)
        mm[start - base : mid - base] = data
        mm[mid - base : end - base] = commit + b"\n"
        self.g = g
        self.offset = end
        self.groups += 1
        self.records += n
        self.bytes += end - start
        if now - self._last_index >= self.index_every_s:
            self._last_index = now
            os.write(self._idx_fd, b"%.6f,%d,%d\n" % (now, start, g))
        if self.fsync == "always":
            os.fsync(self._fd)
        else:
            self._unsynced = True
        if self._crash_after and self.groups >= self._crash_after:
            # fault injection for recovery tests: die between the journal and the FIX stores
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    def sync(self) -> None:
        """fsync what was written (the interval policy calls this from a thread)."""
        with self._lock:
            if not self._unsynced or self._fd < 0:
                return
            self._unsynced = False
            fds = (self._fd, self._idx_fd)
        for fd in fds:
            with contextlib.suppress(OSError):  # closed by a rotation meanwhile: synced there
                os.fsync(fd)

    def close(self) -> None:
        self.flush()
        self._close_files()

    @property
    def position(self) -> tuple[str, int]:
        """(file name, offset) just after the last committed group."""
        return (self.path.name if self.path is not None else "", self.offset)


def _whole_end(path: Path) -> tuple[int, int]:
    """(end of the last whole group, its number) of a day file, from its index's last entry."""
    start = 0
    size = path.stat().st_size
    for _, off, _ in read_index(path):
        if off <= size:
            start = off
    end, g = valid_end(path, start)
    if end == start and start:
        end, g = valid_end(path, 0)
    return end, g


# --------------------------------------------------------------------------- records


def _s(b: bytes | None) -> str | None:
    return None if b is None else b.decode("latin-1")


def parent_record(p: ParentOrder, now: float) -> Record:
    """The full state of a parent order (children apart)."""
    return {
        "k": "parent",
        "t": now,
        "order_id": p.order_id.decode("latin-1"),
        "session": p.session,
        "cl_ord_id": p.cl_ord_id.decode("latin-1"),
        "orig_cl_ord_id": _s(p.orig_cl_ord_id),
        "symbol": p.inst.symbol,
        "side": p.side.decode("latin-1"),
        "ord_type": p.ord_type.decode("latin-1"),
        "tif": p.tif.decode("latin-1"),
        "qty": p.qty,
        "price": p.price,
        "created": p.created,
        "account": _s(p.account),
        "profile": p.profile,
        "arrival_mid": p.arrival_mid,
        "state": p.state,
        "cum_qty": p.cum_qty,
        "notional": p.notional,
        "attempts": p.attempts,
        "pending_cl_ord_id": _s(p.pending_cl_ord_id),
        "pending_qty": p.pending_qty,
        "pending_price": p.pending_price,
        "cancel_reason": p.cancel_reason,
        "text": p.text,
        "late_fills": p.late_fills,
        "route_epoch": p.route_epoch,
    }


def child_record(c: ChildOrder, now: float, lp_seq: int | None = None) -> Record:
    """The full state of a child order with its fills [exec_id, qty, price, parent_exec_id, busted]."""
    return {
        "k": "child",
        "t": now,
        "child_id": c.child_id.decode("latin-1"),
        "order_id": c.parent.order_id.decode("latin-1"),
        "lp": c.lp,
        "qty": c.qty,
        "price": c.price,
        "tif": c.tif.decode("latin-1"),
        "sent_at": c.sent_at,
        "state": c.state,
        "cum_qty": c.cum_qty,
        "notional": c.notional,
        "lp_order_id": c.lp_order_id.decode("latin-1"),
        "acked_at": c.acked_at,
        "first_fill_at": c.first_fill_at,
        "done_at": c.done_at,
        "cancel_sent": c.cancel_sent,
        "text": c.text,
        "lp_seq": lp_seq,
        "fills": [
            [f.exec_id.decode("latin-1"), f.qty, f.price, f.parent_exec_id.decode("latin-1"), f.busted]
            for f in c.fills
        ],
    }


#: ParentOrder / ChildOrder fields that are not journaled, and why (a unit test checks that
#: every field is either in the records above or here).
DERIVED_FIELDS: Final = {
    "parent": {"inst": "symbol", "children": "child records", "working_qty": "sum over live children"},
    "child": {
        "parent": "order_id",
        "status_asked": "asked again after recovery",
        "fills_seen": "application bookkeeping (all seen)",
        "finished_seen": "application bookkeeping",
        "released": "application bookkeeping (risk re-opened)",
    },
}


def _field(body: bytes, tag: bytes) -> bytes | None:
    """A field of a pre-encoded body (``tag`` like b"11="), first occurrence."""
    if body.startswith(tag):
        start = len(tag)
    else:
        i = body.find(b"\x01" + tag)
        if i < 0:
            return None
        start = i + 1 + len(tag)
    end = body.find(b"\x01", start)
    return body[start : end if end >= 0 else len(body)]


def _parent_sig(p: ParentOrder) -> tuple[Any, ...]:
    """What, when it changes, makes a new parent record."""
    return (
        p.state,
        p.cum_qty,
        p.notional,
        p.qty,
        p.price,
        p.cl_ord_id,
        p.pending_cl_ord_id,
        p.attempts,
        p.late_fills,
        p.text,
        p.route_epoch,
    )


def _child_sig(c: ChildOrder) -> tuple[Any, ...]:
    return (c.state, c.cum_qty, c.notional, c.qty, len(c.fills), c.lp_order_id, c.cancel_sent)


class JournalRecorder:
    """The gateway's side of the journal: what to record, when, and the group commit.

    The application calls ``received`` / ``sent`` / ``session_event`` / ``touch``; the
    scorecard, the router's decisions and the risk kill switch are observed through
    ``observe`` (their calls are recorded as they happen, with their arguments). At
    ``flush`` (the engine's pre-store hook) the state of every parent touched since the
    last flush, and of its children that changed, is appended; then one group is written.
    """

    def __init__(self, journal: Journal, book: OrderBook, *, clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self.book = book
        self.clock = clock
        self._append = journal.append  # serialises at once (see Journal.buffer)
        self._touched: dict[bytes, ParentOrder] = {}
        self._parent_sig: dict[bytes, tuple[Any, ...]] = {}
        self._child_sig: dict[bytes, tuple[Any, ...]] = {}
        self.lp_seq: dict[bytes, int] = {}  # child id -> MsgSeqNum its NewOrderSingle went with
        journal.on_rotate = self.checkpoint_records

    # --- what the application tells -------------------------------------------------------
    def touch(self, p: ParentOrder) -> None:
        self._touched[p.order_id] = p

    def received(self, role: str, name: str, session: Any, msg: Any, now: float) -> None:
        """An application message from a counterparty (``session``), before it is processed."""
        mt = msg.msg_type
        if role == "lp":
            if mt not in _LP_JOURNALED:
                return
            book = self.book
            cl = msg.get(11)
            c = book.children.get(cl) if cl else None
            if c is None:
                orig = msg.get(41)
                c = book.children.get(orig) if orig else None
                if c is None and cl and cl.endswith(b"-X"):
                    c = book.children.get(cl[:-2])
            if c is not None:
                self._touched[c.parent.order_id] = c.parent
        else:
            cl = msg.get(11)
            p = self.book.by_cl_ord_id.get((name, cl)) if cl else None
            if p is None:
                orig = msg.get(41)
                p = self.book.by_cl_ord_id.get((name, orig)) if orig else None
            if p is not None:
                self._touched[p.order_id] = p
        seq = msg.get(34)
        self._append(
            {
                "k": "in",
                "t": now,
                "session": name,
                "role": role,
                "seq": int(seq) if seq and seq.isdigit() else None,
                "epoch": session.store.creation_time,
                "msg_type": mt.decode("latin-1"),
                "raw": msg.raw.decode("latin-1"),
            }
        )

    def sent(
        self,
        role: str,
        item: Out,
        session: Any,
        seq: int,
        now: float,
        child: ChildOrder | None = None,
    ) -> None:
        """An application message handed to ``session`` (sent, or stored while logged out)."""
        mt = item.msg_type
        if role == "lp":
            if mt == b"V":
                return  # market data requests
            if child is not None:
                self.lp_seq[child.child_id] = seq
                self._touched[child.parent.order_id] = child.parent
        else:
            body = item.body
            if body.startswith(b"37="):
                end = body.find(b"\x01")
                oid = body[3:end]
                p = self.book.parents.get(oid)
                if p is not None:
                    self._touched[oid] = p
                elif oid == b"NONE" and mt == b"8" and b"\x01150=8\x01" in body:
                    self._entry_reject(item, now)
        self._append(
            {
                "k": "out",
                "t": now,
                "session": item.dest,
                "role": role,
                "seq": seq,
                "epoch": session.store.creation_time,
                "msg_type": mt.decode("latin-1"),
                "body": item.body.decode("latin-1"),
                "child": child.child_id.decode("latin-1") if child is not None else None,
            }
        )

    def _entry_reject(self, item: Out, now: float) -> None:
        body = item.body
        cl = _field(body, b"11=") or b""
        entry = self.book.rejected.get((item.dest, cl))
        reason = _field(body, b"103=")
        self._append(
            {
                "k": "reject",
                "t": now,
                "session": item.dest,
                "cl_ord_id": cl.decode("latin-1"),
                "symbol": _s(entry[0]) if entry else _s(_field(body, b"55=")),
                "side": _s(entry[1]) if entry else _s(_field(body, b"54=")),
                "qty": _s(entry[2]) if entry else _s(_field(body, b"38=")),
                "ord_type": _s(entry[3]) if entry else _s(_field(body, b"40=")),
                "reason": int(reason) if reason and reason.isdigit() else None,
                "text": entry[4] if entry else (_s(_field(body, b"58=")) or ""),
                "duplicate": entry is None,
            }
        )

    def session_event(self, role: str, name: str, session: Any, event: str, now: float) -> None:
        """A session logged on or out (or exists at start): its store's epoch and sequences."""
        store = session.store
        self._append(
            {
                "k": "session",
                "t": now,
                "session": name,
                "role": role,
                "event": event,
                "epoch": store.creation_time,
                "next_in": store.next_target_seq,
                "next_out": store.next_sender_seq,
            }
        )

    def record(self, record: Record) -> None:
        """Any other record (start, admin, score, decision)."""
        self._append(record)

    # --- group commit ----------------------------------------------------------------------
    def _emit_states(self) -> None:
        touched = self._touched
        if not touched:
            return
        self._touched = {}
        now = self.clock()
        psig = self._parent_sig
        csig = self._child_sig
        append = self._append
        for oid, p in touched.items():
            sig = _parent_sig(p)
            if psig.get(oid) != sig:
                psig[oid] = sig
                append(parent_record(p, now))
            for c in p.children:
                cs = _child_sig(c)
                cid = c.child_id
                if csig.get(cid) != cs:
                    csig[cid] = cs
                    append(child_record(c, now, self.lp_seq.get(cid)))
                    if c.state in CHILD_TERMINAL:
                        self.lp_seq.pop(cid, None)

    def flush(self) -> None:
        """The engine's pre-store hook: states of what changed, then one group."""
        self._emit_states()
        self.journal.flush()

    def checkpoint_records(self) -> list[Record]:
        """The open parents and their children, repeated at the start of a file."""
        now = self.clock()
        out: list[Record] = []
        opened = list(self.book.open_parents.values())
        out.append({"k": "checkpoint", "t": now, "open": len(opened)})
        for p in opened:
            out.append(parent_record(p, now))
            for c in p.children:
                out.append(child_record(c, now, self.lp_seq.get(c.child_id)))
        return out

    def remember(self, parents: list[ParentOrder]) -> None:
        """Recovered orders: their journaled state is what they are (no record needed)."""
        for p in parents:
            self._parent_sig[p.order_id] = _parent_sig(p)
            for c in p.children:
                self._child_sig[c.child_id] = _child_sig(c)

    # --- observed domain objects ------------------------------------------------------------
    def observe(self, scorecard: Any, router: Any, risk: Any) -> None:
        """Record, as they happen, the scorecard's inputs, the router's decisions and the
        kill switches (their methods are wrapped on these instances; behaviour is unchanged).

        Wrapping rather than calling from the application means that whoever changes them
        (the order path, the console, a signal) is journaled the same way.
        """
        append = self._append

        on_sent = scorecard.on_sent

        def sent(
            child_id: bytes,
            lp: str,
            symbol: str,
            side: int,
            qty: float,
            now: float,
            *,
            bid: float | None = None,
            ask: float | None = None,
            typical: float = 0.0,
            last_look: bool = False,
        ) -> None:
            append(
                {
                    "k": "score",
                    "t": now,
                    "ev": "sent",
                    "child": child_id.decode("latin-1"),
                    "lp": lp,
                    "symbol": symbol,
                    "side": side,
                    "qty": qty,
                    "bid": bid,
                    "ask": ask,
                    "typical": typical,
                    "last_look": last_look,
                }
            )
            on_sent(
                child_id, lp, symbol, side, qty, now, bid=bid, ask=ask, typical=typical, last_look=last_look
            )

        on_answer = scorecard.on_answer

        def answer(child_id: bytes, now: float) -> None:
            append({"k": "score", "t": now, "ev": "answer", "child": child_id.decode("latin-1")})
            on_answer(child_id, now)

        on_fill = scorecard.on_fill

        def fill(child_id: bytes, qty: float, price: float, now: float) -> None:
            append(
                {
                    "k": "score",
                    "t": now,
                    "ev": "fill",
                    "child": child_id.decode("latin-1"),
                    "qty": qty,
                    "price": price,
                }
            )
            on_fill(child_id, qty, price, now)

        on_done = scorecard.on_done

        def done(child_id: bytes, rejected: bool, now: float) -> None:
            append(
                {
                    "k": "score",
                    "t": now,
                    "ev": "done",
                    "child": child_id.decode("latin-1"),
                    "rejected": rejected,
                }
            )
            on_done(child_id, rejected, now)

        mature = scorecard.mature

        def matured(now: float, mid_of: Callable[[str], float | None]) -> int:
            mids: dict[str, float | None] = {}

            def seen(symbol: str) -> float | None:
                mid = mids[symbol] = mid_of(symbol)
                return mid

            n: int = mature(now, seen)
            if mids:
                append({"k": "score", "t": now, "ev": "mature", "mids": mids})
            return n

        set_weights = scorecard.set_weights

        def weights(profile: str, new: Mapping[str, float]) -> None:
            set_weights(profile, new)  # raises on bad weights: nothing to record then
            append(
                {
                    "k": "admin",
                    "t": self.clock(),
                    "what": "weights",
                    "profile": profile,
                    "weights": {k: float(v) for k, v in new.items()},
                }
            )

        for name, fn in (
            ("on_sent", sent),
            ("on_answer", answer),
            ("on_fill", fill),
            ("on_done", done),
            ("mature", matured),
            ("set_weights", weights),
        ):
            setattr(scorecard, name, fn)

        set_kill = risk.set_kill

        def kill(scope: Any, engaged: bool, reason: str) -> bool:
            changed: bool = set_kill(scope, engaged, reason)
            append(
                {
                    "k": "admin",
                    "t": self.clock(),
                    "what": "kill",
                    "scope": scope if isinstance(scope, str) else list(scope),
                    "engaged": engaged,
                    "reason": reason,
                }
            )
            return changed

        setattr(risk, "set_kill", kill)  # noqa: B010 - an instance attribute over the method

        previous = getattr(router, "on_decision", None)
        parents = self.book.parents

        def decision(d: Any) -> None:
            p = parents.get(d.order_id.encode("latin-1"))
            qty = typical = None
            if p is not None:
                qty = p.inst.qty_to_float(d.available_qty)
                typical = float(p.inst.typical_size)
            append(
                {
                    "k": "decision",
                    "t": d.time,
                    "order_id": d.order_id,
                    "symbol": d.symbol,
                    "router": d.router,
                    "profile": d.profile,
                    "available": d.available_qty,
                    "attempt": d.attempt,
                    "qty": qty,
                    "typical": typical,
                    "candidates": [[c.lp, c.eligible, c.why, c.score] for c in d.candidates],
                    "children": [[c.lp, c.qty, c.price, c.tif.decode("latin-1")] for c in d.children],
                }
            )
            if previous is not None:
                previous(d)

        router.on_decision = decision


def replay_score(card: Any, rec: Record) -> None:
    """Give a ``score`` record back to a scorecard, exactly as it was given the first time.

    The class's methods are called (not the instance's): a journaled scorecard replaying
    its own journal does not journal it again.
    """
    cls = type(card)
    ev = rec["ev"]
    t = rec["t"]
    if ev == "mature":
        mids = rec["mids"]
        cls.mature(card, t, mids.get)
        return
    cid = rec["child"].encode("latin-1")
    if ev == "sent":
        cls.on_sent(
            card,
            cid,
            rec["lp"],
            rec["symbol"],
            rec["side"],
            rec["qty"],
            t,
            bid=rec["bid"],
            ask=rec["ask"],
            typical=rec["typical"],
            last_look=rec["last_look"],
        )
    elif ev == "answer":
        cls.on_answer(card, cid, t)
    elif ev == "fill":
        cls.on_fill(card, cid, rec["qty"], rec["price"], t)
    elif ev == "done":
        cls.on_done(card, cid, rec["rejected"], t)
