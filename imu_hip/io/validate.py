"""Checks that a recording can be analysed, with one-line messages that name the input.

Thresholds (physics, not fitted to any file):

- at least :data:`MIN_DURATION_S` (2 s) of data: a few running or walking steps (step time
  0.25-0.6 s);
- a sample rate of at least :data:`MIN_RATE_HZ` (50 Hz, less :data:`CLOCK_TOLERANCE`): initial
  contact needs a resolution of about 20 ms; a stated (nominal) rate must agree with the
  timestamps within
  :data:`RATE_TOLERANCE` (10 %), because gaps are found from it;
- no acceleration above :data:`MAX_ACC_G` and no angular rate above :data:`MAX_GYR_RADS`
  (beyond any IMU's range: a corrupted sample);
- median acceleration magnitude, or magnitude of the mean acceleration vector, between 0.3 and
  3 g. Proper acceleration averages 1 g over any stretch of standing, walking or running (the
  body does not accelerate on average, so the mean vector is gravity); the median of the
  magnitude stays near it: 0.98 g in lower-back walking data, 1.0-1.7 g in sacral and shoe
  running data. A sprinter's trunk is in its aerial phase (0 g) over half the time (simulated
  5.5-7 m/s: median 0.20-0.22 g), but its mean vector is still 1 g. A factor of 9.81 or 1000
  off scales both and is a unit mistake;
- an angular rate in its stated unit (:func:`_gyro_unit_problem`). A factor of 57.3 (rad/s vs
  deg/s) shows while the body moves: in 1 s windows where the acceleration magnitude varies
  by at least :data:`MOVING_SD_G` (0.1 g; standing varies by about 0.01 g, walking 0.13-0.3 g
  at the lower back, running and shoes 0.8-3 g), the pelvis and the feet turn. Measured, the
  95th percentile of |angular rate| in those windows is 31-130 deg/s at the lower back
  (walking, 9 trials), 420-520 deg/s on jogging shoes and 440-480 deg/s on walking feet; per g
  of that acceleration variation (the "turn ratio") 180-980 deg/s per g. The simulator spans
  57-1180 deg/s per g (its slowest walk with a 1.5-3 deg pelvis: 11 deg/s, 57 deg/s per g).
  rad/s stored as deg/s divides both by 57.3 (at most about 16 deg/s and 21 deg/s per g);
  deg/s stored as rad/s multiplies them by 57.3. Recordings with under 3 s of such movement
  (standing) are not judged: a still body's gyroscope reads near zero in either unit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import IO

import numpy as np

from imu_hip.model import G, InputError, Recording, SensorRecording
from imu_hip.text import duration_text

MIN_DURATION_S = 2.0
MIN_RATE_HZ = 50.0
#: How far below MIN_RATE_HZ a measured rate may be: a 50 Hz sensor's own clock (an internal
#: MEMS oscillator) is typically off by up to +-1-2 %, which changes nothing in the analysis.
CLOCK_TOLERANCE = 0.02
RATE_TOLERANCE = 0.10
ACC_MEDIAN_RANGE_G = (0.3, 3.0)
#: Beyond these no wearable IMU measures (largest MEMS ranges: +-400 g, +-4000 deg/s = 70 rad/s):
#: such a value is a corrupted sample, which would otherwise silently delete steps.
MAX_ACC_G = 400.0
MAX_GYR_RADS = 100.0
#: Acceleration-magnitude SD (g) over a 1 s window from which the body counts as moving.
MOVING_SD_G = 0.1
#: Seconds of movement needed before the angular-rate unit is judged.
MIN_MOVING_S = 3
#: rad/s stored as deg/s: while moving, the 95th percentile of |angular rate| is under
#: GYR_SLOW_DPS and under GYR_SLOW_DPS_PER_G per g of acceleration SD (both must hold; the
#: smallest legitimate values seen are 8.5 deg/s and 57 deg/s per g, mix-ups at most 16 and 21).
GYR_SLOW_DPS = 20.0
GYR_SLOW_DPS_PER_G = 30.0
#: deg/s stored as rad/s: the 95th percentile while moving is above GYR_FAST_RADS (2290 deg/s;
#: wearable gyroscopes measure at most 2000-4000 deg/s, and no pelvis or foot turns that fast
#: for 5 % of its movement) or above GYR_FAST_DPS_PER_G per g of acceleration SD (legitimate at
#: most 1180 deg/s per g; mix-ups from 3250).
GYR_FAST_RADS = 40.0
GYR_FAST_DPS_PER_G = 3000.0
#: Most 1 s windows the angular-rate unit check reads (10 minutes' worth, evenly spread).
UNIT_CHECK_WINDOWS = 600


def open_input(path: str | Path) -> IO[bytes]:
    """Open a recording for binary reading; :class:`InputError` naming it if that fails."""
    source = str(path)
    try:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        raise InputError(source, "file not found") from None
    except IsADirectoryError:
        raise InputError(source, "is a directory, not a recording file") from None
    except PermissionError:
        raise InputError(source, "cannot read the file: permission denied") from None
    except OSError as err:
        raise InputError(source, f"cannot read the file: {err.strerror or err}") from None


def validate_recording(rec: Recording, source: str, *, first_data_line: int | None = None) -> None:
    """Raise :class:`InputError` ``(source, problem)`` if ``rec`` cannot be analysed.

    Checks each sensor for: samples present, finite values, strictly increasing time, sample
    rate (>= 50 Hz less CLOCK_TOLERANCE, and the nominal rate matching the timestamps),
    duration (>= 2 s) and the acceleration unit (median magnitude, or the mean vector's, near
    1 g). ``first_data_line``: for a one-sensor text
    file, the file line of sample 0, so problems are reported by line; otherwise by sample.
    Parsing problems (missing file, bad columns, ...) are raised by the readers themselves.
    """
    if not rec.sensors:
        why = rec.metadata.get("truncated_detail")
        raise InputError(source, "no sensor data in the file" + (f" ({why})" if why else ""))
    one = len(rec.sensors) == 1
    for sensor in rec.sensors:
        prefix = "" if one else f"sensor {sensor.sensor_id!r} ({sensor.placement}): "
        lines = first_data_line if one else None
        problem = _sensor_problem(sensor, lines)
        if problem:
            raise InputError(source, prefix + problem)


def _where(i: int, first_data_line: int | None) -> str:
    return f"line {first_data_line + i}" if first_data_line is not None else f"sample {i}"


def _sensor_problem(s: SensorRecording, lines: int | None) -> str | None:
    n = len(s)
    if n == 0:
        return "no samples"
    # a sum is finite only if every term is (a NaN or inf propagates); only an overflow of
    # huge values could make it inf with all terms finite, and the exact check below sees that
    arrays = [a for a in (s.t_s, s.acc_mps2, s.gyr_rads) if a is not None]
    with np.errstate(over="ignore", invalid="ignore"):
        sums_finite = all(math.isfinite(float(np.sum(a))) for a in arrays)
    if not sums_finite and not all(np.isfinite(a).all() for a in arrays):
        return _first_non_finite(s, lines)

    dt = np.diff(s.t_s)
    bad = np.flatnonzero(dt <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        if dt[i - 1] == 0:
            batch = _batched(dt)
            if batch:
                return (f"timestamps come in batches: {batch} samples share each time (e.g. at "
                        f"{_where(i, lines)}, time_s = {float(s.t_s[i])!r}), as when a logger "
                        "stamps each Bluetooth packet instead of each sample; give every sample "
                        "its own time (spread each batch at the sensor's sample rate)")
            return (f"duplicate timestamp at {_where(i, lines)} (time_s = {float(s.t_s[i])!r} "
                    "repeats); time must increase strictly")
        return (f"timestamps go backwards at {_where(i, lines)} ({float(s.t_s[i])!r} s after "
                f"{float(s.t_s[i - 1])!r} s); time must increase strictly")
    if n < 2:
        return f"only one sample; at least {MIN_DURATION_S:g} s of data is needed"

    measured_hz = 1.0 / float(np.median(dt))
    if measured_hz < MIN_RATE_HZ * (1.0 - CLOCK_TOLERANCE):
        hint = ""
        if MIN_RATE_HZ <= measured_hz * 1000 <= 20000:
            hint = " (time_s looks like milliseconds; convert it to seconds)"
        return (f"sample rate is {measured_hz:.3g} Hz from the timestamps; at least "
                f"{MIN_RATE_HZ:g} Hz is needed to time foot contacts{hint}")
    nominal = float(s.rate_hz)
    if not (math.isfinite(nominal) and nominal > 0):
        return f"no usable nominal sample rate ({nominal!r} Hz)"
    if abs(nominal / measured_hz - 1.0) > RATE_TOLERANCE:
        return (f"stated sample rate {nominal:g} Hz does not match the timestamps "
                f"({measured_hz:.4g} Hz, median interval {1000 / measured_hz:.4g} ms)")

    duration = float(s.t_s[-1] - s.t_s[0])
    if duration < MIN_DURATION_S:
        return (f"only {duration_text(duration)} s of data; at least {MIN_DURATION_S:g} s is "
                "needed to find a few steps")

    # squared magnitudes (g²): the square root is monotonic, taken of the few numbers reported
    sq_g2 = np.einsum("ij,ij->i", s.acc_mps2, s.acc_mps2) / (G * G)
    median_g = math.sqrt(float(np.median(sq_g2)))
    lo, hi = ACC_MEDIAN_RANGE_G
    # a sprinter's trunk is in free fall (~0 g) over half the time, so its median magnitude can
    # drop below lo; the mean vector is still gravity. A unit mistake scales both.
    if not (lo <= median_g <= hi
            or lo <= float(np.linalg.norm(s.acc_mps2.mean(axis=0))) / G <= hi):
        return (f"acceleration is in the wrong unit: median |a| is {median_g:.4g} g, expected "
                f"about 1 g (gravity included); {_unit_guess(median_g)}")
    if float(sq_g2.max()) > MAX_ACC_G**2:
        i = int(np.flatnonzero(sq_g2 > MAX_ACC_G**2)[0])
        return (f"acceleration of {math.sqrt(sq_g2[i]):.4g} g at {_where(i, lines)} is beyond "
                f"any IMU's range (at most {MAX_ACC_G:g} g): a corrupted sample")
    if s.gyr_rads is not None:
        problem = _gyro_unit_problem(s.acc_mps2, s.gyr_rads, measured_hz,
                                     text_file=lines is not None)
        if problem:
            return problem
    if s.gyr_rads is not None and max(float(s.gyr_rads.max()),
                                      -float(s.gyr_rads.min())) > MAX_GYR_RADS:
        wild = np.flatnonzero(np.abs(s.gyr_rads).max(axis=1) > MAX_GYR_RADS)
        if wild.size:
            i = int(wild[0])
            return (f"angular rate of {np.abs(s.gyr_rads[i]).max():.4g} rad/s at "
                    f"{_where(i, lines)} is beyond any gyroscope's range (at most "
                    f"{MAX_GYR_RADS:g} rad/s): a corrupted sample")
    return None


def _batched(dt: np.ndarray) -> str:
    """The typical batch size ("5" or "5-20") when at least half of the time steps ``dt`` are
    zero (samples stamped per packet), else ""."""
    zero = dt == 0
    if zero.mean() < 0.5:
        return ""
    starts = np.flatnonzero(np.diff(np.concatenate(([False], zero, [False])).astype(np.int8)))
    sizes = starts[1::2] - starts[::2] + 1  # zero steps in a run, plus the run's first sample
    lo, hi = (int(v) for v in np.percentile(sizes, [10, 90]))
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _first_non_finite(s: SensorRecording, lines: int | None) -> str:
    """Where the first NaN/inf is (earliest sample; first column on ties)."""
    columns = [("time_s", s.t_s)] + [(f"acc_{a}_mps2", s.acc_mps2[:, k])
                                     for k, a in enumerate("xyz")]
    if s.gyr_rads is not None:
        columns += [(f"gyr_{a}_rads", s.gyr_rads[:, k]) for k, a in enumerate("xyz")]
    found = []
    for name, col in columns:
        bad = np.flatnonzero(~np.isfinite(col))
        if bad.size:
            found.append((int(bad[0]), name, float(col[bad[0]])))
    i, name, value = min(found, key=lambda f: f[0])
    what = "NaN" if math.isnan(value) else "infinite"
    return f"{what} value at {_where(i, lines)}, column {name}; every cell must be a number"


def _gyro_unit_problem(acc_mps2: np.ndarray, gyr_rads: np.ndarray, rate_hz: float,
                       text_file: bool = True) -> str | None:
    """Whether the angular rate is 57.3 times off (deg/s vs rad/s); see the module docstring.

    Only 1 s windows where the acceleration magnitude varies by :data:`MOVING_SD_G` or more
    count; with fewer than :data:`MIN_MOVING_S` of them (standing, a short still file) nothing
    is judged.
    """
    w = max(int(round(rate_hz)), 1)
    nwin = acc_mps2.shape[0] // w
    if nwin < MIN_MOVING_S:
        return None
    # at most UNIT_CHECK_WINDOWS windows, spread evenly over the recording: a percentile over
    # ten minutes of a run is as telling as over all of it, and a long file stays quick
    # and each window read at ~50 Hz: enough for a spread and a percentile
    pick = np.unique(np.linspace(0, nwin - 1, min(nwin, UNIT_CHECK_WINDOWS)).astype(int))
    within = np.arange(0, w, max(1, w // 50))
    rows = (pick[:, None] * w + within[None, :]).ravel()
    acc = acc_mps2[rows]
    mag_g = np.sqrt(np.einsum("ij,ij->i", acc, acc)) / G
    sd_g = mag_g.reshape(pick.size, within.size).std(axis=1)
    moving = sd_g >= MOVING_SD_G
    if int(moving.sum()) < MIN_MOVING_S:
        return None
    gyr = gyr_rads[rows].reshape(pick.size, within.size, 3)[moving].reshape(-1, 3)
    rate = np.sqrt(np.einsum("ij,ij->i", gyr, gyr))
    p95_rads = float(np.percentile(rate, 95))
    p95_dps = math.degrees(p95_rads)
    acc_sd = float(np.median(sd_g[moving]))
    ratio = p95_dps / acc_sd
    moving_s = f"({int(moving.sum())} s varying by a median {acc_sd:.2g} g)"
    if p95_dps < GYR_SLOW_DPS and ratio < GYR_SLOW_DPS_PER_G:
        if float(np.ptp(gyr_rads, axis=0).max()) == 0.0:
            return ("the angular rate is constant throughout while the acceleration shows "
                    "movement: the gyroscope did not record" + (
                        "; leave the gyr_* columns out" if text_file else ""))
        return ("angular rate is in the wrong unit: while the acceleration shows movement "
                f"{moving_s}, 95 % of |angular rate| stays under {p95_dps:.3g} deg/s, where a "
                "pelvis or foot turns at tens to hundreds of deg/s; " + (
                    "it looks like rad/s written under _dps columns (values in rad/s stored as "
                    "deg/s); rename the columns gyr_*_rads" if text_file else
                    "it looks like values in rad/s were converted as if they were deg/s by the "
                    "program that wrote the file"))
    if p95_rads > GYR_FAST_RADS or ratio > GYR_FAST_DPS_PER_G:
        return ("angular rate is in the wrong unit: while the acceleration shows movement "
                f"{moving_s}, |angular rate| exceeds {p95_rads:.3g} rad/s ({p95_dps:.4g} "
                "deg/s) 5 % of the time, far faster than a pelvis or foot turns; " + (
                    "it looks like deg/s written under _rads columns (values in deg/s stored as "
                    "rad/s); rename the columns gyr_*_dps" if text_file else
                    "it looks like values in deg/s were stored as rad/s by the program that "
                    "wrote the file"))
    return None


def _unit_guess(median_g: float) -> str:
    """What the stored numbers look like, given the median magnitude they give in g."""
    lo, hi = ACC_MEDIAN_RANGE_G
    if lo / G <= median_g <= hi / G:
        return ("it looks like g written under _mps2 columns (values in g stored as m/s²); "
                "rename the columns acc_*_g")
    if lo * G <= median_g <= hi * G:
        return ("it looks like m/s² written under _g columns (values in m/s² stored as g); "
                "rename the columns acc_*_mps2")
    if lo * 1000 / G <= median_g <= hi * 1000 / G:
        return "it looks like milli-g written under _mps2 columns; divide by 1000 and use acc_*_g"
    if lo * 1000 <= median_g <= hi * 1000:
        return ("it looks like milli-g (or raw sensor counts) written under _g columns; divide "
                "by 1000 (or the sensor's counts per g)")
    if median_g < lo:
        return "values this small suggest gravity was removed or a wrong scale factor"
    return "values this large suggest raw sensor counts; scale them to g or m/s²"
