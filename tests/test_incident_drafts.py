"""Drafts in the template (issue 14 item 3): ``fieldguide incidents draft`` and
``POST /api/incidents/{id}/draft``.

Properties proved:

1. The draft is the house template prefilled from the incident: ``id`` = file stem, ``title`` and
   the H1 from the alert summary, ``symptoms`` from it and the searches (error messages first),
   ``error_codes`` from the title, searches and notes, ``alerts``, ``services``, ``team``, the
   responder as ``owner``, ``created`` today; the timeline and what was tried (runbook steps
   done, articles opened, searches) in one HTML comment that no incident text can close early;
   ``## Related`` links to the articles used. Hostile titles round-trip through YAML and
   Markdown.
2. A draft never overwrites a file (``-2``, ``-3``... also past an article id already taken) and
   never lands outside ``content/drafts/`` whatever the title; a ``drafts`` symlink is refused.
3. ``fieldguide lint`` accepts a fresh draft with one ``todo`` warning per section to write and
   exit 0; real problems in a draft are still errors; a ``TODO`` left in a published article is
   an error.
4. The CLI through the real entry point prints the draft's path; an unknown incident is one line
   on stderr, exit 2, no traceback; ``--branch`` outside a Git work tree is one line and writes
   nothing.
5. ``--branch`` with a real ``git`` repository: a new branch whose commit is ``HEAD`` plus the
   draft, the current branch, its index (staged changes) and work tree untouched; an existing or
   malformed branch name is refused before anything is written.
6. The API: engineer or admin, 201 with the path and the text; anonymous 401, unknown 404, wrong
   types 422, ``branch`` outside a Git work tree 409, each with the error body; the timeline
   records the draft. SQLite and PostgreSQL.
7. Drafts are never served, through the real app after a reindex: not in search, article pages
   (JSON and HTML), chat sources, Slack ``/kb``, the alert intake's runbook or coverage, while a
   published article added at the same time is in all of them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import main
from app.db import make_engine, session_factory, upgrade
from app.services.incident_records import IncidentRecords
from incidents.config import IncidentsConfig
from incidents.drafts import (
    DraftError,
    compose_draft,
    error_codes_in,
    slug_for,
    write_draft,
    write_incident_draft,
)
from incidents.records import (
    Activity,
    ActivityEntry,
    Incident,
    IncidentCreate,
    Phase,
    TimelineEntry,
)
from incidents.severity import Severity
from indexer.content import scan_content
from indexer.parse import parse_text
from indexer.teams import TEAMS_FILE, TeamsConfig
from tests import incident_support
from tests.api_support import ADMIN, CONTENT, ENGINEER, assert_error, copy_index
from tests.hooks_support import BEARER
from tests.test_chatops import SLACK_SECRET, slack_form, slack_headers

make_client = incident_support.make_client  # the fixture

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 12, 4)
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
TEAMS, _ = TeamsConfig.load(CONTENT / TEAMS_FILE)
RUNBOOK = "hikari-connection-pool-exhausted"


def _incident(title: str = "PaymentsApiHigh5xxRate: checkout returns 502", **kw: Any) -> Incident:
    def at(minutes: int) -> dt.datetime:
        return T0 + dt.timedelta(minutes=minutes)

    values: dict[str, Any] = dict(
        id=12, source="pagerduty", external_id="Q1INC", title=title, severity=Severity.P2,
        status=Phase.RESOLVED, services=("payments-api",), alerts=("PaymentsApiHigh5xxRate",),
        team="payments", channel="#team-payments", responder="elena.petrova@brightwater.example",
        runbook_id=RUNBOOK, runbook_status="fresh", started_at=T0, acknowledged_at=at(2),
        diagnosed_at=at(20), resolved_at=at(45), retro_outcome=None, retro_article_id=None,
        retro_asked_at=None, retro_reminded_at=None, retro_missed_at=None,
        timeline=(TimelineEntry(T0, "triggered", "pagerduty", "P2", None),
                  TimelineEntry(at(2), "acknowledged", "elena.petrova@brightwater.example", None,
                                None),
                  TimelineEntry(at(20), "diagnosed", "elena.petrova@brightwater.example", None,
                                "pool at 30/30, SQLTransientConnectionException -- see -->"),
                  TimelineEntry(at(45), "resolved", "elena.petrova@brightwater.example", None,
                                "raised maximumPoolSize")),
        activity=(ActivityEntry(T0, Activity.RUNBOOK, RUNBOOK, {"freshness": "fresh"}, "intake"),
                  ActivityEntry(at(5), Activity.SEARCH,
                                "2026-12-01T09:04:11Z ERROR HikariPool-1 - Connection is not "
                                "available, request timed out after 30000ms",
                                {"results": [RUNBOOK]}, "ana"),
                  ActivityEntry(at(6), Activity.SEARCH, "checkout slow", {"results": []}, "ana"),
                  ActivityEntry(at(8), Activity.VIEW, "high-p99-latency", {}, "ana"),
                  ActivityEntry(at(9), Activity.STEP, RUNBOOK, {"step": 1}, "ana"),
                  ActivityEntry(at(10), Activity.STEP, RUNBOOK, {"step": 3}, "ana")))
    values.update(kw)
    return Incident(**values)


def _front(text: str) -> dict[str, Any]:
    block = text.split("---\n")[1]
    loaded: dict[str, Any] = yaml.safe_load(block)
    return loaded


def _articles() -> dict[str, Any]:
    return {a.id: a for a in scan_content(CONTENT).articles}


# -- 1. the text -------------------------------------------------------------------------------

def test_the_draft_is_the_template_prefilled_from_the_incident() -> None:
    articles = _articles()
    text = compose_draft(_incident(), "payments-5xx", teams=TEAMS, today=TODAY,
                         article_of=articles.get)
    front = _front(text)
    assert front["id"] == "payments-5xx"
    assert front["title"] == "PaymentsApiHigh5xxRate: checkout returns 502"
    assert front["symptoms"] == [
        "PaymentsApiHigh5xxRate: checkout returns 502",
        "HikariPool-1 - Connection is not available, request timed out after 30000ms",
        "checkout slow"]
    assert front["error_codes"] == ["HTTP 502", "SQLTransientConnectionException"]
    assert front["alerts"] == ["PaymentsApiHigh5xxRate"]
    assert front["services"] == ["payments-api"]
    assert front["owner"] == "elena.petrova@brightwater.example"
    assert front["team"] == "payments" and front["audience"] == ["engineer"]
    assert front["created"] == TODAY  # YAML reads the date back as a date
    result = parse_text(text, "drafts/payments-5xx.md")
    article = result.article
    assert article is not None and result.issues == ()
    assert [s.key for s in article.sections if s.key] == [
        "symptom", "likely_causes", "diagnostic_steps", "resolution", "escalation_criteria"]
    symptom = article.section("symptom")
    assert symptom is not None and "`PaymentsApiHigh5xxRate`" in symptom.text
    assert "`SQLTransientConnectionException`" in symptom.text
    # One comment, opened once and closed once: the "-->" in a note cannot end it early.
    assert text.count("<!--") == 1 and text.count("-->") == 1
    comment = text[text.index("<!--"):text.index("-->")]
    assert "- 2026-12-01 09:20 diagnosed by elena.petrova@brightwater.example: pool at 30/30" in comment
    assert "- - see - ->" in comment
    assert (f"- Runbook posted: {RUNBOOK} (freshness fresh); diagnostic steps done: 1, 3"
            in comment)
    assert "- Article opened: high-p99-latency (High p99 latency" in comment
    assert '- Searched "checkout slow" at 2026-12-01 09:06: nothing found' in comment
    # Team payments reviews every 60 days (teams.yaml).
    assert "Review by 2027-02-02: created + 60 days (team payments's interval)" in comment
    related = text.split("## Related\n")[1]
    assert f"(../{articles[RUNBOOK].path})" in related
    assert f"(../{articles['high-p99-latency'].path})" in related


def test_a_draft_never_names_an_article_its_writer_may_not_read() -> None:
    """The writer may not read the runbook (an added audience's, say security): the draft made
    for them leaves out its post, its steps, the searches' hits on it and its links."""
    articles = _articles()
    hidden = {RUNBOOK}.__contains__
    text = compose_draft(_incident().without(hidden), "payments-5xx", teams=TEAMS, today=TODAY,
                         article_of=lambda i: None if hidden(i) else articles.get(i))
    assert RUNBOOK not in text and articles[RUNBOOK].path not in text
    assert "high-p99-latency" in text  # what the writer may read stays
    assert "HikariPool-1" in text  # the search itself stays, without its hidden hit
    whole = compose_draft(_incident(), "payments-5xx", teams=TEAMS, today=TODAY,
                          article_of=articles.get)
    assert RUNBOOK in whole  # so the check above can fail


def test_no_email_no_activity_and_hostile_titles() -> None:
    hostile = 'Disk: "full" # on [db-1]\n---\n<script>alert(1)</script> *x* `y` -->'
    incident = _incident(title=hostile, responder="Ana Ruiz", alerts=(), services=(),
                         team=None, runbook_id=None,
                         timeline=(TimelineEntry(T0, "triggered", None, "P3", None),),
                         activity=())
    text = compose_draft(incident, "disk-full", teams=TEAMS, today=TODAY)
    front = _front(text)
    assert front["title"] == " ".join(hostile.split())
    assert "owner" not in front and "team" not in front
    assert front["alerts"] == [] and front["services"] == []
    assert "No owner: the responder (Ana Ruiz) has no email address recorded" in text
    assert "- nothing recorded (no runbook posted, no search or article view carried " \
           "incident=12)" in text
    article = parse_text(text, "drafts/disk-full.md").article
    assert article is not None and article.title.startswith('Disk: "full" # on [db-1]')
    body = text.split("\n---\n", 1)[1]
    outside = body[:body.index("<!--")] + body[body.index("-->"):]
    assert "<script>" not in outside and "\\<script\\>" in outside
    assert outside.startswith("# Disk: \"full\" \\# on \\[db-1\\]")
    assert "## Related" not in text


def test_error_codes_and_slugs() -> None:
    assert error_codes_in(["upstream 503 Service Unavailable", "curl: ERR_CONNECTION_RESET",
                           "java.lang.OutOfMemoryError in pod", "0x80070005 and AADSTS50126",
                           "GP-0403 then 554 5.2.2", "pod in CrashLoopBackOff, OOMKilled",
                           "dial tcp: ECONNREFUSED", "504s from the LB",
                           "trace id 4bf92f3577b34da6a3ce929d0e0e4736 latency 500 ms"]) == (
        "HTTP 503", "ERR_CONNECTION_RESET", "java.lang.OutOfMemoryError", "0x80070005",
        "AADSTS50126", "GP-0403", "554 5.2.2", "CrashLoopBackOff", "OOMKilled", "ECONNREFUSED",
        "HTTP 504")
    assert slug_for(_incident(title="KubePodCrashLooping")) == "kube-pod-crash-looping"
    assert slug_for(_incident(title="../../etc/passwd")) == "etc-passwd"
    assert slug_for(_incident(title="--- !!! ---")) == "incident-12"
    assert slug_for(_incident(title="Ünïcode ça marche")) == "unicode-ca-marche"
    long = slug_for(_incident(title="word " * 40))
    assert len(long) <= 60 and not long.endswith("-")


# -- 2. the file ------------------------------------------------------------------------------

def test_never_overwrites_and_never_leaves_drafts(tmp_path: Path) -> None:
    content = tmp_path / "content"
    (content / "engineering").mkdir(parents=True)
    (content / "engineering" / "taken-elsewhere.md").write_text("# Published\n")
    drafts = content / "drafts"
    drafts.mkdir()
    (drafts / "checkout-502.md").write_text("mine, hand-written\n")
    made = [write_draft(content, "checkout-502", lambda name: f"# {name}\n") for _ in range(2)]
    assert [m.rel for m in made] == ["drafts/checkout-502-2.md", "drafts/checkout-502-3.md"]
    assert (drafts / "checkout-502.md").read_text() == "mine, hand-written\n"
    assert made[1].path.read_text() == "# checkout-502-3\n"
    # An id an article already has (file stem, or an id given by the caller) is skipped too.
    assert write_draft(content, "taken-elsewhere", lambda n: n).slug == "taken-elsewhere-2"
    assert write_draft(content, "some-id", lambda n: n, taken={"some-id"}).slug == "some-id-2"
    # A symbolic link where a draft would go is never followed nor replaced.
    (drafts / "linked.md").symlink_to(tmp_path / "outside.md")
    assert write_draft(content, "linked", lambda n: n).slug == "linked-2"
    assert not (tmp_path / "outside.md").exists()
    with pytest.raises(DraftError, match="not a slug"):
        write_draft(content, "../escape", lambda n: n)
    hostile = write_incident_draft(_incident(title="../../../tmp/x\x00 /etc/cron.d/evil"),
                                   content, teams=TEAMS, today=TODAY)
    assert hostile.path.parent == drafts and hostile.slug == "tmp-x-etc-cron-d-evil"
    other = tmp_path / "other"
    (other / "real-drafts").mkdir(parents=True)
    (other / "drafts").symlink_to(other / "real-drafts")
    with pytest.raises(DraftError, match="symbolic link"):
        write_draft(other, "x", lambda n: n)
    assert list((other / "real-drafts").iterdir()) == []
    with pytest.raises(DraftError, match="does not exist"):
        write_draft(tmp_path / "missing", "x", lambda n: n)


# -- 3. lint -------------------------------------------------------------------------------------

def _lint(content: Path) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(["lint", "--content", str(content)], out)
    return code, out.getvalue().splitlines()


def test_lint_accepts_a_fresh_draft_with_todo_warnings(tmp_path: Path) -> None:
    content = shutil.copytree(CONTENT, tmp_path / "content")
    before = set(_lint(content)[1])
    made = write_incident_draft(_incident(), content, teams=TEAMS, today=dt.date.today(),
                                article_of=_articles().get)
    code, lines = _lint(content)
    assert code == 0, lines
    new = sorted(set(lines) - before)
    assert [line.split(": ", 1)[1].split(" ", 1)[0] for line in new] == ["todo"] * 4
    assert all(line.startswith(made.rel + ":") and line.endswith("(warning)") for line in new)
    assert any("section `## Likely causes` is still to be written (replace its TODO)" in line
               for line in new)

    # Real problems are still errors in a draft.
    broken = made.text.replace("team: payments", "team: no-such-team").replace(
        "created: ", "last_reviewed: 2026-02-30\ncreated: ") + "\n[gone](../engineering/gone.md)\n"
    (content / "drafts" / "broken.md").write_text(broken.replace(f"id: {made.slug}",
                                                                 "id: broken"))
    code, lines = _lint(content)
    assert code == 1
    errors = {line.split(": ", 1)[1].split(" ", 1)[0] for line in lines
              if line.startswith("drafts/broken.md") and not line.endswith("(warning)")}
    assert errors == {"bad-date", "unknown-team", "broken-link"}
    (content / "drafts" / "broken.md").unlink()
    # A draft claiming a published article's id: a warning (publishing it would clash).
    (content / "drafts" / "clash.md").write_text(made.text.replace(f"id: {made.slug}",
                                                                   "id: high-p99-latency"))
    code, lines = _lint(content)
    assert code == 0
    assert ("drafts/clash.md:1: duplicate-id id 'high-p99-latency' is already used by "
            "engineering/high-p99-latency.md: rename the draft before publishing it (warning)"
            in lines)
    (content / "drafts" / "clash.md").unlink()

    # Moved out of drafts/ with its TODOs: an error each; written: clean.
    published = content / "engineering" / f"{made.slug}.md"
    made.path.rename(published)
    code, lines = _lint(content)
    assert code == 1
    assert sum(f"engineering/{made.slug}.md" in line and " todo " in line
               and "(warning)" not in line for line in lines) == 4
    text = published.read_text()
    for todo in [line for line in text.splitlines() if line.startswith("TODO")]:
        text = text.replace(todo, "1. Written by the responder.")
    published.write_text(text)
    code, lines = _lint(content)
    assert code == 0 and set(lines) == before, sorted(set(lines) - before)


# -- 4. and 5. the CLI ---------------------------------------------------------------------------

def _records(db: str, content: Path) -> IncidentRecords:
    engine = make_engine(db)
    upgrade(engine)
    return IncidentRecords.build(IncidentsConfig(), session_factory(engine),
                                 teams=lambda: TeamsConfig.load(content / TEAMS_FILE)[0])


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("fieldguide")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def _env(tmp_path: Path, db: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "FIELDGUIDE_DATABASE_URL": db,
            "FIELDGUIDE_DATA_DIR": str(tmp_path / "data"),
            "GIT_AUTHOR_NAME": "Ana Ruiz", "GIT_AUTHOR_EMAIL": "elena.petrova@brightwater.example",
            "GIT_COMMITTER_NAME": "Ana Ruiz",
            "GIT_COMMITTER_EMAIL": "elena.petrova@brightwater.example"}


def _open_incident(records: IncidentRecords) -> int:
    made = records.create(IncidentCreate("Checkout returns 502", Severity.P2,
                                         services=("checkout-web",), alerts=("CheckoutWeb5xx",),
                                         started_at=T0, by="pagerduty"))
    records.patch(made.id, Phase.ACKNOWLEDGED, at=T0 + dt.timedelta(minutes=3),
                  by="raj.iyer@brightwater.example")
    records.searched(made.id, "upstream connect error 503 Service Unavailable", [], "noah")
    records.viewed(made.id, "lb-504-gateway-timeout", "noah")
    return made.id


def test_cli_through_the_entry_point(tmp_path: Path) -> None:
    content = shutil.copytree(CONTENT, tmp_path / "content")
    db = f"sqlite:///{tmp_path / 'fieldguide.sqlite'}"
    iid = _open_incident(_records(db, content))
    env = _env(tmp_path, db)
    run = _cli("incidents", "draft", str(iid), "--content", str(content), env=env)
    assert run.returncode == 0, run.stderr
    path = Path(run.stdout.strip())
    assert path == content / "drafts" / "checkout-returns-502.md"
    text = path.read_text()
    front = _front(text)
    assert front["owner"] == "raj.iyer@brightwater.example"
    assert front["team"] == "payments" and front["error_codes"] == ["HTTP 502", "HTTP 503"]
    assert "- Article opened: lb-504-gateway-timeout (" in text
    again = _cli("incidents", "draft", str(iid), "--content", str(content), "--json", env=env)
    assert json.loads(again.stdout)["path"] == str(content / "drafts" /
                                                   "checkout-returns-502-2.md")
    assert path.read_text() == text  # the first one untouched

    unknown = _cli("incidents", "draft", "4242", "--content", str(content), env=env)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == "fieldguide incidents: no incident 4242\n"
    bad = _cli("incidents", "draft", "x", "--content", str(content), env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    nogit = _cli("incidents", "draft", str(iid), "--content", str(content), "--branch", env=env)
    assert nogit.returncode == 2 and "Traceback" not in nogit.stderr
    assert nogit.stderr.count("\n") == 1 and "is not a Git work tree" in nogit.stderr
    assert sorted(p.name for p in (content / "drafts").iterdir()) == [
        "checkout-returns-502-2.md", "checkout-returns-502.md"]
    missing = _cli("incidents", "draft", str(iid), "--content", str(tmp_path / "nope"), env=env)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e",
                               "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@e"}).stdout


