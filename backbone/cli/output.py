"""Shared CLI output helpers: rich tables for people, --json for scripts, exit codes that mean something."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console

from backbone.errors import BackboneError, ConfigError, SchemaError, StackError

__all__ = ["EXIT", "console", "emit_json", "fail"]

console = Console(stderr=False, soft_wrap=True)
err_console = Console(stderr=True)

# 0 ok, 1 check failed / differences found, 2 usage, 3 config, 4 dependency (stack/registry/kafka) down.
EXIT = {"ok": 0, "check_failed": 1, "usage": 2, "config": 3, "unavailable": 4}


def emit_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def fail(exc: BackboneError | str, code: int | None = None) -> NoReturn:
    message = str(exc)
    if code is None:
        if isinstance(exc, ConfigError):
            code = EXIT["config"]
        elif isinstance(exc, StackError | SchemaError | BackboneError):
            code = EXIT["unavailable"]
        else:
            code = EXIT["check_failed"]
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)
