"""Installed as a library (issue 13): what ``make dist`` writes, used the way the README says.

- A PyScript page whose only authfetch is the wheel in ``packages`` (Pyodide: micropip installs
  it; MicroPython: PyScript unpacks it), with the engine's module loaded lazily from the package.
- The one-tag folder copied under another path of a plain static server (``http.server``, not
  the stub), with the API on the stub, another origin, as an existing site would have it.

Both pass the 100-request burst after expiry: one refresh at the stub, 100 OK.
"""

import contextlib
import functools
import http.server
import pathlib
import shutil
import subprocess
import threading

import pytest

from tests.browser.conftest import HARNESS_READY, Harness, wait_for_boot

ROOT = pathlib.Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"

BURST = """
async def main():
    api = client()
    results = await many(100, lambda i: api.get("/users/profile"))
    return outcomes(results)
"""


def dist_built():
    if not (DIST / "embed" / "authfetch.js").exists() or not list(DIST.glob("authfetch-*.whl")):
        pytest.fail("dist/ is missing: `make test` runs `make dist` first (python scripts/make_dist.py)")


def open_wheel_page(browser, stub, runtime):
    """A harness page that installs only the wheel (in ``browser``: any engine's)."""
    dist_built()
    config = "/dist/pyscript.pyodide.toml" if runtime == "py" else "/dist/pyscript.micropython.toml"
    context = browser.new_context()
    page = context.new_page()
    harness = Harness(page, stub, runtime)
    stub.reset()
    page.goto(f"{stub.url}__stub__/harness/?runtime={runtime}&config={config}")
    wait_for_boot(page, harness.console_errors, HARNESS_READY)
    harness.fetched = list(stub.stats()["served"])  # the paths the stub served it (the worker's asks too)
    return harness


@pytest.fixture(scope="module", params=["mpy", "py"])
def wheel_page(request, browser, stub):
    harness = open_wheel_page(browser, stub, request.param)
    yield harness
    harness.page.context.close()


def test_a_page_with_only_the_wheel_keeps_one_refresh_for_a_burst(wheel_page):
    # Nothing of the library came from the source tree (the demo's config fetches it from
    # /frontend/authfetch/, the one tag's from /static/authfetch/): only the wheel.
    from_source = [u for u in wheel_page.fetched if "/frontend/authfetch/" in u or "/static/authfetch/authfetch/" in u]
    assert from_source == [], from_source
    assert any(u.endswith(".whl") and "/dist/authfetch-" in u for u in wheel_page.fetched)
    version, beside = wheel_page.run(
        """
import os


async def main():
    # An installed wheel leaves its dist-info directory beside the package (site-packages on
    # Pyodide, the unpack folder on MicroPython); a files config does not.
    package = authfetch.__file__.rsplit("/", 1)[0]  # MicroPython's may be relative: "authfetch/..."
    folder = package.rsplit("/", 1)[0] if "/" in package else "."
    return [authfetch.__version__, [name for name in os.listdir(folder) if name.startswith("authfetch-")]]
"""
    )
    expected = (ROOT / "frontend/authfetch/__init__.py").read_text().split('__version__ = "')[1].split('"')[0]
    assert version == expected
    assert beside == [f"authfetch-{expected}.dist-info"], beside
    wheel_page.fresh()
    wheel_page.stub.expire()
    statuses = wheel_page.run(BURST)
    stats = wheel_page.stub.stats()
    assert statuses == [200] * 100, f"[{wheel_page.runtime}] {statuses}"
    assert stats["refresh_calls"] == 1, stats
    assert stats["reuse_detected"] == 0, stats
    assert not [e for e in wheel_page.console_errors if "Traceback" in e], wheel_page.console_errors


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    # .mjs is not in every Python's table; a module script needs a JavaScript MIME type.
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_server(directory):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


EMBED_PAGE = """<!doctype html>
<meta charset="utf-8">
<title>an existing site</title>
<p id="state">loading</p>
<script type="module" src="{src}"
        data-runtime="{runtime}"
        data-base-url="{api}/api/v1"
        data-refresh-url="{api}/api/v1/users/refresh-token"
        data-sign-in-url="{api}/api/v1/users/login"
        data-allowed-origins="{api}"></script>
"""


