"""The ``fieldguide`` command line: index, lint, search, serve, freshness, coverage, chat.

Heavy imports happen inside each command so ``fieldguide lint`` starts in a blink.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from indexer.article import Audience, Severity


class CliError(Exception):
    """A problem the user can fix: printed as one line, exit code 2, no traceback."""


def _settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from app.settings import Settings, settings_error

    overrides: dict[str, Any] = {}
    for name in ("content_dir", "index_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    try:
        return Settings(**overrides)
    except (ValidationError, ValueError) as exc:
        raise CliError(f"invalid settings: {settings_error(exc)}") from None


def _embedder(settings: Any) -> Any:
    return settings.embedder(serving=False)


def cmd_lint(args: argparse.Namespace, out: TextIO) -> int:
    from indexer.content import scan_content

    settings = _settings(args)
    try:
        scan = scan_content(Path(settings.content_dir), default_audience=settings.default_audience,
                            audiences=settings.audience_vocabulary)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    errors = warnings = 0
    for issue in sorted(scan.issues, key=lambda i: (i.path, i.line, i.code)):
        if issue.severity is Severity.ERROR:
            errors += 1
        else:
            warnings += 1
            if args.errors_only:
                continue
        label = "" if issue.severity is Severity.ERROR else " (warning)"
        print(f"{issue}{label}", file=out)
    n = len(scan.drafts)
    drafts = f", {n} draft{'s' if n != 1 else ''} (not indexed)" if n else ""
    print(f"{scan.files} files, {len(scan.articles)} articles{drafts}: {errors} errors, "
          f"{warnings} warnings", file=sys.stderr)
    return 1 if errors else 0


def cmd_index(args: argparse.Namespace, out: TextIO) -> int:
    from app.progress import EmbedProgress
    from indexer.build import build_index
    from indexer.embed import ModelUnavailableError

    settings = _settings(args)
    try:
        with EmbedProgress(sys.stderr) as progress:
            report = build_index(Path(settings.content_dir), settings.index_path,
                                 _embedder(settings), default_audience=settings.default_audience,
                                 audiences=settings.audience_vocabulary,
                                 faiss_kind=settings.faiss_index, progress=progress,
                                 hnsw_min_chunks=settings.faiss_hnsw_min_chunks)
    except (FileNotFoundError, ModelUnavailableError) as exc:
        raise CliError(str(exc)) from exc
    skipped = set(report.skipped)
    for issue in report.issues:
        if issue.path in skipped and issue.severity is Severity.ERROR:
            print(f"skipped {issue}", file=out)
        elif issue.code == "unknown-audience":  # indexed for the audiences it names that exist
            print(str(issue), file=out)
    print(report.summary(), file=out)
    if getattr(args, "publish", False):
        _publish(settings, report.version, out)
    return 0


def _publish(settings: Any, version: str, out: TextIO) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import engine_for, upgrade
    from app.published import SnapshotStore

    engine = engine_for(settings)
    try:
        upgrade(engine)
        pub = SnapshotStore(engine).publish(settings.index_path, version)
    except SQLAlchemyError as exc:
        raise CliError(f"cannot publish to the database: {exc.__class__.__name__}") from None
    finally:
        engine.dispose()
    print(f"published snapshot {pub.version} ({pub.size} bytes, sha256 {pub.sha256[:12]})",
          file=out)


def _searcher(settings: Any) -> Any:
    from indexer.embed import ModelUnavailableError
    from indexer.fuse import FusionConfig
    from indexer.search import Searcher
    from indexer.snapshot import SnapshotError

    try:
        return Searcher.open(settings.index_path, _embedder(settings),
                             FusionConfig(method=settings.fusion))
    except (SnapshotError, ModelUnavailableError) as exc:
        raise CliError(str(exc)) from exc


def cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    settings = _settings(args)
    if args.limit < 1 or args.limit > 100:
        raise CliError("--limit must be between 1 and 100")
    try:
        audiences = ([Audience.parse(a, settings.audience_vocabulary) for a in args.audience]
                     if args.audience else None)
    except ValueError as exc:
        raise CliError(f"--audience: {exc}") from None
    if args.batch is None and not args.query:
        raise CliError("give a QUERY or --batch FILE")
    searcher = _searcher(settings)
    kwargs = {"limit": args.limit, "audiences": audiences, "services": args.service or (),
              "tags": args.tag or ()}
    if args.batch is not None:
        try:
            if str(args.batch) == "-":
                lines = sys.stdin.read()
            else:
                lines = Path(args.batch).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise CliError(f"{args.batch}: {exc.strerror or exc}") from exc
        for line in lines.splitlines():
            if not line.strip():
                continue
            resp = searcher.search(line, snippets=False, **kwargs)
            row = {"query": line, "results": [
                {"id": r.article.id, "path": r.article.path, "title": r.article.title,
                 "score": r.score} for r in resp.results]}
            print(json.dumps(row, ensure_ascii=False), file=out)
        return 0
    query = " ".join(args.query)
    resp = searcher.search(query, **kwargs)
    if args.json:
        from indexer.search import explain_legs

        payload = {
            "query": resp.query, "normalized": resp.normalized, "took_ms": resp.took_ms,
            "suggestion": resp.suggestion, "weak_match": resp.weak_match,
            "results": [{"id": r.article.id, "path": r.article.path, "title": r.article.title,
                         "score": r.score, "snippet": r.snippet, "matched": r.matched,
                         **({"explain": explain_legs(r.legs)} if args.explain else {})}
                        for r in resp.results]}
        if args.explain:
            payload["weights"] = resp.weights
        print(json.dumps(payload, ensure_ascii=False, indent=1), file=out)
        return 0
    if not resp.results:
        hint = f" Did you mean: {resp.suggestion}?" if resp.suggestion else ""
        print(f"No results.{hint}", file=out)
        return 0
    import html
    import re

    for n, r in enumerate(resp.results, 1):
        print(f"{n:2}. {r.article.title}  [{r.article.path}]  {r.score:.4f}", file=out)
        snippet = html.unescape(re.sub(r"</?mark>", "*", r.snippet))
        print(f"    {snippet}", file=out)
        if args.explain:
            legs = ", ".join(f"{k} #{v.rank} ({v.score})" for k, v in r.legs.items())
            print(f"    legs: {legs}; matched: {r.matched}", file=out)
    if args.explain:
        print(f"weights: {resp.weights}; normalized query: {resp.normalized!r}", file=out)
    print(f"({resp.took_ms} ms)", file=out)
    return 0


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from app.server import BuildStopped, build_missing_index, serve
    from indexer.embed import ModelUnavailableError

    settings = _settings(args)
    try:
        build_missing_index(settings, sys.stderr)
    except (FileNotFoundError, ModelUnavailableError) as exc:
        raise CliError(str(exc)) from exc
    except BuildStopped as exc:
        print(f"fieldguide serve: stopped by {exc} while building the index; the vectors "
              "embedded so far are kept and the next start resumes", file=sys.stderr)
        return 128 + exc.signum
    code: int = serve(settings, host=args.host, port=args.port, workers=args.workers,
                      reload_on_change=args.watch)
    return code


def cmd_freshness(args: argparse.Namespace, out: TextIO) -> int:
    from app.db import make_engine, upgrade
    from freshness.cli import run

    settings = _settings(args)
    code: int = run(settings.freshness_config(), str(settings.database_url), args, out,
                    migrate=upgrade, engine_factory=make_engine)
    return code


def _coverage_history(settings: Any) -> tuple[Any, list[Any]]:
    """Recorded reviews and received alerts from the service's database, when there is one
    (a SQLite file that does not exist is not created)."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from app.db import make_engine
    from freshness.job import History, load_history
    from freshness.service import schema_ready
    from incidents.coverage import received_rows

    url = str(settings.database_url)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        return History.EMPTY, []
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            history = load_history(session) if schema_ready(engine) else History.EMPTY
            return history, received_rows(session)
    except SQLAlchemyError as exc:
        print(f"fieldguide coverage: received alerts skipped, the database is unreachable: "
              f"{exc.__class__.__name__}", file=sys.stderr)
        return History.EMPTY, []
    finally:
        engine.dispose()


