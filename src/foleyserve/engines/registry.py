"""Build the engine that settings name. Engines import their heavy dependencies lazily."""

from __future__ import annotations

from foleyserve.engines.base import FoleyEngine
from foleyserve.settings import Settings


def create_engine(settings: Settings) -> FoleyEngine:
    if settings.engine == "procedural":
        from foleyserve.engines.procedural.engine import ProceduralEngine
        from foleyserve.engines.procedural.prompts import MiniLMEmbedder

        embedder = MiniLMEmbedder() if settings.text_embedder == "minilm" else None
        return ProceduralEngine(embedder)
    if settings.engine == "hunyuan":
        from foleyserve.engines.hunyuan.factory import create_hunyuan_engine

        return create_hunyuan_engine(settings)
    if settings.engine == "null":
        from foleyserve.engines.null import NullEngine

        return NullEngine()
    raise AssertionError(f"unknown engine {settings.engine!r}")  # Settings validates the name
