"""The tag routes requests before Python is up by routes.js's table; Python, once up, by the
table config.py compiles. For the same data-* attributes, read by the same code (routes.js,
pythonOptions, then config.tag_arguments, as the embed does), the two must route every URL
alike; a setting the two parsers might read differently must keep the tag from routing early
at all (compileRoutes gives null), so no cookie goes where Python would not send it."""

import json
import pathlib
import re
import shutil
import subprocess

import pytest

from authfetch import AuthClient, UsageError, config
from authfetch.servers import PRESETS, Server
from authfetch.testing import FakeTransport, reply

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROUTES = (ROOT / "frontend/authfetch/routes.js").as_uri()
PAGE = "https://app.test/shop/index.html"
# The tag's data-* attributes (dataset keys), as users write them.
PLAIN = [
    {"refreshUrl": "/api/v1/users/refresh-token"},
    {"refreshUrl": "/api/v1/users/refresh-token", "signInUrl": "/api/v1/users/login", "signOutUrl": "/api/v1/users/logout?x=1"},
    {"refreshUrl": "https://api.test/auth/refresh/", "allowedOrigins": "https://api.test, https://cdn.test:8443/",
     "noRefreshFor": "https://api.test/public/status#top /health", "signInUrl": "https://api.test/auth/login/"},
    {"refreshUrl": "/auth/refresh", "preset": "dj-rest-auth", "signInUrl": "/auth/login/", "noRefreshFor": "https://other.test/x"},
    {"refreshUrl": "/o/token/", "preset": "oauth2", "clientId": "web"},
    {"refreshUrl": "/api/v1/users/refresh-token", "mode": "bearer"},
] + [{"refreshUrl": "/api/token/refresh/", "preset": name} for name in PRESETS]
# Settings the browser and urls.py may read apart (case, default ports, userinfo, escapes,
# non-ASCII, IPv6 forms, paths relative to the page's path): the tag waits for Python.
NOT_PLAIN = [
    {"refreshUrl": "https://API.test:443/auth/refresh/"},
    {"refreshUrl": "../auth/refresh"},
    {"refreshUrl": "token/refresh/"},
    {"refreshUrl": "//api.test/auth/refresh/"},
    {"refreshUrl": "/r", "allowedOrigins": "https://good.test@evil.test"},
    {"refreshUrl": "/r", "allowedOrigins": "https://evil.test\\@good.test"},
    {"refreshUrl": "/r", "allowedOrigins": "https://bücher.test"},
    {"refreshUrl": "/r", "allowedOrigins": "https://api.test:0443"},
    {"refreshUrl": "/r", "allowedOrigins": "http://[0:0::1]:8000"},
    {"refreshUrl": "/r", "allowedOrigins": "https://API%2Etest"},
    {"refreshUrl": "/r", "allowedOrigins": "https://api.test/some/path"},
    {"refreshUrl": "/r", "noRefreshFor": "/api/{id}"},
    {"refreshUrl": "/r", "noRefreshFor": "/café"},
    {"refreshUrl": "/r", "noRefreshFor": "/a/%2e%2e/b"},
    {"refreshUrl": "/r", "signInUrl": "/a/../login"},
    {"refreshUrl": "ftp://api.test/r"},
]
# Request URLs, relative to PAGE, each routed by both tables.
REQUESTS = ["/api/v1/users/profile", "/api/v1/users/refresh-token?x=1", "/api/v1/users/login", "/api/v1/users/logout",
            "/health", "/health/", "https://api.test/public/status?q=1#f", "https://api.test/auth/refresh/",
            "https://api.test:443/auth/login/", "https://cdn.test:8443/img.png", "https://cdn.test/img.png",
            "https://evil.test/", "http://app.test/shop/", "/auth/refresh", "/auth/login/", "https://other.test/x",
            "/o/token/", "/api/token/refresh/", "other/page"]


def node(script):
    executable = shutil.which("node")
    assert executable, "Node.js is needed to run routes.js"
    prelude = f"import {{ compileRoutes, pythonOptions, routeFlags }} from {json.dumps(ROUTES)};"
    out = subprocess.run([executable, "--input-type=module", "-e", prelude + script],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def in_js(cases):
    """For each dataset: routes.js's table (or null), the options it hands Python, and the
    flags it gives each request URL (as the browser resolves it) when it has a table."""
    return node(f"""
        const page = {json.dumps(PAGE)};
        console.log(JSON.stringify({json.dumps(cases)}.map((data) => {{
            const table = compileRoutes(data, page);
            const requests = {json.dumps(REQUESTS)}.map((u) => new URL(u, page).href);
            return {{table, settings: pythonOptions(data), routed: table && requests.map((href) => [href, routeFlags(table, href)])}};
        }})));""")


def python_client(settings):
    base_url, options = config.tag_arguments(settings["options"])
    return AuthClient(base_url, transport=FakeTransport(lambda sent: reply(200), page_url=PAGE), **options)


def normal(table):
    return {**table, "origins": sorted(table["origins"]), "exact": dict(sorted(table["exact"].items()))}


@pytest.fixture(scope="module")
def plain():
    return in_js(PLAIN)


@pytest.mark.parametrize("index", range(len(PLAIN)))
def test_the_tag_and_python_compile_the_same_route_table(plain, index):
    js = plain[index]
    assert js["table"] is not None, f"{PLAIN[index]} is plain: the tag must route it before Python is up"
    client = python_client(js["settings"])
    assert normal(js["table"]) == normal(client.options.routes), PLAIN[index]


@pytest.mark.parametrize("index", range(len(PLAIN)))
def test_every_request_url_travels_alike_before_and_after_python_is_up(plain, index):
    options = python_client(plain[index]["settings"]).options
    for href, flags in plain[index]["routed"]:
        assert flags == options.route(options.resolve(href)), (PLAIN[index], href)


def test_a_setting_the_two_might_read_apart_keeps_the_tag_waiting_for_python():
    answers = in_js(NOT_PLAIN)
    early = [case for case, answer in zip(NOT_PLAIN, answers) if answer["table"] is not None]
    assert not early, f"routed before Python was up: {early}"


def test_python_refuses_userinfo_in_an_allowed_origin_that_the_browser_would_read_as_another_host():
    # Why "@" keeps the tag waiting: the browser reads https://good.test@evil.test as evil.test.
    settings = in_js([NOT_PLAIN[4]])[0]["settings"]
    with pytest.raises(UsageError, match="allowed_origins"):
        python_client(settings)


def test_the_route_numbers_and_body_presets_in_routes_js_are_pythons():
    source = (ROOT / "frontend/authfetch/routes.js").read_text()
    declared = {name: int(value) for name, value in re.findall(r"^const ([A-Z_]+) = (\d+);", source, re.M)}
    assert declared == {name: getattr(config, name) for name in declared} and len(declared) == 5, declared
    body = json.loads(re.search(r"^const BODY_PRESETS = (\[.*\]);", source, re.M).group(1))
    assert sorted(body) == sorted(name for name in PRESETS if Server.preset(name).mode == "bearer"), body
