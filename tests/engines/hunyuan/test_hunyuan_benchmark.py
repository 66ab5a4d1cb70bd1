"""The DiT benchmark script runs end to end on the CPU with the toy model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "hunyuan_dit.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hunyuan_dit_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_tiny_cpu_smoke_run(capsys: pytest.CaptureFixture[str]) -> None:
    script = _load_script()
    argv = ["--tiny", "--device", "cpu", "--steps", "2", "--batches", "1,2"]
    argv += ["--modes", "eager", "--warmup-steps", "1"]
    assert script.main(argv) == 0
    table = capsys.readouterr().out
    assert "tiny DiT, k=3 convs as conv, T=500 visual=80 sync=240 text=20" in table
    rows = [line.split() for line in table.splitlines() if line.startswith("eager ")]
    assert [row[1] for row in rows] == ["1", "2"]


def test_full_size_refuses_to_run_on_a_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    script = _load_script()
    assert script.main(["--model", "xl", "--device", "cpu"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().out
