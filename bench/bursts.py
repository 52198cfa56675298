"""Scenarios on one page per contestant, against the main stub: burst after expiry (1), replay
of writes (2), steady overhead (3), and the coordinator's own cost (7)."""

import hashlib
import timeit

from .common import (
    BENCH_READY,
    EMBED_READY,
    HARNESS_READY,
    JS_CONTESTANTS,
    LOGIN,
    HELD,
    UNHELD,
    bench_url,
    embed_url,
    harness_url,
    new_page,
    summarise,
)

WRITES_N = 200

PY_BURST = """
async def main():
    api = client(leeway=None, max_in_flight=%(max_in_flight)r)
    statuses = []
    for _ in range(%(waves)d):
        statuses += outcomes(await many(%(n)d, lambda i: api.get("/users/profile")))
    return statuses
"""
TIMED = """async ([kind, code, n, waves]) => {
    const run = async () => {
        if (kind === "py") return window.runPy(code);
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
    const answers = kind === "py" ? await window.runPy(code)
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

    def run(self, n, waves=1):
        code = self.code
        if self.kind == "py":
            code = PY_BURST % {"n": n, "waves": waves, "max_in_flight": self.max_in_flight}
        return self.page.evaluate(TIMED, [self.kind, code, n, waves])

    def write(self, n, prefix):
        code = self.code
        if self.kind == "py":
            code = PY_WRITES % {"n": n, "prefix": prefix, "max_in_flight": self.max_in_flight}
        return self.page.evaluate(TIMED_WRITES, [self.kind, code, n, prefix])

    def sign_in(self):
        if self.page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"{self.name}: could not sign in")


def open_pages(browser, stub):
    """Every contestant on its own page (the JS ones share one), each page in its own context."""
    contestants = []

    def page_at(url, ready):
        page = new_page(browser.new_context(), url, ready)
        if page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"could not sign in on {url}")
        return page

    js_page = page_at(bench_url(stub), BENCH_READY)
    for name in JS_CONTESTANTS:
        contestants.append(Contestant(name, js_page, "js", name))
    for runtime in ("mpy", "py"):
        page = page_at(harness_url(stub, runtime), HARNESS_READY)
        contestants.append(Contestant(f"authfetch-{runtime}", page, "py", None))
        # Without the held queue: every request handed to the browser at once.
        contestants.append(Contestant(f"authfetch-{runtime}-unheld", page, "py", None, max_in_flight=UNHELD))
    embed = page_at(embed_url(stub, leeway="none"), EMBED_READY)
    contestants.append(Contestant("authfetch-js", embed, "embed", None))
    return contestants


def with_ratios(row):
    raw = row["raw"]["wall_ms"]["median"]
    for entry in row.values():
        entry["ratio_to_raw"] = entry["wall_ms"]["median"] / raw
    return row


def burst(settings, stub, contestant, n):
    runs = []
    for _ in range(settings.reps):
        contestant.sign_in()
        stub.reset()
        if contestant.name != "raw":
            stub.expire()  # the floor runs with a valid token
        answer = contestant.run(n)
        stats = stub.stats()
        ok = answer["statuses"].count(200)
        runs.append({"wall_ms": answer["ms"], "succeeded": ok, "lost": n - ok,
                     "refresh_calls": stats["refresh_calls"], "reuse": stats["reuse_detected"]})
    return dict(summarise(runs, "wall_ms", "succeeded", "lost", "refresh_calls"), runs=runs)


def writes(settings, stub, contestant, n, rep_prefix):
    """Replay of writes: n POSTs right after expiry (raw: with a valid token). Handled exactly
    once is the stub's count per X-Request-Id, which counts only authenticated requests."""
    runs = []
    for rep in range(settings.reps):
        prefix = f"{contestant.name}-{rep_prefix}{rep}-"
        contestant.sign_in()
        stub.reset()
        if contestant.name != "raw":
            stub.expire()
        answer = contestant.write(n, prefix)
        stats = stub.stats()
        handled = [stats["request_ids"].get(f"{prefix}{i}", 0) for i in range(n)]
        mismatches = 0
        for i, (status, sha) in enumerate(answer["answers"]):
            if status == 200 and sha != hashlib.sha256(write_body(prefix, i).encode()).hexdigest():
                mismatches += 1
        runs.append({
            "wall_ms": answer["ms"],
            "succeeded": sum(1 for status, _ in answer["answers"] if status == 200),
            "exactly_once": handled.count(1),
            "never_handled": handled.count(0),
            "handled_twice_or_more": sum(1 for count in handled if count > 1),
            "body_mismatches": mismatches,
            "refresh_calls": stats["refresh_calls"],
        })
    keys = ("wall_ms", "succeeded", "exactly_once", "never_handled", "handled_twice_or_more", "body_mismatches",
            "refresh_calls")
    return dict(summarise(runs, *keys), runs=runs)


def steady(settings, stub, contestant):
    runs = []
    total = settings.wave * settings.waves
    for _ in range(settings.reps):
        contestant.sign_in()
        answer = contestant.run(settings.wave, waves=settings.waves)
        if answer["statuses"].count(200) != total:
            raise RuntimeError(f"steady {contestant.name}: {set(answer['statuses'])}")
        runs.append({"wall_ms": answer["ms"]})
    return summarise(runs, "wall_ms")


def core_cost(settings):
    from authfetch.coordinator import Coordinator, Ticket

    def cycle(count=1000):
        coordinator = Coordinator()
        for ident in range(count):
            ticket = Ticket(ident)
            coordinator.start(ticket, 0.0)
            coordinator.response(ticket, 200, 0.0, refresh_wanted=False)

    seconds = min(timeit.repeat(cycle, number=5, repeat=settings.reps))
    return {"decisions_per_second": 2 * 1000 * 5 / seconds}


def detail(describe, entry):
    if describe.startswith("burst"):
        return f", {entry['succeeded']['median']:.0f} ok, {entry['refresh_calls']['median']:.0f} refreshes"
    if describe == "writes":
        return (f", exactly once {entry['exactly_once']['median']:.0f}/{WRITES_N}, "
                f"mismatches {entry['body_mismatches']['median']:.0f}")
    return ""


def run(settings, browser, stub, results, log):
    """Scenarios 1, 2, 3 and 7 into ``results``, as far as ``settings`` wants them."""
    if not any(settings.wants(s) for s in ("burst", "writes", "steady")):
        if settings.wants("core"):
            results["core"] = core_cost(settings)
        return
    contestants = open_pages(browser, stub)

    def row_of(measure, describe):
        """Every contestant measured, logged, and given its ratio to raw."""
        row = {}
        for contestant in contestants:
            entry = row[contestant.name] = measure(contestant)
            log(f"{describe} {contestant.name}: {entry['wall_ms']['median']:.0f} ms" + detail(describe, entry))
        return with_ratios(row)

    if settings.wants("burst"):
        results["burst"] = {}
        for n in settings.bursts:
            results["burst"][str(n)] = row_of(lambda c, n=n: burst(settings, stub, c, n), f"burst N={n}")
    if settings.wants("writes"):
        results["writes"] = row_of(lambda c: writes(settings, stub, c, WRITES_N, "w"), "writes")
    if settings.wants("steady"):
        results["steady"] = row_of(lambda c: steady(settings, stub, c), "steady")
    if settings.wants("core"):
        results["core"] = core_cost(settings)
    for context in {c.page.context for c in contestants}:
        context.close()

