"""Scenario 8, profile: where a steady request's time goes, in JavaScript and in the interpreter.

The same steady traffic as scenario 3 (waves of 50 GETs with a valid token), once per
contestant and repetition, in turn, while two instruments run:

- Chromium's sampling profiler (DevTools protocol, 200 us) on the page's main thread: its busy
  time per request, split into the interpreter (its WebAssembly), the interpreter's JavaScript
  glue (micropython.mjs, pyodide.asm.js, PyScript), authfetch's engine.js, the browser's own
  fetch(), V8's garbage collector and "(program)" (the browser's work outside JavaScript:
  parsing, scheduling, networking glue);
- the CPU time each process of the run spent per request (/proc), Chromium's renderer,
  network service and browser processes and the stub, which on a 2-core machine shows
  whether the page's own work is what the wall time waits for.

Medians over repetitions; microseconds per request.

Then the burst of scenario 1 (N = 200 right after expiry; the baselines with a valid token),
profiled the same way, with where its time goes on the way: when the first 401 came back, when
the refresh call was asked for, left and was answered, when the first GET asked after that
was asked for and left, and when the last answer came (Resource Timing, milliseconds from the
burst's start), and the main thread's busy time in milliseconds by the same groups.
"""

import collections
import os
import statistics
import time

from .bursts import PY_BURST, PY_FETCH_BURST, TIMED
from .common import (
    BENCH_READY, EMBED_READY, HARNESS_READY, LOGIN, PROFILE, REFRESH_URL, bench_url, embed_url, harness_url, in_time, in_turn,
    new_page, pair_ratios,
)
from .precision import ratio_summary

SAMPLING_US = 200
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
CPU_PAIRS = (("authfetch-js", "raw"), ("authfetch-mpy", "py-fetch-mpy"), ("authfetch-py", "py-fetch-py"))
BURST_N = 200
PHASES = ("first 401 back", "refresh asked", "refresh leaves", "refresh answered", "first GET after it asked", "first GET after it leaves", "last answer", "done")
# The burst's TIMED, with its phases from Resource Timing after it: "asked" is the fetch() call
# (startTime), "leaves" is requestStart (the request on a connection: HTTP/1.1 has six), "back"
# is responseStart. Times run from the contestant's own start (a Python one times itself from its
# first request, bursts.PY_BURST); entries land a moment after their answers, hence the wait,
# and a repetition whose entries are not all in (or with other than one refresh) has no phases.
BURST = """async (args) => {
    performance.clearResourceTimings();
    performance.setResourceTimingBufferSize(100000);
    const before = performance.now();
    const answer = await (%s)(args);
    const started = answer.started ?? before;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const entries = performance.getEntriesByType("resource").filter((e) => e.startTime >= before);
    const calls = entries.filter((e) => e.name.endsWith("%s"));
    const gets = entries.filter((e) => e.name.endsWith("%s"));
    const at = (t) => (Number.isFinite(t) ? t - started : null);  // Math.min() of nothing: Infinity
    const phases = {done: answer.ms};
    const refresh = calls[0];
    if (gets.length) phases["last answer"] = at(Math.max(...gets.map((e) => e.responseEnd)));
    if (refresh) {
        phases["refresh asked"] = at(refresh.startTime);
        phases["refresh leaves"] = at(refresh.requestStart);
        phases["refresh answered"] = at(refresh.responseEnd);
        phases["first 401 back"] = at(Math.min(...gets.map((e) => e.responseStart)));  // the first answers are 401s
        // asked after the answer (a GET asked before it may take the connection it freed)
        const after = gets.filter((e) => e.startTime >= refresh.responseEnd);
        phases["first GET after it asked"] = at(Math.min(...after.map((e) => e.startTime)));
        phases["first GET after it leaves"] = at(Math.min(...after.map((e) => e.requestStart)));
    }
    return {statuses: answer.statuses, phases, gets: gets.length, refreshes: calls.length};
}""" % (TIMED, REFRESH_URL, PROFILE)
GROUPS = ("interpreter", "interpreter glue", "engine.js", "fetch()", "(program)", "(garbage collector)", "other JS")


