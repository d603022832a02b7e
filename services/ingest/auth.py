"""Who is calling: vendor signature schemes, per-partner API keys and the replay cache.

Pure logic over the raw body and plain header/query mappings (the crypto is in
``backbone.signatures``). A signed message id enters the replay cache only after the signature
checked out, so nobody can block a partner's future ids; it is *reserved* while the event is in
flight and released if Kafka refuses it, so the sender's retry of a 503 is not taken for a replay.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from backbone import signatures as sig
from services.ingest.errors import ForbiddenError, ReplayError, UnauthorizedError
from services.ingest.partners import Partner, PartnerDirectory

__all__ = ["Authenticator", "ReplayCache", "Verified", "bearer_token"]

SHIPHERO_MESSAGE_ID = "X-Shiphero-Message-ID"

# RawEvent.signature_scheme values (documented in schemas/RawEvent.avsc).
_SCHEME_LABEL = {
    "easypost-hmac": "easypost-hmac",
    "aftership-hmac": "aftership-hmac",
    "shiphero-hmac": "shiphero-hmac",
    "standard-webhooks": "standard-webhooks",
    "shippo-token": "shippo-token",
    "shippo-hmac": "shippo-hmac",
    "api-key": "api-key",
}


@dataclass(frozen=True)
class Verified:
    """A request whose sender is proven: the label stored on the RawEvent, and ids the scheme carried."""

    partner: Partner
    scheme: str
    message_id: str | None = None
    replay_key: str | None = None


class ReplayCache:
    """Bounded TTL set of signed message ids (per process; downstream dedupe by event id covers the rest)."""

    def __init__(self, max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def reserve(self, key: str, ttl_s: float) -> bool:
        """Claim ``key`` for ``ttl_s``; False when it is already claimed and unexpired."""
        now = self._clock()
        expiry = self._entries.get(key)
        if expiry is not None and expiry > now:
            return False
        self._entries[key] = now + ttl_s
        self._entries.move_to_end(key)
        self._purge(now)
        return True

    def release(self, key: str) -> None:
        self._entries.pop(key, None)

    def _purge(self, now: float) -> None:
        entries = self._entries
        while entries:
            _, expiry = next(iter(entries.items()))
            if expiry > now and len(entries) <= self._max:
                break
            entries.popitem(last=False)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    def __init__(self, directory: PartnerDirectory, replay: ReplayCache, clock: Callable[[], float] = time.time):
        self._directory = directory
        self._replay = replay
        self._clock = clock

    def api_key_partner(self, headers: Mapping[str, str]) -> Partner:
        """The partner owning the bearer key; 401 when absent or unknown."""
        token = bearer_token(headers)
        if token is None:
            raise UnauthorizedError("missing_api_key", "send 'Authorization: Bearer <partner API key>'")
        partner = self._directory.by_api_key(token)
        if partner is None:
            raise UnauthorizedError("invalid_api_key", "the API key is not valid")
        return partner

    def verify_webhook(
        self, partner: Partner, body: bytes, headers: Mapping[str, str], query: Mapping[str, str]
    ) -> Verified:
        """Check the partner's own scheme over the exact body; raises SignatureError / 401 / 403 / 409."""
        scheme = partner.scheme
        secrets = partner.secrets
        message_id: str | None = None
        replay_key: str | None = None
        if scheme == "easypost-hmac":
            sig.verify_easypost(body, headers, secrets)
        elif scheme == "aftership-hmac":
            sig.verify_aftership(body, headers, secrets)
        elif scheme == "shiphero-hmac":
            sig.verify_shiphero(body, headers, secrets)
            # Not covered by the HMAC, so only an event id hint, never a replay key.
            message_id = headers.get(SHIPHERO_MESSAGE_ID) or None
        elif scheme == "standard-webhooks":
            message_id = sig.verify_standard_webhooks(
                body, headers, secrets, tolerance_s=partner.tolerance_s, now=self._clock()
            )
            replay_key = message_id
        elif scheme == "shippo-hmac":
            replay_key = sig.verify_shippo(body, headers, secrets, tolerance_s=partner.tolerance_s, now=self._clock())
        elif scheme == "shippo-token":
            sig.verify_shippo_token(query.get("token"), secrets)
        else:  # api-key
            owner = self.api_key_partner(headers)
            if owner.id != partner.id:
                raise ForbiddenError("wrong_partner", f"this API key may not write as partner {partner.id!r}")
        verified = Verified(partner, _SCHEME_LABEL[scheme], message_id, None)
        if replay_key is not None:
            key = f"{partner.id}:{replay_key}"
            # Timestamps are accepted up to `tolerance` either side of now: remember ids twice that long.
            if not self._replay.reserve(key, 2 * partner.tolerance_s):
                raise ReplayError("replayed", "this signed message was already received; it is not stored twice")
            verified = Verified(partner, verified.scheme, message_id, key)
        return verified

    def release(self, verified: Verified | None) -> None:
        """Forget a reservation whose event was not stored, so the sender's retry is accepted."""
        if verified is not None and verified.replay_key is not None:
            self._replay.release(verified.replay_key)
