"""On-call commands: replay, dlq list|show|redrive."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.progress import Progress
from rich.table import Table

from backbone.cli.output import EXIT, console, emit_json, fail
from backbone.errors import BackboneError

dlq_app = typer.Typer(help="Inspect and redrive dead letters.", no_args_is_help=True)


def _parse_dt(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a time zone (e.g. 2026-11-20T10:00:00Z or +01:00)")
    return parsed


def replay(
    group: str = typer.Option(..., "--group", help="Consumer group to move (only this group is touched)."),
    topic: str = typer.Option(..., "--topic", help="Topic whose offsets to reset."),
    to_datetime: str = typer.Option(None, "--to-datetime", help="ISO 8601 with zone: first record at/after it."),
    to_offset: int = typer.Option(None, "--to-offset", help="Absolute offset (clamped to the log)."),
    to_earliest: bool = typer.Option(False, "--to-earliest"),
    to_latest: bool = typer.Option(False, "--to-latest"),
    shift_by: int = typer.Option(None, "--shift-by", help="Move by N records (negative = re-read)."),
    partitions: str = typer.Option(None, "--partitions", help="Comma-separated partitions, default all."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan only."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the group's members to stop, then apply."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Reset a consumer group's offsets (plan first). Exit 1 when the group is active and --wait not given."""
    from backbone.config import BackboneConfig, load
    from backbone.replay import (
        GroupActiveError,
        ShiftBy,
        Target,
        ToDatetime,
        ToEarliest,
        ToLatest,
        ToOffset,
        apply_replay,
        plan_replay,
    )

    chosen: list[Target] = []
    if to_datetime is not None:
        at = _parse_dt(to_datetime)
        assert at is not None
        chosen.append(ToDatetime(at))
    if to_offset is not None:
        chosen.append(ToOffset(to_offset))
    if to_earliest:
        chosen.append(ToEarliest())
    if to_latest:
        chosen.append(ToLatest())
    if shift_by is not None:
        chosen.append(ShiftBy(shift_by))
    if len(chosen) != 1:
        fail("give exactly one of --to-datetime, --to-offset, --to-earliest, --to-latest, --shift-by", EXIT["usage"])
    parts = [int(p) for p in partitions.split(",")] if partitions else None
    try:
        cfg = load(BackboneConfig)
        plan = plan_replay(cfg, group, topic, chosen[0], parts)
        if json_out:
            emit_json(
                {
                    "group": group,
                    "topic": topic,
                    "members": plan.members,
                    "partitions": [{**p.__dict__, "to_reread": p.to_reread, "lag": p.lag} for p in plan.partitions],
                }
            )
        else:
            console.print(plan.render(), highlight=False)
        if dry_run:
            return
        apply_replay(cfg, plan, wait=wait)
    except GroupActiveError as exc:
        fail(exc, EXIT["check_failed"])
    except BackboneError as exc:
        fail(exc)
    if not json_out:
        console.print(f"[green]offsets of {group} on {topic} reset[/]; the consumer resumes there on its next start")


