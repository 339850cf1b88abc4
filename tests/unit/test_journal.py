"""The journal: group commit, torn tails, rotation by UTC day, fsync policy, schema, settings."""

from __future__ import annotations

import dataclasses
import os
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway import journal as journal_mod
from gateway.instruments import Instrument
from gateway.journal import (
    DERIVED_FIELDS,
    Journal,
    JournalConfigError,
    JournalRecorder,
    as_record,
    child_record,
    day_of,
    journal_files,
    parent_record,
    parse_journal_settings,
    read_groups,
    read_records,
    replay_score,
)
from gateway.orders import ChildOrder, Fill, OrderBook, Out, ParentOrder
from gateway.scorecard import Scorecard

DAY1 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
DAY2 = DAY1 + 86_400.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _journal(tmp_path: Path, fsync: str = "never", t: float = DAY1) -> tuple[Journal, Clock]:
    clock = Clock(t)
    return Journal(tmp_path, fsync, clock=clock), clock


def test_groups_are_committed_and_read_back_in_order(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    for i in range(3):
        j.append({"k": "x", "t": clock.t, "i": i})
    assert j.flush() == 3
    j.append({"k": "x", "t": clock.t, "i": 3})
    j.flush()
    assert j.flush() == 0  # nothing buffered: nothing written
    j.close()
    assert [r["i"] for r in read_records(tmp_path)] == [0, 1, 2, 3]
    groups = list(read_groups(journal_files(tmp_path)[0]))
    assert [len(g.records) for g in groups] == [3, 1]
    assert [g.g for g in groups] == [1, 2]
    # every line is JSON: a group's records in one array, then its commit line (the number of
    # records and the CRC-32 of the lines before it)
    lines = journal_files(tmp_path)[0].read_bytes().splitlines(keepends=True)
    assert [r["i"] for r in orjson.loads(lines[0])] == [0, 1, 2]
    commit = orjson.loads(lines[1])
    assert commit["k"] == "commit" and commit["n"] == 3
    assert commit["crc"] == zlib.crc32(lines[0])
    assert orjson.loads(lines[3])["n"] == 1 and len(lines) == 4


def test_a_torn_last_group_is_ignored_and_cut_off_on_reopening(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    j.append({"k": "x", "t": clock.t, "i": 1})
    j.flush()
    j.close()
    path = journal_files(tmp_path)[0]
    good = path.stat().st_size
    # a crash in the middle of the next group: a whole record line, half of another, no commit
    with open(path, "ab") as f:
        f.write(orjson.dumps({"k": "x", "t": clock.t, "i": 2}) + b"\n" + b'{"k":"x","t":1,"i"')
    assert [r["i"] for r in read_records(tmp_path)] == [1]
    kept = path.read_bytes()[:good]
    j2, _ = _journal(tmp_path)
    j2.open()
    data = path.read_bytes()  # the torn tail is gone before anything is appended (zeros follow)
    assert data[:good] == kept and not data[good:].strip(b"\0")
    j2.append({"k": "x", "t": clock.t, "i": 3})
    j2.flush()
    j2.close()
    assert [r["i"] for r in read_records(tmp_path)] == [1, 3]
    assert [g.g for g in read_groups(path)] == [1, 2]  # numbering goes on
    assert path.stat().st_size == j2.offset  # closed: the file ends with its last group


def test_the_mapped_file_ends_in_zeros_until_closed_and_a_crash_leaves_whole_groups(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    j.append({"k": "x", "t": clock.t, "i": 1})
    j.flush()
    path = journal_files(tmp_path)[0]
    end = j.offset
    data = path.read_bytes()
    assert len(data) >= journal_mod.MAP_CHUNK and not data[end:].strip(b"\0")  # preallocated, in zeros
    assert [r["i"] for r in read_records(tmp_path)] == [1]  # readers stop at the zeros
    # a copy cut short by kill -9 (any bytes of the group missing): the group is not read
    j.append({"k": "x", "t": clock.t, "i": 2})
    j.flush()
    whole = path.read_bytes()
    second = whole[end : j.offset]
    for hole in (slice(0, 5), slice(10, 20), slice(len(second) - 30, len(second) - 1)):
        torn = bytearray(second)
        torn[hole] = bytes(hole.stop - hole.start)
        path.write_bytes(whole[:end] + bytes(torn) + whole[j.offset :])
        assert [r["i"] for r in read_records(tmp_path)] == [1]
    # the process died without closing: the next writer cuts what follows the last whole group
    j2, _ = _journal(tmp_path)
    assert path.stat().st_size == end and j2.g == 1
    j2.append({"k": "x", "t": clock.t, "i": 3})
    j2.close()
    j.buffer.clear()
    assert [r["i"] for r in read_records(tmp_path)] == [1, 3]
    assert path.stat().st_size == j2.offset  # closed: no zeros left


def test_a_group_with_a_wrong_crc_ends_what_is_read(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    for i in range(3):
        j.append({"k": "x", "t": clock.t, "i": i})
        j.flush()
    j.close()
    path = journal_files(tmp_path)[0]
    data = path.read_bytes()
    second = data.index(b'"i":1')
    path.write_bytes(data[:second] + b'"i":7' + data[second + 5 :])  # same length, other bytes
    assert [r["i"] for r in read_records(tmp_path)] == [0]


def test_a_group_is_whole_only_with_its_commit_line_and_as_many_records_as_it_says(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    for i in range(2):
        j.append(("score", clock.t, "answer", f"C{i}"))
        j.append(("score", clock.t, "answer", f"D{i}"))
        j.flush()
    j.close()
    path = journal_files(tmp_path)[0]
    data = path.read_bytes()
    first = data.index(b"\n", data.index(b'{"k":"commit"')) + 1
    piece, commit = data[first:].splitlines(keepends=True)
    assert [r["child"] for r in read_records(tmp_path)] == ["C0", "D0", "C1", "D1"]
    # the second group's line without its commit line (a crash between the two copies)
    path.write_bytes(data[:first] + piece)
    assert [r["child"] for r in read_records(tmp_path)] == ["C0", "D0"]
    # a commit line whose CRC matches but whose count does not
    wrong = orjson.loads(commit)
    wrong["n"] = 3
    path.write_bytes(data[:first] + piece + orjson.dumps(wrong) + b"\n")
    assert [r["child"] for r in read_records(tmp_path)] == ["C0", "D0"]


def test_rotation_by_utc_day_starts_the_new_file_with_the_checkpoint(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    j.on_rotate = lambda: [{"k": "checkpoint", "t": clock.t, "open": 0}]
    j.append({"k": "x", "t": clock.t, "i": 1})
    j.flush()
    clock.t = DAY2
    j.append({"k": "x", "t": clock.t, "i": 2})
    j.flush()
    j.close()
    files = journal_files(tmp_path)
    assert [f.name for f in files] == [f"journal-{day_of(DAY1)}.jsonl", f"journal-{day_of(DAY2)}.jsonl"]
    assert day_of(DAY1) == "20231114" and day_of(DAY2) == "20231115"
    first = [r for g in read_groups(files[0]) for r in g.records]
    second = [r for g in read_groups(files[1]) for r in g.records]
    assert [r.get("i") for r in first] == [1]
    assert [r["k"] for r in second] == ["x", "checkpoint"]  # what was buffered, then the open orders
    assert [r["k"] for r in read_records(tmp_path, start=DAY2 - 1)] == ["x", "checkpoint"]


def test_the_index_lets_a_reader_start_at_a_time(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    for i in range(10):
        clock.t = DAY1 + i * 10.0
        j.append({"k": "x", "t": clock.t, "i": i})
        j.flush()
    j.close()
    index = journal_mod.read_index(journal_files(tmp_path)[0])
    assert len(index) == 10 and index[0][1] == 0
    assert [r["i"] for r in read_records(tmp_path, start=DAY1 + 45.0, end=DAY1 + 75.0)] == [5, 6, 7]


@pytest.mark.parametrize(("policy", "per_flush"), [("always", True), ("interval", False), ("never", False)])
def test_fsync_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, per_flush: bool) -> None:
    synced: list[int] = []
    ranges: list[int] = []
    real = os.fsync
    monkeypatch.setattr(journal_mod.os, "fsync", lambda fd: synced.append(fd) or real(fd))
    if journal_mod._msync is not None:
        real_msync = journal_mod._msync
        monkeypatch.setattr(journal_mod, "_msync", lambda a, n, f: ranges.append(n) or real_msync(a, n, f))
    j, clock = _journal(tmp_path, policy)
    for i in range(3):
        j.append({"k": "x", "t": clock.t, "i": i})
        j.flush()
    assert len(synced) == (3 if per_flush else 0)
    j.sync()  # what the interval policy's thread calls
    after = len(synced)
    if policy == "interval":
        # the day file (its written range by msync where there is one) and its index, once
        assert after + len(ranges) == 2
        assert not ranges or ranges[0] == j.offset  # from the start of the file to the last group
        j.sync()
        assert len(synced) == after  # nothing new: no fsync
        j.append({"k": "x", "t": clock.t, "i": 3})
        j.flush()
        j.sync()
        assert not ranges or ranges[-1] == j.offset  # the page of the previous end on
    j.close()


def test_settings(tmp_path: Path) -> None:
    s = parse_journal_settings({}, "gw.toml", str(tmp_path))
    assert s.directory == str(tmp_path / "journal") and s.fsync == "interval" and s.enabled and s.recover
    s = parse_journal_settings({"Dir": "j", "Fsync": "always", "SnapshotEvery": 5}, "gw.toml", str(tmp_path))
    assert s.directory == str(tmp_path / "j") and s.fsync == "always" and s.snapshot_every_s == 5.0
    with pytest.raises(JournalConfigError, match=r"gw.toml: \[journal\] Fsync: 'sometimes'; allowed"):
        parse_journal_settings({"Fsync": "sometimes"}, "gw.toml", str(tmp_path))
    with pytest.raises(JournalConfigError, match=r"\[journal\] Sync: unknown key"):
        parse_journal_settings({"Sync": "always"}, "gw.toml", str(tmp_path))
    with pytest.raises(JournalConfigError, match=r"\[journal\] Enabled: 'yes'"):
        parse_journal_settings({"Enabled": "yes"}, "gw.toml", str(tmp_path))


# --- schema -------------------------------------------------------------------------------


def _orders() -> tuple[ParentOrder, ChildOrder]:
    inst = Instrument("ACME", Decimal("0.01"), Decimal("1"))
    p = ParentOrder(b"GW1O1", "FIX.4.4:GW->OMS1", b"C1", inst, b"1", b"2", b"0", 500, 10005, DAY1)
    c = ChildOrder(b"GW1C2", p, "LP_A", 500, 10005, b"3", DAY1, state="partially_filled", cum_qty=200)
    c.fills.append(Fill(b"LPX-1", 200, 10004, b"GW1E3"))
    c.notional = 200 * 10004
    p.children.append(c)
    p.state, p.cum_qty, p.notional, p.working_qty = "partially_filled", 200, 200 * 10004, 300
    return p, c


def test_every_order_field_is_journaled_or_derived() -> None:
    p, c = _orders()
    prec = as_record(list(parent_record(p, DAY1)))
    crec = as_record(list(child_record(c, DAY1, 7)))
    for cls, rec, derived in (
        (ParentOrder, prec, DERIVED_FIELDS["parent"]),
        (ChildOrder, crec, DERIVED_FIELDS["child"]),
    ):
        for f in dataclasses.fields(cls):
            assert f.name in rec or f.name in derived, (
                f"{cls.__name__}.{f.name} is neither journaled nor derived"
            )
    assert crec["fills"] == [["LPX-1", 200, 10004, "GW1E3", False]]
    assert prec["qty"] == 500 and prec["price"] == 10005 and prec["state"] == "partially_filled"
    assert prec["order_id"] == "GW1O1" and crec["order_id"] == "GW1O1" and crec["lp_seq"] == 7
    # records are plain JSON: an array whose fields journal.FIELDS names
    assert as_record(orjson.loads(orjson.dumps(parent_record(p, DAY1)))) == prec


def test_recorder_writes_states_of_touched_parents_once_per_change(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    book = OrderBook()
    rec = JournalRecorder(j, book, clock=clock)
    p, c = _orders()
    book.parents[p.order_id] = p
    rec.touch(p)
    rec.flush()
    rec.touch(p)  # unchanged: nothing new
    rec.flush()
    c.cum_qty = 500
    c.state = "filled"
    rec.touch(p)
    rec.flush()
    j.close()
    kinds = [(r["k"], r.get("state")) for r in read_records(tmp_path)]
    assert kinds == [("parent", "partially_filled"), ("child", "partially_filled"), ("child", "filled")]


def test_scorecard_inputs_replay_to_the_same_scorecard(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    card = Scorecard()

    class Router:
        on_decision = None

    class Risk:
        def set_kill(self, scope: Any, engaged: bool, reason: str) -> bool:
            return True

    JournalRecorder(j, OrderBook(), clock=clock).observe(card, Router(), Risk())
    t = DAY1
    for i, lp in enumerate(["LP_A", "LP_B", "LP_A", "LP_C"] * 5):
        cid = b"C%d" % i
        card.on_sent(cid, lp, "ACME", 1 if i % 2 else -1, 1000.0, t, bid=99.99, ask=100.01, typical=1000.0)
        card.on_answer(cid, t + 0.002)
        if i % 3:
            card.on_answer(cid, t + 0.002)  # again with the fill, as the application does
            card.on_fill(cid, 600.0, 100.0 + (i % 4) * 0.01, t + 0.01)
        card.on_answer(cid, t + 0.002)  # and at the end
        card.on_done(cid, i % 3 == 0, t + 0.02)
        card.mature(t + 1.5, lambda symbol, i=i: 100.0 + i * 0.001)
        t += 0.5
    card.set_weights("hft", {"latency": 0.5, "fill_rate": 0.5})
    j.close()
    again = Scorecard()
    by_position = Scorecard()  # the arrays as parsed, as recovery gives them
    for group in read_groups(journal_files(tmp_path)[0], parse=False):
        for item in group.items("score"):
            replay_score(by_position, item)
    records = list(read_records(tmp_path))
    for r in records:
        if r["k"] == "score":
            replay_score(again, r)
        elif r["k"] == "admin" and r["what"] == "weights":
            again.set_weights(r["profile"], r["weights"])
    lps = ["LP_A", "LP_B", "LP_C"]
    for profile in ("hft", "block", "best_price"):
        assert again.scores(lps, "ACME", profile, t) == card.scores(lps, "ACME", profile, t)
    for lp in lps:
        assert again.kpis(lp, "ACME", None, t) == card.kpis(lp, "ACME", None, t)
        assert by_position.kpis(lp, "ACME", None, t) == card.kpis(lp, "ACME", None, t)
    assert {r["ev"] for r in records if r["k"] == "score"} == {"sent", "answer", "fill", "done", "mature"}
    assert sum(1 for r in records if r["k"] == "score" and r["ev"] == "answer") == 20  # once per child


def test_order_path_records_are_arrays_read_back_as_dicts_with_fix_text_intact(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    book = OrderBook()
    rec = JournalRecorder(j, book, clock=clock)

    class Store:
        creation_time = DAY1 - 60.0

    class Sess:
        store = Store()

    class Msg:
        msg_type = b"D"
        raw = b"8=FIX.4.4\x019=40\x0135=D\x0134=7\x0111=C|1\x0158=a|b\x0110=000\x01"
        fields = [
            (8, b"FIX.4.4"),
            (9, b"40"),
            (35, b"D"),
            (34, b"7"),
            (11, b"C|1"),
            (58, b"a|b"),
            (10, b"000"),
        ]

        def get(self, tag: int) -> bytes | None:
            return {11: b"C|1", 34: b"7"}.get(tag)

    rec.received("oms", "OMS1", Sess(), Msg(), clock.t)
    rec.sent("oms", Out("oms", "OMS1", b"8", b"37=NONE\x0111=C|1\x01150=0\x01"), Sess(), 9, clock.t)
    rec.flush()
    j.close()
    lines = journal_files(tmp_path)[0].read_bytes().splitlines()
    assert lines[0].startswith(b'[["in",') and b"35=D|34=7|11=C\\u00011" in lines[0]  # SOH and | swapped
    got = list(read_records(tmp_path))
    assert got[0] == {
        "k": "in",
        "t": DAY1,
        "session": "OMS1",
        "role": "oms",
        "seq": 7,
        "epoch": DAY1 - 60.0,
        "msg_type": "D",
        "raw": Msg.raw.decode("latin-1"),
    }
    assert got[1]["k"] == "out" and got[1]["body"] == "37=NONE\x0111=C|1\x01150=0\x01" and got[1]["seq"] == 9


def test_schema_1_object_records_are_still_read(tmp_path: Path) -> None:
    lines = [
        orjson.dumps({"k": "in", "t": DAY1, "session": "S", "role": "oms", "seq": 1, "raw": "35=D\x01"}),
        orjson.dumps({"k": "score", "t": DAY1, "ev": "answer", "child": "C1"}),
    ]
    data = b"".join(line + b"\n" for line in lines)
    commit = {"k": "commit", "t": DAY1, "g": 1, "n": 2, "crc": zlib.crc32(data)}
    (tmp_path / f"journal-{day_of(DAY1)}.jsonl").write_bytes(data + orjson.dumps(commit) + b"\n")
    got = list(read_records(tmp_path))
    assert got[0]["raw"] == "35=D\x01" and got[1] == {"k": "score", "t": DAY1, "ev": "answer", "child": "C1"}


def test_prepare_makes_the_pages_ahead_writable_without_writing_a_byte(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path, "interval")
    j.append({"k": "x", "t": clock.t, "i": 0})
    j.flush()
    path = journal_files(tmp_path)[0]
    before = path.read_bytes()
    prepared = j.prepare()
    if journal_mod._madvise is None:
        pytest.skip("this kernel has no MADV_POPULATE_WRITE")
    assert prepared > 0 and path.read_bytes() == before  # the file is what it was
    for i in range(1, 200):  # into the prepared pages and past them
        j.append({"k": "x", "t": clock.t, "i": i, "pad": "y" * 500})
        j.flush()
    assert [r["i"] for r in read_records(tmp_path)] == list(range(200))
    assert j.prepare() > 0
    ready = j._prepared
    assert ready > j.offset
    j.append({"k": "x", "t": clock.t, "i": 200})
    j.flush()
    j.sync()
    if journal_mod._msync is not None:
        assert j._prepared == ready  # what was written is flushed; the pages ahead stay ready
    j.close()
    assert [r["i"] for r in read_records(tmp_path)] == list(range(201))
    assert path.stat().st_size == j.offset
    assert j.prepare() == 0  # closed: nothing to prepare


def test_a_large_group_is_copied_in_pieces_and_reads_back_whole(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    n = 3 * journal_mod._PIECE + 5
    for i in range(n):
        j.append(("score", clock.t, "answer", f"C{i}"))
    assert j.flush() == n
    j.close()
    (group,) = list(read_groups(journal_files(tmp_path)[0]))
    assert [r["child"] for r in group.records] == [f"C{i}" for i in range(n)]
    data = journal_files(tmp_path)[0].read_bytes()
    last = data.rindex(b"\n", 0, len(data) - 1) + 1  # the commit line
    commit = orjson.loads(data[last:])
    assert commit["n"] == n and commit["crc"] == zlib.crc32(data[:last])  # one CRC over the pieces


def test_a_record_that_cannot_be_serialised_does_not_lose_its_group(tmp_path: Path) -> None:
    j, clock = _journal(tmp_path)
    j.append(("score", clock.t, "answer", "C1"))
    j.append({"k": "admin", "t": clock.t, "what": object()})  # a bug somewhere
    j.append(("score", clock.t, "answer", "C2"))
    assert j.flush() == 3
    j.close()
    got = list(read_records(tmp_path))
    assert [r.get("child") for r in got] == ["C1", None, "C2"]
    assert got[1]["k"] == "admin" and "unserialisable" in got[1]


def test_recovery_unpacks_in_and_out_arrays_as_fields_lays_them_out() -> None:
    # gateway.recovery.fold unpacks these two by position (for speed): change both together
    common = ("k", "t", "session", "role", "seq", "epoch", "msg_type")
    assert journal_mod.FIELDS["in"] == (*common, "raw")
    assert journal_mod.FIELDS["out"] == (*common, "body", "child")
    # and replay_score reads score arrays by position
    assert journal_mod.SCORE_FIELDS == {
        "sent": (
            "k",
            "t",
            "ev",
            "child",
            "lp",
            "symbol",
            "side",
            "qty",
            "bid",
            "ask",
            "typical",
            "last_look",
        ),
        "answer": ("k", "t", "ev", "child"),
        "fill": ("k", "t", "ev", "child", "qty", "price"),
        "done": ("k", "t", "ev", "child", "rejected"),
        "mature": ("k", "t", "ev", "mids"),
    }


def test_a_full_disk_is_an_error_when_the_file_is_extended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ctypes
    import errno

    def fails(code: int) -> Any:
        return lambda *args: (ctypes.set_errno(code), -1)[1]

    monkeypatch.setattr(journal_mod, "_fallocate", fails(errno.EOPNOTSUPP))  # no fallocate here
    j, clock = _journal(tmp_path)
    j.append({"k": "x", "t": clock.t, "i": 1})
    j.flush()  # extended with ftruncate instead
    assert [r["i"] for r in read_records(tmp_path)] == [1]
    j.close()
    monkeypatch.setattr(journal_mod, "_fallocate", fails(errno.ENOSPC))
    j2, _ = _journal(tmp_path)
    with pytest.raises(OSError) as raised:
        j2.open()  # not a SIGBUS later, in the middle of a copy
    assert raised.value.errno == errno.ENOSPC


def test_a_routing_decision_is_recorded_with_its_candidates_and_children(tmp_path: Path) -> None:
    from gateway.orders import ChildPlan
    from gateway.router import Candidate, Decision

    j, clock = _journal(tmp_path)
    book = OrderBook()
    p, _ = _orders()
    book.parents[p.order_id] = p

    class Router:
        on_decision = None

    class Risk:
        def set_kill(self, scope: Any, engaged: bool, reason: str) -> bool:
            return True

    router = Router()
    JournalRecorder(j, book, clock=clock).observe(Scorecard(), router, Risk())
    assert router.on_decision is not None
    for attempt in (1, 2):  # the second on the same symbol: sizes from the first
        router.on_decision(
            Decision(
                "GW1O1",
                "ACME",
                DAY1,
                "scorecard",
                "best_price",
                300,
                attempt,
                [Candidate("LP_A", True, "chosen", 71.5), Candidate("LP_B", False, "quote through", None)],
                [ChildPlan("LP_A", 300, 10005, b"3")],
            )
        )
    j.flush()
    j.close()
    got = [r for r in read_records(tmp_path) if r["k"] == "decision"]
    assert [r["attempt"] for r in got] == [1, 2]
    for r in got:
        assert r["candidates"] == [["LP_A", True, "chosen", 71.5], ["LP_B", False, "quote through", None]]
        assert r["children"] == [["LP_A", 300, 10005, "3"]]
        assert r["qty"] == 300.0 and r["typical"] == float(p.inst.typical_size) and r["available"] == 300


def test_groups_that_cross_the_end_of_the_mapping_are_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmap

    monkeypatch.setattr(journal_mod, "MAP_CHUNK", mmap.ALLOCATIONGRANULARITY)  # a remap every few groups
    j, clock = _journal(tmp_path)
    sizes = [1, 3, journal_mod._PIECE + 1, 2, 1]  # one line, and pieces
    n = 0
    for round_ in range(40):
        for _ in range(sizes[round_ % len(sizes)]):
            j.append(("score", clock.t, "answer", f"C{n}-" + "x" * 300))
            n += 1
        j.flush()
    j.close()
    assert [r["child"].split("-")[0] for r in read_records(tmp_path)] == [f"C{i}" for i in range(n)]
    assert len(list(read_groups(journal_files(tmp_path)[0]))) == 40
