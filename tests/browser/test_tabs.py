"""One refresh per browser, not per tab: several pages of one browser context against the stub
(grace window off, so any second use of a refresh token is caught as reuse)."""

import json
import time

import pytest

from tests.support.stub_process import StubProcess

from .conftest import HARNESS_READY, Harness, wait_for_boot

TABS = 5
PER_TAB = 20

KEEP_CLIENT = """
async def main():
    forget()
    api = client(keep="tab", cross_tab=%(cross_tab)s)
    events = {"refresh": [], "session-expired": 0}
    kept["events"] = events

    def on_refresh(event):
        events["refresh"].append(event.source)

    def on_end(event):
        events["session-expired"] += 1

    api.on("refresh", on_refresh)
    api.on("session-expired", on_end)
    return True
"""

FIRE = """
async def main():
    api = kept["tab"]
    wait_ms = START_DELAY_MS  # filled in by the page, so every tab fires at the same instant
    if wait_ms > 0:
        await asyncio.sleep(wait_ms / 1000)
    results = await many(%(n)d, lambda i: api.get("/users/profile"))
    out = outcomes(results)
    return {"outcomes": out, "events": kept["events"]}
"""


def open_tabs(context, stub, runtimes):
    """A harness page per runtime: "mpy", "py", or "mpy-worker"/"py-worker" for a PyScript worker."""
    tabs = []
    for runtime in runtimes:
        page = context.new_page()
        tab = Harness(page, stub, runtime)
        name, _, worker = runtime.partition("-")
        page.goto(f"{stub.url}__stub__/harness/?runtime={name}" + ("&worker=1" if worker else ""))
        tabs.append(tab)
    for tab in tabs:
        wait_for_boot(tab.page, tab.console_errors, HARNESS_READY)
    return tabs


@pytest.fixture(scope="module")
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture(scope="module")
def tabs(context, stub):
    return open_tabs(context, stub, ["mpy"] * TABS)


def sign_in(tab):
    tab.page.context.clear_cookies()
    tab.stub.reset()
    tab.run("async def main():\n    return (await client().login(json={'username': 'demo', 'password': 'demo'})).status")
    tab.stub.reset()


def fire_everywhere(tabs, n, code=FIRE):
    """Start n requests in every tab at the same instant (``code``: a snippet with %(n)d and
    START_DELAY_MS in it); wait for all; their answers."""
    # Time enough to hand every tab its snippet before the instant: 150 ms a tab, or three times
    # what one call into a tab takes with this driver (WebDriver switches windows per call).
    asked = time.monotonic()
    now = tabs[0].page.evaluate("() => Date.now()")  # tabs[0]: a window switch away, as the calls below
    start_at = now + max(150, 3000 * (time.monotonic() - asked)) * len(tabs)
    for tab in tabs:
        tab.page.evaluate(
            """([code, startAt]) => {
                code = code.replace("START_DELAY_MS", String(Math.max(0, startAt - Date.now())));
                window.fired = window.harnessRun(code).then(String);
            }""",
            [code % {"n": n}, start_at],
        )
    answers = []
    for tab in tabs:
        answer = json.loads(tab.page.evaluate("async () => await window.fired"))
        assert answer["ok"], answer
        answers.append(answer["value"])
    return answers


@pytest.mark.parametrize("cross_tab", [True, False])
def test_five_tabs_at_expiry(tabs, cross_tab):
    sign_in(tabs[0])
    for tab in tabs:
        tab.run(KEEP_CLIENT % {"cross_tab": cross_tab})
    tabs[0].stub.expire()
    # A refresh that takes 300 ms, as over a real network: long enough for every tab's 401 to
    # arrive while it runs, so without the lock the tabs' refreshes overlap.
    tabs[0].stub.faults({"delay_ms": 300})
    answers = fire_everywhere(tabs, PER_TAB)
    stats = tabs[0].stub.stats()
    outcomes = [o for a in answers for o in a["outcomes"]]
    ok = outcomes.count(200)
    figures = (
        f"cross_tab={cross_tab}: {ok}/{len(outcomes)} succeeded, refresh calls {stats['refresh_calls']}, "
        f"reuse detected {stats['reuse_detected']}, refresh sources {[a['events']['refresh'] for a in answers]}"
    )
    print(figures)
    if cross_tab:
        assert ok == TABS * PER_TAB, figures
        assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, figures
    else:
        # The lock is what makes the difference: without it the tabs race and rotation bites.
        assert stats["refresh_calls"] > 1 and stats["reuse_detected"] >= 1, figures
        assert ok < TABS * PER_TAB, figures


