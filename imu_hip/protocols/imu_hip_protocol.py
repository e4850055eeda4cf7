"""The open ``imu-hip`` BLE protocol (version 1): data frames, control commands, responses.

Specified in ``devices/PROTOCOL.md``; the portable C encoder in ``devices/firmware/`` and this
module must produce the golden bytes in ``devices/vectors/``.
All multi-byte fields are little-endian.

Data frame (one notification on :data:`DATA_UUID`, ``15 + 12 n`` bytes)::

    0  u8   version (1)            7  ...
    1  u8   sensor id              10 u8   n, samples in this frame (>= 1)
    2  u16  sequence number        11 u8   rate code (RATE_HZ)
    4  u48  device time of the     12 u8   range codes: acc (bits 0-3), gyro (bits 4-7)
            first sample (us)      13 i16  n x (ax, ay, az, gx, gy, gz), raw counts
                                   end u16 CRC-16/CCITT-FALSE over every byte before it

At MTU 247 (244-byte notifications) a frame carries 19 samples in 243 bytes.
"""

from __future__ import annotations

import math
import struct
from binascii import crc_hqx
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from imu_hip.model import G, ImuHipError
from imu_hip.protocols.base import DecodedBlock, Decoder, GattProfile

NAME = "imu-hip"
VERSION = 1

SERVICE_UUID = "bb220001-3562-455a-a39d-146e0e7b8983"
DATA_UUID = "bb220002-3562-455a-a39d-146e0e7b8983"  # notify: data frames
CONTROL_UUID = "bb220003-3562-455a-a39d-146e0e7b8983"  # write with response: commands
RESPONSE_UUID = "bb220004-3562-455a-a39d-146e0e7b8983"  # notify: command responses

HEADER_SIZE = 13
CRC_SIZE = 2
SAMPLE_SIZE = 12
FRAME_OVERHEAD = HEADER_SIZE + CRC_SIZE
SEQ_MOD = 1 << 16
TIME_MOD = 1 << 48  # device time wraps after 2^48 us = 8.9 years

#: Rate code -> output data rate (Hz). 1-8: binary steps from 12.5 Hz; 9-15: the ST (LSM6)
#: family's rates; 16-17: round rates of other parts.
RATE_HZ: dict[int, float] = {
    1: 12.5, 2: 25.0, 3: 50.0, 4: 100.0, 5: 200.0, 6: 400.0, 7: 800.0, 8: 1600.0,
    9: 26.0, 10: 52.0, 11: 104.0, 12: 208.0, 13: 416.0, 14: 833.0, 15: 1666.0,
    16: 500.0, 17: 1000.0,
}
#: Accelerometer range code -> full scale (g): 2 << code.
ACC_RANGE_G: dict[int, int] = {c: 2 << c for c in range(5)}
#: Gyroscope range code -> full scale (deg/s): 125 << code.
GYR_RANGE_DPS: dict[int, int] = {c: 125 << c for c in range(6)}

