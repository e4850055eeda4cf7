"""Comparing measured steps with a reference (simulator truth, force plate, motion capture)."""

from __future__ import annotations

from typing import Any

import numpy as np


def match_events(
    t_est: np.ndarray, t_ref: np.ndarray, tol_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of event times: each reference event takes the nearest estimate
    within ``tol_s``; an estimate claimed twice goes to the closer reference.

    Returns index arrays ``(i_est, i_ref)`` of the matched pairs, in reference order.
    """
    t_est = np.asarray(t_est, dtype=float)
    t_ref = np.asarray(t_ref, dtype=float)
    if t_est.size == 0 or t_ref.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    order = np.argsort(t_est)
    sorted_est = t_est[order]
    pos = np.clip(np.searchsorted(sorted_est, t_ref), 1, sorted_est.size - 1)
    if sorted_est.size == 1:
        pos = np.zeros_like(pos)
        nearest = pos
    else:
        left, right = pos - 1, pos
        nearest = np.where(
            np.abs(sorted_est[left] - t_ref) <= np.abs(sorted_est[right] - t_ref), left, right
        )
    err = np.abs(sorted_est[nearest] - t_ref)
    ok = err <= tol_s
    i_ref = np.flatnonzero(ok)
    i_est = nearest[ok]
    # Resolve estimates claimed by two references: keep the closer pair.
    keep = np.ones(i_ref.size, bool)
    by_err = np.lexsort((err[i_ref], i_est))
    dup = np.zeros(i_ref.size, bool)
    dup[by_err[1:]] = i_est[by_err[1:]] == i_est[by_err[:-1]]
    keep[dup] = False
    return order[i_est[keep]], i_ref[keep]


def error_stats(err: np.ndarray) -> dict[str, float]:
    """Mean, SD, mean absolute and RMS of an error array (NaN ignored)."""
    err = np.asarray(err, dtype=float)
    err = err[np.isfinite(err)]
    if not err.size:
        nan = float("nan")
        return {"n": 0, "mean": nan, "sd": nan, "mae": nan, "rmse": nan}
    return {
        "n": int(err.size),
        "mean": float(err.mean()),
        "sd": float(err.std(ddof=1)) if err.size > 1 else 0.0,
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
    }


def compare_steps(
    steps: Any, truth: dict[str, np.ndarray], columns: tuple[str, ...], tol_s: float = 0.1
) -> dict[str, Any]:
    """Match measured steps to true ones by initial contact and report per-column errors.

    ``steps`` is anything indexable by column name (a :class:`~imu_hip.steps.StepTable` or a dict).
    """
    i_est, i_ref = match_events(steps["t_ic_s"], truth["t_ic_s"], tol_s)
    n_ref, n_est = len(truth["t_ic_s"]), len(steps["t_ic_s"])
    out: dict[str, Any] = {
        "reference_steps": n_ref,
        "measured_steps": n_est,
        "matched": int(i_ref.size),
        "found_pct": 100.0 * i_ref.size / n_ref if n_ref else float("nan"),
        "extra": int(n_est - i_est.size),
        "errors": {},
    }
    for col in columns:
        est = np.asarray(steps[col])[i_est]
        ref = np.asarray(truth[col])[i_ref]
        if est.dtype.kind in "US" or ref.dtype.kind in "USO":
            known = (est != "unknown") & (ref != "unknown")
            out["errors"][col] = {
                "n": int(known.sum()),
                "agree_pct": 100.0 * float(np.mean(est[known] == ref[known]))
                if known.any()
                else float("nan"),
            }
        else:
            out["errors"][col] = error_stats(est.astype(float) - ref.astype(float))
    return out
