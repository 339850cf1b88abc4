"""FIX data dictionary: load QuickFIX-format XML specs and validate parsed messages.

Validation answers with the SessionRejectReason(373), RefTagID(371) and Text(58) that
QuickFIX would put in a session-level Reject, so the session layer passes the FIX
"Session-level Test Cases" (14a-14j, 21, ...). This module must stay pure: the only I/O is
reading the XML once (cached), no asyncio, no clock, no logging. `validate` runs on every
inbound message, so everything it needs is precomputed at load time and no string is built
unless a Rejection is returned.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

__all__ = [
    "REJECT_TEXT",
    "DataDictionary",
    "Rejection",
    "SessionRejectReason",
    "ValidationOptions",
    "validate_structure",
]

Fields = Sequence[tuple[int, bytes]]


class SessionRejectReason(IntEnum):
    """SessionRejectReason (373) codes."""

    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_SPECIFIED_WITHOUT_A_VALUE = 4
    VALUE_IS_INCORRECT = 5
    INCORRECT_DATA_FORMAT_FOR_VALUE = 6
    DECRYPTION_PROBLEM = 7
    SIGNATURE_PROBLEM = 8
    COMPID_PROBLEM = 9
    SENDINGTIME_ACCURACY_PROBLEM = 10
    INVALID_MSGTYPE = 11
    TAG_APPEARS_MORE_THAN_ONCE = 13
    TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER = 14
    REPEATING_GROUP_FIELDS_OUT_OF_ORDER = 15
    INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP = 16
    NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER = 17
    OTHER = 99


_R = SessionRejectReason

# Text (58) worded as QuickFIX words it.
REJECT_TEXT: Final[dict[int, str]] = {
    _R.INVALID_TAG_NUMBER: "Invalid tag number",
    _R.REQUIRED_TAG_MISSING: "Required tag missing",
    _R.TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE: "Tag not defined for this message type",
    _R.UNDEFINED_TAG: "Undefined Tag",
    _R.TAG_SPECIFIED_WITHOUT_A_VALUE: "Tag specified without a value",
    _R.VALUE_IS_INCORRECT: "Value is incorrect (out of range) for this tag",
    _R.INCORRECT_DATA_FORMAT_FOR_VALUE: "Incorrect data format for value",
    _R.DECRYPTION_PROBLEM: "Decryption problem",
    _R.SIGNATURE_PROBLEM: "Signature problem",
    _R.COMPID_PROBLEM: "CompID problem",
    _R.SENDINGTIME_ACCURACY_PROBLEM: "SendingTime accuracy problem",
    _R.INVALID_MSGTYPE: "Invalid MsgType",
    _R.TAG_APPEARS_MORE_THAN_ONCE: "Tag appears more than once",
    _R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER: "Tag specified out of required order",
    _R.REPEATING_GROUP_FIELDS_OUT_OF_ORDER: "Out of order repeating group members",
    _R.INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP: (
        "Incorrect NumInGroup count for repeating group"
    ),
    _R.NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER: (
        "Non Data value includes field delimiter (SOH character)"
    ),
    _R.OTHER: "Other",
}

USER_DEFINED_TAG_MIN: Final = 5000


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message is rejected: the content of a session-level Reject (35=3)."""

    reason: int  # SessionRejectReason (373)
    ref_tag: int | None  # RefTagID (371)
    text: str  # Text (58)


def _reject(reason: SessionRejectReason, tag: int | None) -> Rejection:
    return Rejection(int(reason), tag, REJECT_TEXT[reason])


@dataclass(frozen=True)
class ValidationOptions:
    """The QuickFIX session settings that change validation."""

    check_fields_out_of_order: bool = True  # ValidateFieldsOutOfOrder
    check_fields_have_values: bool = True  # ValidateFieldsHaveValues
    check_user_defined_fields: bool = True  # ValidateUserDefinedFields (tags >= 5000)
    check_unordered_group_fields: bool = True  # ValidateUnorderedGroupFields
    allow_unknown_msg_fields: bool = False  # AllowUnknownMsgFields (tags < 5000)
    # Extra tags allowed on any message, also inside repeating-group instances (LP custom tags).
    user_defined_fields: frozenset[int] = frozenset()


DEFAULT_OPTIONS: Final = ValidationOptions()


