"""What identity-provider groups give: ``FIELDGUIDE_ROLE_GROUPS`` parsed, and claims to a Person.

    >>> vocabulary = audience_vocabulary(["security"])          # FIELDGUIDE_AUDIENCES
    >>> grants = parse_role_groups(["kb-engineers=engineer", "kb-admins=admin",
    ...                             "net-oncall=owner:net", "sec-team=engineer:security"],
    ...                            vocabulary)
    >>> person_from_claims({"sub": "42", "email": "a@x", "groups": ["kb-engineers"]}, "groups",
    ...                    grants)

A person's role is the highest role among their groups (reader when none is listed), their
audiences those of that role plus any a group adds, their teams every ``owner:TEAM`` group.
A session keeps the groups, not what they gave: ``person_from_groups`` derives the person again
from them and the current settings at each request, so a changed mapping applies at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.people import ROLE_AUDIENCES, Person, Role
from indexer.article import Audience


@dataclass(frozen=True)
class GroupGrant:
    role: Role | None = None
    audiences: frozenset[Audience] = frozenset()
    team: str | None = None


def parse_role_groups(entries: Iterable[str], vocabulary: Collection[Audience] | None = None
                      ) -> dict[str, list[GroupGrant]]:
    """``GROUP=ROLE``, ``GROUP=ROLE:AUD+AUD`` or ``GROUP=owner:TEAM``; a ValueError naming the
    allowed values for anything else. Audiences come from ``vocabulary`` (default: the
    built-in two)."""
    roles = ", ".join(r.value for r in Role)
    grants: dict[str, list[GroupGrant]] = {}
    for entry in entries:
        group, eq, spec = entry.partition("=")
        group, spec = group.strip(), spec.strip()
        if not eq or not group or not spec:
            raise ValueError(f"role_groups entry {entry!r} is not GROUP=ROLE (roles: {roles}; "
                             "or GROUP=owner:TEAM)")
        head, _, rest = spec.partition(":")
        if head.strip().lower() == "owner":
            if not rest.strip():
                raise ValueError(f"role_groups entry {entry!r}: owner needs a team (owner:TEAM)")
            grants.setdefault(group, []).append(GroupGrant(team=rest.strip()))
            continue
        role = Role.parse(head)  # "unknown role ... (allowed: reader, engineer, admin)"
        audiences = frozenset(Audience.parse(a, vocabulary) for a in rest.split("+")
                              if a.strip())
        grants.setdefault(group, []).append(GroupGrant(role, audiences))
    return grants


def groups_of(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list | tuple):
        return frozenset(str(v) for v in value if isinstance(v, str | int))
    return frozenset()


def person_from_claims(claims: Mapping[str, Any], claim: str,
                       grants: Mapping[str, list[GroupGrant]]) -> Person:
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    name = next((str(claims[k]) for k in ("name", "preferred_username", "email", "sub")
                 if isinstance(claims.get(k), str) and claims[k]), "signed-in user")
    return person_from_groups(name, email.lower() if email else None,
                              groups_of(claims, claim), grants)


def person_from_groups(name: str, email: str | None, groups: Iterable[str],
                       grants: Mapping[str, list[GroupGrant]]) -> Person:
    """What ``groups`` give under ``grants`` (FIELDGUIDE_ROLE_GROUPS)."""
    groups = frozenset(g[:256] for g in groups)
    role = Role.READER
    extra: set[Audience] = set()
    teams: set[str] = set()
    for group in sorted(groups):
        for grant in grants.get(group, ()):
            if grant.team:
                teams.add(grant.team)
            if grant.role is not None and grant.role.rank > role.rank:
                role = grant.role
            extra |= grant.audiences
    return Person(name[:200], email, role, frozenset(teams), source="oidc",
                  audiences=ROLE_AUDIENCES[role] | frozenset(extra), groups=groups)
