"""A logged-on session fed hostile bytes: nothing escapes, sequence numbers stay right.

Random and mutated byte streams (truncated messages, wrong CheckSum or BodyLength,
non-numeric tags, missing or misplaced MsgType, oversized messages, SOH-less noise, random
bytes) go into ``Session.receive`` of a logged-on acceptor. Whatever arrives:

- no exception escapes ``receive``;
- the expected target MsgSeqNum never decreases and grows by at most the number of
  well-formed messages in the stream; garbled input never moves it;
- afterwards a valid in-sequence TestRequest still gets its Heartbeat (unless the garbage
  legitimately made the session log out);
- each kind of input gets the answer the FIX session test cases prescribe: a garbled
  message is ignored (2d, 2t, 3c), a well-formed message with an invalid tag number is
  rejected with SessionRejectReason 0 (14a), a SendingTime more than MaxLatency off is
  rejected with reason 10 and followed by a Logout (2o).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import session_from_dict
from gateway.fix.codec import Framer, Message, encode, encode_message, parse
from gateway.fix.dictionary import DataDictionary
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import LOGGED_ON, LOGOUT_SENT, Session, SessionEvent
from gateway.sessions.store import MemoryStore

T0 = 1_790_000_000.0
MAX_SIZE = 4096
SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "fix-spec" / "FIX44.xml"
BASE_SETTINGS: dict[str, Any] = {
    "ConnectionType": "acceptor",
    "BeginString": "FIX.4.4",
    "SenderCompID": "ISLD",
    "TargetCompID": "TW",
    "SocketAcceptPort": 1,
    "UseMemoryStore": True,
    "LogMessages": False,
}
# a small MaxMessageSize keeps oversized cases and swallowed-message retries cheap
SETTINGS = session_from_dict({**BASE_SETTINGS, "MaxMessageSize": MAX_SIZE})

# with and without the data dictionary (the structural checks alone when it is absent)
DICTIONARIES = [
    pytest.param(False, id="structural"),
    pytest.param(
        True,
        id="FIX44.xml",
        marks=pytest.mark.skipif(not SPEC.is_file(), reason=f"{SPEC.name} not found"),
    ),
]

HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

RawFields = list[tuple[bytes, bytes]]


def logged_on(with_dictionary: bool, session_settings: Any = SETTINGS) -> Session:
    dictionary = DataDictionary.load(SPEC) if with_dictionary else None
    session = Session(session_settings, MemoryStore(), dictionary)
    session.on_connect(T0)
    session.receive(
        encode_message(
            [(8, b"FIX.4.4"), (35, b"A"), (34, 1), (49, b"TW"), (52, utc_timestamp(T0)),
             (56, b"ISLD"), (98, 0), (108, 30)]
        ),
        T0,
    )
    assert session.state == LOGGED_ON
    replies = sent(session)
    assert [m.msg_type for m in replies] == [b"A"]
    assert session.store.next_target_seq == 2
    return session


def sent(session: Session) -> list[Message]:
    """The messages the session put on the wire since the last call."""
    out = []
    for frame in Framer().feed(session.data_to_send()):
        assert isinstance(frame, bytes), frame
        out.append(parse(frame))
    return out


def wire(fields: RawFields) -> bytes:
    """A frame with correct BodyLength and CheckSum around fields from 35 on."""
    return encode(b"FIX.4.4", b"".join(b"%s=%s\x01" % f for f in fields))


def header(msg_type: bytes, seq: int, now: float = T0) -> RawFields:
    return [(b"35", msg_type), (b"34", b"%d" % seq), (b"49", b"TW"),
            (b"52", utc_timestamp(now)), (b"56", b"ISLD")]


def make_test_request(seq: int, test_req_id: bytes) -> bytes:
    return wire([*header(b"1", seq), (b"112", test_req_id)])


# --- strategies -------------------------------------------------------------------

_TEXT = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .-/",
                min_size=1, max_size=20).map(str.encode)


@st.composite
def valid_fields(draw: st.DrawFn, seq: int) -> RawFields:
    """A well-formed, in-sequence admin or application message (valid for FIX44.xml)."""
    kind = draw(st.sampled_from(["heartbeat", "test_request", "news"]))
    if kind == "heartbeat":
        return header(b"0", seq)
    if kind == "test_request":
        return [*header(b"1", seq), (b"112", draw(_TEXT))]
    lines = draw(st.lists(_TEXT, min_size=1, max_size=3))
    return [*header(b"B", seq), (b"148", draw(_TEXT)), (b"33", b"%d" % len(lines)),
            *[(b"58", line) for line in lines]]


_NON_NUMERIC_TAG = st.one_of(
    st.just(b"4garbled9"),
    st.just(b""),
    st.text("0123456789abcXYZ-+ .", min_size=1, max_size=8)
    .map(str.encode)
    .filter(lambda t: not t.isdigit() and not (t[:1] == b"-" and t[1:].isdigit())),
)

IGNORED_KINDS = [
    "truncated", "checksum", "body_length", "non_numeric_tag", "missing_msg_type",
    "msg_type_not_third", "oversized", "soh_less", "random",
]


@st.composite
def garbled(draw: st.DrawFn, kind: str, seq: int) -> bytes:
    """Input the session must ignore: not a well-formed message."""
    fields = draw(valid_fields(seq))
    if kind == "truncated":
        frame = wire(fields)
        return frame[: draw(st.integers(1, len(frame) - 1))]
    if kind == "checksum":
        frame = wire(fields)
        good = int(frame[-4:-1])
        bad = draw(st.integers(0, 999).filter(lambda v: v != good))
        return frame[:-4] + b"%03d\x01" % bad
    if kind == "body_length":
        frame = wire(fields)
        real = len(frame) - frame.index(b"\x0135=") - 1 - 7
        length = draw(st.integers(1, real + 200).filter(lambda v: v != real))
        body = frame[frame.index(b"\x0135=") + 1 : -7]
        data = b"8=FIX.4.4\x019=%d\x01" % length + body
        return data + b"10=%03d\x01" % (sum(data) % 256)
    if kind == "non_numeric_tag":
        at = draw(st.integers(0, len(fields)))
        fields.insert(at, (draw(_NON_NUMERIC_TAG), draw(_TEXT)))
        return wire(fields)
    if kind == "missing_msg_type":
        return wire(fields[1:])
    if kind == "msg_type_not_third":
        at = draw(st.integers(1, len(fields) - 1))
        return wire([*fields[1 : at + 1], fields[0], *fields[at + 1 :]])
    if kind == "oversized":
        return wire([*fields, (b"58", b"x" * MAX_SIZE)])
    if kind == "soh_less":
        return draw(st.binary(min_size=1, max_size=300)).replace(b"\x01", b"")
    assert kind == "random"
    return draw(st.binary(min_size=1, max_size=300))


def chunked(draw: Callable[[st.SearchStrategy[Any]], Any], data: bytes) -> list[bytes]:
    """``data`` cut at random points, as TCP might deliver it."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=4)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def assert_still_answers(session: Session, now: float = T0) -> None:
    """A valid in-sequence TestRequest is answered by a Heartbeat with its TestReqID.

    A partial frame left in the framer (a truncated message, a BodyLength too long) may
    swallow the next message, as in QuickFIX; the counterparty then sends it again with
    the same MsgSeqNum (it was not counted), so retry as often as MaxMessageSize allows.
    """
    clean = session.framer.buffered == 0
    attempts = 1 if clean else MAX_SIZE // 60 + 2
    for attempt in range(attempts):
        seq = session.store.next_target_seq
        test_req_id = b"PROBE%d" % attempt
        session.receive(make_test_request(seq, test_req_id), now)
        answers = sent(session)
        if answers:
            # ours first; messages queued behind a gap (2b) may be processed after it
            heartbeats = [m for m in answers if m.msg_type == b"0"]
            assert heartbeats and heartbeats[0].get(112) == test_req_id, answers
            assert session.store.next_target_seq >= seq + 1
            return
        assert session.store.next_target_seq == seq, "a swallowed message was counted"
    raise AssertionError(f"no Heartbeat after {attempts} TestRequests")


