"""imu-hip's native recording file: MCAP with decoded blocks and the raw bytes as they arrived.

File layout
-----------

An `MCAP <https://mcap.dev>`_ file (chunked, zstd-compressed, CRC-checked chunks; opens in any MCAP
tool). Profile: empty (custom encodings below). Channels:

- ``imu/<sensor_id>``, message encoding ``imu-hip.block.v1``: decoded blocks of one sensor, in
  SI units and host time. Channel metadata (text): ``sensor_id``, ``placement``, ``rate_hz``
  (nominal, Python float repr), ``has_gyro`` (``true``/``false``), ``units``
  (``time=s acc=m/s^2 gyr=rad/s``), and the sensor's own metadata as ``meta.<key>``.
- ``raw/<device_id>``, message encoding ``imu-hip.raw.v1``: every BLE notification exactly as
  received. Channel metadata: ``device_id``, and from live sessions ``protocol`` (registry name
  of the decoder), ``placement``, ``name``, ``address``.

A file-level MCAP metadata record named ``imu_hip.recording`` holds ``Recording.metadata``.

Message encodings (all little-endian):

- ``imu-hip.block.v1``: 8-byte header ``u8 version (=1), u8 flags (bit 0: angular rate present,
  bit 1: gap before this block), u16 reserved (=0), u32 n (samples)``, then ``n`` float64 times
  (s), ``3n`` float64 accelerations (m/s², x y z per sample), and when bit 0 is set ``3n`` float64
  angular rates (rad/s). Lossless: the arrays come back bit for bit.
- ``imu-hip.raw.v1``: float64 host receive time (s), then the notification payload bytes.

Message ``log_time``/``publish_time`` are the first sample time (block) or the receive time (raw)
in nanoseconds, clipped at 0, so MCAP tools can seek; the exact times are the float64 values
inside the messages.

Crash safety: :class:`McapRecorder` ends the open chunk and flushes it to disk at least every
``flush_interval_s`` (default 0.5 s) while data keeps arriving. A file cut off at any byte
still opens: the readers keep every complete chunk and mark ``Recording.metadata["truncated"]``.
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
from mcap.records import Channel, Chunk, Footer, Message, Metadata
from mcap.stream_reader import StreamReader, breakup_chunk
from mcap.writer import CompressionType, Writer

from imu_hip.io.validate import open_input
from imu_hip.model import (
    PLACEMENTS,
    Block,
    ImuHipError,
    InputError,
    Recording,
    SensorRecording,
)

MCAP_MAGIC = b"\x89MCAP0\r\n"
BLOCK_ENCODING = "imu-hip.block.v1"
RAW_ENCODING = "imu-hip.raw.v1"
RECORDING_METADATA_NAME = "imu_hip.recording"
UNITS = "time=s acc=m/s^2 gyr=rad/s"

_BLOCK_HEADER = struct.Struct("<BBHI")
_RAW_HEADER = struct.Struct("<d")
_FLAG_GYRO = 1
_FLAG_GAP = 2
_OPCODE_FOOTER = 0x02
_RECORD_HEADER = struct.Struct("<BQ")
_LIBRARY = "imu-hip"


def encode_block(block: Block) -> bytes:
    """Encode one block as an ``imu-hip.block.v1`` message (see the module docstring)."""
    n = len(block)
    flags = (_FLAG_GYRO if block.gyr_rads is not None else 0) | (_FLAG_GAP if block.gap_before
                                                                   else 0)
    parts = [_BLOCK_HEADER.pack(1, flags, 0, n),
             np.ascontiguousarray(block.t_s, dtype="<f8").tobytes(),
             np.ascontiguousarray(block.acc_mps2, dtype="<f8").reshape(n, 3).tobytes()]
    if block.gyr_rads is not None:
        parts.append(np.ascontiguousarray(block.gyr_rads, dtype="<f8").reshape(n, 3).tobytes())
    return b"".join(parts)


def decode_block(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]:
    """Decode an ``imu-hip.block.v1`` message: (t_s, acc_mps2, gyr_rads or None, gap_before).

    Raises ValueError when the message is not a well-formed version-1 block.
    """
    if len(data) < _BLOCK_HEADER.size:
        raise ValueError("block message shorter than its header")
    version, flags, _, n = _BLOCK_HEADER.unpack_from(data)
    if version != 1:
        raise ValueError(f"block message version {version}, this imu-hip reads version 1")
    has_gyro = bool(flags & _FLAG_GYRO)
    expected = _BLOCK_HEADER.size + 8 * n * (7 if has_gyro else 4)
    if len(data) != expected:
        raise ValueError(f"block message of {len(data)} bytes, expected {expected} for {n} "
                         "samples")
    arr = np.frombuffer(data, dtype="<f8", offset=_BLOCK_HEADER.size)
    t_s = arr[:n]
    acc = arr[n:4 * n].reshape(n, 3)
    gyr = arr[4 * n:7 * n].reshape(n, 3) if has_gyro else None
    return t_s, acc, gyr, bool(flags & _FLAG_GAP)


def _log_time_ns(t_s: float) -> int:
    if not math.isfinite(t_s) or t_s <= 0:
        return 0
    return min(int(round(t_s * 1e9)), 2**63 - 1)


class McapRecorder:
    """Write a recording as it happens: decoded blocks plus raw notification bytes.

    ``McapRecorder(path, metadata=None, flush_interval_s=0.5)``; use as a context manager or call
    :meth:`close`. Each sensor gets a channel the first time one of its blocks arrives (or
    when :meth:`add_sensor` declares it, with its metadata); each device sending raw bytes gets
    its own raw channel. While data keeps arriving, the open chunk is ended and written to disk
    (flush + fsync) at least every ``flush_interval_s`` seconds of wall time, so a crash loses at
    most that much. Not thread-safe: call it from one thread (e.g. the asyncio loop).
    """

    def __init__(self, path: str | Path, metadata: Mapping[str, str] | None = None,
                 flush_interval_s: float = 0.5, fsync: bool = True):
        if not flush_interval_s > 0:
            raise ImuHipError(f"flush_interval_s must be positive, got {flush_interval_s}")
        if not hasattr(Writer, "flush"):
            raise ImuHipError("imu-hip needs mcap >= 1.6 (Writer.flush) to record safely; "
                              "upgrade the mcap package")
        self.path = str(path)
        try:
            self._file: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as err:
            raise ImuHipError(f"cannot create the recording file {self.path}: "
                              f"{err.strerror or err}") from None
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile="", library=_LIBRARY)
        if metadata:
            self._writer.add_metadata(RECORDING_METADATA_NAME,
                                      {str(k): str(v) for k, v in metadata.items()})
        self._sensors: dict[str, tuple[int, str, bool]] = {}
        self._devices: dict[str, int] = {}
        self._flush_interval_s = float(flush_interval_s)
        self._fsync = fsync
        self._sequence = 0
        self._last_flush = time.monotonic()
        self._closed = False
        self.flush()

    def add_sensor(self, sensor_id: str, placement: str, rate_hz: float, has_gyro: bool,
                   metadata: Mapping[str, str] | None = None) -> None:
        """Declare a sensor's channel (optional: the first block declares it too)."""
        self._check_open()
        if sensor_id in self._sensors:
            raise ImuHipError(f"sensor {sensor_id!r} is already declared in {self.path}")
        if placement not in PLACEMENTS:
            raise ImuHipError(f"unknown placement {placement!r}; expected one of "
                              f"{', '.join(PLACEMENTS)}")
        meta = {"sensor_id": sensor_id, "placement": placement,
                "rate_hz": repr(float(rate_hz)), "has_gyro": "true" if has_gyro else "false",
                "units": UNITS}
        for key, value in (metadata or {}).items():
            meta[f"meta.{key}"] = str(value)
        channel = self._writer.register_channel(topic=f"imu/{sensor_id}",
                                                message_encoding=BLOCK_ENCODING, schema_id=0,
                                                metadata=meta)
        self._sensors[sensor_id] = (channel, placement, has_gyro)

    def write_block(self, block: Block) -> None:
        """Append one decoded block (samples of one sensor, in time order)."""
        self._check_open()
        if block.sensor_id not in self._sensors:
            self.add_sensor(block.sensor_id, block.placement, block.rate_hz,
                            block.gyr_rads is not None)
        channel, placement, has_gyro = self._sensors[block.sensor_id]
        if block.placement != placement or (block.gyr_rads is not None) != has_gyro:
            raise ImuHipError(f"block of sensor {block.sensor_id!r} does not match its channel "
                              f"(placement {block.placement} vs {placement}, angular rate "
                              f"{block.gyr_rads is not None} vs {has_gyro})")
        if len(block) == 0:
            return
        stamp = _log_time_ns(float(block.t_s[0]))
        self._add(channel, stamp, encode_block(block))

    def add_device(self, device_id: str, metadata: Mapping[str, str] | None = None) -> None:
        """Declare a device's raw channel with metadata (e.g. ``protocol``, so the bytes can be
        decoded again; optional: the first :meth:`write_raw` declares it without)."""
        self._check_open()
        if device_id in self._devices:
            raise ImuHipError(f"device {device_id!r} is already declared in {self.path}")
        meta = {str(k): str(v) for k, v in (metadata or {}).items()}
        meta["device_id"] = device_id
        self._devices[device_id] = self._writer.register_channel(
            topic=f"raw/{device_id}", message_encoding=RAW_ENCODING, schema_id=0, metadata=meta)

    def write_raw(self, device_id: str, received_at_s: float, data: bytes) -> None:
        """Append one raw notification (the bytes exactly as received) on the device's channel."""
        self._check_open()
        if device_id not in self._devices:
            self.add_device(device_id)
        channel = self._devices[device_id]
        self._add(channel, _log_time_ns(received_at_s),
                  _RAW_HEADER.pack(float(received_at_s)) + bytes(data))

    def _add(self, channel: int, stamp: int, payload: bytes) -> None:
        self._writer.add_message(channel_id=channel, log_time=stamp, publish_time=stamp,
                                 data=payload, sequence=self._sequence & 0xFFFFFFFF)
        self._sequence += 1
        if time.monotonic() - self._last_flush >= self._flush_interval_s:
            self.flush()

    def flush(self) -> None:
        """End the open chunk and put everything written so far on disk."""
        self._check_open()
        self._writer.flush()
        if self._fsync:
            os.fsync(self._file.fileno())
        self._last_flush = time.monotonic()

    def add_metadata(self, metadata: Mapping[str, str]) -> None:
        """Add recording metadata (merged with what the file already holds, later keys win),
        e.g. the link quality of a session at its end."""
        self._check_open()
        self._writer.add_metadata(RECORDING_METADATA_NAME,
                                  {str(k): str(v) for k, v in metadata.items()})

    def close(self) -> None:
        """Write the index and footer and close the file (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.finish()
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
        finally:
            self._file.close()

    def abort(self) -> None:
        """Close the file without writing anything more (after a failed write: what was
        flushed before stays readable; the index and footer are not written)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._file.close()
        except OSError:
            pass

    def _check_open(self) -> None:
        if self._closed:
            raise ImuHipError(f"recorder for {self.path} is closed")

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def write_mcap(recording: Recording, path: str | Path, block_size: int = 4096) -> None:
    """Write a whole recording as an MCAP file (blocks of all sensors interleaved in time)."""
    if not isinstance(recording, Recording):
        raise ImuHipError(f"write_mcap(recording, path): expected a Recording first, got "
                          f"{type(recording).__name__}")
    if block_size < 1:
        raise ImuHipError(f"block size must be at least 1, got {block_size}")
    pieces: list[tuple[float, int, int, int]] = []
    for k, s in enumerate(recording.sensors):
        for i in range(0, len(s), block_size):
            pieces.append((float(s.t_s[i]), k, i, min(i + block_size, len(s))))
    pieces.sort(key=lambda p: (p[0] if math.isfinite(p[0]) else math.inf, p[1], p[2]))
    with McapRecorder(path, metadata=recording.metadata, fsync=False) as rec:
        for s in recording.sensors:
            rec.add_sensor(s.sensor_id, s.placement, s.rate_hz, s.has_gyro, s.metadata)
        for _, k, i, j in pieces:
            rec.write_block(recording.sensors[k].block(i, j))


