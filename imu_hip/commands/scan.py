"""``imu-hip scan``: list supported BLE devices nearby (name, address, RSSI, protocol, battery)."""

from __future__ import annotations

import argparse

from imu_hip.cli import positive_float

ORDER = 20

#: bleak scanner backend class to use instead of the platform's (tests set this).
SCANNER_BACKEND = None


def add_parser(sub) -> None:
    p = sub.add_parser(
        "scan", help="list supported BLE sensors nearby (name, address, signal, protocol)"
    )
    p.add_argument(
        "--timeout", type=positive_float, default=5.0, metavar="S",
        help="seconds to scan (default 5)",
    )
    p.add_argument(
        "--all", action="store_true", dest="all_devices",
        help="also list devices that speak no supported protocol",
    )
    p.set_defaults(func=run)


async def scan_and_print(args: argparse.Namespace, backend=None) -> int:
    from imu_hip.ble.scan import format_results, scan

    results = await scan(args.timeout, backend=backend, all_devices=args.all_devices)
    print(format_results(results))
    return 0


def run(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(scan_and_print(args, SCANNER_BACKEND))
