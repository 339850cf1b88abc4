"""Crash recovery: the gateway after ``kill -9`` is rebuilt from its journal, FIX stores and snapshot.

What the journal guarantees (``gateway.journal``): records are group-committed once per
event-loop callback *before* the FIX stores are written, and a group is whole or absent.
So after a crash the journal knows at least everything the stores know, and at most one
callback more. Recovery turns that into a running gateway before any session connects:

- Parent and child orders: the last ``parent`` / ``child`` record of each wins. A child
  that was not finished is UNKNOWN: its quantity stays counted as working (nothing is
  routed twice) until the LP answers the OrderStatusRequest sent at its logon. Entry
  rejects, the ClOrdIDs of cancel/replace requests and the LP ExecIDs already applied
  (fills, and trade reports received) come back too: a PossDup resend of a fill is
  recognised by its ExecID and not counted twice.
- FIX sessions resume from their stores (resends, not resets). Where the journal is a
  callback ahead of a store, recovery closes the gap: an inbound message the journal has
  but the store does not is marked received (its effects are in the book; it must not be
  processed twice), and a report to the OMS the journal has but the store does not (it
  never reached the socket, which is written after the store) is stored again, once, so
  that the OMS gets it by resend (PossDup). A report is thus in the OMS store or produced
  again, never both, never neither. Sequence numbers are only compared within one store
  epoch (its creation time): a reset store is not patched.
- The scorecard: the latest snapshot (written every ``SnapshotEvery`` seconds with the
  journal position it matches) plus the ``score`` records after that position, replayed
  through the same pure code; without a usable snapshot, the day's records.
- Kill switches and profile weights changed at run time: their ``admin`` records.

Only the latest day file is read: each file starts with the open orders (rotation and
every start write a checkpoint), and orders of earlier days that were finished are not
needed to trade on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import os
import pickle
import signal
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.instruments import Instrument
from gateway.journal import (
    SCHEMA_VERSION,
    Group,
    Journal,
    JournalRecorder,
    JournalSettings,
    Record,
    as_record,
    day_of,
    file_for,
    fix_text,
    groups_in,
    journal_files,
    read_groups,
    replay_score,
)
from gateway.orders import C_UNKNOWN, CHILD_TERMINAL, TERMINAL, ChildOrder, Fill, Out, ParentOrder
from gateway.sessions.store import FileStore

SNAPSHOT_FILE = "scorecard.snapshot"
SNAPSHOT_SCHEMA = 1  # of the snapshot file (the journal's schema is apart: gateway.journal)


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode("latin-1")


def _epoch(t: float) -> str:
    """A store's creation time as its file keeps it (microseconds)."""
    return f"{t:.6f}"


@dataclass
class RecoveryReport:
    """What recovery found and did (also journaled in the ``start`` record)."""

    file: str = ""
    groups: int = 0
    records: int = 0
    parents: int = 0
    open_parents: int = 0
    children: int = 0
    unknown_children: int = 0
    rejected: int = 0
    exec_ids: int = 0
    reports_resent: dict[str, int] = field(default_factory=dict)
    inbound_marked: dict[str, int] = field(default_factory=dict)  # session -> seqs skipped
    scorecard: str = "none"
    score_records: int = 0
    kills: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        resent = sum(self.reports_resent.values())
        marked = sum(self.inbound_marked.values())
        return (
            f"recovered from {self.file or '(no journal)'}: {self.parents} parents "
            f"({self.open_parents} open), {self.children} children ({self.unknown_children} unknown), "
            f"{resent} reports stored again, {marked} messages in marked received, scorecard "
            f"{self.scorecard} ({self.score_records} records replayed) in {self.seconds * 1000:.0f} ms"
        )


# --------------------------------------------------------------------------- scorecard state

