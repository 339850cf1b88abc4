"""The sans-I/O session driven without sockets: two sessions wired back to back.

The acceptance suite covers the acceptor's answers to the FIX session test cases; these
tests cover the initiator, timers, resends from a file store, restarts, logout and
authentication.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import session_from_dict
from gateway.fix.codec import Framer, Message, encode_message, parse
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import LOGGED_ON, LOGOUT_SENT, NotLoggedOn, Session, SessionEvent
from gateway.sessions.store import FileStore, MemoryStore

T0 = 1_790_000_000.0


def settings(kind: str, **extra: Any) -> Any:
    base: dict[str, Any] = {
        "ConnectionType": kind,
        "BeginString": "FIX.4.4",
        "SenderCompID": "GW" if kind == "initiator" else "LP",
        "TargetCompID": "LP" if kind == "initiator" else "GW",
        "HeartBtInt": 10,
        "LogMessages": False,
        "UseMemoryStore": True,
    }
    if kind == "acceptor":
        base["SocketAcceptPort"] = 1
    else:
        base["SocketConnectPort"] = 1
    base.update(extra)
    return session_from_dict(base)


def frames(data: bytes) -> list[Message]:
    out = []
    for f in Framer().feed(data):
        assert isinstance(f, bytes), f
        out.append(parse(f))
    return out


class Pair:
    """An initiator and an acceptor exchanging bytes through memory."""

    def __init__(self, init: Session, acc: Session) -> None:
        self.init = init
        self.acc = acc
        self.init_events: list[Message | SessionEvent] = []
        self.acc_events: list[Message | SessionEvent] = []
        self.wire: list[tuple[str, Message]] = []

    def connect(self, now: float) -> None:
        self.init.on_connect(now)
        self.acc.on_connect(now)
        self.pump(now)

    def pump(self, now: float) -> None:
        for _ in range(50):
            a = self.init.data_to_send()
            b = self.acc.data_to_send()
            if not a and not b:
                return
            if a:
                self.wire += [("i->a", m) for m in frames(a)]
                self.acc_events += self.acc.receive(a, now)
            if b:
                self.wire += [("a->i", m) for m in frames(b)]
                self.init_events += self.init.receive(b, now)
        raise AssertionError("sessions keep talking")

    def app_messages(self, side: str) -> list[Message]:
        events = self.acc_events if side == "acc" else self.init_events
        return [e for e in events if isinstance(e, Message)]


def order_body(clordid: str) -> bytes:
    return (
        b"11=%s\x0121=1\x0155=ACME\x0154=1\x0138=100\x0140=2\x0144=10.5\x0160=20261121-10:00:00.000\x01"
        % (clordid.encode())
    )


def test_initiator_logon_handshake() -> None:
    pair = Pair(
        Session(settings("initiator"), MemoryStore()), Session(settings("acceptor"), MemoryStore())
    )
    pair.connect(T0)
    assert pair.init.state == LOGGED_ON and pair.acc.state == LOGGED_ON
    logon = pair.wire[0][1]
    assert logon.msg_type == b"A" and logon.get(108) == b"10" and logon.get(98) == b"0"
    assert logon.get(49) == b"GW" and logon.get(56) == b"LP" and logon.get(34) == b"1"
    assert pair.init.store.next_sender_seq == 2 and pair.init.store.next_target_seq == 2
    assert any(isinstance(e, SessionEvent) and e.kind == "logon" for e in pair.init_events)


def test_reset_on_logon_sends_reset_flag_and_resets_store() -> None:
    store = MemoryStore()
    store.next_sender_seq, store.next_target_seq = 50, 60
    init = Session(settings("initiator", ResetOnLogon=True), store)
    pair = Pair(init, Session(settings("acceptor"), MemoryStore()))
    pair.connect(T0)
    logon = pair.wire[0][1]
    assert logon.get(141) == b"Y" and logon.get(34) == b"1"
    reply = pair.wire[1][1]
    assert reply.get(141) == b"Y"
    assert init.logged_on and init.store.next_target_seq == 2


def test_application_messages_flow_and_send_requires_logon() -> None:
    init = Session(settings("initiator"), MemoryStore())
    with pytest.raises(NotLoggedOn):
        init.send(b"D", order_body("X"), T0)
    pair = Pair(init, Session(settings("acceptor"), MemoryStore()))
    pair.connect(T0)
    seq = init.send(b"D", order_body("A1"), T0 + 1)
    pair.pump(T0 + 1)
    (msg,) = pair.app_messages("acc")
    assert seq == 2 and msg.get(11) == b"A1" and msg.get(34) == b"2"


def test_heartbeat_test_request_and_timeout() -> None:
    pair = Pair(
        Session(settings("initiator"), MemoryStore()), Session(settings("acceptor"), MemoryStore())
    )
    pair.connect(T0)
    init = pair.init
    init.on_timer(T0 + 5)
    assert init.data_to_send() == b""
    init.on_timer(T0 + 10)
    (hb,) = frames(init.data_to_send())
    assert hb.msg_type == b"0"
    init.on_timer(T0 + 12.1)  # nothing received for 1.2 x HeartBtInt
    (tr,) = frames(init.data_to_send())
    assert tr.msg_type == b"1" and tr.get(112) == b"TEST"
    init.on_timer(T0 + 24.1)  # 2.4 x HeartBtInt: give up
    assert init.close_requested


def test_test_request_answered_with_its_id() -> None:
    pair = Pair(
        Session(settings("initiator"), MemoryStore()), Session(settings("acceptor"), MemoryStore())
    )
    pair.connect(T0)
    pair.init._send(b"1", b"112=PING-7\x01", T0 + 1)
    pair.pump(T0 + 1)
    answer = pair.wire[-1][1]
    assert answer.msg_type == b"0" and answer.get(112) == b"PING-7"


def test_resend_from_file_store_after_restart(tmp_path: Path) -> None:
    """The acceptor's messages are lost on the wire; after a restart both resume by resend."""
    acc_store = FileStore(tmp_path / "acc", "FIX.4.4:LP->GW")
    init_store = FileStore(tmp_path / "init", "FIX.4.4:GW->LP")
    acc = Session(settings("acceptor"), acc_store)
    init = Session(settings("initiator"), init_store)
    pair = Pair(init, acc)
    pair.connect(T0)
    # the acceptor sends three reports; the wire drops them (the initiator never sees them)
    for i in range(3):
        acc.send(
            b"8",
            b"37=O%d\x0117=E%d\x01150=0\x0139=0\x0155=ACME\x0154=1\x01151=100\x0114=0\x016=0\x01"
            % (i, i),
            T0 + 1,
        )
    acc_store.flush()
    acc.data_to_send()
    acc.send(b"0", b"", T0 + 2)  # a heartbeat, also lost
    acc_store.flush()
    acc.data_to_send()
    # "kill -9" both: nothing but the files survives
    acc_store.close()
    init_store.close()
    acc_store = FileStore(tmp_path / "acc", "FIX.4.4:LP->GW")
    init_store = FileStore(tmp_path / "init", "FIX.4.4:GW->LP")
    assert acc_store.next_sender_seq == 6 and init_store.next_target_seq == 2
    acc = Session(settings("acceptor"), acc_store)
    init = Session(settings("initiator"), init_store)
    pair = Pair(init, acc)
    pair.connect(T0 + 10)
    kinds = [(d, m.msg_type, m.get(34), m.get(43)) for d, m in pair.wire]
    assert kinds[0] == ("i->a", b"A", b"2", None)  # no reset: the sequence goes on
    assert kinds[1] == ("a->i", b"A", b"6", None)
    assert kinds[2] == ("i->a", b"2", b"3", None)  # ResendRequest for the gap
    rr = pair.wire[2][1]
    assert rr.get(7) == b"2" and rr.get(16) == b"0"
    resent = [m for d, m in pair.wire[3:] if d == "a->i"]
    assert [m.msg_type for m in resent[:3]] == [b"8", b"8", b"8"]
    assert all(m.get(43) == b"Y" and m.get(122) for m in resent[:3])
    gap_fill = resent[3]
    assert (
        gap_fill.msg_type == b"4" and gap_fill.get(123) == b"Y" and gap_fill.get(36) == b"7"
    )  # the HB (5) and the new Logon (6)
    assert [m.get(37) for m in pair.app_messages("init")] == [b"O0", b"O1", b"O2"]
    assert init.store.next_target_seq == 7 and init.resend_range is None
    acc_store.close()
    init_store.close()


