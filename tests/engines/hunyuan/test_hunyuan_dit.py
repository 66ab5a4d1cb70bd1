"""FoleyDiT internals: the step split, cached tables, the interleaved RoPE shortcut, layouts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as nnf

from foleyserve.engines.hunyuan.benchmarking import build_random, dit_flops
from foleyserve.engines.hunyuan.config import XL, XXL, DiTConfig
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.engines.hunyuan.layers import (
    ConvMode,
    apply_rope,
    conv_tap_outputs,
    conv_tokens,
    nearest_exact_index,
    rope_table,
    tap_major_,
    token_windows,
)
from foleyserve.errors import ConfigError

SMALL_BF16 = DiTConfig(hidden_size=64, num_heads=2, depth_triple_blocks=1, depth_single_blocks=1)


def _inputs(model: FoleyDiT, batch: int = 2) -> dict[str, torch.Tensor]:
    config = model.config
    generator = torch.Generator().manual_seed(0)
    return {
        "x": torch.randn((batch, config.latent_dim, 30), generator=generator),
        "text": torch.randn((batch, 7, config.text_dim), generator=generator),
        "visual": torch.randn((batch, 6, config.visual_dim), generator=generator),
        "sync": torch.randn((batch, 16, config.sync_dim), generator=generator),
    }


def test_prepared_conditions_serve_every_step(small_model: FoleyDiT) -> None:
    inputs = _inputs(small_model)
    x = inputs.pop("x")
    with torch.inference_mode():
        prepared = small_model.prepare_conditions(**inputs, latent_len=x.shape[-1])
        for t in (torch.tensor([999.0, 10.0]), torch.tensor([500.0, 500.0])):
            stepped = small_model.forward_step(x, t, prepared)
            full = small_model(x, t, **inputs)
            assert torch.equal(stepped, full)


def test_rope_tables_are_built_once_per_shape(small_model: FoleyDiT) -> None:
    cpu = torch.device("cpu")
    first = small_model.rope_tables(123, 17, cpu)
    assert small_model.rope_tables(123, 17, cpu) is first
    assert small_model.rope_tables(124, 17, cpu) is not first


def _official_interleaved_rope(
    audio: torch.Tensor, visual: torch.Tensor, head_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The official procedure on [B, H, L, D] tensors: resize visual to T, interleave
    a0 v0 a1 v1 ..., rotate over 2T positions, de-interleave, resize visual back."""
    b, h, t, d = audio.shape
    lv = visual.shape[2]

    def resize(x: torch.Tensor, size: int) -> torch.Tensor:
        flat = x.permute(0, 1, 3, 2).reshape(b, h * d, -1)
        out = nnf.interpolate(flat, size=size, mode="nearest-exact")
        return out.reshape(b, h, d, size).permute(0, 1, 3, 2)

    joint = torch.stack((audio, resize(visual, t)), dim=3).reshape(b, h, 2 * t, d)
    joint = apply_rope(joint, *rope_table(torch.arange(2 * t), head_dim))
    pairs = joint.reshape(b, h, t, 2, d)
    return pairs[:, :, :, 0], resize(pairs[:, :, :, 1], lv)


@pytest.mark.parametrize(("latent_len", "visual_len"), [(100, 16), (500, 80), (10, 16), (7, 7)])
def test_interleaved_rope_tables_match_the_official_procedure(
    small_model: FoleyDiT, latent_len: int, visual_len: int
) -> None:
    head_dim = small_model.config.head_dim
    audio = torch.randn(2, 2, latent_len, head_dim)
    visual = torch.randn(2, 2, visual_len, head_dim)
    ref_audio, ref_visual = _official_interleaved_rope(audio, visual, head_dim)
    tables = small_model.rope_tables(latent_len, visual_len, torch.device("cpu"))
    if tables.visual_index is not None:
        visual = visual.index_select(2, tables.visual_index)
    assert torch.equal(apply_rope(audio, *tables.self_audio), ref_audio)
    assert torch.equal(apply_rope(visual, *tables.self_visual), ref_visual)


@pytest.mark.parametrize(("in_len", "out_len"), [(16, 100), (240, 500), (100, 16), (37, 53)])
def test_nearest_exact_index_matches_interpolate(in_len: int, out_len: int) -> None:
    data = torch.randn(2, 5, in_len)
    ref = nnf.interpolate(data, size=out_len, mode="nearest-exact")
    assert torch.equal(data.index_select(2, nearest_exact_index(in_len, out_len)), ref)


@pytest.mark.parametrize("mode", ["conv", "gemm", "fused"])
def test_conv_modes_change_layout_not_weights_or_results(mode: ConvMode) -> None:
    config = DiTConfig(hidden_size=64, num_heads=2, depth_triple_blocks=1, depth_single_blocks=2)
    model = build_random(config, seed=3, device="cpu", dtype=torch.float32)
    inputs = _inputs(model)
    t = torch.tensor([800.0, 20.0])
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.inference_mode():
        before = model(t=t, **inputs)
        model.set_conv_mode_(mode)
        after = model(t=t, **inputs)
    assert all(torch.equal(v, before_state[k]) for k, v in model.state_dict().items())
    weight = model.state_dict()["single_blocks.0.linear2.w1.weight"]
    assert weight.stride(1) == 1  # channels-last: window GEMMs and cuDNN read it without a copy
    assert float((after - before).norm() / before.norm()) < 1e-5


