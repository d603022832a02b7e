"""One simulated Odoo database and the two ways of calling it.

``execute_kw`` follows ``odoo.service.model`` (ids in ``args[0]`` unless the method is
``@api.model``, ``context`` taken out of kwargs, a dict given to ``create`` answers one id).
``json2`` follows Odoo 19's ``/json/2`` controller (everything named, ``ids`` and ``context`` keys,
404 for an unknown model or method, 422 when arguments do not bind). Every call is recorded.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from typing import Any

from simulators.odoo.config import SimulatorConfig
from simulators.odoo.exceptions import (
    AccessDenied,
    AccessError,
    NotFound,
    OdooException,
    PythonError,
    UnprocessableEntity,
    UserError,
    serialize,
)
from simulators.odoo.faults import OdooFaults
from simulators.odoo.orm import GENERIC, Env, Method
from simulators.odoo.schema import MODELS
from simulators.odoo.seed import DEMO_ORDERS, base_data, seed_orders
from simulators.odoo.stock import MAIL_THREAD, SPECIFIC
from simulators.odoo.store import Store

__all__ = ["Simulator"]


def _resolve(model: str, method: str) -> Method | None:
    found = SPECIFIC.get((model, method))
    if found is None and MODELS[model].mail_thread:
        found = MAIL_THREAD.get(method)
    return found or GENERIC.get(method)


@functools.cache
def _signature(func: Any) -> inspect.Signature:
    return inspect.signature(func)  # introspection per call was a tenth of the simulator's CPU


def _ids(value: Any) -> list[int]:
    ids = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise PythonError("ValueError", f"Invalid ids {value!r}: expected a list of integers")
    return ids


class Simulator:
    """State behind the HTTP app: records, faults, installed modules and the call log."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.faults = OdooFaults()
        self.release = asyncio.Event()  # ends calls hung by the ``timeout`` fault at shutdown
        self.calls: list[dict[str, Any]] = []
        self.store = Store()
        self.uid = 0
        self.reset()

    def reset(self) -> None:
        self.faults.clear()
        self.calls.clear()
        self.store = Store({"delivery_state"} if self.config.delivery_state else set())
        self.uid = base_data(self.store, self.config.login)
        if self.config.seed_demo:
            seed_orders(self.store, DEMO_ORDERS)

    def seed(self, orders: Any) -> list[dict[str, Any]]:
        return seed_orders(self.store, orders)

    def set_module(self, name: str, installed: bool) -> None:
        if name != "delivery_state":
            raise ValueError(f"unknown module {name!r}; the simulator knows 'delivery_state'")
        (self.store.modules.add if installed else self.store.modules.discard)(name)

    # --- recording --------------------------------------------------------------------------
    def record(self, protocol: str, **entry: Any) -> dict[str, Any]:
        call = {"seq": len(self.calls) + 1, "ts": time.time(), "protocol": protocol, **entry}
        self.calls.append(call)
        return call

    # --- authentication ---------------------------------------------------------------------
    def key_ok(self, key: str | None) -> bool:
        return not self.faults.auth_revoked and key == self.config.api_key

    def authenticate(self, db: Any, login: Any, key: Any) -> int | bool:
        if db == self.config.database and login == self.config.login and self.key_ok(key):
            return self.uid
        return False

    # --- calls ------------------------------------------------------------------------------
    def _env(self, model: str, context: Any) -> Env:
        acl = {**self.config.acl, **self.faults.acl}
        return Env(self.store, model, self.uid, dict(context) if isinstance(context, dict) else {}, acl)

    def _invoke(self, env: Env, method: str, meth: Method, ids: list[int], args: list[Any],
                kwargs: dict[str, Any], bind_error: type[OdooException]) -> Any:
        try:
            _signature(meth.func).bind(env, ids, *args, **kwargs)
        except TypeError as exc:
            raise (PythonError("TypeError", str(exc)) if bind_error is PythonError
                   else bind_error(f"{method}(): {exc}")) from exc
        env.check_access(meth.operation)
        injected = self.faults.take_object_error(env.model, method)
        if injected is not None:
            raise injected
        return meth.func(env, ids, *args, **kwargs)

    def execute_kw(self, db: Any, uid: Any, key: Any, model: str, method: str, args: list[Any],
                   kwargs: dict[str, Any]) -> Any:
        if db != self.config.database or uid != self.uid or not self.key_ok(key):
            raise AccessDenied()
        if method.startswith("_"):
            raise AccessError(f"Private methods (such as '{model}.{method}') cannot be called remotely.")
        if model not in MODELS:
            raise UserError(f"Object {model} doesn't exist")
        meth = _resolve(model, method)
        if meth is None:
            raise PythonError("AttributeError", f"The method '{model}.{method}' does not exist")
        kwargs = dict(kwargs)
        env = self._env(model, kwargs.pop("context", None))
        if meth.api_model:
            ids, rest = [], list(args)
        else:
            if not args:
                raise PythonError("IndexError", "tuple index out of range")
            ids, rest = _ids(args[0]), list(args[1:])
        result = self._invoke(env, method, meth, ids, rest, kwargs, PythonError)
        single = rest[0] if rest else kwargs.get("vals_list")
        if method == "create" and isinstance(single, dict):
            return result[0]  # odoo.api: create(dict) answers an id, create([dict]) a list
        return result

    def json2(self, model: str, method: str, body: dict[str, Any]) -> Any:
        if model not in MODELS:
            raise NotFound(f"the model {model!r} does not exist")
        if method.startswith("_"):
            raise NotFound(f"Private methods (such as '{model}.{method}') cannot be called remotely.")
        meth = _resolve(model, method)
        if meth is None:
            raise NotFound(f"The method '{model}.{method}' does not exist")
        kwargs = dict(body)
        ids = _ids(kwargs.pop("ids", None) or [])
        env = self._env(model, kwargs.pop("context", None))
        if meth.api_model and ids:
            raise UnprocessableEntity(f"cannot call {model}.{method} with ids")
        return self._invoke(env, method, meth, ids, [], kwargs, UnprocessableEntity)

    @staticmethod
    def error_data(exc: OdooException, context: Any = None) -> dict[str, Any]:
        return serialize(exc, context if isinstance(context, dict) else None)