#: Scorecard attributes that follow from its settings, not from what it has seen: a snapshot
#: never overrides them (the settings may have changed between two runs).
_DERIVED = frozenset(
    {"settings", "size", "decay", "k", "_prior", "_impact_index", "_index", "_plans", "_refresh"}
)
#: What decisions kept of the figures (``Scorecard.decision_board``): never written, and
#: emptied when figures are put back (it points at the figures it was computed from).
_KEPT = ("_boards", "_lp_level")


def _fingerprint(card: Any) -> list[Any]:
    """What a snapshot must agree on to be used: the settings that shape the figures, and the
    scorecard's code itself (its internals are free to change from one version to the next)."""
    s = card.settings
    cls = type(card)
    return [card.size, list(s.horizons_s), list(s.size_buckets), s.half_life_s, _code_version(cls.__module__)]


@functools.cache
def _code_version(module_name: str) -> str:
    """The scorecard's code as loaded (read once: the file may change under a running process)."""
    path = getattr(sys.modules.get(module_name), "__file__", None)
    try:
        code = Path(path).read_bytes() if path else b""
    except OSError:
        code = b""
    return f"{module_name}:{zlib.crc32(code):08x}"


def scorecard_state(card: Any) -> dict[str, Any]:
    """The scorecard's learnt state: its attributes but those derived from settings.

    Taken generically (the scorecard's internals change with its optimisations); pickled
    with its references shared (a child's figures are the LP's), as one object graph.
    """
    state = {
        name: value
        for name, value in vars(card).items()
        if name not in _DERIVED and name not in _KEPT and not callable(value)
    }
    return {
        "fingerprint": _fingerprint(card),
        "profiles": {k: dict(v) for k, v in card.settings.profiles.items()},
        "state": state,
    }


def restore_scorecard(card: Any, snap: dict[str, Any]) -> bool:
    """Put a ``scorecard_state`` back; False (nothing changed) if it does not fit this scorecard."""
    if snap.get("fingerprint") != _fingerprint(card):
        return False
    current = vars(card)
    state = snap["state"]
    if not set(state) <= set(current):
        return False  # written by another version of the scorecard
    for name, value in state.items():
        setattr(card, name, value)
    for name in _KEPT:
        getattr(card, name).clear()
    for profile, weights in snap["profiles"].items():
        card.settings.profiles[profile] = dict(weights)
    return True


