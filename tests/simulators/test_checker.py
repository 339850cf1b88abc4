"""ReportChecker on hand-written report sequences: clean ones pass, each kind of fault is named."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gateway.fix.codec import Message
from simulators.checker import ReportChecker

_ids = itertools.count(1)


def er(
    cl: str,
    exec_type: str,
    status: str,
    cum: str,
    leaves: str,
    avg: str = "0",
    *,
    qty: str = "100",
    last: tuple[str, str] | None = None,
    exec_id: str | None = None,
    orig: str | None = None,
    ref: str | None = None,
    text: str | None = None,
    possdup: bool = False,
    seq: int | None = None,
    **extra: Any,
) -> Message:
    fields: list[tuple[int, bytes]] = [(8, b"FIX.4.4"), (9, b"0"), (35, b"8")]
    fields.append((34, b"%d" % (seq if seq is not None else next(_ids))))
    if possdup:
        fields.append((43, b"Y"))
    fields += [(37, b"O-" + cl.encode()), (11, cl.encode())]
    if orig is not None:
        fields.append((41, orig.encode()))
    fields.append((17, (exec_id or f"E{next(_ids)}").encode()))
    fields += [(150, exec_type.encode()), (39, status.encode()), (55, b"ACME"), (54, b"1")]
    fields += [(38, qty.encode()), (151, leaves.encode()), (14, cum.encode()), (6, avg.encode())]
    if last is not None:
        fields += [(31, last[1].encode()), (32, last[0].encode())]
    if ref is not None:
        fields.append((19, ref.encode()))
    if text is not None:
        fields.append((58, text.encode()))
    fields += [(int(k[1:]), str(v).encode()) for k, v in extra.items()]
    return Message(fields)


def cancel_reject(cl: str, orig: str, status: str = "2", response_to: str = "1") -> Message:
    return Message(
        [
            (8, b"FIX.4.4"),
            (9, b"0"),
            (35, b"9"),
            (11, cl.encode()),
            (41, orig.encode()),
            (37, b"O"),
            (39, status.encode()),
            (434, response_to.encode()),
            (102, b"0"),
            (58, b"Too late"),
        ]
    )


def checker_with(*clordids: str, tif: str = "3", require_ack: bool = True) -> ReportChecker:
    c = ReportChecker(require_ack=require_ack)
    for cl in clordids:
        c.new_order(cl, "ACME", "buy", "100", "101", tif)
    return c


def kinds(c: ReportChecker) -> list[str]:
    c.finish()
    return [v.kind for v in c.violations]


# --- clean sequences ------------------------------------------------------------------------


def test_ack_partials_and_fill_with_exact_avg_px() -> None:
    c = checker_with("A")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.on_message(er("A", "F", "1", "30", "70", "100.01", last=("30", "100.01")))
    c.on_message(er("A", "F", "1", "60", "40", "100.015", last=("30", "100.02")))
    # 30 x 100.01 + 30 x 100.02 + 40 x 100.02 = 100.017 exactly
    c.on_message(er("A", "F", "2", "100", "0", "100.017", last=("40", "100.02")))
    assert kinds(c) == []
    assert c.outcome()["filled"] == 1


def test_avg_px_rounded_at_its_last_decimal_is_accepted() -> None:
    c = checker_with("A", "B")
    c.on_message(er("A", "0", "0", "0", "3", qty="3"))
    c.on_message(er("A", "F", "1", "1", "2", "100.01", qty="3", last=("1", "100.01")))
    # exact 100.016666...: rounded to 4 decimals, or shown at the fills' own 2 decimals
    c.on_message(er("A", "F", "2", "3", "0", "100.0167", qty="3", last=("2", "100.02")))
    c.on_message(er("B", "0", "0", "0", "3", qty="3"))
    c.on_message(er("B", "F", "1", "1", "2", "100.01", qty="3", last=("1", "100.01")))
    c.on_message(er("B", "F", "2", "3", "0", "100.02", qty="3", last=("2", "100.02")))
    assert kinds(c) == []


def test_ioc_partial_then_cancel_and_reject_with_reason() -> None:
    c = checker_with("A", "B")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.on_message(er("A", "F", "1", "40", "60", "100", last=("40", "100")))
    c.on_message(er("A", "4", "4", "40", "0", "100"))
    c.on_message(er("B", "8", "8", "0", "0", text="Price moved away", _103=8))
    assert kinds(c) == []
    assert c.outcome() == {"partially_filled": 1, "rejected": 1}
    assert c.reject_reasons == {"Price moved away": 1}


def test_cancel_and_replace_chains() -> None:
    c = checker_with("A", tif="0")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.replace_request("R", "A", "200", "101.5")
    c.on_message(er("R", "5", "0", "0", "200", qty="200", orig="A"))
    c.on_message(er("R", "F", "1", "50", "150", "101", qty="200", last=("50", "101")))
    c.cancel_request("X", "R")
    c.on_message(er("X", "4", "4", "50", "0", "101", qty="200", orig="R"))
    c.cancel_request("X2", "X")
    c.on_message(cancel_reject("X2", "X", status="4"))
    assert kinds(c) == []
    assert c.order("X") is c.order("A") and c.order("A").current == "X"  # type: ignore[union-attr]


def test_bust_and_correction_may_lower_cum_qty() -> None:
    c = checker_with("A", "B")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.on_message(er("A", "F", "2", "100", "0", "100", exec_id="F1", last=("100", "100")))
    c.on_message(er("A", "H", "4", "0", "0", "0", ref="F1", last=("100", "100")))
    c.on_message(er("B", "0", "0", "0", "100"))
    c.on_message(er("B", "F", "1", "60", "40", "100", exec_id="F2", last=("60", "100")))
    c.on_message(er("B", "G", "1", "50", "50", "99.99", exec_id="G2", ref="F2", last=("50", "99.99")))
    c.on_message(er("B", "H", "0", "0", "100", "0", ref="G2", last=("50", "99.99")))  # bust of the correction
    assert kinds(c) == []


def test_possdup_resend_of_the_same_report_is_ignored() -> None:
    c = checker_with("A")
    c.on_message(er("A", "0", "0", "0", "100", exec_id="E1", seq=5))
    fill = er("A", "F", "2", "100", "0", "100", exec_id="E2", last=("100", "100"), seq=6)
    c.on_message(fill)
    c.on_message(er("A", "F", "2", "100", "0", "100", exec_id="E2", last=("100", "100"), seq=6, possdup=True))
    assert kinds(c) == []
    assert c.order("A").cum == 100  # type: ignore[union-attr]


def test_status_reports_late_fills_and_working_orders() -> None:
    c = checker_with("A", tif="0")
    c.new_order("W", "ACME", "buy", "100", "99", "0")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.status_request("A")
    c.on_message(er("A", "I", "0", "0", "100", exec_id="S1"))
    c.on_message(er("A", "I", "0", "0", "100", exec_id="S1"))  # status reports may repeat ExecIDs
    c.cancel_request("X", "A")
    c.on_message(er("X", "4", "4", "0", "0", orig="A"))
    c.on_message(er("X", "F", "2", "100", "0", "99", last=("100", "99")))  # a documented late fill
    c.on_message(er("W", "0", "0", "0", "100"))
    assert kinds(c) == []
    assert c.late_fill_count == 1 and "after the order was cancelled" in c.late_fills[0]
    assert [o.clordid for o in c.open_orders()] == ["W"]
    assert c.outcome()["working"] == 1


def test_a_fill_after_expiry_is_a_late_fill_but_after_a_fill_it_is_a_fault() -> None:
    c = checker_with("A", tif="0")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.on_message(er("A", "C", "C", "0", "0"))  # expired at the end of the day
    c.on_message(er("A", "F", "C", "40", "0", "99", last=("40", "99")))
    assert kinds(c) == []
    assert c.late_fill_count == 1 and "after the order was expired" in c.late_fills[0]
    c = checker_with("B")
    c.on_message(er("B", "0", "0", "0", "100"))
    c.on_message(er("B", "F", "2", "100", "0", "99", last=("100", "99")))
    c.on_message(er("B", "F", "2", "100", "0", "99", last=("100", "99")))
    assert "fill_after_terminal" in kinds(c)


def test_without_require_ack_a_fill_may_come_first() -> None:
    c = checker_with("A", require_ack=False)
    c.on_message(er("A", "F", "2", "100", "0", "100", last=("100", "100")))
    assert kinds(c) == []


# --- each kind of violation -----------------------------------------------------------------


def test_duplicate_exec_id() -> None:
    c = checker_with("A")
    c.on_message(er("A", "0", "0", "0", "100", exec_id="E1"))
    c.on_message(er("A", "F", "2", "100", "0", "100", exec_id="E1", last=("100", "100")))
    assert "duplicate_exec_id" in kinds(c)


def test_possdup_resend_that_differs() -> None:
    c = checker_with("A")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.on_message(er("A", "F", "1", "50", "50", "100", exec_id="E2", last=("50", "100")))
    c.on_message(er("A", "F", "1", "60", "40", "100", exec_id="E2", last=("60", "100"), possdup=True))
    assert kinds(c) == ["duplicate_exec_id"]
    assert "differs" in c.violations[0].text


@pytest.mark.parametrize(
    ("reports", "kind"),
    [
        # CumQty falls without a bust
        (
            [("F", "1", "50", "50", "100", ("50", "100")), ("0", "1", "40", "60", "100", None)],
            "cum_decreased",
        ),
        # CumQty + LeavesQty != OrderQty while live
        ([("F", "1", "50", "60", "100", ("50", "100"))], "leaves_qty"),
        # LeavesQty left on a finished order
        ([("4", "4", "0", "100", "0", None)], "leaves_qty"),
        # CumQty is not the sum of the fills
        ([("F", "1", "60", "40", "100", ("50", "100"))], "cum_qty"),
        # AvgPx wrong
        ([("F", "1", "50", "50", "100.5", ("50", "100"))], "avg_px"),
        # OrdStatus PartiallyFilled with everything done
        ([("F", "1", "100", "0", "100", ("100", "100"))], "status"),
        # OrdStatus Filled with something left
        ([("F", "2", "50", "0", "100", ("50", "100"))], "status"),
        # a fill after the order was filled
        (
            [("F", "2", "100", "0", "100", ("100", "100")), ("F", "2", "110", "0", "100", ("10", "100"))],
            "fill_after_terminal",
        ),
        # a second ack
        ([("0", "0", "0", "100", "0", None)], "duplicate_ack"),
        # a bust of a fill that never was
        ([("H", "0", "0", "100", "0", None)], "bust"),
        # a reject after the ack
        ([("8", "8", "0", "0", "0", None)], "late_reject"),
    ],
)
def test_each_quantity_and_state_violation(reports: list[tuple[Any, ...]], kind: str) -> None:
    c = checker_with("A")
    c.on_message(er("A", "0", "0", "0", "100"))
    for exec_type, status, cum, leaves, avg, last in reports:
        ref = "NOPE" if exec_type == "H" else None
        c.on_message(er("A", exec_type, status, cum, leaves, avg, last=last, ref=ref))
    found = kinds(c)
    assert kind in found, found


def test_fill_after_reject_and_first_report_not_an_ack() -> None:
    c = checker_with("A", "B")
    c.on_message(er("A", "8", "8", "0", "0", text="no"))
    c.on_message(er("A", "F", "2", "100", "0", "100", last=("100", "100")))
    c.on_message(er("B", "F", "2", "100", "0", "100", last=("100", "100")))
    found = kinds(c)
    assert "fill_after_terminal" in found and "first_report" in found


def test_chain_violations() -> None:
    c = checker_with("A", tif="0")
    c.on_message(er("A", "0", "0", "0", "100"))
    c.cancel_request("X", "A")
    c.on_message(er("X", "4", "4", "0", "0", orig="WRONG"))  # names the wrong original
    c.on_message(cancel_reject("Y", "A"))  # answers a request never sent
    c.on_message(er("A", "5", "0", "0", "100"))  # replaced without OrigClOrdID
    assert [k for k in kinds(c) if k == "chain"] == ["chain", "chain", "chain"]


def test_unknown_order_no_report_and_unanswered_requests() -> None:
    c = checker_with("A", "B", tif="0")
    c.on_message(er("Z", "0", "0", "0", "100"))
    c.on_message(er("A", "0", "0", "0", "100"))
    c.cancel_request("X", "A")
    c.status_request("A")
    found = kinds(c)
    assert found.count("unknown_order") == 1
    assert found.count("no_report") == 1  # B
    assert found.count("unanswered") == 2  # the cancel and the status request
    assert c.violation_count == 4
    assert all(str(v).startswith("[") for v in c.violations)


def test_unreadable_numbers_are_violations_not_exceptions() -> None:
    c = checker_with("A")
    c.on_message(er("A", "0", "0", "0", "abc"))
    assert "bad_value" in kinds(c)