def test_file_store_ignores_a_torn_index_line(tmp_path: Path) -> None:
    store = FileStore(tmp_path, "S")
    store.store_sent(1, b"one")
    store.next_sender_seq = 2
    store.flush()
    store.close()
    with open(tmp_path / "S.header", "ab") as f:
        f.write(b"2,3,9")  # crash in the middle of a line
    again = FileStore(tmp_path, "S")
    assert again.get_sent(1, 5) == [(1, b"one")]
    assert again.next_sender_seq == 2
    again.close()


def test_resend_request_chunk_size() -> None:
    acc = Session(settings("acceptor", ResendRequestChunkSize=2), MemoryStore())
    pair = Pair(Session(settings("initiator"), MemoryStore()), acc)
    pair.connect(T0)
    now = T0 + 1
    hb = encode_message(
        [(8, "FIX.4.4"), (35, "0"), (34, 7), (49, "GW"), (52, utc_timestamp(now)), (56, "LP")]
    )
    acc.receive(hb, now)
    (rr,) = frames(acc.data_to_send())
    assert (rr.get(7), rr.get(16)) == (b"2", b"3")


def test_logout_handshake_and_timeout() -> None:
    pair = Pair(
        Session(settings("initiator"), MemoryStore()), Session(settings("acceptor"), MemoryStore())
    )
    pair.connect(T0)
    pair.init.logout(T0 + 1, "bye")
    assert pair.init.state == LOGOUT_SENT
    pair.pump(T0 + 1)
    assert pair.acc.close_requested and pair.init.close_requested
    texts = [(d, m.msg_type, m.get(58)) for d, m in pair.wire[-2:]]
    assert texts == [("i->a", b"5", b"bye"), ("a->i", b"5", None)]
    # no reply at all: the initiator gives up after LogoutTimeout
    lone = Pair(
        Session(settings("initiator"), MemoryStore()), Session(settings("acceptor"), MemoryStore())
    )
    lone.connect(T0)
    lone.init.logout(T0 + 1)
    lone.init.data_to_send()
    lone.init.on_timer(T0 + 2)
    assert not lone.init.close_requested
    lone.init.on_timer(T0 + 3.1)
    assert lone.init.close_requested


