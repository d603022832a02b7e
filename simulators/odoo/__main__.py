"""``python -m simulators.odoo [--host H] [--port 8069] [--demo] [--delivery-state]``."""

from __future__ import annotations

from simulators.common.server import cli_parser
from simulators.odoo.app import run
from simulators.odoo.config import SimulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("python -m simulators.odoo", __doc__, 8069)
    parser.add_argument("--database", default="backbone")
    parser.add_argument("--demo", action="store_true", help="seed a few orders with outgoing pickings")
    parser.add_argument("--delivery-state", action="store_true", help="install the OCA delivery_state fields")
    args = parser.parse_args(argv)
    config = SimulatorConfig(database=args.database, seed_demo=args.demo, delivery_state=args.delivery_state)
    run(args.host, args.port, config)


if __name__ == "__main__":
    main()
