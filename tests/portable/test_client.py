"""Client behaviour through the fake transport: each numbered semantic of the core issue.

Plain ``async def test_*`` functions with asserts, run under real MicroPython and Pyodide in
Node.js (tests/portable/run_node.mjs, from tests/unit/test_portable_interpreters.py), with the
real engine.js: only the server is fake. (On CPython there is no engine: the session's own
tests there use the pass-through wire, tests/unit/test_session.py.) Concurrency is "N at once,
then count".
"""

import asyncio
import hashlib

from authfetch import (
    AuthClient,
    NonReplayableBody,
    RefreshFailed,
    RequestTimeout,
    SessionExpired,
    UsageError,
)
from authfetch.compat import monotonic
from authfetch.coordinator import Schedule
from authfetch.testing import FakeBrowser, FakeStream, reply
from fake_server import REFRESH, FakeServer, Gate

PROFILE = "/users/profile"


def client(server, **options):
    options.setdefault("no_refresh_for", ["/api/v1/users/login", "/api/v1/users/logout"])
    return AuthClient("/api/v1", refresh_url="/api/v1/users/refresh-token", transport=server.transport, **options)


async def many(n, make):
    """Start n requests at once; their results (a Response or the exception), in order."""

    async def one(i):
        try:
            return await make(i)
        except Exception as error:
            return error

    coroutines = []
    for i in range(n):
        coroutines.append(one(i))
    return await asyncio.gather(*coroutines)


def statuses(results):
    out = []
    for result in results:
        out.append(getattr(result, "status", type(result).__name__))
    return out


async def refresh_on_the_wire(server, api):
    """Expire the credential and start a GET whose 401 sends a refresh that waits at a gate;
    returns (gate, the GET's task) once the refresh call is out."""
    gate = Gate()
    server.refresh_script = [gate]
    server.expire()
    pending = asyncio.create_task(api.get(PROFILE))
    while server.refresh_calls == 0:
        await asyncio.sleep(0)
    return gate, pending


def as_if_passed(api, seconds):
    """Play ``seconds`` passing for the renewal ahead of expiry (the coordinator's due time and
    the engine's, which mirrors it), without waiting."""
    session = api._session
    session.coordinator.refresh_at -= seconds
    session._carry_out([Schedule(max(0, session.coordinator.refresh_at - monotonic()))])


async def settles(task, seconds=2.0):
    """Whether ``task`` finishes within ``seconds`` (asyncio.wait_for is missing on MicroPython)."""
    deadline = monotonic() + seconds
    while not task.done():
        if monotonic() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


def record(api, names):
    seen = []
    for name in names:
        api.on(name, lambda event: seen.append(event))
    return seen


async def test_one_refresh_for_a_burst_of_401s():
    server = FakeServer()
    api = client(server)
    server.expire()
    results = await many(50, lambda i: api.get(PROFILE))
    assert statuses(results) == [200] * 50, statuses(results)
    assert server.refresh_calls == 1, server.refresh_calls
    assert api.stats["refresh_successes"] == 1 and api.stats["replays"] == 50, api.stats


async def test_two_clients_on_one_refresh_url_share_the_refresh():
    server = FakeServer()
    first, second = client(server), client(server)
    server.expire()
    results = await many(40, lambda i: (first if i % 2 else second).get(PROFILE))
    assert statuses(results) == [200] * 40, statuses(results)
    assert server.refresh_calls == 1, server.refresh_calls


