"""The memory model of the HunyuanVideo-Foley engine: measured on CUDA, estimated on the CPU.

On CUDA, `measure_memory` runs the real generation path (one sampler step with CFG, then the
DAC decode) at two batch sizes and one duration, reads the allocator's peak each time, and fits
`peak = fixed + batch x duration x per_item_s`. `fixed` holds the weights plus what does not
grow with the batch (the DAC decode runs one request at a time); a 10% margin covers the
allocator's fragmentation. The probe runs at the longest segment, so shorter clips are
over-estimated, never under.

On the CPU nothing is measured (peak RSS is not attributable to one call): `estimate_memory`
counts the parameters' bytes and adds, per request-second, the DiT activations of a step
(2 CFG rows x 50 tokens/s x hidden x 4 bytes x 24 live tensors of that width, a figure of the
same order as the 13 MiB per request-second measured on an H100 for XXL), and, once, the DAC
decode of the longest segment (about 50 MB per second of 48 kHz audio in float32).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from foleyserve.engines.base import LinearMemoryModel

PROBE_MARGIN = 1.1
"""Measured peaks are scaled by this much."""
DIT_LIVE_TENSORS = 24
"""Estimate only: activation tensors of hidden width alive at the peak of one DiT step."""
DAC_BYTES_PER_S = 50 * 2**20
"""Estimate only: peak bytes of the float32 DAC decode per second of audio."""


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


def estimate_memory(
    weights_bytes: int, hidden_size: int, max_segment_s: float
) -> LinearMemoryModel:
    """The CPU estimate described in the module docstring."""
    per_item_s = 2 * 50 * hidden_size * 4 * DIT_LIVE_TENSORS
    fixed = weights_bytes + int(max_segment_s * DAC_BYTES_PER_S)
    return LinearMemoryModel(fixed_bytes=fixed, bytes_per_item_s=float(per_item_s))


def measure_memory(
    run: Callable[[int, float], None],
    device: torch.device,
    *,
    duration_s: float,
    batch_sizes: tuple[int, int] = (1, 2),
) -> LinearMemoryModel:
    """Fit the linear model to the CUDA peaks of `run(batch_size, duration_s)` at two sizes."""
    small, large = batch_sizes
    if not 0 < small < large:
        raise ValueError(f"batch_sizes must grow, got {batch_sizes}")
    peaks = []
    for batch_size in batch_sizes:
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        run(batch_size, duration_s)
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device))
    per_item_s = max(0.0, (peaks[1] - peaks[0]) / ((large - small) * duration_s))
    fixed = peaks[0] - per_item_s * small * duration_s
    return LinearMemoryModel(
        fixed_bytes=int(fixed * PROBE_MARGIN), bytes_per_item_s=per_item_s * PROBE_MARGIN
    )
