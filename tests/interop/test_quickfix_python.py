"""A QuickFIX (Python binding) initiator against our acceptor, both in their own processes.

Either side is killed with SIGKILL and restarted on its own store: the session must resume
with sequence numbers continuing (no ResetSeqNumFlag, Logon MsgSeqNum > 1) and whatever
was missed must come back through ResendRequest -> PossDupFlag resend / SequenceReset-
GapFill. The evidence is what both engines wrote: their message logs (QuickFIX text format)
and their .seqnums files, and what each application was handed.

The scripts: qf_initiator.py (QuickFIX, CLIENT -> FIXGW, HeartBtInt 1, ReconnectInterval 1)
and fixgw_acceptor.py (our Engine, FIXGW <- CLIENT); both take commands on stdin.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.sessions.store import store_file_prefix
from tests.interop.support import (
    HERE,
    LoggedMessage,
    Peer,
    free_port,
    read_message_log,
    read_seqnums,
    require_quickfix,
    spec_file,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

OURS = "FIXGW"  # our acceptor's SenderCompID
THEIRS = "CLIENT"  # the QuickFIX initiator's


class Rig:
    """Our acceptor and the QuickFIX initiator, each with a folder that outlives restarts."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.port = free_port()
        self.ours = tmp_path / "fixgw"
        self.theirs = tmp_path / "quickfix"
        self.dictionary = spec_file("FIX.4.4")
        self.peers: list[Peer] = []

    def start_acceptor(self) -> Peer:
        peer = Peer(
            [
                sys.executable,
                HERE / "fixgw_acceptor.py",
                "--dir",
                self.ours,
                "--port",
                str(self.port),
                "--dictionary",
                self.dictionary,
            ],
            cwd=self.tmp,
            name=f"fixgw-acceptor#{len(self.peers)}",
        )
        self.peers.append(peer)
        peer.wait_for(r"^READY \d+$", timeout=15)
        return peer

    def start_initiator(self) -> Peer:
        peer = Peer(
            [
                sys.executable,
                HERE / "qf_initiator.py",
                "--dir",
                self.theirs,
                "--port",
                str(self.port),
                "--dictionary",
                self.dictionary,
                "--hbi",
                "1",
            ],
            cwd=self.tmp,
            name=f"quickfix-initiator#{len(self.peers)}",
        )
        self.peers.append(peer)
        peer.wait_for(r"^STARTED$", timeout=15)
        return peer

    def our_log(self) -> list[LoggedMessage]:
        path = self.ours / "log" / f"FIX.4.4-{OURS}-{THEIRS}.messages.current.log"
        return read_message_log(path, live=True)

    def their_log(self) -> list[LoggedMessage]:
        path = self.theirs / "log" / f"FIX.4.4-{THEIRS}-{OURS}.messages.current.log"
        return read_message_log(path, live=True)

    def our_seqnums(self) -> tuple[int, int]:
        prefix = store_file_prefix(f"FIX.4.4:{OURS}->{THEIRS}")
        return read_seqnums(self.ours / "store" / f"{prefix}.seqnums")

    def their_seqnums(self) -> tuple[int, int]:
        return read_seqnums(self.theirs / "store" / f"FIX.4.4-{THEIRS}-{OURS}.seqnums")

    def close(self) -> None:
        for peer in self.peers:
            peer.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    require_quickfix()
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.close()


# --- helpers ----------------------------------------------------------------------------
def logged_on(acceptor: Peer, initiator: Peer, acceptor_mark: int = 0, initiator_mark: int = 0) -> None:
    initiator.wait_for(r"^LOGON$", timeout=10, start=initiator_mark)
    acceptor.wait_for(r"^LOGON$", timeout=10, start=acceptor_mark)


def finish(rig: Rig, acceptor: Peer, initiator: Peer) -> None:
    """Graceful end: the QuickFIX side logs out, then our acceptor is told to quit."""
    mark = acceptor.mark()
    initiator.send("quit")
    initiator.wait_for(r"^BYE$", timeout=15)
    assert initiator.wait_exit(10) == 0, initiator.output
    acceptor.wait_for(r"^LOGOUT$", timeout=5, start=mark)
    acceptor.send("quit")
    acceptor.wait_for(r"^BYE$", timeout=10)
    assert acceptor.wait_exit(10) == 0, acceptor.output


