"""``python -m simulators.carrier``: serve the multi-carrier simulator for demos."""

from __future__ import annotations

from simulators.carrier.app import DEFAULT_PORT, run
from simulators.carrier.config import CarrierSimConfig
from simulators.common.server import cli_parser


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("python -m simulators.carrier", __doc__, DEFAULT_PORT)
    parser.add_argument("--webhook-url", help="where to POST EasyPost tracker.updated events (the ingest URL)")
    parser.add_argument("--rate-limit", type=int, help="requests per second per API key")
    parser.add_argument("--advance-every", type=float, help="seconds between tracking checkpoints")
    parser.add_argument("--exception", metavar="STATUS_DETAIL", help="one in_transit exception, e.g. weather_delay")
    args = parser.parse_args(argv)
    config = CarrierSimConfig(
        webhook_url=args.webhook_url,
        rate_limit_rps=args.rate_limit,
        advance_interval_s=args.advance_every,
        exception_detail=args.exception,
    )
    run(args.host, args.port, config)


if __name__ == "__main__":
    main()