def test_a_tab_closed_mid_refresh_hands_the_lock_on(context, stub):
    first, second = open_tabs(context, stub, ["mpy", "mpy"])
    sign_in(first)
    second.run(KEEP_CLIENT % {"cross_tab": True})
    # The first tab holds the refresh lock and never lets go, as a tab stuck mid-refresh does.
    lock_name = f"authfetch:{stub.url}api/v1/users/refresh-token"
    first.page.evaluate(
        "(name) => new Promise((held) => navigator.locks.request(name, () => { held(); return new Promise(() => {}); }))",
        lock_name,
    )
    stub.expire()
    second.page.evaluate(
        "(code) => { window.fired = window.harnessRun(code).then(String); }", (FIRE % {"n": 3}).replace("START_DELAY_MS", "0")
    )
    second.page.wait_for_timeout(500)
    assert stub.stats()["refresh_calls"] == 0, "the second tab refreshed while the first held the lock"
    started = time.monotonic()
    first.page.close()
    answer = json.loads(second.page.evaluate("async () => await window.fired"))
    waited = time.monotonic() - started
    stats = stub.stats()
    figures = f"second tab: {answer}, refresh calls {stats['refresh_calls']}, took {waited:.2f} s after the close"
    assert answer["ok"] and answer["value"]["outcomes"] == [200] * 3, figures
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0 and waited < 10, figures
    second.page.close()


def fire(tab, code):
    """Start a snippet without waiting for it (``settled`` waits)."""
    tab.page.evaluate("""(code) => {
        window.firedDone = false;
        window.fired = window.harnessRun(code).then(String);
        window.fired.finally(() => { window.firedDone = true; });
    }""", code)


def settled(tab, seconds):
    """The fired snippet's value, or a failure after ``seconds`` (page.evaluate never times out)."""
    tab.page.wait_for_function("() => window.firedDone", timeout=seconds * 1000)
    answer = json.loads(tab.page.evaluate("async () => await window.fired"))
    assert answer["ok"], answer
    return answer["value"]


FIRE_TOLD = """
import js

async def main():
    started = js.performance.now()
    results = await many(3, lambda i: kept["tab"].get("/users/profile"))
    return {"outcomes": outcomes(results), "told": [str(r) for r in results if isinstance(r, Exception)],
            "ms": js.performance.now() - started}
"""
HOLD_LOCK = """(name) => new Promise((held, refused) => navigator.locks.request(name,
    {signal: AbortSignal.timeout(5000)},
    () => new Promise((release) => { window.releaseLock = release; held(true); })).catch(refused))"""
PENDING = """async (name) => (await navigator.locks.query()).pending.filter((lock) => lock.name === name).length"""
# Whether a request for the lock comes to wait behind the holder within 400 ms.
QUEUED = """async (name) => {
    for (const until = performance.now() + 400; performance.now() < until;) {
        if ((await navigator.locks.query()).pending.some((lock) => lock.name === name)) return true;
        await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return false;
}"""


@pytest.mark.parametrize("runtime", ["mpy", "py"])
def test_a_lock_never_granted_fails_the_round_and_leaves_no_claim(browser, stub, runtime):
    # Another tab holds the refresh lock past lock_timeout: the round fails on that (with no
    # retry asked for) after lock_timeout, not before and not never, and sends no refresh; the
    # request that timed out is not left waiting for the lock, so once the holder lets go the
    # next round renews. A context of its own: locks are per origin and context, and a lock
    # left held by a failure here must not stall the module's other tests.
    context = browser.new_context()
    try:
        (tab,) = open_tabs(context, stub, [runtime])
        sign_in(tab)
        tab.run(KEEP_CLIENT.replace("cross_tab=%(cross_tab)s", "cross_tab=True, lock_timeout=0.5, refresh_retries=0"))
        holder = context.new_page()
        holder.goto(f"{stub.url}api/v1/users/profile")  # any page of the origin
        lock = f"authfetch:{stub.url}api/v1/users/refresh-token"
        assert holder.evaluate(HOLD_LOCK, lock) is True
        stub.expire()
        fire(tab, FIRE_TOLD)
        assert holder.evaluate(QUEUED, lock), "authfetch never asked for the lock the holder has"
        failed = settled(tab, 10)
        assert failed["outcomes"] == ["RefreshFailed"] * 3 and stub.stats()["refresh_calls"] == 0, (failed, stub.stats())
        assert all("not granted within 0.5" in told for told in failed["told"]), failed
        # timed in the page, from the first request: waited for lock_timeout, and not for ever
        assert 500 <= failed["ms"] < 5000, f"failed after {failed['ms']:.0f} ms with lock_timeout=0.5"
        assert holder.evaluate(PENDING, lock) == 0, "the timed-out request still waits for the lock"
        holder.evaluate("() => window.releaseLock()")
        fire(tab, FIRE_TOLD)
        renewed = settled(tab, 10)
        assert renewed["outcomes"] == [200] * 3 and stub.stats()["refresh_calls"] == 1, (renewed, stub.stats())
    finally:
        context.close()


