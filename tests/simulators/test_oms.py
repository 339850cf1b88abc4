"""run_oms against a tiny in-test "echo-fill gateway": clean reports, matching counts, and a
faulty gateway whose mistakes the OMS simulator must catch."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main as cli_main
from gateway.fix.codec import Message
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.session import Session
from gateway.sessions.transport import BaseApplication, Engine
from simulators.lp import load_profile
from simulators.oms import OmsReport, load_oms_profile, parse_oms_profile, run_oms
from simulators.profile import ProfileError, session_settings

ROOT = Path(__file__).resolve().parents[2]


class EchoGateway(BaseApplication):
    """Fills every IOC/FOK order in full at its limit; Day orders rest until cancelled.

    ``bug`` makes it wrong on purpose: "cum" reports a CumQty one too high on fills,
    "dup" reuses an ExecID, "silent" never answers cancels.
    """

    def __init__(self, bug: str = "") -> None:
        self.bug = bug
        self.engine = Engine(self)
        self.orders: dict[bytes, dict[str, Any]] = {}
        self.seq = 0

    def _exec_id(self) -> bytes:
        self.seq += 1
        return b"GW-E%d" % (1 if self.bug == "dup" else self.seq)

    def _er(
        self, session: Session, o: dict[str, Any], exec_type: bytes, now: float, extra: bytes = b""
    ) -> None:
        body = (
            b"37=%s\x0111=%s\x0117=%s\x01150=%s\x0139=%s\x0155=%s\x0154=%s\x0138=%s\x01151=%d\x0114=%d\x01"
            % (
                o["id"],
                o["cl"],
                self._exec_id(),
                exec_type,
                o["status"],
                o["sym"],
                o["side"],
                o["qty"],
                0 if o["status"] in (b"2", b"4") else int(o["qty"]) - o["cum"],
                o["cum"],
            )
        )
        body += b"6=%s\x0160=%s\x01" % (o["px"] if o["cum"] else b"0", utc_timestamp(now)) + extra
        session.send(b"8", body, now)

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        t = msg.msg_type
        if t == b"D":
            cl = msg[11]
            o = {
                "id": b"O" + cl,
                "cl": cl,
                "sym": msg[55],
                "side": msg[54],
                "qty": msg[38],
                "px": msg.get(44, b"100"),
                "cum": 0,
                "status": b"0",
                "tif": msg.get(59, b"3"),
            }
            self.orders[cl] = o
            self._er(session, o, b"0", now)
            if o["tif"] != b"0":
                o["cum"] = int(o["qty"])
                o["status"] = b"2"
                if self.bug == "cum":
                    o["cum"] += 1
                last = b"31=%s\x0132=%s\x01" % (o["px"], o["qty"])
                self._er(session, o, b"F", now, last)
        elif t in (b"F", b"G"):
            if self.bug == "silent":
                return
            cl, orig = msg[11], msg[41]
            o = self.orders.get(orig)
            if o is None or o["status"] in (b"2", b"4"):
                status = o["status"] if o is not None else b"8"
                body = b"11=%s\x0141=%s\x0137=%s\x0139=%s\x01434=%s\x01102=0\x0158=Too late\x01" % (
                    cl,
                    orig,
                    o["id"] if o else b"NONE",
                    status,
                    b"1" if t == b"F" else b"2",
                )
                session.send(b"9", body, now)
                return
            self.orders[cl] = o
            o["cl"] = cl
            if t == b"F":
                o["status"] = b"4"
                self._er(session, o, b"4", now, b"41=%s\x01" % orig)
            else:
                o["qty"], o["px"] = msg[38], msg.get(44, o["px"])
                self._er(session, o, b"5", now, b"41=%s\x01" % orig)
        elif t == b"H":
            o = self.orders.get(msg[11])
            if o is not None:
                self._er(session, o, b"I", now)


def oms_profile(**top: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "seed": 3,
        "orders": 100,
        "rate": 0,
        "max_in_flight": 20,
        "settle_timeout_s": 2,
        "logon_timeout_s": 3,
        "time_in_force": {"IOC": 0.7, "FOK": 0.1, "DAY": 0.2},
        "cancel_fraction": 0.1,
        "replace_fraction": 0.1,
        "status_fraction": 0.1,
        "action_delay_ms": 1,
        "session": {"SenderCompID": "OMS1", "TargetCompID": "FIXGW", "SocketConnectPort": 1},
        "symbol": [
            {"Symbol": "ACME", "TickSize": "0.01", "Price": "50", "MinQty": "100", "MaxQty": "1000"},
            {
                "Symbol": "XYZ",
                "TickSize": "0.0001",
                "LotSize": "1000",
                "Price": "1.2345",
                "MinQty": "1000",
                "MaxQty": "10000",
            },
        ],
    }
    profile.update(top)
    return profile


def with_gateway(bug: str, **run: Any) -> OmsReport:
    async def main() -> OmsReport:
        gw = EchoGateway(bug)
        settings = session_settings(
            {
                "ConnectionType": "acceptor",
                "BeginString": "FIX.4.4",
                "SenderCompID": "FIXGW",
                "TargetCompID": "OMS1",
                "UseMemoryStore": True,
                "LogMessages": False,
            },
            "<test>",
            "gateway",
            port=0,
        )
        gw.engine.add_session(settings)
        await gw.engine.start()
        try:
            profile = run.pop("profile", oms_profile())
            return await run_oms(profile, port=gw.engine.ports[settings.session_id], **run)
        finally:
            await gw.engine.stop()

    return asyncio.run(main())


def test_run_oms_against_an_echo_gateway_is_clean_and_counts_match() -> None:
    report = with_gateway("", orders=300)
    assert report.logged_on and report.ok, report.summary()
    assert report.sent == 300
    assert report.count("filled") + report.count("canceled") == 300
    assert report.count("rejected") == report.count("working") == report.count("no_report") == 0
    assert report.cancels_sent > 0 and report.replaces_sent > 0 and report.status_sent > 0
    assert report.reports >= 600
    assert report.rtt_first_fill_us[0] > 0 and report.rtt_terminal_us[1] >= report.rtt_terminal_us[0]
    assert report.throughput > 0
    assert "violations 0" in report.summary()


def test_rate_limited_run_takes_about_orders_over_rate() -> None:
    t0 = time.monotonic()
    report = with_gateway("", orders=50, rate=250)
    elapsed = time.monotonic() - t0
    assert report.ok, report.summary()
    assert 0.15 < report.send_seconds < 0.5
    assert elapsed < 5


@pytest.mark.parametrize(
    ("bug", "kind"), [("cum", "cum_qty"), ("dup", "duplicate_exec_id"), ("silent", "unanswered")]
)
def test_a_faulty_gateway_is_caught(bug: str, kind: str) -> None:
    profile = oms_profile(settle_timeout_s=0.3, cancel_working_at_end=False)
    report = with_gateway(bug, orders=40, profile=profile)
    assert not report.ok
    assert report.violation_count > 0
    assert kind in {v.kind for v in report.violations}, report.summary()


def test_scripted_run() -> None:
    profile = oms_profile(
        script=[
            {
                "action": "new",
                "id": "a",
                "symbol": "ACME",
                "side": "buy",
                "qty": "100",
                "price": "50.10",
                "tif": "DAY",
            },
            {"action": "status", "id": "a", "delay_ms": 5},
            {"action": "replace", "id": "a", "qty": "300", "price": "50.20", "delay_ms": 5},
            {"action": "cancel", "id": "a", "delay_ms": 5},
            {"action": "new", "id": "b", "symbol": "XYZ", "side": "sell", "qty": "2000", "price": "1.2300"},
            {"action": "wait", "delay_ms": 10},
            {"action": "cancel", "id": "b"},
        ]
    )
    report = with_gateway("", profile=profile)
    assert report.ok, report.summary()
    assert (report.sent, report.cancels_sent, report.replaces_sent, report.status_sent) == (2, 2, 1, 1)
    assert report.outcome == {"canceled": 1, "filled": 1}
    assert report.cancel_rejects == {"Too late": 1}


def test_no_gateway_means_no_logon_and_a_failed_report() -> None:
    profile = oms_profile(logon_timeout_s=0.3)

    async def main() -> OmsReport:
        return await run_oms(profile, port=1)

    report = asyncio.run(main())
    assert not report.logged_on and not report.ok
    assert "no logon" in report.errors[0]


def test_sample_profiles_load_and_bad_ones_are_named() -> None:
    lps = load_profile(ROOT / "config" / "lps.toml")
    assert [lp.name for lp in lps.lps] == ["LP_A", "LP_B", "LP_C", "LP_D"]
    assert all(lp.session is not None and not lp.session.log_messages for lp in lps.lps)
    oms = load_oms_profile(ROOT / "config" / "oms.toml")
    assert oms.session.sender_comp_id == "OMS1" and oms.session.socket_connect_port == 9876
    with pytest.raises(ProfileError, match=r"cancel_fractoin.*did you mean 'cancel_fraction'"):
        parse_oms_profile(oms_profile(cancel_fractoin=0.1))
    with pytest.raises(ProfileError, match=r"\[\[script\]\] #1 id"):
        parse_oms_profile(oms_profile(script=[{"action": "cancel", "id": "x"}]))


def test_cli_reports_a_bad_profile_with_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "lps.toml"
    bad.write_text('seed = 1\n[[instrument]]\nSymbol = "A"\n[[lp]]\nname = "LP_A"\nspred_bps = 1\n')
    assert cli_main(["sim-lp", "--config", str(bad)]) == 2
    assert "spred_bps" in capsys.readouterr().err
    bad.write_text("orders = 1\n")
    assert cli_main(["sim-oms", "--config", str(bad)]) == 2
