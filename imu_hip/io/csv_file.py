"""Plain-text CSV recordings: one sensor per file.

The imu-hip CSV format
----------------------

A UTF-8 text file with one header row and one row per sample, comma-separated::

    # sensor_id: DE:AD:BE:EF:00:01
    # placement: sacrum
    # rate_hz: 400
    time_s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps,gyr_y_dps,gyr_z_dps
    0.0000,0.012,-0.031,1.004,0.52,-1.10,0.07
    0.0025,0.015,-0.029,1.001,0.49,-1.08,0.11

- **Metadata** (optional): lines starting with ``#`` before the header. ``# key: value`` lines
  (a key without spaces) are kept as text in ``SensorRecording.metadata``; it is untrusted, so
  escape it before showing it. Other comment lines are kept under the key ``comment``. Keys the
  reader uses: ``sensor_id`` (default: the file name without suffix), ``placement`` (``sacrum``,
  ``left_foot``, ``right_foot`` or ``unknown``; default ``sacrum``) and ``rate_hz`` (nominal
  sample rate in Hz; default: 1 / median sample interval).
- **Columns** (any order, names case-insensitive):

  - ``time_s``: sample time in seconds, strictly increasing (required).
  - acceleration, required, one unit for all three axes: ``acc_x_mps2, acc_y_mps2, acc_z_mps2``
    (m/s²) or ``acc_x_g, acc_y_g, acc_z_g`` (g, converted with 1 g = 9.80665 m/s²). Proper
    acceleration with gravity included: a sensor lying still reads about 1 g.
  - angular rate, optional, one unit for all three axes: ``gyr_x_rads, gyr_y_rads, gyr_z_rads``
    (rad/s) or ``gyr_x_dps, gyr_y_dps, gyr_z_dps`` (degrees/s).

  Any other column is an error (so a misspelt unit is never guessed).
- **Numbers**: decimal, ``.`` as the decimal point, optional exponent (``1.5e-3``). No quotes, no
  thousands separators, no empty cells, no blank lines or ``#`` lines between rows, commas
  only (not ``;`` or tabs). Line ends ``\\n`` or ``\\r\\n``; a UTF-8 byte-order mark is
  ignored.
- **The last row** should end with a line end (:func:`write_csv` always writes one). A file
  cut off mid-write is refused when that shows (a short row, a dangling ``-`` or ``e``, fewer
  digits than the column's fixed format); a last row without a line end that cannot be told
  from a cut one is left out, and ``Recording.metadata["truncated_detail"]`` says so.
- **To be analysed** (checked by ``read_recording``): at least 2 s of data, at least 50 Hz, the
  stated ``rate_hz`` within 10 % of the timestamps, and a median acceleration magnitude between
  0.3 and 3 g and, while the body moves, an angular rate of a plausible size (so a unit mix-up
  is caught).

The axes are the sensor's own; imu-hip finds the sensor-to-body rotation itself. Files written by
:func:`write_csv` round-trip exactly (shortest repr of every float64).
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np

from imu_hip.io.validate import open_input
from imu_hip.model import G, ImuHipError, InputError, Recording, SensorRecording, check_placement
from imu_hip.text import escape_controls

#: Accepted acceleration columns per unit, and the factor to m/s².
ACC_COLUMNS: dict[str, tuple[tuple[str, str, str], float]] = {
    "mps2": (("acc_x_mps2", "acc_y_mps2", "acc_z_mps2"), 1.0),
    "g": (("acc_x_g", "acc_y_g", "acc_z_g"), G),
}
#: Accepted angular-rate columns per unit, and the factor to rad/s.
GYR_COLUMNS: dict[str, tuple[tuple[str, str, str], float]] = {
    "rads": (("gyr_x_rads", "gyr_y_rads", "gyr_z_rads"), 1.0),
    "dps": (("gyr_x_dps", "gyr_y_dps", "gyr_z_dps"), math.pi / 180.0),
}
TIME_COLUMN = "time_s"

_EXPECTED = ("time_s; acc_x_mps2, acc_y_mps2, acc_z_mps2 (or acc_x_g, acc_y_g, acc_z_g); "
             "optional gyr_x_rads, gyr_y_rads, gyr_z_rads (or gyr_x_dps, gyr_y_dps, gyr_z_dps)")
_ACCEPTED = {TIME_COLUMN} | {c for cols, _ in (*ACC_COLUMNS.values(), *GYR_COLUMNS.values())
                             for c in cols}
# Bytes that can occur in plain decimal numbers (the fast parser only sees these).
_FAST_BYTES = b"0123456789.,-+eE\n\r"
_WHITESPACE = frozenset(b" \t\r\n")
_NUMBER = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*"
                     r"|\s*[+-]?(?:nan|inf|infinity)\s*", re.IGNORECASE)
_BOM = b"\xef\xbb\xbf"


#: Use scipy's multithreaded Matrix Market reader (scipy >= 1.12, required) for plain numbers;
#: the tests switch it off to check the strict parser gives the same arrays. scipy.io is imported
#: at the first CSV read only, so reading MCAP never loads scipy.
_FAST_MMREAD = True


def read_csv(path: str | Path, placement: str | None = None,
             sensor_id: str | None = None) -> Recording:
    """Read an imu-hip CSV file (format in this module's docstring) into a one-sensor Recording.

    ``placement`` / ``sensor_id`` override the file's ``# placement:`` / ``# sensor_id:`` lines
    (defaults: ``sacrum`` and the file name). Units are converted to SI (m/s², rad/s).
    Raises :class:`InputError` naming the file for anything that cannot be parsed (including
    NaN or infinite cells, named by line and header column); content checks
    (timestamps, rate, units, length) are done by :func:`imu_hip.io.validate_recording`, which
    :func:`imu_hip.io.read_recording` runs for you.
    """
    rec, _ = read_csv_with_layout(path, placement=placement, sensor_id=sensor_id)
    return rec


def read_csv_with_layout(path: str | Path, placement: str | None = None,
                         sensor_id: str | None = None) -> tuple[Recording, int]:
    """:func:`read_csv`, also returning the 1-based file line of the first sample."""
    source = str(path)
    raw = _read_bytes(path)
    if not raw:
        raise InputError(source, "empty file (0 bytes)")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise InputError(source, f"binary data, not a CSV text file (NUL byte at offset {nul})")
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]

    metadata, header, header_line, body_start = _split_header(raw, source)
    if header is None:
        raise InputError(source, "no header row: the file has only comments or blank lines; "
                         f"expected columns {_EXPECTED}")
    columns = _parse_header(header, source)
    end = len(raw)
    while end > body_start and raw[end - 1] in _WHITESPACE:
        end -= 1
    first_data_line = header_line + 1
    if end <= body_start:
        raise InputError(source, "no data rows after the header")
    end, cut_note = _check_last_line(raw, body_start, end, columns, first_data_line, source)
    if end <= body_start:
        raise InputError(source, "no complete data rows after the header (" + cut_note + ")")
    values = _parse_body(raw, body_start, end, columns, first_data_line, source)  # (ncols, n)
    _check_finite(values, columns, first_data_line, source)

    index = {name: i for i, name in enumerate(columns)}
    t_s = np.array(values[index[TIME_COLUMN]])  # a copy: do not keep the whole table alive
    acc = gyr = None
    for names, scale in ACC_COLUMNS.values():
        if names[0] in index:
            acc = np.stack([values[index[c]] for c in names], axis=1)
            if scale != 1.0:
                acc *= scale
    for names, scale in GYR_COLUMNS.values():
        if names[0] in index:
            gyr = np.stack([values[index[c]] for c in names], axis=1)
            if scale != 1.0:
                gyr *= scale

    where = placement if placement is not None else metadata.get("placement", "sacrum").strip()
    try:
        check_placement(where)
    except ImuHipError:
        raise InputError(source, f"unknown placement {where[:40]!r} (from "
                         f"{'the placement argument' if placement else 'the # placement: line'}); "
                         "expected sacrum, left_foot, right_foot or unknown") from None
    sid = sensor_id or metadata.get("sensor_id", "").strip() or Path(path).stem
    rate_hz = _nominal_rate(metadata, t_s, source)
    sensor = SensorRecording(sensor_id=sid, placement=where, rate_hz=rate_hz, t_s=t_s,
                             acc_mps2=acc, gyr_rads=gyr, metadata=metadata)
    rec_meta = {"truncated": "true", "truncated_detail": cut_note} if cut_note else {}
    return Recording(sensors=[sensor], metadata=rec_meta), first_data_line


def write_csv(sensor: SensorRecording, path: str | Path, units: str = "mps2",
              gyr_units: str = "rads") -> None:
    """Write one sensor stream as an imu-hip CSV file.

    ``units``: ``"mps2"`` (default, exact round trip) or ``"g"``; ``gyr_units``: ``"rads"``
    (default, exact) or ``"dps"``. Floats are written as their shortest repr, so reading the file
    back gives identical float64 arrays in SI units. The sensor id, placement, rate and metadata
    go into ``# key: value`` lines (line breaks in metadata are replaced by spaces, other
    control characters by their escapes).
    """
    if not isinstance(sensor, SensorRecording):
        raise ImuHipError(f"write_csv(sensor, path): expected a SensorRecording first, got "
                          f"{type(sensor).__name__}")
    if units not in ACC_COLUMNS:
        raise ImuHipError(f"unknown acceleration unit {units!r}; expected one of "
                          f"{', '.join(ACC_COLUMNS)}")
    if gyr_units not in GYR_COLUMNS:
        raise ImuHipError(f"unknown angular-rate unit {gyr_units!r}; expected one of "
                          f"{', '.join(GYR_COLUMNS)}")
    acc_names, acc_scale = ACC_COLUMNS[units]
    cols = [sensor.t_s[:, None], sensor.acc_mps2 if acc_scale == 1.0
            else sensor.acc_mps2 / acc_scale]
    names = [TIME_COLUMN, *acc_names]
    if sensor.gyr_rads is not None:
        gyr_names, gyr_scale = GYR_COLUMNS[gyr_units]
        cols.append(sensor.gyr_rads if gyr_scale == 1.0 else sensor.gyr_rads / gyr_scale)
        names.extend(gyr_names)
    table = np.concatenate(cols, axis=1)

    meta = {"sensor_id": sensor.sensor_id, "placement": sensor.placement,
            "rate_hz": repr(float(sensor.rate_hz))}
    for key, value in sensor.metadata.items():
        if key not in meta:
            meta[key] = value
    lines = [f"# {_one_line(k).replace(':', '_')}: {_one_line(v)}" for k, v in meta.items()]
    lines.append(",".join(names))
    row = ",".join(["%r"] * table.shape[1]) + "\n"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")
        step = 65536  # rows per formatting call: one C-level % per batch, bounded memory
        for i in range(0, table.shape[0], step):
            part = table[i:i + step]
            f.write((row * part.shape[0]) % tuple(part.ravel().tolist()))


def _one_line(text: str) -> str:
    """Metadata value for a ``# key: value`` line: line breaks become spaces, other control
    characters their escapes (the reader refuses control characters as binary data)."""
    return escape_controls(" ".join(str(text).splitlines()).strip())


def _read_bytes(path: str | Path) -> bytes:
    with open_input(path) as f:
        return f.read()


def _split_header(raw: bytes, source: str) -> tuple[dict[str, str], str | None, int, int]:
    """Metadata dict, header text, header's 1-based line number, byte offset of the data."""
    metadata: dict[str, str] = {}
    comments: list[str] = []
    pos = 0
    line_no = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        line_b = raw[pos:end]
        line_no += 1
        nxt = end + 1
        try:
            line = line_b.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InputError(source, f"not a text file: line {line_no} is not valid UTF-8 "
                             "(binary or garbage data?)") from None
        if _looks_binary(line):
            raise InputError(source, f"not a text file: line {line_no} holds control "
                             "characters (binary or garbage data?)")
        if not line:
            pos = nxt
            continue
        if line.startswith("#"):
            text = line[1:].strip()
            key, sep, value = text.partition(":")
            if sep and key.strip() and " " not in key.strip():
                metadata[key.strip()] = value.strip()
            elif text:
                comments.append(text)
            pos = nxt
            continue
        if comments:
            metadata.setdefault("comment", "\n".join(comments))
        return metadata, line, line_no, nxt
    return metadata, None, line_no, len(raw)


