"""The demo app: sign in, show the profile, keep it fresh across access-token expiries."""

import asyncio
import random
import sys
import time

from pyscript import document, window
from pyscript.ffi import create_proxy

from authfetch import AuthClient, AuthFetchError, SessionExpired

api = AuthClient(
    "/api/v1",
    refresh_url="/api/v1/users/refresh-token",
    login_url="/api/v1/users/login",
    logout_url="/api/v1/users/logout",
)
POLL_SECONDS = 5


def element(ident):
    return document.getElementById(ident)


def show(signed_in):
    element("login-section").hidden = signed_in
    element("profile-section").hidden = not signed_in


def log(text):
    item = document.createElement("li")
    hour, minute, second = time.localtime()[3:6]
    item.textContent = "%02d:%02d:%02d %s" % (hour, minute, second, text)
    element("events").prepend(item)


def update_stats():
    stats = api.stats
    element("stats").textContent = "refreshes: %d · replays: %d · most held at once: %d" % (
        stats["refresh_successes"],
        stats["replays"],
        stats["max_held"],
    )


def describe(event):
    if event.name == "refresh":
        who = "this tab" if event.source == "local" else "another tab (" + str(event.tab) + ")"
        return "refresh by " + who + ", generation " + str(event.generation)
    return event.name + " " + repr(event.fields)


def on_event(event):
    log(describe(event))
    update_stats()
    if event.name == "session-expired":
        show(False)


for name in ("refresh-start", "refresh", "refresh-failed", "session-expired"):
    api.on(name, on_event)


async def load_profile():
    try:
        response = await api.get("/users/profile")
    except SessionExpired:
        show(False)
        return False
    except AuthFetchError as error:
        log("request failed: " + str(error))
        return False
    if not response.ok:
        show(False)
        return False
    profile = (await response.json())["data"]
    box = element("profile")
    box.innerHTML = ""
    for key in ("username", "email", "fullName"):
        term, value = document.createElement("dt"), document.createElement("dd")
        term.textContent, value.textContent = key, str(profile.get(key))
        box.append(term)
        box.append(value)
    show(True)
    update_stats()
    return True


async def sign_in():
    element("login-error").textContent = ""
    response = await api.login(
        json={"username": element("username").value, "password": element("password").value}
    )
    if not response.ok:
        element("login-error").textContent = (await response.json()).get("message") or "sign-in failed"
        return
    log("signed in")
    await load_profile()


async def enable_sync():
    """Pyodide only: load requests and pyodide-http from this server, send them through api."""
    import authfetch.sync

    await authfetch.sync.load("/vendor/wheels/")
    authfetch.sync.install(api)
    element("sync-section").hidden = False


async def run_sync_call():
    """A plain synchronous requests call (in a task, so the interpreter can wait for it)."""
    import requests

    try:
        answer = requests.get(str(window.location.origin) + "/api/v1/users/profile")
        text = "requests.get: %d %s" % (answer.status_code, answer.json()["data"]["username"])
    except AuthFetchError as error:
        text = "requests.get: " + type(error).__name__ + ": " + str(error)
    element("sync-result").textContent = text
    log(text)
    update_stats()


async def sign_out():
    await api.logout()
    log("signed out")
    show(False)


def on_submit(event):
    event.preventDefault()
    asyncio.create_task(sign_in())


async def poll():
    while True:
        await asyncio.sleep(POLL_SECONDS)
        if not element("profile-section").hidden:
            await load_profile()


TAB = "tab-%06d" % int(random.random() * 1e6)
tabs_seen = {TAB}


def on_presence(event):
    """Demo only: count the tabs of this app through a BroadcastChannel of its own."""
    kind, _, tab = str(event.data).partition(" ")
    if kind == "bye":
        tabs_seen.discard(tab)
    else:
        if tab not in tabs_seen and kind == "hello":
            presence.postMessage("here " + TAB)
        tabs_seen.add(tab)
    element("tabs").textContent = str(len(tabs_seen))


presence = window.BroadcastChannel.new("authfetch-demo-presence")


async def boot():
    if sys.implementation.name == "micropython":
        element("runtime-name").textContent = "MicroPython"
    else:
        element("runtime-name").textContent = "Pyodide (Python %d.%d.%d)" % tuple(sys.version_info[:3])
    presence.onmessage = create_proxy(on_presence)
    presence.postMessage("hello " + TAB)
    window.addEventListener("pagehide", create_proxy(lambda e: presence.postMessage("bye " + TAB)))
    element("tab-id").textContent = TAB
    element("login-form").addEventListener("submit", create_proxy(on_submit))
    element("reload-button").addEventListener("click", create_proxy(lambda e: asyncio.create_task(load_profile())))
    element("logout-button").addEventListener("click", create_proxy(lambda e: asyncio.create_task(sign_out())))
    if sys.implementation.name != "micropython":
        await enable_sync()
        element("sync-button").addEventListener("click", create_proxy(lambda e: asyncio.create_task(run_sync_call())))
    await load_profile()
    element("app").setAttribute("data-state", "ready")
    asyncio.create_task(poll())


asyncio.create_task(boot())
