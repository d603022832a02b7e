"""Wire details shared by both Odoo clients: how an ``execute_kw``-style call becomes a JSON-2 body,
and how to read ``Retry-After``.

Callers always speak ``execute_kw``: ``call(model, method, args, kwargs)`` with record ids in
``args[0]`` for record methods. JSON-2 has no positional arguments, so each positional argument is
named from Odoo's signature; methods not in the table may only take ids and keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backbone.http import parse_retry_after
from services.odoo_sink.errors import OdooRequestError

__all__ = ["JSON2_SIGNATURES", "json2_body", "parse_retry_after"]

# method -> (takes record ids first?, names of the positional parameters after the ids)
JSON2_SIGNATURES: dict[str, tuple[bool, tuple[str, ...]]] = {
    "search": (False, ("domain", "offset", "limit", "order")),
    "search_read": (False, ("domain", "fields", "offset", "limit", "order")),
    "search_count": (False, ("domain", "limit")),
    "fields_get": (False, ("allfields", "attributes")),
    "create": (False, ("vals_list",)),
    "context_get": (False, ()),
    "read": (True, ("fields", "load")),
    "write": (True, ("vals",)),
    "unlink": (True, ()),
    "copy": (True, ("default",)),
}


def _ids(value: Any, model: str, method: str) -> list[int]:
    ids = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise OdooRequestError(f"record ids must be a list of integers, got {value!r}",
                               protocol="json2", model=model, method=method)
    return list(ids)


def json2_body(model: str, method: str, args: Sequence[Any] = (),
               kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object to POST at ``/json/2/<model>/<method>`` for an execute_kw-style call."""
    takes_ids, names = JSON2_SIGNATURES.get(method, (bool(args), ()))
    body: dict[str, Any] = {}
    rest = list(args)
    if takes_ids:
        if not rest:
            raise OdooRequestError(f"{model}.{method} needs record ids as its first argument",
                                   protocol="json2", model=model, method=method)
        body["ids"] = _ids(rest.pop(0), model, method)
    if len(rest) > len(names):
        raise OdooRequestError(
            f"{model}.{method}: JSON-2 has no positional arguments; pass {len(rest) - len(names)} of them "
            "by name in kwargs", protocol="json2", model=model, method=method)
    body.update(zip(names, rest, strict=False))
    for key, value in (kwargs or {}).items():
        if key in body:
            raise OdooRequestError(f"{model}.{method} got {key!r} both by position and by name",
                                   protocol="json2", model=model, method=method)
        body[key] = value
    return body
