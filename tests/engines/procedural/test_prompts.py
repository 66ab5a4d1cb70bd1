"""Prompt -> recipe selection, with the real MiniLM model and with the keyword fallback.

Threshold calibration (MiniLM, best-family cosine similarity): the on-topic phrases of the
table below score 0.57-1.0 (most above 0.7); off-topic prompt words score at most 0.54
("loud" 0.54, "a man talking" 0.53, "noisy" 0.53, "text" 0.52, "reverb" 0.51, "singing"
0.50). `MATCH_THRESHOLD` = 0.55 sits in that gap; the keyword fallback catches on-topic
phrases that fall under it ("a plane flying overhead" 0.46). `test_threshold_separates_*`
keep the calibration honest when descriptions change.
"""

from __future__ import annotations

import pytest

from foleyserve.engines.procedural.phrases import matches_keyword, split_phrases
from foleyserve.engines.procedural.prompts import (
    MATCH_THRESHOLD,
    MiniLMEmbedder,
    RecipeMatcher,
    Selection,
    select_recipes,
)
from foleyserve.engines.procedural.recipes import RECIPES

# prompt -> {family: variant} it must select (exactly these families).
PROMPTS: list[tuple[str, dict[str, str]]] = [
    ("footsteps on gravel", {"footsteps": "gravel"}),
    ("someone walking on a wooden floor", {"footsteps": "wood"}),
    ("footsteps in the snow", {"footsteps": "snow"}),
    ("walking through grass", {"footsteps": "grass"}),
    ("high heels on a tile floor", {"footsteps": "concrete"}),
    ("a man walks down the hallway", {"footsteps": "gravel"}),
    ("glass shatters", {"glass": "shatter"}),
    ("a window breaking", {"glass": "shatter"}),
    ("clinking glasses", {"glass": "clink"}),
    ("heavy rain on a tin roof", {"rain": "tin_roof"}),
    ("light drizzle", {"rain": "light"}),
    ("rain", {"rain": "steady"}),
    ("wind howling through trees", {"wind": "howling"}),
    ("gentle breeze", {"wind": "breeze"}),
    ("rain and distant thunder", {"rain": "steady", "thunder": "distant"}),
    ("a car engine revving", {"engine": "car"}),
    ("motorbike passing by", {"engine": "motorbike"}),
    ("a truck idling", {"engine": "truck"}),
    ("crackling campfire", {"fire": "campfire"}),
    ("fire roaring", {"fire": "blaze"}),
    ("waves crashing", {"water": "waves"}),
    ("stream babbling", {"water": "stream"}),
    ("bubbling water", {"water": "bubbles"}),
    ("birds chirping in the morning", {"birds": "chirping"}),
    ("a crow cawing", {"birds": "crows"}),
    ("crowd applauding", {"crowd": "applause"}),
    ("people chatting in a cafe", {"crowd": "murmur"}),
    ("fans cheering in a stadium", {"crowd": "cheering"}),
    ("door slams shut", {"door": "slam"}),
    ("creaky door", {"door": "creak"}),
    ("knocking on the door", {"door": "knock"}),
    ("sword swoosh", {"whoosh": "swish"}),
    ("punch to the face", {"impacts": "punch"}),
    ("ball bouncing on the floor", {"impacts": "ball"}),
    ("a heavy box falls", {"impacts": "thud"}),
    ("metal pipe clang", {"metal": "clang"}),
    ("a chain rattling", {"metal": "chain"}),
    ("church bell ringing", {"metal": "bell"}),
    ("typing on a keyboard", {"typing": "keyboard"}),
    ("clock ticking", {"clock": "wall"}),
    ("a gunshot", {"explosion": "gunshot"}),
    ("an explosion", {"explosion": "explosion"}),
    ("splash into a pool", {"splash": "splash"}),
    ("water dripping", {"splash": "drip"}),
    ("paper crumpling", {"rustle": "paper"}),
    ("leaves rustling", {"rustle": "leaves"}),
    (
        "footsteps on gravel, birds chirping and wind",
        {"footsteps": "gravel", "birds": "chirping", "wind": "gusty"},
    ),
    ("The sound of a car passing by with rain", {"engine": "car", "rain": "steady"}),
    ("running water", {"water": "stream"}),
    ("a metal door slamming", {"door": "slam"}),
    ("footsteps on a metal staircase", {"footsteps": "metal"}),
]

# Phrases the keyword fallback cannot handle (no keyword in them, or one that misleads).
NEEDS_MODEL = {
    "a window breaking": "'window' is a glass keyword, but 'breaking' is not",
    "a heavy box falls": "'fall' picks impacts but 'heavy' alone does not say thud",
}

OFF_TOPIC = [
    "noisy",
    "harsh",
    "music",
    "low quality",
    "distorted",
    "a man talking",
    "reverb",
    "cinematic",
    "loud",
    "text",
    "vocals",
    "singing",
    "silence",
    "muffled",
]


def _as_dict(selections: list[Selection]) -> dict[str, str]:
    return {s.family: s.variant for s in selections}