def logged_out(answers: list[Message], session: Session) -> bool:
    """The garbage made the session log out (legitimately, e.g. a bad SendingTime)."""
    if any(m.msg_type == b"5" for m in answers):
        assert session.close_requested or session.state == LOGOUT_SENT
        return True
    assert not session.close_requested
    return False


# --- properties ---------------------------------------------------------------------


@pytest.mark.parametrize("with_dictionary", DICTIONARIES)
@pytest.mark.parametrize("kind", IGNORED_KINDS)
@HYPOTHESIS
@given(data=st.data())
def test_garbled_input_is_ignored(kind: str, with_dictionary: bool, data: st.DataObject) -> None:
    session = logged_on(with_dictionary)
    raw = data.draw(garbled(kind, 2), label="garbage")
    for chunk in chunked(data.draw, raw):
        events = session.receive(chunk, T0)
        assert not [e for e in events if not isinstance(e, SessionEvent)]
        assert session.store.next_target_seq == 2
    assert sent(session) == []
    assert not session.close_requested
    assert session.state == LOGGED_ON
    assert_still_answers(session)


@pytest.mark.parametrize("with_dictionary", DICTIONARIES)
@HYPOTHESIS
@given(data=st.data())
def test_invalid_tag_number_is_rejected(with_dictionary: bool, data: st.DataObject) -> None:
    # 14a: a well-formed message with an invalid tag -> Reject, reason 0, RefTagID the tag
    session = logged_on(with_dictionary)
    fields = data.draw(valid_fields(2))
    tags = [-1, 0, -99999] + ([4999, 9999] if with_dictionary else [])
    tag = data.draw(st.sampled_from(tags))
    # after the header, so that only the tag number is wrong
    at = data.draw(st.integers(5, len(fields)))
    fields.insert(at, (b"%d" % tag, data.draw(_TEXT)))
    for chunk in chunked(data.draw, wire(fields)):
        session.receive(chunk, T0)
    answers = sent(session)
    assert [m.msg_type for m in answers] == [b"3"]
    reject = answers[0]
    assert reject.get(373) == b"0"
    assert reject.get(371) == b"%d" % tag
    assert reject.get(45) == b"2"
    assert reject.get(372) == fields[0][1]
    assert session.store.next_target_seq == 3  # the rejected message is counted
    assert_still_answers(session)


