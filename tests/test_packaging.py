"""Installing Fieldguide as the Quickstart does (issue 17 item 11).

1. setuptools reads pyproject.toml without a deprecation warning: the licence is an SPDX
   expression with its file (`project.license` as a table is deprecated).
2. `make install` lets pip say what it does (no --quiet on the long installs), and turns the
   progress bars off where CI is set, so CI logs stay readable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
from setuptools.config.pyprojecttoml import apply_configuration
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_declares_an_spdx_licence_without_setuptools_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dist = apply_configuration(Distribution(), ROOT / "pyproject.toml")
    assert [str(w.message).splitlines()[0] for w in caught] == []
    assert dist.metadata.license_expression == "Apache-2.0"
    assert dist.metadata.license_files == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def _install_commands(tmp_path: Path, ci: bool) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    done = subprocess.run(["make", "-n", "-B", "install", f"VENV={tmp_path / 'venv'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if " -m pip install " in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_install_shows_pip_progress_and_keeps_ci_logs_plain(tmp_path: Path) -> None:
    local = _install_commands(tmp_path, ci=False)
    long_ones = [line for line in local if "torch" in line or " -e ." in line]
    assert len(long_ones) == 2, local
    assert all("--quiet" not in line and "--progress-bar off" not in line for line in long_ones)
    ci = _install_commands(tmp_path, ci=True)
    assert ci and all("--progress-bar off" in line for line in ci)
