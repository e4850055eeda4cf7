"""Polar Measurement Data (PMD): Verity Sense acc + gyro, H10 acc.

Facts from Polar's BLE SDK (github.com/polarofficial/polar-ble-sdk: the PMD specification
``technical_documentation/Polar_Measurement_Data_Specification.pdf``, ``TimeSystemExplained.md``,
and the byte layouts exercised by its unit tests, e.g. ``AccDataTest.kt``, ``GyrDataTest.kt``):

- Service ``FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8``; control point ``...5C81`` (write, indicate);
  data ``...5C82`` (notify).
- Control point commands: ``01 <type>`` get settings, ``02 <type> <settings>`` start, ``03 <type>``
  stop. Settings are ``<setting type u8> <count u8> <values LE>``: sample rate (0, u16),
  resolution (1, u16), range (2, u16), range in milli-units (3, u32), channels (4, u8),
  factor (5, float32). Responses are ``F0 <op> <type> <status> <more> <settings...>``; the start
  response may carry the FACTOR the compressed samples must be multiplied by.
- Measurement types: ECG 0, PPG 1, ACC 2, PPI 3, GYRO 5, MAG 6.
- Data frame: ``<type u8> <timestamp u64 LE, ns since 2000-01-01T00:00:00Z of the LAST sample>
  <frame type u8: bit 7 = delta-compressed, bits 0-6 = frame type> <content>``.
- Uncompressed ACC frame types 0, 1, 2: int8 / int16 / int24 x, y, z in mG.
- Compressed frames: a reference sample (one signed value per channel, 16 bits, or float32 for
  GYRO type 1) followed by delta blocks ``<bit width u8> <count u8> <count x channels signed
  deltas of bit width, packed LSB first>``, each delta added to the previous sample. ACC
  compressed type 0 is in G x factor, ACC compressed type 1 in mG (x factor), GYRO compressed
  type 0 in °/s x factor, GYRO compressed type 1 float32 (deltas added to the bit patterns) in °/s
  x factor.

Per-sample device times: the frame's timestamp is the last sample's; earlier samples are spaced
at the stream's sample rate. That rate is the one of the start command the sensor accepted
(negotiated: known from the start responses when the session feeds the control point's
indications to the decoder, as :data:`PROFILE` asks); timestamps then only reveal lost frames
(the orderer's job) and never change it. Without a start response the rate is guessed (200 Hz
for uncompressed ACC (H10), 52 Hz for compressed frames (Verity Sense); after a refused start,
the type's next start command's rate) and measured from the timestamps of consecutive frames
(samples / timestamp difference, snapped to the nearest rate a Polar sensor offers). PMD frames
carry no sequence number, so one lost frame doubles the timestamp difference: a measurement of
a whole fraction (1/2, 1/3 ...) of the current rate is taken as lost frames, and adopted only
when the next frame confirms it. A notification may also be a control-point response: it is
parsed (FACTOR, accepted rate) and never counted as malformed.

ACC blocks carry ``acc_mps2`` only and GYRO blocks ``gyr_rads`` only: the two streams have their
own timestamps; ``seq`` is None (PMD has no sequence numbers).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

import numpy as np

from imu_hip.model import G
from imu_hip.protocols.base import DecodedBlock, Decoder, GattProfile

NAME = "polar-pmd"
SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

ECG, PPG, ACC, PPI, GYRO, MAG = 0, 1, 2, 3, 5, 6
OP_GET_SETTINGS, OP_START, OP_STOP = 0x01, 0x02, 0x03
RESPONSE_CODE = 0xF0
SET_SAMPLE_RATE, SET_RESOLUTION, SET_RANGE, SET_RANGE_MILLI, SET_CHANNELS, SET_FACTOR = range(6)
_SETTING_SIZE = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}

#: Seconds from the Unix epoch to the PMD epoch (2000-01-01T00:00:00Z).
PMD_EPOCH_UNIX_S = 946_684_800
HEADER_SIZE = 10
#: Sample rates Polar sensors offer for ACC / GYRO (H10: 25-200; Verity Sense: 26-416).
KNOWN_RATES_HZ = (25.0, 26.0, 50.0, 52.0, 100.0, 104.0, 200.0, 208.0, 416.0)
MAX_SAMPLES_PER_FRAME = 65536

MG_TO_MPS2 = 1e-3 * G
DPS_TO_RADS = math.pi / 180.0


def encode_setting(kind: int, value: int | float) -> bytes:
    """One setting ``<type> <count=1> <value LE>`` (float32 for FACTOR), as in start commands
    and start responses."""
    if kind == SET_FACTOR:
        return bytes((kind, 1)) + struct.pack("<f", value)
    return bytes((kind, 1)) + int(value).to_bytes(_SETTING_SIZE[kind], "little")


def cmd_get_settings(meas_type: int) -> bytes:
    """Ask which settings a measurement type offers."""
    return bytes((OP_GET_SETTINGS, meas_type))


def cmd_start(meas_type: int, sample_rate_hz: int, range_: int | None = None,
              resolution: int = 16, channels: int | None = 3) -> bytes:
    """Start a measurement with sample rate, resolution, range (g or °/s) and channels."""
    out = bytes((OP_START, meas_type)) + encode_setting(SET_SAMPLE_RATE, sample_rate_hz)
    out += encode_setting(SET_RESOLUTION, resolution)
    if range_ is not None:
        out += encode_setting(SET_RANGE, range_)
    if channels is not None:
        out += encode_setting(SET_CHANNELS, channels)
    return out


def cmd_stop(meas_type: int) -> bytes:
    return bytes((OP_STOP, meas_type))


def parse_settings(data: bytes) -> dict[int, list[float]]:
    """Settings list ``<type> <count> <values>`` -> {setting type: values}; stops at bad bytes."""
    out: dict[int, list[float]] = {}
    i = 0
    while i + 2 <= len(data):
        kind, count = data[i], data[i + 1]
        size = _SETTING_SIZE.get(kind)
        i += 2
        if size is None or i + size * count > len(data):
            break
        vals: list[float] = []
        for _ in range(count):
            chunk = data[i:i + size]
            vals.append(struct.unpack("<f", chunk)[0] if kind == SET_FACTOR
                        else int.from_bytes(chunk, "little"))
            i += size
        out.setdefault(kind, []).extend(vals)
    return out


@dataclass(frozen=True)
class ControlResponse:
    """A parsed control-point response (status 0 = success)."""

    op: int
    meas_type: int
    status: int
    more: bool
    settings: dict[int, list[float]] = field(default_factory=dict)


def parse_control_response(data: bytes) -> ControlResponse | None:
    """Parse ``F0 <op> <type> <status> [<more> <settings>]``; None if it is not one."""
    data = bytes(data)
    if len(data) < 4 or data[0] != RESPONSE_CODE:
        return None
    status = data[3]
    more = status == 0 and len(data) > 4 and data[4] != 0
    settings = parse_settings(data[5:]) if status == 0 and len(data) > 5 else {}
    return ControlResponse(data[1], data[2], status, more, settings)


# ------------------------------------------------------------------------- frame content parsers


class _Malformed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement reinterpretation of unsigned ``bits``-bit integers (int64 array)."""
    if bits == 0:
        return values
    half = np.int64(1) << (bits - 1)
    return np.where(values >= half, values - (np.int64(1) << bits), values)


