"""The journal: an append-only record of every order, child order, report, decision and admin change.

What it is for: best-execution evidence (what was decided, with which scores), crash
recovery (``gateway.recovery`` rebuilds the order book, the lost reports and the scorecard
from it), and history (``fixgw report``, ``fixgw backtest``). What it must never do: slow
the order path more than it must (a record is a tuple appended to a list; once per
event-loop callback the list is serialised and copied into the day file's shared memory
mapping: no system call), or fall behind the FIX stores: ``Engine.flush`` calls
:meth:`JournalRecorder.flush` before it writes any session store or socket, so nothing a
store says was received or sent is missing from the journal.

Storage (chosen by ``benchmarks/journal.py``; see docs/journal.md for the numbers): one
JSON-Lines file per UTC day, ``journal-YYYYMMDD.jsonl``, plus a sparse index
``journal-YYYYMMDD.idx``. An append-only file with our own group commit costs a fraction
of what SQLite in WAL mode costs per record on the order path, its crash semantics are
ours to state (below), and any tool reads it (``jq``, ``grep``, pandas).

Writing: the open day file is mapped ``MAP_SHARED`` (``MAP_CHUNK`` bytes at a time, the
file extended in zeros to the end of the mapping). A page of a shared file mapping *is*
the kernel's page cache page: a group copied into it is the kernel's as soon as the copy
ends, survives ``kill -9`` of the process exactly like a ``write`` would, and reaches the
disk with the next sync (or the kernel's own writeback). So the rule holds without a
system call per callback: a group is in the kernel before any FIX store write or socket
write of the same callback. While a gateway runs, and after it crashed until the next
start, the file ends in zeros after the last group; readers stop there (a group must be
whole, see below), the writer cuts them off when it closes or reopens the file. Off the
loop, the background thread makes the pages ahead of the write position writable
(``prepare``: no page fault on the loop) and syncs only the range written (``sync``).

Group commit: the records of one flush are serialised by one orjson call into one line, a
JSON array of the records (schema 3; a busy callback's in lines of ``_PIECE`` records),
copied into the mapping followed by a commit line ``{"k":"commit","t":T,"g":G,"n":N,"crc":C}``
where N is the number of records and C the CRC-32 of the group's lines (bytes, newlines
included). Schemas 1 and 2 wrote a line per record; readers read all three. A reader
keeps a group only when its commit line is there and matches: a group torn by ``kill -9``
during the copy (any of its bytes still zero, in any order) or by a power cut is ignored as
a whole, so the journal is always a sequence of whole callbacks. On opening a file for
appending, a torn tail and the zeros are cut off. fsync policy: ``always`` (after every
group, on the loop), ``interval`` (a background thread every FsyncIntervalMs; the
default), ``never``.

The index file has lines ``time,offset,group``: the start of a group at most once per
second, so that a reader can seek to a time; it is advisory (a reader checks the offset).

Records (schemas 2 and 3). The records of the order path are JSON arrays whose fields are named,
in order, by ``FIELDS`` (``score`` by its ``ev``: ``SCORE_FIELDS``):
``["in",1754141401.123,"LP_A","lp",9120,...]``; the others are JSON objects:
``{"k":"session","t":...}``. Readers (``read_records``, ``Group.records``) give every
record as a dict with the field names, whatever its form: files of schema 1 (objects
only) read the same. Every record has ``k`` = kind and ``t`` = UNIX time in seconds;
bytes from FIX are latin-1 strings; quantities and prices of orders are exact integer
units of the instrument, ``qty_scale`` / ``price_scale`` in the ``start`` record;
scorecard inputs are floats, as the scorecard was given them.

- ``start`` (object): a process started (after recovery): ``pid``, ``schema``,
  ``id_prefix``, ``lps``, ``instruments``, ``scorecard`` (settings), ``router``,
  ``recovered`` (counts).
- ``session`` (object): logon / logout / start of a session: ``session``, ``role``,
  ``event``, ``epoch`` (the store's creation time), ``next_in``, ``next_out``.
- ``in`` (array): an application message received: ``session`` (Name), ``role`` (oms |
  lp), ``seq`` (MsgSeqNum), ``epoch``, ``msg_type``, ``raw`` (the whole frame). LP market
  data is not journaled.
- ``out`` (array): an application message sent (or stored for a logged-out session):
  ``session``, ``role``, ``seq``, ``epoch``, ``msg_type``, ``body`` (without the header),
  ``child``. In both, the FIX text has SOH and "|" swapped (``FIX_SWAP``): it reads
  ``35=D|11=C1|...``; readers swap them back.
- ``parent`` (array): the full state of a parent order after it changed (the last one
  wins): first the fields an order never changes, then those it does.
- ``child`` (array): the full state of a child order after it changed, its fills included.
- ``reject`` (object): a NewOrderSingle refused at entry (risk or checks): ``session``,
  ``cl_ord_id``, ``symbol``, ``side``, ``qty``, ``ord_type``, ``reason`` (OrdRejReason),
  ``text``.
- ``decision`` (array): a routing decision with the scores that drove it: ``order_id``,
  ``symbol``, ``router``, ``profile``, ``available``, ``attempt``, ``qty`` (available, as
  a float), ``typical``, ``candidates`` ([lp, eligible, why, score]), ``children``
  ([lp, qty, price, tif]).
- ``score`` (array): one input of the scorecard, exactly as it was given: ``ev`` = sent |
  answer | fill | done | mature, with the arguments (``child``, ``lp``, ``symbol``,
  ``side``, ``qty``, ``bid``, ``ask``, ``typical``, ``last_look``, ``price``,
  ``rejected``, ``mids``). Replaying them through a ``Scorecard`` rebuilds it exactly. A
  child's ``answer`` is recorded once (the scorecard keeps only the first).
- ``admin`` (object): ``what`` = kill (``scope``, ``engaged``, ``reason``) | weights
  (``profile``, ``weights``).
- ``checkpoint`` (object): marks records that repeat the state of open orders at the
  start of a file (rotation, start after recovery); ``open`` = how many parents follow.
- ``commit`` (object): closes a group (see above).
"""

