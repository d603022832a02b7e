"""Print every result in bench/results/*.json as one table (the JSON files are the real output)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from bench.harness import RESULTS


def main() -> None:
    table = Table("benchmark", "scenario", "events/s", "events per CPU-s", "p50 ms", "p99 ms", "vs baseline", "RSS MB")
    for path in sorted(RESULTS.glob("*.json")):
        doc = json.loads(path.read_text())
        for scenario, row in doc.get("scenarios", {}).items():
            lat = row.get("latency_ms", {})
            table.add_row(
                doc["benchmark"],
                scenario,
                f"{row.get('events_per_s', 0):,.0f}",
                f"{row.get('events_per_cpu_s', 0):,.0f}",
                str(lat.get("p50", "")),
                str(lat.get("p99", "")),
                str(row.get("ratio_to_baseline", "")),
                str(row.get("rss_mb", "")),
            )
        if doc["benchmark"] == "kafka_baseline":
            for scenario in ("produce", "consume"):
                row = doc[scenario]
                lat = row.get("ack_latency_at_1000_per_s_ms", {})
                table.add_row(
                    "kafka_baseline",
                    scenario,
                    f"{row['events_per_s']:,.0f}",
                    f"{row['events_per_cpu_s']:,.0f}",
                    str(lat.get("p50", "")),
                    str(lat.get("p99", "")),
                    "1.0",
                    str(row.get("rss_mb", "")),
                )
    Console().print(table)


if __name__ == "__main__":
    main()
