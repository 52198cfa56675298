"""WebKit for the browser scenarios: Selenium and WebKitWebDriver behind Playwright's shape.

The scenarios are written once against a small driver seam, the part of Playwright's sync API
they use:

- browser: ``new_context(**options)``, ``close()``, ``browser_type.name``
- context: ``new_page()``, ``cookies()``, ``clear_cookies()``, ``add_cookies(cookies)``, ``close()``
- page: ``goto(url)``, ``evaluate(function_source, arg=None)``, ``on("console" | "pageerror",
  handler)``, ``wait_for_function(source, timeout=None)``, ``wait_for_timeout(ms)``,
  ``set_default_timeout(ms)``, ``add_init_script(source)``, ``context``, ``sees_requests``

Playwright's own objects satisfy it (Chromium, Firefox). Playwright cannot drive Debian's
WebKit (``Unknown option --inspector-pipe``), so this module makes Selenium's WebDriver for
WebKitGTK's MiniBrowser satisfy it too. Where WebDriver differs, said here once:

- A context is a WebDriver session: its own WebKitWebDriver and ephemeral MiniBrowser (~0.3 s
  to start), in a process group of its own that close() (or exit, or a SIGTERM to the run) stops
  whole, each leader also killed with the run (PR_SET_PDEATHSIG); cookies and
  storage are the context's alone, as in Playwright. Pages are its windows; every call first
  switches to its page's window (WebDriver talks to one at a time).
- ``evaluate`` runs the function with WebDriver's Execute Script, which awaits a returned
  promise, bounded by the page's default timeout (60 s unless set); every WebDriver call is
  bounded too (COMMAND_TIMEOUT_S), so a wedged browser fails a test instead of hanging it.
- Console errors and uncaught errors are caught by a hook put in each document after it loads
  (WebKitWebDriver has no log endpoint and no script that runs before the page's own);
  ``add_init_script`` runs its script at the same moment. Pages that must see everything from
  the first line record it themselves (embed-page.js records CSP violations).
- Console errors reach the handlers at each ``evaluate`` (they are read from the page then);
  a worker's console is not seen.
- Requests are not observable (``sees_requests`` is False): the tests that need them read what
  the stub served instead (``stats()["served"]``).
- WebKit drops ``Secure`` cookies set over http://127.0.0.1: WebKit runs against the stub over
  HTTPS (``--tls``); the session accepts its throw-away certificate.
"""

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import time
import urllib.parse

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"  # Debian's libwebkit2gtk-4.1-0 (amd64)
DRIVER = "/usr/bin/WebKitWebDriver"
DEFAULT_TIMEOUT_MS = 60_000  # a script's bound until the page sets another (set_default_timeout)
COMMAND_TIMEOUT_S = 200  # any one WebDriver call, a new session included: longer than any script's bound
XVFB_START_S = 15
POLL_S = 0.1

HOOK = """
if (!window.__seam) {
  window.__seam = [];
  const keep = (type, text) => window.__seam.push([type, String(text)]);
  const error = console.error.bind(console);
  console.error = (...args) => { keep("console", args.map(String).join(" ")); error(...args); };
  addEventListener("error", (event) => keep("pageerror", event.error || event.message));
  addEventListener("unhandledrejection", (event) => keep("pageerror", event.reason));
}
"""
DRAIN = "const taken = (window.__seam || []).splice(0); return taken;"


def missing():
    """What WebKit needs that this machine lacks (Debian packages), or None."""
    needs = {"webkit2gtk-driver": os.path.exists(DRIVER), "libwebkit2gtk-4.1-0": os.path.exists(MINIBROWSER)}
    needs["xvfb"] = bool(os.environ.get("DISPLAY")) or bool(shutil.which("Xvfb"))
    try:
        import selenium  # noqa: F401
    except ImportError:
        needs["selenium (pip, make deps)"] = False
    lacking = [name for name, present in needs.items() if not present]
    return ", ".join(lacking) or None


