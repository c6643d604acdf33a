"""The review policy at every boundary, with a fixed clock.

Properties proved:
1. review_by = last_reviewed (else created) + interval; interval = article > team override > 90.
2. Day 89 and 90 after the review are `due_soon` (90 is the review-by day), day 91 is `stale`.
3. `due_soon` starts exactly 14 days before review-by (configurable).
4. `stale` lasts 14 days (configurable); day 15 past review-by is `unverified`.
5. Missing dates: stale from the start, unverified after the grace period.
6. Leap years: intervals are counted in calendar days across 29 February.
7. Time zones: `now` is converted to the configured zone before taking the date.
8. A review recorded in the database (API) or a newer `last_reviewed` in the file resets review-by.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from freshness.policy import PolicyConfig, Status, classify, evaluate, interval_days, local_date
from indexer.article import Article
from indexer.teams import Team, TeamsConfig

D = dt.date
TEAMS = TeamsConfig(
    teams={
        "desk": Team("desk", "Desk", members=("ann@x.example",), review_interval_days=180),
        "net": Team("net", "Network", members=("bob@x.example",)),
    },
    services={"vpn": "net", "sso": "desk"},
    default_team="desk",
)


def art(**kw: object) -> Article:
    base = Article(id="a", path="a.md", title="A", body="", body_line=1, sections=(),
                   team="net", last_reviewed=D(2026, 1, 1))
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def status_on(article: Article, day: dt.date, **cfg: object) -> Status:
    return evaluate(article, TEAMS, day, PolicyConfig(**cfg)).status  # type: ignore[arg-type]


@pytest.mark.parametrize(("days", "expected"), [
    (0, Status.FRESH), (75, Status.FRESH), (76, Status.DUE_SOON), (89, Status.DUE_SOON),
    (90, Status.DUE_SOON), (91, Status.STALE), (104, Status.STALE), (105, Status.UNVERIFIED),
    (400, Status.UNVERIFIED),
])
def test_day_boundaries_with_the_default_interval(days: int, expected: Status) -> None:
    a = art()
    assert status_on(a, D(2026, 1, 1) + dt.timedelta(days=days)) is expected


def test_review_by_and_days_left() -> None:
    v = evaluate(art(), TEAMS, D(2026, 3, 31))
    assert v.review_by == D(2026, 4, 1)
    assert v.days_left == 1
    assert v.interval_days == 90
    assert not v.banner
    v = evaluate(art(), TEAMS, D(2026, 4, 16))
    assert v.status is Status.UNVERIFIED
    assert v.banner
    assert v.days_left == -15


def test_interval_precedence_article_then_team_then_default() -> None:
    cfg = PolicyConfig()
    assert interval_days(art(review_interval_days=30), TEAMS, cfg) == 30
    assert interval_days(art(team="desk"), TEAMS, cfg) == 180
    # No team field: the owner's team, then the service's team decide the override.
    assert interval_days(art(team=None, owner="ann@x.example"), TEAMS, cfg) == 180
    assert interval_days(art(team=None, services=("sso",)), TEAMS, cfg) == 180
    assert interval_days(art(team=None, services=("vpn",)), TEAMS, cfg) == 90
    assert interval_days(art(team=None), TEAMS, PolicyConfig(default_interval_days=30)) == 30


def test_created_is_used_when_never_reviewed() -> None:
    a = art(last_reviewed=None, created=D(2026, 2, 1))
    assert evaluate(a, TEAMS, D(2026, 2, 2)).review_by == D(2026, 5, 2)


def test_configurable_due_soon_and_grace() -> None:
    a = art()  # review-by 2026-04-01
    assert status_on(a, D(2026, 3, 25), due_soon_days=7) is Status.DUE_SOON
    assert status_on(a, D(2026, 3, 24), due_soon_days=7) is Status.FRESH
    assert status_on(a, D(2026, 4, 4), grace_days=3) is Status.STALE
    assert status_on(a, D(2026, 4, 5), grace_days=3) is Status.UNVERIFIED
    assert status_on(a, D(2026, 4, 2), grace_days=0) is Status.UNVERIFIED


def test_missing_dates_are_stale_from_the_start() -> None:
    a = art(last_reviewed=None, created=None)
    v = evaluate(a, TEAMS, D(2026, 1, 1))
    assert v.status is Status.STALE
    assert v.review_by is None
    cfg = PolicyConfig()
    assert classify(None, D(2026, 1, 15), cfg, undated_since=D(2026, 1, 1)) is Status.STALE
    assert classify(None, D(2026, 1, 16), cfg, undated_since=D(2026, 1, 1)) is Status.UNVERIFIED


def test_leap_years() -> None:
    # 2028 is a leap year: 90 days after 2027-12-31 is 2028-03-30 (29 Feb counts).
    a = art(last_reviewed=D(2027, 12, 31))
    assert evaluate(a, TEAMS, D(2028, 1, 1)).review_by == D(2028, 3, 30)
    assert status_on(a, D(2028, 3, 30)) is Status.DUE_SOON
    assert status_on(a, D(2028, 3, 31)) is Status.STALE
    # Reviewed on 29 February itself.
    b = art(last_reviewed=D(2028, 2, 29), review_interval_days=365)
    assert evaluate(b, TEAMS, D(2028, 3, 1)).review_by == D(2029, 2, 28)
    # Not a leap year: the same span lands a day later.
    c = art(last_reviewed=D(2026, 12, 31))
    assert evaluate(c, TEAMS, D(2027, 1, 1)).review_by == D(2027, 3, 31)


def test_time_zones_convert_before_taking_the_date() -> None:
    a = art()  # review-by 2026-04-01: the 1st is due_soon, the 2nd is stale
    late_utc = dt.datetime(2026, 4, 1, 23, 30, tzinfo=dt.UTC)
    assert status_on(a, late_utc) is Status.DUE_SOON
    assert status_on(a, late_utc, timezone="Europe/Berlin") is Status.STALE  # 01:30 on the 2nd
    early_tokyo = dt.datetime(2026, 4, 2, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert status_on(a, early_tokyo) is Status.DUE_SOON  # 22:00 UTC on the 1st
    assert status_on(a, early_tokyo, timezone="Asia/Tokyo") is Status.STALE
    assert status_on(a, early_tokyo, timezone="America/New_York") is Status.DUE_SOON
    naive = dt.datetime(2026, 4, 1, 23, 30)  # taken as UTC
    assert local_date(naive, "Europe/Berlin") == D(2026, 4, 2)
    with pytest.raises(Exception, match="Nowhere"):
        PolicyConfig(timezone="Nowhere/Land")


def test_recorded_review_and_git_review_reset_review_by() -> None:
    a = art()  # file says reviewed 2026-01-01
    today = D(2026, 6, 1)
    assert status_on(a, today) is Status.UNVERIFIED
    v = evaluate(a, TEAMS, today, recorded_review=D(2026, 5, 30))  # reviewed through the API
    assert (v.status, v.review_by) == (Status.FRESH, D(2026, 8, 28))
    moved = art(last_reviewed=D(2026, 5, 31))  # last_reviewed moved forward in Git
    assert evaluate(moved, TEAMS, today, recorded_review=D(2026, 5, 30)).review_by == D(2026, 8, 29)
    # An older DB review never moves review-by backwards.
    assert evaluate(moved, TEAMS, today, recorded_review=D(2026, 1, 1)).review_by == D(2026, 8, 29)


def test_status_parse_lists_allowed_values() -> None:
    assert Status.parse("due_soon") is Status.DUE_SOON
    with pytest.raises(ValueError, match="fresh, due_soon, stale, unverified"):
        Status.parse("expired")