def _looks_binary(line: str) -> bool:
    return any(ord(ch) < 32 and ch not in "\t\r" for ch in line[:4096])


def _parse_header(header: str, source: str) -> list[str]:
    if len(header) > 4096:
        raise InputError(source, "the header row is over 4096 characters long; expected columns "
                         f"{_EXPECTED}")
    columns = [c.strip().strip('"').strip().lower() for c in header.split(",")]
    for sep, what in ((";", "semicolons (';')"), ("\t", "tabs"), (" ", "spaces")):
        parts = [c for c in header.replace(",", sep).split(sep) if c.strip()]
        if any(sep in c for c in columns) and TIME_COLUMN in [
                c.strip().strip('"').strip().lower() for c in parts]:
            raise InputError(source, f"the header row is separated by {what}; imu-hip reads "
                             "comma-separated files: save it with ',' between values and '.' as "
                             "the decimal point")
    seen: set[str] = set()
    dupes = [c for c in columns if c in seen or seen.add(c)]
    if dupes:
        raise InputError(source, f"duplicate column(s) {', '.join(dupes)} in the header")
    unknown = [c or "(empty name)" for c in columns if c not in _ACCEPTED]
    missing: list[str] = []
    if TIME_COLUMN not in columns:
        missing.append(TIME_COLUMN)
    problems = []
    acc_units = [u for u, (names, _) in ACC_COLUMNS.items() if any(c in columns for c in names)]
    if not acc_units:
        missing.append("acc_x_mps2, acc_y_mps2, acc_z_mps2 (or acc_x_g, acc_y_g, acc_z_g)")
    for kind, table in (("acceleration", ACC_COLUMNS), ("angular rate", GYR_COLUMNS)):
        units = [u for u, (names, _) in table.items() if any(c in columns for c in names)]
        if len(units) > 1:
            problems.append(f"{kind} is given in two units ({' and '.join(units)}); keep one")
            continue
        for u in units:
            absent = [c for c in table[u][0] if c not in columns]
            if absent:
                missing.extend(absent)
    if missing:
        found = ", ".join(c or "(empty name)" for c in columns)
        problems.insert(0, f"missing column(s) {'; '.join(missing)} (found: {_clip(found)})")
    if unknown:
        problems.append(f"unknown column(s) {_clip(', '.join(unknown))}")
    if problems:
        raise InputError(source, "; ".join(problems) + f"; expected {_EXPECTED}")
    return columns


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _check_last_line(raw: bytes, start: int, end: int, columns: list[str], first_data_line: int,
                     source: str) -> tuple[int, str]:
    """Decide whether the last data row was cut off mid-write; return the end of the rows to
    read and a note ("" if nothing was left out).

    A writer that is stopped mid-row leaves a last line without a line end whose last cell is
    a prefix of the intended number (``-6.1372`` cut to ``-6.137`` or ``-``). The rule, which
    never reads a cut number as data and never refuses a file that could be complete:

    - fewer cells than the header, a trailing comma, or (without a line end) a last cell that
      is not a complete number: the file was cut; :class:`InputError` saying so;
    - a last line that ends with a line end is complete (every writer ends rows with one; a
      cut exactly after it loses nothing);
    - without a line end, if the previous rows write the last column with a fixed format (the
      same number of decimals and exponent digits in every row, as printf-style loggers do):
      a last cell in that format is complete and kept; one with fewer digits was cut
      (:class:`InputError`);
    - otherwise (shortest-repr numbers, whose length varies) the last cell cannot be told from
      a cut one: the row is left out and the returned note says so (it reaches the recording's
      ``metadata["truncated_detail"]``, which the analysis summary shows). One sample at the
      end of a recording changes no step.
    """
    ncols = len(columns)
    last_start = max(raw.rfind(b"\n", start, end) + 1, start)
    last = raw[last_start:end]
    line_no = first_data_line + raw.count(b"\n", start, last_start)
    if last.lstrip().startswith(b"#"):
        return end, ""  # a comment after the data: the parser names it
    cells = last.count(b",") + 1
    prev = raw[raw.rfind(b"\n", start, max(last_start - 1, start)) + 1 : last_start].rstrip()
    if cells == ncols and last.endswith(b",") and prev.endswith(b","):
        return end, ""  # an empty last column in every row, not a cut: the parser names it
    if cells < ncols or last.endswith(b","):
        have = cells - 1 if last.endswith(b",") else cells
        raise InputError(source, f"truncated: the last line (line {line_no}) has {have} of "
                         f"{ncols} values, so the file looks cut off mid-write; delete that "
                         "line to use the rest")
    if raw.find(b"\n", end) >= 0 or cells != ncols:
        return end, ""  # ended by a line end (or too many cells: the parser reports that)
    cell = last.rsplit(b",", 1)[-1].strip().decode("utf-8", errors="replace")
    name = columns[-1]
    if not _NUMBER.fullmatch(cell) or cell.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        if not _NUMBER.fullmatch(cell) and _NUMBER.fullmatch(cell + "0"):
            raise InputError(source, f"truncated: the last line (line {line_no}) ends in "
                             f"{_clip(cell, 30)!r} (column {name}) without a line end, so the "
                             "file looks cut off mid-write; delete that line to use the rest")
        return end, ""  # not a number at all: the parser reports the cell
    shape = _number_shape(cell)
    shapes = _column_shapes(raw, start, last_start)
    # a fixed format ending in digits a cut would shorten (decimals or an exponent)
    if shapes and (shapes[0][1] or shapes[0][2]) and all(x == shapes[0] for x in shapes):
        if shape == shapes[0]:
            return end, ""
        if _shorter(shape, shapes[0]):
            raise InputError(source, f"truncated: the last value {_clip(cell, 30)!r} (line "
                             f"{line_no}, column {name}) has fewer digits than the rest of the "
                             "column and no line end, so the file looks cut off mid-write; "
                             "delete that line to use the rest")
    new_end = last_start
    while new_end > start and raw[new_end - 1] in _WHITESPACE:
        new_end -= 1
    return new_end, (f"the last line (line {line_no}) has no line end, so the file may have "
                     "been cut off mid-write; that line was left out")


