"""WMS bridge: sends released orders to the 3PL/WMS API and publishes its answers as raw events.

Imports only ``backbone.*`` (never another service, never the simulators).
"""

from __future__ import annotations