@pytest.fixture(scope="module")
def cors_stub():
    # The stub's CORS origin must name the static server's port, so this module starts its
    # own stub after the static server is up (the shared fixture cannot know the port).
    from tests.support.stub_process import StubProcess

    site = pathlib.Path(__import__("tempfile").mkdtemp(prefix="authfetch-site-"))
    with static_server(site) as server:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        stub = StubProcess("--cors-origin", origin)
        try:
            yield site, origin, stub
        finally:
            stub.stop()
            shutil.rmtree(site, ignore_errors=True)


@pytest.mark.parametrize("runtime", ["mpy", "py"])
def test_the_built_folder_works_under_another_path_of_a_plain_static_server(browser, cors_stub, runtime):
    dist_built()
    site, origin, stub = cors_stub
    target = site / "assets/vendor/authfetch"
    if not target.exists():
        shutil.copytree(DIST / "embed", target)
    page = EMBED_PAGE.format(runtime=runtime, api=stub.origin, src="/assets/vendor/authfetch/authfetch.js")
    (site / f"{runtime}.html").write_text(page)
    burst_after_expiry(browser, f"{origin}/{runtime}.html", stub)


@pytest.fixture(scope="module")
def npm_installed(cors_stub):
    """The npm tarball make dist writes, installed by npm into an empty folder of the static
    site, its interpreters with it (from the registry, or npm's cache)."""
    site, _, _ = cors_stub
    tarballs = list(DIST.glob("authfetch-*.tgz"))
    if len(tarballs) != 1:
        pytest.fail(f"dist/ should hold one npm tarball, has {tarballs}: `make test` runs `make dist` first")
    (site / "package.json").write_text('{"name": "an-existing-site", "private": true}\n')
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", str(tarballs[0])],
                   cwd=site, check=True, capture_output=True, text=True, timeout=600)
    return site / "node_modules"


@pytest.mark.parametrize("runtime", ["mpy", "py"])
def test_the_npm_package_installed_into_an_empty_folder_finds_its_interpreters(browser, cors_stub, npm_installed, runtime):
    site, origin, stub = cors_stub
    assert (npm_installed / "authfetch/authfetch.js").exists()
    # No data-interpreter: the tag finds the interpreter where npm put it, beside its own folder.
    page = EMBED_PAGE.format(runtime=runtime, api=stub.origin, src="/node_modules/authfetch/authfetch.js")
    (site / f"npm-{runtime}.html").write_text(page)
    served = []
    burst_after_expiry(browser, f"{origin}/npm-{runtime}.html", stub, requests=served)
    interpreter = "/node_modules/pyodide/pyodide.mjs" if runtime == "py" else \
        "/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs"
    assert f"{origin}{interpreter}" in served, [url for url in served if "node_modules" in url]


def burst_after_expiry(browser, url, stub, *, requests=None):
    """The page at ``url`` (the one tag, the API on ``stub``) signs in, then sends 100 GETs after
    the access token expired: 100 OK, one refresh, no reuse. ``requests`` collects the URLs the
    page asked for."""
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(url)
        page.set_default_timeout(90_000)
        page.evaluate("async () => { await window.authfetch.ready; }")
        stub.reset()
        signed_in = page.evaluate(
            """async (api) => (await window.authfetch.fetch(api + "/api/v1/users/login", {
                method: "POST", headers: {"Content-Type": "application/json"},
                body: JSON.stringify({username: "demo", password: "demo"})})).status""",
            stub.origin,
        )
        assert signed_in == 200, errors
        stub.reset()
        stub.expire()
        statuses = page.evaluate(
            """async (api) => Promise.all(Array.from({length: 100},
                () => window.authfetch.fetch(api + "/api/v1/users/profile").then((r) => r.status, (e) => String(e))))""",
            stub.origin,
        )
        stats = stub.stats()
        assert statuses == [200] * 100, (statuses, errors)
        assert stats["refresh_calls"] == 1, stats
        assert stats["reuse_detected"] == 0, stats
    finally:
        context.close()
