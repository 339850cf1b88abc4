"""gateway.config: a good file loads; every kind of mistake stops with file, key and allowed."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from gateway.config import (
    ConfigError,
    GatewaySettings,
    SessionSettings,
    load_config,
    session_from_dict,
)

REPO = Path(__file__).resolve().parents[2]

GOOD = """
[gateway]
StateDir = "var"
HttpPort = 8080

[default]
BeginString = "FIX.4.4"
SenderCompID = "GW"
HeartBtInt = 20

[[session]]
Name = "OMS1"
ConnectionType = "acceptor"
TargetCompID = "OMS1"
SocketAcceptPort = 9876
StartTime = "08:00:00"
EndTime = "17:30:00"
TimeZone = "Europe/London"

[[session]]
ConnectionType = "initiator"
TargetCompID = "LP_A"
SocketConnectPort = 9881
HeartBtInt = 10
ReconnectMaxInterval = 30
PasswordEnv = "LP_A_PASSWORD"
Username = "gw"

[[session]]
ConnectionType = "acceptor"
TargetCompID = "OMS2"
SessionQualifier = "B"
SocketAcceptPort = 9876
StartDay = "sunday"
EndDay = "Fri"
StartTime = 22:00:00
EndTime = "21:59:59"

[router]
strategy = "best"

