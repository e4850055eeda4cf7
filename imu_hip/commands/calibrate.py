"""``imu-hip calibrate accel``: accelerometer (and gyroscope bias) calibration of one sensor.

``--sim`` runs the guided procedure against a simulated sensor with known errors, ``--from-file``
estimates from a recording that holds the poses, ``--device`` walks the user through the poses
on a live sensor. ``imu-hip calibrate show ID_OR_FILE`` prints a stored calibration.
"""

from __future__ import annotations

import argparse
import sys

from imu_hip.cli import positive_float
from imu_hip.model import G, ImuHipError

ORDER = 40

#: bleak backends (:class:`imu_hip.ble.bleak_link.BleakBackends`) to use instead of the
#: platform's, for scanning and connecting (tests set this; None: the platform's own).
BLEAK_BACKENDS = None


def add_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="calibrate a sensor (accelerometer bias, scale and "
                       "misalignment; gyroscope bias) and store it for that sensor")
    csub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    a = csub.add_parser("accel", help="static-pose calibration of the accelerometer",
                        description="Place the sensor still in six orientations (each axis up "
                        "and down) and six tilted ones; the fit is stored per sensor and applied "
                        "whenever that sensor is analysed.")
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("--device", metavar="NAME_OR_ADDRESS", help="a live sensor (Bluetooth)")
    src.add_argument("--from-file", metavar="FILE", help="a recording (CSV or MCAP) holding "
                     "the poses, each still for at least 3 s")
    src.add_argument("--sim", action="store_true", help="a simulated sensor with known errors")
    a.add_argument("--out", metavar="PATH", help="write the calibration here instead of the "
                   "user data folder")
    a.add_argument("--id", dest="device_id", metavar="ID", help="device id to store it under "
                   "(default: the recording's sensor id / the device address)")
    a.add_argument("--quick", action="store_true", help="six face poses only (bias and scale; "
                   "no misalignment)")
    a.add_argument("--hold-s", type=positive_float, default=4.0, help="seconds to hold each "
                   "pose still (default 4)")
    a.add_argument("--range-g", type=positive_float, help="accelerometer range in g (to detect "
                   "saturation)")
    a.add_argument("--seed", type=int, default=0, help="--sim: seed of the simulated errors")
    a.add_argument("--write-device", action="store_true", help="--device: also write the "
                   "calibration to the device (imu-hip protocol) and read it back")
    a.add_argument("--protocol", help="--device: the device's protocol, when it does not "
                   "announce one (see imu-hip scan)")
    a.set_defaults(func=run_accel)
    s = csub.add_parser("show", help="print a stored calibration")
    s.add_argument("target", metavar="ID_OR_FILE", help="device id or calibration file")
    s.set_defaults(func=run_show)


def _print(text: str) -> None:
    print(text, flush=True)


def format_calibration(cal) -> str:
    """Plain-text report of a calibration (values, uncertainty, residuals, notes)."""
    import numpy as np

    from imu_hip.text import terminal_safe

    unc = cal.uncertainty
    lines = [f"calibration of {terminal_safe(cal.device_id)} ({terminal_safe(cal.method)}, "
             f"{terminal_safe(cal.date)})"]

    def vec(v, digits=4):
        return "[" + ", ".join(f"{x:+.{digits}f}" for x in np.asarray(v, dtype=float)) + "]"

    sd = unc.get("acc_bias_mps2")
    lines.append(f"  acc_bias_mps2  {vec(cal.acc_bias_mps2)}"
                 + (f"  ± {vec(sd)}" if sd is not None else ""))
    msd = unc.get("acc_matrix")
    for i, row in enumerate(cal.acc_matrix):
        label = "  acc_matrix    " if i == 0 else "                "
        extra = f"  ± {vec(np.asarray(msd, dtype=float)[i], 5)}" if msd is not None else ""
        lines.append(label + vec(row, 5) + extra)
    gsd = unc.get("gyr_bias_rads")
    lines.append(f"  gyr_bias_rads  {vec(cal.gyr_bias_rads, 5)}"
                 + (f"  ± {vec(gsd, 5)}" if gsd is not None else ""))
    if cal.residuals_mps2:
        res = np.asarray(cal.residuals_mps2)
        lines.append(f"  residuals      RMS {np.sqrt(np.mean(res**2)):.4f} m/s², largest "
                     f"{np.max(np.abs(res)):.4f} m/s² over {len(res)} poses")
    for note in cal.notes:
        lines.append(f"  note: {terminal_safe(note)}")
    return "\n".join(lines)


