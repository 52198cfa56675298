"""Synchronous requests and urllib.request code keeps the session (authfetch.sync, Pyodide).

requests, urllib3, pyodide-http and their dependencies load from the stub's /vendor/wheels/
(downloaded at set-up, pinned in frontend/wheels.txt), never from the internet. Each page or
worker loads them once and installs authfetch.sync on a client it keeps (``kept["sync"]``).
requests and urllib want absolute URLs: the harness's ``url(path)`` gives one.
"""

import pytest

from tests.browser.conftest import Harness, wait_for_boot

READY = "() => !!document.getElementById('state')?.textContent.startsWith('ready')"
INSTALL = """
import authfetch.sync

async def main():
    forget()
    await authfetch.sync.load("/vendor/wheels/")
    api = client(keep="sync", leeway=None)
    authfetch.sync.install(api)
    return authfetch.sync.can_run_sync()
"""


def open_page(browser, stub, query, context=None):
    context = context or browser.new_context()
    page = context.new_page()
    harness = Harness(page, stub, "py")
    page.goto(f"{stub.url}__stub__/harness/?{query}")
    wait_for_boot(page, harness.console_errors, READY)
    return harness


def installed(browser, stub, query):
    harness = open_page(browser, stub, query)
    assert harness.run(INSTALL) is True, f"{query}: the interpreter must be able to wait synchronously (JSPI)"
    return harness


@pytest.fixture(scope="module")
def worker(browser, stub):
    harness = installed(browser, stub, "runtime=py&worker=1")
    yield harness
    harness.page.context.close()


@pytest.fixture(scope="module")
def main_thread(browser, stub):
    harness = installed(browser, stub, "runtime=py")
    yield harness
    harness.page.context.close()


def test_fifty_sync_gets_in_a_worker_after_expiry_make_one_refresh(worker):
    worker.fresh()
    worker.stub.expire()
    statuses = worker.run(
        """
import requests

async def main():
    return [requests.get(url("/api/v1/users/profile")).status_code for _ in range(50)]
"""
    )
    stats = worker.stub.stats()
    assert statuses == [200] * 50, statuses
    assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, stats


def test_urllib_gets_the_same_as_requests(worker):
    worker.fresh()
    worker.stub.expire()
    result = worker.run(
        """
import json
import urllib.request

async def main():
    with urllib.request.urlopen(url("/api/v1/users/profile")) as answer:
        return [answer.status, json.loads(answer.read())["data"]["username"]]
"""
    )
    assert result == [200, "demo"], result
    assert worker.stub.stats()["refresh_calls"] == 1


def test_a_sync_json_post_after_expiry_is_handled_once_with_the_rotated_csrf_header(worker):
    worker.fresh()
    worker.stub.expire()
    result = worker.run(
        """
import requests

async def main():
    answer = requests.post(url("/api/v1/echo"), json={"n": 1, "text": "caf\\u00e9"}, headers={"X-Request-Id": "sync-1"})
    return {"status": answer.status_code, "data": answer.json()["data"]}
"""
    )
    stats = worker.stub.stats()
    assert result["status"] == 200, result
    assert stats["request_ids"] == {"sync-1": 1} and stats["refresh_calls"] == 1, stats
    assert stats["requests"]["POST /api/v1/echo"] == 2, "one 401, one replay"
    assert result["data"]["headers"]["X-CSRF-Token"], "the replay carries the rotated CSRF token"


def test_bodies_are_replayed_byte_for_byte_and_a_generator_is_sent_once(worker):
    worker.fresh()
    result = worker.run(
        """
import hashlib
import requests

def digest(data):
    return hashlib.sha256(data).hexdigest()

async def main():
    bodies = {"str": "h\\u00e9llo", "bytes": b"\\x00\\x01\\xfe\\xff", "form": {"a": "1", "b": "caf\\u00e9"}}
    out = {}
    for name, body in bodies.items():
        await control("expire")
        answer = requests.post(url("/api/v1/echo"), data=body)
        sent = answer.request.body if isinstance(answer.request.body, bytes) else answer.request.body.encode()
        out[name] = [answer.status_code, answer.json()["data"]["sha256"] == digest(sent)]
    await control("expire")

    def chunks():
        yield b"one "
        yield b"two"

    try:
        requests.post(url("/api/v1/echo"), data=chunks())
        out["generator"] = "sent twice?"
    except authfetch.NonReplayableBody as error:
        out["generator"] = str(error)
    return out
"""
    )
    assert result["str"] == [200, True] and result["bytes"] == [200, True] and result["form"] == [200, True], result
    assert "only once" in result["generator"], result


