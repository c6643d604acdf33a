"""``fieldguide incidents ...``: incident records from the terminal, over the service's database.

    fieldguide incidents open --title "VPN down" --severity P1 --service vpn
    fieldguide incidents ack 12 --by ana@example.com
    fieldguide incidents resolve 12 --at 2026-12-03T10:30:00Z
    fieldguide incidents list --json
    fieldguide incidents draft 12 --branch        # content/drafts/<slug>.md, committed for review
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any, TextIO

PHASES = {"ack": "acknowledged", "diagnose": "diagnosed", "resolve": "resolved"}


def _time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def records_for(settings: Any, articles: Any = ()) -> tuple[Any, Any]:
    """The records service over the settings' database (migrated first), no threads; and the
    engine, for the caller to dispose. ``articles``: the knowledge base's (titles in drafts)."""
    from app.db import engine_for, session_factory, upgrade
    from app.services.incident_records import IncidentRecords
    from incidents.config import IncidentsConfig
    from indexer.teams import TEAMS_FILE, TeamsConfig

    engine = engine_for(settings)
    upgrade(engine)
    teams, _ = TeamsConfig.load(settings.content_dir / TEAMS_FILE)
    known = list(articles)
    return IncidentRecords.build(IncidentsConfig.from_settings(settings), session_factory(engine),
                                 teams=lambda: teams, articles=lambda: known), engine


def draft(args: argparse.Namespace, out: TextIO, settings: Any,
          error: Callable[[str], Exception]) -> int:
    """``fieldguide incidents draft ID [--branch [NAME]]``: prints the draft's path (stdout) and,
    with ``--branch``, the commit (stderr)."""
    import json
    import sys
    from pathlib import Path

    from incidents.drafts import DraftError
    from incidents.records import IncidentError
    from indexer.content import scan_content

    content = Path(settings.content_dir)
    if not content.is_dir():
        raise error(f"content directory {content} does not exist")
    articles = scan_content(content, default_audience=settings.default_audience).articles
    records, engine = records_for(settings, articles)
    try:
        made = records.draft(args.id, content, today=dt.date.today(),
                             policy=settings.freshness_config().policy, branch=args.branch,
                             by=args.by)
    except (IncidentError, DraftError) as exc:
        raise error(str(exc)) from exc
    except OSError as exc:
        raise error(f"cannot write the draft: {exc.strerror or exc}") from exc
    finally:
        engine.dispose()
    commit = made.commit
    if args.json:
        print(json.dumps({"path": str(made.draft.path), "id": made.draft.slug,
                          "branch": commit.branch if commit else None,
                          "commit": commit.commit if commit else None}), file=out)
    else:
        print(made.draft.path, file=out)
    if commit is not None:
        print(f"committed {commit.commit[:12]} on branch {commit.branch} (not pushed)",
              file=sys.stderr)
    return 0


def _line(i: Any) -> str:
    end = i.resolved_at.isoformat() if i.resolved_at else "open"
    return (f"{i.id}\t{i.severity.value}\t{i.status.value}\t{i.started_at.isoformat()}\t{end}\t"
            f"{i.title}")


def _json(i: Any) -> str:
    from app.schemas_incidents import incident_public

    return incident_public(i).model_dump_json()


def run(args: argparse.Namespace, out: TextIO, settings: Any,
        error: Callable[[str], Exception]) -> int:
    from incidents.records import IncidentCreate, IncidentError, Phase
    from incidents.severity import Severity

    action = args.action
    if action == "draft":
        return draft(args, out, settings, error)
    records, engine = records_for(settings)
    try:
        if action == "list":
            for i in records.recent(Phase.parse(args.status) if args.status else None, args.limit):
                print(_json(i) if args.json else _line(i), file=out)
            return 0
        if action == "open":
            incident = records.create(IncidentCreate(
                args.title, Severity.parse(args.severity), tuple(args.service or ()),
                tuple(args.alert or ()), _time(args.at), "cli", by=args.by))
        elif action == "show":
            incident = records.get(args.id)
        elif action in PHASES:
            incident = records.patch(args.id, Phase(PHASES[action]), at=_time(args.at),
                                     by=args.by, note=args.note)
        else:  # note
            incident = records.patch(args.id, None, by=args.by, note=args.text)
    except (IncidentError, ValueError, argparse.ArgumentTypeError) as exc:
        raise error(str(exc)) from exc
    finally:
        engine.dispose()
    print(_json(incident) if args.json or action == "show" else _line(incident), file=out)
    return 0


BY_HELP = "who does it (a name or address, recorded in the timeline)"


def add_parser(sub: Any, common: Callable[..., None], func: Callable[..., int]) -> None:
    p = sub.add_parser("incidents", help="incident records: open, ack, diagnose, resolve, list, "
                       "show, note, draft")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, ident: bool = True) -> argparse.ArgumentParser:
        a: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        common(a, index=False)
        if ident:
            a.add_argument("id", type=int, help="the incident's id")
        a.add_argument("--json", action="store_true", help="JSON output")
        a.set_defaults(func=func)
        return a

    a = action("list", "incidents, newest first", ident=False)
    a.add_argument("--status", choices=["triggered", "acknowledged", "diagnosed", "resolved"],
                   help="only incidents in this state")
    a.add_argument("--limit", type=int, default=50, help="at most N incidents (default 50)")
    a = action("open", "open an incident", ident=False)
    a.add_argument("--title", required=True, help="what is wrong, in a few words")
    a.add_argument("--severity", required=True, choices=["P1", "P2", "P3", "P4"],
                   help="P1 (worst) to P4")
    a.add_argument("--service", action="append", help="repeatable")
    a.add_argument("--alert", action="append", help="repeatable")
    a.add_argument("--at", help="when it started (ISO time; default now)")
    a.add_argument("--by", help=BY_HELP)
    action("show", "one incident with its timeline, as JSON")
    for name, phase in PHASES.items():
        a = action(name, f"mark it {phase}")
        a.add_argument("--at", help="when (ISO time; default now)")
        a.add_argument("--by", help=BY_HELP)
        a.add_argument("--note", help="a note for the timeline")
    a = action("note", "add a note to the timeline")
    a.add_argument("text", help="the note (quote it)")
    a.add_argument("--by", help=BY_HELP)
    a = action("draft", "write content/drafts/<slug>.md in the house template, prefilled from "
               "the incident; prints its path")
    a.add_argument("--branch", nargs="?", const="", metavar="NAME",
                   help="also commit it on a new Git branch (default name "
                   "kb-draft/incident-<id>-<slug>); content/ must be in a Git work tree; "
                   "the current branch, index and work tree are left as they are; no push")
    a.add_argument("--by", help="who writes it (the timeline's line)")
