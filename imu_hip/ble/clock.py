"""Device clock -> host clock: offset and drift from notification receive times.

Method
------
A notification carrying samples up to device time ``x`` is received at host time
``y = h(x) + d``, where ``h`` maps device time to host time and ``d >= d_min`` is the delivery
delay (sampling to the next BLE connection event, radio retries, the host's Bluetooth stack and
event loop). Delays only ever *add* latency, so the points ``(x, y)`` lie on or above the line
``h(x) + d_min`` and the line is found as the **lower envelope** of the points, not by least
squares (which would be biased by the mean delay and thrown off by bursts of late packets).

We use the linear-programming estimator of Moon, Skelly & Towsley (1999, "Estimation and removal
of clock skew from network delay measurements", IEEE INFOCOM, pp. 227-234): the line that lies
below every point and minimises the summed vertical distance to them. Its solution is the edge of
the points' lower convex hull that spans their mean ``x``. To keep it cheap and adaptive:

* the points are first reduced to the one with the smallest ``y - x`` per ``bin_s`` (1 s) of
  device time (the minimum-delay packet of that second; dozens of packets per bin);
* the hull is fitted over a sliding window of the last ``window_s`` (120 s) of bins, so slow
  changes of the drift (temperature) are followed;
* until the window spans ``min_span_s`` (20 s) the drift is taken as 0 (offset only); the drift
  is clipped to ``max_drift`` (1000 ppm for device clocks);
* between refits, a packet that arrives *earlier* than the current line allows (its last sample
  would be mapped after its own receive time) lowers the line through it at once, so the mapping
  stays causal even when the first second was all late packets.

The mapping used for the samples must be causal and smooth: estimates change as new points
arrive, but host times of emitted samples never jump backwards. The emitted mapping is therefore
continuous and piecewise linear, *slewed* toward the latest estimate (as NTP slews a clock):
after each refit it continues from the last mapped point with the estimated slope plus a
correction of at most ``max_slew`` (0.5 %, i.e. 5 ms per second) that removes the remaining error
over ``converge_s``. The mapping therefore lags a changed estimate by seconds, but stays within
microseconds of it in steady state.

The result is ``host time of the sample + d_min``: the constant minimum delivery delay cannot be
observed from one-way delays. Sensors whose minimum delays are alike (same connection interval,
same firmware) agree to well under a millisecond; see ``docs/recording.md``.

Devices that send no timestamps get a virtual device clock that counts samples at the nominal
rate (:class:`SampleCounter`); the same estimator then fits their rate error as "drift".

Host time is :func:`host_time`: monotonic (never steps with NTP or a user changing the clock) but
expressed in Unix-epoch seconds so recordings carry real dates.
"""

from __future__ import annotations

import math
import time
from collections import deque

import numpy as np

_EPOCH_MINUS_MONOTONIC = time.time() - time.monotonic()


def host_time() -> float:
    """Host clock for receive times (s): monotonic, in Unix-epoch seconds at process start.

    Every :class:`~imu_hip.ble.link.Link` stamps notifications with this clock.
    """
    return time.monotonic() + _EPOCH_MINUS_MONOTONIC


