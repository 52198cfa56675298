"""The demo's playground (issue 13), clicked in Chromium on both interpreters: the timeline's
counters say what the stub saw, the buttons do what they say, and a first visit is calm.

The playground's screenshot in the README comes from here: with AUTHFETCH_SCREENSHOT=<path>
(e.g. docs/playground.png) the MicroPython run writes it there after its burst.
"""

import os
import re

import pytest

from .conftest import BOOT_TIMEOUT_MS, RUNTIMES
from .test_smoke import open_demo, unexpected

COUNTERS = ("requests", "ok", "refreshes", "replays", "held")


def counters(page):
    return {name: int(page.inner_text(f"#count-{name}")) for name in COUNTERS}


def click_and_wait(page, button, log_text):
    """Click, then wait for the demo's own log line (the buttons act in a task)."""
    before = page.inner_text("#events").count(log_text)
    page.click(button)
    page.wait_for_function(
        "([text, before]) => document.getElementById('events').textContent.split(text).length - 1 > before",
        arg=[log_text, before],
    )


def burst(page, n):
    page.fill("#burst-size", str(n))
    page.evaluate("() => document.getElementById('burst-result').textContent = ''")
    page.click("#burst-button")
    page.wait_for_function("() => /^burst of \\d+: /.test(document.getElementById('burst-result').textContent)", timeout=60_000)
    # The counters are redrawn a moment after the last step: wait for every bar to be answered.
    page.wait_for_function("(n) => +document.getElementById('count-requests').textContent === n && "
                           "document.getElementById('timeline').dataset.settled === 'yes'", arg=n)
    return page.inner_text("#burst-result")


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_first_visit_is_calm(context, stub, runtime):
    stub.reset()
    page, errors = open_demo(context, stub, runtime)
    page.wait_for_function("() => document.getElementById('session-state').textContent === 'signed out'")
    assert page.is_visible("#login-section")
    log = page.inner_text("#events")
    assert not re.search(r"session-expired|refresh-failed|403|CSRF", log), log
    assert unexpected(errors) == [], errors  # Chromium's own line for the 401 is all there is


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_burst_after_expire_shows_one_refresh_and_every_request_ok(context, stub, runtime):
    page, errors = open_demo(context, stub, runtime, signed_in=True)
    stub.reset()
    click_and_wait(page, "#expire-button", "expired every access token")
    assert burst(page, 50) == "burst of 50: 50 OK"
    shown = counters(page)
    stats = stub.stats()
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, stats
    assert shown["refreshes"] == 1 and shown["ok"] == 50, shown
    # The requests that went out with the stale token came back once each, replayed: as many
    # as the stub answered 401 (its GETs beyond the 50 that succeeded).
    stale = stats["requests"]["GET /api/v1/users/profile"] - 50
    assert 1 <= shown["replays"] == stale, (shown, stats)
    bars = page.eval_on_selector_all("#timeline .bar", "bars => bars.map(b => b.className.split(' ')[1])")
    assert bars.count("refresh") == 1 and bars.count("first-401") == 1, bars
    assert bars.count("held") == 50 - stale and bars.count("replayed") == stale - 1, bars
    if runtime == "mpy" and os.environ.get("AUTHFETCH_SCREENSHOT"):
        page.locator("#playground").screenshot(path=os.environ["AUTHFETCH_SCREENSHOT"])
    assert unexpected(errors) == [], errors


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_broken_refresh_is_retried_then_ends_the_session_once(context, stub, runtime):
    page, _ = open_demo(context, stub, runtime, signed_in=True)
    stub.reset()
    click_and_wait(page, "#break-button", "the next refresh will fail")
    click_and_wait(page, "#expire-button", "expired every access token")
    result = burst(page, 20)
    assert result == "burst of 20: 0 OK, then SessionExpired", result
    assert stub.stats()["refresh_calls"] == 3  # 503, 503 (transient: retried), 401 (terminal)
    assert counters(page)["refreshes"] == 3
    assert page.inner_text("#session-state") == "signed out" and page.is_visible("#login-section")
    assert page.inner_text("#events").count("session-expired") == 1


def test_open_another_tab_opens_the_demo_which_shares_the_session(context, stub):
    page, _ = open_demo(context, stub, "mpy", signed_in=True)
    with context.expect_page() as opened:
        page.click("#tab-button")
    other = opened.value
    other.wait_for_selector("#app[data-state=ready]", timeout=BOOT_TIMEOUT_MS)
    assert other.url == page.url
    other.wait_for_selector("#profile-section:not([hidden])")  # signed in already: one session
    page.wait_for_function("() => document.getElementById('tabs').textContent === '2'")
