"""The benchmark's schedule: contestants alternate their order repetition by repetition, a
ratio pairs figures of the same repetition, extra repetitions stop at the run's deadline, and
the stub and the browser get cores of their own."""

import os
import time

import pytest

from bench.common import in_turn, interleaved, pair_ratios, pinned, split_cores


class Contestant:
    def __init__(self, name):
        self.name = name


def test_the_order_alternates_so_no_contestant_always_goes_first():
    names = [Contestant(n) for n in "ABC"]
    orders = ["".join(c.name for c in in_turn(names, rep)) for rep in range(4)]
    assert orders == ["ABC", "CBA", "ABC", "CBA"]


def test_each_repetition_pairs_figures_of_the_same_moment():
    calls = []

    def once(contestant, rep):
        calls.append((rep, contestant.name))
        return {"wall_ms": (rep + 1) * (2 if contestant.name == "B" else 1)}

    runs = interleaved(3, [Contestant("A"), Contestant("B")], once, lambda line: None, "t")
    assert calls[:2] == [(-1, "A"), (-1, "B")]  # the warm-up, dropped
    assert calls[2:] == [(0, "A"), (0, "B"), (1, "B"), (1, "A"), (2, "A"), (2, "B")]
    assert [r["wall_ms"] for r in runs["A"]] == [1, 2, 3]
    assert pair_ratios(runs, "B", "A") == [2.0, 2.0, 2.0]


def test_repetitions_are_not_added_past_the_deadline():
    spread = iter([1.0, 1.9, 0.6, 1.5, 0.7] * 40)  # never resolves to +-5 %

    def once(contestant, rep):
        return {"wall_ms": next(spread) if contestant.name == "A" else 1.0}

    contestants = [Contestant("A"), Contestant("raw")]
    unbounded = interleaved(5, contestants, once, lambda line: None, "t", pairs=[("A", "raw")],
                            budget_s=60, max_reps=12, warmup=False)
    assert len(unbounded["A"]) == 12  # the budget lets it go on to max_reps
    late = interleaved(5, contestants, once, lambda line: None, "t", pairs=[("A", "raw")],
                       budget_s=60, max_reps=12, until=time.monotonic(), warmup=False)
    assert len(late["A"]) == 5  # the asked-for repetitions, none added


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="pinning needs Linux and two cores")
def test_the_stub_and_the_browser_get_cores_of_their_own_and_pinning_is_undone():
    stub, browser = split_cores()
    assert stub and browser and not stub & browser
    before = os.sched_getaffinity(0)
    seen = pinned(stub, lambda: os.sched_getaffinity(0))
    assert seen == stub
    assert os.sched_getaffinity(0) == before


def test_a_late_scenario_stops_after_the_minimum_at_its_share_of_the_time():
    contestants = [Contestant("A"), Contestant("raw")]
    once = lambda contestant, rep: {"wall_ms": 1.0}  # noqa: E731
    late = interleaved(10, contestants, once, lambda line: None, "t", warmup=False, share_until=time.monotonic())
    assert len(late["A"]) == 5  # MIN_REPS, though 10 were asked for
    in_time_run = interleaved(10, contestants, once, lambda line: None, "t", warmup=False,
                              share_until=time.monotonic() + 60)
    assert len(in_time_run["A"]) == 10


def test_the_later_scenarios_share_the_time_left_in_proportion():
    from bench.common import LATER_S, Settings

    settings = Settings()
    settings.deadline = time.monotonic() + 1000
    shares = {name: settings.share_until(name) - time.monotonic() for name in ("cold", "proactive")}
    total = sum(LATER_S.values())
    assert shares["cold"] == pytest.approx(1000 * LATER_S["cold"] / total, rel=0.01)
    assert shares["proactive"] == pytest.approx(1000, rel=0.01)  # the last takes what is left
    assert Settings(quick=True).share_until("cold") is None
    settings.deadline = time.monotonic() - 5  # past the run's end: nothing beyond the minimum
    assert settings.share_until("tabs") <= time.monotonic()


def test_a_repetition_starts_past_the_minimum_only_if_one_like_the_last_still_fits(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    contestants = [Contestant("A"), Contestant("raw")]

    def once(contestant, rep):
        clock[0] += 25.0  # 50 s a repetition, two contestants
        return {"wall_ms": 1.0}

    # 5 repetitions take 250 s; a share ending 80 s after them has room for one more, not two.
    runs = interleaved(10, contestants, once, lambda line: None, "t", warmup=False, share_until=1330.0)
    assert len(runs["A"]) == 6


def test_the_shares_leave_out_what_the_run_skips_and_none_is_set_when_repetitions_are_asked_for():
    from bench.common import LATER_S, Settings

    settings = Settings(only=("cold", "proactive"))
    settings.deadline = time.monotonic() + 1000
    share = settings.share_until("cold") - time.monotonic()
    assert share == pytest.approx(1000 * LATER_S["cold"] / (LATER_S["cold"] + LATER_S["proactive"]), rel=0.01)
    assert Settings(reps=3).share_until("cold") is None
