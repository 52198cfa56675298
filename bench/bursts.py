"""Scenarios on one page per contestant, against the main stub: burst after expiry (1), replay
of writes (2), steady overhead (3), and the coordinator's own cost (7)."""

import hashlib
import timeit

from .common import (
    BENCH_READY,
    EMBED_READY,
    HARNESS_READY,
    HEADLINE,
    HELD,
    JS_CONTESTANTS,
    LOGIN,
    UNHELD,
    bench_url,
    embed_url,
    harness_url,
    interleaved,
    new_page,
    summarise,
    with_ratios,
)

WRITES_N = 200

# Python contestants time themselves, from their first request to their last answer (the
# client is made before): the same span the JavaScript ones time ("started": on the page's
# clock, for the profile's phases).
PY_BURST = """
import js

async def main():
    api = client(leeway=None, max_in_flight=%(max_in_flight)r)
    started = js.performance.now()
    statuses = []
    for _ in range(%(waves)d):
        statuses += outcomes(await many(%(n)d, lambda i: api.get("/users/profile")))
    return {"ms": js.performance.now() - started, "statuses": statuses, "started": started}
"""
# The interpreter's own baseline: plain js.fetch, as a page without authfetch would call it.
PY_FETCH_BURST = """
import js
from pyscript.ffi import to_js

async def main():
    url = str(js.location.origin) + "/api/v1/users/profile"

    async def get(i):
        return (await js.fetch(url, to_js({"credentials": "include"}))).status

    started = js.performance.now()
    statuses = []
    for _ in range(%(waves)d):
        statuses += await many(%(n)d, get)
    return {"ms": js.performance.now() - started, "statuses": statuses, "started": started}
"""
TIMED = """async ([kind, code, n, waves]) => {
    if (kind === "py" || kind === "py-fetch") return window.runPy(code);
    const run = async () => {
        let statuses = [];
        for (let w = 0; w < waves; w++) {
            statuses = statuses.concat(kind === "embed"
                ? await Promise.all(Array.from({length: n}, () => window.authfetch.fetch("/api/v1/users/profile").then((r) => r.status, () => "lost")))
                : await window.bench[code](n));
        }
        return statuses;
    };
    const started = performance.now();
    const statuses = await run();
    return {ms: performance.now() - started, statuses};
}"""

# Writes: n POSTs with unique X-Request-Id and a unique JSON body, the same text in every
# contestant (see write_body); each answers [status, sha256 the server received].
PY_FETCH_WRITES = """
import js
from pyscript.ffi import to_js

async def main():
    prefix = %(prefix)r

    async def write(i):
        ident = prefix + str(i)
        body = '{"id":"' + ident + '","seq":' + str(i) + ',"text":"write ' + str(i) + ' of ' + prefix + '"}'
        init = {"method": "POST", "credentials": "include", "body": body,
                "headers": {"Content-Type": "application/json", "X-Request-Id": ident}}
        response = await js.fetch("/api/v1/echo", to_js(init))
        if response.status != 200:
            return [response.status, None]
        return [200, str((await response.json()).data.sha256)]

    return await many(%(n)d, write)
"""
PY_WRITES = """
async def main():
    api = client(leeway=None, max_in_flight=%(max_in_flight)r)
    prefix = %(prefix)r

    async def write(i):
        ident = prefix + str(i)
        body = '{"id":"' + ident + '","seq":' + str(i) + ',"text":"write ' + str(i) + ' of ' + prefix + '"}'
        response = await api.post("/echo", body=body, headers={"Content-Type": "application/json", "X-Request-Id": ident})
        if response.status != 200:
            return [response.status, None]
        return [200, (await response.json())["data"]["sha256"]]

    answers = []
    for result in await many(%(n)d, write):
        answers.append([type(result).__name__, None] if isinstance(result, Exception) else result)
    return answers
"""
TIMED_WRITES = """async ([kind, code, n, prefix]) => {
    const body = (i) => `{"id":"${prefix}${i}","seq":${i},"text":"write ${i} of ${prefix}"}`;
    const embedWrite = (i) => window.authfetch.fetch("/api/v1/echo", {method: "POST", body: body(i),
            headers: {"Content-Type": "application/json", "X-Request-Id": `${prefix}${i}`}})
        .then(async (r) => [r.status, r.ok ? (await r.json()).data.sha256 : null], () => ["lost", null]);
    const started = performance.now();
    const answers = kind === "py" || kind === "py-fetch" ? await window.runPy(code)
        : kind === "embed" ? await Promise.all(Array.from({length: n}, (_, i) => embedWrite(i)))
        : await window.bench.writes[code](n, prefix);
    return {ms: performance.now() - started, answers};
}"""


