"""The console in a real browser (Debian's Chromium, headless, driven by Playwright), used as
a trader or quant would: against a running gateway with simulated LPs and real orders.

- the page loads with the gateway's LPs, and its numbers are the admin API's;
- a weight change made in the editor (preview, then apply) changes the ranking on the page
  and the router's next decision;
- a bad weight shows an error and changes nothing, nor does an apply with a wrong token;
- the kill switch from the page.

A screenshot of the console is saved as tests/artifacts/console.png.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.console.server import CHART_JS
from tests.ops.kit import LPS, TOKEN, LiveGateway

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (make test installs it as root)", allow_module_level=True)
if not CHART_JS.exists():
    pytest.skip("the console's chart library is not installed (make console-assets)", allow_module_level=True)

Page = Any  # playwright.sync_api.Page


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with LiveGateway(tmp_path_factory.mktemp("console")) as gw:
        gw.seed_scores(per_lp=6)
        yield gw


@pytest.fixture(scope="module")
def page(live: LiveGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    profile_dir = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1400, "height": 1000},
            bypass_csp=True,  # the test waits with JavaScript predicates; the page keeps its CSP
        )
        try:
            pg = context.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            pg.goto(live.base_url + "/")
            pg.wait_for_selector("body[data-ready='1']", state="attached", timeout=15_000)
            yield pg
            assert not errors, errors
        finally:
            context.close()
    shutil.rmtree(profile_dir, ignore_errors=True)


def wait_refresh(page: Page) -> None:
    """Until the page has polled the gateway once more after now."""
    n = int(page.get_attribute("body", "data-refreshes") or 0)
    page.wait_for_function(f"Number(document.body.dataset.refreshes) > {n}", timeout=10_000)


def table_rows(page: Page) -> list[str]:
    return [
        str(lp)
        for lp in page.eval_on_selector_all("#scorecard tbody tr", "rows => rows.map(r => r.dataset.lp)")
    ]


def cell(page: Page, lp: str, col: str) -> str:
    return str(page.text_content(f"#scorecard tbody tr[data-lp='{lp}'] td[data-col='{col}']")).strip()


def reload_editor(page: Page, action: Any) -> None:
    """Do ``action`` (a click, a choice) and wait until the editor has reloaded the weights."""
    n = int(page.get_attribute("body", "data-editor-loads") or 0)
    action()
    page.wait_for_function(f"Number(document.body.dataset.editorLoads) > {n}", timeout=10_000)


def set_weights(page: Page, weights: dict[str, str]) -> None:
    for kpi, value in weights.items():
        page.fill(f"#weights input[data-kpi='{kpi}']", value)


def test_page_shows_the_lps_with_the_numbers_of_the_api(live: LiveGateway, page: Page) -> None:
    page.select_option("#rank-profile", "hft")
    wait_refresh(page)
    assert sorted(table_rows(page)) == sorted(LPS)
    _, api, _ = live.http("GET", "/api/scorecard")  # no orders meanwhile: the same figures
    page_time = float(page.get_attribute("body", "data-scorecard-time") or 0)
    assert abs(page_time - api["time"]) < 30
    for row in api["lps"]:
        lp = row["lp"]
        assert cell(page, lp, "rank") == str(row["ranks"]["hft"])
        assert cell(page, lp, "status") == "up"
        for profile, score in row["scores"].items():
            assert abs(float(cell(page, lp, f"score-{profile}")) - score) <= 0.051, (lp, profile)
        k = row["kpis"]
        for col, scale, dp in (
            ("price_improvement", 1, 2),
            ("fill_rate", 100, 1),
            ("rejection_rate", 100, 1),
            ("ack_latency", 1, 2),
            ("fill_latency", 1, 2),
        ):
            shown = float(cell(page, lp, col))
            assert abs(shown - k[col] * scale) <= 0.51 * 10**-dp, (lp, col, shown, k[col])
    # sorted by rank of the chosen profile; the fast LP leads "hft"
    ranked = sorted(api["lps"], key=lambda r: r["ranks"]["hft"])
    assert table_rows(page) == [r["lp"] for r in ranked]
    assert table_rows(page)[0] == "LP_A"
    # sessions, decisions, orders and the trend charts are there
    assert page.locator("#sessions tbody tr").count() == 4
    assert page.text_content("#sessions tbody tr[data-session='LP_B'] td:nth-child(3)") == "logged on"
    assert page.locator("#decisions tbody tr").count() > 0
    _, decisions, _ = live.http("GET", "/api/decisions?limit=1")
    assert page.get_attribute("#decisions tbody tr:first-child", "data-order") == decisions[0]["order_id"]
    assert page.locator("#orders tbody tr").count() > 0
    assert page.evaluate("typeof window.Chart") == "function", "the chart library was not served"
    page.wait_for_function("Chart.getChart('score-chart').data.datasets.length === 3", timeout=10_000)
    points = page.evaluate("Chart.getChart('score-chart').data.datasets.map(d => d.data.length)")
    assert all(n >= 2 for n in points), points
    assert page.is_hidden("#banner")


def test_weight_change_in_the_editor_reranks_and_drives_the_next_decision(
    live: LiveGateway, page: Page
) -> None:
    gw = live.gw
    original = dict(gw.scorecard.settings.profiles["hft"])
    page.fill("#token", TOKEN)
    page.press("#token", "Enter")
    page.dispatch_event("#token", "change")
    page.wait_for_function("document.querySelector('#token-state').textContent === 'token OK'")
    reload_editor(page, lambda: page.select_option("#profile-select", "hft"))
    page.select_option("#rank-profile", "hft")
    try:
        assert table_rows(page)[0] == "LP_A"
        assert page.is_disabled("#apply-btn")
        # all the weight on price improvement: the LP that improves prices should lead
        set_weights(page, {"latency": "0", "fill_rate": "0", "price_improvement": "1", "market_impact": "0"})
        assert page.text_content("#weights-sum") == "sum 1.0000"
        page.click("#preview-btn")
        page.wait_for_selector("#preview-table", state="visible")
        preview = {
            r["lp"]: (int(r["now"]), int(r["new"]))
            for r in page.eval_on_selector_all(
                "#preview-table tbody tr",
                "rows => rows.map(r => ({lp: r.dataset.lp, "
                "now: r.querySelector('[data-col=rank-now]').textContent, "
                "new: r.querySelector('[data-col=rank-preview]').textContent}))",
            )
        }
        assert preview["LP_A"][0] == 1 and preview["LP_C"][1] == 1, preview
        assert gw.scorecard.settings.profiles["hft"] == original, "a preview must not apply"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
        assert page.is_enabled("#apply-btn")
        page.click("#apply-btn")
        page.wait_for_selector("#weights-ok", state="visible")
        assert "top: LP_C" in str(page.text_content("#weights-ok"))
        assert gw.scorecard.settings.profiles["hft"] == {"price_improvement": 1.0}
        page.wait_for_function(
            "document.querySelector('#scorecard tbody tr').dataset.lp === 'LP_C'", timeout=10_000
        )
        assert cell(page, "LP_C", "rank") == "1"
        # the router's next decision uses the new weights
        live.send_orders(1)
        decision = live.call(lambda: gw.router.decisions[-1])
        assert decision.profile == "hft" and decision.children[0].lp == "LP_C"
        wait_refresh(page)
        first = page.locator("#decisions tbody tr").first
        assert first.get_attribute("data-order") == decision.order_id
        assert "LP_C" in str(first.locator(".cand.chosen").first.text_content())
        # the audit log has it, and the page shows it
        wait_refresh(page)
        assert "set_weights" in str(page.text_content("#audit tbody tr:first-child"))
    finally:
        live.http("PUT", "/api/profiles/hft", {"weights": original}, token=TOKEN)
    page.select_option("#profile-select", "block")
    reload_editor(page, lambda: page.select_option("#profile-select", "hft"))
    page.wait_for_function(
        "(document.querySelector(\"#weights input[data-kpi='latency']\") || {}).value === '0.6'"
    )


def test_bad_weights_show_an_error_and_change_nothing(live: LiveGateway, page: Page) -> None:
    gw = live.gw
    audit = Path(gw.http.settings.audit_log)
    audit_before = audit.read_text() if audit.exists() else ""
    reload_editor(page, lambda: page.select_option("#profile-select", "hft"))
    page.select_option("#rank-profile", "hft")
    wait_refresh(page)
    ranking = table_rows(page)
    original = dict(gw.scorecard.settings.profiles["hft"])

    set_weights(page, {"latency": "-0.5", "fill_rate": "1.25"})
    page.click("#preview-btn")
    page.wait_for_selector("#weights-error", state="visible")
    assert "weight of latency must be a non-negative number" in str(page.text_content("#weights-error"))
    assert page.is_disabled("#apply-btn") and page.is_hidden("#preview-table")

    reload_editor(page, lambda: page.click("#reset-btn"))
    set_weights(page, {"latency": "0.5"})  # sums to 0.9
    assert "bad" in str(page.get_attribute("#weights-sum", "class"))
    page.click("#preview-btn")
    page.wait_for_function("document.querySelector('#weights-error').textContent.includes('sum to 0.9')")
    assert page.is_disabled("#apply-btn")

    set_weights(page, {"latency": "lots"})
    page.click("#preview-btn")
    page.wait_for_function("document.querySelector('#weights-error').textContent.includes('not a number')")

    # a valid preview, then an apply with a wrong token: refused, said so, nothing applied
    reload_editor(page, lambda: page.click("#reset-btn"))
    set_weights(page, {"latency": "0.7", "fill_rate": "0.05"})
    page.click("#preview-btn")
    page.wait_for_selector("#preview-table", state="visible")
    page.fill("#token", "not-the-token")
    page.dispatch_event("#token", "change")
    page.click("#apply-btn")
    page.wait_for_function("document.querySelector('#weights-error').textContent === 'wrong admin token'")

    wait_refresh(page)
    assert gw.scorecard.settings.profiles["hft"] == original
    assert table_rows(page) == ranking
    assert (audit.read_text() if audit.exists() else "") == audit_before
    page.fill("#token", TOKEN)
    page.dispatch_event("#token", "change")
    reload_editor(page, lambda: page.click("#reset-btn"))


def test_kill_switch_from_the_page(live: LiveGateway, page: Page) -> None:
    gw = live.gw
    page.fill("#token", TOKEN)
    page.dispatch_event("#token", "change")
    page.fill("#kill-reason", "")
    page.click("#kill-engage")
    page.wait_for_selector("#kill-error", state="visible")
    assert "reason" in str(page.text_content("#kill-error")) and not gw.risk.kill_switches()
    page.fill("#kill-reason", "stop for the test")
    page.click("#kill-engage")
    page.wait_for_function("document.querySelector('#kill-state').classList.contains('on')")
    assert gw.risk.kill_switches() == {"all": "console: stop for the test"}
    assert "stop for the test" in str(page.text_content("#kill-state"))
    page.click("#kill-release")
    page.wait_for_function("document.querySelector('#kill-state').classList.contains('off')")
    assert not gw.risk.kill_switches()
    lines = [json.loads(x) for x in Path(gw.http.settings.audit_log).read_text().splitlines()]
    assert [r["action"] for r in lines[-2:]] == ["kill_engage", "kill_release"]
    time.sleep(0)  # keep the page fixture's error check last