#: How many rows before the last one are looked at to tell the last column's number format.
_SHAPE_ROWS = 200


def _number_shape(cell: str) -> tuple[bool, int, bool, int]:
    """(has a point, digits after it, has an exponent, exponent digits) of a number cell."""
    mantissa, e, exponent = cell.strip().lower().partition("e")
    _, point, frac = mantissa.partition(".")
    return (bool(point), len(frac), bool(e), len(exponent.lstrip("+-")))


def _shorter(shape: tuple[bool, int, bool, int], full: tuple[bool, int, bool, int]) -> bool:
    """Could ``shape`` be a number of format ``full`` with characters cut from its end?"""
    if full[2]:  # exponent format: the cut is in the exponent, or the exponent is gone
        return (not shape[2] and shape[1] <= full[1]) or (shape[2] and shape[3] < full[3]
                                                           and shape[:2] == full[:2])
    return shape[1] < full[1] and not shape[2]


def _column_shapes(raw: bytes, start: int, last_start: int) -> list[tuple[bool, int, bool, int]]:
    """Number shapes of the last cell of up to :data:`_SHAPE_ROWS` rows before ``last_start``."""
    lo = last_start - 1
    for _ in range(_SHAPE_ROWS):
        if lo <= start:
            break
        lo = raw.rfind(b"\n", start, lo)
        if lo < 0:
            lo = start
            break
    lo = max(lo, start)
    shapes = []
    for line in raw[lo:last_start].split(b"\n"):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        cell = line.rsplit(b",", 1)[-1].decode("utf-8", errors="replace").strip()
        if _NUMBER.fullmatch(cell):
            shapes.append(_number_shape(cell))
    return shapes


