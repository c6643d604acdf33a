"""Message content: each assignee's weekly digest and each team's weekly summary.

Nothing outside a recipient's audiences reaches them. A message to a person goes to the owner
of every article it lists (the ownership rule assigns a person only their own articles), who
may read them whatever their audience. A message to a team (its list, its chat channel) is
read by whoever is on them, so it reads as an engineer does (``STAFF``, as the incident
channel's runbooks do): an article only an added audience may read (e.g. ``security``) is
counted there but never named: no title, no id, no link; the line that counts them points to
``/freshness``, which lists them to those signed in with that audience.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from freshness.notify import Message
from freshness.policy import Status
from indexer.article import STAFF, Audience
from indexer.teams import TeamsConfig

TRUST_TARGET = 0.8
OLDEST_STALE = 5


@dataclass(frozen=True)
class Item:
    """What a message needs to know about one article."""

    id: str
    title: str
    status: Status
    review_by: dt.date | None
    assignee: str
    assignee_email: str | None
    assignee_channel: str | None
    team: str | None
    unverified_since: dt.date | None
    retired: bool = False
    flagged: bool = False  # readers' votes call for a review before review-by
    unhelpful: int = 0  # "not helpful" votes that count now
    audience: tuple[Audience, ...] = (Audience.ENGINEER,)  # who may read it
    owner: str | None = None  # the front matter's owner (may read it whatever its audience)


def nameable(item: Item, person: str | None) -> bool:
    """May a message to ``person`` (an email; None: a team's list or channel) name ``item``?"""
    if any(a in STAFF for a in item.audience):
        return True
    return bool(person and item.owner and person.lower() == item.owner.lower())


def _withheld(count: int, public_url: str, what: str) -> str:
    return (f"{count} {what} in an audience this list and channel may not read "
            f"{'is' if count == 1 else 'are'} counted here but not named: see "
            f"{public_url.rstrip('/')}/freshness signed in with that audience.")


def week_key(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def article_url(public_url: str, article_id: str) -> str:
    return f"{public_url.rstrip('/')}/articles/{quote(article_id, safe='/')}"


def trusted(status: Status, flagged: bool) -> bool:
    """An article a reader may rely on: within its review-by date (fresh or due soon) and not
    flagged by readers' "not helpful" votes."""
    return status in (Status.FRESH, Status.DUE_SOON) and not flagged


def trust_score(items: Iterable[Item]) -> float:
    """The trust score: the share of (non-retired) articles that are ``trusted``; 1.0 when
    there are none. Every article weighs the same."""
    live = [i for i in items if not i.retired]
    if not live:
        return 1.0
    return sum(trusted(i.status, i.flagged) for i in live) / len(live)


def _due(item: Item) -> str:
    due = f"review by {item.review_by.isoformat()}" if item.review_by else "never reviewed"
    if item.flagged:
        due += f"; flagged: {item.unhelpful} readers found it unhelpful"
    return due


def _label(item: Item) -> str:
    return "flagged" if item.flagged and item.status is Status.FRESH else item.status.value


def _sort_key(item: Item) -> tuple[dt.date, str]:
    return (item.review_by or dt.date.min, item.id)


def digests(items: Sequence[Item], today: dt.date, public_url: str) -> list[Message]:
    """One message per assignee listing all their due-soon, stale, unverified and flagged
    articles (flagged: readers voted them unhelpful)."""
    week = week_key(today)
    by_assignee: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if (item.status is not Status.FRESH or item.flagged) and not item.retired:
            by_assignee[item.assignee].append(item)
    out = []
    for assignee, mine in sorted(by_assignee.items()):
        mine.sort(key=_sort_key)
        counts = {s: sum(i.status is s for i in mine) for s in Status if s is not Status.FRESH}
        person = assignee if "@" in assignee else None
        named = [i for i in mine if nameable(i, person)]
        lines = [f"- [{_label(i)}] {i.title} ({_due(i)}): {article_url(public_url, i.id)}"
                 for i in named]
        if len(named) < len(mine):
            lines.append("- " + _withheld(len(mine) - len(named), public_url, "more"))
        flagged = sum(i.flagged for i in mine)
        head = (f"{len(mine)} Fieldguide article(s) assigned to {assignee} need a review "
                f"({counts[Status.DUE_SOON]} due soon, {counts[Status.STALE]} stale, "
                f"{counts[Status.UNVERIFIED]} unverified"
                + (f", {flagged} flagged by readers' votes" if flagged else "") + ").")
        text = (head + "\n\n" + "\n".join(lines) + "\n\nOpen each article, check it against "
                "reality, then mark it reviewed (still accurate / updated / retire).")
        out.append(Message(
            kind="digest", recipient=assignee, email=mine[0].assignee_email,
            channel=mine[0].assignee_channel,
            subject=f"Fieldguide: {len(mine)} article(s) to review ({week})", text=text,
            facts=(*((s.value, str(n)) for s, n in counts.items()),
                   *((("flagged", str(flagged)),) if flagged else ())),
            links=tuple((i.title, article_url(public_url, i.id)) for i in named)))
    return out


def summaries(items: Sequence[Item], teams: TeamsConfig, today: dt.date,
              public_url: str) -> list[Message]:
    """One weekly summary per team: counts by state, newly unverified, oldest stale, trust."""
    week = week_key(today)
    monday = week_start(today)
    by_team: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.team and not item.retired:
            by_team[item.team].append(item)
    out = []
    for team_id, mine in sorted(by_team.items()):
        team = teams.teams.get(team_id)
        counts = {s: sum(i.status is s for i in mine) for s in Status}
        trust = trust_score(mine)
        named = [i for i in mine if nameable(i, None)]
        newly = sorted((i for i in named if i.status is Status.UNVERIFIED and i.unverified_since
                        and monday <= i.unverified_since <= today), key=_sort_key)
        oldest = sorted((i for i in named if i.status in (Status.STALE, Status.UNVERIFIED)),
                        key=_sort_key)[:OLDEST_STALE]
        withheld = sum(i.status is not Status.FRESH or i.flagged
                       for i in mine if not nameable(i, None))
        name = team.name if team else team_id
        parts = [
            f"Weekly freshness summary for {name} ({week}): {len(mine)} articles.",
            "By state: " + ", ".join(f"{s.value} {counts[s]}" for s in Status) + ".",
            f"Trust score: {trust:.0%} verified (target {TRUST_TARGET:.0%})"
            + (" - below target." if trust < TRUST_TARGET else " - on target."),
        ]
        if newly:
            parts.append("Became unverified this week:\n" + "\n".join(
                f"- {i.title}: {article_url(public_url, i.id)}" for i in newly))
        else:
            parts.append("Became unverified this week: none.")
        if oldest:
            parts.append("Oldest stale articles:\n" + "\n".join(
                f"- {i.title} ({_due(i)}, assigned to {i.assignee}): "
                f"{article_url(public_url, i.id)}" for i in oldest))
        if withheld:
            parts.append(_withheld(withheld, public_url, "article(s) to review"))
        out.append(Message(
            kind="summary", recipient=team_id, email=team.email if team else None,
            channel=team.channel if team else None,
            subject=f"Fieldguide weekly summary for {name} ({week}): trust {trust:.0%}",
            text="\n\n".join(parts),
            facts=(*((s.value, str(counts[s])) for s in Status), ("trust", f"{trust:.0%}"),
                   ("target", f"{TRUST_TARGET:.0%}")),
            links=tuple((i.title, article_url(public_url, i.id)) for i in (*newly, *oldest)),
            extra={"trust": trust, "counts": {s.value: counts[s] for s in Status},
                   "newly_unverified": [i.id for i in newly],
                   "oldest_stale": [i.id for i in oldest]}))
    return out
