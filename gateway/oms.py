"""The OMS-facing application: FIX messages from an OMS into parent-order operations.

NewOrderSingle, OrderCancelRequest, OrderCancelReplaceRequest and OrderStatusRequest are
read here, checked (fields, instrument, quantities, prices, risk), and handed to the order
book; anything else gets a BusinessMessageReject. Every refusal is a value for the
counterparty with a clear Text(58): an ExecutionReport with OrdRejReason, an
OrderCancelReject with CxlRejReason, or a BusinessMessageReject. This module sends
nothing itself: it returns ``Out`` values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gateway.fix import tags
from gateway.fix.codec import Message
from gateway.fix.enums import OrdRejReason, OrdType, TimeInForce
from gateway.fix.tags import BusinessRejectReason, MsgType
from gateway.instruments import BadValue, Instrument, InstrumentBook
from gateway.orders import ORD_STATUS, OrderBook, Out

_SIDES = (b"1", b"2")
_ORD_TYPES = (OrdType.MARKET, OrdType.LIMIT)
_TIFS = {
    TimeInForce.DAY: TimeInForce.DAY,
    TimeInForce.GOOD_TILL_CANCEL: TimeInForce.DAY,  # worked as a day order by the gateway
    TimeInForce.IMMEDIATE_OR_CANCEL: TimeInForce.IMMEDIATE_OR_CANCEL,
    TimeInForce.FILL_OR_KILL: TimeInForce.FILL_OR_KILL,
}


class RiskChecks(Protocol):
    def check_order(
        self,
        session: str,
        inst: Instrument | None,
        side: int,
        qty: int,
        price: int | None,
        mid: float | None,
        now: float,
    ) -> object | None: ...

    def check_message(self, session: str, now: float) -> object | None: ...


def business_reject(session: str, msg: Message, reason: int, text: str) -> Out:
    body = b""
    seq = msg.get(tags.MsgSeqNum)
    if seq:
        body += b"45=" + seq + b"\x01"
    body += b"372=" + msg.msg_type + b"\x01"
    ref = msg.get(tags.ClOrdID)
    if ref:
        body += b"379=" + ref + b"\x01"
    body += b"380=%d\x0158=" % reason + text.encode("latin-1", "replace") + b"\x01"
    return Out("oms", session, MsgType.BUSINESS_MESSAGE_REJECT, body)


class OmsHandler:
    """Turns OMS messages into order-book operations."""

    def __init__(
        self,
        book: OrderBook,
        instruments: InstrumentBook,
        *,
        risk: RiskChecks | None = None,
        mid: Callable[[str, float], float | None] | None = None,
        profile_tag: int | None = None,
        default_profiles: dict[str, str] | None = None,
        profiles: frozenset[str] = frozenset(),
        session_names: dict[str, str] | None = None,
    ) -> None:
        self.book = book
        # risk limits and their texts name a session by its Name, not its session id
        self.session_names = session_names or {}
        self.instruments = instruments
        self.risk = risk
        self.mid = mid or (lambda symbol, now: None)
        self.profile_tag = profile_tag
        self.default_profiles = default_profiles or {}
        self.profiles = profiles
        self.rejections: dict[str, int] = {}

    def on_message(self, session: str, msg: Message, now: float) -> list[Out]:
        msg_type = msg.msg_type
        if msg_type == MsgType.NEW_ORDER_SINGLE:
            return self._new_order(session, msg, now)
        if msg_type == MsgType.ORDER_CANCEL_REQUEST:
            return self._cancel(session, msg, now)
        if msg_type == MsgType.ORDER_CANCEL_REPLACE_REQUEST:
            return self._replace(session, msg, now)
        if msg_type == MsgType.ORDER_STATUS_REQUEST:
            cl = msg.get(tags.ClOrdID)
            if not cl:
                return [
                    business_reject(
                        session,
                        msg,
                        BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING,
                        "ClOrdID(11) is required",
                    )
                ]
            return self.book.status_request(session, cl, now)
        return [
            business_reject(
                session,
                msg,
                BusinessRejectReason.UNSUPPORTED_MESSAGE_TYPE,
                f"MsgType {msg_type.decode('latin-1')} is not supported by the gateway",
            )
        ]

    def _count(self, rule: str) -> None:
        self.rejections[rule] = self.rejections.get(rule, 0) + 1

    # --- NewOrderSingle -------------------------------------------------------------------
    def _new_order(self, session: str, msg: Message, now: float) -> list[Out]:
        book = self.book
        cl = msg.get(tags.ClOrdID)
        if not cl:
            self._count("missing_field")
            return [
                business_reject(
                    session,
                    msg,
                    BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING,
                    "ClOrdID(11) is required",
                )
            ]
        symbol = msg.get(tags.Symbol) or b""
        side = msg.get(tags.Side) or b""
        qty_raw = msg.get(tags.OrderQty) or b""
        ord_type = msg.get(tags.OrdType) or b""

        def reject(reason: int, text: str, rule: str) -> list[Out]:
            self._count(rule)
            return [book.reject_new(session, cl, inst, symbol, side, qty_raw, ord_type, reason, text, now)]

        inst: Instrument | None = None
        if book.is_duplicate(session, cl):
            if msg.get(tags.PossResend) == b"Y":
                # a resend of an order we already have: tell its status, do not book it twice
                return book.status_request(session, cl, now)
            return reject(
                OrdRejReason.DUPLICATE_ORDER, f"duplicate ClOrdID {cl.decode('latin-1')}", "duplicate"
            )
        if not symbol:
            return reject(OrdRejReason.OTHER, "Symbol(55) is required", "missing_field")
        inst = self.instruments.get(symbol.decode("latin-1"))
        if inst is None:
            return reject(
                OrdRejReason.UNKNOWN_SYMBOL, f"unknown symbol {symbol.decode('latin-1')}", "unknown_symbol"
            )
        if side not in _SIDES:
            return reject(
                OrdRejReason.OTHER,
                f"Side(54)={side.decode('latin-1')} is not supported (1 buy, 2 sell)",
                "bad_field",
            )
        if ord_type not in _ORD_TYPES:
            return reject(
                OrdRejReason.OTHER,
                f"OrdType(40)={ord_type.decode('latin-1')} is not supported (1 market, 2 limit)",
                "bad_field",
            )
        tif_raw = msg.get(tags.TimeInForce) or TimeInForce.DAY
        tif = _TIFS.get(tif_raw)
        if tif is None:
            return reject(
                OrdRejReason.OTHER,
                f"TimeInForce(59)={tif_raw.decode('latin-1')} is not supported (0, 1, 3, 4)",
                "bad_field",
            )
        if not qty_raw:
            return reject(OrdRejReason.INCORRECT_QUANTITY, "OrderQty(38) is required", "missing_field")
        try:
            qty = inst.parse_qty(qty_raw)
        except BadValue as exc:
            return reject(OrdRejReason.INCORRECT_QUANTITY, str(exc), "bad_quantity")
        price: int | None = None
        if ord_type == OrdType.LIMIT:
            raw_price = msg.get(tags.Price)
            if not raw_price:
                return reject(OrdRejReason.OTHER, "Price(44) is required for a limit order", "missing_field")
            try:
                price = inst.parse_price(raw_price)
            except BadValue as exc:
                return reject(OrdRejReason.OTHER, str(exc), "bad_price")
        mid = self.mid(inst.symbol, now)
        if self.risk is not None:
            refusal = self.risk.check_order(
                self.session_names.get(session, session), inst, 1 if side == b"1" else 2, qty, price, mid, now
            )
            if refusal is not None:
                rule = getattr(refusal, "rule", "risk")
                return reject(OrdRejReason.ORDER_EXCEEDS_LIMIT, getattr(refusal, "text", str(refusal)), rule)
        profile = self.default_profiles.get(session, "")
        if self.profile_tag is not None:
            wanted = msg.get(self.profile_tag)
            if wanted:
                name = wanted.decode("latin-1")
                if self.profiles and name not in self.profiles:
                    return reject(OrdRejReason.OTHER, f"unknown routing profile {name}", "bad_field")
                profile = name
        _, out = book.new_parent(
            session,
            cl,
            inst,
            side,
            ord_type,
            tif,
            qty,
            price,
            now,
            account=msg.get(tags.Account),
            profile=profile,
            arrival_mid=mid,
        )
        return out

    # --- cancel / replace -----------------------------------------------------------------
    def _cancel(self, session: str, msg: Message, now: float) -> list[Out]:
        cl = msg.get(tags.ClOrdID)
        orig = msg.get(tags.OrigClOrdID)
        if not cl or not orig:
            return [
                business_reject(
                    session,
                    msg,
                    BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING,
                    "ClOrdID(11) and OrigClOrdID(41) are required",
                )
            ]
        refusal = (
            None
            if self.risk is None
            else self.risk.check_message(self.session_names.get(session, session), now)
        )
        if refusal is not None:
            parent = self.book.by_cl_ord_id.get((session, orig))
            order_id = parent.order_id if parent is not None else b"NONE"
            status = ORD_STATUS[parent.state] if parent is not None else b"8"
            text = getattr(refusal, "text", "throttled")
            return [self.book._cancel_reject(session, cl, orig, order_id, status, b"1", 99, text)]
        return self.book.cancel_request(session, cl, orig, now)

    def _replace(self, session: str, msg: Message, now: float) -> list[Out]:
        cl = msg.get(tags.ClOrdID)
        orig = msg.get(tags.OrigClOrdID)
        if not cl or not orig:
            return [
                business_reject(
                    session,
                    msg,
                    BusinessRejectReason.CONDITIONALLY_REQUIRED_FIELD_MISSING,
                    "ClOrdID(11) and OrigClOrdID(41) are required",
                )
            ]
        parent = self.book.by_cl_ord_id.get((session, orig))

        def refuse(text: str) -> list[Out]:
            status = b"8" if parent is None else ORD_STATUS[parent.state]
            order_id = parent.order_id if parent is not None else b"NONE"
            return [self.book._cancel_reject(session, cl, orig, order_id, status, b"2", 99, text)]

        if parent is None:
            return self.book.replace_request(session, cl, orig, 0, None, now)
        inst = parent.inst
        qty_raw = msg.get(tags.OrderQty)
        try:
            qty = inst.parse_qty(qty_raw) if qty_raw else parent.qty
            raw_price = msg.get(tags.Price)
            price = inst.parse_price(raw_price) if raw_price else parent.price
        except BadValue as exc:
            return refuse(str(exc))
        if self.risk is not None:
            name = self.session_names.get(session, session)
            refusal = self.risk.check_message(name, now) or self.risk.check_order(
                name, inst, 1 if parent.is_buy else 2, qty, price, self.mid(inst.symbol, now), now
            )
            if refusal is not None:
                return refuse(getattr(refusal, "text", str(refusal)))
        return self.book.replace_request(session, cl, orig, qty, price, now)
