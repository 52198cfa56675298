"""Hostile input from outside, in Chromium on both interpreters: every request settles.

Each value here enters from somewhere authfetch does not control: another tab's marker in
localStorage, a message on the cross-tab channel, the refresh endpoint's answer (a token the
browser will not put in a header, a lifetime that overflows a float, an HTML page, text that is
not JSON, 5 MB). Each test fires a burst after expiry and gives it a bounded time: a request
still waiting then is "hung" and fails the test with the figures. Each ends with a clear error
naming the cause, or the session carrying on.
"""

import json

import pytest

N = 10

BURST = """
async def main():
    api = client(%(options)s)
    events = []
    for name in ("refresh", "refresh-failed", "session-expired"):
        api.on(name, lambda event: events.append(event.name))
    %(before)s
    results = await within(%(n)d, lambda i: api.get("/users/profile"))
    out = {"outcomes": outcomes(results), "messages": messages(results), "events": events[:]}
    again = await within(3, lambda i: api.get("/users/profile"))
    out["then"] = outcomes(again)
    return out
"""


def burst(harness, *, options="", before="pass"):
    return harness.run(BURST % {"options": options, "before": before, "n": N}, timeout_ms=40_000)


def figures(harness, result):
    stats = harness.stub.stats()
    return stats, f"[{harness.runtime}] {result}, refresh calls at the stub {stats['refresh_calls']}"


# -- storage and messages from other tabs ---------------------------------------------------------

MARKERS = [
    '{"n": 99, "lifetime": "x"}',
    '{"n": 99, "lifetime": [1]}',
    '{"n": 99, "lifetime": 1e400}',
    '{"n": "99"}',
    '[1, 2]',
    "not json",
]


@pytest.mark.parametrize("marker", MARKERS)
def test_a_malformed_cross_tab_marker_is_ignored(harness, marker):
    harness.fresh()
    harness.stub.expire()
    # Written after the client started, as another tab (an older version, an extension) would.
    before = "import js\n    js.localStorage.setItem('authfetch:' + url('/api/v1/users/refresh-token'), %r)" % marker
    result = burst(harness, before=before)
    stats, told = figures(harness, result)
    assert result["outcomes"] == [200] * N and result["then"] == [200] * 3, told
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, told


BROADCASTS = [
    {"type": "refreshed", "marker": {"n": 1, "lifetime": "x"}, "tab": "t"},
    {"type": "refreshed", "marker": {"n": 1, "lifetime": 1e400}, "tab": "t"},
    {"type": "refreshed", "marker": "x"},
    {"type": "signed-in", "marker": {"n": 1, "lifetime": [1]}, "token": 5},
    {"type": "signed-in", "marker": {"n": 1}, "token": "bad\ntoken"},
    {"type": 5},
    {"type": ["refreshed"]},
    [1, 2],
    None,
]


def test_broadcast_messages_of_the_wrong_shape_are_ignored(harness):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"delay_ms": 1500})  # the burst waits on this refresh while they arrive
    texts = [json.dumps(message).replace("Infinity", "1e400") for message in BROADCASTS] + ["not json"]
    before = (
        "import js\n"
        "    channel = js.BroadcastChannel.new('authfetch:' + url('/api/v1/users/refresh-token'))\n"
        "    async def post_later():\n"
        "        await asyncio.sleep(0.3)\n"
        "        for text in %r:\n"
        "            channel.postMessage(text)\n"
        "    asyncio.create_task(post_later())" % texts
    )
    result = burst(harness, before=before)
    stats, told = figures(harness, result)
    assert result["outcomes"] == [200] * N and result["then"] == [200] * 3, told
    assert stats["refresh_calls"] == 1, told
    assert result["events"] == ["refresh"], told


# -- the refresh endpoint's answer ----------------------------------------------------------------

BEARER_LOGIN = (
    "await api.login(json={'username': 'demo', 'password': 'demo'})\n"
    "    await control('reset')\n"
    "    await control('expire')\n"
    "    await control('faults', {'refresh': %s})"
)