[[lp]]
name = "LP_A"
"""

# One acceptor with every required key; the error tests add or change one thing.
BASE_SESSION = """
[[session]]
ConnectionType = "acceptor"
BeginString = "FIX.4.4"
SenderCompID = "GW"
TargetCompID = "OMS1"
SocketAcceptPort = 9876
"""


def write(tmp_path: Path, text: str, name: str = "gw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    return info.value


def session_error(tmp_path: Path, extra_lines: str) -> ConfigError:
    return load_error(tmp_path, BASE_SESSION + extra_lines)


# --------------------------------------------------------------------------- good files


def test_good_file_loads(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD))
    assert isinstance(settings, GatewaySettings)
    assert settings.state_dir == str((tmp_path / "var").resolve())
    assert settings.http_port == 8080
    assert settings.http_host == "127.0.0.1"
    assert [s.name for s in settings.sessions] == ["OMS1", "GW->LP_A", "GW->OMS2:B"]

    oms, lp, oms2 = settings.sessions
    assert oms.session_id == "FIX.4.4:GW->OMS1"
    assert oms.is_acceptor and not oms.is_initiator
    assert oms.heart_bt_int == 20  # from [default]
    assert oms.start_time == dt.time(8, 0, 0) and oms.end_time == dt.time(17, 30, 0)
    assert oms.time_zone == "Europe/London"
    assert oms.file_store_path == str(tmp_path.resolve() / "var" / "store")
    assert oms.file_log_path == str(tmp_path.resolve() / "var" / "log")
    assert oms.socket_accept_host == "127.0.0.1"

    assert lp.connection_type == "initiator"
    assert lp.heart_bt_int == 10  # the session overrides [default]
    assert lp.socket_connect_port == 9881
    assert lp.reconnect_interval == 5 and lp.reconnect_max_interval == 30
    assert lp.is_non_stop

    assert oms2.session_id == "FIX.4.4:GW->OMS2:B"
    assert oms2.socket_accept_port == 9876  # two acceptors may share a port
    assert (oms2.start_day, oms2.end_day) == (6, 4)  # Sunday .. Friday
    assert oms2.start_time == dt.time(22, 0, 0)  # a bare TOML time works too

    assert settings.extra == {"router": {"strategy": "best"}, "lp": [{"name": "LP_A"}]}
    assert settings.session("OMS1") is oms
    assert settings.session("FIX.4.4:GW->LP_A") is lp
    assert "OMS1" in settings.summary()


def test_defaults_match_quickfix_names(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, BASE_SESSION)).sessions[0]
    assert s.name == "GW->OMS1"
    assert s.heart_bt_int == 30
    assert s.reset_on_logon is False and s.persist_messages is True
    assert s.file_store_sync == "interval" and s.file_store_sync_interval_ms == 50
    assert s.use_data_dictionary is True and s.data_dictionary is None
    assert s.timestamp_precision == 3 and s.max_message_size == 1048576
    assert s.resend_request_chunk_size == 0 and s.max_latency == 120
    assert s.tzinfo.utcoffset(None) == dt.timedelta(0)


def test_sample_config_loads() -> None:
    settings = load_config(REPO / "config" / "gateway.toml")
    by_name = {s.name: s for s in settings.sessions}
    assert by_name["OMS1"].is_acceptor and by_name["OMS1"].socket_accept_port == 9876
    assert by_name["LP_A"].socket_connect_port == 9881
    assert by_name["LP_B"].socket_connect_port == 9882
    assert {s.sender_comp_id for s in settings.sessions} == {"FIXGW"}
    assert {s.begin_string for s in settings.sessions} == {"FIX.4.4"}


def test_session_from_dict_applies_defaults(tmp_path: Path) -> None:
    s = session_from_dict(
        {
            "ConnectionType": "initiator",
            "BeginString": "FIX.4.2",
            "SenderCompID": "GW",
            "TargetCompID": "LP",
            "SocketConnectPort": 5001,
        },
        base_dir=tmp_path,
    )
    assert isinstance(s, SessionSettings)
    assert s.session_id == "FIX.4.2:GW->LP"
    assert s.socket_connect_host == "127.0.0.1"
    assert s.file_store_path == str(tmp_path.resolve() / "state" / "store")


def test_data_dictionary_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "FIX44.xml").write_text("<fix/>", encoding="utf-8")
    s = load_config(write(tmp_path, BASE_SESSION + 'DataDictionary = "spec/FIX44.xml"\n'))
    assert s.sessions[0].data_dictionary == str((tmp_path / "spec" / "FIX44.xml").resolve())


def test_password_is_read_from_the_named_variable(tmp_path: Path) -> None:
    s = load_config(write(tmp_path, BASE_SESSION + 'PasswordEnv = "OMS1_PASSWORD"\n')).sessions[0]
    assert s.password({"OMS1_PASSWORD": "s3cret"}) == "s3cret"
    assert "s3cret" not in repr(s)
    with pytest.raises(ConfigError, match="OMS1_PASSWORD"):
        s.password({})


def test_ssl_files_are_checked(tmp_path: Path) -> None:
    (tmp_path / "gw.pem").write_text("cert", encoding="utf-8")
    (tmp_path / "gw.key").write_text("key", encoding="utf-8")
    text = BASE_SESSION + (
        'SocketUseSSL = true\nSSLCertificate = "gw.pem"\nSSLPrivateKey = "gw.key"\n'
    )
    s = load_config(write(tmp_path, text)).sessions[0]
    assert s.socket_use_ssl and s.ssl_certificate == str((tmp_path / "gw.pem").resolve())

    (tmp_path / "gw.key").unlink()
    err = load_error(tmp_path, text)
    assert err.key == "SSLPrivateKey" and "not found" in str(err)


# --------------------------------------------------------------------------- mistakes


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    err = session_error(tmp_path, "HeartbeatInt = 30\n")
    message = str(err)
    assert "[[session]] #1 (GW->OMS1) HeartbeatInt: unknown key" in message
    assert "did you mean 'HeartBtInt'?" in message
    assert "allowed:" in message and "SocketAcceptPort" in message


def test_unknown_key_wrong_case(tmp_path: Path) -> None:
    err = session_error(tmp_path, "heartbtint = 30\n")
    assert "did you mean 'HeartBtInt'?" in str(err)


def test_session_key_in_gateway_table_says_where_it_belongs(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[gateway]\nHeartBtInt = 30\n" + BASE_SESSION)
    assert "[gateway] HeartBtInt" in str(err) and "[default]" in str(err)


@pytest.mark.parametrize(
    ("line", "key", "allowed"),
    [
        ('HeartBtInt = "30"', "HeartBtInt", "an integer from 1 to 3600"),
        ("HeartBtInt = 30.0", "HeartBtInt", "an integer from 1 to 3600"),
        ('ResetOnLogon = "Y"', "ResetOnLogon", "true or false"),
        ("ResetOnLogon = 1", "ResetOnLogon", "true or false"),
        ("CheckLatency = 0", "CheckLatency", "true or false"),
        ("SocketAcceptHost = 127", "SocketAcceptHost", "a non-empty string"),
    ],
)
def test_wrong_type(tmp_path: Path, line: str, key: str, allowed: str) -> None:
    err = session_error(tmp_path, line + "\n")
    message = str(err)
    assert err.key == key
    assert f"{key}: expected" in message
    assert f"allowed: {allowed}" in message


@pytest.mark.parametrize(
    ("line", "key", "allowed"),
    [
        ("HeartBtInt = 0", "HeartBtInt", "an integer from 1 to 3600"),
        ("HeartBtInt = 3601", "HeartBtInt", "an integer from 1 to 3600"),
        ("SocketAcceptPort = 70000", "SocketAcceptPort", "an integer from 1 to 65535"),
        ("ReconnectInterval = 0", "ReconnectInterval", "an integer from 1 to 86400"),
        ("TimestampPrecision = 4", "TimestampPrecision", "0, 3, 6, 9"),
        ("ResendRequestChunkSize = -1", "ResendRequestChunkSize", "an integer >= 0"),
        ('ConnectionType = "server"', "ConnectionType", '"acceptor" | "initiator"'),
        ('FileStoreSync = "sometimes"', "FileStoreSync", '"always" | "never" | "interval"'),
        ('BeginString = "FIX.4.3"', "BeginString", '"FIX.4.2" | "FIX.4.4"'),
        ('StartDay = "Someday"', "StartDay", "Mon, Tue, Wed"),
        ('StartTime = "25:00:00"', "StartTime", '"HH:MM:SS"'),
        ('SenderCompID = "G W"', "SenderCompID", "printable ASCII without spaces"),
        ('PasswordEnv = "not a name"', "PasswordEnv", "the NAME of an environment variable"),
    ],
)
def test_out_of_range_or_not_allowed(tmp_path: Path, line: str, key: str, allowed: str) -> None:
    # Overriding a key already in BASE_SESSION would be a TOML error: drop it first.
    base = "\n".join(
        ln for ln in BASE_SESSION.splitlines() if not ln.startswith(line.split(" ")[0] + " ")
    )
    err = load_error(tmp_path, base + "\n" + line + "\n")
    message = str(err)
    assert err.key == key, message
    assert f" {key}: " in message
    assert allowed in message.split("allowed:", 1)[1]


def test_fixt_is_reserved(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE_SESSION.replace("FIX.4.4", "FIXT.1.1"))
    assert "not supported yet" in str(err) and err.key == "BeginString"


@pytest.mark.parametrize(
    "key", ["ConnectionType", "BeginString", "SenderCompID", "TargetCompID", "SocketAcceptPort"]
)
def test_missing_required(tmp_path: Path, key: str) -> None:
    text = "\n".join(ln for ln in BASE_SESSION.splitlines() if not ln.startswith(key + " "))
    err = load_error(tmp_path, text)
    assert err.key == key
    assert "[[session]] #1" in str(err) and f"{key}: missing" in str(err)
    assert "allowed: " in str(err)


def test_initiator_needs_connect_port(tmp_path: Path) -> None:
    text = BASE_SESSION.replace('"acceptor"', '"initiator"')
    err = load_error(tmp_path, text)
    assert err.key == "SocketConnectPort" and "initiator" in str(err)
    assert "allowed: an integer from 1 to 65535" in str(err)


def test_password_in_file_is_refused(tmp_path: Path) -> None:
    err = session_error(tmp_path, 'Password = "hunter2"\n')
    message = str(err)
    assert err.key == "Password"
    assert "PasswordEnv" in message and "allowed:" in message
    assert "hunter2" not in message


def test_password_in_default_is_refused(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[default]\nPassword = "x"\n' + BASE_SESSION)
    assert "[default] Password" in str(err) and "PasswordEnv" in str(err)


def test_bad_time_zone(tmp_path: Path) -> None:
    err = session_error(tmp_path, 'TimeZone = "Mars/Olympus_Mons"\n')
    message = str(err)
    assert err.key == "TimeZone"
    assert "Mars/Olympus_Mons" in message and "allowed: an IANA time zone name" in message


def test_start_time_without_end_time(tmp_path: Path) -> None:
    err = session_error(tmp_path, 'StartTime = "08:00:00"\n')
    message = str(err)
    assert err.key == "EndTime"
    assert "StartTime is set but EndTime is not" in message
    assert "allowed: both StartTime and EndTime, or neither" in message


def test_weekly_needs_times(tmp_path: Path) -> None:
    err = session_error(tmp_path, 'StartDay = "Sun"\nEndDay = "Fri"\n')
    assert err.key == "StartTime"


def test_reconnect_cap_below_interval(tmp_path: Path) -> None:
    err = session_error(tmp_path, "ReconnectInterval = 10\nReconnectMaxInterval = 5\n")
    assert err.key == "ReconnectMaxInterval" and "ReconnectInterval (10)" in str(err)


def test_duplicate_session(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE_SESSION + BASE_SESSION)
    message = str(err)
    assert "[[session]] #2 (GW->OMS1)" in message
    assert "duplicate session FIX.4.4:GW->OMS1" in message and "[[session]] #1" in message
    assert "allowed:" in message and "SessionQualifier" in message


def test_same_ids_with_qualifier_are_distinct(tmp_path: Path) -> None:
    text = BASE_SESSION + BASE_SESSION + 'SessionQualifier = "2"\n'
    ids = [s.session_id for s in load_config(write(tmp_path, text)).sessions]
    assert ids == ["FIX.4.4:GW->OMS1", "FIX.4.4:GW->OMS1:2"]


def test_duplicate_name(tmp_path: Path) -> None:
    text = BASE_SESSION + 'Name = "X"\n' + BASE_SESSION.replace("OMS1", "OMS2") + 'Name = "X"\n'
    err = load_error(tmp_path, text)
    assert err.key == "Name" and "duplicate Name 'X'" in str(err)


def test_missing_data_dictionary(tmp_path: Path) -> None:
    err = session_error(tmp_path, 'DataDictionary = "spec/FIX44.xml"\n')
    assert err.key == "DataDictionary" and "file not found" in str(err)
    assert "allowed: the path of an existing file" in str(err)


def test_error_in_default_names_default(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[default]\nHeartBtInt = -5\n" + BASE_SESSION)
    assert "[default] HeartBtInt: -5 is out of range" in str(err)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no sessions defined"),
        ("[sessions]\nx = 1\n", "did you mean [[session]]?"),
        ("[session]\nConnectionType = 'acceptor'\n", "array of tables"),
        ('StateDir = "x"\n' + BASE_SESSION, "it belongs in [gateway]"),
        ("[[session]\n", "not valid TOML"),
    ],
)
def test_file_shape_errors(tmp_path: Path, text: str, fragment: str) -> None:
    err = load_error(tmp_path, text)
    assert fragment in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read"):
        load_config(tmp_path / "nope.toml")


def test_sample_copied_elsewhere_still_loads(tmp_path: Path) -> None:
    copy = tmp_path / "gateway.toml"
    shutil.copy(REPO / "config" / "gateway.toml", copy)
    assert len(load_config(copy).sessions) == 5  # OMS1 and LP_A..LP_D
