"""The per-step table: one row per step, columns named with their units (see STEP_COLUMNS)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.model import STEP_COLUMNS

TEXT_COLUMNS = ("side", "gait")


class StepTable:
    """Columns of equal length, in :data:`imu_hip.model.STEP_COLUMNS` order.

    ``table["cadence_spm"]`` gives a numpy array; ``len(table)`` the number of steps.
    Missing values are NaN (numbers) or "unknown" (text).
    """

    def __init__(self, columns: dict[str, np.ndarray] | None = None):
        columns = columns or {}
        n = len(next(iter(columns.values()))) if columns else 0
        self.columns: dict[str, np.ndarray] = {}
        for name in STEP_COLUMNS:
            if name in columns:
                col = np.asarray(columns[name])
            elif name in TEXT_COLUMNS:
                col = np.full(n, "unknown")
            else:
                col = np.full(n, np.nan)
            if col.shape != (n,):
                raise ValueError(f"column {name} has shape {col.shape}, expected ({n},)")
            self.columns[name] = col.astype(str) if name in TEXT_COLUMNS else col.astype(float)

    def __len__(self) -> int:
        return int(self.columns["t_ic_s"].shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __repr__(self) -> str:
        return f"StepTable({len(self)} steps)"

    def select(self, mask: np.ndarray) -> StepTable:
        """Rows where ``mask`` is True (boolean array) or the given row indices."""
        return StepTable({k: v[mask] for k, v in self.columns.items()})

    @staticmethod
    def concat(tables: Iterable[StepTable]) -> StepTable:
        tables = [t for t in tables if len(t)]
        if not tables:
            return StepTable()
        return StepTable({k: np.concatenate([t[k] for t in tables]) for k in STEP_COLUMNS})

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts of plain Python values (NaN stays NaN)."""
        for i in range(len(self)):
            yield {
                k: (str(v[i]) if k in TEXT_COLUMNS else float(v[i]))
                for k, v in self.columns.items()
            }

    def to_csv(self, path: str | Path) -> None:
        """Write the table as CSV with a header; empty cells for NaN."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(STEP_COLUMNS)
            for row in self.rows():
                w.writerow(
                    [
                        "" if isinstance(v, float) and math.isnan(v) else _fmt(v)
                        for v in row.values()
                    ]
                )

    def to_pandas(self):  # pragma: no cover - optional dependency
        """The table as a pandas DataFrame (needs pandas installed)."""
        import pandas as pd

        return pd.DataFrame(self.columns)


def _fmt(v: Any) -> str:
    # Shortest text that reads back to the same float (host times may be Unix epoch seconds).
    return repr(v) if isinstance(v, float) else str(v)
