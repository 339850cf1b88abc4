"""A runner for QuickFIX's session-level acceptance definitions (``.def`` files).

It drives our acceptor (or, for client definitions, our initiator) over real TCP with the
echo application those definitions expect, and compares what comes back.

Format (see ``shared/fix-acceptance/README.md``): ``iCONNECT`` / ``iN,CONNECT`` opens a
client, ``eDISCONNECT`` expects the peer to close, ``I<fields>`` sends (BodyLength and
CheckSum computed unless written), ``E<fields>`` expects, ``iSET_SESSION`` sets a sequence
number on the acceptor; for client definitions ``eCONNECT`` waits for our initiator and
``R<fields>`` sends to it.

Comparison follows QuickFIX/J's acceptance runner: the MsgType must match; every field we
send must be expected (except 9, 10 and the time fields 52, 60, 122); every expected field
must be present; values must be equal except the time fields and CheckSum. Two deliberate
readings of the README, both counted in the result so a reader can see where they applied:

- Text(58) "may be compared by prefix": we accept when either text is a prefix of the
  other. Some expected lines carry a longer Text than the message their own BodyLength was
  recorded from (14f), others a shorter one (RejectResentMessage).
- BodyLength(9) is compared when the time fields have the same length, as the README says,
  and when the expected line is itself consistent (its 9 equals the length of its own
  fields); an inconsistent expected 9 (e.g. 2o's Logout, 9=49 with a Text) cannot be met
  by any message with that Text, so it is not compared. Our own 9 is always checked
  against the bytes we actually sent (the codec rejects a frame whose 9 is wrong).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import session_from_dict
from gateway.fix.codec import Framer, Garbled, Message, body_checksum, parse
from gateway.fix.dictionary import DataDictionary
from gateway.fix.tags import BusinessRejectReason, MsgType
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import Session
from gateway.sessions.store import MemoryStore
from gateway.sessions.transport import BaseApplication, Engine

SOH = "\x01"
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
ACCEPTANCE_DIR = SHARED / "fix-acceptance"
SPEC_DIR = SHARED / "fix-spec"

TIME_FIELDS = frozenset({"52", "60", "122"})
EXPECT_TIMEOUT = 20.0
DISCONNECT_TIMEOUT = 20.0

#: Settings some definitions need (QuickFIX/J runs them with these).
PER_FILE_SETTINGS: dict[str, dict[str, Any]] = {
    "qfj_ResetSeqNumFlagAndNextExpectedMsgSeqNum.def": {"EnableNextExpectedMsgSeqNum": True},
    "qfj_SequenceGapFollowedByMessageResent.def": {"ResendRequestChunkSize": 5},
}

#: Definitions we knowingly do not pass, with the reason (a deliberate difference).
KNOWN_DIFFERENCES: dict[str, str] = {}


class StepFailed(AssertionError):
    pass


@dataclass
class Result:
    name: str
    passed: bool
    detail: str = ""
    steps: int = 0
    seconds: float = 0.0
    leniencies: list[str] = field(default_factory=list)


class EchoApplication(BaseApplication):
    """Echoes NewOrderSingle and SecurityDefinition; drops a repeated ClOrdID with PossResend."""

    def __init__(self, dictionary: DataDictionary) -> None:
        self.dictionary = dictionary
        self.seen_clordids: set[bytes] = set()

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        msg_type = msg.msg_type
        if msg_type not in (MsgType.NEW_ORDER_SINGLE, MsgType.SECURITY_DEFINITION):
            session.send_business_reject(
                msg, BusinessRejectReason.UNSUPPORTED_MESSAGE_TYPE, "Unsupported Message Type", now
            )
            return
        clordid = msg.get(11)
        if clordid is not None:
            if msg.get(97) == b"Y" and clordid in self.seen_clordids:
                return
            self.seen_clordids.add(clordid)
        dd = self.dictionary
        body = []
        for tag, value in msg.fields:
            if tag in (8, 9, 10) or dd.is_header_field(tag) or dd.is_trailer_field(tag):
                continue
            if value == b"0" and dd.field_type(tag) == "NUMINGROUP":
                continue  # an empty repeating group is not written back
            body.append(b"%d=%s\x01" % (tag, value))
        header = b"97=Y\x01" if msg.get(97) == b"Y" else b""
        session.send(msg_type, b"".join(body), now, header)


# --- the definition file -------------------------------------------------------------------
@dataclass
class Step:
    kind: str  # connect, disconnect, send, expect, set_session, accept, respond
    client: int
    data: str = ""
    line: int = 0


def parse_definition(path: Path) -> list[Step]:
    steps: list[Step] = []
    for number, raw_line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        line = raw_line.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        head, rest = line[0], line[1:]
        client = 1
        m = re.match(r"^(\d+),(.*)$", rest, re.S)
        if m:
            client, rest = int(m.group(1)), m.group(2)
        if head == "i" and rest.strip() == "CONNECT":
            steps.append(Step("connect", client, line=number))
        elif head == "e" and rest.strip() == "DISCONNECT":
            steps.append(Step("disconnect", client, line=number))
        elif head == "e" and rest.strip() == "CONNECT":
            steps.append(Step("accept", client, line=number))
        elif head == "i" and rest.startswith("SET_SESSION"):
            steps.append(Step("set_session", client, rest, number))
        elif head == "I":
            steps.append(Step("send", client, rest, number))
        elif head == "R":
            steps.append(Step("respond", client, rest, number))
        elif head == "E":
            steps.append(Step("expect", client, rest, number))
        else:
            raise ValueError(f"{path.name}:{number}: unknown step {line[:40]!r}")
    return steps


_TIME_TOKEN = re.compile(r"<TIME([+-]\d+)?>")


def substitute_times(text: str, now: float) -> str:
    def repl(m: re.Match[str]) -> str:
        offset = int(m.group(1)) * 1.1 if m.group(1) else 0.0
        return utc_timestamp(now + offset, 3).decode()

    return _TIME_TOKEN.sub(repl, text)


def build_outgoing(line: str, now: float) -> bytes:
    """Bytes for an ``I``/``R`` line: 9 and 10 computed unless the line writes them."""
    text = substitute_times(line, now)
    fields = [f for f in text.split(SOH) if f != ""]
    has9 = any(f.startswith("9=") for f in fields)
    has10 = any(f.startswith("10=") for f in fields)
    if not has9:
        body = "".join(f + SOH for f in fields if not f.startswith(("8=", "10=")))
        out = [f for f in fields if not f.startswith("10=")]
        idx = 1 if out and out[0].startswith("8=") else 0
        out.insert(idx, f"9={len(body.encode('latin-1'))}")
        if has10:
            out += [f for f in fields if f.startswith("10=")]
        fields = out
    data = "".join(f + SOH for f in fields).encode("latin-1")
    if not has10:
        data += b"10=%03d\x01" % body_checksum(data)
    return data


def simple_parse(data: str) -> dict[str, str]:
    """Tag -> value, last one wins (as QuickFIX/J's runner reads lines)."""
    out: dict[str, str] = {}
    for m in re.finditer(r"(\d+)=([^\x01]*)\x01", data):
        out[m.group(1)] = m.group(2)
    return out


def expected_line_consistent(fields: dict[str, str], line: str) -> bool:
    """Does the expected line's own BodyLength match the fields written on it?"""
    if "9" not in fields:
        return False
    parts = [p for p in line.split(SOH) if p and not p.startswith(("8=", "9=", "10="))]
    return int(fields["9"]) == len("".join(p + SOH for p in parts).encode("latin-1"))


def compare(expected_line: str, actual: Message, leniencies: list[str]) -> None:
    expected = simple_parse(expected_line if expected_line.endswith(SOH) else expected_line + SOH)
    got = {str(t): v.decode("latin-1") for t, v in actual.fields}
    if expected.get("35") != got.get("35"):
        raise StepFailed(
            f"wrong MsgType: expected {expected.get('35')} got {got.get('35')}: {actual.to_text()}"
        )
    for key, value in got.items():
        if key in TIME_FIELDS or key in ("9", "10"):
            continue
        if key not in expected:
            raise StepFailed(f"unexpected field {key}={value}: {actual.to_text()}")
        if key == "58":
            exp = expected[key]
            if value.startswith(exp):
                continue
            if exp.startswith(value):
                leniencies.append(f"Text(58) {value!r} is a prefix of the expected {exp!r}")
                continue
            raise StepFailed(f"Text(58) {value!r} does not match {exp!r}")
        if expected[key] != value:
            raise StepFailed(
                f"field {key}: expected {expected[key]!r} got {value!r}: {actual.to_text()}"
            )
    for key in expected:
        if key not in got:
            raise StepFailed(f"missing expected field {key}: {actual.to_text()}")
    same_time_lengths = all(
        len(expected[k]) == len(got.get(k, "")) for k in TIME_FIELDS if k in expected
    )
    if "9" in expected and same_time_lengths:
        if expected_line_consistent(expected, expected_line):
            if expected["9"] != got["9"]:
                raise StepFailed(
                    f"BodyLength: expected {expected['9']} got {got['9']}: {actual.to_text()}"
                )
        else:
            leniencies.append(
                f"expected line's own 9={expected['9']} does not match its fields; 9 not compared"
            )


# --- connections -------------------------------------------------------------------------
class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = Framer()
        self.frames: list[bytes] = []
        self.eof = False

    async def read_message(self, timeout: float) -> Message | None:
        deadline = time.monotonic() + timeout
        while not self.frames:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepFailed("timed out waiting for a message")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                self.eof = True
                continue
            for frame in self.framer.feed(data):
                if isinstance(frame, Garbled):
                    raise StepFailed(f"the peer sent a garbled frame: {frame}")
                self.frames.append(frame)
        return parse(self.frames.pop(0))

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def expect_disconnect(self, timeout: float) -> list[str]:
        """Wait for the peer to close; returns the MsgTypes of messages that came first."""
        extra: list[str] = []
        while True:
            msg = await self.read_message(timeout)
            if msg is None:
                return extra
            if msg.msg_type != MsgType.LOGOUT:
                raise StepFailed(f"expected a disconnect, got {msg.to_text()}")
            extra.append(msg.to_text())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_definition(path: Path, *, spec_dir: Path = SPEC_DIR) -> Result:
    start = time.monotonic()
    name = path.name
    steps = parse_definition(path)
    client_mode = any(s.kind == "accept" for s in steps)
    leniencies: list[str] = []
    port = free_port()
    begin = "FIX.4.2" if client_mode else "FIX.4.4"
    dictionary = DataDictionary.load(spec_dir / f"{begin.replace('.', '')}.xml")
    settings: dict[str, Any] = {
        "BeginString": begin,
        "HeartBtInt": 30,
        "UseMemoryStore": True,
        "ResetOnDisconnect": True,
        "LogMessages": False,
        "LogoutTimeout": 2,
    }
    if client_mode:
        settings.update(
            ConnectionType="initiator",
            SenderCompID="TW",
            TargetCompID="ISLD",
            SocketConnectHost="127.0.0.1",
            SocketConnectPort=port,
            ReconnectInterval=1,
        )
    else:
        settings.update(
            ConnectionType="acceptor",
            SenderCompID="ISLD",
            TargetCompID="TW",
            SocketAcceptHost="127.0.0.1",
            SocketAcceptPort=port,
        )
    settings.update(PER_FILE_SETTINGS.get(name, {}))
    session_settings = session_from_dict(settings)
    app = EchoApplication(dictionary)
    engine = Engine(app)
    session = engine.add_session(session_settings, store=MemoryStore(), dictionary=dictionary)
    clients: dict[int, Client] = {}
    server: asyncio.base_events.Server | None = None
    accepted: asyncio.Queue[Client] = asyncio.Queue()
    done = 0
    try:
        if client_mode:

            async def on_accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                await accepted.put(Client(r, w))

            server = await asyncio.start_server(on_accept, "127.0.0.1", port)
        await engine.start()
        for step in steps:
            await _run_step(step, clients, accepted, session, leniencies)
            done += 1
        passed, detail = True, ""
    except StepFailed as exc:
        failing = steps[done] if done < len(steps) else None
        where = f"line {failing.line} ({failing.kind})" if failing else "end"
        passed, detail = False, f"{where}: {exc}"
    finally:
        for client in clients.values():
            client.close()
        engine.running = False
        await engine.stop(timeout=0.2)
        if server is not None:
            server.close()
    return Result(name, passed, detail, done, time.monotonic() - start, leniencies)


async def _run_step(
    step: Step,
    clients: dict[int, Client],
    accepted: asyncio.Queue[Client],
    session: Session,
    leniencies: list[str],
) -> None:
    now = time.time()
    if step.kind == "connect":
        port = session.settings.socket_accept_port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        clients[step.client] = Client(reader, writer)
    elif step.kind == "accept":
        clients[step.client] = await asyncio.wait_for(accepted.get(), EXPECT_TIMEOUT)
    elif step.kind in ("send", "respond"):
        clients[step.client].send(build_outgoing(step.data, now))
        await asyncio.sleep(0.01)
    elif step.kind == "expect":
        msg = await clients[step.client].read_message(EXPECT_TIMEOUT)
        if msg is None:
            raise StepFailed("connection closed while a message was expected")
        compare(step.data, msg, leniencies)
    elif step.kind == "disconnect":
        extra = await clients[step.client].expect_disconnect(DISCONNECT_TIMEOUT)
        for text in extra:
            leniencies.append(f"a Logout came before the expected disconnect: {text}")
        clients[step.client].close()
    elif step.kind == "set_session":
        m = re.search(r"NEXT(SENDER|TARGET)SEQNUM=(\d+)", step.data)
        if not m:
            raise StepFailed(f"cannot read {step.data!r}")
        value = int(m.group(2))
        if m.group(1) == "SENDER":
            session.store.next_sender_seq = value
        else:
            session.store.next_target_seq = value
    else:  # pragma: no cover - parse_definition only makes the kinds above
        raise StepFailed(f"unknown step {step.kind}")


def definition_files() -> list[Path]:
    files = sorted((ACCEPTANCE_DIR / "quickfixj-fix44").glob("*.def"))
    files += sorted((ACCEPTANCE_DIR / "extra").glob("*.def"))
    return files


async def run_all(
    files: list[Path], concurrency: int = 24, progress: Callable[[Result], None] | None = None
) -> list[Result]:
    sem = asyncio.Semaphore(concurrency)

    async def one(path: Path) -> Result:
        async with sem:
            result = await run_definition(path)
            if progress is not None:
                progress(result)
            return result

    return list(await asyncio.gather(*(one(p) for p in files)))


def main() -> int:
    import sys

    files = [Path(a) for a in sys.argv[1:]] or definition_files()
    results = asyncio.run(run_all(files))
    failed = 0
    for r in sorted(results, key=lambda r: r.name):
        status = "PASS" if r.passed else ("KNOWN" if r.name in KNOWN_DIFFERENCES else "FAIL")
        failed += not r.passed
        print(f"{status:5} {r.name:60} {r.seconds:5.1f}s {r.detail}")
        for note in r.leniencies:
            print(f"      note: {note}")
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
