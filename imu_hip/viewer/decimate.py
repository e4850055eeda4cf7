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
    v = v.reshape(c, nb, k)
    i_min = np.argmin(v, axis=2)  # (c, nb); NaN wins both argmin and argmax
    i_max = np.argmax(v, axis=2)
    first = np.minimum(i_min, i_max)[..., None]
    second = np.maximum(i_min, i_max)[..., None]
    y = np.empty((c, nb, 2), dtype=values.dtype)
    y[..., 0] = np.take_along_axis(v, first, axis=2)[..., 0]
    y[..., 1] = np.take_along_axis(v, second, axis=2)[..., 0]
    # bin b covers window rows b*k - head .. (b+1)*k - head - 1 (clipped to the window)
    starts = np.maximum(np.arange(nb) * k - head, 0)
    ends = np.minimum(np.arange(1, nb + 1) * k - head, n) - 1
    x = np.empty((nb, 2))
    x[:, 0] = t_s[starts]
    x[:, 1] = t_s[ends]
    return x.reshape(-1), y.reshape(c, 2 * nb)
