"""The printed summary (tables, then a verdict per target) and the burst chart.

Ratios are medians of per-repetition ratios, with the median's 95 % bootstrap interval in
brackets and the min-max after: each divides two figures of the same repetition, taken one
after the other, never figures of different moments. A speed target is PASS when the whole
interval is at or under it, MISS when it is all over, and "not resolved" when the run cannot
tell (precision.py). A MISS is printed like a PASS, with how far it is from the target: it is a
finding, not something to hide."""

from .bursts import WRITES_N
from .markers import BEGIN, END
from .common import AUTHFETCH, HEADLINE, SHIPPED
from .coldstart import AGAINST, COLD_TARGET, MICROPYTHON, TAG, TARGET_MS
from .precision import verdict
from .profile import CPU_PAIRS
from .tabs import PER_TAB, TABS

# Issue 21's targets: wall-time ratios (x raw fetch, or x the interpreter's own js.fetch).
BURST_TARGET, STEADY_TARGET, PROACTIVE_TARGET = 1.20, 1.05, 1.15
# Main-thread CPU per steady request: the tag against raw fetch, the Python API against its js.fetch.
CPU_TARGET = {"authfetch-js": 1.2, "authfetch-mpy": 1.1, "authfetch-py": 1.1}


def med(entry, key):
    return entry[key]["median"]


def span(entry, key):
    return f"{med(entry, key):.0f} ({entry[key]['min']:.0f}-{entry[key]['max']:.0f})"


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def ratio(entry, key="ratio_to_raw"):
    """"1.23 [1.18-1.29] (1.10-1.40)": the median per-repetition ratio, its 95 % interval and
    the spread; "" if not measured."""
    value = entry.get(key)
    if value is None:
        return ""
    within = f" [{value['ci95'][0]:.2f}-{value['ci95'][1]:.2f}]" if "ci95" in value else ""
    return f"{value['median']:.2f}{within} ({value['min']:.2f}-{value['max']:.2f})"


def every_run(entry, check):
    return all(check(run) for run in entry["runs"])


def mark(ok):
    return "PASS" if ok else "MISS"