def write_snapshot(path: Path, card: Any, position: tuple[str, int], now: float) -> None:
    """Write the scorecard with the journal position it matches (atomically: tmp + rename).

    The file is a pickle: it is the gateway's own state, read back only by the gateway
    that wrote it, from its state directory (like the FIX stores).
    """
    data = pickle.dumps(
        {"schema": SNAPSHOT_SCHEMA, "t": now, "position": list(position), **scorecard_state(card)},
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # a snapshot lost to a power cut only means a longer replay


def read_snapshot(path: Path) -> dict[str, Any] | None:
    try:
        data = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception:  # a snapshot from another version, or damaged: the journal will do
        return None
    if not isinstance(data, dict) or data.get("schema") != SNAPSHOT_SCHEMA:
        return None
    return data


# --------------------------------------------------------------------------- reading the journal


@dataclass
class JournalState:
    """What the latest day file says, folded: last states, sequences, lost reports."""

    parents: dict[str, Record] = field(default_factory=dict)
    children: dict[str, Record] = field(default_factory=dict)
    rejected: dict[tuple[str, str], Record] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # session, cl, orig
    exec_ids: set[tuple[str, str]] = field(default_factory=set)
    in_max: dict[tuple[str, str], int] = field(default_factory=dict)  # (session, epoch) -> seq
    # session, epoch, seq, msg_type, body, and whether the body's SOH and "|" are swapped
    oms_out: list[tuple[str, str, int, str, str, bool]] = field(default_factory=list)
    admin: list[Record] = field(default_factory=list)
    # file, group start, the record (the array of a schema-2 line as parsed: see replay_score)
    scores: list[tuple[str, int, Record | list[Any]]] = field(default_factory=list)
    groups: int = 0
    records: int = 0


_ORDER_ID = b'"order_id":"'
_CHILD_ID = b'"child_id":"'


def _state_id(data: bytes, a: int, b: int) -> bytes:
    """The order or child id of a parent / child record line, without parsing it.

    Schema 2: ``["parent",<t>,"<id>",...``: the first string after the time. Schema 1:
    ``{"k":"parent",...,"order_id":"<id>",...`` (``child_id`` for a child).
    """
    if data[a] == 0x5B:
        i = data.find(b',"', data.find(b'",', a, b) + 2, b) + 2
    else:
        key = _ORDER_ID if data.startswith(b'{"k":"p', a) else _CHILD_ID
        i = data.find(key, a, b) + len(key)
    return data[i : data.find(b'"', i, b)]


def fold(path: Path, scores_from: int | None = 0) -> JournalState:
    """Read a day file's committed groups into a ``JournalState``.

    ``score`` records are kept from the group at byte ``scores_from`` on (None: none).
    Only what recovery needs is kept: the last record of each parent and child, sequence
    numbers, reports to the OMS; decisions and messages to LPs are skipped. This runs
    before the gateway takes any traffic, over the whole day: it is written for speed.
    Lines of one record (schemas 1 and 2) are looked at before they are parsed (a parent
    or child record is parsed only if it is the last of its order); a piece of a group
    (schema 3: its records in one array) is parsed whole, in one call. Files of all three
    schemas, and a day that changed schema at a restart, are read alike.
    """
    st = JournalState()
    name = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return st
    loads = orjson.loads
    # id -> the last record: where its line is (schemas 1, 2), or as parsed (3)
    last_parent: dict[bytes, tuple[int, int] | list[Any] | Record] = {}
    last_child: dict[bytes, tuple[int, int] | list[Any] | Record] = {}
    epochs: dict[float, str] = {}
    for group in _committed(data):
        st.groups += 1
        want_scores = scores_from is not None and group.start >= scores_from
        for a, b in group.lines:
            if data[a] == 0x5B and data[a + 1] != 0x22:  # a piece: records in an array (is_piece)
                items = loads(data[a:b])
                st.records += len(items)
                for item in items:
                    if type(item) is list:
                        kind = item[0]
                        if kind == "parent":
                            last_parent[item[2].encode("latin-1")] = item
                        elif kind == "child":
                            last_child[item[2].encode("latin-1")] = item
                        elif kind == "score":
                            if want_scores:
                                st.scores.append((name, group.start, item))
                        elif kind != "decision":
                            _fold_array(st, kind, item, epochs)
                        continue
                    kind = item.get("k")  # an object (the rare records), whatever its kind
                    if kind == "parent":
                        last_parent[str(item.get("order_id")).encode("latin-1")] = item
                    elif kind == "child":
                        last_child[str(item.get("child_id")).encode("latin-1")] = item
                    elif kind == "score":
                        if want_scores:
                            st.scores.append((name, group.start, item))
                    else:
                        _fold_object(st, item, epochs)
                continue
            st.records += 1
            first = a + 2 if data[a] == 0x5B else a + 6  # ["kind",... or {"k":"kind",...
            kind_b = data[first : data.find(b'"', first, b)]
            if kind_b == b"parent":
                last_parent[_state_id(data, a, b)] = (a, b)
                continue
            if kind_b == b"child":
                last_child[_state_id(data, a, b)] = (a, b)
                continue
            if kind_b == b"score":
                if want_scores:
                    st.scores.append((name, group.start, loads(data[a:b])))
                continue
            if kind_b == b"decision":
                continue
            item = loads(data[a:b])
            if type(item) is list:  # schema 2: in / out as FIELDS lays them out, FIX text swapped
                _fold_array(st, item[0], item, epochs)
            else:
                _fold_object(st, item, epochs)
    for v in last_parent.values():
        rec = as_record(loads(data[v[0] : v[1]]) if type(v) is tuple else v)
        st.parents[rec["order_id"]] = rec
    for v in last_child.values():
        rec = as_record(loads(data[v[0] : v[1]]) if type(v) is tuple else v)
        st.children[rec["child_id"]] = rec
    return st


def _fold_array(st: JournalState, kind: str, item: list[Any], epochs: dict[float, str]) -> None:
    """An ``in`` or ``out`` record as an array (schemas 2 and 3; FIX text swapped, FIELDS)."""
    if kind == "in":
        _, _, session, role, seq, epoch, mt, raw = item
        _fold_in(st, session, role, seq, epoch, mt, raw, "|", epochs)
    elif kind == "out" and item[3] != "lp":
        _, _, session, _, seq, epoch, mt, body, _ = item
        st.oms_out.append((session, _epoch_of(epoch, epochs), seq, mt, body, True))


def _fold_object(st: JournalState, rec: Record, epochs: dict[float, str]) -> None:
    """A record as an object: any record of schema 1; the rare ones of later schemas."""
    k = rec.get("k")
    if k == "in":
        _fold_in(
            st,
            rec["session"],
            rec["role"],
            rec.get("seq"),
            rec["epoch"],
            rec["msg_type"],
            rec["raw"],
            "\x01",
            epochs,
        )
    elif k == "out":
        if rec["role"] == "lp":
            return
        st.oms_out.append(
            (
                rec["session"],
                _epoch_of(rec["epoch"], epochs),
                rec["seq"],
                rec["msg_type"],
                rec["body"],
                False,
            )
        )
    elif k == "reject":
        if not rec.get("duplicate"):
            st.rejected.setdefault((rec["session"], rec["cl_ord_id"]), rec)
    elif k == "admin":
        st.admin.append(rec)


def _committed(data: bytes) -> Iterator[Group]:
    return groups_in(data, 0, parse=False)


def _epoch_of(t: float, cache: dict[float, str]) -> str:
    e = cache.get(t)
    if e is None:
        e = cache[t] = _epoch(t)
    return e


def score_records(path: Path, start: int = 0) -> Iterator[Record]:
    """The ``score`` records of a day file from byte ``start`` (a group boundary) on."""
    for group in read_groups(path, start, parse=False):
        for item in group.items("score"):
            yield as_record(item)


def _fold_in(
    st: JournalState,
    session: str,
    role: str,
    seq: int | None,
    epoch: float,
    mt: str,
    raw: str,
    sep: str,
    epochs: dict[float, str],
) -> None:
    """An ``in`` record: its sequence number, and the ClOrdIDs / ExecIDs recovery needs.

    ``sep`` is the field separator of ``raw``: SOH (schema 1) or "|" (schema 2, where a "|"
    of a value is written as SOH: a value read is swapped back if it has one).
    """
    if seq is not None:
        key = (session, _epoch_of(epoch, epochs))
        if seq > st.in_max.get(key, 0):
            st.in_max[key] = seq
    if role == "oms":
        if mt in ("F", "G"):
            cl, orig = _tag(raw, "11", sep), _tag(raw, "41", sep)
            if cl and orig:
                st.requests.append((session, cl, orig))
    elif mt == "8" and _tag(raw, "150", sep) in ("F", "1", "2"):
        exec_id = _tag(raw, "17", sep)
        if exec_id:
            st.exec_ids.add((session, exec_id))


def _tag(raw: str, tag: str, sep: str = "\x01") -> str | None:
    key = sep + tag + "="
    i = raw.find(key)
    if i < 0:
        return None
    start = i + len(key)
    end = raw.find(sep, start)
    value = raw[start : end if end >= 0 else len(raw)]
    return fix_text(value) if sep == "|" and "\x01" in value else value


# --------------------------------------------------------------------------- rebuilding orders


def build_parents(st: JournalState, instrument: Any) -> list[ParentOrder]:
    """ParentOrder objects (with children) from the last records; unfinished children UNKNOWN."""
    parents: dict[str, ParentOrder] = {}
    for oid, r in st.parents.items():
        inst = instrument(r["symbol"]) or Instrument(r["symbol"])
        p = ParentOrder(
            oid.encode("latin-1"),
            r["session"],
            r["cl_ord_id"].encode("latin-1"),
            inst,
            r["side"].encode("latin-1"),
            r["ord_type"].encode("latin-1"),
            r["tif"].encode("latin-1"),
            r["qty"],
            r["price"],
            r["created"],
            account=_b(r["account"]),
            profile=r["profile"],
            arrival_mid=r["arrival_mid"],
        )
        p.state = r["state"]
        p.cum_qty = r["cum_qty"]
        p.notional = r["notional"]
        p.orig_cl_ord_id = _b(r["orig_cl_ord_id"])
        p.attempts = r["attempts"]
        p.pending_cl_ord_id = _b(r["pending_cl_ord_id"])
        p.pending_qty = r["pending_qty"]
        p.pending_price = r["pending_price"]
        p.cancel_reason = r["cancel_reason"]
        p.text = r["text"]
        p.late_fills = r["late_fills"]
        p.route_epoch = r.get("route_epoch", 0)
        parents[oid] = p
    for cid, r in st.children.items():
        parent = parents.get(r["order_id"])
        if parent is None:
            continue  # a child whose parent record is in an earlier file: it was finished
        c = ChildOrder(
            cid.encode("latin-1"),
            parent,
            r["lp"],
            r["qty"],
            r["price"],
            r["tif"].encode("latin-1"),
            r["sent_at"],
        )
        c.state = r["state"]
        c.cum_qty = r["cum_qty"]
        c.notional = r["notional"]
        c.lp_order_id = r["lp_order_id"].encode("latin-1")
        c.acked_at = r["acked_at"]
        c.first_fill_at = r["first_fill_at"]
        c.done_at = r["done_at"]
        c.text = r["text"]
        c.fills = [
            Fill(e.encode("latin-1"), q, px, pe.encode("latin-1"), busted)
            for e, q, px, pe, busted in r["fills"]
        ]
        c.fills_seen = len(c.fills)
        if c.state in CHILD_TERMINAL:
            c.finished_seen = c.released = True
        else:
            c.state = C_UNKNOWN  # asked about (OrderStatusRequest) before anything is re-routed
            parent.working_qty += c.qty - c.cum_qty
        parent.children.append(c)
    return list(parents.values())


# --------------------------------------------------------------------------- the gateway's journal


class GatewayJournal(JournalRecorder):
    """The journal of one gateway process: hooks, recovery at start, snapshots, close.

    ``app`` is the ``GatewayApplication`` (engine, book, router, scorecard, risk, lps,
    sessions); it calls ``received`` / ``sent`` / ``session_event`` and ``start``,
    ``tick`` and ``close``; the engine calls ``flush`` before it writes any store.
    """

    def __init__(self, app: Any, settings: JournalSettings) -> None:
        super().__init__(Journal(settings.directory, settings.fsync), app.book)
        self.app = app
        self.settings = settings
        self.snapshot_path = Path(settings.directory) / SNAPSHOT_FILE
        self._set_kill = app.risk.set_kill
        self._set_weights = app.scorecard.set_weights
        self.observe(app.scorecard, app.router, app.risk)
        app.engine.before_store_flush.append(self.flush)
        self.reject_target = self._rejected_child
        self.recovery: RecoveryReport | None = None
        self._last_snapshot = 0.0
        self._writer: int | None = None  # the pid of a snapshot being written by a child process
        self._stop_sync = threading.Event()
        self._sync_thread: threading.Thread | None = None

    def _rejected_child(self, name: str, msg: Any) -> ChildOrder | None:
        """The child a session Reject from an LP names by its RefSeqNum (if still known)."""
        ref = msg.get(45)
        return self.app.lps.seq_to_child.get((name, int(ref))) if ref and ref.isdigit() else None

    # --- start ------------------------------------------------------------------------
    def start(self, now: float | None = None) -> RecoveryReport | None:
        """Recover (if enabled), write the start record and the open orders, start fsyncs."""
        now = time.time() if now is None else now
        if self.settings.recover:
            self.recovery = self.recover(now)
        app = self.app
        journal = self.journal
        new_file = not file_for(journal.directory, day_of(now)).exists()
        journal.open(now)
        card = app.scorecard.settings
        self.record(
            {
                "k": "start",
                "t": now,
                "schema": SCHEMA_VERSION,
                "pid": os.getpid(),
                "id_prefix": self.book.id_prefix.decode("latin-1"),
                "lps": list(app.lp_names),
                "oms": list(app.oms_sessions),
                "instruments": [
                    {
                        "symbol": i.symbol,
                        "tick_size": str(i.tick_size),
                        "lot_size": str(i.lot_size),
                        "typical_size": str(i.typical_size),
                        "price_scale": i.price_scale,
                        "qty_scale": i.qty_scale,
                    }
                    for i in app.instruments
                ],
                "scorecard": {
                    "half_life_s": card.half_life_s,
                    "horizons_s": list(card.horizons_s),
                    "impact_horizon_s": card.impact_horizon_s,
                    "shrinkage_k": card.shrinkage_k,
                    "normalization": card.normalization,
                    "rejection_penalty": card.rejection_penalty,
                    "size_buckets": list(card.size_buckets),
                    "prior": dict(card.prior),
                    "profiles": {k: dict(v) for k, v in card.profiles.items()},
                },
                "router": _router_settings(app.router),
                "recovered": dataclasses.asdict(self.recovery) if self.recovery is not None else None,
            }
        )
        for name, session in _sessions(app):
            self.session_event("lp" if name in app.lp_sessions else "oms", name, session, "start", now)
        if new_file:  # a day file starts with the open orders (the same day's file has them)
            journal.extend(self.checkpoint_records())
        self.flush()
        for session in app.sessions_by_name.values():
            session.store.flush()  # sequence numbers set by recovery, reports stored again
        if self.recovery is not None and self.recovery.score_records:
            self.snapshot(now)  # the next recovery need not replay the same records again
        self._last_snapshot = now
        if self.settings.fsync != "always" and self._sync_thread is None:
            self._sync_thread = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
            self._sync_thread.start()
        return self.recovery

    def _sync_loop(self) -> None:
        """Off the loop: fsync every FsyncIntervalMs (policy interval), then the pages the next
        groups will be copied to are made writable ahead (``Journal.prepare``)."""
        period = max(0.001, self.settings.fsync_interval_ms / 1000.0)
        interval = self.settings.fsync == "interval"
        while not self._stop_sync.wait(period):
            try:
                if interval:
                    self.journal.sync()
                self.journal.prepare()
            except OSError:
                import logging

                logging.getLogger("fixgw.journal").exception("journal fsync failed")

    # --- recovery -------------------------------------------------------------------------
    def recover(self, now: float) -> RecoveryReport:
        """Rebuild orders, sessions' sequence gaps, kill switches and the scorecard (see above)."""
        # many objects at once, none of them garbage: the cyclic collector would only scan them
        gc.disable()
        try:
            return self._recover(now)
        finally:
            gc.enable()

    def _recover(self, now: float) -> RecoveryReport:
        t0 = time.perf_counter()
        report = RecoveryReport()
        app = self.app
        files = journal_files(self.settings.directory)
        names = [f.name for f in files]
        snap = self._snapshot_to_use(names)
        scores_from = 0  # without a snapshot: the scorecard is the latest file's records
        if snap is not None and snap["position"][0] == names[-1]:
            scores_from = snap["position"][1]
        st = fold(files[-1], scores_from) if files else JournalState()
        if files:
            report.file = files[-1].name
        report.groups, report.records = st.groups, st.records

        # orders
        parents = build_parents(st, app.instruments.get)
        by_key = {(p.session, p.cl_ord_id): p for p in parents}
        for p in parents:
            for cl in (p.orig_cl_ord_id, p.pending_cl_ord_id):
                if cl is not None:
                    by_key[(p.session, cl)] = p
        extra: dict[tuple[str, bytes], ParentOrder] = {}
        for session_name, request_cl, orig in st.requests:
            key = (session_name, orig.encode("latin-1"))
            target = by_key.get(key) or extra.get(key)
            if target is not None:
                extra[(session_name, request_cl.encode("latin-1"))] = target
        rejected = {
            (s, cl.encode("latin-1")): (
                (r["symbol"] or "").encode("latin-1"),
                (r["side"] or "1").encode("latin-1"),
                (r["qty"] or "0").encode("latin-1"),
                (r["ord_type"] or "2").encode("latin-1"),
                r["text"] or "",
            )
            for (s, cl), r in st.rejected.items()
        }
        exec_ids = {(lp, e.encode("latin-1")) for lp, e in st.exec_ids}
        for p in parents:
            for c in p.children:
                exec_ids.update((c.lp, f.exec_id) for f in c.fills)
        self.book.restore(parents, cl_ord_ids=extra, rejected=rejected, lp_exec_ids=exec_ids)
        self.remember(parents)
        for p in parents:
            for c in p.children:
                if c.state != C_UNKNOWN:
                    continue
                report.unknown_children += 1
                if c.price is not None:
                    app.risk.child_opened(c.lp, p.inst, c.qty, c.price)
                seq = st.children[c.child_id.decode("latin-1")].get("lp_seq")
                if seq is not None:
                    self.lp_seq[c.child_id] = seq
                    app.lps.child_sent(c.lp, seq, c)
        report.parents = len(parents)
        report.open_parents = sum(1 for p in parents if p.state not in TERMINAL)
        report.children = sum(len(p.children) for p in parents)
        report.rejected = len(rejected)
        report.exec_ids = len(exec_ids)

        # sessions: the journal may be one callback ahead of a store
        for name, session in _sessions(app):
            store = session.store
            if not isinstance(store, FileStore):
                continue  # a memory store: nothing survived to patch
            epoch = _epoch(store.creation_time)
            last_in = st.in_max.get((name, epoch), 0)
            if last_in >= store.next_target_seq:
                report.inbound_marked[name] = last_in + 1 - store.next_target_seq
                store.set_next_target_seq(last_in + 1)
            if name in app.lp_sessions:
                continue
            lost: dict[tuple[str, str], None] = {}
            for s, ep, seq, mt, body, swapped in st.oms_out:
                if s == name and ep == epoch and seq >= store.next_sender_seq:
                    lost.setdefault((mt, fix_text(body) if swapped else body), None)
            for mt, body in lost:
                item = Out("oms", name, mt.encode("latin-1"), body.encode("latin-1"))
                seq = session.send(item.msg_type, item.body, now, offline_ok=True)
                self.sent("oms", item, session, seq, now)
            if lost:
                report.reports_resent[name] = len(lost)

        # kill switches and weights changed at run time
        for rec in st.admin:
            if rec.get("what") == "kill":
                scope = rec["scope"] if isinstance(rec["scope"], str) else tuple(rec["scope"])
                self._set_kill(scope, rec["engaged"], rec["reason"])
                report.kills += 1

        # the scorecard: snapshot + tail, or the day's records
        self._recover_scorecard(snap, st, files, report)
        for rec in st.admin:
            if rec.get("what") == "weights":
                with contextlib.suppress(ValueError):
                    self._set_weights(rec["profile"], rec["weights"])
        report.seconds = time.perf_counter() - t0
        return report

    def _snapshot_to_use(self, names: list[str]) -> dict[str, Any] | None:
        snap = read_snapshot(self.snapshot_path)
        if snap is None or snap["position"][0] not in names:
            return None
        return snap if snap.get("fingerprint") == _fingerprint(self.app.scorecard) else None

    def _recover_scorecard(
        self, snap: dict[str, Any] | None, st: JournalState, files: list[Path], report: RecoveryReport
    ) -> None:
        card = self.app.scorecard
        try:
            if snap is not None and restore_scorecard(card, snap):
                file, offset = snap["position"]
                report.scorecard = "snapshot+journal"
                # files older than the latest, from the snapshot's on: their records first
                for path in files[[f.name for f in files].index(file) : -1]:
                    for rec in score_records(path, offset if path.name == file else 0):
                        replay_score(card, rec)
                        report.score_records += 1
            else:
                report.scorecard = "journal" if st.scores else "none"
            for _, _, item in st.scores:
                replay_score(card, item)
                report.score_records += 1
        except Exception:  # a snapshot or records the scorecard's code no longer reads
            import logging

            logging.getLogger("fixgw.journal").exception("scorecard recovery failed; starting it afresh")
            type(card).__init__(card, card.settings)
            for lp in self.app.lp_names:
                card.add_lp(lp)
            report.scorecard = "reset"
            report.score_records = 0

    # --- while running ---------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """From the application's timer: commit what is buffered; a snapshot every N seconds,
        written by a child process (``snapshot(background=True)``)."""
        self.flush()
        if self._writer is not None:
            self._reap(block=False)
        every = self.settings.snapshot_every_s
        if every > 0 and now - self._last_snapshot >= every:
            self.snapshot(now, background=True)

    def snapshot(self, now: float, background: bool = False) -> None:
        """The scorecard with the journal position it matches, written now, or (``background``)
        by a forked child from its copy of the memory: pickling tens of thousands of
        (LP, symbol) figures takes 100 ms and more, which the event loop would otherwise
        stand still for. One writer at a time; a synchronous snapshot waits for it first,
        so that an older snapshot never replaces a newer one."""
        self.flush()  # the snapshot matches the journal up to here
        self._last_snapshot = now
        if self._writer is not None:
            if background:
                return  # the last one is still being written: the next tick tries again
            self._reap(block=True)
        args = (self.snapshot_path, self.app.scorecard, self.journal.position, now)
        if background and hasattr(os, "fork"):
            try:
                self._writer = _fork_writer(*args)
                return
            except OSError:  # no process to spare: written here instead
                pass
        try:
            write_snapshot(*args)
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            import logging

            logging.getLogger("fixgw.journal").exception("scorecard snapshot failed")

    def _reap(self, block: bool) -> None:
        """The end of the snapshot writer, if it has ended (or, ``block``, once it has)."""
        assert self._writer is not None
        try:
            pid, status = os.waitpid(self._writer, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: its exit status is lost
            pid, status = self._writer, 0
        if pid == 0:
            return
        self._writer = None
        if status != 0:
            import logging

            logging.getLogger("fixgw.journal").error(
                "scorecard snapshot not written: the writer process ended with status %#x", status
            )

    def close(self) -> None:
        """At stop: last records, a snapshot, fsync, files closed."""
        self.snapshot(time.time())
        self._stop_sync.set()
        self.journal.close()


def _fork_writer(path: Path, card: Any, position: tuple[str, int], now: float) -> int:
    """``write_snapshot`` in a forked child (the pid returned): the child sees the memory as
    it was at the fork, pickles and writes it, and leaves with ``os._exit`` (no cleanup of
    the parent's files or threads, which it shares or does not have). It first closes what
    it inherited past stderr: the parent's sockets stay the parent's alone (a peer sees a
    killed gateway's connections drop at once, a restarted one can listen on its ports)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)  # a signal to the child is not the parent's loop's
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        write_snapshot(path, card, position, now)
        code = 0
    finally:
        os._exit(code)


def _sessions(app: Any) -> list[tuple[str, Any]]:
    """Sessions by the names the journal uses: an LP's Name, an OMS session's ID."""
    return [*app.lp_sessions.items(), *app.oms_sessions.items()]


def _router_settings(router: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": getattr(router, "name", type(router).__name__)}
    settings = getattr(router, "settings", None)
    if settings is not None and dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        out.update(dataclasses.asdict(settings))
    priority = getattr(router, "priority", None) or getattr(router, "lps", None)
    if priority is not None:
        out["lps"] = list(priority)
    return out