def validate_structure(fields: Fields, begin_string: str = "") -> Rejection | None:
    """Check what needs no dictionary: every tag positive and every value non-empty.

    `begin_string` is accepted for symmetry with DataDictionary; these rules are the same
    for every FIX version.
    """
    for tag, value in fields:
        if not value:
            return _reject(_R.TAG_SPECIFIED_WITHOUT_A_VALUE, tag)
        if tag <= 0:
            return _reject(_R.INVALID_TAG_NUMBER, tag)
    return None


# ---------------------------------------------------------------------------
# Value formats (FIX data types). Each checker takes a non-empty value.

# Date and time to the second, ranges included; day 29-31 gets a calendar check after.
_DATE: Final = rb"\d{4}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_TIME: Final = rb"(?:[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)"  # 60: leap second
_FRACTION: Final = rb"(?:\.\d{3}|\.\d{6}|\.\d{9})?"
_TIMESTAMP_HEAD: Final = re.compile(_DATE + rb"-" + _TIME).fullmatch
_TIMEONLY_RE: Final = re.compile(_TIME + _FRACTION)
_DATE_RE: Final = re.compile(_DATE)
_MONTHYEAR_RE: Final = re.compile(rb"\d{4}(?:0[1-9]|1[0-2])(?:\d\d|w[1-5])?")
_MAX_DAY: Final = {
    b"01": b"31", b"02": b"29", b"03": b"31", b"04": b"30", b"05": b"31", b"06": b"30",
    b"07": b"31", b"08": b"31", b"09": b"30", b"10": b"31", b"11": b"30", b"12": b"31",
}  # fmt: skip
# Timestamps of one second share their first 17 bytes (SendingTime, TransactTime, ...):
# remember the verdict on recent ones. Bounded, and only ever a cache of a pure function.
_TIMESTAMP_HEADS: dict[bytes, bool] = {}


def _is_int(v: bytes) -> bool:
    return v.isdigit() or (v[:1] == b"-" and v[1:].isdigit())


def _is_uint(v: bytes) -> bool:
    return v.isdigit()


def _is_float(v: bytes) -> bool:
    """-?digits[.digits], at least one digit: no sign '+', exponent or spaces."""
    if v.isdigit():
        return True
    head, _, tail = v.partition(b".")
    if head[:1] == b"-":
        head = head[1:]
    if tail:
        return tail.isdigit() and (not head or head.isdigit())
    return head.isdigit()


def _is_char(v: bytes) -> bool:
    return len(v) == 1


def _is_bool(v: bytes) -> bool:
    return v == b"Y" or v == b"N"


def _valid_date(d: bytes) -> bool:
    """`d` is YYYYMMDD with month and day within 01-12 / 01-31 already checked."""
    day = d[6:8]
    if day < b"29":
        return True
    if day > _MAX_DAY[d[4:6]]:
        return False
    if day == b"29" and d[4:6] == b"02":
        year = int(d[:4])
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


def _is_utc_timestamp(v: bytes) -> bool:
    head = v[:17]
    ok = _TIMESTAMP_HEADS.get(head)
    if ok is None:
        ok = _TIMESTAMP_HEAD(head) is not None and _valid_date(head)
        if len(_TIMESTAMP_HEADS) >= 1024:
            _TIMESTAMP_HEADS.clear()
        _TIMESTAMP_HEADS[head] = ok
    if not ok:
        return False
    n = len(v)
    return n == 17 or ((n == 21 or n == 24 or n == 27) and v[17] == 46 and v[18:].isdigit())


def _is_utc_time_only(v: bytes) -> bool:
    return _TIMEONLY_RE.fullmatch(v) is not None


def _is_date(v: bytes) -> bool:
    return _DATE_RE.fullmatch(v) is not None and _valid_date(v)


def _is_month_year(v: bytes) -> bool:
    if _MONTHYEAR_RE.fullmatch(v) is None:
        return False
    if len(v) == 8 and v[6:7] != b"w":
        return _DATE_RE.fullmatch(v) is not None and _valid_date(v)
    return True


def _is_char_list(v: bytes) -> bool:
    return all(len(item) == 1 for item in v.split(b" "))


Checker = Callable[[bytes], bool]

_CHECKERS: Final[dict[str, Checker]] = {
    "INT": _is_int,
    "TAGNUM": _is_int,
    "DAYOFMONTH": _is_int,
    "LENGTH": _is_uint,
    "NUMINGROUP": _is_uint,
    "SEQNUM": _is_uint,
    "FLOAT": _is_float,
    "QTY": _is_float,
    "PRICE": _is_float,
    "PRICEOFFSET": _is_float,
    "AMT": _is_float,
    "PERCENTAGE": _is_float,
    "CHAR": _is_char,
    "BOOLEAN": _is_bool,
    "UTCTIMESTAMP": _is_utc_timestamp,
    "TIME": _is_utc_timestamp,
    "UTCTIMEONLY": _is_utc_time_only,
    "UTCDATEONLY": _is_date,
    "UTCDATE": _is_date,
    "LOCALMKTDATE": _is_date,
    "MONTHYEAR": _is_month_year,
    "MULTIPLECHARVALUE": _is_char_list,
}
_MULTI_VALUE_TYPES: Final = frozenset(
    {"MULTIPLEVALUESTRING", "MULTIPLECHARVALUE", "MULTIPLESTRINGVALUE"}
)


# ---------------------------------------------------------------------------
# Compiled dictionary model


class _Field:
    __slots__ = ("check", "enums", "multi", "name", "tag", "type")

    def __init__(self, tag: int, name: str, type_: str, enums: frozenset[bytes] | None) -> None:
        self.tag = tag
        self.name = name
        self.type = type_
        self.check: Checker | None = _CHECKERS.get(type_)
        self.enums = enums
        self.multi = type_ in _MULTI_VALUE_TYPES


class _Group:
    """A repeating group: count tag, delimiter (first member) and member order."""

    __slots__ = ("count_tag", "delimiter", "groups", "layout", "order", "required", "required_rest")

    def __init__(
        self,
        count_tag: int,
        layout: tuple[int, ...],
        required: tuple[int, ...],
        groups: dict[int, _Group],
    ) -> None:
        self.count_tag = count_tag
        self.layout = layout
        self.delimiter = layout[0]
        self.order = {tag: pos for pos, tag in reversed(list(enumerate(layout)))}
        self.required = required
        # Required members other than the delimiter (which starts every instance anyway).
        self.required_rest = tuple(t for t in required if t != self.delimiter)
        self.groups = groups  # nested groups by count tag


class _Section:
    """Header, trailer or one message type's body, with components flattened."""

    __slots__ = ("category", "groups", "layout", "msg_type", "name", "required", "tags")

    def __init__(
        self,
        name: str,
        category: str,
        layout: tuple[int, ...],
        required: tuple[int, ...],
        groups: dict[int, _Group],
        msg_type: bytes = b"",
    ) -> None:
        self.name = name
        self.msg_type = msg_type
        self.category = category
        self.layout = layout
        self.tags = frozenset(layout)  # top-level tags (fields and group count tags)
        self.required = required
        self.groups = groups


_EMPTY_SECTION: Final = _Section("", "", (), (), {})

# What validation needs of a field: format checker, listed values, multi-value type.
_Spec3 = tuple[Checker | None, frozenset[bytes] | None, bool]
_UNDEFINED: Final[_Spec3] = (None, None, False)  # an allowed tag the dictionary lacks

# Where a top-level tag belongs. The hot loop spells these as literals (faster than globals).
_HEADER, _BODY, _TRAILER, _HEADER_OR_BODY = 0, 1, 2, 3  # 3: header until the body starts
_Where = tuple[int, "_Group | None", Checker | None, frozenset[bytes] | None, bool]


class _Plan:
    """Everything `validate` needs for one MsgType, precomputed on first use."""

    __slots__ = ("msg", "required", "required_set", "where")

    def __init__(
        self, msg: _Section | None, where: dict[int, _Where], required: tuple[int, ...]
    ) -> None:
        self.msg = msg
        self.where = where  # top-level tag -> (section, group, checker, enums, multi)
        self.required = required  # header, body, trailer: in the order they are reported
        self.required_set = frozenset(required)


# QuickFIX/J's FIX44.xml marks these component fields required where the QuickFIX (C++)
# one says "N"; the FIX44 session test cases (14b: NewOrderSingle without Symbol is
# rejected with RefTagID 55) expect QuickFIX/J's reading.
QFJ_REQUIRED_COMPONENT_FIELDS: Final[dict[str, dict[str, frozenset[str]]]] = {
    "FIX.4.4": {
        "Instrument": frozenset({"Symbol"}),
        "UnderlyingInstrument": frozenset({"UnderlyingSymbol"}),
    },
}


class _Spec:
    """One XML file, read into fields, components and sections."""

    def __init__(self, path: str, qfj_compat: bool = True) -> None:
        root = ET.parse(path).getroot()
        if root.tag != "fix":
            raise ValueError(f"{path}: root element is <{root.tag}>, expected <fix>")
        kind = root.get("type", "FIX")
        major, minor = root.get("major", "0"), root.get("minor", "0")
        self.version = f"{kind}.{major}.{minor}"
        sp = root.get("servicepack", "0")
        self.full_version = self.version + (f"SP{sp}" if sp not in ("", "0") else "")

        self.fields: dict[int, _Field] = {}
        self.numbers: dict[str, int] = {}
        for node in root.iterfind("fields/field"):
            tag, name = int(node.get("number", "")), node.get("name", "")
            values = node.findall("value")
            enums = frozenset(v.get("enum", "").encode() for v in values) if values else None
            self.fields[tag] = _Field(tag, name, node.get("type", "STRING").upper(), enums)
            self.numbers[name] = tag

        self._components = {c.get("name", ""): c for c in root.iterfind("components/component")}
        self._overrides = QFJ_REQUIRED_COMPONENT_FIELDS.get(self.version, {}) if qfj_compat else {}
        self._flat: dict[tuple[str, bool], tuple[list[int], list[int], dict[int, _Group]]] = {}

        self.header = self._section(root.find("header"), "header", "")
        self.trailer = self._section(root.find("trailer"), "trailer", "")
        self.messages: dict[bytes, _Section] = {}
        for node in root.iterfind("messages/message"):
            msg_type = node.get("msgtype", "").encode()
            self.messages[msg_type] = self._section(
                node, node.get("name", ""), node.get("msgcat", "app"), msg_type
            )

    def _section(
        self, node: ET.Element | None, name: str, category: str, msg_type: bytes = b""
    ) -> _Section:
        if node is None:
            return _Section(name, category, (), (), {}, msg_type)
        layout, required, groups = self._flatten(node, True)
        return _Section(name, category, _dedupe(layout), tuple(required), groups, msg_type)

    def _flatten(
        self, node: ET.Element, required_ctx: bool, component: str = ""
    ) -> tuple[list[int], list[int], dict[int, _Group]]:
        """Member tags in order, required tags, and groups of a message/component/group."""
        layout: list[int] = []
        required: list[int] = []
        groups: dict[int, _Group] = {}
        forced = self._overrides.get(component, frozenset())
        for child in node:
            name = child.get("name", "")
            is_required = required_ctx and (
                child.get("required", "N").upper() == "Y" or name in forced
            )
            if child.tag == "component":
                sub = self._component(name, is_required)
                layout += sub[0]
                required += sub[1]
                groups.update(sub[2])
                continue
            tag = self._number(name)
            layout.append(tag)
            if is_required:
                required.append(tag)
            if child.tag == "group":
                groups[tag] = self._group(tag, child)
        return layout, required, groups

    def _component(
        self, name: str, required_ctx: bool
    ) -> tuple[list[int], list[int], dict[int, _Group]]:
        key = (name, required_ctx)
        flat = self._flat.get(key)
        if flat is None:
            node = self._components.get(name)
            if node is None:
                raise ValueError(f"component {name!r} is used but not defined")
            flat = self._flat[key] = self._flatten(node, required_ctx, name)
        return flat

    def _group(self, count_tag: int, node: ET.Element) -> _Group:
        layout, required, groups = self._flatten(node, True)
        if not layout:
            raise ValueError(f"group {node.get('name')!r} has no members")
        return _Group(count_tag, _dedupe(layout), tuple(required), groups)

    def _number(self, name: str) -> int:
        tag = self.numbers.get(name)
        if tag is None:
            raise ValueError(f"field {name!r} is used but not defined in <fields>")
        return tag


def _dedupe(tags: list[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(tags))


class _Fatal(Exception):
    """Stops a scan at the first per-field error (tag number or empty value)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.text)
        self.rejection = rejection


class _Scan:
    """What scanning repeating groups found: the first problem of each kind, and where."""

    __slots__ = ("count", "count_index", "enum", "format", "group", "group_required", "spans")

    def __init__(self) -> None:
        self.group: Rejection | None = None  # repeating-group structure (15)
        self.format: int | None = None
        self.enum: int | None = None
        self.group_required: int | None = None
        self.count: int | None = None  # NumInGroup count (16)
        self.count_index = 0
        self.spans: list[tuple[int, int]] = []  # index ranges of top-level groups' instances


def _outside(fields: Fields, spans: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
    """The fields not inside any of the (start, end) index ranges."""
    top: list[tuple[int, bytes]] = []
    start = 0
    for begin, end in spans:
        top.extend(fields[start:begin])
        start = end
    top.extend(fields[start:])
    return top


def _first_repeat(fields: Fields) -> int:
    seen: set[int] = set()
    for tag, _ in fields:
        if tag in seen:
            return tag
        seen.add(tag)
    raise AssertionError("no repeated tag")


_CACHE: dict[tuple[str, str | None, bool], DataDictionary] = {}


class DataDictionary:
    """A FIX version's header, trailer, messages and fields, ready to validate messages.

    For FIX 5.0 and later the header, trailer and session messages come from the transport
    dictionary (FIXT11.xml) and the application messages from the application one.
    """

    begin_string: str
    app_version: str

    def __init__(self, app: _Spec, transport: _Spec | None = None) -> None:
        session = transport or app
        if not session.header.layout:
            raise ValueError(
                f"{app.full_version} defines no header: load it with transport_path= "
                "(FIXT11.xml) for the header, trailer and session messages"
            )
        self.begin_string = session.version
        self.app_version = app.full_version
        fields = dict(app.fields)
        if transport is not None:
            for tag, fdef in transport.fields.items():
                mine = fields.get(tag)
                if mine is None:
                    fields[tag] = fdef
                elif mine.enums is not None and fdef.enums is not None:
                    fields[tag] = _Field(tag, mine.name, mine.type, mine.enums | fdef.enums)
        msg_type_field = fields.get(35)
        if msg_type_field is not None:
            # MsgType is judged against <messages> (reason 11), not the field's enum list.
            fields[35] = _Field(35, msg_type_field.name, msg_type_field.type, None)
        self._fields = fields
        self._specs: dict[int, _Spec3] = {t: (f.check, f.enums, f.multi) for t, f in fields.items()}
        self._header = session.header
        self._trailer = session.trailer
        messages = dict(app.messages)
        if transport is not None:
            messages.update({t: m for t, m in transport.messages.items() if m.category == "admin"})
        self._messages = messages
        self._header_tags = frozenset(self._all_tags(self._header))
        self._trailer_tags = frozenset(self._all_tags(self._trailer))
        base: dict[int, _Where] = {}
        for tag in self._header.layout:
            base[tag] = (_HEADER, self._header.groups.get(tag), *self._spec(tag))
        for tag in self._trailer.layout:
            base.setdefault(tag, (_TRAILER, None, *self._spec(tag)))
        self._no_plan = _Plan(None, base, ())  # unknown MsgType: header and trailer only
        self._plans: dict[bytes, _Plan] = {}

    def _spec(self, tag: int) -> _Spec3:
        return self._specs.get(tag, _UNDEFINED)

    def _plan(self, msg_type: bytes | None) -> _Plan:
        if msg_type is None:
            return self._no_plan
        plan = self._plans.get(msg_type)
        if plan is not None:
            return plan
        msg = self._messages.get(msg_type)
        if msg is None:
            return self._no_plan
        where = dict(self._no_plan.where)
        for tag in msg.layout:
            known = where.get(tag)
            if known is None:
                where[tag] = (_BODY, msg.groups.get(tag), *self._spec(tag))
            elif known[0] == _HEADER:
                where[tag] = (_HEADER_OR_BODY, msg.groups.get(tag), *known[2:])
        required = self._header.required + msg.required + self._trailer.required
        plan = self._plans[msg_type] = _Plan(msg, where, required)
        return plan

    @staticmethod
    def _all_tags(section: _Section) -> set[int]:
        tags = set(section.layout)
        todo = list(section.groups.values())
        while todo:
            group = todo.pop()
            tags.update(group.layout)
            todo.extend(group.groups.values())
        return tags

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        transport_path: str | os.PathLike[str] | None = None,
        *,
        qfj_compat: bool = True,
    ) -> DataDictionary:
        """Load an application spec and, for FIX 5.0+, its transport spec (FIXT11.xml).

        Cached per absolute paths: loading parses the XML. `qfj_compat` applies
        QFJ_REQUIRED_COMPONENT_FIELDS (the QuickFIX/J reading the session tests expect).
        """
        app_key = os.path.abspath(path)
        transport_key = os.path.abspath(transport_path) if transport_path is not None else None
        key = (app_key, transport_key, qfj_compat)
        cached = _CACHE.get(key)
        if cached is None:
            transport = _Spec(transport_key, qfj_compat) if transport_key is not None else None
            cached = _CACHE[key] = cls(_Spec(app_key, qfj_compat), transport)
        return cached

    # -- lookups ------------------------------------------------------------

    def is_header_field(self, tag: int) -> bool:
        return tag in self._header_tags

    def is_trailer_field(self, tag: int) -> bool:
        return tag in self._trailer_tags

    def field_name(self, tag: int) -> str | None:
        fdef = self._fields.get(tag)
        return fdef.name if fdef is not None else None

    def field_type(self, tag: int) -> str | None:
        fdef = self._fields.get(tag)
        return fdef.type if fdef is not None else None

    def is_valid_msg_type(self, msg_type: bytes) -> bool:
        return msg_type in self._messages

    def is_app_message(self, msg_type: bytes) -> bool:
        msg = self._messages.get(msg_type)
        return msg is not None and msg.category == "app"

    def message_name(self, msg_type: bytes) -> str | None:
        msg = self._messages.get(msg_type)
        return msg.name if msg is not None else None

    def _find_group(self, msg_type: bytes, count_tag: int) -> _Group | None:
        msg = self._messages.get(msg_type, _EMPTY_SECTION)
        todo = [msg.groups, self._header.groups]
        while todo:
            groups = todo.pop(0)
            group = groups.get(count_tag)
            if group is not None:
                return group
            todo.extend(g.groups for g in groups.values())
        return None

    def group_layout(self, msg_type: bytes, count_tag: int) -> tuple[int, ...] | None:
        """Member tags of a repeating group in dictionary order, delimiter first."""
        group = self._find_group(msg_type, count_tag)
        return group.layout if group is not None else None

    def read_group(self, fields: Fields, index: int, msg_type: bytes) -> tuple[list[Fields], int]:
        """Split the repeating group whose NumInGroup field is fields[index] into instances.

        Returns the instances (slices of `fields`, nested groups included) and the index of
        the first field after the group. No validation: see `validate` for that.
        """
        group = self._find_group(msg_type, fields[index][0])
        if group is None:
            return [], index + 1
        starts: list[int] = []
        end = _span(fields, index + 1, group, starts)
        bounds = [*starts, end]
        return [fields[bounds[k] : bounds[k + 1]] for k in range(len(starts))], end

    def iter_group(self, fields: Fields, index: int, msg_type: bytes) -> Iterator[Fields]:
        """Yield each instance of the group whose NumInGroup field is fields[index]."""
        yield from self.read_group(fields, index, msg_type)[0]

    # -- validation ---------------------------------------------------------

    def validate(
        self, fields: Fields, options: ValidationOptions = DEFAULT_OPTIONS
    ) -> Rejection | None:
        """Return the Reject QuickFIX would send for this message, or None if it is valid.

        Precedence (first problem wins): empty value / invalid tag number (wire order),
        header-body-trailer order (14), repeated tag (13), repeating-group structure (15),
        MsgType (11), tag not in message (2), data format (6), enum value (5), required tag
        (1), NumInGroup count (16). Within a kind the first field in wire order wins. Group
        structure comes before data format because QuickFIX finds it while parsing (session
        test case 14j has a badly formatted field in the out-of-order group).
        """
        try:
            return self._validate(fields, options)
        except _Fatal as fatal:
            return fatal.rejection

    def _validate(self, fields: Fields, options: ValidationOptions) -> Rejection | None:
        msg_type: bytes | None = None
        for tag, value in fields:
            if tag == 35:
                msg_type = value
                break
        plan = self._plan(msg_type)
        where = plan.where
        check_values = options.check_fields_have_values
        check_order = options.check_fields_out_of_order
        e_order: int | None = None
        e_undef: int | None = None
        e_format: int | None = None
        e_enum: int | None = None
        scan: _Scan | None = None  # only needed once a repeating group shows up
        section = 0  # 0 header, 1 body, 2 trailer
        skip = 0  # fields before this index belong to the repeating group just scanned
        for i, (tag, value) in enumerate(fields):
            if i < skip:
                continue
            if not value and check_values:
                return _reject(_R.TAG_SPECIFIED_WITHOUT_A_VALUE, tag)
            info = where.get(tag)
            if info is None:  # not declared for this message: a body field, if allowed at all
                spec = self._specs.get(tag)
                if spec is None:
                    if not _unknown_tag_allowed(tag, options):
                        return _reject(_R.INVALID_TAG_NUMBER, tag)
                    spec = _UNDEFINED
                elif e_undef is None and not _foreign_tag_allowed(tag, options):
                    e_undef = tag
                info = (1, None, *spec)
            place, group, check, enums, multi = info
            if place == 1:  # body
                if section == 2 and check_order and e_order is None:
                    e_order = tag
                section = 1
            elif place == 0 or (place == 3 and section == 0):  # header
                if section != 0 and check_order and e_order is None:
                    e_order = tag
                if place == 3:
                    group = self._header.groups.get(tag)
            elif place == 2:  # trailer
                section = 2
            else:  # a header tag the body also declares, once the body has started
                section = 1
            if enums is not None:
                # A listed value has the right format: check the format only off the list.
                if value not in enums:
                    if check is not None and value and not check(value):
                        if e_format is None:
                            e_format = tag
                    elif e_enum is None and not (multi and _all_listed(value, enums)):
                        e_enum = tag
            elif check is not None and value and e_format is None and not check(value):
                e_format = tag
            if group is not None:
                if scan is None:
                    scan = _Scan()
                scan.format, scan.enum = e_format, e_enum
                skip = self._scan_group(fields, i + 1, group, value, scan, options)
                scan.spans.append((i + 1, skip))
                e_format, e_enum = scan.format, scan.enum

        if e_order is not None:
            return _reject(_R.TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER, e_order)
        # Repeated tags and required tags look at the top level only (groups excluded).
        top = fields if scan is None else _outside(fields, scan.spans)
        seen = {tag for tag, _ in top}
        if len(seen) != len(top):
            return _reject(_R.TAG_APPEARS_MORE_THAN_ONCE, _first_repeat(top))
        if scan is not None and scan.group is not None:
            return scan.group
        if plan.msg is None:
            if msg_type is None:
                return _reject(_R.REQUIRED_TAG_MISSING, 35)
            return _reject(_R.INVALID_MSGTYPE, 35)
        if e_undef is not None:
            return _reject(_R.TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE, e_undef)
        if e_format is not None:
            return _reject(_R.INCORRECT_DATA_FORMAT_FOR_VALUE, e_format)
        if e_enum is not None:
            return _reject(_R.VALUE_IS_INCORRECT, e_enum)
        if not plan.required_set.issubset(seen):
            missing = next(tag for tag in plan.required if tag not in seen)
            return _reject(_R.REQUIRED_TAG_MISSING, missing)
        if scan is not None:
            if scan.group_required is not None:
                return _reject(_R.REQUIRED_TAG_MISSING, scan.group_required)
            if scan.count is not None:
                return _reject(_R.INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP, scan.count)
        return None

    def _scan_group(
        self,
        fields: Fields,
        i: int,
        group: _Group,
        count_value: bytes,
        scan: _Scan,
        options: ValidationOptions,
    ) -> int:
        """Scan the instances of `group` starting at fields[i]; return the index after it.

        The group ends at the first field that is not a member. A member before any
        delimiter opens an instance anyway (after recording the error), so one missing
        delimiter gives one Reject rather than a cascade of "not defined" ones.
        """
        specs = self._specs
        order = group.order
        delimiter = group.delimiter
        nested_groups = group.groups
        track = bool(group.required_rest)  # keep each instance's tags only to check them
        check_values = options.check_fields_have_values
        check_member_order = options.check_unordered_group_fields
        udf = options.user_defined_fields
        instances = 0
        present: set[int] | None = None  # the current instance's tags (None: not tracked)
        previous = -1
        start = i
        n = len(fields)
        while i < n:
            tag, value = fields[i]
            if tag == delimiter:
                if present is not None:
                    _check_group_required(group, present, scan)
                instances += 1
                present = {tag} if track else None
                previous = 0
            else:
                pos = order.get(tag)
                if pos is None:
                    if not (instances and tag in udf):
                        break
                elif instances == 0:
                    if scan.group is None:
                        scan.group = Rejection(
                            int(_R.REPEATING_GROUP_FIELDS_OUT_OF_ORDER),
                            tag,
                            f"The group {group.count_tag} must set the delimiter field {delimiter}",
                        )
                    instances = 1
                    previous = pos
                else:
                    if pos <= previous and check_member_order and scan.group is None:
                        scan.group = _reject(_R.REPEATING_GROUP_FIELDS_OUT_OF_ORDER, tag)
                    previous = pos
                    if present is not None:
                        present.add(tag)
            i += 1
            if not value and check_values:
                raise _Fatal(_reject(_R.TAG_SPECIFIED_WITHOUT_A_VALUE, tag))
            spec = specs.get(tag)
            if spec is None:
                if not _unknown_tag_allowed(tag, options):
                    raise _Fatal(_reject(_R.INVALID_TAG_NUMBER, tag))
            else:
                check, enums, _ = spec
                if enums is not None:
                    if value not in enums:
                        _check_value(tag, value, spec, scan)
                elif check is not None and value and scan.format is None and not check(value):
                    scan.format = tag
            nested = nested_groups.get(tag)
            if nested is not None:
                i = self._scan_group(fields, i, nested, value, scan, options)
        if present is not None:
            _check_group_required(group, present, scan)
        if count_value.isdigit() and (len(count_value) > 9 or int(count_value) != instances):
            if scan.count is None or start < scan.count_index:  # first in wire order
                scan.count, scan.count_index = group.count_tag, start
        return i


def _unknown_tag_allowed(tag: int, options: ValidationOptions) -> bool:
    """May a tag the dictionary does not define appear at all?"""
    if tag <= 0:
        return False
    if tag in options.user_defined_fields:
        return True
    if tag >= USER_DEFINED_TAG_MIN:
        return not options.check_user_defined_fields
    return options.allow_unknown_msg_fields


def _foreign_tag_allowed(tag: int, options: ValidationOptions) -> bool:
    """May a defined tag appear on a message type that does not declare it?"""
    return (
        options.allow_unknown_msg_fields
        or tag in options.user_defined_fields
        or (tag >= USER_DEFINED_TAG_MIN and not options.check_user_defined_fields)
    )


def _check_value(tag: int, value: bytes, spec: _Spec3, scan: _Scan) -> None:
    """Record the first data-format and the first enum problem (as in the main loop)."""
    check, enums, multi = spec
    if enums is not None:
        if value not in enums:
            if check is not None and value and not check(value):
                if scan.format is None:
                    scan.format = tag
            elif scan.enum is None and not (multi and _all_listed(value, enums)):
                scan.enum = tag
    elif check is not None and value and scan.format is None and not check(value):
        scan.format = tag


def _all_listed(value: bytes, enums: frozenset[bytes]) -> bool:
    """MULTIPLEVALUESTRING & co: every space-separated item is a listed value."""
    return bool(value) and all(item in enums for item in value.split(b" "))


def _check_group_required(group: _Group, present: set[int], scan: _Scan) -> None:
    if scan.group_required is None:
        for tag in group.required_rest:
            if tag not in present:
                scan.group_required = tag
                return


def _span(fields: Fields, i: int, group: _Group, starts: list[int] | None) -> int:
    """Index after the group starting at fields[i]; instance start indexes go to `starts`."""
    order = group.order
    delimiter = group.delimiter
    started = False
    n = len(fields)
    while i < n:
        tag = fields[i][0]
        if tag == delimiter or (not started and tag in order):
            started = True
            if starts is not None:
                starts.append(i)
        elif tag not in order:
            break
        i += 1
        nested = group.groups.get(tag)
        if nested is not None:
            i = _span(fields, i, nested, None)
    return i