def of(messages: list[LoggedMessage], sender: str, msg_type: str) -> list[LoggedMessage]:
    return [m for m in messages if m.sender == sender and m.msg_type == msg_type]


def heartbeats(messages: list[LoggedMessage], sender: str) -> list[LoggedMessage]:
    return [m for m in of(messages, sender, "0") if m.get(112) is None]


def app_lines(peer: Peer, cl_ord_id: str) -> list[str]:
    return [line for line in peer.lines if line.startswith("APP ") and f"|11={cl_ord_id}|" in line]


def assert_consistent(rig: Rig) -> None:
    """What both sides wrote agrees, nothing was lost, nothing was reset or rejected."""
    ours, theirs = rig.our_log(), rig.their_log()
    assert ours and theirs
    # every message a side logged as received is, byte for byte, one the other side sent
    for receiver_log, sender_log, sender in ((ours, theirs, THEIRS), (theirs, ours, OURS)):
        sent = {m.text for m in sender_log if m.sender == sender}
        for m in receiver_log:
            if m.sender == sender:
                assert m.text in sent, f"{m.text} received but never sent by {sender}"
    for log, name in ((ours, "ours"), (theirs, "theirs")):
        for m in log:
            assert m.msg_type not in ("3", "j"), f"{name} log has a reject: {m.text}"
            assert m.get(141) is None, f"{name} log has a sequence reset: {m.text}"
            assert "too low" not in (m.get(58) or ""), f"{name} log: {m.text}"
            if m.msg_type == "4":
                assert m.get(123) == "Y", f"SequenceReset-Reset instead of GapFill: {m.text}"
    # each side received every sequence number of the other, directly or gap-filled
    for log, sender in ((ours, THEIRS), (theirs, OURS)):
        covered: set[int] = set()
        for m in log:
            if m.sender != sender:
                continue
            if m.msg_type == "4":
                covered.update(range(m.seq, int(m[36])))
            else:
                covered.add(m.seq)
        top = max(covered)
        assert covered == set(range(1, top + 1)), f"{sender}: missing {set(range(1, top + 1)) - covered}"
    # the stores agree with each other and with the logs
    our_next_sender, our_next_target = rig.our_seqnums()
    their_next_sender, their_next_target = rig.their_seqnums()
    assert (our_next_sender, our_next_target) == (their_next_target, their_next_sender)
    assert our_next_sender == max(m.seq for m in ours if m.sender == OURS) + 1
    assert their_next_sender == max(m.seq for m in theirs if m.sender == THEIRS) + 1


def stop_process(peer: Peer) -> None:
    """SIGSTOP, and wait until the kernel says it is stopped (it reads nothing from now on)."""
    peer.proc.send_signal(signal.SIGSTOP)
    stat = Path(f"/proc/{peer.proc.pid}/stat")

    def stopped() -> bool:
        if not stat.exists():
            return True
        # "pid (comm) S ...": the state follows the last ")"
        return stat.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")

    wait_until(stopped, 5, f"{peer.name} to stop")


def _send(peer: Peer, command: str) -> int:
    """Send a command; return the output mark from before it, to wait for its answer."""
    mark = peer.mark()
    peer.send(command)
    return mark


