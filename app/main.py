"""The FastAPI application, built by ``create_app(settings)``; nothing is created at import time.

    >>> app = create_app(Settings(content_dir=Path("content")))
    >>> uvicorn.run(app)

Heavy objects live on ``app.state`` and are loaded in the lifespan: ``settings``, ``index``
(``IndexHolder``: the live searcher), ``engine``, ``sessions``, ``events`` (``EventWriter``),
``compute`` and ``vectors`` (``ComputePool``: where a search's Python half and its dense leg
run),
``rate_limiter`` and ``freshness_lookup`` (``None`` until a provider registers).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.exc import IntegrityError, OperationalError

from app import errors
from app.access import RateLimiter
from app.compute import ComputePool
from app.db import engine_for, session_factory, upgrade
from app.events import EventWriter
from app.index import IndexHolder
from app.models import sync_articles
from app.settings import Settings
from indexer.embed import Embedder
from indexer.search import Searcher

log = logging.getLogger("fieldguide.app")

# Router modules under app/routes, each exposing ``router``. A module may also define
# ``on_startup(app)``, called once the index and the database are ready (the freshness module
# registers ``app.state.freshness_lookup`` there).
ROUTERS = ("health", "search", "articles", "events", "metrics", "admin",
           "freshness", "chat", "deflection", "pages")


def _embedder(settings: Settings, shared: Embedder | None) -> Embedder:
    """The server's embedder, caching document vectors next to the index.

    ``shared``: an already loaded embedder whose model is reused (tests load MiniLM once).
    """
    if shared is not None:
        return shared.with_cache(settings.index_path / "embeddings.sqlite")
    return settings.embedder(serving=True)


def _router_modules() -> list[Any]:
    return [importlib.import_module(f"app.routes.{name}") for name in ROUTERS]


def create_app(settings: Settings, embedder: Embedder | None = None) -> FastAPI:
    """A new, independent application for ``settings`` (its state loads at startup)."""
    modules = _router_modules()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        emb = _embedder(settings, embedder)
        emb.warm_up()
        holder = IndexHolder(settings, emb)
        engine = engine_for(settings)
        upgrade(engine)
        sessions = session_factory(engine)

        def mirror(searcher: Searcher) -> None:
            try:
                with sessions.begin() as session:
                    sync_articles(session, searcher.articles())
            except (IntegrityError, OperationalError) as exc:
                # Another worker mirrored the same snapshot at the same moment.
                log.warning("article sync skipped: %s", exc.__class__.__name__)

        holder.on_swap.append(mirror)
        holder.load_or_build()
        events = EventWriter(sessions)
        events.start()
        state = app.state
        state.compute = ComputePool(settings.compute_threads, "compute")
        state.vectors = ComputePool(settings.vector_threads, "vectors")
        state.index = holder
        state.engine = engine
        state.sessions = sessions
        state.events = events
        state.freshness_lookup = None
        for module in modules:
            hook: Callable[[FastAPI], None] | None = getattr(module, "on_startup", None)
            if hook is not None:
                hook(app)
        holder.start_background()
        try:
            yield
        finally:
            for module in modules:  # e.g. the freshness scheduler's thread
                stop: Callable[[FastAPI], None] | None = getattr(module, "on_shutdown", None)
                if stop is not None:
                    stop(app)
            holder.stop()
            state.compute.close()
            state.vectors.close()
            events.close()
            engine.dispose()

    app = FastAPI(title="Fieldguide", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    errors.install(app)
    for module in modules:
        app.include_router(module.router)
        mount: Callable[[FastAPI], None] | None = getattr(module, "mount", None)
        if mount is not None:
            mount(app)  # sub-applications such as /static, which include_router cannot copy
    if settings.cors_origins:
        # Added last so it is outermost: error responses carry CORS headers too.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    return app