_HEADER = struct.Struct("<BBHIHBBB")


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0; check 0x29B1)."""
    return crc_hqx(data, crc)


def max_samples(mtu: int = 247) -> int:
    """Samples per frame that fit one notification at ATT ``mtu`` (notification = mtu - 3)."""
    return max(0, min(255, (mtu - 3 - FRAME_OVERHEAD) // SAMPLE_SIZE))


def payload_share(mtu: int = 247) -> float:
    """Sample bytes / notification capacity (mtu - 3) for full frames at ``mtu``."""
    return max_samples(mtu) * SAMPLE_SIZE / (mtu - 3)


def _code_for(table: dict[int, float] | dict[int, int], value: float, what: str) -> int:
    for code, v in table.items():
        if v == value:
            return code
    known = ", ".join(f"{v:g}" for v in table.values())
    raise ImuHipError(f"imu-hip: unsupported {what} {value!r}; supported: {known}")


def rate_code(rate_hz: float) -> int:
    """The rate code of ``rate_hz`` (exact match); :class:`ImuHipError` if none."""
    return _code_for(RATE_HZ, float(rate_hz), "rate (Hz)")


def acc_range_code(range_g: float) -> int:
    """The accelerometer range code of ``range_g`` (full scale, g)."""
    return _code_for(ACC_RANGE_G, range_g, "accelerometer range (g)")


def gyr_range_code(range_dps: float) -> int:
    """The gyroscope range code of ``range_dps`` (full scale, deg/s)."""
    return _code_for(GYR_RANGE_DPS, range_dps, "gyroscope range (deg/s)")


def acc_scale_mps2(code: int) -> float:
    """m/s² per count for accelerometer range code ``code`` (full scale / 32768)."""
    return ACC_RANGE_G[code] * G / 32768.0


def gyr_scale_rads(code: int) -> float:
    """rad/s per count for gyroscope range code ``code`` (full scale / 32768)."""
    return math.radians(GYR_RANGE_DPS[code]) / 32768.0


# --------------------------------------------------------------------------------------- frames


def encode_frame_counts(
    seq: int,
    t0_us: int,
    counts: np.ndarray,
    *,
    sensor_id: int = 0,
    rate: int = 6,
    acc_range: int = 3,
    gyr_range: int = 4,
) -> bytes:
    """One data frame from raw counts ``counts`` (n, 6) int16: ax ay az gx gy gz.

    ``seq`` is taken modulo 2^16 and ``t0_us`` modulo 2^48 (the wire wraps them). ``rate``,
    ``acc_range`` and ``gyr_range`` are codes (:data:`RATE_HZ`, :data:`ACC_RANGE_G`,
    :data:`GYR_RANGE_DPS`).
    """
    c = np.asarray(counts)
    if c.ndim != 2 or c.shape[1] != 6 or not 1 <= c.shape[0] <= 255:
        raise ImuHipError(f"imu-hip: counts must be (n, 6) with 1 <= n <= 255, got {c.shape}")
    if c.size and (c.min() < -32768 or c.max() > 32767):
        raise ImuHipError("imu-hip: counts outside int16")
    if rate not in RATE_HZ or acc_range not in ACC_RANGE_G or gyr_range not in GYR_RANGE_DPS:
        raise ImuHipError(f"imu-hip: bad codes rate={rate} acc={acc_range} gyr={gyr_range}")
    if not 0 <= sensor_id <= 255:
        raise ImuHipError(f"imu-hip: sensor id must be 0-255, got {sensor_id}")
    t = int(t0_us) % TIME_MOD
    head = _HEADER.pack(
        VERSION, sensor_id, int(seq) % SEQ_MOD, t & 0xFFFFFFFF, t >> 32,
        c.shape[0], rate, acc_range | (gyr_range << 4),
    )
    body = head + c.astype("<i2").tobytes()
    return body + struct.pack("<H", crc16(body))


def quantize(
    acc_mps2: np.ndarray, gyr_rads: np.ndarray, acc_range: int = 3, gyr_range: int = 4
) -> np.ndarray:
    """SI samples -> (n, 6) int16 counts (rounded to nearest, saturated at the full scale)."""
    a = np.asarray(acc_mps2, dtype=np.float64).reshape(-1, 3) / acc_scale_mps2(acc_range)
    w = np.asarray(gyr_rads, dtype=np.float64).reshape(-1, 3) / gyr_scale_rads(gyr_range)
    x = np.nan_to_num(np.concatenate([a, w], axis=1), nan=0.0, posinf=32767, neginf=-32768)
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def encode_frame(
    seq: int,
    t0_us: int,
    acc_mps2: np.ndarray,
    gyr_rads: np.ndarray,
    *,
    sensor_id: int = 0,
    rate_hz: float = 400.0,
    acc_range_g: int = 16,
    gyr_range_dps: int = 2000,
) -> bytes:
    """One data frame from SI samples (acc (n, 3) m/s², gyr (n, 3) rad/s), quantized."""
    ac, gc = acc_range_code(acc_range_g), gyr_range_code(gyr_range_dps)
    return encode_frame_counts(
        seq, t0_us, quantize(acc_mps2, gyr_rads, ac, gc),
        sensor_id=sensor_id, rate=rate_code(rate_hz), acc_range=ac, gyr_range=gc,
    )


def encode_stream(
    acc_mps2: np.ndarray,
    gyr_rads: np.ndarray,
    *,
    rate_hz: float = 400.0,
    t0_us: int = 0,
    start_seq: int = 0,
    mtu: int = 247,
    sensor_id: int = 0,
    acc_range_g: int = 16,
    gyr_range_dps: int = 2000,
) -> list[bytes]:
    """Cut a stream of SI samples into full frames for ``mtu`` (the last one may be shorter).

    Frame ``k`` has sequence ``start_seq + k`` and device time ``t0_us`` plus the time of its
    first sample (rounded to whole microseconds), as a device with an exact clock would send.
    """
    per = max_samples(mtu)
    if per < 1:
        raise ImuHipError(f"imu-hip: MTU {mtu} is too small for one sample")
    ac, gc = acc_range_code(acc_range_g), gyr_range_code(gyr_range_dps)
    counts = quantize(acc_mps2, gyr_rads, ac, gc)
    rc = rate_code(rate_hz)
    out = []
    for k, i in enumerate(range(0, counts.shape[0], per)):
        t = t0_us + round(i * 1e6 / RATE_HZ[rc])
        out.append(encode_frame_counts(
            start_seq + k, t, counts[i:i + per],
            sensor_id=sensor_id, rate=rc, acc_range=ac, gyr_range=gc,
        ))
    return out


@dataclass(frozen=True, eq=False)
class Frame:
    """One parsed data frame, fields as on the wire (``counts`` (n, 6) int16)."""

    sensor_id: int
    seq: int
    t0_us: int
    rate_code: int
    acc_range_code: int
    gyr_range_code: int
    counts: np.ndarray

    @property
    def rate_hz(self) -> float:
        return RATE_HZ[self.rate_code]

    def acc_mps2(self) -> np.ndarray:
        return self.counts[:, :3] * acc_scale_mps2(self.acc_range_code)

    def gyr_rads(self) -> np.ndarray:
        return self.counts[:, 3:] * gyr_scale_rads(self.gyr_range_code)


def parse_frame(data: bytes) -> Frame | str:
    """Parse one data frame; returns a :class:`Frame`, or the reason (str) it is malformed.

    Reasons: ``short``, ``unknown_version``, ``empty``, ``long``, ``bad_crc``, ``bad_rate``,
    ``bad_range``.
    """
    if len(data) < FRAME_OVERHEAD:
        return "short"
    ver, sid, seq, t_lo, t_hi, n, rate, ranges = _HEADER.unpack_from(data)
    if ver != VERSION:
        return "unknown_version"
    if n == 0:
        return "empty"
    size = FRAME_OVERHEAD + SAMPLE_SIZE * n
    if len(data) < size:
        return "short"
    if len(data) > size:
        return "long"
    if crc16(data[:-CRC_SIZE]) != int.from_bytes(data[-CRC_SIZE:], "little"):
        return "bad_crc"
    if rate not in RATE_HZ:
        return "bad_rate"
    if (ranges & 0x0F) not in ACC_RANGE_G or (ranges >> 4) not in GYR_RANGE_DPS:
        return "bad_range"
    counts = np.frombuffer(data, dtype="<i2", count=6 * n, offset=HEADER_SIZE).reshape(n, 6)
    return Frame(sid, seq, t_lo | (t_hi << 32), rate, ranges & 0x0F, ranges >> 4, counts)


def _unwrap(value: int, ref: int | None, mod: int) -> int:
    """``value`` (mod ``mod``) lifted to the integer nearest ``ref`` (``value`` if no ref)."""
    if ref is None:
        return value
    d = (value - ref) % mod
    if d >= mod // 2:
        d -= mod
    return ref + d


class ImuHipDecoder(Decoder):
    """Stateful decoder of imu-hip data frames (one notification = one frame).

    ``seq`` is unwrapped against the highest sequence seen so far: successive frames count up
    past 65535; a duplicate repeats its number and a late (reordered) frame gets its true, smaller
    number. Device times are unwrapped the same way modulo 2^48 us.

    A device restart (sequence number and clock no longer agreeing: the sequence jumps while the
    device time does not follow, e.g. a reboot resets both to 0) is counted in :attr:`restarts`;
    the sequence numbers then continue above the highest one seen, so new frames are never taken
    for duplicates, and ``device_t_s`` follows the device's new clock.
    """

    name = NAME
    #: Slack when checking that a sequence jump matches the time jump: 1 s plus 5 % of the span.
    RESTART_SLACK_S = 1.0

    def __init__(self, sensor_id: str = "") -> None:
        super().__init__(sensor_id)
        self._seq_max: int | None = None  # highest device sequence number (unwrapped)
        self._t_ref: int | None = None  # device time (us, unwrapped) of that frame
        self._offset = 0  # added to device sequence numbers after restarts
        self.restarts = 0

    def _restarted(self, seq: int, t0: int, frame_us: float) -> bool:
        if self._seq_max is None or self._t_ref is None:
            return False
        span_us = (seq - self._seq_max) * frame_us
        slack_us = self.RESTART_SLACK_S * 1e6 + 0.05 * abs(span_us)
        return abs(t0 - (self._t_ref + span_us)) > slack_us

    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        self.stats.notifications += 1
        self.stats.bytes += len(data)
        try:
            f = parse_frame(bytes(data))
        except Exception:  # noqa: BLE001 - feed never raises; should not happen
            f = "internal_error"
        if isinstance(f, str):
            self.stats.malformed[f] += 1
            return []
        n = f.counts.shape[0]
        rate = f.rate_hz
        seq = _unwrap(f.seq, self._seq_max, SEQ_MOD)
        t0 = _unwrap(f.t0_us, self._t_ref, TIME_MOD)
        if self._restarted(seq, t0, n / rate * 1e6):
            self.restarts += 1
            self._offset += (self._seq_max or 0) + 1 - f.seq
            seq = f.seq
            self._seq_max = None
            t0 = f.t0_us
        if self._seq_max is None or seq >= self._seq_max:
            self._seq_max = seq
            self._t_ref = t0
        t = t0 * 1e-6 + np.arange(n) / rate
        self.stats.samples += n
        return [DecodedBlock(
            sensor_id=self.sensor_id or str(f.sensor_id),
            rate_hz=rate,
            received_at=received_at,
            seq=seq + self._offset,
            device_t_s=t,
            acc_mps2=f.acc_mps2(),
            gyr_rads=f.gyr_rads(),
        )]


DECODER = ImuHipDecoder

# ------------------------------------------------------------------------------------- commands


class Op(IntEnum):
    """Command opcodes (written to :data:`CONTROL_UUID`); responses carry ``op | 0x80``."""

    START = 0x01
    STOP = 0x02
    SET_RATE = 0x03  # u8 rate code
    SET_RANGE = 0x04  # u8 acc range code, u8 gyro range code
    GET_CONFIG = 0x05  # -> u8 rate, u8 acc range, u8 gyro range, u8 sensor id, u8 streaming
    READ_CALIBRATION = 0x06  # -> 60-byte calibration
    WRITE_CALIBRATION = 0x07  # 60-byte calibration
    BATTERY = 0x08  # -> u8 percent (255 unknown), u16 mV (0 unknown), u8 charging
    DEVICE_INFO = 0x09  # -> u8 protocol version, u8 x3 firmware, u32 serial, model (UTF-8)
    SET_SENSOR_ID = 0x0A  # u8 sensor id


class Status(IntEnum):
    """Response status codes."""

    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_LENGTH = 2
    BAD_VALUE = 3
    BUSY = 4
    FAILED = 5


#: Payload length of each command.
COMMAND_PAYLOAD_SIZE: dict[int, int] = {
    Op.START: 0, Op.STOP: 0, Op.SET_RATE: 1, Op.SET_RANGE: 2, Op.GET_CONFIG: 0,
    Op.READ_CALIBRATION: 0, Op.WRITE_CALIBRATION: 60, Op.BATTERY: 0, Op.DEVICE_INFO: 0,
    Op.SET_SENSOR_ID: 1,
}
CALIBRATION_SIZE = 60
MODEL_MAX_BYTES = 32


def encode_command(op: int, payload: bytes = b"", token: int = 0) -> bytes:
    """A command: ``op`` (u8), ``token`` (u8, echoed in the response), payload."""
    return bytes((int(op) & 0xFF, token & 0xFF)) + bytes(payload)


@dataclass(frozen=True)
class Command:
    """A parsed command (what a peripheral received)."""

    op: int
    token: int
    payload: bytes


def decode_command(data: bytes) -> Command | None:
    """Parse a command; None if shorter than the 2-byte head."""
    if len(data) < 2:
        return None
    return Command(data[0], data[1], bytes(data[2:]))


def encode_response(op: int, token: int, status: int, payload: bytes = b"") -> bytes:
    """A response: ``op | 0x80``, the command's token, status (u8), payload."""
    return bytes(((int(op) | 0x80) & 0xFF, token & 0xFF, int(status) & 0xFF)) + bytes(payload)


