"""The OpenAPI document tells the truth: schemathesis against the real server.

Every check of schemathesis (`-c all`: no server error, only documented status codes and content
types, schema-valid requests accepted, schema-violating ones rejected, `Allow` on 405, response
bodies as documented) over every operation, once as the admin and once anonymous, with the alert
intake configured (its routes then answer 401 to a wrong token, as documented, rather than 503).
Bounded (`--max-examples`) and seeded, so a failure reproduces with the command it prints.
`POST /api/admin/reindex` is left out: each call would rebuild the index.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.main import create_app
from indexer.embed import Embedder
from tests.api_support import ADMIN_TOKEN, CONTENT, settings_for
from tests.browser.harness import ServerThread

ST = Path(sys.executable).with_name("st")



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, kb_index: Path,
           embedder: Embedder) -> Iterator[Any]:
    data = tmp_path_factory.mktemp("schemathesis")
    # A copy of the content: POST /api/incidents/{id}/draft writes into content/drafts/.
    content = shutil.copytree(CONTENT, data / "content")
    settings = settings_for(data, kb_index, content, alerts_token="alerts-token-for-schemathesis-0123",
                            pagerduty_secret="pagerduty-secret-for-schemathesis")
    with ServerThread(create_app(settings, embedder=embedder)) as srv:
        yield srv


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_every_operation_answers_as_documented(server: Any, who: str, tmp_path: Path) -> None:
    header = f"Authorization: Bearer {ADMIN_TOKEN}" if who == "admin" else "X-Caller: anonymous"
    run = subprocess.run(
        [str(ST), "run", f"http://127.0.0.1:{server.port}/openapi.json", "--checks", "all",
         "--max-examples", "12", "--seed", "4", "--header", header, "--no-color",
         "--exclude-path", "/api/admin/reindex", "--request-timeout", "20"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]

