"""imu-hip: hip (sacral) and shoe IMU running analysis, live or from a recording.

The public face::

    import imu_hip
    result = imu_hip.analyze("run.mcap")                      # path, Recording or one stream
    result.steps["cadence_spm"], result.summary["metrics"]["pelvic_drop_deg"]
    result.strides                                            # shoe strides (or None)
    result.write("out/")                                      # steps.csv, strides.csv, summary.json

    sim = imu_hip.sim.simulate(imu_hip.sim.demo_params(minutes=3), seed=1)
    stage = imu_hip.SacralStage(rate_hz=400, has_gyro=True, frame_s=2)   # live: push(block)
    shoe = imu_hip.FootStage(rate_hz=400, placement="left_foot")        # live: push(block)
    session = imu_hip.Session(...)                            # BLE / simulated devices, recording
"""

from imu_hip.io import read_recording, write_csv, write_mcap
from imu_hip.model import (
    PLACEMENTS,
    STEP_COLUMNS,
    Block,
    G,
    ImuHipError,
    InputError,
    Recording,
    SensorRecording,
)
from imu_hip.pipeline import AnalysisResult, SacralStage, analyze
from imu_hip.steps import StepTable

__version__ = "0.1.0"


#: Loaded when first used, so that ``import imu_hip`` stays fast for the offline analysis.
_LAZY = {
    "sim": ("imu_hip.sim", None),
    "FootStage": ("imu_hip.foot_pipeline", "FootStage"),
    "StrideTable": ("imu_hip.strides", "StrideTable"),
    "Session": ("imu_hip.session", "Session"),
    "DeviceSpec": ("imu_hip.session", "DeviceSpec"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attr is None else getattr(module, attr)
    raise AttributeError(f"module 'imu_hip' has no attribute {name!r}")

__all__ = [
    "G",
    "PLACEMENTS",
    "STEP_COLUMNS",
    "AnalysisResult",
    "Block",
    "DeviceSpec",
    "FootStage",
    "ImuHipError",
    "InputError",
    "Recording",
    "SacralStage",
    "SensorRecording",
    "Session",
    "StepTable",
    "StrideTable",
    "analyze",
    "read_recording",
    "sim",
    "write_csv",
    "write_mcap",
]
