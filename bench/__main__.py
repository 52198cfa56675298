"""``python -m bench`` (``make bench``): authfetch against what people use today, in one run.

Same browser, same stub, same machine, so the noise cancels in the ratios. Every figure is the
median of REPS (5) repetitions; min and max go to bench/results.json. The scenarios of issue 7:

1. ``burst``: N = 50, 200, 1000 concurrent GETs right after ``/__stub__/expire``.
2. ``writes``: 200 concurrent POSTs to ``/api/v1/echo`` right after expiry, each with its own
   ``X-Request-Id`` and JSON body; the stub counts each id once per authenticated arrival, and
   answers the sha256 of the body it got, compared with the body sent.
3. ``steady``: 1,000 GETs in waves of 50 with a valid token.
4. ``proactive``: the burst when authfetch knows the expiry ahead (bench/proactive.py tells the
   setup: a second stub with 6-second tokens, the burst fired when the renewal is due).
5. ``cold``: navigation to the first authenticated response, fresh browser context.
6. ``tabs``: 5 tabs of one context x 40 GETs at the same instant after expiry, authfetch with
   ``cross_tab`` on and off, and the JavaScript contestants.
7. ``core``: the coordinator's decisions per second on CPython.
8. ``profile``: where a steady request's time goes (bench/profile.py): the page's main thread
   split into the interpreter, its glue, engine.js and the browser, and each process's CPU;
   then a burst of 200 after expiry, with the moments of its way (the first 401 back, the
   refresh asked, sent and answered, the first GET after it, the last answer).
9. ``body``: a 1 MiB request body from Python: the copy to JavaScript against the round trip.

``raw`` always runs with a valid token: it is the floor the ratios divide by.

    python -m bench                          # everything; writes bench/results.json and burst.png
    python -m bench --quick --only writes,tabs  # development: 2 repetitions, N = 200 only
    AUTHFETCH_BENCH_QUICK=1 python -m bench  # the same as --quick

A run with --quick, --only, --reps or --contestants prints its figures and writes nothing unless
--out says where.
"""

import argparse
import json
import os
import platform
import sys
import time

from playwright.sync_api import sync_playwright

from . import body, bursts, coldstart, proactive, profile, report, tabs
from .common import LAUNCH_ARGS, ROOT, Settings, StubProcess, chromium_executable, pinned

SCENARIOS = ("burst", "writes", "steady", "proactive", "cold", "tabs", "core", "profile", "body")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("AUTHFETCH_BENCH_QUICK") == "1",
                        help="2 repetitions, bursts at N = 200 only, 200 steady requests (for development)")
    parser.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    parser.add_argument("--reps", type=int, help="repetitions per figure (default 5, or 2 with --quick)")
    parser.add_argument("--out", help="write the results JSON here (a full run writes bench/results.json)")
    parser.add_argument("--contestants", help="comma-separated contestants (with raw and their baselines)")
    parser.add_argument("--pin", action="store_true", help="the stub on a core of its own, the browser on the others")
    args = parser.parse_args(argv)
    only = None
    if args.only:
        only = tuple(s.strip() for s in args.only.split(",") if s.strip())
        unknown = [s for s in only if s not in SCENARIOS]
        if unknown:
            parser.error(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    chosen = tuple(s.strip() for s in args.contestants.split(",") if s.strip()) if args.contestants else None
    return args, Settings(quick=args.quick, reps=args.reps, only=only, contestants=chosen, pin=args.pin)


def log(line):
    print(line, flush=True)


def main(argv=None):
    args, settings = parse_args(sys.argv[1:] if argv is None else argv)
    full = not (args.quick or args.only or args.reps or args.contestants)
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "date": time.strftime("%Y-%m-%d"),
        "reps": settings.reps,
        "minor_reps": settings.minor_reps,
        "quick": settings.quick,
    }
    started = time.monotonic()
    # --pin: the stub on a core of its own, the browser (started after) on the others (common.py)
    results["cores"] = {"stub": sorted(settings.stub_cores or ()), "browser": sorted(settings.browser_cores or ())}
    stub = pinned(settings.stub_cores, lambda: StubProcess("--csrf", "off"))  # the tutorials' interceptors send no CSRF
    if settings.browser_cores:
        os.sched_setaffinity(0, settings.browser_cores)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_executable(), args=LAUNCH_ARGS)
            spent = results["scenario_seconds"] = {}  # where the 25 minutes go

            def timed(name, run, *args):
                began = time.monotonic()
                run(settings, browser, *args, results, log)
                spent[name] = round(time.monotonic() - began)

            timed("burst, writes, steady, core", bursts.run, stub)
            for name, module in (("cold", coldstart), ("tabs", tabs), ("profile", profile), ("body", body)):
                if settings.wants(name):
                    timed(name, module.run, stub)
            if settings.wants("proactive"):
                timed("proactive", proactive.run)
            browser.close()
    finally:
        stub.stop()
    results["seconds"] = round(time.monotonic() - started)
    out = ROOT / "bench"
    if args.out or full:
        path = args.out or out / "results.json"
        with open(path, "w") as handle:
            json.dump(results, handle, indent=2)
        log(f"results written to {path}")
    if full:
        report.chart(results, out / "burst.png")
        report.into_readme(results, ROOT / "README.md")
        log("README.md: the benchmark's tables and targets written")
    report.tables(results)
    report.targets(results)
    log(f"\n{results['seconds']} s in all")


if __name__ == "__main__":
    main()
