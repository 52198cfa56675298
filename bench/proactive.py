"""Scenario 4, proactive refresh: the burst of scenario 1 when authfetch knows the expiry ahead.

A second stub issues access tokens that live PROACTIVE_TTL (6) seconds and says so
(``expiresIn``). authfetch signs in through its own client, so it learns the lifetime and, with
the default ``leeway`` (30 s, capped at half the lifetime), makes its renewal due 3 s after the
sign-in: on a timer, and before any request started from then on. DUE_MARGIN_MS after that
instant (measured in the page from the sign-in's return) the page fires N = 200 GETs.
EXPIRE_AHEAD_MS before it, the stub expires the old access tokens (``/__stub__/expire``): a
request sent with the old credential would get a 401 and be sent again, which the stub counts, so "sent twice" = 0 shows that no stale credential went out.

Wall time runs from the earlier of the burst's start and the refresh call's start (Resource
Timing of the refresh URL), so whichever starts the renewal (the timer, or the burst's first
request), its whole round trip is in the figure. "renewal call at" is when the refresh call left,
relative to the burst's start, "answered" when its answer came, "first GET after" when the
burst's first request left after that. After each repetition the client is stopped (the harness's
``forget()``, the embed's sign-out), or its next timed renewal would land in the next
contestant's counts. ``raw`` signs in and fires the same burst with a valid token on the same
stub, interleaved repetition by repetition; the ratio is to that.
"""

from .common import (
    AUTHFETCH,
    BENCH_READY,
    EMBED_READY,
    HARNESS_READY,
    HEADLINE,
    HELD,
    LOGIN,
    PROFILE,
    UNHELD,
    StubProcess,
    bench_url,
    embed_url,
    harness_url,
    interleaved,
    new_page,
    pinned,
    run_py,
    summarise,
    summary,
    with_ratios,
)
from authfetch.coordinator import DEFAULT_LEEWAY  # noqa: E402 (common puts frontend/ on the path)

PROACTIVE_TTL = 6
DUE_S = PROACTIVE_TTL - min(DEFAULT_LEEWAY, PROACTIVE_TTL / 2)
EXPIRE_AHEAD_MS = 200
# The burst fires this long after the due time the page reckons from the sign-in's return: the
# tag hands that answer to the page before its Python has read the lifetime, so the client's
# own due time can be a few ms later, and a burst right at the page's reckoning sent a request
# with the old credential in one run of ten (2026-12-03: "sent twice" 1, nothing lost).
DUE_MARGIN_MS = 25
N = 200

PY_SIGN_IN = """
async def main():
    forget()
    api = client(keep="proactive", max_in_flight=%(max_in_flight)r)  # default leeway: renew ahead
    return (await api.login(json={"username": "demo", "password": "demo"})).status
"""
PY_STOP = """
async def main():
    forget()
    return True
"""
EMBED_STOP = """async () => (await window.authfetch.fetch("/api/v1/users/logout", {method: "POST"})).status"""
# The Python contestants time themselves from their first request, as in scenario 1: the
# harness's own start of a snippet is not the library's.
PY_FIRE = """
import js

async def main():
    started = js.performance.now()
    statuses = outcomes(await many(%(n)d, lambda i: kept["proactive"].get("/users/profile")))
    return {"started": started, "ended": js.performance.now(), "statuses": statuses}
"""
TIMED = """async ([kind, signIn, fire, n, dueMs, expireAheadMs]) => {
    const sleepUntil = (t) => new Promise((resolve) => setTimeout(resolve, Math.max(0, t - performance.now())));
    const embedBurst = () => Promise.all(Array.from({length: n},
        () => window.authfetch.fetch("/api/v1/users/profile").then((r) => r.status, () => "lost")));
    const embedSignIn = async () => (await window.authfetch.fetch("/api/v1/users/login", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({username: "demo", password: "demo"})})).status;
    performance.clearResourceTimings();
    performance.setResourceTimingBufferSize(100000);
    if (kind === "raw") {
        const started = performance.now();
        const statuses = await window.bench.raw(n);
        return {ms: performance.now() - started, renewal_call_ms: null, statuses};
    }
    const status = kind === "py" ? await window.runPy(signIn) : await embedSignIn();
    if (status !== 200) throw new Error(`sign-in answered ${status}`);
    const signedIn = performance.now();
    const due = signedIn + dueMs;  // the client's own due time is at or just before this
    await sleepUntil(due - expireAheadMs);
    await fetch("/__stub__/expire", {method: "POST"});
    await sleepUntil(due);
    let started = performance.now(), ended, statuses;
    if (kind === "py") ({started, ended, statuses} = await window.runPy(fire));
    else {
        statuses = await embedBurst();
        ended = performance.now();
    }
    // Resource Timing lands a moment after the answers: the entries are read after a wait.
    await sleepUntil(performance.now() + 200);
    const renewals = performance.getEntriesByType("resource")
        .filter((e) => e.name.endsWith("/api/v1/users/refresh-token") && e.startTime > signedIn);
    const renewal = renewals.length ? Math.min(...renewals.map((e) => e.startTime)) : started;
    const renewalCall = renewals.length ? renewal - started : null;
    // When the renewal was answered, and when the burst's first GET left after it: where the
    // time goes.
    const answeredAt = renewals.length ? Math.min(...renewals.map((e) => e.responseEnd)) : null;
    const gets = performance.getEntriesByType("resource")
        .filter((e) => e.name.endsWith("/api/v1/users/profile") && e.startTime >= started);
    const after = answeredAt === null ? [] : gets.map((e) => e.startTime).filter((t) => t >= answeredAt);
    return {ms: ended - Math.min(started, renewal), renewal_call_ms: renewalCall, statuses,
            renewal_answered_ms: answeredAt === null ? null : answeredAt - started,
            first_get_after_ms: after.length ? Math.min(...after) - started : null};
}"""


