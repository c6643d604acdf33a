"""The README documents every setting, every CLI command and every HTTP route."""

from __future__ import annotations

import re
from pathlib import Path

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
