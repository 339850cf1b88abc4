"""Message stores: sequence numbers and sent messages, in memory or on disk.

The session writes through a store before anything reaches the socket; the transport calls
``flush()`` once per event-loop callback (group commit), so a burst of messages costs one
write per file. After ``kill -9`` the data written by ``flush()`` is in the OS and the
session resumes with a ResendRequest, not a reset. fsync is a policy: ``always`` (every
flush), ``interval`` (``sync()`` called from a timer), ``never``.

Files (under FileStorePath, one set per session, named after the session ID):
``<id>.seqnums`` ("SSSSSSSSSS : TTTTTTTTTT", rewritten in place), ``<id>.body`` (sent
messages appended), ``<id>.header`` (index lines "seq,offset,length"), ``<id>.session``
(creation time, the start of the current sequence).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path


class MemoryStore:
    """Sequence numbers and sent messages kept in memory only (reset on restart)."""

    def __init__(self) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_time = time.time()
        self._messages: dict[int, bytes] = {}

    def store_sent(self, seq: int, frame: bytes) -> None:
        self._messages[seq] = frame

    def set_next_sender_seq(self, seq: int) -> None:
        self.next_sender_seq = seq

    def set_next_target_seq(self, seq: int) -> None:
        self.next_target_seq = seq

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        msgs = self._messages
        if end - begin > len(msgs):
            return sorted((s, m) for s, m in msgs.items() if begin <= s <= end)
        return [(s, msgs[s]) for s in range(begin, end + 1) if s in msgs]

    def reset(self, now: float | None = None) -> None:
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self._messages.clear()
        self.creation_time = time.time() if now is None else now

    def refresh(self) -> None:
        """Nothing to reload for a memory store."""

    def flush(self) -> None:
        """Nothing to write for a memory store."""

    def sync(self) -> None:
        """Nothing to sync for a memory store."""

    def close(self) -> None:
        """Nothing to close for a memory store."""


def store_file_prefix(session_id: str) -> str:
    """A file-name-safe form of a session ID: ``FIX.4.4:GW->OMS1`` gives ``FIX.4.4-GW-OMS1``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", session_id.replace("->", "-")).strip("-")


