"""``python -m simulators.wms``: serve the WMS simulator for demos."""

from __future__ import annotations

from simulators.common.server import cli_parser
from simulators.wms.app import DEFAULT_PORT, run
from simulators.wms.config import WmsSimConfig


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("python -m simulators.wms", __doc__, DEFAULT_PORT)
    parser.add_argument("--webhook-url", help="where to POST ShipHero/ShipBob webhooks (the ingest URL)")
    parser.add_argument("--style", action="append", choices=["shiphero", "shipbob"],
                        help="webhook style; repeat for both (default shiphero)")
    parser.add_argument("--advance-every", type=float, help="seconds between fulfilment steps")
    parser.add_argument("--reject-unknown-sku", action="store_true",
                        help="answer 201 status=rejected instead of 422 for unknown SKUs")
    parser.add_argument("--api-token", help="require 'Authorization: Bearer <token>'")
    args = parser.parse_args(argv)
    config = WmsSimConfig(
        webhook_url=args.webhook_url,
        webhook_styles=tuple(args.style or ["shiphero"]),
        advance_interval_s=args.advance_every,
        unknown_sku="reject" if args.reject_unknown_sku else "error",
        api_token=args.api_token,
    )
    run(args.host, args.port, config)


if __name__ == "__main__":
    main()
