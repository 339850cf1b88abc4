"""Codec benchmark: our framing, parsing and encoding against simplefix, in one run.

Measures a 20-field ExecutionReport (8 to 10 inclusive):

- parse: a long-lived ``Framer`` fed one whole message per call (as one socket read would
  deliver it), then ``parse`` of the frame into a ``Message`` (its index by tag; the
  field list is built on first use, which this does not time); against simplefix's
  long-lived ``FixParser`` (``append_buffer`` + ``get_message``). Also the split: framing
  alone and ``parse`` alone.
- encode: the complete frame built as the session builds it (pre-encoded header bytes,
  the body from (tag, value) pairs, then BodyLength and CheckSum); against
  ``simplefix.FixMessage.encode`` on a message already holding the same fields (its
  construction is not timed, which favours simplefix).

The machine may be shared and noisy, so the candidates are run interleaved: each repeat
times a short batch of each candidate, ours right beside simplefix's, and figures are
medians over the repeats; the speedups are medians of the per-repeat ratios (each ratio
pairs two batches run moments apart, under the same load).
Prints a table, then ``name=value`` lines. Always exits 0: a benchmark is not a test.

``--instructions`` measures the session layer instead, in instructions (valgrind's
callgrind; a count a busy machine does not disturb): two logged-on ``Session`` objects in
one process, one sending an ExecutionReport that the other receives, and prints the
instructions per message of ``Session.send`` (with ``data_to_send``) and of
``Session.receive`` (framing, parsing, the session's checks and six lookups by tag, as an
application makes). Each figure is the difference between runs of 1,000 and 3,000
messages over 2,000, so start-up cancels out.

Usage: ``python benchmarks/codec.py [--quick | --instructions]``
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import simplefix

from gateway.fix.codec import Framer, encode, encode_fields, parse

BEGIN_STRING = b"FIX.4.4"
SENDER = b"LP1"
TARGET = b"GATEWAY"
SENDING_TIME = b"20240315-13:45:30.123"
SEQ = 4711
MSG_TYPE = b"8"

# ExecutionReport body, wire order (with 8, 9, 35, 34, 49, 52, 56 and 10: 20 fields)
BODY: list[tuple[int, bytes]] = [
    (37, b"ORD-20240315-000123"),
    (11, b"CHILD-000123-1"),
    (17, b"EXEC-20240315-004711"),
    (150, b"F"),
    (39, b"1"),
    (55, b"EUR/USD"),
    (54, b"1"),
    (38, b"1000000"),
    (32, b"250000"),
    (31, b"1.08745"),
    (151, b"750000"),
    (14, b"250000"),
]

Bench = Callable[[int], None]


def _header_fields() -> list[tuple[int, bytes]]:
    return [
        (35, MSG_TYPE),
        (34, b"%d" % SEQ),
        (49, SENDER),
        (52, SENDING_TIME),
        (56, TARGET),
    ]


def build_frame() -> bytes:
    """The benchmark message as it appears on the wire."""
    body = b"".join(b"%d=%s\x01" % f for f in _header_fields() + BODY)
    return encode(BEGIN_STRING, body)


def make_benches(frame: bytes) -> dict[str, Bench]:
    """Each benchmark is a function running ``n`` iterations of one operation."""
    framer = Framer()

    def ours_parse(n: int) -> None:
        feed = framer.feed
        p = parse
        data = frame
        for _ in range(n):
            for f in feed(data):
                p(f)  # type: ignore[arg-type]

    def ours_frame(n: int) -> None:
        feed = framer.feed
        data = frame
        for _ in range(n):
            feed(data)

    def ours_parse_only(n: int) -> None:
        p = parse
        data = frame
        for _ in range(n):
            p(data)

    sf_parser = simplefix.FixParser()

    def simplefix_parse(n: int) -> None:
        append = sf_parser.append_buffer
        get = sf_parser.get_message
        data = frame
        for _ in range(n):
            append(data)
            get()

    # the session's pre-encoded header pieces (see Session._frame)
    hdr_after_seq = b"\x0149=" + SENDER + b"\x0152="
    hdr_after_time = b"\x0156=" + TARGET + b"\x01"

    def ours_encode(n: int) -> None:
        fields = BODY
        begin = BEGIN_STRING
        for _ in range(n):
            body = encode_fields(fields)
            encode(
                begin,
                b"35=" + MSG_TYPE + b"\x0134=" + b"%d" % SEQ + hdr_after_seq
                + SENDING_TIME + hdr_after_time + body,
            )

    sf_msg = simplefix.FixMessage()
    sf_msg.append_pair(8, BEGIN_STRING)
    for tag, value in _header_fields() + BODY:
        sf_msg.append_pair(tag, value)

    def simplefix_encode(n: int) -> None:
        enc = sf_msg.encode
        for _ in range(n):
            enc()

    # sanity: every candidate does the same work on the same message
    assert framer.feed(frame) == [frame]
    assert parse(frame).fields[-1] == (10, frame[-4:-1])
    got = sf_parser.append_buffer(frame) or sf_parser.get_message()
    assert got is not None and got.get(10) == frame[-4:-1]
    assert sf_msg.encode() == frame, (sf_msg.encode(), frame)
    ours = encode(
        BEGIN_STRING,
        b"35=" + MSG_TYPE + b"\x0134=" + b"%d" % SEQ + hdr_after_seq
        + SENDING_TIME + hdr_after_time + encode_fields(BODY),
    )
    assert ours == frame

    return {
        "parse": ours_parse,
        "simplefix_parse": simplefix_parse,
        "frame": ours_frame,
        "parse_only": ours_parse_only,
        "encode": ours_encode,
        "simplefix_encode": simplefix_encode,
    }


def _calibrate(bench: Bench, target_s: float) -> int:
    """Iterations per batch so that one batch takes about ``target_s``."""
    n = 100
    while True:
        t0 = time.perf_counter_ns()
        bench(n)
        elapsed = (time.perf_counter_ns() - t0) / 1e9
        if elapsed >= target_s / 4 or n >= 10_000_000:
            return max(100, int(n * target_s / max(elapsed, 1e-9)))
        n *= 4


# each of ours runs right beside its simplefix counterpart, so a ratio compares runs made
# under the same load; the order within a pair alternates from one repeat to the next
GROUPS: tuple[tuple[str, ...], ...] = (
    ("parse", "simplefix_parse"),
    ("encode", "simplefix_encode"),
    ("frame",),
    ("parse_only",),
)


def run(repeats: int, batch_s: float) -> dict[str, list[float]]:
    """Per-iteration µs for each bench, one sample per repeat, benches interleaved."""
    benches = make_benches(build_frame())
    sizes = {name: _calibrate(b, batch_s) for name, b in benches.items()}
    samples: dict[str, list[float]] = {name: [] for name in benches}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for group in GROUPS:
                for name in group if r % 2 == 0 else reversed(group):
                    n = sizes[name]
                    t0 = time.perf_counter_ns()
                    benches[name](n)
                    samples[name].append((time.perf_counter_ns() - t0) / 1e3 / n)
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _paired_ratio(slow: list[float], fast: list[float]) -> float:
    return statistics.median(s / f for s, f in zip(slow, fast, strict=True))


# --- the session layer, in instructions ---------------------------------------------------

ER_BODY = (
    b"37=O1\x0111=C1\x0117=E1\x01150=F\x0139=2\x0155=ACME\x0154=1\x0138=100\x01151=0\x0114=100"
    b"\x016=50.01\x0131=50.01\x0132=100\x0160=20240315-13:45:30.123\x01"
)


def session_loop(n: int, receive: bool) -> None:
    """``n`` ExecutionReports sent by one session and, with ``receive``, read by the other."""
    from benchmarks.pipeline import peer
    from gateway.fix.codec import Message

    lp, gw = peer("LP", False, "GW"), peer("GW", True, "LP")
    now = time.time()
    lp.on_connect(now)
    gw.on_connect(now)
    lp.receive(gw.data_to_send(), now)
    gw.receive(lp.data_to_send(), now)
    assert lp.logged_on and gw.logged_on
    got = 0
    for _ in range(n):
        now += 0.0003  # each message its own SendingTime, as at a few thousand a second
        lp.send(b"8", ER_BODY, now)
        data = lp.data_to_send()
        if receive:
            for ev in gw.receive(data, now):
                if type(ev) is Message:
                    got += 1
                    get = ev.get
                    get(11), get(150), get(39), get(17), get(32), get(31)
    assert got == (n if receive else 0), got


def instructions() -> dict[str, float]:
    """Instructions per message of send and receive, from callgrind runs of ``session_loop``."""
    import re
    import shutil
    import subprocess

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    counts: dict[tuple[str, int], int] = {}
    for mode in ("send", "both"):
        for n in (1000, 3000):
            cmd = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                   __file__, "--session-loop", str(n), mode]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            m = re.search(r"refs:\s+([\d,]+)", done.stderr)
            if m is None:
                raise SystemExit(f"no instruction count from callgrind: {done.stderr[-500:]}")
            counts[mode, n] = int(m.group(1).replace(",", ""))
    send = (counts["send", 3000] - counts["send", 1000]) / 2000
    both = (counts["both", 3000] - counts["both", 1000]) / 2000
    return {"session_send_instructions": send, "session_receive_instructions": both - send}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    ap.add_argument("--instructions", action="store_true", help="session send/receive under callgrind")
    ap.add_argument("--session-loop", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.session_loop:
        session_loop(int(args.session_loop[0]), args.session_loop[1] == "both")
        return 0
    if args.instructions:
        figures = instructions()
        print("session layer, instructions per ExecutionReport (callgrind)")
        print(f"{'Session.send + data_to_send':<36}{figures['session_send_instructions']:>12,.0f}")
        print(f"{'Session.receive + 6 lookups':<36}{figures['session_receive_instructions']:>12,.0f}")
        for k, v in figures.items():
            print(f"{k}={v:.0f}")
        return 0
    repeats, batch_s = (15, 0.004) if args.quick else (61, 0.01)

    frame = build_frame()
    samples = run(repeats, batch_s)
    med = {name: statistics.median(v) for name, v in samples.items()}
    spread = {
        name: (statistics.quantiles(v, n=4)[2] - statistics.quantiles(v, n=4)[0]) / med[name]
        for name, v in samples.items()
    }
    parse_speedup = _paired_ratio(samples["simplefix_parse"], samples["parse"])
    encode_speedup = _paired_ratio(samples["simplefix_encode"], samples["encode"])

    print(f"codec benchmark: {len(frame)}-byte ExecutionReport, 20 fields, "
          f"{repeats} interleaved repeats, medians")
    print(f"{'operation':<36}{'µs/msg':>10}{'IQR/median':>12}")
    rows = [
        ("parse: framing + parse (ours)", "parse"),
        ("  framing alone (Framer.feed)", "frame"),
        ("  parse alone (parse)", "parse_only"),
        ("parse: simplefix FixParser", "simplefix_parse"),
        ("encode (ours, session fast path)", "encode"),
        ("encode: simplefix FixMessage.encode", "simplefix_encode"),
    ]
    for label, name in rows:
        print(f"{label:<36}{med[name]:>10.3f}{spread[name]:>11.1%}")
    print(f"{'parse speedup vs simplefix':<36}{parse_speedup:>9.1f}x")
    print(f"{'encode speedup vs simplefix':<36}{encode_speedup:>9.1f}x")
    print()
    print(f"message_bytes={len(frame)}")
    print(f"repeats={repeats}")
    print(f"parse_us={med['parse']:.3f}")
    print(f"frame_us={med['frame']:.3f}")
    print(f"parse_only_us={med['parse_only']:.3f}")
    print(f"simplefix_parse_us={med['simplefix_parse']:.3f}")
    print(f"parse_speedup_vs_simplefix={parse_speedup:.2f}")
    print(f"encode_us={med['encode']:.3f}")
    print(f"simplefix_encode_us={med['simplefix_encode']:.3f}")
    print(f"encode_speedup_vs_simplefix={encode_speedup:.2f}")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # a broken benchmark reports, it does not fail a build
        print(f"benchmark error: {exc!r}", file=sys.stderr)
    sys.exit(0)
