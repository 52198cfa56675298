"""The scenarios that matter most, for the browser engines beside Chromium (which runs the whole
suite): Firefox ESR over WebDriver BiDi (Playwright, test_firefox.py) and WebKitGTK through
WebKitWebDriver (Selenium behind the seam in webdriver_seam.py, test_webkit.py), each on both
interpreters. Each scenario's body is the one the Chromium suite runs (test_servers.py,
test_embed.py, ...), handed this engine's browser or page. A module that imports them all
defines ``engine`` (its browser): one engine per module, so its stub,
Django and pages start once.

WebKit keeps no Secure cookie over http://127.0.0.1, so its stub and Django serve HTTPS
(``--tls``), as production does; Firefox's run over http, as Chromium's main run does.
"""

import pytest

from tests.support.stub_process import StubProcess

from . import test_csp as csp
from . import test_embed as embed
from . import test_install as install
from . import test_servers as servers
from . import test_sync as sync
from .conftest import RUNTIMES, open_harness

HTTPS_ONLY = {"webkit"}


def engine_name(browser):
    """"firefox" or "webkit": Playwright's Browser says (browser_type.name), and so does the seam's."""
    return browser.browser_type.name


def stub_args(engine):
    return ("--tls",) if engine in HTTPS_ONLY else ()


@pytest.fixture(scope="module")
def stub(engine):
    process = StubProcess(*stub_args(engine_name(engine)))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def one_tag_stub(engine):
    process = StubProcess("--csp", csp.ONE_TAG, *stub_args(engine_name(engine)))
    yield process
    process.stop()


@pytest.fixture(scope="module", params=RUNTIMES)
def page_in(request, engine, stub):
    harness = open_harness(engine, stub, request.param, ignore_https_errors=True)
    yield harness
    harness.page.context.close()


REFRESH_BARE = """async () => (await fetch("/api/v1/users/refresh-token", {method: "POST", credentials: "include"})).status"""


def test_clearing_cookies_clears_the_refresh_cookie_of_another_path(page_in):
    """The seam's clear_cookies, which fresh() and the server scenarios rely on, clears the
    stub's refresh cookie too (Path=/api/v1/users: WebDriver does not list it)."""
    page_in.fresh()
    assert page_in.page.evaluate(REFRESH_BARE) == 403, "signed in: the refresh cookie is sent (no CSRF header: 403)"
    page_in.page.context.clear_cookies()
    assert page_in.page.evaluate(REFRESH_BARE) == 401, "cleared: no refresh cookie, no session (401)"


@pytest.mark.parametrize("kind", servers.KINDS)
def test_a_hundred_gets_after_expiry_cost_one_refresh(page_in, django, kind):
    servers.test_a_hundred_gets_after_expiry_cost_one_refresh(page_in, django, kind)


@pytest.mark.parametrize("kind", ["sj", "dra"])
def test_forty_posts_after_expiry_are_each_handled_once(page_in, django, kind):
    servers.test_forty_posts_after_expiry_are_each_handled_once(page_in, django, kind)


@pytest.mark.parametrize("kind", ["sj", "oauth"])
def test_a_refresh_token_used_elsewhere_ends_the_session_once(page_in, django, kind):
    servers.test_a_refresh_token_used_elsewhere_ends_the_session_once_without_a_storm(page_in, django, kind)


STREAM = """
import js

async def main():
    api = client()
    stream = js.Blob.new(["streamed"]).stream()
    try:
        await api.post("/echo", body=stream)
        return "sent"
    except authfetch.UsageError as error:
        return ["UsageError", str(error)]
    except authfetch.NetworkError as error:
        return ["NetworkError", str(error)]
"""


