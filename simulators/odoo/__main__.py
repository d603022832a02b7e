"""``python -m simulators.odoo [--host H] [--port 8069] [--demo] [--delivery-state]``."""

from __future__ import annotations

import argparse

from simulators.odoo.app import run
from simulators.odoo.config import SimulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.odoo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8069)
    parser.add_argument("--database", default="backbone")
    parser.add_argument("--demo", action="store_true", help="seed a few orders with outgoing pickings")
    parser.add_argument("--delivery-state", action="store_true", help="install the OCA delivery_state fields")
    args = parser.parse_args(argv)
    config = SimulatorConfig(database=args.database, seed_demo=args.demo, delivery_state=args.delivery_state)
    run(args.host, args.port, config)


if __name__ == "__main__":
    main()
