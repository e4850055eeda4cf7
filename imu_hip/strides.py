"""The per-stride table of a shoe sensor: one row per stride, columns named with their units."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

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


class StrideTable:
    """Columns of equal length in :data:`STRIDE_COLUMNS` order (like
    :class:`imu_hip.steps.StepTable`). Missing values are NaN (numbers) or "unknown" (text)."""

    def __init__(self, columns: dict[str, np.ndarray] | None = None):
        columns = columns or {}
        n = len(next(iter(columns.values()))) if columns else 0
        self.columns: dict[str, np.ndarray] = {}
        for name in STRIDE_COLUMNS:
            if name in columns:
                col = np.asarray(columns[name])
            elif name in STRIDE_TEXT_COLUMNS:
                col = np.full(n, "unknown")
            else:
                col = np.full(n, np.nan)
            if col.shape != (n,):
                raise ValueError(f"column {name} has shape {col.shape}, expected ({n},)")
            self.columns[name] = (
                col.astype(str) if name in STRIDE_TEXT_COLUMNS else col.astype(float)
            )

    def __len__(self) -> int:
        return int(self.columns["t_start_s"].shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __repr__(self) -> str:
        return f"StrideTable({len(self)} strides)"

    def select(self, mask: np.ndarray) -> StrideTable:
        """Rows where ``mask`` is True (boolean array) or the given row indices."""
        return StrideTable({k: v[mask] for k, v in self.columns.items()})

    def sorted(self) -> StrideTable:
        """Rows ordered by initial contact time (then side)."""
        order = np.lexsort((self.columns["side"], self.columns["t_end_s"]))
        return self.select(order)

    @staticmethod
    def concat(tables: Iterable[StrideTable]) -> StrideTable:
        tables = [t for t in tables if len(t)]
        if not tables:
            return StrideTable()
        return StrideTable({k: np.concatenate([t[k] for t in tables]) for k in STRIDE_COLUMNS})

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts of plain Python values (NaN stays NaN)."""
        for i in range(len(self)):
            yield {
                k: (str(v[i]) if k in STRIDE_TEXT_COLUMNS else float(v[i]))
                for k, v in self.columns.items()
            }

    def to_csv(self, path: str | Path) -> None:
        """Write the table as CSV with a header; empty cells for NaN; floats as the shortest
        text that reads back to the same value (host times may be Unix epoch seconds)."""
        cols = []
        for name, col in self.columns.items():
            if name in STRIDE_TEXT_COLUMNS:
                cols.append(col.tolist())
            else:
                cols.append(["" if v != v else repr(v) for v in col.tolist()])
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(STRIDE_COLUMNS)
            w.writerows(zip(*cols, strict=True))