@dlq_app.command("list")
def dlq_list(
    consumer: str = typer.Option(None, "--consumer", help="Only this consumer's DLQ (e.g. odoo_sink)."),
    since: str = typer.Option(None, "--since", help="ISO 8601 with zone."),
    error_class: str = typer.Option(None, "--error-class"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Count dead letters grouped by consumer, error class and stage."""
    from backbone.config import BackboneConfig, load
    from backbone.dlq_tools import list_dead_letters
    from backbone.topics import load_topics

    try:
        cfg = load(BackboneConfig)
        summary = list_dead_letters(
            cfg, load_topics(cfg.topics_file), consumer=consumer, since=_parse_dt(since), error_class=error_class
        )
    except BackboneError as exc:
        fail(exc)
    rows = [
        {"consumer": c, "error_class": e, "stage": s, "count": n}
        for (c, e, s), n in summary.by_class_stage.most_common()
    ]
    if json_out:
        emit_json(
            {"total": summary.total, "groups": rows, "oldest_ms": summary.oldest_ms, "newest_ms": summary.newest_ms}
        )
        return
    table = Table("consumer", "error class", "stage", "count")
    for r in rows:
        table.add_row(str(r["consumer"]), str(r["error_class"]), str(r["stage"]), str(r["count"]))
    console.print(table)
    console.print(f"total dead letters: {summary.total}")


@dlq_app.command("show")
def dlq_show(
    ref: str = typer.Argument(..., help="topic:partition:offset"),
    unmask: bool = typer.Option(False, "--unmask", help="Show personal data (names, addresses, phones)."),
) -> None:
    """Headers and decoded payload of one dead letter (personal data masked unless --unmask)."""
    from backbone.config import BackboneConfig, load
    from backbone.dlq_tools import show_dead_letter
    from backbone.serialization import SchemaRegistry

    try:
        cfg = load(BackboneConfig)
        registry = SchemaRegistry.connect(cfg.schema_registry_url) if cfg.schema_registry_url else None
        doc = show_dead_letter(cfg, ref, unmask=unmask, decode_avro=registry.decode if registry else None)
    except BackboneError as exc:
        fail(exc)
    emit_json(doc)


@dlq_app.command("redrive")
def dlq_redrive(
    consumer: str = typer.Option(..., "--consumer"),
    error_class: str = typer.Option(None, "--error-class", help="Only dead letters of this error class."),
    stage: str = typer.Option(None, "--stage"),
    since: str = typer.Option(None, "--since"),
    max_redrives: int = typer.Option(3, help="Refuse records already redriven this many times."),
    dry_run: bool = typer.Option(False, "--dry-run"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Re-publish dead letters to the topic they came from (redrive count header + 1)."""
    from backbone.config import BackboneConfig, load
    from backbone.dlq_tools import redrive
    from backbone.topics import load_topics

    try:
        cfg = load(BackboneConfig)
        with Progress(console=console, transient=True, disable=json_out) as bar:
            task = bar.add_task("redriving" if not dry_run else "selecting", total=None)
            result = redrive(
                cfg,
                load_topics(cfg.topics_file),
                consumer=consumer,
                error_class=error_class,
                stage=stage,
                since=_parse_dt(since),
                dry_run=dry_run,
                max_redrives=max_redrives,
                progress=lambda n: bar.advance(task, n),
            )
    except BackboneError as exc:
        fail(exc)
    doc = {
        **{k: v for k, v in result.__dict__.items() if k != "targets"},
        "targets": dict(result.targets),
        "dry_run": dry_run,
    }
    if json_out:
        emit_json(doc)
    else:
        verb = "would redrive" if dry_run else "redriven"
        console.print(
            f"{verb}: {result.selected - result.refused_max_redrives}; refused (max redrives): "
            f"{result.refused_max_redrives}; filtered out: {result.skipped_filter}; to {dict(result.targets)}"
        )


def trace_cmd(
    query: str = typer.Argument(..., help="event id, milestone id, correlation id or tracking number"),
    since_hours: float = typer.Option(48.0, "--since-hours", help="How far back to scan topics."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Where is this event: raw record, canonical records, dead letters, each sink's ledger row, trace id."""
    from datetime import timedelta

    from backbone.config import BackboneConfig, load
    from backbone.serialization import SchemaRegistry
    from backbone.topics import load_topics
    from backbone.trace import trace

    try:
        cfg = load(BackboneConfig)
        registry = SchemaRegistry.connect(cfg.schema_registry_url) if cfg.schema_registry_url else None
        report = trace(
            cfg,
            load_topics(cfg.topics_file),
            query,
            since=timedelta(hours=since_hours),
            decode=registry.decode if registry else None,
        )
    except BackboneError as exc:
        fail(exc)
    if json_out:
        emit_json(
            {
                "query": query,
                "found": report.found,
                "seconds": report.seconds,
                "scanned": report.scanned,
                "trace_ids": sorted(report.trace_ids),
                "raw": [hop.__dict__ | {"ref": hop.ref} for hop in report.raw],
                "canonical": [hop.__dict__ | {"ref": hop.ref} for hop in report.canonical],
                "dead_letters": [hop.__dict__ | {"ref": hop.ref} for hop in report.dead_letters],
                "ledger": report.ledger,
            }
        )
    else:
        _print_trace(report)
    if not report.found:
        raise typer.Exit(1)


def _print_trace(report: object) -> None:
    from backbone.trace import TraceReport

    assert isinstance(report, TraceReport)
    console.print(f"[bold]trace {report.query}[/] ({report.scanned} records scanned in {report.seconds}s)")
    for title, hops in (("raw", report.raw), ("canonical", report.canonical), ("dead letters", report.dead_letters)):
        table = Table("ref", "time", "key", "event / milestone", "correlation", "summary", title=title)
        for hop in hops:
            hd = hop.headers
            table.add_row(
                hop.ref,
                hop.timestamp.isoformat(timespec="seconds"),
                hop.key,
                hd.get("milestone_id") or hd.get("event_id", ""),
                hd.get("correlation_id", ""),
                " ".join(f"{k}={v}" for k, v in hop.summary.items() if k in ("code", "kind", "rank")),
            )
        console.print(table)
    ledger = Table("sink", "milestone", "status", "attempts", "applied at", "response / error", title="sink ledger")
    for row in report.ledger:
        ledger.add_row(
            str(row["sink"]),
            str(row["milestone_id"]),
            str(row["status"]),
            str(row["attempts"]),
            str(row.get("applied_at") or ""),
            str(row.get("response") or row.get("error") or "")[:80],
        )
    console.print(ledger)
    for tid in sorted(report.trace_ids):
        console.print(f"trace id: {tid}")
