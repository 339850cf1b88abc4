"""Recovery, step by step and without sockets: a crash between the journal and the FIX stores.

The gateway is driven by hand (messages given to ``on_message``, sessions made to look
logged on); a "crash" is simply a gateway dropped without writing its stores, which is what
``kill -9`` leaves on disk when it strikes between the journal's group commit and the stores'.
A new gateway on the same state directory then recovers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayApplication
from gateway.fix.codec import Message, encode, parse
from gateway.fix.timeutil import utc_timestamp
from gateway.journal import read_records
from gateway.orders import C_UNKNOWN
from gateway.sessions.session import LOGGED_ON, Session
from tests.integration.gwkit import free_port, gateway_settings, nos


def _settings(tmp: Path, **tables: Any) -> Any:
    return gateway_settings(tmp, free_port(), {"LP_A": free_port(), "LP_B": free_port()}, **tables)


def _msg(session: Session, msg_type: bytes, body: bytes, seq: int, poss_dup: bool = False) -> Message:
    """A message as the counterparty of ``session`` would send it."""
    s = session.settings
    header = b"35=%s\x0134=%d\x0149=%s\x0152=%s\x0156=%s\x01" % (
        msg_type,
        seq,
        s.target_comp_id.encode(),
        utc_timestamp(time.time()),
        s.sender_comp_id.encode(),
    )
    if poss_dup:
        header += b"43=Y\x01122=%s\x01" % utc_timestamp(time.time())
    return parse(encode(b"FIX.4.4", header + body))


def _receive(app: GatewayApplication, session: Session, msg: Message) -> None:
    """What the session does before the application sees a message: count it as received."""
    session.store.next_target_seq = int(msg[34]) + 1
    app.on_message(session, msg, time.time())


def _gateway(tmp: Path, **tables: Any) -> GatewayApplication:
    app = GatewayApplication(_settings(tmp, **tables))
    return app


def _lp_report(
    cl: bytes, exec_id: bytes, exec_type: bytes, status: bytes, qty: int, cum: int, px: bytes
) -> bytes:
    body = b"37=LPO-%s\x0111=%s\x0117=%s\x01150=%s\x0139=%s\x0155=ACME\x0154=1\x0138=%d\x01" % (
        cl,
        cl,
        exec_id,
        exec_type,
        status,
        qty,
    )
    if exec_type == b"F":
        body += b"32=%d\x0131=%s\x01" % (cum, px)
    return body + b"151=%d\x0114=%d\x016=%s\x01" % (qty - cum, cum, px)


class Crashed:
    """A gateway that took an order and a fill, committed its journal, and died before its
    FIX stores were written."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        app = _gateway(tmp, router={"Priority": ["LP_A", "LP_B"]})
        assert app.journal is not None
        app.journal.start()
        (self.oms_sid,) = app.oms_sessions
        self.oms = app.oms_sessions[self.oms_sid]
        lp = app.lp_sessions["LP_A"]
        lp.state = LOGGED_ON  # an LP session up (what it writes goes nowhere: no socket)
        _receive(app, self.oms, _msg(self.oms, b"D", nos("C1", qty=1000, px="100.05"), 1))
        (parent,) = app.book.parents.values()
        (child,) = parent.children
        self.child_id = child.child_id
        self.order_id = parent.order_id
        fill = _lp_report(child.child_id, b"X1", b"F", b"1", 1000, 400, b"100.01")
        _receive(app, lp, _msg(lp, b"8", fill, 1))
        assert parent.cum_qty == 400
        app.journal.flush()  # the group commit; then kill -9, before Engine.flush writes the stores
        self.app = app
        self.reports = [
            r["body"]
            for r in read_records(tmp / "state" / "journal")
            if r["k"] == "out" and r["role"] == "oms"
        ]


