"""The per-stride table of a shoe sensor: one row per stride, columns named with their units."""

from __future__ import annotations

import numpy as np

from imu_hip.table import Table

#: Columns of the per-stride table. A stride runs between two consecutive mid-stances
#: (zero-velocity instants) of one foot; its row describes the contact whose initial contact lies
#: inside it (the stance at ``t_end_s``).
STRIDE_COLUMNS: dict[str, str] = {
    "t_start_s": "mid-stance (zero-velocity instant) the stride starts at, host time (s)",
    "t_end_s": "next mid-stance of the same foot, where the stride ends (s)",
    "t_ic_s": "initial contact inside the stride (s)",
    "t_to_s": "toe-off ending that contact (after t_end_s) (s)",
    "side": "left or right",
    "gait": "run or walk (contact shorter or longer than the swing before it)",
    "stride_time_s": "t_end_s - t_start_s (s)",
    "contact_time_s": "t_to_s - t_ic_s (s)",
    "swing_time_s": "previous toe-off of this foot to t_ic_s (s)",
    "flight_time_s": "t_to_s to the other foot's next initial contact (s; negative = double "
    "support); needs both shoes or the sacrum",
    "stride_length_m": "horizontal displacement of the foot from t_start_s to t_end_s (m)",
    "speed_mps": "stride_length_m / stride_time_s (m/s)",
    "foot_strike_angle_deg": "sagittal foot angle at initial contact relative to foot flat "
    "(deg, toe up positive)",
    "foot_strike": "rear (> 8 deg), mid or fore (< -1.6 deg) (Altman & Davis 2012)",
    "pronation_excursion_deg": "eversion during the contact, largest minus at contact (deg)",
    "pronation_velocity_dps": "peak eversion angular rate during the contact (deg/s)",
    "impact_peak_g": "peak resultant acceleration from contact to 50 ms after (g, gravity "
    "included)",
    "clipped": "1 when the sensor was saturated (clipped) during the stride, else 0",
}

STRIDE_TEXT_COLUMNS = ("side", "gait", "foot_strike")


class StrideTable(Table):
    """Columns of equal length in :data:`STRIDE_COLUMNS` order (like
    :class:`imu_hip.steps.StepTable`). Missing values are NaN (numbers) or "unknown" (text)."""

    COLUMNS = STRIDE_COLUMNS
    TEXT_COLUMNS = STRIDE_TEXT_COLUMNS
    ROW_NAME = "strides"

    def sorted(self) -> StrideTable:
        """Rows ordered by initial contact time (then side)."""
        order = np.lexsort((self.columns["side"], self.columns["t_end_s"]))
        return self.select(order)
