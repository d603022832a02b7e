"""Failure modes of the Odoo simulator, set with ``POST /_sim/faults`` (``{"clear": true}`` resets all).

Transport faults are the shared ones of :mod:`simulators.common.faults` (same names as the other
simulators: ``throttle`` -> 429 with ``Retry-After: retry_after_s``, ``outage``/``outage_status``,
``delay_ms``, ``timeout``). Odoo-specific ones::

    down          "reset" | "503" | null   connection reset on every call / 503 until cleared
    error_rate    0..1                     share of calls answered a bare 500 (seeded by ``seed``)
    lock_errors   int                      the next N object calls fail with a lock error of
    lock_kind     "serialization" | "lock" | "concurrency"
                                           psycopg2 SerializationFailure (JSON-2: 500, as Odoo 19
                                           does once its own retries are spent), LockError (409),
                                           ConcurrencyError (500)
    auth_revoked  bool                     the API key is refused (authenticate -> false,
                                           AccessDenied, JSON-2 401)
    fail_next     [{"error": "ValidationError", "model": ..., "method": ..., "message": ...,
                    "count": 1}]           scripted Odoo exceptions for matching calls
    acl           {"stock.picking": ["read"]}   override access rights per model
    seed          int                      random seed for error_rate
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from simulators.common.faults import Faults as TransportFaults
from simulators.odoo.exceptions import ConcurrencyError, LockError, OdooException, SerializationFailure, by_name

__all__ = ["OdooFaults", "ScriptedError"]

_LOCK_KINDS = ("serialization", "lock", "concurrency")
_OWN = frozenset({"down", "error_rate", "lock_errors", "lock_kind", "auth_revoked", "fail_next", "acl", "seed"})
_TRANSPORT = frozenset(TransportFaults().as_dict())


@dataclass
class ScriptedError:
    error: str
    message: str | None = None
    model: str | None = None
    method: str | None = None
    remaining: int = 1

    def matches(self, model: str, method: str) -> bool:
        return self.model in (None, model) and self.method in (None, method)


def _scripted(item: Any) -> ScriptedError:
    if not isinstance(item, dict) or "error" not in item:
        raise ValueError("each fail_next entry needs an 'error' such as 'ValidationError'")
    by_name(item["error"])  # raises ValueError listing the known names
    count = item.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ValueError("fail_next count must be a positive integer")
    return ScriptedError(item["error"], item.get("message"), item.get("model"), item.get("method"), count)


@dataclass
class OdooFaults:
    transport: TransportFaults = field(default_factory=TransportFaults)
    reset_connections: bool = False
    error_rate: float = 0.0
    lock_errors: int = 0
    lock_kind: str = "serialization"
    auth_revoked: bool = False
    scripted: list[ScriptedError] = field(default_factory=list)
    acl: dict[str, frozenset[str]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def clear(self) -> None:
        fresh = OdooFaults()
        self.transport.clear()
        for name in ("reset_connections", "error_rate", "lock_errors", "lock_kind", "auth_revoked",
                     "scripted", "acl", "rng"):
            setattr(self, name, getattr(fresh, name))

    def update(self, payload: dict[str, Any]) -> list[str]:
        """Apply a ``/_sim/faults`` body; returns problems (nothing is applied when there are any)."""
        staged = OdooFaults()
        problems = [f"unknown field {k!r}" for k in payload if k not in _OWN | _TRANSPORT | {"clear"}]
        transport = {k: v for k, v in payload.items() if k in _TRANSPORT}
        down = payload.get("down")
        if down not in (None, False, "reset", "503"):
            problems.append("down must be null, 'reset' or '503'")
        elif down == "503":
            transport.update(outage=-1, outage_status=503)
        elif "down" in payload:
            transport.setdefault("outage", 0)
        try:
            self._stage(staged, payload)
        except (ValueError, TypeError) as exc:
            problems.append(str(exc))
        problems += TransportFaults().update(transport)
        if problems:
            return problems
        if payload.get("clear"):
            self.clear()
        self.transport.update(transport)
        if "down" in payload:
            self.reset_connections = down == "reset"
        for key in ("error_rate", "lock_errors", "lock_kind", "auth_revoked", "acl"):
            if key in payload:
                setattr(self, key, getattr(staged, key))
        if "fail_next" in payload:
            self.scripted = staged.scripted
        if "seed" in payload:
            self.rng = staged.rng
        return []

    @staticmethod
    def _stage(staged: OdooFaults, payload: dict[str, Any]) -> None:
        rate = payload.get("error_rate", 0.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ValueError("error_rate must be a number between 0 and 1")
        staged.error_rate = float(rate)
        locks = payload.get("lock_errors", 0)
        if isinstance(locks, bool) or not isinstance(locks, int) or locks < 0:
            raise ValueError("lock_errors must be >= 0")
        staged.lock_errors = locks
        staged.lock_kind = payload.get("lock_kind", "serialization")
        if staged.lock_kind not in _LOCK_KINDS:
            raise ValueError(f"lock_kind must be one of {', '.join(_LOCK_KINDS)}")
        staged.auth_revoked = bool(payload.get("auth_revoked", False))
        staged.scripted = [_scripted(item) for item in payload.get("fail_next") or []]
        acl = payload.get("acl") or {}
        if not isinstance(acl, dict) or not all(isinstance(v, list) for v in acl.values()):
            raise ValueError('acl must map a model to a list of operations, e.g. {"sale.order": ["read"]}')
        staged.acl = {model: frozenset(ops) for model, ops in acl.items()}
        staged.rng = random.Random(payload.get("seed", 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.transport.as_dict(),
            "down": "reset" if self.reset_connections else None, "error_rate": self.error_rate,
            "lock_errors": self.lock_errors, "lock_kind": self.lock_kind, "auth_revoked": self.auth_revoked,
            "fail_next": [vars(s) for s in self.scripted],
            "acl": {m: sorted(ops) for m, ops in self.acl.items()},
        }

    def roll_server_error(self) -> bool:
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    def take_object_error(self, model: str, method: str) -> OdooException | None:
        """The next lock or scripted error for an object call, consuming it."""
        if self.lock_errors > 0:
            self.lock_errors -= 1
            if self.lock_kind == "lock":
                return LockError(f"Cannot lock the record(s) of '{model}': another transaction is writing them.")
            if self.lock_kind == "concurrency":
                return ConcurrencyError("Concurrent update detected, please retry.")
            return SerializationFailure()
        for scripted in self.scripted:
            if scripted.remaining > 0 and scripted.matches(model, method):
                scripted.remaining -= 1
                return by_name(scripted.error, scripted.message)
        return None