def read_mcap(path: str | Path) -> Recording:
    """Read the decoded sensor streams of an imu-hip MCAP file.

    A file cut off mid-write opens anyway: every sample of every complete chunk is returned and
    ``metadata["truncated"] == "true"`` with ``metadata["truncated_detail"]`` saying where. Raw
    channels are skipped (see :func:`read_raw`). Raises :class:`InputError` for files that are
    not MCAP or hold malformed imu-hip channels. Content checks are in
    :func:`imu_hip.io.validate_recording`.
    """
    source = str(path)
    channels: dict[int, Channel] = {}
    parts: dict[int, list[bytes]] = {}
    rec_meta: dict[str, str] = {}
    damage = None
    for record in _iter_records(path, source):
        if isinstance(record, str):
            damage = record
            break
        if isinstance(record, Channel):
            if record.message_encoding == BLOCK_ENCODING:
                channels.setdefault(record.id, record)
                parts.setdefault(record.id, [])
        elif isinstance(record, Message):
            if record.channel_id in parts:
                parts[record.channel_id].append(record.data)
        elif isinstance(record, Metadata) and record.name == RECORDING_METADATA_NAME:
            rec_meta.update(record.metadata)

    sensors = [_sensor_from_channel(channels[cid], parts[cid], source)
               for cid in sorted(channels)]
    if damage is not None:
        rec_meta["truncated"] = "true"
        rec_meta["truncated_detail"] = damage
    return Recording(sensors=sensors, metadata=rec_meta)


