"""What every scenario shares: run settings, pages, the contestants' names, medians."""

import json
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "frontend")]

from tests.browser.conftest import LAUNCH_ARGS, chromium_executable  # noqa: E402,F401
from tests.support.stub_process import StubProcess  # noqa: E402,F401

from .precision import MIN_REPS, ratio_summary, resolved  # noqa: E402

JS_CONTESTANTS = ("raw", "naive", "axios-auth-refresh", "axios-auth-refresh-nodedup")
AUTHFETCH = ("authfetch-mpy", "authfetch-py", "authfetch-js", "authfetch-mpy-unheld", "authfetch-py-unheld")
# The Python baselines: the same requests from the same interpreter with plain js.fetch and a
# valid token, so the library's own cost shows apart from the interpreter's.
PY_FETCH = ("py-fetch-mpy", "py-fetch-py")
# Which baseline an authfetch contestant is held against (the embed runs MicroPython).
INTERPRETER = {"authfetch-mpy": "py-fetch-mpy", "authfetch-mpy-unheld": "py-fetch-mpy", "authfetch-js": "py-fetch-mpy",
               "authfetch-py": "py-fetch-py", "authfetch-py-unheld": "py-fetch-py"}
# authfetch as shipped holds its own queue (max_in_flight="auto": six requests in the browser's
# hands over HTTP/1.1, from nextHopProtocol); "-unheld" hands every request over at once
# (max_in_flight=None) and relies on recalling the queued GETs after the first 401.
HELD, UNHELD = "auto", None
# The ratios the targets are about: each (contestant, baseline) must resolve to +-5 %, so a
# scenario adds repetitions (within its time budget) until they all do.
SHIPPED = ("authfetch-mpy", "authfetch-py", "authfetch-js")
HEADLINE = {
    "burst": [(name, "raw") for name in SHIPPED],
    # steady: the Python API against its interpreter's own js.fetch, the tag against raw fetch
    "steady": [("authfetch-mpy", "py-fetch-mpy"), ("authfetch-py", "py-fetch-py"), ("authfetch-js", "raw")],
    "proactive": [(name, "raw") for name in SHIPPED],
}
PAGE_TIMEOUT_MS = 180_000
REFRESH_URL = "/api/v1/users/refresh-token"
PROFILE = "/api/v1/users/profile"

LOGIN = """async () => (await fetch("/api/v1/users/login", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({username: "demo", password: "demo"})})).status"""
HARNESS_READY = "() => !!document.getElementById('state')?.textContent.startsWith('ready')"
BENCH_READY = "() => document.getElementById('state')?.textContent === 'ready'"
EMBED_READY = "() => !!(window.authfetch && window.authfetch.ready)"
# Runs a harness snippet from page JavaScript; the page's own timing stays in JavaScript.
RUN_PY = """window.runPy = async (code) => {
    const answer = JSON.parse(await window.harnessRun(code));
    if (!answer.ok) throw new Error(answer.trace);
    return answer.value;
};"""


# The scenarios after the first block, in the order they run (__main__.py), with their seconds
# in the make bench of 2026-12-03 (1431 s): the shares of the time left (Settings.share_until).
LATER = ("cold", "tabs", "profile", "body", "proactive")
LATER_S = {"cold": 168, "tabs": 120, "profile": 136, "body": 9, "proactive": 230}


def in_time(rep, last_s, until, minimum=MIN_REPS):
    """Whether repetition ``rep`` (from 0) may start: always below ``minimum``, else only if one
    more like the last (``last_s`` seconds) ends by ``until`` (None: no limit)."""
    return rep < minimum or until is None or time.monotonic() + last_s <= until


