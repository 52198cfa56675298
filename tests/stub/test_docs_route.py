"""The stub serves the documentation site at /docs/ (make demo): here a site built into a
temporary directory for the test, given to the stub as its docs_dir."""

import pathlib

import pytest

from server_stub.app import ROOT
from tests.support.docs_site import built_docs


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("stub-docs") / "site"
    built_docs(path)
    return path


def test_by_default_the_site_is_the_one_make_docs_builds(make_stub, tmp_path):
    # Without docs_dir the stub serves <app root>/site/, where make docs writes (--site-dir site).
    (tmp_path / "site").mkdir()
    (tmp_path / "site/index.html").write_text("<!doctype html><title>the built site</title>")
    stub = make_stub(app_root=str(tmp_path))
    response = stub.client.get("/docs/")
    assert response.status_code == 200 and "the built site" in response.text, response.text
    assert "--site-dir site" in (ROOT / "Makefile").read_text()


def test_docs_serves_the_built_index(make_stub, site):
    stub = make_stub(docs_dir=str(site))
    response = stub.client.get("/docs/")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == (site / "index.html").read_text()
    assert "<title>authfetch</title>" in response.text


def test_docs_serves_pages_assets_and_the_chart(make_stub, site):
    stub = make_stub(docs_dir=str(site))
    assert stub.client.get("/docs/reference/client/").text == (site / "reference/client/index.html").read_text()
    chart = stub.client.get("/docs/benchmark/burst.png")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    css = next(pathlib.Path(site, "assets/stylesheets").glob("main.*.min.css"))
    assert stub.client.get(f"/docs/assets/stylesheets/{css.name}").status_code == 200


def test_docs_without_the_slash_redirects_and_a_missing_page_is_the_sites_404(make_stub, site):
    stub = make_stub(docs_dir=str(site))
    response = stub.client.get("/docs", follow_redirects=False)
    assert response.status_code in (301, 307, 308) and response.headers["location"].endswith("/docs/")
    missing = stub.client.get("/docs/no-such-page/")
    assert missing.status_code == 404
    assert missing.text == (site / "404.html").read_text()
