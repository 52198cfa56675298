"""authfetch against the servers Python teams run: Django 5.2 with Simple JWT (refresh token in
the JSON body), dj-rest-auth (HttpOnly JWT cookies, Django's CSRF) and django-oauth-toolkit
(OAuth 2.0, form-encoded refresh, reuse protection), each the real library
(tests/servers/django_site), in Chromium, on MicroPython and Pyodide.

The page is the stub's harness page and the API is Django on another port, as a deployment
serves its static front end and its API from two origins (CORS with credentials; the same
site, so SameSite=Lax cookies flow). The servers' own blacklists and reuse protection are the
oracle for "no refresh token sent twice"; their refresh endpoints' calls are counted by a
harness middleware (stats()["refresh"]: kind, status, a hash of the token presented).
"""

import collections

import httpx
import pytest

from tests.support.django_process import CLIENT_ID

from .conftest import BOOT_TIMEOUT_MS, HARNESS_READY, RUNTIMES, Harness, wait_for_boot
from .test_embed import READY, embed_url
from .test_tabs import fire_everywhere

KINDS = ["sj", "dra", "oauth"]

CLIENTS = {
    "sj": "client(keep=KEEP, base_url=D + 'sj/', refresh_url=D + 'sj/token/refresh/', login_url=D + 'sj/token/', "
          "logout_url=D + 'sj/token/blacklist/', allowed_origins=[D], server='simplejwt', share_token=SHARE)",
    "dra": "client(keep=KEEP, base_url=D + 'dra/', refresh_url=D + 'dra/token/refresh/', login_url=D + 'dra/login/', "
           "logout_url=D + 'dra/logout/', allowed_origins=[D], server='dj-rest-auth')",
    "oauth": "client(keep=KEEP, base_url=D + 'oauth/', refresh_url=D + 'o/token/', login_url=D + 'o/token/', "
             "logout_url=D + 'o/revoke_token/', allowed_origins=[D], share_token=SHARE, "
             f"server=authfetch.Server.preset('oauth2', client_id='{CLIENT_ID}'))",
}
LOGINS = {
    "sj": "api.login(json={'username': 'demo', 'password': 'demo'})",
    "dra": "api.login(json={'username': 'demo', 'password': 'demo'})",
    "oauth": "api.login(body='grant_type=password&username=demo&password=demo&client_id=" + CLIENT_ID + "', "
             "headers={'Content-Type': 'application/x-www-form-urlencoded'})",
}
PROFILES = {"sj": "profile/", "dra": "user/", "oauth": "profile/"}
EVENTS = ("refresh", "refresh-failed", "session-expired", "no-session")

SETUP = """
async def main():
    forget()
    D = %(d)r
    KEEP = "api"
    SHARE = %(share)s
    api = %(client)s
    events = {}
    for name in %(events)r:
        events[name] = 0
    kept["events"] = events

    def count(event):
        events[event.name] += 1

    for name in events:
        api.on(name, count)
    if %(login)s:
        response = await %(login_call)s
        return response.status
    return 0
"""

BURST = """
import js

async def main():
    api = kept["api"]
    wait_ms = START_DELAY_MS
    if wait_ms > 0:
        await asyncio.sleep(wait_ms / 1000)
    started = js.Date.new().toISOString()  # text: MicroPython wraps Date.now() to a small int; ISO text sorts
    results = await within(%(n)d, lambda i: %(call)s, 30)
    return {"outcomes": outcomes(results), "events": kept["events"], "messages": messages(results)[:3],
            "started": started, "finished": js.Date.new().toISOString()}
"""


def setup(tab, django, kind, *, login=True, share=True):
    code = SETUP % {
        "d": django.url, "share": share, "client": CLIENTS[kind], "events": EVENTS, "login": login, "login_call": LOGINS[kind],
    }
    return tab.run(code)


def sign_in(tab, django, kind):
    tab.page.context.clear_cookies()
    tab.page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    assert setup(tab, django, kind) == 200
    django.reset()


def burst(tab, n, call, start_ms=0):
    return tab.run((BURST % {"n": n, "call": call}).replace("START_DELAY_MS", str(start_ms)))


def refreshes(django, kind):
    return [call for call in django.stats()["refresh"] if call["kind"] == kind]


def reused(calls):
    """Refresh tokens presented more than once (the oracle's own count is the server's answer)."""
    counts = collections.Counter(call["token"] for call in calls if call["token"])
    return {token: n for token, n in counts.items() if n > 1}


@pytest.mark.parametrize("kind", KINDS)
def test_a_hundred_gets_after_expiry_cost_one_refresh(harness, django, kind):
    sign_in(harness, django, kind)
    django.expire()
    answer = burst(harness, 100, f"api.get({PROFILES[kind]!r})")
    calls = refreshes(django, kind)
    figures = f"[{harness.runtime} {kind}] outcomes {collections.Counter(answer['outcomes'])}, refresh calls {calls}, {answer}"
    assert answer["outcomes"] == [200] * 100, figures
    assert [call["status"] for call in calls] == [200], figures
    assert answer["events"]["refresh"] == 1 and answer["events"]["session-expired"] == 0, figures


