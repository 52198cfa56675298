"""Scenario 5, cold start: navigation to the first authenticated response.

Each repetition takes a fresh browser context (empty HTTP cache, nothing compiled), signs in
from a tiny same-origin document (the stub's JSON stats), then navigates to the contestant's page
(bench/pages/cold*.html), which sends its first authenticated GET at once and records
``performance.now()`` (milliseconds since ``performance.timeOrigin``, the navigation's start)
when the response reaches the page's code. ``cached`` is the same navigation again in the same
context, with the HTTP cache warm.
"""

import time

from .common import JS_CONTESTANTS, LOGIN, PAGE_TIMEOUT_MS, in_time, in_turn, pair_ratios, summarise
from .precision import ratio_summary

PAGES = [(name, f"cold.html?contestant={name}") for name in JS_CONTESTANTS] + [
    ("authfetch-mpy", "cold-python.html?runtime=mpy"),
    ("authfetch-py", "cold-python.html?runtime=py"),
    ("authfetch-js", "cold-embed.html?runtime=mpy"),
    ("authfetch-js-py", "cold-embed.html?runtime=py"),
]
MICROPYTHON = ("authfetch-mpy", "authfetch-js")  # the target: ready and answered within 0.6 s
TARGET_MS = 600
TAG, AGAINST = "authfetch-js", "axios-auth-refresh"  # issue 21: the tag's first response <= 1.25 x axios-auth-refresh's
COLD_TARGET = 1.25


def first_response(page, url):
    page.goto(url)
    page.wait_for_function("() => window.coldStart")
    answer = page.evaluate("() => window.coldStart")
    if answer["status"] != 200:
        raise RuntimeError(f"cold start {url}: first response {answer['status']}")
    return answer["ms"]


# Before the cached navigation the first page finishes what it started: the tag's interpreter
# boots after the page's first answer, and a navigation while it runs waits for it in the same
# renderer (2026-12-04: the cached page's DOMContentLoaded at 48-257 ms after the tag's cold
# page, 41-86 after axios-auth-refresh's). A second visit comes after the first page is up.
SETTLED = """async () => {
    if (window.authfetch) await window.authfetch.ready.catch(() => {});
    await new Promise((resolve) => requestIdleCallback(resolve, {timeout: 1000}));
}"""


def once(browser, stub, path):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        page.goto(stub.url + "__stub__/stats")
        if page.evaluate(LOGIN) != 200:
            raise RuntimeError("cold start: could not sign in")
        url = f"{stub.url}__stub__/bench/{path}"
        cold = first_response(page, url)
        page.evaluate(SETTLED)
        cached = first_response(page, url)
        return {"cold_ms": cold, "cached_ms": cached}
    finally:
        context.close()


def run(settings, browser, stub, results, log):
    """Contestants in turn (forward, then backward), repetition by repetition (a cold start
    each in its own fresh context), so the tag's ratio to axios-auth-refresh pairs figures of the same moment."""
    stub.reset()
    chosen = [(name, path) for name, path in PAGES if settings.keeps(name)]
    runs = {name: [] for name, _ in chosen}
    until, last_s = settings.share_until("cold"), 0.0
    for rep in range(settings.cold_reps):
        if not in_time(rep, last_s, until):
            log(f"cold start: {rep} repetitions, stopped at its share of the run's time")
            break
        began = time.monotonic()
        for name, path in in_turn(chosen, rep):
            runs[name].append(once(browser, stub, path))
        last_s = time.monotonic() - began
        log(f"cold start rep {rep + 1}/{settings.cold_reps}: "
            + ", ".join(f"{name} {r[-1]['cold_ms']:.0f}" for name, r in runs.items()))
    row = results["cold_start"] = {}
    for name, r in runs.items():
        row[name] = dict(summarise(r, "cold_ms", "cached_ms"), runs=r)
    if TAG in runs and AGAINST in runs:
        for key in ("cold_ms", "cached_ms"):
            row[TAG][f"{key}_ratio"] = dict(ratio_summary(pair_ratios(runs, TAG, AGAINST, key)), against=AGAINST)
