"""A link to one streaming device: the interface the session talks to.

Two implementations: :class:`imu_hip.ble.bleak_link.BleakLink` (a real BLE device through bleak;
in the tests, bleak runs on a bumble backend) and :class:`imu_hip.ble.virtual.VirtualLink` (a
simulated device for ``--sim``). The session never knows which one it has.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

#: Called for every notification: (characteristic uuid, payload, host receive time s).
NotificationHandler = Callable[[str, bytes, float], None]
#: Called on every state change: one of LINK_STATES, plus a free-text detail.
StateHandler = Callable[[str, str], None]

LINK_STATES = ("connecting", "streaming", "reconnecting", "stopped", "failed")


@dataclass(frozen=True)
class DeviceInfo:
    """What is known about a device before or after connecting (all text is untrusted)."""

    name: str
    address: str
    protocol: str
    rssi_dbm: int | None = None
    battery_pct: int | None = None


class Link(ABC):
    """One device: connect, start streaming, deliver notifications, reconnect, stop."""

    info: DeviceInfo

    @abstractmethod
    async def run(self, on_notification: NotificationHandler, on_state: StateHandler) -> None:
        """Connect, send the start commands, stream until :meth:`stop`; reconnect on link loss.

        Returns after :meth:`stop` (state ``stopped``) or when reconnecting is given up
        (state ``failed``).
        """

    @abstractmethod
    async def stop(self) -> None:
        """Send the stop commands (when connected), disconnect, make :meth:`run` return."""

    @abstractmethod
    async def write(self, uuid: str, data: bytes) -> None:
        """Write a control command to characteristic ``uuid`` (with response)."""

    @abstractmethod
    async def read(self, uuid: str) -> bytes:
        """Read characteristic ``uuid``."""