from __future__ import annotations

import calendar
import contextlib
import ctypes
import mmap
import os
import re
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from errno import EINVAL, ENOSPC
from pathlib import Path
from typing import Any, Final

import orjson

from gateway.orders import CHILD_TERMINAL, TERMINAL, ChildOrder, OrderBook, Out, ParentOrder

SCHEMA_VERSION: Final = 3  # 2: order path records as arrays (FIELDS); 3: a group in lines of records
FSYNC_POLICIES: Final = ("always", "interval", "never")
_COMMIT_PREFIX: Final = b'{"k":"commit"'
_FILE_RE: Final = re.compile(r"^journal-(\d{8})\.jsonl$")
#: bytes of a day file mapped (and the file extended by, in zeros) at a time
MAP_CHUNK: Final = 32 << 20
#: most bytes ``Journal.prepare`` makes writable ahead of the write position, and per lock hold
PREPARE_MAX: Final = 4 << 20
_PREPARE_STEP: Final = 256 << 10
_PIECE: Final = 64  # records serialised and copied at a time, a line of a group (see Journal.flush)
_NEWLINE: Final = orjson.OPT_APPEND_NEWLINE
_MADV_POPULATE_WRITE: Final = 23  # Linux 5.14


def _libc(name: str, *argtypes: Any) -> Any:
    """A libc function of Linux through ctypes (which lets go of the GIL while it runs), or
    None (elsewhere the constants below mean other things)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = argtypes
    fn.restype = ctypes.c_int
    return fn


_MS_SYNC: Final = 4
#: madvise(2), msync(2): unlike ``mmap.madvise`` / ``mmap.flush`` they let go of the GIL
_madvise: Any = _libc("madvise", ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_msync: Any = _libc("msync", ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
#: fallocate(2) (not posix_fallocate(3), which writes zeros where the filesystem cannot)
_fallocate: Any = _libc("fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
_MARKET_DATA: Final = (b"W", b"X", b"Y")
_LP_JOURNALED: Final = (b"8", b"9", b"j", b"3")  # reports, cancel rejects, rejects

Record = dict[str, Any]

#: The records of the order path are written as JSON arrays: these are their fields, in order
#: (``score`` by its ``ev``). Readers (``read_records``, ``Group.records``) give every record
#: as a dict, so they read files of schema 1 (all objects) and 2 alike.
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "in": tuple("k t session role seq epoch msg_type raw".split()),
    "out": tuple("k t session role seq epoch msg_type body child".split()),
    "parent": tuple(
        "k t order_id session symbol side ord_type tif created account profile arrival_mid cl_ord_id"
        " orig_cl_ord_id qty price state cum_qty notional attempts pending_cl_ord_id pending_qty"
        " pending_price cancel_reason text late_fills route_epoch".split()
    ),
    "child": tuple(
        "k t child_id order_id lp tif sent_at qty price state cum_qty notional lp_order_id acked_at"
        " first_fill_at done_at cancel_sent text lp_seq fills".split()
    ),
    "decision": tuple(
        "k t order_id symbol router profile available attempt qty typical candidates children".split()
    ),
}
SCORE_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "sent": ("k", "t", "ev", "child", "lp", "symbol", "side", "qty", "bid", "ask", "typical", "last_look"),
    "answer": ("k", "t", "ev", "child"),
    "fill": ("k", "t", "ev", "child", "qty", "price"),
    "done": ("k", "t", "ev", "child", "rejected"),
    "mature": ("k", "t", "ev", "mids"),
}


#: FIX text in ``in`` / ``out`` arrays has its SOH and "|" swapped: a message reads
#: ``8=FIX.4.4|9=65|35=D|...`` and costs a byte per field, not the six of ``\u0001``
#: (a "|" of the message itself is written ``\u0001``). The swap is its own inverse.
FIX_SWAP: Final = bytes.maketrans(b"\x01|", b"|\x01")
_FIX_SWAP_STR: Final = str.maketrans("\x01|", "|\x01")
_FIX_TEXT: Final = {"in": "raw", "out": "body"}


def as_record(item: Any) -> Record:
    """A parsed journal line as a record: an array gets its field names (``FIELDS``), and
    the FIX text of ``in`` / ``out`` its SOHs back."""
    if type(item) is dict:
        return item
    kind = item[0]
    names = SCORE_FIELDS.get(item[2]) if kind == "score" else FIELDS.get(kind)
    if names is None or len(names) != len(item):
        return {"k": kind, "t": item[1] if len(item) > 1 else 0.0, "values": item[1:]}
    rec = dict(zip(names, item))  # noqa: B905 - the lengths were compared above
    text = _FIX_TEXT.get(kind)
    if text is not None:
        rec[text] = rec[text].translate(_FIX_SWAP_STR)
    return rec


def fix_text(swapped: str) -> str:
    """The FIX text of an ``in`` / ``out`` array as it was (SOH and "|" swapped back)."""
    return swapped.translate(_FIX_SWAP_STR)


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

    ``lines`` are the (start, end) offsets of its lines in ``data`` (the file's bytes): a
    line holds one record (schemas 1 and 2) or a piece of the group, a JSON array of
    records (schema 3, ``is_piece``). ``records`` are parsed unless the reader asked for
    lines only; ``items`` parses them then.
    """

    g: int
    start: int
    end: int
    t: float
    records: list[Record]
    lines: list[tuple[int, int]]
    data: bytes

    def kind_is(self, line: tuple[int, int], kind: bytes) -> bool:
        """Whether a line of one record is of ``kind`` (b"score", ...), without parsing it."""
        return line_kind(self.data, line[0]) == kind

    def parse(self, line: tuple[int, int]) -> Record:
        """The record of a line of one record."""
        return as_record(orjson.loads(self.data[line[0] : line[1]]))

    def items(self, kind: str | None = None) -> Iterator[Any]:
        """The group's records as parsed (arrays as ``FIELDS`` lays them out, or objects), in
        order; only those of ``kind`` if given (a line of one record is not parsed otherwise)."""
        data = self.data
        loads = orjson.loads
        wanted = None if kind is None else kind.encode("latin-1")
        for a, b in self.lines:
            if data[a] == 0x5B and data[a + 1] != 0x22:  # a piece: records in an array
                for item in loads(data[a:b]):
                    if kind is None or (item[0] if type(item) is list else item.get("k")) == kind:
                        yield item
            elif wanted is None or line_kind(data, a) == wanted:
                yield loads(data[a:b])