def decode_delta_frame(content: bytes, channels: int, ref_bits: int) -> np.ndarray:
    """Delta-compressed content -> (n, channels) int64 samples (raw units, before any factor).

    ``ref_bits`` is the size of each reference value (16, or 32 for float32 bit patterns, which
    are summed modulo 2^32 like the device does).
    """
    ref_bytes = ref_bits // 8
    if len(content) < channels * ref_bytes:
        raise _Malformed("short")
    ref = np.frombuffer(content, dtype=np.uint8, count=channels * ref_bytes)
    ref_u = np.zeros(channels, dtype=np.int64)
    for k in range(ref_bytes):
        ref_u |= ref[k::ref_bytes].astype(np.int64) << (8 * k)
    pieces = [_signed(ref_u, ref_bits)[None, :]]
    total = 1
    i = channels * ref_bytes
    while i < len(content):
        if i + 2 > len(content):
            raise _Malformed("truncated")
        width, count = content[i], content[i + 1]
        i += 2
        if width > 32:
            raise _Malformed("bad_delta_width")
        nbits = width * count * channels
        nbytes = (nbits + 7) // 8
        if i + nbytes > len(content):
            raise _Malformed("truncated")
        if count == 0:
            continue
        total += count
        if total > MAX_SAMPLES_PER_FRAME:
            raise _Malformed("too_many_samples")
        if width == 0:
            pieces.append(np.zeros((count, channels), dtype=np.int64))
            continue
        bits = np.unpackbits(np.frombuffer(content, dtype=np.uint8, count=nbytes, offset=i),
                             bitorder="little")[:nbits].reshape(-1, width).astype(np.int64)
        vals = bits @ (np.int64(1) << np.arange(width, dtype=np.int64))
        pieces.append(_signed(vals, width).reshape(count, channels))
        i += nbytes
    samples = np.cumsum(np.concatenate(pieces), axis=0)
    if ref_bits == 32:
        samples = samples & 0xFFFFFFFF  # bit patterns wrap like uint32 sums
    return samples


