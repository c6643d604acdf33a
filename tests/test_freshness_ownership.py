"""Ownership fallback: owner present > owner gone / none > article team > service team > default."""

from __future__ import annotations

import dataclasses

from freshness.ownership import resolve
from indexer.article import Article
from indexer.teams import Team, TeamsConfig

TEAMS = TeamsConfig(
    teams={
        "desk": Team("desk", "Desk", email="desk@x.example", members=("ann@x.example",)),
        "net": Team("net", "Network", email="net@x.example", members=("bob@x.example",)),
        "idm": Team("idm", "Identity", members=("cy@x.example",)),
    },
    services={"vpn": "net", "sso": "idm"},
    default_team="desk",
)


def art(**kw: object) -> Article:
    base = Article(id="a", path="a.md", title="A", body="", body_line=1, sections=())
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_owner_present() -> None:
    a = resolve(art(owner="bob@x.example", team="desk", services=("sso",)), TEAMS)
    assert (a.assignee, a.reason, a.person, a.email) == ("bob@x.example", "owner", True,
                                                         "bob@x.example")
    assert a.team is not None
    # The one ownership rule (policy.owning_team): the article's declared team owns it, even
    # when its owner sits in another team; the owner still reviews it.
    assert a.team.id == "desk"


def test_owner_membership_is_case_insensitive() -> None:
    assert resolve(art(owner="Bob@X.example"), TEAMS).reason == "owner"


def test_owner_gone_falls_back_to_article_team_then_service() -> None:
    a = resolve(art(owner="left@x.example", team="net", services=("sso",)), TEAMS)
    assert (a.assignee, a.reason, a.email) == ("net", "owner-left:team", "net@x.example")
    b = resolve(art(owner="left@x.example", services=("unknown", "sso")), TEAMS)
    assert (b.assignee, b.reason) == ("idm", "owner-left:team-of-service")


def test_no_owner_uses_team_then_service() -> None:
    assert resolve(art(team="idm"), TEAMS).reason == "no-owner:team"
    a = resolve(art(team="nonexistent", services=("vpn",)), TEAMS)
    assert (a.assignee, a.reason) == ("net", "no-owner:team-of-service")


def test_no_team_no_service_goes_to_default_team() -> None:
    a = resolve(art(owner="left@x.example", services=("unknown",)), TEAMS)
    assert (a.assignee, a.reason) == ("desk", "owner-left:default-team")
    assert resolve(art(), TEAMS).reason == "no-owner:default-team"


def test_nothing_configured_is_unassigned() -> None:
    a = resolve(art(owner="x@y.example"), TeamsConfig())
    assert (a.assignee, a.reason, a.team, a.email) == ("unassigned", "owner-left:unassigned", None,
                                                       None)
