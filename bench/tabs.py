"""Scenario 6, tabs: TABS pages of one browser context, PER_TAB GETs each, all fired at the same
instant right after expiry, against the main stub with its default grace window (0: any second
use of a refresh token is reuse, and the stub revokes the family). No delay is injected: the
refresh takes a few milliseconds on loopback, so whether uncoordinated tabs collide varies from
run to run, and the table says in how many runs the stub saw reuse. Figures: refresh calls and
reuse events at the stub, requests succeeded and lost, wall time from the instant to the last
tab's last answer. authfetch runs with ``cross_tab`` on (the default) and off; ``raw`` fires with
a valid token (the floor). Each group of tabs has its own context (own cookies, locks, storage).
"""

from .common import (
    BENCH_READY,
    EMBED_READY,
    HARNESS_READY,
    JS_CONTESTANTS,
    LOGIN,
    bench_url,
    embed_url,
    harness_url,
    new_page,
    interleaved,
    run_py,
    summarise,
    with_ratios,
)

TABS = 5
PER_TAB = 40
SPREAD_MS = 200  # per tab: time to hand every tab its instructions before the common instant

PY_KEEP = """
async def main():
    forget()
    client(keep="tab", cross_tab=%(cross_tab)s, leeway=None)
    return True
"""
PY_FIRE = """
async def main():
    return outcomes(await many(%(n)d, lambda i: kept["tab"].get("/users/profile")))
"""
EMBED_SIGN_IN = """async () => (await window.authfetch.fetch("/api/v1/users/login", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({username: "demo", password: "demo"})})).status"""
ARM = """([kind, code, n, startAt]) => {
    const run = () => kind === "py" ? window.runPy(code)
        : kind === "embed" ? Promise.all(Array.from({length: n},
            () => window.authfetch.fetch("/api/v1/users/profile").then((r) => r.status, () => "lost")))
        : window.bench[code](n);
    window.fired = new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - Date.now())))
        .then(run)
        .then((statuses) => ({statuses, end: performance.timeOrigin + performance.now()}),
              (error) => ({error: String(error)}));
}"""


class TabContestant:
    def __init__(self, name, pages, kind, code=None, cross_tab=True):
        self.name, self.pages, self.kind, self.code, self.cross_tab = name, pages, kind, code, cross_tab

    def prepare(self):
        """Signed in, with a fresh client per tab where the contestant keeps one."""
        first = self.pages[0]
        if self.kind in ("js", "py") and first.evaluate(LOGIN) != 200:
            raise RuntimeError(f"tabs {self.name}: could not sign in")
        for page in self.pages:
            if self.kind == "py":
                run_py(page, PY_KEEP % {"cross_tab": self.cross_tab})
            elif self.kind == "embed" and page.evaluate(EMBED_SIGN_IN) != 200:
                raise RuntimeError(f"tabs {self.name}: could not sign in")

    def once(self, stub):
        self.prepare()
        stub.reset()
        if self.name != "raw":
            stub.expire()
        code = PY_FIRE % {"n": PER_TAB} if self.kind == "py" else self.code
        start_at = self.pages[0].evaluate("() => Date.now()") + SPREAD_MS * len(self.pages)
        for page in self.pages:
            page.evaluate(ARM, [self.kind, code, PER_TAB, start_at])
        answers = [page.evaluate("async () => await window.fired") for page in self.pages]
        failed = [a["error"] for a in answers if "error" in a]
        if failed:
            raise RuntimeError(f"tabs {self.name}: {failed[0]}")
        stats = stub.stats()
        statuses = [status for answer in answers for status in answer["statuses"]]
        ok = statuses.count(200)
        return {"wall_ms": max(a["end"] for a in answers) - start_at, "succeeded": ok, "lost": len(statuses) - ok,
                "refresh_calls": stats["refresh_calls"], "reuse_detected": stats["reuse_detected"]}


def open_groups(browser, stub):
    def tabs_at(url, ready):
        context = browser.new_context()
        return [new_page(context, url, ready) for _ in range(TABS)]

    js_tabs = tabs_at(bench_url(stub), BENCH_READY)
    contestants = [TabContestant(name, js_tabs, "js", code=name) for name in JS_CONTESTANTS]
    for runtime in ("mpy", "py"):
        tabs = tabs_at(harness_url(stub, runtime), HARNESS_READY)
        contestants.append(TabContestant(f"authfetch-{runtime}", tabs, "py"))
        contestants.append(TabContestant(f"authfetch-{runtime}-cross-tab-off", tabs, "py", cross_tab=False))
    contestants.append(TabContestant("authfetch-js", tabs_at(embed_url(stub, leeway="none"), EMBED_READY), "embed"))
    off = tabs_at(embed_url(stub, leeway="none", crossTab="false"), EMBED_READY)
    contestants.append(TabContestant("authfetch-js-cross-tab-off", off, "embed", cross_tab=False))
    return contestants


def run(settings, browser, stub, results, log):
    contestants = [c for c in open_groups(browser, stub) if settings.keeps(c.name)]
    runs = interleaved(settings.minor_reps, contestants, lambda c, rep: c.once(stub), log, "tabs")
    row = {}
    for name, r in runs.items():
        row[name] = dict(
            summarise(r, "wall_ms", "succeeded", "lost", "refresh_calls", "reuse_detected"),
            runs_with_reuse=sum(1 for one in r if one["reuse_detected"]),
            runs=r,
        )
        log(f"tabs {name}: {row[name]['refresh_calls']['median']:.0f} refreshes, "
            f"{row[name]['reuse_detected']['median']:.0f} reuse, "
            f"{row[name]['succeeded']['median']:.0f}/{TABS * PER_TAB} ok, {row[name]['wall_ms']['median']:.0f} ms")
    results["tabs"] = with_ratios(row, runs)
    for context in {page.context for c in contestants for page in c.pages}:
        context.close()
