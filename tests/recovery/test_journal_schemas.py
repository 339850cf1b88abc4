"""Recovery reads a day file whatever schema wrote its groups.

A gateway upgraded in the middle of a day restarts on a file whose first groups were written
as lines of one record (schema 2) and whose next ones are pieces (schema 3). A crash like
``test_recovery_logic.Crashed`` (an order, its child, an LP fill, the journal committed and
the FIX stores not written) is recovered from its journal as written, as schema 2
throughout, and with the groups up to the order's schema 2 and the fill's schema 3: it must
come back the same each time.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.journal import journal_files, read_groups, read_records
from gateway.recovery import fold
from gateway.sessions.session import LOGGED_ON
from tests.integration.gwkit import nos
from tests.recovery.test_recovery_logic import _gateway, _lp_report, _msg, _receive


def crash(tmp: Path) -> int:
    """An order routed (a group), then an LP fill (another group), then the end before the
    FIX stores are written. Returns the number of groups up to the order's."""
    app = _gateway(tmp, router={"Priority": ["LP_A", "LP_B"]})
    assert app.journal is not None
    app.journal.start()
    (oms_sid,) = app.oms_sessions
    oms = app.oms_sessions[oms_sid]
    lp = app.lp_sessions["LP_A"]
    lp.state = LOGGED_ON
    _receive(app, oms, _msg(oms, b"D", nos("C1", qty=1000, px="100.05"), 1))
    app.journal.flush()
    upto = app.journal.journal.groups
    (parent,) = app.book.parents.values()
    (child,) = parent.children
    _receive(app, lp, _msg(lp, b"8", _lp_report(child.child_id, b"X1", b"F", b"1", 1000, 400, b"100.01"), 1))
    assert parent.cum_qty == 400
    app.journal.flush()
    return upto


def schema_2_group(records: list[Any], g: int, t: float) -> bytes:
    """A group as schema 2 wrote it: a line per record (as parsed: arrays or objects), then
    the commit line with the number of lines and their CRC-32."""
    lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
    commit = {"k": "commit", "t": t, "g": g, "n": len(records), "crc": zlib.crc32(lines)}
    return lines + orjson.dumps(commit) + b"\n"


def rewrite_as_schema_2(path: Path, groups: int | None = None) -> int:
    """The first ``groups`` groups of a day file (all: None) rewritten as schema 2; the rest
    of the file as it was. Returns how many were rewritten."""
    data = path.read_bytes()
    out = b""
    end = 0
    done = 0
    for group in read_groups(path, parse=False):
        if groups is not None and done == groups:
            break
        out += schema_2_group(list(group.items()), group.g, group.t)
        end = group.end
        done += 1
    path.write_bytes(out + data[end:])
    return done


def _recovered(tmp: Path) -> dict[str, Any]:
    """What a gateway started on ``tmp`` recovers: the report, the orders, the sequences."""
    app = _gateway(tmp, router={"Priority": ["LP_A", "LP_B"]})
    assert app.journal is not None
    report = app.journal.start()
    assert report is not None
    orders = {
        p.order_id: (
            p.state,
            p.cum_qty,
            p.working_qty,
            [(c.child_id, c.state, c.cum_qty, [f.exec_id for f in c.fills]) for c in p.children],
        )
        for p in app.book.parents.values()
    }
    stored = {name: [f for _, f in s.store.get_sent(1, 100)] for name, s in app.oms_sessions.items()}
    got = {
        "orders": orders,
        "resent": report.reports_resent,
        "marked": report.inbound_marked,
        "exec_ids": set(app.book.lp_exec_ids),
        "next_in": {name: s.store.next_target_seq for name, s in app.sessions_by_name.items()},
        # the reports stored again, from their first body field to the trailer (the header and
        # the checksum have the time of the recovery)
        "bodies": {
            name: [f[f.index(b"\x0137=") : f.rindex(b"\x0110=")] for f in frames]
            for name, frames in stored.items()
        },
    }
    app.journal.close()
    return got


@pytest.mark.parametrize("rewritten", ["all", "half"])
def test_a_day_written_partly_by_schema_2_recovers_the_same(tmp_path: Path, rewritten: str) -> None:
    upto = crash(tmp_path / "as_written")
    shutil.copytree(tmp_path / "as_written", tmp_path / "other")
    (path,) = journal_files(tmp_path / "other" / "state" / "journal")
    groups = len(list(read_groups(path, parse=False)))
    assert groups > upto >= 2
    before = list(read_records(tmp_path / "other" / "state" / "journal"))
    done = rewrite_as_schema_2(path, None if rewritten == "all" else upto)
    assert done == (groups if rewritten == "all" else upto)
    lines = path.read_bytes().rstrip(b"\0").splitlines()
    assert lines[0].startswith((b'["', b'{"'))  # a record per line ...
    if rewritten == "half":
        assert lines[-2].startswith((b"[[", b"[{"))  # ... and pieces after
    assert list(read_records(tmp_path / "other" / "state" / "journal")) == before
    state = fold(path)
    assert state.groups == groups and state.records == len(before)

    expected = _recovered(tmp_path / "as_written")
    got = _recovered(tmp_path / "other")
    assert expected["orders"] and expected["resent"]  # the crash left something to recover
    assert got == expected
