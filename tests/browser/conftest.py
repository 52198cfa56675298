"""Browser fixtures: one Chromium per session, a real stub per module, a harness page per
interpreter booted once per module and shared by its tests."""

import json
import os
import shutil
import signal
import sys
import time

import pytest
from playwright.sync_api import sync_playwright

from tests.support.stub_process import StubProcess

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUNTIMES = ["mpy", "py"]
BOOT_TIMEOUT_MS = 90_000


def chromium_executable():
    return os.environ.get("AUTHFETCH_CHROMIUM") or shutil.which("chromium") or None


def firefox_executable():
    return os.environ.get("AUTHFETCH_FIREFOX") or shutil.which("firefox-esr") or None


@pytest.fixture(scope="session")
def playwright():
    """One Playwright for the session: the sync API runs one per thread."""
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=chromium_executable(), args=LAUNCH_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def firefox(playwright):
    """Debian's Firefox ESR over WebDriver BiDi (Playwright's "moz-firefox" channel), launched once."""
    executable = firefox_executable()
    if not executable:
        pytest.skip("Firefox ESR is not installed: Debian package firefox-esr (make test installs it when run as root)")
    browser = playwright.firefox.launch(channel="moz-firefox", executable_path=executable, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def webkit():
    """WebKitGTK's MiniBrowser through Selenium and WebKitWebDriver (webdriver_seam.py), under Xvfb."""
    from . import webdriver_seam

    lacking = webdriver_seam.missing()
    if lacking:
        pytest.skip(f"WebKit cannot run here, missing: {lacking} (make test installs the Debian packages when run as root)")
    browser = webdriver_seam.WebKitBrowser()
    # A SIGTERM (a CI timeout) ends the run through exit, so atexit stops WebKit's processes too.
    previous = signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    yield browser
    browser.close()
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module")
def django(stub):
    """The real Django backend (Simple JWT, dj-rest-auth, django-oauth-toolkit) for pages of ``stub``."""
    from tests.support.django_process import DjangoProcess

    process = DjangoProcess(stub.origin, tls=stub.url.startswith("https://"))  # an HTTPS page calls no http:// API
    yield process
    process.stop()


@pytest.fixture(scope="module")
def stub(request):
    process = StubProcess(*getattr(request.module, "STUB_ARGS", ()))
    yield process
    process.stop()


class Harness:
    """A booted harness page: ``run(code)`` executes a Python snippet in the page."""

    def __init__(self, page, stub, runtime):
        self.page = page
        self.stub = stub
        self.runtime = runtime
        self.console_errors = []
        self.outside_requests = []
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))
        if not getattr(page, "sees_requests", True):  # WebKit's seam (webdriver_seam.py)
            self.outside_requests = None
            return
        page.on(
            "request",
            lambda req: None if req.url.startswith(("http://127.0.0.1", "https://127.0.0.1", "data:")) else self.outside_requests.append(req.url),
        )

    def run(self, code, timeout_ms=60_000):
        self.page.set_default_timeout(timeout_ms)
        answer = json.loads(self.page.evaluate("async (code) => await window.harnessRun(code)", code))
        assert answer["ok"], f"[{self.runtime}] snippet failed: {answer['error']}\n{answer['trace']}"
        return answer["value"]

    def fresh(self, *, login=True):
        """Stub counters reset, cookies and localStorage cleared, and (by default) signed in as demo."""
        self.page.context.clear_cookies()
        self.page.evaluate("() => localStorage.clear()")
        self.stub.reset()
        if login:
            self.run(LOGIN)
            self.stub.reset()


LOGIN = """
async def main():
    api = client()
    response = await api.login(json={"username": "demo", "password": "demo"})
    return response.status
"""


def wait_for_boot(page, errors, ready_js):
    """Wait for ``ready_js`` to be true, but fail at once on a Python error during boot."""
    deadline = time.monotonic() + BOOT_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if page.evaluate(ready_js):
            return
        booted_badly = [e for e in errors if "Traceback" in e or "Error:" in e]
        assert not booted_badly, f"the page failed to boot: {booted_badly[0][:3000]}"
        page.wait_for_timeout(100)
    raise AssertionError(f"the page did not boot in {BOOT_TIMEOUT_MS} ms; console: {errors}")


HARNESS_READY = "() => !!document.getElementById('state')?.textContent.startsWith('ready')"


def open_harness(browser, stub, runtime, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    harness = Harness(page, stub, runtime)
    page.goto(f"{stub.url}__stub__/harness/?runtime={runtime}")
    wait_for_boot(page, harness.console_errors, HARNESS_READY)
    return harness


@pytest.fixture(scope="module", params=RUNTIMES)
def harness(request, browser, stub):
    harness = open_harness(browser, stub, request.param)
    yield harness
    harness.page.context.close()