def is_piece(data: bytes, a: int) -> bool:
    """Whether the line at ``a`` is a piece of a group (schema 3: ``[["in",...],{"k":...},...]``)
    rather than one record (``["in",...`` or ``{"k":...``, schemas 1 and 2)."""
    return data[a] == 0x5B and data[a + 1] != 0x22


def line_kind(data: bytes, a: int) -> bytes:
    """The kind of the line of one record at ``a`` (``["kind",...`` or ``{"k":"kind",...``)."""
    first = 2 if data[a] == 0x5B else 6
    return data[a + first : data.find(b'"', a + first)]


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
    """The whole groups in the bytes of a day file (see ``read_groups``).

    A group is whole when its commit line follows its lines, with their CRC-32 and the
    number of records: of lines, for lines of one record; counted as they are parsed, for
    pieces (without ``parse``, the CRC alone vouches for those).
    """
    pos = group_start = start
    lines: list[tuple[int, int]] = []
    pieces = False
    find = data.find
    loads = orjson.loads
    while True:
        nl = find(b"\n", pos)
        if nl < 0:
            return  # a torn last line (or nothing more)
        if data.startswith(_COMMIT_PREFIX, pos):
            try:
                commit = loads(data[pos:nl])
                ok = commit.get("crc") == zlib.crc32(data[group_start:pos]) & 0xFFFFFFFF
            except orjson.JSONDecodeError:
                ok = False
            if not ok:
                return
            n = commit.get("n")
            records: list[Record] = []
            if parse:
                for a, b in lines:
                    item = loads(data[a:b])
                    if is_piece(data, a):
                        records.extend(map(as_record, item))
                    else:
                        records.append(as_record(item))
                if n != len(records):
                    return
            elif n != len(lines) and not pieces:
                return
            g, t = int(commit.get("g", 0)), float(commit.get("t", 0.0))
            yield Group(g, group_start, nl + 1, t, records, lines, data)
            lines = []
            pieces = False
            group_start = nl + 1
        else:
            lines.append((pos, nl))
            if data[pos] == 0x5B and data[pos + 1] != 0x22:
                pieces = True
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

    ``append`` buffers a record (a dict, or a tuple as ``FIELDS``); ``flush`` serialises
    the buffer and copies it into the mapped file as one group. ``on_rotate`` returns
    records to write at the start of a new day's file (the open orders). ``sync`` and
    ``prepare`` are for the background thread (durability, pages made ready).
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
        # the records of the current callback, serialised at flush (they hold values that do
        # not change: strings, numbers, lists made for the record); one list for the journal's
        # life, so that ``buffer.append`` can be bound once by the recorder
        self.buffer: list[Any] = []
        self._dumps = orjson.dumps
        self.on_rotate: Callable[[], list[Any]] | None = None
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
        self._map_addr = 0  # where the mapping is in memory (for madvise)
        self._prepared = 0  # offset up to which ``prepare`` made the pages writable
        self._bytes_at_prepare = 0
        self._synced = 0  # offset up to which ``sync`` made the file durable
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
        self._synced = end
        start = calendar.timegm(time.strptime(day, "%Y%m%d"))
        self._day_start, self._day_end = float(start), float(start + 86_400)
        self._last_index = float("-inf")
        self._map(end, 0)

    def _map(self, offset: int, need: int) -> None:
        """Map the file from the page of ``offset`` on, for ``need`` bytes at least.

        The file is extended (in zeros) to the end of the mapping: a page of a shared file
        mapping is the page cache's, so what is copied into it is the kernel's at once, and
        survives ``kill -9`` of the process like a ``write`` would. The disk blocks are
        allocated here (``fallocate``) where the filesystem can: a full disk is then an
        ``OSError`` here, as a failed ``write`` was, not a SIGBUS in the middle of a copy.
        """
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        size = max(MAP_CHUNK, offset - start + need)
        size += -size % mmap.ALLOCATIONGRANULARITY
        with self._lock:  # not while ``prepare`` works on the mapping
            if _fallocate is None or _fallocate(self._fd, 0, start, size) != 0:
                errno = ctypes.get_errno() if _fallocate is not None else 0
                if errno == ENOSPC:
                    raise OSError(errno, os.strerror(errno), str(self.path))
                os.ftruncate(self._fd, start + size)  # a filesystem without fallocate
            # the old mapping is not closed here but left to go with its last reference:
            # ``sync`` may be flushing part of it from its thread right now
            mm = mmap.mmap(self._fd, size, offset=start)
            view = ctypes.c_char.from_buffer(mm)
            self._map_addr = ctypes.addressof(view)
            del view  # (an exported buffer would keep the mapping from closing)
            self._mm = mm
            self._map_start, self._map_end = start, start + size
            self._prepared = 0

    def _close_files(self) -> None:
        with self._lock:
            self._mm = None  # unmapped with its last reference (see _map)
            self._map_addr = 0
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
    def append(self, record: Record | tuple[Any, ...]) -> None:
        """Buffer a record: a dict, or a tuple laid out as ``FIELDS`` says."""
        self.buffer.append(record)

    def extend(self, records: list[Any]) -> None:
        self.buffer.extend(records)

    def _piece(self, records: list[Any]) -> bytes:
        """One line of a group: the JSON array of ``records``, newline included (one call into
        orjson for the lot). A record that cannot be serialised (a bug) is kept as its repr,
        and the group is written all the same."""
        dumps = self._dumps
        try:
            return dumps(records, None, _NEWLINE)
        except (TypeError, orjson.JSONEncodeError):
            out = []
            for rec in records:
                try:
                    out.append(dumps(rec))
                except (TypeError, orjson.JSONEncodeError):
                    kind = rec.get("k") if isinstance(rec, dict) else rec[0] if rec else None
                    out.append(dumps({"k": str(kind), "t": self.clock(), "unserialisable": repr(rec)}))
            return b"[" + b",".join(out) + b"]\n"

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
        n = len(buf)
        g = self.g + 1
        start = self.offset
        if n <= _PIECE:  # the usual callback: one line, then the commit line
            line = self._piece(buf)
            crc = zlib.crc32(line)
            end = start + len(line)
        else:
            # a busy callback: serialised and copied a piece (a line) at a time. The text of
            # hundreds of records at once is memory the allocator gets afresh from the kernel
            # at every flush: a page fault per 4 KiB on the loop (measured: about one per
            # record); pieces of a few KB reuse the same memory
            end, crc = start, 0
            for i in range(0, n, _PIECE):
                line = self._piece(buf[i : i + _PIECE])
                crc = zlib.crc32(line, crc)
                end = self._copy(end, line)
            line = b""
        commit = self._dumps({"k": "commit", "t": now, "g": g, "n": n, "crc": crc}, None, _NEWLINE)
        if line:  # the line and its commit line copied where the mapping has room for both
            stop = end + len(commit)
            if stop > self._map_end:
                self._map(start, stop - start)
            mm = self._mm
            assert mm is not None
            base = self._map_start
            mm[start - base : end - base] = line
            mm[end - base : stop - base] = commit
            end = stop
        else:
            end = self._copy(end, commit)
        buf.clear()
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

    def _copy(self, at: int, data: bytes) -> int:
        """Copy ``data`` into the file at offset ``at`` (mapping more first if need be)."""
        end = at + len(data)
        if end > self._map_end:
            self._map(at, len(data))
        mm = self._mm
        assert mm is not None
        base = self._map_start
        mm[at - base : end - base] = data
        return end

    def sync(self) -> None:
        """Make what was written durable (the interval policy calls this from a thread).

        The bytes written since the last sync are flushed with ``msync(MS_SYNC)`` on their
        range of the mapping (the kernel's fsync of that file range, metadata included): the
        pages ahead, made writable by ``prepare``, stay so. When that range is not all in
        the current mapping (it was remapped meanwhile), the whole file is fsync'ed.
        """
        with self._lock:
            if not self._unsynced or self._fd < 0:
                return
            self._unsynced = False
            fds = (self._fd, self._idx_fd)
            mm, addr, base = self._mm, self._map_addr, self._map_start
            start, end = self._synced, self.offset
            self._synced = end
            ranged = _msync is not None and mm is not None and base <= start <= end
            if not ranged:
                self._prepared = 0  # the whole file written back: the pages ahead too
        if ranged:
            first = start - start % mmap.PAGESIZE
            # ``mm`` is held: the mapping stays while this runs, even if the loop remaps
            if _msync(addr + first - base, max(end - first, 1), _MS_SYNC) != 0:
                ranged = False
        del mm
        for fd in fds[1:] if ranged else fds:
            with contextlib.suppress(OSError):  # closed by a rotation meanwhile: synced there
                os.fsync(fd)

    def prepare(self) -> int:
        """Make the pages ahead of the write position writable now (from a background thread).

        The first write to a page of a file mapping traps into the kernel (to allocate the
        page and mark it dirty): several microseconds, on the loop, for each new 4 KiB. Here
        ``madvise(MADV_POPULATE_WRITE)`` takes those faults in advance, without the GIL, for
        what was written since the last call and half as much again; it changes no byte
        (pages beyond the write position stay zero). ``sync`` flushes only what was written,
        leaving these pages writable; an fsync of the whole file cleans them (``prepare``
        starts over), hence nothing with the fsync policy ``always``. Returns the bytes
        prepared; does nothing where the kernel lacks MADV_POPULATE_WRITE.
        """
        global _madvise
        if _madvise is None or self.fsync == "always":
            return 0
        written = self.bytes - self._bytes_at_prepare
        self._bytes_at_prepare = self.bytes
        # what the next interval will likely write, and a half more: every page prepared and not
        # written before the next fsync is written back (zeros) and must be prepared again
        ahead = min(PREPARE_MAX, written + written // 2 + (16 << 10))
        done = 0
        while True:
            with self._lock:
                if self._mm is None:
                    return done
                offset = self.offset
                start = max(self._prepared, offset - offset % mmap.PAGESIZE)
                end = offset + ahead
                end = min(end - end % mmap.PAGESIZE, self._map_end, start + _PREPARE_STEP)
                if end <= start:
                    return done
                if _madvise(self._map_addr + start - self._map_start, end - start, _MADV_POPULATE_WRITE):
                    if ctypes.get_errno() == EINVAL:
                        _madvise = None  # an older kernel: the loop takes the faults from now on
                    return done  # else (EINTR, EFAULT, ENOMEM...): the loop takes them this time
                self._prepared = end
                done += end - start

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


def _parent_head(p: ParentOrder) -> tuple[Any, ...]:
    """What a parent order never changes after it is created (its record's first fields)."""
    return (
        p.order_id.decode("latin-1"),
        p.session,
        p.inst.symbol,
        p.side.decode("latin-1"),
        p.ord_type.decode("latin-1"),
        p.tif.decode("latin-1"),
        p.created,
        _s(p.account),
        p.profile,
        p.arrival_mid,
    )


def _parent_sig(p: ParentOrder) -> tuple[Any, ...]:
    """What changes in a parent order: when it does, a new parent record."""
    return (
        p.cl_ord_id,
        p.orig_cl_ord_id,
        p.qty,
        p.price,
        p.state,
        p.cum_qty,
        p.notional,
        p.attempts,
        p.pending_cl_ord_id,
        p.pending_qty,
        p.pending_price,
        p.cancel_reason,
        p.text,
        p.late_fills,
        p.route_epoch,
    )


def _head(head: tuple[Any, ...]) -> orjson.Fragment:
    """What an order never changes, serialised once per order: each of its records splices
    it in (orjson copies a Fragment into its output as it is: here several array values)."""
    return orjson.Fragment(orjson.dumps(head)[1:-1])


def _parent_line(now: float, head: Any, sig: tuple[Any, ...]) -> tuple[Any, ...]:
    """A parent record: the order's ``_head`` fragment (None: left out), then ``sig`` as text."""
    orig, pending = sig[1], sig[8]
    return (
        "parent",
        now,
        head,
        sig[0].decode("latin-1"),
        None if orig is None else orig.decode("latin-1"),
        sig[2],
        sig[3],
        sig[4],
        sig[5],
        sig[6],
        sig[7],
        None if pending is None else pending.decode("latin-1"),
        sig[9],
        sig[10],
        sig[11],
        sig[12],
        sig[13],
        sig[14],
    )


def parent_record(p: ParentOrder, now: float) -> tuple[Any, ...]:
    """The full state of a parent order (children apart), laid out as ``FIELDS["parent"]``."""
    line = _parent_line(now, None, _parent_sig(p))
    return (*line[:2], *_parent_head(p), *line[3:])


def _child_head(c: ChildOrder) -> tuple[Any, ...]:
    """What a child order never changes after it is sent."""
    return (
        c.child_id.decode("latin-1"),
        c.parent.order_id.decode("latin-1"),
        c.lp,
        c.tif.decode("latin-1"),
        c.sent_at,
    )


def _child_sig(c: ChildOrder) -> tuple[Any, ...]:
    """What changes in a child order (its fills by their number)."""
    return (
        c.qty,
        c.price,
        c.state,
        c.cum_qty,
        c.notional,
        c.lp_order_id,
        c.acked_at,
        c.first_fill_at,
        c.done_at,
        c.cancel_sent,
        c.text,
        len(c.fills),
    )


def _child_line(
    now: float, head: Any, sig: tuple[Any, ...], c: ChildOrder, lp_seq: int | None
) -> tuple[Any, ...]:
    """A child record: the child's ``_head`` fragment (None: left out), ``sig`` as text, the
    MsgSeqNum of its NewOrderSingle and its fills."""
    return (
        "child",
        now,
        head,
        sig[0],
        sig[1],
        sig[2],
        sig[3],
        sig[4],
        sig[5].decode("latin-1"),
        sig[6],
        sig[7],
        sig[8],
        sig[9],
        sig[10],
        lp_seq,
        [
            [f.exec_id.decode("latin-1"), f.qty, f.price, f.parent_exec_id.decode("latin-1"), f.busted]
            for f in c.fills
        ]
        if sig[11]
        else [],
    )


def child_record(c: ChildOrder, now: float, lp_seq: int | None = None) -> tuple[Any, ...]:
    """The full state of a child order, laid out as ``FIELDS["child"]``; its fills are
    [exec_id, qty, price, parent_exec_id, busted]."""
    line = _child_line(now, None, _child_sig(c), c, lp_seq)
    return (*line[:2], *_child_head(c), *line[3:])


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

#: the message types as the records spell them (a decode saved per record)
_MSG_TYPES: Final = {mt: mt.decode("latin-1") for mt in (b"D", b"F", b"G", b"H", b"8", b"9", b"j", b"3")}


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


class JournalRecorder:
    """The gateway's side of the journal: what to record, when, and the group commit.

    The application calls ``received`` / ``sent`` / ``session_event`` / ``touch``; the
    scorecard, the router's decisions and the risk kill switch are observed through
    ``observe`` (their calls are recorded as they happen, with their arguments). At
    ``flush`` (the engine's pre-store hook) the state of every parent touched since the
    last flush, and of its children, is appended where it changed; then one group is written.

    On the order path a record is a tuple appended to the journal's buffer (serialised at
    the flush, in one pass); parent and child states are compared with what was last
    written by their changing fields only (``_parent_sig``, ``_child_sig``), the fields
    that never change being turned into text once per order.
    """

    def __init__(self, journal: Journal, book: OrderBook, *, clock: Callable[[], float] = time.time) -> None:
        self.journal = journal
        self.book = book
        self.clock = clock
        self._append = journal.buffer.append  # the buffer is one list for the journal's life
        self._touched: dict[bytes, ParentOrder] = {}
        # order id -> (head, sig) last written (head: the ``_head`` fragment); child id -> the
        # same: forgotten when a parent ends (a record more if it changes again, never one less)
        self._parents: dict[bytes, tuple[orjson.Fragment, tuple[Any, ...]]] = {}
        self._children: dict[bytes, tuple[orjson.Fragment, tuple[Any, ...]]] = {}
        self.lp_seq: dict[bytes, int] = {}  # child id -> MsgSeqNum its NewOrderSingle went with
        # the child a session Reject from an LP names (by RefSeqNum), when the application can tell
        self.reject_target: Callable[[str, Any], ChildOrder | None] | None = None
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
            children = self.book.children
            cl = msg.get(11)
            c = children.get(cl) if cl else None
            if c is None:
                orig = msg.get(41)
                c = children.get(orig) if orig else None
                if c is None and cl and cl.endswith(b"-X"):
                    c = children.get(cl[:-2])
                if c is None and mt == b"3" and self.reject_target is not None:
                    c = self.reject_target(name, msg)
            if c is not None:
                self._touched[c.parent.order_id] = c.parent
        else:
            by_cl = self.book.by_cl_ord_id
            cl = msg.get(11)
            p = by_cl.get((name, cl)) if cl else None
            if p is None and mt != b"D":
                orig = msg.get(41)
                p = by_cl.get((name, orig)) if orig else None
            if p is not None:
                self._touched[p.order_id] = p
        seq = msg.get(34)
        try:
            number: int | None = int(seq)
        except (TypeError, ValueError):
            number = None
        self._append(
            (
                "in",
                now,
                name,
                role,
                number,
                session.store.creation_time,
                _MSG_TYPES.get(mt) or mt.decode("latin-1"),
                msg.raw.translate(FIX_SWAP).decode("latin-1"),
            )
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
        body = item.body
        cid: str | None = None
        if role == "lp":
            if mt == b"V":
                return  # market data requests
            if child is not None:
                self.lp_seq[child.child_id] = seq
                self._touched[child.parent.order_id] = child.parent
                cid = child.child_id.decode("latin-1")
        elif body.startswith(b"37="):
            oid = body[3 : body.find(b"\x01")]
            parent = self.book.parents.get(oid)
            if parent is not None:
                self._touched[oid] = parent
            elif oid == b"NONE" and mt == b"8" and b"\x01150=8\x01" in body:
                self._entry_reject(item, now)
        self._append(
            (
                "out",
                now,
                item.dest,
                role,
                seq,
                session.store.creation_time,
                _MSG_TYPES.get(mt) or mt.decode("latin-1"),
                body.translate(FIX_SWAP).decode("latin-1"),
                cid,
            )
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

    def record(self, record: Record | tuple[Any, ...]) -> None:
        """Any other record (start, admin, score, decision): a dict, or a tuple as ``FIELDS``.

        It is serialised at the next flush: what it holds must not change until then.
        """
        self._append(record)

    # --- group commit ----------------------------------------------------------------------
    def _emit_states(self) -> None:
        touched = self._touched
        self._touched = {}
        now = self.clock()
        parents = self._parents
        children = self._children
        append = self._append
        lp_seq = self.lp_seq
        for oid, p in touched.items():
            sig = _parent_sig(p)
            last = parents.get(oid)
            if last is None or last[1] != sig:
                head = _head(_parent_head(p)) if last is None else last[0]
                parents[oid] = (head, sig)
                append(_parent_line(now, head, sig))
            for c in p.children:
                cid = c.child_id
                csig = _child_sig(c)
                clast = children.get(cid)
                if clast is None or clast[1] != csig:
                    chead = _head(_child_head(c)) if clast is None else clast[0]
                    children[cid] = (chead, csig)
                    append(_child_line(now, chead, csig, c, lp_seq.get(cid)))
                    if csig[2] in CHILD_TERMINAL:
                        lp_seq.pop(cid, None)
            if sig[4] in TERMINAL:
                del parents[oid]
                for c in p.children:
                    children.pop(c.child_id, None)

    def flush(self) -> None:
        """The engine's pre-store hook: states of what changed, then one group."""
        if self._touched:
            self._emit_states()
        journal = self.journal
        if journal.buffer:
            journal.flush()

    def checkpoint_records(self) -> list[Any]:
        """The open parents and their children, repeated at the start of a file."""
        now = self.clock()
        out: list[Any] = []
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
            if p.state in TERMINAL:
                continue
            self._parents[p.order_id] = (_head(_parent_head(p)), _parent_sig(p))
            for c in p.children:
                self._children[c.child_id] = (_head(_child_head(c)), _child_sig(c))

    # --- observed domain objects ------------------------------------------------------------
    def observe(self, scorecard: Any, router: Any, risk: Any) -> None:
        """Record, as they happen, the scorecard's inputs, the router's decisions and the
        kill switches (their methods are wrapped on these instances; behaviour is unchanged).

        Wrapping rather than calling from the application means that whoever changes them
        (the order path, the console, a signal) is journaled the same way.

        ``on_answer`` is recorded once per child: the application calls it again with a fill
        and at the end, where the scorecard ignores it (it keeps the first answer); a repeat
        since the child was sent is neither recorded nor passed on, so replaying the records
        gives the same scorecard.
        """
        append = self._append
        answered: set[bytes] = set()  # children whose answer is recorded (since they were sent)

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
                (
                    "score",
                    now,
                    "sent",
                    child_id.decode("latin-1"),
                    lp,
                    symbol,
                    side,
                    qty,
                    bid,
                    ask,
                    typical,
                    last_look,
                )
            )
            answered.discard(child_id)
            on_sent(
                child_id, lp, symbol, side, qty, now, bid=bid, ask=ask, typical=typical, last_look=last_look
            )

        on_answer = scorecard.on_answer

        def answer(child_id: bytes, now: float) -> None:
            if child_id in answered:
                return  # the scorecard has its first answer
            answered.add(child_id)
            append(("score", now, "answer", child_id.decode("latin-1")))
            on_answer(child_id, now)

        on_fill = scorecard.on_fill

        def fill(child_id: bytes, qty: float, price: float, now: float) -> None:
            append(("score", now, "fill", child_id.decode("latin-1"), qty, price))
            on_fill(child_id, qty, price, now)

        on_done = scorecard.on_done

        def done(child_id: bytes, rejected: bool, now: float) -> None:
            append(("score", now, "done", child_id.decode("latin-1"), rejected))
            answered.discard(child_id)
            on_done(child_id, rejected, now)

        mature = scorecard.mature

        def matured(now: float, mid_of: Callable[[str], float | None]) -> int:
            mids: dict[str, float | None] = {}

            def seen(symbol: str) -> float | None:
                mid = mids[symbol] = mid_of(symbol)
                return mid

            n: int = mature(now, seen)
            if mids:
                append(("score", now, "mature", mids))
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
        # symbol -> (its instrument's qty_to_float, TypicalSize as a float): the order is looked
        # up by its id only for the first decision on a symbol
        sizes: dict[str, tuple[Callable[[int], float], float]] = {}
        tifs: dict[bytes, str] = {}

        def decision(d: Any) -> None:
            size = sizes.get(d.symbol)
            if size is None:
                p = parents.get(d.order_id.encode("latin-1"))
                if p is not None:
                    size = sizes[d.symbol] = (p.inst.qty_to_float, float(p.inst.typical_size))
            qty = typical = None
            if size is not None:
                qty = size[0](d.available_qty)
                typical = size[1]
            children = []
            for c in d.children:  # ChildPlan: lp, qty, price, tif
                tif = tifs.get(c[3])
                if tif is None:
                    tif = tifs[c[3]] = c[3].decode("latin-1")
                children.append((c[0], c[1], c[2], tif))
            append(
                (
                    "decision",
                    d.time,
                    d.order_id,
                    d.symbol,
                    d.router,
                    d.profile,
                    d.available_qty,
                    d.attempt,
                    qty,
                    typical,
                    # a Candidate is lp, eligible, why, score: the record's row as a plain tuple
                    list(map(tuple, d.candidates)),
                    children,
                )
            )
            if previous is not None:
                previous(d)

        router.on_decision = decision


def replay_score(card: Any, rec: Record | list[Any]) -> None:
    """Give a ``score`` record back to a scorecard, exactly as it was given the first time.

    ``rec`` is a record (dict), or the array of a schema-2 line as parsed (recovery saves
    itself the dict). The class's methods are called (not the instance's): a journaled
    scorecard replaying its own journal does not journal it again.
    """
    cls = type(card)
    if isinstance(rec, list):  # laid out as SCORE_FIELDS says (a unit test holds them to it)
        ev, t = rec[2], rec[1]
        if ev == "sent":
            _, _, _, child, lp, symbol, side, qty, bid, ask, typical, last_look = rec
            cls.on_sent(
                card,
                child.encode("latin-1"),
                lp,
                symbol,
                side,
                qty,
                t,
                bid=bid,
                ask=ask,
                typical=typical,
                last_look=last_look,
            )
        elif ev == "answer":
            cls.on_answer(card, rec[3].encode("latin-1"), t)
        elif ev == "fill":
            cls.on_fill(card, rec[3].encode("latin-1"), rec[4], rec[5], t)
        elif ev == "done":
            cls.on_done(card, rec[3].encode("latin-1"), rec[4], t)
        elif ev == "mature":
            cls.mature(card, t, rec[3].get)
        return
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