@dataclass(frozen=True)
class Calibration:
    """Stored calibration: ``acc = acc_matrix @ (raw_acc - acc_bias_mps2)``,
    ``gyr = raw_gyr - gyr_bias_rads`` (SI units; sent as float32)."""

    acc_bias_mps2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    acc_matrix: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0),
                                                          (0.0, 0.0, 1.0))
    gyr_bias_rads: tuple[float, float, float] = (0.0, 0.0, 0.0)


def pack_calibration(cal: Calibration) -> bytes:
    """60 bytes: 15 float32 LE: acc bias (3), acc matrix row-major (9), gyro bias (3)."""
    vals = [*cal.acc_bias_mps2, *(v for row in cal.acc_matrix for v in row), *cal.gyr_bias_rads]
    if len(vals) != 15:
        raise ImuHipError("imu-hip: calibration needs 3 + 9 + 3 values")
    return struct.pack("<15f", *vals)


def unpack_calibration(data: bytes) -> Calibration:
    """Inverse of :func:`pack_calibration`; :class:`ImuHipError` on a wrong length."""
    if len(data) != CALIBRATION_SIZE:
        raise ImuHipError(f"imu-hip: calibration is {CALIBRATION_SIZE} bytes, got {len(data)}")
    v = struct.unpack("<15f", data)
    return Calibration(
        (v[0], v[1], v[2]), (v[3:6], v[6:9], v[9:12]), (v[12], v[13], v[14])
    )


