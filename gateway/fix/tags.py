"""FIX tag numbers and enumerated values, named as in the FIX specification.

Tags are plain ints (``tags.ClOrdID == 11``) so the hot path compares ints; enumerations
whose values travel on the wire are bytes (``MsgType.HEARTBEAT == b"0"``). A reader can
grep the FIX specification for any name used here. Nothing in this module does I/O.
"""

from __future__ import annotations

# --- standard header / trailer -------------------------------------------------------
BeginString = 8
BodyLength = 9
CheckSum = 10
MsgSeqNum = 34
MsgType_ = 35  # the tag; the enumeration is the class MsgType below
PossDupFlag = 43
SenderCompID = 49
SenderSubID = 50
SendingTime = 52
TargetCompID = 56
TargetSubID = 57
PossResend = 97
OnBehalfOfCompID = 115
DeliverToCompID = 128
OnBehalfOfSubID = 116
DeliverToSubID = 129
OnBehalfOfLocationID = 144
DeliverToLocationID = 145
SenderLocationID = 142
TargetLocationID = 143
OrigSendingTime = 122
LastMsgSeqNumProcessed = 369
ApplVerID = 1128
DefaultApplVerID = 1137

# --- session-level body fields ------------------------------------------------------
BeginSeqNo = 7
EndSeqNo = 16
NewSeqNo = 36
RefSeqNum = 45
Text = 58
EncryptMethod = 98
HeartBtInt = 108
TestReqID = 112
GapFillFlag = 123
ResetSeqNumFlag = 141
RefTagID = 371
RefMsgType = 372
SessionRejectReason = 373
BusinessRejectRefID = 379
BusinessRejectReason_ = 380  # the tag; the enumeration is the class below
Username = 553
Password = 554
NextExpectedMsgSeqNum = 789

# --- application fields used by the gateway -----------------------------------------
Account = 1
AvgPx = 6
ClOrdID = 11
CumQty = 14
Currency = 15
ExecID = 17
HandlInst = 21
LastPx = 31
LastQty = 32
OrderID = 37
OrderQty = 38
OrdStatus = 39
OrdType = 40
OrigClOrdID = 41
Price = 44
SecurityID = 48
Side = 54
Symbol = 55
TimeInForce = 59
TransactTime = 60
ExecType = 150
LeavesQty = 151
OrdRejReason = 103
CxlRejReason = 102
CxlRejResponseTo = 434
ExecRestatementReason = 378
MDReqID = 262
SubscriptionRequestType = 263
MarketDepth = 264
MDUpdateType = 265
NoMDEntryTypes = 267
NoMDEntries = 268
MDEntryType = 269
MDEntryPx = 270
MDEntrySize = 271
MDUpdateAction = 279
MinQty = 110
SecurityType = 167

# Tags that carry the byte length of the data field that follows them: the data field may
# contain SOH, so the codec must read it by length, not by delimiter.
DATA_LENGTH_TAGS: dict[int, int] = {
    90: 91,  # SecureDataLen -> SecureData
    93: 89,  # SignatureLength -> Signature
    95: 96,  # RawDataLength -> RawData
    212: 213,  # XmlDataLen -> XmlData
    348: 349,  # EncodedIssuerLen
    350: 351,  # EncodedSecurityDescLen
    352: 353,  # EncodedListExecInstLen
    354: 355,  # EncodedTextLen
    356: 357,  # EncodedSubjectLen
    358: 359,  # EncodedHeadlineLen
    360: 361,  # EncodedAllocTextLen
    362: 363,  # EncodedUnderlyingIssuerLen
    364: 365,  # EncodedUnderlyingSecurityDescLen
    445: 446,  # EncodedListStatusTextLen
    618: 619,  # EncodedLegIssuerLen
    621: 622,  # EncodedLegSecurityDescLen
}


class MsgType:
    """MsgType(35) values."""

    HEARTBEAT = b"0"
    TEST_REQUEST = b"1"
    RESEND_REQUEST = b"2"
    REJECT = b"3"
    SEQUENCE_RESET = b"4"
    LOGOUT = b"5"
    EXECUTION_REPORT = b"8"
    ORDER_CANCEL_REJECT = b"9"
    LOGON = b"A"
    NEW_ORDER_SINGLE = b"D"
    ORDER_CANCEL_REQUEST = b"F"
    ORDER_CANCEL_REPLACE_REQUEST = b"G"
    ORDER_STATUS_REQUEST = b"H"
    BUSINESS_MESSAGE_REJECT = b"j"
    MARKET_DATA_REQUEST = b"V"
    MARKET_DATA_SNAPSHOT_FULL_REFRESH = b"W"
    MARKET_DATA_INCREMENTAL_REFRESH = b"X"
    MARKET_DATA_REQUEST_REJECT = b"Y"
    SECURITY_DEFINITION = b"d"
    DONT_KNOW_TRADE = b"Q"


#: Session-level (admin) message types; everything else is an application message.
ADMIN_MSG_TYPES = frozenset(
    {
        MsgType.HEARTBEAT,
        MsgType.TEST_REQUEST,
        MsgType.RESEND_REQUEST,
        MsgType.REJECT,
        MsgType.SEQUENCE_RESET,
        MsgType.LOGOUT,
        MsgType.LOGON,
    }
)


class BusinessRejectReason:
    """BusinessRejectReason(380) values."""

    OTHER = 0
    UNKNOWN_ID = 1
    UNKNOWN_SECURITY = 2
    UNSUPPORTED_MESSAGE_TYPE = 3
    APPLICATION_NOT_AVAILABLE = 4
    CONDITIONALLY_REQUIRED_FIELD_MISSING = 5
    NOT_AUTHORIZED = 6
    DELIVERTO_FIRM_NOT_AVAILABLE_AT_THIS_TIME = 7


# --- more application fields ----------------------------------------------------------
ExecRefID = 19
ExecInst = 18
ExpireTime = 126
MaxFloor = 111
ClientID = 109
OrdStatusReqID = 790
DKReason = 127
MDReqRejReason = 281
NoRelatedSym = 146