def test_a_terminal_refresh_failure_raises_session_expired_from_the_sync_call(worker):
    worker.fresh()
    worker.stub.expire()
    worker.stub.faults({"status": 401})
    result = worker.run(
        """
import requests

async def main():
    api = kept["sync"]
    ended = []
    api.on("session-expired", lambda event: ended.append(event.name))
    out = []
    for _ in range(3):
        try:
            requests.get(url("/api/v1/users/profile"))
            out.append("answered")
        except authfetch.SessionExpired:
            out.append("SessionExpired")
    return {"calls": out, "events": ended}
"""
    )
    assert result == {"calls": ["SessionExpired"] * 3, "events": ["session-expired"]}, result
    assert worker.stub.stats()["refresh_calls"] == 1, "no further refresh calls after the session ended"
    worker.run(
        """
async def main():
    await kept["sync"].login(json={"username": "demo", "password": "demo"})
    return True
"""
    )


def test_sync_on_the_main_thread_keeps_the_session_and_the_page_answering(main_thread):
    main_thread.fresh()
    main_thread.stub.expire()
    main_thread.stub.faults({"delay_ms": 500})
    main_thread.page.evaluate("() => { window.ticks = 0; window.ticker = setInterval(() => window.ticks++, 20); }")
    status = main_thread.run(
        """
import requests

async def main():
    return requests.get(url("/api/v1/users/profile")).status_code
"""
    )
    ticks = main_thread.page.evaluate("() => { clearInterval(window.ticker); return window.ticks; }")
    assert status == 200 and main_thread.stub.stats()["refresh_calls"] == 1
    # The refresh took 500 ms; the page's timers kept running while the sync call waited.
    assert ticks >= 10, f"the page froze: {ticks} timer ticks during a 500 ms wait"


def test_async_on_a_page_and_sync_in_a_worker_share_one_refresh(browser, stub):
    context = browser.new_context()
    page = open_page(browser, stub, "runtime=mpy", context=context)
    worker = open_page(browser, stub, "runtime=py&worker=1", context=context)
    try:
        assert worker.run(INSTALL) is True
        page.fresh()
        stub.expire()
        arm = """
async def main():
    %s
    return True
"""
        page.run(arm % 'kept["async"] = client(keep="async", leeway=None)')
        # Both start at one instant, 300 ms from now, so neither sees the other's refresh first.
        start_at = page.page.evaluate("() => Date.now() + 300")
        page.page.evaluate(
            """(startAt) => { window.fired = new Promise((r) => setTimeout(r, startAt - Date.now())).then(() =>
                window.harnessRun(`async def main():\\n    return outcomes(await many(20, lambda i: kept["async"].get("/users/profile")))`)); }""",
            start_at,
        )
        sync_statuses = worker.run(
            """
import js
import requests

async def main():
    while js.Date.now() < %d:
        await asyncio.sleep(0.005)
    return [requests.get(url("/api/v1/users/profile")).status_code for _ in range(20)]
"""
            % start_at
        )
        import json

        async_statuses = json.loads(page.page.evaluate("async () => await window.fired"))["value"]
        stats = stub.stats()
        figures = f"async {set(async_statuses)}, sync {set(sync_statuses)}, stub {stats['refresh_calls']} refreshes, {stats['reuse_detected']} reuse"
        assert async_statuses == [200] * 20 and sync_statuses == [200] * 20, figures
        assert stats["refresh_calls"] == 1 and stats["reuse_detected"] == 0, figures
    finally:
        context.close()


def test_a_sync_call_where_the_interpreter_cannot_suspend_says_so(main_thread):
    # Python called synchronously from JavaScript (an event handler, here a proxy called from
    # page JS) cannot wait for a promise: the call must refuse, not send without the session.
    main_thread.fresh()
    main_thread.run(
        """
import js
import requests
from pyscript.ffi import create_proxy

def handler():
    try:
        requests.get(str(js.location.origin) + "/api/v1/users/profile")
        return "sent"
    except authfetch.UsageError as error:
        return str(error)

async def main():
    js.window.syncFromHandler = create_proxy(handler)
    return True
"""
    )
    message = main_thread.page.evaluate("() => window.syncFromHandler()")
    assert "cannot suspend" in message and "await api.get" in message, message
    assert main_thread.stub.stats()["requests"].get("GET /api/v1/users/profile", 0) == 0
