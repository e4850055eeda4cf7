"""imu-hip: hip (sacral) and shoe IMU running analysis, live or from a recording."""

from imu_hip.model import (
    G,
    PLACEMENTS,
    STEP_COLUMNS,
    Block,
    ImuHipError,
    InputError,
    Recording,
    SensorRecording,
)

__version__ = "0.1.0"

__all__ = [
    "G",
    "PLACEMENTS",
    "STEP_COLUMNS",
    "Block",
    "ImuHipError",
    "InputError",
    "Recording",
    "SensorRecording",
]
