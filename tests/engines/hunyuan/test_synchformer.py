"""The Synchformer video branch against the official code (golden/synchformer-tiny), and its
loading: official key names, strict checks, and errors that name what to do.

The model is built from meta.json through `SynchformerConfig.from_meta`; the weights are the
official `vfeat_extractor.*` keys stored as bfloat16 and loaded as float32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from foleyserve.engines.hunyuan.synchformer import (
    OFFICIAL,
    SYNCHFORMER_FILE,
    Synchformer,
    SynchformerConfig,
    init_random_,
    load_synchformer,
    sync_features,
)
from foleyserve.errors import ConfigError

GOLDEN = Path(__file__).resolve().parents[4] / "shared" / "golden" / "synchformer-tiny"
"""Reference tensors from the official code, kept beside the repo in <repo>/../shared/golden."""
TOLERANCE = 1e-4
TINY = SynchformerConfig(embed_dim=32, depth=1, num_heads=2)
"""A fast toy architecture for the loading tests."""


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double() - ref.double()).norm() / ref.double().norm())


@pytest.fixture(scope="module")
def golden_meta() -> dict[str, Any]:
    if not (GOLDEN / "meta.json").is_file():
        pytest.skip(f"golden reference tensors not found in {GOLDEN}")
    meta: dict[str, Any] = json.loads((GOLDEN / "meta.json").read_text())
    return meta


@pytest.fixture(scope="module")
def golden_model(golden_meta: dict[str, Any]) -> Synchformer:
    config = SynchformerConfig.from_meta(golden_meta)
    return load_synchformer(GOLDEN / "vfeat_extractor.safetensors", config)


@pytest.fixture(scope="module")
def golden_io() -> dict[str, torch.Tensor]:
    return {
        "x": load_file(GOLDEN / "input.safetensors")["x"].float(),
        **load_file(GOLDEN / "output.safetensors"),
    }


def test_config_from_meta(golden_meta: dict[str, Any]) -> None:
    config = SynchformerConfig.from_meta(golden_meta)
    assert (config.embed_dim, config.depth, config.num_heads) == (64, 2, 2)
    assert (config.temporal_tokens, config.spatial_tokens, config.eps) == (8, 196, 1e-6)
    assert SynchformerConfig.from_meta({}) == OFFICIAL
    assert (OFFICIAL.embed_dim, OFFICIAL.depth, OFFICIAL.num_heads) == (768, 12, 12)


def test_config_refuses_what_it_does_not_compute() -> None:
    with pytest.raises(ConfigError, match="divided"):
        SynchformerConfig.from_meta({"config_official": {"ATTN_LAYER": "joint"}})
    with pytest.raises(ConfigError, match="square"):
        SynchformerConfig.from_meta({"patch": [2, 16, 8]})
    with pytest.raises(ConfigError, match="spatial_tokens"):
        SynchformerConfig.from_meta({"spatial_tokens": 100})
    with pytest.raises(ConfigError, match="divisible"):
        SynchformerConfig(embed_dim=64, num_heads=3)


def test_matches_official(golden_model: Synchformer, golden_io: dict[str, torch.Tensor]) -> None:
    x = golden_io["x"]
    with torch.inference_mode():
        tokens = golden_model.encode(x.flatten(0, 1))
        feats = golden_model.aggregate(tokens).view(1, 2, 8, 64)
    token_error = relative_error(tokens, golden_io["tokens_after_norm"])
    feats_error = relative_error(feats, golden_io["feats"])
    print(f"Synchformer tokens {token_error:.3g}, feats {feats_error:.3g}")
    assert token_error < TOLERANCE
    assert feats_error < TOLERANCE


def test_windows_are_independent(
    golden_model: Synchformer, golden_io: dict[str, torch.Tensor]
) -> None:
    """All windows in one call ([B, S, ...]) or one window at a time: the same numbers."""
    x = golden_io["x"]
    with torch.inference_mode():
        together = golden_model(x)
    one_by_one = sync_features(golden_model, x[0], max_windows=1)
    assert together.shape == golden_io["feats"].shape == (1, 2, 8, 64)
    assert one_by_one.dtype == torch.float32
    assert relative_error(one_by_one, together[0]) < 1e-6
    assert relative_error(together, golden_io["feats"]) < TOLERANCE


def test_bf16_autocast_on_the_cpu(
    golden_model: Synchformer, golden_io: dict[str, torch.Tensor]
) -> None:
    """bf16 is not within the float32 tolerance; the figure is recorded in docs/engines.md."""
    ours = sync_features(golden_model, golden_io["x"][0], autocast_dtype=torch.bfloat16)
    error = relative_error(ours, golden_io["feats"][0])
    print(f"Synchformer bf16 autocast relative error {error:.3g}")
    assert ours.dtype == torch.float32
    assert TOLERANCE < error < 5e-2


def test_bad_window_shape(golden_model: Synchformer) -> None:
    with pytest.raises(ValueError, match="windows must be"):
        golden_model.encode(torch.zeros(1, 8, 3, 224, 224))
    with pytest.raises(ValueError, match="max_windows"):
        sync_features(golden_model, torch.zeros(1, 16, 3, 224, 224), max_windows=0)
    empty = sync_features(golden_model, torch.zeros(0, 16, 3, 224, 224))
    assert empty.shape == (0, 8, 64)


# ------------------------------------------------------------------------------ loading


def _tiny_state(prefix: str = "vfeat_extractor.") -> dict[str, torch.Tensor]:
    model = init_random_(Synchformer(TINY), seed=1)
    state = {prefix + key: value.clone() for key, value in model.state_dict().items()}
    # As in the official checkpoint: the unused 2-D patch embedding and the audio branch.
    state[prefix + "patch_embed.proj.weight"] = torch.zeros(TINY.embed_dim, 3, 16, 16)
    state[prefix + "patch_embed.proj.bias"] = torch.zeros(TINY.embed_dim)
    state["afeat_extractor.norm.weight"] = torch.ones(TINY.embed_dim)
    state["vproj.weight"] = torch.zeros(768, 768)
    return state


def _window(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 16, 3, 224, 224, generator=generator) * 2 - 1


def test_official_pth_loads_only_the_video_branch(tmp_path: Path) -> None:
    state = _tiny_state()
    torch.save(state, tmp_path / SYNCHFORMER_FILE)
    model = load_synchformer(tmp_path, TINY)  # the directory: the official name is found
    assert not model.training
    assert all(not p.requires_grad for p in model.parameters())
    reference = init_random_(Synchformer(TINY), seed=1).eval()
    window = _window()
    ours = sync_features(model, window)
    assert relative_error(ours, sync_features(reference, window)) < 1e-6
    assert ours.shape == (1, 8, TINY.embed_dim)


def test_safetensors_copy_in_fp16_loads(tmp_path: Path) -> None:
    state = {key: value.half() for key, value in _tiny_state().items()}
    save_file(state, tmp_path / "synchformer_state_dict.safetensors")
    model = load_synchformer(tmp_path, TINY)
    assert model.pos_embed.dtype == torch.float32
    reference = init_random_(Synchformer(TINY), seed=1).eval()
    window = _window()
    error = relative_error(sync_features(model, window), sync_features(reference, window))
    assert 0 < error < 1e-2  # fp16-rounded weights, float32 compute


def test_missing_file_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"synchformer_state_dict\.pth.*tencent/HunyuanVid") as e:
        load_synchformer(tmp_path, TINY)
    assert e.value.code == "model_file_missing"
    with pytest.raises(ConfigError, match=r"sync\.safetensors not found") as e:
        load_synchformer(tmp_path / "sync.safetensors", TINY)
    assert e.value.code == "model_file_missing"


def test_strict_keys_list_what_is_wrong(tmp_path: Path) -> None:
    state = _tiny_state()
    del state["vfeat_extractor.temp_embed"]
    state["vfeat_extractor.blocks.0.extra.weight"] = torch.zeros(1)
    state["vfeat_extractor.norm.weight"] = torch.ones(TINY.embed_dim + 1)
    path = tmp_path / "broken.safetensors"
    save_file(state, path)
    with pytest.raises(ConfigError) as e:
        load_synchformer(path, TINY)
    message = str(e.value)
    assert e.value.code == "checkpoint_mismatch"
    assert "1 missing key(s): temp_embed" in message
    assert "1 unexpected key(s): blocks.0.extra.weight" in message
    assert "norm.weight (33,) (expected (32,))" in message
    assert "patch_embed.proj" not in message


def test_a_different_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    save_file(_tiny_state(), path)
    with pytest.raises(ConfigError, match="wrong shape"):
        load_synchformer(path, SynchformerConfig(embed_dim=64, depth=1, num_heads=2))


def test_not_a_weights_file(tmp_path: Path) -> None:
    path = tmp_path / SYNCHFORMER_FILE
    path.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="weights-only torch file"):
        load_synchformer(path, TINY)