def _check_finite(values: np.ndarray, columns: list[str], first_data_line: int,
                  source: str) -> None:
    """:class:`InputError` naming the line and header column of the first NaN or inf cell."""
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(float(np.sum(values))):
            return
    bad = ~np.isfinite(values)  # (ncols, nrows)
    rows = np.flatnonzero(bad.any(axis=0))
    if not rows.size:
        return  # only an overflow of the sum: every value is finite
    i = int(rows[0])
    j = int(np.flatnonzero(bad[:, i])[0])
    what = "NaN" if math.isnan(values[j, i]) else "infinite"
    raise InputError(source, f"{what} value at line {first_data_line + i}, column {columns[j]}; "
                     "every cell must be a number")


def _parse_body(raw: bytes, start: int, end: int, columns: list[str], first_data_line: int,
                source: str) -> np.ndarray:
    """Numbers of the data rows ``raw[start:end]`` as a (ncols, nrows) float64 array."""
    ncols = len(columns)
    if _FAST_MMREAD:
        # Only digits, ".+-eE", commas, newlines and CR in the data rows? (one pass over raw)
        outside = (len(raw[:start].translate(None, _FAST_BYTES))
                   + len(raw[end:].translate(None, _FAST_BYTES)))
        if len(raw.translate(None, _FAST_BYTES)) == outside and _plain_numbers(raw[start:end]):
            values = _parse_fast(raw, start, end, ncols)
            if values is not None:
                return values
    body = raw[start:end]
    if b"\r" in body:
        body = body.replace(b"\r", b"")
    return _parse_strict(body, columns, first_data_line, source)


