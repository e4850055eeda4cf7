"""What every wire protocol provides: a stateful decoder (bytes -> blocks) and its GATT profile.

Decoders are pure: no I/O, no clock reading. They never raise out of :meth:`Decoder.feed`: a
malformed notification is counted in :attr:`Decoder.stats` and skipped. Times inside a
:class:`DecodedBlock` are the *device's* clock (when the device sends one); mapping them to the
host clock is the session's job (:mod:`imu_hip.ble.clock`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class DecodedBlock:
    """Samples decoded from one notification (or one complete frame), in SI units.

    ``received_at``: host time (s) of the notification that completed this block.
    ``seq``: the packet's sequence number, unwrapped to a non-decreasing int by the decoder, or
    None when the protocol has none. ``device_t_s``: (n,) device-clock time of every sample (s),
    or None when the device sends no timestamps (the session then spaces samples at ``rate_hz``).
    ``acc_mps2`` / ``gyr_rads``: (n, 3) in the sensor frame, or None when not sent.
    ``values``: other channels, each (n,) in SI units named with their unit (``speed_mps``,
    ``cadence_spm``, ``stride_length_m``, ``distance_m``, ``battery_pct`` ...).
    """

    sensor_id: str
    rate_hz: float
    received_at: float
    seq: int | None
    device_t_s: np.ndarray | None
    acc_mps2: np.ndarray | None = None
    gyr_rads: np.ndarray | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        for a in (self.device_t_s, self.acc_mps2, self.gyr_rads, *self.values.values()):
            if a is not None:
                return int(a.shape[0])
        return 0


@dataclass
class DecoderStats:
    """Counts kept by a decoder: notifications, bytes, samples, and malformed input by reason."""

    notifications: int = 0
    bytes: int = 0
    samples: int = 0
    malformed: Counter[str] = field(default_factory=Counter)

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())


class Decoder(ABC):
    """A stateful bytes -> :class:`DecodedBlock` decoder for one device (one stream)."""

    #: Registry name, e.g. ``"imu-hip"``.
    name: str = ""

    def __init__(self, sensor_id: str = "") -> None:
        self.sensor_id = sensor_id
        self.stats = DecoderStats()

    @abstractmethod
    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        """Decode one notification; never raises on bad bytes (counts them in ``stats``)."""


@dataclass(frozen=True)
class GattProfile:
    """How to talk to a device speaking one protocol over GATT (no I/O here, only facts).

    ``notify_uuids``: characteristics to subscribe to (data). ``control_uuid``: where commands are
    written (None if none). ``start_commands`` / ``stop_commands``: bytes written to
    ``control_uuid`` (in order) to start / stop streaming. ``name_prefixes`` and
    ``service_uuids`` recognise the device in advertisements.
    """

    protocol: str
    service_uuids: tuple[str, ...]
    notify_uuids: tuple[str, ...]
    control_uuid: str | None = None
    start_commands: tuple[bytes, ...] = ()
    stop_commands: tuple[bytes, ...] = ()
    name_prefixes: tuple[str, ...] = ()
