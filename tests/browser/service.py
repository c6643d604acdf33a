"""Start the real Fieldguide app for browser tests: its own database, the freshness job run."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path
from typing import Any

from tests.browser.harness import ServerThread, free_port


def has_route(name: str) -> bool:
    """Whether another helper's router module exists yet (chat, freshness...)."""
    return importlib.util.find_spec(f"app.routes.{name}") is not None


def run_freshness(settings: Any) -> None:
    """Run the real freshness job on the server's database, so banners exist before it starts."""
    from app.db import engine_for, session_factory, upgrade
    from freshness.job import Job
    from indexer.content import scan_content
    from indexer.teams import TeamsConfig

    engine = engine_for(settings)
    try:
        upgrade(engine)
        scan = scan_content(Path(settings.content_dir), default_audience=settings.default_audience)
        teams, _ = TeamsConfig.load(Path(settings.content_dir) / "teams.yaml")
        with session_factory(engine)() as session:
            Job(teams, public_url=settings.public_url).run(session, scan.articles, dt.date.today())
    finally:
        engine.dispose()


def start_service(tmp: Path, content: Path, index: Path, embedder: Any,
                  cors_origins: list[str], **overrides: Any) -> ServerThread:
    from app.main import create_app
    from app.settings import Settings

    port = free_port()
    settings = Settings(data_dir=tmp, content_dir=content, index_dir=index,
                        database_url=f"sqlite:///{tmp / 'fieldguide.db'}",
                        cors_origins=cors_origins, public_url=f"http://127.0.0.1:{port}",
                        rate_limit_per_second=0, index_poll_seconds=0, **overrides)
    run_freshness(settings)
    server = ServerThread(create_app(settings, embedder), port=port)
    server.settings = settings  # type: ignore[attr-defined]
    return server.__enter__()


def person_key(server: ServerThread, name: str, email: str, role: Any) -> str:
    """A personal key (``fieldguide keys create``) in the server's database, for /signin."""
    from app.db import engine_for, session_factory
    from app.people import PersonKeys

    engine = engine_for(server.settings)  # type: ignore[attr-defined]
    try:
        return PersonKeys(session_factory(engine)).create(name, email, role).secret
    finally:
        engine.dispose()
