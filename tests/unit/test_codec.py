"""gateway.fix.codec: framing a hostile byte stream, parsing, encoding, and simplefix parity.

The framer must cope with whatever a TCP peer sends (partial reads, several messages per
read, garbage, wrong BodyLength or CheckSum, hostile sizes) without buffering beyond
MaxMessageSize; the parser must agree with an independent implementation (simplefix) on
every well-formed message, and our encoder must produce the very same bytes.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence

import pytest
import simplefix
from hypothesis import given, settings
from hypothesis import strategies as st
from simplefix.data import RAW_DATA_TAGS, RAW_LEN_TAGS

from gateway.fix.codec import (
    Framer,
    Garbled,
    Message,
    ParseError,
    body_checksum,
    checksum,
    encode,
    encode_fields,
    encode_message,
    parse,
)
from gateway.fix.tags import DATA_LENGTH_TAGS

FieldList = list[tuple[int, bytes]]


def msg(*body: tuple[int, bytes | str | int], begin: bytes = b"FIX.4.4") -> bytes:
    return encode_message([(8, begin), *body])


HB1 = msg((35, b"0"), (34, b"2"), (49, b"TW"), (52, b"20240315-13:45:30.123"), (56, b"ISLD"))
TR2 = msg((35, b"1"), (34, b"3"), (49, b"TW"), (52, b"20240315-13:45:31.000"), (56, b"ISLD"),
          (112, b"HELLO"))
NOS3 = msg((35, b"D"), (34, b"4"), (49, b"TW"), (52, b"20240315-13:45:32.000"), (56, b"ISLD"),
           (11, b"ORD1"), (55, b"EUR/USD"), (54, b"1"), (38, b"1000000"), (40, b"1"))


def feed_all(framer: Framer, chunks: Sequence[bytes]) -> list[bytes | Garbled]:
    out: list[bytes | Garbled] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out


def with_body_length(frame: bytes, body_length: int) -> bytes:
    """``frame`` with its BodyLength(9) replaced (and the CheckSum fixed to match)."""
    head, _, rest = frame.partition(b"\x019=")
    _, _, rest = rest.partition(b"\x01")
    data = head + b"\x019=%d\x01" % body_length + rest[:-7]
    return data + b"10=" + checksum(data) + b"\x01"


def with_checksum(frame: bytes, value: bytes) -> bytes:
    return frame[:-4] + value + b"\x01"


# --- framing ------------------------------------------------------------------------


def test_one_message_per_read() -> None:
    framer = Framer()
    for m in (HB1, TR2, NOS3):
        assert framer.feed(m) == [m]
    assert framer.buffered == 0


def test_several_messages_per_read() -> None:
    framer = Framer()
    assert framer.feed(HB1 + TR2 + NOS3) == [HB1, TR2, NOS3]
    assert framer.buffered == 0


def test_every_split_point_of_a_two_message_stream() -> None:
    stream = HB1 + TR2
    for i in range(len(stream) + 1):
        framer = Framer()
        assert feed_all(framer, [stream[:i], stream[i:]]) == [HB1, TR2], i
        assert framer.buffered == 0


def test_every_pair_of_split_points() -> None:
    stream = HB1 + TR2
    for i in range(0, len(stream) + 1, 3):
        for j in range(i, len(stream) + 1, 5):
            out = feed_all(Framer(), [stream[:i], stream[i:j], stream[j:]])
            assert out == [HB1, TR2], (i, j)


def test_one_byte_at_a_time() -> None:
    stream = HB1 + TR2 + NOS3
    framer = Framer()
    out = feed_all(framer, [stream[i : i + 1] for i in range(len(stream))])
    assert out == [HB1, TR2, NOS3]
    assert framer.buffered == 0


@pytest.mark.parametrize(
    "garbage",
    [
        b"hello",
        b"\x01\x01\x01",
        b"10=123\x01",
        b"8=FIX",
        b"8=FIX.4.4\x01",
        b"8=FIX.4.4\x019=",
        b"8=FIX.4.4\x01garbage\x01",
        b"junk 8=FI junk",
        bytes(range(256)),
    ],
)
def test_garbage_between_messages_is_skipped(garbage: bytes) -> None:
    stream = garbage + HB1 + garbage + TR2 + garbage + NOS3
    assert Framer().feed(stream) == [HB1, TR2, NOS3]
    for i in range(0, len(stream) + 1, 7):
        assert feed_all(Framer(), [stream[:i], stream[i:]]) == [HB1, TR2, NOS3], i


def test_message_cut_inside_its_begin_string_does_not_hide_the_next() -> None:
    # "8=FIX.4.8=FIX.4.4<SOH>9=..." must not be read as a BeginString "FIX.4.8=FIX.4.4"
    for cut in range(1, HB1.index(b"\x019=")):
        stream = HB1[:cut] + TR2
        assert Framer().feed(stream) == [TR2], cut


def test_soh_less_garbage_is_dropped_and_not_buffered() -> None:
    framer = Framer(max_size=1024)
    noise = "".join(random.Random(7).choices(string.ascii_letters + string.digits + "=", k=5000))
    for _ in range(20):
        assert framer.feed(noise.encode()) == []
        assert framer.buffered <= 40
    assert framer.feed(HB1) == [HB1]


def test_wrong_checksum_is_garbled_and_the_stream_goes_on() -> None:
    bad = with_checksum(TR2, b"%03d" % ((int(TR2[-4:-1]) + 1) % 256))
    for stream in ([bad], [HB1 + bad + NOS3], [HB1, bad, NOS3]):
        out = feed_all(Framer(), stream)
        frames = [f for f in out if isinstance(f, bytes)]
        garbled = [f for f in out if isinstance(f, Garbled)]
        assert len(garbled) == 1
        assert garbled[0].raw == bad
        assert "CheckSum" in garbled[0].reason
        assert bad not in frames
        assert frames == [m for m in (HB1, NOS3) if m in b"".join(stream)]


@pytest.mark.parametrize("value", [b"abc", b"1x3", b"-12", b"   "])
def test_non_numeric_checksum_is_garbled(value: bytes) -> None:
    out = Framer().feed(with_checksum(HB1, value) + TR2)
    assert isinstance(out[0], Garbled)
    assert out[1:] == [TR2]


def test_body_length_too_short_takes_the_frame_up_to_its_checksum() -> None:
    real = int(TR2.split(b"\x01")[1][2:])
    for delta in (1, 5, real - 10):
        bad = with_body_length(TR2, real - delta)
        out = Framer().feed(HB1 + bad + NOS3)
        assert out[0] == HB1
        assert isinstance(out[1], Garbled)
        assert out[1].raw == bad
        assert "BodyLength" in out[1].reason
        assert out[2:] == [NOS3]


def test_body_length_too_long_swallows_the_next_message() -> None:
    # QuickFIX: the frame runs to the first CheckSum field after the declared end, which
    # belongs to the next message; the message after that is read normally
    real = int(TR2.split(b"\x01")[1][2:])
    bad = with_body_length(TR2, real + 20)
    framer = Framer()
    out = framer.feed(HB1 + bad + NOS3 + HB1)
    assert out[0] == HB1
    assert isinstance(out[1], Garbled)
    assert out[1].raw == bad + NOS3
    assert out[2:] == [HB1]
    assert framer.buffered == 0


def test_body_length_too_long_waits_for_the_bytes_it_claims() -> None:
    real = int(TR2.split(b"\x01")[1][2:])
    bad = with_body_length(TR2, real + 20)
    framer = Framer()
    assert framer.feed(bad) == []
    assert framer.buffered == len(bad)
    out = framer.feed(NOS3)
    assert len(out) == 1 and isinstance(out[0], Garbled)
    assert out[0].raw == bad + NOS3


def test_missing_body_length_as_second_field_is_not_a_frame() -> None:
    bad = b"8=FIX.4.4\x0135=0\x019=5\x0134=2\x0149=TW\x0152=20240315-13:45:30\x0156=ISLD\x01"
    bad += b"10=" + checksum(bad) + b"\x01"
    out = Framer().feed(HB1 + bad + TR2)
    assert out == [HB1, TR2]
    out = feed_all(Framer(), [bad, TR2])
    assert out == [TR2]


def test_hostile_body_length_is_garbled_at_once() -> None:
    framer = Framer(max_size=1 << 20)
    hostile = b"8=FIX.4.4\x019=999999999\x0135=D\x0134=5\x01"
    out = framer.feed(hostile)
    assert len(out) == 1 and isinstance(out[0], Garbled)
    assert "MaxMessageSize" in out[0].reason
    assert framer.buffered < 64
    # the rest of the stream is read as usual
    assert framer.feed(b"x" * 100 + HB1) == [HB1]


def test_message_larger_than_max_size_is_garbled() -> None:
    big = msg((35, b"0"), (34, b"2"), (49, b"TW"), (52, b"20240315-13:45:30"), (56, b"ISLD"),
              (58, b"x" * 400))
    framer = Framer(max_size=256)
    out = framer.feed(big)
    assert len(out) == 1 and isinstance(out[0], Garbled)
    assert Framer(max_size=len(big)).feed(big) == [big]


def test_a_stream_without_checksum_never_buffers_beyond_max_size() -> None:
    max_size = 1024
    framer = Framer(max_size=max_size)
    garbled = 0
    header = b"8=FIX.4.4\x019=100\x0135=0\x01"
    for i in range(200):
        chunk = header if i % 50 == 0 else b"58=" + b"y" * 40 + b"\x01"
        for f in framer.feed(chunk):
            assert isinstance(f, Garbled)
            garbled += 1
        assert framer.buffered <= max_size
    assert garbled >= 1
    assert Framer(max_size).feed(HB1) == [HB1]


def test_fast_path_and_general_loop_agree() -> None:
    # the whole-message fast path must give what the general loop gives
    framer = Framer()
    assert framer.feed(HB1) == [HB1]
    framer2 = Framer()
    assert framer2.feed(HB1[:1]) == []
    assert framer2.feed(HB1[1:]) == [HB1]
    bad = with_checksum(HB1, b"000" if HB1[-4:-1] != b"000" else b"001")
    out = Framer().feed(bad)
    assert len(out) == 1 and isinstance(out[0], Garbled)


# --- parsing ------------------------------------------------------------------------


def test_parse_fields_in_wire_order() -> None:
    m = parse(NOS3)
    assert [t for t, _ in m.fields] == [8, 9, 35, 34, 49, 52, 56, 11, 55, 54, 38, 40, 10]
    assert m.fields[0] == (8, b"FIX.4.4")
    assert m.msg_type == b"D"
    assert m[55] == b"EUR/USD"
    assert m.get_int(38) == 1000000
    assert m.raw is NOS3


def test_parse_keeps_repeating_groups_and_duplicates() -> None:
    raw = msg((35, b"V"), (34, b"2"), (146, b"2"), (55, b"A"), (55, b"B"), (58, b"t"))
    m = parse(raw)
    assert m.get_all(55) == [b"A", b"B"]
    assert m.count(55) == 2
    assert m[55] == b"A"


def test_values_holding_equals_signs() -> None:
    raw = msg((35, b"0"), (58, b"a=b"), (59, b"=="), (60, b"x="))
    m = parse(raw)
    assert m.fields[3:-1] == [(58, b"a=b"), (59, b"=="), (60, b"x=")]


def test_empty_value_is_kept_for_the_session_to_reject() -> None:
    raw = b"8=FIX.4.4\x019=11\x0135=0\x0158=\x0110=000\x01"
    assert parse(raw).fields[3] == (58, b"")


def test_data_field_with_soh_and_equals_inside_is_read_by_length() -> None:
    data = b"ab\x01cd=ef\x0110=123\x01"
    raw = msg((35, b"D"), (34, b"2"), (95, b"%d" % len(data)), (96, data), (58, b"after"))
    assert Framer().feed(raw) == [raw]
    m = parse(raw)
    assert m.fields[3:-1] == [(34, b"2"), (95, b"%d" % len(data)), (96, data), (58, b"after")]


@pytest.mark.parametrize("length_tag", sorted(DATA_LENGTH_TAGS))
def test_every_data_field_is_read_by_length(length_tag: int) -> None:
    data = b"\x01x=y\x01"
    raw = msg((35, b"B"), (length_tag, b"%d" % len(data)),
              (DATA_LENGTH_TAGS[length_tag], data))
    assert parse(raw).fields[3:5] == [
        (length_tag, b"%d" % len(data)),
        (DATA_LENGTH_TAGS[length_tag], data),
    ]


def test_data_field_whose_length_tag_has_a_leading_zero() -> None:
    data = b"a\x01b"
    raw = msg((35, b"B"))[:-7].replace(b"35=B\x01", b"35=B\x01095=3\x0196=" + data + b"\x01")
    m = parse(raw + b"10=000\x01")
    assert m.fields[3:5] == [(95, b"3"), (96, data)]


@pytest.mark.parametrize(
    "raw",
    [
        b"8=FIX.4.4\x019=8\x0195=5\x0196=ab\x01\x0110=000\x01",  # data shorter than its length
        b"8=FIX.4.4\x019=8\x0195=1\x0196=ab\x0110=000\x01",  # data longer than its length
        b"8=FIX.4.4\x019=8\x0195=99999999999\x0196=ab\x0110=000\x01",  # absurd length
    ],
)
def test_data_field_that_does_not_match_its_length(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


def test_negative_tag_is_a_tag_number() -> None:
    # FIX 14a expects Reject "Invalid tag number" with RefTagID -1: parse, do not drop
    raw = msg((35, b"0"), (34, b"2"), (-1, b"HI"))
    assert (-1, b"HI") in parse(raw).fields


def test_leading_zero_tag() -> None:
    raw = b"8=FIX.4.4\x019=5\x01035=0\x0110=000\x01"
    assert parse(raw).fields[2] == (35, b"0")


def test_large_tag_numbers() -> None:
    raw = msg((35, b"0"), (20000, b"a"), (123456789, b"b"))
    assert parse(raw).fields[3:5] == [(20000, b"a"), (123456789, b"b")]
    assert parse(raw).fields[3:5] == [(20000, b"a"), (123456789, b"b")]  # from the cache


@pytest.mark.parametrize(
    "raw",
    [
        b"8=FIX.4.4\x019=5\x014garbled9=TW\x0110=000\x01",  # FIX 14 non-numeric tag
        b"8=FIX.4.4\x019=5\x01=TW\x0110=000\x01",  # empty tag
        b"8=FIX.4.4\x019=5\x01+5=TW\x0110=000\x01",
        b"8=FIX.4.4\x019=5\x01--5=TW\x0110=000\x01",
        b"8=FIX.4.4\x019=5\x01 5=TW\x0110=000\x01",
        b"8=FIX.4.4\x019=5\x0158\x0110=000\x01",  # field without "="
        b"8=FIX.4.4\x019=5\x01\x0110=000\x01",  # empty field
        b"8=FIX.4.4\x019=5\x0158=a\x0110=000",  # no final SOH
        b"8=FIX.4.4\x019=5\x0158=a=b\x01x\x0110=000\x01",  # "=" in a value, broken field
        b"8=FIX.4.4\x019=5\x01" + b"1" * 5000 + b"=x\x0110=000\x01",  # absurd tag
        b"8=FIX.4.4\x019=5\x01" + b"1" * 5000 + b"=x=y\x0110=000\x01",
        b"",
        b"\x01",
    ],
)
def test_garbled_frames_raise_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


# --- checksum and encoding ----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_body_checksum_is_the_byte_sum(data: bytes) -> None:
    assert body_checksum(data) == sum(data) % 256


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 511, 512, 513, 1024, 1025, 5000])
@pytest.mark.parametrize("byte", [0x00, 0x7F, 0x80, 0xFF])
def test_body_checksum_at_chunk_boundaries(n: int, byte: int) -> None:
    data = bytes([byte]) * n
    assert body_checksum(data) == sum(data) % 256
    assert checksum(data) == b"%03d" % (sum(data) % 256)


def test_encode_adds_body_length_and_checksum() -> None:
    frame = encode(b"FIX.4.4", b"35=0\x0134=1\x01")
    assert frame.startswith(b"8=FIX.4.4\x019=10\x0135=0\x01")
    assert frame[-7:] == b"10=" + checksum(frame[:-7]) + b"\x01"
    assert Framer().feed(frame) == [frame]


def test_encode_fields_value_types() -> None:
    fields: list[tuple[int, bytes | str | int]] = [(35, b"D"), (58, "héllo"), (38, 100)]
    assert encode_fields(fields) == b"35=D\x0158=h\xe9llo\x0138=100\x01"
    assert encode_fields(iter([(1, b"a"), (2, b"b")])) == b"1=a\x012=b\x01"
    assert encode_fields(()) == b""
    many = [(i, b"v") for i in range(1, 200)]
    assert encode_fields(many) == b"".join(b"%d=v\x01" % i for i in range(1, 200))


def test_encode_message_requires_begin_string_first() -> None:
    with pytest.raises(ValueError):
        encode_message([(35, b"0")])
    assert encode_message([(8, "FIX.4.2"), (35, b"0"), (9, b"99"), (10, b"000")]) == encode(
        b"FIX.4.2", b"35=0\x01"
    )


# --- differential tests against simplefix ----------------------------------------------

_EXCLUDED = (
    {8, 9, 10, 35}
    | set(DATA_LENGTH_TAGS)
    | set(DATA_LENGTH_TAGS.values())
    | set(RAW_LEN_TAGS)
    | set(RAW_DATA_TAGS)
)
_TAGS = st.integers(1, 9999).filter(lambda t: t not in _EXCLUDED)
_PRINTABLE = st.binary(min_size=1, max_size=30).map(
    lambda b: bytes(0x20 + (c % 95) for c in b)  # printable ASCII, no SOH, never empty
)
_MSG_TYPE = st.text(string.ascii_letters + string.digits, min_size=1, max_size=2).map(
    str.encode
)
_BEGIN = st.sampled_from([b"FIX.4.2", b"FIX.4.4", b"FIXT.1.1"])
_FIELDS = st.lists(st.tuples(_TAGS, _PRINTABLE), max_size=40)


def simplefix_message(begin: bytes, msg_type: bytes, fields: FieldList) -> simplefix.FixMessage:
    m = simplefix.FixMessage()
    m.append_pair(8, begin)
    m.append_pair(35, msg_type)
    for tag, value in fields:
        m.append_pair(tag, value)
    return m


@settings(max_examples=200, deadline=None)
@given(_BEGIN, _MSG_TYPE, _FIELDS)
def test_we_parse_what_simplefix_encodes(begin: bytes, msg_type: bytes, fields: FieldList) -> None:
    data = simplefix_message(begin, msg_type, fields).encode()
    assert Framer().feed(data) == [data]
    m = parse(data)
    assert m.fields[0] == (8, begin)
    assert m.fields[1] == (9, b"%d" % (len(data) - data.index(b"\x0135=") - 1 - 7))
    assert m.fields[2] == (35, msg_type)
    assert m.fields[3:-1] == fields
    assert m.fields[-1] == (10, checksum(data[:-7]))


@settings(max_examples=200, deadline=None)
@given(_BEGIN, _MSG_TYPE, _FIELDS)
def test_simplefix_parses_what_we_encode(begin: bytes, msg_type: bytes, fields: FieldList) -> None:
    data = encode_message([(8, begin), (35, msg_type), *fields])
    parser = simplefix.FixParser()
    parser.append_buffer(data)
    got = parser.get_message()
    assert got is not None
    pairs = [(int(t), v) for t, v in got.pairs]
    assert pairs[0] == (8, begin)
    assert pairs[2] == (35, msg_type)
    assert pairs[3:-1] == fields
    assert parser.get_message() is None


@settings(max_examples=200, deadline=None)
@given(_BEGIN, _MSG_TYPE, _FIELDS)
def test_our_encoding_is_byte_for_byte_simplefix(
    begin: bytes, msg_type: bytes, fields: FieldList
) -> None:
    ours = encode_message([(8, begin), (35, msg_type), *fields])
    assert ours == simplefix_message(begin, msg_type, fields).encode()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_BEGIN, _MSG_TYPE, _FIELDS), min_size=1, max_size=5), st.data())
def test_random_streams_split_anywhere(
    messages: list[tuple[bytes, bytes, FieldList]], data: st.DataObject
) -> None:
    frames = [simplefix_message(b, t, f).encode() for b, t, f in messages]
    stream = b"".join(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    framer = Framer()
    out = feed_all(framer, chunks)
    assert out == frames
    assert framer.buffered == 0
    for frame in frames:
        parser = simplefix.FixParser()
        parser.append_buffer(frame)
        theirs = parser.get_message()
        assert theirs is not None
        assert parse(frame).fields == [(int(t), v) for t, v in theirs.pairs]


# --- lookups by tag: the parser's index against references ----------------------------------

# tags that repeat often, values that may be empty or hold "=", now and then a tag below 1
_LOOKUP_TAGS = st.one_of(st.sampled_from([11, 55, 58, 448, 9999, 10001]), _TAGS, st.integers(-3, 0))
_LOOKUP_VALUES = st.one_of(_PRINTABLE, st.just(b""), st.just(b"a=b"))
_LOOKUP_FIELDS = st.lists(st.tuples(_LOOKUP_TAGS, _LOOKUP_VALUES), max_size=30)


def _reference(fields: FieldList) -> dict[int, bytes]:
    ref: dict[int, bytes] = {}
    for tag, value in fields:
        ref.setdefault(tag, value)
    return ref


@settings(max_examples=300, deadline=None)
@given(_BEGIN, _MSG_TYPE, _LOOKUP_FIELDS)
def test_lookups_agree_with_the_first_occurrence_of_each_tag(
    begin: bytes, msg_type: bytes, fields: FieldList
) -> None:
    data = encode_message([(8, begin), (35, msg_type), *fields])
    m = parse(data)
    all_fields = [(8, begin), (9, m.fields[1][1]), (35, msg_type), *fields, (10, data[-4:-1])]
    assert m.fields == all_fields
    ref = _reference(all_fields)
    for tag in {t for t, _ in all_fields} | {1, 12, 10_002}:
        assert m.get(tag) == ref.get(tag)
        assert (tag in m) == (tag in ref)
    assert m.index == ref
    assert m.msg_type == msg_type
    assert m.type3 == msg_type
    assert m.begin == begin
    # the session skips its per-field check only when every tag is valid and every value
    # set; a value holding "=" takes the partitioning parser, which leaves that to it
    valid = all(t > 0 and v for t, v in all_fields)
    if m.simple:
        assert valid
    elif not any(b"=" in v for _, v in fields):
        assert not valid


@settings(max_examples=200, deadline=None)
@given(_BEGIN, _MSG_TYPE, _FIELDS)
def test_lookups_agree_with_simplefix(begin: bytes, msg_type: bytes, fields: FieldList) -> None:
    data = simplefix_message(begin, msg_type, fields).encode()
    m = parse(data)
    parser = simplefix.FixParser()
    parser.append_buffer(data)
    theirs = parser.get_message()
    assert theirs is not None
    for tag in {t for t, _ in fields} | {8, 9, 10, 35, 1}:
        assert m.get(tag) == theirs.get(tag)  # simplefix: the first occurrence
    assert m.msg_type == theirs.message_type
    assert m.simple or any(b"=" in v for _, v in fields)


def test_fields_are_built_on_first_use_and_kept() -> None:
    m = parse(NOS3)
    assert m._fields is None  # a message read only by tag never builds the list
    assert m[11] == b"ORD1"
    assert m._fields is None
    first = m.fields
    assert first is m.fields
    assert first[7] == (11, b"ORD1")


def test_msg_type_not_third_is_found_but_flagged() -> None:
    raw = b"8=FIX.4.4\x019=20\x0134=2\x0135=0\x0149=A\x0156=B\x01"
    raw += b"10=" + checksum(raw) + b"\x01"
    m = parse(raw)
    assert m.msg_type == b"0"
    assert m.type3 is None


def test_tag_below_one_is_parsed_but_not_simple() -> None:
    for tag in (b"0", b"-5"):
        raw = msg((35, b"0"), (34, b"2"))[:-7].replace(b"\x0134=", b"\x01" + tag + b"=")
        raw += b"10=" + checksum(raw) + b"\x01"
        m = parse(raw)
        assert m.fields[3] == (int(tag), b"2")
        assert not m.simple


def test_message_built_from_fields() -> None:
    m = Message([(8, b"FIX.4.4"), (35, b"D"), (11, b"A"), (11, b"B")])
    assert m.get(11) == b"A"
    assert m.msg_type == b"D"
    assert m.type3 is None  # MsgType is not the third field
    assert m.begin == b"FIX.4.4"
    assert not m.simple
