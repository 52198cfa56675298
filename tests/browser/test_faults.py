"""The fault suite: a bad network and a bad server, against the stub's test controls.

Each case states its figures in the assertion messages. The session must survive everything
transient and end, once, only on a definitive answer.
"""

import pytest

BURST_CODE = """
async def main():
    api = client(%(options)s)
    counts = {"session-expired": 0, "refresh-failed": 0, "refresh": 0}

    def count(event):
        counts[event.name] += 1

    for name in counts:
        api.on(name, count)
    results = await many(%(n)d, lambda i: api.get("/users/profile"%(request_options)s))
    out = outcomes(results)
    return {"outcomes": out, "events": counts, "stats": api.stats}
"""


def burst(harness, n=20, options="", request_options=""):
    return harness.run(BURST_CODE % {"n": n, "options": options, "request_options": request_options})


def test_refresh_503_503_then_200_keeps_the_session(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"status": 503}, {"status": 503})
    result = burst(harness)
    stats = harness.stub.stats()
    figures = f"[{harness.runtime}] refresh calls {stats['refresh_calls']}, outcomes {result['outcomes']}, events {result['events']}"
    assert result["outcomes"] == [200] * 20, figures
    assert stats["refresh_calls"] == 3, figures
    assert result["events"]["session-expired"] == 0 and result["events"]["refresh"] == 1, figures


@pytest.mark.parametrize("how", ["stub-drop", "browser-abort"])
def test_dropped_refresh_is_retried_never_a_logout(harness, how):
    harness.fresh()
    harness.stub.expire()
    aborted = []
    if how == "stub-drop":
        harness.stub.faults({"drop": True})
    else:

        def abort_first(route):
            if not aborted:
                aborted.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        harness.page.route("**/api/v1/users/refresh-token", abort_first)
    try:
        result = burst(harness)
    finally:
        if how == "browser-abort":
            harness.page.unroute("**/api/v1/users/refresh-token")
    stats = harness.stub.stats()
    figures = f"[{harness.runtime}] {how}: refresh calls at stub {stats['refresh_calls']}, outcomes {set(result['outcomes'])}, events {result['events']}"
    assert set(result["outcomes"]) <= {200, "RefreshFailed"}, figures
    assert result["outcomes"] == [200] * 20, figures  # one retry is enough here
    assert result["events"]["session-expired"] == 0, figures
    assert how != "browser-abort" or len(aborted) == 1, figures


def test_refresh_slower_than_refresh_timeout_settles_every_request_by_its_timeout(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults(*[{"delay_ms": 3000}] * 4)
    result = harness.run(
        """
import time

def ms():
    return time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)

async def main():
    api = client(refresh_timeout=0.4, refresh_retries=3)
    quiet = asyncio.Event()
    api.on("refresh-failed", lambda event: quiet.set())
    api.on("refresh", lambda event: quiet.set())
    t0 = ms()
    results = await many(10, lambda i: api.get("/users/profile", timeout=1.0))
    elapsed = ms() - t0
    out = outcomes(results)
    await quiet.wait()  # the retries go on after the requests gave up; let them end here
    return {"outcomes": out, "elapsed_ms": elapsed, "refreshes": api.stats["refreshes"]}
"""
    )
    figures = f"[{harness.runtime}] outcomes {result['outcomes']} after {result['elapsed_ms']} ms, refresh attempts {result['refreshes']}"
    assert len(result["outcomes"]) == 10, figures
    assert set(result["outcomes"]) <= {"RequestTimeout", "RefreshFailed"}, figures
    assert result["elapsed_ms"] < 2500, figures
    assert result["refreshes"] == 4, figures  # one try and refresh_retries=3 retries, each cut at 0.4 s


def test_malformed_refresh_body_in_bearer_mode_is_not_replayed_with_the_stale_token(harness):
    harness.fresh(login=False)
    result = harness.run(
        """
async def main():
    api = client(mode="bearer")
    await api.login(json={"username": "demo", "password": "demo"})
    await control("reset")
    await control("expire")
    await control("faults", {"refresh": [{"status": 200, "body": "not json"}, {"status": 200, "body": "{}"}]})
    results = await many(10, lambda i: api.get("/users/profile"))
    out = outcomes(results)
    return {"outcomes": out, "stats": api.stats}
"""
    )
    stats = harness.stub.stats()
    profile_requests = stats["requests"].get("GET /api/v1/users/profile")
    figures = (
        f"[{harness.runtime}] outcomes {result['outcomes']}, refresh calls {stats['refresh_calls']}, "
        f"profile requests {profile_requests}, client stats {result['stats']}, stub {stats['requests']}"
    )
    assert result["outcomes"] == [200] * 10, figures
    assert stats["refresh_calls"] == 3, figures  # two bodies without a token, then a good one
    # Each sent once with the new token (10), after at most one stale send (those still queued in
    # the browser when the first 401 came were recalled instead), never with the stale one again.
    assert 11 <= profile_requests <= 20, figures


@pytest.mark.parametrize("status", [400, 401, 403])
def test_definitive_refresh_answers_end_the_session_once(harness, status):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"status": status})
    result = harness.run(
        """
async def main():
    api = client()
    ended = []
    api.on("session-expired", lambda event: ended.append(event.name))
    held = await many(10, lambda i: api.get("/users/profile"))
    later = await many(10, lambda i: api.get("/users/profile"))
    before_login = api.stats["refreshes"]
    await api.login(json={"username": "demo", "password": "demo"})
    after_login = await api.get("/users/profile")
    out = outcomes(held + later)
    return {"outcomes": out, "ended": ended, "refreshes": before_login, "after_login": after_login.status}
"""
    )
    stats = harness.stub.stats()
    figures = (
        f"[{harness.runtime}] {status}: outcomes {set(result['outcomes'])}, events {result['ended']}, "
        f"refresh calls {stats['refresh_calls']}, after login {result['after_login']}"
    )
    assert result["outcomes"] == ["SessionExpired"] * 20, figures
    assert result["ended"] == ["session-expired"], figures
    assert stats["refresh_calls"] == 1 and result["refreshes"] == 1, figures
    # At most the 10 first ones went out stale (fewer: those still queued in the browser at the
    # first 401 were recalled), none of the 10 later ones, and 1 after the login.
    assert 2 <= stats["requests"]["GET /api/v1/users/profile"] <= 11, figures
    assert result["after_login"] == 200, figures