def test_branch_commit_with_real_git(tmp_path: Path) -> None:
    repo = tmp_path / "kb"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    content = shutil.copytree(CONTENT, repo / "content")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the knowledge base")
    head = _git(repo, "rev-parse", "HEAD").strip()
    # Work in progress the draft must not touch: staged, unstaged and untracked.
    (content / "teams.yaml").write_text((content / "teams.yaml").read_text() + "# staged\n")
    _git(repo, "add", "content/teams.yaml")
    (content / "end-user" / "printer-offline.md").write_text("unstaged edit\n")
    (repo / "notes.txt").write_text("untracked\n")
    status = _git(repo, "status", "--porcelain")
    staged = _git(repo, "diff", "--cached")
    db = f"sqlite:///{tmp_path / 'fieldguide.sqlite'}"
    iid = _open_incident(_records(db, content))
    env = _env(tmp_path, db)

    run = _cli("incidents", "draft", str(iid), "--content", str(content), "--branch", env=env)
    assert run.returncode == 0, run.stderr
    branch = f"kb-draft/incident-{iid}-checkout-returns-502"
    assert f"on branch {branch} (not pushed)" in run.stderr
    draft = Path(run.stdout.strip())
    commit = _git(repo, "rev-parse", branch).strip()
    assert _git(repo, "rev-parse", f"{commit}^").strip() == head
    assert _git(repo, "diff", "--name-status", head, commit) == \
        "A\tcontent/drafts/checkout-returns-502.md\n"
    assert _git(repo, "show", f"{commit}:content/drafts/checkout-returns-502.md") == \
        draft.read_text()
    assert _git(repo, "log", "-1", "--format=%s", commit) == \
        f"Draft article from incident {iid}: Checkout returns 502\n"
    # The user's branch, index and work tree are as they were, plus the untracked draft.
    assert _git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert _git(repo, "rev-parse", "HEAD").strip() == head
    assert _git(repo, "diff", "--cached") == staged
    assert sorted(_git(repo, "status", "--porcelain").splitlines()) == sorted(
        [*status.splitlines(), "?? content/drafts/"])
    assert _git(repo, "branch", "-r") == ""  # nothing pushed, no remote touched

    named = _cli("incidents", "draft", str(iid), "--content", str(content), "--branch",
                 "review/checkout", env=env)
    assert named.returncode == 0, named.stderr
    assert _git(repo, "diff", "--name-only", head, "review/checkout") == \
        "content/drafts/checkout-returns-502-2.md\n"
    for name, why in (("review/checkout", "already exists"), ("bad..name", "not a branch name")):
        refused = _cli("incidents", "draft", str(iid), "--content", str(content), "--branch",
                       name, env=env)
        assert refused.returncode == 2 and why in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1
    assert len(list((content / "drafts").iterdir())) == 2  # nothing written when refused