def tables(results):
    # as many as the runs kept (a results.json from before minor_reps was written has them too)
    minor = results.get("minor_reps") or min((len(e["runs"]) for n in ("50", "1000")
                                              for e in results.get("burst", {}).get(n, {}).values()), default=results["reps"])
    print(f"\nMachine: {results['machine']}; date {results['date']}; medians of at least {results['reps']} "
          f"repetitions ({minor} where no target is called: bursts at N = 50 and 1000, writes, tabs) "
          "(min-max); ratios with the median's 95 % interval [low-high]\n")
    if results.get("cores", {}).get("stub"):
        print(f"The stub on core {results['cores']['stub']}, the browser on {results['cores']['browser']}.\n")
    if "scenario_seconds" in results:
        spent = ", ".join(f"{name} {seconds} s" for name, seconds in results["scenario_seconds"].items())
        print(f"{results.get('seconds', '?')} s in all: {spent}.\n")
    if "burst" in results:
        print("#### 1. Burst of N GETs right after expiry")
        table(("N", "contestant", "refresh calls", "succeeded", "lost", "wall ms", "x raw", "x js.fetch"), [
            (n, name, f"{med(e, 'refresh_calls'):.0f}", f"{med(e, 'succeeded'):.0f}", f"{med(e, 'lost'):.0f}",
             span(e, "wall_ms"), ratio(e), ratio(e, "ratio_to_interpreter"))
            for n, row in results["burst"].items() for name, e in row.items()])
    if "writes" in results:
        print(f"#### 2. Replay of writes: {WRITES_N} POSTs with unique ids right after expiry (raw: valid token)")
        table(("contestant", "handled exactly once", "never handled", "handled twice+", "body mismatches",
               "refresh calls", "wall ms", "x raw"), [
            (name, f"{med(e, 'exactly_once'):.0f}", f"{med(e, 'never_handled'):.0f}",
             f"{med(e, 'handled_twice_or_more'):.0f}", f"{med(e, 'body_mismatches'):.0f}",
             f"{med(e, 'refresh_calls'):.0f}", span(e, "wall_ms"), ratio(e))
            for name, e in results["writes"].items()])
    if "steady" in results:
        print("#### 3. Steady overhead with a valid token, waves of 50")
        table(("contestant", "wall ms", "x raw", "x js.fetch"),
              [(name, span(e, "wall_ms"), ratio(e), ratio(e, "ratio_to_interpreter"))
               for name, e in results["steady"].items()])
    if "proactive" in results:
        setup = results["proactive_setup"]
        print(f"#### 4. Proactive refresh: {setup['n']} GETs when the renewal is due ({setup['due_after_s']:.0f} s after "
              f"sign-in, token lifetime {setup['access_ttl_s']} s), old tokens expired at the stub just before")
        # (a results.json from before 2026-12-03 has no answered / first-GET-after figures: "-")
        at = lambda e, key: f"{med(e, key):+.0f}" if key in e else "-"  # noqa: E731
        table(("contestant", "refresh calls", "succeeded", "sent twice", "renewal call at ms", "answered at ms",
               "first GET after it at ms", "wall ms", "x raw"), [
            (name, f"{med(e, 'refresh_calls'):.0f}", f"{med(e, 'succeeded'):.0f}", f"{med(e, 'sent_twice'):.0f}",
             at(e, "renewal_call_ms"), at(e, "renewal_answered_ms"), at(e, "first_get_after_ms"), span(e, "wall_ms"),
             ratio(e))
            for name, e in results["proactive"].items()])
    if "cold_start" in results:
        print("#### 5. Cold start: navigation to the first authenticated response (fresh context; cached: again)")
        table(("contestant", "cold ms", "cached ms", f"cold x {AGAINST}", f"cached x {AGAINST}"),
              [(name, span(e, "cold_ms"), span(e, "cached_ms"), ratio(e, "cold_ms_ratio"), ratio(e, "cached_ms_ratio"))
               for name, e in results["cold_start"].items()])
    if "tabs" in results:
        print(f"#### 6. Tabs: {TABS} tabs x {PER_TAB} GETs at the same instant right after expiry (raw: valid token)")
        table(("contestant", "refresh calls", "reuse detected", "runs with reuse", "succeeded", "lost", "wall ms",
               "x raw"), [
            (name, f"{med(e, 'refresh_calls'):.0f}", f"{med(e, 'reuse_detected'):.0f}",
             f"{e['runs_with_reuse']}/{len(e['runs'])}", f"{med(e, 'succeeded'):.0f}",
             f"{med(e, 'lost'):.0f}", span(e, "wall_ms"), ratio(e))
            for name, e in results["tabs"].items()])
    if "profile" in results:
        from .profile import GROUPS

        row = results["profile"]
        processes = sorted({key for entry in row.values() for key in entry if key.startswith("cpu: ")})
        print("#### 8. Profile of steady traffic: microseconds per request (main thread by the sampling profiler; "
              "CPU by process)")
        table(("contestant", "wall", "main thread busy", *GROUPS, *processes), [
            (name, f"{e['wall_us']:.0f}", f"{e['main thread busy']:.0f}", *(f"{e[g]:.0f}" for g in GROUPS),
             *(f"{e.get(p, 0):.0f}" for p in processes))
            for name, e in row.items()])
    if "profile_burst" in results:
        from .profile import BURST_N, GROUPS, PHASES

        row = results["profile_burst"]
        print(f"#### 8b. Profile of a burst of {BURST_N} right after expiry (raw, py-fetch: a valid token): "
              "milliseconds from its start (Resource Timing), and the main thread's busy milliseconds")
        ms = lambda value: "-" if value is None else f"{value:.0f}"  # noqa: E731
        table(("contestant", *PHASES, "busy", *GROUPS), [
            (name, *(ms(e.get(p)) for p in PHASES), ms(e.get("busy")), *(ms(e.get(f"busy: {g}")) for g in GROUPS))
            for name, e in row.items()])
    if "body" in results:
        row = results["body"]
        print(f"#### 9. A {row['bytes']:,}-byte request body: raw round trip, authfetch's POST, and the copy from Python alone")
        table(("contestant", "ms"), [(name, span(e, "ms")) for name, e in row.items() if name != "bytes"])
    if "core" in results:
        print(f"#### 7. Coordinator on CPython: {results['core']['decisions_per_second']:,.0f} decisions per second\n")


def speed(name, label, value, target, against="raw"):
    """One speed target's line: PASS, MISS or not resolved, from the ratio's 95 % interval."""
    if "ci95" not in value:  # a results.json from before the intervals: no call from a median alone
        print(f"- not resolved (no interval) {name} {label} <= {target:.2f} x {against}: {value['median']:.2f}")
        return
    low, high = value["ci95"]
    call = verdict(low, high, target, value.get("n"))
    off = f", {value['median'] / target - 1:.0%} over" if call == "MISS" else ""
    print(f"- {call} {name} {label} <= {target:.2f} x {against}: {value['median']:.2f} "
          f"[{low:.2f}-{high:.2f}], {value.get('n', '?')} repetitions{off}")


