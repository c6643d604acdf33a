"""Ingest: templated articles, imported wiki pages, malformed files, snapshots and incremental builds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from indexer.article import Audience, Severity, audience_vocabulary
from indexer.build import build_index, chunk_article
from indexer.content import scan_content
from indexer.embed import Embedder
from indexer.parse import parse_text
from indexer.search import Searcher
from indexer.snapshot import Snapshot, current_version

TEMPLATED = """---
id: vpn-down
title: VPN will not connect
symptoms: ["The connection attempt failed"]
error_codes: [GP-0403]
services: [vpn]
audience: [end-user]
owner: a@example.com
team: network
created: 2026-01-02
last_reviewed: 2026-03-04
---
# VPN will not connect

## Symptom
The client says "The connection attempt failed".

## Likely causes
1. Expired password
2. Gateway down

## Diagnostic steps
1. Check the status page.

## Resolution
1. Reset your password.

## Escalation criteria
- Everyone is affected.
"""


def write(root: Path, rel: str, data: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_templated_article_is_parsed_into_typed_fields() -> None:
    article = parse_text(TEMPLATED, "end-user/vpn-down.md").article
    assert article is not None
    assert article.id == "vpn-down"
    assert article.audience == (Audience.END_USER,)
    assert article.error_codes == ("GP-0403",)
    assert article.last_reviewed == dt.date(2026, 3, 4)
    causes = article.section("likely_causes")
    assert causes is not None and causes.ordered_list
    assert causes.list_items == ("Expired password", "Gateway down")
    assert article.section("resolution") is not None
    assert article.section("symptom").line == 15  # type: ignore[union-attr]


def test_imported_markdown_hugo_front_matter_and_headings() -> None:
    text = "---\ntitle: Alertmanager Failed Reload\nweight: 20\n---\n# AlertmanagerFailedReload\n\n" \
           "## Meaning\nThe config failed.\n\n## Mitigation\nFix it.\n"
    article = parse_text(text, "runbooks/AlertmanagerFailedReload.md").article
    assert article is not None
    assert article.title == "Alertmanager Failed Reload"
    assert article.id == "runbooks/AlertmanagerFailedReload"
    assert [s.heading for s in article.sections if s.level == 2] == ["Meaning", "Mitigation"]
    assert article.extra == {"weight": 20}
    assert not article.templated


def test_toml_front_matter_and_title_from_first_heading() -> None:
    article = parse_text('+++\nweight = 3\n+++\n\nIntro.\n\n# Disk full\n\nText.', "a.md").article
    assert article is not None and article.title == "Disk full"


def test_page_without_any_title_is_named_after_its_file() -> None:
    result = parse_text("## What to check\n\n1. The exporter.\n", "docs/target-is-down.md")
    assert result.article is not None and result.article.title == "Target is down"
    assert [i.code for i in result.issues] == ["title-from-filename"]


def test_unknown_audience_gets_the_default_and_a_warning(tmp_path: Path) -> None:
    """DESIGN.md's rule, with the built-in vocabulary: an unknown audience is a warning at its
    line and the configured default applies."""
    write(tmp_path, "a.md", "---\ntitle: A\naudience: ITPro\n---\nBody\n")
    write(tmp_path, "b.md", "---\ntitle: B\nowner: x@y\naudience: [end-user, securty]\n---\nB\n")
    scan = scan_content(tmp_path, default_audience=Audience.END_USER)
    assert {a.path: a.audience for a in scan.articles} == {
        "a.md": (Audience.END_USER,), "b.md": (Audience.END_USER,)}
    issues = sorted(str(i) for i in scan.issues if i.code == "unknown-audience")
    assert issues == [
        "a.md:3: unknown-audience unknown audience 'ITPro' (allowed: end-user, engineer)",
        "b.md:4: unknown-audience unknown audience 'securty' (allowed: end-user, engineer)"]
    assert all(i.severity is Severity.WARNING for i in scan.issues
               if i.code == "unknown-audience")
    assert ("a.md", "default-audience") in {(i.path, i.code) for i in scan.issues}


def test_with_added_audiences_an_unknown_one_is_an_error_and_never_widens(tmp_path: Path) -> None:
    """Once the organisation adds audiences (security), an unknown audience may be a mistyped
    added one: an error at its line, and an article naming only such audiences is left out (the
    default would widen it); one naming a known audience too keeps that one."""
    write(tmp_path, "a.md", "---\ntitle: A\naudience: securty\n---\nBody\n")
    write(tmp_path, "b.md", "---\ntitle: B\nowner: x@y\naudience: [end-user, securty]\n---\nB\n")
    write(tmp_path, "c.md", "---\ntitle: C\naudience: security\n---\nBody\n")
    write(tmp_path, "d.md", "---\ntitle: D\n---\nBody\n")
    scan = scan_content(tmp_path, default_audience=Audience.END_USER,
                        audiences=audience_vocabulary(["security"]))
    assert {a.path: a.audience for a in scan.articles} == {
        "b.md": (Audience.END_USER,), "c.md": (Audience("security"),),
        "d.md": (Audience.END_USER,)}
    assert set(scan.skipped) == {"a.md"}
    errors = sorted(str(i) for i in scan.issues if i.code == "unknown-audience")
    assert errors == [
        "a.md:3: unknown-audience unknown audience 'securty' "
        "(allowed: end-user, engineer, security)",
        "b.md:4: unknown-audience unknown audience 'securty' "
        "(allowed: end-user, engineer, security)"]
    assert all(i.severity is Severity.ERROR for i in scan.issues if i.code == "unknown-audience")
    assert ("d.md", "default-audience") in {(i.path, i.code) for i in scan.issues}


def test_malformed_articles_are_reported_with_their_path_and_skipped(tmp_path: Path) -> None:
    write(tmp_path, "good.md", TEMPLATED)
    write(tmp_path, "bad-yaml.md", "---\ntitle: [unclosed\nowner: x\n---\n# T\n")
    write(tmp_path, "no-title.md", "---\nowner: a@example.com\n---\nJust text.\n")
    write(tmp_path, "binary.md", bytes(range(256)) * 40)
    write(tmp_path, "huge.md", "# Huge\n" + "x" * (5 * 1024 * 1024))
    write(tmp_path, "latin1.md", "# Café crème\n\nRésumé du problème.\n".encode("latin-1"))
    write(tmp_path, "empty.md", "")
    scan = scan_content(tmp_path)
    assert [a.path for a in scan.articles] == ["good.md", "latin1.md"]
    assert scan.articles[1].title == "Café crème"
    by_path = {i.path: i for i in scan.issues if i.severity is Severity.ERROR}
    assert by_path["bad-yaml.md"].code == "bad-front-matter"
    assert by_path["bad-yaml.md"].line == 2
    assert by_path["no-title.md"].code == "no-title"
    assert by_path["binary.md"].code == "not-text"
    assert by_path["huge.md"].code == "too-large"
    assert by_path["empty.md"].code == "empty"
    assert set(scan.skipped) == {"bad-yaml.md", "no-title.md", "binary.md", "huge.md", "empty.md"}
    assert str(by_path["bad-yaml.md"]).startswith("bad-yaml.md:2: bad-front-matter ")


def test_lint_reports_template_and_metadata_problems(tmp_path: Path) -> None:
    write(tmp_path, "teams.yaml", "teams:\n  net: {members: [a@example.com]}\nservices: {vpn: net}\n")
    broken = (TEMPLATED.replace("id: vpn-down\n", "")
              .replace("last_reviewed: 2026-03-04", "last_reviewed: 2026-13-45")
              .replace("audience: [end-user]", "audience: [end-user, robots]")
              .replace("owner: a@example.com\nteam: network\n", "services: [nothing]\n")
              .replace("services: [vpn]\n", "")
              .replace("1. Expired password\n2. Gateway down", "Probably the password.")
              .replace("## Escalation criteria\n- Everyone is affected.\n", "")
              + "\nSee [the runbook](missing.md).\n")
    write(tmp_path, "a.md", broken)
    write(tmp_path, "b.md", TEMPLATED)
    write(tmp_path, "c.md", TEMPLATED)
    scan = scan_content(tmp_path)
    codes = {(i.path, i.code) for i in scan.issues}
    for expected in [("a.md", "bad-date"), ("a.md", "unknown-audience"), ("a.md", "no-owner"),
                     ("a.md", "causes-not-list"), ("a.md", "missing-section"),
                     ("a.md", "broken-link"), ("c.md", "duplicate-id")]:
        assert expected in codes, expected
    assert ("b.md", "duplicate-id") not in codes
    link = next(i for i in scan.issues if i.code == "broken-link")
    assert link.line == broken.count("\n", 0, broken.index("[the runbook]")) + 1


def test_sections_become_chunks_with_the_title() -> None:
    article = parse_text(TEMPLATED, "vpn-down.md").article
    assert article is not None
    chunks = chunk_article(0, article)
    assert chunks[0].kind == "head" and "The connection attempt failed" in chunks[0].text
    assert {c.kind for c in chunks[1:]} >= {"symptom", "likely_causes", "resolution"}
    assert all(c.text.startswith("VPN will not connect") for c in chunks)


LINKED = """# Sidekiq Service