def write_body(prefix, i):
    return '{"id":"%s%d","seq":%d,"text":"write %d of %s"}' % (prefix, i, i, i, prefix)


class Contestant:
    def __init__(self, name, page, kind, code, max_in_flight=HELD):
        self.name, self.page, self.kind, self.code = name, page, kind, code
        self.max_in_flight = max_in_flight

    @property
    def expired(self):
        """Whether it runs after expiry; the baselines (raw, py-fetch) run with a valid token."""
        return self.name != "raw" and self.kind != "py-fetch"

    def run(self, n, waves=1):
        code = self.code
        if self.kind == "py":
            code = PY_BURST % {"n": n, "waves": waves, "max_in_flight": self.max_in_flight}
        elif self.kind == "py-fetch":
            code = PY_FETCH_BURST % {"n": n, "waves": waves}
        return self.page.evaluate(TIMED, [self.kind, code, n, waves])

    def write(self, n, prefix):
        code = self.code
        if self.kind == "py":
            code = PY_WRITES % {"n": n, "prefix": prefix, "max_in_flight": self.max_in_flight}
        elif self.kind == "py-fetch":
            code = PY_FETCH_WRITES % {"n": n, "prefix": prefix}
        return self.page.evaluate(TIMED_WRITES, [self.kind, code, n, prefix])

    def sign_in(self):
        if self.page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"{self.name}: could not sign in")


def open_pages(browser, stub, settings):
    """Every contestant the run wants on its own page (the JS ones share one, as do the ones of
    one interpreter), each page in its own context."""
    contestants = []

    def page_at(url, ready):
        page = new_page(browser.new_context(), url, ready)
        if page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"could not sign in on {url}")
        return page

    js_page = page_at(bench_url(stub), BENCH_READY)
    for name in JS_CONTESTANTS:
        if settings.keeps(name):
            contestants.append(Contestant(name, js_page, "js", name))
    for runtime in ("mpy", "py"):
        wanted = [name for name in (f"py-fetch-{runtime}", f"authfetch-{runtime}", f"authfetch-{runtime}-unheld")
                  if settings.keeps(name)]
        if not wanted:
            continue
        page = page_at(harness_url(stub, runtime), HARNESS_READY)
        kinds = {f"py-fetch-{runtime}": ("py-fetch", HELD), f"authfetch-{runtime}": ("py", HELD),
                 # Without the held queue: every request handed to the browser at once.
                 f"authfetch-{runtime}-unheld": ("py", UNHELD)}
        for name in wanted:
            kind, max_in_flight = kinds[name]
            contestants.append(Contestant(name, page, kind, None, max_in_flight=max_in_flight))
    if settings.keeps("authfetch-js"):
        embed = page_at(embed_url(stub, leeway="none"), EMBED_READY)
        contestants.append(Contestant("authfetch-js", embed, "embed", None))
    return contestants


def burst_once(stub, contestant, n):
    contestant.sign_in()
    stub.reset()
    if contestant.expired:
        stub.expire()
    answer = contestant.run(n)
    stats = stub.stats()
    ok = answer["statuses"].count(200)
    return {"wall_ms": answer["ms"], "succeeded": ok, "lost": n - ok,
            "refresh_calls": stats["refresh_calls"], "reuse": stats["reuse_detected"]}