@pytest.mark.parametrize(("prompt", "expected"), PROMPTS, ids=[p for p, _ in PROMPTS])
def test_minilm_selects_the_expected_recipes(
    minilm: MiniLMEmbedder, prompt: str, expected: dict[str, str]
) -> None:
    assert _as_dict(select_recipes(prompt, embedder=minilm)) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [(p, e) for p, e in PROMPTS if p not in NEEDS_MODEL],
    ids=[p for p, _ in PROMPTS if p not in NEEDS_MODEL],
)
def test_keyword_fallback_selects_the_expected_families(
    prompt: str, expected: dict[str, str]
) -> None:
    selections = select_recipes(prompt, embedder=None)
    assert {s.family for s in selections} == set(expected)
    assert all(s.score == 1.0 for s in selections)


def test_threshold_separates_on_topic_from_off_topic(minilm: MiniLMEmbedder) -> None:
    matcher = RecipeMatcher(minilm, threshold=0.0)
    phrases = [phrase for prompt, _ in PROMPTS for phrase in split_phrases(prompt)[0]]
    on_topic = [s.score for s in matcher.match_all(phrases) if s is not None]
    off_topic = [s.score for s in matcher.match_all(OFF_TOPIC) if s is not None]
    assert max(off_topic) < MATCH_THRESHOLD
    assert sorted(on_topic)[len(on_topic) // 20] > MATCH_THRESHOLD  # 95% of them clear it


def test_off_topic_words_select_nothing(minilm: MiniLMEmbedder) -> None:
    assert select_recipes(", ".join(OFF_TOPIC), embedder=minilm) == []
    assert select_recipes(", ".join(OFF_TOPIC), embedder=None) == []


@pytest.mark.parametrize("embedder_kind", ["minilm", "keywords"])
def test_negative_prompt_removes_the_families_it_names(
    minilm: MiniLMEmbedder, embedder_kind: str
) -> None:
    embedder = minilm if embedder_kind == "minilm" else None
    selections = select_recipes("rain and thunder", "thunder", embedder=embedder)
    assert [s.family for s in selections] == ["rain"]


def test_vague_negative_prompt_removes_nothing(minilm: MiniLMEmbedder) -> None:
    selections = select_recipes("footsteps on gravel", "noisy, harsh", embedder=minilm)
    assert _as_dict(selections) == {"footsteps": "gravel"}
    selections = select_recipes(
        "footsteps, birds", "low quality, distorted, music", embedder=minilm
    )
    assert [s.family for s in selections] == ["footsteps", "birds"]


def test_negated_phrases_in_the_prompt_exclude(minilm: MiniLMEmbedder) -> None:
    assert [s.family for s in select_recipes("rain without thunder", embedder=minilm)] == ["rain"]
    assert [s.family for s in select_recipes("footsteps, no music", embedder=minilm)] == [
        "footsteps"
    ]


def test_selection_records_phrase_and_score(minilm: MiniLMEmbedder) -> None:
    (selection,) = select_recipes("Heavy rain on a tin roof", embedder=minilm)
    assert selection.phrase == "heavy rain on a tin roof"
    assert MATCH_THRESHOLD <= selection.score <= 1.0


def test_families_are_deduplicated_keeping_the_best_phrase(minilm: MiniLMEmbedder) -> None:
    selections = select_recipes("a door creaks open, then the door slams shut", embedder=minilm)
    assert [s.family for s in selections] == ["door"]


def test_nothing_matched_is_an_empty_list(minilm: MiniLMEmbedder) -> None:
    assert select_recipes("", embedder=minilm) == []
    assert select_recipes("a beautiful sunset", embedder=None) == []


def test_every_variant_description_selects_its_own_variant(minilm: MiniLMEmbedder) -> None:
    for family, recipe in RECIPES.items():
        for variant, description in recipe.variants.items():
            got = _as_dict(select_recipes(description, embedder=minilm))
            assert got.get(family) == variant, (description, got)


def test_description_embeddings_are_computed_once_per_embedder(minilm: MiniLMEmbedder) -> None:
    class Counting:
        def __init__(self) -> None:
            self.texts = 0

        def embed(self, texts: list[str]) -> object:
            self.texts += len(texts)
            return minilm.embed(texts)

    counting = Counting()
    select_recipes("rain", embedder=counting)  # type: ignore[arg-type]
    after_first = counting.texts
    select_recipes("wind", embedder=counting)  # type: ignore[arg-type]
    assert counting.texts == after_first + 1


@pytest.mark.parametrize(
    ("prompt", "phrases", "negated"),
    [
        ("rain on a tin roof", ["rain on a tin roof"], []),
        ("rain and distant thunder", ["rain", "distant thunder"], []),
        ("The sound of rain with thunder", ["rain", "thunder"], []),
        ("footsteps, no music", ["footsteps"], ["music"]),
        ("rain without thunder", ["rain"], ["thunder"]),
        (
            "sword swoosh + door slam; glass & wind",
            ["sword swoosh", "door slam", "glass", "wind"],
            [],
        ),
        ("engine sounds", ["engine"], []),
        ("  ,, and ", [], []),
    ],
)
def test_split_phrases(prompt: str, phrases: list[str], negated: list[str]) -> None:
    assert split_phrases(prompt) == (phrases, negated)


@pytest.mark.parametrize(
    ("token", "keyword", "expected"),
    [
        ("crackling", "crackl", True),
        ("slamming", "slam", True),
        ("revving", "rev", True),
        ("birds", "bird", True),
        ("carpet", "car", False),
        ("rainbow", "rain", False),
        ("lightning", "light", False),
    ],
)
def test_matches_keyword(token: str, keyword: str, expected: bool) -> None:
    assert matches_keyword(token, keyword) is expected
