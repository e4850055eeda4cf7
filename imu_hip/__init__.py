"""imu-hip: hip (sacral) IMU running analysis, live or from a recording.

The public face::

    import imu_hip
    result = imu_hip.analyze("run.csv", placement="sacrum")   # or a Recording
    result.steps["cadence_spm"], result.summary["metrics"]["pelvic_drop_deg"]
    result.write("out/")                                      # steps.csv + summary.json

    sim = imu_hip.sim.simulate(imu_hip.sim.demo_params(minutes=3), seed=1)
    stage = imu_hip.SacralStage(rate_hz=400, has_gyro=True, frame_s=2)   # live: push(block)
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


def __getattr__(name: str):
    # The simulator (and its scipy.spatial import) loads only when first used.
    if name == "sim":
        import importlib

        return importlib.import_module("imu_hip.sim")
    raise AttributeError(f"module 'imu_hip' has no attribute {name!r}")

__all__ = [
    "G",
    "PLACEMENTS",
    "STEP_COLUMNS",
    "AnalysisResult",
    "Block",
    "ImuHipError",
    "InputError",
    "Recording",
    "SacralStage",
    "SensorRecording",
    "StepTable",
    "analyze",
    "read_recording",
    "sim",
    "write_csv",
    "write_mcap",
]
