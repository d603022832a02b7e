"""Carrier bridge: buys labels and registers trackers on the multi-carrier API, publishing the
answers as raw events. Imports only ``backbone.*`` (never another service, never the simulators).
"""

from __future__ import annotations
