"""The generic ORM methods every model answers over RPC (search, search_read, read, write, create,
search_count, fields_get), the call environment, and access rights.

A method is a plain function ``func(env, ids, *args, **kwargs)``; ``Method.api_model`` marks the
``@api.model`` ones that take no ids, exactly the distinction JSON-RPC (ids in ``args[0]``) and
JSON-2 (``ids`` key, 422 when given to a model method) make.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulators.odoo.domain import compile_domain
from simulators.odoo.exceptions import AccessError, PythonError
from simulators.odoo.schema import MODELS
from simulators.odoo.store import DATETIME_FORMAT, Store

__all__ = ["GENERIC", "OPERATION_VERBS", "Env", "Method"]

OPERATION_VERBS = {"read": "access", "write": "modify", "create": "create", "unlink": "delete"}
_GROUPS = {"sale.order": "Sales/User: Own Documents Only", "res.users": "Administration/Access Rights"}


@dataclass
class Env:
    """What one RPC call sees: the database, the model, the user, the context and the ACL."""

    store: Store
    model: str
    uid: int
    context: dict[str, Any] = field(default_factory=dict)
    acl: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def check_access(self, operation: str) -> None:
        allowed = self.acl.get(self.model)
        if allowed is not None and operation not in allowed:
            description = MODELS[self.model].description
            group = _GROUPS.get(self.model, "Inventory/Administrator")
            raise AccessError(
                f"You are not allowed to {OPERATION_VERBS[operation]} '{description}' ({self.model}) "
                "records.\n\nThis operation is allowed for the following groups:\n"
                f"\t- {group}\n\nContact your administrator to request access if necessary."
            )

    def now(self) -> str:
        return datetime.now(UTC).strftime(DATETIME_FORMAT)

    def ensure_one(self, ids: list[int]) -> int:
        if len(ids) != 1:
            shown = ", ".join(str(i) for i in ids)
            raise PythonError("ValueError", f"Expected singleton: {self.model}({shown})")
        return ids[0]


@dataclass(frozen=True)
class Method:
    func: Callable[..., Any]
    api_model: bool = False
    operation: str = "read"


class _Resolver:
    def __init__(self, store: Store, model: str) -> None:
        self._store, self._model = store, model

    def leaf_values(self, rec_id: int, path: str, *, names: bool) -> list[Any]:
        return self._store.leaf_values(rec_id, path, names=names, model=self._model)


def _sorted(env: Env, ids: list[int], order: str | None) -> list[int]:
    if not order:
        return ids
    result = list(ids)
    for clause in reversed([c.strip() for c in order.split(",") if c.strip()]):
        name, _, direction = clause.partition(" ")
        if name != "id":
            env.store.field(env.model, name)  # raises on unknown fields, as Odoo does

        def key(rec_id: int, name: str = name) -> tuple[bool, Any]:
            value = rec_id if name == "id" else env.store.raw(env.model, rec_id).get(name)
            return (value is None, value if value is not None else 0)

        result.sort(key=key, reverse=direction.strip().lower() == "desc")
    return result


def _narrowed(env: Env, domain: Any) -> list[int] | None:
    """Candidate ids from the char-field index when the domain is a plain AND of leaves with one
    ``field = "text"`` leaf (what integrations send: a tracking number, an order reference)."""
    if not isinstance(domain, list) or not domain:
        return None
    best: list[int] | None = None
    for leaf in domain:
        if not isinstance(leaf, (list, tuple)):
            return None  # prefix operators: evaluate the whole domain on every record
        if (len(leaf) == 3 and isinstance(leaf[0], str) and "." not in leaf[0] and leaf[1] == "="
                and isinstance(leaf[2], str) and leaf[2]):
            found = env.store.candidates(env.model, leaf[0], leaf[2])
            if found is not None and (best is None or len(found) < len(best)):
                best = found
    return best


def _search_ids(env: Env, domain: Any, offset: int = 0, limit: int | None = None,
                order: str | None = None) -> list[int]:
    predicate = compile_domain(domain, _Resolver(env.store, env.model))
    candidates = _narrowed(env, domain)
    if candidates is None:
        candidates = env.store.ids(env.model)
    found = _sorted(env, [i for i in candidates if predicate(i)], order)
    return found[offset : offset + limit if limit else None]


def search(env: Env, ids: list[int], domain: Any, offset: int = 0, limit: int | None = None,
           order: str | None = None) -> list[int]:
    return _search_ids(env, domain, offset, limit, order)


def search_count(env: Env, ids: list[int], domain: Any = None, limit: int | None = None) -> int:
    return len(_search_ids(env, domain or [], 0, limit))


def read(env: Env, ids: list[int], fields: list[str] | None = None,
         load: str | None = "_classic_read") -> list[dict[str, Any]]:
    env.store.check_exist(env.model, ids, env.uid)
    rows = env.store.read(env.model, ids, fields)
    if not load:  # load=None: many2one as a bare id
        for row in rows:
            for key, value in row.items():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[1], str):
                    row[key] = value[0]
    return rows


def search_read(env: Env, ids: list[int], domain: Any = None, fields: list[str] | None = None, offset: int = 0,
                limit: int | None = None, order: str | None = None,
                load: str | None = "_classic_read") -> list[dict[str, Any]]:
    if fields:
        env.store.read(env.model, [], fields)  # validate field names even when nothing matches
    return read(env, _search_ids(env, domain or [], offset, limit, order), fields, load)


def write(env: Env, ids: list[int], vals: dict[str, Any]) -> bool:
    env.store.check_exist(env.model, ids, env.uid)
    env.store.write(env.model, ids, vals)
    return True


def create(env: Env, ids: list[int], vals_list: Any) -> list[int]:
    batch = [vals_list] if isinstance(vals_list, dict) else vals_list
    if not isinstance(batch, list) or not all(isinstance(v, dict) for v in batch):
        raise PythonError("TypeError", "create() expects a dict or a list of dicts")
    prefix = MODELS[env.model].seq_prefix
    return [
        env.store.create(env.model, {"name": env.store.next_name(prefix), **vals} if prefix else vals)
        for vals in batch
    ]


def fields_get(env: Env, ids: list[int], allfields: list[str] | None = None,
               attributes: list[str] | None = None) -> dict[str, dict[str, Any]]:
    described = {name: f.describe(name) for name, f in env.store.fields(env.model).items()}
    described["id"] = {"name": "id", "type": "integer", "string": "ID", "readonly": True, "required": False,
                       "store": True, "searchable": True, "sortable": True}
    if allfields:
        described = {k: v for k, v in described.items() if k in allfields}
    if attributes:
        described = {k: {a: v[a] for a in attributes if a in v} for k, v in described.items()}
    return described


def unlink(env: Env, ids: list[int]) -> bool:
    env.store.check_exist(env.model, ids, env.uid)
    for rec_id in ids:
        del env.store.records[env.model][rec_id]
    return True


GENERIC: dict[str, Method] = {
    "search": Method(search, api_model=True),
    "search_read": Method(search_read, api_model=True),
    "search_count": Method(search_count, api_model=True),
    "fields_get": Method(fields_get, api_model=True),
    "read": Method(read),
    "write": Method(write, operation="write"),
    "create": Method(create, api_model=True, operation="create"),
    "unlink": Method(unlink, operation="unlink"),
}