@pytest.mark.parametrize("with_dictionary", DICTIONARIES)
@HYPOTHESIS
@given(data=st.data())
def test_sending_time_accuracy_problem(with_dictionary: bool, data: st.DataObject) -> None:
    # 2o: SendingTime more than MaxLatency (120 s) off -> Reject reason 10, then Logout
    session = logged_on(with_dictionary)
    offset = data.draw(st.one_of(st.integers(121, 10**7), st.integers(-(10**7), -121)))
    fields = data.draw(valid_fields(2))
    fields[3] = (b"52", utc_timestamp(T0 + offset))
    for chunk in chunked(data.draw, wire(fields)):
        session.receive(chunk, T0)
    answers = sent(session)
    assert [m.msg_type for m in answers] == [b"3", b"5"]
    assert answers[0].get(373) == b"10"
    assert answers[0].get(371) == b"52"
    assert answers[0].get(45) == b"2"
    assert session.state == LOGOUT_SENT
    assert logged_out(answers, session)


@pytest.mark.parametrize("with_dictionary", DICTIONARIES)
@HYPOTHESIS
@given(data=st.data())
def test_mixed_streams(with_dictionary: bool, data: st.DataObject) -> None:
    """Valid messages and every kind of garbage interleaved, cut anywhere."""
    session = logged_on(with_dictionary)
    start = session.store.next_target_seq
    seq = start
    stream = b""
    valid = 0
    for _ in range(data.draw(st.integers(1, 6))):
        if data.draw(st.booleans()):
            stream += wire(data.draw(valid_fields(seq)))
            seq += 1
            valid += 1
        else:
            stream += data.draw(garbled(data.draw(st.sampled_from(IGNORED_KINDS)), seq))
    low = start
    answers: list[Message] = []
    for chunk in chunked(data.draw, stream):
        session.receive(chunk, T0)
        answers += sent(session)
        now_seq = session.store.next_target_seq
        assert low <= now_seq <= start + valid
        low = now_seq
    if valid == 0:
        assert session.store.next_target_seq == start
        assert answers == []
    if not logged_out(answers, session):
        assert_still_answers(session)


@pytest.mark.parametrize("with_dictionary", DICTIONARIES)
@HYPOTHESIS
@given(garbage=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=5))
def test_random_bytes(with_dictionary: bool, garbage: bytes, cuts: list[int]) -> None:
    session = logged_on(with_dictionary)
    points = sorted(min(c, len(garbage)) for c in cuts)
    for a, b in zip([0, *points], [*points, len(garbage)], strict=True):
        session.receive(garbage[a:b], T0)
        assert session.store.next_target_seq == 2
    assert sent(session) == []
    assert_still_answers(session)


# --- found by the properties above -------------------------------------------------


# Python refuses int() of a digit string longer than 4300 characters (max_str_digits), so
# a number field of 5000 digits used to raise ValueError out of Session.receive. These
# messages are about 5 KB: they need the default MaxMessageSize.
HUGE = b"1" * 5000


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param([(b"35", b"1"), (b"34", HUGE), *header(b"1", 2)[2:], (b"112", b"X")],
                     id="MsgSeqNum"),
        pytest.param([*header(b"2", 2), (b"7", HUGE), (b"16", b"0")], id="BeginSeqNo"),
        pytest.param([*header(b"2", 2), (b"7", b"1"), (b"16", HUGE)], id="EndSeqNo"),
        pytest.param([*header(b"4", 2), (b"36", HUGE)], id="NewSeqNo"),
        pytest.param([*header(b"4", 2), (b"123", b"Y"), (b"36", HUGE)], id="NewSeqNo-gapfill"),
    ],
)
def test_numbers_with_thousands_of_digits(fields: RawFields) -> None:
    session = logged_on(False, session_from_dict(BASE_SETTINGS))
    session.receive(wire(fields), T0)
    # a malformed MsgSeqNum ends the session; a malformed body field is rejected
    if not logged_out(sent(session), session):
        assert_still_answers(session)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([(b"108", HUGE)], id="HeartBtInt"),
        pytest.param([(b"108", b"-" + HUGE)], id="HeartBtInt-negative"),
        pytest.param([(b"108", b"30"), (b"789", HUGE)], id="NextExpectedMsgSeqNum"),
    ],
)
def test_logon_numbers_with_thousands_of_digits(extra: RawFields) -> None:
    session = Session(session_from_dict(BASE_SETTINGS), MemoryStore())
    session.on_connect(T0)
    session.receive(wire([*header(b"A", 1), (b"98", b"0"), *extra]), T0)
    answers = sent(session)
    if session.state == LOGGED_ON:
        assert [m.msg_type for m in answers] == [b"A"]
        assert_still_answers(session)
    else:
        assert session.close_requested
