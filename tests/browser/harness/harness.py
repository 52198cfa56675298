"""Browser-test harness: runs Python snippets the tests send, inside the page, and answers JSON.

A snippet defines ``async def main():`` returning JSON-able data; these names are in scope:
``authfetch``, ``asyncio``, ``json``, ``client(**options)`` (a fresh AuthClient with its own
transport, so tests do not share refresh state), ``many(n, make)``, ``outcome(result)`` and
``url(path)`` (absolute, on the page's origin).
"""

import asyncio
import binascii
import hashlib
import json
import sys

import js
from pyscript import RUNNING_IN_WORKER, document, sync, window
from pyscript.ffi import create_proxy

import authfetch
from authfetch.transport import BrowserTransport

RUNTIME = "mpy" if sys.implementation.name == "micropython" else "py"


_clients = []
kept = {}  # clients a test keeps across snippets: client(keep="name"), closed by forget()


def client(keep=None, **options):
    """A fresh AuthClient on its own transport; run() closes it before the next snippet, so no
    timer or channel of an earlier test acts during a later one (unless kept by name)."""
    options.setdefault("login_url", "/api/v1/users/login")
    options.setdefault("logout_url", "/api/v1/users/logout")
    base = options.pop("base_url", "/api/v1")
    refresh_url = options.pop("refresh_url", "/api/v1/users/refresh-token")
    api = authfetch.AuthClient(base, refresh_url=refresh_url, transport=BrowserTransport(), **options)
    if keep:
        kept[keep] = api
    else:
        _clients.append(api)
    return api


def forget():
    for name in list(kept):
        value = kept.pop(name)
        if hasattr(value, "close"):
            value.close()


async def control(name, payload=None):
    """Call a stub test control from the page (its origin, outside base_url)."""
    plain = authfetch.AuthClient("/", refresh_url="/api/v1/users/refresh-token", transport=BrowserTransport())
    try:
        response = await plain.post(str(window.location.origin) + "/__stub__/" + name, json=payload or {}, auth=False)
    finally:
        plain.close()
    return response.status


def url(path):
    """An absolute URL on the page's origin (a worker's own location is a blob: URL of it)."""
    return str(js.location.origin) + path


def outcome(result):
    if isinstance(result, str):  # "hung": still waiting when within() gave up
        return result
    if isinstance(result, Exception):
        return type(result).__name__
    return result.status


def outcomes(results):
    """Status for each response, the exception's class name for each failure."""
    out = []
    for result in results:
        out.append(outcome(result))
    return out


async def many(n, make):
    """Start n requests at once (make(i) gives a coroutine); their results in order."""

    async def one(i):
        try:
            return await make(i)
        except Exception as error:
            return error

    coroutines = []
    for i in range(n):
        coroutines.append(one(i))
    return await asyncio.gather(*coroutines)


async def within(n, make, seconds=10.0):
    """Start n requests at once (make(i) gives a coroutine) and give them ``seconds`` to settle:
    each result in order, "hung" for one still waiting then. A hang fails the test with figures
    instead of timing the page out (asyncio.wait_for is missing on MicroPython)."""
    from authfetch.compat import monotonic

    results = ["hung"] * n

    async def one(i):
        try:
            results[i] = await make(i)
        except Exception as error:
            results[i] = error

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one(i)))
    deadline = monotonic() + seconds
    while monotonic() < deadline and [task for task in tasks if not task.done()]:
        await asyncio.sleep(0.02)
    return results


def messages(results):
    """The message of each failure (a str), for tests that check errors name their cause."""
    out = []
    for result in results:
        if isinstance(result, Exception):
            out.append(str(result))
    return out


def _trace(error):
    if hasattr(sys, "print_exception"):
        import io

        buffer = io.StringIO()
        sys.print_exception(error, buffer)
        return buffer.getvalue()
    import traceback

    return "".join(traceback.format_exception(error))


async def run(code):
    while _clients:
        _clients.pop().close()
    scope = {
        "authfetch": authfetch,
        "asyncio": asyncio,
        "json": json,
        "hashlib": hashlib,
        "binascii": binascii,
        "client": client,
        "many": many,
        "within": within,
        "messages": messages,
        "outcome": outcome,
        "outcomes": outcomes,
        "control": control,
        "url": url,
        "kept": kept,
        "forget": forget,
        "RUNTIME": RUNTIME,
    }
    try:
        exec(code, scope)
        return json.dumps({"ok": True, "value": await scope["main"]()})
    except Exception as error:
        return json.dumps({"ok": False, "error": repr(error), "trace": _trace(error)})


if RUNNING_IN_WORKER:  # the page calls run() through xworker.sync
    sync.harnessRun = run
    try:
        document.getElementById("state").textContent = "ready " + RUNTIME + " worker"
    except AttributeError:  # no isolation, so no document: the page hears it on a channel
        js.BroadcastChannel.new("harness-state").postMessage("ready " + RUNTIME + " worker")
else:
    window.harnessRun = create_proxy(run)
    document.getElementById("state").textContent = "ready " + RUNTIME