def read_raw(path: str | Path) -> list[tuple[str, float, bytes]]:
    """Every raw notification in an imu-hip MCAP file: (device_id, received_at_s, bytes).

    In file order; a truncated file gives the notifications of its complete chunks.
    """
    source = str(path)
    devices: dict[int, str] = {}
    out: list[tuple[str, float, bytes]] = []
    for record in _iter_records(path, source):
        if isinstance(record, str):
            break
        if isinstance(record, Channel) and record.message_encoding == RAW_ENCODING:
            devices.setdefault(record.id, record.metadata.get("device_id",
                                                              record.topic.removeprefix("raw/")))
        elif isinstance(record, Message) and record.channel_id in devices:
            if len(record.data) < _RAW_HEADER.size:
                raise InputError(source, f"raw message on {devices[record.channel_id]!r} is "
                                 "shorter than its 8-byte time header")
            (received,) = _RAW_HEADER.unpack_from(record.data)
            out.append((devices[record.channel_id], received,
                        bytes(record.data[_RAW_HEADER.size:])))
    return out


def read_raw_devices(path: str | Path) -> dict[str, dict[str, str]]:
    """The raw channels of an imu-hip MCAP file: device id -> channel metadata (untrusted)."""
    out: dict[str, dict[str, str]] = {}
    for record in _iter_records(path, str(path)):
        if isinstance(record, str):
            break
        if isinstance(record, Channel) and record.message_encoding == RAW_ENCODING:
            device_id = record.metadata.get("device_id", record.topic.removeprefix("raw/"))
            out.setdefault(device_id, dict(record.metadata))
    return out