def test_reports_the_store_never_got_are_stored_again_once(tmp_path: Path) -> None:
    crashed = Crashed(tmp_path)
    assert len(crashed.reports) == 2  # the ack, then the partial fill
    app = _gateway(tmp_path, router={"Priority": ["LP_A", "LP_B"]})
    assert app.journal is not None
    report = app.journal.start()
    assert report is not None
    oms = app.oms_sessions[crashed.oms_sid]
    # the reports reach the OMS by resend, with the ExecIDs it would have seen
    assert report.reports_resent == {crashed.oms_sid: 2}
    stored = [frame for _, frame in oms.store.get_sent(1, 100)]
    assert len(stored) == 2
    for body, frame in zip(crashed.reports, stored, strict=True):
        assert frame.endswith(body.encode("latin-1") + frame[-7:]), "the same report, the same ExecID"
    # what the OMS and the LP sent and the journal has is not asked for again
    assert oms.store.next_target_seq == 2
    assert app.lp_sessions["LP_A"].store.next_target_seq == 2
    assert report.inbound_marked == {crashed.oms_sid: 1, "LP_A": 1}

    # the order: its fill counted once, its child unknown until the LP says, nothing routable
    parent = app.book.parents[crashed.order_id]
    (child,) = parent.children
    assert child.state == C_UNKNOWN and child.cum_qty == 400
    assert parent.cum_qty == 400 and parent.working_qty == 600 and parent.available_qty == 0
    parent.check()
    assert ("LP_A", b"X1") in app.book.lp_exec_ids
    assert app.book.by_cl_ord_id[(crashed.oms_sid, b"C1")] is parent

    # and again, at once: nothing is stored twice
    again = _gateway(tmp_path, router={"Priority": ["LP_A", "LP_B"]})
    assert again.journal is not None
    second = again.journal.start()
    assert second is not None and second.reports_resent == {} and second.inbound_marked == {}
    assert len(again.oms_sessions[crashed.oms_sid].store.get_sent(1, 100)) == 2


def test_a_fill_resent_after_the_restart_is_not_counted_twice(tmp_path: Path) -> None:
    crashed = Crashed(tmp_path)
    app = _gateway(tmp_path, router={"Priority": ["LP_A", "LP_B"]})
    assert app.journal is not None
    app.journal.start()
    lp = app.lp_sessions["LP_A"]
    lp.state = LOGGED_ON
    oms = app.oms_sessions[crashed.oms_sid]
    before = oms.store.next_sender_seq
    # the LP's store had the fill (seq 1) though ours did not: it comes again, PossDup
    fill = _lp_report(crashed.child_id, b"X1", b"F", b"1", 1000, 400, b"100.01")
    app.on_message(lp, _msg(lp, b"8", fill, 1, poss_dup=True), time.time())
    parent = app.book.parents[crashed.order_id]
    assert parent.cum_qty == 400
    assert app.book.counters.get("duplicate_fills_ignored") == 1
    assert oms.store.next_sender_seq == before  # nothing reported to the OMS
    # the LP's answer to the status request: the rest was cancelled; only now is it routed again
    assert len(parent.children) == 1
    done = _lp_report(crashed.child_id, b"X2", b"4", b"4", 1000, 400, b"100.01")
    app.on_message(lp, _msg(lp, b"8", done, 2), time.time())
    parent.check()
    assert parent.cum_qty == 400 and len(parent.children) == 2
    assert parent.children[1].qty == 600 and parent.working_qty == 600


def test_the_scorecard_is_restored_from_its_snapshot_and_the_journal_tail(tmp_path: Path) -> None:
    app = _gateway(tmp_path, router={"Priority": ["LP_A", "LP_B"]})
    assert app.journal is not None
    app.journal.start()
    (oms_sid,) = app.oms_sessions
    oms = app.oms_sessions[oms_sid]
    for name in ("LP_A", "LP_B"):
        app.lp_sessions[name].state = LOGGED_ON
    seq = {"OMS": 0, "LP_A": 0, "LP_B": 0}

    def order(n: int) -> None:
        seq["OMS"] += 1
        _receive(app, oms, _msg(oms, b"D", nos(f"S{n}", qty=100 * n, px="100.05"), seq["OMS"]))
        p = app.book.by_cl_ord_id[(oms_sid, f"S{n}".encode())]
        c = p.children[-1]
        lp = app.lp_sessions[c.lp]
        seq[c.lp] += 1
        if n % 3:
            body = _lp_report(c.child_id, b"F%d" % n, b"F", b"2", c.qty, c.qty, b"100.0%d" % (n % 5))
        else:
            body = _lp_report(c.child_id, b"R%d" % n, b"4", b"4", c.qty, 0, b"0")
        _receive(app, lp, _msg(lp, b"8", body, seq[c.lp]))

    for n in range(1, 8):
        order(n)
    app.journal.snapshot(time.time())
    for n in range(8, 14):
        order(n)
    app.journal.flush()
    now = time.time()
    lps = ["LP_A", "LP_B"]
    expected = {p: app.scorecard.scores(lps, "ACME", p, now) for p in ("hft", "block", "best_price")}
    kpis = {lp: app.scorecard.kpis(lp, "ACME", None, now) for lp in lps}

    restarted = _gateway(tmp_path, router={"Priority": ["LP_A", "LP_B"]})
    assert restarted.journal is not None
    report = restarted.journal.start()
    assert report is not None and report.scorecard == "snapshot+journal" and report.score_records > 0
    card = restarted.scorecard
    assert {p: card.scores(lps, "ACME", p, now) for p in expected} == expected
    assert {lp: card.kpis(lp, "ACME", None, now) for lp in lps} == kpis