# -- 6. the API ----------------------------------------------------------------------------------

def test_api_draft(make_client: Any, tmp_path: Path) -> None:
    content = shutil.copytree(CONTENT, tmp_path / "api-content")
    client = make_client(content_dir=content)
    r = client.post("/api/incidents", headers=ENGINEER, json={
        "title": "Checkout returns 502", "severity": "P2", "services": ["checkout-web"],
        "alerts": ["CheckoutWeb5xx"], "started_at": "2026-12-01T09:00:00Z"})
    iid = r.json()["id"]
    client.patch(f"/api/incidents/{iid}", headers=ENGINEER, json={
        "status": "acknowledged", "by": "raj.iyer@brightwater.example",
        "at": "2026-12-01T09:03:00Z"})
    assert client.get("/api/search", params={"q": "ERR_CONNECTION_RESET on checkout",
                                             "incident": iid}, headers=ENGINEER).status_code == 200
    r = client.post(f"/api/incidents/{iid}/draft", headers=ENGINEER)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["path"] == "drafts/checkout-returns-502.md" and body["id"] == "checkout-returns-502"
    assert body["branch"] is None and body["commit"] is None
    assert (content / body["path"]).read_text() == body["text"]
    front = _front(body["text"])
    assert front["error_codes"] == ["HTTP 502", "ERR_CONNECTION_RESET"]
    assert front["owner"] == "raj.iyer@brightwater.example"
    again = client.post(f"/api/incidents/{iid}/draft", headers=ADMIN, json={"by": "lead"})
    assert again.status_code == 201 and again.json()["path"] == "drafts/checkout-returns-502-2.md"
    timeline = client.get(f"/api/incidents/{iid}", headers=ENGINEER).json()["timeline"]
    drafts = [t for t in timeline if t["kind"] == "draft"]
    assert [t["value"] for t in drafts] == [body["path"], again.json()["path"]]
    assert drafts[1]["by"] == "lead"

    assert_error(client.post(f"/api/incidents/{iid}/draft"), 401, "unauthorized")
    assert_error(client.post("/api/incidents/4242/draft", headers=ENGINEER), 404, "not_found")
    assert_error(client.post(f"/api/incidents/{iid}/draft", headers=ENGINEER,
                             json={"branch": "yes"}), 422)
    assert_error(client.post(f"/api/incidents/{iid}/draft", headers=ENGINEER,
                             json={"branch_name": "../../x"}), 422)
    assert_error(client.post(f"/api/incidents/{iid}/draft", headers=ENGINEER,
                             json={"unknown": 1}), 422)
    nogit = assert_error(client.post(f"/api/incidents/{iid}/draft", headers=ENGINEER,
                                     json={"branch": True}), 409, "conflict")
    assert "not a Git work tree" in nogit["error"]["message"]
    assert len(list((content / "drafts").iterdir())) == 2


