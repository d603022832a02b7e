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

__all__ = ["PARSERS", "Parser", "parse"]

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
