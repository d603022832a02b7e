"""Shared runtime of the logistics event backbone.

Every service imports this package; no service imports another service.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
