"""The engine scenarios (engine_scenarios.py) in Debian's Firefox ESR over WebDriver BiDi (Playwright's moz-firefox channel)."""

import pytest

from .engine_scenarios import *  # noqa: F403  (the scenarios and their fixtures, collected here)


@pytest.fixture(scope="module")
def engine(firefox):
    return firefox
