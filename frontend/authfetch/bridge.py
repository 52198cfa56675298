"""The embed's Python half: one AuthClient built from the script tag's data-* attributes, and a
fetch() for the page's JavaScript that answers with the browser's own Response objects.

Like transport.py it touches JS, and only to translate: the decisions stay in the coordinator.
"""

import json

import js
from pyscript.ffi import create_proxy, to_js

from .client import AuthClient
from .compat import spawn
from .errors import AuthFetchError, RefreshFailed, SessionExpired, UsageError

PAGE_EVENTS = ("refresh", "refresh-failed", "session-expired")
_live = []  # the embed's client and proxies, kept alive for the page's life


def _detail(fields):
    plain = {}
    for key, value in fields.items():
        plain[key] = value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
    return js.JSON.parse(json.dumps(plain))  # valid JSON: cannot throw (MicroPython could not catch it)


def boot():
    api_js = js.window.authfetch
    try:
        settings = json.loads(str(api_js._settings))
        options = settings["options"]
        base_url = options.pop("base_url", "")
        client = AuthClient(base_url, **options)
    except (AuthFetchError, TypeError, ValueError) as error:
        api_js._refused(str(error))
        return
    login_url = settings.get("loginUrl")

    def dispatch(event):
        cancelable = event.name == "session-expired" and bool(login_url)
        init = to_js({"detail": _detail(event.fields), "cancelable": cancelable})
        proceed = js.window.dispatchEvent(js.CustomEvent.new("authfetch:" + event.name, init))
        if cancelable and proceed:
            js.window.location.assign(login_url)  # after the event, so the page could cancel it

    for name in PAGE_EVENTS:
        client.on(name, dispatch)

    def bridge_fetch(token, url, method, header_pairs, body=None):  # MicroPython drops a trailing undefined
        """Called by JS: run the request as an asyncio task, then settle JS's call ``token``.

        A coroutine driven by JS promises cannot wait on asyncio events on MicroPython (it
        never wakes); inside a task it can. Only numbers and strings cross back (see KEEPER in
        transport.py): no JS object is held across the await.
        """
        headers = {}
        for pair in header_pairs:
            headers[str(pair[0])] = str(pair[1])
        url, method = str(url), str(method)

        async def run():
            try:
                result = await answer(url, method, headers, body)
            except Exception as error:  # a bug of ours: fail the call, not the page
                result = "authfetch: " + repr(error)
            js.window.authfetch._settle(token, result)

        spawn(run())

    async def answer(url, method, headers, body):
        try:
            response = await client.fetch(url, method=method, headers=headers, body=body)
            return response.native  # the keeper's number: the JS side takes the Response from it
        except UsageError as error:
            return str(error)  # fetch() rejects bad input with a TypeError; so does the JS side
        except AuthFetchError as error:
            if error.response is not None and error.response.native is not None:
                return error.response.native  # fetch semantics: the last response, e.g. the final 401
            if isinstance(error, (SessionExpired, RefreshFailed)):
                init = to_js({"status": 401, "statusText": "Session expired"})
                return js.Response.new(None, init)  # never sent: the session had already ended
            return str(error)  # network failure or timeout: fetch() rejects with a TypeError

    proxy = create_proxy(bridge_fetch)
    _live.append((client, proxy, dispatch))
    api_js._booted(proxy)
