"""The smallest Content-Security-Policy authfetch works under, on each interpreter (README table).

The stub serves every page with the policy under test (``--csp``); the page must boot with no
policy violation at all and pass the burst after expiry (100 GETs: 1 refresh, 100 OK).

- The one tag loads MicroPython or Pyodide itself (no PyScript) and evaluates no strings:
  ``script-src 'self' 'wasm-unsafe-eval'``.
- A PyScript page needs what PyScript 0.7.31 needs: ``'unsafe-eval'`` (its core evaluates a
  string), and ``worker-src blob:`` for workers (it starts them from blob: URLs). The last test
  shows PyScript refusing the one tag's policy, so the README's table stays true.
"""

import pytest

from tests.browser.conftest import RUNTIMES, Harness, wait_for_boot
from tests.support.stub_process import StubProcess

ONE_TAG = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data:"
PYSCRIPT = (
    "default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "img-src 'self' data:"
)
WATCH = """if (!window.violations) {  // as embed-page.js does for itself
  window.violations = [];
  document.addEventListener("securitypolicyviolation", (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
}"""
LOGIN = """async () => (await fetch("/api/v1/users/login", {method: "POST", credentials: "include",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({username: "demo", password: "demo"})})).status"""
BURST = """async (n) => Promise.all(Array.from({length: n},
    () => window.authfetch.fetch("/api/v1/users/profile").then((r) => r.status, (e) => String(e))))"""
PY_BURST = """
async def main():
    api = client()
    return outcomes(await many(100, lambda i: api.get("/users/profile")))
"""


@pytest.fixture(scope="module")
def one_tag_stub():
    process = StubProcess("--csp", ONE_TAG)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def pyscript_stub():
    process = StubProcess("--csp", PYSCRIPT)
    yield process
    process.stop()


def open_watched(browser, url):
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(WATCH)
    page.goto(url)
    return context, page


def test_the_policy_reaches_the_page(one_tag_stub):
    page = one_tag_stub.http.get("/__stub__/harness/embed.html")
    assert page.headers["content-security-policy"] == ONE_TAG
    assert "content-security-policy" not in one_tag_stub.http.get("/frontend/authfetch/engine.js").headers


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_one_tag_under_a_strict_policy(browser, one_tag_stub, runtime):
    stub = one_tag_stub
    url = f"{stub.url}__stub__/harness/embed.html?refreshUrl=/api/v1/users/refresh-token&runtime={runtime}&leeway=none"
    context, page = open_watched(browser, url)
    try:
        page.set_default_timeout(90_000)
        page.wait_for_function("() => window.authfetch && window.authfetch.ready")
        page.evaluate("async () => { await window.authfetch.ready; }")
        assert page.evaluate(LOGIN) == 200
        stub.reset()
        stub.expire()
        statuses = page.evaluate(BURST, 100)
        stats = stub.stats()
        figures = f"[{runtime}] refresh calls {stats['refresh_calls']}, statuses {set(statuses)}"
        assert statuses == [200] * 100 and stats["refresh_calls"] == 1, figures
        assert page.evaluate("() => window.violations") == []
    finally:
        context.close()


@pytest.mark.parametrize("worker", [False, True], ids=["page", "worker"])
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_python_api_under_pyscripts_policy(browser, pyscript_stub, runtime, worker):
    stub = pyscript_stub
    url = f"{stub.url}__stub__/harness/?runtime={runtime}" + ("&worker=1" if worker else "")
    context, page = open_watched(browser, url)
    try:
        harness = Harness(page, stub, runtime)
        wait_for_boot(page, harness.console_errors, "() => !!document.getElementById('state')?.textContent.startsWith('ready')")
        harness.fresh()
        stub.expire()
        statuses = harness.run(PY_BURST)
        stats = stub.stats()
        figures = f"[{runtime}{' worker' if worker else ''}] refresh calls {stats['refresh_calls']}, statuses {set(statuses)}"
        assert statuses == [200] * 100 and stats["refresh_calls"] == 1, figures
        assert page.evaluate("() => window.violations") == []
    finally:
        context.close()


def test_pyscript_itself_does_not_start_under_the_one_tags_policy(browser, one_tag_stub):
    context, page = open_watched(browser, f"{one_tag_stub.url}__stub__/harness/?runtime=mpy")
    try:
        page.wait_for_function("() => window.violations.some((v) => v.startsWith('script-src eval'))", timeout=30_000)
        assert page.evaluate("() => document.getElementById('state').textContent") == "booting"
    finally:
        context.close()


# A page that installs authfetch from the wheel: the client imports its engine from blob: URLs.
WHEEL_POLICY = PYSCRIPT.replace("script-src 'self'", "script-src 'self' blob:")


@pytest.fixture(scope="module")
def wheel_stub():
    process = StubProcess("--csp", WHEEL_POLICY)
    yield process
    process.stop()


def wheel_page(browser, stub, runtime):
    config = "/dist/pyscript.pyodide.toml" if runtime == "py" else "/dist/pyscript.micropython.toml"
    context, page = open_watched(browser, f"{stub.url}__stub__/harness/?runtime={runtime}&config={config}")
    harness = Harness(page, stub, runtime)
    wait_for_boot(page, harness.console_errors, "() => !!document.getElementById('state')?.textContent.startsWith('ready')")
    return context, page, harness


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_wheel_under_pyscripts_policy_with_blob_scripts(browser, wheel_stub, runtime):
    context, page, harness = wheel_page(browser, wheel_stub, runtime)
    try:
        harness.fresh()
        wheel_stub.expire()
        statuses = harness.run(PY_BURST)
        stats = wheel_stub.stats()
        assert statuses == [200] * 100 and stats["refresh_calls"] == 1, (set(statuses), stats)
        assert page.evaluate("() => window.violations") == []
    finally:
        context.close()


def test_the_wheel_without_blob_scripts_fails_requests_with_a_clear_error(browser, pyscript_stub):
    # No hang: the engine's import is refused, and the request says what to do about it.
    context, page, harness = wheel_page(browser, pyscript_stub, "mpy")
    try:
        error = harness.run(
            """
async def main():
    try:
        await client().get("/users/profile", auth=False)
    except authfetch.UsageError as error:
        return str(error)
""",
            timeout_ms=20_000,
        )
        assert "engine.js" in error and "blob:" in error, error
        assert any(v.startswith("script-src") and "blob" in v for v in page.evaluate("() => window.violations"))
    finally:
        context.close()
