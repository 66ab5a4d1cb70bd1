"""The memory model of the HunyuanVideo-Foley engine: measured on CUDA, estimated on the CPU.

A `generate` call has two peaks, one after the other: the sampler (DiT activations, growing
with batch x duration) and the DAC decode (one request at a time, growing with duration only;
at 15 s, float32, about a GiB). So the model is

    bytes_for(b, d) = weights + max(dit_fixed + b x d x dit_per_item_s, d x dac_per_s)

(at small batches the decode's peak is the higher one, so one straight line through two probes
of the whole call would miss the slope of the DiT's).

On CUDA, `measure_memory` runs the real sampler (one guided step) at two batch sizes and the
real decode, all at the longest segment, reads the allocator's peak above what was allocated
before each, and fits the terms; a 10% margin covers fragmentation. Shorter clips are then
over-estimated, never under.

On the CPU nothing is measured (peak RSS is not attributable to one call): `estimate_memory`
counts the parameters' bytes and adds, per request-second, the DiT activations of a step
(2 CFG rows x 50 tokens/s x hidden x 4 bytes x 24 live tensors of that width, the order of the
13 MiB per request-second measured on an H100 for XXL), and about 50 MB per second of audio for
the float32 DAC decode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

PROBE_MARGIN = 1.1
"""Measured peaks are scaled by this much."""
DIT_LIVE_TENSORS = 24
"""Estimate only: activation tensors of hidden width alive at the peak of one DiT step."""
DAC_BYTES_PER_S = 50 * 2**20
"""Estimate only: peak bytes of the float32 DAC decode per second of audio."""


@dataclass(frozen=True)
class HunyuanMemoryModel:
    """Peak device bytes of one `generate` call (the formula in the module docstring)."""

    weights_bytes: int
    dit_fixed_bytes: int
    dit_bytes_per_item_s: float
    dac_bytes_per_s: float
    measured: bool
    """True when probed on the device, False for the CPU estimate."""

    def bytes_for(self, batch_size: int, duration_s: float) -> int:
        dit = self.dit_fixed_bytes + batch_size * duration_s * self.dit_bytes_per_item_s
        dac = duration_s * self.dac_bytes_per_s
        return self.weights_bytes + int(max(dit, dac))


def parameter_bytes(modules: Iterable[nn.Module]) -> int:
    """Bytes of every parameter and buffer of `modules` (shared tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.data_ptr() in seen or tensor.device.type == "meta":
                continue
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
    return total


def estimate_memory(weights_bytes: int, hidden_size: int) -> HunyuanMemoryModel:
    """The CPU estimate described in the module docstring."""
    return HunyuanMemoryModel(
        weights_bytes=weights_bytes,
        dit_fixed_bytes=0,
        dit_bytes_per_item_s=float(2 * 50 * hidden_size * 4 * DIT_LIVE_TENSORS),
        dac_bytes_per_s=float(DAC_BYTES_PER_S),
        measured=False,
    )


def measure_memory(
    sample: Callable[[int, float], None],
    decode: Callable[[float], None],
    device: torch.device,
    *,
    duration_s: float,
    batch_sizes: tuple[int, int] = (1, 4),
) -> HunyuanMemoryModel:
    """Fit the model to the CUDA peaks of `sample(batch_size, duration_s)` at two sizes and of
    `decode(duration_s)`, each measured above the memory allocated before it."""
    small, large = batch_sizes
    if not 0 < small < large:
        raise ValueError(f"batch_sizes must grow, got {batch_sizes}")
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    weights = torch.cuda.memory_allocated(device)
    peaks = {b: _peak_above(device, sample, b, duration_s) for b in batch_sizes}
    dac = _peak_above(device, decode, duration_s)
    return fit_memory(weights, peaks, dac, duration_s)


def fit_memory(
    weights_bytes: int, sampler_peaks: dict[int, int], decode_peak: int, duration_s: float
) -> HunyuanMemoryModel:
    """The model through two sampler peaks {batch size: bytes above the weights} and one
    decode peak, all at `duration_s`, with `PROBE_MARGIN` on the measured terms."""
    (small, low), (large, high) = sorted(sampler_peaks.items())
    per_item_s = max(0.0, (high - low) / ((large - small) * duration_s))
    fixed = max(0.0, low - per_item_s * small * duration_s)
    return HunyuanMemoryModel(
        weights_bytes=weights_bytes,
        dit_fixed_bytes=int(fixed * PROBE_MARGIN),
        dit_bytes_per_item_s=per_item_s * PROBE_MARGIN,
        dac_bytes_per_s=decode_peak / duration_s * PROBE_MARGIN,
        measured=True,
    )


def _peak_above(device: torch.device, run: Callable[..., None], *args: float) -> int:
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run(*args)
    torch.cuda.synchronize(device)
    return max(0, torch.cuda.max_memory_allocated(device) - before)