class Proactive:
    def __init__(self, name, page, kind, max_in_flight=HELD):
        self.name, self.page, self.kind, self.max_in_flight = name, page, kind, max_in_flight

    def once(self, stub):
        if self.kind == "raw" and self.page.evaluate(LOGIN) != 200:
            raise RuntimeError("raw: could not sign in")
        stub.reset()
        sign_in = PY_SIGN_IN % {"max_in_flight": self.max_in_flight}
        fire = PY_FIRE % {"n": N}
        answer = self.page.evaluate(TIMED, [self.kind, sign_in, fire, N, DUE_S * 1000 + DUE_MARGIN_MS, EXPIRE_AHEAD_MS])
        stats = stub.stats()
        if self.kind == "py":
            run_py(self.page, PY_STOP)
        elif self.kind == "embed":
            self.page.evaluate(EMBED_STOP)
        sent = stats["requests"].get("GET " + PROFILE, 0)
        ok = answer["statuses"].count(200)
        return {"wall_ms": answer["ms"], "renewal_call_ms": answer["renewal_call_ms"],  # None: no renewal seen
                "renewal_answered_ms": answer.get("renewal_answered_ms"),
                "first_get_after_ms": answer.get("first_get_after_ms"), "succeeded": ok,
                "lost": N - ok, "refresh_calls": stats["refresh_calls"], "sent_twice": sent - N}


def open_contestants(browser, stub):
    def page_at(url, ready):
        return new_page(browser.new_context(), url, ready)

    contestants = [Proactive("raw", page_at(bench_url(stub), BENCH_READY), "raw")]
    for runtime in ("mpy", "py"):
        page = page_at(harness_url(stub, runtime), HARNESS_READY)
        contestants.append(Proactive(f"authfetch-{runtime}", page, "py"))
        contestants.append(Proactive(f"authfetch-{runtime}-unheld", page, "py", max_in_flight=UNHELD))
    embed = page_at(embed_url(stub, signOutUrl="/api/v1/users/logout"), EMBED_READY)
    contestants.append(Proactive("authfetch-js", embed, "embed"))
    assert {c.name for c in contestants} == {"raw", *AUTHFETCH}
    return contestants


def run(settings, browser, results, log):
    stub = pinned(settings.stub_cores, lambda: StubProcess("--csrf", "off", "--access-ttl", str(PROACTIVE_TTL)))
    try:
        contestants = [c for c in open_contestants(browser, stub) if settings.keeps(c.name)]
        # Interleaved: raw sees the same moments of the machine.
        runs = interleaved(settings.proactive_reps, contestants, lambda c, rep: c.once(stub), log, "proactive",
                           pairs=HEADLINE["proactive"], budget_s=settings.budget_s.get("proactive", 0),
                           max_reps=settings.max_reps, until=settings.extend_until,
                           share_until=settings.share_until("proactive"))
        keys = ("wall_ms", "succeeded", "lost", "refresh_calls", "sent_twice")
        row = {name: dict(summarise(r, *keys), runs=r) for name, r in runs.items()}
        for name, r in runs.items():  # when the renewal left and was answered, the first GET after: where seen
            for key in ("renewal_call_ms", "renewal_answered_ms", "first_get_after_ms"):
                known = [run[key] for run in r if run[key] is not None]
                if known:
                    row[name][key] = summary(known)
        results["proactive"] = with_ratios(row, runs)
        results["proactive_setup"] = {"access_ttl_s": PROACTIVE_TTL, "leeway_s": DEFAULT_LEEWAY, "due_after_s": DUE_S,
                                      "expire_ahead_ms": EXPIRE_AHEAD_MS, "n": N}
        for context in {c.page.context for c in contestants}:
            context.close()
    finally:
        stub.stop()
