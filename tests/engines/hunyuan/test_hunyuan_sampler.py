"""The sampler: batching across requests, text padding, progress and cancellation."""

from __future__ import annotations

import pytest
import torch

from foleyserve.engines.base import Cancelled
from foleyserve.engines.hunyuan.dit import FoleyDiT
from foleyserve.engines.hunyuan.sampler import (
    SampleRequest,
    SamplerSettings,
    initial_noise,
    pad_text,
    sample,
)

LATENT_LEN, VISUAL_LEN, SYNC_LEN = 40, 8, 16


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double() - ref.double()).norm() / ref.double().norm())


def make_request(
    model: FoleyDiT, seed: int, text_len: int, negative_len: int | None = None
) -> SampleRequest:
    generator = torch.Generator().manual_seed(1000 + seed)
    config = model.config

    def features(length: int, dim: int) -> torch.Tensor:
        return torch.randn((length, dim), generator=generator)

    return SampleRequest(
        text=features(text_len, config.text_dim),
        negative_text=features(negative_len or text_len, config.text_dim),
        visual=features(VISUAL_LEN, config.visual_dim),
        sync=features(SYNC_LEN, config.sync_dim),
        seed=seed,
    )


def test_a_batch_equals_each_request_run_alone(small_model: FoleyDiT) -> None:
    requests = [
        make_request(small_model, seed=11, text_len=5),
        make_request(small_model, seed=22, text_len=12),
        make_request(small_model, seed=33, text_len=9, negative_len=3),
    ]
    settings = SamplerSettings(steps=3, guidance_scale=4.5)
    batched = sample(small_model, requests, LATENT_LEN, settings)
    assert batched.shape == (3, small_model.config.latent_dim, LATENT_LEN)
    errors = []
    for i, request in enumerate(requests):
        alone = sample(small_model, [request], LATENT_LEN, settings)[0]
        errors.append(relative_error(batched[i], alone))
    print(f"batched vs alone relative errors {[f'{e:.2g}' for e in errors]}")
    assert max(errors) < 1e-5


def test_padding_changes_nothing_only_when_masked(small_model: FoleyDiT) -> None:
    """Guards the equivalence test: unmasked zero padding would change the result."""
    request = make_request(small_model, seed=5, text_len=6)
    padded = torch.cat([request.text, torch.zeros(4, request.text.shape[1])])
    x = torch.randn(1, small_model.config.latent_dim, LATENT_LEN)
    t = torch.tensor([700.0])
    visual, sync = request.visual[None], request.sync[None]
    with torch.inference_mode():
        plain = small_model(x, t, request.text[None], visual, sync)
        mask = torch.arange(10)[None] < 6
        masked = small_model(x, t, padded[None], visual, sync, text_mask=mask)
        unmasked = small_model(x, t, padded[None], visual, sync)
    assert relative_error(masked, plain) < 1e-6
    assert relative_error(unmasked, plain) > 1e-4


def test_equal_text_lengths_need_no_mask() -> None:
    rows = [torch.ones(4, 8), torch.ones(4, 8)]
    padded, mask = pad_text(rows, torch.device("cpu"))
    assert mask is None
    assert padded.shape == (2, 4, 8)
    _, mask = pad_text([torch.ones(4, 8), torch.ones(2, 8)], torch.device("cpu"))
    assert mask is not None
    assert mask.tolist() == [[True] * 4, [True, True, False, False]]


def test_noise_depends_only_on_the_seed() -> None:
    assert torch.equal(initial_noise(7, 4, 10), initial_noise(7, 4, 10))
    assert not torch.equal(initial_noise(7, 4, 10), initial_noise(8, 4, 10))
    rounded = initial_noise(7, 4, 10, dtype=torch.bfloat16)
    assert rounded.dtype == torch.float32
    assert torch.equal(rounded, rounded.bfloat16().float())


def test_progress_is_reported_once_per_step(small_model: FoleyDiT) -> None:
    calls: list[tuple[int, int]] = []
    request = make_request(small_model, seed=1, text_len=4)
    sample(
        small_model,
        [request],
        LATENT_LEN,
        SamplerSettings(steps=4),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_cancellation_stops_between_steps(small_model: FoleyDiT) -> None:
    done_steps: list[int] = []
    request = make_request(small_model, seed=1, text_len=4)
    with pytest.raises(Cancelled, match="after 2 of 5 steps"):
        sample(
            small_model,
            [request],
            LATENT_LEN,
            SamplerSettings(steps=5),
            progress=lambda done, _total: done_steps.append(done),
            cancelled=lambda: len(done_steps) >= 2,
        )
    assert done_steps == [1, 2]


def test_guidance_at_most_one_skips_the_unconditional_branch(small_model: FoleyDiT) -> None:
    request = make_request(small_model, seed=3, text_len=4)
    other = SampleRequest(
        request.text, torch.randn(7, request.text.shape[1]), request.visual, request.sync, 3
    )
    settings = SamplerSettings(steps=2, guidance_scale=1.0)
    # Without guidance the negative prompt is never used.
    first = sample(small_model, [request], LATENT_LEN, settings)
    second = sample(small_model, [other], LATENT_LEN, settings)
    assert relative_error(first, second) < 1e-6


def test_requests_of_different_visual_lengths_are_refused(small_model: FoleyDiT) -> None:
    a = make_request(small_model, seed=1, text_len=4)
    b = make_request(small_model, seed=2, text_len=4)
    b = SampleRequest(b.text, b.negative_text, b.visual[:-1], b.sync, b.seed)
    with pytest.raises(ValueError, match="visual feature length"):
        sample(small_model, [a, b], LATENT_LEN, SamplerSettings(steps=1))