def test_a_stream_body_the_engine_cannot_upload_is_refused_unsent(page_in):
    """Firefox sends a ReadableStream body as the text "[object ReadableStream]", WebKit throws
    NotSupportedError: refused first, naming the limit, in both."""
    page_in.fresh()
    before = page_in.stub.stats()["requests"].get("POST /api/v1/echo", 0)
    answer = page_in.run(STREAM)
    assert answer[0] == "UsageError" and "cannot upload a ReadableStream" in answer[1], answer
    assert page_in.stub.stats()["requests"].get("POST /api/v1/echo", 0) == before, "it must not be sent at all"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_one_tag_answers_a_burst_after_expiry_with_real_responses(engine, stub, runtime):
    embed.test_one_tag_boots_and_a_burst_after_expiry_refreshes_once(engine, stub, runtime)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_page_reads_its_own_sign_in_and_sign_out_answers(engine, stub, runtime):
    embed.test_the_page_reads_its_own_sign_in_and_sign_out_answers(engine, stub, runtime)


def test_the_one_tag_refuses_a_stream_body_it_cannot_upload(engine, stub):
    context, page = embed.open_embed(engine, stub, runtime="mpy")
    try:
        page.evaluate(embed.READY)
        embed.sign_in(page, stub)
        refused = page.evaluate(
            """async () => {
                try { await window.authfetch.fetch("/api/v1/echo", {method: "POST", body: new Blob(["x"]).stream(), duplex: "half"}); return "sent"; }
                catch (error) { return String(error); }
            }"""
        )
        assert "cannot upload a ReadableStream" in refused, refused
        assert stub.stats()["requests"].get("POST /api/v1/echo", 0) == 0, "it must not be sent at all"
    finally:
        context.close()


@pytest.fixture(scope="module")
def tabs_in(engine, stub):
    tabs = servers.open_tab_pages(engine, stub)
    yield tabs
    tabs[0].page.context.close()


@pytest.mark.parametrize("kind", ["sj", "dra"])
def test_five_tabs_at_expiry_lose_nothing_and_never_send_a_refresh_token_twice(tabs_in, django, kind):
    servers.test_five_tabs_at_expiry_lose_nothing_and_never_send_a_refresh_token_twice(tabs_in, django, kind)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_page_with_only_the_wheel_keeps_one_refresh_for_a_burst(engine, stub, runtime):
    page = install.open_wheel_page(engine, stub, runtime)
    try:
        install.test_a_page_with_only_the_wheel_keeps_one_refresh_for_a_burst(page)
    finally:
        page.page.context.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_one_tag_under_a_strict_policy(engine, one_tag_stub, runtime):
    csp.test_the_one_tag_under_a_strict_policy(engine, one_tag_stub, runtime)


NO_SUSPENDING = """
import js
import requests

async def main():
    try:
        requests.get(str(js.location.origin) + "/api/v1/users/profile")
        return "sent"
    except authfetch.UsageError as error:
        return str(error)
"""
WORKER_CLIENT = """
async def main():
    forget()
    try:
        client()
        return "made"
    except authfetch.UsageError as error:
        return str(error)
"""


def test_sync_code_after_expiry(engine, stub):
    """Firefox has JSPI (WebAssembly.Suspending): 50 requests.get in a Pyodide worker make one
    refresh. WebKit has no JSPI, and gives workers no SharedArrayBuffer (so PyScript lends them
    no page document): a worker's client refuses, saying so; on the page, a sync call refuses
    with the UsageError that says why, and nothing is sent."""
    worker = sync.open_page(engine, stub, "runtime=py&worker=1")
    try:
        if engine_name(engine) != "webkit":
            assert worker.run(sync.INSTALL) is True, "Firefox has JSPI"
            sync.test_fifty_sync_gets_in_a_worker_after_expiry_make_one_refresh(worker)
            return
        message = worker.run(WORKER_CLIENT)
        assert "cannot read the page's cookies" in message and "no SharedArrayBuffer" in message, message
    finally:
        worker.page.context.close()
    page = sync.open_page(engine, stub, "runtime=py")
    try:
        assert page.run(sync.INSTALL) is False, "WebKit has no JSPI: authfetch.sync cannot wait"
        page.fresh()
        message = page.run(NO_SUSPENDING)
        assert "cannot suspend" in message and "no JavaScript Promise Integration" in message, message
        assert page.stub.stats()["requests"].get("GET /api/v1/users/profile", 0) == 0, "nothing may be sent"
    finally:
        page.page.context.close()
