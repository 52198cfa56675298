"""The demo app: sign in, show the profile, keep it fresh across access-token expiries; and a
playground that shows each request on a timeline (the "request" events) while the visitor
expires the token, fires bursts and breaks the next refresh (the stub's controls)."""

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
REFRESH_PATH = "/api/v1/users/refresh-token"
BURST_DEFAULT, BURST_MAX = 50, 1000
MAX_ROWS = BURST_MAX + 20  # bars kept on the timeline (a burst, its refresh calls, a few more)
# What "break the next refresh" queues at the stub: two transient failures the client retries,
# then the terminal answer that ends the session.
REFRESH_FAULTS = [{"status": 503}, {"status": 503}, {"status": 401}]


def element(ident):
    return document.getElementById(ident)


def show(signed_in):
    element("login-section").hidden = signed_in
    element("profile-section").hidden = not signed_in
    element("session-state").textContent = "signed in" if signed_in else "signed out"


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
    if event.name == "no-session":
        show(False)  # a first visit: nothing to renew yet, nothing to alarm anyone
        return
    if event.name == "refresh-start" and element("profile-section").hidden:
        return  # not signed in (yet): the attempt that finds no session is not news
    log(describe(event))
    update_stats()
    if event.name == "session-expired":
        show(False)


for name in ("refresh-start", "refresh", "refresh-failed", "session-expired", "no-session"):
    api.on(name, on_event)


class Timeline:
    """Each request as a bar from asked for to answered, colored by what happened to it, drawn
    from the client's "request" events (its engine's steps, with the page's clock)."""

    def __init__(self):
        self.rows = {}  # ident -> what the steps said so far
        self.order = []
        self.t0 = None
        self.scheduled = False

    def clear(self):
        self.rows, self.order, self.t0 = {}, [], None
        element("timeline").innerHTML = ""
        self.changed()

    def step(self, event):
        row = self.rows.get(event.ident)
        if row is None:
            if self.t0 is None:
                self.t0 = event.at
            bar = document.createElement("div")
            element("timeline").append(bar)
            row = {"bar": bar, "start": event.at, "end": None, "what": "", "status": 0,
                   "held": False, "waiting": False, "first": False, "replayed": False, "refresh": False}
            self.rows[event.ident] = row
            self.order.append(event.ident)
            if len(self.order) > MAX_ROWS:  # the oldest bar goes: a long visit stays light
                self.rows.pop(self.order.pop(0))["bar"].remove()
                self.t0 = self.rows[self.order[0]]["start"]
        phase = event.phase
        if phase == "queued":
            row["what"] = event.detail
            row["refresh"] = event.detail.endswith(REFRESH_PATH)
        elif phase == "sent":
            row["waiting"] = False
            row["replayed"] = row["replayed"] or event.attempt > 1
        elif phase == "held":
            row["waiting"] = True
            row["held"] = row["held"] or event.attempt == 0  # held before it was ever sent
        elif phase == "first-401":
            row["first"] = True
        elif phase == "done":
            row["end"], row["status"], row["waiting"] = event.at, event.status, False
            row["error"] = event.detail
        self.changed()

    def kind(self, row):
        if row["refresh"]:
            return "refresh"
        if row["end"] is not None and not 200 <= row["status"] < 300:
            return "failed"
        if row["first"]:
            return "first-401"
        if row["replayed"]:
            return "replayed"
        if row["held"]:
            return "held"
        return "ok" if row["end"] is not None else "pending"

    def changed(self):
        if not self.scheduled:
            self.scheduled = True  # one redraw pending
            asyncio.create_task(self.draw())

    async def draw(self):
        await asyncio.sleep(0.05)  # one redraw for a batch of steps
        self.scheduled = False
        now = window.performance.now()
        rows = [self.rows[i] for i in self.order]
        span = max([(r["end"] or now) for r in rows] + [(self.t0 or now) + 1]) - (self.t0 or now)
        counts = {"requests": 0, "ok": 0, "refreshes": 0, "replays": 0, "held": 0}
        for row in rows:
            kind = self.kind(row)
            end = row["end"] or now
            bar = row["bar"]
            bar.className = "bar " + kind
            bar.style.left = "%.2f%%" % (100 * (row["start"] - self.t0) / span)
            bar.style.width = "%.2f%%" % max(0.3, 100 * (end - row["start"]) / span)
            bar.title = "%s: %s, %d ms%s" % (row["what"], kind, int(end - row["start"]),
                                            (", " + str(row["status"])) if row["status"] else "")
            if kind == "refresh":
                counts["refreshes"] += 1
                continue
            counts["requests"] += 1
            counts["ok"] += row["end"] is not None and 200 <= row["status"] < 300
            counts["replays"] += row["replayed"]
            counts["held"] += row["waiting"]
        for name, value in counts.items():
            element("count-" + name).textContent = str(value)
        # Every bar answered: what a test (or a curious visitor's devtools) can wait for.
        element("timeline").setAttribute("data-settled", "yes" if all(r["end"] is not None for r in rows) else "no")
        element("timeline-span").textContent = ("%d ms" % int(span)) if rows else ""


