# The two commands (see README):
#   make demo   - set everything up, start the stub backend with the demo account, print the URL
#   make test   - set everything up (Chromium, Firefox ESR and WebKitGTK included), run every test
# Everything else here is what those two need, and make dist (the wheel, PyScript configs and
# the one-tag folder in dist/; the tests install from it), and make docs (the documentation
# site in site/, which make demo serves at /docs/).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .stamps
PORT   ?= 8000

.PHONY: demo test bench deps browsers chromium firefox webkit dist docs clean
DIST_SOURCES := pyproject.toml package.json README.md frontend/authfetch.js frontend/authfetch/LICENSE frontend/npm/README.md scripts/make_dist.py \
                $(wildcard frontend/authfetch/*.py frontend/authfetch/*.pyi frontend/authfetch/*.js) frontend/authfetch/py.typed

# --test-controls: the playground's buttons (expire the token, break the next refresh) call
# the stub's /__stub__/ controls. A local demo only: never start a stub reachable by others so.
demo: deps dist docs
	$(PY) -m server_stub --port $(PORT) --test-controls

test: deps browsers dist
	$(PY) -m pytest -q

dist: dist/.built

# Rebuilt when the package changes; built with the venv's pinned setuptools, offline.
dist/.built: $(DIST_SOURCES) $(STAMPS)/python $(STAMPS)/npm
	$(PY) scripts/make_dist.py
	@touch $@

docs: site/index.html

# The documentation site (mkdocs.yml, docs/), offline and strict: a warning (a broken link or
# anchor, a page out of the nav, a docstring mkdocstrings cannot read) fails it. The API reference
# reads the package's docstrings and stubs; the chart is bench/burst.png (scripts/docs_hooks.py).
DOCS_SOURCES := mkdocs.yml scripts/docs_hooks.py bench/burst.png bench/markers.py README.md $(wildcard docs/*.md docs/*/*.md docs/*.png) \
                $(wildcard frontend/authfetch/*.py frontend/authfetch/*.pyi)

# A strict build that fails has written its pages all the same: drop the target, so the next
# make docs builds again. (NO_MKDOCS_2_WARNING: Material's banner about its end of life.)
site/index.html: $(DOCS_SOURCES) $(STAMPS)/python
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site || { rm -f $@; exit 1; }

bench: deps chromium $(STAMPS)/bench
	$(PY) -m bench

$(STAMPS)/bench: pyproject.toml $(STAMPS)/python
	$(PY) -m pip install --quiet --group bench -e .
	@touch $@

deps: $(STAMPS)/python $(STAMPS)/npm $(STAMPS)/wheels/index.json

$(STAMPS)/python: pyproject.toml
	@mkdir -p $(STAMPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --group test -e .
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund
	@touch $@

# The wheels authfetch.sync loads into Pyodide (requests, pyodide-http...), served at /vendor/wheels/.
$(STAMPS)/wheels/index.json: frontend/wheels.txt scripts/fetch_wheels.py $(STAMPS)/python $(STAMPS)/npm
	$(PY) scripts/fetch_wheels.py $(STAMPS)/wheels $(STAMPS)/pyodide-extra

browsers: chromium firefox webkit

chromium: $(STAMPS)/python
	@sh scripts/ensure_chromium.sh $(PY)

firefox:
	@sh scripts/ensure_firefox.sh

webkit:
	@sh scripts/ensure_webkit.sh

clean:
	rm -rf $(VENV) $(STAMPS) node_modules dist site