def _store(cal, out: str | None) -> None:
    from imu_hip.calibration import save_calibration
    from imu_hip.text import terminal_safe

    path = save_calibration(cal, out)
    _print(format_calibration(cal))
    _print(f"saved {terminal_safe(path)}")


def run_accel(args: argparse.Namespace) -> int:
    from imu_hip import calibration as C

    poses = C.FACE_POSES if args.quick else C.DEFAULT_POSES
    if args.out:
        from pathlib import Path

        from imu_hip.commands.report import check_output_file

        # fail before the procedure, not after it; a .json name only, so a recording given by
        # mistake is never overwritten; the folder must exist
        check_output_file(Path(args.out), (".json",), "the calibration's")
        if Path(args.out).exists():
            try:
                C.load_calibration(args.out)
            except ImuHipError:
                raise ImuHipError(f"{args.out}: exists and is not a calibration; not writing "
                                  "over it") from None
    range_mps2 = None if args.range_g is None else args.range_g * G
    if args.from_file:
        from imu_hip.io import read_recording

        rec = read_recording(args.from_file)
        if len(rec.sensors) != 1:
            raise ImuHipError(f"{args.from_file}: expected one sensor stream, found "
                              f"{len(rec.sensors)}")
        sensor = _raw_stream(args.from_file, rec.sensors[0])
        try:
            cal = C.calibrate_from_recording(sensor, args.device_id, range_mps2)
        except C.CalibrationError as e:
            raise ImuHipError(f"{args.from_file}: {e}") from None
        _store(cal, args.out)
        return 0
    if args.sim:
        return _run_sim(args, poses, range_mps2)
    return _run_device(args, poses, range_mps2)


def _raw_stream(path: str, sensor):
    """``sensor`` as the device sent it: a stream corrected when it was recorded (live session)
    is decoded again from the recording's raw bytes, without any correction."""
    from imu_hip import calibration as C

    if C.applied_calibration(sensor.metadata) is None and C.TRACKING_KEY not in sensor.metadata:
        return sensor
    try:
        from imu_hip.session import redecode

        for s in redecode(path).sensors:
            if s.sensor_id == sensor.sensor_id:
                return s
    except (ImportError, ImuHipError):
        pass
    raise ImuHipError(f"{path}: this stream was corrected when it was recorded and its raw "
                      "bytes cannot be decoded again; calibrate from an uncorrected recording")


def _show_event(ev) -> None:
    if ev.kind == "countdown":
        _print(f"    {ev.remaining_s} ...")
    elif ev.kind == "prompt":
        _print(f"\n>> {ev.message}")
    else:
        _print(f"   {ev.kind.replace('_', ' ')}: {ev.message}")


def _run_sim(args, poses, range_mps2) -> int:
    import numpy as np

    from imu_hip import calibration as C

    errors = C.random_sensor_errors(np.random.default_rng(args.seed))
    device_id = args.device_id or "sim-calibration-sensor"
    sim = C.PoseSimulator(errors, rate_hz=100.0, seed=args.seed + 1, device_id=device_id)
    guide = C.AccelCalibrationGuide(poses, device_id, hold_s=args.hold_s, range_mps2=range_mps2,
                                    method=f"guided static poses ({len(poses)}), simulated sensor")
    _print(f"simulated sensor {device_id} (seed {args.seed}) with known errors")
    for ev in C.run_simulated_guide(guide, sim):
        _show_event(ev)
    if guide.result is None:
        raise ImuHipError(f"calibration failed: {guide.error or 'the procedure did not finish'}")
    cal = guide.result
    _store(cal, args.out)
    b_err = np.max(np.abs(cal.acc_bias_mps2 - errors.acc_bias_mps2))
    m_err = np.max(np.abs(cal.acc_matrix - errors.symmetric_matrix()))
    g_err = np.max(np.abs(cal.gyr_bias_rads - errors.gyr_bias_rads))
    _print(f"known errors recovered: bias within {b_err:.4f} m/s², matrix (symmetric part) "
           f"within {m_err:.5f}, gyro bias within {g_err:.5f} rad/s")
    return 0


