"""The embed's Python half: one AuthClient built from the script tag's data-* attributes.

The page's ``window.authfetch.fetch`` runs in JavaScript, straight through the client's engine
(engine.js): a request costs no interpreter work. Python keeps the decisions: how each URL
travels (``route``, asked once per URL and remembered by the JS side), everything the engine
reports (the coordinator), the refresh, and the sign-in and sign-out calls, which read their
answers here. Like transport.py this module touches JS, only to translate.
"""

import json

import js

from .client import AuthClient, engine_of
from .config import tag_arguments
from .compat import spawn
from .ffi import ffi
from .errors import AuthFetchError
from .transport import BrowserTransport

create_proxy, to_js = ffi()

PAGE_EVENTS = ("refresh", "refresh-failed", "session-expired", "no-session")
_live = []  # the embed's client and proxies, kept alive for the page's life


def _detail(fields):
    plain = {}
    for key, value in fields.items():
        plain[key] = value if value is None or isinstance(value, (bool, int, float, str)) else str(value)
    return js.JSON.parse(json.dumps(plain))  # valid JSON: cannot throw (MicroPython could not catch it)


def boot():
    api_js = js.window.authfetch
    if getattr(api_js, "_failed", None):
        return  # the tag gave up waiting (its boot timer) and told the page: no client now
    try:
        settings = json.loads(str(api_js._settings))
        base_url, options = tag_arguments(settings["options"])
        # The tag's engine, if it sent the page's requests while this booted: the client takes
        # it over, with what it holds (its settings, max_in_flight "auto" and the refresh URL's
        # origin paced, are what this client's options say: the tag compares the tables).
        client = AuthClient(base_url, transport=BrowserTransport(getattr(api_js, "_engine", None)), **options)
    except (AuthFetchError, TypeError, ValueError) as error:
        api_js._refused(str(error))
        return
    login_url = settings.get("loginUrl")

    def dispatch(event):
        cancelable = event.name in ("session-expired", "no-session") and bool(login_url)
        init = to_js({"detail": _detail(event.fields), "cancelable": cancelable})
        proceed = js.window.dispatchEvent(js.CustomEvent.new("authfetch:" + event.name, init))
        if cancelable and proceed:
            js.window.location.assign(login_url)  # after the event, so the page could cancel it

    for name in PAGE_EVENTS:
        client.on(name, dispatch)

    def route(url):
        """The engine's flags for ``url`` (an absolute URL); -1 for one that is not valid."""
        try:
            return client.options.route(client.options.resolve(str(url)))
        except AuthFetchError:
            return -1

    def sign(token, url, method, header_pairs, body=None):  # MicroPython drops a trailing undefined
        """A sign-in or sign-out, called by JS: run it as an asyncio task, then settle JS's call
        ``token`` with the kept answer's number or an error message.

        A coroutine driven by JS promises cannot wait on asyncio events on MicroPython (it
        never wakes); inside a task it can. Only numbers and strings cross back.
        """
        headers = {}
        for pair in header_pairs:
            headers[str(pair[0])] = str(pair[1])
        url, method = str(url), str(method)
        if body is not None and not isinstance(body, (str, bytes)):
            body = None if "JsProxy" not in type(body).__name__ else body

        async def run():
            try:
                response = await client.fetch(url, method=method, headers=headers, body=body)
                result = response.native
            except AuthFetchError as error:
                response = error.response
                result = response.native if response is not None else str(error)
            except Exception as error:  # a bug of ours: fail the call, not the page
                result = "authfetch: " + repr(error)
            js.window.authfetch._settle(token, result)

        spawn(run())

    proxies = (create_proxy(route), create_proxy(sign))
    _live.append((client, proxies, dispatch))
    engine_js, profile = engine_of(client)
    table = json.dumps(client.options.routes)
    api_js._booted(engine_js, profile, proxies[0], proxies[1], table)
