"""The page boots under each interpreter from this machine only, and the demo's sign-in works."""

import re
import time

import pytest

from .conftest import BOOT_TIMEOUT_MS, RUNTIMES

@pytest.fixture
def context(browser):
    """A fresh browser context, closed even when the test fails (a demo page left open keeps
    polling and would add refresh calls to the next test's counts)."""
    context = browser.new_context()
    yield context
    context.close()


# Chromium logs every 4xx a page's fetch receives as a console error; those are expected here.
EXPECTED_CONSOLE = re.compile(r"Failed to load resource: the server responded with a status of 40[13]")


def unexpected(errors):
    return [e for e in errors if not EXPECTED_CONSOLE.search(e)]


def open_demo(context, stub, runtime, *, signed_in=False):
    """The demo booted in a new page of ``context``; its console errors are collected."""
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stub.url}?runtime={runtime}")
    page.wait_for_selector("#app[data-state=ready]", timeout=BOOT_TIMEOUT_MS)
    if signed_in:
        page.click("#login-button")
        page.wait_for_selector("#profile-section:not([hidden])", timeout=10_000)
    return page, errors


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_demo_boots_offline_and_signs_in(context, stub, runtime):
    page = context.new_page()
    errors, outside = [], []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    local = ("http://127.0.0.1", "blob:http://127.0.0.1", "data:")  # blob: pyodide-http's own worker
    page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
    ready = "py:ready" if runtime == "py" else "mpy:ready"
    page.add_init_script(
        f"addEventListener('{ready}', () => {{ window.__pyscriptReady = true }}, {{capture: true}});"
    )
    started = time.monotonic()
    page.goto(f"{stub.url}?runtime={runtime}")
    page.wait_for_selector("#app[data-state=ready]", timeout=BOOT_TIMEOUT_MS)
    boot_s = time.monotonic() - started
    assert page.evaluate("() => window.__pyscriptReady === true"), f"no {ready} event"
    expected_name = "MicroPython" if runtime == "mpy" else "Pyodide"
    assert page.inner_text("#runtime-name").startswith(expected_name)
    assert page.is_visible("#login-section"), "not signed in yet: the form must show"
    page.click("#login-button")
    page.wait_for_selector("#profile-section:not([hidden])", timeout=10_000)
    assert "demo@example.com" in page.inner_text("#profile")
    assert outside == [], f"requests left 127.0.0.1: {outside}"
    assert unexpected(errors) == [], f"console errors: {unexpected(errors)}"
    print(f"[{runtime}] demo ready in {boot_s:.2f} s")


def test_demo_survives_an_access_token_expiry(context, stub):
    page, _ = open_demo(context, stub, "mpy", signed_in=True)
    stub.reset()
    stub.expire()
    page.evaluate("() => document.getElementById('profile').innerHTML = ''")
    page.click("#reload-button")
    page.wait_for_function("() => document.getElementById('profile').textContent.includes('demo@example.com')")
    assert page.is_visible("#profile-section") and not page.is_visible("#login-section")
    stats = stub.stats()
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, stats


def test_harness_boots_under_both_interpreters(harness):
    assert harness.run("async def main():\n    return RUNTIME") == harness.runtime
    assert harness.outside_requests == []
    assert unexpected(harness.console_errors) == []


def test_demo_counts_its_tabs_and_names_who_refreshed(browser, stub):
    context = browser.new_context()
    first, second = context.new_page(), context.new_page()
    for page in (first, second):
        page.goto(f"{stub.url}?runtime=mpy")
    for page in (first, second):
        page.wait_for_selector("#app[data-state=ready]", timeout=BOOT_TIMEOUT_MS)
    first.wait_for_function("() => document.getElementById('tabs').textContent === '2'")
    second.wait_for_function("() => document.getElementById('tabs').textContent === '2'")
    first.click("#login-button")
    first.wait_for_selector("#profile-section:not([hidden])")
    stub.reset()
    stub.expire()
    first.click("#reload-button")
    first.wait_for_function("() => document.getElementById('events').textContent.includes('refresh by this tab')")
    second.wait_for_function("() => document.getElementById('events').textContent.includes('refresh by another tab')")
    assert stub.stats()["refresh_calls"] == 1
    second.close()
    first.wait_for_function("() => document.getElementById('tabs').textContent === '1'")
    context.close()


def test_demo_shows_sync_requests_surviving_an_expiry(context, stub):
    page, _ = open_demo(context, stub, "py", signed_in=True)
    assert page.is_visible("#sync-section")
    stub.reset()
    stub.expire()
    page.click("#sync-button")
    page.wait_for_function("() => document.getElementById('sync-result').textContent !== ''", timeout=20_000)
    assert page.inner_text("#sync-result") == "requests.get: 200 demo"
    stats = stub.stats()
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, (stats, page.inner_text("#events"))
