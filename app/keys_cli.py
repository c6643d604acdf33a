"""``fieldguide keys create|list|revoke``: personal API keys, on the configured database."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from app.people import KeyInfo, PersonKeys, Role
from app.settings import Settings
from indexer.article import Audience


def _when(info: KeyInfo) -> dict[str, str | None]:
    def iso(value: object) -> str | None:
        return None if value is None else value.isoformat(timespec="seconds")  # type: ignore[attr-defined]

    return {"created_at": iso(info.created_at), "last_used_at": iso(info.last_used_at),
            "revoked_at": iso(info.revoked_at)}


def _json(info: KeyInfo) -> dict[str, object]:
    return {"id": info.id, "prefix": info.prefix, "name": info.name, "email": info.email,
            "role": info.role.value, "teams": list(info.teams),
            "audiences": list(info.audiences), **_when(info)}


def run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from app.cli import CliError
    from app.db import engine_for, session_factory, upgrade

    engine = engine_for(settings)
    try:
        upgrade(engine)
        keys = PersonKeys(session_factory(engine))
        if args.keys_command == "create":
            try:
                role = Role.parse(args.role)
                audiences = [Audience.parse(a, settings.audience_vocabulary)
                             for a in getattr(args, "audience", None) or ()]
                created = keys.create(args.name, args.email, role, args.team, audiences)
            except ValueError as exc:
                raise CliError(str(exc)) from None
            info = created.info
            teams = ", ".join(info.teams) or "none"
            extra = f", audiences +{'+'.join(info.audiences)}" if info.audiences else ""
            print(f"key {info.id} for {info.name} <{info.email}>, role {info.role.value}{extra}, "
                  f"teams {teams}. It is shown only now: store it where only they can read it.",
                  file=out)
            print(created.secret, file=out)
            return 0
        if args.keys_command == "list":
            for info in keys.list():
                if args.json:
                    print(json.dumps(_json(info)), file=out)
                    continue
                when = _when(info)
                state = f"revoked {when['revoked_at']}" if info.revoked_at else "active"
                print(f"{info.id}\t{info.prefix}…\t{info.name} <{info.email}>\t{info.role.value}"
                      f"\tteams={','.join(info.teams) or '-'}"
                      f"\taudiences=+{'+'.join(info.audiences) or '-'}\tcreated {when['created_at']}"
                      f"\tlast used {when['last_used_at'] or 'never'}\t{state}", file=out)
            return 0
        revoked = keys.revoke(args.id)
        if revoked is None:
            raise CliError(f"no key {args.id}")
        print(f"key {revoked.id} ({revoked.name} <{revoked.email}>) revoked", file=out)
        return 0
    finally:
        engine.dispose()
