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


BEGIN = "<!-- bench results: written by make bench -->"  # bench/report.py's marker


def bench_results():
    text = (ROOT / "README.md").read_text()
    if BEGIN not in text:
        raise ValueError(f"README.md has no {BEGIN!r}: make bench writes its results after it")
    section = text.split(BEGIN, 1)[1].split("\n## ", 1)[0]
    return section.replace("<!-- end of bench results -->", "").strip()


def on_page_markdown(markdown, page, config, files):
    if "{{ bench_results }}" in markdown:
        markdown = markdown.replace("{{ bench_results }}", bench_results())
    return markdown.replace("{{ version }}", version())
