"""The `foleyserve` command. Commands parse, call one service function, and format."""

from __future__ import annotations

import typer

from foleyserve.cli import bench, demo, generate, plan, serve, worker

app = typer.Typer(
    name="foleyserve",
    help="Generate Foley sound for videos, and serve Foley models to many users.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("generate")(generate.generate)
app.command("batch")(generate.batch)
app.command("demo")(demo.demo)
app.command("example-clip")(demo.example_clip)
app.command("worker")(worker.worker)
app.command("serve")(serve.serve)
app.command("api")(serve.api)
app.add_typer(serve.keys_app, name="keys")
app.add_typer(bench.bench_app, name="bench")
app.command("plan")(plan.plan)


def main() -> None:
    app()
