"""The scenarios that matter most, in the browser engines beside Chromium (which runs the whole
suite): Firefox ESR over WebDriver BiDi, on both interpreters. Each scenario's body is the one
the Chromium suite runs (test_servers.py, test_embed.py), handed this engine's page.

WebKit (WebKitWebDriver through Selenium, over HTTPS) is still to come: README, "Browsers".
"""

import pytest

from . import test_csp as csp
from . import test_install as install
from . import test_servers as servers
from . import test_sync as sync
from .conftest import BOOT_TIMEOUT_MS, RUNTIMES, open_harness
from .test_csp import one_tag_stub  # noqa: F401  (a fixture: the stub serving the one tag's strict policy)
from .test_embed import BURST, READY, embed_url, sign_in

ENGINES = ["firefox"]


@pytest.fixture(scope="module", params=[(engine, runtime) for engine in ENGINES for runtime in RUNTIMES],
                ids=lambda p: "-".join(p))
def page_in(request, firefox, stub):
    harness = open_harness(firefox, stub, request.param[1])
    harness.engine = request.param[0]
    yield harness
    harness.page.context.close()


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
    """Firefox sends a ReadableStream body as the text "[object ReadableStream]": refused first."""
    page_in.fresh()
    before = page_in.stub.stats()["requests"].get("POST /api/v1/echo", 0)
    answer = page_in.run(STREAM)
    assert answer[0] == "UsageError" and "cannot upload a ReadableStream" in answer[1], answer
    assert page_in.stub.stats()["requests"].get("POST /api/v1/echo", 0) == before, "it must not be sent at all"


def test_the_one_tag_answers_a_burst_after_expiry_with_real_responses(firefox, stub):
    context = firefox.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(BOOT_TIMEOUT_MS)
        page.goto(embed_url(stub, runtime="mpy"))
        page.evaluate(READY)
        sign_in(page, stub)
        stub.expire()
        result = page.evaluate(BURST, 100)
        assert result["real"] and result["statuses"] == [200] * 100, result
        assert stub.stats()["refresh_calls"] == 1
        refused = page.evaluate(
            """async () => {
                try { await window.authfetch.fetch("/api/v1/echo", {method: "POST", body: new Blob(["x"]).stream(), duplex: "half"}); return "sent"; }
                catch (error) { return String(error); }
            }"""
        )
        assert "cannot upload a ReadableStream" in refused, refused
    finally:
        context.close()


@pytest.fixture(scope="module")
def firefox_tabs(firefox, stub):
    tabs = servers.open_tab_pages(firefox, stub)
    yield tabs
    tabs[0].page.context.close()


@pytest.mark.parametrize("kind", ["sj", "dra"])
def test_five_tabs_at_expiry_lose_nothing_and_never_send_a_refresh_token_twice(firefox_tabs, django, kind):
    servers.test_five_tabs_at_expiry_lose_nothing_and_never_send_a_refresh_token_twice(firefox_tabs, django, kind)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_page_with_only_the_wheel_keeps_one_refresh_for_a_burst(firefox, stub, runtime):
    page = install.open_wheel_page(firefox, stub, runtime)
    try:
        install.test_a_page_with_only_the_wheel_keeps_one_refresh_for_a_burst(page)
    finally:
        page.page.context.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_one_tag_under_a_strict_policy(firefox, one_tag_stub, runtime):  # noqa: F811
    csp.test_the_one_tag_under_a_strict_policy(firefox, one_tag_stub, runtime)


def test_fifty_sync_gets_in_a_worker_after_expiry_make_one_refresh(firefox, stub):
    """Firefox has JSPI (WebAssembly.Suspending): requests in a Pyodide worker waits synchronously."""
    worker = sync.installed(firefox, stub, "runtime=py&worker=1")
    try:
        sync.test_fifty_sync_gets_in_a_worker_after_expiry_make_one_refresh(worker)
    finally:
        worker.page.context.close()
