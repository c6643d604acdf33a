"""The README documents every setting, every CLI command and every HTTP route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.cli import build_parser
from app.main import create_app
from app.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    env = name.upper()
    assert f"FIELDGUIDE_{env}" in README or f"`{env}`" in README, f"FIELDGUIDE_{env}"


def test_every_cli_command_is_documented() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in sub.choices:  # type: ignore[union-attr]
        assert f"fieldguide {command}" in README, command


def test_every_http_route_is_documented(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    paths = set(app.openapi()["paths"])
    assert paths
    # Parameter names may differ between code and docs ({article_id} vs {id}).
    documented = {re.sub(r"\{[^}]*\}", "{}", p) for p in re.findall(r"/[\w/{}.:-]*", README)}
    missing = [p for p in sorted(paths) if re.sub(r"\{[^}]*\}", "{}", p) not in documented]
    assert missing == []


def _operations(tmp_path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    spec = create_app(Settings(data_dir=tmp_path)).openapi()
    return [(method.upper(), path, op) for path, ops in spec["paths"].items()
            for method, op in ops.items()]


def test_every_json_route_declares_its_response_model(tmp_path: Path) -> None:
    """/openapi.json is the contract: each JSON answer is a named model, not a bare object."""
    loose = []
    for method, path, op in _operations(tmp_path):
        ok = next(r for code, r in op["responses"].items() if code.startswith("2"))
        schema = ok.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None and "$ref" not in schema:
            loose.append(f"{method} {path}: {schema}")
    assert loose == []


def test_readme_route_table_matches_openapi(tmp_path: Path) -> None:
    """Every operation is a row of the README's route tables, method included."""
    rows = {re.sub(r"\{[^}]*\}", "{}", m.group(1) + " " + m.group(2).split("?")[0])
            for m in re.finditer(r"^\| `(GET|POST|PATCH|PUT|DELETE) ([^`\s]+)", README, re.M)}
    missing = [f"{method} {path}" for method, path, _ in _operations(tmp_path)
               if re.sub(r"\{[^}]*\}", "{}", f"{method} {path}").replace(":path", "")
               not in rows]
    assert missing == []
