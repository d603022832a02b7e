"""``python -m services.ingest [--host H] [--port P]``: run the ingest HTTP service."""

from __future__ import annotations

import argparse

from services.ingest.app import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.ingest", description=__doc__)
    parser.add_argument("--host", help="listen address (default BACKBONE_INGEST_HOST or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="listen port (default BACKBONE_INGEST_PORT or 8080)")
    args = parser.parse_args(argv)
    run(args.host, args.port)


if __name__ == "__main__":
    main()
