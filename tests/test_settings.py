"""Settings refuse what they cannot honour, at start, with the field named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from foleyserve.settings import Settings


def test_a_variable_sets_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLEYSERVE_MAX_BATCH_SIZE", "7")
    assert Settings().max_batch_size == 7


def test_a_misspelt_variable_is_refused_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLEYSERVE_MAX_FILE_BYTE", "1000")
    with pytest.raises(
        ValidationError, match="unknown environment variable FOLEYSERVE_MAX_FILE_BYTE"
    ):
        Settings()


def test_an_invalid_value_names_its_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLEYSERVE_BATCH_POLICY", "greedy")
    with pytest.raises(ValidationError, match="batch_policy"):
        Settings()


def test_a_command_given_a_misspelt_variable_stops_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLEYSERVE_")}
    env["FOLEYSERVE_LEASE_SECONDS"] = "5"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("foleyserve")), "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "invalid_setting" in done.stderr
    assert "FOLEYSERVE_LEASE_SECONDS" in done.stderr