def _sensor_from_channel(channel: Channel, payloads: list[bytes], source: str) -> SensorRecording:
    meta = channel.metadata
    sensor_id = meta.get("sensor_id", channel.topic.removeprefix("imu/"))
    what = f"channel {channel.topic!r}"
    placement = meta.get("placement", "unknown")
    if placement not in PLACEMENTS:
        raise InputError(source, f"{what}: unknown placement {placement[:40]!r}")
    try:
        rate_hz = float(meta.get("rate_hz", "nan"))
    except ValueError:
        raise InputError(source, f"{what}: rate_hz {meta['rate_hz'][:30]!r} is not a "
                         "number") from None
    has_gyro = meta.get("has_gyro", "false") == "true"
    ts, accs, gyrs = [], [], []
    for k, data in enumerate(payloads):
        try:
            t_s, acc, gyr, _ = decode_block(data)
        except ValueError as err:
            raise InputError(source, f"{what}, message {k}: {err}") from None
        if (gyr is not None) != has_gyro:
            raise InputError(source, f"{what}, message {k}: angular rate "
                             f"{'present' if gyr is not None else 'missing'} but the channel "
                             f"says has_gyro={meta.get('has_gyro')}")
        ts.append(t_s)
        accs.append(acc)
        if gyr is not None:
            gyrs.append(gyr)
    user_meta = {k[len("meta."):]: v for k, v in meta.items() if k.startswith("meta.")}
    return SensorRecording(
        sensor_id=sensor_id, placement=placement, rate_hz=rate_hz,
        t_s=np.concatenate(ts) if ts else np.empty(0),
        acc_mps2=np.concatenate(accs) if accs else np.empty((0, 3)),
        gyr_rads=(np.concatenate(gyrs) if gyrs else np.empty((0, 3))) if has_gyro else None,
        metadata=user_meta,
    )


