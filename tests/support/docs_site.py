"""Builds the documentation site (mkdocs.yml) the way ``make docs`` does: strict, offline."""

import os
import subprocess
import sys

from tests.conftest import ROOT

BUILD_TIMEOUT_S = 300


def build_docs(site_dir, *, config=None, cwd=ROOT):
    """``python -m mkdocs build --strict`` into ``site_dir``; the finished process (not checked)."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)]
    if config is not None:
        command += ["--config-file", str(config)]
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # Material's end-of-life banner
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)


def built_docs(site_dir):
    """Builds the site into ``site_dir``, failing with mkdocs' own output if the build fails."""
    done = build_docs(site_dir)
    assert done.returncode == 0, f"mkdocs build --strict failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done