def cmd_start(token: int = 0) -> bytes:
    return encode_command(Op.START, b"", token)


def cmd_stop(token: int = 0) -> bytes:
    return encode_command(Op.STOP, b"", token)


def cmd_set_rate(rate_hz: float, token: int = 0) -> bytes:
    return encode_command(Op.SET_RATE, bytes((rate_code(rate_hz),)), token)


def cmd_set_range(acc_range_g: int, gyr_range_dps: int, token: int = 0) -> bytes:
    codes = bytes((acc_range_code(acc_range_g), gyr_range_code(gyr_range_dps)))
    return encode_command(Op.SET_RANGE, codes, token)


def cmd_write_calibration(cal: Calibration, token: int = 0) -> bytes:
    return encode_command(Op.WRITE_CALIBRATION, pack_calibration(cal), token)


@dataclass(frozen=True)
class Response:
    """A parsed response. ``fields`` holds the decoded payload (keys depend on ``op``)."""

    op: int
    token: int
    status: int
    payload: bytes
    fields: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


def decode_response(data: bytes) -> Response:
    """Parse a response notification; :class:`ImuHipError` if it is not a well-formed one."""
    data = bytes(data)
    if len(data) < 3 or not data[0] & 0x80:
        raise ImuHipError(f"imu-hip: not a response ({len(data)} bytes)")
    op, token, status, payload = data[0] & 0x7F, data[1], data[2], data[3:]
    fields: dict[str, object] = {}
    if status == Status.OK:
        if op == Op.GET_CONFIG and len(payload) == 5:
            r, a, g, sid, streaming = payload
            fields = {
                "rate_hz": RATE_HZ.get(r, math.nan),
                "acc_range_g": ACC_RANGE_G.get(a, 0),
                "gyr_range_dps": GYR_RANGE_DPS.get(g, 0),
                "sensor_id": sid,
                "streaming": bool(streaming),
            }
        elif op == Op.READ_CALIBRATION and len(payload) == CALIBRATION_SIZE:
            fields = {"calibration": unpack_calibration(payload)}
        elif op == Op.BATTERY and len(payload) == 4:
            pct, mv, charging = struct.unpack("<BHB", payload)
            fields = {
                "battery_pct": None if pct > 100 else pct,
                "battery_v": None if mv == 0 else mv / 1000.0,
                "charging": bool(charging),
            }
        elif op == Op.DEVICE_INFO and len(payload) >= 8:
            pv, fmaj, fmin, fpat, serial = struct.unpack_from("<BBBBI", payload)
            fields = {
                "protocol_version": pv,
                "firmware": f"{fmaj}.{fmin}.{fpat}",
                "serial": serial,
                # untrusted text: escape before showing it
                "model": payload[8:8 + MODEL_MAX_BYTES].decode("utf-8", errors="replace"),
            }
        with_payload = op in (Op.GET_CONFIG, Op.READ_CALIBRATION, Op.BATTERY, Op.DEVICE_INFO)
        if (with_payload and not fields) or (op in COMMAND_PAYLOAD_SIZE and not with_payload
                                              and payload):
            raise ImuHipError(f"imu-hip: response to op {op:#04x} has a bad payload length")
    return Response(op, token, status, payload, fields)


