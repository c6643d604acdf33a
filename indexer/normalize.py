"""Text normalisation: an IT-aware tokenizer and the clean-up of pasted log lines and stack traces.

The tokenizer keeps identifiers whole (``0x80070005``, ``ORA-12154``, ``ERR_CONNECTION_RESET``,
``java.lang.OutOfMemoryError``, ``KubePodCrashLooping``, ``std::vector``) *and* emits their parts,
so an exact paste matches the rare whole token while a partial mention still matches the parts.
``plain`` and ``inline_plain`` turn Markdown into the text that is indexed and shown: the markup
goes (as markdown-it parses it: emphasis only where it is emphasis), identifiers stay as written.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import snowballstemmer
from markdown_it import MarkdownIt
from markdown_it.token import Token

STOPWORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "been", "being", "but", "by", "can", "could",
        "did", "do", "does", "doing", "for", "from", "had", "has", "have", "having", "he", "her",
        "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
        "me", "my", "myself", "no", "nor", "not", "of", "off", "on", "once", "only", "or", "other",
        "our", "ours", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than",
        "that", "the", "their", "theirs", "them", "then", "there", "these", "they", "this", "those",
        "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when",
        "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
        "yours", "yourself"
    )
)

# A word: letters and digits, joined inside by ``.``, ``_``, ``-`` or ``::`` (identifiers stay whole).
WORD = re.compile(r"[A-Za-z0-9](?:(?:[A-Za-z0-9._\-]|::)*[A-Za-z0-9])?")
_JOINERS = re.compile(r"(?:[._\-]|::)+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_HEX_CODE = re.compile(r"0x[0-9a-f]+")
# Snowball stemmers keep the word being stemmed on the object: one per thread, or concurrent
# searches corrupt each other's state (seen as IndexError under load).
_LOCAL = threading.local()


def _stemmer() -> Any:
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word)) if len(word) > 3 else word


_STOP_TOKENS = frozenset(_stem(w) for w in STOPWORDS)


@lru_cache(maxsize=200_000)
def word_tokens(word: str) -> tuple[str, ...]:
    """The tokens of one ``WORD`` match (see ``tokenize``)."""
    low = word.lower()
    if low.isalpha():
        # An ordinary word, or a CamelCase identifier kept whole plus its humps.
        humps = _CAMEL.findall(word)
        if len(humps) > 1 and not word.isupper():
            return (low, *(_stem(h.lower()) for h in humps if h.lower() not in STOPWORDS))
        return (_stem(low),)
    out = [low]
    parts = [p for p in _JOINERS.split(word) if p]
    if len(parts) > 1 or (len(parts) == 1 and parts[0] != word):
        for part in parts:
            out.extend(t for t in word_tokens(part) if t != low)
    elif not low.isdigit() and not _HEX_CODE.fullmatch(low):
        humps = _CAMEL.findall(word)
        if len(humps) > 1:
            out.extend(h.lower() for h in humps if h.lower() not in STOPWORDS)
    return tuple(out)


def is_stopword_token(token: str) -> bool:
    return token in _STOP_TOKENS


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed tokens; identifiers appear whole and split into their parts."""
    out: list[str] = []
    for word in WORD.findall(text):
        out.extend(word_tokens(word))
    return out


_MD = MarkdownIt("commonmark").enable("table")
_TAG = re.compile(r"<[^>]{1,200}>")
_BLANKS = re.compile(r"[ \t]+")
_LINE_ENDS = {"heading_close": "\n\n", "tr_close": "\n", "table_close": "\n",
              "th_close": " | ", "td_close": " | "}


def _inline_text(children: list[Token], keep_html: bool = False) -> str:
    """The text of inline tokens; ``keep_html`` keeps inline HTML as literal text (a title is
    shown as written and escaped where it is rendered, never interpreted)."""
    out: list[str] = []
    for tok in children:
        if tok.type in ("text", "code_inline"):
            out.append(tok.content)  # code exactly as written, without its backticks
        elif tok.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif tok.type == "image":
            out.append(_inline_text(tok.children or []))  # its alt text
        elif tok.type == "html_inline":
            out.append(tok.content if keep_html else " ")
    return "".join(out)


def plain(markdown: str) -> str:
    """Markdown reduced to its text, paragraphs separated by blank lines: emphasis, link targets,
    HTML tags and list markers go; words, link labels, code and identifiers stay as written
    (``node_filesystem_avail_bytes``, ``count(*)``, ``std::vector``)."""
    return _plain(_MD.parse(markdown))


def plain_and_targets(markdown: str) -> tuple[str, str]:
    """``plain(markdown)`` and the link targets in ``markdown``, from one parse. The targets as
    written, each distinct one once, space-separated: wikis link a page to the service,
    dashboard and runbook it is about (``../kube/kubernetes.md``,
    ``https://dashboards.example.net/d/sidekiq-main/sidekiq-overview``), and ``plain`` drops
    them. Links to an anchor of the same page say nothing and are left out."""
    tokens = _MD.parse(markdown)
    return _plain(tokens), _targets(tokens)


