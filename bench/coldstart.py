"""Scenario 5, cold start: navigation to the first authenticated response.

Each repetition takes a fresh browser context (empty HTTP cache, nothing compiled), signs in
from a tiny same-origin document (the stub's JSON stats), then navigates to the contestant's page
(bench/pages/cold*.html), which sends its first authenticated GET at once and records
``performance.now()`` (milliseconds since ``performance.timeOrigin``, the navigation's start)
when the response reaches the page's code. ``cached`` is the same navigation again in the same
context, with the HTTP cache warm.
"""

from .common import JS_CONTESTANTS, LOGIN, PAGE_TIMEOUT_MS, summarise

PAGES = [(name, f"cold.html?contestant={name}") for name in JS_CONTESTANTS] + [
    ("authfetch-mpy", "cold-python.html?runtime=mpy"),
    ("authfetch-py", "cold-python.html?runtime=py"),
    ("authfetch-js", "cold-embed.html?runtime=mpy"),
    ("authfetch-js-py", "cold-embed.html?runtime=py"),
]
MICROPYTHON = ("authfetch-mpy", "authfetch-js")  # the target: ready and answered within 0.6 s
TARGET_MS = 600


def first_response(page, url):
    page.goto(url)
    page.wait_for_function("() => window.coldStart")
    answer = page.evaluate("() => window.coldStart")
    if answer["status"] != 200:
        raise RuntimeError(f"cold start {url}: first response {answer['status']}")
    return answer["ms"]


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
        cached = first_response(page, url)
        return {"cold_ms": cold, "cached_ms": cached}
    finally:
        context.close()


def run(settings, browser, stub, results, log):
    stub.reset()
    row = results["cold_start"] = {}
    for name, path in PAGES:
        if not settings.keeps(name):
            continue
        runs = [once(browser, stub, path) for _ in range(settings.reps)]
        row[name] = dict(summarise(runs, "cold_ms", "cached_ms"), runs=runs)
        cold, cached = row[name]["cold_ms"]["median"], row[name]["cached_ms"]["median"]
        log(f"cold start {name}: {cold:.0f} ms (cached {cached:.0f} ms)")
