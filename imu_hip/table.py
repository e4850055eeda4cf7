"""A table of named, equal-length numpy columns: the base of the step and stride tables."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np


class Table:
    """Columns of equal length in ``COLUMNS`` order; ``table["name"]`` gives a numpy array.

    Subclasses set ``COLUMNS`` (name -> description with unit), ``TEXT_COLUMNS`` (string
    columns) and ``ROW_NAME`` (what a row is, e.g. ``"steps"``). Missing values are NaN
    (numbers) or "unknown" (text).
    """

    COLUMNS: ClassVar[dict[str, str]] = {}
    TEXT_COLUMNS: ClassVar[tuple[str, ...]] = ()
    ROW_NAME: ClassVar[str] = "rows"

    def __init__(self, columns: dict[str, np.ndarray] | None = None):
        columns = columns or {}
        n = len(next(iter(columns.values()))) if columns else 0
        self.columns: dict[str, np.ndarray] = {}
        for name in self.COLUMNS:
            if name in columns:
                col = np.asarray(columns[name])
            elif name in self.TEXT_COLUMNS:
                col = np.full(n, "unknown")
            else:
                col = np.full(n, np.nan)
            if col.shape != (n,):
                raise ValueError(f"column {name} has shape {col.shape}, expected ({n},)")
            self.columns[name] = col.astype(str) if name in self.TEXT_COLUMNS else col.astype(float)

    def __len__(self) -> int:
        return int(next(iter(self.columns.values())).shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} {self.ROW_NAME})"

    def select(self, mask: np.ndarray) -> Self:
        """Rows where ``mask`` is True (boolean array) or the given row indices."""
        return type(self)({k: v[mask] for k, v in self.columns.items()})

    @classmethod
    def concat(cls, tables: Iterable[Table]) -> Self:
        """The rows of ``tables`` one after the other."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls()
        return cls({k: np.concatenate([t[k] for t in tables]) for k in cls.COLUMNS})

    def rows(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts of plain Python values (NaN stays NaN)."""
        for i in range(len(self)):
            yield {
                k: (str(v[i]) if k in self.TEXT_COLUMNS else float(v[i]))
                for k, v in self.columns.items()
            }

    def to_csv(self, path: str | Path) -> None:
        """Write the table as CSV with a header; empty cells for NaN; floats as the shortest
        text that reads back to the same value (host times may be Unix epoch seconds)."""
        cols = []
        for name, col in self.columns.items():
            if name in self.TEXT_COLUMNS:
                cols.append(col.tolist())
            else:
                cols.append(["" if v != v else repr(v) for v in col.tolist()])
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(self.COLUMNS)
            w.writerows(zip(*cols, strict=True))

    def to_pandas(self) -> Any:  # pragma: no cover - optional dependency
        """The table as a pandas DataFrame (needs pandas installed)."""
        import pandas as pd

        return pd.DataFrame(self.columns)