def cmd_coverage(args: argparse.Namespace, out: TextIO) -> int:
    import datetime as dt

    from freshness.job import assess
    from freshness.policy import local_date
    from incidents.coverage import build_coverage, load_rules, report_text
    from indexer.content import scan_content
    from indexer.teams import TEAMS_FILE, TeamsConfig

    settings = _settings(args)
    content = Path(settings.content_dir)
    try:
        loaded = load_rules(args.rules or [])
        searcher = _searcher(settings) if args.search else None
        # With --search the articles are the index's, so both ways see the same ones.
        articles = (list(searcher.articles()) if searcher is not None else
                    scan_content(content, default_audience=settings.default_audience,
                                 audiences=settings.audience_vocabulary).articles)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    for issue in loaded.issues:
        print(f"fieldguide coverage: {issue}", file=sys.stderr)
    teams, _ = TeamsConfig.load(content / TEAMS_FILE)
    history, received = _coverage_history(settings)
    policy = settings.freshness_config().policy
    today = local_date(dt.datetime.now(dt.UTC), policy.timezone)
    statuses = {r.id: r.status for r in assess(articles, history, teams, today, policy)}
    items = build_coverage(articles, teams, statuses.get, declared=loaded.alerts,
                           received=received, public_url=settings.public_base,
                           search=searcher.run if searcher is not None else None)
    if args.json:
        for item in items:
            print(json.dumps(item.to_json(), ensure_ascii=False), file=out)
    else:
        print(report_text(items), file=out)
    return 2 if loaded.issues else 0


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    from chatbot.cli import run

    code: int = run(_settings(args), args, out)
    return code


