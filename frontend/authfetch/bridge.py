"""The embed's Python half: one AuthClient built from the script tag's data-* attributes, and a
fetch() for the page's JavaScript that answers with the browser's own Response objects.

Like transport.py it touches JS, and only to translate: the decisions stay in the coordinator.
"""

import json

import js
from pyscript.ffi import create_proxy, to_js

from .client import AuthClient
from .errors import AuthFetchError, UsageError

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

    async def bridge_fetch(url, method, header_pairs, body):
        headers = {}
        for pair in header_pairs:
            headers[str(pair[0])] = str(pair[1])
        try:
            response = await client.fetch(str(url), method=str(method), headers=headers, body=body)
            return response.native
        except (UsageError,) as error:
            return str(error)  # fetch() rejects bad input with a TypeError; so does the JS side
        except AuthFetchError as error:
            if error.response is not None and error.response.native is not None:
                return error.response.native  # fetch semantics: the last response, e.g. the final 401
            if type(error).__name__ in ("SessionExpired", "RefreshFailed"):
                init = to_js({"status": 401, "statusText": "Session expired"})
                return js.Response.new(None, init)  # never sent: the session had already ended
            return str(error)  # network failure or timeout: fetch() rejects with a TypeError

    proxy = create_proxy(bridge_fetch)
    _live.append((client, proxy, dispatch))
    api_js._booted(proxy)