def test_sign_out_in_one_tab_ends_the_others(tabs):
    sign_in(tabs[0])
    for tab in tabs:
        tab.run(KEEP_CLIENT % {"cross_tab": True})
    tabs[0].run("async def main():\n    await kept['tab'].logout()\n    return True")
    tabs[0].page.wait_for_timeout(300)
    tabs[0].stub.reset()
    answers = fire_everywhere(tabs[1:], 5)
    stats = tabs[0].stub.stats()
    for answer in answers:
        assert answer["events"]["session-expired"] == 1, answers
        assert answer["outcomes"] == ["SessionExpired"] * 5, answers
    assert stats["requests"] == {}, f"sent after sign-out: {stats['requests']}"


def test_micropython_and_pyodide_tabs_share_the_lock(context, stub):
    tabs = open_tabs(context, stub, ["mpy", "py"])
    sign_in(tabs[0])
    for tab in tabs:
        tab.run(KEEP_CLIENT % {"cross_tab": True})
    stub.expire()
    answers = fire_everywhere(tabs, PER_TAB)
    stats = stub.stats()
    figures = f"mpy+py tabs: {answers}, refresh calls {stats['refresh_calls']}"
    assert [a["outcomes"] for a in answers] == [[200] * PER_TAB] * 2, figures
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, figures
    assert sorted(a["events"]["refresh"][0] for a in answers) == ["local", "remote"], figures
    for tab in tabs:
        tab.page.close()


CSRF_POST = """
async def main():
    answer = await (await kept["tab"].post("/echo", json={"from": RUNTIME})).json()
    return answer["data"]["headers"].get("X-CSRF-Token") is not None
"""


def test_workers_and_a_page_share_the_lock(context, stub):
    tabs = open_tabs(context, stub, ["mpy", "mpy-worker", "py-worker"])
    sign_in(tabs[0])
    for tab in tabs:
        tab.run(KEEP_CLIENT % {"cross_tab": True})
    # A worker reads the CSRF cookie from the page's document, which PyScript lends it.
    assert [tab.run(CSRF_POST) for tab in tabs[1:]] == [True, True]
    stub.reset()
    stub.expire()
    stub.faults({"delay_ms": 300})  # the tabs' 401s arrive while the refresh runs, as in the 5-tab test
    answers = fire_everywhere(tabs, PER_TAB)
    stats = stub.stats()
    figures = f"page + 2 workers: {answers}, refresh calls {stats['refresh_calls']}, reuse {stats['reuse_detected']}"
    assert [a["outcomes"] for a in answers] == [[200] * PER_TAB] * 3, figures
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, figures
    sources = sorted(a["events"]["refresh"][0] for a in answers)
    assert sources == ["local", "remote", "remote"], figures
    for tab in tabs:
        tab.page.close()


def test_a_worker_on_a_page_without_isolation_says_what_it_needs(browser):
    plain = StubProcess("--isolation", "off")
    context = browser.new_context()
    try:
        (tab,) = open_tabs(context, plain, ["mpy-worker"])
        answer = tab.run(
            """
async def main():
    try:
        client()
        return "no error"
    except authfetch.UsageError as error:
        message = str(error)
    api = client(csrf_cookie=None)  # a server that wants no CSRF header still works from here
    await api.login(json={"username": "demo", "password": "demo"})
    return [message, (await api.get("/users/profile")).status]
"""
        )
        assert "Cross-Origin-Embedder-Policy" in answer[0] and "csrf_cookie" in answer[0], answer
        assert answer[1] == 200, answer
    finally:
        context.close()
        plain.stop()