def _plain(tokens: list[Token]) -> str:
    out: list[str] = []
    for tok in tokens:
        if tok.type == "inline":
            out.append(_inline_text(tok.children or []))
        elif tok.type == "paragraph_close":
            out.append("\n" if tok.hidden else "\n\n")  # hidden: an item of a tight list
        elif tok.type in ("fence", "code_block"):
            out.append(tok.content + "\n")
        elif tok.type == "html_block":
            out.append(_TAG.sub(" ", tok.content) + "\n")
        elif tok.type in _LINE_ENDS:
            out.append(_LINE_ENDS[tok.type])
    text = _BLANKS.sub(" ", "".join(out))
    return re.sub(r"\n(?: ?\n)+", "\n\n", "\n".join(line.strip() for line in text.split("\n"))
                  ).strip()


def _targets(tokens: list[Token]) -> str:
    out: list[str] = []
    for tok in tokens:
        for child in tok.children or []:
            href = child.attrGet("href") if child.type == "link_open" else None
            if isinstance(href, str) and href and not href.startswith("#"):
                out.append(href)
    return " ".join(dict.fromkeys(out))


def inline_plain(text: str) -> str:
    """One line of inline Markdown (a title, a heading) as text: emphasis and code marks go."""
    tokens = _MD.parseInline(text)
    found = _inline_text(tokens[0].children or [], keep_html=True) if tokens else text
    return _BLANKS.sub(" ", found).strip()


def ident_key(text: str) -> str:
    """The key an identifier is matched on: lower-case alphanumeric runs joined by one space."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_NOISE: list[tuple[re.Pattern[str], str]] = [
    # klog / glog prefix: I1127 16:05:32.123456   12345 file.go:42]
    (re.compile(r"(?m)^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+\S+:\d+\]"), " "),
    # timestamps: ISO 8601, dates, clock times, syslog month-day
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"),
     " "),
    (re.compile(r"\b\d{4}[-/.]\d{2}[-/.]\d{2}\b"), " "),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), " "),
    (re.compile(rf"\b(?:{_MONTHS})\s+\d{{1,2}}\b"), " "),
    # UUIDs / GUIDs, with or without braces
    (re.compile(r"\{?\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b\}?"),
     " "),
    # IPv4 (optional port) and IPv6
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), " "),
    (re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b"), " "),
    # Kubernetes pod names: deployment-<replicaset hash>-<5 chars> keeps the deployment name
    (re.compile(r"\b([a-z][a-z0-9-]*?)-[a-f0-9]{8,10}-[a-z0-9]{5}\b"), r"\1"),
    # bare hex ids (request ids, trace ids, commit hashes), not 0x-prefixed error codes
    (re.compile(r"(?<![xX])\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b"), " "),
    # "correlation id: ...", "request-id=...", "trace_id ..." and their values
    (re.compile(r"(?i)\b(?:x-)?(?:correlation|request|trace|span|session|activity|tracking|"
                r"client[ -]?request|operation)[ _-]?id\b\s*[:=#]?\s*(?:[\w.\-]*\d[\w.\-]*)?"), " "),
    # log levels at the start of the line or after the (now removed) timestamp
    (re.compile(r"(?m)^[\s\[\]()|:,-]*(?:level=)?(?:ERROR|ERR|WARN|WARNING|INFO|DEBUG|FATAL|"
                r"CRITICAL|TRACE|error|warn|warning|info|debug|fatal)\b[:\]]?"), " "),
    (re.compile(r"\blevel=\w+\b"), " "),
    # empty brackets left behind
    (re.compile(r"[\[(]\s*[\])]"), " "),
]
_SPACES = re.compile(r"[ \t]+")


def normalize_query(text: str) -> str:
    """Strip the parts of a pasted log line that no article contains: times, ids, levels."""
    out = text
    for pattern, repl in _NOISE:
        out = pattern.sub(repl, out)
    out = _SPACES.sub(" ", out)
    return "\n".join(line.strip() for line in out.splitlines() if line.strip())


_QUESTION = re.compile(
    r"(?i)^\s*(?:how|what|why|where|when|who|which|"
    r"(?:can|could|is|are|do|does|did|should|will|would|has|have)\s+"
    r"(?:i|you|we|my|it|there|the|a|an|someone|somebody|anyone|people|this|they))\b"
)
_IDENTIFIER = re.compile(
    r"\b(?:0x[0-9a-fA-F]{4,}|[A-Za-z]+[_.][A-Za-z0-9_.]+|[A-Z]{2,}[-_]?\d{2,}|\d{3}(?:\s\d\.\d\.\d+)?|"
    r"[a-z]+[A-Z][A-Za-z0-9]*|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*)\b"
)


@dataclass(frozen=True)
class QueryShape:
    """Surface features that tell a pasted error from a question; they steer the fusion weights."""

    words: int
    identifiers: int
    question: bool

    @property
    def identifier_ratio(self) -> float:
        return self.identifiers / self.words if self.words else 0.0


def query_shape(raw: str, normalized: str) -> QueryShape:
    words = len(WORD.findall(normalized))
    idents = len(_IDENTIFIER.findall(normalized))
    question = bool(_QUESTION.match(normalized)) or normalized.rstrip().endswith("?")
    return QueryShape(words, idents, question)