def _group(frame):
    name, url = frame["functionName"], frame["url"]
    if name in ("(program)", "(garbage collector)", "(idle)"):
        return name
    if url.endswith(".wasm") or name.startswith("wasm-function") or name in ("wasm-to-js", "js-to-wasm"):
        return "interpreter"
    if url.endswith("engine.js"):
        return "engine.js"
    if any(part in url for part in ("micropython.mjs", "pyodide", "pyscript", "/core.js", "core-")):
        return "interpreter glue"
    if not url and name == "fetch":
        return "fetch()"
    return "other JS"


def _busy(profile):
    nodes = {node["id"]: node for node in profile["nodes"]}
    spent = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
        spent[_group(nodes[sample]["callFrame"])] += delta
    return spent


def _median(values):
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _cpu_seconds():
    """pid -> (parent, CPU seconds, command line) for every process."""
    table = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{pid}/cmdline") as handle:
                command = handle.read().replace("\0", " ")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(pid)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICK, command)
    return table


def _process_kind(command):
    if "server_stub" in command:
        return "stub"
    if "--type=renderer" in command:
        return "renderer"
    if "--type=utility" in command and "network" in command.lower():
        return "network service"
    if "chrom" in command:
        return "browser, other"
    return None


def _by_kind(table, pids):
    kinds = collections.Counter()
    for pid in pids:
        kind = _process_kind(table[pid][2]) if pid in table else None
        if kind:
            kinds[kind] += table[pid][1]
    return kinds


def _ours():
    """This process and everything it started (the stub, Chromium and their children)."""
    table = _cpu_seconds()
    mine, grew = {os.getpid()}, True
    while grew:
        grew = False
        for pid, (parent, _, _) in table.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return mine


class Profiled:
    def __init__(self, name, page, kind, code):
        self.name, self.page, self.kind, self.code = name, page, kind, code
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Profiler.enable")
        self.cdp.send("Profiler.setSamplingInterval", {"interval": SAMPLING_US})

    def once(self, settings, pids):
        if self.page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"profile {self.name}: could not sign in")
        requests = settings.wave * settings.waves
        before = _by_kind(_cpu_seconds(), pids)
        self.cdp.send("Profiler.start")
        answer = self.page.evaluate(TIMED, [self.kind, self.code, settings.wave, settings.waves])
        spent = _busy(self.cdp.send("Profiler.stop")["profile"])
        after = _by_kind(_cpu_seconds(), pids)
        if answer["statuses"].count(200) != requests:
            raise RuntimeError(f"profile {self.name}: {set(answer['statuses'])}")
        run = {"wall_us": answer["ms"] * 1000 / requests}
        run.update({group: spent[group] / requests for group in GROUPS})
        run["main thread busy"] = sum(spent[group] for group in GROUPS) / requests
        for kind in after:
            run[f"cpu: {kind}"] = (after[kind] - before.get(kind, 0)) * 1e6 / requests
        return run


    def burst(self, stub, code):
        """One profiled burst of BURST_N; its phases (ms) and main-thread busy ms by group."""
        if self.page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"profile {self.name}: could not sign in")
        stub.reset()
        if self.kind in ("py", "embed"):  # authfetch; the baselines run with a valid token
            stub.expire()
        self.cdp.send("Profiler.start")
        answer = self.page.evaluate(BURST, [self.kind, code, BURST_N, 1])
        spent = _busy(self.cdp.send("Profiler.stop")["profile"])
        if answer["statuses"].count(200) != BURST_N:
            raise RuntimeError(f"profile burst {self.name}: {set(answer['statuses'])}")
        stats = stub.stats()
        whole = (answer["gets"] == stats["requests"].get("GET " + PROFILE, 0)
                 and answer["refreshes"] == stats["refresh_calls"] <= 1)
        run = {phase: answer["phases"].get(phase) if whole else None for phase in PHASES}
        run.update({f"busy: {group}": spent[group] / 1000 for group in GROUPS})
        run["busy"] = sum(spent[group] for group in GROUPS) / 1000
        return run


