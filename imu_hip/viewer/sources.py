"""Where the viewer's data comes from for ``--sim`` and ``--device`` (no Qt)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from imu_hip.model import ImuHipError


def simulated_recording(minutes: float = 10.0, seed: int = 7):
    """The demo runner (stand 20 s, walk 30 s, run with fatigue), sacrum and both shoes."""
    from imu_hip.sim import demo_params, simulate

    return simulate(demo_params(minutes), seed=seed).recording


def live_source(
    sim: bool, devices: list[str] | None, seed: int = 7
) -> tuple[Callable[..., Any], bool]:
    """(source for :func:`imu_hip.viewer.app.run_viewer`, live flag) for ``--sim``/``--device``.

    Without a live session module, ``--sim`` replays a simulated run as if it were live.
    """
    if sim:
        if _has("imu_hip.session") and _has("imu_hip.ble.virtual"):
            return _session_source_sim(seed), True
        return (lambda: simulated_recording(seed=seed)), True
    if not (_has("imu_hip.session") and _has("imu_hip.ble.bleak_link")):
        raise ImuHipError(
            "--device needs the live session (imu_hip.session, imu_hip.ble.bleak_link), "
            "which this installation lacks"
        )
    return _session_source_devices(devices or []), True


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _session_source_sim(seed: int):
    raise NotImplementedError


def _session_source_devices(devices: list[str]):
    raise NotImplementedError
