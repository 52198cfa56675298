"""The one-tag embed, driven from plain JavaScript, under both interpreters."""

import time
import urllib.parse

import pytest

from tests.support.stub_process import StubProcess

from .conftest import BOOT_TIMEOUT_MS, RUNTIMES

# The tag is a module script embed-page.js adds: WebKit may fire load before it has run.
READY = """async () => {
    for (const start = Date.now(); !window.authfetch; await new Promise((resolve) => setTimeout(resolve, 10))) {
        if (Date.now() - start > 10000) throw new Error("the tag never ran: no window.authfetch after 10 s");
    }
    let timer;
    const late = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("authfetch.ready did not settle in 90 s")), 90000); });
    await Promise.race([window.authfetch.ready, late]).finally(() => clearTimeout(timer));
    return performance.now();
}"""


def embed_url(stub, **data):
    data.setdefault("refreshUrl", "/api/v1/users/refresh-token")
    data.setdefault("signInUrl", "/api/v1/users/login")
    return f"{stub.url}__stub__/harness/embed.html?{urllib.parse.urlencode(data)}"


def open_embed(browser, stub, **data):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(BOOT_TIMEOUT_MS)
    # The tag says so on the console if it routed requests before Python by a table Python does
    # not share (routes.js against config.py): the boot-time tests fail on it.
    page.mismatches = []
    page.on("console", lambda message: "does not share" in message.text and page.mismatches.append(message.text))
    page.goto(embed_url(stub, **data))
    return context, page


def sign_in(page, stub):
    answer = page.evaluate(
        """async () => {
            const response = await window.authfetch.fetch("/api/v1/users/login", {
                method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({username: "demo", password: "demo"})});
            return [response.status, (await response.json()).data.user.username];  // whole, though Python read its token
        }"""
    )
    assert answer == [200, "demo"], answer
    stub.reset()


BURST = """async (n) => {
    const responses = await Promise.all(Array.from({length: n}, () => window.authfetch.fetch("/api/v1/users/profile")));
    return {
        real: responses.every((r) => r instanceof Response),
        statuses: responses.map((r) => r.status),
    };
}"""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_one_tag_boots_and_a_burst_after_expiry_refreshes_once(browser, stub, runtime):
    context, page = open_embed(browser, stub, runtime=runtime)
    try:
        ready_ms = page.evaluate(READY)
        print(f"[{runtime}] navigation to authfetch.ready: {ready_ms:.0f} ms")
        sign_in(page, stub)
        stub.expire()
        result = page.evaluate(BURST, 100)
        stats = stub.stats()
        figures = f"[{runtime}] ready after {ready_ms:.0f} ms; {result['statuses'].count(200)}/100 OK, refresh calls {stats['refresh_calls']}"
        assert result["real"], "window.authfetch.fetch must resolve to the browser's own Response"
        assert result["statuses"] == [200] * 100, figures
        assert stats["refresh_calls"] == 1, figures
    finally:
        context.close()


SIGN_ANSWERS = """async () => {
    const post = {method: "POST", headers: {"Content-Type": "application/json"}};
    const body = JSON.stringify({username: "demo", password: "demo"});
    const read = async (response) => [response.status, response.bodyUsed, await response.json()];
    const answers = [];
    // The tag's own fetch, then the patched one: each sign-in and sign-out answer, read by the page.
    for (const call of [(url, init) => window.authfetch.fetch(url, init), (url, init) => fetch(url, init)]) {
        answers.push(await read(await call("/api/v1/users/login", {...post, body})));
        answers.push(await read(await call("/api/v1/users/logout", post)));
    }
    return {answers, patched: !Function.prototype.toString.call(window.fetch).includes("[native code]")};
}"""
SIGNED_IN_AGAIN = """async () => {
    const response = await fetch("/api/v1/users/login", {method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify({username: "demo", password: "demo"})});
    return [response.status, (await response.json()).data.user.username];
}"""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_page_reads_its_own_sign_in_and_sign_out_answers(browser, stub, runtime):
    """Python reads the token from a copy: the page gets each answer unread (on 56a7559 the
    sign-in's json() failed with "body stream already read")."""
    context, page = open_embed(browser, stub, runtime=runtime, signOutUrl="/api/v1/users/logout", patchFetch="same-origin")
    try:
        page.evaluate(READY)
        stub.reset()
        result = page.evaluate(SIGN_ANSWERS)
        answers = result["answers"]
        assert result["patched"], "data-patch-fetch must have patched window.fetch"
        assert [answer[:2] for answer in answers] == [[200, False]] * 4, answers
        assert [answer[2]["data"]["user"]["username"] for answer in answers[0::2]] == ["demo", "demo"], answers
        assert [answer[2]["message"] for answer in answers[1::2]] == ["User logged out"] * 2, answers
        stats = stub.stats()
        assert stats["logins"] == 2 and stats["requests"].get("POST /api/v1/users/logout") == 2, stats
        # A sign-in read so keeps its session: after expiry a burst costs one refresh.
        assert page.evaluate(SIGNED_IN_AGAIN) == [200, "demo"]
        stub.reset()
        stub.expire()
        result = page.evaluate(BURST, 20)
        assert result["statuses"] == [200] * 20 and stub.stats()["refresh_calls"] == 1, (result, stub.stats())
    finally:
        context.close()