@pytest.mark.parametrize("token", ["bad\ntoken", "bad\rtoken", "tok\u20acn"])
def test_a_token_the_browser_will_not_put_in_a_header_fails_the_refresh_clearly(harness, token):
    harness.fresh(login=False)
    faults = json.dumps([{"access_token": token}] * 4)  # the call and its three retries
    result = burst(harness, options="mode='bearer'", before=BEARER_LOGIN % faults)
    stats, told = figures(harness, result)
    assert result["outcomes"] == ["RefreshFailed"] * N, told
    assert all("header" in message for message in result["messages"]), told
    assert result["events"] == ["refresh-failed"], told
    assert result["then"] == [200] * 3, told  # the session is kept: the next refresh is genuine
    assert stats["refresh_calls"] == 5, told


@pytest.mark.parametrize("lifetime", ["1e400", "1e300", "1e12"])
def test_a_huge_lifetime_is_not_taken_and_nothing_waits(harness, lifetime):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults({"expires_in_raw": lifetime})
    result = burst(harness, before="pass")
    stats, told = figures(harness, result)
    assert result["outcomes"] == [200] * N and result["then"] == [200] * 3, told
    assert result["events"] == ["refresh"], told
    assert stats["refresh_calls"] == 1, told  # and no renewal storm from a timer that overflowed


@pytest.mark.parametrize(
    "fault, named, calls",
    [
        ({"status": 200, "body": "<!doctype html><title>app</title>", "content_type": "text/html"}, "HTML page, not JSON", 5),
        ({"status": 200, "body": "not json"}, "text, not JSON", 5),
        ({"status": 200, "body": "[1, 2]"}, "JSON but not an object", 5),
        # Each of these rotated genuinely (the cookies are good): the requests after need no call.
        ({"pad_bytes": 5_000_000}, "over 64 KiB", 4),
    ],
    ids=["html-page", "not-json", "json-array", "5-MB"],
)
def test_a_refresh_answer_that_is_no_refresh_answer_fails_the_refresh_clearly(harness, fault, named, calls):
    harness.fresh()
    harness.stub.expire()
    harness.stub.faults(*[fault] * 4)  # the call and its three retries
    result = burst(harness)
    stats, told = figures(harness, result)
    assert result["outcomes"] == ["RefreshFailed"] * N, told
    assert all(named in message for message in result["messages"]), told
    assert result["events"] == ["refresh-failed"], told
    # The session is kept: the requests after it carry on (after one more call where needed).
    assert result["then"] == [200] * 3 and stats["refresh_calls"] == calls, told


# -- an exception at a step of the refresh or report path, in the browser --------------------------

INJECT = """
import authfetch.session as session_module

async def main():
    api = client()
    session = api._session
    target = %(target)s
    original = getattr(target, %(name)r)
    reached = []

    def broken(*args, **kwargs):
        if not reached:
            reached.append(1)
            raise RuntimeError("injected at %(name)s")
        return original(*args, **kwargs)

    setattr(target, %(name)r, broken)
    results = await within(%(n)d, lambda i: api.get("/users/profile"))
    out = {"outcomes": outcomes(results), "messages": messages(results), "reached": bool(reached)}
    out["then"] = outcomes(await within(3, lambda i: api.get("/users/profile")))
    return out
"""

STEPS = [
    ("session.coordinator", "answered"),  # the report path: a coordinator input
    ("session", "_decide"),  # the report path: reading the batch
    ("session.wire", "apply"),  # carrying out the commands
    ("session.tabs", "renewal"),  # under the cross-tab lock
    ("session.wire", "bounded"),  # reading the refresh answer
    ("session_module.inputs", "refresh_answer"),  # at the edge
    ("session.coordinator", "refresh_answered"),  # the refresh path: a coordinator input
    ("session.tabs", "announce"),  # telling the other tabs, after the renewal
]


@pytest.mark.parametrize("target, name", STEPS, ids=[name for _, name in STEPS])
def test_an_exception_at_a_step_of_the_refresh_or_report_path_leaves_nothing_waiting(harness, target, name):
    harness.fresh()
    harness.stub.expire()
    result = harness.run(INJECT % {"target": target, "name": name, "n": N}, timeout_ms=40_000)
    stats, told = figures(harness, result)
    assert result["reached"], told  # else the test proves nothing
    assert "hung" not in result["outcomes"] and set(result["outcomes"]) <= {200, "RefreshFailed"}, told
    assert all("injected at " + name in message for message in result["messages"]), told
    assert result["then"] == [200] * 3, told
