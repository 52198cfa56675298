"""How sure a ratio is: a 95 % bootstrap interval, repetitions added until it is narrow enough,
and a verdict that says "not resolved" when the interval straddles the target.

Per-repetition ratios spread from 0.6 to 1.9 in one run on these 2-core machines, and medians
move 20-30 % between runs, so a median alone called a 5 % target PASS or MISS by chance. Each
headline ratio therefore carries the interval of its median (percentile bootstrap over the
per-repetition ratios of the same run, seeded: the same runs give the same interval), and a
target is PASS only when the whole interval is at or under it, MISS only when the whole
interval is over it.

Pure Python, no I/O: tests/unit/test_bench_precision.py checks it.
"""

import random
import statistics

LEVEL = 0.95
RESAMPLES = 4000
HALF_WIDTH = 0.05  # what "resolves 5 %" asks of a headline ratio's interval
MIN_REPS = 5  # an interval from fewer says little about its own width


def interval(values, *, level=LEVEL, resamples=RESAMPLES, seed=0):
    """(low, high): the ``level`` percentile-bootstrap interval of the median of ``values``."""
    values = list(values)
    if not values:
        raise ValueError("an interval needs at least one value")
    if len(values) == 1:
        return (values[0], values[0])
    draw = random.Random(seed)
    n = len(values)
    medians = sorted(statistics.median(draw.choices(values, k=n)) for _ in range(resamples))
    tail = (1 - level) / 2
    return (medians[int(tail * (resamples - 1))], medians[int((1 - tail) * (resamples - 1))])


def ratio_summary(ratios):
    """The median, min and max of per-repetition ratios, with the median's interval and its
    half-width."""
    low, high = interval(ratios)
    return {
        "median": statistics.median(ratios),
        "min": min(ratios),
        "max": max(ratios),
        "ci95": [low, high],
        "half_width": (high - low) / 2,
        "n": len(ratios),
    }


def resolved(ratios, *, half_width=HALF_WIDTH):
    """Whether per-repetition ``ratios`` pin their median down to +-``half_width``."""
    if len(ratios) < MIN_REPS:
        return False
    low, high = interval(ratios)
    return (high - low) / 2 <= half_width


def verdict(low, high, target, n=None):
    """PASS if the whole interval is at or under ``target``, MISS if it is all over, else
    "not resolved": the run cannot tell (as with fewer than MIN_REPS repetitions, ``n``)."""
    if n is not None and n < MIN_REPS:
        return "not resolved"
    if high <= target:
        return "PASS"
    if low > target:
        return "MISS"
    return "not resolved"