#: Byte classes for the number-grammar check: 0 digit, 1 cell end, 2 point, 3 sign, 4 exponent.
_CLASSES = bytes.maketrans(b"0123456789,\n.+-eE", bytes([0] * 10 + [1, 1, 2, 3, 3, 4, 4]))
_D, _S, _P, _G, _E = range(5)
#: Neighbour pairs that cannot occur in a file of well-formed numbers, indexed by the two class
#: bytes read as one little-endian uint16: a sign after a digit, point or sign; a sign or
#: exponent ending a cell; an exponent not after a digit or point; an exponent followed by a
#: point or another exponent; an empty cell.
_BAD_PAIR = np.zeros(1 << 16, dtype=bool)
for _a, _b in ((_D, _G), (_P, _G), (_G, _G), (_G, _S), (_G, _E), (_E, _S), (_E, _P), (_E, _E),
               (_S, _E), (_S, _S)):
    _BAD_PAIR[_a + (_b << 8)] = True
#: With digits and signs removed: a second point, a point after the exponent, two exponents.
_BAD_MARKS = (b"\x02\x02", b"\x04\x02", b"\x04\x04")


def _plain_numbers(body: bytes) -> bool:
    """Whether every cell of ``body`` (digits, ``.+-eE``, commas, line ends only) is a
    well-formed decimal number, so that the fast reader, which reads the valid start of a cell
    and ignores the rest, cannot silently misread a damaged cell such as ``1.2.3`` or ``1-2``.

    Vectorised: bytes become classes (``bytes.translate``); every pair of neighbours is looked
    up in a table through two uint16 views (even and odd offsets); with digits and signs
    removed, marks in a row show a second point, a point after the exponent or a second
    exponent in one cell. Cells that do not even start like a number are rejected by the reader
    itself and reach the strict parser anyway.
    """
    cls = body.translate(_CLASSES, b"\r").rstrip(b"\x01")
    if not cls or cls[0] in (_S, _E) or cls[-1] in (_E, _G):
        return False
    a = np.frombuffer(cls, dtype=np.uint8)
    for start in (0, 1):
        n = (a.size - start) // 2 * 2
        if n and _BAD_PAIR[a[start : start + n].view("<u2")].any():
            return False
    marks = cls.translate(None, bytes([_D, _G]))
    return not any(bad in marks for bad in _BAD_MARKS)