def _raw_frame(content: bytes, size: int, channels: int = 3) -> np.ndarray:
    step = size * channels
    if len(content) == 0 or len(content) % step:
        raise _Malformed("bad_length")
    b = np.frombuffer(content, dtype=np.uint8).reshape(-1, channels, size).astype(np.int64)
    vals = sum(b[:, :, k] << (8 * k) for k in range(size))
    return _signed(np.asarray(vals), 8 * size)


class PolarPmdDecoder(Decoder):
    """Stateful PMD decoder: per-type sample rate, factor and previous timestamp.

    ``rates_hz`` / ``ranges``: what the start commands asked for, per measurement type (default
    rates: 200 Hz for uncompressed ACC frames (H10), 52 Hz for compressed ones (Verity Sense), as
    :data:`PROFILE` starts them; ranges 8 g, 2000 °/s); ``factors``: FACTOR per measurement
    type when already known (otherwise taken from a start response fed to :meth:`feed`, else
    range / 32768 for compressed type 0).
    """

    name = NAME

    def __init__(self, sensor_id: str = "", rates_hz: dict[int, float] | None = None,
                 ranges: dict[int, float] | None = None,
                 factors: dict[int, float] | None = None) -> None:
        super().__init__(sensor_id)
        # until a stream's rate is measured: H10 (uncompressed ACC) 200 Hz, Verity Sense 52 Hz
        self._rate_hz: dict[tuple[int, bool], float] = {
            (ACC, False): 200.0, (ACC, True): 52.0, (GYRO, True): 52.0, (GYRO, False): 52.0}
        for t, r in (rates_hz or {}).items():
            self._rate_hz[(t, False)] = self._rate_hz[(t, True)] = float(r)
        self.ranges = {ACC: 8.0, GYRO: 2000.0, **(ranges or {})}
        self.factors: dict[int, float] = dict(factors or {})
        self.responses: list[ControlResponse] = []
        # the rates PROFILE's start commands ask for, in order, per measurement type: the n-th
        # start response of a type answers the n-th of them (cyclically: a reconnect repeats
        # the commands), so a success tells which rate the sensor accepted
        self._start_rates: dict[int, list[float]] = {}
        for cmd in PROFILE_START_COMMANDS:
            rate = parse_settings(cmd[2:]).get(SET_SAMPLE_RATE, [0])[0]
            self._start_rates.setdefault(cmd[1], []).append(float(rate))
        self._start_count: dict[int, int] = {}
        self._last_ts: dict[tuple[int, int], int] = {}
        #: streams whose rate a start response fixed / that were measured from timestamps
        self._negotiated: set[int] = set()
        self._measured: set[tuple[int, bool]] = set()
        #: a lower rate seen once (lost frames, or really the rate: the next frame tells)
        self._pending_rate: dict[tuple[int, bool], float] = {}

    def _set_rate(self, meas_type: int, rate_hz: float) -> None:
        for compressed in (False, True):
            self._rate_hz[(meas_type, compressed)] = float(rate_hz)
            self._measured.discard((meas_type, compressed))
            self._pending_rate.pop((meas_type, compressed), None)

    def _factor(self, meas_type: int) -> float | None:
        return self.factors.get(meas_type)

    def _samples(self, meas_type: int, frame_type: int, content: bytes) -> np.ndarray:
        """(n, 3) SI samples of one frame (m/s² for ACC, rad/s for GYRO)."""
        compressed, ftype = bool(frame_type & 0x80), frame_type & 0x7F
        factor = self._factor(meas_type)
        if meas_type == ACC:
            if not compressed:
                if ftype > 2:
                    raise _Malformed("unsupported_frame_type")
                return _raw_frame(content, ftype + 1) * MG_TO_MPS2
            if ftype == 0:  # G x factor
                f = factor if factor is not None else self.ranges[ACC] / 32768.0
                return decode_delta_frame(content, 3, 16) * (f * G)
            if ftype == 1:  # mG x factor
                return decode_delta_frame(content, 3, 16) * ((factor or 1.0) * MG_TO_MPS2)
            raise _Malformed("unsupported_frame_type")
        if meas_type == GYRO and compressed:
            if ftype == 0:  # deg/s x factor
                f = factor if factor is not None else self.ranges[GYRO] / 32768.0
                return decode_delta_frame(content, 3, 16) * (f * DPS_TO_RADS)
            if ftype == 1:  # float32 deg/s x factor
                bits = decode_delta_frame(content, 3, 32).astype(np.uint32)
                vals = bits.view(np.float32).astype(np.float64)
                return vals * ((factor or 1.0) * DPS_TO_RADS)
        raise _Malformed("unsupported_frame_type")

    def _rate(self, meas_type: int, frame_type: int, ts_ns: int, n: int) -> float:
        """The stream's sample rate for a frame of ``n`` samples whose last one is at ``ts_ns``
        (see the module doc: negotiated, else guessed and measured from consecutive frames)."""
        key = (meas_type, frame_type)
        rkey = (meas_type, bool(frame_type & 0x80))
        prev = self._last_ts.get(key)
        if prev is None or ts_ns > prev:
            self._last_ts[key] = ts_ns
        rate = self._rate_hz[rkey]
        if meas_type in self._negotiated or prev is None or ts_ns <= prev:
            return rate
        est = n / ((ts_ns - prev) * 1e-9)
        nearest = min(KNOWN_RATES_HZ, key=lambda r: abs(r - est))
        if abs(nearest - est) > 0.03 * nearest:
            self._pending_rate.pop(rkey, None)
            return rate  # no rate a Polar sensor offers: a hole of a fraction of a frame ...
        if nearest == rate:
            self._measured.add(rkey)
            self._pending_rate.pop(rkey, None)
            return rate
        ratio = rate / nearest
        looks_lost = ratio > 1.5 and abs(ratio - round(ratio)) <= 0.03 * ratio
        if looks_lost and rkey in self._measured and self._pending_rate.get(rkey) != nearest:
            self._pending_rate[rkey] = nearest  # a whole frame or more lost; unless it repeats
            return rate
        self._pending_rate.pop(rkey, None)
        self._measured.add(rkey)
        self._rate_hz[rkey] = nearest
        return nearest

    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        self.stats.notifications += 1
        self.stats.bytes += len(data)
        data = bytes(data)
        if data[:1] == bytes((RESPONSE_CODE,)):
            resp = parse_control_response(data)
            if resp is None:
                self.stats.malformed["short"] += 1
                return []
            self.responses = (self.responses + [resp])[-32:]
            if resp.op == OP_START and resp.meas_type in self._start_rates:
                asked = self._start_rates[resp.meas_type]
                k = self._start_count.get(resp.meas_type, 0)
                self._start_count[resp.meas_type] = k + 1
                r = asked[k % len(asked)]
                if resp.status == 0 and r > 0:
                    self._set_rate(resp.meas_type, r)
                    self._negotiated.add(resp.meas_type)
                elif resp.status != 0 and resp.meas_type not in self._negotiated and \
                        k % len(asked) + 1 < len(asked) and asked[k % len(asked) + 1] > 0:
                    # refused: the next start command of this type is on its way, and its
                    # frames may arrive before its response
                    self._set_rate(resp.meas_type, asked[k % len(asked) + 1])
            if resp.op == OP_START and resp.status == 0 and SET_FACTOR in resp.settings:
                f = resp.settings[SET_FACTOR][-1]
                if math.isfinite(f) and f > 0:
                    self.factors[resp.meas_type] = f
            return []
        if len(data) < HEADER_SIZE + 1:
            self.stats.malformed["short"] += 1
            return []
        meas_type, frame_type = data[0], data[9]
        if meas_type not in (ACC, GYRO):
            self.stats.malformed["unsupported_type"] += 1
            return []
        try:
            x = self._samples(meas_type, frame_type, data[HEADER_SIZE:])
        except _Malformed as e:
            self.stats.malformed[e.reason] += 1
            return []
        except Exception:  # noqa: BLE001 - feed never raises
            self.stats.malformed["internal_error"] += 1
            return []
        if not np.all(np.isfinite(x)):
            self.stats.malformed["non_finite"] += 1
            return []
        n = x.shape[0]
        ts_ns = int.from_bytes(data[1:9], "little")
        rate = self._rate(meas_type, frame_type, ts_ns, n)
        t = ts_ns * 1e-9 - (n - 1 - np.arange(n)) / rate
        self.stats.samples += n
        return [DecodedBlock(
            sensor_id=self.sensor_id,
            rate_hz=rate,
            received_at=received_at,
            seq=None,
            device_t_s=t,
            acc_mps2=x if meas_type == ACC else None,
            gyr_rads=x if meas_type == GYRO else None,
        )]