@pytest.mark.parametrize("kind", KINDS)
def test_forty_posts_after_expiry_are_each_handled_once(harness, django, kind):
    sign_in(harness, django, kind)
    django.expire()
    answer = burst(harness, 40, "api.post('echo/', json={'id': i})")
    stats = django.stats()
    writes = {int(key): count for key, count in stats["writes_by_kind"].get(kind, {}).items()}
    figures = f"[{harness.runtime} {kind}] {collections.Counter(answer['outcomes'])}, writes {writes}, {answer['messages']}"
    assert answer["outcomes"] == [200] * 40, figures
    assert writes == {i: 1 for i in range(40)}, figures
    assert [call["status"] for call in refreshes(django, kind)] == [200], figures


def use_elsewhere(harness, django, kind):
    """A second client (another device, or whoever stole it) uses the page's refresh token first."""
    if kind == "dra":
        cookie = [c["value"] for c in harness.page.context.cookies() if c["name"] == "jwt-refresh"]
        assert cookie, harness.page.context.cookies()
        with httpx.Client(base_url=django.origin, cookies={"jwt-refresh": cookie[0]}) as other:
            response = other.post("/dra/token/refresh/")
    elif kind == "sj":
        response = django.http.post("/sj/token/refresh/", json={"refresh": django.stats()["issued"]["sj"]})
    else:
        form = {"grant_type": "refresh_token", "refresh_token": django.stats()["issued"]["oauth"], "client_id": CLIENT_ID}
        response = django.http.post("/o/token/", data=form)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_refresh_token_used_elsewhere_ends_the_session_once_without_a_storm(harness, django, kind):
    sign_in(harness, django, kind)
    use_elsewhere(harness, django, kind)
    django.reset()
    django.expire()
    answer = burst(harness, 20, f"api.get({PROFILES[kind]!r})")
    calls = refreshes(django, kind)
    figures = f"[{harness.runtime} {kind}] {collections.Counter(answer['outcomes'])}, refresh calls {calls}, {answer}"
    assert answer["outcomes"] == ["SessionExpired"] * 20, figures
    assert len(calls) == 1 and calls[0]["status"] in (400, 401), figures  # the server's own refusal, once
    assert answer["events"]["session-expired"] == 1 and answer["events"]["no-session"] == 0, figures
    # Ended is ended: a later request fails unsent, no refresh call again
    again = burst(harness, 3, f"api.get({PROFILES[kind]!r})")
    assert again["outcomes"] == ["SessionExpired"] * 3 and len(refreshes(django, kind)) == 1, again


@pytest.mark.parametrize("kind", KINDS)
def test_a_first_visit_is_no_session_in_each_servers_words(harness, django, kind):
    harness.page.context.clear_cookies()
    harness.page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    if kind == "dra":
        # Django's csrftoken outlives a sign-out: a cookie is no proof of a session
        harness.page.context.add_cookies([{"name": "csrftoken", "value": "x" * 32, "url": django.url}])
    django.reset()
    assert setup(harness, django, kind, login=False, share=False) == 0
    answer = burst(harness, 3, f"api.get({PROFILES[kind]!r})")
    figures = f"[{harness.runtime} {kind}] {answer}, refresh calls {refreshes(django, kind)}"
    assert answer["outcomes"] == ["SessionExpired"] * 3, figures
    assert answer["events"]["no-session"] == 1 and answer["events"]["session-expired"] == 0, figures
    # In body mode there is no refresh token to send: no call at all
    assert len(refreshes(django, kind)) == (1 if kind == "dra" else 0), figures


TABS = 5
PER_TAB = 20


def open_tab_pages(browser, stub):
    """Five tabs of one browser (MicroPython and Pyodide mixed), sharing cookies, locks and channels."""
    context = browser.new_context()
    tabs = []
    for runtime in ["mpy", "py", "mpy", "py", "mpy"]:
        page = context.new_page()
        tab = Harness(page, stub, runtime)
        page.goto(f"{stub.url}__stub__/harness/?runtime={runtime}")
        tabs.append(tab)
    for tab in tabs:
        wait_for_boot(tab.page, tab.console_errors, HARNESS_READY)
    return tabs


@pytest.fixture(scope="module")
def tab_pages(browser, stub):
    tabs = open_tab_pages(browser, stub)
    yield tabs
    tabs[0].page.context.close()


