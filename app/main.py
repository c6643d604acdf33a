"""The FastAPI application, built by ``create_app(settings)``; nothing is created at import time.

    >>> app = create_app(Settings(content_dir=Path("content")))
    >>> uvicorn.run(app)

Everything long-lived is one ``Services`` (``app.services``), built in the lifespan and kept on
``app.state.services``; routes reach it through ``ServicesDep``. ``app.state.settings`` and
``app.state.rate_limiter`` exist from construction (they need no startup).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import errors, logredact, oidc, openapi
from app.abuse import AuthGuard
from app.identity import Identity
from app.origins import HeadAsGet, RefusedOriginLog
from app.ratelimit import rate_limiter
from app.routes import (
    admin,
    articles,
    chat,
    chatops,
    coverage,
    deflection,
    events,
    freshness,
    health,
    hooks,
    incident_pages,
    incidents,
    insights,
    metrics,
    pages,
    results,
    search,
    signin,
    sso,
)
from app.security import SecurityHeaders, allowed_hosts
from app.services import Services
from app.settings import Settings
from indexer.embed import Embedder

log = logging.getLogger("fieldguide.app")

# Every router, in the order their routes are matched (pages last: its paths are the widest).
ROUTERS: tuple[APIRouter, ...] = (
    health.router, search.router, articles.router, events.router, metrics.router, admin.router,
    freshness.router, chat.router, deflection.router, hooks.router, chatops.router,
    coverage.router, signin.router, sso.router, incidents.router, incident_pages.router,
    insights.router, results.router, pages.router)


def create_app(settings: Settings, embedder: Embedder | None = None) -> FastAPI:
    """A new, independent application for ``settings`` (its services start in the lifespan).

    ``embedder``: an already loaded embedder whose model is reused (tests load MiniLM once)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.start(settings, embedder)
        state = app.state
        state.services = services
        # The same objects under their own names, for probes and tests that need only one.
        state.index, state.engine, state.sessions, state.events = (
            services.index, services.engine, services.sessions, services.events)
        state.identity = Identity.build(settings, services.sessions)  # keys and sessions
        try:
            yield
        finally:
            services.close()

    app = FastAPI(title="Fieldguide", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.rate_limiter = rate_limiter(settings, "search", settings.rate_limit_per_second,
                                          settings.rate_limit_burst)
    # "Was this helpful?" votes, per client address (app.routes.articles).
    app.state.vote_limiter = rate_limiter(settings, "votes", settings.votes_per_minute / 60,
                                          max(1, math.ceil(settings.votes_per_minute)))
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    openapi.install(app)
    pages.mount(app, settings.static_dir)  # a sub-application, which include_router cannot copy
    oidc.install(app, settings)  # single sign-on, when configured
    logredact.install()  # no sign-in secret in an access-log line
    app.add_middleware(HeadAsGet)  # HEAD / like GET, without the body (inside the Host check)
    app.add_middleware(AuthGuard, limiter=rate_limiter(settings, "auth",
                                                       settings.auth_failures_per_minute / 60,
                                                       settings.auth_failure_burst),
                       secure_cookie=settings.public_base.startswith("https://"))
    app.add_middleware(SecurityHeaders,
                       hosts=allowed_hosts(settings.allowed_hosts, settings.public_url))
    if settings.cors_origins:
        # Added last so it is outermost: error responses carry CORS headers too.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["GET", "POST", "OPTIONS"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    # Outermost, so it sees the preflights CORSMiddleware answers itself: a wiki missing from
    # the setting is named in the log (once per origin per 10 minutes).
    app.add_middleware(RefusedOriginLog, allowed=settings.cors_origins, own=settings.public_base)
    return app
