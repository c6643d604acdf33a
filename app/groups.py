"""What identity-provider groups give: ``FIELDGUIDE_ROLE_GROUPS`` parsed, and claims to a Person.

    >>> grants = parse_role_groups(["kb-engineers=engineer", "kb-admins=admin",
    ...                             "net-oncall=owner:net", "sec=reader:end-user+engineer"])
    >>> person_from_claims({"sub": "42", "email": "a@x", "groups": ["kb-engineers"]}, "groups",
    ...                    grants)

A person's role is the highest role among their groups (reader when none is listed), their
audiences those of that role plus any a group adds, their teams every ``owner:TEAM`` group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.people import ROLE_AUDIENCES, Person, Role
from indexer.article import Audience


@dataclass(frozen=True)
class GroupGrant:
    role: Role | None = None
    audiences: frozenset[Audience] = frozenset()
    team: str | None = None


def parse_role_groups(entries: Iterable[str]) -> dict[str, list[GroupGrant]]:
    """``GROUP=ROLE``, ``GROUP=ROLE:AUD+AUD`` or ``GROUP=owner:TEAM``; a ValueError naming the
    allowed values for anything else."""
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
        audiences = frozenset(Audience.parse(a) for a in rest.split("+") if a.strip())
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
    groups = groups_of(claims, claim)
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
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    name = next((str(claims[k]) for k in ("name", "preferred_username", "email", "sub")
                 if isinstance(claims.get(k), str) and claims[k]), "signed-in user")
    return Person(name[:200], email.lower() if email else None, role, frozenset(teams),
                  source="oidc", audiences=ROLE_AUDIENCES[role] | frozenset(extra))
