"""Gyroscope bias from still periods: offline over a recording, and live."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from imu_hip.calibration.record import (
    Calibration,
    calibration_for,
)
from imu_hip.dsp.still import runs_of_true, still_mask
from imu_hip.model import Block

# ------------------------------------------------------------------------------------------
# gyroscope bias from still periods


@dataclass(eq=False)
class GyroBiasTrack:
    """Gyroscope bias over a session: one estimate per still period.

    ``t_s``: (k,) middle of each still period (s); ``bias_rads``: (k, 3) mean angular rate;
    ``sem_rads``: (k, 3) its standard error (sample std / √n, optimistic for correlated noise);
    ``duration_s``: (k,) length of each period.
    """

    t_s: np.ndarray
    bias_rads: np.ndarray
    sem_rads: np.ndarray
    duration_s: np.ndarray

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def at(self, t_s: np.ndarray) -> np.ndarray:
        """Bias (n, 3) at times ``t_s``: linear between periods, constant outside them; zeros
        when there is no still period."""
        t = np.asarray(t_s, dtype=np.float64)
        if len(self) == 0:
            return np.zeros((t.shape[0], 3))
        return np.stack([np.interp(t, self.t_s, self.bias_rads[:, i]) for i in range(3)], axis=1)

    def removed_from(self, t_s: np.ndarray, gyr_rads: np.ndarray) -> np.ndarray:
        """``gyr_rads`` (n, 3) minus the bias at ``t_s`` (:meth:`at`), as a new array. Built
        in place, column by column: an hour at 400 Hz is 35 MB per (n, 3) array."""
        out = np.array(gyr_rads, dtype=np.float64)
        if len(self) == 1:
            out -= self.bias_rads[0]
        elif len(self) > 1:
            t = np.asarray(t_s, dtype=np.float64)
            for i in range(3):
                out[:, i] -= np.interp(t, self.t_s, self.bias_rads[:, i])
        return out


def tilt_rate_rads(acc_start: np.ndarray, acc_end: np.ndarray, duration_s: float) -> np.ndarray:
    """Mean true angular rate (3,) rad/s, sensor frame, about the axes perpendicular to gravity,
    from how the measured gravity direction turned between two mean readings ``duration_s``
    apart. A quiet person still leans a little; the gyroscope sees that real rotation, the
    accelerometer sees the tilt it causes (a world-fixed vector seen from the sensor obeys
    ``du/dt = -ω × u``), so it is subtracted before a mean rate is taken as bias. Rotation about
    gravity (heading) is invisible here."""
    u0 = np.asarray(acc_start, dtype=np.float64)
    u1 = np.asarray(acc_end, dtype=np.float64)
    u0, u1 = u0 / np.linalg.norm(u0), u1 / np.linalg.norm(u1)
    c = np.cross(u0, u1)
    sn = float(np.linalg.norm(c))
    if sn == 0.0 or not duration_s > 0:
        return np.zeros(3)
    return -c / sn * math.atan2(sn, float(u0 @ u1)) / duration_s


def track_gyro_bias(
    t_s: np.ndarray,
    acc_mps2: np.ndarray,
    gyr_rads: np.ndarray,
    rate_hz: float,
    min_still_s: float = 2.0,
) -> GyroBiasTrack:
    """Gyroscope bias from every still period of at least ``min_still_s`` (see the module
    docstring): the mean rate minus the real rotation shown by the tilt of gravity over the
    period (:func:`tilt_rate_rads`, from 0.5 s means at both ends). The first and last 0.25 s of
    each period are left out (the sensor settling)."""
    acc = np.asarray(acc_mps2, dtype=np.float64)
    gyr = np.asarray(gyr_rads, dtype=np.float64)
    # Stillness is judged on every k-th sample (~100 Hz): white noise has the same standard
    # deviation there, and it costs a quarter at 400 Hz (the means below use every sample).
    k = max(1, int(rate_hz // 100))
    mask = still_mask(acc[::k], gyr[::k], rate_hz / k, min_duration_s=min_still_s)
    mask = np.repeat(mask, k)[: len(acc)]
    trim = int(round(0.25 * rate_hz))
    rows: list[tuple[float, np.ndarray, np.ndarray, float]] = []
    t = np.asarray(t_s, dtype=np.float64)
    for s, e in zip(*runs_of_true(mask), strict=True):
        s2, e2 = s + trim, e - trim
        if e2 - s2 < 2:
            continue
        g = gyr[s2:e2]
        n = e2 - s2
        w = max(1, min(int(round(0.5 * rate_hz)), n // 3))
        true_rate = tilt_rate_rads(acc[s2:s2 + w].mean(axis=0), acc[e2 - w:e2].mean(axis=0),
                                   (n - w) / rate_hz)
        rows.append((0.5 * (t[s2] + t[e2 - 1]), g.mean(axis=0) - true_rate,
                     g.std(axis=0) / math.sqrt(n), float(t[e - 1] - t[s])))
    if not rows:
        z = np.zeros((0, 3))
        return GyroBiasTrack(np.zeros(0), z, z.copy(), np.zeros(0))
    return GyroBiasTrack(
        t_s=np.array([r[0] for r in rows]),
        bias_rads=np.array([r[1] for r in rows]),
        sem_rads=np.array([r[2] for r in rows]),
        duration_s=np.array([r[3] for r in rows]),
    )


class GyroBiasTracker:
    """Live gyroscope-bias tracking: ``correct(block)`` subtracts the bias of the still periods
    seen so far (causal, for live sessions).

    Stillness is judged on tumbling windows of ``window_s`` counted in samples (std of ``|a|``
    below ``ACC_STD_MAX_MPS2`` and of ``|ω|`` below ``GYR_STD_MAX_RADS``, the thresholds of
    :mod:`imu_hip.dsp.still`). Once a still run lasts ``min_still_s``, the estimate is the mean
    rate over the run (its first window left out) minus the real rotation shown by the tilt of
    gravity since the run began (:func:`tilt_rate_rads`), updated at every further still window and
    kept when movement starts. Every sample is corrected with the estimate as of the last
    complete window before it, so the output does not depend on how the stream is cut into
    blocks. ``bias_rads`` is the current estimate (zeros before the first still period);
    ``periods`` counts still periods used.
    """

    def __init__(self, min_still_s: float = 2.0, window_s: float = 0.5):
        from imu_hip.dsp.still import ACC_STD_MAX_MPS2, GYR_STD_MAX_RADS

        self.min_still_s, self.window_s = min_still_s, window_s
        self._acc_max, self._gyr_max = ACC_STD_MAX_MPS2, GYR_STD_MAX_RADS
        self.bias_rads = np.zeros(3)
        self.periods = 0
        self._rate: float | None = None
        self._w = 0
        self._buf_a = np.zeros((0, 3))
        self._buf_g = np.zeros((0, 3))
        self._reset_run()

    def _reset_run(self) -> None:
        self._run_windows, self._run_sum, self._run_n = 0, np.zeros(3), 0
        self._counted = False

    def correct(self, block: Block) -> Block:
        """``block`` with the current bias estimate subtracted from its angular rate."""
        if block.gyr_rads is None or len(block) == 0:
            return block
        if self._rate is None:
            self._rate = float(block.rate_hz)
            self._w = max(3, int(round(self.window_s * self._rate)))
        if block.gap_before:
            self._buf_a, self._buf_g = np.zeros((0, 3)), np.zeros((0, 3))
            self._reset_run()
        acc = np.asarray(block.acc_mps2, dtype=np.float64)
        gyr = np.asarray(block.gyr_rads, dtype=np.float64)
        out = np.empty_like(gyr)
        i = 0
        while i < len(gyr):
            take = min(len(gyr) - i, self._w - len(self._buf_g))
            out[i:i + take] = gyr[i:i + take] - self.bias_rads
            self._buf_a = np.vstack([self._buf_a, acc[i:i + take]])
            self._buf_g = np.vstack([self._buf_g, gyr[i:i + take]])
            i += take
            if len(self._buf_g) == self._w:
                self._window(self._buf_a, self._buf_g)
                self._buf_a, self._buf_g = np.zeros((0, 3)), np.zeros((0, 3))
        return replace(block, gyr_rads=out)

    def _window(self, a: np.ndarray, g: np.ndarray) -> None:
        ok = bool(np.all(np.isfinite(a)) and np.all(np.isfinite(g)))
        still = ok and (np.std(np.linalg.norm(a, axis=1)) < self._acc_max
                        and np.std(np.linalg.norm(g, axis=1)) < self._gyr_max)
        if not still:
            self._reset_run()
            return
        self._run_windows += 1
        if self._run_windows == 1:
            return  # settling
        self._run_sum = self._run_sum + g.sum(axis=0)
        self._run_n += len(g)
        if self._run_windows == 2:
            self._run_a0 = a.mean(axis=0)
        if self._run_windows * self._w >= self.min_still_s * (self._rate or 1.0):
            if not self._counted:
                self._counted = True
                self.periods += 1
            true_rate = tilt_rate_rads(self._run_a0, a.mean(axis=0),
                                       (self._run_n - len(g)) / (self._rate or 1.0))
            self.bias_rads = self._run_sum / self._run_n - true_rate


class LiveCalibration:
    """What a live session applies to a sensor's blocks: its stored :class:`Calibration` (if
    any), then live gyroscope-bias tracking (:class:`GyroBiasTracker`). Has the session's
    ``apply(block)`` and ``metadata()``."""

    def __init__(self, calibration: Calibration | None, track_gyro: bool = True):
        self.calibration = calibration
        self.tracker = GyroBiasTracker() if track_gyro else None

    def apply(self, block: Block) -> Block:
        if self.calibration is not None:
            block = self.calibration.apply(block)
        if self.tracker is not None:
            block = self.tracker.correct(block)
        return block

    def metadata(self) -> dict[str, str]:
        meta = self.calibration.metadata() if self.calibration is not None else {
            "applied": "none (no stored calibration)"}
        if self.tracker is not None:
            meta["gyro_bias_tracking"] = "live, from still periods of at least 2 s"
        return meta


def session_calibration_for(device_id: str) -> LiveCalibration:
    """The ``calibration_for`` hook of :class:`imu_hip.session.Session`: the sensor's stored
    calibration plus live gyroscope-bias tracking."""
    return LiveCalibration(calibration_for(device_id))
