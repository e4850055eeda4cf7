"""Wire protocols: pure bytes -> blocks decoders, one module per protocol (no I/O).

``names()`` lists the registered protocols; ``decoder(name)`` returns a fresh decoder;
``profile(name)`` its GATT facts; ``identify(device_name, service_uuids)`` says which protocol an
advertisement speaks. Protocol modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType

from imu_hip.model import ImuHipError
from imu_hip.protocols.base import DecodedBlock, Decoder, DecoderStats, GattProfile

__all__ = [
    "DecodedBlock",
    "Decoder",
    "DecoderStats",
    "GattProfile",
    "decoder",
    "identify",
    "names",
    "profile",
]

#: Registry name -> module (each module defines ``DECODER`` (a Decoder subclass) and ``PROFILE``).
_MODULES: dict[str, str] = {
    "imu-hip": "imu_hip.protocols.imu_hip_protocol",
    "polar-pmd": "imu_hip.protocols.polar_pmd",
    "witmotion": "imu_hip.protocols.witmotion",
    "thingy52": "imu_hip.protocols.thingy52",
    "rsc": "imu_hip.protocols.rsc",
}


def names() -> list[str]:
    """The registered protocol names, in a fixed order (imu-hip first)."""
    return list(_MODULES)


def _module(name: str) -> ModuleType:
    if name not in _MODULES:
        raise ImuHipError(f"unknown protocol {name!r}; known protocols: {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name])


def decoder(name: str, sensor_id: str = "") -> Decoder:
    """A fresh (stateful) decoder for protocol ``name``; :class:`ImuHipError` if unknown."""
    return _module(name).DECODER(sensor_id)


def profile(name: str) -> GattProfile:
    """The GATT profile (UUIDs, start/stop commands, name prefixes) of protocol ``name``."""
    return _module(name).PROFILE


def _norm_uuid(u: str) -> str:
    """Lower-case 128-bit form of a UUID; 16-/32-bit SIG short forms expand on the base UUID."""
    s = str(u).strip().lower()
    if s.startswith("0x"):
        s = s[2:]
    if len(s) in (4, 8) and all(c in "0123456789abcdef" for c in s):
        return f"{int(s, 16):08x}-0000-1000-8000-00805f9b34fb"
    return s


def identify(name: str | None, service_uuids: Iterable[str] = ()) -> str | None:
    """Which protocol a device speaks, from its advertised name and service UUIDs (or None).

    Advertised service UUIDs win over name prefixes: a footpod advertising the Running Speed and
    Cadence service (0x1814) is ``rsc`` whatever its name. Protocols are tried in registry order,
    so a device advertising both imu-hip and RSC is ``imu-hip``.
    """
    uuids = {_norm_uuid(u) for u in service_uuids or ()}
    profiles = [profile(n) for n in _MODULES]
    if uuids:
        for p in profiles:
            if uuids & {_norm_uuid(u) for u in p.service_uuids}:
                return p.protocol
    if name:
        for p in profiles:
            if any(name.startswith(prefix) for prefix in p.name_prefixes):
                return p.protocol
    return None