class _ChainReader(io.RawIOBase):
    """A read-only stream over ``head`` followed by ``tail`` (no copying of ``tail``)."""

    def __init__(self, head: bytes, tail: memoryview):
        self._parts = [memoryview(head), tail]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001 - buffer protocol object
        while self._parts and self._pos >= len(self._parts[0]):
            self._parts.pop(0)
            self._pos = 0
        if not self._parts:
            return 0
        part = self._parts[0]
        n = min(len(buf), len(part) - self._pos)
        buf[:n] = part[self._pos:self._pos + n]
        self._pos += n
        return n


def _parse_fast(raw: bytes, start: int, end: int, ncols: int) -> np.ndarray | None:
    """Parse plain decimal numbers with scipy's multithreaded Matrix Market reader.

    The caller has checked that the data rows hold only digits, ``.+-eE``, commas, newlines and
    CR. With commas turned into newlines (one value per line) and the matrix declared as
    ncols x nrows in column-major order, the reader fills it row by row of the CSV. The total
    number of values must be a multiple of ``ncols``, so a row with a missing or an extra value
    is caught (two such rows that cancel out are not). Numbers are converted with correct
    rounding (fast_float). Anything the reader rejects goes to the strict parser, which reports
    the exact cell. The reader takes the valid start of a cell and ignores the rest of it (so
    ``1.2.3`` would read as 1.2): the caller first checks the number grammar with
    :func:`_plain_numbers`.
    """
    import scipy.io

    data = raw.replace(b",", b"\n")  # same length: every offset stays valid
    nvalues = data.count(b"\n", start, end) + 1
    if nvalues % ncols:
        return None
    nrows = nvalues // ncols
    head = b"%%%%MatrixMarket matrix array real general\n%d %d\n" % (ncols, nrows)
    stream = io.BufferedReader(_ChainReader(head, memoryview(data)[start:end]), 1 << 20)
    try:
        values = scipy.io.mmread(stream)
    except (ValueError, OverflowError, OSError):
        return None
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (ncols, nrows):
        return None
    return values


