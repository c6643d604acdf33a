"""The service layer: every long-lived object of a running service, built once in the lifespan.

    >>> services = Services.start(settings)       # loads the index, migrates, starts threads
    >>> page = await services.search.search(SearchRequest("vpn"), label="anonymous")
    >>> services.close()

Routes reach it through ``ServicesDep`` (``app.deps``) and call typed methods; nothing here
knows HTTP. Domain packages get what they need as values (a ``SearchFn``, a
``FreshnessSource``), never the container.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.compute import ComputePool
from app.db import Probe, commit_unless_abandoned, engine_for, session_factory, upgrade
from app.events import EventWriter
from app.index import IndexHolder
from app.models import sync_articles
from app.published import SnapshotStore
from app.render import article_url
from app.services.incidents import IncidentService
from app.services.search import SearchHit, SearchPage, SearchService
from app.settings import Settings
from chatbot.engine import ChatEngine
from chatbot.handoff import NO_SINK_HELP, RetryPolicy, sink_from_settings
from chatbot.service import ChatService
from freshness.service import FreshnessService
from incidents.config import IncidentsConfig
from indexer.embed import Embedder
from indexer.search import Searcher

__all__ = ["SearchHit", "SearchPage", "SearchService", "Services"]
log = logging.getLogger("fieldguide.app")


@dataclass
class Services:
    settings: Settings
    index: IndexHolder
    engine: Engine
    sessions: sessionmaker[Session]
    events: EventWriter
    compute: ComputePool
    vectors: ComputePool
    search: SearchService
    freshness: FreshnessService
    chat: ChatService
    incidents: IncidentService
    probe: Probe = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def start(cls, settings: Settings, embedder: Embedder | None = None) -> Services:
        """Load (or build) the index, migrate the database, start the background threads.

        ``embedder``: an already loaded embedder whose model is reused (tests load MiniLM once).
        """
        emb = (embedder.with_cache(settings.index_path / "embeddings.sqlite")
               if embedder is not None else settings.embedder(serving=True))
        emb.warm_up()
        engine = engine_for(settings)
        upgrade(engine)
        store = SnapshotStore(engine) if settings.publish_snapshots else None
        index = IndexHolder(settings, emb, store)
        sessions = session_factory(engine)
        index.on_swap.append(lambda searcher: _mirror(sessions, searcher))
        index.load_or_build()
        events = EventWriter(sessions, spool_dir=settings.data_dir / "spool",
                             spool_max_bytes=settings.spool_max_bytes)
        events.start()
        compute = ComputePool(settings.compute_threads, "compute")
        vectors = ComputePool(settings.vector_threads, "vectors")
        freshness = FreshnessService(
            engine, settings.freshness_config(),
            article=lambda article_id: index.searcher.article(article_id),
            articles=lambda: index.searcher.articles())
        # A retired article leaves search and chat at once: the review rebuilds the map, which
        # withdraws it from the live searcher (and each new snapshot starts without it).
        freshness.on_retired = lambda ids: index.searcher.withdraw(ids)
        freshness.refresh()  # the first map: no search waits for it
        index.on_swap.append(lambda searcher: searcher.withdraw(freshness.retired))
        index.on_swap.append(lambda _searcher: freshness.refresh_soon())
        base = settings.public_base
        search = SearchService(index, compute, vectors, url_for=lambda i: base + article_url(i),
                               events=events, freshness=freshness)
        chat_engine = ChatEngine(lambda: index.searcher, emb, settings.chat_config(),
                                 freshness=freshness, search=search.search_fn)
        sink = sink_from_settings(settings)
        if sink is None:
            log.warning("chatbot: %s", NO_SINK_HELP)
        chat = ChatService(chat_engine, sessions, sink=sink,
                           retry=RetryPolicy(settings.ticket_retries,
                                             settings.ticket_backoff_seconds),
                           commit=commit_unless_abandoned,
                           delivery_wait=settings.ticket_timeout_seconds)
        chat_engine.warm_up()
        incidents = IncidentService.build(IncidentsConfig.from_settings(settings), index,
                                          sessions, search.search_fn, freshness,
                                          search.freshness_of)
        services = cls(settings, index, engine, sessions, events, compute, vectors, search,
                       freshness, chat, incidents)
        services.probe = Probe(engine)
        freshness.start()
        incidents.start()
        services._start_chat_sweep()
        index.start_background()
        return services

    def _start_chat_sweep(self) -> None:
        interval = float(self.settings.chat_sweep_seconds)
        if interval <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.chat.sweep()
                except Exception:  # keep sweeping; the next run retries
                    log.exception("chat sweep failed")

        thread = threading.Thread(target=loop, name="fieldguide-chat-sweep", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        """Stop the threads, finish queued work, release the database."""
        self._stop.set()
        self.incidents.close()
        self.freshness.stop()
        self.index.stop()
        self.compute.close()
        self.vectors.close()
        self.events.close()
        self.chat.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.engine.dispose()


def _mirror(sessions: sessionmaker[Session], searcher: Searcher) -> None:
    """The ``articles`` table follows each snapshot swap (metrics join on it)."""
    try:
        with sessions.begin() as session:
            sync_articles(session, searcher.articles())
    except (IntegrityError, OperationalError) as exc:
        # Another worker mirrored the same snapshot at the same moment.
        log.warning("article sync skipped: %s", exc.__class__.__name__)
