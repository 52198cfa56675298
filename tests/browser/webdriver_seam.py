"""WebKit for the browser scenarios: Selenium and WebKitWebDriver behind Playwright's shape.

The scenarios are written once against a small driver seam, the part of Playwright's sync API
they use:

- browser: ``new_context(**options)``, ``close()``
- context: ``new_page()``, ``cookies()``, ``clear_cookies()``, ``add_cookies(cookies)``, ``close()``
- page: ``goto(url)``, ``evaluate(function_source, arg=None)``, ``on("console" | "pageerror",
  handler)``, ``wait_for_function(source, timeout=None)``, ``wait_for_timeout(ms)``,
  ``set_default_timeout(ms)``, ``add_init_script(source)``, ``context``, ``sees_requests``

Playwright's own objects satisfy it (Chromium, Firefox). Playwright cannot drive Debian's
WebKit (``Unknown option --inspector-pipe``), so this module makes Selenium's WebDriver for
WebKitGTK's MiniBrowser satisfy it too. Where WebDriver differs, said here once:

- A context is a WebDriver session: its own ephemeral MiniBrowser (~0.3 s to start), so
  cookies and storage are the context's alone, as in Playwright. Pages are its windows;
  every call first switches to its page's window (WebDriver talks to one at a time).
- ``evaluate`` runs the function with WebDriver's Execute Script, which awaits a returned
  promise. Script timeouts are long: the scenarios bound their own waits.
- Console errors and uncaught errors are caught by a hook put in each document after it loads
  (WebKitWebDriver has no log endpoint and no script that runs before the page's own);
  ``add_init_script`` runs its script at the same moment. Pages that must see everything from
  the first line record it themselves (embed-page.js records CSP violations).
- Requests are not observable (``sees_requests`` is False): the tests that need them read what
  the stub served instead (``stats()["served"]``).
- WebKit drops ``Secure`` cookies set over http://127.0.0.1: WebKit runs against the stub over
  HTTPS (``--tls``); the session accepts its throw-away certificate.
"""

import json
import os
import shutil
import subprocess
import time

MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
DRIVER = "/usr/bin/WebKitWebDriver"
SCRIPT_TIMEOUT_S = 300
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


class Display:
    """A virtual X display for MiniBrowser (it needs one; without it a new session hangs)."""

    def __init__(self):
        self.process = None
        self.previous = os.environ.get("DISPLAY")
        if self.previous:
            return
        read, write = os.pipe()
        # -displayfd: Xvfb picks a free display number and writes it once it accepts clients.
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.process.kill()
            raise RuntimeError("Xvfb did not start")
        os.environ["DISPLAY"] = f":{number}"

    def close(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            os.environ.pop("DISPLAY", None)


class WebKitBrowser:
    name = "webkit"

    def __init__(self):
        self.display = Display()
        self.contexts = []
        self.version = None

    def new_context(self, **options):
        """``options`` are Playwright's; the one the scenarios pass (ignore_https_errors) holds always."""
        unknown = set(options) - {"ignore_https_errors"}
        assert not unknown, f"the WebKit seam has no {sorted(unknown)}"
        context = WebKitContext(self)
        self.contexts.append(context)
        return context

    def session(self):
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.service import Service

        options = webdriver.WebKitGTKOptions()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")  # without it: "Failed to match capabilities"
        options.accept_insecure_certs = True  # the stub's throw-away certificate
        # A driver of its own per session (one serves one at a time); a path given: Selenium downloads nothing.
        driver = webdriver.WebKitGTK(service=Service(executable_path=DRIVER), options=options)
        driver.set_script_timeout(SCRIPT_TIMEOUT_S)
        self.version = driver.capabilities.get("browserVersion")
        return driver

    def close(self):
        for context in list(self.contexts):
            context.close()
        self.display.close()


class WebKitContext:
    def __init__(self, browser):
        self.browser = browser
        self.driver = browser.session()
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
        """The cookies of the current page's URL (WebDriver shows no others: not a path-limited one)."""
        return self.driver.get_cookies()

    def clear_cookies(self):
        self.driver.delete_all_cookies()

    def add_cookies(self, cookies):
        for cookie in cookies:
            self.driver.add_cookie({"name": cookie["name"], "value": cookie["value"], "path": cookie.get("path", "/")})

    def close(self):
        if self.driver is not None:
            self.driver.quit()
            self.driver = None
            self.browser.contexts.remove(self)


class WebKitPage:
    sees_requests = False

    def __init__(self, context, handle):
        self.context = context
        self.handle = handle
        self.handlers = {"console": [], "pageerror": []}
        self.init_scripts = []

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
        pass  # the scenarios' own waits bound them; scripts get SCRIPT_TIMEOUT_S

    def goto(self, url):
        driver = self.driver
        driver.get(url)
        driver.execute_script(HOOK)
        for source in self.init_scripts:
            driver.execute_script(source)

    def evaluate(self, source, arg=None):
        driver = self.driver
        script = f"const f = ({source}); return typeof f === 'function' ? await f(arguments[0]) : f;"
        try:
            return driver.execute_script(f"return (async () => {{ {script} }})();", arg)
        finally:
            self._drain(driver)

    def wait_for_function(self, source, timeout=None):
        # As Playwright's: truthy counts, a returned promise (an object) included, not awaited.
        script = f"const f = ({source}); return !!(typeof f === 'function' ? f() : f);"
        deadline = time.monotonic() + (timeout or SCRIPT_TIMEOUT_S * 1000) / 1000
        while not self.driver.execute_script(script):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} ms for {source}")
            time.sleep(POLL_S)

    def wait_for_timeout(self, ms):
        time.sleep(ms / 1000)

    def _drain(self, driver):
        try:
            caught = driver.execute_script(DRAIN) or []
        except Exception:  # noqa: BLE001  (the page navigated away meanwhile: a new document, a new hook)
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
