"""Every difference between CPython, Pyodide and MicroPython that authfetch meets, in one place.

The rest of the package is written in the subset the three share; when something works on one
and not another, the workaround goes here with the reason.
"""

import asyncio
import sys
import time

MICROPYTHON = sys.implementation.name == "micropython"

try:
    import random as _random

    random = _random.random
except (ImportError, AttributeError):  # a MicroPython build without random.random
    _seed = [time.ticks_ms() if MICROPYTHON else int(time.time() * 1000)]

    def random():
        _seed[0] = (_seed[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return _seed[0] / 0x80000000


if hasattr(time, "monotonic"):
    monotonic = time.monotonic
else:
    # MicroPython has no monotonic clock in seconds; ticks_ms wraps after about 12 days, and
    # ticks_diff measures correctly across one wrap, which is long enough for a page's life.
    _start = time.ticks_ms()

    def monotonic():
        return time.ticks_diff(time.ticks_ms(), _start) / 1000


CancelledError = asyncio.CancelledError
sleep = asyncio.sleep


def spawn(coroutine):
    """Run ``coroutine`` on its own (asyncio.create_task works on all three)."""
    return asyncio.create_task(coroutine)


class Signal:
    """A one-shot wake-up: ``set()`` from anywhere, ``await wait()`` in one coroutine.

    asyncio.Event is the common ground (MicroPython lacks Queue, Semaphore and wait_for, and its
    wait_for hangs when called from JS, PyScript issue #2415).
    """

    def __init__(self):
        self._event = asyncio.Event()

    def set(self):
        self._event.set()

    def is_set(self):
        return self._event.is_set()

    async def wait(self):
        await self._event.wait()
        self._event.clear()


class Latch:
    """Set once, then open for every waiter (``await wait()`` returns at once from then on)."""

    def __init__(self):
        self._event = asyncio.Event()

    def set(self):
        self._event.set()

    async def wait(self):
        await self._event.wait()


def call_later(delay, callback):
    """Call ``callback()`` after ``delay`` seconds unless the returned task is cancelled."""

    async def later():
        await asyncio.sleep(delay)
        callback()

    return spawn(later())


def cancel(task):
    if task is not None:
        task.cancel()

