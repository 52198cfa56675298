"""MkDocs hooks for the documentation site (mkdocs.yml's ``hooks``).

- The benchmark's chart joins the site from where ``make bench`` writes it, ``bench/burst.png``,
  as ``benchmark/burst.png``: one copy in the repository, none under docs/.
- ``{{ version }}`` in a page is ``authfetch.__version__``, read from the package's source
  (frontend/authfetch/__init__.py), so the quick starts name the wheel ``make dist`` writes.
- ``{{ bench_results }}`` is the README's benchmark results, from its first marker to its next
  section: what the last full ``make bench`` wrote there (its tables and targets) and what the
  README says of them. One copy, the README's.
"""

import pathlib
import re

import sys

from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.markers import BEGIN, END  # noqa: E402 (the markers make bench writes between)
CHART = ROOT / "bench" / "burst.png"
CHART_URI = "benchmark/burst.png"


def version():
    text = (ROOT / "frontend" / "authfetch" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def on_files(files, config):
    files.append(File.generated(config, CHART_URI, abs_src_path=str(CHART)))
    return files




def bench_results():
    text = (ROOT / "README.md").read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"README.md should hold {BEGIN!r} and {END!r} once each: make bench writes between them")
    section = text.split(BEGIN, 1)[1].split("\n## ", 1)[0]
    return section.replace(END, "").strip()


def on_page_markdown(markdown, page, config, files):
    if "{{ bench_results }}" in markdown:
        markdown = markdown.replace("{{ bench_results }}", bench_results())
    return markdown.replace("{{ version }}", version())
