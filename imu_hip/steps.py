"""The per-step table: one row per step, columns named with their units (see STEP_COLUMNS)."""

from __future__ import annotations

from imu_hip.model import STEP_COLUMNS
from imu_hip.table import Table

TEXT_COLUMNS = ("side", "gait")


class StepTable(Table):
    """Columns of equal length, in :data:`imu_hip.model.STEP_COLUMNS` order.

    ``table["cadence_spm"]`` gives a numpy array; ``len(table)`` the number of steps.
    Missing values are NaN (numbers) or "unknown" (text).
    """

    COLUMNS = STEP_COLUMNS
    TEXT_COLUMNS = TEXT_COLUMNS
    ROW_NAME = "steps"