timeline = Timeline()
api.on("request", timeline.step)


async def stub_control(name, payload=None):
    """The stub's own controls (make demo starts it with them): outside the API, no credentials."""
    response = await api.post(str(window.location.origin) + "/__stub__/" + name, json=payload or {}, auth=False)
    return response.ok


playing = False


def play(action):
    """A playground button: the poll stops from the first click on (see poll)."""

    async def run():
        global playing
        playing = True
        await action()

    return run


async def expire_now():
    if await stub_control("expire"):
        log("the stub expired every access token: the next request gets a 401")
    else:
        log("the stub's controls are off (python -m server_stub --test-controls)")


async def break_next_refresh():
    if await stub_control("faults", {"refresh": REFRESH_FAULTS}):
        log("the next refresh will fail: 503, 503 (retried), then 401 (ends the session)")
    else:
        log("the stub's controls are off (python -m server_stub --test-controls)")


async def burst():
    try:
        n = max(1, min(BURST_MAX, int(element("burst-size").value)))
    except ValueError:
        n = BURST_DEFAULT
    timeline.clear()
    element("burst-result").textContent = "burst of %d running…" % n

    async def one():
        try:
            return (await api.get("/users/profile")).status
        except AuthFetchError as error:
            return type(error).__name__

    results = await asyncio.gather(*[one() for _ in range(n)])
    ok = len([r for r in results if r == 200])
    text = "burst of %d: %d OK" % (n, ok)
    if ok < n:
        text += ", then " + ", ".join(sorted(set(str(r) for r in results if r != 200)))
    element("burst-result").textContent = text
    log(text)
    update_stats()


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
        # Once the visitor plays, the playground's requests are the page's only ones: a poll
        # landing in a burst (or between expire and fire) would blur what the timeline shows.
        if not element("profile-section").hidden and not playing:
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
    buttons = {
        "expire-button": play(expire_now),
        "burst-button": play(burst),
        "break-button": play(break_next_refresh),
    }
    for ident, action in buttons.items():
        element(ident).addEventListener("click", create_proxy(lambda e, action=action: asyncio.create_task(action())))
    element("tab-button").addEventListener("click", create_proxy(lambda e: window.open(window.location.href, "_blank")))
    element("reload-button").addEventListener("click", create_proxy(lambda e: asyncio.create_task(load_profile())))
    element("logout-button").addEventListener("click", create_proxy(lambda e: asyncio.create_task(sign_out())))
    if sys.implementation.name != "micropython":
        await enable_sync()
        element("sync-button").addEventListener("click", create_proxy(lambda e: asyncio.create_task(run_sync_call())))
    await load_profile()
    element("app").setAttribute("data-state", "ready")
    asyncio.create_task(poll())


asyncio.create_task(boot())