def test_kill_switches_and_weights_changed_at_run_time_survive_a_crash(tmp_path: Path) -> None:
    app = _gateway(tmp_path)
    assert app.journal is not None
    app.journal.start()
    app.kill(True, "desk says stop", ("lp", "LP_B"))
    app.scorecard.set_weights("hft", {"latency": 0.3, "fill_rate": 0.7})
    app.journal.flush()
    restarted = _gateway(tmp_path)
    assert restarted.journal is not None
    report = restarted.journal.start()
    assert report is not None and report.kills == 1
    assert restarted.risk.killed(lp="LP_B") is not None
    assert restarted.risk.killed(lp="LP_A") is None
    assert restarted.scorecard.settings.profiles["hft"] == {"latency": 0.3, "fill_rate": 0.7}


@pytest.mark.parametrize("fsync", ["always", "never"])
def test_a_gateway_without_a_journal_dir_starts_clean(tmp_path: Path, fsync: str) -> None:
    app = _gateway(tmp_path, journal={"Fsync": fsync})
    assert app.journal is not None
    report = app.journal.start()
    assert report is not None and report.parents == 0 and report.file == ""
    kinds = [r["k"] for r in read_records(tmp_path / "state" / "journal")]
    assert kinds[0] == "start" and "checkpoint" in kinds


def test_the_journal_can_be_turned_off(tmp_path: Path) -> None:
    app = _gateway(tmp_path, journal={"Enabled": False})
    assert app.journal is None
    assert not (tmp_path / "state" / "journal").exists()


def test_the_periodic_snapshot_is_written_by_a_child_process_one_at_a_time(tmp_path: Path) -> None:
    from gateway.recovery import read_snapshot

    app = _gateway(tmp_path)
    journal = app.journal
    assert journal is not None
    journal.start()
    card = app.scorecard
    card.on_sent(b"C1", "LP_A", "ACME", 1, 1000.0, 100.0, bid=99.99, ask=100.01, typical=1000.0)
    card.on_fill(b"C1", 1000.0, 100.0, 100.02)
    card.on_done(b"C1", False, 100.02)
    path = journal.snapshot_path
    path.unlink(missing_ok=True)
    every = journal.settings.snapshot_every_s
    t = time.time()
    journal.tick(t + every + 1)  # due: forked
    writer = journal._writer
    assert writer is not None and writer != 0
    journal.snapshot(t + every + 2, background=True)  # the last one still being written: none
    assert journal._writer == writer
    journal._reap(block=True)
    assert journal._writer is None
    snap = read_snapshot(path)
    assert snap is not None and snap["t"] == t + every + 1
    assert snap["position"] == list(journal.journal.position)
    other = _gateway(tmp_path / "other")
    from gateway.recovery import restore_scorecard

    assert restore_scorecard(other.scorecard, snap)
    assert other.scorecard.kpis("LP_A", "ACME", None, 200.0) == card.kpis("LP_A", "ACME", None, 200.0)
    # a synchronous snapshot (as at stop) waits for the writer: the newer one stays
    journal.tick(t + 2 * every + 3)
    assert journal._writer is not None
    journal.snapshot(t + 2 * every + 4)
    assert journal._writer is None
    snap = read_snapshot(path)
    assert snap is not None and snap["t"] == t + 2 * every + 4
    journal.close()


def test_the_snapshot_writer_keeps_none_of_the_gateways_sockets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A socket the gateway closes (or loses with a kill -9) must close at once for the peer,
    # not when a slow snapshot writer ends: the child closes what it inherited.
    import os
    import socket

    import gateway.recovery as recovery

    def slow_write(path: Path, card: Any, position: tuple[str, int], now: float) -> None:
        time.sleep(2.0)

    monkeypatch.setattr(recovery, "write_snapshot", slow_write)
    ours, peer = socket.socketpair()
    pid = recovery._fork_writer(tmp_path / "snap", None, ("f", 0), 0.0)
    try:
        ours.close()
        peer.settimeout(1.0)
        assert peer.recv(1) == b""  # end of stream: nobody else holds our end
    finally:
        peer.close()
        os.waitpid(pid, 0)