def _parse_strict(body: bytes, columns: list[str], first_data_line: int,
                  source: str) -> np.ndarray:
    """Parse with numpy's strict reader; on failure, report the first bad line or cell."""
    ncols = len(columns)
    nrows = body.count(b"\n") + 1
    try:
        values = np.loadtxt(io.BytesIO(body), delimiter=",", comments=None, ndmin=2,
                            dtype=np.float64, encoding="utf-8")
        if values.shape == (nrows, ncols):
            return values.T
    except ValueError:
        pass
    problem = _first_bad_cell(body, columns, first_data_line)
    raise InputError(source, problem or "the data rows could not be read as numbers")


def _first_bad_cell(body: bytes, columns: list[str], first_data_line: int) -> str | None:
    """Describe the first cell that is not a number, or a row with the wrong cell count."""
    ncols = len(columns)
    for k, line_b in enumerate(body.split(b"\n")):
        line_no = first_data_line + k
        line = line_b.decode("utf-8", errors="replace").strip()
        if not line:
            return f"line {line_no} is empty (blank lines are allowed only at the end)"
        if line.startswith("#"):
            return (f"line {line_no} is a comment/metadata line inside the data "
                    f"({_clip(line, 30)!r}); '#' lines are allowed only before the header")
        cells = line.split(",")
        if [c.strip().strip('"').strip().lower() for c in cells] == columns:
            return f"line {line_no} repeats the header row (two files joined?)"
        if len(cells) != ncols:
            return (f"line {line_no} has {len(cells)} value{'' if len(cells) == 1 else 's'}, "
                    f"expected {ncols} (one per column)")
        for j, (name, cell) in enumerate(zip(columns, cells, strict=True)):
            if not cell.strip():
                if k == 0 and _column_empty(body, j):
                    return (f"column {name} is empty in every row; leave the column out (or "
                            "fill it)")
                return f"line {line_no}, column {name}: empty cell; every cell must be a number"
            if not _NUMBER.fullmatch(cell):
                return f"line {line_no}, column {name}: {_clip(cell.strip(), 30)!r} is not a number"
    return None


def _column_empty(body: bytes, j: int) -> bool:
    """Whether cell ``j`` is blank in every data row of ``body``."""
    return all(not (row.split(b",") + [b""] * (j + 1))[j].strip()
               for row in body.split(b"\n") if row.strip())


def _nominal_rate(metadata: dict[str, str], t_s: np.ndarray, source: str) -> float:
    """Rate from the ``# rate_hz:`` line if present, else 1 / median sample interval."""
    text = metadata.get("rate_hz")
    if text is not None:
        try:
            rate = float(text)
        except ValueError:
            rate = math.nan
        if not math.isfinite(rate) or rate <= 0:
            raise InputError(source, f"# rate_hz: {_clip(text, 30)!r} is not a positive number "
                             "of samples per second")
        return rate
    if t_s.shape[0] < 2:
        return math.nan
    dt = float(np.median(np.diff(t_s)))
    return 1.0 / dt if dt > 0 and math.isfinite(dt) else math.nan
