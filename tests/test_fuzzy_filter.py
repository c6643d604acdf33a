"""The fuzzy leg's candidate filters are exact: they never drop a string rapidfuzz scores above the
cutoff.

Properties proved here, each against rapidfuzz scoring every string:
1. The q-gram count bounds (q = 2 and 3) keep every string whose ``ratio`` or ``partial_ratio``
   reaches the cutoff, at cutoffs from 50 to 100, over strings made to be near each other
   (typos, cut words, swapped words, substrings) from a small alphabet.
2. Inside the leg's 1.5x length window, ``WRatio >= 95`` implies the ratio bound or one word set
   containing the other.
3. The leg's own candidates, over the sample knowledge base, include every string it would have
   scored above its cutoffs, for queries made from those strings with typos and for pastes.
4. Length windows, empty strings and empty indexes behave.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import LCSseq

from indexer.content import ContentScan
from indexer.legs.fuzzy import FuzzyLeg
from indexer.legs.qgrams import QGramIndex, TokenIndex, partial_ratio_possible, ratio_possible
from indexer.query import PreparedQuery

WORDS = ["disk", "dsk", "full", "ful", "access", "denied", "acess", "is", "the", "a", "not",
         "found", "error", "0x80070005", "sync", "stuck", "vpn", "e", "ab", "ba"]


def mutate(rng: random.Random, text: str) -> str:
    """A near copy: a few typos, a dropped or swapped word, or a substring."""
    kind = rng.randrange(5)
    if kind == 0 and len(text) > 4:
        start = rng.randrange(len(text) // 2)
        return text[start:start + rng.randrange(3, len(text) - start + 1)]
    if kind == 1:
        words = text.split()
        rng.shuffle(words)
        return " ".join(words)
    if kind == 2:
        words = text.split()
        if len(words) > 1:
            words.pop(rng.randrange(len(words)))
        return " ".join(words)
    chars = list(text)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(3)
        i = rng.randrange(len(chars) + 1)
        if op == 0:
            chars.insert(i, rng.choice("abcdeisu "))
        elif chars and i < len(chars):
            if op == 1:
                del chars[i]
            else:
                chars[i] = rng.choice("abcdeisu ")
    return "".join(chars)


def corpus(seed: int, size: int = 300) -> list[str]:
    rng = random.Random(seed)
    base = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) for _ in range(size)]
    return [utils.default_process(s) for s in base + [mutate(rng, s) for s in base[:size // 3]]]


def queries(seed: int, strings: list[str], count: int = 60) -> list[str]:
    rng = random.Random(seed + 1)
    picked = [mutate(rng, rng.choice(strings)) for _ in range(count)]
    return [utils.default_process(q) for q in picked if utils.default_process(q)]


@pytest.mark.parametrize("q", [2, 3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_qgram_bounds_keep_every_string_above_the_cutoff(q: int, seed: int) -> None:
    strings = corpus(seed)
    grams = QGramIndex(strings, q=q)
    checked = 0
    for text in queries(seed, strings):
        order, lengths, common = grams.window(text)
        scores = {
            "ratio": process.cdist([text], strings, scorer=fuzz.ratio, processor=None)[0],
            "partial": process.cdist([text], strings, scorer=fuzz.partial_ratio, processor=None)[0],
        }
        for cutoff in (50.0, 70.0, 80.0, 80.0 / 0.9, 95.0, 100.0):
            kept = {
                "ratio": set(order[ratio_possible(common, lengths, len(text), cutoff, q)].tolist()),
                "partial": set(order[partial_ratio_possible(common, lengths, len(text), cutoff,
                                                            q)].tolist()),
            }
            for name, values in scores.items():
                above = set(np.flatnonzero(values >= cutoff).tolist())
                checked += len(above)
                assert above <= kept[name], (name, cutoff, text,
                                             [strings[i] for i in above - kept[name]])
    assert checked > 500  # the corpus really has near matches at every cutoff


@pytest.mark.parametrize("seed", [4, 5])
def test_wratio_above_95_is_a_ratio_bound_or_a_word_subset(seed: int) -> None:
    strings = corpus(seed)
    grams = QGramIndex(strings, q=3)
    words = TokenIndex(strings)
    lengths_all = np.array([len(s) for s in strings])
    found = 0
    for text in queries(seed, strings, 120):
        n = len(text)
        scores = process.cdist([text], strings, scorer=fuzz.WRatio, processor=None,
                               score_cutoff=95)[0]
        window = (lengths_all > n / 1.5) & (lengths_all < n * 1.5)
        above = set(np.flatnonzero((scores >= 95) & window).tolist())
        order, lengths, common = grams.window(text, n / 1.5, n * 1.5)
        kept = set(order[ratio_possible(common, lengths, n, 95.0, 3)
                         | words.subset_either_way(text)[order]].tolist())
        found += len(above)
        assert above <= kept, (text, [strings[i] for i in above - kept])
    assert found > 50


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_lcs_bound_is_never_below_ratio_or_partial_ratio(seed: int) -> None:
    """``ratio`` is ``200 * LCS / (n + m)`` and ``partial_ratio`` at most ``200 * LCS / (s +
    LCS)``, ``s`` the shorter length: over near and far pairs of every length."""
    strings = corpus(seed)
    checked = 0
    for text in queries(seed, strings):
        lcs = process.cdist([text], strings, scorer=LCSseq.similarity, processor=None)[0]
        ratio = process.cdist([text], strings, scorer=fuzz.ratio, processor=None,
                              dtype=np.float64)[0]
        partial = process.cdist([text], strings, scorer=fuzz.partial_ratio, processor=None,
                                dtype=np.float64)[0]
        lengths = np.array([len(x) for x in strings], dtype=np.float64)
        assert np.all(ratio <= 200.0 * lcs / (lengths + len(text)) + 1e-6)
        shorter = np.minimum(lengths, len(text))
        bound = 200.0 * lcs / np.maximum(shorter + lcs, 1.0)
        assert np.all(partial <= bound + 1e-6), text
        checked += int((partial >= 80).sum())
    assert checked > 200  # near matches, where the bound matters


def test_short_scores_equal_scoring_every_candidate(kb: ContentScan) -> None:
    """The leg scores only the strings the LCS bound lets through: the same scores as scoring
    all of them with ratio and partial_ratio."""
    leg = FuzzyLeg.build(kb.articles)
    rng = random.Random(11)
    texts = [utils.default_process(mutate(rng, s)) for s in leg.strings for _ in range(2)]
    texts += [utils.default_process(" ".join(rng.sample(s.split(), min(3, len(s.split())))))
              for s in leg.strings]
    compared = 0
    for text in texts:
        if len(text) < 3 or leg._is_long(text):
            continue
        choices = leg._processed
        every = np.maximum(leg._cdist(text, choices, fuzz.ratio, leg.cutoff),
                           0.9 * leg._cdist(text, choices, fuzz.partial_ratio, leg.cutoff / 0.9))
        got = leg._short_scores(text, choices)
        assert got.dtype == every.dtype and np.array_equal(got, every), text
        compared += int((every > 0).sum())
    assert compared > 500


def test_the_legs_candidates_cover_everything_it_would_score(kb: ContentScan) -> None:
    leg = FuzzyLeg.build(kb.articles)
    rng = random.Random(7)
    texts = [mutate(rng, s) for s in leg.strings for _ in range(2)]
    texts += [" ".join(rng.sample(leg.strings, 2)) for _ in range(50)]  # pastes of two strings
    checked = 0
    for raw in texts:
        for text in PreparedQuery.from_text(raw).fuzzy_texts:
            text = utils.default_process(text)
            if len(text) < 3:
                continue
            processed = [utils.default_process(s) for s in leg.strings]
            n = len(text)
            lengths = np.array([len(p) for p in processed])
            if text.count(" ") >= 6:
                scores = process.cdist([text], processed, scorer=fuzz.WRatio, processor=None,
                                       score_cutoff=leg.long_cutoff)[0]
                scores[(lengths < max(20, n / 1.5)) | (lengths > n * 1.5)] = 0
            else:
                scores = np.maximum(
                    process.cdist([text], processed, scorer=fuzz.ratio, processor=None,
                                  score_cutoff=leg.cutoff)[0],
                    0.9 * process.cdist([text], processed, scorer=fuzz.partial_ratio,
                                        processor=None, score_cutoff=leg.cutoff / 0.9)[0])
                scores[lengths < n // 2] = 0
            expected = np.flatnonzero(scores > 0)
            strings, got = leg.score(text)
            checked += len(expected)
            assert strings.tolist() == expected.tolist(), raw
            assert np.allclose(got, scores[expected])
    assert checked > 100


def test_windows_and_empty_inputs() -> None:
    grams = QGramIndex(["access is denied", "disk is full", ""])
    strings, lengths, common = grams.window("acess is denied")
    assert strings.tolist() == [2, 1, 0]  # numbered by length
    assert lengths.tolist() == [0, 12, 16]
    assert common.tolist() == [0, 3, 14]
    strings, _, common = grams.window("acess is denied", 13, 20)
    assert strings.tolist() == [0] and common.tolist() == [14]
    assert grams.window("x")[2].tolist() == [0, 0, 0]  # no bigram at all
    assert [a.tolist() for a in QGramIndex([]).window("abc")] == [[], [], []]
    assert TokenIndex([]).subset_either_way("a b").tolist() == []
    assert TokenIndex(["x y", "x"]).subset_either_way("x").tolist() == [True, True]
    assert TokenIndex(["x y"]).subset_either_way("").tolist() == [False]
    with pytest.raises(ValueError, match="q must be"):
        QGramIndex(["a"], q=4)
