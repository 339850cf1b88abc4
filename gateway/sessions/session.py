"""The FIX session state machine, sans-I/O: bytes and the time in, bytes and events out.

``Session.receive(data, now)`` consumes bytes from the counterparty and returns events
(application ``Message``s and ``SessionEvent``s); whatever must go on the wire accumulates
and is taken with ``data_to_send()``; ``close_requested`` tells the transport to hang up.
``on_timer(now)`` drives heartbeats, test requests and logon/logout timeouts. No sockets,
no event loop, no clock of its own: a test drives it in microseconds.

Behaviour follows the FIX "Session-level Test Cases and Expected Behaviors" (the numbers
in the comments, e.g. "2b", are its test cases) and QuickFIX where the document is silent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from zlib import adler32

from gateway.fix import tags
from gateway.fix.codec import (
    TRAILERS,
    Framer,
    Garbled,
    Message,
    ParseError,
    body_checksum,
    encode,
    parse,
)
from gateway.fix.dictionary import REJECT_TEXT, Rejection, SessionRejectReason, ValidationOptions
from gateway.fix.tags import ADMIN_MSG_TYPES, MsgType
from gateway.fix.timeutil import parse_utc_timestamp, utc_timestamp

if TYPE_CHECKING:
    from gateway.config import SessionSettings
    from gateway.fix.dictionary import DataDictionary
    from gateway.sessions.store import FileStore, MemoryStore

# session states
DISCONNECTED: Final = "disconnected"
AWAITING_LOGON: Final = "awaiting_logon"  # connected; Logon not yet exchanged
LOGGED_ON: Final = "logged_on"
LOGOUT_SENT: Final = "logout_sent"  # waiting for the Logout reply, then disconnect

_REVERSE_ROUTE: Final = (
    (tags.OnBehalfOfCompID, tags.DeliverToCompID),
    (tags.DeliverToCompID, tags.OnBehalfOfCompID),
    (tags.OnBehalfOfSubID, tags.DeliverToSubID),
    (tags.DeliverToSubID, tags.OnBehalfOfSubID),
    (tags.OnBehalfOfLocationID, tags.DeliverToLocationID),
    (tags.DeliverToLocationID, tags.OnBehalfOfLocationID),
)
# header fields rebuilt when a stored message is resent
_RESEND_REBUILT: Final = frozenset(
    {
        8,
        9,
        10,
        tags.MsgType_,
        tags.MsgSeqNum,
        tags.SenderCompID,
        tags.TargetCompID,
        tags.SendingTime,
        tags.PossDupFlag,
        tags.OrigSendingTime,
    }
)


class NotLoggedOn(RuntimeError):
    """Raised when the application sends on a session that is not logged on."""


@dataclass(slots=True)
class SessionEvent:
    """Something that happened to the session (not an application message).

    kinds: logon, logout, disconnect, garbled, reject_sent, reject_received,
    business_reject_received, resend_requested, sequence_reset, gap_detected, text.
    """

    kind: str
    text: str = ""
    message: Message | None = None


class Session:
    """One FIX session (a pair of CompIDs), independent of any connection."""

    def __init__(
        self,
        settings: SessionSettings,
        store: MemoryStore | FileStore,
        dictionary: DataDictionary | None = None,
        *,
        password: str | None = None,
        expected_password: str | None = None,
        log: Callable[[str, bytes | str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.dictionary = dictionary
        self.initiator = settings.connection_type == "initiator"
        self.begin_string = settings.begin_string.encode()
        self.sender_comp_id = settings.sender_comp_id.encode()
        self.target_comp_id = settings.target_comp_id.encode()
        self.session_id = settings.session_id
        self.heart_bt_int = settings.heart_bt_int
        self.password = password  # ours, sent in our Logon (initiator)
        self.expected_password = expected_password  # the counterparty's (acceptor)
        self._log = log
        self.validation = ValidationOptions(
            check_fields_out_of_order=settings.validate_fields_out_of_order,
            check_fields_have_values=settings.validate_fields_have_values,
            check_user_defined_fields=settings.validate_user_defined_fields,
            check_unordered_group_fields=settings.validate_unordered_group_fields,
            allow_unknown_msg_fields=settings.allow_unknown_msg_fields,
            user_defined_fields=settings.user_defined_fields,
        )
        self.validate_incoming = settings.validate_incoming_message and settings.use_data_dictionary
        self.precision = settings.timestamp_precision
        self._persist = settings.persist_messages
        self.framer = Framer(settings.max_message_size)
        # pre-encoded header pieces: 35=<type>|34=<seq>|49=<sender>|52=<time>|56=<target>|
        sub = b""
        if settings.sender_sub_id:
            sub += b"\x0150=" + settings.sender_sub_id.encode()
        tsub = b""
        if settings.target_sub_id:
            tsub += b"\x0157=" + settings.target_sub_id.encode()
        self._hdr_after_seq = b"\x0149=" + self.sender_comp_id + sub + b"\x0152="
        self._hdr_after_time = b"\x0156=" + self.target_comp_id + tsub + b"\x01"
        self.state = DISCONNECTED
        self._outbound: list[bytes] = []
        self._events: list[Message | SessionEvent] = []
        self.close_requested = False
        self.on_outbound: Callable[[Session], None] | None = None
        self._reset_connection_state(0.0)

    # --- connection lifecycle -------------------------------------------------------
    def _reset_connection_state(self, now: float) -> None:
        self.framer = Framer(self.settings.max_message_size)
        self.received_logon = False
        self.sent_logon = False
        self.sent_reset = False
        self.last_sent = now
        self.last_received = now
        self.test_requests = 0
        self.state_since = now
        self.resend_range: tuple[int, int, int] | None = None  # begin, chunk end, target end
        self.queue: dict[int, Message] = {}
        self.close_requested = False
        self.logout_reason = ""

    @property
    def logged_on(self) -> bool:
        return self.state == LOGGED_ON

    def on_connect(self, now: float) -> None:
        """A connection is up. An initiator sends its Logon; an acceptor waits for one."""
        self._reset_connection_state(now)
        self.state = AWAITING_LOGON
        self.state_since = now
        if self.initiator:
            self._send_logon(now, None)

    def on_disconnect(self, now: float) -> list[Message | SessionEvent]:
        """The connection is gone (either side closed it)."""
        if self.state != DISCONNECTED:
            was = self.state
            self.state = DISCONNECTED
            self._event("disconnect", f"disconnected (was {was})")
            if self.settings.reset_on_disconnect:
                self.store.reset(now)
        self._outbound.clear()
        self.close_requested = False
        return self._take_events()

    def data_to_send(self) -> bytes:
        """Everything the session wants on the wire since the last call."""
        out = self._outbound
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def _take_events(self) -> list[Message | SessionEvent]:
        events = self._events
        if events:
            self._events = []
        return events

    def _event(self, kind: str, text: str = "", message: Message | None = None) -> None:
        self._events.append(SessionEvent(kind, text, message))
        if self._log is not None and text:
            self._log("event", text)

    def _disconnect(self, reason: str) -> None:
        self.close_requested = True
        self.logout_reason = self.logout_reason or reason
        self._event("text", f"disconnecting: {reason}")

    # --- sending ----------------------------------------------------------------------
    def _frame(
        self, msg_type: bytes, seq: int, body: bytes, now: float, extra_header: bytes = b""
    ) -> bytes:
        """The whole frame: one C-level format for the header and body, then BodyLength and
        the CheckSum (a trailer from a table; the byte sum by adler32 up to 256 bytes)."""
        head = b"35=%s\x0134=%d%s%s%s%s%s" % (
            msg_type,
            seq,
            self._hdr_after_seq,
            utc_timestamp(now, self.precision),
            self._hdr_after_time,
            extra_header,
            body,
        )
        frame = b"8=%s\x019=%d\x01%s" % (self.begin_string, len(head), head)
        return frame + TRAILERS[(adler32(frame) - 1) & 0xFF if len(frame) <= 256 else body_checksum(frame)]

    def _send(self, msg_type: bytes, body: bytes, now: float, extra_header: bytes = b"") -> int:
        # _write inlined: this runs for every message sent
        store = self.store
        seq = store.next_sender_seq
        frame = self._frame(msg_type, seq, body, now, extra_header)
        if self._persist and msg_type not in ADMIN_MSG_TYPES:
            store.store_sent(seq, frame)
        store.next_sender_seq = seq + 1
        out = self._outbound
        if not out and self.on_outbound is not None:
            self.on_outbound(self)
        out.append(frame)
        self.last_sent = now
        if self._log is not None:
            self._log("out", frame)
        return seq

    def _write(self, frame: bytes, now: float) -> None:
        if not self._outbound and self.on_outbound is not None:
            self.on_outbound(self)
        self._outbound.append(frame)
        self.last_sent = now
        if self._log is not None:
            self._log("out", frame)

    def write_raw(self, data: bytes, now: float) -> None:
        """Put bytes on the wire as they are, outside the sequence (test peers' misbehaviour)."""
        self._write(data, now)

    def send(
        self, msg_type: bytes, body: bytes, now: float, header: bytes = b"", *, offline_ok: bool = False
    ) -> int:
        """Send an application message; ``body`` is pre-encoded ``tag=value<SOH>`` bytes.

        ``header`` holds extra pre-encoded header fields (routing tags). Returns MsgSeqNum.
        With ``offline_ok`` a message for a session that is not logged on is stored with its
        sequence number and reaches the peer by ResendRequest (PossDupFlag=Y) when it
        returns, as QuickFIX does; otherwise that raises NotLoggedOn.
        """
        if self.state != LOGGED_ON:
            if not offline_ok:
                raise NotLoggedOn(f"{self.session_id} is {self.state}")
            return self._store_offline(msg_type, body, now, header)
        return self._send(msg_type, body, now, header)

    def _store_offline(self, msg_type: bytes, body: bytes, now: float, header: bytes) -> int:
        """Sequence and store a message while logged out; the peer gets it by resend."""
        store = self.store
        seq = store.next_sender_seq
        store.store_sent(seq, self._frame(msg_type, seq, body, now, header))
        store.next_sender_seq = seq + 1
        if not self._outbound and self.on_outbound is not None:
            self.on_outbound(self)
        return seq

    def _send_logon(self, now: float, their_logon: Message | None) -> None:
        body = [b"98=0\x01108=%d\x01" % self.heart_bt_int]
        reset = False
        if their_logon is None:
            if self.settings.reset_on_logon:
                self.store.reset(now)
                reset = True
        elif their_logon.get(tags.ResetSeqNumFlag) == b"Y":
            reset = True
        if reset:
            body.append(b"141=Y\x01")
            self.sent_reset = True
        if self.settings.enable_next_expected_msg_seq_num:
            nxt = self.store.next_target_seq + (1 if their_logon is not None else 0)
            body.append(b"789=%d\x01" % nxt)
        if self.initiator and self.settings.username:
            body.append(b"553=" + self.settings.username.encode() + b"\x01")
        if self.initiator and self.password:
            body.append(b"554=" + self.password.encode() + b"\x01")
        self.sent_logon = True
        self._send(MsgType.LOGON, b"".join(body), now)

    def _send_logout(self, text: str | None, now: float) -> None:
        body = b"58=" + text.encode("latin-1", "replace") + b"\x01" if text else b""
        self._send(MsgType.LOGOUT, body, now)
        if self.state != DISCONNECTED:
            self.state = LOGOUT_SENT
            self.state_since = now

    def logout(self, now: float, text: str | None = None) -> None:
        """Start a graceful logout; the transport closes after the reply or LogoutTimeout."""
        if self.state in (LOGGED_ON, AWAITING_LOGON) and self.sent_logon:
            self._send_logout(text, now)
        else:
            self._disconnect(text or "logout requested")

    def _send_reject(
        self,
        msg: Message,
        reason: int,
        ref_tag: int | None,
        text: str,
        now: float,
    ) -> None:
        body = []
        seq = msg.get(tags.MsgSeqNum)
        if seq:
            body.append(b"45=" + seq + b"\x01")
        body.append(b"58=" + text.encode("latin-1", "replace") + b"\x01")
        if ref_tag is not None:
            body.append(b"371=%d\x01" % ref_tag)
        msg_type = msg.msg_type
        if msg_type:
            body.append(b"372=" + msg_type + b"\x01")
        if self.begin_string > b"FIX.4.2" or (self.begin_string == b"FIX.4.2" and reason <= 11):
            body.append(b"373=%d\x01" % reason)
        route = b"".join(
            b"%d=%s\x01" % (to_tag, msg[from_tag])
            for from_tag, to_tag in _REVERSE_ROUTE
            if msg.get(from_tag)
        )
        self._send(MsgType.REJECT, b"".join(body), now, route)
        if (
            msg_type not in (MsgType.LOGON, MsgType.SEQUENCE_RESET)
            and seq is not None
            and _num(seq) == self.store.next_target_seq
        ):
            self.store.next_target_seq += 1
        self._event("reject_sent", f"Message {seq!r} rejected: {text}", msg)

    def send_business_reject(self, msg: Message, reason: int, text: str, now: float) -> None:
        """BusinessMessageReject (35=j) for an application message we cannot handle."""
        body = []
        seq = msg.get(tags.MsgSeqNum)
        if seq:
            body.append(b"45=" + seq + b"\x01")
        body.append(b"372=" + msg.msg_type + b"\x01")
        body.append(b"380=%d\x01" % reason)
        if text:
            body.append(b"58=" + text.encode("latin-1", "replace") + b"\x01")
        self._send(MsgType.BUSINESS_MESSAGE_REJECT, b"".join(body), now)

    def _send_resend_request(self, begin: int, received_seq: int, now: float) -> None:
        """ResendRequest from ``begin`` up to the message before ``received_seq``."""
        chunk = self.settings.resend_request_chunk_size
        target_end = received_seq - 1
        if chunk > 0 and begin + chunk - 1 < target_end:
            end = begin + chunk - 1
            wire_end = end
        else:
            end = target_end
            wire_end = 0 if self.begin_string >= b"FIX.4.2" else 999999
        self._send(MsgType.RESEND_REQUEST, b"7=%d\x0116=%d\x01" % (begin, wire_end), now)
        self.resend_range = (begin, end, target_end)
        self._event("gap_detected", f"sent ResendRequest FROM: {begin} TO: {wire_end}")

    # --- receiving --------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> list[Message | SessionEvent]:
        """Consume bytes from the counterparty; return the events they caused."""
        log = self._log
        for frame in self.framer.feed(data):
            if self.close_requested:
                break
            if type(frame) is bytes:
                if log is not None:
                    log("in", frame)
                try:
                    msg = parse(frame)
                except ParseError as exc:
                    self._garbled(frame, str(exc))
                    continue
                self._handle(msg, now)
                if self.queue:
                    self._process_queue(now)
            else:
                assert isinstance(frame, Garbled)
                self._garbled(frame.raw, frame.reason)
        return self._take_events()

    def _garbled(self, raw: bytes, reason: str) -> None:
        # 2d/3c: a garbled message is ignored and MsgSeqNum is not incremented; before a
        # Logon has been received it ends the connection (nothing to answer to).
        self._event("garbled", f"garbled message ignored ({reason}): {raw[:80]!r}")
        if not self.received_logon and not self.initiator:
            self._disconnect("garbled message before Logon")

    def _handle(self, msg: Message, now: float) -> None:
        msg_type = msg.type3
        if msg_type is None:
            # 2t: MsgType must be the third field; otherwise the message is garbled
            self._garbled(msg.raw, "MsgType(35) is not the third field")
            return
        if msg.begin != self.begin_string:
            # 2i: wrong BeginString -> Logout and disconnect
            if not self.received_logon:
                self._disconnect("wrong BeginString before Logon")
            elif msg_type == MsgType.LOGOUT:
                self._on_logout(msg, now)
            else:
                self._send_logout("Incorrect BeginString", now)
                self.store.next_target_seq += 1
            return
        index = msg.index
        seq_bytes = index.get(34)  # MsgSeqNum; as _num() reads it, without the call
        if seq_bytes is not None and seq_bytes.isdigit() and len(seq_bytes) <= 18:
            seq_num = int(seq_bytes)
        else:
            if msg_type == MsgType.LOGON or not self.received_logon:
                self._disconnect("Logon without MsgSeqNum")
            else:
                self._send_logout("Received message without MsgSeqNum", now)
                self._disconnect("Received message without MsgSeqNum")
            return
        if 49 not in index or 56 not in index or 52 not in index:  # SenderCompID, TargetCompID, SendingTime
            for required in (tags.SenderCompID, tags.TargetCompID, tags.SendingTime):
                if required not in index:
                    break
            if msg_type == MsgType.LOGON:
                self._disconnect(f"Logon without required header field {required}")
            else:
                self._send_reject(
                    msg,
                    SessionRejectReason.REQUIRED_TAG_MISSING,
                    required,
                    REJECT_TEXT[SessionRejectReason.REQUIRED_TAG_MISSING],
                    now,
                )
            return
        if self.validate_incoming and self.dictionary is not None:
            rejection = self.dictionary.validate(msg.fields, self.validation)
        elif msg.simple:
            rejection = None  # the parser saw valid tag numbers and no empty value
        else:
            rejection = _structural_check(msg.fields, msg.raw)
        if rejection is not None:
            if msg_type == MsgType.LOGON:
                self._send_logout(f"Invalid Logon message: {rejection.text}", now)
                self._disconnect(f"invalid Logon: {rejection.text}")
            else:
                self._send_reject(msg, rejection.reason, rejection.ref_tag, rejection.text, now)
            return
        if msg_type == MsgType.LOGON:
            self._on_logon(msg, seq_num, now)
            return
        if not self.received_logon or self.state == AWAITING_LOGON:
            # 1e: the first message must be a Logon
            self._disconnect(f"first message is not a Logon (MsgType {msg_type!r})")
            return
        seq = seq_num
        if msg_type not in ADMIN_MSG_TYPES:
            if self._verify(msg, seq, now, True, True):
                self.store.next_target_seq += 1
                self._events.append(msg)
        elif msg_type == MsgType.HEARTBEAT:
            if self._verify(msg, seq, now, True, True):
                self.store.next_target_seq += 1
        elif msg_type == MsgType.TEST_REQUEST:
            if self._verify(msg, seq, now, True, True):
                test_req_id = index.get(tags.TestReqID, b"") or b""
                self._send(MsgType.HEARTBEAT, b"112=" + test_req_id + b"\x01", now)
                self.store.next_target_seq += 1
        elif msg_type == MsgType.RESEND_REQUEST:
            self._on_resend_request(msg, seq, now)
        elif msg_type == MsgType.SEQUENCE_RESET:
            self._on_sequence_reset(msg, seq, now)
        elif msg_type == MsgType.LOGOUT:
            self._on_logout(msg, now)
        elif msg_type == MsgType.REJECT:
            if self._verify(msg, seq, now, False, True):
                self.store.next_target_seq += 1
                self._event(
                    "reject_received", f"Reject received: {msg.get_str(tags.Text, '')}", msg
                )

    def _process_queue(self, now: float) -> None:
        queue = self.queue
        if not queue:
            return
        store = self.store
        while queue and not self.close_requested:
            expected = store.next_target_seq
            for stale in [s for s in queue if s < expected]:
                del queue[stale]
            msg = queue.pop(expected, None)
            if msg is None:
                break
            msg_type = msg.msg_type
            self._event("text", f"processing queued message {expected}")
            if msg_type in (MsgType.LOGON, MsgType.RESEND_REQUEST):
                store.next_target_seq += 1
            else:
                self._handle(msg, now)

    def _verify(
        self, msg: Message, seq: int, now: float, check_high: bool, check_low: bool
    ) -> bool:
        """Checks common to every message after the Logon (FIX test cases 2, 10, 11)."""
        settings = self.settings
        index = msg.index
        if settings.check_latency:
            sending_time = parse_utc_timestamp(index[tags.SendingTime])
            if sending_time is None or abs(now - sending_time) > settings.max_latency:
                # 2o: Reject with SessionRejectReason 10, then Logout
                self._send_reject(
                    msg,
                    SessionRejectReason.SENDINGTIME_ACCURACY_PROBLEM,
                    tags.SendingTime,
                    REJECT_TEXT[SessionRejectReason.SENDINGTIME_ACCURACY_PROBLEM],
                    now,
                )
                self._send_logout("SendingTime accuracy problem, field=52", now)
                return False
        if settings.check_comp_id and (
            index[tags.SenderCompID] != self.target_comp_id
            or index[tags.TargetCompID] != self.sender_comp_id
        ):
            # 2k: Reject with SessionRejectReason 9, then Logout
            self._send_reject(
                msg,
                SessionRejectReason.COMPID_PROBLEM,
                None,
                REJECT_TEXT[SessionRejectReason.COMPID_PROBLEM],
                now,
            )
            self._send_logout("CompID problem", now)
            return False
        expected = self.store.next_target_seq
        if check_high and seq > expected:
            self._target_too_high(msg, seq, now)
            return False
        if check_low and seq < expected:
            self._target_too_low(msg, seq, expected, now)
            return False
        rr = self.resend_range
        if rr is not None and (check_high or check_low) and seq >= rr[1]:
            if rr[1] < rr[2]:
                # the chunk is complete: ask for the next one (ResendRequestChunkSize)
                self._send_resend_request(rr[1] + 1, rr[2] + 1, now)
            else:
                self._event("text", f"ResendRequest FROM: {rr[0]} TO: {rr[2]} has been satisfied")
                self.resend_range = None
        self.last_received = now
        self.test_requests = 0
        return True

    def _target_too_high(self, msg: Message, seq: int, now: float) -> None:
        # 2b: queue the message and ask for the gap (once, unless redundant requests are on)
        self.queue[seq] = msg
        rr = self.resend_range
        if rr is not None and not self.settings.send_redundant_resend_requests and seq >= rr[0]:
            if seq - 1 > rr[2]:
                chunked = self.settings.resend_request_chunk_size > 0
                self.resend_range = (rr[0], rr[1] if chunked else seq - 1, seq - 1)
            self._event("text", f"MsgSeqNum too high ({seq}); ResendRequest already sent")
            return
        self._send_resend_request(self.store.next_target_seq, seq, now)

    def _target_too_low(self, msg: Message, seq: int, expected: int, now: float) -> None:
        if msg.get(tags.PossDupFlag) != b"Y":
            # 2c: too low without PossDupFlag -> Logout and disconnect
            text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
            self._send_logout(text, now)
            self._disconnect(text)
            return
        if msg.msg_type != MsgType.SEQUENCE_RESET:
            orig = msg.get(tags.OrigSendingTime)
            if orig is None:
                # 2g: PossDup without OrigSendingTime -> Reject (required tag missing)
                self._send_reject(
                    msg,
                    SessionRejectReason.REQUIRED_TAG_MISSING,
                    tags.OrigSendingTime,
                    REJECT_TEXT[SessionRejectReason.REQUIRED_TAG_MISSING],
                    now,
                )
                return
            orig_time = parse_utc_timestamp(orig)
            sending_time = parse_utc_timestamp(msg[tags.SendingTime])
            if orig_time is None or sending_time is None or orig_time > sending_time:
                # 2f: OrigSendingTime later than SendingTime -> Reject, Logout
                self._send_reject(
                    msg,
                    SessionRejectReason.SENDINGTIME_ACCURACY_PROBLEM,
                    tags.OrigSendingTime,
                    REJECT_TEXT[SessionRejectReason.SENDINGTIME_ACCURACY_PROBLEM],
                    now,
                )
                self._send_logout("SendingTime accuracy problem, field=122", now)
                return
        # 2e: a duplicate we already have is ignored
        self.last_received = now
        self.test_requests = 0

    # --- Logon / Logout --------------------------------------------------------------
    def _on_logon(self, msg: Message, seq: int, now: float) -> None:
        reset_flag = msg.get(tags.ResetSeqNumFlag) == b"Y"
        if self.received_logon and self.state == LOGGED_ON and not reset_flag:
            self._send_logout("Logon received while already logged on", now)
            self._disconnect("second Logon on a logged-on session")
            return
        if not self.initiator:
            hbi = msg.get(tags.HeartBtInt)
            hbi_num = _num(hbi[1:] if hbi and hbi[:1] == b"-" else hbi)
            if hbi is None or hbi_num is None:
                self._send_logout("Invalid Logon message: HeartBtInt missing or malformed", now)
                self._disconnect("Logon without a valid HeartBtInt")
                return
            if hbi[:1] == b"-" and hbi_num > 0:
                self._send_logout("HeartBtInt must not be negative", now)
                self._disconnect("negative HeartBtInt")
                return
            if self.expected_password is not None or self.settings.username:
                user = msg.get_str(tags.Username)
                pwd = msg.get_str(tags.Password)
                if (self.settings.username and user != self.settings.username) or (
                    self.expected_password is not None and pwd != self.expected_password
                ):
                    self._send_logout("Logon rejected: invalid Username or Password", now)
                    self._disconnect("authentication failed")
                    return
        if reset_flag and not self.sent_reset:
            # SessionReset: ResetSeqNumFlag=Y resets both sequence numbers to 1
            self._event("text", "Logon contains ResetSeqNumFlag=Y, resetting sequence numbers to 1")
            self.store.reset(now)
        elif self.initiator and self.settings.refresh_on_logon:
            self.store.refresh()
        settings = self.settings
        if settings.check_latency:
            sending_time = parse_utc_timestamp(msg[tags.SendingTime])
            if sending_time is None or abs(now - sending_time) > settings.max_latency:
                # 1d: Logon with a bad SendingTime -> Logout and disconnect, no Reject
                self._send_logout(
                    "Invalid Logon message: SendingTime accuracy problem, field=52", now
                )
                self._disconnect("Logon SendingTime accuracy problem")
                return
        if settings.check_comp_id and (
            msg[tags.SenderCompID] != self.target_comp_id
            or msg[tags.TargetCompID] != self.sender_comp_id
        ):
            self._send_logout("Invalid Logon message: CompID problem", now)
            self._disconnect("Logon CompID problem")
            return
        expected = self.store.next_target_seq
        if seq < expected and not reset_flag:
            text = f"MsgSeqNum too low, expecting {expected} but received {seq}"
            self._send_logout(text, now)
            self._disconnect(text)
            return
        next_expected = msg.get(tags.NextExpectedMsgSeqNum)
        self.received_logon = True
        if not self.initiator or (reset_flag and not self.sent_reset):
            hbi = msg.get(tags.HeartBtInt)
            hbi_num = _num(hbi)
            if hbi_num is not None:
                self.heart_bt_int = hbi_num
            self._send_logon(now, msg)
        self.sent_reset = False
        self.state = LOGGED_ON
        self.state_since = now
        self.last_received = now
        self.test_requests = 0
        self._event("logon", f"logged on ({'initiator' if self.initiator else 'acceptor'})")
        if seq > self.store.next_target_seq and not reset_flag:
            # 1a: Logon with MsgSeqNum too high -> Logon reply, then ResendRequest
            self._target_too_high(msg, seq, now)
        else:
            self.store.next_target_seq = seq + 1
        next_expected_num = _num(next_expected)
        if next_expected_num is not None:
            self._on_next_expected(next_expected_num, now)

    def _on_next_expected(self, their_next: int, now: float) -> None:
        """NextExpectedMsgSeqNum(789) on Logon: resend what they missed, if anything."""
        ours = self.store.next_sender_seq
        if their_next < ours - 1 and self.settings.enable_next_expected_msg_seq_num:
            self._resend(their_next, ours - 2, now)

    def _on_logout(self, msg: Message, now: float) -> None:
        # 13b/13a: reply to a Logout we did not start, then disconnect
        text = msg.get_str(tags.Text, "") or ""
        if self.state != LOGOUT_SENT and self.received_logon:
            self._send_logout(None, now)
        self.store.next_target_seq += 1
        self._event("logout", f"Logout received{': ' + text if text else ''}", msg)
        if self.settings.reset_on_logout:
            self.store.reset(now)
        self._disconnect("Logout" + (f": {text}" if text else ""))

    # --- ResendRequest / SequenceReset ---------------------------------------------------
    def _on_resend_request(self, msg: Message, seq: int, now: float) -> None:
        if not self._verify(msg, seq, now, False, False):
            return
        begin = msg.get(tags.BeginSeqNo)
        end = msg.get(tags.EndSeqNo)
        b_num, e_num = _num(begin), _num(end)
        if b_num is None or e_num is None:
            self._send_reject(
                msg,
                SessionRejectReason.REQUIRED_TAG_MISSING,
                tags.BeginSeqNo if b_num is None else tags.EndSeqNo,
                REJECT_TEXT[SessionRejectReason.REQUIRED_TAG_MISSING],
                now,
            )
            return
        b, e = b_num, e_num
        last_sent = self.store.next_sender_seq - 1
        if e == 0 or e == 999999 or e > last_sent:
            e = last_sent
        self._event("resend_requested", f"ResendRequest FROM: {b} TO: {e}", msg)
        if b <= e:
            self._resend(b, e, now)
        expected = self.store.next_target_seq
        if seq == expected:
            self.store.next_target_seq += 1

    def _resend(self, begin: int, end: int, now: float) -> None:
        """Resend [begin, end]: application messages with PossDupFlag, the rest gap-filled."""
        stored = self.store.get_sent(begin, end)
        gap_start: int | None = None
        expect = begin
        for seq, frame in stored:
            if seq < expect:
                continue
            try:
                old = parse(frame)
            except ParseError:
                continue
            if old.msg_type in ADMIN_MSG_TYPES:
                continue
            if seq > expect:
                self._send_gap_fill(expect if gap_start is None else gap_start, seq, now)
            gap_start = None
            self._write(self._possdup_copy(old, seq, now), now)
            expect = seq + 1
        if expect <= end:
            self._send_gap_fill(expect, end + 1, now)

    def _possdup_copy(self, old: Message, seq: int, now: float) -> bytes:
        orig_time = old.get(tags.SendingTime, b"") or b""
        extra = b"".join(b"%d=%s\x01" % (t, v) for t, v in old.fields if t not in _RESEND_REBUILT)
        return encode(
            self.begin_string,
            b"35="
            + old.msg_type
            + b"\x0134=%d\x0143=Y" % seq
            + self._hdr_after_seq
            + utc_timestamp(now, self.precision)
            + self._hdr_after_time
            + b"122="
            + orig_time
            + b"\x01"
            + extra,
        )

    def _send_gap_fill(self, seq: int, new_seq: int, now: float) -> None:
        time_bytes = utc_timestamp(now, self.precision)
        frame = encode(
            self.begin_string,
            b"35=4\x0134=%d\x0143=Y" % seq
            + self._hdr_after_seq
            + time_bytes
            + self._hdr_after_time
            + b"122="
            + time_bytes
            + b"\x0136=%d\x01123=Y\x01" % new_seq,
        )
        self._write(frame, now)

    def _on_sequence_reset(self, msg: Message, seq: int, now: float) -> None:
        gap_fill = msg.get(tags.GapFillFlag) == b"Y"
        if not self._verify(msg, seq, now, gap_fill, gap_fill):
            return
        new_seq_bytes = msg.get(tags.NewSeqNo)
        new_seq_num = _num(new_seq_bytes)
        if new_seq_num is None:
            self._send_reject(
                msg,
                SessionRejectReason.REQUIRED_TAG_MISSING,
                tags.NewSeqNo,
                REJECT_TEXT[SessionRejectReason.REQUIRED_TAG_MISSING],
                now,
            )
            return
        new_seq = new_seq_num
        expected = self.store.next_target_seq
        if new_seq > expected:
            # 10/11a: move the expected sequence number forward
            self.store.next_target_seq = new_seq
            self._event("sequence_reset", f"SequenceReset: next expected {new_seq}", msg)
            for stale in [s for s in self.queue if s < new_seq]:
                del self.queue[stale]
        elif new_seq < expected:
            # 11c: NewSeqNo lower than expected -> Reject, value out of range
            self._send_reject(
                msg,
                SessionRejectReason.VALUE_IS_INCORRECT,
                tags.NewSeqNo,
                REJECT_TEXT[SessionRejectReason.VALUE_IS_INCORRECT],
                now,
            )

    # --- time -----------------------------------------------------------------------
    def on_timer(self, now: float) -> list[Message | SessionEvent]:
        """Heartbeats, test requests and timeouts (case 4a, 6); call about once a second."""
        state = self.state
        if state == LOGGED_ON:
            hbi = self.heart_bt_int
            if hbi > 0:
                since_received = now - self.last_received
                if since_received >= 2.4 * hbi:
                    self._disconnect("Timed out waiting for heartbeat")
                    self._event("text", "Timed out waiting for heartbeat")
                elif since_received >= 1.2 * (self.test_requests + 1) * hbi:
                    self._send(MsgType.TEST_REQUEST, b"112=TEST\x01", now)
                    self.test_requests += 1
                    self._event("text", "Sent test request TEST")
                elif now - self.last_sent >= hbi and self.test_requests == 0:
                    self._send(MsgType.HEARTBEAT, b"", now)
        elif state == AWAITING_LOGON:
            if now - self.state_since >= self.settings.logon_timeout:
                self._disconnect("Timed out waiting for Logon")
        elif state == LOGOUT_SENT and now - self.state_since >= self.settings.logout_timeout:
            self._disconnect("Timed out waiting for Logout reply")
        return self._take_events()


def _num(value: bytes | None) -> int | None:
    """A non-negative integer field (sequence numbers, HeartBtInt), or None when malformed.

    At most 18 digits: a counterparty cannot make us build (or fail on) a huge int.
    """
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _structural_check(fields: list[tuple[int, bytes]], raw: bytes = b"") -> Rejection | None:
    """Checks that need no data dictionary: tag numbers and empty values.

    A frame with no empty value (``=`` then SOH) and no tag after a SOH starting with ``-``
    or ``0`` passes without a look at each field (three C-level searches of the frame).
    """
    if raw and b"=\x01" not in raw and b"\x01-" not in raw and b"\x010" not in raw:
        return None
    for tag, value in fields:
        if tag <= 0:
            return Rejection(
                SessionRejectReason.INVALID_TAG_NUMBER,
                tag,
                REJECT_TEXT[SessionRejectReason.INVALID_TAG_NUMBER],
            )
        if not value:
            return Rejection(
                SessionRejectReason.TAG_SPECIFIED_WITHOUT_A_VALUE,
                tag,
                REJECT_TEXT[SessionRejectReason.TAG_SPECIFIED_WITHOUT_A_VALUE],
            )
    return None