def burst_code(contestant):
    if contestant.kind == "py":
        return PY_BURST % {"n": BURST_N, "waves": 1, "max_in_flight": "auto"}
    if contestant.kind == "py-fetch":
        return PY_FETCH_BURST % {"n": BURST_N, "waves": 1}
    return contestant.code


def open_contestants(browser, stub, settings):
    def page_at(url, ready):
        page = new_page(browser.new_context(), url, ready)
        if page.evaluate(LOGIN) != 200:
            raise RuntimeError(f"could not sign in on {url}")
        return page

    contestants = [Profiled("raw", page_at(bench_url(stub), BENCH_READY), "js", "raw")]
    for runtime in ("mpy", "py"):
        if not any(settings.keeps(name) for name in (f"py-fetch-{runtime}", f"authfetch-{runtime}")):
            continue
        page = page_at(harness_url(stub, runtime), HARNESS_READY)
        fetch_code = PY_FETCH_BURST % {"n": settings.wave, "waves": settings.waves}
        contestants.append(Profiled(f"py-fetch-{runtime}", page, "py-fetch", fetch_code))
        code = PY_BURST % {"n": settings.wave, "waves": settings.waves, "max_in_flight": "auto"}
        contestants.append(Profiled(f"authfetch-{runtime}", page, "py", code))
    if settings.keeps("authfetch-js"):
        contestants.append(Profiled("authfetch-js", page_at(embed_url(stub, leeway="none"), EMBED_READY), "embed", None))
    return [c for c in contestants if settings.keeps(c.name)]


def run(settings, browser, stub, results, log):
    # Its share of the run's time covers opening its pages, the warm-ups and the bursts after
    # (5 repetitions, about a third of its time on 2026-12-03): the steady ones get two thirds.
    opened, until, last_s = time.monotonic(), settings.share_until("profile"), 0.0
    if until is not None:
        until = opened + 2 * (until - opened) / 3
    contestants = open_contestants(browser, stub, settings)
    try:
        pids = _ours()
        runs = {c.name: [] for c in contestants}
        started = time.monotonic()
        for contestant in contestants:
            contestant.once(settings, pids)  # a warm-up repetition, dropped
        for rep in range(settings.profile_reps):
            if not in_time(rep, last_s, until):
                log(f"profile: {rep} repetitions, stopped at its share of the run's time")
                break
            began = time.monotonic()
            for contestant in in_turn(contestants, rep):
                runs[contestant.name].append(contestant.once(settings, pids))
            last_s = time.monotonic() - began
            log(f"profile rep {rep + 1}/{settings.profile_reps} ({time.monotonic() - started:.0f} s)")
        bursts = {c.name: [] for c in contestants}
        for contestant in contestants:
            contestant.burst(stub, burst_code(contestant))  # a warm-up burst, dropped
        for rep in range(settings.profile_burst_reps):
            for contestant in in_turn(contestants, rep):
                bursts[contestant.name].append(contestant.burst(stub, burst_code(contestant)))
            log(f"profile burst rep {rep + 1}/{settings.profile_burst_reps} ({time.monotonic() - started:.0f} s)")
        results["profile_burst"] = {
            name: dict({key: _median(r[key] for r in rs) for key in rs[0]}, runs=rs) for name, rs in bursts.items()
        }
        row = results["profile"] = {}
        for name, rs in runs.items():
            row[name] = {key: statistics.median(r.get(key, 0) for r in rs) for key in rs[0]}
            row[name]["runs"] = rs
        # Main-thread CPU per request against its baseline, repetition by repetition (the library's
        # own cost, far steadier than wall time): the tag against raw fetch, the Python API against
        # its interpreter's js.fetch.
        for name, baseline in CPU_PAIRS:
            if name in runs and baseline in runs:
                ratios = pair_ratios(runs, name, baseline, key="main thread busy")
                row[name]["cpu_ratio"] = dict(ratio_summary(ratios), against=baseline)
    finally:  # a failed repetition must not leave its pages open for the scenarios after it
        for context in {c.page.context for c in contestants}:
            context.close()
