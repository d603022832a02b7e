"""``python -m services.odoo_sink [--force-reapply]``: run the Odoo sink (settings from the environment)."""

from __future__ import annotations

import argparse

from services.odoo_sink.app import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.odoo_sink", description=__doc__)
    parser.add_argument("--force-reapply", action="store_true",
                        help="re-send records the ledger already applied (a target lost data); logged")
    args = parser.parse_args(argv)
    run(force_reapply=args.force_reapply)


if __name__ == "__main__":
    main()
