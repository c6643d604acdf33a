"""Reminders and weekly summaries never name an article outside their readers' audiences.

The organisation adds ``security`` (FIELDGUIDE_AUDIENCES) and the network team owns two
security articles due for review: one whose owner is on the team, one whose owner has left.
Delivered to a real SMTP server (aiosmtpd) and a real Slack-compatible webhook receiver,
on SQLite and PostgreSQL:
1. The owner's own digest names their security article (title and link): an owner may read it.
2. The network team's summary (its list and its channel, read by whoever is on them) counts
   both but names neither: no title, no id, no link, not in the message's data either; it says
   they are counted and points to /freshness. The team's engineer articles are named as before.
3. The team's digest for the article whose owner left (assigned to the team) does not name it.
4. With the article readable by engineers, the same summary names it: the check can fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from freshness.digest import article_url
from freshness.job import Job, JobResult
from freshness.notify import SlackWebhookNotifier, SmtpNotifier
from indexer.article import audience_vocabulary
from indexer.content import ContentScan, scan_content
from tests.api_support import CONTENT
from tests.test_freshness_job import NOW
from tests.test_freshness_notify import (  # noqa: F401 - mailbox is a fixture
    PUBLIC,
    Mailbox,
    Receiver,
    body_text,
    mailbox,
)

OWNER = "carlos.mendez@brightwater.example"  # on the network team (content/teams.yaml)
KEPT = ("security/vpn-hsm-keys", "Re-key the VPN gateways' HSM after the Ocelot audit")
LEFT = ("security/radius-shared-secret", "Rotate the RADIUS shared secret held by Tlaloc")
ARTICLE = """---
id: {id}
title: {title}
audience: [{audience}]
owner: {owner}
team: network
last_reviewed: 2025-01-05
---

## Symptom
Something only the security team may read.
"""


def security_kb(root: Path, audience: str = "security") -> ContentScan:
    content = root / "content"
    shutil.copytree(CONTENT, content)
    (content / "security").mkdir()
    for (article_id, title), owner in ((KEPT, OWNER), (LEFT, "gone@brightwater.example")):
        (content / f"{article_id}.md").write_text(ARTICLE.format(
            id=article_id, title=title, audience=audience, owner=owner))
    scan = scan_content(content, audiences=audience_vocabulary(["security"]))
    assert {KEPT[0], LEFT[0]} <= {a.id for a in scan.articles}
    return scan


def run(scan: ContentScan, engine: Engine, port: int, hook: str) -> JobResult:
    notifiers = [SmtpNotifier("127.0.0.1", port, sender="fg@x.example"),
                 SlackWebhookNotifier(hook)]
    with Session(engine) as s:
        result = Job(scan.teams, notifiers=notifiers, public_url=PUBLIC).run(
            s, scan.articles, NOW, notify=True)
    assert result.sends and {x.status for x in result.sends} == {"sent"}
    return result


def leaks(text: str, article: tuple[str, str]) -> list[str]:
    article_id, title = article
    return [s for s in (article_id, title, article_url(PUBLIC, article_id)) if s in text]


def test_team_messages_name_no_article_outside_an_engineer_s_audiences(
        tmp_path: Path, engine: Engine, mailbox: tuple[Mailbox, int]) -> None:  # noqa: F811
    box, port = mailbox
    scan = security_kb(tmp_path)
    with Receiver() as slack:
        result = run(scan, engine, port, slack.url)
    network = [b for b in slack.bodies if b.get("channel") == "#team-network"]
    summary = next(b for b in network if "weekly summary" in b["text"])
    # The team's summary counts both security articles but names neither, anywhere in it.
    whole = json.dumps(summary)
    assert leaks(whole, KEPT) == [] and leaks(whole, LEFT) == []
    assert "2 article(s) to review in an audience this list and channel may not read" in \
        summary["text"]
    assert f"{PUBLIC}/freshness" in summary["text"]
    total = sum(a.team == "network" and not a.retired for a in result.articles)
    assert f"{total} articles." in summary["text"]
    # The team's digest (the article whose owner left is the team's to review) names it not.
    for body in network:
        assert leaks(json.dumps(body), LEFT) == [] and leaks(json.dumps(body), KEPT) == []
    for mail in box.messages:
        text = body_text(mail)
        if mail["To"] != OWNER:
            assert leaks(text, KEPT) == [] and leaks(text, LEFT) == [], mail["To"]
    # The owner's own digest names their article.
    mine = [body_text(m) for m in box.to(OWNER)]
    assert len(mine) == 1 and KEPT[1] in mine[0] and article_url(PUBLIC, KEPT[0]) in mine[0]
    assert leaks(mine[0], LEFT) == []


def test_the_same_articles_for_engineers_are_named(
        tmp_path: Path, engine: Engine, mailbox: tuple[Mailbox, int]) -> None:  # noqa: F811
    _box, port = mailbox
    scan = security_kb(tmp_path, "engineer")
    with Receiver() as slack:
        run(scan, engine, port, slack.url)
    network = "\n".join(json.dumps(b) for b in slack.bodies if b.get("channel") == "#team-network")
    assert KEPT[1] in network and LEFT[1] in network
    assert "may not read" not in network
