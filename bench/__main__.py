"""``python -m bench`` (``make bench``): authfetch against what people use today, in one run.

Same browser, same stub, same machine, so the noise cancels in the ratios. Every figure is the
median of REPS repetitions; min and max go to bench/results.json. Scenarios here: burst after
expiry (N = 50, 200, 1000), steady overhead with a valid token, and the coordinator's own cost.
"""

import json
import pathlib
import platform
import statistics
import sys
import time
import timeit

from playwright.sync_api import sync_playwright

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "frontend")]

from tests.browser.conftest import LAUNCH_ARGS, chromium_executable  # noqa: E402
from tests.support.stub_process import StubProcess  # noqa: E402

REPS = 5
BURSTS = (50, 200, 1000)
WAVES, WAVE = 20, 50
JS_CONTESTANTS = ("raw", "naive", "axios-auth-refresh", "axios-auth-refresh-nodedup")
AUTHFETCH = ("authfetch-mpy", "authfetch-py", "authfetch-js", "authfetch-mpy-q6", "authfetch-py-q6")
PROFILE = "/api/v1/users/profile"
LOGIN = """async () => (await fetch("/api/v1/users/login", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({username: "demo", password: "demo"})})).status"""

PY_BURST = """
async def main():
    api = client(leeway=None, max_in_flight=%(max_in_flight)s)
    statuses = []
    for _ in range(%(waves)d):
        statuses += outcomes(await many(%(n)d, lambda i: api.get("/users/profile")))
    return statuses
"""
TIMED = """async ([kind, code, n, waves]) => {
    const run = async () => {
        if (kind === "py") {
            const answer = JSON.parse(await window.harnessRun(code));
            if (!answer.ok) throw new Error(answer.trace);
            return answer.value;
        }
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


class Contestant:
    def __init__(self, name, page, kind, code, max_in_flight=None):
        self.name, self.page, self.kind, self.code = name, page, kind, code
        self.max_in_flight = max_in_flight

    def run(self, n, waves=1):
        if self.kind == "py":
            code = PY_BURST % {"n": n, "waves": waves, "max_in_flight": self.max_in_flight}
        else:
            code = self.code
        return self.page.evaluate(TIMED, [self.kind, code, n, waves])


def open_pages(browser, stub):
    contestants = []

    def page_at(path, ready):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(180_000)
        page.goto(stub.url + path)
        page.wait_for_function(ready)
        assert page.evaluate(LOGIN) == 200
        return page

    js_page = page_at("__stub__/bench/", "() => document.getElementById('state')?.textContent === 'ready'")
    for name in JS_CONTESTANTS:
        contestants.append(Contestant(name, js_page, "js", name))
    for runtime in ("mpy", "py"):
        page = page_at(
            f"__stub__/harness/?runtime={runtime}",
            "() => !!document.getElementById('state')?.textContent.startsWith('ready')",
        )
        contestants.append(Contestant(f"authfetch-{runtime}", page, "py", None))
        # The held queue: at most 6 requests handed to the browser (its HTTP/1.1 connections),
        # none handed over once a 401 says the credential is stale.
        contestants.append(Contestant(f"authfetch-{runtime}-q6", page, "py", None, max_in_flight=6))
    embed = page_at(
        "__stub__/harness/embed.html?refreshUrl=/api/v1/users/refresh-token&signInUrl=/api/v1/users/login&leeway=none",
        "() => window.authfetch && window.authfetch.fetch && window.authfetch.ready && true",
    )
    embed.evaluate("async () => { await window.authfetch.ready; }")
    contestants.append(Contestant("authfetch-js", embed, "embed", None))
    return contestants


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def burst(stub, contestant, n):
    runs = []
    for _ in range(REPS):
        if contestant.page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"{contestant.name}: could not sign in")
        stub.reset()
        if contestant.name != "raw":
            stub.expire()  # the floor runs with a valid token
        answer = contestant.run(n)
        stats = stub.stats()
        ok = answer["statuses"].count(200)
        runs.append({"ms": answer["ms"], "ok": ok, "lost": n - ok, "refresh_calls": stats["refresh_calls"],
                     "reuse": stats["reuse_detected"]})
    return {
        "wall_ms": summary([r["ms"] for r in runs]),
        "succeeded": summary([r["ok"] for r in runs]),
        "lost": summary([r["lost"] for r in runs]),
        "refresh_calls": summary([r["refresh_calls"] for r in runs]),
        "runs": runs,
    }


def steady(stub, contestant):
    times = []
    for _ in range(REPS):
        contestant.page.evaluate(LOGIN)
        answer = contestant.run(WAVE, waves=WAVES)
        assert answer["statuses"].count(200) == WAVE * WAVES, (contestant.name, set(answer["statuses"]))
        times.append(answer["ms"])
    return {"wall_ms": summary(times)}


def core_cost():
    from authfetch.coordinator import Coordinator, Ticket

    def cycle(count=1000):
        coordinator = Coordinator()
        for ident in range(count):
            ticket = Ticket(ident)
            coordinator.start(ticket, 0.0)
            coordinator.response(ticket, 200, 0.0, refresh_wanted=False)

    seconds = min(timeit.repeat(cycle, number=5, repeat=REPS))
    return {"decisions_per_second": 2 * 1000 * 5 / seconds}


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["burst"][str(BURSTS[0])])
    figure, axes = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(BURSTS)
    for i, n in enumerate(BURSTS):
        ratios = [results["burst"][str(n)][name]["ratio_to_raw"] for name in names]
        axes.bar([x + i * width for x in range(len(names))], ratios, width, label=f"N = {n}")
    axes.axhline(1.3, color="grey", linestyle="--", linewidth=1, label="target 1.3 x raw (N = 200)")
    axes.set_xticks([x + width for x in range(len(names))], names, rotation=20, ha="right")
    axes.set_ylabel("burst wall time / raw fetch")
    axes.set_title("Burst of N GETs right after the access token expired (median of %d)" % REPS)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    stub = StubProcess("--csrf", "off")  # the tutorials' interceptors send no CSRF header
    results = {
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.system()}",
        "date": time.strftime("%Y-%m-%d"),
        "reps": REPS,
        "burst": {},
        "steady": {},
    }
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), args=LAUNCH_ARGS)
            contestants = open_pages(browser, stub)
            for n in BURSTS:
                row = results["burst"][str(n)] = {}
                for contestant in contestants:
                    row[contestant.name] = burst(stub, contestant, n)
                    print(f"burst N={n} {contestant.name}: {row[contestant.name]['wall_ms']['median']:.0f} ms, "
                          f"{row[contestant.name]['succeeded']['median']:.0f} ok, "
                          f"{row[contestant.name]['refresh_calls']['median']:.0f} refreshes", flush=True)
                raw = row["raw"]["wall_ms"]["median"]
                for name in row:
                    row[name]["ratio_to_raw"] = row[name]["wall_ms"]["median"] / raw
            for contestant in contestants:
                results["steady"][contestant.name] = steady(stub, contestant)
            raw = results["steady"]["raw"]["wall_ms"]["median"]
            for name, entry in results["steady"].items():
                entry["ratio_to_raw"] = entry["wall_ms"]["median"] / raw
            browser.close()
    finally:
        stub.stop()
    results["core"] = core_cost()
    out = ROOT / "bench"
    (out / "results.json").write_text(json.dumps(results, indent=2))
    chart(results, out / "burst.png")
    report(results)


def report(results):
    print()
    print(f"Machine: {results['machine']}; date {results['date']}; median of {results['reps']}")
    print("| N | contestant | refresh calls | succeeded | lost | wall ms | x raw |")
    print("|---|---|---|---|---|---|---|")
    for n, row in results["burst"].items():
        for name, entry in row.items():
            print(f"| {n} | {name} | {entry['refresh_calls']['median']:.0f} | {entry['succeeded']['median']:.0f} | "
                  f"{entry['lost']['median']:.0f} | {entry['wall_ms']['median']:.0f} | {entry['ratio_to_raw']:.2f} |")
    print()
    print("| steady, 1000 requests in waves of 50 | wall ms | x raw |")
    print("|---|---|---|")
    for name, entry in results["steady"].items():
        print(f"| {name} | {entry['wall_ms']['median']:.0f} | {entry['ratio_to_raw']:.2f} |")
    print(f"\nCoordinator on CPython: {results['core']['decisions_per_second']:,.0f} decisions per second")
    print("\nTargets:")
    for n, row in results["burst"].items():
        for name in AUTHFETCH:
            entry = row[name]
            exact = all(r["refresh_calls"] == 1 and r["lost"] == 0 for r in entry["runs"])
            print(f"  {'PASS' if exact else 'MISS'} {name} N={n}: exactly 1 refresh and 0 lost in every run")
    for name in AUTHFETCH:
        ratio = results["burst"]["200"][name]["ratio_to_raw"]
        print(f"  {'PASS' if ratio <= 1.3 else 'MISS'} {name} burst N=200 <= 1.3 x raw: {ratio:.2f}")
        ratio = results["steady"][name]["ratio_to_raw"]
        print(f"  {'PASS' if ratio <= 1.10 else 'MISS'} {name} steady <= 1.10 x raw: {ratio:.2f}")


if __name__ == "__main__":
    main()