# --- the tests --------------------------------------------------------------------------
def test_logon_heartbeats_and_test_request(rig: Rig) -> None:
    """(a) Logon, Heartbeats both ways at HeartBtInt=1, their TestRequest answered by us."""
    acceptor = rig.start_acceptor()
    initiator = rig.start_initiator()
    logged_on(acceptor, initiator)

    initiator.send("testreq TR-A1")
    initiator.wait_for(r"^ADMIN .*\|35=0\|.*\|112=TR-A1\|", timeout=5)

    def beating() -> bool:
        return len(heartbeats(rig.our_log(), THEIRS)) >= 2 and len(heartbeats(rig.their_log(), OURS)) >= 2

    wait_until(beating, 8, "two Heartbeats each way")
    finish(rig, acceptor, initiator)

    ours, theirs = rig.our_log(), rig.their_log()
    # the Logon exchange: both at 1, HeartBtInt 1 both ways, no reset
    assert [(m.seq, m.get(108)) for m in of(ours, THEIRS, "A")] == [(1, "1")]
    assert [(m.seq, m.get(108)) for m in of(ours, OURS, "A")] == [(1, "1")]
    # the TestRequest and its answer, in our log and in theirs
    (request,) = [m for m in of(ours, THEIRS, "1") if m.get(112) == "TR-A1"]
    (answer,) = [m for m in of(ours, OURS, "0") if m.get(112) == "TR-A1"]
    assert ours.index(answer) > ours.index(request)
    assert answer.text in {m.text for m in of(theirs, OURS, "0")}
    # heartbeats kept coming at about HeartBtInt (QuickFIX disconnects after 2.4 x)
    assert len(heartbeats(theirs, OURS)) >= 2 and len(heartbeats(ours, THEIRS)) >= 2
    # a clean logout: theirs, then ours
    assert [m.sender for m in ours if m.msg_type == "5"] == [THEIRS, OURS]
    assert_consistent(rig)


def test_acceptor_killed_restarts_and_resumes_without_reset(rig: Rig) -> None:
    """(b) kill -9 our acceptor; an order is queued by QuickFIX meanwhile; restart on the
    same store: their Logon continues the sequence and the order is resent (PossDup)."""
    acceptor = rig.start_acceptor()
    initiator = rig.start_initiator()
    logged_on(acceptor, initiator)
    initiator.send("order B-1")
    b1 = acceptor.wait_for(r"^APP .*\|34=(\d+)\|.*\|11=B-1\|", timeout=5)
    # kill once our store has B-1 on disk: the engine writes the inbound sequence number
    # only with its next outbound message or timer tick (see test_engine_durability.py)
    wait_until(lambda: rig.our_seqnums()[1] > int(b1.group(1)), 5, "B-1 in our store")

    mark = initiator.mark()
    first_acceptor = acceptor
    acceptor.kill9()
    our_next_sender = rig.our_seqnums()[0]  # what the store says survived the kill
    assert our_next_sender > max(m.seq for m in rig.our_log() if m.sender == OURS)
    initiator.wait_for(r"^LOGOUT$", timeout=5, start=mark)
    initiator.send("order B-2")  # not logged on: QuickFIX stores it and sends it later
    initiator.wait_for(r"^QUEUED order B-2$", timeout=5, start=mark)

    mark = initiator.mark()
    acceptor = rig.start_acceptor()
    logged_on(acceptor, initiator, initiator_mark=mark)
    acceptor.wait_for(r"^APP .*\|11=B-2\|", timeout=5)
    initiator.send("testreq TR-B")  # the session works normally afterwards
    initiator.wait_for(r"^ADMIN .*\|35=0\|.*\|112=TR-B\|", timeout=5, start=mark)
    finish(rig, acceptor, initiator)

    ours, theirs = rig.our_log(), rig.their_log()
    their_logons = of(ours, THEIRS, "A")
    our_logons = of(ours, OURS, "A")
    assert len(their_logons) == 2 and len(our_logons) == 2, [m.text for m in ours]
    second, our_second = their_logons[1], our_logons[1]
    # resumed, not reset: both Logons carry on from where the sequences were
    assert second.seq > 1 and second.get(141) is None
    assert our_second.seq == our_next_sender and our_second.get(141) is None
    # the order QuickFIX stored while we were down was resent with PossDupFlag=Y ...
    b2 = [m for m in of(ours, THEIRS, "D") if m.get(11) == "B-2"]
    assert len(b2) == 1, [m.text for m in b2]
    assert b2[0].get(43) == "Y" and b2[0].get(122) is not None
    assert b2[0].seq == second.seq - 1
    # ... because we asked for it after their Logon, and their Logon was gap-filled
    requests = [m for m in of(ours, OURS, "2") if ours.index(m) > ours.index(second)]
    assert requests, "we sent no ResendRequest after their Logon"
    assert int(requests[0][7]) <= b2[0].seq and requests[0][16] == "0", requests[0].text
    assert any(m.get(123) == "Y" and m.seq <= second.seq < int(m[36]) for m in of(ours, THEIRS, "4")), (
        "their Logon was not gap-filled"
    )
    # each application saw each order exactly once
    first_run, second_run = first_acceptor, acceptor
    assert len(app_lines(first_run, "B-1")) == 1 and not app_lines(second_run, "B-1")
    assert len(app_lines(second_run, "B-2")) == 1 and not app_lines(first_run, "B-2")
    assert "|43=Y|" in app_lines(second_run, "B-2")[0]
    # QuickFIX's log agrees: B-2 went on the wire only once, as the PossDup resend
    assert [m.get(43) for m in of(theirs, THEIRS, "D") if m.get(11) == "B-2"] == ["Y"]
    assert_consistent(rig)


