"""Readers' "was this helpful?" votes: who counts as one voter, and recording a vote once.

One voter is one signed-in person (their e-mail, else their personal key) or, anonymous, one
client address: clearing cookies or opening a private window does not make a new voter, and a
changed mind replaces the earlier answer. The stored ``voter`` is an HMAC under the session
secret, so the table holds no address and no IP. The freshness job counts the votes
(``freshness.policy.count_votes``, ``flagged_by_votes``).

    >>> votes = VoteRecorder(sessions)
    >>> votes.record("vpn-keeps-disconnecting", voter_key(signer, caller), helpful=False)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.access import Caller
from app.sessions import Signer
from freshness.models import ArticleVoteRow


@dataclass(frozen=True)
class Voter:
    key: str  # the HMAC stored in article_votes.voter
    signed_in: bool


def voter_key(signer: Signer, caller: Caller) -> Voter:
    """The caller as one voter: the person when they have a name of their own, else the
    client address (shared keys and the admin token stand for no one in particular)."""
    person = caller.person
    if person is not None and person.email:
        ident, signed_in = "person:" + person.email.lower(), True
    elif person is not None and person.key_id is not None:
        ident, signed_in = f"key:{person.key_id}", True
    else:
        ident, signed_in = "client:" + caller.client, False
    return Voter(signer.sign(ident, "vote").rpartition(".")[2][:43], signed_in)


class VoteRecorder:
    """Writes votes: one row per (article, voter), the latest answer and time."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def record(self, article_id: str, voter: Voter, helpful: bool,
               now: dt.datetime | None = None) -> bool:
        """Record the vote; True when it is new, False when it replaced the voter's earlier one."""
        when = now or dt.datetime.now(dt.UTC)
        for _attempt in range(2):  # a concurrent first vote of the same voter: update it then
            with self.sessions() as session:
                row = session.scalars(select(ArticleVoteRow).where(
                    ArticleVoteRow.article_id == article_id,
                    ArticleVoteRow.voter == voter.key)).first()
                if row is not None:
                    row.helpful, row.voted_at, row.signed_in = helpful, when, voter.signed_in
                    session.commit()
                    return False
                session.add(ArticleVoteRow(article_id=article_id, voter=voter.key,
                                           helpful=helpful, signed_in=voter.signed_in,
                                           voted_at=when))
                try:
                    session.commit()
                    return True
                except IntegrityError:
                    session.rollback()
        raise RuntimeError("the vote could not be recorded")