def lower_hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Indices of the lower convex hull of points sorted by ``x`` (Andrew's monotone chain)."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # keep b only if it lies strictly below the segment a -> i
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def envelope_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the line below all points minimising the summed distance to them.

    The hull edge that spans the mean of ``x`` (Moon et al. 1999). Points must be sorted by x
    with distinct x; with one point the slope is 0.
    """
    if len(x) == 1:
        return float(y[0]), 0.0
    hull = lower_hull(x, y)
    xm = float(np.mean(x))
    j = 1
    while j < len(hull) - 1 and x[hull[j]] < xm:
        j += 1
    a, b = hull[j - 1], hull[j]
    slope = float((y[b] - y[a]) / (x[b] - x[a]))
    return float(y[a] - slope * x[a]), slope


class ClockMapper:
    """Map one device's clock to host time (see the module docstring for the method).

    Feed every accepted notification with :meth:`observe` (device time of its last sample,
    host receive time), in arrival order; map sample times with :meth:`map`, in increasing
    device time. Deterministic: the same observations give the same mapping.
    """

    def __init__(
        self,
        window_s: float = 120.0,
        bin_s: float = 1.0,
        min_span_s: float = 20.0,
        max_drift: float = 1e-3,
        max_slew: float = 5e-3,
        converge_s: float = 2.0,
    ):
        self.window_s = float(window_s)
        self.bin_s = float(bin_s)
        self.min_span_s = float(min_span_s)
        self.max_drift = float(max_drift)
        self.max_slew = float(max_slew)
        self.converge_s = float(converge_s)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new device epoch: rebooted device, timestamp-less gap)."""
        self._base: float | None = None  # host - device offset of the first observation
        self._bins: deque[tuple[float, float]] = deque()  # (x, e) with e = y - x - base
        self._bin_k: int | None = None
        self._bin_best: tuple[float, float] | None = None
        self._fit: tuple[float, float] | None = None  # e = a + b * x
        self._seg: tuple[float, float, float] | None = None  # output: e = e0 + s * (x - x0)
        self._last_x = -math.inf
        self._first_obs_x: float | None = None
        self._last_obs_x = -math.inf
        self.observations = 0

    # -- estimation ---------------------------------------------------------------------------

    def observe(self, device_t_s: float, received_at_s: float) -> None:
        """One notification: device time of its last sample and its host receive time (s)."""
        x, y = float(device_t_s), float(received_at_s)
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        if self._base is None:
            self._base = y - x
        e = y - x - self._base
        self.observations += 1
        if self._first_obs_x is None:
            self._first_obs_x = x
        self._last_obs_x = max(self._last_obs_x, x)
        k = math.floor(x / self.bin_s)
        if self._bin_k is None or k > self._bin_k:
            if self._bin_best is not None:
                self._close_bin()
            self._bin_k = k
            self._bin_best = (x, e)
        elif k == self._bin_k:
            if self._bin_best is None or e < self._bin_best[1]:
                self._bin_best = (x, e)
        # (a late packet of an earlier second does not change the closed bins, but it still
        # bounds the line below)
        if self._fit is None or len(self._bins) == 0:
            # first second: offset only, from the lowest point so far
            self._set_target((self._bin_best[1], 0.0))
        elif e < self._fit[0] + self._fit[1] * x:
            # a packet received earlier than the estimate allows (causality): lower the line
            # through it at once instead of waiting for its second to close
            self._set_target((e - self._fit[1] * x, self._fit[1]))

    def _close_bin(self) -> None:
        assert self._bin_best is not None
        self._bins.append(self._bin_best)
        x_new = self._bin_best[0]
        while self._bins and self._bins[0][0] < x_new - self.window_s:
            self._bins.popleft()
        xs = np.fromiter((p[0] for p in self._bins), float, len(self._bins))
        es = np.fromiter((p[1] for p in self._bins), float, len(self._bins))
        if xs[-1] - xs[0] < self.min_span_s:
            a, b = float(es.min()), 0.0
        else:
            a, b = envelope_line(xs, es)
            if abs(b) > self.max_drift:
                b = math.copysign(self.max_drift, b)
                a = float(np.min(es - b * xs))
        self._set_target((a, b))

    def _set_target(self, fit: tuple[float, float]) -> None:
        self._fit = fit
        a, b = fit
        if self._seg is None or not math.isfinite(self._last_x):
            x0 = self._bin_best[0] if self._bin_best is not None else 0.0
            self._seg = (a + b * x0, b, x0)
            return
        x0 = self._last_x
        e_out = self._offset_at(x0)
        err = (a + b * x0) - e_out
        slew = max(-self.max_slew, min(self.max_slew, err / self.converge_s))
        self._seg = (e_out, b + slew, x0)

    def _offset_at(self, x: float) -> float:
        assert self._seg is not None
        e0, s, x0 = self._seg
        return e0 + s * (x - x0)

    # -- mapping ------------------------------------------------------------------------------

    @property
    def span_s(self) -> float:
        """Device time covered by the observations since the last reset (s)."""
        return 0.0 if self._first_obs_x is None else self._last_obs_x - self._first_obs_x

    @property
    def ready(self) -> bool:
        """True once at least one observation has been made."""
        return self._seg is not None

    def map(self, device_t_s: np.ndarray) -> np.ndarray:
        """Host times (s) of samples at ``device_t_s`` (call in increasing device time)."""
        if self._seg is None or self._base is None:
            raise RuntimeError("ClockMapper.map called before any observation")
        x = np.asarray(device_t_s, dtype=np.float64)
        if x.size == 0:
            return x.copy()
        e0, s, x0 = self._seg
        out = x + (self._base + e0) + s * (x - x0)
        self._last_x = max(self._last_x, float(x[-1]))
        return out

    def map_one(self, device_t_s: float) -> float:
        """:meth:`map` for one time (a plain float, no array)."""
        if self._seg is None or self._base is None:
            raise RuntimeError("ClockMapper.map called before any observation")
        e0, s, x0 = self._seg
        x = float(device_t_s)
        self._last_x = max(self._last_x, x)
        return x + (self._base + e0) + s * (x - x0)

    @property
    def offset_s(self) -> float:
        """Current host - device offset (s) at the last mapped device time (NaN before)."""
        if self._seg is None or self._base is None:
            return math.nan
        x = self._last_x if math.isfinite(self._last_x) else self._seg[2]
        return self._base + self._offset_at(x)

    @property
    def drift_ppm(self) -> float:
        """Estimated rate error of the device clock against the host clock (ppm; positive: the
        device clock runs fast; NaN until the window spans ``min_span_s``)."""
        if self._fit is None or len(self._bins) < 2:
            return math.nan
        if self._bins[-1][0] - self._bins[0][0] < self.min_span_s:
            return math.nan
        b = self._fit[1]  # d(host - device)/d(device) = 1 / (1 + drift) - 1
        return -b / (1.0 + b) * 1e6


class SampleCounter:
    """A virtual device clock for devices without timestamps: samples counted at the nominal rate.

    ``times(n, received_at, missing_packets)`` returns the virtual device times of the next
    ``n`` samples. When the device's sequence numbers say packets were lost, their samples are
    counted too (at the mean received samples per packet). Without sequence numbers, a pause in
    arrivals longer than the received samples account for (by ``gap_s``) is a gap: the counter
    jumps by the elapsed receive time and the caller should restart its :class:`ClockMapper`
    (``times`` returns ``gap=True``), since the jump is only as good as the delivery jitter.
    """

    def __init__(self, rate_hz: float, gap_s: float = 0.5):
        self.rate_hz = float(rate_hz)
        self.gap_s = float(gap_s)
        self._count = 0
        self._received = 0  # samples received (the count also includes estimated missing ones)
        self._packets = 0
        self._last_received: float | None = None
        self._since_anchor_s = 0.0  # sample time accumulated since the last received packet

    def times(self, n: int, received_at: float,
              missing_packets: int | None = None) -> tuple[np.ndarray, bool]:
        """Virtual device times (s) of ``n`` samples and whether a gap lies before them.

        ``missing_packets``: packets lost just before this one according to sequence numbers,
        or None when the device sends none (then long pauses in arrival are gaps).
        """
        gap = False
        if missing_packets is not None:
            if missing_packets > 0:
                gap = True
                if self._packets:
                    self._count += round(missing_packets * self._received / self._packets)
        elif self._last_received is not None:
            elapsed = received_at - self._last_received
            if elapsed - n / self.rate_hz > self.gap_s:
                self._count += max(0, round(elapsed * self.rate_hz) - n)
                gap = True
        t = (self._count + np.arange(n)) / self.rate_hz
        self._count += n
        self._received += n
        self._packets += 1
        self._last_received = received_at
        return t, gap
