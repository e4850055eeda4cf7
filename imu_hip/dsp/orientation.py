"""Pelvis orientation angles from a body-frame gyroscope and accelerometer, streaming and fast.

Angles (degrees), following Baker (2001, "Pelvic angles: a mathematically rigorous definition
which is consistent with a conventional clinical understanding of the terms", Gait & Posture
13:1-6), i.e. the rotation-obliquity-tilt (Z-X-Y) Euler sequence of the pelvis relative to a
level, heading-free world frame:

- obliquity: about body x (forward); positive = left side up. It equals the elevation of the
  pelvis' left axis above the horizontal: ``asin(u_y)`` where ``u`` is the world "up" direction
  expressed in the body frame.
- tilt: about body y (left); positive = anterior (the top of the pelvis forward):
  ``atan2(-u_x, u_z)``.
- rotation: about the vertical; positive = counter-clockwise seen from above (the right hip
  forward). There is no absolute heading reference without a magnetometer, so rotation is the
  band-passed integral of the heading rate: only its ranges over a step are meaningful.

Method (why not the small-angle complementary filter): pelvic rotation (±10°) and obliquity (±8°)
oscillate in quadrature at stride frequency, so the small-angle integral of the body rates picks
up a coning term (rotation rate × obliquity) with a large mean; the complementary filter turns
that mean into an offset of several degrees. Here the gyroscope part is exact instead:

1. The body orientation relative to the first sample (``R_n``, world-from-body) is the cumulative
   product of per-sample rotations ``exp([θ_n]×)``, ``θ_n = (ω_{n-1} + ω_n) dt / 2 +
   (ω_{n-1} × ω_n) dt² / 12`` (mean rate plus the two-sample coning term of Bortz's rotation
   vector equation, exact to third order for rates that vary linearly between samples). The only
   sequential step, this product is computed chunk-parallel in numpy.
2. The specific force ``R_n a_n / G`` is expressed in that gyro-stabilised frame, where gravity is
   constant and linear accelerations average to zero, and low-passed there by a 2nd-order
   Butterworth filter (``crossover_hz``, default 0.1 Hz). Rotated back into the body frame it is
   the world "up" ``u_n``. This is a complementary filter in which the high-pass branch is the
   exact rotation: gyro motion above the crossover passes untouched, the accelerometer supplies
   the vertical below it, and no body-frame rectification of the running accelerations occurs.
3. The heading rate for the Z-X-Y sequence, ``(u_x ω_x + u_z ω_z) / (u_x² + u_z²)``, is integrated
   by a 2nd-order band-pass ``s / (s² + √2 ω_h s + ω_h²)`` (``rotation_highpass_hz``), which
   ignores a constant rate (gyro bias, a steady turn).

Every stage is causal and carries its state between calls, so the output does not depend on how
the input is cut into blocks (like ``sosfilt`` with ``zi``). Until ``init_s`` seconds
have been seen, the low-pass output is replaced by the running mean of the stabilised specific
force, and the low-pass then starts in steady state at that mean; this shortens the settling
from ~10 s to ~``init_s`` when the stream starts mid-run.

Errors (measured on the synthetic running pelvis of ``tests/test_orientation.py``):

- without bias, absolute obliquity/tilt within 0.1-0.3°, per-step ranges within 0.1°;
- a constant gyroscope bias ``b`` turns the stabilised frame slowly, and the low-pass lags it:
  absolute tilt/obliquity shift by about ``√2 |b| / (2π crossover_hz)`` rad (2.25° per 1 °/s at
  0.1 Hz), the same offset standing and running once settled (~10 s), so it largely cancels in a
  drop measured against a standing neutral of the same session (0.25° of drop error per °/s).
  Through that tilted vertical, pelvic rotation leaks into the other angles: about 0.6° of
  obliquity or tilt range error per °/s of bias about y or x (with ±10° of rotation). The rotation
  range is unaffected (its band-pass removes a constant rate). Remove the bias upstream (still
  periods, :mod:`imu_hip.dsp.still`) when ranges matter. A bias-tracking (type-2) low-pass was
  tried: it removes the offset in the long run but its slow transient makes drop against an early
  standing neutral several times worse, so it was not kept.
- Sustained horizontal accelerations below the crossover (speeding up, centripetal acceleration
  on a bend: ``v²/r``) tilt the estimated vertical by ``atan(a/G)``.
"""

from __future__ import annotations

import numpy as np

from imu_hip.dsp.filters import butter_sos, integrating_highpass_sos, sosfilt, sosfilt_zi
from imu_hip.model import InputError

