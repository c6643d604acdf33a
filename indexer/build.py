"""The index build: scan → chunk → embed (cached) → build the legs → write a snapshot atomically."""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.article import BUILTIN_AUDIENCES, Article, Audience, Chunk, LintIssue
from indexer.content import scan_content
from indexer.embed import Embedder, Progress
from indexer.legs.dense import HNSW_MIN_CHUNKS, DenseLeg, FaissKind
from indexer.legs.fuzzy import FuzzyLeg
from indexer.legs.lexical import LexicalLeg
from indexer.legs.tags import TagsLeg
from indexer.normalize import plain_and_targets, tokenize
from indexer.snapshot import FORMAT_VERSION, Snapshot, build_lock, new_version

CHUNK_CHARS = 1000
LINK_CHARS = 400  # of the head chunk's link targets (the lead's own text keeps its 600)
MAX_CHUNKS_PER_ARTICLE = 24


def chunk_article(doc: int, article: Article) -> list[Chunk]:
    head_parts = [article.title, *article.symptoms]
    description = article.extra.get("description")
    if isinstance(description, str):
        head_parts.append(description)
    lead = next((s for s in article.sections if s.level <= 1), None)
    if lead is not None and lead.text:
        text, targets = plain_and_targets(lead.text)
        head_parts += [text[:600], targets[:LINK_CHARS]]
    chunks = [_chunk(doc, "head", "\n".join(p for p in head_parts if p))]
    for section in article.sections:
        if section.level <= 1 or not section.text.strip():
            continue
        label = section.key or section.heading
        for window in _windows(embedded_text(section.text)):
            chunks.append(_chunk(doc, label, f"{article.title}\n{section.heading}\n{window}"))
            if len(chunks) >= MAX_CHUNKS_PER_ARTICLE:
                return chunks
    return chunks


def embedded_text(markdown: str) -> str:
    """What the dense leg embeds of a section: its text, then its link targets. Wikis link a
    page to the service, dashboard and runbook it is about; ``plain`` keeps only link labels
    (bench/README.md: the dense leg alone on GitLab's runbooks 0.499 -> 0.538 nDCG@10)."""
    text, links = plain_and_targets(markdown)
    return f"{text}\n\n{links}" if links else text


def _chunk(doc: int, kind: str, text: str) -> Chunk:
    return Chunk(doc, kind, text)


def _windows(text: str) -> list[str]:
    out: list[str] = []
    current = ""
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        while len(para) > CHUNK_CHARS:
            cut = para.rfind(" ", 0, CHUNK_CHARS)
            cut = cut if cut > CHUNK_CHARS // 2 else CHUNK_CHARS
            if current:
                out.append(current)
                current = ""
            out.append(para[:cut])
            para = para[cut:].strip()
        if len(current) + len(para) + 1 > CHUNK_CHARS and current:
            out.append(current)
            current = para
        else:
            current = f"{current}\n{para}" if current else para
    if current:
        out.append(current)
    return out


def lexical_tokens(article: Article) -> list[str]:
    """BM25 fields by repetition: the title counts three times, symptoms and handles twice; the
    link targets once (``embedded_text``)."""
    stem = article.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    handles = " ".join(article.identifiers)
    symptoms = " ".join(article.symptoms)
    description = article.extra.get("description")
    body, targets = plain_and_targets(article.body)
    return (tokenize(article.title) * 3 + tokenize(symptoms) * 2 + tokenize(handles) * 2
            + tokenize(stem) + tokenize(description if isinstance(description, str) else "")
            + tokenize(body) + tokenize(targets))


@dataclass
class BuildReport:
    version: str
    articles: int
    chunks: int
    embedded: int  # chunks embedded in this run (the rest came from the cache)
    seconds: float
    files: int
    skipped: list[str] = field(default_factory=list)
    issues: list[LintIssue] = field(default_factory=list)

    def summary(self) -> str:
        return (f"indexed {self.articles} articles ({self.chunks} chunks, {self.embedded} newly "
                f"embedded) from {self.files} files in {self.seconds:.1f}s; skipped "
                f"{len(self.skipped)}; snapshot {self.version}")


def build_snapshot(articles: Sequence[Article], embedder: Embedder,
                   faiss_kind: FaissKind = FaissKind.AUTO, progress: Progress | None = None,
                   hnsw_min_chunks: int = HNSW_MIN_CHUNKS) -> tuple[Snapshot, int, int]:
    """Build every leg in memory; returns the snapshot, the chunk count and how many were new.
    ``progress(done, total)`` follows the embedding of the chunks not in the cache. ``AUTO``
    builds an exact (flat) dense index below ``hnsw_min_chunks`` chunks and HNSW from there."""
    arts = list(articles)
    chunks = [c for d, a in enumerate(arts) for c in chunk_article(d, a)]
    vectors, embedded = embedder.encode_documents([c.text for c in chunks], progress)
    dense = DenseLeg.build(vectors, [c.article for c in chunks], len(arts), faiss_kind,
                           labels=[c.kind for c in chunks], hnsw_min_chunks=hnsw_min_chunks)
    snapshot = Snapshot(
        version=new_version(),
        manifest={"format": FORMAT_VERSION, "model": embedder.model_key, "articles": len(arts),
                  "chunks": len(chunks), "faiss": dense.kind.value,
                  "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        articles=arts,
        legs={
            TagsLeg.name: TagsLeg.build(arts),
            LexicalLeg.name: LexicalLeg.build([lexical_tokens(a) for a in arts]),
            FuzzyLeg.name: FuzzyLeg.build(arts),
            DenseLeg.name: dense,
        },
    )
    return snapshot, len(chunks), embedded


def build_index(content_dir: Path, index_dir: Path, embedder: Embedder, *,
                default_audience: Audience = Audience.ENGINEER,
                faiss_kind: FaissKind = FaissKind.AUTO,
                progress: Progress | None = None,
                hnsw_min_chunks: int = HNSW_MIN_CHUNKS,
                audiences: Collection[Audience] = BUILTIN_AUDIENCES) -> BuildReport:
    """Index ``content_dir`` into a new snapshot under ``index_dir`` and switch to it;
    ``audiences`` is the vocabulary articles' ``audience`` must come from."""
    started = time.perf_counter()
    scan = scan_content(content_dir, default_audience=default_audience, audiences=audiences)
    with build_lock(index_dir):
        snapshot, n_chunks, embedded = build_snapshot(scan.articles, embedder, faiss_kind,
                                                      progress, hnsw_min_chunks)
        snapshot.save(index_dir)
    return BuildReport(version=snapshot.version, articles=len(scan.articles), chunks=n_chunks,
                       embedded=embedded, seconds=time.perf_counter() - started, files=scan.files,
                       skipped=scan.skipped, issues=scan.issues)