class _Capped:
    """File reader that reports end of file at ``limit`` (used to stop before a cut record)."""

    def __init__(self, f: IO[bytes], limit: int):
        self._f = f
        self._left = limit - f.tell()

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        self._left -= len(data)
        return data


def _scan_complete(f: IO[bytes], size: int) -> tuple[int, bool]:
    """Byte offset where the last complete record ends, and whether the footer was reached."""
    pos = len(MCAP_MAGIC)
    while pos + _RECORD_HEADER.size <= size:
        f.seek(pos)
        opcode, length = _RECORD_HEADER.unpack(f.read(_RECORD_HEADER.size))
        end = pos + _RECORD_HEADER.size + length
        if end > size:
            break
        pos = end
        if opcode == _OPCODE_FOOTER:
            return pos, True
    return pos, False


def _iter_records(path: str | Path, source: str) -> Iterator[Any]:
    """MCAP records of the file in order, chunks opened; a ``str`` last if the file is damaged.

    Records are read only up to the end of the last complete one, so a cut-off file never
    makes the reader fail; a chunk whose CRC does not match ends the scan too.
    """
    with open_input(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(len(MCAP_MAGIC))
        if head != MCAP_MAGIC:
            if len(head) < len(MCAP_MAGIC) and MCAP_MAGIC.startswith(head):
                yield f"file ends at byte {size}, inside the MCAP magic: no data was saved"
                return
            raise InputError(source, "not an MCAP file (wrong magic bytes)")
        end, complete = _scan_complete(f, size)
        pos_note = None
        if end < size and not complete:
            pos_note = (f"file cut off (or damaged) inside a record at byte {end} of {size}; "
                        "everything after the last complete chunk is lost")
        elif not complete:
            pos_note = (f"file ends at byte {size} without the MCAP summary and footer (the "
                        "recording was not closed); every flushed chunk is kept")
        elif f.seek(end) != end or f.read(len(MCAP_MAGIC)) != MCAP_MAGIC:
            pos_note = (f"file ends at byte {size}, inside its closing magic bytes; all data is "
                        "present")
        f.seek(0)
        reader = StreamReader(_Capped(f, end), emit_chunks=True)
        records = reader.records
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as err:  # noqa: BLE001 - any decoding failure ends the data
                if f.tell() >= end and not complete:
                    break  # the capped stream ran out: the expected end of a cut file
                yield (f"damaged record near byte {f.tell()} of {size} "
                       f"({type(err).__name__}); data after it is ignored")
                return
            if isinstance(record, Chunk):
                try:
                    inner = breakup_chunk(record, validate_crc=True)
                except Exception as err:  # noqa: BLE001 - bad CRC, bad compression, ...
                    yield (f"damaged chunk before byte {f.tell()} of {size} "
                           f"({type(err).__name__}); data from it on is ignored")
                    return
                yield from inner
            elif isinstance(record, Footer):
                break
            else:
                yield record
        if pos_note is not None:
            yield pos_note
