"""Recording files: imu-hip's native MCAP format and plain CSV; reading, writing, checking.

- :func:`read_recording` opens either format (chosen by content, not by suffix) and checks it.
- :func:`read_csv` / :func:`write_csv`: one sensor per text file (format: :mod:`.csv_file`).
- :func:`read_mcap` / :func:`write_mcap` / :class:`McapRecorder` / :func:`read_raw`: the native
  format with decoded blocks and raw BLE bytes (format: :mod:`.mcap_file`).
- :func:`validate_recording`: the checks behind :func:`read_recording` (:mod:`.validate`).
"""

from __future__ import annotations

from pathlib import Path

from imu_hip.io.csv_file import read_csv, read_csv_with_layout, write_csv
from imu_hip.io.mcap_file import (
    MCAP_MAGIC,
    McapRecorder,
    decode_block,
    encode_block,
    read_mcap,
    read_raw,
    write_mcap,
)
from imu_hip.io.validate import open_input, validate_recording
from imu_hip.model import InputError, Recording

__all__ = [
    "McapRecorder",
    "decode_block",
    "encode_block",
    "read_csv",
    "read_mcap",
    "read_raw",
    "read_recording",
    "sniff_format",
    "validate_recording",
    "write_csv",
    "write_mcap",
]


def sniff_format(path: str | Path) -> str:
    """``"mcap"`` if the file starts with the MCAP magic bytes (or a cut-off piece of them),
    else ``"csv"``. Raises :class:`InputError` if the file is missing, unreadable or empty."""
    with open_input(path) as f:
        head = f.read(len(MCAP_MAGIC))
    if not head:
        raise InputError(str(path), "empty file (0 bytes)")
    return "mcap" if MCAP_MAGIC.startswith(head) else "csv"


def read_recording(path: str | Path, placement: str | None = None) -> Recording:
    """Open a recording (MCAP or imu-hip CSV, told apart by content) and check it.

    ``placement`` applies to CSV files (default: the file's ``# placement:`` line, else
    ``sacrum``); MCAP channels carry their own placement. Raises :class:`InputError`
    ``(path, problem)`` with a one-line problem for any file that cannot be analysed; see
    :func:`validate_recording`. A cut-off MCAP file opens with what was saved, and says so in
    ``metadata["truncated"]``.
    """
    source = str(path)
    if sniff_format(path) == "mcap":
        rec = read_mcap(path)
        validate_recording(rec, source)
        return rec
    rec, first_line = read_csv_with_layout(path, placement=placement)
    validate_recording(rec, source, first_data_line=first_line)
    return rec