DECODER = PolarPmdDecoder


def encode_frame(meas_type: int, ts_ns: int, counts: np.ndarray, frame_type: int = 0x01) -> bytes:
    """An uncompressed data frame (emulated devices, tests): int8/16/24 samples by frame type."""
    c = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    size = (frame_type & 0x7F) + 1
    raw = b"".join(int(v).to_bytes(size, "little", signed=True) for v in c.ravel())
    return bytes((meas_type,)) + int(ts_ns).to_bytes(8, "little") + bytes((frame_type,)) + raw


def encode_delta_frame(meas_type: int, ts_ns: int, counts: np.ndarray, frame_type: int = 0x80,
                       block: int = 255) -> bytes:
    """A delta-compressed frame of int16 samples (n, 3): minimal bit width per block of samples."""
    c = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    out = bytearray((meas_type,)) + int(ts_ns).to_bytes(8, "little") + bytes((frame_type,))
    out += b"".join(int(v).to_bytes(2, "little", signed=True) for v in c[0])
    d = np.diff(c, axis=0)
    for s in range(0, d.shape[0], block):
        part = d[s:s + block]
        m = int(np.max(np.abs(part))) if part.size else 0
        width = 0 if m == 0 else max(1, int(m).bit_length() + 1)
        out += bytes((width, part.shape[0]))
        if width:
            u = part.ravel() & ((1 << width) - 1)
            bits = ((u[:, None] >> np.arange(width)) & 1).astype(np.uint8).ravel()
            out += np.packbits(bits, bitorder="little").tobytes()
    return bytes(out)


# H10 takes ACC at 200 Hz with rate, resolution and range only (it offers no channel setting;
# Verity Sense refuses the rate: "invalid sample rate"); Verity Sense takes ACC and GYRO at 52 Hz
# with 3 channels (H10 answers "already in state" / "not supported"). The decoder learns the
# accepted rate from the start responses and re-estimates it from the timestamps.
PROFILE_START_COMMANDS = (cmd_start(ACC, 200, 8, channels=None), cmd_start(ACC, 52, 8),
                          cmd_start(GYRO, 52, 2000))

PROFILE = GattProfile(
    protocol=NAME,
    service_uuids=(SERVICE_UUID,),
    # the control point is subscribed too, so start responses (FACTOR) reach the decoder
    notify_uuids=(DATA_UUID, CONTROL_UUID),
    control_uuid=CONTROL_UUID,
    start_commands=PROFILE_START_COMMANDS,
    stop_commands=(cmd_stop(ACC), cmd_stop(GYRO)),
    name_prefixes=("Polar Sense", "Polar H10", "Polar Verity", "Polar OH1", "Polar H9"),
)
