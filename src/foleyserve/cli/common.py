"""What every command shares: settings, engine construction, error reporting."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from foleyserve.errors import FoleyError, InvalidInput, OutputError

stderr = Console(stderr=True)

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def offline_hub() -> None:
    """We never download at run time: tell Hugging Face libraries so before they load (and
    keep their progress bars out of ours)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def fail(error: FoleyError, *, as_json: bool) -> NoReturn:
    """One line for people (or one JSON object for programs), then a non-zero exit."""
    if as_json:
        print(json.dumps({"error": error.to_dict()}))
    else:
        stderr.print(
            f"[bold red]error[/] [dim]({error.code})[/]: {error.message}",
            highlight=False,
            soft_wrap=True,
        )
    code = EXIT_BAD_INPUT if isinstance(error, InvalidInput | OutputError) else EXIT_FAILED
    raise typer.Exit(code)


@contextmanager
def reported_errors(*, as_json: bool) -> Iterator[None]:
    try:
        yield
    except FoleyError as e:
        fail(e, as_json=as_json)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(InvalidInput(f"{where}: {first['msg']}", code="invalid_setting"), as_json=as_json)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        raise typer.Exit(130) from None


def print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
