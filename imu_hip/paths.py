"""Where imu-hip keeps its own files (calibrations, the run history)."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that moves the whole user data folder (tests, several users, a USB stick).
DATA_DIR_ENV = "IMU_HIP_DATA_DIR"


def data_dir() -> Path:
    """imu-hip's user data folder: ``$IMU_HIP_DATA_DIR`` if set, else platformdirs' (e.g.
    ``~/.local/share/imu-hip`` on Linux)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("imu-hip", appauthor=False))
