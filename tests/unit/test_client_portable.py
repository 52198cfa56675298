"""The portable client tests (tests/portable/test_client.py) under CPython."""

import asyncio
import pathlib
import sys
import threading

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "portable"))

import test_client as portable  # noqa: E402

NAMES = sorted(name for name in dir(portable) if name.startswith("test_"))


def run_in_own_loop(coroutine):
    """asyncio.run in a thread: the session's sync Playwright keeps a loop running in this one."""
    outcome = {}

    def target():
        try:
            outcome["value"] = asyncio.run(asyncio.wait_for(coroutine, timeout=10))
        except BaseException as error:  # handed back to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.parametrize("name", NAMES)
def test_portable(name):
    run_in_own_loop(getattr(portable, name)())
