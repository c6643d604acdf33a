"""The database layer: engines with bounded waits, sessions, every package's tables, migrations.

SQLite (a file) by default, PostgreSQL for several replicas. Each package declares its tables on its
own declarative base (``app.models``, ``chatbot.models``, ``freshness.models``), so the search
engine knows nothing of SQL; ``all_metadata()`` is the complete schema Alembic migrates.

    >>> engine = engine_for(settings)      # connect, statement, pool and busy timeouts applied
    >>> upgrade(engine)                    # creates or migrates every table to the newest revision

No wait on the database is unbounded: PostgreSQL gets ``connect_timeout``, a server-side
``statement_timeout`` and a client-side deadline on every wait for an answer (a frozen server
enforces no timeout of its own); the pool a ``pool_timeout``; SQLite a busy timeout. After a
connection-level failure the engine's ``DatabaseGate`` fails checkouts at once for a cool-down
(``DatabaseUnavailable``), so a dead database costs requests nothing but a fast 503
``database_unavailable`` and holds no thread.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from app.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
INITIAL_REVISION = "0001_initial"


@dataclass(frozen=True)
class DbTimeouts:
    """Every bound on a database wait, in seconds (``Settings.db_timeouts()`` builds it)."""

    connect: float = 3.0  # PostgreSQL connect_timeout (libpq rounds up, minimum 2)
    statement: float = 5.0  # PostgreSQL statement_timeout; the client gives up a little later
    pool: float = 3.0  # waiting for a pooled connection
    busy: float = 10.0  # SQLite busy timeout (another writer holds the file)
    retry_after: float = 5.0  # the gate's cool-down, and the Retry-After of the 503

    @property
    def client_wait(self) -> float:
        """How long the client waits for any answer: past the server's own statement timeout,
        so a slow query is cancelled by the server (the connection stays usable) and only a
        server that does not answer at all (frozen, partitioned) is cut off here."""
        return self.statement + max(1.0, self.statement * 0.2)


class DatabaseUnavailable(Exception):
    """The database is down (or was a moment ago): answer 503 and try again after ``retry_after``."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseGate:
    """A circuit breaker in front of the pool: closed (normal), open (fail fast), half-open.

    A connection-level failure opens it for ``cooldown`` seconds; then one checkout at a time
    probes the database while the others still fail fast, and its success closes the gate."""

    def __init__(self, cooldown: float, clock: Any = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._probing = False
        self.failures = 0
        self.last_error: str | None = None

    @property
    def down(self) -> bool:
        return self._open_until > 0.0

    def cooling(self) -> bool:
        """Open and still within its cool-down: no checkout is tried."""
        return self.down and self._clock() < self._open_until

    def retry_after(self) -> float:
        return max(1.0, self._open_until - self._clock()) if self.down else self.cooldown

    def enter(self) -> bool:
        """Whether a checkout may go ahead (True: it is the half-open probe or the gate is
        closed); raises ``DatabaseUnavailable`` while open."""
        with self._lock:
            if not self.down:
                return False
            if self._clock() >= self._open_until and not self._probing:
                self._probing = True
                return True
        raise DatabaseUnavailable(f"the database is unavailable ({self.last_error}); retrying "
                                  "shortly", self.retry_after())

    def succeeded(self) -> None:
        with self._lock:
            self._open_until = 0.0
            self._probing = False

    def failed(self, error: str) -> None:
        with self._lock:
            self._open_until = self._clock() + self.cooldown
            self._probing = False
            self.failures += 1
            self.last_error = error

    def release_probe(self) -> None:
        with self._lock:
            self._probing = False


class _GatedQueuePool(QueuePool):
    gate: DatabaseGate  # set on the per-engine subclass

    def connect(self) -> Any:
        probe = self.gate.enter()
        try:
            conn = super().connect()
        except BaseException:
            if probe:
                self.gate.release_probe()  # handle_error has opened it again if it was an outage
            raise
        if probe:
            self.gate.succeeded()
        return conn


def gate_of(engine: Engine) -> DatabaseGate | None:
    return getattr(engine.pool, "gate", None)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` means "the database is not there" (503), not a bug of ours (500)."""
    if isinstance(exc, DatabaseUnavailable | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        module = type(orig).__module__
        if module.startswith("psycopg"):
            import psycopg

            return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
        if module.startswith("sqlite3"):
            message = str(orig).lower()
            return any(m in message for m in ("locked", "busy", "unable to open", "disk i/o",
                                              "disk is full"))
    return False


def _connection_lost(exc: BaseException) -> bool:
    """An outage of the server itself (no answer, refused, cut), not one slow statement."""
    if isinstance(exc, sa_exc.DBAPIError):
        import psycopg

        if isinstance(exc.orig, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable):
            return False
        return exc.connection_invalidated or isinstance(
            exc.orig, psycopg.OperationalError | psycopg.InterfaceError)
    return False


def _deadline_connection_class() -> Any:
    import psycopg
    from psycopg import errors

    class DeadlineConnection(psycopg.Connection):
        """A psycopg connection whose every wait for the server ends after ``wait_timeout``.

        psycopg waits forever for an answer by default, and a stopped (SIGSTOP) server neither
        answers nor enforces its statement_timeout: 45 chat turns then held 45 threads. On
        timeout the connection is closed, since its state is unknown; SQLAlchemy sees a closed
        connection and invalidates it."""

        wait_timeout: float | None = None

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            bound = timeout if timeout is not None else self.wait_timeout
            try:
                return super().wait(gen, interval=interval, timeout=bound)
            except errors._WaitTimeout:
                self.pgconn.finish()
                raise psycopg.OperationalError(
                    f"the database did not answer within {bound:g} s") from None

    return DeadlineConnection


def _postgres_args(url: str, timeouts: DbTimeouts) -> dict[str, Any]:
    options = make_url(url).query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    statement_ms = int(timeouts.statement * 1000)
    own = f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}"
    return {"connect_timeout": max(2, math.ceil(timeouts.connect)),
            "options": f"{options} {own}".strip()}


def make_engine(url: str, timeouts: DbTimeouts | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` whose every wait is bounded by ``timeouts``; SQLite gets WAL,
    foreign keys and a busy timeout."""
    timeouts = timeouts or DbTimeouts()
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    sqlite = url.startswith("sqlite")
    if sqlite:
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": timeouts.busy})
    else:
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_timeout", timeouts.pool)
        kwargs.setdefault("connect_args", _postgres_args(url, timeouts))
        gate = DatabaseGate(timeouts.retry_after)
        kwargs.setdefault("poolclass", type("GatedQueuePool", (_GatedQueuePool,), {"gate": gate}))
    engine = create_engine(url, **kwargs)
    if sqlite:
        busy_ms = int(timeouts.busy * 1000)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.close()
        return engine
    connection_class = _deadline_connection_class()

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        conn = connection_class.connect(*cargs, **cparams)
        conn.wait_timeout = timeouts.client_wait
        return conn

    @event.listens_for(engine, "handle_error")
    def _outage(context: Any) -> None:
        gate = gate_of(engine)
        if gate is not None and _connection_lost(context.sqlalchemy_exception):
            gate.failed(str(context.original_exception).splitlines()[0][:200])

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def all_metadata() -> tuple[MetaData, ...]:
    """Every package's tables: what migrations create and what a schema comparison checks."""
    import app.models
    import app.people
    import app.published
    import app.sessions
    import chatbot.models
    import freshness.models
    import incidents.models

    return (app.models.Base.metadata, chatbot.models.Base.metadata, freshness.models.Base.metadata,
            incidents.models.Base.metadata)


def engine_for(settings: Settings) -> Engine:
    assert settings.database_url is not None  # filled in by the settings validator
    return make_engine(settings.database_url, settings.db_timeouts())


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision`` (default: the newest)."""
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # A migration may rewrite a big table: the request timeouts are not for it.
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
            connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
            raw = connection.connection.dbapi_connection
            saved = getattr(raw, "wait_timeout", None)
            raw.wait_timeout = None  # type: ignore[union-attr]
        try:
            # env.py runs the migrations on this connection instead of opening its own.
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        finally:
            if connection.dialect.name == "postgresql":
                raw.wait_timeout = saved  # type: ignore[union-attr]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # no table yet: an empty database
            return None


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def commit_unless_abandoned(session: Session, abandoned: threading.Event,
                            deadline: float | None = None) -> None:
    """Commit ``session``'s transaction unless its request was abandoned (``abandoned`` set)
    or, on PostgreSQL, unless the server reaches COMMIT after ``deadline`` (a ``time.time()``).

    The deadline check and the COMMIT travel in one message and run back to back in the server:
    a server frozen (SIGSTOP) while the request waited reads the COMMIT only when it wakes, long
    after the client gave up, and must not commit then. Raises ``chatbot.service.TurnAbandoned``
    (rolled back). A ``chatbot.service.Commit``."""
    from chatbot.service import TurnAbandoned

    if abandoned.is_set():
        raise TurnAbandoned("the request was abandoned before its commit")
    connection = session.connection()
    if connection.dialect.name != "postgresql" or deadline is None:
        session.commit()
        return
    # The deadline as a literal (simple query protocol: no parameters), from our own float.
    guard = (f"DO $$BEGIN IF extract(epoch FROM clock_timestamp()) > {float(deadline)!r} THEN "
             "RAISE EXCEPTION 'fieldguide: request abandoned before its commit' USING "
             "ERRCODE = '57014'; END IF; END$$; COMMIT")
    raw = connection.connection.dbapi_connection
    assert raw is not None
    import psycopg

    cursor = raw.cursor()
    try:
        cursor.execute(guard)
    except psycopg.errors.QueryCanceled as exc:
        session.rollback()
        if "fieldguide: request abandoned" not in str(exc):
            # The statement timeout: the database is slow, not the request gone.
            raise DatabaseUnavailable("the commit timed out", 5.0) from exc
        raise TurnAbandoned(str(exc).splitlines()[0]) from None
    except psycopg.Error as exc:  # outside SQLAlchemy: its handle_error does not see this one
        connection.invalidate(exc)
        gate = gate_of(connection.engine)
        if gate is not None and isinstance(exc, psycopg.OperationalError):
            gate.failed(str(exc).splitlines()[0][:200])
        raise DatabaseUnavailable("the commit failed", 5.0) from exc
    finally:
        cursor.close()
    session.commit()  # nothing left to commit: closes SQLAlchemy's side of the transaction


class Probe:
    """``SELECT 1`` with an answer in bounded time, one probe in flight at a time.

    ``/readyz`` runs on the event loop: it must answer within ``timeout`` even when the server
    is frozen, and a load balancer polling it every second must not pile up waiting threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._done: threading.Event | None = None
        self._error: BaseException | None = None

    def check(self, timeout: float) -> BaseException | None:
        """None when the database answered within ``timeout``, else why not."""
        gate = gate_of(self.engine)
        if gate is not None and gate.cooling():
            return DatabaseUnavailable(f"the database is unavailable ({gate.last_error})",
                                       gate.retry_after())
        with self._lock:
            done = self._done
            if done is None:
                done = self._done = threading.Event()
                threading.Thread(target=self._ping, args=(done,), name="fieldguide-db-probe",
                                 daemon=True).start()
        if not done.wait(timeout):
            return DatabaseUnavailable(f"the database did not answer within {timeout:g} s",
                                       gate.retry_after() if gate else timeout)
        return self._error

    def _ping(self, done: threading.Event) -> None:
        error: BaseException | None = None
        try:
            ping(self.engine)
        except Exception as exc:
            error = exc
        with self._lock:
            self._error = error
            self._done = None
        done.set()
