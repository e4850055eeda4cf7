"""Per-step pelvis metrics from pelvis angles (see :mod:`imu_hip.dsp.orientation`).

Angles are (n, 3) degrees: obliquity (about x, positive = left side up), tilt (about y,
positive = anterior), rotation (about z). A step runs from its initial contact (IC) to the next
IC of the other foot; its stance from IC to toe-off (TO).

Pelvic drop (contralateral pelvic drop, the swing-side hip falling during single support):

- during a RIGHT stance the LEFT (swing) side drops: obliquity goes negative, drop = neutral − min
- during a LEFT stance the RIGHT side drops: obliquity goes positive, drop = max − neutral

taken over the stance (IC→TO). Positive = swing side below neutral; a negative value means the
swing side stayed above neutral for the whole stance.
"""

from __future__ import annotations

import numpy as np

from imu_hip.model import InputError


def _as_index(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest sample of float indices, and which are usable (finite and inside 0..n-1)."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    idx = np.zeros(x.shape, dtype=np.int64)
    idx[ok] = np.rint(x[ok]).astype(np.int64)
    ok &= (idx >= 0) & (idx < n)
    return idx, ok


def window_range(x: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Max and min of ``x`` (n, c) over the inclusive sample windows ``start[k]..stop[k]``.

    Windows must be valid (0 <= start <= stop < n). Returns two (k, c) arrays; a NaN inside a
    window gives NaN. Vectorised with ``reduceat`` over the interleaved bounds
    ``[start_0, stop_0 + 1, start_1, ...]``: its even entries are exactly the windows, whether
    or not windows overlap.
    """
    k = len(start)
    c = x.shape[1]
    if k == 0:
        return np.full((0, c), np.nan), np.full((0, c), np.nan)
    padded = np.vstack((x, np.zeros((1, c))))  # so that stop + 1 == n is a valid index
    bounds = np.empty(2 * k, dtype=np.int64)
    bounds[0::2] = start
    bounds[1::2] = np.asarray(stop) + 1
    hi = np.maximum.reduceat(padded, bounds, axis=0)[0::2]
    lo = np.minimum.reduceat(padded, bounds, axis=0)[0::2]
    return hi, lo


def _window_mean(x: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Mean of the 1-D ``x`` over inclusive windows (NaN if the window holds a NaN)."""
    good = np.isfinite(x)
    cs = np.concatenate(([0.0], np.cumsum(np.where(good, x, 0.0))))
    cn = np.concatenate(([0], np.cumsum(good)))
    count = cn[stop + 1] - cn[start]
    total = cs[stop + 1] - cs[start]
    full = count == stop - start + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(full, total / np.maximum(count, 1), np.nan)


def pelvis_step_metrics(
    angles_deg: np.ndarray,
    ic_idx: np.ndarray,
    to_idx: np.ndarray,
    next_ic_idx: np.ndarray,
    side: np.ndarray,
    neutral_deg: np.ndarray | float | None,
) -> dict[str, np.ndarray]:
    """Per-step pelvic ranges of motion and pelvic drop (degrees).

    ``angles_deg``: (n, 3) obliquity, tilt, rotation. ``ic_idx``, ``to_idx``, ``next_ic_idx``:
    (k,) float sample indices into ``angles_deg`` (rounded to the nearest sample; NaN or out of
    range -> that step's metrics are NaN). ``side``: (k,) "left", "right" or "unknown" (the
    stance side; unknown -> drop NaN). ``neutral_deg``: standing neutral angles, (3,) degrees
    (only the obliquity, element 0, is used; a scalar is taken as the obliquity), or None.

    Returns ``pelvic_tilt_rom_deg``, ``pelvic_obliquity_rom_deg``, ``pelvic_rotation_rom_deg``
    (max − min over IC..next IC) and ``pelvic_drop_deg`` (largest swing-side drop over IC..TO;
    see the module docstring). The drop is measured from the standing neutral obliquity when
    ``neutral_deg`` is given; otherwise from the mean obliquity over the two strides centred on
    the step (IC − 1.5 step times .. next IC + 1.5 step times, clipped to the recording), over
    which the left/right oscillation averages out — then the drop is relative to the running
    posture, not to standing, and a constant lean to one side is not seen.
    """
    ang = np.asarray(angles_deg, dtype=np.float64)
    if ang.ndim != 2 or ang.shape[1] != 3:
        raise InputError("pelvis angles", f"expected an (n, 3) array, got shape {ang.shape}")
    n = ang.shape[0]
    ic, ok_ic = _as_index(ic_idx, n)
    to, ok_to = _as_index(to_idx, n)
    nx, ok_nx = _as_index(next_ic_idx, n)
    k = len(ic)
    if not (len(to) == len(nx) == k):
        raise InputError("step indices", "ic_idx, to_idx and next_ic_idx differ in length")
    side_arr = np.char.lower(np.asarray(side, dtype=str).reshape(-1))
    if len(side_arr) != k:
        raise InputError("side", f"expected {k} entries, got {len(side_arr)}")
    unknown = ~np.isin(side_arr, ("left", "right", "unknown"))
    if np.any(unknown):
        raise InputError("side", f"expected left, right or unknown, got {side_arr[unknown][0]!r}")

    rom = np.full((k, 3), np.nan)
    step_ok = ok_ic & ok_nx & (nx >= ic)
    if np.any(step_ok):
        hi, lo = window_range(ang, ic[step_ok], nx[step_ok])
        rom[step_ok] = hi - lo

    drop = np.full(k, np.nan)
    stance_ok = ok_ic & ok_to & (to >= ic) & (side_arr != "unknown")
    if neutral_deg is None:
        step_len = np.where(step_ok, nx - ic, 0)
        a = np.clip(ic - np.rint(1.5 * step_len).astype(np.int64), 0, n - 1)
        b = np.clip(nx + np.rint(1.5 * step_len).astype(np.int64), 0, n - 1)
        neutral = np.full(k, np.nan)
        if np.any(step_ok):
            neutral[step_ok] = _window_mean(ang[:, 0], a[step_ok], b[step_ok])
    else:
        nd = np.asarray(neutral_deg, dtype=np.float64).reshape(-1)
        neutral = np.full(k, nd[0])
    if np.any(stance_ok):
        hi, lo = window_range(ang[:, :1], ic[stance_ok], to[stance_ok])
        right = side_arr[stance_ok] == "right"
        drop[stance_ok] = np.where(right, neutral[stance_ok] - lo[:, 0],
                                   hi[:, 0] - neutral[stance_ok])
    return {
        "pelvic_tilt_rom_deg": rom[:, 1],
        "pelvic_obliquity_rom_deg": rom[:, 0],
        "pelvic_rotation_rom_deg": rom[:, 2],
        "pelvic_drop_deg": drop,
    }


def standing_neutral_deg(angles_deg: np.ndarray, still: np.ndarray) -> np.ndarray | None:
    """Standing neutral angles (3,) in degrees: the median over still samples, or None.

    ``still``: (n,) boolean, e.g. :func:`imu_hip.dsp.still.still_mask` of the same stream. The
    rotation element has no absolute meaning (see :mod:`imu_hip.dsp.orientation`).
    """
    ang = np.asarray(angles_deg, dtype=np.float64)
    m = np.asarray(still, dtype=bool) & np.all(np.isfinite(ang), axis=1)
    if not np.any(m):
        return None
    return np.median(ang[m], axis=0)