class Settings:
    """How much to run: ``quick`` trims repetitions and sizes for development, never the
    scenario itself (N = 200 writes, 5 tabs x 40 stay as the issue sets them)."""

    def __init__(self, *, quick=False, reps=None, only=None, contestants=None, pin=False):
        self.quick = quick
        self.reps = reps or (2 if quick else 5)
        # Scenarios whose figures call no target (bursts at N = 50 and 1000, writes, tabs: their
        # counts must hold in every run, their times only inform) take 3: the minutes go to
        # the headline ratios instead.
        self.minor_reps = reps or (2 if quick else 3)
        self.only = only
        self.contestants = contestants  # None: all; else these and the baselines they need
        self.bursts = (200,) if quick else (50, 200, 1000)
        # steady: rounds of 5 waves of 50 GETs, contestants in turn round by round
        self.wave = 50
        self.waves = 5
        self.steady_rounds = 4 if quick else 20
        # proactive: one burst per repetition, its raw figure moves by up to 40 % between
        # repetitions on this machine, so it takes twice the repetitions
        self.proactive_reps = 2 * self.reps
        # Seconds a scenario may add repetitions for, until its headline ratios resolve (quick,
        # or --reps given: none, the count is what was asked for). Warm-ups and the first reps come
        # on top, and a budget can be overrun by one repetition: the 2026-12-02 run took 27 min.
        extend = not quick and reps is None
        self.budget_s = {"burst": 150, "steady": 100, "proactive": 100} if extend else {}
        self.max_reps = 80
        # ...and none once the run is this old: what comes after (proactive's first 10
        # repetitions, ~4 min) must still fit a make bench of <= 25 min.
        self.started = time.monotonic()
        self.extend_until = self.started + 19 * 60
        # ...and the scenarios after the first block (LATER) share what is left of 24 minutes,
        # each in proportion to its time on 2026-12-03: past its share a scenario stops after
        # MIN_REPS. On 2026-12-04 the machine ran 1.4-1.8 x slower (the 1 MiB round trip 108 ms
        # against 59) and their fixed repetitions took make bench to 30 minutes.
        self.deadline = self.started + 24 * 60 if extend else None
        # --pin: the stub on a core of its own, the browser on the rest. On 2 cores that leaves
        # the browser one: pinned on 2026-12-03, raw N = 1000 took 5.8 s against 3.5 s unpinned
        # the day before (not one run, but far past the noise), too slow for 25 minutes; off
        # unless asked for.
        self.stub_cores, self.browser_cores = split_cores() if pin else (None, None)
        # profile: main-thread CPU per request is steady; 12 repetitions resolve its ratios
        self.profile_reps = self.reps if quick or reps is not None else 12
        self.profile_burst_reps = self.reps  # where a burst's time goes: phases, not a target
        self.cold_reps = self.reps if quick or reps is not None else 10  # contestants in turn, paired by repetition

    def share_until(self, scenario):
        """The monotonic time past which ``scenario`` (one of LATER) adds no repetition beyond
        MIN_REPS: its part of the time left, beside the later scenarios this run has. None:
        no limit (quick, --reps)."""
        if self.deadline is None:
            return None
        now = time.monotonic()
        coming = [name for name in LATER[LATER.index(scenario):] if self.wants(name)]
        return now + max(0.0, self.deadline - now) * LATER_S[scenario] / sum(LATER_S[name] for name in coming)

    def wants(self, scenario):
        return self.only is None or scenario in self.only

    def keeps(self, name):
        """Whether contestant ``name`` runs: a chosen one, or a baseline of a chosen one."""
        if self.contestants is None or name == "raw" or name in self.contestants:
            return True
        return any(INTERPRETER.get(chosen) == name for chosen in self.contestants)