@pytest.fixture(scope="module")
def foreign(stub):
    other = StubProcess("--cors-origin", stub.origin)
    yield other
    other.stop()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_patched_fetch_covers_the_page_origin_only(browser, stub, foreign, runtime):
    context, page = open_embed(browser, stub, patchFetch="same-origin", runtime=runtime)
    page.evaluate(READY)
    sign_in(page, stub)
    stub.expire()
    result = page.evaluate(
        """async (foreign) => {
            const own = await Promise.all([1, 2, 3].map(() => fetch("/api/v1/users/profile")));
            const away = await fetch(foreign + "/api/v1/users/profile");
            return {own: own.map((r) => r.status), away: away.status,
                    native: window.authfetch.nativeFetch !== window.fetch};
        }""",
        foreign.origin,
    )
    assert result["own"] == [200, 200, 200] and result["native"], result
    assert stub.stats()["refresh_calls"] == 1
    assert result["away"] == 401 and foreign.stats()["carried"] == {"cookie": 0, "authorization": 0, "csrf": 0}
    assert foreign.stats()["refresh_calls"] == 0
    context.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_missing_interpreter_rejects_ready_naming_the_url(browser, stub, runtime):
    missing = "/static/authfetch/no-such-interpreter.mjs"
    context, page = open_embed(browser, stub, runtime=runtime, interpreter=missing)
    message = page.evaluate("async () => { try { await window.authfetch.ready; return 'resolved'; } catch (e) { return e.message; } }")
    assert missing in message and "404" in message, message
    context.close()


def test_invalid_config_rejects_ready_with_the_reason(browser, stub):
    context, page = open_embed(browser, stub, mode="magic")
    message = page.evaluate("async () => { try { await window.authfetch.ready; return 'resolved'; } catch (e) { return e.message; } }")
    assert "mode" in message and "magic" in message, message
    context.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("cancel", [False, True])
def test_session_end_fires_once_then_redirects_unless_cancelled(browser, stub, cancel, runtime):
    login_page = "/frontend/examples/existing-page/?signed-out=1"
    context, page = open_embed(browser, stub, loginUrl=login_page, runtime=runtime)
    page.evaluate(READY)
    sign_in(page, stub)
    if cancel:
        page.evaluate("() => sessionStorage.setItem('cancel-redirect', '1')")
    navigations = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))
    stub.expire()
    stub.faults({"status": 401})
    page.evaluate(
        """() => { window.done = Promise.all([1, 2, 3, 4, 5].map(
            () => window.authfetch.fetch("/api/v1/users/profile"))).then((rs) => rs.map((r) => r.status)); }"""
    )
    if cancel:
        statuses = page.evaluate("async () => await window.done")
        assert statuses == [401] * 5, statuses  # fetch semantics: the final 401, not an exception
        page.wait_for_timeout(300)
        assert navigations == [], navigations
    else:
        page.wait_for_url(f"**{login_page}")
        time.sleep(0.3)
        assert len([u for u in navigations if "signed-out" in u]) == 1, navigations
    count = page.evaluate("() => sessionStorage.getItem('events:session-expired')")
    assert count == "1", f"session-expired fired {count} times"
    context.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_example_page_keeps_working_across_expiries(browser, stub, runtime):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{stub.url}frontend/examples/existing-page/")
    page.wait_for_function("() => document.body.dataset.ready === 'yes'", timeout=BOOT_TIMEOUT_MS)
    page.click("#login-button")
    page.wait_for_function("() => document.getElementById('out').textContent.includes('demo@example.com')")
    for _ in range(2):
        stub.reset()
        stub.expire()
        page.evaluate("() => { document.getElementById('out').textContent = '' }")
        page.click("#load")
        page.wait_for_function("() => document.getElementById('out').textContent.includes('demo@example.com')")
        assert stub.stats()["refresh_calls"] == 1
    context.close()


