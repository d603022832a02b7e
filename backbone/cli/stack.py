"""backbone stack up | down | status"""

from __future__ import annotations

import typer
from rich.table import Table

from backbone.cli.output import console, emit_json, fail
from backbone.errors import BackboneError

app = typer.Typer(
    help="Run the local stack: Apache Kafka (KRaft), Apicurio Registry, PostgreSQL.", no_args_is_help=True
)


@app.command()
def up(
    timeout: float = typer.Option(120.0, help="Seconds to wait for each server to be ready."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Start the stack (reusing what already runs) and write .backbone/stack.env."""
    from backbone.stack import Stack

    stack = Stack()
    try:
        status = stack.up(timeout=timeout)
    except BackboneError as exc:
        fail(exc)
    if json_out:
        emit_json({"seconds": status.seconds, "env": status.env, "components": [c.__dict__ for c in status.components]})
        return
    table = Table("component", "state", "pid", "endpoint", "ready in")
    for c in status.components:
        table.add_row(c.name, c.state, str(c.pid or ""), c.endpoint, f"{c.seconds}s" if c.seconds is not None else "")
    console.print(table)
    console.print(f"stack ready in {status.seconds}s; endpoints in {stack.env_file}")
    console.print(f"  source {stack.env_file}")


@app.command()
def down() -> None:
    """Stop every process the stack started (SIGTERM, then SIGKILL after 20 s)."""
    from backbone.stack import Stack

    stopped = Stack().down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def status(json_out: bool = typer.Option(False, "--json")) -> None:
    """Show what runs; exit 1 when a component is down."""
    from backbone.stack import Stack

    st = Stack().status()
    if json_out:
        emit_json([c.__dict__ for c in st.components])
    else:
        table = Table("component", "state", "pid", "endpoint")
        for c in st.components:
            table.add_row(c.name, c.state, str(c.pid or ""), c.endpoint)
        console.print(table)
    if not st.running:
        raise typer.Exit(1)


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Stop the stack and delete its data (Kafka log dirs, PostgreSQL data, normalizer state)."""
    import shutil

    from backbone.stack import Stack

    stack = Stack()
    if not yes:
        typer.confirm(f"delete all local stack data under {stack.state}?", abort=True)
    stack.down()
    for name in ("kafka-data", "pgdata", "normalizer", "kafka"):
        shutil.rmtree(stack.state / name, ignore_errors=True)
    console.print("stack data deleted; `backbone stack up` starts from empty")
