"""Errors of the status normalizer (subclasses of the backbone tree, never a new root)."""

from __future__ import annotations

from backbone.errors import PermanentError

__all__ = ["ParseError"]


class ParseError(PermanentError):
    """A raw payload cannot be turned into canonical records; retrying the same bytes cannot help.

    The message names the field path (``msg.checkpoints[2].checkpoint_time``) and what was wrong,
    never the value of personal fields.
    """
