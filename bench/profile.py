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
"""

import collections
import os
import statistics
import time

from .bursts import PY_BURST, PY_FETCH_BURST, TIMED
from .common import (
    BENCH_READY, EMBED_READY, HARNESS_READY, LOGIN, bench_url, embed_url, harness_url, in_turn, new_page,
    pair_ratios,
)
from .precision import ratio_summary

SAMPLING_US = 200
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
CPU_PAIRS = (("authfetch-js", "raw"), ("authfetch-mpy", "py-fetch-mpy"), ("authfetch-py", "py-fetch-py"))
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
    contestants = open_contestants(browser, stub, settings)
    pids = _ours()
    runs = {c.name: [] for c in contestants}
    started = time.monotonic()
    for contestant in contestants:
        contestant.once(settings, pids)  # a warm-up repetition, dropped
    for rep in range(settings.profile_reps):
        for contestant in in_turn(contestants, rep):
            runs[contestant.name].append(contestant.once(settings, pids))
        log(f"profile rep {rep + 1}/{settings.profile_reps} ({time.monotonic() - started:.0f} s)")
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
    for context in {c.page.context for c in contestants}:
        context.close()
