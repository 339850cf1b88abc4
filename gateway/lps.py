"""The LP-facing application: FIX from liquidity providers into child-order events.

ExecutionReports (acks, fills, cancels, rejects, restatements, busts, corrections, status
answers), OrderCancelRejects, session and business rejects of our child orders, and market
data are read here and handed to the order book and the market data. When an LP session
drops, its working children become unknown; when it logs on again, each unknown child is
asked about with OrderStatusRequest before any of its quantity is routed again. This
module sends nothing itself: it returns ``Out`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from gateway.fix import tags
from gateway.fix.codec import Message
from gateway.fix.enums import ExecType, OrdStatus
from gateway.fix.tags import MsgType
from gateway.instruments import BadValue
from gateway.orders import (
    C_CANCELED,
    C_EXPIRED,
    C_PENDING_NEW,
    C_REJECTED,
    C_UNKNOWN,
    CHILD_TERMINAL,
    ChildOrder,
    OrderBook,
    Out,
)

_DONE_STATUS = {
    OrdStatus.CANCELED: C_CANCELED,
    OrdStatus.REJECTED: C_REJECTED,
    OrdStatus.EXPIRED: C_EXPIRED,
    OrdStatus.DONE_FOR_DAY: C_EXPIRED,
}
_TRADE_TYPES = (ExecType.TRADE, b"1", b"2")  # FIX.4.2 LPs say 1 (partial) and 2 (fill)


class MarketDataSink(Protocol):
    def apply(self, lp: str, msg: Message, now: float) -> list[str]: ...

    def set_available(self, lp: str, available: bool) -> None: ...

    def clear_lp(self, lp: str) -> None: ...


class LpHandler:
    """Turns LP messages into order-book and market-data updates."""

    def __init__(
        self,
        book: OrderBook,
        *,
        marketdata: MarketDataSink | None = None,
        on_child_event: Callable[[str, ChildOrder, float], None] | None = None,
    ) -> None:
        self.book = book
        self.marketdata = marketdata
        self.on_child_event = on_child_event  # (kind, child, now): scorecard, risk, metrics
        self.seq_to_child: dict[tuple[str, int], ChildOrder] = {}
        self.no_quotes: set[str] = set()  # LPs that refused a MarketDataRequest
        self.problems: list[str] = []
        self.counters: dict[str, int] = {}

    def _problem(self, text: str) -> None:
        self.counters["problems"] = self.counters.get("problems", 0) + 1
        if len(self.problems) >= 500:
            del self.problems[:100]
        self.problems.append(text)

    def _event(self, kind: str, child: ChildOrder, now: float) -> None:
        if self.on_child_event is not None:
            self.on_child_event(kind, child, now)

    def child_sent(self, lp: str, seq: int, child: ChildOrder) -> None:
        self.seq_to_child[(lp, seq)] = child
        if len(self.seq_to_child) > 100_000:
            for key in list(self.seq_to_child)[:50_000]:
                del self.seq_to_child[key]

    # --- session events ---------------------------------------------------------------------
    def on_logon(self, lp: str, now: float) -> list[Out]:
        if self.marketdata is not None:
            self.marketdata.set_available(lp, True)
        return [self.book.status_request_for(c, now) for c in self.book.unknown_children(lp)]

    def on_logout(self, lp: str, now: float) -> int:
        if self.marketdata is not None:
            self.marketdata.set_available(lp, False)
            self.marketdata.clear_lp(lp)
        return self.book.lp_disconnected(lp, now)

    # --- messages ---------------------------------------------------------------------------
    def on_message(self, lp: str, msg: Message, now: float) -> list[Out]:
        msg_type = msg.msg_type
        if msg_type == MsgType.EXECUTION_REPORT:
            return self._execution_report(lp, msg, now)
        if msg_type in (
            MsgType.MARKET_DATA_INCREMENTAL_REFRESH,
            MsgType.MARKET_DATA_SNAPSHOT_FULL_REFRESH,
            MsgType.MARKET_DATA_REQUEST_REJECT,
        ):
            if self.marketdata is not None:
                for problem in self.marketdata.apply(lp, msg, now):
                    self._problem(f"{lp}: {problem}")
            return []
        if msg_type == MsgType.ORDER_CANCEL_REJECT:
            return self._cancel_reject(lp, msg, now)
        if msg_type == MsgType.BUSINESS_MESSAGE_REJECT:
            return self._refused(lp, msg, now, "business reject")
        self._problem(f"{lp}: unexpected MsgType {msg_type.decode('latin-1')}")
        return []

    def on_session_reject(self, lp: str, msg: Message, now: float) -> list[Out]:
        """A session-level Reject (35=3) of something we sent (by RefSeqNum)."""
        return self._refused(lp, msg, now, "session reject")

    def _refused(self, lp: str, msg: Message, now: float, what: str) -> list[Out]:
        ref = msg.get(tags.RefSeqNum)
        child = self.seq_to_child.get((lp, int(ref))) if ref and ref.isdigit() else None
        text = msg.get_str(tags.Text, "") or ""
        if child is None and msg.get(tags.RefMsgType) == MsgType.MARKET_DATA_REQUEST:
            # the LP has no market data: stop asking it (until the process restarts)
            self.no_quotes.add(lp)
            self._problem(f"{lp}: refuses market data requests ({what}: {text}); not asking again")
            return []
        if child is None or child.state != C_PENDING_NEW:
            self._problem(f"{lp}: {what} not matched to a child order: {text}")
            return []
        out = self.book.on_child_done(child, C_REJECTED, now, f"{what}: {text}")
        self._event("rejected", child, now)
        return out

    def _cancel_reject(self, lp: str, msg: Message, now: float) -> list[Out]:
        orig = msg.get(tags.OrigClOrdID) or b""
        child = self.book.child(orig)
        if child is None:
            self._problem(f"{lp}: OrderCancelReject for unknown order {orig!r}")
            return []
        child.cancel_sent = False
        if msg.get(102) == b"1" and child.state not in CHILD_TERMINAL:
            # the LP does not know the order: find out what it was, before anything else
            return [self.book.status_request_for(child, now)]
        return []

    def _execution_report(self, lp: str, msg: Message, now: float) -> list[Out]:
        book = self.book
        exec_type = msg.get(tags.ExecType) or b""
        cl = msg.get(tags.ClOrdID) or b""
        child = book.child(cl)
        if child is None:
            orig = msg.get(tags.OrigClOrdID)
            child = book.child(orig) if orig else None
            if child is None and cl.endswith(b"-X"):
                child = book.child(cl[:-2])
        if child is None:
            self._problem(f"{lp}: ExecutionReport for unknown ClOrdID {cl.decode('latin-1')}")
            if exec_type in _TRADE_TYPES:
                return [
                    book.dont_know_trade(
                        None,
                        msg.get(tags.ExecID) or b"NONE",
                        0,
                        0,
                        b"D",
                        "no matching order",
                        lp=lp,
                        order_id=msg.get(tags.OrderID) or b"NONE",
                        symbol=msg.get(tags.Symbol) or b"NONE",
                        side=msg.get(tags.Side) or b"1",
                    )
                ]
            return []
        if child.lp != lp:
            self._problem(f"{lp}: report for a child sent to {child.lp}")
            return []
        inst = child.parent.inst
        status = msg.get(tags.OrdStatus) or b""
        out: list[Out] = []
        if exec_type == ExecType.ORDER_STATUS:
            return self._status(child, msg, status, now)
        if exec_type in (ExecType.NEW, ExecType.PENDING_NEW):
            out += book.on_child_ack(child, msg.get(tags.OrderID) or b"", now)
            self._event("ack", child, now)
            return out
        if exec_type in _TRADE_TYPES:
            exec_id = msg.get(tags.ExecID) or b""
            try:
                qty = inst.parse_qty(msg.get(tags.LastQty) or b"", check_lot=False)
                px = inst.parse_any_price(msg.get(tags.LastPx) or b"")
            except BadValue as exc:
                self._problem(f"{lp}: fill {exec_id!r} refused: {exc}")
                return [book.dont_know_trade(child, exec_id, 0, 0, b"Z", f"unreadable fill: {exc}")]
            if child.acked_at is None:
                book.on_child_ack(child, msg.get(tags.OrderID) or b"", now)
                self._event("ack", child, now)
            out += book.on_child_fill(child, exec_id, qty, px, now)
            self._event("fill", child, now)
            done = _DONE_STATUS.get(status)
            if done is not None and child.state not in CHILD_TERMINAL:
                out += book.on_child_done(child, done, now, msg.get_str(tags.Text, "") or "")
                self._event("done", child, now)
            return out
        if exec_type in (ExecType.CANCELED, ExecType.EXPIRED, ExecType.DONE_FOR_DAY, ExecType.REJECTED):
            state = (
                C_REJECTED
                if exec_type == ExecType.REJECTED
                else (C_CANCELED if exec_type == ExecType.CANCELED else C_EXPIRED)
            )
            lp_cum = msg.get(tags.CumQty)
            if lp_cum:
                # an LP's final CumQty above ours means a fill we never saw: reconcile first
                try:
                    cum = inst.parse_qty(lp_cum, check_lot=False) if lp_cum != b"0" else 0
                except BadValue:
                    cum = child.cum_qty
                if cum > child.cum_qty:
                    return self._status(child, msg, status or OrdStatus.CANCELED, now)
            if child.acked_at is None and exec_type != ExecType.REJECTED:
                child.acked_at = now
            out += book.on_child_done(child, state, now, msg.get_str(tags.Text, "") or "")
            self._event("rejected" if exec_type == ExecType.REJECTED else "done", child, now)
            return out
        if exec_type == ExecType.RESTATED:
            leaves_raw = msg.get(tags.LeavesQty)
            try:
                leaves = (
                    inst.parse_qty(leaves_raw, check_lot=False) if leaves_raw and leaves_raw != b"0" else 0
                )
            except BadValue:
                self._problem(f"{lp}: restatement with unreadable LeavesQty {leaves_raw!r}")
                return out
            return book.on_child_restated(child, leaves, now)
        if exec_type == ExecType.TRADE_CANCEL:
            return book.on_child_bust(child, msg.get(tags.ExecRefID) or b"", now)
        if exec_type == ExecType.TRADE_CORRECT:
            try:
                qty = inst.parse_qty(msg.get(tags.LastQty) or b"", check_lot=False)
                px = inst.parse_any_price(msg.get(tags.LastPx) or b"")
            except BadValue as exc:
                self._problem(f"{lp}: correction refused: {exc}")
                return out
            return book.on_child_correct(child, msg.get(tags.ExecRefID) or b"", qty, px, now)
        if exec_type in (ExecType.PENDING_CANCEL, ExecType.REPLACED, ExecType.PENDING_REPLACE):
            return out
        self._problem(f"{lp}: ExecType {exec_type.decode('latin-1')} not handled")
        return out

    def _status(self, child: ChildOrder, msg: Message, status: bytes, now: float) -> list[Out]:
        inst = child.parent.inst
        known = not (status == OrdStatus.REJECTED and msg.get(tags.OrdRejReason) == b"5")
        try:
            cum_raw = msg.get(tags.CumQty) or b"0"
            cum = inst.parse_qty(cum_raw, check_lot=False) if cum_raw not in (b"0", b"0.0") else 0
            avg_raw = msg.get(tags.AvgPx)
            avg: Decimal | None = None
            if avg_raw and cum:
                inst.parse_any_price(avg_raw)  # a positive FIX float, or BadValue
                # in price units but not rounded to the tick: a missed fill's price comes from it
                avg = Decimal(avg_raw.decode("latin-1")) * inst.price_scale
            leaves_raw = msg.get(tags.LeavesQty)
            leaves = (
                inst.parse_qty(leaves_raw, check_lot=False)
                if leaves_raw and leaves_raw.strip(b"0.")
                else (0 if leaves_raw else None)
            )
        except BadValue as exc:
            self._problem(f"{child.lp}: status answer unreadable: {exc}")
            return []
        was_unknown = child.state == C_UNKNOWN
        out = self.book.on_child_status(child, status, cum, avg, known, now, lp_leaves=leaves)
        self._event("status" if was_unknown else "status_update", child, now)
        return out
