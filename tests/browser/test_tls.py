"""Cookies as production sets them: the stub over HTTPS (``--tls``, a throw-away certificate
made at start), Chromium trusting it for this context only, on both interpreters. WebKit
keeps Secure cookies only over HTTPS, and runs its scenarios so too (test_webkit.py)."""

import pytest

from .conftest import LOGIN, RUNTIMES, open_harness

STUB_ARGS = ("--tls",)

BURST = """
async def main():
    api = client()
    results = await within(100, lambda i: api.get("/users/profile"), 30)
    return outcomes(results)
"""


@pytest.fixture(scope="module", params=RUNTIMES)
def secure_page(request, browser, stub):
    assert stub.url.startswith("https://"), stub.url
    harness = open_harness(browser, stub, request.param, ignore_https_errors=True)
    yield harness
    harness.page.context.close()


def test_over_https_the_session_cookies_are_secure_and_a_burst_after_expiry_refreshes_once(secure_page):
    page = secure_page
    page.page.context.clear_cookies()
    page.stub.reset()
    assert page.run(LOGIN) == 200
    cookies = {cookie["name"]: cookie for cookie in page.page.context.cookies()}
    assert cookies["refreshToken"]["secure"] and cookies["refreshToken"]["httpOnly"], cookies
    assert cookies["accessToken"]["secure"] and cookies["accessToken"]["httpOnly"], cookies
    assert cookies["csrf_token"]["secure"] and not cookies["csrf_token"]["httpOnly"], cookies  # the page copies it
    page.stub.reset()
    page.stub.expire()
    outcomes = page.run(BURST)
    stats = page.stub.stats()
    assert outcomes == [200] * 100, outcomes
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, stats