def test_initiator_killed_restarts_and_we_resend(rig: Rig) -> None:
    """(c) kill -9 the QuickFIX initiator with our ExecutionReport unread in its socket;
    restart it on the same store: it resumes, asks for the gap, we resend with PossDup."""
    acceptor = rig.start_acceptor()
    initiator = rig.start_initiator()
    logged_on(acceptor, initiator)
    initiator.send("order C-0")
    acceptor.wait_for(r"^APP .*\|11=C-0\|", timeout=5)

    stop_process(initiator)  # frozen: what we send now stays unread in its socket buffer
    report = acceptor.wait_for(r"^SENT report C-1 (\d+)$", timeout=5, start=_send(acceptor, "report C-1"))
    report_seq = int(report.group(1))
    time.sleep(0.1)
    mark = acceptor.mark()
    initiator.kill9()
    acceptor.wait_for(r"^LOGOUT$", timeout=5, start=mark)
    their_last_sent = max(m.seq for m in rig.their_log() if m.sender == THEIRS)
    assert not [m for m in rig.their_log() if m.get(11) == "C-1"], "the report was not lost"

    mark = acceptor.mark()
    initiator = rig.start_initiator()
    logged_on(acceptor, initiator, acceptor_mark=mark)
    initiator.wait_for(r"^APP .*\|35=8\|.*\|11=C-1\|", timeout=5)
    initiator.send("testreq TR-C")
    initiator.wait_for(r"^ADMIN .*\|35=0\|.*\|112=TR-C\|", timeout=5)
    finish(rig, acceptor, initiator)

    ours, theirs = rig.our_log(), rig.their_log()
    their_logons = of(theirs, THEIRS, "A")
    assert len(their_logons) == 2
    second = their_logons[1]
    assert second.seq == their_last_sent + 1 and second.get(141) is None
    our_logons = of(theirs, OURS, "A")
    assert len(our_logons) == 2 and our_logons[1].seq > report_seq
    # QuickFIX asked for what it missed, from the lost report on
    (request,) = of(theirs, THEIRS, "2")
    assert int(request[7]) <= report_seq
    # our log: the original report, then the resend with PossDupFlag and OrigSendingTime
    reports = [m for m in of(ours, OURS, "8") if m.get(11) == "C-1"]
    assert [(m.seq, m.get(43)) for m in reports] == [(report_seq, None), (report_seq, "Y")]
    original, resent = reports
    assert resent[122] == original[52]
    assert {t: v for t, v in resent.fields if t not in (9, 10, 43, 52, 122)} == {
        t: v for t, v in original.fields if t not in (9, 10, 43, 52, 122)
    }
    # QuickFIX took the resend as is (no reject) and handed it to its application once
    (received,) = [m for m in of(theirs, OURS, "8") if m.get(11) == "C-1"]
    assert received.text == resent.text
    assert len([line for line in initiator.lines if "|11=C-1|" in line]) == 1
    # our Logon reply (and any admin messages in the gap) came back as a GapFill
    assert any(
        m.get(123) == "Y" and m.seq <= our_logons[1].seq < int(m[36]) for m in of(theirs, OURS, "4")
    ), "our Logon reply was not gap-filled"
    assert_consistent(rig)
