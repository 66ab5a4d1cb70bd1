"""Prompt text handling for recipe selection: splitting a prompt into phrases, spotting negated
phrases, and matching keywords. Pure string functions, no model.

"rain and distant thunder, no music" splits into "rain", "distant thunder" and the negated
"music"; "rain on a tin roof" stays one phrase (prepositions do not split).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_SEPARATORS = re.compile(
    r"[,;+&/|.!?:()\[\]]"
    r"|\b(?:and|with|then|while|plus|also|followed\s+by|as\s+well\s+as|along\s+with|mixed\s+with)\b"
    r"|(?=\b(?:without|no)\s)",  # split before a negation, keeping it: "rain without thunder"
    re.IGNORECASE,
)
_NEGATION = re.compile(r"^(?:no|not|without|avoid|minus|except|exclude|excluding)\s+", re.I)
_FILLER_PREFIX = re.compile(
    r"^(?:(?:the|a|an|some)\s+)?(?:sounds?|noises?|audio|sfx|foley)(?:\s+effects?)?(?:\s+of)?\s+",
    re.IGNORECASE,
)
_FILLER_SUFFIX = re.compile(r"\s+(?:sounds?|noises?|sfx|audio|foley|effects?)$", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")
_PREPOSITIONS = frozenset(
    [
        "on",
        "in",
        "at",
        "through",
        "into",
        "onto",
        "over",
        "under",
        "against",
        "from",
        "of",
        "by",
        "across",
        "along",
        "near",
        "inside",
        "outside",
        "behind",
        "around",
        "off",
    ]
)

_SUFFIXES = frozenset(
    ("", "s", "es", "e", "ed", "d", "ing", "er", "ers", "y", "ies", "ion", "ions", "ly", "ic")
)
"""Endings a keyword stem may take and still match ("crackl" matches "crackle", "crackling")."""


def split_phrases(prompt: str) -> tuple[list[str], list[str]]:
    """`(phrases, negated)`: the prompt's phrases, and those it negates ("no music",
    "without wind") with the negation removed. Both lowercase, trimmed, fillers like
    "the sound of" dropped, empty phrases skipped."""
    phrases: list[str] = []
    negated: list[str] = []
    for part in _SEPARATORS.split(prompt):
        text = " ".join(part.lower().split())
        target = phrases
        if _NEGATION.match(text):
            text, target = _NEGATION.sub("", text), negated
        text = _FILLER_SUFFIX.sub("", _FILLER_PREFIX.sub("", text)).strip()
        if _WORD.search(text):
            target.append(text)
    return phrases, negated


def tokens(phrase: str) -> list[str]:
    """The lowercase words of `phrase`."""
    return _WORD.findall(phrase.lower())


def matches_keyword(token: str, keyword: str) -> bool:
    """Whether `token` is `keyword` or the stem `keyword` with a common ending (a doubled last
    consonant allowed: "slam" matches "slamming", "rev" matches "revving")."""
    if not token.startswith(keyword):
        return False
    rest = token[len(keyword) :]
    return rest in _SUFFIXES or (rest[:1] == keyword[-1:] and rest[1:] in _SUFFIXES)


def head_position(words: Sequence[str], keywords: Iterable[str]) -> int:
    """Where `keywords` name the head of the phrase: the index of the last matching word
    before the first preposition, or -1. English puts the head last in a compound ("running
    water", "metal door") and first before a prepositional phrase ("footsteps on metal")."""
    keyword_list = tuple(keywords)
    head = next((i for i, w in enumerate(words) if i > 0 and w in _PREPOSITIONS), len(words))
    hits = [i for i in range(head) if any(matches_keyword(words[i], k) for k in keyword_list)]
    return max(hits, default=-1)


def keyword_hits(words: Iterable[str], keywords: Iterable[str]) -> int:
    """How many of `words` match any of `keywords`."""
    keyword_list = tuple(keywords)
    return sum(any(matches_keyword(word, k) for k in keyword_list) for word in words)
