"""Long-running behaviour with a 5 s access token: clock skew at the server and a 2-minute soak
(about 30 renewals per interpreter; it was 3 minutes until the suite took on Firefox and WebKit).

The soak runs both interpreters at the same time (two pages, two sessions) so the suite pays
its two minutes once.
"""

import json
import math
import time

import pytest

from .conftest import BOOT_TIMEOUT_MS, RUNTIMES

STUB_ARGS = ["--access-ttl", "5"]
LIFETIME = 5.0
LEEWAY = 1.0
SOAK_SECONDS = 120
RATE = 10  # requests per second

STEADY = """
import time

def ms():
    return time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)

async def main():
    api = client(leeway=%(leeway)s)
    await api.login(json={"username": "demo", "password": "demo"})
    counts = {"refresh": 0, "session-expired": 0, "refresh-failed": 0, "failures": 0, "ok": 0, "statuses": {}}

    def count(event):
        counts[event.name] += 1

    for name in ("refresh", "session-expired", "refresh-failed"):
        api.on(name, count)

    async def one(i):
        try:
            if i %% 3 == 0:
                response = await api.post("/echo", json={"i": i}, headers={"X-Request-Id": "soak-%(tag)s-" + str(i)})
            else:
                response = await api.get("/users/profile")
            key = str(response.status)
            counts["statuses"][key] = counts["statuses"].get(key, 0) + 1
            if response.status == 200:
                counts["ok"] += 1
            else:
                counts["failures"] += 1
        except Exception as error:
            counts["failures"] += 1
            key = type(error).__name__
            counts["statuses"][key] = counts["statuses"].get(key, 0) + 1

    tasks = []
    started = ms()
    i = 0
    while ms() - started < %(seconds)s * 1000:
        tasks.append(asyncio.create_task(one(i)))
        i += 1
        await asyncio.sleep(1 / %(rate)s)
    for task in tasks:
        await task
    counts["sent"] = i
    counts["elapsed_s"] = (ms() - started) / 1000
    counts["stats"] = api.stats
    api.close()  # stop its renewal timer: nothing of this test may run on into the next
    return counts
"""


def steady_code(seconds, tag, leeway=LEEWAY):
    return STEADY % {"seconds": seconds, "rate": RATE, "tag": tag, "leeway": leeway}


@pytest.mark.parametrize("offset_s", [300, -300])
def test_server_clock_skew_causes_no_refresh_loop(harness, offset_s):
    harness.fresh(login=False)
    harness.stub.control("clock", {"offset_s": offset_s})
    try:
        result = harness.run(steady_code(12, f"clock{offset_s}"), timeout_ms=60_000)
    finally:
        harness.stub.control("clock", {"offset_s": 0})
    stats = harness.stub.stats()
    # Each access token is renewed once, (LIFETIME - LEEWAY) s after it arrived; a client that
    # compared the server's exp with its own clock would refresh on every request (+300 s) or
    # never before a 401 (-300 s).
    most = math.ceil(result["elapsed_s"] / (LIFETIME - LEEWAY)) + 1
    figures = f"[{harness.runtime}] skew {offset_s:+d} s: {result['sent']} requests in {result['elapsed_s']:.1f} s, refresh calls {stats['refresh_calls']} (at most {most}), statuses {result['statuses']}"
    assert result["failures"] == 0 and result["session-expired"] == 0, figures
    assert 1 <= stats["refresh_calls"] <= most, figures


@pytest.fixture(scope="module")
def both_pages(browser, stub):
    pages = {}
    for runtime in RUNTIMES:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{stub.url}__stub__/harness/?runtime={runtime}")
        pages[runtime] = page
    for page in pages.values():
        page.wait_for_function(
            "() => document.getElementById('state')?.textContent.startsWith('ready')", timeout=BOOT_TIMEOUT_MS
        )
    yield pages
    for page in pages.values():
        page.context.close()


def test_soak_two_minutes_of_mixed_requests(both_pages, stub):
    stub.reset()
    for runtime, page in both_pages.items():
        page.evaluate("(code) => { window.soak = window.harnessRun(code).then(String); }", steady_code(SOAK_SECONDS, runtime))
    deadline = time.monotonic() + SOAK_SECONDS + 120
    results = {}
    for runtime, page in both_pages.items():
        page.set_default_timeout(max(1, deadline - time.monotonic()) * 1000)
        answer = json.loads(page.evaluate("async () => await window.soak"))
        assert answer["ok"], f"[{runtime}] {answer}"
        results[runtime] = answer["value"]
    stats = stub.stats()
    # Two sessions each renew every (LIFETIME - LEEWAY) s, on a timer and before sends.
    for runtime, result in results.items():
        expected = math.floor(result["elapsed_s"] / (LIFETIME - LEEWAY))
        figures = (
            f"[{runtime}] {result['sent']} requests in {result['elapsed_s']:.0f} s: ok {result['ok']}, failures "
            f"{result['failures']}, statuses {result['statuses']}, refreshes {result['refresh']} (expected "
            f"{expected}), session-expired {result['session-expired']}"
        )
        print(figures)
        assert result["failures"] == 0 and result["session-expired"] == 0, figures
        assert result["sent"] >= SOAK_SECONDS * RATE * 0.8, figures
        assert abs(result["refresh"] - expected) <= 1, figures
    assert stats["reuse_detected"] == 0 and stats["refresh_calls"] == sum(r["refresh"] for r in results.values()), stats
