"""The DiT benchmark script runs end to end on the CPU with the toy model."""

from __future__ import annotations

import importlib.util
import json
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


def test_tiny_cpu_smoke_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    script = _load_script()
    argv = ["--tiny", "--device", "cpu", "--dtype", "fp32", "--seconds", "2", "--steps", "2"]
    argv += ["--batches", "1,2", "--modes", "eager", "--warmup-steps", "1"]
    argv += ["--json", str(tmp_path / "out.json")]
    assert script.main(argv) == 0
    table = capsys.readouterr().out
    assert "tiny DiT, k=3 convs conv, modulation at sync rate, T=100 visual=16 sync=40" in table
    rows = [line.split() for line in table.splitlines() if line.startswith("eager ")]
    assert [row[1] for row in rows] == ["1", "2"]
    report = json.loads((tmp_path / "out.json").read_text())
    assert [row["batch"] for row in report["rows"]] == [1, 2]
    assert report["device"] == "cpu"


def test_official_row_is_skipped_when_its_code_is_absent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = _load_script()
    argv = ["--tiny", "--device", "cpu", "--dtype", "fp32", "--seconds", "2", "--steps", "2"]
    argv += ["--batches", ""]
    argv += ["--modes", "eager", "--official", str(tmp_path), "--check"]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert f"official code not found in {tmp_path}: its row is skipped" in out
    assert "official eager" not in out
    # --check still compares our path with the float32 reference (same weights: equal).
    line = next(x for x in out.splitlines() if x.startswith("relative error"))
    assert "ours fp32 conv sync-rate eager vs ours fp32 reference" in line
    assert float(line.rsplit(" ", 1)[1]) < 1e-5


def test_full_size_refuses_to_run_on_a_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    script = _load_script()
    assert script.main(["--model", "xl", "--device", "cpu"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--modes", "eager,jit"], ["--conv", "cudnn"]])
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    script = _load_script()
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--tiny", "--device", "cpu", *argv])
    assert exit_info.value.code == 2
    assert argv[1].split(",")[-1] in capsys.readouterr().err