def split_cores():
    """(stub's cores, browser's cores): the last CPU for the stub, the rest for the browser, its
    Playwright driver and this process, so the server's work does not land on the page's core
    and add to its noise. (None, None) where the OS cannot pin (not Linux) or has one core."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    return {cores[-1]}, set(cores[:-1])


def pinned(cores, start):
    """``start()`` with this process on ``cores`` (what it starts keeps them), then back."""
    if not cores:
        return start()
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        return start()
    finally:
        os.sched_setaffinity(0, old)


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(runs, *keys):
    return {key: summary([run[key] for run in runs]) for key in keys}


def pair_ratios(runs, name, baseline, key="wall_ms"):
    """Per-repetition ratios of ``name`` to ``baseline`` (figures of the same repetition)."""
    return [mine[key] / theirs[key] for mine, theirs in zip(runs[name], runs[baseline])]


def headline_resolved(runs, pairs):
    """Whether every headline ratio present in ``runs`` has resolved (precision.resolved)."""
    present = [(a, b) for a, b in pairs if a in runs and b in runs]
    return all(resolved(pair_ratios(runs, a, b)) for a, b in present)


def in_turn(contestants, rep):
    """The order of repetition ``rep``: forward, then backward (A B C, C B A, ...), so no
    contestant always runs right after the same one or always first on a fresh moment."""
    return list(contestants) if rep % 2 == 0 else list(reversed(contestants))


def interleaved(reps, contestants, once, log, label, *, pairs=(), budget_s=0, max_reps=None, until=None,
                warmup=True, share_until=None):
    """Every contestant once per repetition, in turn (A B C, C B A, ...: in_turn), so each
    repetition's figures share the machine's moment; ``once(contestant, rep)`` gives one run's dict.

    A first repetition warms caches, JITs and connections and is dropped (``warmup``). After
    ``reps``, repetitions go on while the headline ``pairs`` have not resolved, for at most
    ``budget_s`` seconds, ``max_reps`` in all, and not past the monotonic time ``until``. Past
    ``share_until`` (Settings.share_until) it stops after MIN_REPS, even short of ``reps``."""
    runs = {contestant.name: [] for contestant in contestants}
    if warmup:
        for contestant in contestants:
            once(contestant, -1)
        log(f"{label}: warm-up repetition done (dropped)")
    started = time.monotonic()
    rep, last_s = 0, 0.0
    while True:
        if rep >= reps:
            if not pairs or headline_resolved(runs, pairs):
                break
            now = time.monotonic()
            if now - started > budget_s or (max_reps and rep >= max_reps) or (until and now > until):
                log(f"{label}: not resolved to +-5 % after {rep} repetitions ({now - started:.0f} s)")
                break
        if not in_time(rep, last_s, share_until):
            log(f"{label}: {rep} repetitions, stopped at its share of the run's time ({time.monotonic() - started:.0f} s)")
            break
        began = time.monotonic()
        for contestant in in_turn(contestants, rep):
            runs[contestant.name].append(once(contestant, rep))
        last_s = time.monotonic() - began
        rep += 1
        log(f"{label} rep {rep}/{reps}: " + ", ".join(f"{name} {r[-1]['wall_ms']:.0f}" for name, r in runs.items()))
    return runs


def with_ratios(row, runs):
    """Each contestant's wall time against ``raw`` and against its interpreter's plain js.fetch,
    as the median (min-max, and the median's 95 % interval) of the per-repetition ratios: a
    ratio is only ever taken between figures of the same repetition."""
    for name, entry in row.items():
        for key, baseline in (("ratio_to_raw", "raw"), ("ratio_to_interpreter", INTERPRETER.get(name))):
            if baseline in runs:
                entry[key] = ratio_summary(pair_ratios(runs, name, baseline))
    return row


def new_page(context, url, ready):
    """A page of ``context`` at ``url``, waited for until ``ready`` (a JS predicate) holds."""
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function(ready)
    if ready == HARNESS_READY:
        page.evaluate("() => { " + RUN_PY + " }")
    elif ready == EMBED_READY:
        page.evaluate("async () => { await window.authfetch.ready; }")
    return page


def harness_url(stub, runtime):
    return f"{stub.url}__stub__/harness/?runtime={runtime}"


def embed_url(stub, **data):
    query = "&".join(f"{key}={value}" for key, value in data.items())
    return f"{stub.url}__stub__/harness/embed.html?refreshUrl={REFRESH_URL}&signInUrl=/api/v1/users/login&{query}"


def bench_url(stub):
    return f"{stub.url}__stub__/bench/"


def run_py(page, code):
    """A harness snippet's value (the page must be a harness page)."""
    answer = json.loads(page.evaluate("async (code) => await window.harnessRun(code)", code))
    if not answer["ok"]:
        raise RuntimeError(answer["trace"])
    return answer["value"]
