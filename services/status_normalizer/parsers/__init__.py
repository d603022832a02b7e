"""One parser per vendor format; ``PARSERS`` maps a RawEvent ``format`` to its parser.

Every parser is a pure function ``(payload bytes, RawContext) -> list of canonical records`` that
raises only ParseError (a PermanentError: the raw event goes to the dead letter topic).

Example::

    records = parse(raw.payload, RawContext(partner="easypost", format="easypost.event.v2", ...))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from services.status_normalizer.errors import ParseError
from services.status_normalizer.records import CanonicalRecord, RawContext

from . import aftership, carrier_label, easypost, generic, odoo, shipbob, shiphero, shippo, wms
from ._build import unique

__all__ = ["PARSERS", "Parser", "parse", "parse_unseen"]

Parser = Callable[[bytes, RawContext], list[CanonicalRecord]]

PARSERS: Mapping[str, Parser] = MappingProxyType({
    easypost.FORMAT: easypost.parse,
    aftership.FORMAT: aftership.parse,
    shippo.FORMAT: shippo.parse,
    **dict.fromkeys(shiphero.FORMATS, shiphero.parse),
    shipbob.FORMAT: shipbob.parse,
    generic.FORMAT: generic.parse,
    odoo.FORMAT: odoo.parse,
    "wms.order_answer.v1": wms.parse_order_answer,
    "wms.reconciliation.v1": wms.parse_reconciliation,
    carrier_label.FORMAT: carrier_label.parse_label,
})


# Parsers that can skip checkpoints already published (see easypost.parse_unseen).
_UNSEEN: Mapping[str, Callable[[bytes, RawContext, Callable[[str], bool] | None],
                               tuple[list[CanonicalRecord], int]]] = MappingProxyType({
    easypost.FORMAT: easypost.parse_unseen,
})


def parse_unseen(payload: bytes, ctx: RawContext,
                 seen: Callable[[str], bool]) -> tuple[list[CanonicalRecord], int]:
    """``parse`` without (most) records whose milestone id is ``seen``, and how many distinct ids were left out.

    Same errors as ``parse``. Records of seen ids may still come back (a parser skips only what it
    can prove changes nothing; a format without a skipping parser returns all of ``parse``), so
    the caller still dedupes; returned records plus skipped ids are the distinct ids of ``parse``.
    """
    parser = _UNSEEN.get(ctx.format)
    if parser is None:
        return parse(payload, ctx), 0
    try:
        records, skipped = parser(payload, ctx, seen)
        return unique(records), skipped
    except ParseError as exc:
        exc.context.update(partner=ctx.partner, format=ctx.format, event_id=ctx.event_id,
                           topic=ctx.topic, partition=ctx.partition, offset=ctx.offset)
        raise


def parse(payload: bytes, ctx: RawContext) -> list[CanonicalRecord]:
    """Parse with the parser registered for ``ctx.format``; errors carry partner/format/event id."""
    parser = PARSERS.get(ctx.format)
    try:
        if parser is None:
            raise ParseError(f"no parser for format {ctx.format!r} (known: {sorted(PARSERS)})")
        return unique(parser(payload, ctx))
    except ParseError as exc:
        exc.context.update(partner=ctx.partner, format=ctx.format, event_id=ctx.event_id,
                           topic=ctx.topic, partition=ctx.partition, offset=ctx.offset)
        raise