* [Service Overview](https://dashboards.example.net/d/sidekiq-main/sidekiq-overview)
* [Back to the top](#sidekiq-service)

## Troubleshooting

Queues back up when workers are saturated; see [Kubernetes](../kube/kubernetes.md) and
[Kubernetes again](../kube/kubernetes.md).
"""


def test_chunks_carry_their_link_targets_for_the_dense_leg() -> None:
    """A wiki links a page to the service, dashboard and runbook it is about: the dense leg
    embeds the targets beside the text (each once, anchors of the page itself left out)."""
    article = parse_text(LINKED, "docs/sidekiq/README.md").article
    assert article is not None
    head, body = chunk_article(0, article)
    assert "https://dashboards.example.net/d/sidekiq-main/sidekiq-overview" in head.text
    assert "#sidekiq-service" not in head.text
    assert body.text.count("../kube/kubernetes.md") == 1
    assert "Queues back up" in body.text


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    write(root, "vpn-down.md", TEMPLATED)
    for i, topic in enumerate(["printer offline", "mailbox full", "disk full"]):
        write(root, f"a{i}.md", f"# {topic.title()}\n\n## Symptom\nThe {topic} problem.\n")
    return root


def test_incremental_build_reembeds_only_the_changed_article(
        small_kb: Path, tmp_path: Path, embedder: Embedder) -> None:
    index = tmp_path / "index"
    emb = embedder.with_cache(index / "embeddings.sqlite")  # the session's model, loaded once
    first = build_index(small_kb, index, emb)
    assert first.embedded == first.chunks
    again = build_index(small_kb, index, emb)
    assert again.embedded == 0
    write(small_kb, "a1.md", "# Mailbox Full\n\n## Symptom\nYour mailbox is over its quota.\n")
    third = build_index(small_kb, index, emb)
    assert third.embedded == 1  # one section changed; the title chunk was already known
    assert third.version != first.version
    assert current_version(index) == third.version


def test_interrupted_build_leaves_the_previous_snapshot_in_service(
        small_kb: Path, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "index"
    emb = embedder.with_cache(index / "embeddings.sqlite")  # the session's model, loaded once
    good = build_index(small_kb, index, emb)
    write(small_kb, "new.md", "# Brand new article\n\nAbout badge printing.\n")

    def crash(self: object, directory: Path) -> None:
        raise OSError("disk full while writing the dense index")

    monkeypatch.setattr("indexer.legs.dense.DenseLeg.save", crash)
    with pytest.raises(OSError, match="disk full"):
        build_index(small_kb, index, emb)
    assert current_version(index) == good.version
    # The failed build's half-written files are gone (a full disk must not stay full).
    assert [p.name for p in (index / "versions").iterdir()] == [good.version]
    searcher = Searcher.open(index, embedder)
    assert searcher.version == good.version
    assert searcher.search("printer offline").results[0].article.path == "a0.md"
    assert len(Snapshot.load(index).articles) == 4
    manifest = json.loads((index / "versions" / good.version / "manifest.json").read_text())
    assert manifest["articles"] == 4
