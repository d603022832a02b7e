"""The local stack: real Apache Kafka (KRaft), Apicurio Registry and PostgreSQL, no Docker.

Started and stopped by ``backbone stack up|down|status``; jars cached under ``~/.cache/backbone``.
"""

from __future__ import annotations

from backbone.stack.manager import Stack, StackStatus

__all__ = ["Stack", "StackStatus"]