#: Samples processed per internal segment (keeps the working set small).
_SEGMENT = 1 << 16
#: Chunk length of the chunk-parallel rotation products inside a segment.
_CHUNK = 64


def rotation_increments(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices ``exp([v]×)`` for rotation vectors ``v`` (3, ...) in radians.

    Component-major in and out: ``rotvec[:, k]`` is one vector, ``out[:, :, k]`` its matrix.
    """
    x, y, z = rotvec[0], rotvec[1], rotvec[2]
    xx, yy, zz = x * x, y * y, z * z
    th2 = xx + yy + zz
    if np.max(th2, initial=0.0) < 1e-2:
        # sin(θ)/θ and (1 - cos θ)/θ² by their series; truncation error < θ^8/9! < 3e-14.
        a = 1.0 - th2 / 6.0 * (1.0 - th2 / 20.0 * (1.0 - th2 / 42.0))
        b = 0.5 - th2 / 24.0 * (1.0 - th2 / 30.0 * (1.0 - th2 / 56.0))
    else:
        safe = np.where(th2 < 1e-12, 1.0, th2)
        th = np.sqrt(safe)
        a = np.where(th2 < 1e-12, 1.0, np.sin(th) / th)
        b = np.where(th2 < 1e-12, 0.5, (1.0 - np.cos(th)) / safe)
    out = np.empty((3, 3) + th2.shape)
    bx, by = b * x, b * y
    ax, ay, az = a * x, a * y, a * z
    out[0, 0] = 1.0 - b * (yy + zz)
    out[1, 1] = 1.0 - b * (xx + zz)
    out[2, 2] = 1.0 - b * (xx + yy)
    bxy, bxz, byz = bx * y, bx * z, by * z
    np.subtract(bxy, az, out=out[0, 1])
    np.add(bxy, az, out=out[1, 0])
    np.add(bxz, ay, out=out[0, 2])
    np.subtract(bxz, ay, out=out[2, 0])
    np.subtract(byz, ax, out=out[1, 2])
    np.add(byz, ax, out=out[2, 1])
    return out


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Product of component-major stacks of 3x3 matrices: a (3, 3, k) @ b (3, 3, k)."""
    return np.einsum("ijk,jlk->ilk", a, b)


def _rotate(r: np.ndarray, v: np.ndarray, transpose: bool = False) -> np.ndarray:
    """``r @ v`` (or ``r.T @ v``) for component-major stacks: r (3, 3, ...) and v (3, ...).

    ``r`` may have fewer trailing axes than ``v`` and is then broadcast (e.g. one matrix per
    chunk applied to every sample of the chunk).
    """
    out = np.empty(v.shape)
    tmp = np.empty(v.shape[1:])
    for i in range(3):
        ri = r[:, i] if transpose else r[i]
        np.multiply(ri[0], v[0], out=out[i])
        np.multiply(ri[1], v[1], out=tmp)
        out[i] += tmp
        np.multiply(ri[2], v[2], out=tmp)
        out[i] += tmp
    return out


def _chunk_products(inc: np.ndarray) -> None:
    """In place: ``inc[:, :, j, c]`` becomes ``inc[:, :, 0, c] @ ... @ inc[:, :, j, c]``.

    ``inc``: (3, 3, w, c), ``c`` chunks of ``w`` consecutive increments; every step is one
    contiguous (3, 3, c) slab, so the Python loop runs ``w`` times for all chunks at once.
    """
    for j in range(1, inc.shape[2]):
        inc[:, :, j] = _matmul(inc[:, :, j - 1], inc[:, :, j])


def _to_chunks(x: np.ndarray, width: int, fill: float | np.ndarray) -> np.ndarray:
    """(k, m) time-ordered -> (k, width, chunks): ``out[:, j, c] = x[:, c * width + j]``.

    The last chunk is padded with ``fill`` (a scalar or one value per row).
    """
    k, m = x.shape
    full, rest = divmod(m, width)
    out = np.empty((k, width, full + (rest > 0)))
    out[:, :, :full] = x[:, :full * width].reshape(k, full, width).transpose(0, 2, 1)
    if rest:
        out[:, :rest, full] = x[:, full * width:]
        out[:, rest:, full] = np.reshape(fill, (-1, 1))
    return out


def _from_chunks(x: np.ndarray, m: int) -> np.ndarray:
    """Inverse of :func:`_to_chunks`: (k, width, chunks) -> (k, m) time-ordered."""
    k = x.shape[0]
    return x.transpose(0, 2, 1).reshape(k, -1)[:, :m]


def cumulative_rotation(r0: np.ndarray, inc: np.ndarray) -> np.ndarray:
    """Running products ``r0 @ inc[:, :, 0] @ ... @ inc[:, :, i]`` for every ``i``: (3, 3, m).

    ``r0``: (3, 3); ``inc``: component-major (3, 3, m). Chunk-parallel (see
    :func:`_chunk_products`), with the chunk totals done recursively.
    """
    m = inc.shape[2]
    if m <= 32:
        out = np.empty((3, 3, m))
        acc = r0
        for i in range(m):
            acc = acc @ inc[:, :, i]
            out[:, :, i] = acc
        return out
    width = int(np.ceil(np.sqrt(m)))
    local = _to_chunks(inc.reshape(9, m), width, np.eye(3).ravel()).reshape(3, 3, width, -1)
    _chunk_products(local)
    starts = _chunk_starts(r0, local)
    out = np.einsum("ijc,jkwc->ikwc", starts, local)
    return _from_chunks(out.reshape(9, width, -1), m).reshape(3, 3, m)


def _chunk_starts(r0: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Orientation before each chunk (3, 3, chunks) from the chunk products (3, 3, w, chunks)."""
    totals = cumulative_rotation(r0, np.ascontiguousarray(local[:, :, -1]))
    starts = np.empty_like(totals)
    starts[:, :, 0] = r0
    starts[:, :, 1:] = totals[:, :, :-1]
    return starts


def _orthonormalise(r: np.ndarray) -> np.ndarray:
    """Nearest rotation matrix (removes the rounding drift of long products)."""
    u, _, vt = np.linalg.svd(r)
    return u @ vt


class PelvisOrientation:
    """Streaming pelvis angles from body-frame acceleration (m/s²) and angular rate (rad/s).

    ``rate_hz``: sampling rate (Hz). ``crossover_hz``: where the gravity reference hands over to
    the gyroscope (default 0.1 Hz: stride frequencies, 0.7-1.7 Hz, are attenuated 50-300 times in
    the accelerometer branch). ``rotation_highpass_hz``: band-pass corner of the rotation
    integral. ``init_s``: running-mean start-up (see module docstring).

    ``push(acc, gyr)`` takes the next (n, 3) samples in order and returns (n, 3) degrees:
    obliquity, tilt, rotation. Results do not depend on how the stream is cut into pushes.
    """

    def __init__(
        self,
        rate_hz: float,
        crossover_hz: float = 0.1,
        rotation_highpass_hz: float = 0.1,
        init_s: float = 2.0,
    ):
        if not rate_hz > 0:
            raise InputError("rate_hz", f"must be positive, got {rate_hz}")
        nyq = rate_hz / 2
        for name, f in (("crossover_hz", crossover_hz),
                        ("rotation_highpass_hz", rotation_highpass_hz)):
            if not 0 < f < nyq / 4:
                raise InputError(name, f"must be in (0, {nyq / 4:g}) Hz at {rate_hz:g} Hz, got {f}")
        self.rate_hz = float(rate_hz)
        self.crossover_hz = float(crossover_hz)
        self.rotation_highpass_hz = float(rotation_highpass_hz)
        self.init_samples = max(1, int(round(init_s * rate_hz)))
        self._dt = 1.0 / self.rate_hz
        self._sos_lp = butter_sos(2, crossover_hz, rate_hz, "lowpass")
        self._zi_lp_unit = sosfilt_zi(self._sos_lp)  # (sections, 2), steady state for 1
        # Band-pass s / (s² + √2 ωh s + ωh²): integrator followed by a 2nd-order high-pass.
        # Bilinear transform (trapezoid integration); warping is negligible at these corners.
        self._sos_rot = integrating_highpass_sos(rotation_highpass_hz, rate_hz)
        self.reset()

    def reset(self) -> None:
        """Forget all state (use after a gap in the stream)."""
        self._n_seen = 0
        self._r = np.eye(3)
        self._last_gyr: np.ndarray | None = None
        self._sum_f = np.zeros(3)
        self._zi_lp: np.ndarray | None = None
        self._zi_rot = np.zeros((self._sos_rot.shape[0], 2))

    def push(self, acc_body_mps2: np.ndarray, gyr_body_rads: np.ndarray) -> np.ndarray:
        """Angles (n, 3) in degrees — obliquity, tilt, rotation — for the next n samples."""
        if gyr_body_rads is None:
            raise InputError("pelvis orientation input", "pelvis angles need a gyroscope")
        acc = np.asarray(acc_body_mps2, dtype=np.float64)
        gyr = np.asarray(gyr_body_rads, dtype=np.float64)
        if acc.ndim != 2 or acc.shape[1] != 3 or gyr.shape != acc.shape:
            raise InputError("pelvis orientation input", "expected acceleration and angular "
                             f"rate arrays of equal shape (n, 3), got {acc.shape} and {gyr.shape}")
        if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(gyr))):
            raise InputError("pelvis orientation input", "non-finite samples (fill or split "
                             "the stream at gaps, then reset())")
        out = np.empty((acc.shape[0], 3))
        for i in range(0, acc.shape[0], _SEGMENT):
            out[i:i + _SEGMENT] = self._push_segment(acc[i:i + _SEGMENT], gyr[i:i + _SEGMENT])
        return out

    def _push_segment(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        m = acc.shape[0]
        if m == 0:
            return np.empty((0, 3))
        # 1. Gyro-stabilised frame: R_n = R_{n-1} exp([θ_n]×), R_0 = I (module docstring).
        # Work in chunks (see _chunk_products): R_n = start_c @ local_n.
        g = np.ascontiguousarray(gyr.T)  # (3, m)
        rotvec = np.empty((3, m))
        prev = np.empty((3, m))
        prev[:, 0] = g[:, 0] if self._last_gyr is None else self._last_gyr
        prev[:, 1:] = g[:, :-1]
        np.add(prev, g, out=rotvec)
        rotvec *= 0.5 * self._dt
        # two-sample coning term (ω_a × ω_b) dt² / 12
        k = self._dt * self._dt / 12.0
        rotvec[0] += k * (prev[1] * g[2] - prev[2] * g[1])
        rotvec[1] += k * (prev[2] * g[0] - prev[0] * g[2])
        rotvec[2] += k * (prev[0] * g[1] - prev[1] * g[0])
        if self._last_gyr is None:
            rotvec[:, 0] = 0.0
        width = min(_CHUNK, m)
        local = rotation_increments(_to_chunks(rotvec, width, 0.0))  # (3, 3, w, chunks)
        _chunk_products(local)
        starts = _chunk_starts(self._r, local)  # (3, 3, chunks)
        last = (m - 1) % width, (m - 1) // width
        self._r = _orthonormalise(starts[:, :, last[1]] @ local[:, :, last[0], last[1]])
        self._last_gyr = gyr[-1].copy()

        # 2. Specific force in that frame, low-passed: the world "up" (scale is irrelevant).
        a_loc = _rotate(local, _to_chunks(acc.T, width, 0.0))
        f = _from_chunks(_rotate(starts, a_loc), m)  # (3, m)
        up_w = np.empty_like(f)
        k0 = self._n_seen
        n_init = min(m, max(0, self.init_samples - k0))
        if n_init:
            csum = self._sum_f[:, None] + np.cumsum(f[:, :n_init], axis=1)
            up_w[:, :n_init] = csum / (k0 + 1 + np.arange(n_init))
            self._sum_f = csum[:, -1]
            if k0 + n_init == self.init_samples:
                mean = up_w[:, n_init - 1]
                self._zi_lp = self._zi_lp_unit[:, None, :] * mean[None, :, None]
        if n_init < m:
            up_w[:, n_init:], self._zi_lp = sosfilt(self._sos_lp, f[:, n_init:], axis=-1,
                                                    zi=self._zi_lp)
        self._n_seen = k0 + m
        up_b = _rotate(starts, _to_chunks(up_w, width, 0.0), transpose=True)
        u = _from_chunks(_rotate(local, up_b, transpose=True), m)
        u /= np.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])

        # 3. Angles.
        ux, uy, uz = u
        out = np.empty((m, 3))
        out[:, 0] = np.arcsin(np.clip(uy, -1.0, 1.0))
        if np.all(uz > 0):  # always, unless the body frame is upside down; arctan is faster
            out[:, 1] = np.arctan(-ux / uz)
        else:
            out[:, 1] = np.arctan2(-ux, uz)
        heading_rate = (ux * g[0] + uz * g[2]) / np.maximum(ux * ux + uz * uz, 1e-12)
        out[:, 2], self._zi_rot = sosfilt(self._sos_rot, heading_rate, zi=self._zi_rot)
        return np.degrees(out, out=out)


def pelvis_angles_deg(
    acc_body_mps2: np.ndarray, gyr_body_rads: np.ndarray, rate_hz: float, **kwargs: float
) -> np.ndarray:
    """Whole-signal pelvis angles (n, 3) in degrees: obliquity, tilt, rotation.

    Same result as one :meth:`PelvisOrientation.push` of the whole signal; ``kwargs`` go to
    :class:`PelvisOrientation`.
    """
    return PelvisOrientation(rate_hz, **kwargs).push(acc_body_mps2, gyr_body_rads)
