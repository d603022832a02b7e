"""backbone topics ... and backbone schemas ...: data contracts as code."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from backbone.cli.output import console, emit_json, fail
from backbone.errors import BackboneError

topics_app = typer.Typer(help="Topics as code (topics.yaml).", no_args_is_help=True)
schemas_app = typer.Typer(help="Avro data contracts (schemas/*.avsc).", no_args_is_help=True)


@topics_app.command("apply")
def topics_apply(
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan, change nothing."),
    replication: int = typer.Option(0, help="Override every replication factor (0 = topics.yaml)."),
    topics_file: Path = typer.Option(None, "--file", help="topics.yaml to apply."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Create missing topics, add partitions, fix drifted configs. Never deletes. Exit 1 on --dry-run with changes."""
    from backbone.config import BackboneConfig, load
    from backbone.kafka import admin_client
    from backbone.topic_admin import apply_plan, plan_topics
    from backbone.topics import load_topics

    try:
        cfg = load(BackboneConfig)
        catalog = load_topics(topics_file)
        admin = admin_client(cfg)
        plan = plan_topics(admin, catalog, replication or None)
        if json_out:
            emit_json([c.__dict__ for c in plan.changes])
        else:
            console.print(plan.render(), highlight=False)
        if dry_run:
            raise typer.Exit(0 if plan.empty else 1)
        done = apply_plan(admin, plan)
    except BackboneError as exc:
        fail(exc)
    if not json_out and done:
        console.print(f"applied {len(done)} change(s)")


@topics_app.command("validate")
def topics_validate(topics_file: Path = typer.Option(None, "--file")) -> None:
    """Validate topics.yaml without a cluster."""
    from backbone.topics import load_topics

    try:
        catalog = load_topics(topics_file)
    except BackboneError as exc:
        fail(exc)
    console.print(f"{catalog.path}: {len(catalog.specs)} topics OK")


@topics_app.command("render")
def topics_render(
    out: Path = typer.Option(Path("deploy/helm/logistics-backbone/files/topics.json"), "--out"),
    topics_file: Path = typer.Option(None, "--file"),
) -> None:
    """Write the Helm chart's topic data (Strimzi KafkaTopics) from topics.yaml; a test fails when they differ."""
    from backbone.topic_render import write_chart_topics
    from backbone.topics import load_topics

    try:
        changed = write_chart_topics(load_topics(topics_file), out)
    except BackboneError as exc:
        fail(exc)
    console.print(f"{out}: {'written' if changed else 'up to date'}")


@topics_app.command("list")
def topics_list() -> None:
    """Print the declared topics."""
    from backbone.topics import load_topics

    table = Table("role", "name", "partitions", "retention", "value schema", "owner")
    for s in load_topics().specs:
        table.add_row(s.role, s.name, str(s.partitions), str(s.retention), s.value_schema or "(bytes)", s.owner)
    console.print(table)


@schemas_app.command("check")
def schemas_check(
    base: str = typer.Option("HEAD", help="Git revision holding the previous versions."),
    registry: bool = typer.Option(False, "--registry", help="Also ask the schema registry (SCHEMA_REGISTRY_URL)."),
    directory: Path = typer.Option(None, "--dir", help="Schema directory to check (default schemas/)."),
) -> None:
    """Fail (exit 1) when a schema is not BACKWARD compatible with its previous version in git."""
    from backbone.config import BackboneConfig, load
    from backbone.schema_registry_ops import check_schemas

    try:
        url = None
        if registry:
            cfg = load(BackboneConfig)
            cfg.require("schema_registry_url")
            url = cfg.schema_registry_url
        problems = check_schemas(base=base, registry_url=url, directory=directory)
    except BackboneError as exc:
        fail(exc)
    for p in problems:
        console.print(f"[red]INCOMPATIBLE[/] {p.schema}: {p.reason}", highlight=False)
    if problems:
        raise typer.Exit(1)
    console.print(f"schemas: BACKWARD compatible with {base}")


@schemas_app.command("register")
def schemas_register(json_out: bool = typer.Option(False, "--json")) -> None:
    """Register every topic's value schema (idempotent) with BACKWARD compatibility."""
    from backbone.config import BackboneConfig, load
    from backbone.schema_registry_ops import register_schemas
    from backbone.serialization import SchemaRegistry
    from backbone.topics import load_topics

    try:
        cfg = load(BackboneConfig)
        cfg.require("schema_registry_url")
        ids = register_schemas(SchemaRegistry.connect(cfg.schema_registry_url), load_topics())
    except BackboneError as exc:
        fail(exc)
    if json_out:
        emit_json(ids)
        return
    for subject, schema_id in ids.items():
        console.print(f"{subject:45} id={schema_id}")
