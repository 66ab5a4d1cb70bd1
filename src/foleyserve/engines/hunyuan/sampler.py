"""Flow-matching Euler sampler with classifier-free guidance, batched across requests.

The official loop (`denoise_process`): sigmas = linspace(1, 0, steps + 1), the model sees
timestep sigma * 1000, and the latents move by `x <- x + v * (sigma_next - sigma)` in float32.
With guidance > 1 each request runs as two rows, the unconditional one (negative-prompt text plus
the model's learnable empty visual and sync features) and the conditional one, combined in
float32 as `u + s * (c - u)`.

Batching: k requests with equal latent length T (and equal visual and sync lengths) run as one
model batch of 2k rows, [uncond_1..k, cond_1..k]. Every request draws its initial noise from its
own seeded generator, so its output does not depend on its neighbours. Text features of different
lengths are zero-padded to the longest and masked out of cross-attention; a batch whose rows all
have one text length (a request alone, as the text encoder pads prompt and negative prompt
together) has no padding and no mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from foleyserve.engines.base import Cancelled, CancelledFn, ProgressFn
from foleyserve.engines.hunyuan.dit import FoleyDiT, PreparedConditions


@dataclass(frozen=True)
class SampleRequest:
    """One request's conditioning. Tensors may live on any device; float32 is expected."""

    text: torch.Tensor
    """[L_text, text_dim] CLAP features of the prompt."""
    negative_text: torch.Tensor
    """[L_neg, text_dim] CLAP features of the negative prompt (the unconditional branch)."""
    visual: torch.Tensor
    """[L_visual, visual_dim] SigLIP2 features; `FoleyDiT.empty_visual(n)` for text-only."""
    sync: torch.Tensor
    """[L_sync, sync_dim] Synchformer features; `FoleyDiT.empty_sync(n)` for text-only."""
    seed: int
    noise: torch.Tensor | None = None
    """[latent_dim, T] initial latents; None draws them from `seed` (see `initial_noise`)."""


@dataclass(frozen=True)
class SamplerSettings:
    steps: int = 50
    guidance_scale: float = 4.5
    """Classifier-free guidance scale; at or below 1 the unconditional branch is skipped."""

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")

    @property
    def uses_guidance(self) -> bool:
        return self.guidance_scale > 1.0


def flow_sigmas(steps: int) -> torch.Tensor:
    """The noise levels [steps + 1] float32, from 1 (pure noise) to 0 (no shift)."""
    return torch.linspace(1, 0, steps + 1)


def initial_noise(
    seed: int, latent_dim: int, latent_len: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Standard normal latents [latent_dim, T] drawn on the CPU from a generator seeded `seed`.

    Drawn in float32 on the CPU so a seed gives the same noise on every device; then rounded to
    the model's compute `dtype` (the official loop starts from bf16 latents) and kept as float32.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn((latent_dim, latent_len), generator=generator, dtype=torch.float32)
    return noise.to(dtype).float()


def sample(
    model: FoleyDiT,
    requests: Sequence[SampleRequest],
    latent_len: int,
    settings: SamplerSettings | None = None,
    *,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> torch.Tensor:
    """Denoise one latent per request: returns [len(requests), latent_dim, T] float32.

    `progress(done, steps)` is called after every step; `cancelled()` is polled before every
    step and, when it returns True, `Cancelled` is raised. The model runs in its parameters'
    dtype under autocast (as the official loop does) unless that dtype is float32.
    """
    if not requests:
        raise ValueError("sample() needs at least one request")
    settings = settings or SamplerSettings()
    weight = model.final_layer.linear.weight
    device, dtype = weight.device, weight.dtype
    latents = _initial_latents(model, requests, latent_len, dtype).to(device)
    sigmas = flow_sigmas(settings.steps)
    timesteps = (sigmas[:-1] * 1000.0).to(device)
    with torch.inference_mode(), model.autocast():
        prepared = _prepare(model, requests, latent_len, settings.uses_guidance, device)
        for step in range(settings.steps):
            if cancelled is not None and cancelled():
                raise Cancelled(f"generation cancelled after {step} of {settings.steps} steps")
            x_in = torch.cat([latents, latents]) if settings.uses_guidance else latents
            t_in = timesteps[step].expand(x_in.shape[0])
            velocity = model.forward_step(x_in, t_in, prepared).float()
            if settings.uses_guidance:
                uncond, cond = velocity.chunk(2)
                velocity = uncond + settings.guidance_scale * (cond - uncond)
            latents = latents + velocity * (sigmas[step + 1] - sigmas[step])
            if progress is not None:
                progress(step + 1, settings.steps)
    return latents


def _initial_latents(
    model: FoleyDiT, requests: Sequence[SampleRequest], latent_len: int, dtype: torch.dtype
) -> torch.Tensor:
    shape = (model.config.latent_dim, latent_len)
    rows = []
    for request in requests:
        if request.noise is None:
            rows.append(initial_noise(request.seed, *shape, dtype=dtype))
        elif tuple(request.noise.shape) != shape:
            raise ValueError(f"request noise has shape {tuple(request.noise.shape)}, not {shape}")
        else:
            rows.append(request.noise.float().cpu())
    return torch.stack(rows)


def _prepare(
    model: FoleyDiT,
    requests: Sequence[SampleRequest],
    latent_len: int,
    guidance: bool,
    device: torch.device,
) -> PreparedConditions:
    visual = [r.visual for r in requests]
    sync = [r.sync for r in requests]
    text = [r.text for r in requests]
    if guidance:
        visual = [model.empty_visual(v.shape[0]) for v in visual] + visual
        sync = [model.empty_sync(s.shape[0]) for s in sync] + sync
        text = [r.negative_text for r in requests] + text
    for name, rows in (("visual", visual), ("sync", sync)):
        if len({row.shape[0] for row in rows}) > 1:
            raise ValueError(f"requests in one batch must share their {name} feature length")
    padded_text, mask = pad_text(text, device)
    return model.prepare_conditions(
        padded_text,
        _stack(visual, device),
        _stack(sync, device),
        latent_len,
        mask,
    )


def _stack(rows: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    return torch.stack([row.to(device, torch.float32) for row in rows])


def pad_text(
    rows: Sequence[torch.Tensor], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Zero-pad text features [L_i, D] to the longest: ([B, L_max, D], mask [B, L_max] or None).

    The mask is None when all rows already have one length, so an unpadded batch runs exactly
    the official (maskless) attention.
    """
    longest = max(row.shape[0] for row in rows)
    out = torch.zeros((len(rows), longest, rows[0].shape[1]), device=device)
    mask = torch.zeros((len(rows), longest), dtype=torch.bool, device=device)
    for i, row in enumerate(rows):
        out[i, : row.shape[0]] = row.to(device, torch.float32)
        mask[i, : row.shape[0]] = True
    return out, None if bool(mask.all()) else mask
