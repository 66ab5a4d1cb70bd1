"""GPU utilisation while a benchmark runs, where this machine has NVIDIA GPUs.

`GpuSampler` asks `nvidia-smi` for every GPU's utilisation every `interval_s` in a thread and
keeps the mean; on a machine without `nvidia-smi` it samples nothing and `mean_percent` is
None (the report then shows the engine busy fraction alone). It measures this machine: point
the load generator at a server on another host and it says nothing about that one.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from types import TracebackType

QUERY = ["--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]


class GpuSampler:
    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.binary = shutil.which("nvidia-smi")
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def mean_percent(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None

    def __enter__(self) -> GpuSampler:
        if self.binary is not None:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        assert self.binary is not None
        while not self._stop.wait(self.interval_s):
            try:
                out = subprocess.run(
                    [self.binary, *QUERY], capture_output=True, text=True, timeout=5, check=True
                ).stdout
            except (OSError, subprocess.SubprocessError):
                return  # no usable driver: report nothing rather than a wrong figure
            values = [float(v) for v in out.split() if v.strip().replace(".", "", 1).isdigit()]
            if values:
                self.samples.append(sum(values) / len(values))
