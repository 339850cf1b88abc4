"""Data dictionary: loading the QuickFIX XML specs and validating like QuickFIX does.

Most cases are the FIX session-level test cases 14a-14j, 15, 21 (QuickFIX/J acceptance
definitions): each asserts the exact SessionRejectReason, RefTagID and Text of the Reject.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fix.dictionary import (
    REJECT_TEXT,
    DataDictionary,
    Rejection,
    SessionRejectReason,
    ValidationOptions,
    validate_structure,
)

SPEC_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "fix-spec"

pytestmark = pytest.mark.skipif(
    not (SPEC_DIR / "FIX44.xml").is_file(),
    reason=f"FIX spec files not found in {SPEC_DIR} (expected ../shared/fix-spec beside the repo)",
)

TIME = "20261121-10:00:00.000"
Fields = list[tuple[int, bytes]]


def msg(body: str, begin: str = "FIX.4.4") -> Fields:
    """`35=D|34=2|...` as parsed (tag, value) pairs, with 8, 9 first and 10 last.

    Written like the acceptance definitions; `<TIME>` becomes a valid UTC timestamp.
    """
    fields: Fields = [(8, begin.encode()), (9, b"0")]
    for item in body.strip("|").split("|"):
        tag, _, value = item.partition("=")
        fields.append((int(tag), value.replace("<TIME>", TIME).encode()))
    fields.append((10, b"000"))
    return fields


def rej(reason: int, tag: int | None, text: str | None = None) -> Rejection:
    return Rejection(reason, tag, text if text is not None else REJECT_TEXT[reason])


HB = "35=0|34=2|49=TW|52=<TIME>|56=ISLD"  # a valid Heartbeat's header
NOS = "35=D|34=2|49=TW|52=<TIME>|56=ISLD|11=ID|21=1|40=1|54=1|38=002000.00|55=INTC|60=<TIME>"


@pytest.fixture(scope="module")
def dd() -> DataDictionary:
    return DataDictionary.load(SPEC_DIR / "FIX44.xml")


@pytest.fixture(scope="module")
def dd42() -> DataDictionary:
    return DataDictionary.load(SPEC_DIR / "FIX42.xml")


@pytest.fixture(scope="module")
def dd50() -> DataDictionary:
    return DataDictionary.load(SPEC_DIR / "FIX50SP2.xml", transport_path=SPEC_DIR / "FIXT11.xml")


# -- loading and lookups -------------------------------------------------------------------


def test_load_reads_version_and_is_cached(dd: DataDictionary) -> None:
    assert dd.begin_string == "FIX.4.4"
    assert DataDictionary.load(str(SPEC_DIR / "FIX44.xml")) is dd
    assert DataDictionary.load(os.path.relpath(SPEC_DIR / "FIX44.xml")) is dd


def test_lookups(dd: DataDictionary) -> None:
    assert dd.field_name(55) == "Symbol"
    assert dd.field_type(38) == "QTY"
    assert dd.field_type(52) == "UTCTIMESTAMP"
    assert dd.field_name(999) is None and dd.field_type(999) is None
    assert dd.is_valid_msg_type(b"D") and dd.is_valid_msg_type(b"0")
    assert not dd.is_valid_msg_type(b"*")
    assert dd.is_app_message(b"D") and dd.is_app_message(b"8")
    assert not dd.is_app_message(b"0") and not dd.is_app_message(b"A")
    assert not dd.is_app_message(b"*")
    assert dd.message_name(b"D") == "NewOrderSingle"


@pytest.mark.parametrize(
    "tag", [8, 9, 35, 49, 56, 34, 52, 43, 97, 122, 115, 128, 116, 129, 144, 145]
)
def test_header_fields(dd: DataDictionary, tag: int) -> None:
    assert dd.is_header_field(tag)
    assert not dd.is_trailer_field(tag)


def test_trailer_fields(dd: DataDictionary) -> None:
    assert all(dd.is_trailer_field(t) for t in (93, 89, 10))
    assert not dd.is_header_field(10)
    assert not dd.is_header_field(55) and not dd.is_trailer_field(55)


def test_fix42(dd42: DataDictionary) -> None:
    assert dd42.begin_string == "FIX.4.2"
    ok = msg(NOS, "FIX.4.2")
    assert dd42.validate(ok) is None
    missing = msg(NOS.replace("21=1|", ""), "FIX.4.2")
    assert dd42.validate(missing) == rej(1, 21)  # HandlInst is required in 4.2
    er = (
        "35=8|34=3|49=ISLD|52=<TIME>|56=TW|37=O1|17=E1|20=0|150=0|39=0|55=EUR/USD|54=1"
        "|38=1000000|151=1000000|14=0|6=0|60=<TIME>"
    )
    assert dd42.validate(msg(er, "FIX.4.2")) is None
    assert dd42.validate(msg(er.replace("|20=0", "|20=7"), "FIX.4.2")) == rej(5, 20)
    assert dd42.is_header_field(115) and dd42.is_header_field(128)


def test_fix50sp2_with_fixt11_transport(dd50: DataDictionary) -> None:
    assert dd50.begin_string == "FIXT.1.1"
    assert dd50.app_version == "FIX.5.0SP2"
    assert dd50.is_header_field(1128)  # ApplVerID comes from FIXT11's header
    assert dd50.is_valid_msg_type(b"A") and not dd50.is_app_message(b"A")
    assert dd50.is_app_message(b"D")
    logon = msg("35=A|34=1|49=TW|52=<TIME>|56=ISLD|98=0|108=30|1137=9", "FIXT.1.1")
    assert dd50.validate(logon) is None
    assert dd50.validate(msg("35=A|34=1|49=TW|52=<TIME>|56=ISLD|98=0|108=30", "FIXT.1.1")) == rej(
        1, 1137
    )
    order = msg(
        "35=D|1128=9|34=2|49=TW|52=<TIME>|56=ISLD|11=ID|55=EUR/USD|54=1|60=<TIME>|38=1000|40=1",
        "FIXT.1.1",
    )
    assert dd50.validate(order) is None
    assert dd50.validate(msg(HB + "|55=X", "FIXT.1.1")) == rej(2, 55)


def test_fix50sp2_without_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="transport_path"):
        DataDictionary.load(SPEC_DIR / "FIX50SP2.xml")


# -- session-level test cases ---------------------------------------------------------------


@pytest.mark.parametrize("tag", ["999", "0", "-1", "5000"])
def test_14a_invalid_tag_number(dd: DataDictionary, tag: str) -> None:
    assert dd.validate(msg(f"{HB}|{tag}=HI")) == rej(0, int(tag))


def test_14a_invalid_tag_as_tuples(dd: DataDictionary) -> None:
    fields = [
        (8, b"FIX.4.4"),
        (9, b"0"),
        (35, b"0"),
        (34, b"2"),
        (49, b"TW"),
        (52, b"20261121-10:00:00.000"),
        (56, b"ISLD"),
        (-1, b"HI"),
        (10, b"000"),
    ]
    assert dd.validate(fields) == Rejection(
        SessionRejectReason.INVALID_TAG_NUMBER, -1, "Invalid tag number"
    )


def test_14b_required_tag_missing(dd: DataDictionary) -> None:
    assert dd.validate(msg("35=0|34=2|49=TW|52=<TIME>")) == rej(1, 56)
    nos = "35=D|49=TW|34=3|56=ISLD|52=<TIME>|40=1|60=<TIME>|54=1|21=3|11=id"
    assert dd.validate(msg(nos)) == rej(1, 55)
    assert dd.validate(msg("35=1|49=TW|52=<TIME>|56=ISLD|112=TEST")) == rej(1, 34)


def test_14c_tag_not_defined_for_message_type(dd: DataDictionary) -> None:
    assert dd.validate(msg(f"{HB}|55=MSFT")) == rej(2, 55)


def test_14d_tag_without_value(dd: DataDictionary) -> None:
    assert dd.validate(msg("35=0|34=2|49=TW|52=<TIME>|56=")) == rej(4, 56)


@pytest.mark.parametrize("tag", [115, 128, 116, 129, 144, 145])
def test_empty_routing_tag(dd: DataDictionary, tag: int) -> None:
    fields = msg(
        f"35=D|34=2|49=TW|52=<TIME>|56=ISLD|{tag}=|11=ID|21=3|38=100|40=w|54=1|55=X|60=<TIME>"
    )
    assert dd.validate(fields) == rej(4, tag)  # the empty value, not the bad 40=w after it


@pytest.mark.parametrize(
    ("change", "tag"),
    [("21=1", "21=4"), ("55=INTC", "55=INTC|167=BOO"), ("40=1", "40=w")],
)
def test_14e_value_out_of_range(dd: DataDictionary, change: str, tag: str) -> None:
    fields = msg(NOS.replace(change, tag))
    assert dd.validate(fields) == rej(5, int(tag.rsplit("|", 1)[-1].split("=")[0]))


def test_14e_valid_enum_and_min_qty(dd: DataDictionary) -> None:
    assert dd.validate(msg(NOS + "|167=CS")) is None
    min_qty = (
        "35=D|34=2|49=TW|52=<TIME>|56=ISLD|11=id|21=3|38=100|40=1|60=<TIME>|54=1|55=MSFT|110=9"
    )
    assert dd.validate(msg(min_qty)) is None


def test_14f_incorrect_data_format(dd: DataDictionary) -> None:
    assert dd.validate(msg(NOS.replace("002000.00", "+200.00"))) == rej(6, 38)


@pytest.mark.parametrize(
    "body",
    [
        "35=D|11=id|21=3|40=1|54=1|55=MSFT|60=<TIME>|34=2|49=TW|52=<TIME>|56=ISLD",
        "35=D|55=MSFT|34=3|49=TW|52=<TIME>|56=ISLD|11=id|21=3|40=1|54=1|60=<TIME>",
    ],
)
def test_14g_header_after_body(dd: DataDictionary, body: str) -> None:
    assert dd.validate(msg(body)) == rej(14, 34)
    relaxed = ValidationOptions(check_fields_out_of_order=False)
    assert dd.validate(msg(body), relaxed) is None


def test_body_field_after_trailer_field(dd: DataDictionary) -> None:
    fields = msg(NOS)
    fields.insert(-2, (93, b"3"))  # SignatureLength before the last body field
    assert dd.validate(fields) == rej(14, 60)


def test_14h_repeated_tag(dd: DataDictionary) -> None:
    body = "35=D|34=2|49=TW|52=<TIME>|56=ISLD|11=ID|21=1|40=1|54=1|40=2|38=200.00|55=INTC|60=<TIME>"
    assert dd.validate(msg(body)) == rej(13, 40)
    assert dd.validate(msg(HB + "|49=TW")) == rej(13, 49)


def test_14i_numingroup_count(dd: DataDictionary) -> None:
    body = NOS + "|386=3|336=PRE-OPEN|336=AFTER-HOURS|58=x"
    assert dd.validate(msg(body)) == rej(16, 386)
    assert dd.validate(msg(NOS + "|386=2|336=PRE-OPEN|336=AFTER-HOURS|58=x")) is None
    assert dd.validate(msg(NOS + "|386=x|336=PRE-OPEN")) == rej(6, 386)


def test_14j_out_of_order_group_members(dd: DataDictionary) -> None:
    body = NOS + "|78=2|79=acct1|80=50|661=X|79=acct2|80=150|661=X"
    assert dd.validate(msg(body)) == rej(15, 661)
    # Without the member-order check, the bad INT value of 661 shows.
    relaxed = ValidationOptions(check_unordered_group_fields=False)
    assert dd.validate(msg(body), relaxed) == rej(6, 661)
    ordered = NOS + "|78=2|79=acct1|661=1|80=50|79=acct2|661=1|80=150"
    assert dd.validate(msg(ordered)) is None


def test_15_header_and_body_in_any_order(dd: DataDictionary) -> None:
    a = "35=D|34=2|49=TW|52=<TIME>|56=ISLD|11=id|21=3|40=1|54=1|55=MSFT|60=<TIME>"
    b = "35=D|49=TW|34=3|56=ISLD|52=<TIME>|40=1|55=MSFT|60=<TIME>|54=1|21=3|11=id"
    assert dd.validate(msg(a)) is None  # no OrderQty: OrderQtyData's fields are optional
    assert dd.validate(msg(b)) is None


def test_21_zero_repeating_group(dd: DataDictionary) -> None:
    body = (
        "35=d|34=2|49=TW|56=ISLD|52=<TIME>|320=JCD1091-20021011|322=1034356488676|323=6"
        "|55=TBS|22=8|167=CS|336=ONE_MAIN|58=No Products found for this Class Symbol|454=0"
    )
    assert dd.validate(msg(body)) is None


def test_2q_invalid_msg_type(dd: DataDictionary) -> None:
    assert dd.validate(msg("35=*|34=2|49=TW|52=<TIME>|56=ISLD")) == rej(11, 35)


def test_qfj934_missing_delimiter_in_nested_group(dd: DataDictionary) -> None:
    body = (
        "35=C|34=2|49=TW|56=ISLD|52=<TIME>|164=thread-id|94=0|147=subject"
        "|146=1|864=1|865=1|33=1|58=test|354=1|355=1"
    )
    assert dd.validate(msg(body)) == rej(15, 864, "The group 146 must set the delimiter field 55")


@pytest.mark.parametrize(
    "routing", ["115=JCD", "128=JCD", "115=JCD|116=CS", "128=JCD|129=CS|145=CHI"]
)
def test_routing_header_fields(dd: DataDictionary, routing: str) -> None:
    fields = msg(
        f"35=D|34=2|49=TW|52=<TIME>|56=ISLD|{routing}|11=ID|21=3|38=100|40=1|54=1|55=X|60=<TIME>"
    )
    assert dd.validate(fields) is None
    bad = msg(
        f"35=D|34=2|49=TW|52=<TIME>|56=ISLD|{routing}|11=ID|21=3|38=100|40=w|54=1|55=X|60=<TIME>"
    )
    assert dd.validate(bad) == rej(5, 40)


# -- other rules ----------------------------------------------------------------------------


def test_valid_admin_messages(dd: DataDictionary) -> None:
    assert dd.validate(msg(HB)) is None
    assert dd.validate(msg("35=A|34=1|49=TW|52=<TIME>|56=ISLD|98=0|108=30")) is None
    assert dd.validate(msg("35=A|34=1|49=TW|52=<TIME>|56=ISLD|98=0|108=-10")) is None  # INT
    assert dd.validate(msg("35=4|34=1|49=TW|52=<TIME>|56=ISLD|123=Y|36=5")) is None
    assert dd.validate(msg("35=2|34=1|49=TW|52=<TIME>|56=ISLD|7=1|16=0")) is None
    resend = "35=0|34=2|43=Y|49=TW|52=<TIME>|122=<TIME>|56=ISLD"
    assert dd.validate(msg(resend)) is None


def test_execution_report_with_nested_groups(dd: DataDictionary) -> None:
    body = (
        "35=8|34=3|49=ISLD|52=<TIME>|56=TW|37=O1|11=C1|17=E1|150=F|39=2"
        "|453=2|448=LP1|447=D|452=1|802=1|523=desk|803=1|448=TW|447=D|452=3"
        "|55=EUR/USD|54=1|38=1000000|151=0|14=1000000|6=1.08505|31=1.08505|32=1000000"
    )
    assert dd.validate(msg(body)) is None
    assert dd.validate(msg(body.replace("453=2", "453=3"))) == rej(16, 453)
    assert dd.validate(msg(body.replace("802=1", "802=2"))) == rej(16, 802)
    out_of_order = body.replace("448=LP1|447=D|452=1", "448=LP1|452=1|447=D")
    assert dd.validate(msg(out_of_order)) == rej(15, 447)


def test_group_member_outside_its_group(dd: DataDictionary) -> None:
    assert dd.validate(msg(NOS + "|336=PRE-OPEN")) == rej(2, 336)


def test_required_field_inside_group_instance(dd: DataDictionary) -> None:
    # MarketDataSnapshotFullRefresh: NoMDEntries members MDEntryType (delimiter), MDEntryPx...
    snapshot = "35=W|34=2|49=LP|52=<TIME>|56=GW|55=EUR/USD|268=2|269=0|270=1.085|269=1|270=1.086"
    assert dd.validate(msg(snapshot)) is None
    missing_group = "35=W|34=2|49=LP|52=<TIME>|56=GW|55=EUR/USD"
    assert dd.validate(msg(missing_group)) == rej(1, 268)
    layout = dd.group_layout(b"W", 268)
    assert layout is not None and layout[0] == 269


def test_required_member_missing_from_one_instance(dd: DataDictionary) -> None:
    # NewOrderCross: NoSides (552) instances start with Side (54) and require ClOrdID (11).
    cross = "35=s|34=2|49=TW|52=<TIME>|56=ISLD|548=X1|549=1|550=0|552=2|54=1|11=A|54=2|11=B"
    cross_end = "|55=EUR/USD|60=<TIME>|40=1"
    assert dd.validate(msg(cross + cross_end)) is None
    assert dd.validate(msg(cross.removesuffix("|11=B") + cross_end)) == rej(1, 11)


@pytest.mark.parametrize(
    ("field", "ok"),
    [
        ("60=20261121-10:00:00", True),
        ("60=20261121-10:00:00.123456", True),
        ("60=20261121-10:00:00.123456789", True),
        ("60=20261121-23:59:60.000", True),  # leap second
        ("60=20240229-10:00:00.000", True),
        ("60=20040415", False),
        ("60=20230229-10:00:00.000", False),
        ("60=20261131-10:00:00.000", False),
        ("60=20261321-10:00:00.000", False),
        ("60=20261121-24:00:00.000", False),
        ("60=20261121-10:00:00.12", False),
        ("60=20261121 10:00:00.000", False),
        ("38=1.", True),
        ("38=.5", True),
        ("38=-5", True),
        ("38=1e5", False),
        ("38= 100", False),
        ("38=1.2.3", False),
        ("75=20261121", True),  # TradeDate LOCALMKTDATE
        ("75=2026-11-21", False),
        ("126=20261121-10:00:00", True),  # ExpireTime
        ("432=20261121", True),  # ExpireDate
        ("432=20261200", False),
    ],
)
def test_data_formats(dd: DataDictionary, field: str, ok: bool) -> None:
    tag = field.split("=")[0]
    body = "|".join(f for f in NOS.split("|") if not f.startswith(f"{tag}="))
    assert dd.validate(msg(f"{body}|{field}")) == (None if ok else rej(6, int(tag)))


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("34=-1", rej(6, 34)),  # SEQNUM is never negative
        ("43=X", rej(6, 43)),  # BOOLEAN
        ("43=N", None),
        ("108=abc", rej(6, 108)),
    ],
)
def test_header_and_session_formats(
    dd: DataDictionary, field: str, expected: Rejection | None
) -> None:
    tag = field.split("=")[0]
    base = "35=A|34=1|49=TW|52=<TIME>|56=ISLD|98=0|108=30"
    if f"|{tag}=" in base:
        body = "|".join(f if not f.startswith(f"{tag}=") else field for f in base.split("|"))
    else:
        body = base.replace("|49=", f"|{field}|49=")
    assert dd.validate(msg(body)) == expected


def test_multiple_value_string(dd: DataDictionary) -> None:
    assert dd.validate(msg(NOS + "|18=1 2")) is None
    assert dd.validate(msg(NOS + "|18=1 ZZ")) == rej(5, 18)


def test_month_year(dd: DataDictionary) -> None:
    for value, ok in [("202612", True), ("20261215", True), ("202612w2", True), ("202613", False)]:
        result = dd.validate(msg(NOS + f"|200={value}"))
        assert result == (None if ok else rej(6, 200)), value


# -- precedence -----------------------------------------------------------------------------


def test_earlier_empty_value_beats_later_invalid_tag(dd: DataDictionary) -> None:
    assert dd.validate(msg(f"{HB}|112=|999=X")) == rej(4, 112)
    assert dd.validate(msg(f"{HB}|999=X|112=")) == rej(0, 999)
    assert dd.validate(msg(f"{HB}|999=")) == rej(4, 999)


def test_precedence_between_kinds(dd: DataDictionary) -> None:
    # invalid tag beats header order, header order beats repeats, repeats beat MsgType ...
    assert dd.validate(msg(NOS + "|34=2|999=X")) == rej(0, 999)
    assert dd.validate(msg(NOS + "|40=1|34=2")) == rej(14, 34)
    assert dd.validate(msg("35=*|34=2|49=TW|52=<TIME>|56=ISLD|58=a|58=b")) == rej(13, 58)
    assert dd.validate(msg("35=*|34=2|49=TW|52=<TIME>|56=ISLD|38=+1")) == rej(11, 35)
    # ... not-in-message beats format beats enum beats required beats group count.
    assert dd.validate(msg(NOS.replace("002000.00", "x") + "|112=T")) == rej(2, 112)
    assert dd.validate(msg(NOS.replace("21=1", "21=9").replace("002000.00", "x"))) == rej(6, 38)
    assert dd.validate(msg(NOS.replace("|55=INTC", "").replace("21=1", "21=9"))) == rej(5, 21)
    no_symbol = NOS.replace("|55=INTC", "") + "|386=2|336=A"
    assert dd.validate(msg(no_symbol)) == rej(1, 55)


def test_first_problem_of_a_kind_in_wire_order(dd: DataDictionary) -> None:
    assert dd.validate(msg(NOS.replace("21=1", "21=9").replace("40=1", "40=w"))) == rej(5, 21)
    assert dd.validate(msg(NOS + "|112=a|117=b")) == rej(2, 112)


# -- options --------------------------------------------------------------------------------


def test_allow_unknown_msg_fields(dd: DataDictionary) -> None:
    allow = ValidationOptions(allow_unknown_msg_fields=True)
    assert dd.validate(msg(f"{HB}|55=MSFT"), allow) is None
    assert dd.validate(msg(f"{HB}|999=HI"), allow) is None  # unknown, below 5000
    assert dd.validate(msg(f"{HB}|5000=HI"), allow) == rej(0, 5000)
    assert dd.validate(msg(f"{HB}|0=HI"), allow) == rej(0, 0)


def test_check_user_defined_fields_off(dd: DataDictionary) -> None:
    relaxed = ValidationOptions(check_user_defined_fields=False)
    assert dd.validate(msg(f"{HB}|5000=HI|9999=X"), relaxed) is None
    assert dd.validate(msg(f"{HB}|4999=HI"), relaxed) == rej(0, 4999)


def test_user_defined_fields(dd: DataDictionary) -> None:
    lp = ValidationOptions(user_defined_fields=frozenset({7001, 999, 55}))
    assert dd.validate(msg(f"{HB}|7001=x|999=y|55=Z"), lp) is None
    assert dd.validate(msg(f"{HB}|7002=x"), lp) == rej(0, 7002)
    # LP tags inside repeating-group instances do not end the group
    snapshot = "35=W|34=2|49=LP|52=<TIME>|56=GW|55=EUR/USD|268=2|269=0|270=1.085|7001=q1"
    snapshot += "|269=1|270=1.086|7001=q2"
    assert dd.validate(msg(snapshot), lp) is None
    assert dd.validate(msg(snapshot)) == rej(0, 7001)


def test_check_fields_have_values_off(dd: DataDictionary) -> None:
    relaxed = ValidationOptions(check_fields_have_values=False)
    assert dd.validate(msg(f"{HB}|112="), relaxed) is None
    assert dd.validate(msg(NOS + "|38="), relaxed) == rej(13, 38)
    assert dd.validate(msg(NOS.replace("21=1", "21=")), relaxed) == rej(5, 21)  # as QuickFIX


# -- groups ---------------------------------------------------------------------------------


def test_group_layout(dd: DataDictionary) -> None:
    layout = dd.group_layout(b"D", 78)
    assert layout is not None
    assert layout[:4] == (79, 661, 736, 467) and layout[-1] == 80
    related_sym = dd.group_layout(b"C", 146)
    assert related_sym is not None and related_sym[0] == 55  # first field of Instrument
    assert dd.group_layout(b"C", 864) == (865, 866, 867, 868)  # nested in 146's Instrument
    assert dd.group_layout(b"0", 627) == (628, 629, 630)  # header NoHops
    assert dd.group_layout(b"D", 999) is None


def test_read_group(dd: DataDictionary) -> None:
    fields = msg(NOS + "|453=2|448=A|447=D|452=1|802=1|523=s|803=1|448=B|58=after")
    index = next(i for i, (tag, _) in enumerate(fields) if tag == 453)
    instances, end = dd.read_group(fields, index, b"D")
    assert [list(i) for i in instances] == [
        [(448, b"A"), (447, b"D"), (452, b"1"), (802, b"1"), (523, b"s"), (803, b"1")],
        [(448, b"B")],
    ]
    assert fields[end] == (58, b"after")
    assert list(dd.iter_group(fields, index, b"D")) == instances
    zero = msg(NOS + "|453=0|58=x")
    index = next(i for i, (tag, _) in enumerate(zero) if tag == 453)
    assert dd.read_group(zero, index, b"D") == ([], index + 1)


# -- structure without a dictionary ---------------------------------------------------------


def test_validate_structure() -> None:
    assert validate_structure(msg(HB), "FIX.4.4") is None
    assert validate_structure(msg(f"{HB}|0=x"), "FIX.4.4") == rej(0, 0)
    assert validate_structure(msg(f"{HB}|-1=x"), "FIX.4.4") == rej(0, -1)
    assert validate_structure(msg("35=0|34=2|49=TW|52=<TIME>|56="), "FIX.4.4") == rej(4, 56)


def test_reject_texts_cover_every_reason() -> None:
    assert set(REJECT_TEXT) == set(SessionRejectReason)
    assert REJECT_TEXT[SessionRejectReason.TAG_SPECIFIED_WITHOUT_A_VALUE] == (
        "Tag specified without a value"
    )
    assert SessionRejectReason.INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP == 16


# -- robustness -----------------------------------------------------------------------------

KNOWN_TAGS = [8, 9, 35, 34, 49, 52, 56, 10, 11, 21, 38, 40, 54, 55, 60, 78, 79, 80, 661]
KNOWN_TAGS += [146, 864, 865, 453, 448, 447, 452, 802, 523, 268, 269, 270, 386, 336, 627, 628]
tags = st.one_of(st.sampled_from(KNOWN_TAGS), st.integers(-3, 1200), st.integers(4990, 10**12))
values = st.one_of(
    st.sampled_from(
        [b"", b"0", b"1", b"2", b"D", b"W", b"C", b"8", b"Y", b"-1", b"x", TIME.encode()]
    ),
    st.binary(max_size=24),
    st.text(alphabet="0123456789", max_size=6000).map(str.encode),
)
options = st.builds(
    ValidationOptions,
    check_fields_out_of_order=st.booleans(),
    check_fields_have_values=st.booleans(),
    check_user_defined_fields=st.booleans(),
    check_unordered_group_fields=st.booleans(),
    allow_unknown_msg_fields=st.booleans(),
    user_defined_fields=st.frozensets(st.integers(1, 10000), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(fields=st.lists(st.tuples(tags, values), max_size=40), opts=options)
def test_validate_never_raises(dd: DataDictionary, fields: Fields, opts: ValidationOptions) -> None:
    result = dd.validate(fields, opts)
    assert result is None or (result.reason in REJECT_TEXT and result.text)
    structural = validate_structure(fields, "FIX.4.4")
    assert structural is None or structural.reason in (0, 4)


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(0, 40),
    extra=st.lists(st.tuples(tags, values), max_size=6),
    where=st.integers(0, 40),
)
def test_mutated_messages_never_raise(
    dd: DataDictionary, cut: int, extra: Fields, where: int
) -> None:
    base = msg(
        "35=8|34=3|49=ISLD|52=<TIME>|56=TW|37=O1|17=E1|150=F|39=2|453=2|448=LP1|447=D|452=1"
        "|802=1|523=desk|803=1|448=TW|447=D|452=3|55=EUR/USD|54=1|151=0|14=1|6=1.1"
    )
    fields = base[:cut] + base[cut + 1 :]
    fields[where:where] = extra
    result = dd.validate(fields)
    assert result is None or isinstance(result.reason, int)
    for index, (tag, _) in enumerate(fields):
        if dd.group_layout(b"8", tag) is not None:
            instances, end = dd.read_group(fields, index, b"8")
            assert index < end <= len(fields)
            assert all(instances)