def targets(results, *, heading=True):
    if heading:
        print("Targets (speed: PASS or MISS only when the 95 % interval is wholly on one side):")
    present = lambda row: [name for name in AUTHFETCH if name in row]  # noqa: E731
    for n, row in results.get("burst", {}).items():
        for name in present(row):
            ok = every_run(row[name], lambda r: r["refresh_calls"] == 1 and r["lost"] == 0)
            print(f"- {mark(ok)} {name} burst N={n}: exactly 1 refresh and 0 lost in every run")
    for name, baseline in HEADLINE["burst"]:
        entry = results.get("burst", {}).get("200", {}).get(name)
        if entry and "ratio_to_raw" in entry:
            speed(name, "burst N=200", entry["ratio_to_raw"], BURST_TARGET)
    for name, baseline in HEADLINE["steady"]:
        entry = results.get("steady", {}).get(name)
        key = "ratio_to_raw" if baseline == "raw" else "ratio_to_interpreter"
        if entry and key in entry:
            speed(name, "steady", entry[key], STEADY_TARGET, baseline)
    for name in present(results.get("writes", {})):
        entry = results["writes"][name]
        ok = every_run(entry, lambda r: (r["exactly_once"], r["body_mismatches"], r["refresh_calls"]) == (WRITES_N, 0, 1))
        print(f"- {mark(ok)} {name} writes: {WRITES_N}/{WRITES_N} handled exactly once, 0 body mismatches, 1 refresh in every run")
    for name in present(results.get("proactive", {})):
        entry = results["proactive"][name]
        ok = every_run(entry, lambda r: r["refresh_calls"] == 1 and r["lost"] == 0 and r["sent_twice"] == 0)
        print(f"- {mark(ok)} {name} proactive: exactly 1 refresh, 0 lost, nothing sent twice in every run")
        if name in SHIPPED:
            speed(name, "proactive", entry["ratio_to_raw"], PROACTIVE_TARGET)
    cold = results.get("cold_start", {}).get(TAG, {})
    for key, label in (("cold_ms_ratio", "cold start"), ("cached_ms_ratio", "cold start, cached")):
        if key in cold:
            speed(TAG, label, cold[key], COLD_TARGET, AGAINST)
    for name, baseline in CPU_PAIRS:
        entry = results.get("profile", {}).get(name, {})
        if "cpu_ratio" in entry:
            speed(name, "main-thread CPU per steady request", entry["cpu_ratio"], CPU_TARGET[name], baseline)
    body = results.get("body", {})
    for runtime in ("mpy", "py"):
        if f"copy-{runtime}" in body:
            copy, trip = med(body[f"copy-{runtime}"], "ms"), med(body["raw"], "ms")
            print(f"- {mark(copy <= trip)} copy of a 1 MiB body from {runtime} <= the round trip: {copy:.1f} ms vs {trip:.1f} ms")
    for name in MICROPYTHON if "cold_start" in results else ():
        cold_ms = med(results["cold_start"][name], "cold_ms")
        print(f"- {mark(cold_ms <= TARGET_MS)} {name} cold start (MicroPython) <= {TARGET_MS} ms: {cold_ms:.0f} ms")
    for name, entry in results.get("tabs", {}).items():
        if name.startswith("authfetch") and not name.endswith("cross-tab-off"):
            ok = every_run(entry, lambda r: r["refresh_calls"] == 1 and r["reuse_detected"] == 0 and r["lost"] == 0)
            print(f"- {mark(ok)} {name} tabs: exactly 1 refresh, 0 reuse, 0 lost in every run")




def markdown(results):
    """The tables and the targets' lines, as make bench prints them, for the README."""
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        tables(results)
        print("Targets (speed: PASS or MISS only when the 95 % interval is wholly on one side):\n")
        targets(results, heading=False)
    return text.getvalue().strip() + "\n"


def into_readme(results, readme):
    """Replace what lies between the README's two markers with this run's tables and targets."""
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{readme}: the bench results markers are missing or out of order ({BEGIN!r} ... {END!r})")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    readme.write_text(head + BEGIN + "\n" + markdown(results) + END + tail)


def chart(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bursts = list(results["burst"])
    names = list(results["burst"][bursts[0]])
    figure, axes = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(bursts)
    for i, n in enumerate(bursts):
        ratios = [results["burst"][n][name]["ratio_to_raw"]["median"] for name in names]
        axes.bar([x + i * width for x in range(len(names))], ratios, width, label=f"N = {n}")
    target = f"target {BURST_TARGET} x raw (N = 200)"
    axes.axhline(BURST_TARGET, color="grey", linestyle="--", linewidth=1, label=target)
    axes.set_xticks([x + width for x in range(len(names))], names, rotation=20, ha="right")
    axes.set_ylabel("burst wall time / raw fetch")
    axes.set_title("Burst of N GETs right after the access token expired (median of %d)" % results["reps"])
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":  # python -m bench.report [--readme]: the tables and targets of bench/results.json
    import json
    import pathlib
    import sys

    here = pathlib.Path(__file__).parent
    saved = json.loads((here / "results.json").read_text())
    if "--readme" in sys.argv[1:]:  # into the README, as a full make bench writes them
        into_readme(saved, here.parent / "README.md")
    tables(saved)
    targets(saved)