@pytest.mark.parametrize("kind", KINDS)
def test_five_tabs_at_expiry_lose_nothing_and_never_send_a_refresh_token_twice(tab_pages, django, kind):
    first = tab_pages[0]
    first.page.context.clear_cookies()
    first.page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    assert setup(first, django, kind) == 200
    for tab in tab_pages[1:]:
        setup(tab, django, kind, login=False)
        # Signed in once: the other tabs take the session up (cookies, or the tokens shared on asking)
        assert burst(tab, 1, f"api.get({PROFILES[kind]!r})")["outcomes"] == [200], kind
    django.reset()
    django.expire()
    answers = fire_everywhere(tab_pages, PER_TAB, BURST.replace("%(call)s", f"api.get({PROFILES[kind]!r})"))
    calls = refreshes(django, kind)
    outcomes = [o for a in answers for o in a["outcomes"]]
    figures = f"[{kind}] {collections.Counter(outcomes)}, refresh calls {calls}, events {[a['events'] for a in answers]}"
    assert outcomes == [200] * (TABS * PER_TAB), figures
    # The tabs raced: every burst was under way at one instant (else "1 refresh" shows no contention).
    assert max(a["started"] for a in answers) < min(a["finished"] for a in answers), [(a["started"], a["finished"]) for a in answers]
    assert not reused(calls) and all(call["status"] == 200 for call in calls), figures
    assert len(calls) == 1, figures


# -- where the refresh token is kept, and how it is given back ---------------------------------

REOPEN = """
async def main():
    forget()  # the old client goes, as with a reload: what survives is what was stored
    D = %(d)r
    api = client(keep="api", base_url=D + "sj/", refresh_url=D + "sj/token/refresh/", login_url=D + "sj/token/",
                 allowed_origins=[D], server="simplejwt", cross_tab=False, refresh_token_storage=%(storage)r)
    results = await within(5, lambda i: api.get("profile/"), 20)
    return {"outcomes": outcomes(results), "stored": js.sessionStorage.getItem("authfetch:refresh-token:" + D + "sj/token/refresh/")}
"""

SIGN_IN_STORED = """
async def main():
    forget()
    D = %(d)r
    api = client(keep="api", base_url=D + "sj/", refresh_url=D + "sj/token/refresh/", login_url=D + "sj/token/",
                 allowed_origins=[D], server="simplejwt", cross_tab=False, refresh_token_storage=%(storage)r)
    return (await api.login(json={"username": "demo", "password": "demo"})).status
"""


@pytest.mark.parametrize("storage", ["memory", "sessionStorage"])
def test_the_refresh_token_outlives_a_reload_only_where_the_page_opted_in(harness, django, storage):
    harness.page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")
    assert harness.run("import js\n" + SIGN_IN_STORED % {"d": django.url, "storage": storage}) == 200
    issued = django.stats()["issued"]["sj"]
    django.reset()
    django.expire()
    answer = harness.run("import js\n" + REOPEN % {"d": django.url, "storage": storage})
    calls = refreshes(django, "sj")
    figures = f"[{harness.runtime} {storage}] {answer}, refresh calls {calls}"
    if storage == "memory":
        assert answer["outcomes"] == ["SessionExpired"] * 5 and calls == [] and answer["stored"] is None, figures
    else:
        assert answer["outcomes"] == [200] * 5 and len(calls) == 1, figures
        # the rotated token is what is stored now, not the spent one
        assert answer["stored"] == django.stats()["issued"]["sj"] != issued, figures


SIGN_OUT = """
async def main():
    api = kept["api"]
    response = await api.logout()
    after = await within(2, lambda i: api.get(%(profile)r), 10)
    return {"status": response.status, "after": outcomes(after)}
"""


@pytest.mark.parametrize("kind", ["sj", "oauth"])
def test_signing_out_hands_the_refresh_token_to_the_server_to_revoke(harness, django, kind):
    sign_in(harness, django, kind)
    issued = django.stats()["issued"][kind]
    answer = harness.run(SIGN_OUT % {"profile": PROFILES[kind]})
    assert answer == {"status": 200, "after": ["SessionExpired"] * 2}, answer
    if kind == "sj":
        response = django.http.post("/sj/token/refresh/", json={"refresh": issued})
        assert response.status_code == 401 and response.json()["code"] == "token_not_valid", response.text
    else:
        form = {"grant_type": "refresh_token", "refresh_token": issued, "client_id": CLIENT_ID}
        response = django.http.post("/o/token/", data=form)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant", response.text


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_one_tag_speaks_simplejwt_from_its_data_attributes(browser, stub, django, runtime):
    d = django.url
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(BOOT_TIMEOUT_MS)
        page.goto(embed_url(stub, runtime=runtime, preset="simplejwt", baseUrl=d + "sj/", refreshUrl=d + "sj/token/refresh/",
                            signInUrl=d + "sj/token/", allowedOrigins=django.origin))
        page.evaluate(READY)
        signed = page.evaluate(
            """async (url) => {
                const response = await window.authfetch.fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({username: "demo", password: "demo"})});
                const body = await response.json();
                return [response.status, typeof body.access, typeof body.refresh];
            }""",
            d + "sj/token/",
        )
        assert signed == [200, "string", "string"], signed
        django.reset()
        django.expire()
        statuses = page.evaluate(
            "async (url) => (await Promise.all(Array.from({length: 50}, () => window.authfetch.fetch(url)))).map((r) => r.status)",
            d + "sj/profile/",
        )
        calls = refreshes(django, "sj")
        assert statuses == [200] * 50 and [call["status"] for call in calls] == [200], (statuses, calls)
    finally:
        context.close()