def test_wrong_password_is_refused_with_a_reason() -> None:
    acc = Session(settings("acceptor", Username="gw"), MemoryStore(), expected_password="s3cret")
    init = Session(settings("initiator", Username="gw"), MemoryStore(), password="wrong")
    pair = Pair(init, acc)
    pair.connect(T0)
    logout = pair.wire[1][1]
    assert logout.msg_type == b"5" and b"Password" in (logout.get(58) or b"")
    assert acc.close_requested and not acc.logged_on
    ok = Pair(
        Session(settings("initiator", Username="gw"), MemoryStore(), password="s3cret"),
        Session(settings("acceptor", Username="gw"), MemoryStore(), expected_password="s3cret"),
    )
    ok.connect(T0)
    assert ok.acc.logged_on and ok.wire[0][1].get(554) == b"s3cret"


def test_business_reject() -> None:
    pair = Pair(
        Session(settings("initiator"), MemoryStore()), Session(settings("acceptor"), MemoryStore())
    )
    pair.connect(T0)
    pair.init.send(b"D", order_body("B1"), T0)
    pair.pump(T0)
    (msg,) = pair.app_messages("acc")
    pair.acc.send_business_reject(msg, 3, "Unsupported Message Type", T0)
    pair.pump(T0)
    rej = pair.wire[-1][1]
    assert (
        rej.msg_type == b"j"
        and rej.get(45) == b"2"
        and rej.get(372) == b"D"
        and rej.get(380) == b"3"
    )


def test_possdup_resent_message_is_surfaced_and_poss_resend_flag_kept() -> None:
    pair = Pair(
        Session(settings("initiator"), MemoryStore()), Session(settings("acceptor"), MemoryStore())
    )
    pair.connect(T0)
    pair.init.send(b"D", order_body("P1"), T0, header=b"97=Y\x01")
    pair.pump(T0)
    (msg,) = pair.app_messages("acc")
    assert msg.get(97) == b"Y"


def test_fix42_session() -> None:
    pair = Pair(
        Session(settings("initiator", BeginString="FIX.4.2"), MemoryStore()),
        Session(settings("acceptor", BeginString="FIX.4.2"), MemoryStore()),
    )
    pair.connect(T0)
    assert pair.init.logged_on and pair.wire[0][1].get(8) == b"FIX.4.2"
    # a gap: FIX.4.2 asks with EndSeqNo 0 (infinity)
    now = T0 + 1
    hb = encode_message(
        [(8, "FIX.4.2"), (35, "0"), (34, 5), (49, "GW"), (52, utc_timestamp(now)), (56, "LP")]
    )
    pair.acc.receive(hb, now)
    (rr,) = frames(pair.acc.data_to_send())
    assert rr.get(16) == b"0"


SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "fix-spec" / "FIX44.xml"


@pytest.mark.skipif(not SPEC.exists(), reason="FIX44.xml not found beside the repository")
@pytest.mark.parametrize(
    ("extra", "accepted"),
    [({}, False), ({"UserDefinedFields": [7001]}, True), ({"ValidateUserDefinedFields": False}, True)],
)
def test_lp_custom_tags_and_per_session_relaxations(extra: dict[str, Any], accepted: bool) -> None:
    from gateway.fix.dictionary import DataDictionary

    dd = DataDictionary.load(SPEC)
    acc = Session(settings("acceptor", **extra), MemoryStore(), dd)
    pair = Pair(Session(settings("initiator"), MemoryStore()), acc)
    pair.connect(T0)
    pair.init.send(b"D", order_body("C1") + b"7001=LPTAG\x01", T0)
    pair.pump(T0)
    if accepted:
        (msg,) = pair.app_messages("acc")
        assert msg.get(7001) == b"LPTAG"
    else:
        assert pair.app_messages("acc") == []
        reject = pair.wire[-1][1]
        assert reject.msg_type == b"3" and reject.get(371) == b"7001" and reject.get(373) == b"0"