@dataclass
class DeviceState:
    """Reference peripheral: what a device running the protocol keeps and how it answers.

    Used by emulated peripherals and virtual devices; the C firmware library implements the
    same behaviour (``imuhip_handle_command``), checked against the same golden vectors.
    """

    sensor_id: int = 0
    rate: int = 6
    acc_range: int = 3
    gyr_range: int = 4
    streaming: bool = False
    calibration: bytes = field(default_factory=lambda: pack_calibration(Calibration()))
    battery_pct: int = 255
    battery_mv: int = 0
    charging: bool = False
    firmware: tuple[int, int, int] = (1, 0, 0)
    serial: int = 0
    model: str = "imu-hip"

    def handle_command(self, data: bytes) -> bytes:
        """Apply one command and return the response bytes (never raises on bad input)."""
        cmd = decode_command(bytes(data))
        if cmd is None:
            return encode_response(data[0] if data else 0, 0, Status.BAD_LENGTH)
        op, tok, p = cmd.op, cmd.token, cmd.payload
        if op not in COMMAND_PAYLOAD_SIZE:
            return encode_response(op, tok, Status.UNKNOWN_COMMAND)
        if len(p) != COMMAND_PAYLOAD_SIZE[op]:
            return encode_response(op, tok, Status.BAD_LENGTH)
        out = b""
        if op == Op.START:
            self.streaming = True
        elif op == Op.STOP:
            self.streaming = False
        elif op == Op.SET_RATE:
            if p[0] not in RATE_HZ:
                return encode_response(op, tok, Status.BAD_VALUE)
            if self.streaming:
                return encode_response(op, tok, Status.BUSY)
            self.rate = p[0]
        elif op == Op.SET_RANGE:
            if p[0] not in ACC_RANGE_G or p[1] not in GYR_RANGE_DPS:
                return encode_response(op, tok, Status.BAD_VALUE)
            if self.streaming:
                return encode_response(op, tok, Status.BUSY)
            self.acc_range, self.gyr_range = p[0], p[1]
        elif op == Op.GET_CONFIG:
            out = bytes((self.rate, self.acc_range, self.gyr_range, self.sensor_id,
                         int(self.streaming)))
        elif op == Op.READ_CALIBRATION:
            out = self.calibration
        elif op == Op.WRITE_CALIBRATION:
            if not all(math.isfinite(v) for v in struct.unpack("<15f", p)):
                return encode_response(op, tok, Status.BAD_VALUE)
            self.calibration = p
        elif op == Op.BATTERY:
            out = struct.pack("<BHB", self.battery_pct, self.battery_mv, int(self.charging))
        elif op == Op.DEVICE_INFO:
            model = self.model.encode("utf-8")[:MODEL_MAX_BYTES]
            out = struct.pack("<BBBBI", VERSION, *self.firmware, self.serial) + model
        elif op == Op.SET_SENSOR_ID:
            self.sensor_id = p[0]
        return encode_response(op, tok, Status.OK, out)


PROFILE = GattProfile(
    protocol=NAME,
    service_uuids=(SERVICE_UUID,),
    notify_uuids=(DATA_UUID,),
    control_uuid=CONTROL_UUID,
    start_commands=(cmd_start(),),
    stop_commands=(cmd_stop(),),
    name_prefixes=("imu-hip", "IMU-HIP"),
)
