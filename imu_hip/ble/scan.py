"""Finding supported devices nearby: a bleak scan, each advertisement matched to a protocol.

:func:`scan` lists the devices whose advertisement (name, service UUIDs) matches a protocol in
:mod:`imu_hip.protocols` (``identify``); :func:`find_device` resolves what a user typed (an
address or a name) to one device. Without a usable Bluetooth adapter both raise
:class:`NoBluetoothError` (an :class:`~imu_hip.model.ImuHipError`: one line on the command line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from imu_hip.ble.link import DeviceInfo
from imu_hip.model import ImuHipError
from imu_hip.text import terminal_safe

BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"

#: A Bluetooth address (Linux, Windows) or a CoreBluetooth identifier (macOS).
_ADDRESS = re.compile(
    r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}$"
)


class NoBluetoothError(ImuHipError):
    """No usable Bluetooth adapter (none present, powered off, or no Bluetooth service)."""


@dataclass(frozen=True)
class ScanResult:
    """One device seen while scanning: what is known about it, and bleak's handle to connect."""

    info: DeviceInfo
    device: BLEDevice


def is_address(text: str) -> bool:
    """Whether ``text`` is a device address rather than a name."""
    return bool(_ADDRESS.match(text.strip()))


def _battery_from_advertisement(service_data: dict[str, bytes]) -> int | None:
    """Battery level (%) from Battery Service data (0x180F, one byte 0-100), if advertised."""
    value = service_data.get(BATTERY_SERVICE_UUID)
    if value and len(value) >= 1 and value[0] <= 100:
        return int(value[0])
    return None


async def _discover(
    timeout_s: float, backend: type[BaseBleakScanner] | None
) -> dict[str, tuple[BLEDevice, Any]]:
    kwargs: dict[str, Any] = {} if backend is None else {"backend": backend}
    try:
        return await BleakScanner.discover(timeout=timeout_s, return_adv=True, **kwargs)
    except (BleakError, OSError) as e:
        # BleakBluetoothNotAvailableError (no adapter / powered off), a missing D-Bus socket
        # (FileNotFoundError), BlueZ not running (BleakDBusError) ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NoBluetoothError(
            f"no usable Bluetooth adapter ({terminal_safe(reason, 120)}); is Bluetooth present "
            "and switched on? (without hardware, try --sim)"
        ) from e


async def scan(
    timeout_s: float = 5.0,
    *,
    backend: type[BaseBleakScanner] | None = None,
    all_devices: bool = False,
) -> list[ScanResult]:
    """Scan for ``timeout_s`` seconds; supported devices, strongest signal first.

    ``all_devices``: also list devices no protocol recognises (protocol ``""``). ``backend``:
    a bleak scanner backend class instead of the platform's.
    """
    from imu_hip.protocols import identify

    found = await _discover(timeout_s, backend)
    results = []
    for device, adv in found.values():
        name = adv.local_name or device.name or ""
        protocol = identify(name, adv.service_uuids) or ""
        if not protocol and not all_devices:
            continue
        info = DeviceInfo(
            name=name,
            address=device.address,
            protocol=protocol,
            rssi_dbm=adv.rssi,
            battery_pct=_battery_from_advertisement(adv.service_data),
        )
        results.append(ScanResult(info, device))
    results.sort(key=lambda r: (-(r.info.rssi_dbm if r.info.rssi_dbm is not None else -999),
                                r.info.address))
    return results


async def find_device(
    name_or_address: str,
    timeout_s: float = 10.0,
    *,
    backend: type[BaseBleakScanner] | None = None,
) -> ScanResult:
    """The one supported device called ``name_or_address`` (an address, an exact name, or a
    unique case-insensitive name prefix); :class:`ImuHipError` if none or several match."""
    wanted = name_or_address.strip()
    results = await scan(timeout_s, backend=backend, all_devices=is_address(wanted))
    return _match(wanted, results, timeout_s)


async def find_devices(
    names_or_addresses: list[str],
    timeout_s: float = 10.0,
    *,
    backend: type[BaseBleakScanner] | None = None,
) -> list[ScanResult]:
    """:func:`find_device` for several devices with one scan (in the order given); the same
    device may not be named twice."""
    wanted = [w.strip() for w in names_or_addresses]
    results = await scan(timeout_s, backend=backend, all_devices=any(map(is_address, wanted)))
    found = [_match(w, results, timeout_s) for w in wanted]
    addresses = [r.info.address for r in found]
    for i, a in enumerate(addresses):
        if a in addresses[:i]:
            raise ImuHipError(
                f"{terminal_safe(wanted[i], 80)!r} and "
                f"{terminal_safe(wanted[addresses.index(a)], 80)!r} are the same device ({a})"
            )
    return found


def _match(wanted: str, results: list[ScanResult], timeout_s: float) -> ScanResult:
    if is_address(wanted):
        matches = [r for r in results if r.info.address.upper() == wanted.upper()]
    else:
        matches = [r for r in results if r.info.name == wanted]
        if not matches:
            matches = [r for r in results if r.info.name.lower().startswith(wanted.lower())]
    shown = terminal_safe(wanted, 80)
    if not matches:
        raise ImuHipError(f"no supported device {shown!r} found in {timeout_s:g} s of scanning")
    if len(matches) > 1:
        names = ", ".join(f"{terminal_safe(r.info.name, 40)} ({r.info.address})" for r in matches)
        raise ImuHipError(f"{shown!r} matches several devices: {names}; give the address")
    return matches[0]


def format_results(results: list[ScanResult]) -> str:
    """A table for the terminal; every device-provided text escaped."""
    if not results:
        return "no supported devices found"
    rows = [("NAME", "ADDRESS", "RSSI", "PROTOCOL", "BATTERY")]
    for r in results:
        i = r.info
        rows.append((
            terminal_safe(i.name, 40) or "(no name)",
            terminal_safe(i.address, 40),
            "" if i.rssi_dbm is None else f"{i.rssi_dbm} dBm",
            i.protocol or "?",
            "" if i.battery_pct is None else f"{i.battery_pct} %",
        ))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
