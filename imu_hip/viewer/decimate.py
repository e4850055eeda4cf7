"""Min/max decimation for drawing: about two points per pixel column, extremes kept.

A 10 s window at 1 kHz is 10 000 samples per channel, but a plot is a few hundred pixels wide.
Drawing every sample costs time and shows nothing more; averaging or picking every n-th sample
would hide a 5 ms impact spike. Instead the samples are cut into bins of ``k`` samples (about one
bin per pixel column) and each bin is drawn as two points: its minimum and its maximum, in the
order they occurred. Every sample's value then lies on the drawn vertical stroke of its pixel,
so peaks survive exactly.

Bins are aligned to the running sample index (not to the window start), so the bin borders do
not move with the samples as the window scrolls and the picture does not shimmer.
"""

from __future__ import annotations

import numpy as np


def bin_size(n_samples: int, n_bins: int) -> int:
    """Samples per bin so that ``n_samples`` make at most about ``n_bins`` bins (>= 1)."""
    return max(1, -(-int(n_samples) // max(1, int(n_bins))))


def minmax_decimate(
    t_s: np.ndarray, values: np.ndarray, n_bins: int, first_index: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Decimate ``values`` (n, channels) sampled at ``t_s`` (n,) to ~``2 * n_bins`` points.

    ``first_index``: the running index of row 0 (bins are aligned to multiples of the bin size in
    that index). Returns ``x`` (m,) times and ``y`` (channels, m): per bin, the bin's first and
    last sample time carrying its minimum and maximum (earlier-occurring extreme first). With
    ``k <= 2`` samples per bin the input comes back unchanged (as ``(t, values.T)``). A NaN in a
    bin (a gap marker) makes that bin's points NaN, i.e. a break in the line.
    """
    t_s = np.asarray(t_s, dtype=np.float64)
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    n, c = values.shape
    k = bin_size(n, n_bins)
    if k <= 2 or n == 0:
        return t_s, np.ascontiguousarray(values.T)
    head = int(first_index) % k  # samples of the first bin that lie before the window
    tail = (-(head + n)) % k
    # channel-major copy, padded with copies of the edge samples (they change neither the min
    # nor the max of a bin), so each bin is a contiguous run of k values
    vt = values.T
    v = np.concatenate(
        (np.repeat(vt[:, :1], head, axis=1), vt, np.repeat(vt[:, -1:], tail, axis=1)), axis=1
    )
    nb = v.shape[1] // k
    y = _reduce_bins(v, k)
    # bin b covers window rows b*k - head .. (b+1)*k - head - 1 (clipped to the window)
    starts = np.maximum(np.arange(nb) * k - head, 0)
    ends = np.minimum(np.arange(1, nb + 1) * k - head, n) - 1
    x = np.empty((nb, 2))
    x[:, 0] = t_s[starts]
    x[:, 1] = t_s[ends]
    return x.reshape(-1), y.reshape(c, 2 * nb)


def _reduce_bins(v: np.ndarray, k: int) -> np.ndarray:
    """(channels, nb * k) -> (channels, nb, 2): per bin of k, min and max in time order."""
    c = v.shape[0]
    v = v.reshape(c, -1, k)
    lo = v.min(axis=2)  # a NaN in a bin makes both NaN (a break in the line)
    hi = v.max(axis=2)
    min_first = np.argmin(v, axis=2) <= np.argmax(v, axis=2)
    y = np.empty(v.shape[:2] + (2,), dtype=v.dtype)
    y[..., 0] = np.where(min_first, lo, hi)
    y[..., 1] = np.where(min_first, hi, lo)
    return y


class Decimator:
    """:func:`minmax_decimate` for a scrolling window: each complete bin is reduced once.

    Bins are fixed to the running sample index, so a bin that is complete never changes; calls
    with the next window only reduce the bins completed since the last call (and the partial
    bin at the newest end). A change of bin size or channel count, of ``epoch`` (pass the ring
    buffer's: it changes when the buffer is cleared), or a running index that went back starts
    over. The result equals :func:`minmax_decimate` on
    the same window except that the oldest bin may include samples just before the window
    start (drawn outside the visible range).
    """

    def __init__(self) -> None:
        self._k = 0
        self._epoch = 0
        self._b0 = 0  # running bin number of cache row 0
        self._x = np.zeros((0, 2))
        self._y = np.zeros((0, 0, 2))

    def __call__(
        self, t_s: np.ndarray, values: np.ndarray, n_bins: int, first_index: int, epoch: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(values)
        if values.ndim == 1:
            values = values[:, None]
        n, c = values.shape
        k = bin_size(n, n_bins)
        if k <= 2 or n == 0:
            self._k = 0
            return np.asarray(t_s, dtype=np.float64), np.ascontiguousarray(values.T)
        first_bin = first_index // k
        full_end = (first_index + n) // k  # bins before this one are complete
        cached_end = self._b0 + self._x.shape[0]
        if (k != self._k or self._y.shape[0] != c or epoch != self._epoch
                or first_bin < self._b0 or full_end < cached_end):
            self._k, self._b0, self._epoch = k, first_bin, epoch
            self._x, self._y = np.zeros((0, 2)), np.zeros((c, 0, 2), dtype=values.dtype)
            cached_end = first_bin
        # forget bins that scrolled out
        drop = min(first_bin - self._b0, self._x.shape[0])
        if drop > 0:
            self._x, self._y = self._x[drop:], self._y[:, drop:]
            self._b0 += drop
            cached_end = max(cached_end, self._b0)
        if self._x.shape[0] == 0:
            self._b0 = cached_end = max(cached_end, first_bin)
        if full_end > cached_end:
            x_new, y_new = self._bins(t_s, values, first_index, cached_end, full_end, k)
            self._x = np.concatenate((self._x, x_new))
            self._y = np.concatenate((self._y, y_new), axis=1)
        x, y = self._x, self._y
        if (first_index + n) % k:  # the newest bin, still filling
            x_t, y_t = self._bins(t_s, values, first_index, full_end, full_end + 1, k)
            x = np.concatenate((x, x_t))
            y = np.concatenate((y, y_t), axis=1)
        return x.reshape(-1), y.reshape(c, -1)

    @staticmethod
    def _bins(t_s, values, first_index: int, b_start: int, b_end: int, k: int):
        """Reduce running bins b_start..b_end-1 from the window rows (clipped to the window;
        a clipped bin is padded with its edge sample)."""
        n = values.shape[0]
        r0, r1 = b_start * k - first_index, b_end * k - first_index
        head, tail = max(0, -r0), max(0, r1 - n)
        vt = values[max(r0, 0) : min(r1, n)].T
        if head or tail:
            vt = np.concatenate(
                (np.repeat(vt[:, :1], head, axis=1), vt, np.repeat(vt[:, -1:], tail, axis=1)),
                axis=1,
            )
        y = _reduce_bins(vt, k)
        starts = np.arange(b_start, b_end) * k - first_index
        x = np.empty((b_end - b_start, 2))
        x[:, 0] = t_s[np.maximum(starts, 0)]
        x[:, 1] = t_s[np.minimum(starts + (k - 1), n - 1)]
        return x, y
