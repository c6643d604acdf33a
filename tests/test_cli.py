"""The `fieldguide` command line: lint, index, search and batch search, as a user runs them."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from tests.conftest import CONTENT


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_lint_passes_on_the_sample_knowledge_base() -> None:
    code, out = run_cli("lint", "--content", str(CONTENT), "--errors-only")
    assert code == 0, out
    assert out == ""


def test_lint_reports_path_line_code_and_fails(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: A\nsymptoms: x\nowner: o@example.com\n"
                                   "last_reviewed: 2026-02-30\n---\n## Symptom\nBroken.\n")
    code, out = run_cli("lint", "--content", str(tmp_path))
    assert code == 1
    assert "a.md:5: bad-date `last_reviewed` is '2026-02-30'" in out
    assert "a.md:1: missing-section missing section `## Resolution`" in out


def test_missing_content_directory_is_one_clear_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_cli("lint", "--content", str(tmp_path / "nope"))
    assert code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err
    assert "Traceback" not in err


def test_search_without_an_index_says_what_to_do(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_cli("search", "vpn", "--index", str(tmp_path / "empty"))
    assert code == 2
    assert "run `fieldguide index` first" in capsys.readouterr().err


def test_search_json_and_batch_json_lines(kb_index: Path, tmp_path: Path) -> None:
    code, out = run_cli("search", "--index", str(kb_index), "--json", "--explain",
                        "KubePodOOMKilled")
    assert code == 0
    payload = json.loads(out)
    assert payload["results"][0]["id"] == "kubernetes-pod-oomkilled"
    assert "tags" in payload["results"][0]["explain"]
    queries = tmp_path / "queries.txt"
    queries.write_text("VPN says the connection attempt failed\n\nKubePodOOMKilled\n")
    code, out = run_cli("search", "--index", str(kb_index), "--batch", str(queries),
                        "--limit", "3")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [row["query"] for row in lines] == ["VPN says the connection attempt failed",
                                              "KubePodOOMKilled"]
    for row in lines:
        assert 0 < len(row["results"]) <= 3
        assert set(row["results"][0]) == {"id", "path", "title", "score"}
    assert lines[1]["results"][0]["path"] == "engineering/kubernetes-pod-oomkilled.md"


def test_engine_packages_never_import_the_web_layer() -> None:
    """indexer <- chatbot, freshness <- app: the engine stays usable without FastAPI."""
    code = ("import sys, indexer.search, indexer.build, chatbot.engine, freshness.job; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('app', 'fastapi', 'starlette')]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


NUMERIC_PROBE = """
import json, os, numpy
from threadpoolctl import threadpool_info
from app.server import single_threaded_numerics
single_threaded_numerics()
print(json.dumps({"env": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
                  "blas": sorted({i["num_threads"] for i in threadpool_info()
                                  if i["user_api"] == "blas"})}))
"""


@pytest.mark.parametrize("operator_setting", [None, "2"])
def test_serve_runs_numeric_libraries_single_threaded(operator_setting: str | None) -> None:
    """`fieldguide serve` limits BLAS/OpenMP to one thread per call (loaded libraries and
    worker processes), unless the operator chose a thread count."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if operator_setting:
        env["OPENBLAS_NUM_THREADS"] = operator_setting
    out = subprocess.run([sys.executable, "-c", NUMERIC_PROBE], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    if operator_setting is None:
        assert seen == {"env": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}, "blas": [1]}
    else:
        assert seen["env"] == {"OMP_NUM_THREADS": None, "OPENBLAS_NUM_THREADS": "2"}


def _parsers() -> list[tuple[str, Any]]:
    from app.cli import build_parser

    found: list[tuple[str, Any]] = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        found.append((name, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    walk(f"{name} {sub}", child)

    walk("fieldguide", build_parser())
    return found


def test_every_help_is_plain_text_and_every_option_says_what_it_does() -> None:
    """`fieldguide --help` shows no reStructuredText markup; --limit, --port and the rest
    have help (issue 17 item 11)."""
    parsers = _parsers()
    assert {"fieldguide search", "fieldguide serve", "fieldguide keys create"} <= {
        name for name, _ in parsers}
    for name, parser in parsers:
        assert "`" not in parser.format_help(), name
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"{name} {'/'.join(action.option_strings) or action.dest}"
    top = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True,
                         text=True, check=True, cwd=CONTENT.parent).stdout
    assert "The fieldguide command line" in top and "`" not in top


def test_content_that_is_a_file_says_so(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    code, _ = run_cli("index", "--content", str(CONTENT.parent / "README.md"),
                      "--index", str(tmp_path / "index"))
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "README.md is a file, not a directory" in err[0]
    assert "does not exist" not in err[0]
