"""``imu-hip record``: stream 1-3 devices into an MCAP recording, with live per-step metrics."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from imu_hip.cli import positive_float
from imu_hip.model import PLACEMENTS, ImuHipError

ORDER = 30

#: bleak backends (:class:`imu_hip.ble.bleak_link.BleakBackends`) to use instead of the
#: platform's, for scanning and connecting (tests set this; None: the platform's own).
BLEAK_BACKENDS = None

SIM_PLACEMENTS = ("sacrum", "left_foot", "right_foot")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "record",
        help="record 1-3 sensors (BLE, or simulated with --sim) into an MCAP file, showing "
        "live metrics",
        description="Connect to 1-3 devices, stream, show per-step metrics live and record every "
        "notification (raw bytes and decoded samples) into an MCAP file. Ctrl-C stops and "
        "closes the file; `imu-hip analyze FILE` analyses it.",
    )
    p.add_argument("--device", action="append", default=[], metavar="NAME_OR_ADDRESS=PLACEMENT",
                   help="a device and where it is worn (placements: "
                   f"{', '.join(p for p in PLACEMENTS if p != 'unknown')}); repeat for up to 3")
    p.add_argument("--sim", nargs="?", const="sacrum", metavar="PLACEMENTS",
                   help="use simulated devices instead of Bluetooth: comma-separated placements "
                   "(default sacrum; e.g. sacrum,left_foot,right_foot)")
    p.add_argument("--out", required=True, metavar="FILE", help="recording to write (.mcap)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--duration", type=positive_float, metavar="S",
                   help="stop after S seconds of data (default: until Ctrl-C)")
    p.add_argument("--protocol", help="protocol of devices that do not announce one "
                   "(see imu-hip scan)")
    p.add_argument("--scan-s", type=positive_float, default=10.0, metavar="S",
                   help="--device only: seconds to scan for the devices (default 10)")
    p.add_argument("--speed", type=positive_float, default=1.0,
                   help="--sim only: run the simulated devices this many times faster than "
                   "real time")
    p.add_argument("--seed", type=int, default=0, help="--sim only: seed of the simulated runner")
    p.add_argument("--status-every", type=positive_float, default=5.0, metavar="S",
                   help="print the device status lines every S seconds (default 5)")
    p.add_argument("--quiet", action="store_true", help="no per-step lines")
    p.set_defaults(func=run)


def parse_device(text: str) -> tuple[str, str]:
    """``NAME_OR_ADDRESS=PLACEMENT`` -> (name or address, placement); ImuHipError if malformed."""
    from imu_hip.text import terminal_safe

    name, sep, placement = text.rpartition("=")
    name, placement = name.strip(), placement.strip()
    if not sep or not name:
        raise ImuHipError(f"--device {terminal_safe(text, 80)!r}: expected "
                          "NAME_OR_ADDRESS=PLACEMENT, e.g. \"Polar Sense 1234=sacrum\"")
    if placement not in PLACEMENTS or placement == "unknown":
        raise ImuHipError(f"--device {terminal_safe(text, 80)!r}: unknown placement "
                          f"{terminal_safe(placement, 40)!r}; expected one of sacrum, "
                          "left_foot, right_foot")
    return name, placement


def parse_sim(text: str) -> tuple[str, ...]:
    """``sacrum,left_foot`` -> placements; ImuHipError if unknown or repeated."""
    from imu_hip.text import terminal_safe

    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in parts if p not in SIM_PLACEMENTS]
    if not parts or bad:
        raise ImuHipError(f"--sim {terminal_safe(text, 80)!r}: expected comma-separated "
                          f"placements from {', '.join(SIM_PLACEMENTS)}")
    if len(set(parts)) != len(parts):
        raise ImuHipError(f"--sim {terminal_safe(text, 80)!r}: a placement is repeated")
    return parts


def check_out(path: Path, overwrite: bool) -> None:
    """Fail before connecting if the recording cannot be written."""
    if path.exists() and path.is_dir():
        raise ImuHipError(f"{path}: is a folder, expected a file name")
    if path.suffix.lower() != ".mcap":  # first: --overwrite never applies to another kind
        raise ImuHipError(f"{path}: expected a recording file name ending in .mcap")
    if path.exists() and not overwrite:
        raise ImuHipError(f"{path}: exists; choose another --out or add --overwrite")
    if not path.parent.exists():
        raise ImuHipError(f"{path.parent}: folder does not exist")


def run(args: argparse.Namespace) -> int:
    import asyncio

    out = Path(args.out)
    if args.sim is None and not args.device:
        raise ImuHipError("give --device NAME_OR_ADDRESS=PLACEMENT (1-3 times) or --sim")
    if args.sim is not None and args.device:
        raise ImuHipError("--sim and --device cannot be combined")
    if len(args.device) > 3:
        raise ImuHipError(f"at most 3 devices, got {len(args.device)}")
    devices = [parse_device(d) for d in args.device]
    placements = parse_sim(args.sim) if args.sim is not None else tuple(p for _, p in devices)
    if len(set(placements)) != len(placements):
        raise ImuHipError("two devices have the same placement")
    check_out(out, args.overwrite)
    return asyncio.run(_record(args, out, devices))


async def _make_links(args: argparse.Namespace, devices: list[tuple[str, str]]) -> list[Any]:
    from imu_hip.session import DeviceSpec

    if args.sim is not None:
        from imu_hip.ble.virtual import virtual_devices

        links = virtual_devices(parse_sim(args.sim), duration_s=args.duration, speed=args.speed,
                                seed=args.seed)
        return [DeviceSpec(link, link.placement, "imu-hip") for link in links]
    try:
        from imu_hip.ble.bleak_link import BleakBackends, BleakLink
        from imu_hip.ble.scan import find_devices
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImuHipError(f"Bluetooth support is not available ({err}); try --sim") from None
    from imu_hip.text import terminal_safe

    backends = BLEAK_BACKENDS or BleakBackends()
    found = await find_devices([name for name, _ in devices], args.scan_s,
                               backend=backends.scanner)
    specs = []
    for (name, placement), dev in zip(devices, found, strict=True):
        protocol = dev.info.protocol or args.protocol
        if not protocol:
            raise ImuHipError(f"{terminal_safe(name, 80)!r}: unknown protocol; give --protocol")
        link = BleakLink(dev.device, protocol, name=dev.info.name, backends=backends)
        specs.append(DeviceSpec(link, placement, protocol))
    return specs


async def _record(args: argparse.Namespace, out: Path, devices: list[tuple[str, str]]) -> int:
    import asyncio
    import signal

    from imu_hip.calibration import session_calibration_for
    from imu_hip.session import Session

    specs = await _make_links(args, devices)
    view = LiveView(sys.stdout, quiet=args.quiet)
    shoes = ShoeStrides(view)
    # stored calibrations (and live gyro-bias tracking) applied live; stated in the recording
    session = Session(specs, record_to=out, on_steps=view.on_steps, on_block=shoes.on_block,
                      calibration_for=session_calibration_for,
                      metadata={"command": "imu-hip record",
                                "simulated": "true" if args.sim is not None else "false"})
    shoes.sensor_acc_for = session.raw_acc_map  # saturation on the raw readings
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, session.request_stop)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            pass
    wall_s = None
    if args.duration is not None and args.sim is None:
        wall_s = args.duration

    async def status_loop() -> None:
        while True:
            await asyncio.sleep(args.status_every)
            view.print_status(session.status())

    async def timer() -> None:
        assert wall_s is not None
        await asyncio.sleep(wall_s)
        session.request_stop()

    extra = [asyncio.create_task(status_loop())]
    if wall_s is not None:
        extra.append(asyncio.create_task(timer()))
    view.header(specs, out)
    try:
        await session.run()
    finally:
        for t in extra:
            t.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover
                pass
    shoes.finish()
    status = session.status()
    view.print_status(status)
    view.saturation(session.steps_saturated, shoes.strides_saturated())
    view.footer(session, out)
    if session.recording_error:
        raise ImuHipError(session.recording_error)
    if not any(s.samples for s in status.values()):
        raise ImuHipError("no data was received from any device")
    return 0


def _fmt(value: float, spec: str, unit: str = "") -> str:
    return "   -" if not math.isfinite(value) else f"{value:{spec}}{unit}"


class LiveView:
    """Plain-text live output: one line per step, status lines per device (names escaped)."""

    def __init__(self, stream: TextIO, quiet: bool = False):
        self.stream = stream
        self.quiet = quiet
        self.t0: float | None = None
        self.steps = 0
        self.strides = 0
        self.stride_header = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def header(self, specs: list[Any], out: Path) -> None:
        from imu_hip.text import terminal_safe

        for s in specs:
            self._write(f"device {terminal_safe(s.link.info.name, 60)} "
                        f"[{terminal_safe(s.device_id, 40)}] -> {s.placement} ({s.protocol})")
        self._write(f"recording to {out}; Ctrl-C stops")
        if not self.quiet:
            self._write(f"{'time':>7} {'side':<5} {'cadence':>8} {'contact':>8} {'impact':>7} "
                        f"{'vGRF':>6} {'drop L':>7} {'drop R':>7}   (pelvic drop in left / "
                        "right stance)")

    def on_steps(self, placement: str, steps) -> None:
        self.steps += len(steps)
        if self.quiet:
            return
        for row in steps.rows():
            if self.t0 is None:
                self.t0 = row["t_ic_s"]
            drop = row["pelvic_drop_deg"]
            left = drop if row["side"] == "left" else math.nan
            right = drop if row["side"] == "right" else math.nan
            self._write(
                f"{row['t_ic_s'] - self.t0:7.1f} {row['side']:<5} "
                f"{_fmt(row['cadence_spm'], '6.0f', ' spm'):>8} "
                f"{_fmt(row['contact_time_s'] * 1e3, '5.0f', ' ms'):>8} "
                f"{_fmt(row['impact_peak_g'], '5.2f', ' g'):>7} "
                f"{_fmt(row['vgrf_peak_bw'], '4.2f', ' BW'):>6} "
                f"{_fmt(left, '5.1f', ' °'):>7} {_fmt(right, '5.1f', ' °'):>7}")

    def on_strides(self, strides) -> None:
        self.strides += len(strides)
        if self.quiet or not len(strides):
            return
        if not self.stride_header:
            self.stride_header = True
            self._write(f"{'time':>7} {'shoe':<5} {'stride':>8} {'contact':>8} {'length':>7} "
                        f"{'strike':>12} {'pronation':>9}")
        for row in strides.rows():
            if self.t0 is None:
                self.t0 = row["t_ic_s"]
            strike = (f"{row['foot_strike_angle_deg']:+5.1f}° {row['foot_strike']}"
                      if math.isfinite(row["foot_strike_angle_deg"]) else "   -")
            self._write(
                f"{row['t_ic_s'] - self.t0:7.1f} {row['side']:<5} "
                f"{_fmt(row['stride_time_s'] * 1e3, '5.0f', ' ms'):>8} "
                f"{_fmt(row['contact_time_s'] * 1e3, '5.0f', ' ms'):>8} "
                f"{_fmt(row['stride_length_m'], '5.2f', ' m'):>7} {strike:>12} "
                f"{_fmt(row['pronation_excursion_deg'], '5.1f', ' °'):>9}")

    def print_status(self, status: dict) -> None:
        from imu_hip.text import terminal_safe

        for s in status.values():
            battery = f"{s.battery_pct:.0f} %" if math.isfinite(s.battery_pct) else "?"
            drift = f"{s.drift_ppm:+.0f} ppm" if math.isfinite(s.drift_ppm) else "? ppm"
            self._write(
                f"[{s.placement}] {terminal_safe(s.name, 40)}: {terminal_safe(s.state, 20)}"
                f"{' (' + terminal_safe(s.detail, 60) + ')' if s.detail else ''}, battery "
                f"{battery}, {s.packets} packets, loss {s.loss_pct:.1f} % ({s.lost_packets}), "
                f"{s.duplicates} dup, {s.malformed} bad, clock drift {drift}")

    def saturation(self, steps: int, strides: int) -> None:
        """Say when the accelerometer saturated: those steps/strides lack the amounts read
        from its size (impact, vertical oscillation, stride length)."""
        if steps or strides:
            parts = [f"{steps} hip steps"] if steps else []
            parts += [f"{strides} shoe strides"] if strides else []
            self._write(f"accelerometer saturated in {' and '.join(parts)}: impact (and stride "
                        "length) not measured there; use a larger range (hip +-8 g, shoe +-16 g)")

    def footer(self, session: Any, out: Path) -> None:
        strides = f", {self.strides} shoe strides" if self.strides else ""
        self._write(f"stopped: {len(session.steps())} steps{strides}; recording {out} closed"
                    + (f" ({session.recording_error})" if session.recording_error else "")
                    + f"; analyse with: imu-hip analyze {out}")


class ShoeStrides:
    """Live stride analysis of the shoe sensors (``on_block`` of the session), printed through
    a :class:`LiveView`. Blocks are batched (0.5 s) before :class:`FootStage` like the session
    does for the sacrum; a shoe without angular rate is skipped (a shoe needs a gyroscope)."""

    def __init__(self, view: LiveView, batch_s: float = 0.5):
        self.view = view
        self.batch_s = batch_s
        self.stages: dict[str, Any] = {}
        self.batches: dict[str, list] = {}
        self.unavailable = False
        #: device id -> map back to the raw readings of a calibrated stream (Session.raw_acc_map)
        self.sensor_acc_for: Any = None

    def on_block(self, block) -> None:
        if self.unavailable or block.placement not in ("left_foot", "right_foot") or \
                block.gyr_rads is None:
            return
        batch = self.batches.setdefault(block.sensor_id, [])
        if block.gap_before and batch:
            self._push(block.sensor_id)
            batch = self.batches[block.sensor_id]
        batch.append(block)
        if sum(len(b) for b in batch) >= self.batch_s * block.rate_hz:
            self._push(block.sensor_id)

    def _push(self, sensor_id: str) -> None:
        import numpy as np

        from imu_hip.model import Block

        batch, self.batches[sensor_id] = self.batches.get(sensor_id, []), []
        if not batch:
            return
        first = batch[0]
        stage = self.stages.get(sensor_id)
        if stage is None:
            try:
                from imu_hip.foot_pipeline import FootStage
            except ImportError:  # pragma: no cover - shoe analysis not installed
                self.unavailable = True
                return
            raw = None if self.sensor_acc_for is None else self.sensor_acc_for(sensor_id)
            stage = self.stages[sensor_id] = FootStage(first.rate_hz, first.placement,
                                                       frame_s=4.0, sensor_acc=raw)
        block = Block(first.sensor_id, first.placement, first.rate_hz,
                      np.concatenate([b.t_s for b in batch]),
                      np.concatenate([b.acc_mps2 for b in batch]),
                      np.concatenate([b.gyr_rads for b in batch]), first.gap_before)
        self.view.on_strides(stage.push(block))

    def finish(self) -> None:
        for sensor_id in list(self.batches):
            self._push(sensor_id)
        for stage in self.stages.values():
            self.view.on_strides(stage.finish())

    def strides_saturated(self) -> int:
        """Shoe strides measured with a saturated accelerometer (no length or impact)."""
        return sum(int(stage.strides_saturated_) for stage in self.stages.values())


__all__ = ["LiveView", "ShoeStrides", "check_out", "parse_device", "parse_sim"]
