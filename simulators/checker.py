"""ReportChecker: is a stream of ExecutionReports consistent with the orders that caused it?

Feed it what was sent (``new_order``, ``cancel_request``, ``replace_request``,
``status_request``) and every ExecutionReport / OrderCancelReject received
(``on_message``), then call ``finish()``; ``violations`` lists what broke, each with a
clear message. It checks, per order: unique ExecIDs (a PossDup resend may repeat one only
if identical; status reports are exempt), CumQty never falling except on a bust or
correction, CumQty + LeavesQty == OrderQty while live and LeavesQty 0 when done, CumQty ==
sum of LastQty over fills less busts, AvgPx == sum(LastQty x LastPx) / CumQty (exact
decimals; rounding at the last decimal tolerated), OrdStatus agreeing with the quantities,
no fill after a terminal state (a fill after a cancel, an expiry or a done-for-day is a
documented late fill, recorded apart), one first report (ack or reject), OrigClOrdID
chains of cancel and replace, an answer to every request, and at the end which orders are
still open.

Pure and synchronous: no clock (times are passed in), no I/O, no event loop, so it can be
used on its own, on a recorded log or in a unit test. It must never raise on a bad report:
a report it cannot read is a violation, not an exception.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from gateway.fix.codec import Message

__all__ = ["ReportChecker", "TrackedOrder", "Violation"]

# OrdStatus(39) values
_LIVE: Final = frozenset({b"0", b"1", b"A", b"6", b"E", b"5", b"9", b"D"})
_TERMINAL: Final = frozenset({b"2", b"4", b"8", b"C", b"3"})
# ExecType(150) values
_TRADES: Final = frozenset({b"F", b"1", b"2"})  # FIX 4.4 Trade; FIX 4.2 Partial fill / Fill
# a fill after these is a late fill (the LP traded before it heard of the end), not a fault
_LATE_FILL_AFTER: Final = {b"4": "cancelled", b"C": "expired", b"3": "done for the day"}
_HEADER_TAGS: Final = frozenset({8, 9, 10, 34, 43, 49, 50, 52, 56, 57, 97, 115, 122, 128, 369})
_ZERO: Final = Decimal(0)


@dataclass(frozen=True)
class Violation:
    kind: str
    clordid: str
    text: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.clordid}: {self.text}"


class TrackedOrder:
    """What the checker knows about one order (all its ClOrdIDs)."""

    __slots__ = (
        "acked",
        "clordid",
        "corrections",
        "cum",
        "current",
        "fills",
        "first_fill_ns",
        "late_fills",
        "price",
        "px_decimals",
        "qty",
        "reports",
        "sent_ns",
        "side",
        "status",
        "symbol",
        "terminal_ns",
        "tif",
    )

    def __init__(
        self,
        clordid: str,
        symbol: str,
        side: str,
        qty: Decimal,
        price: Decimal | None,
        tif: str,
        sent_ns: int | None,
    ) -> None:
        self.clordid = clordid  # the first ClOrdID of the chain
        self.current = clordid  # the ClOrdID the order has now
        self.symbol = symbol
        self.side = side
        self.qty = qty
        self.price = price
        self.tif = tif
        self.sent_ns = sent_ns
        self.reports = 0
        self.acked = False
        self.status: bytes | None = None
        self.cum = _ZERO
        # key -> (LastQty, LastPx) of each live fill; corrections alias their ExecID here
        self.fills: dict[str, tuple[Decimal, Decimal]] = {}
        self.corrections: dict[str, str] = {}
        self.px_decimals = 0
        self.first_fill_ns: int | None = None
        self.terminal_ns: int | None = None
        self.late_fills = 0

    @property
    def terminal(self) -> bool:
        return self.status in _TERMINAL

    @property
    def working(self) -> bool:
        return self.status in _LIVE


@dataclass
class _Request:
    kind: str  # "cancel" | "replace"
    clordid: str
    orig: str
    order: TrackedOrder
    qty: Decimal | None = None


def _decimals(d: Decimal) -> int:
    exponent = d.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class ReportChecker:
    """Consistency checks over execution reports; see the module docstring."""

    def __init__(self, *, require_ack: bool = True, keep: int = 1000) -> None:
        self.require_ack = require_ack
        self.keep = keep  # violations and late fills kept in full; all are counted
        self.violations: list[Violation] = []
        self.violation_count = 0
        self.violation_kinds: Counter[str] = Counter()
        self.late_fills: list[str] = []
        self.late_fill_count = 0
        self.reject_reasons: Counter[str] = Counter()
        self.cancel_rejects: Counter[str] = Counter()
        self.orders: dict[str, TrackedOrder] = {}  # first ClOrdID -> order
        self._by_clordid: dict[str, TrackedOrder] = {}  # every ClOrdID -> order
        self._requests: dict[str, _Request] = {}  # pending cancel/replace by their ClOrdID
        self._status_pending: Counter[str] = Counter()
        self._exec_ids: dict[bytes, int] = {}  # ExecID -> hash of the report's body
        self.reports = 0
        self.finished = False

    # --- what was sent ----------------------------------------------------------------------
    def new_order(
        self,
        clordid: str,
        symbol: str,
        side: str,
        qty: Decimal | str | int,
        price: Decimal | str | None = None,
        tif: str = "3",
        sent_ns: int | None = None,
    ) -> TrackedOrder:
        o = TrackedOrder(
            clordid,
            symbol,
            side,
            Decimal(qty),
            Decimal(price) if price is not None else None,
            tif,
            sent_ns,
        )
        if clordid in self._by_clordid:
            self._violation("duplicate_clordid", clordid, "ClOrdID sent twice by the test itself")
        self.orders[clordid] = o
        self._by_clordid[clordid] = o
        return o

    def cancel_request(self, clordid: str, orig_clordid: str) -> None:
        o = self._by_clordid.get(orig_clordid)
        if o is None:
            return  # a cancel for an order we never sent: its answer is checked on arrival
        self._requests[clordid] = _Request("cancel", clordid, orig_clordid, o)
        self._by_clordid[clordid] = o

    def replace_request(
        self, clordid: str, orig_clordid: str, qty: Decimal | str | int, price: Decimal | str | None = None
    ) -> None:
        o = self._by_clordid.get(orig_clordid)
        if o is None:
            return
        self._requests[clordid] = _Request("replace", clordid, orig_clordid, o, Decimal(qty))
        self._by_clordid[clordid] = o

    def status_request(self, clordid: str) -> None:
        self._status_pending[clordid] += 1

    def order(self, clordid: str) -> TrackedOrder | None:
        """The order any of whose ClOrdIDs is ``clordid``."""
        return self._by_clordid.get(clordid)

    # --- what came back -----------------------------------------------------------------------
    def _violation(self, kind: str, clordid: str, text: str) -> None:
        self.violation_count += 1
        self.violation_kinds[kind] += 1
        if len(self.violations) < self.keep:
            self.violations.append(Violation(kind, clordid, text))

    def on_message(self, msg: Message, now_ns: int | None = None) -> TrackedOrder | None:
        """Check one ExecutionReport (35=8) or OrderCancelReject (35=9); others are ignored.

        Returns the order the message belongs to, if known.
        """
        t = msg.msg_type
        if t == b"8":
            return self._on_execution_report(msg, now_ns)
        if t == b"9":
            return self._on_cancel_reject(msg)
        return None

    def _dec(self, msg: Message, tag: int, cl: str) -> Decimal | None:
        raw = msg.get(tag)
        if raw is None:
            return None
        try:
            value = Decimal(raw.decode("latin-1"))
        except (InvalidOperation, UnicodeDecodeError):
            self._violation("bad_value", cl, f"tag {tag} is not a number: {raw!r}")
            return None
        if not value.is_finite():
            self._violation("bad_value", cl, f"tag {tag} is not a number: {raw!r}")
            return None
        return value

    def _on_execution_report(self, msg: Message, now_ns: int | None) -> TrackedOrder | None:
        self.reports += 1
        cl = (msg.get(11) or b"").decode("latin-1")
        orig_b = msg.get(41)
        orig = orig_b.decode("latin-1") if orig_b is not None else None
        exec_type = msg.get(150) or b""
        status = msg.get(39) or b""
        o = self._by_clordid.get(cl)
        if o is None and orig is not None:
            o = self._by_clordid.get(orig)
        if o is None:
            self._violation(
                "unknown_order", cl, f"ExecutionReport 150={exec_type.decode()} for a ClOrdID never sent"
            )
            return None

        if exec_type == b"I":
            self._on_status_report(msg, o, cl, status)
            return o

        exec_id = msg.get(17)
        if exec_id is None:
            self._violation("missing_field", cl, "ExecutionReport without ExecID(17)")
        else:
            signature = hash(
                b"\x01".join(b"%d=%s" % (tag, v) for tag, v in msg.fields if tag not in _HEADER_TAGS)
            )
            seen = self._exec_ids.get(exec_id)
            if seen is not None:
                if msg.get(43) == b"Y" and seen == signature:
                    return o  # a resend of a report we have: nothing new
                what = "a PossDup resend that differs from the original" if msg.get(43) == b"Y" else "reused"
                self._violation("duplicate_exec_id", cl, f"ExecID {exec_id.decode('latin-1')} {what}")
                return o
            self._exec_ids[exec_id] = signature

        first = o.reports == 0
        o.reports += 1
        prev_status = o.status
        was_terminal = o.terminal
        bust_or_correct = False

        # the first report of an order: exactly one ack or a reject
        if exec_type == b"0":
            if o.acked:
                self._violation("duplicate_ack", cl, "a second ack (150=0) for the order")
            elif not first and prev_status not in (b"A", None):
                self._violation("late_ack", cl, f"ack (150=0) after OrdStatus {prev_status!r}")
            o.acked = True
        elif exec_type == b"8":
            if not first and prev_status not in (b"A", None):
                self._violation("late_reject", cl, f"reject (150=8) after OrdStatus {prev_status!r}")
            text = msg.get(58)
            reason = text.decode("latin-1") if text else f"OrdRejReason {(msg.get(103) or b'?').decode()}"
            self.reject_reasons[reason] += 1
        elif exec_type == b"A":
            pass
        elif first and self.require_ack:
            self._violation(
                "first_report", cl, f"first report is 150={exec_type.decode()}, not an ack or a reject"
            )

        # chains: a cancel or replace confirmation names the request and what it replaced
        if exec_type in (b"4", b"5") and orig is not None:
            req = self._requests.get(cl)
            if req is None:
                self._violation(
                    "chain", cl, f"150={exec_type.decode()} with OrigClOrdID {orig} but no such request"
                )
            else:
                if req.orig != orig:
                    self._violation("chain", cl, f"OrigClOrdID {orig}, the request named {req.orig}")
                if (exec_type == b"4") != (req.kind == "cancel"):
                    self._violation("chain", cl, f"150={exec_type.decode()} answers a {req.kind} request")
                del self._requests[cl]
                o.current = cl
        elif exec_type == b"5":
            self._violation("chain", cl, "Replaced (150=5) without OrigClOrdID(41)")
        elif exec_type in (b"6", b"E") and cl in self._requests:
            pass  # pending cancel / replace: the request stays open

        last_qty = self._dec(msg, 32, cl)
        last_px = self._dec(msg, 31, cl)
        order_qty = self._dec(msg, 38, cl)
        if exec_type == b"5" and order_qty is not None:
            o.qty = order_qty
        elif exec_type == b"D" and order_qty is not None:
            o.qty = order_qty

        if exec_type in _TRADES:
            if last_qty is None or last_px is None or last_qty <= 0 or last_px <= 0:
                self._violation("fill", cl, "fill without a positive LastQty(32) and LastPx(31)")
            else:
                if was_terminal:
                    if prev_status in _LATE_FILL_AFTER:
                        o.late_fills += 1
                        self.late_fill_count += 1
                        if len(self.late_fills) < self.keep:
                            self.late_fills.append(
                                f"{o.clordid}: {last_qty} @ {last_px} after the order was "
                                f"{_LATE_FILL_AFTER[prev_status]}"
                            )
                    else:
                        self._violation(
                            "fill_after_terminal",
                            cl,
                            f"fill of {last_qty} after OrdStatus {(prev_status or b'?').decode()}",
                        )
                key = exec_id.decode("latin-1") if exec_id is not None else f"?{o.reports}"
                o.fills[key] = (last_qty, last_px)
                o.px_decimals = max(o.px_decimals, _decimals(last_px))
                if o.first_fill_ns is None and now_ns is not None:
                    o.first_fill_ns = now_ns
        elif exec_type in (b"H", b"G"):
            bust_or_correct = True
            ref_b = msg.get(19)
            ref = ref_b.decode("latin-1") if ref_b is not None else ""
            key = o.corrections.get(ref, ref)
            if key not in o.fills:
                self._violation("bust", cl, f"150={exec_type.decode()} refers to unknown fill ExecID {ref!r}")
            elif exec_type == b"H":
                del o.fills[key]
            elif last_qty is None or last_px is None or last_qty <= 0 or last_px <= 0:
                self._violation("bust", cl, "trade correction without a positive LastQty and LastPx")
            else:
                o.fills[key] = (last_qty, last_px)
                o.px_decimals = max(o.px_decimals, _decimals(last_px))
                if exec_id is not None:
                    o.corrections[exec_id.decode("latin-1")] = key

        self._check_quantities(msg, o, cl, status, order_qty, allow_decrease=bust_or_correct)
        o.status = status
        if o.terminal and o.terminal_ns is None and now_ns is not None:
            o.terminal_ns = now_ns
        return o

    def _check_quantities(
        self,
        msg: Message,
        o: TrackedOrder,
        cl: str,
        status: bytes,
        order_qty: Decimal | None,
        *,
        allow_decrease: bool,
        update: bool = True,
    ) -> None:
        cum = self._dec(msg, 14, cl)
        leaves = self._dec(msg, 151, cl)
        avg_px = self._dec(msg, 6, cl)
        if cum is None or leaves is None:
            self._violation("missing_field", cl, "ExecutionReport without CumQty(14) or LeavesQty(151)")
            return
        qty = order_qty if order_qty is not None else o.qty
        if status not in _LIVE and status not in _TERMINAL:
            self._violation("status", cl, f"unknown OrdStatus {status!r}")
        fill_sum = sum((q for q, _ in o.fills.values()), _ZERO)
        if cum != fill_sum:
            self._violation("cum_qty", cl, f"CumQty {cum} but the fills add up to {fill_sum}")
        if cum < o.cum and not allow_decrease:
            self._violation("cum_decreased", cl, f"CumQty fell from {o.cum} to {cum} without a bust")
        if status in _TERMINAL:
            if leaves != 0:
                self._violation(
                    "leaves_qty", cl, f"LeavesQty {leaves} on a finished order (39={status.decode()})"
                )
        elif cum + leaves != qty:
            self._violation(
                "leaves_qty", cl, f"CumQty {cum} + LeavesQty {leaves} != OrderQty {qty} while live"
            )
        if status == b"0" and cum != 0:
            self._violation("status", cl, f"OrdStatus New with CumQty {cum}")
        elif status == b"1" and not 0 < cum < qty:
            self._violation("status", cl, f"OrdStatus PartiallyFilled with CumQty {cum} of {qty}")
        elif status == b"2" and cum != qty:
            self._violation("status", cl, f"OrdStatus Filled with CumQty {cum} of {qty}")
        elif status == b"8" and cum != 0:
            self._violation("status", cl, f"OrdStatus Rejected with CumQty {cum}")
        if status != b"2" and cum == qty and cum > 0:
            self._violation("status", cl, f"CumQty {cum} == OrderQty but OrdStatus {status.decode()}")
        if avg_px is not None:
            if cum > 0 and fill_sum == cum:
                notional = sum((q * p for q, p in o.fills.values()), _ZERO)
                exact = notional / cum
                places = max(_decimals(avg_px), o.px_decimals)
                if abs(avg_px - exact) > Decimal(1).scaleb(-places):
                    self._violation("avg_px", cl, f"AvgPx {avg_px} but the fills give {exact}")
            elif cum == 0 and avg_px != 0:
                self._violation("avg_px", cl, f"AvgPx {avg_px} with nothing filled")
        if update:
            o.cum = cum

    def _on_status_report(self, msg: Message, o: TrackedOrder, cl: str, status: bytes) -> None:
        if self._status_pending.get(cl, 0) > 0:
            self._status_pending[cl] -= 1
            if not self._status_pending[cl]:
                del self._status_pending[cl]
        if msg.get(103) == b"5" and status == b"8":
            if o.reports:
                self._violation(
                    "status_report", cl, "order status says 'unknown order' for an order with reports"
                )
            return
        # a status report describes the order as it is: the same checks, no state change
        self._check_quantities(msg, o, cl, status, self._dec(msg, 38, cl), allow_decrease=False, update=False)
        if o.status is not None and status != o.status:
            self._violation(
                "status_report",
                cl,
                f"status report says 39={status.decode()}, the reports said {o.status.decode()}",
            )

    def _on_cancel_reject(self, msg: Message) -> TrackedOrder | None:
        cl = (msg.get(11) or b"").decode("latin-1")
        orig_b = msg.get(41)
        orig = orig_b.decode("latin-1") if orig_b is not None else ""
        text = msg.get(58)
        reason = text.decode("latin-1") if text else f"CxlRejReason {(msg.get(102) or b'?').decode()}"
        self.cancel_rejects[reason] += 1
        req = self._requests.pop(cl, None)
        if req is None:
            self._violation("chain", cl, "OrderCancelReject for a request never sent (or answered twice)")
            return self._by_clordid.get(orig)
        if req.orig != orig:
            self._violation(
                "chain", cl, f"OrderCancelReject OrigClOrdID {orig!r}, the request named {req.orig}"
            )
        response_to = msg.get(434)
        expected = b"1" if req.kind == "cancel" else b"2"
        if response_to is not None and response_to != expected:
            self._violation("chain", cl, f"CxlRejResponseTo {response_to.decode()} answers a {req.kind}")
        return req.order

    # --- the end ----------------------------------------------------------------------------------
    def pending_requests(self) -> list[str]:
        return [f"{r.kind} {r.clordid} of {r.orig}" for r in self._requests.values()] + [
            f"status {cl}" for cl in self._status_pending
        ]

    def has_pending(self) -> bool:
        """A cancel, replace or status request is still unanswered."""
        return bool(self._requests or self._status_pending)

    def settled(self) -> bool:
        """Every order has been answered, every IOC/FOK order is done, no request is open."""
        if self._requests or self._status_pending:
            return False
        return all(o.terminal or (o.reports and o.tif == "0" and o.working) for o in self.orders.values())

    def open_orders(self) -> list[TrackedOrder]:
        return [o for o in self.orders.values() if not o.terminal]

    def finish(self) -> None:
        """End-of-run checks: every order answered, every request answered."""
        if self.finished:
            return
        self.finished = True
        for o in self.orders.values():
            if o.reports == 0:
                self._violation("no_report", o.clordid, "no ExecutionReport at all")
        for r in self._requests.values():
            self._violation("unanswered", r.clordid, f"{r.kind} request of {r.orig} never answered")
        for cl, n in self._status_pending.items():
            self._violation("unanswered", cl, f"{n} status request(s) never answered")

    def outcome(self) -> Counter[str]:
        """Final state of each order: filled, partially_filled, canceled, rejected, working, ..."""
        out: Counter[str] = Counter()
        for o in self.orders.values():
            if o.reports == 0:
                out["no_report"] += 1
            elif o.status == b"8":
                out["rejected"] += 1
            elif o.cum > 0 and o.cum >= o.qty:
                out["filled"] += 1
            elif o.cum > 0:
                out["partially_filled"] += 1
            elif o.terminal:
                out["canceled"] += 1
            else:
                out["working"] += 1
        return out
