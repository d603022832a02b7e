"""``Idempotency-Key`` handling the way Stripe popularised and 3PL/carrier APIs copy it.

A key is scoped to the caller's credential. The first successful answer is stored with a fingerprint
of the request (method, path, JSON body). The same key with the same request replays that answer;
the same key with a different request is refused (the caller has a bug, not a retry).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from simulators.common.http import bearer_or_basic_key, json_response

__all__ = ["IdempotencyStore", "IdempotentCall", "Stored"]


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int
    body: dict[str, Any]


class IdempotencyStore:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Stored] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    @staticmethod
    def fingerprint(method: str, path: str, body: Any) -> str:
        # Parsed JSON with sorted keys: whitespace or key order changes are the same request.
        canonical = json.dumps([method.upper(), path, body], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def check(self, principal: str, key: str, fingerprint: str,
              ) -> tuple[Literal["new", "replay", "conflict"], Stored | None]:
        stored = self._entries.get((principal, key))
        if stored is None:
            return "new", None
        return ("replay" if stored.fingerprint == fingerprint else "conflict"), stored

    def remember(self, principal: str, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        # A deep copy through JSON: later state changes must not leak into the replayed answer.
        self._entries[(principal, key)] = Stored(fingerprint, status, json.loads(json.dumps(body)))


@dataclass(frozen=True)
class IdempotentCall:
    """One POST as the store sees it: its ``Idempotency-Key`` (None when sent without) and credential."""

    store: IdempotencyStore
    key: str | None
    principal: str
    fingerprint: str

    @classmethod
    def of(cls, request: web.Request, store: IdempotencyStore, body: dict[str, Any]) -> IdempotentCall:
        return cls(store, request.headers.get("Idempotency-Key"), bearer_or_basic_key(request) or "anonymous",
                   IdempotencyStore.fingerprint(request.method, request.path, body))

    def earlier(self, conflict: Callable[[], web.Response]) -> web.Response | None:
        """The stored answer replayed, ``conflict()`` for a key reused on another request, else None."""
        if self.key is None:
            return None
        verdict, stored = self.store.check(self.principal, self.key, self.fingerprint)
        if verdict == "replay" and stored is not None:
            return json_response(stored.body, 200, {"Idempotent-Replayed": "true"})
        if verdict == "conflict":
            return conflict()
        return None

    def remember(self, status: int, body: dict[str, Any]) -> None:
        if self.key is not None:
            self.store.remember(self.principal, self.key, self.fingerprint, status, body)
