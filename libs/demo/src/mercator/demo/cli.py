"""`mercator demo`: the command line of the demo."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from mercator.demo.fill import Demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mercator", description="Mercator from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fill an empty Mercator with a believable company, through the public API")
    demo.add_argument("--gateway", default=os.environ.get("MERCATOR_GATEWAY_URL", "http://127.0.0.1:8000"))
    demo.add_argument("--admin-email", default=os.environ.get("MERCATOR_GATEWAY_ADMIN_EMAIL"))
    demo.add_argument("--admin-password", default=os.environ.get("MERCATOR_GATEWAY_ADMIN_PASSWORD"))
    demo.add_argument("--scale", type=float, default=1.0, help="1.0: ~600 client cards and ~2,000 deals")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--force", action="store_true", help="fill even when there are client cards already")
    args = parser.parse_args(argv)
    if not args.admin_email or not args.admin_password:
        print(
            "demo: name an admin (--admin-email/--admin-password or MERCATOR_GATEWAY_ADMIN_EMAIL/_PASSWORD)",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.scale <= 10:
        print("demo: --scale must be above 0 and at most 10", file=sys.stderr)
        return 2
    asyncio.run(Demo(args.gateway, args.admin_email, args.admin_password, args.scale, args.seed).run(args.force))
    return 0