# -- 7. never served -------------------------------------------------------------------------------

PUBLISHED = """---
id: quasarflux-relay-stuck
title: Quasarflux relay stuck
symptoms: [quasarflux relay stuck]
error_codes: []
alerts: [QuasarfluxRelayStuck]
services: [payments-api]
tags: []
audience: [engineer]
team: payments
created: 2026-11-01
---

# Quasarflux relay stuck

## Symptom

The quasarflux relay stops forwarding.

## Likely causes

1. The relay lost its lease.

## Diagnostic steps

1. Check the relay's lease.

## Resolution

1. Restart the relay.

## Escalation criteria

- Still stuck after a restart: page payments.
"""


def test_drafts_are_never_served(make_client: Any, tmp_path: Path, db_url: str, kb_index: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the index, not the database, decides: once is enough")
    monkeypatch.setenv("FIELDGUIDE_SLACK_SIGNING_SECRET", SLACK_SECRET)
    monkeypatch.setenv("FIELDGUIDE_SLACK_AUDIENCE", "engineer")
    content = shutil.copytree(CONTENT, tmp_path / "served-content")
    index = copy_index(kb_index, tmp_path / "served-index")
    client = make_client(content_dir=content, index_dir=index)
    iid = client.post("/api/incidents", headers=ENGINEER, json={
        "title": "Zorblax queue stalls", "severity": "P2", "services": ["payments-api"],
        "alerts": ["ZorblaxQueueStalled"]}).json()["id"]
    made = client.post(f"/api/incidents/{iid}/draft", headers=ENGINEER).json()
    slug = made["id"]
    (content / "engineering" / "quasarflux-relay-stuck.md").write_text(PUBLISHED)
    holder = client.app.state.index
    assert client.post("/api/admin/reindex", headers=ADMIN).status_code == 202
    assert holder.wait_idle(timeout=300)
    ids = {a.id for a in holder.searcher.articles()}
    assert "quasarflux-relay-stuck" in ids and slug not in ids
    assert not any(a.path.startswith("drafts/") for a in holder.searcher.articles())

    def found(q: str) -> list[str]:
        r = client.get("/api/search", params={"q": q}, headers=ENGINEER)
        assert r.status_code == 200
        return [h["id"] for h in r.json()["results"]]

    assert found("quasarflux relay stuck")[0] == "quasarflux-relay-stuck"
    assert slug not in found("Zorblax queue stalls") + found("ZorblaxQueueStalled")
    for path in (f"/api/articles/{slug}", f"/articles/{slug}", f"/api/articles/drafts/{slug}",
                 f"/articles/drafts/{slug}"):
        assert client.get(path, headers=ENGINEER).status_code == 404, path
    assert client.get("/api/articles/quasarflux-relay-stuck", headers=ENGINEER).status_code \
        == 200
    chat = client.post("/api/chat", json={"message": "the zorblax queue stalls, what do I do?"},
                       headers=ENGINEER).json()
    assert slug not in [s["id"] for s in chat["reply"]["sources"]]
    for text in ("Zorblax queue stalls", "quasarflux relay stuck"):
        body = slack_form(text)
        r = client.post("/api/chatops/slack", content=body, headers=slack_headers(body))
        assert r.status_code == 200, r.text
        links = json.dumps(r.json())
        assert f"/articles/{slug}" not in links
    assert "/articles/quasarflux-relay-stuck" in links
    group = {"version": "4", "groupKey": "zq", "status": "firing", "receiver": "r", "alerts": [
        {"status": "firing", "labels": {"alertname": name, "service": "payments-api"},
         "annotations": {"summary": name}, "startsAt": "2026-12-02T08:00:00Z",
         "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"fp-{name}"}
        for name in ("ZorblaxQueueStalled", "QuasarfluxRelayStuck")]}
    r = client.post("/api/hooks/alertmanager", json=group, headers=BEARER)
    assert r.status_code == 202, r.text
    runbooks = {a["alertname"]: (a["runbook"] or {}).get("id") for a in r.json()["alerts"]}
    assert runbooks["QuasarfluxRelayStuck"] == "quasarflux-relay-stuck"
    assert runbooks["ZorblaxQueueStalled"] != slug
    coverage = {a["alert"]: a for a in
                client.get("/api/coverage", headers=ENGINEER).json()["alerts"]}
    assert coverage["QuasarfluxRelayStuck"]["runbook"] == "quasarflux-relay-stuck"
    assert coverage["ZorblaxQueueStalled"]["runbook"] != slug
    freshness = client.get("/api/freshness", headers=ADMIN).json()
    assert slug not in json.dumps(freshness) and "quasarflux-relay-stuck" in json.dumps(freshness)