def test_a_reused_abort_signal_gathers_no_listener_per_call(browser, stub):
    context, page = open_embed(browser, stub)
    page.evaluate(READY)
    sign_in(page, stub)
    live = page.evaluate(
        """async () => {
            const signal = new AbortController().signal;  // one signal for every call, as pages do
            let live = 0;
            const add = signal.addEventListener.bind(signal), remove = signal.removeEventListener.bind(signal);
            signal.addEventListener = (type, listener, options) => { live += type === "abort"; add(type, listener, options); };
            signal.removeEventListener = (type, listener, options) => { live -= type === "abort"; remove(type, listener, options); };
            for (let i = 0; i < 50; i++) await window.authfetch.fetch("/api/v1/users/profile", {signal});
            return live;
        }"""
    )
    assert live == 0, f"{live} abort listeners left on the signal after 50 calls"
    context.close()


class HeldBoot:
    """Holds the tag's Python (its bridge.py) until released: the interpreter cannot be up,
    whatever its boot time, so what the page sends meanwhile is sent before Python."""

    def __init__(self, page, pattern="**/authfetch/bridge.py"):
        self.held, self.released = [], False
        page.route(pattern, self._hold)

    def _hold(self, route):
        if self.released:
            route.continue_()
        else:
            self.held.append(route)

    def release(self):
        self.released = True
        for route in self.held:
            route.continue_()


BEFORE_PYTHON = """async ([n, foreign]) => {
    let up = false;
    window.authfetch.ready.then(() => { up = true; });
    const responses = await Promise.all(Array.from({length: n}, () => window.authfetch.fetch("/api/v1/users/profile")));
    const away = await window.authfetch.fetch(foreign + "/api/v1/users/profile");
    return {statuses: responses.map((r) => r.status), away: away.status, up};
}"""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_requests_leave_before_the_interpreter_is_up_and_a_401_waits_for_it(browser, stub, foreign, runtime):
    context, page = open_embed(browser, stub, runtime=runtime)
    try:
        page.evaluate(READY)
        sign_in(page, stub)
        boot = HeldBoot(page)
        page.reload()
        page.wait_for_function("() => !!window.authfetch")
        result = page.evaluate(BEFORE_PYTHON, [20, foreign.origin])
        stats = stub.stats()
        assert result["statuses"] == [200] * 20 and not result["up"], result
        assert stats["requests"].get("GET /api/v1/users/profile") == 20 and stats["carried"]["cookie"] >= 20, stats
        # Outside the allowlist nothing is carried, before Python as after.
        assert result["away"] == 401 and foreign.stats()["carried"] == {"cookie": 0, "authorization": 0, "csrf": 0}
        stub.expire()
        page.evaluate("""() => {
            window.reads = Promise.all(Array.from({length: 10}, () => window.authfetch.fetch("/api/v1/users/profile")));
            window.write = window.authfetch.fetch("/api/v1/echo", {method: "POST", body: "{}", headers: {"content-type": "application/json"}});
        }""")
        page.wait_for_function("() => JSON.parse(window.authfetch._engine.state()).held === 10")
        stats = stub.stats()
        assert stats["refresh_calls"] == 0 and stats["requests"].get("POST /api/v1/echo", 0) == 0, stats
        boot.release()
        page.evaluate(READY)
        assert not page.mismatches, page.mismatches
        reads = page.evaluate("async () => (await window.reads).map((r) => r.status)")
        write = page.evaluate("async () => (await window.write).status")
        stats = stub.stats()
        assert reads == [200] * 10 and write == 200, (reads, write)
        assert stats["refresh_calls"] == 1 and stats["requests"]["GET /api/v1/users/profile"] == 40, stats
        assert stats["requests"]["POST /api/v1/echo"] == 1, stats
    finally:
        context.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_401_held_for_an_interpreter_that_never_comes_is_answered(browser, stub, runtime):
    context, page = open_embed(browser, stub, runtime=runtime)
    try:
        page.evaluate(READY)
        sign_in(page, stub)
        stub.expire()
        boot = HeldBoot(page, "**/no-such-interpreter.mjs")
        page.goto(embed_url(stub, runtime=runtime, interpreter="/static/authfetch/no-such-interpreter.mjs"))
        page.wait_for_function("() => !!window.authfetch")
        # kept: the fetch a page may keep from load (const f = authfetch.fetch)
        page.evaluate("() => { window.kept = window.authfetch.fetch; window.read = window.kept('/api/v1/users/profile'); }")
        page.wait_for_function("() => JSON.parse(window.authfetch._engine.state()).held === 1")
        boot.release()  # the interpreter is missing: boot fails, and what it held settles
        status = page.evaluate("async () => (await window.read).status")
        assert status == 401  # its own last answer, not a hang
        message = page.evaluate("async () => { try { await window.authfetch.ready; return 'resolved'; } catch (e) { return e.message; } }")
        assert "no-such-interpreter" in message, message
        # After the failure nothing more leaves, not even through the kept function: it rejects
        # with the boot's reason instead of sending the cookie without a coordinator.
        sent = stub.stats()["requests"].get("GET /api/v1/users/profile", 0)
        late = page.evaluate("async () => { try { await window.kept('/api/v1/users/profile'); return 'sent'; } catch (e) { return e.message; } }")
        assert "no-such-interpreter" in late, late
        assert stub.stats()["requests"].get("GET /api/v1/users/profile", 0) == sent
    finally:
        context.close()