def test_replay_that_still_gets_401_is_returned_without_a_loop(harness):
    harness.fresh()
    harness.stub.expire()
    # A refresh that answers 200 but sets no cookie: the replay still carries the expired token.
    harness.stub.faults({"status": 200, "body": '{"statusCode": 200, "data": {}, "success": true}'})
    # Every request handed over at once, so all of them are answered 401 with the old token (with
    # the held queue, a request first sent after that refresh would rightly start another one).
    result = burst(harness, n=20, options="max_in_flight=None")
    stats = harness.stub.stats()
    profile_requests = stats["requests"].get("GET /api/v1/users/profile")
    figures = f"[{harness.runtime}] outcomes {set(result['outcomes'])}, refresh calls {stats['refresh_calls']}, profile requests {profile_requests}"
    assert result["outcomes"] == [401] * 20, figures
    assert stats["refresh_calls"] == 1, figures
    # Each replayed once (20) after at most one first send (recalled ones never reached the stub).
    assert 21 <= profile_requests <= 40, figures


def test_reuse_from_a_second_context_ends_the_first_sessions_once(harness, browser):
    harness.fresh()
    stolen = [c for c in harness.page.context.cookies() if c["name"] in ("refreshToken", "csrf_token")]
    assert len(stolen) == 2
    harness.stub.expire()
    first = burst(harness, n=5)  # context A rotates: the stolen refresh token is now spent
    assert first["outcomes"] == [200] * 5, first
    thief = browser.new_context()
    try:
        thief.add_cookies(stolen)
        csrf = [c["value"] for c in stolen if c["name"] == "csrf_token"][0]
        replay = thief.request.post(f"{harness.stub.url}api/v1/users/refresh-token", headers={"X-CSRF-Token": csrf})
        assert replay.status == 401 and replay.json()["message"] == "refresh_token_reused", replay.text()
    finally:
        thief.close()
    harness.stub.expire()
    result = harness.run(
        """
async def main():
    api = client()
    ended = []
    api.on("session-expired", lambda event: ended.append(event.name))
    results = await many(10, lambda i: api.get("/users/profile"))
    more = await many(10, lambda i: api.get("/users/profile"))
    out = outcomes(results + more)
    return {"outcomes": out, "ended": ended}
"""
    )
    stats = harness.stub.stats()
    figures = f"[{harness.runtime}] reuse_detected {stats['reuse_detected']}, revocations {stats['revocations']}, events {result['ended']}"
    assert stats["reuse_detected"] == 1 and stats["revocations"] == 1, figures
    assert result["ended"] == ["session-expired"], figures
    assert result["outcomes"] == ["SessionExpired"] * 20, figures


def test_lost_rotation_without_a_grace_window_ends_the_session_exactly_once(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"rotate_then_drop": True})
    result = burst(harness, n=10)
    stats = harness.stub.stats()
    figures = f"[{harness.runtime}] outcomes {set(result['outcomes'])}, events {result['events']}, reuse {stats['reuse_detected']}"
    assert result["outcomes"] == ["SessionExpired"] * 10, figures
    assert result["events"]["session-expired"] == 1, figures
    assert stats["refresh_calls"] == 2 and stats["reuse_detected"] == 1, figures
