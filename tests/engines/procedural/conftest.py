"""Shared fixtures: the real MiniLM embedder, loaded once per test session, offline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from foleyserve.engines.procedural.prompts import MiniLMEmbedder


@pytest.fixture(scope="session")
def minilm() -> Iterator[MiniLMEmbedder]:
    with pytest.MonkeyPatch.context() as patch:
        # Any attempt to reach the Hugging Face hub fails the load instead of hanging.
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        embedder = MiniLMEmbedder()
        embedder.embed(["warm up"])
    yield embedder
