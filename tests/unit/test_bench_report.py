"""make bench writes its tables and targets into the README, between two markers, and nothing else."""

import json
import pathlib
import re

import pytest

from bench import report

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAVED = json.loads((ROOT / "bench/results.json").read_text())


def test_the_run_replaces_only_what_lies_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# before\n{report.BEGIN}\nold tables\n{report.END}\n## after\n")
    report.into_readme(SAVED, readme)
    text = readme.read_text()
    assert text.startswith(f"# before\n{report.BEGIN}\n") and text.endswith(f"{report.END}\n## after\n")
    assert "old tables" not in text
    assert "#### 1. Burst of N GETs right after expiry" in text and "| 200 | authfetch-js |" in text
    # a verdict line per target (whatever this run's verdicts are: results.json is rewritten by each run)
    assert re.search(r"^- (PASS|MISS) authfetch-js burst N=200: exactly 1 refresh and 0 lost in every run$", text, re.M)
    assert re.search(r"^- (PASS|MISS|not resolved) authfetch-js burst N=200 <= 1.20 x raw: ", text, re.M)
    report.into_readme(SAVED, readme)
    assert readme.read_text() == text  # the same run writes the same section


def test_a_readme_without_its_markers_is_refused_not_rewritten(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers here\n")
    with pytest.raises(SystemExit, match="markers"):
        report.into_readme(SAVED, readme)
    assert readme.read_text() == "# no markers here\n"


def test_the_readme_holds_the_two_markers_once_each_in_order():
    # Else a 25-minute make bench would fail only at its very end.
    text = (ROOT / "README.md").read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    assert text.index(report.BEGIN) < text.index(report.END)
