"""The documentation site (issue 22): it builds offline with warnings as errors, so a broken
link or anchor fails it; the API reference carries the docstrings; the benchmark's chart is in it."""

import html
import re
import shutil

import pytest

from tests.conftest import ROOT
from tests.support.docs_site import build_docs, built_docs


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("docs") / "site"
    built_docs(path)
    return path


def text_of(page):
    """A built page's readable text, tags dropped and whitespace folded."""
    markup = page.read_text()
    markup = markup[markup.index("<article"):markup.index("</article>")]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markup)))


def test_the_site_builds_strictly(site):
    assert (site / "index.html").is_file()
    assert (site / "404.html").is_file()


def test_the_api_reference_renders_the_docstrings_and_the_keywords(site):
    client = text_of(site / "reference/client/index.html")
    # AuthClient's methods' docstrings (frontend/authfetch/client.py) ...
    assert "Send a request (await it); a Response comes back for every HTTP status" in client
    assert "Sign in: POST the credentials; a 2xx makes the session live again." in client
    assert "Counters of the shared session" in client
    # ... and its keywords, with the types of the .pyi stubs merged in.
    for keyword in ("refresh_url", "login_url", "logout_url", "allowed_origins", "max_in_flight", "share_token"):
        assert keyword in client, keyword
    assert "refresh_url : str" in client
    for name in ("fetch", "get", "post", "put", "patch", "delete", "login", "logout", "close"):
        assert f'id="authfetch.AuthClient.{name}"' in (site / "reference/client/index.html").read_text(), name

    models = text_of(site / "reference/models/index.html")
    assert "Case-insensitive, order-keeping header pairs." in models
    assert "What came back." in models
    errors = text_of(site / "reference/errors/index.html")
    assert "The one error tree of authfetch." in errors
    for name in ("UsageError", "HTTPStatusError", "NetworkError", "RequestTimeout", "NonReplayableBody",
                 "RefreshFailed", "SessionExpired"):
        assert name in errors, name
    sync = text_of(site / "reference/sync/index.html")
    assert "Send every requests and urllib.request call through api" in sync
    servers = text_of(site / "reference/servers/index.html")
    assert "How one server speaks" in servers


def test_the_benchmark_page_shows_the_chart(site):
    page = (site / "benchmark/index.html").read_text()
    assert re.search(r'<img[^>]+src="burst\.png"', page), "the benchmark page does not show burst.png"
    chart = site / "benchmark/burst.png"
    assert chart.read_bytes() == (ROOT / "bench/burst.png").read_bytes()
    assert not (ROOT / "docs/benchmark/burst.png").exists(), "the chart has one copy: bench/burst.png"


def test_the_quick_starts_name_the_current_wheel(site):
    from authfetch import __version__

    assert f"authfetch-{__version__}-py3-none-any.whl" in text_of(site / "quickstart/pyodide/index.html")
    assert "{{ version }}" not in "".join(p.read_text() for p in site.rglob("*.html"))


def test_nothing_loads_from_another_host(site):
    """No CDN script, stylesheet, font or image: the site works offline, as make demo serves it."""
    remote = re.compile(r"""<(?:script|link|img|source|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""", re.I)
    for page in site.rglob("*.html"):
        found = remote.findall(page.read_text())
        assert not found, f"{page.relative_to(site)} loads {found}"
    for sheet in site.rglob("*.css"):
        imports = re.findall(r"""(?:@import|url\()\s*["']?(?:https?:)?//""", sheet.read_text())
        assert not imports, f"{sheet.relative_to(site)} loads a remote resource"
    assert "fonts.googleapis" not in "".join(p.read_text() for p in site.rglob("*.html"))


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is what catches broken links: a copy of the sources with one must not build."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copytree(ROOT / "frontend/authfetch", copy / "frontend/authfetch", ignore=shutil.ignore_patterns("*.js", "__pycache__"))
    (copy / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/docs_hooks.py", copy / "scripts/docs_hooks.py")
    (copy / "bench").mkdir()
    shutil.copy(ROOT / "bench/burst.png", copy / "bench/burst.png")
    for name in ("__init__.py", "markers.py"):
        shutil.copy(ROOT / "bench" / name, copy / "bench" / name)
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copy(ROOT / "README.md", copy / "README.md")  # the benchmark page takes its results section
    page = copy / "docs/guides/csp.md"
    page.write_text(page.read_text() + "\nSee [a page that is not there](no-such-page.md).\n")
    done = build_docs(tmp_path / "site", cwd=copy)
    assert done.returncode != 0, f"a broken link built:\n{done.stdout}\n{done.stderr}"
    assert "no-such-page.md" in done.stderr, done.stderr