def test_an_unknown_conv_mode_is_refused_and_changes_nothing(small_model: FoleyDiT) -> None:
    with pytest.raises(ValueError, match="unknown conv mode 'cudnn'"):
        small_model.set_conv_mode_("cudnn")  # type: ignore[arg-type]
    singles = list(small_model.single_blocks)
    assert all(block.conv_mode == "conv" for block in singles)


@pytest.mark.parametrize("taps", [1, 3, 5])
@pytest.mark.parametrize("bias", [True, False])
def test_every_conv_path_computes_the_same_function(taps: int, bias: bool) -> None:
    conv = torch.nn.Conv1d(16, 24, kernel_size=taps, padding=taps // 2, bias=bias)
    x = torch.randn(3, 10, 16)
    with torch.inference_mode():
        ref = conv(x.transpose(1, 2)).transpose(1, 2)
        results = [conv_tokens(x, conv, mode) for mode in ("conv", "gemm", "fused")]
        tap_major_(conv)
        results += [conv_tap_outputs(x, conv), conv_tokens(x, conv, "gemm")]
    for out in results:
        assert out.shape == ref.shape
        assert torch.allclose(out, ref, atol=1e-5)


def test_token_windows_never_mix_samples() -> None:
    x = torch.arange(1.0, 13.0).view(2, 3, 2)  # two samples of three 2-channel tokens
    windows = token_windows(x, 3)
    assert torch.equal(windows[0, 0], torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0, 4.0]))
    assert torch.equal(windows[1, 0], torch.tensor([0.0, 0.0, 7.0, 8.0, 9.0, 10.0]))
    assert torch.equal(windows[0, 2], torch.tensor([3.0, 4.0, 5.0, 6.0, 0.0, 0.0]))


def test_modulation_at_sync_rate_is_the_same_function(small_model: FoleyDiT) -> None:
    inputs = _inputs(small_model)
    t = torch.tensor([640.0, 3.0])
    with torch.inference_mode():
        fast = small_model(t=t, **inputs)
        small_model.modulation_at_sync_rate = False
        try:
            reference = small_model(t=t, **inputs)
        finally:
            small_model.modulation_at_sync_rate = True
    assert float((fast - reference).norm() / reference.norm()) < 1e-6


def test_audio_stream_stays_float32_under_bf16_autocast() -> None:
    model = build_random(SMALL_BF16, seed=5, device="cpu", dtype=torch.bfloat16)
    inputs = _inputs(model, batch=1)
    x = inputs.pop("x")
    with torch.inference_mode(), model.autocast():
        prepared = model.prepare_conditions(**inputs, latent_len=x.shape[-1])
        seen: list[torch.dtype] = []
        hook = model.single_blocks[0].register_forward_hook(
            lambda _m, _i, out: seen.append(out.dtype)
        )
        model.forward_step(x, torch.tensor([500.0]), prepared)
        hook.remove()
    assert prepared.sync.dtype == prepared.sync_tokens.dtype == torch.float32
    assert seen == [torch.float32]


def test_flop_count_of_the_modulation_at_sync_rate() -> None:
    official = dit_flops(XXL, 500, 80, 240, 20)
    ours = dit_flops(XXL, 500, 80, 240, 20, modulation_tokens=240)
    assert round(official / 1e12, 3) == 3.857
    assert round(ours / 1e12, 3) == 3.592


def test_presets_have_the_released_parameter_counts() -> None:
    with torch.device("meta"):
        xxl, xl = FoleyDiT(XXL), FoleyDiT(XL)
    assert sum(p.numel() for p in xxl.parameters()) == 5_134_014_848
    assert sum(p.numel() for p in xl.parameters()) == 2_912_962_688
    assert (len(xxl.state_dict()), len(xl.state_dict())) == (1087, 733)
    assert (XXL.single_mlp_hidden, XL.single_mlp_hidden) == (4096, 3840)


@pytest.mark.parametrize(
    ("key", "value"),
    [("interleaved_audio_visual_rope", False), ("sync_modulation", True), ("rope_theta", 500)],
)
def test_from_meta_refuses_code_paths_we_do_not_implement(key: str, value: object) -> None:
    kwargs: dict[str, object] = {"hidden_size": 64, "num_heads": 2, "depth_triple_blocks": 1}
    kwargs |= {"depth_single_blocks": 1, key: value}
    with pytest.raises(ConfigError, match=key):
        DiTConfig.from_meta(kwargs)


def test_sync_length_must_be_whole_windows(small_model: FoleyDiT) -> None:
    inputs = _inputs(small_model)
    with pytest.raises(ValueError, match="multiple of 8"):
        small_model.prepare_conditions(
            inputs["text"], inputs["visual"], inputs["sync"][:, :12], latent_len=30
        )