def cmd_keys(args: argparse.Namespace, out: TextIO) -> int:
    from app.keys_cli import run

    code: int = run(_settings(args), args, out)
    return code


def cmd_incidents(args: argparse.Namespace, out: TextIO) -> int:
    from app.cli_incidents import run

    return run(args, out, _settings(args), CliError)


def build_parser() -> argparse.ArgumentParser:
    # The module docstring is reStructuredText; the terminal gets it without the markup.
    parser = argparse.ArgumentParser(prog="fieldguide",
                                     description=__doc__.splitlines()[0].replace("``", ""))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, index: bool = True, content: bool = True) -> None:
        if content:
            p.add_argument("--content", dest="content_dir", type=Path,
                           help="content directory (FIELDGUIDE_CONTENT_DIR)")
        if index:
            p.add_argument("--index", dest="index_dir", type=Path,
                           help="index directory (FIELDGUIDE_INDEX_DIR)")

    p = sub.add_parser("index", help="build or update the index (incremental)")
    common(p)
    p.add_argument("--publish", action="store_true", help="also publish the snapshot to the "
                   "database (FIELDGUIDE_DATABASE_URL) for replicas that set PUBLISH_SNAPSHOTS")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("lint", help="check articles against the template; exit 1 on errors")
    common(p, index=False)
    p.add_argument("--errors-only", action="store_true", help="hide warnings")
    p.set_defaults(func=cmd_lint)

    p = sub.add_parser("search", help="search the index")
    common(p, content=False)
    p.add_argument("query", nargs="*", help="the query (quote it)")
    p.add_argument("--batch", type=Path, help="file with one query per line ('-' for stdin); "
                   "writes JSON Lines")
    p.add_argument("--limit", type=int, default=10,
                   help="at most N results per query (1-100, default 10)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--explain", action="store_true", help="per-leg ranks and scores")
    p.add_argument("--audience", action="append", help="an audience of FIELDGUIDE_AUDIENCES, "
                   "e.g. end-user or engineer (repeatable; default: every article)")
    p.add_argument("--service", action="append", help="only articles of this service")
    p.add_argument("--tag", action="append", help="only articles with this tag")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("serve", help="run the HTTP service")
    common(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes (default 1); each loads the model and the index")
    p.add_argument("--watch", action="store_true", help="reindex when the content changes")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("freshness", help="flag, assign and remind about articles due for review")
    common(p)
    p.add_argument("--now", help="pretend today is YYYY-MM-DD")
    p.add_argument("--dry-run", action="store_true", help="change nothing, print what would happen")
    p.add_argument("--notify", action="store_true", help="send digests and weekly summaries")
    p.add_argument("--report", action="store_true", help="print the freshness report")
    p.add_argument("--json", action="store_true", help="JSON output, one object per article")
    p.add_argument("--csv", action="store_true", help="CSV report")
    p.add_argument("--write-banners", action="store_true",
                   help="also write/remove the unverified banner block in the Markdown files")
    p.set_defaults(func=cmd_freshness)

    p = sub.add_parser("coverage", help="runbook coverage of declared and received alerts")
    common(p)
    p.add_argument("--rules", nargs="+", action="extend", type=Path, metavar="PATH",
                   help="Prometheus rule files or folders (groups: files, PrometheusRule "
                   "manifests, JSON exports)")
    p.add_argument("--json", action="store_true", help="one JSON object per line and alert")
    p.add_argument("--search", action="store_true", help="also search the index for alerts the "
                   "exact ways miss (kept above the confidence floor, as alert intake does)")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("chat", help="talk to the FAQ chatbot in the terminal")
    common(p)
    p.add_argument("--engineer", action="store_true", help="include engineer articles")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("keys", help="personal API keys: create, list, revoke")
    keys = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = keys.add_parser("create", help="a new key for a person; printed once, on the last line")
    k.add_argument("--name", required=True, help="the person's name, shown on pages")
    k.add_argument("--email", required=True, help="the person's address (their identity)")
    k.add_argument("--role", required=True, help="reader, engineer or admin")
    k.add_argument("--team", action="append", default=[], help="a team the person owns "
                   "articles of (repeatable)")
    k.add_argument("--audience", action="append", default=[], help="an audience the key reads "
                   "beyond its role's, from FIELDGUIDE_AUDIENCES (repeatable; e.g. security)")
    k = keys.add_parser("list", help="every key: id, owner, role, created, last used")
    k.add_argument("--json", action="store_true", help="one JSON object per key")
    k = keys.add_parser("revoke", help="revoke a key and every session opened with it")
    k.add_argument("id", type=int, help="the key's id (from keys list)")
    p.set_defaults(func=cmd_keys)
    from app.cli_incidents import add_parser as add_incidents

    add_incidents(sub, common, cmd_incidents)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args, out or sys.stdout)
        return code
    except CliError as exc:
        print(f"fieldguide {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
