"""MkDocs hooks for the documentation site (mkdocs.yml's ``hooks``).

- The benchmark's chart joins the site from where ``make bench`` writes it, ``bench/burst.png``,
  as ``benchmark/burst.png``: one copy in the repository, none under docs/.
- ``{{ version }}`` in a page is ``authfetch.__version__``, read from the package's source
  (frontend/authfetch/__init__.py), so the quick starts name the wheel ``make dist`` writes.
"""

import pathlib
import re

from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHART = ROOT / "bench" / "burst.png"
CHART_URI = "benchmark/burst.png"


def version():
    text = (ROOT / "frontend" / "authfetch" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def on_files(files, config):
    files.append(File.generated(config, CHART_URI, abs_src_path=str(CHART)))
    return files


def on_page_markdown(markdown, page, config, files):
    return markdown.replace("{{ version }}", version())