class FileStore:
    """A store on disk that survives a process crash (and, with fsync, a machine crash)."""

    _SEQ_FORMAT = b"%010d : %010d\n"

    def __init__(self, directory: str | Path, session_id: str, sync: str = "interval") -> None:
        if sync not in ("always", "interval", "never"):
            raise ValueError(f"sync policy must be always, interval or never, not {sync!r}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        prefix = store_file_prefix(session_id)
        self._paths = {
            kind: self.directory / f"{prefix}.{kind}"
            for kind in ("seqnums", "body", "header", "session")
        }
        self.sync_policy = sync
        self._pending_body: list[bytes] = []
        self._pending_index: list[bytes] = []
        self._seq_dirty = False
        self._unsynced = False
        self._index: dict[int, tuple[int, int]] = {}
        self._body_size = 0
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_time = time.time()
        self._fds: dict[str, int] = {}
        self._written_seqs = (0, 0)
        self._open()

    # --- loading -------------------------------------------------------------------
    def _open(self) -> None:
        flags = os.O_RDWR | os.O_CREAT
        for kind in ("seqnums", "body", "header"):
            self._fds[kind] = os.open(self._paths[kind], flags, 0o644)
        self._load()

    def _load(self) -> None:
        seq_text = os.pread(self._fds["seqnums"], 64, 0)
        match = re.match(rb"\s*(\d+)\s*:\s*(\d+)", seq_text)
        if match:
            self.next_sender_seq = int(match.group(1))
            self.next_target_seq = int(match.group(2))
            self._written_seqs = (self.next_sender_seq, self.next_target_seq)
        else:
            self.next_sender_seq = self.next_target_seq = 1
            self._seq_dirty = True
        session_path = self._paths["session"]
        if session_path.exists():
            try:
                self.creation_time = float(session_path.read_text().strip() or "0")
            except ValueError:
                self.creation_time = time.time()
        else:
            session_path.write_text(f"{self.creation_time:.6f}\n")
        self._index.clear()
        body_size = os.fstat(self._fds["body"]).st_size
        header = b""
        hfd = self._fds["header"]
        size = os.fstat(hfd).st_size
        if size:
            header = os.pread(hfd, size, 0)
        valid_header_bytes = 0
        for line in header.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # a torn last line from a crash: ignore it
            parts = line.strip().split(b",")
            if len(parts) != 3:
                break
            seq, offset, length = (int(p) for p in parts)
            if offset + length > body_size:
                break  # body write did not complete
            self._index[seq] = (offset, length)
            valid_header_bytes += len(line)
        if valid_header_bytes != size:
            os.ftruncate(hfd, valid_header_bytes)
        self._body_size = body_size
        os.lseek(self._fds["body"], 0, os.SEEK_END)
        os.lseek(hfd, 0, os.SEEK_END)

    # --- the store interface --------------------------------------------------------
    def store_sent(self, seq: int, frame: bytes) -> None:
        offset = self._body_size + sum(len(b) for b in self._pending_body)
        self._pending_body.append(frame)
        self._pending_index.append(b"%d,%d,%d\n" % (seq, offset, len(frame)))
        self._index[seq] = (offset, len(frame))

    def set_next_sender_seq(self, seq: int) -> None:
        self.next_sender_seq = seq
        self._seq_dirty = True

    def set_next_target_seq(self, seq: int) -> None:
        self.next_target_seq = seq
        self._seq_dirty = True

    def get_sent(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        self.flush()
        out = []
        fd = self._fds["body"]
        index = self._index
        seqs = (
            sorted(s for s in index if begin <= s <= end)
            if end - begin > len(index)
            else [s for s in range(begin, end + 1) if s in index]
        )
        for seq in seqs:
            offset, length = index[seq]
            out.append((seq, os.pread(fd, length, offset)))
        return out

    def flush(self) -> None:
        """Write what is pending (group commit); fsync when the policy says always."""
        wrote = False
        if self._pending_body:
            data = b"".join(self._pending_body)
            os.write(self._fds["body"], data)
            self._body_size += len(data)
            os.write(self._fds["header"], b"".join(self._pending_index))
            self._pending_body.clear()
            self._pending_index.clear()
            wrote = True
        seqs = (self.next_sender_seq, self.next_target_seq)
        if self._seq_dirty or seqs != self._written_seqs:
            # the session bumps next_sender_seq/next_target_seq directly; write on change
            os.pwrite(self._fds["seqnums"], self._SEQ_FORMAT % seqs, 0)
            self._written_seqs = seqs
            self._seq_dirty = False
            wrote = True
        if wrote:
            self._unsynced = True
            if self.sync_policy == "always":
                self.sync()

    def mark_dirty(self) -> None:
        self._seq_dirty = True

    def sync(self) -> None:
        if self._unsynced:
            for fd in self._fds.values():
                os.fsync(fd)
            self._unsynced = False

    def reset(self, now: float | None = None) -> None:
        self._pending_body.clear()
        self._pending_index.clear()
        for kind in ("body", "header"):
            os.ftruncate(self._fds[kind], 0)
            os.lseek(self._fds[kind], 0, os.SEEK_SET)
        self._index.clear()
        self._body_size = 0
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_time = time.time() if now is None else now
        self._paths["session"].write_text(f"{self.creation_time:.6f}\n")
        self._seq_dirty = True
        self.flush()

    def refresh(self) -> None:
        self.flush()
        self._load()

    def close(self) -> None:
        if not self._fds:
            return
        self.flush()
        self.sync()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


MessageStore = MemoryStore | FileStore