async def test_request_started_during_refresh_is_held_then_sent_once():
    server = FakeServer()
    api = client(server)
    gate, first = await refresh_on_the_wire(server, api)
    late = asyncio.create_task(api.get("/users/current-user"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert server.count("/api/v1/users/current-user") == 0, "sent with a stale credential"
    assert api.stats["max_held"] >= 1
    gate.open()
    assert (await first).status == 200 and (await late).status == 200
    assert server.count("/api/v1/users/current-user") == 1
    assert server.refresh_calls == 1


async def test_request_listeners_see_every_step_and_only_while_they_listen():
    server = FakeServer()
    api = client(server)
    steps, everything = [], []
    api.on("*", lambda event: everything.append(event.name))
    stop = api.on("request", lambda event: steps.append((event.ident, event.phase, event.status, event.attempt)))
    gate, first = await refresh_on_the_wire(server, api)
    late = asyncio.create_task(api.get("/users/current-user"))
    for _ in range(5):
        await asyncio.sleep(0)
    gate.open()
    assert (await first).status == 200 and (await late).status == 200
    for _ in range(5):
        await asyncio.sleep(0)  # the last reports travel in a batch
    by_request = {}
    for ident, phase, status, attempt in steps:
        by_request.setdefault(ident, []).append((phase, status, attempt))
    phases = [[phase for phase, _, _ in trail] for trail in by_request.values()]
    # The GET that met the expiry, the refresh call, and the GET that waited at the gate:
    assert ["queued", "sent", "first-401", "held", "sent", "done"] in phases, by_request
    assert ["queued", "sent", "done"] in phases, by_request  # the refresh call itself
    assert ["queued", "held", "sent", "done"] in phases, by_request
    assert "request" not in everything, "a '*' listener gets no per-request steps"
    stop()
    before = len(steps)
    assert (await api.get(PROFILE)).status == 200
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(steps) == before, "no steps once nobody listens"


async def test_late_401_from_an_older_generation_is_replayed_without_a_new_refresh():
    server = FakeServer()
    api = client(server)
    slow = Gate()
    server.hold["/api/v1/echo"] = slow
    server.expire()
    # A POST (never recalled: it may be at the server) sent with generation 0.
    held_back = asyncio.create_task(api.post("/echo", json={"n": 1}, headers={"X-Request-Id": "late"}))
    await server.until_parked("/api/v1/echo", 1)
    assert (await api.get(PROFILE)).status == 200  # its 401 refreshes: generation 1
    assert server.refresh_calls == 1
    del server.hold["/api/v1/echo"]
    slow.open()  # now the old request's 401 arrives, after the refresh
    assert (await held_back).status == 200
    assert server.refresh_calls == 1, "a late 401 must not refresh again"
    assert server.count("/api/v1/echo") == 2 and server.handled == {"late": 1}, (server.seen, server.handled)


async def test_the_first_401_recalls_the_safe_requests_still_out_with_the_stale_credential():
    server = FakeServer()
    api = client(server)
    slow = Gate()
    server.hold["/api/v1/users/current-user"] = slow  # these stay "on the way", as in the browser's queue
    server.hold["/api/v1/echo"] = slow
    server.expire()
    gets = [asyncio.create_task(api.get("/users/current-user")) for _ in range(5)]
    post = asyncio.create_task(api.post("/echo", json={"n": 1}, headers={"X-Request-Id": "p"}))
    await server.until_parked("/api/v1/users/current-user", 5)
    await server.until_parked("/api/v1/echo", 1)
    del server.hold["/api/v1/users/current-user"]
    assert (await api.get(PROFILE)).status == 200  # the first 401: refresh, and recall the GETs
    assert api.stats.get("recalls") == 5, api.stats  # (without the recall they would wait at the gate)
    for get in gets:  # (MicroPython has no await inside a comprehension)
        assert (await get).status == 200
    # Each GET went out twice (recalled, then sent with the new credential), never three times.
    assert server.count("/api/v1/users/current-user") == 10, server.seen
    assert server.count("/api/v1/echo") == 1, "the POST was not recalled: it may be at the server"
    del server.hold["/api/v1/echo"]
    slow.open()
    assert (await post).status == 200 and server.handled == {"p": 1}, server.handled
    assert server.refresh_calls == 1


async def test_replay_happens_at_most_once_and_its_401_is_returned():
    server = FakeServer()
    api = client(server)
    server.always_401.add("/api/v1/forbidden-forever")
    response = await api.get("/forbidden-forever")
    assert response.status == 401
    assert server.count("/api/v1/forbidden-forever") == 2, server.seen
    assert server.refresh_calls == 1


async def test_no_refresh_for_login_urls():
    server = FakeServer()
    api = client(server)
    server.always_401.add("/api/v1/users/login-check")
    api2 = client(server, no_refresh_for=["/api/v1/users/login-check"])
    response = await api2.post("/users/login-check", json={"username": "x"})
    assert response.status == 401 and server.refresh_calls == 0
    assert api.stats["refreshes"] == 0


async def test_refresh_refused_ends_the_session_once_and_nothing_is_sent_after():
    server = FakeServer()
    api = client(server)
    events = record(api, ["session-expired", "refresh"])
    server.refresh_script = [401]
    server.expire()
    results = await many(10, lambda i: api.get(PROFILE))
    assert statuses(results) == ["SessionExpired"] * 10, statuses(results)
    assert results[0].request.url.endswith(PROFILE) and results[0].response.status == 401
    assert len(events) == 1 and events[0].name == "session-expired", events
    sent_before = len(server.seen)
    after = await many(20, lambda i: api.get(PROFILE))
    assert statuses(after) == ["SessionExpired"] * 20
    assert server.refresh_calls == 1 and len(server.seen) == sent_before, "sent after session end"
    login = await api.login("/users/login", json={"username": "demo", "password": "demo"})
    assert login.status == 200
    assert (await api.get(PROFILE)).status == 200
    assert len(events) == 1


async def test_refresh_is_a_plain_credentialed_post_with_csrf():
    server = FakeServer()
    api = client(server)
    server.expire()
    await api.get(PROFILE)
    refresh = [s for s in server.transport.sent if s.url == REFRESH]
    assert len(refresh) == 1
    assert refresh[0].method == "POST" and refresh[0].credentials
    assert refresh[0].headers.get("X-CSRF-Token") == "csrf-1"


async def test_csrf_header_on_unsafe_methods_only_and_the_replay_carries_the_rotated_value():
    server = FakeServer()
    api = client(server)
    get = await api.get(PROFILE)
    assert get.status == 200 and server.seen[-1][3].get("X-CSRF-Token") is None
    server.expire()
    post = await api.post("/echo", json={"a": 1})
    assert post.status == 200, post.status
    posts = [s for s in server.seen if s[1] == "/api/v1/echo"]
    assert posts[0][3].get("X-CSRF-Token") == "csrf-1"
    assert posts[1][3].get("X-CSRF-Token") == "csrf-2", "the replay must carry the rotated token"


async def test_foreign_origin_gets_no_credentials_and_its_401_starts_no_refresh():
    server = FakeServer()
    api = client(server)
    response = await api.post("https://elsewhere.test/api", json={"a": 1})
    sent = server.transport.sent[-1]
    assert response.status == 401
    assert not sent.credentials and sent.headers.get("X-CSRF-Token") is None
    assert sent.headers.get("Authorization") is None
    assert server.refresh_calls == 0


async def test_allowed_origin_gets_credentials():
    server = FakeServer()
    api = client(server, allowed_origins=["https://api.test"])
    await api.post("https://api.test/x", body="hi")
    assert server.transport.sent[-1].credentials
    assert server.transport.sent[-1].headers.get("X-CSRF-Token") == "csrf-1"


async def test_auth_false_sends_the_request_untouched():
    server = FakeServer()
    api = client(server)
    server.expire()
    response = await api.post("/echo", json={"a": 1}, auth=False)
    sent = server.transport.sent[-1]
    assert response.status == 401 and not sent.credentials and sent.headers.get("X-CSRF-Token") is None
    assert server.refresh_calls == 0


async def test_bodies_replay_with_the_same_bytes():
    server = FakeServer()
    api = client(server)
    server.expire()
    bodies = ["h\u00e9llo", b"\x00\x01binary\xfe", None]

    def send(i):
        if bodies[i] is None:
            return api.post("/echo", json={"n": i, "text": "\u00e9"})
        return api.post("/echo", body=bodies[i])

    results = await many(3, send)
    assert statuses(results) == [200, 200, 200], statuses(results)
    sent = [s for s in server.transport.sent if s.url.endswith("/echo")]
    assert len(sent) == 6, len(sent)
    first_sends, replays = sent[:3], sent[3:]
    assert sorted(s.body for s in first_sends) == sorted(s.body for s in replays)
    assert "h\u00e9llo".encode() in [s.body for s in replays]
    assert b"\x00\x01binary\xfe" in [s.body for s in replays]


async def test_stream_body_is_sent_once_and_its_401_explained():
    server = FakeServer()
    api = client(server)
    server.expire()
    try:
        await api.post("/echo", body=FakeStream(b"chunked"))
        raise AssertionError("expected NonReplayableBody")
    except NonReplayableBody as error:
        assert error.response.status == 401 and "cannot be replayed" in str(error)
    assert server.count("/api/v1/echo") == 1
    assert (await api.post("/echo", body="again")).status == 200
    assert server.refresh_calls == 1, "the stale credential is still renewed for the next request"
    assert server.count("/api/v1/echo") == 2, "the next request waited for the refresh"


async def test_held_request_timeout_counts_its_waiting_time():
    server = FakeServer()
    api = client(server)
    gate, first = await refresh_on_the_wire(server, api)
    try:
        await api.get("/users/current-user", timeout=0.05)
        raise AssertionError("expected RequestTimeout")
    except RequestTimeout as error:
        assert "timeout" in str(error)
    assert server.count("/api/v1/users/current-user") == 0
    gate.open()
    assert (await first).status == 200


async def test_in_flight_timeout_aborts():
    server = FakeServer()
    api = client(server)
    server.hold["/api/v1/slow"] = Gate()
    try:
        await api.get("/slow", timeout=0.05)
        raise AssertionError("expected RequestTimeout")
    except RequestTimeout:
        pass
    assert (await api.get(PROFILE)).status == 200, "the client keeps working after a timeout"


async def test_refresh_network_failures_give_refresh_failed_not_session_expired():
    server = FakeServer()
    api = client(server, refresh_retries=1)
    events = record(api, ["refresh-failed", "session-expired"])
    server.refresh_script = ["drop", "drop"]
    server.expire()
    results = await many(5, lambda i: api.get(PROFILE))
    assert statuses(results) == ["RefreshFailed"] * 5, statuses(results)
    assert server.refresh_calls == 2
    assert [e.name for e in events] == ["refresh-failed"]
    assert (await api.get(PROFILE)).status == 200, "the next request tries again"
    assert server.refresh_calls == 3


async def test_transient_refresh_failure_is_retried_and_the_session_kept():
    server = FakeServer()
    api = client(server)
    server.refresh_script = [503, 503]
    server.expire()
    results = await many(10, lambda i: api.get(PROFILE))
    assert statuses(results) == [200] * 10, statuses(results)
    assert server.refresh_calls == 3


async def test_events_describe_what_happened():
    server = FakeServer()
    api = client(server)
    events = record(api, ["refresh-start", "refresh", "replay"])
    server.expire()
    await many(3, lambda i: api.get(PROFILE))
    names = [e.name for e in events]
    assert names.count("refresh-start") == 1 and names.count("refresh") == 1 and names.count("replay") == 3, names
    assert events[names.index("refresh")].generation == 1


async def test_bearer_mode_keeps_the_token_in_memory_and_sends_it_only_to_allowed_origins():
    server = FakeServer(mode="bearer")
    api = client(server, mode="bearer")
    await api.login("/users/login", json={"username": "demo", "password": "demo"})
    assert (await api.get(PROFILE)).status == 200
    assert server.transport.sent[-1].headers.get("Authorization") == "Bearer " + server.bearer
    server.expire()
    assert (await api.get(PROFILE)).status == 200 and server.refresh_calls == 1
    await api.get("https://elsewhere.test/x")
    assert server.transport.sent[-1].headers.get("Authorization") is None


async def test_usage_errors_name_the_argument():
    server = FakeServer()
    api = client(server)
    cases = [
        (lambda: api.fetch(PROFILE, method="FETCH"), "method"),
        (lambda: api.post("/echo", body="a", json={"b": 1}), "json"),
        (lambda: api.get(PROFILE, timeout=-1), "timeout"),
        (lambda: api.get("http://exa mple.com/"), "url"),
        (lambda: api.post("/echo", body=object()), "body"),
        (lambda: api.get(PROFILE, timeout=float("inf")), "timeout"),
        (lambda: api.get(PROFILE, timeout=float("nan")), "timeout"),
        (lambda: api.get(PROFILE, headers={"X-Id": "a\nb"}), "X-Id"),
        (lambda: api.get(PROFILE, headers={"X Id": "a"}), "X Id"),
    ]
    for make, word in cases:
        try:
            await make()
            raise AssertionError("expected UsageError for " + word)
        except UsageError as error:
            assert word in str(error), str(error)
    for options, word in (({"mode": "magic"}, "mode"), ({"refresh_timeout": -1}, "refresh_timeout"),
                          ({"refresh_timeout": float("inf")}, "refresh_timeout"), ({"lock_timeout": 1e12}, "lock_timeout"),
                          ({"leeway": float("nan")}, "leeway"), ({"headers": {"X-Id": "t\u20ac"}}, "X-Id")):
        try:
            client(server, **options)
            raise AssertionError("expected UsageError for " + word)
        except UsageError as error:
            assert word in str(error), str(error)
    try:
        AuthClient("/api", refresh_url="https://evil.test/refresh", transport=server.transport)
        raise AssertionError("expected UsageError for a foreign refresh_url")
    except UsageError as error:
        assert "refresh_url" in str(error)


async def test_every_request_settles_whatever_the_refresh_does():
    for script in (["ok"], [401], ["drop"] * 4, [503] * 4, [("body", "not json")], [400], [403]):
        server = FakeServer()
        api = client(server, refresh_retries=1, mode="bearer" if script[0] == ("body", "not json") else "cookie")
        server.refresh_script = list(script)
        server.expire()
        results = await many(8, lambda i: api.post("/echo", json={"i": i}) if i % 2 else api.get(PROFILE))
        assert len(results) == 8
        for result in results:
            assert hasattr(result, "status") or isinstance(result, (SessionExpired, RefreshFailed)), (script, result)


async def test_renewal_ahead_of_expiry_goes_through_the_single_flight():
    server = FakeServer()
    api = client(server, leeway=30)
    await api.login("/users/login", json={"username": "demo", "password": "demo"})  # expiresIn 60
    as_if_passed(api, 31)  # within the leeway
    results = await many(10, lambda i: api.get(PROFILE))
    assert statuses(results) == [200] * 10, statuses(results)
    assert server.refresh_calls == 1, server.refresh_calls
    assert server.count("/api/v1/users/profile") == 10, "held for the renewal, none sent stale"


async def test_a_page_waking_up_renews_once_if_it_is_time():
    server = FakeServer()
    api = client(server)
    await api.login("/users/login", json={"username": "demo", "password": "demo"})
    server.transport.wake()  # not due yet: nothing happens
    await asyncio.sleep(0.01)
    assert server.refresh_calls == 0
    api._session.coordinator.refresh_at -= 60
    server.transport.wake()
    server.transport.wake()
    for _ in range(20):
        await asyncio.sleep(0)
    assert server.refresh_calls == 1, server.refresh_calls
    assert (await api.get(PROFILE)).status == 200 and server.refresh_calls == 1


async def test_a_short_lifetime_is_renewed_at_half_life_not_before_every_request():
    server = FakeServer()
    server.expires_in = 5
    api = client(server, leeway=30)
    await api.login("/users/login", json={"username": "demo", "password": "demo"})
    due_in = api._session.coordinator.refresh_at - monotonic()
    assert 2.4 < due_in <= 2.501, due_in
    for _ in range(5):
        assert (await api.get(PROFILE)).status == 200
    assert server.refresh_calls == 0, "a 5 s token with a 30 s leeway must not refresh before each request"


def tab_clients(server, n, **options):
    browser = FakeBrowser()
    clients = []
    for _ in range(n):
        clients.append(
            AuthClient(
                "/api/v1",
                refresh_url="/api/v1/users/refresh-token",
                logout_url="/api/v1/users/logout",
                transport=server.tab(browser),
                **options
            )
        )
    return clients


async def test_five_tabs_refresh_once_under_the_cross_tab_lock():
    server = FakeServer()
    tabs = tab_clients(server, 5)
    server.expire()
    results = await many(100, lambda i: tabs[i % 5].get(PROFILE))
    assert statuses(results) == [200] * 100, statuses(results)
    assert server.refresh_calls == 1, server.refresh_calls


async def test_without_cross_tab_every_tab_refreshes():
    server = FakeServer()
    tabs = tab_clients(server, 5, cross_tab=False)
    server.expire()
    results = await many(100, lambda i: tabs[i % 5].get(PROFILE))
    assert server.refresh_calls == 5, server.refresh_calls
    # Concurrent refreshes race on the rotated credentials (here the CSRF value): tabs lose.
    assert statuses(results).count(200) < 100, statuses(results)


async def test_sign_out_in_one_tab_ends_the_others_once():
    server = FakeServer()
    tabs = tab_clients(server, 3)
    ended = []
    for api in tabs[1:]:
        api.on("session-expired", lambda event: ended.append(event.name))
    await tabs[0].logout()
    for _ in range(5):
        await asyncio.sleep(0)
    assert ended == ["session-expired", "session-expired"], ended
    sent_before = len(server.seen)
    results = await many(4, lambda i: tabs[1 + i % 2].get(PROFILE))
    assert statuses(results) == ["SessionExpired"] * 4 and len(server.seen) == sent_before


async def test_a_fetch_to_the_login_url_revives_an_ended_session():
    server = FakeServer()
    api = client(server, login_url="/api/v1/users/login")
    server.refresh_script = [401]
    server.expire()
    assert statuses(await many(2, lambda i: api.get(PROFILE))) == ["SessionExpired"] * 2
    response = await api.post("/users/login", json={"username": "demo", "password": "demo"})
    assert response.status == 200
    after = await api.get(PROFILE)
    assert after.status == 200, (after.status, await after.text(), server.seen[-3:])


async def test_insufficient_scope_and_403_never_start_a_refresh():
    server = FakeServer()
    api = client(server)
    original = server.__call__

    async def answer(sent):
        if sent.url.endswith("/admin"):
            await asyncio.sleep(0)
            return reply(401, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
        if sent.url.endswith("/forbidden"):
            await asyncio.sleep(0)
            return reply(403)
        return await original(sent)

    server.transport.handler = answer
    assert (await api.get("/admin")).status == 401
    assert (await api.get("/forbidden")).status == 403
    assert server.refresh_calls == 0
    server.expire()
    assert (await api.get(PROFILE)).status == 200 and server.refresh_calls == 1, "a bare 401 still refreshes"


async def test_a_closed_client_does_not_renew_on_wake():
    server = FakeServer()
    api = client(server)
    await api.login("/users/login", json={"username": "demo", "password": "demo"})
    api._session.coordinator.refresh_at -= 60
    api.close()
    server.transport.wake()
    for _ in range(10):
        await asyncio.sleep(0)
    assert server.refresh_calls == 0


async def test_a_worker_that_cannot_see_the_page_says_why_csrf_cannot_work():
    server = FakeServer()
    server.transport.sees_cookies = False  # a PyScript worker on a page without isolation
    try:
        client(server)
        raise AssertionError("expected UsageError: the CSRF cookie cannot be read")
    except UsageError as error:
        assert "csrf_cookie" in str(error) and "Cross-Origin-Embedder-Policy" in str(error), str(error)
    api = client(server, csrf_cookie=None)  # a server that wants no CSRF header: fine
    assert (await api.get(PROFILE)).status == 200
    server.transport.sees_cookies = "shared-memory"  # isolated, but a browser without SharedArrayBuffer (WebKit)
    try:
        client(server)
        raise AssertionError("expected UsageError: the CSRF cookie cannot be read")
    except UsageError as error:
        assert "no SharedArrayBuffer" in str(error) and "main thread" in str(error), str(error)


async def test_auto_in_flight_limit_holds_the_rest_and_sends_little_with_a_stale_credential():
    server = FakeServer()
    server.transport.limit = 3  # what "auto" finds: three connections, so six in the browser's hands
    api = client(server)
    server.expire()
    results = await many(30, lambda i: api.get(PROFILE))
    assert statuses(results) == [200] * 30, statuses(results)
    assert api.stats["max_in_flight"] == 6 and api.stats["max_held"] >= 24, api.stats
    stale = len([s for s in server.seen if s[1] == "/api/v1/users/profile" and s[2] == "acc-1"])
    assert stale <= 6, f"{stale} sent with the expired credential"
    assert server.refresh_calls == 1


async def test_a_refresh_ending_after_close_starts_no_renewal_timer():
    server = FakeServer()
    server.expires_in = 0.2  # renewal due 0.1 s after each refresh
    api = client(server)
    gate, pending = await refresh_on_the_wire(server, api)
    api.close()  # the refresh is still on the wire
    gate.open()
    assert (await pending).status == 200  # a request already running still settles
    await asyncio.sleep(0.4)
    assert server.refresh_calls == 1, f"a closed client renewed {server.refresh_calls - 1} times"


async def test_a_closed_client_stops_retrying_a_renewal_no_one_waits_for():
    server = FakeServer()
    server.expires_in = 0.2  # renewal due 0.1 s after the sign-in
    api = client(server, login_url="/api/v1/users/login")
    await api.login(json={"username": "demo", "password": "demo"})
    server.refresh_script = [503, 503, 503, 503]
    while server.refresh_calls == 0:  # the timed renewal went out and got its 503
        await asyncio.sleep(0.01)
    api.close()
    await asyncio.sleep(1.0)  # the first retry would come within 0.375 s
    assert server.refresh_calls == 1, f"{server.refresh_calls - 1} refresh retries after close()"


async def test_a_refresh_ending_after_close_does_not_post_on_the_closed_channel():
    browser = FakeBrowser()
    server = FakeServer()
    first = AuthClient("/api/v1", refresh_url="/api/v1/users/refresh-token", transport=server.tab(browser))
    gate, pending = await refresh_on_the_wire(server, first)
    first.close()  # its channel closes while the refresh is on the wire
    gate.open()
    assert (await pending).status == 200
    await asyncio.sleep(0.05)  # let the refresh task finish its announcements
    assert first.stats["refresh_successes"] == 1
    assert browser.closed_posts == 0, "posted on the closed channel (the browser throws there)"


async def test_recall_works_again_after_a_refresh_round_gave_up():
    server = FakeServer()
    api = client(server, refresh_retries=0)
    slow = Gate()
    server.expire()
    server.refresh_script = [503]
    results = await many(3, lambda i: api.get(PROFILE))
    assert statuses(results) == ["RefreshFailed"] * 3, statuses(results)
    server.hold["/api/v1/users/current-user"] = slow
    gets = []
    for _ in range(4):
        gets.append(asyncio.create_task(api.get("/users/current-user")))
    await server.until_parked("/api/v1/users/current-user", 4)
    recalls = api.stats["recalls"]
    del server.hold["/api/v1/users/current-user"]
    assert (await api.get(PROFILE)).status == 200  # the credential is still stale: its 401 recalls
    assert api.stats["recalls"] - recalls == 4, api.stats
    for get in gets:
        assert (await get).status == 200
    slow.open()


async def test_the_in_flight_limit_holds_only_requests_to_its_own_origin():
    server = FakeServer()
    api = client(server, allowed_origins=["https://api.other.test"], max_in_flight=1)
    slow = Gate()
    server.hold["/api/v1/users/current-user"] = slow  # a long poll takes the one slot
    poll = asyncio.create_task(api.get("/users/current-user"))
    await server.until_parked("/api/v1/users/current-user", 1)
    other = asyncio.create_task(api.get("https://api.other.test/data"))
    assert await settles(other), "a request to another origin waited for this origin's slot"
    assert (await other).status == 200
    queued = asyncio.create_task(api.get(PROFILE))
    for _ in range(5):
        await asyncio.sleep(0)
    assert server.count("/api/v1/users/profile") == 0, "the limit of 1 let a second request out"
    slow.open()
    assert (await poll).status == 200 and (await queued).status == 200


async def test_the_sync_path_says_what_it_needs_where_it_cannot_run():
    # MicroPython has no requests; CPython and Pyodide without pyodide-http cannot patch it.
    import sys

    import authfetch.sync

    server = FakeServer()
    api = client(server)
    try:
        authfetch.sync.install(api)
        raise AssertionError("expected UsageError")
    except UsageError as error:
        if sys.implementation.name == "micropython":
            assert "needs Pyodide" in str(error) and "MicroPython has no requests" in str(error), str(error)
        else:
            assert "pyodide-http" in str(error) and "authfetch.sync.load" in str(error), str(error)


async def test_a_first_visit_without_a_session_is_no_session_not_an_expiry():
    server = FakeServer()
    server.refresh_script = [401]
    server.expire()  # the page has no valid credential, and the server no session to renew
    del server.cookies["csrf_token"]  # nor a session cookie: nobody signed in in this browser
    api = client(server)
    events = record(api, ["session-expired", "no-session"])
    results = await many(3, lambda i: api.get(PROFILE))
    assert statuses(results) == ["SessionExpired"] * 3, statuses(results)
    assert [e.name for e in events] == ["no-session"], [e.name for e in events]
    # Once a session was seen (a 2xx of the credential), the same refusal is an expiry.
    second = FakeServer()
    del second.cookies["csrf_token"]
    api = client(second)
    events = record(api, ["session-expired", "no-session"])
    assert (await api.get(PROFILE)).status == 200
    for _ in range(5):
        await asyncio.sleep(0)  # the engine's report that a session exists reaches the coordinator
    second.refresh_script = [401]
    second.expire()
    await many(2, lambda i: api.get(PROFILE))
    assert [e.name for e in events] == ["session-expired"], [e.name for e in events]


async def test_hostile_values_are_read_the_same_on_every_interpreter():
    from authfetch import inputs

    assert inputs.lifetime(float("inf")) is None and inputs.lifetime(float("nan")) is None and inputs.lifetime(60) == 60.0
    answer = inputs.refresh_answer(200, '{"data": {"accessToken": "bad\\ntoken", "expiresIn": 1e400}}')
    assert answer.token is None and "at 3" in answer.token_problem and answer.lifetime is None, answer.token_problem
    assert inputs.token_problem("t\u20ac") is not None and inputs.token_problem("eyJ.a-b_c.d") is None
    for text, named in (("<!doctype html>", "not JSON"), ("[1]", "not an object"), (None, "KiB"), ("[" * 3000 + "]" * 3000, "JSON")):
        problem = inputs.refresh_answer(200, text, content_type="text/html").problem
        assert problem is not None and named in problem, (text and text[:20], problem)
    assert inputs.marker('{"n": 3, "lifetime": 1e400}') is None and inputs.marker('{"n": 3}') == {"n": 3, "lifetime": None, "tab": None}
    assert inputs.message('{"type": "refreshed", "marker": {"n": 1, "lifetime": "x"}}') is None
    assert inputs.message('{"type": "signed-out"}') == ("signed-out", None, None, None, None)
    assert inputs.header_problem("X-Id", "a\nb") is not None and inputs.header_problem("X-Id", "caf\u00e9") is None


async def test_ten_thousand_requests_leave_the_engine_bounded_read_or_not():
    server = FakeServer()
    api = client(server)
    other = client(server)
    for _ in range(100):
        results = await many(100, lambda i: api.get(PROFILE))
        assert statuses(results) == [200] * 100, statuses(results)
        for response in results[:50]:  # half read, half never
            await response.text()
    held = api._session.wire.state()
    assert held["entries"] == 0 and held["queued"] == 0 and held["held"] == 0, held
    assert held["kept"] <= 2048, held  # the latest answers, each for 120 s (engine.test.mjs: by time)
    assert held["profiles"] == 3, held  # the refresh call's, and the two clients'
    other.close()
    for _ in range(5):
        await asyncio.sleep(0)  # the profile goes a turn after close()
    assert api._session.wire.state()["profiles"] == 2, api._session.wire.state()


async def test_an_answer_no_longer_kept_says_so_in_an_authfetch_error():
    server = FakeServer()
    api = client(server)
    unread = await api.get(PROFILE)
    api._session.wire.engine.drop(unread.native)  # as the keeper does after 120 s, or 2,048 newer
    for read in (lambda: unread.headers, lambda: unread.url):
        try:
            read()
        except UsageError as error:
            assert "can no longer be read" in str(error) and "120 s" in str(error), str(error)
        else:
            raise AssertionError("read an answer that is gone")
    try:
        await unread.text()
    except UsageError as error:
        assert "body" in str(error), str(error)
    else:
        raise AssertionError("read a body that is gone")
    read_first = await api.get(PROFILE)
    assert (await read_first.json())["path"] == "/api/v1/users/profile"
    api._session.wire.engine.drop(read_first.native)
    assert (await read_first.json())["path"] == "/api/v1/users/profile", "what was read stays readable"



async def test_a_closing_session_is_taken_up_again_and_let_go_once_nothing_is_left():
    from authfetch import session as session_module

    server = FakeServer()
    first = client(server)
    gate, pending = await refresh_on_the_wire(server, first)
    session = first._session
    first.close()  # while its refresh is out
    second = client(server)
    assert second._session is session, "a second session would refresh beside the first"
    gate.open()
    assert (await pending).status == 200 and server.refresh_calls == 1
    second.close()
    deadline = monotonic() + 3
    while session in session_module._sessions.values() and monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert session not in session_module._sessions.values(), "never let go"
    assert session.wire._listener is None
    third = client(server)
    assert third._session is not session and (await third.get(PROFILE)).status == 200
