"""A query prepared once for every leg: raw text, normalised text, tokens, shape and, once the
dense leg needs it, its embedding."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from indexer.normalize import QueryShape, normalize_query, query_shape, tokenize

MAX_QUERY_CHARS = 8192


@dataclass(frozen=True)
class PreparedQuery:
    raw: str
    normalized: str
    tokens: tuple[str, ...]
    shape: QueryShape
    # The original query (and its normalised form, when that differs), kept short enough for
    # the fuzzy leg's character alignment.
    fuzzy_texts: tuple[str, ...] = field(default=())
    # The normalised text's embedding (``with_vector``); None until a search embeds it.
    vector: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)

    def with_vector(self, vector: npt.NDArray[np.float32]) -> PreparedQuery:
        return dataclasses.replace(self, vector=vector)

    @classmethod
    def from_text(cls, text: str) -> PreparedQuery:
        raw = " ".join(text[:MAX_QUERY_CHARS].split()) if "\n" not in text else text[:MAX_QUERY_CHARS]
        normalized = normalize_query(raw) or raw.strip()
        return cls(
            raw=raw,
            normalized=normalized,
            tokens=tuple(tokenize(normalized)),
            shape=query_shape(raw, normalized),
            fuzzy_texts=tuple(dict.fromkeys(" ".join(t.split())[:400] for t in (raw, normalized))),
        )
