"""The engine scenarios (engine_scenarios.py) in WebKitGTK's MiniBrowser through WebKitWebDriver (Selenium, webdriver_seam.py), over HTTPS."""

import pytest

from .engine_scenarios import *  # noqa: F403  (the scenarios and their fixtures, collected here)


@pytest.fixture(scope="module")
def engine(webkit):
    return webkit
