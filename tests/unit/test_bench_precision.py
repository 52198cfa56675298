"""The benchmark's verdicts (bench/precision.py): an interval that covers the median where it
should, narrows with repetitions, and a target called only when the interval is wholly on one
side of it."""

import random
import statistics

from bench.precision import interval, ratio_summary, resolved, verdict


def test_the_interval_holds_the_median_and_is_the_same_for_the_same_runs():
    values = [1.0, 1.1, 0.9, 1.3, 1.05, 0.95, 1.2]
    low, high = interval(values)
    assert low <= statistics.median(values) <= high
    assert interval(values) == (low, high), "seeded: the same runs give the same interval"


def test_more_repetitions_of_the_same_spread_narrow_the_interval():
    draw = random.Random(7)
    few = [draw.gauss(1.1, 0.2) for _ in range(8)]
    many = [draw.gauss(1.1, 0.2) for _ in range(200)]
    width = lambda values: interval(values)[1] - interval(values)[0]  # noqa: E731
    assert width(many) < width(few) / 2
    assert not resolved(few) and resolved(many)


def test_a_ninety_five_percent_interval_covers_the_true_median_about_that_often():
    draw = random.Random(3)
    covered = 0
    trials = 200
    for trial in range(trials):
        low, high = interval([draw.gauss(1.0, 0.3) for _ in range(25)], resamples=800, seed=trial)
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / trials <= 0.99, covered / trials


def test_a_target_is_called_only_when_the_interval_is_wholly_on_one_side():
    assert verdict(1.01, 1.04, 1.05) == "PASS"
    assert verdict(1.01, 1.05, 1.05) == "PASS"
    assert verdict(1.06, 1.10, 1.05) == "MISS"
    assert verdict(1.02, 1.08, 1.05) == "not resolved"
    assert verdict(1.30, 1.40, 1.05, n=2) == "not resolved", "two repetitions cannot call it"


def test_too_few_repetitions_never_resolve_however_alike():
    assert not resolved([1.0, 1.0, 1.0, 1.0])
    assert resolved([1.0] * 5)


def test_a_summary_carries_the_interval_and_its_half_width():
    summary = ratio_summary([1.0, 1.2, 1.1, 0.9, 1.0, 1.3])
    assert summary["ci95"][0] <= summary["median"] <= summary["ci95"][1]
    assert summary["half_width"] == (summary["ci95"][1] - summary["ci95"][0]) / 2
    assert summary["n"] == 6 and summary["min"] == 0.9 and summary["max"] == 1.3
