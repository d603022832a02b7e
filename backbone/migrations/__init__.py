"""Versioned PostgreSQL migrations: plain SQL files ``NNNN_name.sql`` in this folder.

:func:`apply_migrations` creates the schema if needed and applies every file not yet recorded in
``<schema>.schema_migrations``, in version order, in one transaction, under a transaction-level
advisory lock so replicas starting together apply each file exactly once. A file whose content
changed after it was applied is refused (write a new migration instead).

Files use unqualified table names; they run with ``search_path`` set to the target schema, so
tests can apply them to a private schema.

Example::

    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        applied = await apply_migrations(conn, "backbone")    # ['0001_sink_ledger']
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql

from backbone.errors import ConfigError

__all__ = ["Migration", "apply_migrations", "check_schema_name", "discover"]

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def check_schema_name(schema: str) -> str:
    """Schema names are plain lower-case identifiers (they also name advisory locks)."""
    if not _SCHEMA.match(schema):
        raise ConfigError(f"invalid PostgreSQL schema name {schema!r}: use [a-z_][a-z0-9_]*")
    return schema


def discover(directory: Path | None = None) -> list[Migration]:
    """Every migration file in version order; duplicate versions are a ConfigError."""
    directory = directory or Path(__file__).parent
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise ConfigError(f"{path}: migration files are named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise ConfigError(f"{path}: duplicate migration version {version:04d}")
        found[version] = Migration(version, match.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def _lock_key(schema: str) -> int:
    # A stable signed 64-bit key per schema: replicas of every sink sharing a schema serialize here.
    digest = hashlib.sha256(f"backbone.migrations:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def apply_migrations(conn: AsyncConnection[Any], schema: str, directory: Path | None = None) -> list[str]:
    """Apply pending migrations to ``schema``; returns the labels applied by this call."""
    check_schema_name(schema)
    migrations = discover(directory)
    ident = sql.Identifier(schema)
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(schema)])
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur = await conn.execute("SELECT version, checksum FROM schema_migrations")
        done = {int(v): str(c) for v, c in await cur.fetchall()}
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise ConfigError(
                        f"migration {migration.label} changed after it was applied to schema {schema!r}; "
                        "add a new migration file instead of editing an applied one"
                    )
                continue
            await conn.execute(migration.text.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                [migration.version, migration.name, migration.checksum],
            )
            applied_now.append(migration.label)
    return applied_now
