"""The portable client tests (tests/portable/test_client.py) under CPython."""

import asyncio
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "portable"))

import test_client as portable  # noqa: E402

NAMES = sorted(name for name in dir(portable) if name.startswith("test_"))


@pytest.mark.parametrize("name", NAMES)
def test_portable(name):
    asyncio.run(asyncio.wait_for(getattr(portable, name)(), timeout=10))