async def _find_link(name_or_address: str, protocol: str | None):
    """A BleakLink to the device (an address, an exact name or a unique name prefix), found by
    one scan; one-line :class:`ImuHipError` without an adapter or without such a device."""
    from imu_hip.ble.bleak_link import BleakBackends, BleakLink
    from imu_hip.ble.scan import find_device
    from imu_hip.text import terminal_safe

    backends = BLEAK_BACKENDS or BleakBackends()
    found = await find_device(name_or_address, 10.0, backend=backends.scanner)
    proto = found.info.protocol or protocol
    if not proto:
        raise ImuHipError(f"{terminal_safe(name_or_address, 80)!r}: unknown protocol; give "
                          "--protocol")
    return BleakLink(found.device, proto, name=found.info.name, backends=backends)


async def guide_over_link(link, protocol: str, device_id: str, guide, show,
                          write_device: bool = False):
    """Run ``guide`` on the raw blocks of one live device (a :class:`imu_hip.session.Session`
    with no calibration applied); stop the session when the guide is finished. With
    ``write_device``, write the result to the device and read it back before stopping (the
    device must speak the imu-hip protocol). Returns the calibration read back, or None."""
    import asyncio

    from imu_hip import calibration as C
    from imu_hip.session import DeviceSpec, Session

    state: dict = {"back": None, "error": None}
    session: Session | None = None

    async def write_then_stop() -> None:
        try:
            if write_device and guide.result is not None:
                state["back"] = await C.write_to_device(channel, guide.result)
        except ImuHipError as e:
            state["error"] = str(e)
        finally:
            assert session is not None
            await session.stop()

    def on_block(block) -> None:
        if guide.finished:
            return
        for ev in guide.push(block):
            show(ev)
        if guide.finished:
            asyncio.get_running_loop().create_task(write_then_stop())

    channel = C.CommandChannel(link)
    session = Session([DeviceSpec(link, "unknown", protocol, device_id)], on_block=on_block,
                      on_response=lambda _spec, uuid, data, t: channel.on_notification(uuid,
                                                                                       data, t))
    for ev in guide.start():
        show(ev)
    await session.run()
    if state["error"]:
        raise ImuHipError(state["error"])
    return state["back"]


def _run_device(args, poses, range_mps2) -> int:
    import asyncio

    from imu_hip import calibration as C
    from imu_hip.text import terminal_safe

    try:
        import imu_hip.ble.bleak_link  # noqa: F401
        import imu_hip.session  # noqa: F401
    except ImportError as e:
        raise ImuHipError(f"calibrate --device needs live sessions, not available here ({e}); "
                          "record the poses and use --from-file, or try --sim") from None

    async def main() -> int:
        link = await _find_link(args.device, args.protocol)
        protocol = link.info.protocol
        if args.write_device and protocol != "imu-hip":
            raise ImuHipError(f"--write-device needs a device speaking the imu-hip protocol; "
                              f"{terminal_safe(args.device, 80)!r} speaks {protocol}")
        device_id = args.device_id or link.info.address or args.device
        guide = C.AccelCalibrationGuide(poses, device_id, hold_s=args.hold_s,
                                        range_mps2=range_mps2,
                                        method=f"guided static poses ({len(poses)})")
        _print(f"connecting to {terminal_safe(args.device)} ...")
        try:
            back = await guide_over_link(link, protocol, device_id, guide, _show_event,
                                         args.write_device)
        except ImuHipError as e:
            if guide.result is None:
                raise
            _store(guide.result, args.out)
            raise ImuHipError(f"calibration saved, but writing it to the device failed: {e}"
                              ) from None
        if guide.result is None:
            why = guide.error or "the device stopped before the procedure finished"
            raise ImuHipError(f"calibration failed: {why}")
        _store(guide.result, args.out)
        if back is not None:
            _print("written to the device and read back")
        return 0

    return asyncio.run(main())


def run_show(args: argparse.Namespace) -> int:
    from pathlib import Path

    from imu_hip import calibration as C

    target = Path(args.target)
    if target.suffix == ".json" or target.exists():
        cal = C.load_calibration(target)
    else:
        cal = C.calibration_for(args.target)
        if cal is None:
            raise ImuHipError(f"no calibration stored for {args.target!r} (looked for "
                              f"{C.calibration_path(args.target)})")
    _print(format_calibration(cal))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: imu-hip calibrate ...")
