"""Shared fixtures for the HunyuanVideo-Foley engine tests (CPU, float32)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from foleyserve.engines.hunyuan.benchmarking import build_random
from foleyserve.engines.hunyuan.config import DiTConfig
from foleyserve.engines.hunyuan.dit import FoleyDiT

GOLDEN_DIR = Path(__file__).resolve().parents[4] / "shared" / "golden" / "hunyuan-tiny"
"""Reference tensors from the official code, kept beside the repo in <repo>/../shared/golden."""

SMALL = DiTConfig(hidden_size=64, num_heads=2, depth_triple_blocks=2, depth_single_blocks=2)
"""A fast toy architecture (head_dim 32) for behaviour tests."""


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not (GOLDEN_DIR / "meta.json").is_file():
        pytest.skip(f"golden reference tensors not found in {GOLDEN_DIR}")
    return GOLDEN_DIR


@pytest.fixture(scope="session")
def golden_meta(golden_dir: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((golden_dir / "meta.json").read_text())
    return meta


@pytest.fixture(scope="session")
def small_model() -> FoleyDiT:
    torch.manual_seed(0)
    return build_random(SMALL, seed=0, device="cpu", dtype=torch.float32)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete model directory (every component, official formats, random weights)."""
    # Imported here: transformers takes seconds to import, and most tests here never need it.
    from tests.engines.hunyuan.tiny_dir import write_tiny_model_dir

    return write_tiny_model_dir(tmp_path_factory.mktemp("hunyuan-model"))