# Sent from the tag's load event, as a page's first requests are: before the tag's own timers.
FIRST_AT_LOAD = """document.addEventListener("load", (event) => {
    if (!String(event.target.src || "").endsWith("/authfetch.js")) return;
    const status = (url) => window.authfetch.fetch(url).then((r) => r.status, (e) => String(e));
    window.first = status("/api/v1/users/profile");
    window.second = status("/api/v1/users/profile?second=1");
}, true);"""
# Resource Timing of this page: path and query -> [startTime, responseStart, responseEnd] of
# its first request (a replay comes later: the first is the 401).
LOADS = """() => Object.fromEntries(performance.getEntriesByType("resource").reverse().map((e) => {
    const url = new URL(e.name);
    return [url.pathname + url.search, [e.startTime, e.responseStart, e.responseEnd]];
}))"""
SECOND = "/api/v1/users/profile?second=1"


def reloaded_with_requests_at_load(browser, stub, *, expired=False):
    """A signed-in embed page reloaded with FIRST_AT_LOAD, its second request held at a route."""
    context, page = open_embed(browser, stub, runtime="mpy")
    try:
        page.evaluate(READY)
        sign_in(page, stub)
        held = []
        page.route(lambda url: url.endswith(SECOND), lambda route: held.append(route))
        page.add_init_script(FIRST_AT_LOAD)
        if expired:
            stub.expire()
        page.reload()
    except BaseException:
        context.close()
        raise
    return context, page, held


def closed(context, page):
    page.unroute_all(behavior="ignoreErrors")
    context.close()


def routed(page, held, n=1):
    for _ in range(250):  # a route's event reaches this side a moment after the page sent it
        if len(held) >= n:
            return held
        page.wait_for_timeout(20)
    raise AssertionError(f"{len(held)} of {n} requests reached the route")


def interpreter_asked(loads):
    return min(at[0] for path, at in loads.items() if path.endswith(("micropython.mjs", "pyodide.mjs")))


def test_the_interpreter_loads_once_the_page_first_requests_are_answered(browser, stub):
    """The interpreter's files, read beside the page's first requests, slowed their answers (cold
    start, 2026-12-04): they are asked for only once the last of them is in."""
    context, page, held = reloaded_with_requests_at_load(browser, stub)
    try:
        assert page.evaluate("() => window.first") == 200
        routed(page, held)[0].continue_()  # the second is answered after the first
        page.evaluate(READY)
        assert page.evaluate("() => window.second") == 200
        loads = page.evaluate(LOADS)
        asked = interpreter_asked(loads)
        # Not at the first answer, but once the second is in (or at the cap, 500 ms after the tag ran).
        cap = loads["/static/authfetch/authfetch.js"][2] + 450
        assert asked >= min(loads[SECOND][1], cap) and asked >= loads["/api/v1/users/profile"][1], (asked, loads[SECOND], cap)
    finally:
        closed(context, page)


def test_a_401_at_load_boots_python_while_a_long_request_is_still_out(browser, stub):
    """A long request (a long poll) is no reason to keep Python waiting: a 401 beside it starts
    the boot at once, and is refreshed and replayed while the long one is still out."""
    context, page, held = reloaded_with_requests_at_load(browser, stub, expired=True)
    try:
        page.evaluate(READY)
        assert page.evaluate("() => window.first") == 200  # its 401 refreshed and replayed
        stats = stub.stats()
        assert stats["refresh_calls"] == 1 and stats["requests"].get("GET /api/v1/users/profile") == 2, stats
        loads = page.evaluate(LOADS)
        # The 401 woke the boot: not the 500 ms cap.
        assert interpreter_asked(loads) < loads["/api/v1/users/profile"][2] + 300, (interpreter_asked(loads), loads)
        # The long one, still out with the old cookie, was recalled and sent again with the new one.
        routed(page, held, 2)
        assert len(held) == 2 and page.evaluate("() => Promise.race([window.second, 'out'])") == "out"
        held[-1].continue_()
        assert page.evaluate("() => window.second") == 200
        assert stub.stats()["refresh_calls"] == 1
    finally:
        closed(context, page)


def test_ready_comes_while_the_page_first_request_is_still_out(browser, stub):
    """The boot waits for the page's first answers, but not for one that does not come."""
    context, page, held = reloaded_with_requests_at_load(browser, stub)
    try:
        page.evaluate(READY)
        routed(page, held)
        assert page.evaluate("() => Promise.race([window.second, 'out'])") == "out"
        held[0].continue_()
        assert page.evaluate("() => window.second") == 200
    finally:
        closed(context, page)