def writes_once(stub, contestant, n, prefix):
    """Replay of writes: n POSTs right after expiry (the baselines: with a valid token). Handled
    exactly once is the stub's count per X-Request-Id, which counts only authenticated requests."""
    contestant.sign_in()
    stub.reset()
    if contestant.expired:
        stub.expire()
    answer = contestant.write(n, prefix)
    stats = stub.stats()
    handled = [stats["request_ids"].get(f"{prefix}{i}", 0) for i in range(n)]
    mismatches = 0
    for i, (status, sha) in enumerate(answer["answers"]):
        if status == 200 and sha != hashlib.sha256(write_body(prefix, i).encode()).hexdigest():
            mismatches += 1
    return {
        "wall_ms": answer["ms"],
        "succeeded": sum(1 for status, _ in answer["answers"] if status == 200),
        "exactly_once": handled.count(1),
        "never_handled": handled.count(0),
        "handled_twice_or_more": sum(1 for count in handled if count > 1),
        "body_mismatches": mismatches,
        "refresh_calls": stats["refresh_calls"],
    }


def steady_once(settings, contestant):
    """One round of steady traffic: settings.waves waves of settings.wave GETs (signed in afresh
    before each, untimed: access tokens live 60 s and the rounds take longer)."""
    contestant.sign_in()
    total = settings.wave * settings.waves
    answer = contestant.run(settings.wave, waves=settings.waves)
    if answer["statuses"].count(200) != total:
        raise RuntimeError(f"steady {contestant.name}: {set(answer['statuses'])}")
    return {"wall_ms": answer["ms"]}


def core_cost(settings):
    """Decisions per second of the coordinator on CPython, over refresh rounds of 100 reported
    401s: the first starts the refresh and the recall, the rest join it, then the refresh ends."""
    from authfetch.coordinator import Coordinator

    def cycle(rounds=100, per_round=100):
        coordinator = Coordinator()
        for _ in range(rounds):
            generation = coordinator.generation
            for ident in range(per_round):
                coordinator.answered(ident, generation, 0.0, replayed=False, replayable=True, seen=ident + 1)
            coordinator.refresh_succeeded(0.0, lifetime=60)

    seconds = min(timeit.repeat(cycle, number=1, repeat=settings.reps))
    return {"decisions_per_second": 100 * 101 / seconds}


def run(settings, browser, stub, results, log):
    """Scenarios 1, 2, 3 and 7 into ``results``, as far as ``settings`` wants them."""
    if not any(settings.wants(s) for s in ("burst", "writes", "steady")):
        if settings.wants("core"):
            results["core"] = core_cost(settings)
        return
    contestants = open_pages(browser, stub, settings)

    def row_of(once, label, *keys, reps=settings.reps, headline=None):
        """Every contestant measured, interleaved repetition by repetition, with its ratios; a
        headline scenario adds repetitions until its ratios resolve (common.interleaved)."""
        extra = {}
        if headline:
            extra = {"pairs": HEADLINE[headline], "budget_s": settings.budget_s.get(headline, 0), "max_reps": settings.max_reps,
                     "until": settings.extend_until}
        runs = interleaved(reps, contestants, once, log, label, **extra)
        row = {name: dict(summarise(r, "wall_ms", *keys), runs=r) for name, r in runs.items()}
        return with_ratios(row, runs)

    if settings.wants("burst"):
        results["burst"] = {}
        for n in settings.bursts:
            results["burst"][str(n)] = row_of(lambda c, rep, n=n: burst_once(stub, c, n), f"burst N={n}",
                                              "succeeded", "lost", "refresh_calls",
                                              reps=settings.reps if n == 200 else settings.minor_reps,
                                              headline="burst" if n == 200 else None)
    if settings.wants("writes"):
        results["writes"] = row_of(lambda c, rep: writes_once(stub, c, WRITES_N, f"{c.name}-w{rep}-"), "writes",
                                   "succeeded", "exactly_once", "never_handled", "handled_twice_or_more",
                                   "body_mismatches", "refresh_calls", reps=settings.minor_reps)
    if settings.wants("steady"):
        # Short rounds, many of them, contestants in turn: a slow moment of the machine lands on
        # one round of each, not on all of one contestant's requests.
        results["steady"] = row_of(lambda c, rep: steady_once(settings, c), "steady", reps=settings.steady_rounds,
                                   headline="steady")
    if settings.wants("core"):
        results["core"] = core_cost(settings)
    for context in {c.page.context for c in contestants}:
        context.close()