def kill_group(process):
    """Stop a process started in its own session, and everything it started (MiniBrowser's web
    processes under WebKitWebDriver), even if the leader has died already: nothing outlives
    the test run."""
    if process is None:
        return
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left, leader gone or not
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _die_with_parent():
    """In the child before exec: killed when the test run is (Linux PR_SET_PDEATHSIG), since
    its own session puts it out of reach of a signal to the run's process group."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


class Display:
    """A virtual X display for MiniBrowser (it needs one; without it a new session hangs). Given
    to the drivers it starts only (``env``): the rest of the test run keeps its own DISPLAY."""

    def __init__(self):
        self.process = None
        self.env = dict(os.environ)
        if os.environ.get("DISPLAY"):
            return
        read, write = os.pipe()
        # -displayfd: Xvfb picks a free display number and writes it once it accepts clients.
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            ready, _, _ = select.select([pipe], [], [], XVFB_START_S)
            number = pipe.readline().strip() if ready else ""
        if not number:
            kill_group(self.process)
            raise RuntimeError(f"Xvfb gave no display within {XVFB_START_S} s")
        self.env["DISPLAY"] = f":{number}"

    def close(self):
        kill_group(self.process)


class BrowserType:
    """As Playwright's: the engine's name, which the scenarios read (browser.browser_type.name)."""

    name = "webkit"


class WebKitBrowser:
    browser_type = BrowserType()

    def __init__(self):
        self.display = Display()
        self.contexts = []
        self.closed = False
        atexit.register(self.close)  # a run stopped midway still stops every driver and Xvfb

    def new_context(self, **options):
        """``options`` are Playwright's; the one the scenarios pass (ignore_https_errors) holds always."""
        unknown = set(options) - {"ignore_https_errors"}
        assert not unknown, f"the WebKit seam has no {sorted(unknown)}"
        context = WebKitContext(self)
        self.contexts.append(context)
        return context

    def session(self):
        """A WebDriver session of its own driver process (one serves one session at a time), in
        its own process group, every call bounded (COMMAND_TIMEOUT_S): (driver, its service)."""
        from selenium import webdriver
        from selenium.webdriver.remote.client_config import ClientConfig
        from selenium.webdriver.remote.remote_connection import RemoteConnection
        from selenium.webdriver.webkitgtk.service import Service

        options = webdriver.WebKitGTKOptions()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")  # without it: "Failed to match capabilities"
        options.accept_insecure_certs = True  # the stub's throw-away certificate
        # A path given: Selenium downloads nothing.
        service = Service(executable_path=DRIVER, env=self.display.env,
                          popen_kw={"start_new_session": True, "preexec_fn": _die_with_parent})
        service.start()
        try:
            config = ClientConfig(remote_server_addr=service.service_url, timeout=COMMAND_TIMEOUT_S)
            driver = webdriver.Remote(command_executor=RemoteConnection(client_config=config), options=options)
            driver.set_script_timeout(DEFAULT_TIMEOUT_MS / 1000)
        except BaseException:
            kill_group(service.process)
            raise
        return driver, service

    def close(self):
        if self.closed:
            return
        self.closed = True
        for context in list(self.contexts):
            try:
                context.close()
            except Exception:  # noqa: BLE001  (the next contexts and the display go all the same)
                pass
        self.display.close()


