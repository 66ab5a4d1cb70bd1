"""Rich progress bars for the pipeline's stages (to stderr, so stdout stays clean for --json)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from foleyserve.pipeline import Stage

LABELS = {
    Stage.PROBE: "probe",
    Stage.ANALYZE: "decode + analyse",
    Stage.TEXT: "read prompt",
    Stage.GENERATE: "generate",
    Stage.ENCODE: "loudness + encode",
}


class StageBars:
    """A pipeline `Reporter` drawing one bar per stage. Use as a context manager."""

    def __init__(self, console: Console, *, enabled: bool = True, prefix: str = "") -> None:
        self._prefix = prefix
        self._progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._tasks: dict[Stage, TaskID] = {}

    def __call__(self, stage: Stage, done: int, total: int) -> None:
        task = self._tasks.get(stage)
        if task is None:
            task = self._progress.add_task(f"{self._prefix}{LABELS[stage]}", total=total)
            self._tasks[stage] = task
        self._progress.update(task, completed=done, total=total)

    def __enter__(self) -> StageBars:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()
