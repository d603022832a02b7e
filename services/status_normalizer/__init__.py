"""Status normalizer: raw partner events in, canonical milestones out.

Pure logic lives here (mapping tables, one parser per vendor format, dedupe); the Faust wiring
that reads raw.* topics and writes canonical.* topics is a separate module. Nothing in this
package imports Faust, aiohttp or confluent-kafka.
"""

from __future__ import annotations
