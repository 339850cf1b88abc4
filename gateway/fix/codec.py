"""FIX tag=value codec: framing a byte stream, parsing once, encoding from pre-encoded bytes.

- ``Framer`` cuts a TCP byte stream into frames: partial reads, several messages per read,
  garbage between messages, BodyLength and CheckSum checked, and a maximum frame size so a
  hostile BodyLength cannot make us buffer without limit.
- ``parse`` turns one frame into a ``Message``: the (tag, value-bytes) pairs in wire order,
  repeating groups preserved as they came; values are decoded only when asked for.
- ``encode`` adds BodyLength and CheckSum to pre-encoded bytes.

No I/O and no clock here: this module is pure and is shared by the gateway and simulators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain
from typing import Final, Protocol, overload
from zlib import adler32

from gateway.fix.tags import DATA_LENGTH_TAGS

SOH: Final = b"\x01"


class _SlowPath(ValueError):
    """A tag the fast parser must not handle: a data-length tag, or an unusual spelling."""


class _TagNumbers(dict[bytes, int]):
    """Tag bytes -> int; a dict lookup is cheaper than int() on the hot path.

    Data-length tags (whose data field may hold SOH), unusual spellings such as ``095`` and
    tag numbers below 1 are never answered: they raise, and the message takes the slow
    parser, so the fast one needs no separate test for data fields, and what it parses has
    only valid tag numbers.
    """

    def __missing__(self, key: bytes) -> int:
        if not _is_tag(key):
            raise ValueError(key)
        tag = int(key)
        if tag <= 0 or b"%d" % tag != key or tag in DATA_LENGTH_TAGS:
            raise _SlowPath(key)
        if 0 < tag < 100_000 and len(self) < 200_000:
            self[key] = tag
        return tag


_TAG_NUMBERS: Final = _TagNumbers(
    {b"%d" % i: i for i in range(1, 10_000) if i not in DATA_LENGTH_TAGS}
)
_tag_number: Final = _TAG_NUMBERS.__getitem__
# every byte but "=" and SOH: deleting them leaves the separators of a frame
_NOT_SEPARATORS: Final = bytes(b for b in range(256) if b not in (0x01, 0x3D))


def body_checksum(data: bytes) -> int:
    """Sum of the bytes modulo 256, the FIX CheckSum.

    zlib.adler32's low half is 1 + the byte sum modulo 65521. While that sum stays below
    65520 it is the exact byte sum, computed in C: always true for 256 bytes, and for 512
    bytes of ASCII (at most 127 each), which is what FIX messages almost always are.
    """
    n = len(data)
    if n <= 256:
        return (adler32(data) - 1) & 0xFF
    chunk = 512 if data.isascii() else 256
    total = 0
    for i in range(0, n, chunk):
        total += (adler32(data[i : i + chunk]) & 0xFFFF) - 1
    return total & 0xFF


class ParseError(ValueError):
    """A frame that cannot be read as tag=value pairs (a garbled message)."""


class Garbled:
    """A frame the framer could not accept, with why; the session ignores it (FIX: garbled)."""

    __slots__ = ("raw", "reason")

    def __init__(self, raw: bytes, reason: str) -> None:
        self.raw = raw
        self.reason = reason

    def __repr__(self) -> str:
        return f"Garbled({self.reason!r}, {self.raw[:60]!r})"


_START: Final = b"8=FIX"
# BeginString then BodyLength, the first two fields of every frame. No "=" in the
# BeginString: a message cut inside it ("8=FIX.4.") must not absorb the next one's start.
_HEADER: Final = re.compile(rb"8=FIXT?\.\d\.\d[^\x01=]{0,8}\x019=(\d{1,9})\x01")
_CHECKSUM_MARK: Final = b"\x0110="
# the whole CheckSum field for each possible sum
TRAILERS: Final = tuple(b"10=%03d\x01" % i for i in range(256))


class Framer:
    """Cuts a byte stream into complete FIX frames.

    ``feed`` returns, in arrival order, each complete frame as ``bytes`` (BodyLength and
    CheckSum verified) or a ``Garbled`` for a frame that failed a check. Bytes before the
    next ``8=FIX`` are skipped. A frame whose BodyLength does not land on ``10=`` is
    taken up to the next CheckSum field and reported garbled, as QuickFIX does.
    """

    __slots__ = ("_buf", "max_size")

    def __init__(self, max_size: int = 1 << 20) -> None:
        self._buf = b""
        self.max_size = max_size

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | Garbled]:
        if not self._buf:
            # Fast path: exactly one whole, valid message, as a socket read usually brings.
            # Anything else (and any failed check) is left to the general loop below.
            m = _HEADER.match(data)
            if m is not None:
                end = m.end() + int(m.group(1))
                if end + 7 == len(data) and end <= self.max_size:
                    # the byte sum in C (see body_checksum; exact for 256 bytes)
                    if end <= 256:
                        if data.endswith(TRAILERS[(adler32(data[:end]) - 1) & 0xFF]):
                            return [data]
                    elif data.endswith(TRAILERS[body_checksum(data[:end])]):
                        return [data]
        buf = self._buf + data if self._buf else data
        out: list[bytes | Garbled] = []
        pos = 0
        n = len(buf)
        max_size = self.max_size
        search = _HEADER.search
        while pos < n:
            m = search(buf, pos)
            if m is None:
                # keep a header that may still be arriving; drop garbage before it
                last = buf.rfind(_START, pos)
                if last >= 0 and n - last <= 40:
                    pos = last
                else:
                    pos = max(pos, n - 4)
                break
            start = m.start()
            body_start = m.end()
            end = body_start + int(m.group(1))
            if end - start > max_size:
                out.append(Garbled(buf[start:body_start], "message larger than MaxMessageSize"))
                pos = body_start
                continue
            if n < end + 7:
                pos = start  # wait for the rest (bounded by max_size)
                break
            body = buf[start:end]
            cs = (adler32(body) - 1) & 0xFF if end - start <= 256 else body_checksum(body)
            if buf.startswith(TRAILERS[cs], end):
                out.append(buf[start : end + 7])
                pos = end + 7
                continue
            if buf[end + 6] == 1 and buf[end : end + 3] == b"10=":
                out.append(Garbled(buf[start : end + 7], "CheckSum(10) is wrong"))
                pos = end + 7
                continue
            # BodyLength does not land on the CheckSum: take up to the next CheckSum field.
            mark = buf.find(_CHECKSUM_MARK, end - 1)
            soh = buf.find(SOH, mark + 4) if mark >= 0 else -1
            if soh < 0:
                if n - start > max_size:
                    out.append(Garbled(buf[start:n], "no CheckSum(10) within MaxMessageSize"))
                    pos = n
                else:
                    pos = start
                break
            out.append(Garbled(buf[start : soh + 1], "BodyLength(9) is wrong"))
            pos = soh + 1
        self._buf = buf[pos:] if pos < n else b""
        return out


class _Getter(Protocol):
    """The type of ``Message.get`` (a ``dict.get``)."""

    @overload
    def __call__(self, tag: int, /) -> bytes | None: ...
    @overload
    def __call__(self, tag: int, default: bytes, /) -> bytes: ...
    @overload
    def __call__(self, tag: int, default: bytes | None, /) -> bytes | None: ...


class Message:
    """One parsed FIX message: (tag, value) pairs in wire order; values are raw bytes.

    ``index`` maps each tag to the value of its first occurrence; ``msg_type`` is MsgType
    (b"" when absent). ``parse`` builds the index in C from the frame's tokens and leaves
    the ``fields`` list to be built on first use: a message on the order path is read by
    tag and never needs one. ``simple`` is True only for a frame whose every tag is a
    valid number and every value non-empty, which the parser learns at no extra pass; the
    session then skips its per-field structural check.
    """

    __slots__ = ("_fields", "_tokens", "begin", "get", "index", "msg_type", "raw", "simple", "type3")

    #: ``get(tag, default=None)``: the value of the first occurrence of ``tag``. It is the
    #: index's own ``dict.get``, so a lookup by the application is one call into C.
    get: _Getter

    def __init__(self, fields: list[tuple[int, bytes]], raw: bytes = b"") -> None:
        self._fields: list[tuple[int, bytes]] | None = fields
        self._tokens: list[bytes] | None = None
        self.raw = raw
        # the first occurrence of each tag wins: built from the end, in C
        index = self.index = dict(reversed(fields))
        self.get = index.get
        n = len(fields)
        #: the first field's value (BeginString in a well-formed message)
        self.begin = fields[0][1] if n else b""
        msg_type = fields[2][1] if n > 2 and fields[2][0] == 35 else None
        #: MsgType when it is the third field of four or more, else None (FIX: garbled)
        self.type3 = msg_type if n > 3 else None
        self.msg_type = msg_type if msg_type is not None else index.get(35, b"")
        self.simple = False

    @property
    def fields(self) -> list[tuple[int, bytes]]:
        f = self._fields
        if f is None:
            tokens = self._tokens
            assert tokens is not None
            # the tags were checked when the message was parsed
            f = self._fields = list(zip(map(_tag_number, tokens[0:-1:2]), tokens[1::2], strict=False))
        return f

    def __getitem__(self, tag: int) -> bytes:
        return self.index[tag]

    def __contains__(self, tag: object) -> bool:
        return tag in self.index

    def get_str(self, tag: int, default: str | None = None) -> str | None:
        v = self.index.get(tag)
        return default if v is None else v.decode("latin-1")

    def get_int(self, tag: int, default: int | None = None) -> int | None:
        v = self.index.get(tag)
        if v is None:
            return default
        return int(v)

    def get_all(self, tag: int) -> list[bytes]:
        return [v for t, v in self.fields if t == tag]

    def count(self, tag: int) -> int:
        return sum(1 for t, _ in self.fields if t == tag)

    def __repr__(self) -> str:
        return "Message(" + "|".join(f"{t}={v.decode('latin-1')}" for t, v in self.fields) + ")"

    def to_text(self, sep: str = "|") -> str:
        return sep.join(f"{t}={v.decode('latin-1')}" for t, v in self.fields) + sep


_new_message: Final = Message.__new__
# "=", SOH, "=", SOH, ...: a frame's separators, in order, are a prefix of this when no
# value holds "=" or SOH (longer frames compare against a longer copy)
_ALTERNATING: Final = b"=\x01" * 4096


def parse(raw: bytes) -> Message:
    """Parse one complete frame into a Message. Raises ParseError when garbled.

    The fast path works in C-level bytes methods, with no Python code per field: when the
    separators of the frame alternate exactly ``=``, SOH, ``=``, SOH ... (so no value
    holds ``=`` or SOH), one split yields tags and values in turn, and the index of first
    occurrences is built from them backwards. A value holding ``=`` takes a path that
    partitions each field; a length-prefixed data field (which may hold SOH), an unusual
    tag spelling, a tag number below 1 or a broken field takes the slow path that reads by
    length and explains the error.
    """
    seps = raw.translate(None, _NOT_SEPARATORS)
    n = len(seps)
    if (
        (_ALTERNATING.startswith(seps) if n <= 8192 else seps == b"=\x01" * (n >> 1))
        and not n & 1
        and raw.endswith(b"\x01")
    ):
        # raw is exactly (tag "=" value SOH)*: tokens alternate tag, value, ..., b""
        tokens = raw.replace(b"\x01", b"=").split(b"=")
        values = tokens[-2::-2]  # last to first
        try:
            # _tag_number raises for a non-numeric tag, a data-length tag, a tag below 1;
            # the slices have the same length (and strict= costs a keyword parse per call)
            index = dict(zip(map(_tag_number, tokens[-3::-2]), values))  # noqa: B905
        except ValueError:
            return _parse_slow(raw)
        msg = _new_message(Message)
        msg._fields = None
        msg._tokens = tokens
        msg.raw = raw
        msg.index = index
        msg.get = index.get
        msg.begin = tokens[1]
        if n > 5 and tokens[4] == b"35":
            msg_type = msg.msg_type = tokens[5]
            msg.type3 = msg_type if n > 7 else None
        else:
            msg.msg_type = index.get(35, b"")
            msg.type3 = None
        msg.simple = all(values)
        return msg
    return _parse_partitioned(raw)


def _parse_partitioned(raw: bytes) -> Message:
    """Values may hold ``=``: split on SOH, then each field at its first ``=``."""
    if not raw.endswith(SOH):
        raise ParseError("message does not end with SOH")
    parts = raw.split(SOH)
    del parts[-1]
    split = [p.partition(b"=") for p in parts]
    try:
        # _tag_number raises for a non-numeric tag and for a data-length tag
        fields = [(_tag_number(t), v) for t, s, v in split if s]
    except ValueError:
        return _parse_slow(raw)
    if len(fields) != len(split):
        # a part without "=" is a broken field
        return _parse_slow(raw)
    return Message(fields, raw)


def _parse_slow(raw: bytes) -> Message:
    fields: list[tuple[int, bytes]] = []
    pos = 0
    n = len(raw)
    data_len: int | None = None
    data_tag = -1
    while pos < n:
        eq = raw.find(b"=", pos)
        if eq < 0:
            raise ParseError(f"field without '=' at offset {pos}")
        tag_bytes = raw[pos:eq]
        if not _is_tag(tag_bytes):
            raise ParseError(f"tag is not a number at offset {pos}: {tag_bytes[:20]!r}")
        tag = int(tag_bytes)
        if tag == data_tag and data_len is not None:
            end = eq + 1 + data_len
            if end >= n or raw[end : end + 1] != SOH:
                raise ParseError(f"data field {tag} does not match its length")
        else:
            end = raw.find(SOH, eq + 1)
            if end < 0:
                raise ParseError("field not terminated by SOH")
        value = raw[eq + 1 : end]
        fields.append((tag, value))
        if tag in DATA_LENGTH_TAGS and value.isdigit():
            # a length of 10 digits or more cannot fit in the frame (and int() of a
            # very long digit string raises): make it run past the end
            data_len = int(value) if len(value) < 10 else n
            data_tag = DATA_LENGTH_TAGS[tag]
        else:
            data_len = None
            data_tag = -1
        pos = end + 1
    return Message(fields, raw)


def _is_tag(tag_bytes: bytes) -> bool:
    """Digits, optionally after a minus sign (``-1`` is an invalid tag number, FIX 14a).

    More than 32 characters is no tag: int() of a very long digit string raises.
    """
    if len(tag_bytes) > 32:
        return False
    if tag_bytes.isdigit():
        return True
    return len(tag_bytes) > 1 and tag_bytes[:1] == b"-" and tag_bytes[1:].isdigit()


def checksum(data: bytes) -> bytes:
    """The CheckSum(10) value of ``data`` as three ASCII digits."""
    return b"%03d" % body_checksum(data)


def encode(begin_string: bytes, body: bytes) -> bytes:
    """A complete frame from BeginString and ``body`` (everything from 35= to the last SOH).

    ``body`` is pre-encoded bytes; only BodyLength and CheckSum are computed here.
    """
    msg = b"8=%s\x019=%d\x01%s" % (begin_string, len(body), body)
    # the byte sum in C (see body_checksum; exact for 256 bytes), the trailer from a table
    return msg + TRAILERS[(adler32(msg) - 1) & 0xFF if len(msg) <= 256 else body_checksum(msg)]


# "tag=value<SOH>" repeated, one format for a whole field list (cached for short lists)
_FIELD_FORMATS: Final = tuple(b"%d=%s\x01" * i for i in range(65))


def encode_fields(fields: Iterable[tuple[int, bytes | str | int]]) -> bytes:
    """Pre-encode (tag, value) pairs as ``tag=value<SOH>`` bytes.

    (int, bytes) pairs, the common case, are formatted by a single C-level ``%`` over the
    flattened pairs; a str or int value sends the whole call down the general loop.
    """
    items = fields if isinstance(fields, list | tuple) else list(fields)
    n = len(items)
    fmt = _FIELD_FORMATS[n] if n < len(_FIELD_FORMATS) else b"%d=%s\x01" * n
    try:
        return fmt % tuple(chain.from_iterable(items))
    except TypeError:
        pass
    out = []
    for tag, value in items:
        if isinstance(value, bytes):
            out.append(b"%d=%s\x01" % (tag, value))
        elif isinstance(value, str):
            out.append(b"%d=%s\x01" % (tag, value.encode("latin-1")))
        else:
            out.append(b"%d=%d\x01" % (tag, value))
    return b"".join(out)


def encode_message(fields: Iterable[tuple[int, bytes | str | int]]) -> bytes:
    """Encode a message given all its fields but 9 and 10 (8 first, then 35, ...)."""
    items = list(fields)
    if not items or items[0][0] != 8:
        raise ValueError("the first field must be BeginString(8)")
    begin = items[0][1]
    bs = begin if isinstance(begin, bytes) else str(begin).encode()
    body = encode_fields([(t, v) for t, v in items[1:] if t not in (9, 10)])
    return encode(bs, body)