class WebKitContext:
    def __init__(self, browser):
        self.browser = browser
        self.driver, self.service = browser.session()
        self.pages = []
        self.current = None

    def new_page(self):
        if self.pages:
            self.driver.switch_to.new_window("window")  # a window of its own: never a hidden tab
        page = WebKitPage(self, self.driver.current_window_handle)
        self.current = page.handle
        self.pages.append(page)
        return page

    def focus(self, page):
        if self.current != page.handle:
            self.driver.switch_to.window(page.handle)
            self.current = page.handle

    def cookies(self):
        """The cookies the current page's URL would carry (WebDriver shows no others: not one
        limited to another path). All windows of a context share one cookie store."""
        return self.driver.get_cookies()

    def clear_cookies(self):
        """Every cookie of the current page's host, those limited to another path too (checked in
        tests/browser/test_webkit.py: WebKit deletes by host)."""
        self.driver.delete_all_cookies()

    def add_cookies(self, cookies):
        """Cookies for the current page's host (WebDriver sets no other): name, value, url, path."""
        here = urllib.parse.urlsplit(self.driver.current_url).hostname
        for cookie in cookies:
            unknown = set(cookie) - {"name", "value", "url", "path"}
            assert not unknown, f"the WebKit seam sets no cookie {sorted(unknown)}"
            host = urllib.parse.urlsplit(cookie["url"]).hostname if "url" in cookie else here
            assert host == here, f"WebDriver sets cookies for the page's host ({here}) only, not {host}"
            self.driver.add_cookie({"name": cookie["name"], "value": cookie["value"], "path": cookie.get("path", "/")})

    def close(self):
        if self.driver is None:
            return
        # The process group goes whole, with no WebDriver goodbye: quitting a session whose
        # windows run Pyodide took seconds, and a wedged browser would not answer it at all.
        self.driver = None
        try:
            kill_group(self.service.process)
        finally:
            self.browser.contexts.remove(self)


class WebKitPage:
    sees_requests = False

    def __init__(self, context, handle):
        self.context = context
        self.handle = handle
        self.handlers = {"console": [], "pageerror": []}
        self.init_scripts = []
        self.timeout_ms = DEFAULT_TIMEOUT_MS

    @property
    def driver(self):
        self.context.focus(self)
        return self.context.driver

    def on(self, event, handler):
        assert event in self.handlers, f"the WebKit seam cannot watch {event!r} (requests: read the stub's stats)"
        self.handlers[event].append(handler)

    def add_init_script(self, source):
        self.init_scripts.append(source)

    def set_default_timeout(self, ms):
        """The bound of every later script and wait on this page (a script's time is WebDriver's
        to bound here: Playwright's evaluate has none of its own)."""
        self.timeout_ms = ms

    def goto(self, url):
        driver = self.driver
        driver.get(url)
        driver.execute_script(HOOK)
        for source in self.init_scripts:
            driver.execute_script(source)

    def evaluate(self, source, arg=None):
        driver = self.driver
        driver.set_script_timeout(self.timeout_ms / 1000)
        script = f"const f = ({source}); return typeof f === 'function' ? await f(arguments[0]) : f;"
        # Drained after a call that came back only: after a failed or timed-out one, another
        # command could wait as long again and hide the first error.
        value = driver.execute_script(f"return (async () => {{ {script} }})();", arg)
        self._drain(driver)
        return value

    def wait_for_function(self, source, timeout=None):
        # As Playwright's: truthy counts, a returned promise (an object) included, not awaited.
        script = f"const f = ({source}); return !!(typeof f === 'function' ? f() : f);"
        bound_ms = timeout or self.timeout_ms
        deadline = time.monotonic() + bound_ms / 1000
        while not self.driver.execute_script(script):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {bound_ms} ms for {source}")
            time.sleep(POLL_S)

    def wait_for_timeout(self, ms):
        time.sleep(ms / 1000)

    def _drain(self, driver):
        from selenium.common.exceptions import WebDriverException

        try:
            caught = driver.execute_script(DRAIN) or []
        except WebDriverException:  # the page navigated away meanwhile: a new document, a new hook
            caught = []
        for kind, text in caught:
            for handler in self.handlers[kind]:
                handler(Message(text) if kind == "console" else text)


class Message:
    """A console message as the scenarios read it (Playwright's ConsoleMessage: type, text)."""

    type = "error"

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return json.dumps(self.text)
